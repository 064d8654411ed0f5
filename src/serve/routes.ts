/**
 * The server's route table (the `StargraphApi` endpoints, `/openapi.json` and the
 * trigger routes), used to name each request in the audit log (`api.<name>`).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as Context from "effect/Context"
import * as Option from "effect/Option"
import type { TriggerRoute } from "../triggers/Trigger.js"
import { AnyQuery, StargraphApi } from "./StargraphApi.js"

/**
 * What a route does with query parameters: `declared`, its schema names those it takes and
 * refuses any other; `none`, it takes none and refuses any (checked before it runs);
 * `any`, it reads those it knows and ignores the rest (the event stream, `/metrics`, a
 * trigger's own route).
 */
export type QueryRule = "declared" | "none" | "any"

/** One route the server answers. */
export interface RouteInfo {
  readonly method: string
  /** Path with `:param` segments. */
  readonly path: string
  /** Audit name: `<group>.<endpoint>` (`runs.create`), `health`, `openapi`, `trigger.<path>`. */
  readonly name: string
  /** What it does with query parameters. */
  readonly query: QueryRule
}

/** The API's own routes. */
export const apiRoutes: ReadonlyArray<RouteInfo> = (() => {
  const out: Array<RouteInfo> = []
  HttpApi.reflect(StargraphApi, {
    onGroup: () => undefined,
    onEndpoint: ({ endpoint, group }) => {
      out.push({
        method: endpoint.method,
        path: endpoint.path,
        name: group.identifier === endpoint.name ? endpoint.name : `${group.identifier}.${endpoint.name}`,
        query: Option.isSome(endpoint.urlParamsSchema) ? "declared" : Context.getOption(endpoint.annotations, AnyQuery).pipe(Option.isSome) ? "any" : "none"
      })
    }
  })
  out.push({ method: "GET", path: "/openapi.json", name: "openapi", query: "none" })
  // A Prometheus scrape config can add `params`: they are ignored.
  out.push({ method: "GET", path: "/metrics", name: "metrics", query: "any" })
  return out
})()

/** A trigger's route in the table. */
export const triggerRouteInfo = (route: TriggerRoute): RouteInfo => ({
  method: route.method,
  path: route.path,
  name: `trigger${route.path.replaceAll("/", ".")}`,
  // The trigger reads its own request (a webhook provider's URL may carry a query string).
  query: "any"
})

/** Each route with a pattern of its path that matches the request paths it answers. */
const compile = (routes: ReadonlyArray<RouteInfo>) =>
  routes.map((route) => ({
    route,
    pattern: new RegExp(`^${route.path.replace(/[.]/g, "\\.").replace(/:[A-Za-z_]+/g, "[^/]+")}/?$`)
  }))

/** `(method, path) → name` over `routes`; unmatched requests are `unknown-route`. */
export const routeNamer = (routes: ReadonlyArray<RouteInfo>) => {
  const compiled = compile(routes)
  return (method: string, path: string): string =>
    compiled.find((r) => r.route.method === method && r.pattern.test(path))?.route.name ?? "unknown-route"
}

/**
 * `path → the methods routes answer there` over `routes`, for a 405's `Allow` (HEAD
 * wherever GET is: the server answers it); empty when no route has that path.
 */
export const routeMethods = (routes: ReadonlyArray<RouteInfo>) => {
  const compiled = compile(routes)
  return (path: string): ReadonlyArray<string> => {
    const methods = new Set(compiled.filter((r) => r.pattern.test(path)).map((r) => r.route.method))
    if (methods.has("GET")) methods.add("HEAD")
    return [...methods].sort()
  }
}

/** `(method, path) → the route that answers it` over `routes`, HEAD as GET; undefined when none does. */
const routeAt = (routes: ReadonlyArray<RouteInfo>) => {
  const compiled = compile(routes)
  return (method: string, path: string): RouteInfo | undefined => {
    const as = method === "HEAD" ? "GET" : method
    return compiled.find((r) => r.route.method === as && r.pattern.test(path))?.route
  }
}

/**
 * `(method, path) → the route's template` (`/v1/runs/:id`) over `routes`, HEAD as GET;
 * unmatched requests are `unmatched` (a metric label: never the raw path).
 */
export const routeTemplate = (routes: ReadonlyArray<RouteInfo>) => {
  const at = routeAt(routes)
  return (method: string, path: string): string => at(method, path)?.path ?? "unmatched"
}

/**
 * `(method, path) → the route's {@link QueryRule}` over `routes`, HEAD as GET; undefined
 * for a request no route answers (its 404 or 405 says so).
 */
export const routeQuery = (routes: ReadonlyArray<RouteInfo>) => {
  const at = routeAt(routes)
  return (method: string, path: string): QueryRule | undefined => at(method, path)?.query
}
