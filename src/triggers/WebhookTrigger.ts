/**
 * Signed webhooks: each spec mounts `POST /v1/triggers/webhook/<id>`. A delivery is
 * accepted only with
 *
 *   X-Stargraph-Timestamp: <unix seconds>          canonical decimal digits, inside the window (default 300 s)
 *   X-Stargraph-Nonce:     <unique string>         not seen inside the window
 *   X-Stargraph-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<nonce>.<raw body>")>
 *
 * compared in constant time over the timestamp header's exact text (which must be canonical,
 * `TIMESTAMP_PATTERN`), and a JSON object body under the size limit, nested at most
 * `MAX_BODY_DEPTH` levels. A *delivery*, not a body, is deduplicated: the run's idempotency
 * key (`deliveryKeyOf`) is made from the sender's delivery id when the webhook names its
 * header (`delivery_id_header`), else from the signed timestamp and nonce, so a retry of
 * one delivery returns the run it started and the same body sent again as a new delivery
 * starts a new run. The delivery id header is not signed: the signed timestamp and nonce
 * are claimed durably for the first delivery id sent with them (`claimKeyOf`), so a signed
 * request resent under another id is that first delivery (its run), never a new one.
 * Every refusal is a distinct `WebhookError` and enqueues nothing.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { type CheckpointError, formatError, type StargraphError, StateValidationError, TriggerError, WebhookError } from "../errors.js"
import { Metrics } from "../telemetry/Metrics.js"
import { envelopeOf, statusOf } from "./httpError.js"
import { MAX_BODY_DEPTH, nestsDeeperThan } from "./jsonDepth.js"
import type { Trigger, TriggerDeps, TriggerRequest, TriggerResponse, TriggerRoute } from "./Trigger.js"
import { idempotencyKeyOf } from "./TriggerEvent.js"
import { checkTriggerModel } from "./triggerModels.js"

/** One webhook (a `webhooks:` entry of `stargraph.yaml`). */
export const WebhookSpec = Schema.Struct({
  id: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.-]+$/, { message: () => "webhook id must be URL-safe: letters, digits, '_', '.', '-'" })),
  graph: Schema.String,
  /** Environment variable holding the shared secret. */
  secret_env: Schema.String.pipe(Schema.minLength(1)),
  /** Accepted clock skew, in seconds (default 300). */
  window_s: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 300 }),
  /** Largest body accepted (default 1 MiB). */
  max_body_bytes: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 1024 * 1024 }),
  /** Fixed params merged under the body. */
  params: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  /** Put the whole body in this state field; without it (or with `null`) the body's keys are the params. */
  payload_field: Schema.optionalWith(Schema.String, { nullable: true }),
  /**
   * Start each run on a thread whose id is read from the body at this dotted path (e.g.
   * `conversation.id`): a string, or an integer (its decimal digits). Every delivery must
   * carry one.
   */
  thread_from: Schema.optional(Schema.String.pipe(
    Schema.pattern(/^[^.]+(\.[^.]+)*$/, { message: () => "thread_from is a dotted path into the body, such as conversation.id" })
  )),
  /**
   * With `thread_from`: a delivery's run passes over its thread's newest failed or
   * cancelled runs and continues from the newest done run before them (default false).
   */
  thread_skip_failed: Schema.optional(Schema.Boolean),
  /**
   * Header carrying the sender's id of a delivery, the same on each of its retries (e.g.
   * `X-GitHub-Delivery`, `Idempotency-Key`): every delivery must send it, and it is the run's
   * idempotency key. Without it, a delivery is known by its signed timestamp and nonce.
   */
  delivery_id_header: Schema.optional(Schema.String.pipe(
    Schema.pattern(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { message: () => "delivery_id_header is an HTTP header name, such as X-GitHub-Delivery" })
  ))
})
/** One webhook. */
export type WebhookSpec = typeof WebhookSpec.Type

/** Header names (lower case). */
export const HEADERS = { timestamp: "x-stargraph-timestamp", nonce: "x-stargraph-nonce", signature: "x-stargraph-signature" } as const

/**
 * The idempotency key of a delivery's run: from the sender's delivery id when the webhook
 * names its header, else from the signed timestamp and nonce (a retry of a signed delivery
 * resends both; a new delivery has a new nonce). Deterministic, so every server on one
 * database, before and after a restart, finds the same run.
 */
export const deliveryKeyOf = (triggerId: string, delivery: { readonly id: string } | { readonly timestamp: number; readonly nonce: string }): string =>
  "id" in delivery
    ? idempotencyKeyOf(triggerId, "delivery", delivery.id)
    : idempotencyKeyOf(triggerId, "signed", String(delivery.timestamp), delivery.nonce)

/** Where the claims of a webhook's signed timestamps and nonces are kept (a cursor key prefix): see `claimKeyOf`. */
export const claimPrefixOf = (triggerId: string): string => `webhook-claim:${triggerId}:`

/**
 * The cursor that binds a signed timestamp and nonce to the delivery (its run's idempotency
 * key) first sent with them, for a webhook with `delivery_id_header`, whose header the
 * signature does not cover: the same signed request under another delivery id is that
 * delivery. Under `claimPrefixOf(triggerId)`.
 */
export const claimKeyOf = (triggerId: string, timestamp: number, nonce: string): string =>
  `${claimPrefixOf(triggerId)}${deliveryKeyOf(triggerId, { timestamp, nonce })}`

/**
 * How long a claim is kept (ms): while a request with its timestamp can still be accepted.
 * A claim is written at most `window_s` before its timestamp, which is accepted up to
 * `window_s` after it (each server by its own clock, which writes and drops the claims it
 * reads by), so twice the window, and a minute for the write itself.
 */
const claimLifeMs = (windowS: number): number => (2 * windowS + 60) * 1000

/**
 * The one accepted form of `X-Stargraph-Timestamp`: Unix time in whole seconds as plain
 * ASCII decimal digits, no sign, no leading zero (but `0` itself), no fraction, exponent or
 * hex, at most 11 digits (Unix seconds have 10 until 2286; milliseconds have 13). The
 * signature covers this exact text, so there is one spelling of each timestamp.
 */
export const TIMESTAMP_PATTERN = /^(?:0|[1-9][0-9]{0,10})$/

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<nonce>.<raw body>")>`, over the timestamp's text as sent. */
const signatureOf = (secret: string, body: string | Uint8Array, timestamp: string, nonce: string): string =>
  `sha256=${createHmac("sha256", secret).update(`${timestamp}.${nonce}.`).update(body).digest("hex")}`

/** Sign a delivery the way senders must: returns the headers to send (`timestamp` in whole Unix seconds). */
export const sign = (secret: string, body: string | Uint8Array, timestamp: number, nonce: string): Record<string, string> => ({
  [HEADERS.timestamp]: String(timestamp),
  [HEADERS.nonce]: nonce,
  [HEADERS.signature]: signatureOf(secret, body, String(timestamp), nonce)
})

/** What is wrong with a timestamp header that does not match `TIMESTAMP_PATTERN`, for the sender. */
const timestampProblem = (timestamp: string): string => {
  if (timestamp.length === 0) return "is empty"
  if (/^[0-9]+$/.test(timestamp)) {
    return timestamp.length > 1 && timestamp.startsWith("0")
      ? "has a leading zero"
      : `has ${timestamp.length} digits, more than Unix seconds' 11${timestamp.length === 13 ? " (milliseconds?)" : ""}`
  }
  if (/^[+-]/.test(timestamp)) return "has a sign"
  const other = [...timestamp].find((c) => c < "0" || c > "9")!
  return `has ${JSON.stringify(other)}, which is not a decimal digit (no fraction, exponent, hex or spaces)`
}

/** A header value as a refusal quotes it: JSON-quoted, cut at 24 characters. */
const quoted = (value: string): string => JSON.stringify(value.length > 24 ? `${value.slice(0, 24)}…` : value)

const STATUS: Record<WebhookError["reason"], number> = {
  "missing-header": 400,
  "not-json": 400,
  "bad-signature": 401,
  "bad-timestamp": 400,
  "stale-timestamp": 401,
  "replayed-nonce": 409,
  "body-too-large": 413,
  "bad-thread": 400
}

/** The HTTP answer for any Stargraph error (the API's one error envelope and status). */
const envelope = (error: StargraphError): TriggerResponse => ({ status: statusOf(error), body: envelopeOf(error) })

/**
 * `error` as a delivery's sender should read it: params that do not fit the state schema
 * came from the webhook's body (or its fixed `params` in stargraph.yaml), not from
 * `--inputs` or `POST /v1/runs`, so the fix says where to put them right.
 */
const forDelivery = <E extends StargraphError>(error: E, spec: WebhookSpec): E | StateValidationError => {
  if (error._tag !== "StateValidationError" || error.source !== "inputs") return error
  const top = error.field.split(/[.[]/)[0] ?? error.field
  const mapping = spec.payload_field === undefined
    ? "the body's keys are the run's params, over the webhook's params"
    : `the whole body goes into '${spec.payload_field}', over the webhook's params`
  const says = (phrase: string) => error.message.startsWith(`inputs field '${error.field}' ${phrase}`)
  const fix = says("is missing")
    ? spec.payload_field === undefined || top === spec.payload_field
      ? `send '${top}' in the webhook's JSON body, or set params.${top} of webhook '${spec.id}' in stargraph.yaml (${mapping})`
      : `set params.${top} of webhook '${spec.id}' in stargraph.yaml, or give '${top}' a default in the state schema (${mapping})`
    : spec.payload_field !== undefined && top === spec.payload_field
    ? `'${top}' takes the webhook's whole JSON body (an object): declare it in the state schema as an object that body fits (or type any), or name another field in the webhook's payload_field`
    : says("is unexpected")
    ? `leave '${top}' out of the webhook's body and its params in stargraph.yaml, or declare it in the state schema (${mapping})`
    : `${error.fix ?? `correct '${error.field}'`} in the webhook's body, or in params.${top} of webhook '${spec.id}' in stargraph.yaml (${mapping})`
  return new StateValidationError({ source: error.source, field: error.field, message: error.message, fix, ...(error.step !== undefined ? { step: error.step } : {}), ...(error.nodeId !== undefined ? { nodeId: error.nodeId } : {}) })
}

/** An accepted delivery's answer in the OpenAPI document: the run, as `POST /v1/runs` answers (`deduplicated` fixed to `deduplicated`). */
const enqueuedAnswer = (description: string, deduplicated: boolean) => ({
  description,
  content: {
    "application/json": {
      schema: {
        type: "object",
        required: ["run_id", "status", "graph_id", "deduplicated"],
        properties: { run_id: { type: "string" }, status: { type: "string" }, graph_id: { type: "string" }, deduplicated: { type: "boolean", const: deduplicated } },
        additionalProperties: false
      }
    }
  }
})

/** How `/openapi.json` documents a webhook: its signature headers, its body and its answer. */
const operationOf = (spec: WebhookSpec) => ({
  summary: `Signed webhook delivery: enqueues a run of ${spec.graph}`,
  description: "Accepted only when signed with the webhook's shared secret: X-Stargraph-Signature is " +
    "sha256=<hex HMAC-SHA256(secret, \"<timestamp>.<nonce>.<raw body>\")>. " +
    (spec.delivery_id_header === undefined
      ? "A delivery is known by its timestamp and nonce: a retry of it (the same signed request) answers the run it started; " +
        "the same body sent as a new delivery (a new nonce) starts a new run."
      : `A delivery is known by its ${spec.delivery_id_header} header: a retry of it (re-signed or not) answers the run it started; ` +
        "the same body sent with a new delivery id and a new nonce starts a new run. That header is not signed: a signed timestamp and nonce " +
        `belong to the first ${spec.delivery_id_header} sent with them, so the same signed request under another id answers that delivery's run.`) +
    " The bearer token of the server (--auth-token-env) is not asked for: the signature authenticates the delivery.",
  parameters: [
    {
      name: "X-Stargraph-Timestamp",
      in: "header",
      required: true,
      description: "Unix time in whole seconds as plain decimal digits (no sign, leading zero, fraction, exponent or hex; " +
        `at most 11 digits), signed as sent; refused when more than ${spec.window_s} s away from the server's clock`,
      schema: { type: "string", pattern: TIMESTAMP_PATTERN.source }
    },
    {
      name: "X-Stargraph-Nonce",
      in: "header",
      required: true,
      description: `A string unique to this delivery; one seen within the last ${spec.window_s} s is refused`,
      schema: { type: "string", minLength: 1 }
    },
    {
      name: "X-Stargraph-Signature",
      in: "header",
      required: true,
      description: "sha256=<hex HMAC-SHA256(secret, \"<timestamp>.<nonce>.<raw body>\")>, compared in constant time",
      schema: { type: "string", pattern: "^sha256=[0-9a-f]{64}$" }
    },
    ...(spec.delivery_id_header === undefined ? [] : [{
      name: spec.delivery_id_header,
      in: "header",
      required: true,
      description: "The sender's id of this delivery, the same on each of its retries: the run's idempotency key " +
        "(not signed: a signed timestamp and nonce already sent with another id keep that id's delivery)",
      schema: { type: "string", minLength: 1 }
    }])
  ],
  requestBody: {
    required: true,
    description: `A JSON object of at most ${spec.max_body_bytes} bytes, nested at most ${MAX_BODY_DEPTH} levels; ` +
      (spec.payload_field === undefined
        ? "its keys are the run's params (over the webhook's fixed params)"
        : `it becomes the run's '${spec.payload_field}' field`) +
      (spec.thread_from === undefined ? "" : `; the run joins the thread whose id is at '${spec.thread_from}' (a string or an integer)`),
    content: { "application/json": { schema: { type: "object", additionalProperties: true } } }
  },
  responses: {
    202: enqueuedAnswer("queued: a new run (deduplicated is false)", false),
    200: enqueuedAnswer("a retry of a delivery already accepted: the run it enqueued (deduplicated is true), as POST /v1/runs answers a known idempotency_key", true),
    400: refusal("missing header (missing-header), timestamp not in canonical Unix seconds (bad-timestamp), body not a JSON object (not-json), no usable thread id at thread_from (bad-thread), or params the graph's state schema refuses"),
    401: refusal("bad signature (bad-signature) or timestamp outside the window (stale-timestamp)"),
    404: refusal("the webhook's graph is not registered (SchedulerError unknown-graph)"),
    409: refusal("nonce already used within the window by another signed request (replayed-nonce)"),
    413: refusal(`body over ${spec.max_body_bytes} bytes (body-too-large)`),
    503: refusal("the server is draining (SchedulerError shutting-down)")
  }
})

/**
 * A delivery that passed the checks: its body, the thread its run joins (`thread_from`),
 * its run's idempotency key, and, with `delivery_id_header`, the claim of its signed
 * timestamp and nonce (`claimKeyOf`) that may name another delivery's key instead.
 */
interface Delivery {
  readonly body: Record<string, unknown>
  readonly thread: string | undefined
  readonly key: string
  readonly claim: string | undefined
}

/**
 * The thread id at the dotted `path` of `body` (`thread_from`): a string as it is, an
 * integer as its decimal digits (chat platforms number their conversations); else what
 * is wrong, for the sender. The id itself is checked when the run is enqueued.
 */
const threadOf = (body: Record<string, unknown>, path: string): string | { readonly problem: string } => {
  let value: unknown = body
  for (const key of path.split(".")) {
    value = typeof value === "object" && value !== null && !Array.isArray(value) && Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined
    if (value === undefined) break
  }
  if (typeof value === "string") return value
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value)
  const found = value === undefined ? "nothing" : value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "number" ? `the number ${value}` : `a${typeof value === "object" ? "n" : ""} ${typeof value}`
  return { problem: `the webhook starts runs on the thread named at '${path}' (thread_from), and the body has ${found} there` }
}

/** How a delivery is signed, for a sender that left a header out. */
const SIGNING = `send ${HEADERS.timestamp} (Unix seconds, plain decimal digits), ${HEADERS.nonce} (new for every delivery) and ${HEADERS.signature}: ` +
  "sha256=<hex HMAC-SHA256 of \"<timestamp>.<nonce>.<raw body>\" with the webhook's secret> (docs/triggers.md)"

/** What a sender whose signature did not match should check, from the signature's shape. */
const signatureFix = (signature: string, secretEnv: string): string =>
  !signature.startsWith("sha256=")
    ? /^[0-9a-f]{64}$/i.test(signature)
      ? `prefix the hex digest with 'sha256=' (${HEADERS.signature}: sha256=${signature.slice(0, 8)}…)`
      : `write ${HEADERS.signature} as sha256=<64 hex digits>`
    : !/^sha256=[0-9a-f]{64}$/.test(signature)
    ? `write the digest as 64 lowercase hex digits after 'sha256='`
    : `sign the exact bytes sent, as "<timestamp>.<nonce>.<raw body>" (the same timestamp and nonce as the headers), with HMAC-SHA256 and the secret in ${secretEnv}`

/** An error answer: the API's one error envelope. */
const refusal = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorEnvelope" } } }
})

/** Validate specs against the environment: every secret must be set; ids unique. */
export const make = (
  specs: ReadonlyArray<WebhookSpec>,
  env: { readonly [name: string]: string | undefined } = process.env
): Effect.Effect<Trigger, TriggerError> =>
  Effect.gen(function*() {
    const secrets = new Map<string, string>()
    for (const spec of specs) {
      const triggerId = `webhook:${spec.id}`
      if (secrets.has(spec.id)) {
        return yield* new TriggerError({ reason: "duplicate-trigger", triggerId, message: `two webhooks have the id '${spec.id}'`, fix: "give every webhook a unique id" })
      }
      const secret = env[spec.secret_env]
      if (secret === undefined || secret.length === 0) {
        return yield* new TriggerError({
          reason: "missing-secret",
          triggerId,
          message: `environment variable ${spec.secret_env} (secret_env) is not set`,
          fix: `export ${spec.secret_env}=<shared secret> before starting, or remove the webhook`
        })
      }
      if (spec.thread_skip_failed === true && spec.thread_from === undefined) {
        return yield* new TriggerError({
          reason: "invalid-config",
          triggerId,
          message: `webhook '${spec.id}': thread_skip_failed: it passes over the failed and cancelled runs of a delivery's thread, and the webhook has no thread_from`,
          fix: "give the webhook a thread_from (the dotted path of the thread id in the body), or remove thread_skip_failed"
        })
      }
      secrets.set(spec.id, secret)
    }
    let deps: TriggerDeps | undefined
    // nonce → the signed request that used it (its timestamp and signature) and expiry
    // (ms); entries are dropped once outside the window.
    const nonces = new Map<string, { readonly delivery: string; readonly expiry: number }>()

    const verify = (spec: WebhookSpec, request: TriggerRequest, now: number): Either.Either<Delivery, WebhookError> => {
      const triggerId = `webhook:${spec.id}`
      const refuse = (reason: WebhookError["reason"], message: string, fix: string) =>
        Either.left(new WebhookError({ reason, triggerId, status: STATUS[reason], message, fix }))
      if (request.body.byteLength > spec.max_body_bytes) {
        return refuse(
          "body-too-large",
          `body of ${request.body.byteLength} bytes exceeds the limit of ${spec.max_body_bytes} bytes`,
          "send a smaller body, or raise max_body_bytes in the webhook's config"
        )
      }
      const timestamp = request.headers[HEADERS.timestamp]
      const nonce = request.headers[HEADERS.nonce]
      const signature = request.headers[HEADERS.signature]
      // A timestamp header sent empty is there, and malformed (bad-timestamp below).
      if (timestamp === undefined || !nonce || !signature) {
        const missing = [timestamp === undefined && HEADERS.timestamp, !nonce && HEADERS.nonce, !signature && HEADERS.signature]
          .filter((header) => header !== false)
        return refuse("missing-header", `the delivery has no ${missing.join(", no ")} header`, SIGNING)
      }
      const idHeader = spec.delivery_id_header?.toLowerCase()
      const deliveryId = idHeader === undefined ? undefined : request.headers[idHeader]?.trim()
      if (idHeader !== undefined && !deliveryId) {
        return refuse(
          "missing-header",
          `the delivery has no ${idHeader} header (delivery_id_header: the id of the delivery, the same on each of its retries)`,
          `send ${idHeader} with the sender's id of the delivery (the same on every retry of it, new for every other delivery), or remove delivery_id_header from webhook '${spec.id}' in stargraph.yaml`
        )
      }
      // One spelling per timestamp: the signature covers the header's text, and the delivery's key its value.
      if (!TIMESTAMP_PATTERN.test(timestamp)) {
        return refuse(
          "bad-timestamp",
          `${HEADERS.timestamp} ${quoted(timestamp)} ${timestampProblem(timestamp)}: expected Unix time in whole seconds as plain decimal digits`,
          `send the current Unix time in whole seconds as decimal digits with no sign, leading zero, fraction or exponent in ${HEADERS.timestamp} ` +
            `(this server's is ${Math.floor(now / 1000)}), and sign over exactly that text`
        )
      }
      const seconds = Number(timestamp)
      if (Math.abs(now / 1000 - seconds) > spec.window_s) {
        return refuse(
          "stale-timestamp",
          `timestamp ${timestamp} is outside the ${spec.window_s} s window`,
          `send the current Unix time in whole seconds in ${HEADERS.timestamp} (this server's is ${Math.floor(now / 1000)}); check the sender's clock`
        )
      }
      const expected = Buffer.from(signatureOf(secrets.get(spec.id)!, request.body, timestamp, nonce))
      const given = Buffer.from(signature)
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return refuse("bad-signature", "signature does not match HMAC-SHA256 of \"<timestamp>.<nonce>.<body>\"", signatureFix(signature, spec.secret_env))
      }
      for (const [n, used] of nonces) if (used.expiry < now) nonces.delete(n)
      const nonceKey = `${spec.id}\u0000${nonce}`
      // The same signed request again (a retry of one delivery, whatever its unsigned delivery
      // id: its claim finds the first one's) passes on to find its run; the nonce with
      // anything else signed is another delivery.
      const delivery = `${seconds}\u0000${signature}`
      const used = nonces.get(nonceKey)
      if (used !== undefined && used.delivery !== delivery) {
        return refuse(
          "replayed-nonce",
          `nonce '${nonce}' was already used by another delivery`,
          "send a new random nonce with every delivery; a retry of a delivery resends its exact request (the same timestamp, nonce and signature)" +
            (idHeader === undefined ? "" : `, or is signed anew with the same ${idHeader}`)
        )
      }
      const jsonFix = "send a JSON object as the body (Content-Type: application/json)"
      if (nestsDeeperThan(request.body)) return refuse("not-json", `body nests deeper than ${MAX_BODY_DEPTH} levels`, jsonFix)
      let parsed: unknown
      try {
        parsed = JSON.parse(Buffer.from(request.body).toString("utf8"))
      } catch {
        return refuse("not-json", "body is not valid JSON", jsonFix)
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return refuse("not-json", "body must be a JSON object", jsonFix)
      const thread = spec.thread_from === undefined ? undefined : threadOf(parsed as Record<string, unknown>, spec.thread_from)
      if (thread !== undefined && typeof thread !== "string") return refuse("bad-thread", thread.problem, `send the conversation's id at '${spec.thread_from}' as a string or an integer`)
      // Reserved now (a concurrent other delivery with it is refused); released if the delivery is not accepted.
      nonces.set(nonceKey, { delivery, expiry: now + spec.window_s * 2000 })
      const key = deliveryKeyOf(triggerId, deliveryId === undefined ? { timestamp: seconds, nonce } : { id: deliveryId })
      const claim = deliveryId === undefined ? undefined : claimKeyOf(triggerId, seconds, nonce)
      return Either.right({ body: parsed as Record<string, unknown>, thread, key, claim })
    }

    /**
     * The idempotency key of the delivery that first sent the signed timestamp and nonce
     * `claim` names: `key` when this request is the first, else the first one's. Atomic on
     * a Checkpointer with `claimCursor` (every one of Stargraph's); read then written otherwise.
     */
    const claimed = (claim: string, key: string, triggerId: string, windowS: number, now: number): Effect.Effect<string, CheckpointError> => {
      const checkpointer = deps!.checkpointer
      const at = new Date(now).toISOString()
      if (checkpointer.claimCursor !== undefined) {
        return checkpointer.claimCursor({ key: claim, value: key, at, drop: { prefix: claimPrefixOf(triggerId), before: new Date(now - claimLifeMs(windowS)).toISOString() } })
      }
      return Effect.flatMap(checkpointer.getCursor(claim), (held) =>
        held._tag === "Some" ? Effect.succeed(held.value) : Effect.as(checkpointer.setCursor(claim, key), key))
    }

    const route = (spec: WebhookSpec, triggerId = `webhook:${spec.id}`): TriggerRoute => ({
      method: "POST",
      path: `/v1/triggers/webhook/${spec.id}`,
      maxBodyBytes: spec.max_body_bytes,
      openapi: operationOf(spec),
      authenticatesItself: true,
      handle: (request) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const verified = verify(spec, request, now)
          if (Either.isLeft(verified)) return envelope(verified.left)
          const { body, claim, thread } = verified.right
          const params = spec.payload_field === undefined
            ? { ...spec.params, ...body }
            : { ...spec.params, [spec.payload_field]: body }
          // The signed timestamp and nonce belong to the first delivery id sent with them: under
          // another id (the header is not signed), this request is that delivery.
          const key = claim === undefined ? Effect.succeed(verified.right.key) : claimed(claim, verified.right.key, triggerId, spec.window_s, now)
          const enqueued = yield* Effect.either(Effect.flatMap(key, (idempotencyKey) =>
            deps!.scheduler.enqueue(spec.graph, params, { idempotencyKey, idempotency: "event", actor: triggerId, threadId: thread, skipFailed: spec.thread_skip_failed })))
          if (Either.isLeft(enqueued)) {
            // Not accepted (e.g. the database was locked): the sender may retry with the same nonce.
            nonces.delete(`${spec.id}\u0000${request.headers[HEADERS.nonce]}`)
            const failed = envelope(forDelivery(enqueued.left, spec))
            if (failed.status >= 500) yield* Effect.logError(`${triggerId}: delivery failed (${failed.status}): ${formatError(enqueued.left)}`)
            return failed
          }
          const skipped = enqueued.right.skipped
          if (skipped !== undefined) {
            yield* Effect.logWarning(`${triggerId}: run ${enqueued.right.runId} passed over thread ${thread}'s ${skipped.map((r) => `${r.status} run ${r.run_id}`).join(", ")} (thread_skip_failed)`)
          }
          // As POST /v1/runs answers: 202 with a new run, 200 with the run an earlier attempt of this delivery enqueued.
          const { deduplicated, graphId, runId, status } = enqueued.right
          return { status: deduplicated ? 200 : 202, body: { run_id: runId, status, graph_id: graphId, deduplicated } }
        }).pipe(
          // One dispatch per request: accepted (a run enqueued, or the one an earlier attempt of the delivery enqueued found), or refused.
          Effect.tap((answer) =>
            Effect.map(Metrics, (metrics) =>
              metrics.triggerDispatched(triggerId, "webhook", answer.status === 202 ? "success" : answer.status === 200 ? "deduplicated" : "failure")
            )
          )
        )
    })

    return {
      name: "webhook",
      // Registered: a webhook whose graph needs a model nobody gives is refused now, not at every delivery.
      init: (d) =>
        Effect.zipRight(
          Effect.forEach(specs, (spec) =>
            Effect.flatMap(Effect.option(d.registry.get(spec.graph)), (graph) =>
              graph._tag === "Some" ? checkTriggerModel(`webhook '${spec.id}'`, graph.value) : Effect.void), { discard: true }),
          Effect.sync(() => {
            deps = d
          })
        ),
      start: () => undefined,
      stop: () => undefined,
      routes: () => specs.map((spec) => route(spec))
    }
  })
