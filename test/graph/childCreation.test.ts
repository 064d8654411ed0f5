/**
 * A new child run is written with its first step's commit (one transaction fewer per
 * child run), unless its first step runs past the deadline: then it is created on its
 * own, so a running child shows within that time. See src/graph/firstCommitCreates.ts.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { describe, expect, it } from "vitest"
import { Checkpointer, type CheckpointerShape } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { WRITE_DEADLINE_MS } from "../../src/graph/firstCommitCreates.js"
import { AuditSink } from "../../src/telemetry/AuditSink.js"
import { tempDir } from "../helpers/cli.js"

/** A parent with one subgraph node whose child runs `first` (ms of sleep) then two quick steps. */
const graphs = (firstMs: number) => {
  const dir = tempDir()
  writeFileSync(join(dir, "nodes.mjs"), `export const first = async () => { await new Promise((r) => setTimeout(r, ${firstMs})); return { n: 1 } }\nexport const more = (s) => ({ n: s.n + 1 })\n`)
  const fields = "state_schema: { fields: { n: { type: integer, default: 0 } } }"
  writeFileSync(join(dir, "child.yaml"), [
    "ir_version: \"1.0.0\"", "id: run:child", fields, "nodes:",
    "  - { id: a, kind: function, module: ./nodes.mjs, export: first }",
    "  - { id: b, kind: function, module: ./nodes.mjs, export: more }",
    "  - { id: c, kind: function, module: ./nodes.mjs, export: more }"
  ].join("\n"))
  writeFileSync(join(dir, "parent.yaml"), ["ir_version: \"1.0.0\"", "id: run:parent", fields, "nodes:", "  - { id: sub, kind: subgraph, spec: ./child.yaml }"].join("\n"))
  return dir
}

/** The SQLite Checkpointer, noting who `createRun` created and which commits created a run. */
const noting = (db: string) => {
  const created: Array<string> = []
  const createdInCommit: Array<string> = []
  const layer = Layer.effect(
    Checkpointer,
    Effect.map(Checkpointer, (base): CheckpointerShape => ({
      ...base,
      createRun: (run) => Effect.tap(base.createRun(run), ({ record }) => Effect.sync(() => void created.push(record.graph_id))),
      commitSteps: (checkpoints, patch, options) => {
        if (options?.creates !== undefined) createdInCommit.push(options.creates.graph_id)
        return base.commitSteps(checkpoints, patch, options)
      }
    }))
  ).pipe(Layer.provide(SqliteCheckpointer.layer({ filename: db })))
  return { created, createdInCommit, layer }
}

const rows = (db: string) => {
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  try {
    return conn.prepare("SELECT graph_id, status, last_step FROM runs_history WHERE graph_id = 'run:child'").all() as Array<{ graph_id: string; status: string; last_step: number }>
  } finally {
    conn.close()
  }
}

describe("a new child run", () => {
  it("is written with its first step's commit: no creation of its own, and its run whole afterwards", async () => {
    const dir = graphs(0)
    const db = join(dir, "runs.sqlite")
    const { created, createdInCommit, layer } = noting(db)
    const graph = await Effect.runPromise(Graph.load(join(dir, "parent.yaml")))
    const summary = await Effect.runPromise(Effect.provide(Effect.flatMap(graph.start({ inputs: {} }), (r) => r.start()), layer))
    expect(summary).toMatchObject({ status: "done", final_state: { n: 3 } })
    // Only the parent was created on its own; the child with its first commit.
    expect(created).toEqual(["run:parent"])
    expect(createdInCommit).toEqual(["run:child"])
    expect(rows(db)).toEqual([{ graph_id: "run:child", status: "done", last_step: 3 }])
  })

  it("of a graph whose nodes store records under it (a child run of its own) is created before its first step: a crash in that step leaves nothing under a run never written", async () => {
    const dir = graphs(0)
    writeFileSync(join(dir, "middle.yaml"), [
      "ir_version: \"1.0.0\"", "id: run:middle", "state_schema: { fields: { n: { type: integer, default: 0 } } }", "nodes:",
      "  - { id: inner, kind: subgraph, spec: ./child.yaml }"
    ].join("\n"))
    writeFileSync(join(dir, "top.yaml"), [
      "ir_version: \"1.0.0\"", "id: run:top", "state_schema: { fields: { n: { type: integer, default: 0 } } }", "nodes:",
      "  - { id: outer, kind: subgraph, spec: ./middle.yaml }"
    ].join("\n"))
    const db = join(dir, "runs.sqlite")
    const { created, createdInCommit, layer } = noting(db)
    const graph = await Effect.runPromise(Graph.load(join(dir, "top.yaml")))
    const summary = await Effect.runPromise(Effect.provide(Effect.flatMap(graph.start({ inputs: {} }), (r) => r.start()), layer))
    expect(summary).toMatchObject({ status: "done", final_state: { n: 3 } })
    // The middle run starts a child of its own in its first step: created on its own first; the leaf child with its first commit.
    expect(created).toEqual(["run:top", "run:middle"])
    expect(createdInCommit).toEqual(["run:child"])
  })

  it("whose first step runs past the deadline is created on its own, so it shows running (at step 0) while that step runs", async () => {
    const dir = graphs(WRITE_DEADLINE_MS * 12)
    const db = join(dir, "runs.sqlite")
    const { created, createdInCommit, layer } = noting(db)
    const graph = await Effect.runPromise(Graph.load(join(dir, "parent.yaml")))
    const running = Effect.runPromise(Effect.provide(Effect.flatMap(graph.start({ inputs: {} }), (r) => r.start()), layer))
    // Seen from another connection while the first step sleeps.
    const seen: Array<Array<{ graph_id: string; status: string; last_step: number }>> = []
    let finished = false
    void running.then(() => (finished = true))
    while (!finished) {
      await new Promise((r) => setTimeout(r, 10))
      try {
        seen.push(rows(db))
      } catch {
        // the database is not created yet
      }
    }
    expect((await running).status).toBe("done")
    expect(seen).toContainEqual([{ graph_id: "run:child", status: "running", last_step: 0 }])
    expect(created).toEqual(["run:parent", "run:child"])
    expect(createdInCommit).toEqual([])
    expect(rows(db)).toEqual([{ graph_id: "run:child", status: "done", last_step: 3 }])
  })

  it("whose one step ends while its creation on its own is still being answered is written once: its end, handed to the parent's step, finds it created and goes on", async () => {
    // A one-step child past the deadline, and a Checkpointer that answers a child's creation late (as over a network).
    const dir = graphs(WRITE_DEADLINE_MS + 15)
    writeFileSync(join(dir, "child.yaml"), [
      "ir_version: \"1.0.0\"", "id: run:child", "state_schema: { fields: { n: { type: integer, default: 0 } } }", "nodes:",
      "  - { id: a, kind: function, module: ./nodes.mjs, export: first }"
    ].join("\n"))
    const db = join(dir, "runs.sqlite")
    const late = Layer.effect(
      Checkpointer,
      Effect.map(Checkpointer, (base): CheckpointerShape => ({
        ...base,
        createRun: (run) => Effect.tap(base.createRun(run), () => (run.parent_run_id ? Effect.sleep(WRITE_DEADLINE_MS * 2) : Effect.void))
      }))
    ).pipe(Layer.provide(SqliteCheckpointer.layer({ filename: db })))
    const graph = await Effect.runPromise(Graph.load(join(dir, "parent.yaml")))
    const summary = await Effect.runPromise(Effect.provide(Effect.flatMap(graph.start({ inputs: {} }), (r) => r.start()), late))
    expect(summary).toMatchObject({ status: "done", final_state: { n: 1 } })
    expect(rows(db)).toEqual([{ graph_id: "run:child", status: "done", last_step: 1 }])
  })

  it("created on its own past the deadline has its audit records written then, not held until its first step ends", async () => {
    const dir = graphs(WRITE_DEADLINE_MS * 12)
    const db = join(dir, "runs.sqlite")
    const records: Array<{ readonly event: string; readonly run_id: unknown; readonly atMs: number }> = []
    const sink = { write: (record: { readonly event: string; readonly run_id?: unknown }) => Effect.sync(() => void records.push({ event: record.event, run_id: record.run_id, atMs: Date.now() })) }
    const graph = await Effect.runPromise(Graph.load(join(dir, "parent.yaml")))
    const summary = await Effect.runPromise(
      Effect.flatMap(graph.start({ inputs: {} }), (r) => r.start()).pipe(Effect.provideService(AuditSink, sink), Effect.provide(SqliteCheckpointer.layer({ filename: db })))
    )
    expect(summary.status).toBe("done")
    const parentId = summary.run_id
    const child = records.filter((r) => r.run_id !== parentId)
    const started = child.find((r) => r.event === "run.started")!
    const firstStep = child.find((r) => r.event === "step.completed")!
    // Written about the deadline after the child started, long before its 600 ms first step ended.
    expect(firstStep.atMs - started.atMs).toBeGreaterThan(WRITE_DEADLINE_MS * 6)
  })
})
