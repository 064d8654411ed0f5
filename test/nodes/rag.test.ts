/**
 * `rag` nodes (the original's retrieve-then-answer) over real SQLite doc stores in the
 * original's schema (test/helpers/docStore.ts) and a real OpenAI-compatible server on
 * 127.0.0.1: the lexical ranking and RRF fusion, the context block the model sees, the
 * citations, no model call on zero hits, stubs, the retrieval and the answer in the
 * cassette (a replay with the store deleted and the server stopped gives the same state),
 * and the configs refused when the graph is built.
 */
import { rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import type { Checkpoint } from "../../src/checkpoint/models.js"
import { IRValidationError, type StargraphError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { lexicalScore } from "../../src/nodes/kinds/rag.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"
import { type StoredDoc, writeDocStore } from "../helpers/docStore.js"
import { dbLayer, runGraph } from "../helpers/graphRun.js"
import type * as OpenAiServer from "../helpers/openaiServer.js"
import { scriptedServers } from "../helpers/scriptedServers.js"

const str = { type: "string" }
const fields = { query: str, answer: str, citations: { type: "array" } }

const CORPUS: ReadonlyArray<StoredDoc> = [
  { id: "d-rivers", content: "The Seine flows through Paris. Rivers of France: Seine, Loire, Rhone." },
  { id: "d-capital", content: "Paris is the capital of France. Paris hosts the Louvre." },
  { id: "d-bread", content: "Baguette: long thin French bread." },
  { id: "d-bytes", content: Buffer.from("capital of France, as bytes") },
  { id: "d-tokyo", content: "Tokyo is the capital of Japan." }
]

/** A folder with a store `kb.db` holding `docs`. */
const storeDir = (docs: ReadonlyArray<StoredDoc> = CORPUS, name = "kb.db") => {
  const dir = tempDir()
  writeDocStore(join(dir, name), docs)
  return dir
}

const irOf = (config: Record<string, unknown>, stateFields: Record<string, unknown> = fields) => ({
  ir_version: "1.0.0",
  id: "run:rag",
  state_schema: { fields: stateFields },
  nodes: [{ id: "qa", kind: "rag", config: { model: "test-model", stores: [{ provider: "sqlite_doc", path: "./kb.db" }], ...config } }]
})



const buildError = async (ir: unknown, dir: string): Promise<IRValidationError> => {
  const exit = await Effect.runPromiseExit(Graph.make(ir, { file: join(dir, "graph.yaml") }))
  if (Exit.isSuccess(exit)) throw new Error("expected the graph to be refused")
  const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  expect(error).toBeInstanceOf(IRValidationError)
  return error as IRValidationError
}

const { serve } = scriptedServers()

type Sent = { role: string; content: string }
const messagesOf = (s: OpenAiServer.OpenAiServer, i: number) => s.requests[i]!.body["messages"] as Array<Sent>
const reply = (answer: string) => JSON.stringify({ reasoning: "the context says so", answer })

describe("the lexical scorer", () => {
  it("adds tf/(tf+1) per distinct query term, case-folded, over \\w+ tokens", () => {
    expect(lexicalScore("capital", "Paris is the capital")).toBe(0.5)
    expect(lexicalScore("Paris capital", "Paris is the capital of France. Paris hosts the Louvre.")).toBe(2 / 3 + 1 / 2)
    // A repeated query term counts once; case and punctuation do not matter.
    expect(lexicalScore("PARIS paris? Paris!", "paris")).toBe(0.5)
    // Two distinct terms beat one term repeated many times.
    expect(lexicalScore("seine paris", "seine paris")).toBeGreaterThan(lexicalScore("seine paris", "seine seine seine seine seine"))
    expect(lexicalScore("straße", "STRASSE")).toBe(0.5)
    expect(lexicalScore("nothing here", "Paris")).toBe(0)
  })
})

describe("rag nodes retrieve, then answer with citations", () => {
  it("ranks by the scorer, shows the model the context block, cites the ranking; a replay with the store deleted and the server stopped gives the same state", async () => {
    const dir = storeDir()
    const server = await serve(reply("Paris [d-capital]."))
    const layer = dbLayer()
    const question = "What is the capital of France? Paris?"
    const live = await runGraph(irOf({ api_base: server.url }), { query: question }, { file: join(dir, "graph.yaml"), layer })
    expect(live.error).toBeUndefined()
    expect(live.summary?.status).toBe("done")
    // d-capital (paris×2, the×2, is, capital, of, france) first; d-rivers (the, paris, of, france) and d-tokyo (is, the, capital, of) tie at 2: by id.
    // The bytes document has no text; the bread document shares no term.
    const scores = CORPUS.filter((d) => typeof d.content === "string").map((d) => ({ id: d.id, score: lexicalScore(question, d.content as string) }))
    const expected = scores.filter((s) => s.score > 0).sort((a, b) => b.score - a.score || a.id.localeCompare(b.id)).map((s) => s.id)
    expect(expected).toEqual(["d-capital", "d-rivers", "d-tokyo"])
    expect(live.summary?.final_state).toEqual({ query: question, answer: "Paris [d-capital].", citations: expected })

    // What the model saw: the instructions, then the question and the context block.
    expect(server.requests).toHaveLength(1)
    const [system, user] = messagesOf(server, 0)
    expect(system!.content).toContain("Cite the ids of the documents you used in square brackets")
    expect(system!.content).toContain("- \"reasoning\"")
    const byId = new Map(CORPUS.map((d) => [d.id, d.content as string]))
    expect(user!.content).toBe(`## question\n${question}\n\n## context\n${expected.map((id) => `[${id}] ${byId.get(id)}`).join("\n")}`)

    // The cassette: the retrieval (fused hits with excerpts), then the answer.
    const calls = live.checkpoints.flatMap((c) => c.calls ?? [])
    expect(calls.map((c) => c.name)).toEqual(["rag.retrieve", "lm.rag"])
    expect(calls[0]).toMatchObject({
      node: "qa",
      request: { query: question, stores: [{ provider: "sqlite_doc", path: "./kb.db" }], k: 5, scan_limit: 256 },
      response: { hits: expected.map((id, i) => ({ id, score: 1 / (61 + i), excerpt: byId.get(id) })) }
    })
    expect(calls[1]).toMatchObject({ node: "qa", request: { model: "test-model", signature: "question, context -> answer" }, response: { text: reply("Paris [d-capital].") } })

    await server.close()
    rmSync(join(dir, "kb.db"))
    rmSync(join(dir, "kb.db-wal"), { force: true })
    rmSync(join(dir, "kb.db-shm"), { force: true })
    const fork = await Effect.runPromise(Replay.fork(live.graph, live.runId, {}).pipe(Effect.provide(layer)))
    expect(fork.error).toBeUndefined()
    expect(fork.summary.final_state).toEqual(live.summary?.final_state)
    const replayed = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(fork.cfRunId)).pipe(Effect.provide(layer)))
    const same = (cps: ReadonlyArray<Checkpoint>) => cps.map((c) => ({ step: c.step, nodes: c.nodes, state: c.state, writes: c.writes, calls: c.calls }))
    expect(same(replayed)).toEqual(same(live.checkpoints))
    expect(server.requests).toHaveLength(1)
  })

  it("keeps the top k, breaks ties by id, scans at most scan_limit documents in store order, and caps each excerpt at 1500 characters", async () => {
    const long = `needle ${"é".repeat(3000)}`
    const dir = storeDir([
      { id: "z-tie", content: "needle" },
      { id: "a-tie", content: "needle" },
      { id: "long", content: long },
      { id: "best", content: "needle haystack" },
      { id: "late", content: "needle haystack haystack" }
    ])
    const server = await serve(reply("a"), reply("b"))
    const r = await runGraph(irOf({ k: 3, scan_limit: 4, api_base: server.url }), { query: "needle haystack" }, { file: join(dir, "graph.yaml") })
    expect(r.error).toBeUndefined()
    // `late` would rank first but lies past scan_limit; `a-tie`, `long` and `z-tie` tie at 0.5: by id.
    expect(r.summary?.final_state["citations"]).toEqual(["best", "a-tie", "long"])
    const context = messagesOf(server, 0)[1]!.content.split("## context\n")[1]!
    const lines = context.split("\n")
    expect(lines[2]).toBe(`[long] ${Array.from(long).slice(0, 1500).join("")}`)
    expect(Array.from(lines[2]!).length).toBe("[long] ".length + 1500)
    // The same question again ranks the same way.
    const again = await runGraph(irOf({ k: 3, scan_limit: 4, api_base: server.url }), { query: "needle haystack" }, { file: join(dir, "graph.yaml") })
    expect(messagesOf(server, 1)).toEqual(messagesOf(server, 0))
    expect(again.summary?.final_state["citations"]).toEqual(["best", "a-tie", "long"])
  })

  it("with no hit writes an empty answer and no citations, and asks no model", async () => {
    const dir = storeDir()
    const server = await serve(reply("never"))
    const r = await runGraph(irOf({ api_base: server.url }), { query: "quantum chromodynamics" }, { file: join(dir, "graph.yaml") })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toEqual({ query: "quantum chromodynamics", answer: "", citations: [] })
    expect(server.requests).toHaveLength(0)
    expect(r.checkpoints.flatMap((c) => c.calls ?? []).map((c) => [c.name, c.response])).toEqual([["rag.retrieve", { hits: [] }]])
  })

  it("fuses two bindings by reciprocal rank: an id both stores rank wins, then by 1/(60+rank)", async () => {
    const dir = tempDir()
    writeDocStore(join(dir, "a.db"), [{ id: "a1", content: "alpha beta gamma" }, { id: "shared", content: "alpha beta" }])
    writeDocStore(join(dir, "b.db"), [{ id: "b1", content: "alpha" }, { id: "shared", content: "alpha beta" }, { id: "b2", content: "beta" }])
    const server = await serve(reply("fused"))
    const stores = [{ provider: "sqlite_doc", path: "a.db" }, { provider: "sqlite_doc", path: "./b.db" }]
    const r = await runGraph(irOf({ stores, api_base: server.url, k: 3 }), { query: "alpha beta gamma" }, { file: join(dir, "graph.yaml") })
    expect(r.error).toBeUndefined()
    // a: a1 (1.5), shared (1.0). b: shared (1.0), b1 (0.5), b2 (0.5; after b1 by id).
    // shared: 1/62 + 1/61; a1: 1/61; b1: 1/62; b2: 1/63 (cut by k: 3).
    expect(r.summary?.final_state["citations"]).toEqual(["shared", "a1", "b1"])
    const hits = (r.checkpoints.flatMap((c) => c.calls ?? [])[0]!.response as { hits: Array<{ id: string; score: number }> }).hits
    expect(hits.map((h) => h.score)).toEqual([1 / 62 + 1 / 61, 1 / 61, 1 / 62])
  })

  it("stub: true retrieves from the store and answers offline", async () => {
    const dir = storeDir()
    const r = await runGraph(irOf({ stub: true, input: "question" }, { question: str, answer: str, citations: { type: "array" } }), { question: "capital of Japan" }, { file: join(dir, "graph.yaml") })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toMatchObject({ answer: "stub-answer", citations: ["d-tokyo", "d-capital", "d-rivers"] })
    expect(r.checkpoints.flatMap((c) => c.calls ?? []).map((c) => c.name)).toEqual(["rag.retrieve"])
  })

  it("resolves a store path against the graph file's folder", async () => {
    const dir = storeDir()
    const file = join(dir, "graph.yaml")
    writeFileSync(file, JSON.stringify(irOf({ stub: true })))
    const r = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(file)
      return yield* Effect.flatMap(graph.start({ inputs: { query: "baguette" } }), (h) => h.start())
    }).pipe(Effect.provide(dbLayer())))
    expect(r.final_state).toMatchObject({ citations: ["d-bread"] })
  })
})

describe("a store gone after the build", () => {
  it("fails the live run with a NodeExecutionError (RagStoreError), not a crash", async () => {
    const dir = storeDir()
    const r = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(irOf({ stub: true }), { file: join(dir, "graph.yaml") })
      rmSync(join(dir, "kb.db"))
      const handle = yield* graph.start({ inputs: { query: "Paris" } })
      return yield* Effect.either(handle.start())
    }).pipe(Effect.provide(dbLayer())))
    expect(Either.isLeft(r)).toBe(true)
    const error = Either.isLeft(r) ? (r.left as StargraphError) : undefined
    expect(error).toMatchObject({ _tag: "NodeExecutionError", nodeId: "qa", errorTag: "RagStoreError" })
    expect((error as { cause: string }).cause).toContain("rag could not read its store")
  })
})

describe("rag configs refused when the graph is built", () => {
  it("a missing store file, or one without the documents table, names the path and the fix", async () => {
    const dir = tempDir()
    const missing = await buildError(irOf({}), dir)
    expect(missing.path).toBe("nodes[0].config.stores[0].path")
    expect(missing.message).toContain(`sqlite_doc store './kb.db': there is no file at ${join(dir, "kb.db")}`)
    expect(missing.fix).toContain("SQLiteDocStore")
    writeFileSync(join(dir, "kb.db"), "not a database at all, just text")
    expect((await buildError(irOf({}), dir)).message).toContain("cannot be read as SQLite")
    rmSync(join(dir, "kb.db"))
    const Database = (await import("better-sqlite3")).default
    const db = new Database(join(dir, "kb.db"))
    db.exec("CREATE TABLE notes (id TEXT)")
    db.close()
    expect((await buildError(irOf({}), dir)).message).toContain("has no 'documents' table")
  })

  it("a write to a field of the wrong type or undeclared: the fix says how to declare it (rag's outputs are fixed: no signature to change)", async () => {
    const dir = storeDir()
    const wrongType = await buildError(irOf({}, { ...fields, citations: str }), dir)
    expect(wrongType.message).toContain("writes a list[str] to state field 'citations', declared string")
    expect(wrongType.fix).toBe("declare 'citations' with a type that holds a list[str] (this kind's outputs are fixed)")
    const { answer: _answer, ...noAnswer } = fields
    expect((await buildError(irOf({}, noAnswer), dir)).fix).toBe("declare 'answer' in the state schema (this kind always writes it)")
  })

  it("refuses lancedb, an unknown provider, k or scan_limit out of range, unknown keys, and undeclared fields", async () => {
    const dir = storeDir()
    const lance = await buildError(irOf({ stores: [{ provider: "lancedb", path: "./idx", table_name: "vectors" }] }), dir)
    expect(lance.path).toBe("nodes[0].config.stores[0].provider")
    expect(lance.message).toContain("lancedb store is not shipped")
    const unknown = await buildError(irOf({ stores: [{ provider: "chroma", path: "./kb.db" }] }), dir)
    expect(unknown.message).toContain("unknown store provider 'chroma'")
    expect(unknown.fix).toContain("sqlite_doc")
    for (const [k, fix] of [[0, "set k to an integer from 1 to 50"], [51, "set k to an integer from 1 to 50"], [2.5, "use an integer"]] as const) {
      const e = await buildError(irOf({ k }), dir)
      expect([e.path, e.fix]).toEqual(["nodes[0].config.k", fix])
    }
    const scan = await buildError(irOf({ scan_limit: 10_001 }), dir)
    expect([scan.path, scan.message, scan.fix]).toEqual(["nodes[0].config.scan_limit", "scan_limit must be an integer from 1 to 10000", "set scan_limit to an integer from 1 to 10000"])
    expect((await buildError(irOf({ topk: 3 }), dir)).path).toBe("nodes[0].config.topk")
    expect((await buildError(irOf({ stores: [{ provider: "sqlite_doc", path: "./kb.db", kind: "x" }] }), dir)).path).toBe("nodes[0].config.stores[0].kind")
    expect((await buildError(irOf({ stores: [] }), dir)).path).toBe("nodes[0].config.stores")
    expect((await buildError({ ...irOf({}), nodes: [{ id: "qa", kind: "rag" }] }, dir)).message).toContain("rag needs config.stores")
    const noQuery = await buildError(irOf({}, { question: str, answer: str, citations: { type: "array" } }), dir)
    expect(noQuery.message).toContain("rag reads state field 'query' by default")
    expect((await buildError(irOf({}, { query: str, answer: str }), dir)).message).toContain("rag writes state field 'citations', which is not declared")
    expect((await buildError(irOf({ query: "query", input: "query" }), dir)).path).toBe("nodes[0].config.input")
  })
})
