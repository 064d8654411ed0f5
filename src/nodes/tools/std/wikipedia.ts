/**
 * `std.wikipedia@1`: search Wikipedia through its REST API
 * (`<origin>/w/rest.php/v1/search/page?q=…&limit=…`, no key), with the original's
 * arguments (`query`, `lang` = `en`, `limit` = 3, lowered to at most {@link MAX_LIMIT},
 * `timeout_s` = 30) and result (`{query, results: [{title, description, excerpt, url}]}`,
 * the excerpt's markup stripped, `url` the article's `/wiki/<key>` page). `lang` must be a
 * language code (`en`, `de`, `zh-yue`, `be-tarask`): anything else is refused before a
 * request, so no argument can move the request to another host. The origin is
 * `https://<lang>.wikipedia.org` unless the app provides other endpoints
 * (`SearchEndpoints`). Needs `net.fetch` for that URL, as the other network tools do.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"
import { stripTags } from "./fetchPage.js"
import { LANG, SearchEndpoints } from "./searchEndpoints.js"
import { clamp, ENDPOINT_UNRESOLVED_FIX, getText, malformed } from "./searchHttp.js"

/** The most results asked for (a larger `limit` is lowered to it). */
export const MAX_LIMIT = 20
/** The most bytes of an answer read. */
const MAX_BYTES = 2 * 1024 * 1024
/** A Wikipedia language code: the original's pattern. */
export const LANG_CODE = /^[a-z]{2,3}(-[a-z0-9]{2,8})?$/
const WHAT = "wikipedia search"

/** A page key as the original quotes it into a URL path (Python's `quote`: `/` kept, `()!'*` escaped too). */
const quotePath = (key: string): string =>
  encodeURIComponent(key)
    .replace(/%2F/g, "/")
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** A field as text (absent or null: empty). */
const textOf = (value: unknown): string => (typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value))

const Result = Schema.Struct({ title: Schema.String, description: Schema.String, excerpt: Schema.String, url: Schema.String })

/** `std.wikipedia@1`. */
export const wikipedia = Tool.make({
  id: "std.wikipedia",
  version: "1",
  description: "Search Wikipedia (needs the net.fetch capability) and return matching articles: title, description, excerpt, URL. No API key required.",
  input: Schema.Struct({
    query: Schema.String,
    lang: Schema.optional(Schema.String),
    limit: Schema.optional(Schema.Int),
    timeout_s: Schema.optional(Schema.Number.pipe(Schema.positive()))
  }),
  output: Schema.Struct({ query: Schema.String, results: Schema.Array(Result) }),
  run: (input) =>
    Effect.gen(function*() {
      const lang = input.lang ?? "en"
      if (!LANG_CODE.test(lang)) {
        return yield* new ToolError({
          reason: "invalid-input",
          argument: "lang",
          message: `invalid Wikipedia language code '${lang.slice(0, 40)}'`,
          fix: "pass a language code such as en, de or zh-yue (2 or 3 lowercase letters, optionally -variant)"
        })
      }
      const endpoints = yield* SearchEndpoints
      const origin = endpoints.wikipedia.split(LANG).join(lang).replace(/\/+$/, "")
      let url: URL
      try {
        url = new URL(`${origin}/w/rest.php/v1/search/page`)
      } catch {
        return yield* new ToolError({ reason: "failed", message: `the Wikipedia endpoint '${endpoints.wikipedia}' is not a URL`, fix: "give SearchEndpoints.layer an absolute http(s) origin" })
      }
      url.searchParams.set("q", input.query)
      url.searchParams.set("limit", String(clamp(input.limit ?? 3, MAX_LIMIT)))
      const text = yield* getText({ what: WHAT, url, timeoutS: input.timeout_s, maxBytes: MAX_BYTES, unresolvedFix: ENDPOINT_UNRESOLVED_FIX })
      let payload: unknown
      try {
        payload = JSON.parse(text)
      } catch {
        return yield* malformed(WHAT, url, "not JSON")
      }
      const pages = payload !== null && typeof payload === "object" && !Array.isArray(payload) ? (payload as { readonly pages?: unknown }).pages : undefined
      if (!Array.isArray(pages)) return yield* malformed(WHAT, url, "no 'pages' list")
      const results = pages.flatMap((page: unknown) => {
        if (page === null || typeof page !== "object" || Array.isArray(page)) return []
        const p = page as Readonly<Record<string, unknown>>
        const key = textOf(p["key"])
        return [{
          title: textOf(p["title"]),
          description: textOf(p["description"]),
          excerpt: stripTags(textOf(p["excerpt"])),
          url: key === "" ? "" : `${origin}/wiki/${quotePath(key)}`
        }]
      })
      return { query: input.query, results }
    })
})
