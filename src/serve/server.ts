/**
 * `stargraph serve`: the HTTP API over a Scheduler, a Checkpointer and a graph registry,
 * with trigger routes mounted, bearer-token auth, per-client rate limits, body limits,
 * one audit line per API action, and graceful shutdown (the server stops accepting,
 * triggers stop, the Scheduler drains, the database closes: the scope's finalizers run
 * in that order).
 */
import { randomUUID, timingSafeEqual } from "node:crypto"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { isIP } from "node:net"
import { hostname, tmpdir } from "node:os"
import { isAbsolute, join } from "node:path"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Headers from "@effect/platform/Headers"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiError from "@effect/platform/HttpApiError"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Respondable from "@effect/platform/HttpServerRespondable"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ArtifactStore from "../checkpoint/ArtifactStore.js"
import type { ArtifactStoreShape } from "../checkpoint/artifactModels.js"
import type { RunRecord } from "../checkpoint/models.js"
import { checkpointerLayer, describeDatabase } from "../checkpoint/openDatabase.js"
import { ApiError, type CheckpointError, InputError, StargraphError, StargraphRuntimeError } from "../errors.js"
import * as Heartbeat from "../runtime/Heartbeat.js"
import * as GraphRegistry from "../scheduler/GraphRegistry.js"
import * as Scheduler from "../scheduler/Scheduler.js"
import { AuditSink, type AuditLogSpec, discard, fromSpec, jsonl } from "../telemetry/AuditSink.js"
import { Metrics, type MetricsShape } from "../telemetry/Metrics.js"
import { tracing } from "../telemetry/TracingEnabled.js"
import { MAX_JSON_DEPTH } from "../ir/json.js"
import { statusOf } from "../triggers/httpError.js"
import { MAX_BODY_DEPTH, nestsDeeperThan } from "../triggers/jsonDepth.js"
import * as ProjectConfig from "../triggers/ProjectConfig.js"
import type { DispatchResult } from "../triggers/Dispatcher.js"
import type { TriggerRoute } from "../triggers/Trigger.js"
import * as TriggerHost from "../triggers/TriggerHost.js"
import { isChunked, readChunked } from "./chunkedBody.js"
import { clientAddress, type TrustedProxies, trustedProxies } from "./clientAddress.js"
import { errorResponse } from "./envelope.js"
import { handlersLayer, SERVE_NO_MODEL_FIX } from "./handlers.js"
import { checkCancelWait } from "../runtime/askCancel.js"
import { fileIdentity, watchDatabase } from "./databaseWatch.js"
import { metricsRouteLayer } from "./metricsRoute.js"
import { openApiDocument } from "./openapi.js"
import { refuseAnyQuery, unknownQueryParameter } from "./queryParameter.js"
import { apiRoutes, type QueryRule, type RouteInfo, routeMethods, routeNamer, routeQuery, routeTemplate, triggerRouteInfo } from "./routes.js"
import { StargraphApi } from "./StargraphApi.js"
import { closestName } from "../ir/didYouMean.js"
import { objectExpectation } from "../ir/parseIssue.js"

/** How to run the server. */

/**
 * The stderr line for a run this server drove that ended `error` (the runtime broke under
 * it: a step's commit failed, e.g. on a full disk): which run, after which step, the cause,
 * and how to go on once the cause is fixed.
 */
export const runErrorLine = (run: RunRecord): string =>
  `run ${run.run_id} (graph ${run.graph_id}) ended error after step ${run.last_step}: ${run.error?.message ?? "no cause recorded"}; ` +
  `once the cause is fixed, resume it from there: POST /v1/runs/${run.run_id}/resume or stargraph resume ${run.run_id}`

/** The fix a 413 names: the body, or the limit that applies (a webhook's own, or the server's). */
const raiseLimit = (ownLimit: boolean): string =>
  ownLimit
    ? "; send a smaller body, or raise max_body_bytes in this webhook's config (stargraph.yaml), which sets this route's limit instead of --max-body-bytes"
    : "; send a smaller body, or start the server with a larger --max-body-bytes"

export interface ServeOptions {
  readonly host?: string | undefined
  /** 0 picks a free port. */
  readonly port?: number | undefined
  /**
   * The checkpoint database: a SQLite file, or a `postgres://` URL (the PostgreSQL
   * Checkpointer: servers on several hosts share it). Omitted → a temporary SQLite
   * database (announced loudly).
   */
  readonly db?: string | undefined
  /** SQLite's durability (default `FULL`); ignored for PostgreSQL. */
  readonly synchronous?: "FULL" | "NORMAL" | undefined
  /** The audit log: a path (plain JSONL), or a path and a key file (chained, signed). */
  readonly auditLog?: string | AuditLogSpec | undefined
  /** Graph files or folders to register. */
  readonly graphs?: ReadonlyArray<string> | undefined
  /**
   * Extra folders the graphs' modules and `subgraph` specs may come from (`moduleRoots` of
   * `Graph.load`; `STARGRAPH_MODULE_ROOTS` adds more). Default: each graph's folder tree.
   */
  readonly moduleRoots?: ReadonlyArray<string> | undefined
  /** `stargraph.yaml` with schedules, webhooks and plugins. */
  readonly config?: string | undefined
  /** Folder scanned for trigger plugins in package.json files (default: none). */
  readonly pluginRoot?: string | undefined
  /** Bearer token every route requires but `/healthz` and the webhook deliveries (their signature authenticates them). */
  readonly authToken?: string | undefined
  /**
   * Host names (the request's `Host`, port aside) the server answers to besides
   * `localhost` and its IP addresses, so a web page cannot reach it through DNS rebinding.
   * Default: this machine's name; any name when `authToken` guards a server on a public
   * address. Add the names clients use, e.g. behind a proxy.
   */
  readonly allowedHosts?: ReadonlyArray<string> | undefined
  /**
   * Requests per client per minute. Omitted: unlimited on a loopback host, 600 on any
   * other host. 0: unlimited.
   */
  readonly rateLimitPerMinute?: number | undefined
  /** Largest request body, bytes (default 1 MiB). */
  readonly maxBodyBytes?: number | undefined
  /**
   * Reverse proxies (IP addresses or CIDR subnets) whose `X-Forwarded-For` names the
   * client, for rate limits, the audit log and run actors. Default: none (the peer's
   * address is the client's; the header is ignored).
   */
  readonly trustedProxies?: ReadonlyArray<string> | undefined
  readonly scheduler?: Scheduler.SchedulerOptions | undefined
  /**
   * This server's lease, ms (default 30 000): its heartbeat beats every third of it, and a
   * server on another host takes its runs over once the beat has stood still for longer
   * than the lease and a third (see `Heartbeat`, docs/scheduler.md).
   */
  readonly leaseMs?: number | undefined
  /**
   * How long `POST /v1/runs/{id}/cancel` waits for another live process (another server on
   * the database, a `stargraph run`) it asked to cancel a run, ms: 0 to one hour (default
   * 10 000). Past it the answer is `cancelling`: the request stands, and that process
   * cancels the run when it reads it.
   */
  readonly cancelWaitMs?: number | undefined
  /** Environment for webhook secrets (default `process.env`). */
  readonly env?: { readonly [name: string]: string | undefined }
  /**
   * Where `write_artifact` nodes store artifacts and `/v1/artifacts` reads them (default:
   * the filesystem store beside the database, `<db>.artifacts/`, as `stargraph run` uses).
   */
  readonly artifacts?: ArtifactStoreShape | undefined
}

/** Requests per client per minute when serving on a non-loopback host without `--rate-limit`. */
export const DEFAULT_RATE_LIMIT = 600

/** A running server. */
export interface Started {
  readonly url: string
  readonly port: number
  /** The database: a SQLite path, or a PostgreSQL URL without its password. */
  readonly db: string
  /** Every route it answers (API, `/openapi.json`, trigger routes). */
  readonly routes: ReadonlyArray<RouteInfo>
  /**
   * Every trigger's outcome, one `DispatchResult` per trigger and phase: `load` (plugins:
   * their module, constructor or factory), `init`, `start` and `routes`. A failed one is
   * logged and left out; the server and the other triggers carry on.
   */
  readonly triggers: {
    readonly load: ReadonlyArray<DispatchResult>
    readonly init: ReadonlyArray<DispatchResult>
    readonly start: ReadonlyArray<DispatchResult>
    readonly routes: ReadonlyArray<DispatchResult>
  }
  /**
   * Fails with `CheckpointError[database-replaced]` once the SQLite file the server opened
   * is removed or replaced (checked every second; never for PostgreSQL): its writes would
   * be lost from then on, so stop the server (closing its scope) when it fails, as
   * `stargraph serve` does.
   */
  readonly lost: Effect.Effect<never, CheckpointError>
}

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

/** Whether an `Authorization` header carries `token` (the scheme name `Bearer` in any case), compared in constant time. */
const sameToken = (header: string, token: string) => {
  const scheme = /^bearer +/i.exec(header)
  const a = Buffer.from(scheme === null ? "" : header.slice(scheme[0].length))
  const b = Buffer.from(token)
  return scheme !== null && a.length === b.length && timingSafeEqual(a, b)
}

/** The request with its body labelled JSON (every route with a body takes JSON). */
const asJson = (request: HttpServerRequest.HttpServerRequest) =>
  request.method === "GET" || (request.headers["content-type"] ?? "").startsWith("application/json")
    ? request
    : request.modify({ headers: Headers.set(request.headers, "content-type", "application/json") })

/** The host name of a `Host` header (lower-case, port dropped; IPv6 in brackets). */
const hostName = (header: string): string => {
  const host = header.trim().toLowerCase()
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0] ?? ""
}

/** An IP address written as one (`10.0.0.5`, `[::1]`): no DNS name, so nothing a rebinding page can send. */
const isIpLiteral = (name: string): boolean => isIP(name.startsWith("[") ? name.slice(1, -1) : name) !== 0

/** Whether the server listens on a loopback address only. */
const isLoopback = (bindHost: string): boolean => {
  if (bindHost === "localhost" || /^127\./.test(bindHost)) return true
  return isIP(bindHost) === 6 && new URL(`http://[${bindHost}]`).hostname === "[::1]"
}

/**
 * The host names a server answers to (IP addresses aside), or undefined for any name: the
 * names given, else any name when a bearer token guards a server on a public address
 * (a page cannot send the token), else `localhost` and this machine's own name.
 */
const hostNames = (options: Pick<ServeOptions, "allowedHosts" | "authToken">, bindHost: string): ReadonlySet<string> | undefined =>
  options.allowedHosts !== undefined
    ? new Set(["localhost", ...options.allowedHosts.map(hostName)])
    : options.authToken !== undefined && !isLoopback(bindHost)
    ? undefined
    : new Set(["localhost", hostname().toLowerCase()])

/**
 * Why a request from a browser page of another site, or naming a host the server does not
 * answer to, is refused (undefined: it is not). Such requests are what cross-site request
 * forgery and DNS rebinding send: non-browser clients send no `Origin`, and name the server
 * by an address or a name it answers to.
 */
const foreignRequest = (request: HttpServerRequest.HttpServerRequest, names: ReadonlySet<string> | undefined): string | undefined => {
  const host = request.headers["host"] ?? ""
  if (names !== undefined) {
    const name = hostName(host)
    if (!names.has(name) && !isIpLiteral(name)) {
      return `Host '${host}' is not a name this server answers to (its addresses, ${[...names].join(", ")}); ` +
        "a page on another site can reach the server through DNS rebinding. Fix: use one of those, or start the server with --allowed-host <name> for the names its clients use (behind a proxy, for instance)"
    }
  }
  const origin = request.headers["origin"]
  if (origin !== undefined) {
    let originHost: string | undefined
    try {
      originHost = new URL(origin).host
    } catch {
      originHost = undefined
    }
    if (originHost === undefined || originHost.toLowerCase() !== host.toLowerCase()) {
      return `a request from a page of ${origin} is refused: the API answers its own origin's pages and clients that are not browsers (cross-site request forgery)`
    }
  }
  if (request.headers["sec-fetch-site"] === "cross-site") {
    return "a cross-site request from a browser is refused: the API answers its own origin's pages and clients that are not browsers (cross-site request forgery)"
  }
  return undefined
}

/** What a 401 says besides its envelope: the scheme its token goes in (RFC 9110 §11.6.1). */
const BEARER_CHALLENGE = { "www-authenticate": "Bearer realm=\"stargraph\"" }

/** Routes that never need the bearer token (`/openapi.json` does: it names every graph and webhook). */
const PUBLIC_PATHS: ReadonlySet<string> = new Set(["/healthz"])

/** What a client refused for its bearer token should send (the 401's `fix`). */
const BEARER_FIX = "send the header Authorization: Bearer <token>, with the token the server was started with (stargraph serve --auth-token-env NAME reads it from $NAME)"

/**
 * The concerns every route shares, around the whole app: per-client rate limit, bearer
 * token, body size, the envelope for anything the API itself did not answer (unknown
 * routes, defects), and one audit line per request.
 */
const guard = (
  options: Pick<ServeOptions, "authToken" | "rateLimitPerMinute" | "maxBodyBytes"> & {
    readonly hostNames: ReadonlySet<string> | undefined
    readonly trusted: TrustedProxies | undefined
    /** `METHOD path` of the routes that authenticate their requests themselves (webhooks): no bearer token asked for. */
    readonly selfAuthenticated?: ReadonlySet<string> | undefined
    /** Where each request is counted (`stargraph_http_*`), by its route's template. */
    readonly metrics?: { readonly recorder: MetricsShape; readonly templateOf: (method: string, path: string) => string } | undefined
  },
  audit: typeof AuditSink.Service,
  nameOf: (method: string, path: string) => string,
  /** The methods routes answer at a path (a 405's `Allow`); none for an unknown path. */
  methodsAt: (path: string) => ReadonlyArray<string>,
  /** What a route does with query parameters (`none`: any is refused here, before the route runs). */
  queryRuleOf: (method: string, path: string) => QueryRule | undefined,
  /** A route's own body limit (a webhook's `max_body_bytes`), which replaces the server's. */
  routeBodyLimit: (method: string, path: string) => number | undefined = () => undefined
) => {
  const serverMaxBody = options.maxBodyBytes ?? 1024 * 1024
  const limiter = options.rateLimitPerMinute ? makeLimiter(options.rateLimitPerMinute) : undefined
  const auditing = audit !== discard
  const bearer = options.authToken
  return <E, R>(app: HttpApp.HttpApp<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.gen(function*() {
      const received = yield* HttpServerRequest.HttpServerRequest
      const t0 = auditing || options.metrics !== undefined ? performance.now() : 0
      const peer = Option.getOrElse(received.remoteAddress, () => "unknown")
      const client = clientAddress(peer, received.headers["x-forwarded-for"], options.trusted)
      // Handlers and triggers read the client (run actors) from the request's address.
      const request = client === peer ? received : received.modify({ remoteAddress: client })
      const limit = limiter?.(client, Date.now())
      const path = request.url.split("?")[0] ?? "/"
      const routeLimit = routeBodyLimit(request.method, path)
      const maxBody = routeLimit ?? serverMaxBody
      const raise = raiseLimit(routeLimit !== undefined)
      const foreign = foreignRequest(request, options.hostNames)
      const refusal: ApiError | InputError | undefined = limit && !limit.allowed
        ? new ApiError({ reason: "rate-limited", status: 429, message: `more than ${options.rateLimitPerMinute} request${options.rateLimitPerMinute === 1 ? "" : "s"} per minute from ${client}` })
        : foreign !== undefined
        ? new ApiError({ reason: "forbidden", status: 403, message: foreign })
        : bearer !== undefined && !PUBLIC_PATHS.has(path) && !options.selfAuthenticated?.has(`${request.method} ${path}`) &&
            !sameToken(request.headers["authorization"] ?? "", bearer)
        ? new ApiError({ reason: "unauthorized", status: 401, message: "missing or wrong bearer token", fix: BEARER_FIX })
        : Number(request.headers["content-length"] ?? "0") > maxBody
        ? new ApiError({ reason: "body-too-large", status: 413, message: `body of ${request.headers["content-length"]} bytes exceeds the limit of ${maxBody} bytes${raise}` })
        // A route that takes no query parameters refuses any, as one with a query schema refuses those it does not declare.
        : queryRuleOf(request.method, path) === "none"
        ? refuseAnyQuery(request.url)
        : undefined
      // A chunked body (no Content-Length) is read here, up to the limit, so that an
      // oversize one still gets its 413 (the platform's own limit drops the connection).
      const buffered = refusal === undefined && isChunked(request) ? yield* readChunked(request, maxBody) : undefined
      let response = refusal !== undefined
        ? errorResponse(refusal, refusal instanceof ApiError && refusal.reason === "unauthorized" ? BEARER_CHALLENGE : {})
        : buffered === null
        ? errorResponse(new ApiError({ reason: "body-too-large", status: 413, message: `chunked body exceeds the limit of ${maxBody} bytes${raise}` }))
        : yield* Effect.suspend(() => {
          // Bodies are JSON whatever the client labels them (`curl -d` says form-urlencoded).
          const effective = asJson(buffered ?? request)
          // Trigger routes read their raw bytes themselves (a webhook checks its own depth).
          const checked = hasBody(effective) && !nameOf(request.method, path).startsWith("trigger.")
            ? Effect.zipRight(refuseDeepBody(effective), app)
            : app
          return checked.pipe(
            Effect.provideService(HttpServerRequest.HttpServerRequest, effective),
            HttpIncomingMessage.withMaxBodySize(Option.some(maxBody)),
            Effect.catchAllCause((cause) =>
              Cause.isInterruptedOnly(cause)
                ? Effect.failCause(cause)
                : Effect.map(errorOfCause(cause, maxBody, raise, methodsAt), (error) =>
                  errorResponse(error, error instanceof ApiError && error.reason === "method-not-allowed" ? { allow: methodsAt(path).join(", ") } : {})))
          )
        })
      if (limit) response = HttpServerResponse.setHeaders(response, limit.headers)
      options.metrics?.recorder.httpRequest(options.metrics.templateOf(request.method, path), request.method, response.status, (performance.now() - t0) / 1000)
      if (auditing) {
        const event = nameOf(request.method, path)
        const runId = createdRunOf(event, response)
        yield* audit.write({
          ts: new Date().toISOString(),
          actor: `http:${client}`,
          event: `api.${event}`,
          method: request.method,
          path: request.url,
          status: response.status,
          ...(runId !== undefined ? { run_id: runId } : {}),
          duration_ms: +(performance.now() - t0).toFixed(2)
        })
      }
      // A 5xx is answered, but the request failed: it leaves as a failure that carries its
      // response, so the platform still sends that response and the request's span (when
      // tracing) ends as an error, as error-rate alerts expect.
      return response.status >= 500 ? yield* Effect.fail(new AnsweredWithError(response)) : response
    })
}

/** A response the server answered a failed request with (a 5xx), as the failure the platform turns back into it. */
class AnsweredWithError implements Respondable.Respondable {
  readonly _tag = "AnsweredWithError"
  readonly message: string
  constructor(readonly response: HttpServerResponse.HttpServerResponse) {
    this.message = `HTTP ${response.status}`
  }
  [Respondable.symbol]() {
    return Effect.succeed(this.response)
  }
  /** What a span's error status says: the status, not the response (Effect prints a failure with its `toString`). */
  toString() {
    return this.message
  }
}

/**
 * The run a request created or found (`runs.create`, a webhook delivery: their JSON answer's
 * `run_id`), for its audit line, so an auditor links the request to the run's own lines.
 */
const createdRunOf = (event: string, response: HttpServerResponse.HttpServerResponse): string | undefined => {
  if ((event !== "runs.create" && !event.startsWith("trigger.")) || response.status >= 300 || response.body._tag !== "Uint8Array") return undefined
  try {
    const body: unknown = JSON.parse(new TextDecoder().decode(response.body.body))
    const runId = body !== null && typeof body === "object" ? (body as { readonly run_id?: unknown }).run_id : undefined
    return typeof runId === "string" ? runId : undefined
  } catch {
    return undefined
  }
}

/** A request that carries a body. */
const hasBody = (request: HttpServerRequest.HttpServerRequest) =>
  request.method !== "GET" && request.method !== "HEAD" &&
  (Number(request.headers["content-length"] ?? "0") > 0 || request.headers["transfer-encoding"] !== undefined)

/**
 * Refuse a body nested deeper than `MAX_BODY_DEPTH` before anything recursive (schema
 * decoding, error formatting, the state check) sees it. The body text is cached on the
 * request, so the API's own decoding reads it without a second pass over the socket.
 */
const refuseDeepBody = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.flatMap(request.text, (text) =>
    nestsDeeperThan(text)
      ? Effect.fail(new InputError({
        field: "body",
        message: `JSON nested more than ${MAX_BODY_DEPTH} levels deep`,
        fix: `flatten the data (state values nest at most ${MAX_JSON_DEPTH} levels) or send deep structures as a string`
      }))
      : Effect.void)

/**
 * The StargraphError a failed request stands for when the API did not answer it itself:
 * unknown routes (404, or 405 for a path routes answer with other methods), unreadable
 * (malformed JSON) or oversize (chunked, no Content-Length) bodies get their envelope; anything else is an internal error, logged here with its
 * full cause under an incident id, and answered with that id only (no stack trace, no
 * server file path on the wire).
 */
const errorOfCause = (cause: Cause.Cause<unknown>, maxBody: number, raise: string, methodsAt: (path: string) => ReadonlyArray<string>): Effect.Effect<StargraphError> => {
  const failure = Cause.squash(cause)
  if (isStargraphError(failure)) return Effect.succeed(failure)
  if (HttpServerError.isServerError(failure)) {
    if (failure._tag === "RouteNotFound") {
      const { method } = failure.request
      const path = failure.request.url.split("?")[0] ?? "/"
      const allowed = methodsAt(path)
      return Effect.succeed(
        // (A path the router did not match though its template answers this method: a path parameter over its length limit.)
        allowed.length > 0 && !allowed.includes(method)
          ? new ApiError({ reason: "method-not-allowed", status: 405, message: `${path} does not answer ${method}: use ${allowed.join(", ")}` })
          : new ApiError({ reason: "not-found", status: 404, message: `no route ${method} ${path}` })
      )
    }
    if (failure._tag === "RequestError") {
      const reason = failure.cause instanceof Error ? failure.cause.message : String(failure.cause)
      return Effect.succeed(
        reason === "maxBytes exceeded"
          ? new ApiError({ reason: "body-too-large", status: 413, message: `body exceeds the limit of ${maxBody} bytes${raise}` })
          : new InputError({ field: "body", message: `malformed JSON: ${reason.split("\n")[0]}`, fix: "send a JSON object with Content-Type: application/json" })
      )
    }
  }
  const incident = randomUUID()
  return Effect.as(
    Effect.logError(`internal error (incident ${incident})`, cause),
    new StargraphRuntimeError({ message: `internal error (incident ${incident}; the details are in the server log)` })
  )
}

const isStargraphError = Schema.is(StargraphError)

/**
 * The longest path parameter the router matches, in characters as the URL carries them: a
 * thread id of 200 characters, each percent-encoded (up to 12 characters for one of 4 UTF-8
 * bytes), with room to spare. A longer one answers 404.
 */
const MAX_PATH_PARAM_LENGTH = 4096

/** The way out for a field whose decode failure needs more than the route's parameters. */
const FIELD_FIXES: ReadonlyMap<string, string> = new Map([
  // The CLI's --inputs is "params" in a POST /v1/runs body.
  ["inputs", "send a run's initial state as \"params\": {…}"],
  ["max_steps", `send "max_steps" as a whole number from 1 to ${Number.MAX_SAFE_INTEGER}, the most steps the fork may take after its fork step (e.g. "max_steps": 50), or leave it out for none but the graph's max_steps`],
  ["limit", "pass limit as a whole number from 1 to 500 in decimal digits, e.g. ?limit=50 (default 50)"],
  ["skip_failed", "send \"skip_failed\": true (with \"thread_id\") to pass over the thread's failed and cancelled runs, or leave it out"]
])

/** `POST /v1/runs/{id}/resume`, whose body (`ResumeBody`) has no required field. */
const RESUME_ROUTE = /^\/v1\/runs\/[^/]+\/resume$/

/**
 * The way out for an unknown field of a `/resume` body that another route takes: an answer
 * and the wait it answers go to `/respond`, a step budget is a fork's, given when it is made.
 */
const RESUME_FIELD_FIXES: ReadonlyMap<string, string> = new Map([
  ["response", "an answer goes to POST /v1/runs/{id}/respond as {\"response\": <JSON>}; /resume takes only \"live_after_fork\" (unknown fields are refused)"],
  ["wait_id", "the wait an answer is for goes with it to POST /v1/runs/{id}/respond as {\"response\": <JSON>, \"wait_id\": …}; /resume takes only \"live_after_fork\" (unknown fields are refused)"],
  ["max_steps", "a fork's step budget is given when it is made, POST /v1/runs/{id}/counterfactual with \"max_steps\"; /resume takes only \"live_after_fork\" (unknown fields are refused)"]
])

/** An issue's message, an object's schema name said in JSON's terms (the request body must be a JSON object, got null). */
const plainMessageOf = (issue: HttpApiError.HttpApiDecodeError["issues"][number] | undefined): string | undefined => {
  if (issue === undefined) return undefined
  const object = objectExpectation(issue)
  if (object === undefined) return issue.message
  return issue.path.length === 0 ? object.replace(/^expected a JSON object/, "the request body must be a JSON object") : object
}

/**
 * The API's own decode failure as an `InputError` naming the field; `body` (the request's
 * JSON, when it has one) tells which fields an object with an unknown one already has, and
 * `path` (the request's) which route's body it is. `fromQuery`: the failure is the query
 * string's (a request without a body: its query is the one strict input it has), so an
 * unknown name is a query parameter.
 */
const inputErrorOf = (failure: HttpApiError.HttpApiDecodeError, body?: unknown, path?: string, fromQuery = false) => {
  const issue = failure.issues[0]
  // A union of literals (a status) reports one issue per member at the same path: list them all.
  const at = JSON.stringify(issue?.path ?? [])
  const choices = [...new Set(failure.issues.filter((i) => JSON.stringify(i.path) === at).flatMap((i) => {
    const m = /^Expected ("[^"]*"), actual/.exec(i.message)
    return m === null ? [] : [m[1]!]
  }))]
  const actual = issue === undefined ? undefined : /, actual (.*)$/.exec(issue.message)?.[1]
  const field = issue && issue.path.length > 0 ? issue.path.map(String).join(".") : "body"
  // An unknown body field: the known one it is a misspelling of, else remove it.
  const unexpected = issue !== undefined && issue.path.length > 0 && issue.message.startsWith("is unexpected")
  const name = String(issue?.path[issue.path.length - 1] ?? "")
  const known = unexpected ? [...issue.message.slice(issue.message.indexOf("expected:")).matchAll(/"([^"]*)"/g)].map((m) => m[1]!) : []
  if (unexpected && issue.path.length === 1 && fromQuery) return unknownQueryParameter(name, known)
  // Or, in an object that has none of its fields, the first it lacks (the bodies declare their
  // required fields first): `{"answer": …}` for `{"response": …}`. One that has some gets no guess.
  // (Not in a /resume body, which has no required field: only a close name is a guess there.)
  const resume = path !== undefined && RESUME_ROUTE.test(path)
  const holder = unexpected ? issue.path.slice(0, -1).reduce<unknown>((at, key) => (typeof at === "object" && at !== null ? (at as Record<PropertyKey, unknown>)[key] : undefined), body) : undefined
  const bare = !resume && typeof holder === "object" && holder !== null && !known.some((k) => k in holder)
  const meant = unexpected ? closestName(name, known) ?? (bare ? known[0] : undefined) : undefined
  // An unknown field of a /resume body: the route that takes it, if any (FIELD_FIXES are other bodies' fields).
  const fieldFix = resume && unexpected ? RESUME_FIELD_FIXES.get(field) : FIELD_FIXES.get(field)
  return new InputError({
    field,
    message: choices.length > 1 ? `Expected one of ${choices.join(" | ")}, actual ${actual ?? "?"}` : plainMessageOf(issue) ?? failure.message,
    fix: choices.length > 1
      ? `use one of: ${choices.map((c) => c.slice(1, -1)).join(", ")}`
      : fieldFix ?? (meant !== undefined
        ? `did you mean '${meant}'? rename '${name}' to '${meant}' (unknown fields are refused)`
        : unexpected
        ? `remove the unknown field '${name}' (unknown fields are refused)`
        : "see /openapi.json for this route's parameters and body")
  })
}

/**
 * Inside the API (before its error encoder): decode failures answer with the envelope,
 * and an internal failure (a StargraphError answered 500) is logged in full, since its envelope
 * carries no stack trace or file path.
 */
const decodeErrorsLayer = HttpApiBuilder.middleware(StargraphApi, (app) =>
  Effect.catchAllCause(app, (cause) => {
    const failure: Option.Option<unknown> = Cause.failureOption(cause)
    if (Option.isSome(failure) && failure.value instanceof HttpApiError.HttpApiDecodeError) {
      const decode = failure.value
      // The body was read (and kept) to be decoded: read again here, it is not read twice.
      return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        // A request without a body (GET, HEAD) failed on its query string (its path parameters are
        // plain strings; a route with a body declares no query schema: `none`, checked in `guard`).
        request.method === "GET" || request.method === "HEAD"
          ? Effect.fail(inputErrorOf(decode, undefined, undefined, true))
          : Effect.flatMap(Effect.orElseSucceed(request.json, () => undefined), (body) => Effect.fail(inputErrorOf(decode, body, request.url.split("?")[0]))))
    }
    if (Option.isSome(failure) && isStargraphError(failure.value) && statusOf(failure.value) === 500) {
      return Effect.zipRight(Effect.logError(`request failed: ${failure.value._tag}`, cause), Effect.failCause(cause))
    }
    return Effect.failCause(cause)
  }))

/** A trigger's route (e.g. a signed webhook) on the API's router. */
const triggerRoutesLayer = (routes: ReadonlyArray<TriggerRoute>) =>
  HttpApiBuilder.Router.use((router) =>
    Effect.forEach(routes, (route) =>
      router.addRoute(HttpRouter.makeRoute(
        route.method,
        route.path as HttpRouter.PathInput,
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const params = yield* HttpRouter.params
          const body = new Uint8Array(yield* request.arrayBuffer)
          const answer = yield* route.handle({
            headers: request.headers as { readonly [k: string]: string | undefined },
            body,
            params: params as Record<string, string>
          })
          return HttpServerResponse.unsafeJson(answer.body, { status: answer.status })
        })
      )), { discard: true }))

/** `GET /openapi.json`, generated from `StargraphApi` plus the trigger routes (read per request: `servers` is set once listening). */
const openApiLayer = (document: () => unknown) =>
  HttpApiBuilder.Router.use((router) => router.get("/openapi.json", Effect.sync(() => HttpServerResponse.unsafeJson(document()))))

/**
 * Resolve the database path: a temp file when none was given, said loudly, and removed
 * with its folder when the server's scope closes (after the database, opened later, is
 * closed).
 */
const resolveDb = (db: string | undefined): Effect.Effect<string, never, Scope.Scope> => {
  if (db) return Effect.succeed(db)
  return Effect.acquireRelease(
    Effect.sync(() => {
      const folder = mkdtempSync(join(tmpdir(), "stargraph-serve-"))
      const file = join(folder, "serve.sqlite")
      process.stderr.write(
        `warning: no --db given: using a temporary database at ${file}, removed when the server stops. Runs will not survive a restart and ` +
          "other processes (stargraph run, replay) will not see them. Pass --db ./.stargraph/serve.sqlite (or set STARGRAPH_DB)\n"
      )
      return { folder, file }
    }),
    ({ folder }) => Effect.sync(() => rmSync(folder, { recursive: true, force: true }))
  ).pipe(Effect.map(({ file }) => file))
}

/** Start everything in the current scope; returns where it listens. */
export const start = (options: ServeOptions = {}): Effect.Effect<Started, StargraphError, Scope.Scope> =>
  Effect.gen(function*() {
    if (options.port !== undefined && !(Number.isInteger(options.port) && options.port >= 0 && options.port <= 65535)) {
      return yield* new InputError({ field: "port", message: `port ${options.port} is not a TCP port`, fix: "use 1–65535, or 0 to pick a free one" })
    }
    const limit = options.rateLimitPerMinute
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      return yield* new InputError({ field: "rateLimitPerMinute", message: `a rate limit of ${limit} requests per minute is not a count`, fix: "use a whole number of requests per client per minute, or 0 for no limit" })
    }
    const maxBody = options.maxBodyBytes
    if (maxBody !== undefined && !(Number.isInteger(maxBody) && maxBody > 0)) {
      return yield* new InputError({ field: "maxBodyBytes", message: `a body limit of ${maxBody} bytes lets no request through`, fix: "use a positive number of bytes (default 1048576)" })
    }
    const cancelWaitMs = options.cancelWaitMs === undefined ? undefined : yield* checkCancelWait(options.cancelWaitMs, "cancelWaitMs")
    const trusted = options.trustedProxies !== undefined && options.trustedProxies.length > 0 ? yield* trustedProxies(options.trustedProxies) : undefined
    for (const path of options.graphs ?? []) {
      if (!existsSync(path)) {
        return yield* new InputError({
          field: "graphs",
          message: `there is no file or folder ${path}${isAbsolute(path) ? "" : ` (relative to ${process.cwd()})`}`,
          fix: "pass a graph file, or a folder holding graph files (searched recursively)"
        })
      }
    }
    const db = yield* resolveDb(options.db)
    const config = options.config ? yield* ProjectConfig.load(options.config) : undefined
    const paths = [...(options.graphs ?? []), ...(config?.graphPaths ?? [])]
    /** The HTTP server, once made (see `onDrained` below and the stop after `serveEffect`). */
    let listening: Server | undefined
    const schedulerOptions: Scheduler.SchedulerOptions = {
      ...(config?.config.scheduler?.per_graph !== undefined ? { perGraph: config.config.scheduler.per_graph } : {}),
      ...(config?.config.scheduler?.global !== undefined ? { global: config.config.scheduler.global } : {}),
      ...(config?.config.scheduler?.per_graph_overrides ? { perGraphOverrides: config.config.scheduler.per_graph_overrides } : {}),
      ...(config?.config.scheduler?.abort_grace_ms !== undefined ? { abortGraceMs: config.config.scheduler.abort_grace_ms } : {}),
      ...(config?.config.scheduler?.drain_timeout_ms !== undefined ? { drainTimeoutMs: config.config.scheduler.drain_timeout_ms } : {}),
      onRunError: (run) => Console.error(runErrorLine(run)),
      // A run refused for a model the server was not given says how to give it one.
      noModelFix: SERVE_NO_MODEL_FIX,
      ...options.scheduler,
      // Once the drain is over (the runs' streams got their `run.paused` and ended), the
      // connections still open (a stream held on a stopped run, a slow client) are closed:
      // before the database closes under them.
      onDrained: (report) =>
        Effect.zipRight(
          Effect.sync(() => listening?.closeAllConnections()),
          options.scheduler?.onDrained !== undefined ? options.scheduler.onDrained(report) : Effect.void
        )
    }
    const base = Scheduler.layer(schedulerOptions).pipe(
      Layer.provideMerge(GraphRegistry.layerFromPaths([...new Set(paths)], { moduleRoots: options.moduleRoots })),
      Layer.provideMerge(options.auditLog ? (typeof options.auditLog === "string" ? jsonl(options.auditLog, "auditLog (--audit-log)") : fromSpec(options.auditLog, "auditLog (--audit-log)")) : Layer.succeed(AuditSink, discard)),
      // Beats from before the Scheduler starts until after it has drained (its runs handed back);
      // removes the stale heartbeats of processes killed long ago, at start and hourly.
      Layer.provideMerge(Heartbeat.layer({ leaseMs: options.leaseMs, sweepEveryMs: Heartbeat.HEARTBEAT_SWEEP_MS })),
      Layer.provideMerge(checkpointerLayer(db, { synchronous: options.synchronous })),
      Layer.provideMerge(options.artifacts !== undefined ? ArtifactStore.layer(options.artifacts) : ArtifactStore.filesystem(ArtifactStore.besideDatabase(db)))
    )
    const context = yield* Layer.build(base)
    // The database file as opened: removed or replaced later, the server's writes are lost (`lost`).
    const opened = fileIdentity(db)
    const triggers = yield* TriggerHost.start({ config, pluginRoot: options.pluginRoot, noModelFix: SERVE_NO_MODEL_FIX, ...(options.env ? { env: options.env } : {}) }).pipe(
      Effect.provide(context)
    )
    const routes = [...apiRoutes, ...triggers.routes.map(triggerRouteInfo)]
    const bindHost = options.host ?? "127.0.0.1"
    const rateLimitPerMinute = options.rateLimitPerMinute ?? (isLoopback(bindHost) ? undefined : DEFAULT_RATE_LIMIT)
    const described = { auth: options.authToken !== undefined, rateLimited: rateLimitPerMinute !== undefined && rateLimitPerMinute > 0 }
    let document = openApiDocument(triggers.routes, described)
    const metrics = yield* Metrics
    // The API, its handlers, the trigger routes and /openapi.json share one router.
    const apiContext = yield* Layer.build(
      Layer.mergeAll(
        HttpApiBuilder.api(StargraphApi).pipe(Layer.provide(handlersLayer(db, { cancelWaitMs }))),
        triggerRoutesLayer(triggers.routes),
        openApiLayer(() => document),
        metricsRouteLayer(metrics),
        decodeErrorsLayer
      ).pipe(
        Layer.provideMerge(Layer.mergeAll(HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer)),
        Layer.provide(Layer.succeedContext(context))
      )
    )
    // A path parameter as long as the API takes (a thread id of 200 characters, percent-encoded), not the router's default 100.
    const app = yield* HttpApiBuilder.httpApp.pipe(HttpRouter.withRouterConfig({ maxParamLength: MAX_PATH_PARAM_LENGTH }), Effect.provide(apiContext))
    const nameOf = routeNamer(routes)
    const methodsAt = routeMethods(routes)
    const bodyLimits = new Map<string, number>(triggers.routes.flatMap((r) => (r.maxBodyBytes !== undefined ? [[`${r.method} ${r.path}`, r.maxBodyBytes] as const] : [])))
    const selfAuthenticated = new Set(triggers.routes.filter((r) => r.authenticatesItself === true).map((r) => `${r.method} ${r.path}`))
    const guarded = guard({ ...options, rateLimitPerMinute, hostNames: hostNames(options, bindHost), trusted, selfAuthenticated, metrics: { recorder: metrics, templateOf: routeTemplate(routes) } }, Context.get(context, AuditSink), nameOf, methodsAt, routeQuery(routes), (method, path) => bodyLimits.get(`${method} ${path}`))(app)
    const wanted = options.port ?? 8000
    const server = yield* NodeHttpServer.make(() => (listening = createServer()), { host: bindHost, port: wanted }).pipe(
      Effect.mapError((e) => {
        const code = Predicate.hasProperty(e.cause, "code") ? e.cause.code : undefined
        return code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL"
          ? new InputError({
            field: code === "EADDRNOTAVAIL" ? "host" : "port",
            message: code === "EADDRINUSE"
              ? `${bindHost}:${wanted} is already in use`
              : code === "EACCES" ? `this process may not listen on ${bindHost}:${wanted}` : `${bindHost} is not an address of this machine`,
            fix: code === "EADDRNOTAVAIL" ? "listen on 127.0.0.1, 0.0.0.0 or one of this machine's addresses" : "stop what holds it or pick another port (--port 0 picks a free one; ports under 1024 need privileges)"
          })
          : new StargraphRuntimeError({ message: `cannot listen on ${bindHost}:${wanted}: ${String(e.cause ?? e)}` })
      })
    )
    // Request spans only when a tracing layer is provided (see telemetry/Tracing): otherwise no cost.
    const traced = yield* tracing
    yield* HttpServer.serveEffect(guarded).pipe(
      Effect.locally(HttpMiddleware.currentTracerDisabledWhen, () => !traced),
      Effect.provideService(HttpServer.HttpServer, server),
      Effect.provide(context),
      Effect.provide(NodeHttpServer.layerContext)
    )
    // Stopping: new connections are refused at once, but the connections open are not waited
    // for here (an event stream stays open while its run goes on, and would hold the drain
    // back until the run ended): the drain that follows stops the runs, which ends their
    // streams (`run.paused`, requeued), and then closes what is still open (`onDrained`).
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        listening?.close()
        listening?.closeIdleConnections()
      })
    )
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    const host = address._tag === "TcpAddress" ? address.hostname : "unix"
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`
    document = openApiDocument(triggers.routes, { ...described, url })
    return {
      url,
      port,
      db: describeDatabase(db),
      routes,
      triggers: { load: triggers.load, init: triggers.init, start: triggers.start, routes: triggers.routeResults },
      lost: watchDatabase(db, opened)
    }
  })
