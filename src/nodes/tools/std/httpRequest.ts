/**
 * `std.http_request@1`: the original's general HTTP client, with its arguments
 * (`url`, `method`, `headers`, `params`, `body` or `json_body`, `timeout_s`) and its
 * result (`{status_code, headers, text, url, truncated}`). It makes its request as
 * `std.http_fetch` does (see `request` in `httpFetch.ts`): refused with
 * `ToolError[capability-denied]` unless `net.fetch` (or `net.fetch:<url glob>`) is
 * granted, each redirect hop checked against the grant.
 *
 * Its arguments and response are recorded in the step's cassette like every tool call
 * (a replay makes no request): keep secrets out of `headers`.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"
import { request } from "./httpFetch.js"

/** The methods the original takes (any case). */
export const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const
/** `text` is cut to this many characters (the original's cap). */
export const MAX_TEXT_CHARS = 262_144
/** The largest `timeout_s` honoured (a larger one is lowered to it). */
export const MAX_TIMEOUT_S = 120

/** A call's `timeout_s` (default 30, at most {@link MAX_TIMEOUT_S}) as the request's deadline, and the fix its timeout names. */
export const deadlineOf = (timeoutS: number | undefined) => ({
  timeoutMs: Math.round(Math.min(timeoutS ?? 30, MAX_TIMEOUT_S) * 1000),
  timeoutFix: `raise timeout_s (at most ${MAX_TIMEOUT_S})`
})

/**
 * `text` cut to `max` characters (code points, as the original counts them), and whether
 * it was: a text of at most `max` UTF-16 units is never split into characters.
 */
export const cutToChars = (text: string, max: number): { readonly text: string; readonly cut: boolean } => {
  if (text.length <= max) return { text, cut: false }
  const chars = Array.from(text)
  return chars.length > max ? { text: chars.slice(0, max).join(""), cut: true } : { text, cut: false }
}

const invalid = (argument: string, message: string, fix: string) =>
  new ToolError({ reason: "invalid-input", argument, message, fix })

/** `url` with `params` added to its query. */
const withParams = (url: string, params: Readonly<Record<string, string>> | undefined): Effect.Effect<string, ToolError> => {
  if (params === undefined || Object.keys(params).length === 0) return Effect.succeed(url)
  try {
    const parsed = new URL(url)
    for (const [name, value] of Object.entries(params)) parsed.searchParams.append(name, value)
    return Effect.succeed(parsed.href)
  } catch {
    return Effect.fail(invalid("url", `'${url}' is not a URL`, "pass an absolute http:// or https:// URL"))
  }
}

/** `std.http_request@1`. */
export const httpRequest = Tool.make({
  id: "std.http_request",
  version: "1",
  description:
    "Make an HTTP request (GET/POST/PUT/PATCH/DELETE/HEAD/OPTIONS; needs the net.fetch capability) and return status, headers and body text. body (raw string) and json_body are mutually exclusive.",
  input: Schema.Struct({
    url: Schema.String,
    method: Schema.optional(Schema.String),
    headers: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.String }))),
    params: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.String }))),
    body: Schema.optional(Schema.NullOr(Schema.String)),
    json_body: Schema.optional(Schema.Unknown),
    timeout_s: Schema.optional(Schema.Number.pipe(Schema.positive()))
  }),
  output: Schema.Struct({
    status_code: Schema.Int,
    headers: Schema.Record({ key: Schema.String, value: Schema.String }),
    text: Schema.String,
    url: Schema.String,
    truncated: Schema.Boolean
  }),
  run: (input) =>
    Effect.gen(function*() {
      const verb = (input.method ?? "GET").toUpperCase()
      if (!(METHODS as ReadonlyArray<string>).includes(verb)) {
        return yield* invalid("method", `unsupported HTTP method '${input.method}'`, `use one of ${METHODS.join(", ")}`)
      }
      const jsonBody = input.json_body ?? undefined
      const body = input.body ?? undefined
      if (body !== undefined && jsonBody !== undefined) {
        return yield* invalid("json_body", "body and json_body are mutually exclusive", "pass the raw text as body, or the JSON value as json_body, not both")
      }
      const headers: Record<string, string> = { ...(input.headers ?? {}) }
      let payload = body
      if (jsonBody !== undefined) {
        payload = JSON.stringify(jsonBody)
        if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json"
      }
      const url = yield* withParams(input.url, input.params ?? undefined)
      const response = yield* request({
        url,
        method: verb,
        headers,
        body: payload,
        ...deadlineOf(input.timeout_s),
        // Enough bytes for MAX_TEXT_CHARS characters of any UTF-8 text, and one more to tell a cut.
        maxBytes: MAX_TEXT_CHARS * 4 + 1
      })
      const { cut, text } = cutToChars(new TextDecoder().decode(response.bytes), MAX_TEXT_CHARS)
      return {
        status_code: response.status,
        headers: response.headers,
        text,
        url: response.url,
        truncated: response.truncated || cut
      }
    })
})
