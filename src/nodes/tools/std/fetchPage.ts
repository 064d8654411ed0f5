/**
 * `std.fetch_page@1`: GET a URL and return its text, with the original's arguments
 * (`url`, `max_chars`, `timeout_s`) and result (`{url, status_code, title, text,
 * truncated}`). An HTML page is reduced to its `<title>` and the plain text of its
 * `<body>` (scripts and styles dropped, block tags as newlines, entities decoded); the
 * original isolates the main article with readability-lxml first, which this runtime
 * does not ship, so navigation and footers stay in `text`. Any other body is returned
 * as it is. Needs `net.fetch`, as `std.http_fetch` does (the request is made by the same
 * code).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Tool from "../Tool.js"
import { request } from "./httpFetch.js"
import { MAX_TIMEOUT_S } from "./httpRequest.js"

/** Default and largest `max_chars` (a larger one is lowered to it, as the original does). */
export const DEFAULT_MAX_CHARS = 20_000
const MAX_CHARS = 100_000

const NAMED: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'", nbsp: "\u00a0" }

/** Decode the common HTML entities (named ones above, and numeric ones). */
const unescape = (text: string): string =>
  text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, code: string) => {
    if (code[0] === "#") {
      const n = code[1] === "x" || code[1] === "X" ? parseInt(code.slice(2), 16) : parseInt(code.slice(1), 10)
      return Number.isFinite(n) && n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : whole
    }
    return NAMED[code.toLowerCase()] ?? whole
  })

/** An HTML fragment as plain text (the original's `strip_tags`: block tags become newlines). */
export const stripTags = (fragment: string): string =>
  unescape(
    fragment
      .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, " ")
      .replace(/<\/?(?:p|br|div|li|tr|h[1-6])[^>]*>/gi, "\n")
      .replace(/<[^>]+>/g, " ")
  )
    .replace(/[ \t]+/g, " ")
    .replace(/\s*\n\s*/g, "\n")
    .trim()

/** `(title, text)` of an HTML page. */
const readable = (html: string): { readonly title: string; readonly text: string } => {
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1]
  const body = /<body[^>]*>([\s\S]*?)(?:<\/body>|$)/i.exec(html)?.[1]
  return { title: title === undefined ? "" : stripTags(title), text: stripTags(body ?? html.replace(/<head[^>]*>[\s\S]*?<\/head>/i, " ")) }
}

/** `std.fetch_page@1`. */
export const fetchPage = Tool.make({
  id: "std.fetch_page",
  version: "1",
  description: "Fetch a URL (needs the net.fetch capability) and return its text: an HTML page's title and body text, any other body verbatim.",
  input: Schema.Struct({
    url: Schema.String,
    max_chars: Schema.optional(Schema.Int),
    timeout_s: Schema.optional(Schema.Number.pipe(Schema.positive()))
  }),
  output: Schema.Struct({
    url: Schema.String,
    status_code: Schema.Int,
    title: Schema.String,
    text: Schema.String,
    truncated: Schema.Boolean
  }),
  run: (input) =>
    Effect.gen(function*() {
      const maxChars = Math.max(1, Math.min(input.max_chars ?? DEFAULT_MAX_CHARS, MAX_CHARS))
      const response = yield* request({
        url: input.url,
        method: "GET",
        timeoutMs: Math.round(Math.min(input.timeout_s ?? 30, MAX_TIMEOUT_S) * 1000),
        maxBytes: 10 * 1024 * 1024,
        timeoutFix: `raise timeout_s (at most ${MAX_TIMEOUT_S})`
      })
      const body = new TextDecoder().decode(response.bytes)
      const { text, title } = response.contentType.includes("html") ? readable(body) : { title: "", text: body }
      const chars = Array.from(text)
      return {
        url: response.url,
        status_code: response.status,
        title,
        text: chars.length > maxChars ? chars.slice(0, maxChars).join("") : text,
        truncated: chars.length > maxChars
      }
    })
})
