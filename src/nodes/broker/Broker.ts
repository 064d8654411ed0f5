/**
 * The broker a `broker` node asks: a service that answers `{agent_id, intent}` with a
 * response carrying its own `request_id` (the original's Nautilus broker). The app provides
 * one ({@link layer}); when it provides none, the node uses the built-in HTTP broker at
 * the URL of `STARGRAPH_BROKER_URL` ({@link http}). With neither, the node fails with
 * `ToolError[failed]` saying how to configure one.
 *
 * The built-in broker ({@link http}, {@link httpLayer}): `POST <url>` with the JSON body
 * `{agent_id, intent}`, answered by a JSON object with a string `request_id` (decoded with
 * {@link BrokerResponse}). It makes its request as the `std` network tools do (`request`
 * in `httpFetch.ts`): `net.fetch` covering the URL must be granted, and a non-public host
 * (loopback, private, …) needs a grant naming it (`net.fetch:http://127.0.0.1:*`), as for
 * `STARGRAPH_SEARCH_URL`. One deadline for the call (default {@link DEFAULT_TIMEOUT_MS}),
 * the answer capped at {@link MAX_BYTES}; an error status, a cut or non-JSON body, or one
 * without a string `request_id`, fails with `ToolError[failed]` naming the URL without
 * its query values.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Broker } from "stargraph"
 * const broker = Broker.layer({
 *   name: "acme",
 *   request: ({ agent_id, intent }) => Effect.succeed({ request_id: "req-1", data: { agent_id, intent } })
 * })
 * ```
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ToolError } from "../../errors.js"
import { firstIssue } from "../../ir/parseIssue.js"
import { redact, request } from "../tools/std/httpFetch.js"

/** What a broker is asked (the wire form, snake_case). */
export interface BrokerRequest {
  readonly agent_id: string
  readonly intent: string
}

/**
 * A broker's answer: JSON with the broker's own `request_id` (the provenance's
 * `external_id`), and any other fields (the original's `data`, `sources_queried`, …),
 * written to state as they are.
 */
export const BrokerResponse = Schema.Struct(
  { request_id: Schema.String },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/** A broker's answer (see {@link BrokerResponse}). */
export type BrokerResponse = typeof BrokerResponse.Type

/** A broker. */
export interface BrokerShape {
  /** The provenance's `source` of what it answers (`nautilus`, `http`, `acme`). */
  readonly name: string
  /** Ask the broker; fail with a `ToolError` (the node adds its id and step). */
  readonly request: (request: BrokerRequest) => Effect.Effect<BrokerResponse, ToolError>
}

/** The broker the app provides to its runs (see {@link layer}). */
export class Broker extends Context.Tag("stargraph/Broker")<Broker, BrokerShape>() {}

/** A Layer providing `broker` to the runs of this context. */
export const layer = (broker: BrokerShape): Layer.Layer<Broker> => Layer.succeed(Broker, broker)

/** The environment variable naming the built-in HTTP broker's URL when the app provides no broker. */
export const ENV_VAR = "STARGRAPH_BROKER_URL"

/** The capability a `broker` node needs (the original's). */
export const CAPABILITY = "tools:broker_request"

/** Default time limit of one broker call, in ms. */
export const DEFAULT_TIMEOUT_MS = 30_000
/** The largest answer read, in bytes. */
export const MAX_BYTES = 4 * 1024 * 1024

const decodeResponse = Schema.decodeUnknownEither(BrokerResponse)

/** What {@link http} takes besides the URL. */
export interface HttpBrokerOptions {
  /** Time limit of one call, in ms (default {@link DEFAULT_TIMEOUT_MS}). */
  readonly timeoutMs?: number | undefined
}

const shown = (url: string): string => {
  try {
    return redact(new URL(url))
  } catch {
    return url
  }
}

/** The broker at `url` (see the module's comment); named `http` in provenance. */
export const http = (url: string, options: HttpBrokerOptions = {}): BrokerShape => {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const where = shown(url)
  const failed = (message: string, fix: string) => new ToolError({ reason: "failed", message: `the broker at ${where} ${message}`, fix })
  return {
    name: "http",
    request: ({ agent_id, intent }) =>
      Effect.gen(function*() {
        const response = yield* request({
          url,
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify({ agent_id, intent }),
          timeoutMs,
          maxBytes: MAX_BYTES,
          timeoutFix: `make the broker answer within ${timeoutMs / 1000} s (an app sets another limit with Broker.httpLayer(url, {timeoutMs}); the broker at ${ENV_VAR} has this one)`,
          unresolvedFix: `check the host in ${ENV_VAR}`
        })
        if (response.status < 200 || response.status > 299) {
          return yield* failed(`answered HTTP ${response.status}`, response.status === 429 || response.status >= 500 ? "retry later, or check the broker's logs" : `check that ${ENV_VAR} names the broker's request endpoint`)
        }
        if (response.truncated) return yield* failed(`answered more than ${MAX_BYTES} bytes`, "make the broker answer less")
        let body: unknown
        try {
          body = JSON.parse(new TextDecoder().decode(response.bytes))
        } catch {
          return yield* failed("did not answer JSON", "the broker must answer a JSON object with a string request_id")
        }
        const decoded = decodeResponse(body)
        if (Either.isLeft(decoded)) {
          const issue = firstIssue(decoded.left)
          const at = issue?.path.length ? `${issue.path.map(String).join(".")}: ` : ""
          return yield* failed(`answered JSON that is not a broker response (${at}${issue?.message ?? "invalid"})`, "the broker must answer a JSON object with a string request_id")
        }
        return decoded.right
      })
  }
}

/** A Layer providing the HTTP broker at `url` (see {@link http}). */
export const httpLayer = (url: string, options?: HttpBrokerOptions): Layer.Layer<Broker> => Layer.succeed(Broker, http(url, options))

/**
 * The broker a call of node `nodeId` uses: the provided one, else the HTTP broker at
 * `STARGRAPH_BROKER_URL` (read at each call), else `ToolError[failed]` naming the node and
 * how to configure one.
 */
export const current = (nodeId: string): Effect.Effect<BrokerShape, ToolError> =>
  Effect.gen(function*() {
    const provided = yield* Effect.serviceOption(Broker)
    if (Option.isSome(provided)) return provided.value
    const url = yield* Effect.orElseSucceed(Config.option(Config.nonEmptyString(ENV_VAR)), () => Option.none<string>())
    if (Option.isSome(url)) return http(url.value.trim())
    return yield* new ToolError({
      reason: "failed",
      message: `node '${nodeId}' has no broker to ask: the app provides no Broker and ${ENV_VAR} is not set`,
      fix: `provide Broker.layer({name, request}) (or Broker.httpLayer(url)) where the app runs the graph, or set ${ENV_VAR}=<url> for the built-in HTTP broker, which POSTs {agent_id, intent} as JSON`
    })
  })
