/**
 * `std.web_search@1`: search the web, with the original's arguments (`query`,
 * `max_results` = 5, lowered to at most {@link MAX_RESULTS}) and result (`{query,
 * results: [{title, url, snippet}]}`). The engine is the `SearchBackend` the app provides
 * or the SearXNG instance at `STARGRAPH_SEARCH_URL` (see `searchBackend.ts`); with
 * neither the call fails saying how to configure one. Needs `net.fetch` for the backend's
 * URL, as the other network tools need it for theirs.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Capabilities from "../Capabilities.js"
import * as Tool from "../Tool.js"
import { CAPABILITY } from "./httpFetch.js"
import { current, shown } from "./searchBackend.js"
import { clamp, SearchInput, searchOutput } from "./searchHttp.js"

/** The most results kept (a larger `max_results` is lowered to it). */
export const MAX_RESULTS = 25

const Hit = Schema.Struct({ title: Schema.String, url: Schema.String, snippet: Schema.String })

/** `std.web_search@1`. */
export const webSearch = Tool.make({
  id: "std.web_search",
  version: "1",
  description: "Search the web (needs the net.fetch capability and a search backend: STARGRAPH_SEARCH_URL or the app's SearchBackend) and return result titles, URLs and snippets.",
  input: SearchInput,
  output: searchOutput(Hit),
  run: (input) =>
    Effect.gen(function*() {
      const backend = yield* current
      yield* Capabilities.demand(`${CAPABILITY}:${backend.url}`, `${CAPABILITY}:${shown(backend)}`)
      const maxResults = clamp(input.max_results ?? 5, MAX_RESULTS)
      const hits = yield* backend.search({ query: input.query, maxResults, timeoutS: input.timeout_s })
      return { query: input.query, results: hits.slice(0, maxResults).map((h) => ({ title: h.title, url: h.url, snippet: h.snippet })) }
    })
})
