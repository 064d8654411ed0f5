import { spawn } from "node:child_process"
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { ROOT, stargraph, tempDir } from "../helpers/cli.js"

const FIXTURES = join(ROOT, "test", "fixtures", "map")

/** A copy of the fixtures folder (tests edit or crash in it). */
const fixtures = () => {
  const dir = tempDir()
  cpSync(FIXTURES, dir, { recursive: true })
  return dir
}

const setup = (file: string, db = join(tempDir(), "runs.sqlite")) => {
  const layer = SqliteCheckpointer.layer({ filename: db })
  const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
  const graph = Effect.runPromise(Graph.load(file))
  const runs = () => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 1000 })), (page) => page.runs))
  const checkpoints = (runId: string) => run(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runId)))
  const record = (runId: string) => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)), Option.getOrThrow))
  /** The map children of `parentId`, in item order (by the `#<index>` of their keys). */
  const children = async (parentId: string) =>
    (await runs()).filter((r) => r.parent_run_id === parentId && r.idempotency_key?.startsWith(`subgraph:${parentId}:`) === true).sort((a, b) => Number(/#(\d+)$/.exec(a.idempotency_key ?? "")?.[1]) - Number(/#(\d+)$/.exec(b.idempotency_key ?? "")?.[1]))
  return { db, layer, run, graph, runs, checkpoints, record, children }
}

describe("map nodes whose children ask for input", () => {
  it("two items both asking: the parent waits for item 0, then item 1, each answer reaching its own child; done with the results in item order, and a replay is exact without a child run", async () => {
    const t = setup(join(FIXTURES, "ask_typed_parent.yaml"))
    const graph = await t.graph
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { documents: ["a", "b"] } }), (r) => r.start()))
    const parentId = first.run_id
    const [c0, c1] = await t.children(parentId)
    // Both items started (concurrency 4) and both asked: the parent shows item 0's question.
    expect([c0?.status, c1?.status]).toEqual(["awaiting-input", "awaiting-input"])
    expect(first).toMatchObject({ status: "awaiting-input", error: null })
    expect(first.waiting).toMatchObject({ node: "score_all", step: 1, prompt: "Score it?", response_field: "", payload: { level: 2, item: 0, child_run_id: c0!.run_id, child_node: "ask" } })
    // The CLI's inspect names the item and its child run.
    const shown = await stargraph(["inspect", parentId, "--db", t.db])
    expect(shown.stdout).toMatch(/\n1 +score_all +awaiting-input +- +Score it\? {2}\(item 0 asks\)\n/)
    expect(shown.stdout).toContain(`↳ child run ${c0!.run_id}  graph map:ask_typed  status awaiting-input`)
    // Every item's child, the one not asked about yet too, in item order.
    expect(shown.lines.filter((l) => l.startsWith("      ↳"))).toEqual([c0!, c1!].map((c) => `      ↳ child run ${c.run_id}  graph map:ask_typed  status awaiting-input`))
    // The parent's wait writes no field of its own (as a subgraph node's): the child's wait names its field.
    expect((await t.record(c0!.run_id)).waiting).toMatchObject({ node: "ask", response_field: "score" })
    // A child names its map node and item; an edit of the waiting parent names them too.
    const child = await stargraph(["inspect", c1!.run_id, "--db", t.db])
    expect(child.lines).toContain(`child run of ${parentId} at step 1 (map node 'score_all', item 1)`)
    const edit = await stargraph(["update-state", parentId, "--db", t.db, "--set", "verdicts=[]"])
    expect([edit.code, edit.stderr]).toEqual([expect.any(Number), expect.stringContaining(`waits for its child run ${c0!.run_id} (map node 'score_all', item 0), whose step`)])

    const second = await t.run(Effect.flatMap(graph.resume(parentId, { response: { value: "good" } }), (r) => r.start()))
    // Item 0 is done with its answer; item 1's question surfaces next.
    expect((await t.record(c0!.run_id)).status).toBe("done")
    expect((await t.checkpoints(c0!.run_id)).at(-1)?.state).toEqual({ document: "a", score: "good", verdict: "a=good" })
    expect(second.status).toBe("awaiting-input")
    expect(second.waiting).toMatchObject({ node: "score_all", step: 1, prompt: "Score it?", payload: { item: 1, child_run_id: c1!.run_id, child_node: "ask" } })
    expect((await t.record(c1!.run_id)).status).toBe("awaiting-input")

    const third = await t.run(Effect.flatMap(graph.resume(parentId, { response: { value: "fine" } }), (r) => r.start()))
    expect(third).toMatchObject({ status: "done", final_state: { documents: ["a", "b"], verdicts: ["a=good", "b=fine"] } })
    // Each item's child run once, each done with its own answer.
    expect((await t.children(parentId)).map((r) => [r.run_id, r.status])).toEqual([[c0!.run_id, "done"], [c1!.run_id, "done"]])
    expect((await t.checkpoints(c1!.run_id)).at(-1)?.state).toEqual({ document: "b", score: "fine", verdict: "b=fine" })
    // One recorded `map` call, with the results and child runs in item order.
    const step1 = (await t.checkpoints(parentId)).find((c) => c.step === 1)!
    expect(step1.calls?.filter((c) => c.name === "map").map((c) => c.response)).toEqual([{ results: ["a=good", "b=fine"], run_ids: [c0!.run_id, c1!.run_id] }])
    expect(await t.runs()).toHaveLength(3)

    // A replay of the answered run: the same checkpoints (calls included), served from the
    // recording, and no child run made or driven.
    const childSteps = async () => Promise.all([c0!.run_id, c1!.run_id].map(async (id) => (await t.checkpoints(id)).length))
    const stepsBefore = await childSteps()
    const fork = await t.run(Replay.fork(graph, parentId, {}))
    expect(fork.summary).toMatchObject({ status: "done", final_state: third.final_state })
    expect(fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {}, fact_deltas: {} })
    const strip = (cps: ReadonlyArray<{ step: number; nodes: ReadonlyArray<string>; state: unknown; writes?: unknown; calls?: unknown }>) => cps.map((c) => [c.step, c.nodes, c.state, c.writes, c.calls])
    expect(strip(await t.checkpoints(fork.cfRunId))).toEqual(strip(await t.checkpoints(parentId)))
    expect(await t.runs()).toHaveLength(4)
    expect((await t.runs()).filter((r) => r.parent_run_id === fork.cfRunId)).toEqual([])
    expect(await childSteps()).toEqual(stepsBefore)
    // The CLI's replay too.
    const cli = await stargraph(["replay", parentId, "--db", t.db])
    expect([cli.code, cli.stderr]).toEqual([0, ""])
    expect(await t.runs()).toHaveLength(5)
  })

  it("an answer that does not fit the asking child's field is refused naming that field, the child and the item; nothing persisted changes", async () => {
    const t = setup(join(FIXTURES, "ask_typed_parent.yaml"))
    const graph = await t.graph
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { documents: ["a", "b"] } }), (r) => r.start()))
    const [c0, c1] = await t.children(first.run_id)
    const snapshot = async () => ({
      records: await Promise.all([first.run_id, c0!.run_id, c1!.run_id].map(t.record)),
      checkpoints: await Promise.all([first.run_id, c0!.run_id, c1!.run_id].map(t.checkpoints))
    })
    const before = await snapshot()
    // The child's `score` is a string: 5 does not fit it.
    const refused = await t.run(Effect.either(graph.resume(first.run_id, { response: { value: 5 } })))
    if (Either.isRight(refused)) throw new Error("expected the answer to be refused")
    expect(refused.left).toMatchObject({ _tag: "StateValidationError", source: "response", field: "score", nodeId: "ask" })
    expect(refused.left.message).toContain(`(the answer goes to child run ${c0!.run_id} of map node 'score_all' (item 0), which waits at its node 'ask')`)
    // So does `respond` on the CLI (exit 2), and the check on its own.
    const cli = await stargraph(["respond", first.run_id, "--db", t.db, "--response", "5"])
    expect(cli.code).toBe(2)
    expect(cli.stderr).toContain("StateValidationError")
    expect(cli.stderr).toContain(`child run ${c0!.run_id} of map node 'score_all' (item 0)`)
    const direct = await t.run(Effect.either(graph.checkResponse(first.run_id, [1])))
    expect(Either.isLeft(direct) && direct.left).toMatchObject({ _tag: "StateValidationError", field: "score" })
    expect(await snapshot()).toEqual(before)
    // A good answer still goes to item 0.
    const second = await t.run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "ok" } }), (r) => r.start()))
    expect(second.waiting).toMatchObject({ payload: { item: 1, child_run_id: c1!.run_id } })
  })

  it("one at a time: with concurrency 1 each answer lets the next item start; the parent's wait names each in turn", async () => {
    const dir = fixtures()
    writeFileSync(join(dir, "one_by_one.yaml"), readFileSync(join(dir, "ask_typed_parent.yaml"), "utf8").replace("output: verdicts }", "output: verdicts, concurrency: 1 }"))
    const t = setup(join(dir, "one_by_one.yaml"))
    const graph = await t.graph
    let summary = await t.run(Effect.flatMap(graph.start({ inputs: { documents: ["x", "y", "z"] } }), (r) => r.start()))
    const parentId = summary.run_id
    for (const [item, answer] of [[0, "1"], [1, "2"], [2, "3"]] as const) {
      expect(summary.status).toBe("awaiting-input")
      // Only the items up to the asking one have a child run.
      const children = await t.children(parentId)
      expect(children.map((c) => c.status)).toEqual([...Array.from({ length: item }, () => "done"), "awaiting-input"])
      expect(summary.waiting?.payload).toMatchObject({ item, child_run_id: children[item]!.run_id })
      summary = await t.run(Effect.flatMap(graph.resume(parentId, { response: { value: answer } }), (r) => r.start()))
    }
    expect(summary).toMatchObject({ status: "done", final_state: { verdicts: ["x=1", "y=2", "z=3"] } })
    expect((await t.children(parentId)).map((c) => c.status)).toEqual(["done", "done", "done"])
  })

  it("an item's child answered directly that asks again: the parent shows its new question, still naming the item, and its answer reaches that child", async () => {
    const dir = tempDir()
    const write = (name: string, lines: ReadonlyArray<string>) => writeFileSync(join(dir, name), [`ir_version: "1.0.0"`, ...lines].join("\n"))
    write("leaf.yaml", ["id: map:leaf", "state_schema: { fields: { doc: { type: string, required: true }, a: { type: string, default: \"\" }, b: { type: string, default: \"\" }, out: { type: string, default: \"\" } } }", "nodes:",
      "  - { id: ask_a, kind: interrupt, prompt: \"A?\", response_field: a }", "  - { id: ask_b, kind: interrupt, prompt: \"B?\", response_field: b }", "  - { id: seal, kind: set, values: { out: \"{{doc}}:{{a}}{{b}}\" } }"])
    write("top.yaml", ["id: map:top", "state_schema: { fields: { docs: { type: array, default: [] }, outs: { type: array, default: [] } } }", "nodes:",
      "  - { id: each, kind: map, spec: ./leaf.yaml, config: { over: docs, item: doc, result: out, output: outs } }"])
    const t = setup(join(dir, "top.yaml"))
    const graph = await t.graph
    const leaf = await Effect.runPromise(Graph.load(join(dir, "leaf.yaml")))
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { docs: ["p", "q"] } }), (r) => r.start()))
    const [c0, c1] = await t.children(first.run_id)
    expect(first.waiting).toMatchObject({ prompt: "A?", payload: { item: 0, child_run_id: c0!.run_id } })
    // Item 1's child answered directly (the parent waits for item 0): it asks again; the parent still waits for item 0.
    await t.run(Effect.flatMap(leaf.resume(c1!.run_id, { response: { value: "1" } }), (r) => r.start()))
    expect((await t.record(first.run_id)).waiting).toMatchObject({ prompt: "A?", payload: { item: 0, child_run_id: c0!.run_id } })
    // Item 0's child answered directly: it asks again, and the parent shows that, still naming item 0.
    const again = await t.run(Effect.flatMap(leaf.resume(c0!.run_id, { response: { value: "0" } }), (r) => r.start()))
    expect(again.waiting).toMatchObject({ node: "ask_b", prompt: "B?" })
    expect((await t.record(first.run_id)).waiting).toMatchObject({ node: "each", prompt: "B?", payload: { item: 0, child_run_id: c0!.run_id, child_node: "ask_b" } })
    let summary = await t.run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "x" } }), (r) => r.start()))
    expect(summary.waiting).toMatchObject({ prompt: "B?", payload: { item: 1, child_run_id: c1!.run_id, child_node: "ask_b" } })
    summary = await t.run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "y" } }), (r) => r.start()))
    expect(summary).toMatchObject({ status: "done", final_state: { outs: ["p:0x", "q:1y"] } })
  })

  it("a fork of a parent still waiting inside its map diverges (no recorded map call); with live_after_fork its own children ask again", async () => {
    const t = setup(join(FIXTURES, "ask_typed_parent.yaml"))
    const graph = await t.graph
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { documents: ["a", "b"] } }), (r) => r.start()))
    expect(first.status).toBe("awaiting-input")
    const exact = await t.run(Replay.fork(graph, first.run_id, {}))
    expect(exact.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "missing-entry", nodeId: "score_all", call: "map" })
    // The recording ends where the parent waits, and says so (not "another path"); no advice for answering a waiting fork.
    const message = (exact.error as { message: string }).message
    expect(message).toContain(`past the end of the recording: run ${first.run_id} stopped after step 0 (it is awaiting-input, its step 1 not recorded until it is answered). Answer that run and fork it again`)
    expect(message).not.toContain("a fork waiting for input")
    expect((await t.runs()).filter((r) => r.parent_run_id === exact.cfRunId)).toEqual([])
    const live = await t.run(Replay.fork(graph, first.run_id, { liveAfterFork: true }))
    expect(live.summary.status).toBe("awaiting-input")
    const own = await t.children(live.cfRunId)
    expect(own.map((c) => c.status)).toEqual(["awaiting-input", "awaiting-input"])
    expect(live.summary.waiting).toMatchObject({ node: "score_all", payload: { item: 0, child_run_id: own[0]!.run_id } })
    const done = await t.run(Effect.flatMap(graph.resume(live.cfRunId, { response: { value: "1" } }), (r) => Effect.flatMap(r.start(), () => graph.resume(live.cfRunId, { response: { value: "2" } }))).pipe(Effect.flatMap((r) => r.start())))
    expect(done).toMatchObject({ status: "done", final_state: { verdicts: ["a=1", "b=2"] } })
    // The parent's own children still wait for its answers.
    expect((await t.children(first.run_id)).map((c) => c.status)).toEqual(["awaiting-input", "awaiting-input"])
  })

  it("cancelling a parent waiting at its map cancels every waiting child", async () => {
    const t = setup(join(FIXTURES, "ask_typed_parent.yaml"))
    const graph = await t.graph
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { documents: ["a", "b", "c"] } }), (r) => r.start()))
    expect(first.status).toBe("awaiting-input")
    const cancelled = await stargraph(["cancel", first.run_id, "--db", t.db])
    expect([cancelled.code, cancelled.stderr]).toEqual([0, ""])
    expect((await t.record(first.run_id)).status).toBe("cancelled")
    expect((await t.children(first.run_id)).map((c) => c.status)).toEqual(["cancelled", "cancelled", "cancelled"])
  })

  it("a kill -9 while items wait and one still runs; a fresh process resumes the parent to its wait, and `stargraph respond` answers each item in turn: each item's child run once", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    // Items 0 and 2 ask at once; item 1 is slow (running when the process is killed).
    const docs = [{ text: "d0", ask: true }, { text: "d1", ms: 5000 }, { text: "d2", ask: true }]
    const proc = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), "run", join(dir, "ask_some_parent.yaml"), "--db", db, "--inputs", JSON.stringify({ documents: docs }), "--quiet"], { stdio: "ignore" })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on("exit", (_code, signal) => resolve(signal)))
    type Row = { run_id: string; graph_id: string; status: string; idempotency_key: string | null }
    const rows = (): Array<Row> => {
      const conn = new Database(db, { readonly: true, fileMustExist: true })
      try {
        return conn.prepare("SELECT run_id, graph_id, status, idempotency_key FROM runs_history ORDER BY rowid").all() as Array<Row>
      } finally {
        conn.close()
      }
    }
    const children = () => rows().filter((r) => r.graph_id === "map:ask_some").sort((a, b) => String(a.idempotency_key).localeCompare(String(b.idempotency_key)))
    let seen: Array<Row> = []
    for (let i = 0; i < 400 && seen.filter((r) => r.status === "awaiting-input").length < 2; i++) {
      await new Promise((r) => setTimeout(r, 25))
      try {
        seen = existsSync(db) ? children() : []
      } catch {
        // not created yet
      }
    }
    await new Promise((r) => setTimeout(r, 100))
    proc.kill("SIGKILL")
    expect(await exited).toBe("SIGKILL")
    const before = children()
    expect(before.map((r) => r.status)).toEqual(["awaiting-input", "running", "awaiting-input"])
    const parent = rows().find((r) => r.graph_id === "map:ask_some_parent")!
    expect(parent.status).toBe("running")
    // inspect shows every child of the step the parent was running, under its row, in item order.
    const running = await stargraph(["inspect", parent.run_id, "--db", db])
    const under = running.lines.slice(running.lines.findIndex((l) => /^1 +score_all +running/.test(l)) + 1).filter((l) => l.startsWith("      ↳ child run"))
    expect(under).toEqual(before.map((r) => `      ↳ child run ${r.run_id}  graph map:ask_some  status ${r.status}`))

    // A fresh process: the parent's map step runs again, item 1 goes on, and the parent waits for item 0.
    const resumed = await stargraph(["resume", parent.run_id, "--db", db], { env: { MAP_SLOW: "0.01" } })
    expect([resumed.code, resumed.last]).toEqual([3, `run_id=${parent.run_id} status=awaiting-input`])
    expect(resumed.stdout).toContain(`waiting at 'score_all' (item 0, child run ${before[0]!.run_id}): score d0?`)
    expect(children().map((r) => r.status)).toEqual(["awaiting-input", "done", "awaiting-input"])
    const json = await stargraph(["inspect", parent.run_id, "--db", db, "--json"])
    const shown = JSON.parse(json.stdout) as { waiting: unknown; children: unknown }
    expect(shown.waiting).toMatchObject({ node: "score_all", payload: { item: 0, child_run_id: before[0]!.run_id, child_node: "ask" } })
    // Every item's child of the waiting step, the one done too, in item order.
    expect(shown.children).toEqual(before.map((r, i) => ({ run_id: r.run_id, parent_step: 1, node: "score_all", graph_id: "map:ask_some", status: ["awaiting-input", "done", "awaiting-input"][i] })))

    const answered0 = await stargraph(["respond", parent.run_id, "--db", db, "--response", "\"first\"", "--quiet"])
    expect([answered0.code, answered0.last]).toEqual([3, `run_id=${parent.run_id} status=awaiting-input`])
    expect(answered0.stderr).toContain(`waiting at 'score_all' (item 2, child run ${before[2]!.run_id}): score d2?`)
    const answered2 = await stargraph(["respond", parent.run_id, "--db", db, "--response", "\"third\"", "--quiet"])
    expect([answered2.code, answered2.stderr, answered2.last]).toEqual([0, "", `run_id=${parent.run_id} status=done`])
    // Each item's child run once: the same runs as before the kill.
    expect(children().map((r) => [r.run_id, r.status])).toEqual(before.map((r) => [r.run_id, "done"]))
    const conn = new Database(db, { readonly: true })
    const final = JSON.parse((conn.prepare("SELECT state FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1").get(parent.run_id) as { state: string }).state) as { scores: Array<string> }
    conn.close()
    expect(final.scores).toEqual(["d0:first", "d1", "d2:third"])
  })
})
