/**
 * `/openapi.json`: the OpenAPI 3.1 document generated from `StargraphApi`, with the
 * trigger routes mounted at start-up (each documenting itself, e.g. a webhook's signature
 * headers and body), `servers` from the listening URL and, when a token is configured,
 * bearer auth. It passes strict validators (no duplicate `$id`).
 */
import * as OpenApi from "@effect/platform/OpenApi"
import type { TriggerRoute } from "../triggers/Trigger.js"
import { triggerRouteInfo } from "./routes.js"
import { StargraphApi } from "./StargraphApi.js"

const envelope = { $ref: "#/components/schemas/ErrorEnvelope" }

const errorAnswer = (description: string) => ({ description, content: { "application/json": { schema: envelope } } })

/** A trigger route's operation: a generic entry, with what the route documents itself (`route.openapi`) over it. */
const triggerOperation = (route: TriggerRoute) => {
  const own = (route.openapi ?? {}) as { readonly parameters?: ReadonlyArray<unknown>; readonly responses?: Record<string, unknown> }
  return {
    summary: "Trigger route",
    ...own,
    operationId: triggerRouteInfo(route).name,
    tags: ["triggers"],
    parameters: [
      ...[...route.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } })),
      ...(own.parameters ?? [])
    ],
    responses: {
      ...(route.maxBodyBytes !== undefined ? { 413: errorAnswer(`body over ${route.maxBodyBytes} bytes (ApiError body-too-large)`) } : {}),
      500: errorAnswer("internal error (StargraphRuntimeError; the details are in the server log)"),
      ...(own.responses ?? { default: { description: "the trigger's answer (JSON)" } })
    }
  }
}

/**
 * `value` without JSON Schema `$id`s: the generator gives every `Schema.Unknown` the same
 * `$id` (`/schemas/unknown`), which strict validators refuse as a duplicate, and nothing
 * refers to them.
 */
const withoutIds = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutIds)
  if (typeof value !== "object" || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) if (key !== "$id") out[key] = withoutIds(v)
  return out
}

/** The component schemas `paths` refer to, directly or through other components. */
const referenced = (paths: unknown, schemas: Record<string, unknown>) => {
  const keep = new Set<string>()
  const visit = (value: unknown) => {
    for (const m of JSON.stringify(value).matchAll(/#\/components\/schemas\/([^"]+)"/g)) {
      const name = m[1]!
      if (!keep.has(name) && name in schemas) {
        keep.add(name)
        visit(schemas[name])
      }
    }
  }
  visit(paths)
  return Object.fromEntries(Object.entries(schemas).filter(([name]) => keep.has(name)))
}

const DECODE_ERROR_REF = "#/components/schemas/HttpApiDecodeError"

/**
 * `value` without the `HttpApiDecodeError` alternative `HttpApi` documents for every 400:
 * the API answers its own decode failures with the error envelope (an `InputError`).
 */
const withoutDecodeError = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutDecodeError)
  if (typeof value !== "object" || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) {
    if (key === "anyOf" && Array.isArray(v)) {
      out[key] = v.filter((s: unknown) => (s as { $ref?: unknown } | null)?.$ref !== DECODE_ERROR_REF).map(withoutDecodeError)
    } else if (key === "description" && v === "The request did not match the expected schema") {
      out[key] = "invalid body, query, path or params"
    } else {
      out[key] = withoutDecodeError(v)
    }
  }
  return out
}

/**
 * The document for this server: the API, its trigger routes, auth when `auth`, and
 * `servers` when the listening URL is known.
 */
export const openApiDocument = (triggerRoutes: ReadonlyArray<TriggerRoute>, auth: boolean, url?: string) => {
  const spec = OpenApi.fromApi(StargraphApi) as unknown as {
    paths: Record<string, Record<string, Record<string, unknown>>>
    components: Record<string, unknown>
  }
  const paths = withoutDecodeError(spec.paths) as typeof spec.paths
  for (const route of triggerRoutes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, "{$1}")
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: triggerOperation(route) }
  }
  paths["/openapi.json"] = { get: { operationId: "openapi", summary: "This document", responses: { 200: { description: "OpenAPI 3.1" } } } }
  if (auth) {
    for (const [path, operations] of Object.entries(paths)) {
      if (path === "/healthz") continue
      for (const operation of Object.values(operations)) operation["security"] = [{ bearer: [] }]
    }
  }
  return withoutIds({
    ...spec,
    ...(url !== undefined ? { servers: [{ url, description: "this server" }] } : {}),
    paths,
    components: {
      ...spec.components,
      schemas: referenced(paths, (spec.components["schemas"] ?? {}) as Record<string, unknown>),
      ...(auth ? { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } } : {})
    }
  }) as Record<string, unknown>
}
