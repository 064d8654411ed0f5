/**
 * `std.arxiv@1` (also registered as `std.arxiv_search@1`, the original's function name):
 * search arXiv through its Atom API (`https://export.arxiv.org/api/query`, no key), with
 * the original's arguments (`query`, `max_results` = 5, lowered to at most
 * {@link MAX_RESULTS}, `timeout_s` = 30) and result (`{query, results: [{title, summary,
 * authors, published, url, pdf_url}]}`, white space collapsed). The feed is read by a
 * linear scan (`xmlScan.ts`) that refuses a DTD, as the original does. The endpoint is
 * arXiv's unless the app provides other endpoints (`SearchEndpoints`). Needs `net.fetch`
 * for that URL, as the other network tools do.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"
import { SearchEndpoints } from "./searchEndpoints.js"
import { clamp, ENDPOINT_UNRESOLVED_FIX, getText, malformed, SearchInput, searchOutput } from "./searchHttp.js"
import * as Xml from "./xmlScan.js"

/** The most results asked for (a larger `max_results` is lowered to it). */
export const MAX_RESULTS = 25
/** The most bytes of a feed read. */
const MAX_BYTES = 4 * 1024 * 1024
const WHAT = "arxiv search"

/** An element's local name: `atom:entry` and `entry` are both `entry`; other prefixes are kept. */
const localName = (name: string): string => (name.startsWith("atom:") ? name.slice(5) : name)

const childrenNamed = (element: Xml.XmlElement, name: string): ReadonlyArray<Xml.XmlElement> =>
  element.children.filter((child) => localName(child.name) === name)

/** White space runs collapsed to one space, and trimmed (the original's `" ".join(text.split())`). */
const collapse = (text: string): string => text.split(/\s+/).filter((part) => part !== "").join(" ")

const textOf = (element: Xml.XmlElement, name: string): string => {
  const found = childrenNamed(element, name)[0]
  return found === undefined ? "" : collapse(found.text)
}

const resultOf = (entry: Xml.XmlElement) => ({
  title: textOf(entry, "title"),
  summary: textOf(entry, "summary"),
  authors: childrenNamed(entry, "author").flatMap((author) => {
    const name = childrenNamed(author, "name")[0]
    return name === undefined ? [] : [collapse(name.text)]
  }),
  published: textOf(entry, "published"),
  url: textOf(entry, "id"),
  pdf_url: childrenNamed(entry, "link").find((link) => link.attributes["title"] === "pdf")?.attributes["href"] ?? ""
})

const Result = Schema.Struct({
  title: Schema.String,
  summary: Schema.String,
  authors: Schema.Array(Schema.String),
  published: Schema.String,
  url: Schema.String,
  pdf_url: Schema.String
})

const definition = (id: string) => ({
  id,
  version: "1",
  description: "Search arXiv (needs the net.fetch capability) and return matching papers: title, authors, abstract, published date, abstract and PDF URLs. No API key required.",
  input: SearchInput,
  output: searchOutput(Result),
  run: (input: { readonly query: string; readonly max_results?: number | undefined; readonly timeout_s?: number | undefined }) =>
    Effect.gen(function*() {
      const endpoints = yield* SearchEndpoints
      let url: URL
      try {
        url = new URL(endpoints.arxiv)
      } catch {
        return yield* new ToolError({ reason: "failed", message: `the arXiv endpoint '${endpoints.arxiv}' is not a URL`, fix: "give SearchEndpoints.layer an absolute http(s) URL" })
      }
      url.searchParams.set("search_query", `all:${input.query}`)
      url.searchParams.set("start", "0")
      url.searchParams.set("max_results", String(clamp(input.max_results ?? 5, MAX_RESULTS)))
      const text = yield* getText({ what: WHAT, url, timeoutS: input.timeout_s, maxBytes: MAX_BYTES, unresolvedFix: ENDPOINT_UNRESOLVED_FIX })
      const parsed = Xml.parse(text)
      if (Either.isLeft(parsed)) return yield* malformed(WHAT, url, `unreadable XML: ${parsed.left}`)
      const feed = parsed.right
      if (localName(feed.name) !== "feed") return yield* malformed(WHAT, url, `its root is <${feed.name.slice(0, 40)}>, not an Atom <feed>`)
      const entries = childrenNamed(feed, "entry")
      // arXiv answers a bad query with one entry whose id is under /api/errors.
      const error = entries.find((entry) => textOf(entry, "id").includes("/api/errors"))
      if (error !== undefined) {
        return yield* new ToolError({ reason: "failed", message: `${WHAT} failed: arXiv refused the query: ${textOf(error, "summary").slice(0, 300)}`, fix: "rephrase the query" })
      }
      return { query: input.query, results: entries.map(resultOf) }
    })
})

/** `std.arxiv@1` (the original's registry id). */
export const arxiv = Tool.make(definition("std.arxiv"))
/** `std.arxiv_search@1`: the same tool under the original's function name. */
export const arxivSearch = Tool.make(definition("std.arxiv_search"))
