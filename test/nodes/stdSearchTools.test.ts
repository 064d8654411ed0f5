/**
 * std.web_search, std.wikipedia and std.arxiv (alias std.arxiv_search) against real HTTP
 * servers on 127.0.0.1 speaking the real wire formats (SearXNG JSON, MediaWiki REST JSON,
 * arXiv Atom): the net.fetch gate, the original's arguments, limits and result shapes,
 * typed failures for bad arguments, error statuses and malformed bodies, and a graph's
 * calls answered from the cassette on replay with the server gone.
 */
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import type { ToolError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import { httpFetch } from "../../src/nodes/tools/std/httpFetch.js"
import * as NetResolver from "../../src/nodes/tools/std/NetResolver.js"
import { arxiv, arxivSearch } from "../../src/nodes/tools/std/arxiv.js"
import * as SearchBackend from "../../src/nodes/tools/std/searchBackend.js"
import { webSearch } from "../../src/nodes/tools/std/webSearch.js"
import { wikipedia } from "../../src/nodes/tools/std/wikipedia.js"
import * as Xml from "../../src/nodes/tools/std/xmlScan.js"
import type * as Tool from "../../src/nodes/tools/Tool.js"
import * as ToolRegistry from "../../src/nodes/tools/ToolRegistry.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"

const LOCAL = "net.fetch:http://127.0.0.1:*"

/** A MediaWiki REST search answer (the shape of en.wikipedia.org/w/rest.php/v1/search/page). */
const wikiPages = (q: string, limit: number) => ({
  pages: [
    {
      id: 23862,
      key: "Python_(programming_language)",
      title: "Python (programming language)",
      excerpt: "<span class=\"searchmatch\">Python</span> is a high-level, general-purpose programming language &amp; more",
      matched_title: null,
      description: "General-purpose programming language",
      thumbnail: { mimetype: "image/png", width: 60, height: 60, duration: null, url: "//upload.wikimedia.org/python.png" }
    },
    { id: 46332325, key: "Monty_Python/Flying Circus", title: "Monty Python", excerpt: `${q} <b>comedy</b>`, matched_title: null, description: null, thumbnail: null }
  ].slice(0, limit).concat(["not a page" as never])
})

/** An arXiv API answer (export.arxiv.org/api/query), with its namespaces, extensions, several authors and escaped text. */
const atomFeed = (q: string) => `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dall%3A${encodeURIComponent(q)}%26id_list%3D%26start%3D0%26max_results%3D5" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=all:${q}&amp;id_list=&amp;start=0&amp;max_results=5</title>
  <id>http://arxiv.org/api/cHxbiOdZaP56ODnBPIenZhzg5f8</id>
  <updated>2024-01-02T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">2</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <entry>
    <id>http://arxiv.org/abs/2401.00001v1</id>
    <updated>2024-01-01T00:00:00Z</updated>
    <published>2024-01-01T00:00:00Z</published>
    <title>Deterministic  Agent
      Routing &amp; &lt;Replay&gt;</title>
    <summary>  We study caf&#233; agents &#x2014; with
  rules, not vibes.
</summary>
    <author>
      <name>Ada Lovelace</name>
      <arxiv:affiliation xmlns:arxiv="http://arxiv.org/schemas/atom">Analytical Engines</arxiv:affiliation>
    </author>
    <author>
      <name>Alan  Turing</name>
    </author>
    <author><name>Kurt G&#246;del</name></author>
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">12 pages, &lt;b&gt;3 figures&lt;/b&gt;</arxiv:comment>
    <link href="http://arxiv.org/abs/2401.00001v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2401.00001v1?a=1&amp;b=2" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.AI" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.AI" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2401.00002v2</id>
    <published>2024-01-02T00:00:00Z</published>
    <title><![CDATA[Raw <title> text]]></title>
    <summary>Second.</summary>
    <author><name>Grace Hopper</name></author>
    <link href="http://arxiv.org/abs/2401.00002v2" rel="alternate" type="text/html"/>
  </entry>
</feed>
`

const ARXIV_ERROR = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">ArXiv Query: search_query=&amp;id_list=&amp;start=0&amp;max_results=10</title>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id>
    <title>Error</title>
    <summary>incorrect id format for 1234</summary>
  </entry>
</feed>
`

/** A SearXNG JSON answer (GET /search?q=…&format=json). */
const searxResults = (q: string) => ({
  query: q,
  number_of_results: 0,
  results: [
    { url: "https://effect.website/", title: `About ${q}`, content: "Effect is a TypeScript library", engine: "duckduckgo", parsed_url: ["https", "effect.website", "/", "", "", ""], engines: ["duckduckgo"], positions: [1], score: 1, category: "general" },
    { url: "https://github.com/Effect-TS/effect", title: "Effect-TS/effect", content: "", engine: "github", score: 0.5, category: "it" },
    { url: "https://example.org/3", title: "Third", engine: "bing" },
    42
  ],
  answers: [],
  corrections: [],
  infoboxes: [],
  suggestions: ["effect ts"],
  unresponsive_engines: []
})

let server: Server
let base = ""
let hits = 0
const seen: Array<URL> = []

const answer = (req: IncomingMessage): { readonly status: number; readonly type: string; readonly body: string } => {
  const url = new URL(req.url ?? "/", "http://127.0.0.1")
  seen.push(url)
  const json = (value: unknown) => ({ status: 200, type: "application/json", body: JSON.stringify(value) })
  const wiki = /^\/([a-z-]+)\/w\/rest\.php\/v1\/search\/page$/.exec(url.pathname)
  if (wiki !== null) {
    const q = url.searchParams.get("q") ?? ""
    if (q === "malformed") return { status: 200, type: "text/html", body: "<html>maintenance</html>" }
    if (q === "nopages") return json({ error: "x" })
    if (q === "boom") return { status: 500, type: "application/json", body: "{\"httpCode\":500}" }
    return json(wikiPages(q, Number(url.searchParams.get("limit"))))
  }
  if (url.pathname === "/api/query") {
    const q = (url.searchParams.get("search_query") ?? "").replace(/^all:/, "")
    if (q === "malformed") return { status: 200, type: "application/atom+xml", body: "<feed><entry><title>cut" }
    if (q === "dtd") return { status: 200, type: "application/atom+xml", body: "<?xml version=\"1.0\"?><!DOCTYPE feed [<!ENTITY x \"y\">]><feed>&x;</feed>" }
    if (q === "notatom") return { status: 200, type: "text/xml", body: "<html><body>hi</body></html>" }
    if (q === "boom") return { status: 503, type: "text/plain", body: "Service Unavailable" }
    if (q === "bad") return { status: 200, type: "application/atom+xml", body: ARXIV_ERROR }
    return { status: 200, type: "application/atom+xml; charset=utf-8", body: atomFeed(q) }
  }
  if (url.pathname === "/searx/search") {
    const q = url.searchParams.get("q") ?? ""
    if (url.searchParams.get("format") !== "json") return { status: 200, type: "text/html", body: "<html></html>" }
    if (q === "forbidden") return { status: 403, type: "text/html", body: "Forbidden" }
    if (q === "malformed") return json({ nothing: true })
    return json(searxResults(q))
  }
  return { status: 404, type: "text/plain", body: "no" }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++
    const a = answer(req)
    res.writeHead(a.status, { "content-type": a.type }).end(a.body)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const endpoints = () => SearchBackend.endpointsLayer({ wikipedia: `${base}/{lang}`, arxiv: `${base}/api/query` })

/** Run `tool` on `input` with `grants`, the local endpoints and `layer`. */
const call = (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string> = [], layer: Layer.Layer<never> | Layer.Layer<SearchBackend.SearchBackend> = Layer.empty) =>
  Effect.runPromise(
    Effect.either(tool.run(input)).pipe(Effect.provide(Capabilities.layer(grants)), Effect.provide(endpoints()), Effect.provide(layer))
  )
const ok = async (...args: Parameters<typeof call>) => {
  const r = await call(...args)
  if (Either.isLeft(r)) throw new Error(`expected success, got ${r.left.message} (${r.left.fix})`)
  return r.right as Record<string, any>
}
const err = async (...args: Parameters<typeof call>): Promise<ToolError> => {
  const r = await call(...args)
  if (Either.isRight(r)) throw new Error(`expected a ToolError, got ${JSON.stringify(r.right)}`)
  return r.left
}
const last = () => seen[seen.length - 1]!

describe("std.wikipedia", () => {
  it("is refused without net.fetch (or with a grant for another host), making no request", async () => {
    const before = hits
    expect(await err(wikipedia, { query: "python" })).toMatchObject({ reason: "capability-denied", capability: `net.fetch:${base}/en/w/rest.php/v1/search/page?q=…&limit=…` })
    expect(await err(wikipedia, { query: "python" }, ["net.fetch:https://*.wikipedia.org/*"])).toMatchObject({ reason: "capability-denied" })
    expect(hits).toBe(before)
  })

  it("asks https://<lang>.wikipedia.org by default", async () => {
    const r = await Effect.runPromise(Effect.either(wikipedia.run({ query: "python", lang: "de" })))
    expect(Either.isLeft(r) && r.left).toMatchObject({ reason: "capability-denied", capability: "net.fetch:https://de.wikipedia.org/w/rest.php/v1/search/page?q=…&limit=…" })
  })

  it("answers the original's shape: markup stripped from the excerpt, the article URL quoted as the original quotes it", async () => {
    const got = await ok(wikipedia, { query: "python" }, [LOCAL])
    expect(last().pathname).toBe("/en/w/rest.php/v1/search/page")
    expect(Object.fromEntries(last().searchParams)).toEqual({ q: "python", limit: "3" })
    expect(got).toEqual({
      query: "python",
      results: [
        {
          title: "Python (programming language)",
          description: "General-purpose programming language",
          excerpt: "Python is a high-level, general-purpose programming language & more",
          url: `${base}/en/wiki/Python_%28programming_language%29`
        },
        { title: "Monty Python", description: "", excerpt: "python comedy", url: `${base}/en/wiki/Monty_Python/Flying%20Circus` }
      ]
    })
  })

  it("clamps limit to 1..20 and takes a language variant", async () => {
    await ok(wikipedia, { query: "x", limit: 500 }, [LOCAL])
    expect(last().searchParams.get("limit")).toBe("20")
    await ok(wikipedia, { query: "x", limit: 0 }, [LOCAL])
    expect(last().searchParams.get("limit")).toBe("1")
    await ok(wikipedia, { query: "x", limit: -3, lang: "zh-yue" }, [LOCAL])
    expect(last().pathname).toBe("/zh-yue/w/rest.php/v1/search/page")
    expect(last().searchParams.get("limit")).toBe("1")
  })

  it("refuses a lang that is not a language code before any request", async () => {
    const before = hits
    for (const lang of ["evil.example.com/", "en.evil.com", "EN", "e", "en/../x", "en@evil.com", "en-", "en-x\nhost"]) {
      expect(await err(wikipedia, { query: "x", lang }, ["net.fetch"])).toMatchObject({ reason: "invalid-input", argument: "lang" })
    }
    expect(hits).toBe(before)
  })

  it("fails typed on an HTTP error status and on a body that is not the API's", async () => {
    expect(await err(wikipedia, { query: "boom" }, [LOCAL])).toMatchObject({ _tag: "ToolError", reason: "failed", message: expect.stringContaining("HTTP 500") })
    expect(await err(wikipedia, { query: "malformed" }, [LOCAL])).toMatchObject({ reason: "failed", message: expect.stringContaining("not JSON") })
    expect(await err(wikipedia, { query: "nopages" }, [LOCAL])).toMatchObject({ reason: "failed", message: expect.stringContaining("no 'pages' list") })
  })
})

describe("std.wikipedia and std.arxiv offline", () => {
  // No DNS: every name fails to resolve, as on a machine without network access.
  const offline = NetResolver.layer({ resolve: (host) => Promise.reject(new Error(`getaddrinfo ENOTFOUND ${host}`)) })
  const run = (tool: Tool.Tool, input: unknown) =>
    Effect.runPromise(Effect.flip(tool.run(input)).pipe(Effect.provide(Capabilities.layer(["net.fetch"])), Effect.provide(offline)))

  it("say to check the network or point the tool elsewhere, not to check a host name the user never chose", async () => {
    for (const [tool, input, host] of [[wikipedia, { query: "python" }, "en.wikipedia.org"], [arxivSearch, { query: "agents" }, "export.arxiv.org"]] as const) {
      const e = await run(tool, input)
      expect(e).toMatchObject({ _tag: "ToolError", reason: "failed", message: expect.stringContaining(`${host} did not resolve`) })
      expect(e.fix).toContain("network and DNS access")
      expect(e.fix).toContain("SearchBackend.endpointsLayer")
      expect(e.fix).not.toContain("host name")
    }
    // A URL the user gave keeps the host-name fix.
    const fetched = await run(httpFetch, { url: "https://no-such-host.example/" })
    expect(fetched.fix).toBe("check the URL's host name")
  })
})

describe("std.arxiv (std.arxiv_search)", () => {
  it("is refused without net.fetch, making no request; asks export.arxiv.org by default", async () => {
    const before = hits
    expect(await err(arxiv, { query: "agents" })).toMatchObject({ reason: "capability-denied", capability: `net.fetch:${base}/api/query?search_query=…&start=…&max_results=…` })
    expect(hits).toBe(before)
    const r = await Effect.runPromise(Effect.either(arxivSearch.run({ query: "agents" })))
    expect(Either.isLeft(r) && r.left).toMatchObject({ reason: "capability-denied", capability: "net.fetch:https://export.arxiv.org/api/query?search_query=…&start=…&max_results=…" })
  })

  it("reads the Atom feed: several authors, entities and character references, CDATA, the pdf link, white space collapsed", async () => {
    const got = await ok(arxiv, { query: "agents" }, [LOCAL])
    expect(Object.fromEntries(last().searchParams)).toEqual({ search_query: "all:agents", start: "0", max_results: "5" })
    expect(got).toEqual({
      query: "agents",
      results: [
        {
          title: "Deterministic Agent Routing & <Replay>",
          summary: "We study café agents — with rules, not vibes.",
          authors: ["Ada Lovelace", "Alan Turing", "Kurt Gödel"],
          published: "2024-01-01T00:00:00Z",
          url: "http://arxiv.org/abs/2401.00001v1",
          pdf_url: "http://arxiv.org/pdf/2401.00001v1?a=1&b=2"
        },
        { title: "Raw <title> text", summary: "Second.", authors: ["Grace Hopper"], published: "2024-01-02T00:00:00Z", url: "http://arxiv.org/abs/2401.00002v2", pdf_url: "" }
      ]
    })
    expect(await ok(arxivSearch, { query: "agents" }, [LOCAL])).toEqual(got)
  })

  it("clamps max_results to 1..25", async () => {
    await ok(arxiv, { query: "x", max_results: 1000 }, [LOCAL])
    expect(last().searchParams.get("max_results")).toBe("25")
    await ok(arxiv, { query: "x", max_results: 0 }, [LOCAL])
    expect(last().searchParams.get("max_results")).toBe("1")
  })

  it("fails typed on a DTD, malformed XML, a non-Atom document, an HTTP error status and arXiv's error entry", async () => {
    expect(await err(arxiv, { query: "dtd" }, [LOCAL])).toMatchObject({ reason: "failed", message: expect.stringContaining("DTD") })
    expect(await err(arxiv, { query: "malformed" }, [LOCAL])).toMatchObject({ reason: "failed", message: expect.stringContaining("unreadable XML") })
    expect(await err(arxiv, { query: "notatom" }, [LOCAL])).toMatchObject({ reason: "failed", message: expect.stringContaining("not an Atom <feed>") })
    expect(await err(arxiv, { query: "boom" }, [LOCAL])).toMatchObject({ reason: "failed", message: expect.stringContaining("HTTP 503"), fix: "retry later" })
    expect(await err(arxiv, { query: "bad" }, [LOCAL])).toMatchObject({ reason: "failed", message: expect.stringContaining("incorrect id format for 1234") })
  })
})

describe("the Atom reader", () => {
  it("stays linear on hostile input", () => {
    const t0 = performance.now()
    const hostile = [
      `<feed>${"&".repeat(500_000)}</feed>`,
      `<feed>${"&#x".repeat(200_000)}</feed>`,
      `${"<a>".repeat(100_000)}${"</a>".repeat(100_000)}`,
      `<feed a="${"<".repeat(500_000)}`,
      `<feed>${"<!--".repeat(200_000)}`,
      `<feed>${"< ".repeat(200_000)}</feed>`
    ]
    const outcomes = hostile.map((doc) => Either.isRight(Xml.parse(doc)))
    expect(outcomes).toEqual([true, true, true, false, false, false])
    expect(performance.now() - t0).toBeLessThan(5_000)
  })

  it("refuses mismatched, unclosed and doubled roots", () => {
    for (const doc of ["<a></b>", "<a>", "<a/><b/>", "text<a/>", "<a x=1/>", "<!DOCTYPE a><a/>", ""]) expect(Either.isLeft(Xml.parse(doc))).toBe(true)
  })
})

describe("std.web_search", () => {
  const saved = process.env[SearchBackend.ENV_VAR]
  afterAll(() => {
    if (saved === undefined) delete process.env[SearchBackend.ENV_VAR]
    else process.env[SearchBackend.ENV_VAR] = saved
  })

  it("with no backend configured fails saying how to configure one", async () => {
    delete process.env[SearchBackend.ENV_VAR]
    const e = await err(webSearch, { query: "effect" }, ["net.fetch"])
    expect(e).toMatchObject({ reason: "failed", message: expect.stringContaining("no web search backend is configured") })
    expect(e.fix).toContain("STARGRAPH_SEARCH_URL=")
    expect(e.fix).toContain("SearchBackend.layer")
  })

  it("asks the SearXNG instance named by STARGRAPH_SEARCH_URL, only with net.fetch for it", async () => {
    process.env[SearchBackend.ENV_VAR] = `${base}/searx/`
    const before = hits
    expect(await err(webSearch, { query: "effect" })).toMatchObject({ reason: "capability-denied", capability: `net.fetch:${base}/searx/search` })
    expect(await err(webSearch, { query: "effect" }, ["net.fetch:https://searx.example.org/*"])).toMatchObject({ reason: "capability-denied" })
    expect(hits).toBe(before)
    const got = await ok(webSearch, { query: "effect" }, [LOCAL])
    expect(Object.fromEntries(last().searchParams)).toEqual({ q: "effect", format: "json" })
    expect(got).toEqual({
      query: "effect",
      results: [
        { title: "About effect", url: "https://effect.website/", snippet: "Effect is a TypeScript library" },
        { title: "Effect-TS/effect", url: "https://github.com/Effect-TS/effect", snippet: "" },
        { title: "Third", url: "https://example.org/3", snippet: "" }
      ]
    })
  })

  it("keeps at most max_results (1..25) hits", async () => {
    process.env[SearchBackend.ENV_VAR] = `${base}/searx`
    expect((await ok(webSearch, { query: "effect", max_results: 2 }, [LOCAL]))["results"]).toHaveLength(2)
    expect((await ok(webSearch, { query: "effect", max_results: 0 }, [LOCAL]))["results"]).toHaveLength(1)
    const many = Array.from({ length: 40 }, (_, i) => ({ title: `t${i}`, url: `https://e/${i}`, snippet: "" }))
    const asked: Array<number> = []
    const own = SearchBackend.layer({ name: "own", url: "https://search.acme.test/api", search: ({ maxResults }) => Effect.sync(() => (asked.push(maxResults), many)) })
    expect((await ok(webSearch, { query: "x", max_results: 100 }, ["net.fetch"], own))["results"]).toHaveLength(25)
    expect(asked).toEqual([25])
  })

  it("fails typed on an HTTP error status (403 names the JSON API setting) and a body that is not SearXNG's", async () => {
    process.env[SearchBackend.ENV_VAR] = `${base}/searx`
    expect(await err(webSearch, { query: "forbidden" }, [LOCAL])).toMatchObject({ reason: "failed", message: expect.stringContaining("HTTP 403"), fix: expect.stringContaining("search.formats") })
    expect(await err(webSearch, { query: "malformed" }, [LOCAL])).toMatchObject({ reason: "failed", message: expect.stringContaining("no 'results' list") })
  })

  it("prefers the app's backend, gated by net.fetch for its URL", async () => {
    process.env[SearchBackend.ENV_VAR] = `${base}/searx`
    const own = SearchBackend.layer({ name: "acme", url: "https://search.acme.test/api", search: ({ query }) => Effect.succeed([{ title: query, url: "https://acme.test/", snippet: "s" }]) })
    expect(await err(webSearch, { query: "q" }, [LOCAL], own)).toMatchObject({ reason: "capability-denied", capability: "net.fetch:https://search.acme.test/api" })
    expect(await ok(webSearch, { query: "q" }, ["net.fetch:https://search.acme.test/*"], own)).toEqual({ query: "q", results: [{ title: "q", url: "https://acme.test/", snippet: "s" }] })
  })
})

describe("the search tools in graphs", () => {
  it("graphs written for the original find them by their ids", () => {
    const registry = Effect.runSync(ToolRegistry.ToolRegistry)
    for (const ref of ["std.web_search@1", "std.wikipedia@1", "std.arxiv@1", "std.arxiv_search@1", "std.web_search", "std.arxiv"]) {
      expect(Either.isRight(registry.resolve(ref))).toBe(true)
    }
  })

  it("a tool node's call is recorded in the cassette and a replay answers it without the server or a grant", async () => {
    process.env[SearchBackend.ENV_VAR] = `${base}/searx`
    const ir = {
      ir_version: "1.0.0",
      id: "run:search",
      state_schema: { fields: { q: { type: "string" }, web: { type: "object" }, wiki: { type: "object" }, papers: { type: "object" } } },
      nodes: [
        { id: "web", kind: "tool", tool: "std.web_search@1", inputs: { query: "q" }, static: { max_results: 2 }, out: "web" },
        { id: "wiki", kind: "tool", tool: "std.wikipedia@1", inputs: { query: "q" }, static: { limit: 1 }, out: "wiki" },
        { id: "papers", kind: "tool", tool: "std.arxiv@1", inputs: { query: "q" }, out: "papers" }
      ],
      edges: [{ from: "web", to: "wiki" }, { from: "wiki", to: "papers" }]
    }
    const filename = join(tempDir(), "search.sqlite")
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir)
      const parent = yield* Effect.flatMap(graph.start({ inputs: { q: "agents" } }), (r) => r.start()).pipe(
        Effect.provide(Capabilities.layer([LOCAL])),
        Effect.provide(endpoints())
      )
      const hitsBefore = hits
      delete process.env[SearchBackend.ENV_VAR]
      const replayed = yield* Replay.fork(graph, parent.run_id, {})
      return { parent, replayed, hitsBefore }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    const state = out.parent.final_state as Record<string, any>
    expect(state["web"]["results"]).toHaveLength(2)
    expect(state["wiki"]["results"]).toEqual([expect.objectContaining({ title: "Python (programming language)" })])
    expect(state["papers"]["results"].map((r: { title: string }) => r.title)).toEqual(["Deterministic Agent Routing & <Replay>", "Raw <title> text"])
    expect(out.replayed.summary).toMatchObject({ status: "done", final_state: out.parent.final_state })
    expect(hits).toBe(out.hitsBefore)
  })
})
