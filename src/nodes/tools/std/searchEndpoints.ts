/**
 * Where `std.wikipedia` and `std.arxiv` send their requests: the public hosts by default.
 * An app (or a test) points them elsewhere with {@link layer}, e.g. at a mirror; a graph
 * cannot, since the bases come from the app's context, never from a tool's arguments.
 * Every request still goes through the `std` network path, so `net.fetch` grants
 * (URL globs) govern the overridden hosts as they govern the public ones.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/** The placeholder in {@link SearchEndpointsShape.wikipedia} replaced by the (checked) language code. */
export const LANG = "{lang}"

/** The bases the search tools query. */
export interface SearchEndpointsShape {
  /** Wikipedia's origin, `{lang}` standing for the language code (`https://{lang}.wikipedia.org`). */
  readonly wikipedia: string
  /** arXiv's Atom query endpoint (`https://export.arxiv.org/api/query`). */
  readonly arxiv: string
}

/** The public endpoints. */
export const PUBLIC: SearchEndpointsShape = {
  wikipedia: `https://${LANG}.wikipedia.org`,
  arxiv: "https://export.arxiv.org/api/query"
}

/** The endpoints the search tools use (default: {@link PUBLIC}). */
export class SearchEndpoints extends Context.Reference<SearchEndpoints>()("stargraph/SearchEndpoints", {
  defaultValue: (): SearchEndpointsShape => PUBLIC
}) {}

/** A Layer pointing the search tools at other endpoints (the ones not given stay public). */
export const layer = (endpoints: Partial<SearchEndpointsShape>): Layer.Layer<SearchEndpoints> =>
  Layer.succeed(SearchEndpoints, { ...PUBLIC, ...endpoints })
