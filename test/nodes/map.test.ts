import { spawn } from "node:child_process"
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { ROOT, runIdOf, type RunningCli, startStargraph, stargraph, tempDir } from "../helpers/cli.js"

const FIXTURES = join(ROOT, "test", "fixtures", "map")

/** A copy of the fixtures folder (tests edit or crash in it). */
const fixtures = () => {
  const dir = tempDir()
  cpSync(FIXTURES, dir, { recursive: true })
  return dir
}

/** A run's summary, or its error: the run's record then says how it ended. */
const ended = <A>(effect: Effect.Effect<A, unknown, Checkpointer>) => Effect.either(effect)

const setup = (file: string, db = join(tempDir(), "runs.sqlite")) => {
  const layer = SqliteCheckpointer.layer({ filename: db })
  const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
  const graph = Effect.runPromise(Graph.load(file))
  const runs = () => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 1000 })), (page) => page.runs))
  const checkpoints = (runId: string) => run(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runId)))
  const record = (runId: string) => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)), Option.getOrThrow))
  return { db, layer, run, graph, runs, checkpoints, record }
}

const buildError = async (file: string) => {
  const result = await Effect.runPromise(Effect.either(Graph.load(file)))
  if (Either.isRight(result)) throw new Error("expected the graph to be refused")
  return result.left
}

const peak = globalThis as unknown as { __mapRunning?: number; __mapPeak?: number }

/** Documents whose children finish in reverse order: the first sleeps longest. */
const documents = (n: number, ms = 40) => Array.from({ length: n }, (_, i) => ({ text: `d${i}`, ms: (n - i) * ms }))


type RunRow = { run_id: string; graph_id: string; status: string; parent_run_id: string | null; item: string | undefined }

/** Every run of `db` (read as another process would), oldest first, with the item a map child runs for. */
const runsIn = (db: string): Array<RunRow> => {
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  try {
    const rows = conn.prepare("SELECT run_id, graph_id, status, parent_run_id, inputs FROM runs_history ORDER BY rowid").all() as Array<Omit<RunRow, "item"> & { inputs: string }>
    return rows.map(({ inputs, ...r }) => ({ ...r, item: (JSON.parse(inputs) as { document?: { text: string } }).document?.text }))
  } finally {
    conn.close()
  }
}

/** The map children of run `parentId`, by item. */
const mapChildren = (db: string, parentId: string) => runsIn(db).filter((r) => r.parent_run_id === parentId && r.graph_id === "map:score_one").sort((a, b) => String(a.item).localeCompare(String(b.item)))

/** Wait until `ready` holds of `db`'s runs (polling), then kill `proc` -9 once a little more has passed. */
const killWhen = async (proc: RunningCli, db: string, ready: (runs: Array<RunRow>) => boolean) => {
  let seen = false
  for (let i = 0; i < 600 && !seen; i++) {
    await new Promise((r) => setTimeout(r, 25))
    try {
      seen = existsSync(db) && ready(runsIn(db))
    } catch {
      // not created yet
    }
  }
  await new Promise((r) => setTimeout(r, 200))
  proc.child.kill("SIGKILL")
  expect([(await proc.done).signal, proc.stderr()]).toEqual(["SIGKILL", ""])
}

/** Two map children of `parentId` done and two running: the process is inside the map step. */
const midMap = (parentId: (runs: Array<RunRow>) => string | undefined) => (runs: Array<RunRow>) => {
  const id = parentId(runs)
  const children = runs.filter((r) => id !== undefined && r.parent_run_id === id && r.graph_id === "map:score_one")
  return children.length === 4 && children.filter((r) => r.status === "done").length === 2
}

/** The lines of an item log: the items scored, sorted. */
const scored = (log: string) => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean).sort() : [])

/** The recorded `map` call of `runId`'s step `step`: its response. */
const mapResponse = (db: string, runId: string, step: number) => {
  const conn = new Database(db, { readonly: true })
  try {
    const row = conn.prepare("SELECT calls FROM checkpoints WHERE run_id = ? AND step = ?").get(runId, step) as { calls: string }
    return (JSON.parse(row.calls) as Array<{ name: string; response: { results: Array<string>; run_ids: Array<string> } }>).find((c) => c.name === "map")!.response
  } finally {
    conn.close()
  }
}

describe("map nodes", () => {
  it("run one linked child run per item, at most `concurrency` at once, and collect the results in item order whatever order they finished in", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    peak.__mapPeak = 0
    const summary = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "cves", documents: documents(5) } }), (r) => r.start()))
    expect(summary.status).toBe("done")
    expect(summary.final_state).toEqual({
      topic: "cves",
      documents: documents(5),
      scores: ["cves/d0!", "cves/d1!", "cves/d2!", "cves/d3!", "cves/d4!"],
      report: "cves: done"
    })
    // Two at a time (concurrency: 2), and they did overlap.
    expect(peak.__mapPeak).toBe(2)
    const children = (await t.runs()).filter((r) => r.run_id !== summary.run_id)
    expect(children).toHaveLength(5)
    for (const child of children) {
      expect(child).toMatchObject({ graph_id: "map:score_one", status: "done", parent_run_id: summary.run_id, fork_step: 2 })
      expect((await t.checkpoints(child.run_id)).map((c) => c.step)).toEqual([0, 1, 2])
    }
    // The children finished out of order (the last item first).
    const finished = [...children].sort((a, b) => String(a.finished_at).localeCompare(String(b.finished_at)))
    const itemOf = async (runId: string) => ((await t.checkpoints(runId))[0]!.state["document"] as { text: string }).text
    expect(await itemOf(finished[0]!.run_id)).not.toBe("d0")
  })

  it("an item the child's schema refuses fails the step before any child run starts, naming the item", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    peak.__mapPeak = 0
    const started = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "t", documents: [{ text: "fine" }, "not an object", { text: "also fine" }] } }), (h) => Effect.map(ended(h.start()), (e) => ({ e, id: h.runId }))))
    expect(Either.isLeft(started.e) && started.e.left).toMatchObject({ _tag: "StateValidationError", field: "documents.1", nodeId: "score_all" })
    const summary = await t.record(started.id)
    expect(summary.status).toBe("failed")
    expect(summary.error?.message).toMatch(/map node 'score_all': item 1 of 'documents' does not fit child graph 'map:score_one'/)
    // No child ran, none was created.
    expect(peak.__mapPeak).toBe(0)
    expect(await t.runs()).toHaveLength(1)
  })

  it("a child that ends without the result field fails the step naming the item (not a null result)", async () => {
    const dir = fixtures()
    writeFileSync(join(dir, "silent_one.yaml"), [
      `ir_version: "1.0.0"`,
      `id: map:silent_one`,
      `state_schema:`,
      `  fields:`,
      `    document: { type: object, required: true }`,
      `    verdict: { type: string }`,
      `nodes:`,
      `  - { id: look, kind: noop }`,
      ``
    ].join("\n"))
    writeFileSync(join(dir, "silent.yaml"), readFileSync(join(dir, "parent.yaml"), "utf8").replace("./score_one.yaml", "./silent_one.yaml").replace("result: score", "result: verdict").replace("inputs: { topic: topic }", "inputs: {}"))
    const t = setup(join(dir, "silent.yaml"))
    const graph = await t.graph
    const runId = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "t", documents: [{ text: "a" }] } }), (h) => Effect.as(ended(h.start()), h.runId)))
    const summary = await t.record(runId)
    expect(summary.status).toBe("failed")
    expect(summary.error?.message).toMatch(/item 0: child run \S+ ended without 'verdict' \(config.result\); a missing result is not read as null/)
  })

  it("a child past the max_steps its map node set is told to raise that config.max_steps, not the IR's", async () => {
    const dir = fixtures()
    writeFileSync(join(dir, "short.yaml"), readFileSync(join(dir, "parent.yaml"), "utf8").replace("concurrency: 2", "concurrency: 2\n      max_steps: 1"))
    const t = setup(join(dir, "short.yaml"))
    const runId = await t.run(Effect.flatMap((await t.graph).start({ inputs: { topic: "t", documents: [{ text: "a" }] } }), (h) => Effect.as(ended(h.start()), h.runId)))
    const summary = await t.record(runId)
    expect(summary.status).toBe("failed")
    expect(summary.error?.message).toContain("the run exceeded max_steps (1)")
    expect(summary.error?.message).toContain("raise config.max_steps of the parent graph's node that runs this graph")
    expect(summary.error?.message).not.toContain("max_steps in the IR")
  })

  it("an empty list writes [] and starts no child run", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    const summary = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "none", documents: [] } }), (r) => r.start()))
    expect(summary).toMatchObject({ status: "done", final_state: { scores: [], report: "none: done" } })
    expect(await t.runs()).toHaveLength(1)
  })

  it("a replay of the run is exact: the same steps and final state, served from the recording without a child run", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "cves", documents: documents(4, 5) } }), (r) => r.start()))
    expect(first.status).toBe("done")
    expect(await t.runs()).toHaveLength(5)
    const fork = await t.run(Replay.fork(graph, first.run_id, {}))
    expect(fork.summary).toMatchObject({ status: "done", final_state: first.final_state })
    expect(fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    const strip = (cps: ReadonlyArray<{ step: number; nodes: ReadonlyArray<string>; state: unknown; writes?: unknown }>) => cps.map((c) => [c.step, c.nodes, c.state, c.writes])
    expect(strip(await t.checkpoints(fork.cfRunId))).toEqual(strip(await t.checkpoints(first.run_id)))
    // No child run was made by the replay.
    expect((await t.runs()).filter((r) => r.parent_run_id === fork.cfRunId)).toEqual([])
    expect(await t.runs()).toHaveLength(6)

    // A fork whose items' inputs changed diverges; with live_after_fork its map runs live, under the fork.
    const diverged = await t.run(Replay.fork(graph, first.run_id, { fromStep: 1, mutation: { state_overrides: { topic: "memes" } } }))
    expect(diverged.error).toMatchObject({ _tag: "ReplayDivergenceError", nodeId: "score_all", call: "map" })
    const live = await t.run(Replay.fork(graph, first.run_id, { fromStep: 1, mutation: { state_overrides: { topic: "memes" } }, liveAfterFork: true }))
    expect(live.summary).toMatchObject({ status: "done", final_state: { scores: ["memes/d0!", "memes/d1!", "memes/d2!", "memes/d3!"] } })
    expect((await t.runs()).filter((r) => r.parent_run_id === live.cfRunId)).toHaveLength(4)
    // The CLI's replay too.
    const cli = await stargraph(["replay", first.run_id, "--db", t.db])
    expect([cli.code, cli.stderr]).toEqual([0, ""])
    expect((await t.runs()).filter((r) => r.graph_id === "map:score_one")).toHaveLength(8)
  })

  it("a child that fails fails the step with NodeExecutionError naming the item and its child run; once one asks for input, no further item starts", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    const docs = [{ text: "ok", ms: 1 }, { text: "bad", ms: 1 }, { text: "fine", ms: 1 }]
    const started = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "t", documents: docs } }), (r) => Effect.map(ended(r.start()), (e) => ({ e, id: r.runId }))))
    expect(Either.isLeft(started.e) && started.e.left).toMatchObject({ _tag: "NodeExecutionError", nodeId: "score_all", step: 2 })
    const summary = await t.record(started.id)
    expect(summary.status).toBe("failed")
    expect(summary.error?.type).toBe("NodeExecutionError")
    const bad = (await t.runs()).find((r) => r.status === "failed" && r.graph_id === "map:score_one")!
    expect((await t.checkpoints(bad.run_id))[0]!.state["document"]).toEqual({ text: "bad", ms: 1 })
    expect(summary.error?.message).toContain(`item 1: child run ${bad.run_id}`)
    expect(summary.error?.message).toContain("node 'score_all'")
    // The other items' children ran to their end.
    expect((await t.runs()).filter((r) => r.graph_id === "map:score_one").map((r) => r.status).sort()).toEqual(["done", "done", "failed"])

    const a = setup(join(FIXTURES, "ask_parent.yaml"))
    const askingId = await a.run(Effect.flatMap((await a.graph).start({ inputs: { documents: [{ text: "x" }] } }), (r) => Effect.as(ended(r.start()), r.runId)))
    const asking = await a.record(askingId)
    // The parent waits for the child's question (see mapInterrupt.test.ts).
    expect(asking).toMatchObject({ status: "awaiting-input", error: null, waiting: { node: "score_all", prompt: "score it?", payload: { item: 0, child_node: "ask" } } })
    // One at a time: once item 0 asked, the other items are not started.
    const dir = fixtures()
    writeFileSync(join(dir, "ask_one_by_one.yaml"), readFileSync(join(dir, "ask_parent.yaml"), "utf8").replace("output: scores }", "output: scores, concurrency: 1 }"))
    const o = setup(join(dir, "ask_one_by_one.yaml"))
    const oneId = await o.run(Effect.flatMap((await o.graph).start({ inputs: { documents: [{ text: "x" }, { text: "y" }, { text: "z" }] } }), (r) => Effect.as(ended(r.start()), r.runId)))
    expect((await o.record(oneId)).status).toBe("awaiting-input")
    expect((await o.runs()).filter((r) => r.run_id !== oneId)).toHaveLength(1)
  })

  it("refuse a list field that holds no list, or more than max_items items, naming the node and the field", async () => {
    const dir = fixtures()
    const t = setup(join(dir, "parent.yaml"))
    const graph = await t.graph
    expect((await t.run(Effect.flatMap(graph.start({ inputs: { topic: "t", documents: [] } }), (r) => r.start()))).status).toBe("done")
    // A state whose list field holds an object (an `any` typed copy of the parent).
    writeFileSync(join(dir, "loose.yaml"), readFileSync(join(dir, "parent.yaml"), "utf8").replace("documents: { type: array, default: [] }", "documents: { type: any }").replace("concurrency: 2", "concurrency: 2\n      max_items: 3"))
    const l = setup(join(dir, "loose.yaml"))
    const loose = await l.graph
    const object = await l.record(await l.run(Effect.flatMap(loose.start({ inputs: { topic: "t", documents: { text: "x" } } }), (r) => Effect.as(ended(r.start()), r.runId))))
    expect(object).toMatchObject({ status: "failed", error: { type: "StateValidationError" } })
    expect(object.error?.message).toContain("map node 'score_all' runs over 'documents', which holds an object, not a list")
    const many = await l.record(await l.run(Effect.flatMap(loose.start({ inputs: { topic: "t", documents: documents(4, 1) } }), (r) => Effect.as(ended(r.start()), r.runId))))
    expect(many).toMatchObject({ status: "failed", error: { type: "StateValidationError" } })
    expect(many.error?.message).toContain("holds 4 items, more than max_items (3)")
    expect((await l.runs()).filter((r) => r.graph_id === "map:score_one")).toEqual([])
  })

  it("refuse bad config at build: fields that are not declared lists, undeclared child fields, unknown keys, out-of-range numbers", async () => {
    const dir = fixtures()
    const base = readFileSync(join(dir, "parent.yaml"), "utf8")
    const variant = async (name: string, from: string, to: string) => {
      expect(base).toContain(from)
      writeFileSync(join(dir, name), base.replace(from, to))
      return buildError(join(dir, name))
    }
    expect(await variant("a.yaml", "over: documents", "over: topic")).toMatchObject({ _tag: "IRValidationError", path: "nodes[1].config.over", message: expect.stringContaining("of type string, not a list") })
    expect(await variant("b.yaml", "output: scores", "output: nowhere")).toMatchObject({ path: "nodes[1].config.output", message: expect.stringContaining("undeclared parent field 'nowhere'") })
    expect(await variant("c.yaml", "item: document", "item: doc")).toMatchObject({ path: "nodes[1].config.item", message: expect.stringContaining("child field 'doc', which graph 'map:score_one' does not declare") })
    expect(await variant("d.yaml", "result: score", "result: grade")).toMatchObject({ path: "nodes[1].config.result", fix: expect.stringContaining("document, topic, score") })
    expect(await variant("e.yaml", "concurrency: 2", "concurrency: 2\n      parallel: 3")).toMatchObject({ _tag: "IRValidationError", path: "nodes[1].config.parallel", message: expect.stringContaining("unexpected") })
    expect(await variant("f.yaml", "concurrency: 2", "concurrency: 65")).toMatchObject({ _tag: "IRValidationError", path: "nodes[1].config.concurrency", message: expect.stringContaining("between 1 and 64") })
    expect(await variant("g.yaml", "concurrency: 2", "max_items: 0")).toMatchObject({ _tag: "IRValidationError", path: "nodes[1].config.max_items" })
    expect(await variant("h.yaml", "inputs: { topic: topic }", "inputs: { document: topic }")).toMatchObject({ path: "nodes[1].config.inputs.document" })
    expect(await variant("i.yaml", "inputs: { topic: topic }", "inputs: { topic: subject }")).toMatchObject({ path: "nodes[1].config.inputs.topic", message: expect.stringContaining("undeclared parent field 'subject'") })
  })

  it("a kill -9 mid-map, resumed, keeps the finished children, continues the unfinished ones and starts the rest: each item's child run once", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    const log = join(dir, "scored.log")
    // Two quick items, two slow ones (running when the process is killed), two not started yet.
    const docs = [100, 100, 4000, 4000, 100, 100].map((ms, i) => ({ text: `d${i}`, ms }))
    const proc = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), "run", join(dir, "parent.yaml"), "--db", db, "--inputs", JSON.stringify({ topic: "crash", documents: docs }), "--quiet"], {
      stdio: "ignore",
      env: { ...process.env, MAP_LOG: log }
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on("exit", (_code, signal) => resolve(signal)))
    type Row = { run_id: string; graph_id: string; status: string; item: string }
    const children = (): Array<Row> => {
      const conn = new Database(db, { readonly: true, fileMustExist: true })
      try {
        const rows = conn.prepare("SELECT run_id, graph_id, status, inputs FROM runs_history WHERE graph_id = 'map:score_one'").all() as Array<{ run_id: string; graph_id: string; status: string; inputs: string }>
        return rows.map(({ inputs, ...r }) => ({ ...r, item: (JSON.parse(inputs) as { document: { text: string } }).document.text })).sort((a, b) => a.item.localeCompare(b.item))
      } finally {
        conn.close()
      }
    }
    let seen: Array<Row> = []
    for (let i = 0; i < 400 && !(seen.length === 4 && seen.filter((r) => r.status === "done").length === 2); i++) {
      await new Promise((r) => setTimeout(r, 25))
      try {
        seen = existsSync(db) ? children() : []
      } catch {
        // not created yet
      }
    }
    await new Promise((r) => setTimeout(r, 200))
    proc.kill("SIGKILL")
    expect(await exited).toBe("SIGKILL")
    const before = children()
    // The finished children's ends are durable; the slow ones were running; the last two not started.
    expect(before.map((r) => [r.item, r.status])).toEqual([["d0", "done"], ["d1", "done"], ["d2", "running"], ["d3", "running"]])
    expect(readFileSync(log, "utf8").split("\n").filter(Boolean).sort()).toEqual(["d0", "d1"])
    const parentId = (() => {
      const conn = new Database(db, { readonly: true })
      try {
        return (conn.prepare("SELECT run_id FROM runs_history WHERE graph_id = 'map:parent'").get() as { run_id: string }).run_id
      } finally {
        conn.close()
      }
    })()

    const resumed = await stargraph(["resume", parentId, "--db", db, "--quiet"], { env: { MAP_LOG: log, MAP_SLOW: "0.01" } })
    expect(resumed.stderr).toBe("")
    expect(resumed.last).toBe(`run_id=${parentId} status=done`)
    const after = children()
    // Each item's child run once: the same runs as before the crash, and one each for the items not reached.
    expect(after.map((r) => [r.item, r.status])).toEqual(docs.map((d) => [d.text, "done"]))
    expect(after.slice(0, 4).map((r) => r.run_id)).toEqual(before.map((r) => r.run_id))
    // Every item scored once: the finished ones were not run again.
    expect(readFileSync(log, "utf8").split("\n").filter(Boolean).sort()).toEqual(docs.map((d) => d.text))
    const conn = new Database(db, { readonly: true })
    const final = JSON.parse((conn.prepare("SELECT state FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1").get(parentId) as { state: string }).state) as { scores: Array<string> }
    const steps = after.map((r) => (conn.prepare("SELECT step FROM checkpoints WHERE run_id = ? ORDER BY step").all(r.run_id) as Array<{ step: number }>).map((c) => c.step))
    conn.close()
    expect(final.scores).toEqual(docs.map((d) => `crash/${d.text}!`))
    expect(steps).toEqual(docs.map(() => [0, 1, 2]))
  })

  it("cancelling a parent killed mid-map cancels its unfinished map children (found by item); finished ones stay done", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    const docs = [50, 5000, 5000, 5000].map((ms, i) => ({ text: `d${i}`, ms }))
    const proc = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), "run", join(dir, "parent.yaml"), "--db", db, "--inputs", JSON.stringify({ topic: "stop", documents: docs }), "--quiet"], { stdio: "ignore" })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on("exit", (_code, signal) => resolve(signal)))
    const rows = (): Array<{ run_id: string; graph_id: string; status: string }> => {
      const conn = new Database(db, { readonly: true, fileMustExist: true })
      try {
        return conn.prepare("SELECT run_id, graph_id, status FROM runs_history ORDER BY created_at").all() as Array<{ run_id: string; graph_id: string; status: string }>
      } finally {
        conn.close()
      }
    }
    let seen: ReturnType<typeof rows> = []
    for (let i = 0; i < 400 && seen.filter((r) => r.graph_id === "map:score_one").length < 3; i++) {
      await new Promise((r) => setTimeout(r, 25))
      try {
        seen = existsSync(db) ? rows() : []
      } catch {
        // not created yet
      }
    }
    await new Promise((r) => setTimeout(r, 200))
    proc.kill("SIGKILL")
    expect(await exited).toBe("SIGKILL")
    const parent = rows().find((r) => r.graph_id === "map:parent")!
    expect(rows().filter((r) => r.graph_id === "map:score_one").map((r) => r.status)).toEqual(["done", "running", "running"])
    const cancelled = await stargraph(["cancel", parent.run_id, "--db", db])
    expect([cancelled.code, cancelled.stderr]).toEqual([0, ""])
    expect(rows().map((r) => [r.graph_id, r.status])).toEqual([["map:parent", "cancelled"], ["map:score_one", "done"], ["map:score_one", "cancelled"], ["map:score_one", "cancelled"]])
  })

  it("a parent interrupted mid-map (paused) leaves its running children paused; an edit is refused; resumed, each item's child run continues once", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    const docs = [20, 20, 1500, 1500, 20].map((ms, i) => ({ text: `d${i}`, ms }))
    const children = () => t.run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 100 })), (page) => page.runs.filter((r) => r.graph_id === "map:score_one")))
    const out = await t.run(Effect.gen(function*() {
      const handle = yield* graph.start({ inputs: { topic: "p", documents: docs } })
      const fiber = yield* Effect.fork(handle.start())
      for (let i = 0; i < 400; i++) {
        yield* Effect.sleep(10)
        const seen = yield* Effect.promise(children)
        if (seen.length === 4) break
      }
      // Interrupted inside the step (a caller's timeout, a closed scope): paused, not cancelled.
      const paused = yield* Fiber.interrupt(fiber)
      return { runId: handle.runId, paused }
    }))
    expect(out.paused._tag).toBe("Failure")
    expect((await t.record(out.runId)).status).toBe("paused")
    const before = (await children()).map((r) => [r.run_id, r.status]).sort()
    expect(before.map(([, status]) => status).sort()).toEqual(["done", "done", "paused", "paused"])
    const edit = await t.run(Effect.either(graph.updateState(out.runId, { topic: "edited" })))
    expect(Either.isLeft(edit) && edit.left).toMatchObject({ _tag: "RunStateError", message: expect.stringContaining("whose map node 'score_all' started child run") })
    const done = await t.run(Effect.flatMap(graph.resume(out.runId), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { scores: docs.map((d) => `p/${d.text}!`) } })
    const after = await children()
    expect(after).toHaveLength(5)
    expect(after.every((r) => r.status === "done")).toBe(true)
    expect(before.every(([id]) => after.some((r) => r.run_id === id))).toBe(true)
  })
  it("a replay fork (no mutation, live_after_fork) of a parent killed mid-map, killed mid-map itself, resumed after the parent finished: it continues its own children, each item's child once", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    const [parentLog, forkLog] = [join(dir, "parent.log"), join(dir, "fork.log")]
    const docs = [100, 100, 4000, 4000, 100, 100].map((ms, i) => ({ text: `d${i}`, ms }))
    const parentOf = (runs: Array<RunRow>) => runs.find((r) => r.graph_id === "map:parent")?.run_id
    const run = startStargraph(["run", join(dir, "parent.yaml"), "--db", db, "--inputs", JSON.stringify({ topic: "cf", documents: docs }), "--quiet"], { env: { MAP_LOG: parentLog } })
    await killWhen(run, db, midMap(parentOf))
    const parentId = parentOf(runsIn(db))!
    // The fork's recording ends inside the map step: it runs its map live, under itself.
    const replay = startStargraph(["replay", parentId, "--db", db, "--live-after-fork", "--quiet"], { env: { MAP_LOG: forkLog } })
    const forkOf = (runs: Array<RunRow>) => runs.find((r) => r.run_id.startsWith("cf-"))?.run_id
    await killWhen(replay, db, midMap(forkOf))
    const forkId = forkOf(runsIn(db))!
    const before = mapChildren(db, forkId)
    expect(before.map((r) => [r.item, r.status])).toEqual([["d0", "done"], ["d1", "done"], ["d2", "running"], ["d3", "running"]])
    expect(scored(forkLog)).toEqual(["d0", "d1"])

    // The parent finishes meanwhile: its recording now answers the map step with the same request.
    const parentDone = await stargraph(["resume", parentId, "--db", db, "--quiet"], { env: { MAP_LOG: parentLog, MAP_SLOW: "0.01" } })
    expect([parentDone.stderr, parentDone.last]).toEqual(["", `run_id=${parentId} status=done`])
    // Resumed, the fork goes on with its own children, not the parent's recorded ones.
    const resumed = await stargraph(["resume", forkId, "--db", db, "--quiet"], { env: { MAP_LOG: forkLog, MAP_SLOW: "0.01" } })
    expect([resumed.stderr, resumed.last]).toEqual(["", `run_id=${forkId} status=done`])
    const after = mapChildren(db, forkId)
    expect(after.map((r) => [r.item, r.status])).toEqual(docs.map((d) => [d.text, "done"]))
    expect(after.slice(0, 4).map((r) => r.run_id)).toEqual(before.map((r) => r.run_id))
    expect(scored(forkLog)).toEqual(docs.map((d) => d.text))
    // The fork's map step names its own children, in item order.
    expect(mapResponse(db, forkId, 2)).toEqual({ results: docs.map((d) => `cf/${d.text}!`), run_ids: after.map((r) => r.run_id) })
    expect(runsIn(db).filter((r) => r.status !== "done")).toEqual([])
  })

  it("a live_after_fork fork with a changed input, killed mid-map, resumed: each item's child run once, under the fork, with the fork's input", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    const forkLog = join(dir, "fork.log")
    const docs = [100, 100, 4000, 4000, 100, 100].map((ms, i) => ({ text: `d${i}`, ms }))
    const first = await stargraph(["run", join(dir, "parent.yaml"), "--db", db, "--inputs", JSON.stringify({ topic: "old", documents: docs }), "--quiet"], { env: { MAP_SLOW: "0.01" } })
    const parentId = /run_id=(\S+) status=done/.exec(first.last)![1]!
    const mutation = JSON.stringify({ state_overrides: { topic: "new" } })
    const replay = startStargraph(["replay", parentId, "--db", db, "--from-step", "1", "--mutation", mutation, "--live-after-fork", "--quiet"], { env: { MAP_LOG: forkLog } })
    const forkOf = (runs: Array<RunRow>) => runs.find((r) => r.run_id.startsWith("cf-"))?.run_id
    await killWhen(replay, db, midMap(forkOf))
    const forkId = forkOf(runsIn(db))!
    const before = mapChildren(db, forkId)
    expect(before.map((r) => [r.item, r.status])).toEqual([["d0", "done"], ["d1", "done"], ["d2", "running"], ["d3", "running"]])
    const resumed = await stargraph(["resume", forkId, "--db", db, "--quiet"], { env: { MAP_LOG: forkLog, MAP_SLOW: "0.01" } })
    expect([resumed.stderr, resumed.last]).toEqual(["", `run_id=${forkId} status=done`])
    const after = mapChildren(db, forkId)
    expect(after.map((r) => [r.item, r.status])).toEqual(docs.map((d) => [d.text, "done"]))
    expect(after.slice(0, 4).map((r) => r.run_id)).toEqual(before.map((r) => r.run_id))
    expect(scored(forkLog)).toEqual(docs.map((d) => d.text))
    expect(mapResponse(db, forkId, 2)).toEqual({ results: docs.map((d) => `new/${d.text}!`), run_ids: after.map((r) => r.run_id) })
    // The parent's children are the parent's: six, untouched.
    expect(mapChildren(db, parentId).map((r) => r.status)).toEqual(docs.map(() => "done"))
    expect(runsIn(db).filter((r) => r.status !== "done")).toEqual([])
  })
  it("stargraph cancel of a parent a live `stargraph run` drives inside its map step: that process cancels it and its running children; finished ones stay done, no further item starts", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    const log = join(dir, "scored.log")
    const docs = [100, 100, 8000, 8000, 100, 100].map((ms, i) => ({ text: `d${i}`, ms }))
    const parentOf = (runs: Array<RunRow>) => runs.find((r) => r.graph_id === "map:parent")?.run_id
    const run = startStargraph(["run", join(dir, "parent.yaml"), "--db", db, "--inputs", JSON.stringify({ topic: "stop", documents: docs }), "--quiet"], { env: { MAP_LOG: log } })
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 25))
      try {
        if (existsSync(db) && midMap(parentOf)(runsIn(db))) break
      } catch {
        // not created yet
      }
    }
    const parentId = parentOf(runsIn(db))!
    const cancelled = await stargraph(["cancel", parentId, "--db", db])
    expect([cancelled.code, cancelled.last]).toEqual([0, `run_id=${parentId} status=cancelled`])
    expect(cancelled.stderr).toContain("asked it to cancel the run through its record")
    // The driving process ends the run cancelled (exit 1), long before the slow items would have finished.
    const ended = await run.done
    expect([ended.code, ended.last]).toEqual([1, `run_id=${parentId} status=cancelled`])
    expect(runsIn(db).map((r) => [r.graph_id, r.item, r.status])).toEqual([
      ["map:parent", undefined, "cancelled"],
      ["map:score_one", "d0", "done"],
      ["map:score_one", "d1", "done"],
      ["map:score_one", "d2", "cancelled"],
      ["map:score_one", "d3", "cancelled"]
    ])
    expect(scored(log)).toEqual(["d0", "d1"])
  })
  it("stargraph prune deletes a map parent with every item's child run, and keeps the children of a parent that stays, as a subgraph's child", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    const quick = (topic: string, docs: ReadonlyArray<{ text: string; ms: number }>) =>
      stargraph(["run", join(dir, "parent.yaml"), "--db", db, "--inputs", JSON.stringify({ topic, documents: docs }), "--quiet"])
    const done = runIdOf((await quick("a", documents(3, 1))).last)
    const failed = runIdOf((await quick("b", [{ text: "ok", ms: 1 }, { text: "bad", ms: 1 }, { text: "fine", ms: 1 }])).last)
    // A fork of the done run whose map ran live: its own children go with it.
    const fork = await stargraph(["replay", done, "--db", db, "--from-step", "1", "--mutation", JSON.stringify({ state_overrides: { topic: "f" } }), "--live-after-fork", "--quiet"])
    const forkId = runIdOf(fork.last)
    expect(fork.last).toBe(`run_id=${forkId} status=done`)
    // A parent killed mid-map stays (it is not ended): so do its finished children, however old.
    const docs = [50, 50, 5000, 5000].map((ms, i) => ({ text: `d${i}`, ms }))
    const killed = startStargraph(["run", join(dir, "parent.yaml"), "--db", db, "--inputs", JSON.stringify({ topic: "k", documents: docs }), "--quiet"])
    const stays = (runs: Array<RunRow>) => runs.find((r) => r.graph_id === "map:parent" && r.status === "running")?.run_id
    await killWhen(killed, db, midMap(stays))
    const stayingId = stays(runsIn(db))!
    expect([done, failed, forkId].map((id) => mapChildren(db, id).length)).toEqual([3, 3, 3])
    const staying = mapChildren(db, stayingId)
    expect(staying.map((r) => r.status)).toEqual(["done", "done", "running", "running"])

    const pruned = await stargraph(["prune", "--before", "0m", "--db", db, "--json"])
    expect([pruned.code, pruned.stderr]).toEqual([0, ""])
    const result = JSON.parse(pruned.stdout) as { runs: number; kept: number; run_ids: Array<string> }
    const gone = [done, failed, forkId]
    expect(result).toMatchObject({ runs: 12, kept: 2 })
    expect(runsIn(db).map((r) => r.run_id).sort()).toEqual([stayingId, ...staying.map((r) => r.run_id)].sort())
    expect(result.run_ids.every((id) => !runsIn(db).some((r) => r.run_id === id))).toBe(true)
    expect(gone.every((id) => result.run_ids.includes(id))).toBe(true)
    const conn = new Database(db, { readonly: true })
    const orphans = conn.prepare("SELECT count(*) AS n FROM checkpoints WHERE run_id NOT IN (SELECT run_id FROM runs_history)").get() as { n: number }
    conn.close()
    expect(orphans.n).toBe(0)
  })
})
