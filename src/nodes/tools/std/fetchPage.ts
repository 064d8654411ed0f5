/**
 * `std.fetch_page@1`: GET a URL and return its text, with the original's arguments
 * (`url`, `max_chars`, `timeout_s`) and result (`{url, status_code, title, text,
 * truncated}`). An HTML page is reduced to its `<title>` and the plain text of its
 * `<body>` (scripts and styles dropped, block tags as newlines, entities decoded); the
 * original isolates the main article with readability-lxml first, which this runtime
 * does not ship, so navigation and footers stay in `text`. Any other body is returned
 * as it is. Needs `net.fetch`, as `std.http_fetch` does (the request is made by the same
 * code). At most `max_chars` × {@link BYTES_PER_CHAR} bytes are read (between
 * {@link MIN_BYTES} and {@link MAX_BYTES}; `truncated` set when the page was cut), and the
 * HTML is reduced by one linear scan, so a hostile page cannot stall the process.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Tool from "../Tool.js"
import { request } from "./httpFetch.js"
import { cutToChars, deadlineOf } from "./httpRequest.js"

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

/** Tags that become a newline, opening or closing (the original's list). */
const BLOCK = new Set(["p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"])

/** `text` with ASCII letters lowered: the same length, so its indexes are `text`'s. */
const asciiLower = (text: string): string => text.replace(/[A-Z]+/g, (run) => run.toLowerCase())

/** Whether `code` may be part of a tag name. */
const isNameChar = (code: number): boolean =>
  (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 45 || code === 58

/**
 * `from => haystack.indexOf(needle, from)` for non-decreasing `from`, remembering the last
 * answer: every query is answered in time linear in the haystack overall, however many
 * unclosed elements ask for the same missing `</script`.
 */
const finder = (haystack: string, needle: string): ((from: number) => number) => {
  let at = -2 // nothing asked yet
  return (from) => {
    if (at === -1 || at >= from) return at
    at = haystack.indexOf(needle, from)
    return at
  }
}

/** Where the first `<name` tag (the whole name) opens at or after `from`, or -1. */
const openTag = (lower: string, name: string, from = 0): number => {
  for (let at = lower.indexOf(`<${name}`, from); at !== -1; at = lower.indexOf(`<${name}`, at + 1)) {
    if (!isNameChar(lower.charCodeAt(at + name.length + 1))) return at
  }
  return -1
}

/**
 * An HTML fragment's tags replaced, in one pass: `script` and `style` elements and
 * comments (an unclosed one runs to the end) by a space, block tags by a newline, any other tag by a space. A `<` with no
 * `>` after it, and `<>`, are text.
 */
const dropTags = (fragment: string): string => {
  const lower = asciiLower(fragment)
  // A `>` at or after `from`, or -1: only searched for when there is one, and every search
  // is consumed (the scan moves past the `>` it finds), so the pass stays linear.
  const lastGt = lower.lastIndexOf(">")
  const nextGt = (from: number): number => (from > lastGt ? -1 : lower.indexOf(">", from))
  const commentEnd = finder(lower, "-->")
  const closer: Readonly<Record<string, (from: number) => number>> = { script: finder(lower, "</script"), style: finder(lower, "</style") }
  const out: Array<string> = []
  let i = 0
  while (i < fragment.length) {
    const lt = fragment.indexOf("<", i)
    if (lt === -1) {
      out.push(fragment.slice(i))
      break
    }
    out.push(fragment.slice(i, lt))
    if (lower.startsWith("<!--", lt)) {
      // A comment runs to its `-->`, or to the end when it has none (as a browser reads it).
      const end = commentEnd(lt + 4)
      out.push(" ")
      i = end === -1 ? fragment.length : end + 3
      continue
    }
    const gt = nextGt(lt + 1)
    if (gt === -1) {
      out.push(fragment.slice(lt))
      break
    }
    if (gt === lt + 1) {
      out.push("<")
      i = lt + 1
      continue
    }
    const closing = lower.charCodeAt(lt + 1) === 47 // "/"
    const nameStart = lt + 1 + (closing ? 1 : 0)
    let nameEnd = nameStart
    while (nameEnd < gt && isNameChar(lower.charCodeAt(nameEnd))) nameEnd++
    const name = lower.slice(nameStart, nameEnd)
    const close = closing ? undefined : closer[name]
    if (close !== undefined) {
      const end = close(gt + 1)
      const endGt = end === -1 ? -1 : nextGt(end)
      if (endGt !== -1) {
        out.push(" ")
        i = endGt + 1
        continue
      }
    }
    out.push(BLOCK.has(name) ? "\n" : " ")
    i = gt + 1
  }
  return out.join("")
}

/**
 * An HTML fragment as plain text (the original's `strip_tags`: block tags become
 * newlines), in time linear in its length: no backtracking pattern sees hostile input.
 */
export const stripTags = (fragment: string): string =>
  unescape(dropTags(fragment))
    // Runs of spaces and tabs become one space (a lone space is left as it is).
    .replace(/\t[ \t]*| [ \t]+/g, " ")
    // A run of white space holding a newline becomes that newline (a lone one already is).
    .replace(/\s\s+/g, (run) => (run.includes("\n") ? "\n" : run))
    .trim()

/** The content of the first `<name ...>...</name>` element at or after `from`, as indexes. */
const element = (lower: string, name: string, from = 0, closeRequired = true): { readonly open: number; readonly start: number; readonly end: number; readonly after: number } | undefined => {
  const open = openTag(lower, name, from)
  if (open === -1) return undefined
  const gt = lower.indexOf(">", open)
  if (gt === -1) return undefined
  const close = lower.indexOf(`</${name}`, gt + 1)
  const closeGt = close === -1 ? -1 : lower.indexOf(">", close)
  if (closeGt === -1) return closeRequired ? undefined : { open, start: gt + 1, end: lower.length, after: lower.length }
  return { open, start: gt + 1, end: close, after: closeGt + 1 }
}

/** `(title, text)` of an HTML page: its first `<title>`, and its `<body>` (or all but its `<head>`). */
const readable = (html: string): { readonly title: string; readonly text: string } => {
  const lower = asciiLower(html)
  const title = element(lower, "title")
  const body = element(lower, "body", 0, false)
  const head = body === undefined ? element(lower, "head") : undefined
  const text = body !== undefined
    ? html.slice(body.start, body.end)
    : head !== undefined
    ? `${html.slice(0, head.open)} ${html.slice(head.after)}`
    : html
  return { title: title === undefined ? "" : stripTags(html.slice(title.start, title.end)), text: stripTags(text) }
}

/** Bytes read per `max_chars` character: room for the markup around the text. */
export const BYTES_PER_CHAR = 32
/** The fewest bytes read of a page (a small `max_chars` still reads past a page's head). */
export const MIN_BYTES = 256 * 1024
/** The most bytes read of a page. */
export const MAX_BYTES = 4 * 1024 * 1024

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
        ...deadlineOf(input.timeout_s),
        maxBytes: Math.min(Math.max(maxChars * BYTES_PER_CHAR, MIN_BYTES), MAX_BYTES)
      })
      const body = new TextDecoder().decode(response.bytes)
      const page = response.contentType.includes("html") ? readable(body) : { title: "", text: body }
      const { cut, text } = cutToChars(page.text, maxChars)
      return {
        url: response.url,
        status_code: response.status,
        title: page.title,
        text,
        truncated: cut || response.truncated
      }
    })
})
