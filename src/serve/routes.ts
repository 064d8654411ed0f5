/**
 * The server's route table (the `StargraphApi` endpoints, `/openapi.json` and the
 * trigger routes), used to name each request in the audit log (`api.<name>`).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import type { TriggerRoute } from "../triggers/Trigger.js"
import { StargraphApi } from "./StargraphApi.js"

/** One route the server answers. */
export interface RouteInfo {
  readonly method: string
  /** Path with `:param` segments. */
  readonly path: string
  /** Audit name: `<group>.<endpoint>` (`runs.create`), `health`, `openapi`, `trigger.<path>`. */
  readonly name: string
}

/** The API's own routes. */
export const apiRoutes: ReadonlyArray<RouteInfo> = (() => {
  const out: Array<RouteInfo> = []
  HttpApi.reflect(StargraphApi, {
    onGroup: () => undefined,
    onEndpoint: ({ endpoint, group }) => {
      out.push({ method: endpoint.method, path: endpoint.path, name: group.identifier === endpoint.name ? endpoint.name : `${group.identifier}.${endpoint.name}` })
    }
  })
  out.push({ method: "GET", path: "/openapi.json", name: "openapi" })
  out.push({ method: "GET", path: "/metrics", name: "metrics" })
  return out
})()

/** A trigger's route in the table. */
export const triggerRouteInfo = (route: TriggerRoute): RouteInfo => ({
  method: route.method,
  path: route.path,
  name: `trigger${route.path.replaceAll("/", ".")}`
})

/** Each route's path as a pattern that matches the request paths it answers. */
const compile = (routes: ReadonlyArray<RouteInfo>) =>
  routes.map((r) => ({
    method: r.method,
    pattern: new RegExp(`^${r.path.replace(/[.]/g, "\\.").replace(/:[A-Za-z_]+/g, "[^/]+")}/?$`),
    name: r.name
  }))

/** `(method, path) → name` over `routes`; unmatched requests are `unknown-route`. */
export const routeNamer = (routes: ReadonlyArray<RouteInfo>) => {
  const compiled = compile(routes)
  return (method: string, path: string): string =>
    compiled.find((r) => r.method === method && r.pattern.test(path))?.name ?? "unknown-route"
}

/**
 * `path → the methods routes answer there` over `routes`, for a 405's `Allow` (HEAD
 * wherever GET is: the server answers it); empty when no route has that path.
 */
export const routeMethods = (routes: ReadonlyArray<RouteInfo>) => {
  const compiled = compile(routes)
  return (path: string): ReadonlyArray<string> => {
    const methods = new Set(compiled.filter((r) => r.pattern.test(path)).map((r) => r.method))
    if (methods.has("GET")) methods.add("HEAD")
    return [...methods].sort()
  }
}

/**
 * `(method, path) → the route's template` (`/v1/runs/:id`) over `routes`, HEAD as GET;
 * unmatched requests are `unmatched` (a metric label: never the raw path).
 */
export const routeTemplate = (routes: ReadonlyArray<RouteInfo>) => {
  const compiled = compile(routes).map((r, i) => ({ ...r, path: routes[i]!.path }))
  return (method: string, path: string): string => {
    const as = method === "HEAD" ? "GET" : method
    return compiled.find((r) => r.method === as && r.pattern.test(path))?.path ?? "unmatched"
  }
}
