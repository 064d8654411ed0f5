/**
 * `stargraph serve`: the HTTP API over a Scheduler, a Checkpointer and a graph registry,
 * with trigger routes mounted, bearer-token auth, per-client rate limits, body limits,
 * one audit line per API action, and graceful shutdown (the server stops accepting,
 * triggers stop, the Scheduler drains, the database closes: the scope's finalizers run
 * in that order).
 */
import { timingSafeEqual } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../checkpoint/SqliteCheckpointer.js"
import { ApiError, InputError, type StargraphError, StargraphRuntimeError } from "../errors.js"
import * as GraphRegistry from "../scheduler/GraphRegistry.js"
import * as Scheduler from "../scheduler/Scheduler.js"
import { AuditSink, discard, jsonl } from "../telemetry/AuditSink.js"
import * as ProjectConfig from "../triggers/ProjectConfig.js"
import type { TriggerRoute } from "../triggers/Trigger.js"
import { TracingEnabled } from "../telemetry/TracingEnabled.js"
import * as TriggerHost from "../triggers/TriggerHost.js"
import { makeRoutes } from "./api.js"
import { errorResponse } from "./envelope.js"
import { openApi } from "./openapi.js"
import type { Route, RouteContext } from "./routes.js"

/** How to run the server. */
export interface ServeOptions {
  readonly host?: string
  /** 0 picks a free port. */
  readonly port?: number
  /** SQLite file; omitted → a temporary database (announced loudly). */
  readonly db?: string | undefined
  readonly synchronous?: "FULL" | "NORMAL"
  readonly auditLog?: string | undefined
  /** Graph files or folders to register. */
  readonly graphs?: ReadonlyArray<string>
  /** `stargraph.yaml` with schedules, webhooks and plugins. */
  readonly config?: string | undefined
  /** Folder scanned for trigger plugins in package.json files (default: none). */
  readonly pluginRoot?: string | undefined
  /** Bearer token every route but `/healthz` requires. */
  readonly authToken?: string | undefined
  /**
   * Requests per client per minute. Omitted: unlimited on a loopback host, 600 on any
   * other host. 0: unlimited.
   */
  readonly rateLimitPerMinute?: number | undefined
  /** Largest request body, bytes (default 1 MiB). */
  readonly maxBodyBytes?: number
  readonly scheduler?: Scheduler.SchedulerOptions
  /** Environment for webhook secrets (default `process.env`). */
  readonly env?: { readonly [name: string]: string | undefined }
}

/** Requests per client per minute when serving on a non-loopback host without `--rate-limit`. */
export const DEFAULT_RATE_LIMIT = 600

/** A running server. */
export interface Started {
  readonly url: string
  readonly port: number
  readonly db: string
  readonly routes: ReadonlyArray<Route>
}

const decodeBody = (schema: Schema.Schema.AnyNoContext, bytes: Uint8Array): Effect.Effect<unknown, InputError> =>
  Effect.gen(function*() {
    const text = Buffer.from(bytes).toString("utf8")
    const parsed = yield* Effect.try({
      try: () => (text.length === 0 ? undefined : JSON.parse(text) as unknown),
      catch: (e) => new InputError({ field: "body", message: `malformed JSON: ${e instanceof Error ? e.message : String(e)}`, fix: "send a JSON object with Content-Type: application/json" })
    })
    return yield* Schema.decodeUnknown(schema, { onExcessProperty: "error" })(parsed).pipe(
      Effect.mapError((error) => {
        const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
        const field = (issue?.path ?? []).map(String).join(".") || "body"
        return new InputError({ field, message: issue?.message ?? "invalid body", fix: "see /openapi.json for this route's body" })
      })
    )
  })

/** Fixed-window per-client limiter: returns the headers to send and whether to allow. */
const makeLimiter = (perMinute: number) => {
  const windows = new Map<string, { start: number; count: number }>()
  return (client: string, now: number) => {
    let w = windows.get(client)
    if (!w || now - w.start >= 60_000) {
      if (windows.size > 10_000) for (const [k, v] of windows) if (now - v.start >= 60_000) windows.delete(k)
      w = { start: now, count: 0 }
      windows.set(client, w)
    }
    w.count++
    return {
      allowed: w.count <= perMinute,
      headers: {
        "x-ratelimit-limit": String(perMinute),
        "x-ratelimit-remaining": String(Math.max(0, perMinute - w.count)),
        "x-ratelimit-reset": String(Math.ceil((w.start + 60_000) / 1000))
      }
    }
  }
}

const sameToken = (given: string, expected: string) => {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

const fromTriggerRoute = (route: TriggerRoute): Route => ({
  method: route.method === "GET" ? "GET" : "POST",
  path: route.path,
  name: `trigger${route.path.replaceAll("/", ".")}`,
  summary: "Trigger route (signed webhook delivery)",
  raw: true,
  responses: { 202: "queued", 400: "missing header or not JSON", 401: "bad signature or stale timestamp", 409: "replayed nonce", 413: "body too large" },
  handle: (ctx) =>
    Effect.map(route.handle({ headers: ctx.headers, body: ctx.rawBody, params: ctx.params as Record<string, string> }), (r) =>
      HttpServerResponse.unsafeJson(r.body, { status: r.status }))
})

/** Build the HttpApp for `routes`. */
export const makeApp = (
  routes: ReadonlyArray<Route>,
  options: Pick<ServeOptions, "authToken" | "rateLimitPerMinute" | "maxBodyBytes">,
  audit: typeof AuditSink.Service
) => {
  const maxBody = options.maxBodyBytes ?? 1024 * 1024
  const limiter = options.rateLimitPerMinute ? makeLimiter(options.rateLimitPerMinute) : undefined
  const auditing = audit !== discard

  const wrap = (route: Route) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const params = yield* HttpRouter.params
      const t0 = performance.now()
      const client = Option.getOrElse(request.remoteAddress, () => "unknown")
      const actor = `http:${client}`
      const limit = limiter?.(client, Date.now())
      const headers = request.headers as { readonly [k: string]: string | undefined }
      const respond: Effect.Effect<HttpServerResponse.HttpServerResponse, StargraphError> = Effect.gen(function*() {
        if (limit && !limit.allowed) {
          return yield* new ApiError({ reason: "rate-limited", status: 429, message: `more than ${options.rateLimitPerMinute} requests per minute from ${client}` })
        }
        if (options.authToken && !route.public && !sameToken(headers["authorization"] ?? "", `Bearer ${options.authToken}`)) {
          return yield* new ApiError({ reason: "unauthorized", status: 401, message: "missing or wrong bearer token (send Authorization: Bearer <token>)" })
        }
        let rawBody = new Uint8Array(0)
        if (route.method === "POST") {
          const declared = Number(headers["content-length"] ?? "0")
          if (declared > maxBody) {
            return yield* new ApiError({ reason: "body-too-large", status: 413, message: `body of ${declared} bytes exceeds the limit of ${maxBody}` })
          }
          rawBody = new Uint8Array(yield* request.arrayBuffer.pipe(
            Effect.mapError((e) => new InputError({ field: "body", message: `cannot read the body: ${e.message}`, fix: "resend the request" }))
          ))
          if (rawBody.byteLength > maxBody) {
            return yield* new ApiError({ reason: "body-too-large", status: 413, message: `body of ${rawBody.byteLength} bytes exceeds the limit of ${maxBody}` })
          }
        }
        const body = route.body ? yield* decodeBody(route.body, rawBody) : undefined
        const url = new URL(request.url, "http://localhost")
        const ctx: RouteContext = { params, query: url.searchParams, body, actor, headers, request, rawBody }
        return yield* route.handle(ctx)
      })
      let response = yield* respond.pipe(
        Effect.catchAll((e) => Effect.succeed(errorResponse(e))),
        Effect.catchAllDefect((d) => Effect.succeed(errorResponse(new StargraphRuntimeError({ message: `internal error: ${String(d)}` }))))
      )
      if (limit) response = HttpServerResponse.setHeaders(response, limit.headers)
      if (auditing) {
        yield* audit.write({
          ts: new Date().toISOString(),
          actor,
          event: `api.${route.name}`,
          method: request.method,
          path: request.url,
          status: response.status,
          duration_ms: +(performance.now() - t0).toFixed(2)
        })
      }
      return response
    })

  const openapi = openApi(routes, options.authToken !== undefined)
  const all: Array<Route> = [
    ...routes,
    {
      method: "GET",
      path: "/openapi.json",
      name: "openapi",
      summary: "This document",
      public: true,
      responses: { 200: "OpenAPI 3.1" },
      handle: () => Effect.succeed(HttpServerResponse.unsafeJson(openapi))
    }
  ]
  const router = all.reduce(
    (r, route) => HttpRouter.route(route.method)(route.path as HttpRouter.PathInput, wrap(route))(r),
    HttpRouter.empty as HttpRouter.HttpRouter<never, never>
  )
  return router.pipe(
    Effect.catchAllCause(() =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        return errorResponse(new ApiError({ reason: "not-found", status: 404, message: `no route ${request.method} ${request.url.split("?")[0]}` }))
      })
    )
  )
}

/** Resolve the database path (a temp file when none was given, said loudly). */
const resolveDb = (db: string | undefined): string => {
  if (db) return db
  const file = join(mkdtempSync(join(tmpdir(), "stargraph-serve-")), "serve.sqlite")
  process.stderr.write(
    `warning: no --db given: using a temporary database at ${file}. Runs will not survive a restart and ` +
      "other processes (stargraph run, replay) will not see them. Pass --db ./.stargraph/serve.sqlite\n"
  )
  return file
}

/** Start everything in the current scope; returns where it listens. */
export const start = (options: ServeOptions = {}): Effect.Effect<Started, StargraphError, Scope.Scope> =>
  Effect.gen(function*() {
    const db = resolveDb(options.db)
    const config = options.config ? yield* ProjectConfig.load(options.config) : undefined
    const paths = [...(options.graphs ?? []), ...(config?.graphPaths ?? [])]
    const schedulerOptions: Scheduler.SchedulerOptions = {
      ...(config?.config.scheduler?.per_graph !== undefined ? { perGraph: config.config.scheduler.per_graph } : {}),
      ...(config?.config.scheduler?.global !== undefined ? { global: config.config.scheduler.global } : {}),
      ...(config?.config.scheduler?.per_graph_overrides ? { perGraphOverrides: config.config.scheduler.per_graph_overrides } : {}),
      ...options.scheduler
    }
    const base = Scheduler.layer(schedulerOptions).pipe(
      Layer.provideMerge(GraphRegistry.layerFromPaths([...new Set(paths)])),
      Layer.provideMerge(options.auditLog ? jsonl(options.auditLog) : Layer.succeed(AuditSink, discard)),
      Layer.provideMerge(SqliteCheckpointer.layer({ filename: db, ...(options.synchronous ? { synchronous: options.synchronous } : {}) }))
    )
    const context = yield* Layer.build(base)
    const triggers = yield* TriggerHost.start({ config, pluginRoot: options.pluginRoot, ...(options.env ? { env: options.env } : {}) }).pipe(
      Effect.provide(context)
    )
    const routes = [
      ...makeRoutes({
        scheduler: Context.get(context, Scheduler.Scheduler),
        checkpointer: Context.get(context, Checkpointer),
        registry: Context.get(context, GraphRegistry.GraphRegistry),
        db
      }),
      ...triggers.routes.map(fromTriggerRoute)
    ]
    const bindHost = options.host ?? "127.0.0.1"
    const loopback = bindHost === "localhost" || bindHost === "::1" || bindHost.startsWith("127.")
    const rateLimitPerMinute = options.rateLimitPerMinute ?? (loopback ? undefined : DEFAULT_RATE_LIMIT)
    const app = makeApp(routes, { ...options, rateLimitPerMinute }, Context.get(context, AuditSink))
    const server = yield* NodeHttpServer.make(() => createServer(), { host: options.host ?? "127.0.0.1", port: options.port ?? 8000 }).pipe(
      Effect.mapError((e) => new StargraphRuntimeError({ message: `cannot listen on ${options.host ?? "127.0.0.1"}:${options.port ?? 8000}: ${String(e.cause ?? e)}` }))
    )
    // Request spans only when a tracing layer is provided (see telemetry/Tracing): otherwise no cost.
    const traced = yield* TracingEnabled
    yield* HttpServer.serveEffect(app).pipe(
      Effect.locally(HttpMiddleware.currentTracerDisabledWhen, () => !traced),
      Effect.provideService(HttpServer.HttpServer, server),
      Effect.provide(context)
    )
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    const host = address._tag === "TcpAddress" ? address.hostname : "unix"
    return { url: `http://${host}:${port}`, port, db, routes }
  })
