/**
 * The web search engine `std.web_search` asks: a `SearchBackend` service the app
 * provides ({@link layer}), or, when none is provided, a SearXNG instance named by the
 * `STARGRAPH_SEARCH_URL` environment variable ({@link searxng}, its JSON API). With
 * neither, a call fails with `ToolError[failed]` saying how to configure one. The
 * original scrapes DuckDuckGo; this runtime does not scrape.
 *
 * A call needs `net.fetch` for the backend's {@link SearchBackendShape.url} (checked by
 * the tool before it asks the backend), as the other network tools need it for theirs;
 * the SearXNG backend makes its request through the same code as `std.http_fetch`.
 * `SearchEndpoints` (re-exported here) points `std.wikipedia` and `std.arxiv` at other
 * hosts, e.g. a mirror.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SearchBackend } from "stargraph"
 * // a SearXNG instance (its settings.yml must list json in search.formats)
 * const web = SearchBackend.searxngLayer("https://searx.example.org")
 * // or your own engine
 * const own = SearchBackend.layer({
 *   name: "acme",
 *   url: "https://search.acme.internal/api",
 *   search: ({ query, maxResults }) => Effect.succeed([{ title: query, url: "https://acme.example/", snippet: "" }].slice(0, maxResults))
 * })
 * ```
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ToolError } from "../../../errors.js"
import { redact } from "./httpFetch.js"
import { getText, malformed } from "./searchHttp.js"

export { layer as endpointsLayer, PUBLIC as publicEndpoints, SearchEndpoints, type SearchEndpointsShape } from "./searchEndpoints.js"

/** One web search result, as `std.web_search` answers it. */
export interface SearchHit {
  readonly title: string
  readonly url: string
  readonly snippet: string
}

/** What a backend is asked. */
export interface SearchQuery {
  readonly query: string
  /** At most this many hits are kept (1 to 25). */
  readonly maxResults: number
  readonly timeoutS?: number | undefined
}

/** A web search engine. */
export interface SearchBackendShape {
  /** Named in failures (`searxng`, `acme`). */
  readonly name: string
  /** The URL the backend queries: a call needs `net.fetch` covering it. */
  readonly url: string
  readonly search: (query: SearchQuery) => Effect.Effect<ReadonlyArray<SearchHit>, ToolError>
}

/** The web search backend the app provides (see {@link layer}, {@link searxngLayer}). */
export class SearchBackend extends Context.Tag("stargraph/SearchBackend")<SearchBackend, SearchBackendShape>() {}

/** The environment variable naming a SearXNG instance when the app provides no backend. */
export const ENV_VAR = "STARGRAPH_SEARCH_URL"

/** A Layer providing `backend` to the runs of this context. */
export const layer = (backend: SearchBackendShape): Layer.Layer<SearchBackend> => Layer.succeed(SearchBackend, backend)

const text = (value: unknown): string => (typeof value === "string" ? value : "")

/**
 * A SearXNG instance at `base` (`https://searx.example.org`), asked through its JSON API
 * (`<base>/search?q=…&format=json`; the instance must list `json` in `search.formats`).
 * Hits map `title`, `url` and `content` (the snippet).
 */
export const searxng = (base: string): SearchBackendShape => {
  const endpoint = `${base.replace(/\/+$/, "")}/search`
  return {
    name: "searxng",
    url: endpoint,
    search: ({ maxResults, query, timeoutS }) =>
      Effect.gen(function*() {
        let url: URL
        try {
          url = new URL(endpoint)
        } catch {
          return yield* new ToolError({ reason: "failed", message: `the SearXNG URL '${base}' is not a URL`, fix: `set ${ENV_VAR} (or searxngLayer's argument) to the instance's absolute http(s) URL` })
        }
        url.searchParams.set("q", query)
        url.searchParams.set("format", "json")
        const body = yield* getText({
          what: "web search",
          url,
          timeoutS,
          maxBytes: 4 * 1024 * 1024,
          // SearXNG answers 403 when its JSON API is off.
          statusFix: (status) => (status === 403 ? "enable the JSON API on the SearXNG instance: list json under search.formats in its settings.yml" : undefined)
        })
        let payload: unknown
        try {
          payload = JSON.parse(body)
        } catch {
          return yield* malformed("web search", url, "not JSON")
        }
        const results = payload !== null && typeof payload === "object" && !Array.isArray(payload) ? (payload as { readonly results?: unknown }).results : undefined
        if (!Array.isArray(results)) return yield* malformed("web search", url, "no 'results' list")
        return results
          .flatMap((r: unknown) => {
            if (r === null || typeof r !== "object" || Array.isArray(r)) return []
            const hit = r as Readonly<Record<string, unknown>>
            return [{ title: text(hit["title"]), url: text(hit["url"]), snippet: text(hit["content"]) }]
          })
          .slice(0, maxResults)
      })
  }
}

/** A Layer providing the SearXNG instance at `base` (see {@link searxng}). */
export const searxngLayer = (base: string): Layer.Layer<SearchBackend> => layer(searxng(base))

/**
 * The backend a call uses: the provided one, else a SearXNG instance at
 * `STARGRAPH_SEARCH_URL` (read at each call), else `ToolError[failed]` saying how to
 * configure one.
 */
export const current: Effect.Effect<SearchBackendShape, ToolError> = Effect.gen(function*() {
  const provided = yield* Effect.serviceOption(SearchBackend)
  if (Option.isSome(provided)) return provided.value
  const url = yield* Effect.orElseSucceed(Config.option(Config.nonEmptyString(ENV_VAR)), () => Option.none<string>())
  if (Option.isSome(url)) return searxng(url.value.trim())
  return yield* new ToolError({
    reason: "failed",
    message: "no web search backend is configured (the original's DuckDuckGo scraping is not shipped)",
    fix: `set ${ENV_VAR} to a SearXNG instance with its JSON API enabled (e.g. ${ENV_VAR}=https://searx.example.org), or provide SearchBackend.layer({name, url, search}) or SearchBackend.searxngLayer(url) where the app runs the graph`
  })
})

/** A backend's URL as failures name it. */
export const shown = (backend: SearchBackendShape): string => {
  try {
    return redact(new URL(backend.url))
  } catch {
    return backend.url
  }
}
