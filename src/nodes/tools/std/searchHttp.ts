/**
 * The GET the search tools make: through `request` (so `net.fetch` grants govern it),
 * an HTTP error status and a body over the cap turned into `ToolError[failed]`, the body
 * decoded as UTF-8 text; and the arguments and result shape the search tools share.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import { redact, request } from "./httpFetch.js"
import { deadlineOf } from "./httpRequest.js"

/** What {@link getText} takes. */
export interface SearchGet {
  /** The tool, as messages name it (`wikipedia search`). */
  readonly what: string
  readonly url: URL
  readonly timeoutS?: number | undefined
  readonly maxBytes: number
  /** The fix named for an error status, when the caller knows a better one. */
  readonly statusFix?: ((status: number) => string | undefined) | undefined
  /** The fix when the endpoint's host does not resolve (default: check the URL's host name). */
  readonly unresolvedFix?: string | undefined
}

/**
 * The fix when an endpoint of `SearchEndpoints` does not resolve: the graph never chose
 * that host, so the user checks the machine's network, or points the tool elsewhere.
 */
export const ENDPOINT_UNRESOLVED_FIX =
  "check that this machine has network and DNS access, or point the tool at a reachable endpoint with SearchBackend.endpointsLayer({ wikipedia, arxiv }) where the app runs the graph"


/** GET `url` and answer its body; a non-2xx status or an oversized body fails. */
export const getText = (get: SearchGet): Effect.Effect<string, ToolError> =>
  Effect.gen(function*() {
    const response = yield* request({
      url: get.url.href,
      method: "GET",
      headers: { accept: "application/json, application/atom+xml;q=0.9, */*;q=0.5" },
      ...deadlineOf(get.timeoutS),
      maxBytes: get.maxBytes,
      unresolvedFix: get.unresolvedFix
    })
    if (response.status < 200 || response.status > 299) {
      return yield* new ToolError({
        reason: "failed",
        message: `${get.what} failed: ${redact(get.url)} answered HTTP ${response.status}`,
        fix: get.statusFix?.(response.status) ?? (response.status === 429 || response.status >= 500 ? "retry later" : "check the endpoint the tool is pointed at")
      })
    }
    if (response.truncated) {
      return yield* new ToolError({
        reason: "failed",
        message: `${get.what} failed: the answer of ${redact(get.url)} is larger than ${get.maxBytes} bytes`,
        fix: "ask for fewer results"
      })
    }
    return new TextDecoder().decode(response.bytes)
  })

/** `ToolError[failed]` for an upstream body the tool cannot read. */
export const malformed = (what: string, url: URL, why: string): ToolError =>
  new ToolError({
    reason: "failed",
    message: `${what} failed: the answer of ${redact(url)} is not what the API returns (${why})`,
    fix: "check that the endpoint is the API the tool expects"
  })

/** `n` rounded and kept within `[1, max]` (the original lowers an oversized limit instead of refusing it). */
export const clamp = (n: number, max: number): number => Math.max(1, Math.min(Math.trunc(n), max))

/** The arguments of the search tools (the original's): the query, how many results (clamped by each tool), a time limit. */
export const SearchInput = Schema.Struct({
  query: Schema.String,
  max_results: Schema.optional(Schema.Int),
  timeout_s: Schema.optional(Schema.Number.pipe(Schema.positive()))
})

/** The result of a search tool: the query and its results, each a `result`. */
export const searchOutput = <R extends Schema.Schema.Any>(result: R) => Schema.Struct({ query: Schema.String, results: Schema.Array(result) })
