/**
 * A `map` node's `retry`: an item whose child run failed is run again in a new child run
 * of its own (`#<index>@<attempt>`), after the backoff, up to `max_attempts`; the items
 * that did not fail are not run again; the recording names every attempt, so a replay is
 * exact, and a process killed between two attempts, resumed, starts each attempt's child
 * run once (docs/nodes.md, `map` nodes). Real SQLite files, real CLI processes.
 */
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

/** A copy of the map fixtures, with `flaky_parent.yaml`'s retry line replaced by `retry` when given. */
const fixtures = (retry?: string) => {
  const dir = tempDir()
  cpSync(join(ROOT, "test", "fixtures", "map"), dir, { recursive: true })
  if (retry !== undefined) {
    const file = join(dir, "flaky_parent.yaml")
    writeFileSync(file, readFileSync(file, "utf8").replace("retry: { max_attempts: 3, backoff_ms: 150 }", retry))
  }
  return dir
}

type Row = { run_id: string; status: string; key: string; parent_run_id: string | null; created_at: string; finished_at: string | null }

/** The map children of `db` (`flaky_one`'s or `flaky_ask`'s runs, read as another process would), by key. */
const childrenIn = (db: string): Array<Row> => {
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  try {
    const rows = conn.prepare("SELECT run_id, status, idempotency_key AS key, parent_run_id, created_at, finished_at FROM runs_history WHERE graph_id IN ('map:flaky_one', 'map:flaky_ask')").all() as Array<Row>
    return rows.map((r) => ({ ...r, key: r.key.replace(/^subgraph:[^:]+:\d+:/, "") })).sort((a, b) => a.key.localeCompare(b.key))
  } finally {
    conn.close()
  }
}

/** The attempts the child function made, by item text (FLAKY_LOG). */
const attemptsIn = (log: string): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const line of existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : []) counts[line] = (counts[line] ?? 0) + 1
  return counts
}

/** The recorded `map` call of `runId`'s step `step`: its response. */
const mapResponse = (db: string, runId: string, step: number) => {
  const conn = new Database(db, { readonly: true })
  try {
    const row = conn.prepare("SELECT calls FROM checkpoints WHERE run_id = ? AND step = ?").get(runId, step) as { calls: string }
    return (JSON.parse(row.calls) as Array<{ name: string; response: Record<string, unknown> }>).find((c) => c.name === "map")!.response
  } finally {
    conn.close()
  }
}

const parentIn = (db: string, graphId = "map:flaky_parent"): string => {
  const conn = new Database(db, { readonly: true })
  try {
    return (conn.prepare("SELECT run_id FROM runs_history WHERE graph_id = ?").get(graphId) as { run_id: string }).run_id
  } finally {
    conn.close()
  }
}

/** Run `stargraph run` on `file` as a child process, killed -9 once `ready` holds of the map children of `db`. */
const killWhen = async (args: ReadonlyArray<string>, env: Record<string, string>, db: string, ready: (rows: Array<Row>) => boolean) => {
  const proc = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), ...args], { stdio: "ignore", env: { ...process.env, ...env } })
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on("exit", (_code, signal) => resolve(signal)))
  let seen = false
  for (let i = 0; i < 800 && !seen; i++) {
    await new Promise((r) => setTimeout(r, 25))
    try {
      seen = existsSync(db) && ready(childrenIn(db))
    } catch {
      // not created yet
    }
  }
  await new Promise((r) => setTimeout(r, 100))
  proc.kill("SIGKILL")
  expect(await exited).toBe("SIGKILL")
}

describe("map retry", () => {
  it("runs only the failed items again, each attempt in a child run of its own after the backoff; the recording names them, and a replay is exact", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    const log = join(dir, "flaky.log")
    process.env["FLAKY_LOG"] = log
    const layer = SqliteCheckpointer.layer({ filename: db })
    const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
    const graph = await Effect.runPromise(Graph.load(join(dir, "flaky_parent.yaml")))
    const docs = [{ text: "a" }, { text: "b", fails: 1 }, { text: "c", fails: 2 }, { text: "d" }]
    const summary = await run(Effect.flatMap(graph.start({ inputs: { documents: docs } }), (r) => r.start()))
    expect(summary).toMatchObject({ status: "done", final_state: { scores: ["a", "b", "c", "d"] } })
    // The items that did not fail ran once; b twice, c three times.
    expect(attemptsIn(log)).toEqual({ a: 1, b: 2, c: 3, d: 1 })
    const children = childrenIn(db)
    expect(children.map((r) => [r.key, r.status])).toEqual([
      ["score_all#0", "done"],
      ["score_all#1", "failed"],
      ["score_all#1@2", "done"],
      ["score_all#2", "failed"],
      ["score_all#2@2", "failed"],
      ["score_all#2@3", "done"],
      ["score_all#3", "done"]
    ])
    expect(new Set(children.map((r) => r.parent_run_id))).toEqual(new Set([summary.run_id]))
    // Each retry started at least backoff_ms after the attempt before it ended.
    const byKey = new Map(children.map((r) => [r.key, r]))
    for (const [before, after] of [["score_all#1", "score_all#1@2"], ["score_all#2", "score_all#2@2"], ["score_all#2@2", "score_all#2@3"]] as const) {
      expect(Date.parse(byKey.get(after)!.created_at) - Date.parse(byKey.get(before)!.finished_at!)).toBeGreaterThanOrEqual(150)
    }
    // The step's one recorded `map` call: the results and the runs that gave them, and the failed attempts' runs.
    const id = (key: string) => byKey.get(key)!.run_id
    expect(mapResponse(db, summary.run_id, 1)).toEqual({
      results: ["a", "b", "c", "d"],
      run_ids: [id("score_all#0"), id("score_all#1@2"), id("score_all#2@3"), id("score_all#3")],
      retried: { "1": [id("score_all#1")], "2": [id("score_all#2"), id("score_all#2@2")] }
    })
    // A replay serves the map from the recording: no child run, no attempt.
    const fork = await run(Replay.fork(graph, summary.run_id, {}))
    expect(fork.summary).toMatchObject({ status: "done", final_state: summary.final_state })
    expect(fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    expect([childrenIn(db).length, attemptsIn(log)]).toEqual([7, { a: 1, b: 2, c: 3, d: 1 }])
    // `inspect` of a retry names its item and attempt.
    const inspected = await stargraph(["inspect", id("score_all#2@3"), "--db", db])
    expect([inspected.code, inspected.stderr]).toEqual([0, ""])
    expect(inspected.stdout).toContain(`child run of ${summary.run_id} at step 1 (map node 'score_all', item 2, attempt 3)`)
    // `inspect` of the parent shows every child run of the step, the failed attempts too.
    const parentShown = await stargraph(["inspect", summary.run_id, "--db", db])
    expect([parentShown.code, parentShown.stderr]).toEqual([0, ""])
    for (const key of ["score_all#1", "score_all#2", "score_all#2@2", "score_all#2@3"]) expect(parentShown.stdout).toContain(id(key))
  })

  it("an item that fails every attempt fails the step, naming the item, its attempts and every failed child run; the other items stay done and run once", async () => {
    const dir = fixtures("retry: { max_attempts: 2 }")
    const db = join(dir, "runs.sqlite")
    const log = join(dir, "flaky.log")
    process.env["FLAKY_LOG"] = log
    const layer = SqliteCheckpointer.layer({ filename: db })
    const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
    const graph = await Effect.runPromise(Graph.load(join(dir, "flaky_parent.yaml")))
    const started = await run(Effect.flatMap(graph.start({ inputs: { documents: [{ text: "a" }, { text: "c", fails: 5 }] } }), (r) =>
      Effect.map(Effect.either(r.start()), (e) => ({ e, id: r.runId }))))
    expect(Either.isLeft(started.e) && started.e.left).toMatchObject({ _tag: "NodeExecutionError", nodeId: "score_all", step: 1, attempts: 2 })
    const children = childrenIn(db)
    expect(children.map((r) => [r.key, r.status])).toEqual([["score_all#0", "done"], ["score_all#1", "failed"], ["score_all#1@2", "failed"]])
    expect(attemptsIn(log)).toEqual({ a: 1, c: 2 })
    const record = await run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(started.id)), Option.getOrThrow))
    expect(record.status).toBe("failed")
    expect(record.error?.message).toContain(`item 1: child run ${children[2]!.run_id} failed: `)
    expect(record.error?.message).toContain(`(attempt 2 of 2; the earlier attempts' child runs failed too: ${children[1]!.run_id})`)
  })

  it("without retry a failed item is not run again (one child run), as before", async () => {
    // The retry line taken out: the parent has none.
    const dir = fixtures("")
    const db = join(dir, "runs.sqlite")
    process.env["FLAKY_LOG"] = join(dir, "flaky.log")
    const graph = await Effect.runPromise(Graph.load(join(dir, "flaky_parent.yaml")))
    const layer = SqliteCheckpointer.layer({ filename: db })
    const ended = await Effect.runPromise(Effect.provide(Effect.flatMap(graph.start({ inputs: { documents: [{ text: "b", fails: 1 }] } }), (r) => Effect.either(r.start())), layer))
    expect(Either.isLeft(ended) && ended.left).toMatchObject({ _tag: "NodeExecutionError", attempts: 1 })
    expect(childrenIn(db).map((r) => [r.key, r.status])).toEqual([["score_all#0", "failed"]])
  })

  it("a retry's child that asks for input stops the parent at its question; the answer goes to that attempt's child run", async () => {
    const dir = fixtures("retry: { max_attempts: 2 }")
    writeFileSync(join(dir, "flaky_parent.yaml"), readFileSync(join(dir, "flaky_parent.yaml"), "utf8").replace("./flaky_one.yaml", "./flaky_ask.yaml"))
    const db = join(dir, "runs.sqlite")
    process.env["FLAKY_LOG"] = join(dir, "flaky.log")
    const layer = SqliteCheckpointer.layer({ filename: db })
    const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
    const graph = await Effect.runPromise(Graph.load(join(dir, "flaky_parent.yaml")))
    const first = await run(Effect.flatMap(graph.start({ inputs: { documents: [{ text: "p" }, { text: "q", fails: 1 }] } }), (r) => r.start()))
    const asking = childrenIn(db)
    expect(asking.map((r) => [r.key, r.status])).toEqual([["score_all#0", "awaiting-input"], ["score_all#1", "failed"], ["score_all#1@2", "awaiting-input"]])
    expect(first).toMatchObject({ status: "awaiting-input", waiting: { node: "score_all", prompt: "score p?", payload: { item: 0, child_run_id: asking[0]!.run_id } } })
    const second = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "1" } }), (r) => r.start()))
    // Item 1's question is its second attempt's.
    expect(second).toMatchObject({ status: "awaiting-input", waiting: { prompt: "score q?", payload: { item: 1, child_run_id: asking[2]!.run_id } } })
    const done = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "2" } }), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { scores: ["p:1", "q:2"] } })
    expect(childrenIn(db).map((r) => [r.key, r.status])).toEqual([["score_all#0", "done"], ["score_all#1", "failed"], ["score_all#1@2", "done"]])
    expect(mapResponse(db, first.run_id, 1)).toEqual({ results: ["p:1", "q:2"], run_ids: [asking[0]!.run_id, asking[2]!.run_id], retried: { "1": [asking[1]!.run_id] } })
  })

  it("a process killed -9 in a retry's backoff, resumed, starts the next attempt once and runs no item that was done", async () => {
    const dir = fixtures("retry: { max_attempts: 3, backoff_ms: 20000 }")
    const db = join(dir, "runs.sqlite")
    const log = join(dir, "flaky.log")
    const docs = [{ text: "a" }, { text: "b", fails: 1 }]
    // Killed once b's first attempt has failed (its end is written before the backoff).
    await killWhen(["run", join(dir, "flaky_parent.yaml"), "--db", db, "--inputs", JSON.stringify({ documents: docs }), "--quiet"], { FLAKY_LOG: log }, db, (rows) =>
      rows.some((r) => r.key === "score_all#1" && r.status === "failed") && rows.some((r) => r.key === "score_all#0" && r.status === "done"))
    expect(childrenIn(db).map((r) => [r.key, r.status])).toEqual([["score_all#0", "done"], ["score_all#1", "failed"]])
    const parent = parentIn(db)
    const resumed = await stargraph(["resume", parent, "--db", db, "--quiet"], { env: { FLAKY_LOG: log } })
    expect([resumed.stderr, resumed.last]).toEqual(["", `run_id=${parent} status=done`])
    expect(childrenIn(db).map((r) => [r.key, r.status])).toEqual([["score_all#0", "done"], ["score_all#1", "failed"], ["score_all#1@2", "done"]])
    expect(attemptsIn(log)).toEqual({ a: 1, b: 2 })
  })

  it("cancelling a parent killed while a retry's child runs cancels that child (found by its attempt's key); finished ones stay done", async () => {
    const dir = fixtures("retry: { max_attempts: 3 }")
    const db = join(dir, "runs.sqlite")
    const log = join(dir, "flaky.log")
    const docs = [{ text: "a" }, { text: "b", fails: 1, ms: 30000 }]
    await killWhen(["run", join(dir, "flaky_parent.yaml"), "--db", db, "--inputs", JSON.stringify({ documents: docs }), "--quiet"], { FLAKY_LOG: log }, db, (rows) =>
      rows.some((r) => r.key === "score_all#1@2" && r.status === "running"))
    expect(childrenIn(db).map((r) => [r.key, r.status])).toEqual([["score_all#0", "done"], ["score_all#1", "failed"], ["score_all#1@2", "running"]])
    const cancelled = await stargraph(["cancel", parentIn(db), "--db", db])
    expect([cancelled.code, cancelled.stderr]).toEqual([0, ""])
    expect(childrenIn(db).map((r) => [r.key, r.status])).toEqual([["score_all#0", "done"], ["score_all#1", "failed"], ["score_all#1@2", "cancelled"]])
  })
})
