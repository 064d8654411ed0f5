/**
 * `/openapi.json`: the OpenAPI 3.1 document generated from `StargraphApi`, with the
 * trigger routes mounted at start-up (each documenting itself, e.g. a webhook's signature
 * headers and body), what the guard around every route answers, `servers` from the
 * listening URL and, when the server has them, bearer auth and the rate-limit headers.
 * It passes strict validators (no duplicate `$id`).
 */
import * as OpenApi from "@effect/platform/OpenApi"
import type { TriggerRoute } from "../triggers/Trigger.js"
import { triggerRouteInfo } from "./routes.js"
import { declaringHeaders, GUARD_REFUSALS, StargraphApi } from "./StargraphApi.js"

const envelope = { $ref: "#/components/schemas/ErrorEnvelope" }

const errorAnswer = (description: string) => ({ description, content: { "application/json": { schema: envelope } } })

/**
 * What the guard around every route can answer instead of the route (the statuses
 * `StargraphApi` declares API-wide), for the routes it does not describe.
 */
const guardAnswers = Object.fromEntries(Object.entries(GUARD_REFUSALS).map(([status, description]) => [status, errorAnswer(description)]))

/** The headers every answer carries when the server rate limits (`components.headers`). */
const RATE_LIMIT_HEADERS = {
  "X-RateLimit-Limit": { description: "requests a client may send per one-minute window", schema: { type: "integer" } },
  "X-RateLimit-Remaining": { description: "requests left in this window", schema: { type: "integer" } },
  "X-RateLimit-Reset": { description: "when this window ends, epoch seconds", schema: { type: "integer" } }
}

/** The challenge a 401 carries when a bearer token guards the server. */
const CHALLENGE_HEADER = {
  "WWW-Authenticate": { description: "Bearer realm=\"stargraph\", on a missing or wrong bearer token", schema: { type: "string" } }
}

/** `paths` with `headers(status)` declared on every operation's answer of that status (but the operations `skip` names, `method path`). */
const withHeaders = (
  paths: Record<string, Record<string, Record<string, unknown>>>,
  headers: (status: string) => Record<string, unknown>,
  skip: ReadonlySet<string> = new Set()
) => {
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      if (skip.has(`${method} ${path}`)) continue
      const responses = operation["responses"] as Record<string, Record<string, unknown>>
      for (const [status, response] of Object.entries(responses)) {
        const more = headers(status)
        if (Object.keys(more).length > 0) responses[status] = declaringHeaders(response, more)
      }
    }
  }
}

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
      ...guardAnswers,
      ...(route.maxBodyBytes !== undefined ? { 413: errorAnswer(`body over ${route.maxBodyBytes} bytes (ApiError body-too-large)`) } : {}),
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

/** What the document says about the server it describes. */
export interface DocumentOptions {
  /** A bearer token guards every route but `/healthz` and the trigger routes that authenticate themselves (webhooks). */
  readonly auth: boolean
  /** Every answer carries the `X-RateLimit-*` headers. */
  readonly rateLimited: boolean
  /** The listening URL (`servers`), once known. */
  readonly url?: string | undefined
}

/**
 * The document for this server: the API, its trigger routes, auth and the rate-limit
 * headers when the server has them, and `servers` when the listening URL is known.
 */
export const openApiDocument = (triggerRoutes: ReadonlyArray<TriggerRoute>, { auth, rateLimited, url }: DocumentOptions) => {
  const spec = OpenApi.fromApi(StargraphApi) as unknown as {
    paths: Record<string, Record<string, Record<string, unknown>>>
    components: Record<string, unknown>
  }
  const paths = withoutDecodeError(spec.paths) as typeof spec.paths
  for (const route of triggerRoutes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, "{$1}")
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: triggerOperation(route) }
  }
  paths["/openapi.json"] = {
    get: {
      operationId: "openapi",
      summary: "This document",
      responses: { 200: { description: "OpenAPI 3.1", content: { "application/json": { schema: { type: "object" } } } }, ...guardAnswers }
    }
  }
  paths["/metrics"] = {
    get: {
      operationId: "metrics",
      summary: "Metrics in the Prometheus text exposition format (version 0.0.4): runs, steps, queue depth, trigger dispatches, HTTP requests, process basics",
      responses: {
        200: { description: "Prometheus text format 0.0.4", content: { "text/plain; version=0.0.4; charset=utf-8": { schema: { type: "string" } } } },
        ...guardAnswers
      }
    }
  }
  if (auth) {
    // Trigger routes that check their own credentials (a webhook's signature) are not behind the token.
    const own = new Set(triggerRoutes.filter((r) => r.authenticatesItself === true).map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`))
    for (const [path, operations] of Object.entries(paths)) {
      if (path === "/healthz") continue
      for (const [method, operation] of Object.entries(operations)) operation["security"] = own.has(`${method} ${path}`) ? [] : [{ bearer: [] }]
    }
    withHeaders(paths, (status) => (status === "401" ? CHALLENGE_HEADER : {}), own)
  }
  const rateLimitRefs = Object.fromEntries(Object.keys(RATE_LIMIT_HEADERS).map((name) => [name, { $ref: `#/components/headers/${name}` }]))
  if (rateLimited) withHeaders(paths, () => rateLimitRefs)
  return withoutIds({
    ...spec,
    ...(url !== undefined ? { servers: [{ url, description: "this server" }] } : {}),
    paths,
    components: {
      ...spec.components,
      schemas: referenced(paths, (spec.components["schemas"] ?? {}) as Record<string, unknown>),
      ...(auth ? { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } } : {}),
      ...(rateLimited ? { headers: RATE_LIMIT_HEADERS } : {})
    }
  }) as Record<string, unknown>
}
