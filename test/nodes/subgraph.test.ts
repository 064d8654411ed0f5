import { spawn } from "node:child_process"
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { describe, expect, it } from "vitest"
import { Checkpointer, type CheckpointerShape } from "../../src/checkpoint/Checkpointer.js"
import type { Checkpoint, RunPatch } from "../../src/checkpoint/models.js"
import { CheckpointError } from "../../src/errors.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { requestHash } from "../../src/runtime/Cassette.js"
import { cancelStopped, subgraphIndex } from "../../src/runtime/cancelStopped.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { AuditSink, type AuditSinkShape } from "../../src/telemetry/AuditSink.js"
import { ROOT, stargraph, startStargraph, tempDir } from "../helpers/cli.js"

const FIXTURES = join(ROOT, "test", "fixtures", "subgraph")

/** A copy of the fixtures folder (tests edit or crash in it). */
const fixtures = () => {
  const dir = tempDir()
  cpSync(FIXTURES, dir, { recursive: true })
  return dir
}

/** Run `body` with the fixtures' tick nodes taking `ms` each (SLOW_NODE_MS), restored after. */
const withSlowNodes = async <A>(ms: number, body: () => Promise<A>): Promise<A> => {
  const before = process.env["SLOW_NODE_MS"]
  process.env["SLOW_NODE_MS"] = String(ms)
  try {
    return await body()
  } finally {
    if (before === undefined) delete process.env["SLOW_NODE_MS"]
    else process.env["SLOW_NODE_MS"] = before
  }
}

const setup = (file: string, db = join(tempDir(), "runs.sqlite")) => {
  const layer = SqliteCheckpointer.layer({ filename: db })
  const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
  const graph = Effect.runPromise(Graph.load(file))
  const runs = () => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 100 })), (page) => page.runs))
  const checkpoints = (runId: string) => run(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runId)))
  const record = (runId: string) => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)), Option.getOrThrow))
  return { db, layer, run, graph, runs, checkpoints, record }
}

const buildError = async (file: string) => {
  const result = await Effect.runPromise(Effect.either(Graph.load(file)))
  if (Either.isRight(result)) throw new Error("expected the graph to be refused")
  return result.left
}

describe("subgraph nodes", () => {
  it("run the child as its own run, linked to the parent step, checkpointed step by step, with fields mapped in and out", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    const summary = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => r.start()))
    expect(summary.status).toBe("done")
    expect(summary.final_state).toEqual({
      topic: "cves",
      count: 6,
      log: ["c0@0:cves", "c1@1:cves", "c2@2:cves", "c3@3:cves", "c4@4:cves", "c5@5:cves"],
      report: "cves: 6 ticks"
    })
    const runs = await t.runs()
    expect(runs).toHaveLength(2)
    const child = runs.find((r) => r.run_id !== summary.run_id)!
    expect(child).toMatchObject({ graph_id: "run:child", status: "done", parent_run_id: summary.run_id, fork_step: 2, derived_hash: null })
    const childSteps = await t.checkpoints(child.run_id)
    expect(childSteps.map((c) => c.step)).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(childSteps[0]).toMatchObject({ parent_run_id: summary.run_id, parent_step: 2, state: { subject: "cves", count: 0, log: [] } })
    // The parent step records the child's outcome: what a replay answers with.
    const work = (await t.checkpoints(summary.run_id)).find((c) => c.nodes.includes("work"))!
    expect(work.step).toBe(2)
    expect(work.calls).toEqual([expect.objectContaining({ node: "work", name: "subgraph", response: { run_id: child.run_id, state: childSteps[6]!.state } })])
    // Its request hash is the cassette's hash of the request it records (the node builds the canonical text itself).
    const [call] = work.calls!
    expect(call!.request).toEqual({ graph: child.graph_hash, inputs: { subject: "cves", count: 0, log: [] } })
    expect(call!.request_hash).toBe(requestHash("subgraph", call!.request))
  })

  /** The real SQLite Checkpointer, with its commits noted on the way through (`together`: whether it can make several runs' commits in one). */
  const notingCheckpointer = (db: string, together: boolean) => {
    const commits: Array<{ runId: string; step: number; status: string | undefined; syncFollows: boolean; batch: number }> = []
    let batches = 0
    const note = (checkpoints: ReadonlyArray<Checkpoint>, patch: RunPatch | undefined, options: { readonly syncFollows?: boolean | undefined } | undefined, batch: number) => {
      const last = checkpoints[checkpoints.length - 1]!
      commits.push({ runId: last.run_id, step: last.step, status: patch?.status, syncFollows: options?.syncFollows === true, batch })
    }
    const layer = Layer.effect(
      Checkpointer,
      Effect.map(Checkpointer, (base): CheckpointerShape => ({
        ...base,
        commitSteps: (checkpoints, patch, options) => {
          note(checkpoints, patch, options, batches++)
          return base.commitSteps(checkpoints, patch, options)
        },
        commitTogether: together
          ? (list) => {
            const batch = batches++
            for (const c of list) note(c.checkpoints, c.patch, c.options, batch)
            return base.commitTogether!(list)
          }
          : undefined
      }))
    ).pipe(Layer.provide(SqliteCheckpointer.layer({ filename: db })))
    return { commits, layer }
  }

  it("a child's last commit is made with its parent's step commit, in one transaction (commitTogether); its other steps are its own", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const { commits, layer } = notingCheckpointer(db, true)
    const graph = await Effect.runPromise(Graph.load(join(FIXTURES, "parent.yaml")))
    const summary = await Effect.runPromise(Effect.provide(Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => r.start()), layer))
    expect(summary.status).toBe("done")
    const childId = commits.find((c) => c.runId !== summary.run_id)!.runId
    const child = commits.filter((c) => c.runId === childId)
    expect(child.map((c) => [c.step, c.status])).toEqual([[1, undefined], [2, undefined], [3, undefined], [4, undefined], [5, undefined], [6, "done"]])
    // Steps 1..5 each in a commit of their own; step 6 (done) in the parent's step 2 commit, first.
    const last = child.at(-1)!
    const withIt = commits.filter((c) => c.batch === last.batch)
    expect(withIt.map((c) => [c.runId, c.step])).toEqual([[childId, 6], [summary.run_id, 2]])
    expect(new Set(child.slice(0, -1).map((c) => c.batch)).size).toBe(5)
    expect(child.slice(0, -1).every((c) => commits.filter((o) => o.batch === c.batch).length === 1)).toBe(true)
    // Both are on disk: the child done at step 6, the parent's step 2 recording it.
    const t = setup(join(FIXTURES, "parent.yaml"), db)
    const runs = await t.runs()
    expect(runs.find((r) => r.run_id === childId)).toMatchObject({ status: "done", last_step: 6 })
    expect((await t.checkpoints(summary.run_id)).find((c) => c.step === 2)?.calls?.[0]?.response).toMatchObject({ run_id: childId })
  })

  it("a child run reports its end (its last step.completed, run.finished) only once the parent's step commit has made it durable", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const { commits, layer } = notingCheckpointer(db, true)
    const graph = await Effect.runPromise(Graph.load(join(FIXTURES, "parent.yaml")))
    // What the database held for the run when each of its audit records was written.
    const seen: Array<{ readonly event: string; readonly runId: string; readonly status: string; readonly lastStep: number }> = []
    const summary = await Effect.runPromise(Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const sink: AuditSinkShape = {
        write: (record) =>
          Effect.map(Effect.orDie(checkpointer.getRun(String(record.run_id))), (found) => {
            const run = Option.getOrThrow(found)
            seen.push({ event: record.event, runId: run.run_id, status: run.status, lastStep: run.last_step })
          })
      }
      return yield* Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => r.start()).pipe(Effect.provideService(AuditSink, sink))
    }).pipe(Effect.provide(layer)))
    expect(summary.status).toBe("done")
    const childId = commits.find((c) => c.runId !== summary.run_id)!.runId
    // The child's end was handed to the parent's step 2 commit (the path under test)...
    expect(commits.filter((c) => c.runId === childId).at(-1)).toMatchObject({ step: 6, status: "done" })
    // ...and its records of that end came after it was written: done, at step 6, on disk.
    const child = seen.filter((r) => r.runId === childId)
    expect(child.find((r) => r.event === "run.finished")).toEqual({ event: "run.finished", runId: childId, status: "done", lastStep: 6 })
    const completed = child.filter((r) => r.event === "step.completed")
    expect(completed).toHaveLength(6)
    expect(completed.at(-1)).toMatchObject({ status: "done", lastStep: 6 })
    // In order: the child's end before the parent's step that records it.
    const childEnd = seen.findIndex((r) => r.runId === childId && r.event === "run.finished")
    const parentStep2 = seen.findIndex((r) => r.runId === summary.run_id && r.event === "step.completed" && r.lastStep >= 2)
    expect(childEnd).toBeGreaterThanOrEqual(0)
    expect(childEnd).toBeLessThan(parentStep2)
  })

  it("when the joint commit of a child's end and its parent's step fails, each is made on its own: the run goes on", async () => {
    const db = join(tempDir(), "runs.sqlite")
    let refused = 0
    const failingOnce = Layer.effect(
      Checkpointer,
      Effect.map(Checkpointer, (base): CheckpointerShape => ({
        ...base,
        commitTogether: (list) =>
          refused++ === 0 ? Effect.fail(new CheckpointError({ reason: "storage-failure", message: "database is locked (a test's)" })) : base.commitTogether!(list)
      }))
    ).pipe(Layer.provide(SqliteCheckpointer.layer({ filename: db })))
    const graph = await Effect.runPromise(Graph.load(join(FIXTURES, "parent.yaml")))
    const summary = await Effect.runPromise(Effect.provide(Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => r.start()), failingOnce))
    expect(refused).toBe(1)
    expect(summary.status).toBe("done")
    const t = setup(join(FIXTURES, "parent.yaml"), db)
    const child = (await t.runs()).find((r) => r.parent_run_id === summary.run_id)!
    expect(child).toMatchObject({ status: "done", last_step: 6, owner: null })
    expect((await t.checkpoints(summary.run_id)).map((c) => c.step)).toContain(2)
  })

  it("with a Checkpointer that cannot commit runs together, a child's last commit is its own, asked with syncFollows (its parent's step commit, synced, follows it)", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const { commits, layer } = notingCheckpointer(db, false)
    const graph = await Effect.runPromise(Graph.load(join(FIXTURES, "parent.yaml")))
    const summary = await Effect.runPromise(Effect.provide(Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => r.start()), layer))
    expect(summary.status).toBe("done")
    const childId = commits.find((c) => c.runId !== summary.run_id)!.runId
    const child = commits.filter((c) => c.runId === childId)
    const parent = commits.filter((c) => c.runId === summary.run_id)
    expect(child.map((c) => [c.step, c.status, c.syncFollows])).toEqual([
      [1, undefined, false], [2, undefined, false], [3, undefined, false], [4, undefined, false], [5, undefined, false], [6, "done", true]
    ])
    expect(parent.at(-1)).toMatchObject({ status: "done", syncFollows: false })
    expect(parent.every((c) => !c.syncFollows)).toBe(true)
    // The child's commit came before the parent step's that records it.
    expect(commits.indexOf(child.at(-1)!)).toBeLessThan(commits.findIndex((c) => c.runId === summary.run_id && c.step === 2))
  })

  it("a field with an append or add reducer shared with the child gets what the child added, not its whole value again; a child that replaced such a list is refused", async () => {
    const dir = tempDir()
    const fields = "state_schema:\n  fields:\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n    n: { type: integer, default: 0, reducer: add }\n    seen: { type: array, items: { type: string }, default: [], reducer: append }\n"
    writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: run:adds\n${fields}nodes:\n  - { id: c, kind: set, values: { log: [child], n: 1, seen: [x] } }\n`)
    writeFileSync(join(dir, "replacing.yaml"), `ir_version: "1.0.0"\nid: run:replaces\nstate_schema:\n  fields:\n    log: { type: array, items: { type: string }, default: [] }\nnodes:\n  - { id: c, kind: set, values: { log: [fresh] } }\n`)
    const parent = (child: string, config = "") =>
      `ir_version: "1.0.0"\nid: run:shares\n${fields}nodes:\n  - { id: p1, kind: set, values: { log: [p1], n: 5 } }\n  - { id: sub, kind: subgraph, spec: ./${child}${config} }\n  - { id: p3, kind: set, values: { log: [p3] } }\n`
    writeFileSync(join(dir, "parent.yaml"), parent("child.yaml"))
    // `seen` is fed from the parent's `log` here: the parent's `seen` did not seed it, so it gets the child's whole list.
    writeFileSync(join(dir, "mapped.yaml"), parent("child.yaml", ", config: { inputs: { seen: log } }"))
    writeFileSync(join(dir, "bad.yaml"), parent("replacing.yaml"))
    const t = setup(join(dir, "parent.yaml"))
    const shared = await t.run(Effect.flatMap((await t.graph).start({}), (r) => r.start()))
    expect([shared.status, shared.final_state]).toEqual(["done", { log: ["p1", "child", "p3"], n: 6, seen: ["x"] }])
    const mapped = await t.run(Effect.flatMap((await Effect.runPromise(Graph.load(join(dir, "mapped.yaml")))).start({}), (r) => r.start()))
    expect(mapped.final_state).toEqual({ log: ["p1", "child", "p3"], n: 6, seen: ["p1", "x"] })
    const bad = await t.run(Effect.either(Effect.flatMap((await Effect.runPromise(Graph.load(join(dir, "bad.yaml")))).start({}), (r) => r.start())))
    const error = Either.isLeft(bad) ? bad.left : undefined
    expect(error?._tag).toBe("StateValidationError")
    expect(error).toMatchObject({ field: "log", nodeId: "sub", step: 2 })
    expect(error?.message).toContain("does not start with the item(s) it was given from 'log'")
    // The child ended before its parent's step failed: its end is on record all the same (made as the parent failed).
    const runs = await t.runs()
    const failed = runs.find((r) => r.graph_id === "run:shares" && r.status === "failed")!
    expect(runs.find((r) => r.parent_run_id === failed.run_id)).toMatchObject({ graph_id: "run:replaces", status: "done", last_step: 1, owner: null })
  })

  it("a `messages` history shared with the child gets what the child added or rewrote (by id), each message once", async () => {
    const dir = tempDir()
    const fields = "state_schema:\n  fields:\n    messages: { type: array, items: { type: object }, default: [], reducer: messages }\n"
    const child = (values: string) => `ir_version: "1.0.0"\nid: run:chat-child\n${fields}nodes:\n  - { id: c, kind: set, values: { messages: ${values} } }\n`
    const parent = (seed: string, spec: string) =>
      `ir_version: "1.0.0"\nid: run:chat\n${fields}nodes:\n  - { id: p1, kind: set, values: { messages: ${seed} } }\n  - { id: sub, kind: subgraph, spec: ./${spec} }\n`
    writeFileSync(join(dir, "adds.yaml"), child(`[{ role: user, content: thanks }]`))
    writeFileSync(join(dir, "rewrites.yaml"), child(`[{ id: d1, role: assistant, content: final }, { role: user, content: thanks }]`))
    writeFileSync(join(dir, "p-adds.yaml"), parent(`[{ role: user, content: q }]`, "adds.yaml"))
    writeFileSync(join(dir, "p-rewrites.yaml"), parent(`[{ id: q1, role: user, content: q }, { id: d1, role: assistant, content: draft }]`, "rewrites.yaml"))
    const t = setup(join(dir, "p-adds.yaml"))
    const added = await t.run(Effect.flatMap((await t.graph).start({}), (r) => r.start()))
    // The message without an id that the parent gave the child is not added twice.
    expect(added.final_state["messages"]).toEqual([{ role: "user", content: "q" }, { role: "user", content: "thanks" }])
    const rewritten = await t.run(Effect.flatMap((await Effect.runPromise(Graph.load(join(dir, "p-rewrites.yaml")))).start({}), (r) => r.start()))
    expect(rewritten.final_state["messages"]).toEqual([{ id: "q1", role: "user", content: "q" }, { id: "d1", role: "assistant", content: "final" }, { role: "user", content: "thanks" }])
    // A child whose own field appends (reducer append) a second message with a given id ends
    // with both; the parent's history cannot hold that: refused, not merged into one.
    writeFileSync(join(dir, "appends.yaml"), `ir_version: "1.0.0"\nid: run:chat-child\nstate_schema:\n  fields:\n    messages: { type: array, items: { type: object }, default: [], reducer: append }\nnodes:\n  - { id: c, kind: set, values: { messages: [{ id: d1, role: assistant, content: again }] } }\n`)
    writeFileSync(join(dir, "p-appends.yaml"), parent(`[{ id: d1, role: assistant, content: draft }]`, "appends.yaml"))
    const twice = await t.run(Effect.either(Effect.flatMap((await Effect.runPromise(Graph.load(join(dir, "p-appends.yaml")))).start({}), (r) => r.start())))
    expect(Either.isLeft(twice) && twice.left).toMatchObject({ _tag: "StateValidationError", field: "messages", nodeId: "sub" })
  })

  it("cancelling the parent while its child runs cancels the child too, which keeps its committed steps", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    await withSlowNodes(150, async () => {
      const audit: Array<{ readonly run_id?: unknown; readonly event: string }> = []
      const sink: AuditSinkShape = { write: (record) => Effect.sync(() => void audit.push(record)) }
      const summary = await t.run(Effect.gen(function*() {
        const handle = yield* graph.start({ inputs: { topic: "cves" } })
        const fiber = yield* Effect.fork(handle.start())
        yield* Effect.sleep("400 millis")
        yield* handle.cancel()
        return yield* Fiber.join(fiber)
      }).pipe(Effect.provideService(AuditSink, sink)))
      expect(summary.status).toBe("cancelled")
      const child = (await t.runs()).find((r) => r.run_id !== summary.run_id)!
      expect(child).toMatchObject({ status: "cancelled", parent_run_id: summary.run_id, owner: null })
      // Recorded as a cancel is: the child's own run.cancelled event, in the audit log.
      expect(audit.filter((r) => r.event === "run.cancelled").map((r) => r.run_id).sort()).toEqual([child.run_id, summary.run_id].sort())
      expect(child.finished_at).not.toBeNull()
      const steps = (await t.checkpoints(child.run_id)).map((c) => c.step)
      expect(steps.length).toBeGreaterThan(1)
      expect(steps.length).toBeLessThan(7)
    })
  })

  it("interrupting the parent's caller while its child runs (a timeout, a server shutting down) leaves both paused; resuming the parent resumes the same child, also when interrupted again while resumed", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    await withSlowNodes(120, async () => {
      // Start (or continue) the parent on a fiber, and interrupt that fiber part-way through the child.
      const interruptAfter = (handle: { readonly start: () => Effect.Effect<unknown, unknown> }, ms: number) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(handle.start())
          yield* Effect.sleep(`${ms} millis`)
          yield* Fiber.interrupt(fiber)
        })
      const parentId = await t.run(Effect.gen(function*() {
        const handle = yield* graph.start({ inputs: { topic: "cves" } })
        yield* interruptAfter(handle, 350)
        return handle.runId
      }))
      const childOf = async () => (await t.runs()).filter((r) => r.run_id !== parentId)
      expect(await t.record(parentId)).toMatchObject({ status: "paused", owner: null })
      const [child] = await childOf()
      expect(child).toMatchObject({ status: "paused", owner: null, parent_run_id: parentId })
      const stepsAtFirst = (await t.checkpoints(child!.run_id)).length
      expect(stepsAtFirst).toBeLessThan(7)
      // Resumed, the parent resumes the child (its own fiber no more): interrupted again, both pause again.
      await t.run(Effect.flatMap(graph.resume(parentId), (handle) => interruptAfter(handle, 200)))
      expect(await t.record(parentId)).toMatchObject({ status: "paused", owner: null })
      expect((await childOf()).map((r) => [r.run_id, r.status])).toEqual([[child!.run_id, "paused"]])
      const summary = await t.run(Effect.flatMap(graph.resume(parentId), (handle) => handle.start()))
      expect(summary).toMatchObject({ status: "done", final_state: { count: 6, report: "cves: 6 ticks" } })
      expect((await childOf()).map((r) => [r.run_id, r.status])).toEqual([[child!.run_id, "done"]])
      expect((await t.checkpoints(child!.run_id)).map((c) => c.step)).toEqual([0, 1, 2, 3, 4, 5, 6])
      // A parent cancelled while it resumes its paused child cancels that child.
      const other = await t.run(Effect.gen(function*() {
        const handle = yield* graph.start({ inputs: { topic: "kev" } })
        yield* interruptAfter(handle, 350)
        const resumed = yield* graph.resume(handle.runId)
        const fiber = yield* Effect.fork(resumed.start())
        yield* Effect.sleep("200 millis")
        yield* resumed.cancel()
        return yield* Fiber.join(fiber)
      }))
      expect(other.status).toBe("cancelled")
      expect((await t.runs()).filter((r) => r.parent_run_id === other.run_id).map((r) => r.status)).toEqual(["cancelled"])
    })
  })

  it("when two children's ends cannot be written together and one cannot be written at all, the other is still written, that one is marked error, and the parent step is not committed (the parent is error, resumable)", async () => {
    const dir = fixtures()
    const child = (id: string, node: string) => [
      "ir_version: \"1.0.0\"",
      `id: ${id}`,
      "state_schema: { fields: { subject: { type: string, required: true }, count: { type: integer, default: 0, reducer: add }, log: { type: array, items: { type: string }, default: [], reducer: append } } }",
      "nodes:",
      `  - { id: ${node}, kind: function, module: ./nodes.ts, export: tick }`
    ].join("\n")
    writeFileSync(join(dir, "a.yaml"), child("run:a", "qa"))
    writeFileSync(join(dir, "b.yaml"), child("run:b", "qb"))
    writeFileSync(join(dir, "both.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:both",
      "state_schema: { fields: { topic: { type: string, required: true }, count: { type: integer, default: 0, reducer: add } } }",
      "nodes:",
      "  - { id: start, kind: noop }",
      "  - { id: a, kind: subgraph, spec: ./a.yaml, config: { inputs: { subject: topic }, outputs: { count: count } } }",
      "  - { id: b, kind: subgraph, spec: ./b.yaml, config: { inputs: { subject: topic }, outputs: { count: count } } }",
      "  - { id: join, kind: noop }",
      "rules:",
      "  - { id: fan, when: { node: start }, then: [{ kind: parallel, targets: [a, b], join: join, strategy: all }] }"
    ].join("\n"))
    const db = join(tempDir(), "runs.sqlite")
    const failing = Layer.effect(
      Checkpointer,
      Effect.map(Checkpointer, (base): CheckpointerShape => ({
        ...base,
        commitTogether: () => Effect.fail(new CheckpointError({ reason: "storage-failure", message: "database is locked (a test's)" })),
        commitSteps: (checkpoints, patch, options) =>
          checkpoints.some((c) => c.nodes.includes("qa")) && patch?.status === "done"
            ? Effect.fail(new CheckpointError({ reason: "storage-failure", message: "disk I/O error (a test's)" }))
            : base.commitSteps(checkpoints, patch, options)
      }))
    ).pipe(Layer.provide(SqliteCheckpointer.layer({ filename: db })))
    const graph = await Effect.runPromise(Graph.load(join(dir, "both.yaml")))
    const audit: Array<{ readonly run_id?: unknown; readonly event: string; readonly status?: unknown }> = []
    const sink: AuditSinkShape = { write: (record) => Effect.sync(() => void audit.push(record)) }
    const started = await Effect.runPromise(Effect.provide(
      Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => Effect.map(Effect.either(r.start()), (result) => ({ runId: r.runId, result }))),
      failing
    ).pipe(Effect.provideService(AuditSink, sink)))
    const result = started.result
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "CheckpointError", reason: "storage-failure", message: expect.stringContaining("ended, but its step 1 could not be written (disk I/O error") })
    const t = setup(join(dir, "both.yaml"), db)
    const runs = await t.runs()
    const children = runs.filter((r) => r.parent_run_id === started.runId)
    expect(children.map((r) => [r.graph_id, r.status, r.last_step]).sort()).toEqual([["run:a", "error", 0], ["run:b", "done", 1]])
    // The audit trail says the same: b finished; a, whose end was never written, failed (it never reports a finish).
    const ends = (runId: string) => audit.filter((r) => r.run_id === runId && (r.event === "run.finished" || r.event === "run.failed")).map((r) => [r.event, r.status])
    const a = children.find((r) => r.graph_id === "run:a")!
    const b = children.find((r) => r.graph_id === "run:b")!
    expect(ends(a.run_id)).toEqual([["run.failed", "error"]])
    expect(ends(b.run_id)).toEqual([["run.finished", "done"]])
    expect(runs.find((r) => r.run_id === started.runId)).toMatchObject({ status: "error", owner: null })
    // The step that ran both children was not committed: a resume runs it again (b found done, a resumed).
    expect((await t.checkpoints(started.runId)).map((c) => c.nodes)).toEqual([["__input__"], ["start"]])
  })

  it("a subgraph that loses a parallel race has its child run cancelled, not left paused", async () => {
    const dir = fixtures()
    writeFileSync(join(dir, "quick.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:quick",
      "state_schema: { fields: { subject: { type: string, required: true }, count: { type: integer, default: 0, reducer: add }, log: { type: array, items: { type: string }, default: [], reducer: append } } }",
      "nodes:",
      "  - { id: q, kind: function, module: ./nodes.ts, export: tick }"
    ].join("\n"))
    writeFileSync(join(dir, "race.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:race",
      "state_schema: { fields: { topic: { type: string, required: true }, count: { type: integer, default: 0 } } }",
      "nodes:",
      "  - { id: start, kind: noop }",
      "  - { id: quick, kind: subgraph, spec: ./quick.yaml, config: { inputs: { subject: topic }, outputs: { count: count } } }",
      "  - { id: slow, kind: subgraph, spec: ./child.yaml, config: { inputs: { subject: topic }, outputs: { count: count } } }",
      "  - { id: join, kind: noop }",
      "rules:",
      "  - { id: fan, when: { node: start }, then: [{ kind: parallel, targets: [quick, slow], join: join, strategy: race }] }"
    ].join("\n"))
    const t = setup(join(dir, "race.yaml"))
    const graph = await t.graph
    await withSlowNodes(100, async () => {
      const summary = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => r.start()))
      expect(summary).toMatchObject({ status: "done", final_state: { count: 1 } })
      const children = (await t.runs()).filter((r) => r.parent_run_id === summary.run_id)
      expect(children.map((r) => [r.graph_id, r.status]).sort()).toEqual([["run:child", "cancelled"], ["run:quick", "done"]])
    })
  })

  it("cancelling a stopped parent takes its child runs with it: the one an answer queued for it waits for, and one a pause left paused", async () => {
    const t = setup(join(FIXTURES, "approval-parent.yaml"))
    const graph = await t.graph
    // Answered through the parent while a server's slots are busy: pending, the answer kept on the record.
    const asked = await t.run(Effect.flatMap(graph.start({ inputs: { request: "r" } }), (r) => r.start()))
    const askedChild = String(asked.waiting?.payload?.["child_run_id"])
    await t.run(Effect.flatMap(Checkpointer, (c) =>
      c.takeOver(asked.run_id, { status: "awaiting-input", owner: null }, { status: "pending", waiting: { ...asked.waiting!, given: { value: "yes", actor: "alice" } } })))
    // A second answer, to the child directly, is refused meanwhile.
    const childGraph = await Effect.runPromise(Graph.load(join(FIXTURES, "approval-child.yaml")))
    const second = await t.run(Effect.either(childGraph.resume(askedChild, { response: { value: "no" }, actor: "bob" })))
    expect(Either.isLeft(second) && second.left).toMatchObject({ _tag: "RunStateError", message: expect.stringContaining(`already answered through its parent run ${asked.run_id}`) })
    const cancelled = await stargraph(["cancel", asked.run_id, "--db", t.db])
    expect([cancelled.code, cancelled.last]).toEqual([0, `run_id=${asked.run_id} status=cancelled`])
    expect((await t.record(askedChild)).status).toBe("cancelled")

    // Paused inside its child (the caller's timeout): cancelled through the run loop (the CLI) and directly.
    const slow = setup(join(FIXTURES, "parent.yaml"))
    const slowGraph = await slow.graph
    await withSlowNodes(100, async () => {
      const pausedIds: Array<string> = []
      for (let i = 0; i < 2; i++) {
        pausedIds.push(await slow.run(Effect.gen(function*() {
          const handle = yield* slowGraph.start({ inputs: { topic: "cves" } })
          const fiber = yield* Effect.fork(handle.start())
          yield* Effect.sleep("250 millis")
          yield* Fiber.interrupt(fiber)
          return handle.runId
        })))
      }
      const childOf = async (parent: string) => (await slow.runs()).find((r) => r.parent_run_id === parent)!
      expect([(await childOf(pausedIds[0]!)).status, (await childOf(pausedIds[1]!)).status]).toEqual(["paused", "paused"])
      // Through the run loop: reopened, asked to cancel.
      await slow.run(Effect.flatMap(slowGraph.resume(pausedIds[0]!), (h) => Effect.zipRight(h.cancel(), h.start())))
      // Directly on the records, given the graph's subgraph nodes (what the server's /cancel does).
      const record = await slow.record(pausedIds[1]!)
      await slow.run(Effect.flatMap(Checkpointer, (c) => cancelStopped(c, record, new Date().toISOString(), subgraphIndex(slowGraph))))
      for (const id of pausedIds) expect([(await slow.record(id)).status, (await childOf(id)).status]).toEqual(["cancelled", "cancelled"])
    })
  })

  it("two levels down: cancelling the top run takes the paused grandchild too, and an answer queued at the top refuses the grandchild's own", async () => {
    const dir = fixtures()
    const level = (id: string, spec: string, fields: string) => [
      "ir_version: \"1.0.0\"", `id: ${id}`, `state_schema: { fields: { ${fields} } }`, "nodes:",
      `  - { id: down, kind: subgraph, spec: ${spec} }`
    ].join("\n")
    const slowFields = "subject: { type: string, required: true }, count: { type: integer, default: 0, reducer: add }, log: { type: array, items: { type: string }, default: [], reducer: append }"
    writeFileSync(join(dir, "mid.yaml"), level("run:mid", "./child.yaml", slowFields))
    writeFileSync(join(dir, "top.yaml"), level("run:top", "./mid.yaml", slowFields))
    const askFields = "request: { type: string }, decision: { type: string, default: \"\" }, checked: { type: boolean, default: false }"
    writeFileSync(join(dir, "ask-mid.yaml"), level("run:ask-mid", "./approval-child.yaml", askFields))
    writeFileSync(join(dir, "ask-top.yaml"), level("run:ask-top", "./ask-mid.yaml", askFields))
    const t = setup(join(dir, "top.yaml"))
    const top = await t.graph
    await withSlowNodes(100, async () => {
      const topId = await t.run(Effect.gen(function*() {
        const handle = yield* top.start({ inputs: { subject: "cves" } })
        const fiber = yield* Effect.fork(handle.start())
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(fiber)
        return handle.runId
      }))
      const runs = async () => (await t.runs()).map((r) => [r.graph_id, r.status]).sort()
      expect(await runs()).toEqual([["run:child", "paused"], ["run:mid", "paused"], ["run:top", "paused"]])
      await t.run(Effect.flatMap(top.resume(topId), (h) => Effect.zipRight(h.cancel(), h.start())))
      expect(await runs()).toEqual([["run:child", "cancelled"], ["run:mid", "cancelled"], ["run:top", "cancelled"]])
    })
    const asked = setup(join(dir, "ask-top.yaml"))
    const askTop = await asked.graph
    const waiting = await asked.run(Effect.flatMap(askTop.start({ inputs: { request: "r" } }), (r) => r.start()))
    const mid = await asked.record(String(waiting.waiting?.payload?.["child_run_id"]))
    const grandchild = String(mid.waiting?.payload?.["child_run_id"])
    await asked.run(Effect.flatMap(Checkpointer, (c) =>
      c.takeOver(waiting.run_id, { status: "awaiting-input", owner: null }, { status: "pending", waiting: { ...waiting.waiting!, given: { value: "yes", actor: "alice" } } })))
    const childGraph = await Effect.runPromise(Graph.load(join(dir, "approval-child.yaml")))
    const second = await asked.run(Effect.either(childGraph.resume(grandchild, { response: { value: "no" }, actor: "bob" })))
    expect(Either.isLeft(second) && second.left).toMatchObject({ _tag: "RunStateError", message: expect.stringContaining(`already answered through its parent run ${waiting.run_id}`) })
  })

  it("a server goes on with a parent whose child was answered directly: it takes the child's outcome without an answer of its own", async () => {
    const t = setup(join(FIXTURES, "approval-parent.yaml"))
    const graph = await t.graph
    const done = await t.run(Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const asked = yield* scheduler.enqueue(graph.id, { request: "deploy" })
      const waiting = yield* Deferred.await(asked.summary)
      const child = String(waiting.waiting?.payload?.["child_run_id"])
      // Answered directly, in this process: the child finishes; the parent still waits.
      const childGraph = yield* Graph.load(join(FIXTURES, "approval-child.yaml"))
      yield* Effect.flatMap(childGraph.resume(child, { response: { value: "approved" }, actor: "alice" }), (h) => h.start())
      const read = Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(asked.runId)), Option.getOrThrow)
      return yield* read.pipe(
        Effect.repeat({ until: (r) => r.status === "done", schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("10 seconds"),
        Effect.zipRight(read)
      )
    }).pipe(Effect.provide(Scheduler.layer({ pollIntervalMs: 50 }).pipe(Layer.provideMerge(GraphRegistry.layer([graph]))))))
    expect(done.status).toBe("done")
    const last = (await t.checkpoints(done.run_id)).at(-1)!
    expect(last.state).toMatchObject({ decision: "approved", note: "deploy -> approved" })
  })

  it("fold the child's graph hash into the parent's", async () => {
    const dir = fixtures()
    const before = await Effect.runPromise(Graph.load(join(dir, "parent.yaml")))
    writeFileSync(join(dir, "child.yaml"), readFileSync(join(dir, "child.yaml"), "utf8").replace("- { id: c5, kind: function, module: ./nodes.ts, export: tick }\n", ""))
    const after = await Effect.runPromise(Graph.load(join(dir, "parent.yaml")))
    expect(after.graphHash).not.toBe(before.graphHash)
  })

  it("surface an interrupt inside the child on the parent (awaiting-input), and the parent's response reaches the child", async () => {
    const t = setup(join(FIXTURES, "approval-parent.yaml"))
    const graph = await t.graph
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { request: "deploy v2" } }), (r) => r.start()))
    expect(first.status).toBe("awaiting-input")
    expect(first.waiting).toMatchObject({ node: "review", prompt: "Approve the request?", step: 1, response_field: "" })
    const childId = String(first.waiting?.payload?.["child_run_id"])
    expect(first.waiting?.payload).toMatchObject({ level: 2, child_node: "ask" })
    expect(await t.record(childId)).toMatchObject({ status: "awaiting-input", parent_run_id: first.run_id, waiting: { node: "ask" } })
    // A fork of the parent while it waits inside its child: the fork's own child replays
    // the waiting child's steps and asks the same question.
    const early = await t.run(Replay.fork(graph, first.run_id, {}))
    expect(early.summary.status).toBe("awaiting-input")
    expect(early.summary.waiting).toMatchObject({ node: "review", prompt: "Approve the request?", step: 1, payload: { level: 2, child_node: "ask" } })
    expect(early.diff.outcome).toBeUndefined()
    const forkChildId = String(early.summary.waiting?.payload?.["child_run_id"])
    expect(forkChildId).not.toBe(childId)
    expect(await t.record(forkChildId)).toMatchObject({ status: "awaiting-input", parent_run_id: early.cfRunId, waiting: { node: "ask", step: 2 } })
    expect((await t.checkpoints(forkChildId)).map((c) => [c.step, c.nodes, c.state])).toEqual((await t.checkpoints(childId)).map((c) => [c.step, c.nodes, c.state]))

    const second = await t.run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "approved" } }), (r) => r.start()))
    expect(second).toMatchObject({ status: "done", final_state: { request: "deploy v2", decision: "approved", note: "deploy v2 -> approved" } })
    const child = await t.record(childId)
    expect(child.status).toBe("done")
    expect((await t.checkpoints(childId)).at(-1)?.state).toEqual({ request: "deploy v2", decision: "approved", checked: true })
    expect(await t.runs()).toHaveLength(4)
    // A replay of the answered parent: the same evidence fact at the same step, an empty diff.
    const fork = await t.run(Replay.fork(graph, first.run_id, {}))
    expect(fork.summary).toMatchObject({ status: "done", final_state: second.final_state })
    expect(fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {}, fact_deltas: {} })
    // The fork made while the parent waited takes its own answer, into its own child.
    const other = await t.run(Effect.flatMap(graph.resume(early.cfRunId, { response: { value: "rejected" } }), (r) => r.start()))
    expect(other).toMatchObject({ status: "done", final_state: { request: "deploy v2", decision: "rejected", note: "deploy v2 -> rejected" } })
    expect(await t.record(forkChildId)).toMatchObject({ status: "done" })
  })

  it("refuse a bad answer to the child's interrupt at the parent's resume, before anything changes: parent and child keep waiting", async () => {
    const t = setup(join(FIXTURES, "approval-parent.yaml"))
    const graph = await t.graph
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { request: "deploy v2" } }), (r) => r.start()))
    const childId = String(first.waiting?.payload?.["child_run_id"])
    const before = { parent: await t.checkpoints(first.run_id), child: await t.checkpoints(childId) }
    // `decision` is a string in the child: a boolean does not fit it.
    const refused = await t.run(Effect.either(graph.resume(first.run_id, { response: { value: true } })))
    if (Either.isRight(refused)) throw new Error("expected the answer to be refused")
    expect(refused.left).toMatchObject({ _tag: "StateValidationError", source: "response", field: "decision", nodeId: "ask" })
    expect(refused.left.message).toContain(`child run ${childId}`)
    expect(refused.left.message).toContain("Expected string, actual true")
    expect((refused.left as { fix?: string }).fix).toContain("(string)")
    // So does the check on its own, and an answer that is not JSON.
    const direct = await t.run(Effect.either(graph.checkResponse(first.run_id, { when: new Date(0) })))
    expect(Either.isLeft(direct) && direct.left).toMatchObject({ _tag: "StateValidationError", field: "decision.when" })
    expect(await t.record(first.run_id)).toMatchObject({ status: "awaiting-input" })
    expect(await t.record(childId)).toMatchObject({ status: "awaiting-input" })
    expect({ parent: await t.checkpoints(first.run_id), child: await t.checkpoints(childId) }).toEqual(before)
    // A good answer still goes through.
    const second = await t.run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "approved" } }), (r) => r.start()))
    expect(second).toMatchObject({ status: "done", final_state: { decision: "approved" } })
  })

  it("a child answered directly: the parent resumes without a response and takes the child's result; a response is refused", async () => {
    const t = setup(join(FIXTURES, "approval-parent.yaml"))
    const graph = await t.graph
    const child = await Effect.runPromise(Graph.load(join(FIXTURES, "approval-child.yaml")))
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { request: "deploy v3" } }), (r) => r.start()))
    const childId = String(first.waiting?.payload?.["child_run_id"])
    const answered = await t.run(Effect.flatMap(child.resume(childId, { response: { value: "approved" } }), (r) => r.start()))
    expect(answered.status).toBe("done")
    const withAnswer = await t.run(Effect.either(graph.resume(first.run_id, { response: { value: "ignored" } })))
    expect(Either.isLeft(withAnswer) && withAnswer.left).toMatchObject({ _tag: "RunStateError", operation: "resume" })
    expect(Either.isLeft(withAnswer) && withAnswer.left.message).toContain(`waited for child run ${childId}, which no longer waits for input: it was answered or resumed on its own (not through this run) and is now done; this answer was not applied: resume run ${first.run_id} without a response`)
    const resumed = await t.run(Effect.flatMap(graph.resume(first.run_id), (r) => r.start()))
    expect(resumed).toMatchObject({ status: "done", final_state: { request: "deploy v3", decision: "approved", note: "deploy v3 -> approved" } })
    expect(await t.runs()).toHaveLength(2)
  })

  it("a child answered directly that asks again: the parents waiting on it show its new question, and their answer reaches it", async () => {
    const dir = tempDir()
    const write = (name: string, lines: ReadonlyArray<string>) => writeFileSync(join(dir, name), [`ir_version: "1.0.0"`, ...lines].join("\n"))
    const fields = "state_schema: { fields: { a: { type: string, default: \"\" }, b: { type: string, default: \"\" } } }"
    write("leaf.yaml", ["id: run:leaf", fields, "nodes:", "  - { id: ask_a, kind: interrupt, prompt: \"A?\", response_field: a }", "  - { id: ask_b, kind: interrupt, prompt: \"B?\", response_field: b }"])
    write("mid.yaml", ["id: run:mid", fields, "nodes:", "  - { id: inner, kind: subgraph, spec: ./leaf.yaml }"])
    write("top.yaml", ["id: run:top", fields, "nodes:", "  - { id: outer, kind: subgraph, spec: ./mid.yaml }"])
    const t = setup(join(dir, "top.yaml"))
    const graph = await t.graph
    const leaf = await Effect.runPromise(Graph.load(join(dir, "leaf.yaml")))
    const first = await t.run(Effect.flatMap(graph.start({}), (r) => r.start()))
    expect(first.waiting).toMatchObject({ prompt: "A?", payload: { child_node: "inner" } })
    const midId = String(first.waiting?.payload?.["child_run_id"])
    const leafId = String((await t.record(midId)).waiting?.payload?.["child_run_id"])
    const again = await t.run(Effect.flatMap(leaf.resume(leafId, { response: { value: "yes" } }), (r) => r.start()))
    expect(again.waiting).toMatchObject({ node: "ask_b", prompt: "B?" })
    expect((await t.record(midId)).waiting).toMatchObject({ node: "inner", prompt: "B?", payload: { child_run_id: leafId, child_node: "ask_b" } })
    expect((await t.record(first.run_id)).waiting).toMatchObject({ node: "outer", step: 1, prompt: "B?", payload: { child_run_id: midId, child_node: "inner" } })
    // A bad answer at the top says, level by level, where each run waits.
    const refused = await t.run(Effect.either(graph.resume(first.run_id, { response: { value: 5 } })))
    expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "StateValidationError", field: "b", nodeId: "ask_b" })
    const message = Either.isLeft(refused) ? refused.left.message : ""
    expect(message).toContain(`(the answer goes to child run ${leafId} of subgraph node 'inner', which waits at its node 'ask_b')`)
    expect(message).toContain(`(the answer goes to child run ${midId} of subgraph node 'outer', which waits at its node 'inner')`)
    const done = await t.run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "no" } }), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { a: "yes", b: "no" } })
  })

  it("replay and fork through a subgraph bit-identically, without running the child again; a changed input diverges loudly unless live_after_fork", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    const parent = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => r.start()))
    const parentSteps = await t.checkpoints(parent.run_id)
    for (const fromStep of [0, 1]) {
      const fork = await t.run(Replay.fork(graph, parent.run_id, { fromStep }))
      expect(fork.summary).toMatchObject({ status: "done", final_state: parent.final_state })
      expect(fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
      const forkSteps = await t.checkpoints(fork.cfRunId)
      expect(forkSteps.map((c) => [c.step, c.nodes, c.state, c.calls ?? []])).toEqual(parentSteps.map((c) => [c.step, c.nodes, c.state, c.calls ?? []]))
    }
    // Two forks, and still one child run.
    expect((await t.runs()).filter((r) => r.graph_id === "run:child")).toHaveLength(1)

    const diverged = await t.run(Replay.fork(graph, parent.run_id, { fromStep: 1, mutation: { state_overrides: { topic: "memes" } } }))
    expect(diverged.summary.status).toBe("failed")
    expect(diverged.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "request-mismatch", nodeId: "work", call: "subgraph" })
    const live = await t.run(Replay.fork(graph, parent.run_id, { fromStep: 1, mutation: { state_overrides: { topic: "memes" } }, liveAfterFork: true }))
    expect(live.summary).toMatchObject({ status: "done", final_state: { topic: "memes", count: 6, report: "memes: 6 ticks" } })
    const children = (await t.runs()).filter((r) => r.graph_id === "run:child")
    expect(children).toHaveLength(2)
    expect(children.find((c) => c.parent_run_id === live.cfRunId)?.status).toBe("done")
  })

  it("fork a parent that waits two levels down: each new child replays its recorded one (same draws, same question); other inputs diverge unless live_after_fork", async () => {
    const dir = tempDir()
    const write = (name: string, lines: ReadonlyArray<string>) => writeFileSync(join(dir, name), [`ir_version: "1.0.0"`, ...lines].join("\n"))
    writeFileSync(join(dir, "nodes.mjs"), [
      "export const draw = async (_state, ctx) => ({ draw: await ctx.random() })",
      "export const ask = async (state, ctx) => ({ choice: await ctx.interrupt(`pick for ${state.draw}?`) })"
    ].join("\n"))
    const fields = "state_schema: { fields: { topic: { type: string, default: \"\" }, draw: { type: number, default: 0 }, choice: { type: string, default: \"\" } } }"
    write("leaf.yaml", ["id: run:leaf", fields, "nodes:", "  - { id: draw, kind: function, module: ./nodes.mjs, export: draw }", "  - { id: ask, kind: function, module: ./nodes.mjs, export: ask }"])
    write("mid.yaml", ["id: run:mid", fields, "nodes:", "  - { id: inner, kind: subgraph, spec: ./leaf.yaml }"])
    write("top.yaml", ["id: run:top", fields, "nodes:", "  - { id: prep, kind: noop }", "  - { id: outer, kind: subgraph, spec: ./mid.yaml }"])
    const t = setup(join(dir, "top.yaml"))
    const graph = await t.graph
    const first = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => r.start()))
    expect(first.status).toBe("awaiting-input")
    const fork = await t.run(Replay.fork(graph, first.run_id, {}))
    expect(fork.summary.status).toBe("awaiting-input")
    // The same question, with the draw the leaf made in the recorded run.
    expect(fork.summary.waiting?.prompt).toBe(first.waiting?.prompt)
    const byGraph = async (graphId: string) => (await t.runs()).filter((r) => r.graph_id === graphId)
    expect((await byGraph("run:leaf")).map((r) => r.status)).toEqual(["awaiting-input", "awaiting-input"])
    expect((await byGraph("run:mid")).map((r) => r.status)).toEqual(["awaiting-input", "awaiting-input"])
    // Answered, the fork finishes with the recorded draw and its own answer.
    const done = await t.run(Effect.flatMap(graph.resume(fork.cfRunId, { response: { value: "left" }, liveAfterFork: true }), (r) => r.start()))
    const draw = Number(/pick for (.*)\?/.exec(first.waiting?.prompt ?? "")?.[1])
    expect(done).toMatchObject({ status: "done", final_state: { topic: "cves", draw, choice: "left" } })

    const changed = await t.run(Replay.fork(graph, first.run_id, { fromStep: 1, mutation: { state_overrides: { topic: "memes" } } }))
    expect(changed.summary.status).toBe("failed")
    expect(changed.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "request-mismatch", nodeId: "outer", call: "subgraph" })
    expect(changed.error?.message).toContain("with other inputs than child run")
    // A fork of that failed fork replays it: it diverges the same way, with the same error.
    const again = await t.run(Replay.fork(graph, changed.cfRunId, {}))
    expect(again.summary.status).toBe("failed")
    expect(again.error).toEqual(changed.error)
    expect(again.diff.outcome).toBeUndefined()
    const live = await t.run(Replay.fork(graph, first.run_id, { fromStep: 1, mutation: { state_overrides: { topic: "memes" } }, liveAfterFork: true }))
    expect(live.summary.status).toBe("awaiting-input")
    expect(live.summary.waiting?.prompt).toMatch(/^pick for .*\?$/)
  })

  it("replay a parent whose child failed: the fork fails as the parent did, without running the child again", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "child.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:divide",
      "state_schema: { fields: { expression: { type: string, required: true }, total: { type: number } } }",
      "nodes:",
      "  - { id: calc, kind: tool, tool: std.calculator@1, inputs: { expression: expression }, out: { total: result } }"
    ].join("\n"))
    writeFileSync(join(dir, "parent.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:sum",
      "state_schema: { fields: { expression: { type: string, required: true }, total: { type: number } } }",
      "nodes:",
      "  - { id: work, kind: subgraph, spec: ./child.yaml }"
    ].join("\n"))
    const t = setup(join(dir, "parent.yaml"))
    const graph = await t.graph
    const failed = await t.run(Effect.either(Effect.flatMap(graph.start({ inputs: { expression: "1 / 0" } }), (r) => r.start())))
    if (Either.isRight(failed)) throw new Error("expected the parent to fail")
    expect(failed.left).toMatchObject({ _tag: "NodeExecutionError", nodeId: "work", errorTag: "ToolError" })
    const parentId = (await t.runs()).find((r) => r.graph_id === "run:sum")!.run_id
    const fork = await t.run(Replay.fork(graph, parentId, {}))
    expect(fork.summary.status).toBe("failed")
    expect(fork.error).toMatchObject({ _tag: "NodeExecutionError", nodeId: "work", errorTag: "ToolError", cause: failed.left.cause })
    const [parentError, forkError] = [(await t.record(parentId)).error, (await t.record(fork.cfRunId)).error]
    expect(forkError?.message).toContain("division by zero")
    expect([forkError?.type, forkError?.message, forkError?.details]).toEqual([parentError?.type, parentError?.message, parentError?.details])
    expect(fork.diff.outcome).toBeUndefined()
    expect((await t.runs()).filter((r) => r.graph_id === "run:divide")).toHaveLength(1)
  })

  it("a live fork of a parent whose child failed replays the child's finished steps and calls only from the failed one live", async () => {
    const dir = tempDir()
    const counter = join(dir, "draws.txt")
    const flag = join(dir, "outage")
    writeFileSync(counter, "")
    writeFileSync(flag, "")
    writeFileSync(join(dir, "nodes.mjs"), [
      "import { appendFileSync, existsSync } from 'node:fs'",
      `export const draw = async (state, ctx) => ({ draw: await ctx.call('draw', {}, () => { appendFileSync(${JSON.stringify(counter)}, 'x'); return 7 }) })`,
      `export const flaky = async (state, ctx) => ({ total: await ctx.call('lookup', { draw: state.draw }, () => { if (existsSync(${JSON.stringify(flag)})) throw new Error('service down'); return state.draw * 6 }) })`
    ].join("\n"))
    const fields = "state_schema: { fields: { draw: { type: integer }, total: { type: integer } } }"
    writeFileSync(join(dir, "child.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:child",
      fields,
      "nodes:",
      "  - { id: draw, kind: function, module: ./nodes.mjs, export: draw }",
      "  - { id: flaky, kind: function, module: ./nodes.mjs, export: flaky }"
    ].join("\n"))
    writeFileSync(join(dir, "parent.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:outer",
      fields,
      "nodes:",
      "  - { id: work, kind: subgraph, spec: ./child.yaml }"
    ].join("\n"))
    const t = setup(join(dir, "parent.yaml"))
    const graph = await t.graph
    const failed = await t.run(Effect.either(Effect.flatMap(graph.start({}), (r) => r.start())))
    if (Either.isRight(failed)) throw new Error("expected the parent to fail")
    expect(readFileSync(counter, "utf8")).toBe("x")
    const parentId = (await t.runs()).find((r) => r.graph_id === "run:outer")!.run_id
    // The outage is over: the live fork calls the failed lookup again, not the draw before it.
    rmSync(flag)
    const fork = await t.run(Replay.fork(graph, parentId, { liveAfterFork: true }))
    expect(fork.summary.status).toBe("done")
    expect(fork.summary.final_state).toMatchObject({ draw: 7, total: 42 })
    expect(readFileSync(counter, "utf8")).toBe("x")
    const children = (await t.runs()).filter((r) => r.graph_id === "run:child")
    expect(children.map((r) => r.status).sort()).toEqual(["done", "failed"])
  })

  it("refuse a child graph that does not exist, is a folder, is broken, leaves the graph's folder, includes its parent, or does not declare a mapped field", async () => {
    const dir = fixtures()
    const write = (name: string, body: string) => {
      writeFileSync(join(dir, name), `ir_version: "1.0.0"\nid: run:${name.replace(".yaml", "")}\n${body}`)
      return join(dir, name)
    }
    expect(await buildError(write("missing.yaml", "state_schema: { x: str }\nnodes: [{ id: s, kind: subgraph, spec: ./nope.yaml }]\n")))
      .toMatchObject({ _tag: "IRValidationError", path: "nodes[0].spec", line: 4, message: expect.stringMatching(/^subgraph '\.\/nope\.yaml' does not exist/) })
    expect(await buildError(write("outside.yaml", "state_schema: { x: str }\nnodes: [{ id: s, kind: subgraph, spec: ../elsewhere/child.yaml }]\n")))
      .toMatchObject({ path: "nodes[0].spec", message: expect.stringMatching(/resolves outside the graph's folder/) })
    expect(await buildError(join(dir, "cycle-a.yaml")))
      .toMatchObject({ _tag: "IRValidationError", path: "nodes[0].spec", message: "subgraph './cycle-a.yaml' includes its parent: cycle-a.yaml → cycle-b.yaml → cycle-a.yaml (in subgraph ./cycle-b.yaml, named at cycle-a.yaml nodes[0].spec)" })
    expect(await buildError(write("self.yaml", "state_schema: { x: str }\nnodes: [{ id: s, kind: subgraph, spec: ./self.yaml }]\n")))
      .toMatchObject({ message: "subgraph './self.yaml' includes its parent: self.yaml → self.yaml" })
    expect(await buildError(write("parent-field.yaml", "state_schema: { x: str }\nnodes: [{ id: s, kind: subgraph, spec: ./child.yaml, config: { inputs: { subject: nope } } }]\n")))
      .toMatchObject({ path: "nodes[0].config.inputs.subject", message: "inputs reads undeclared parent field 'nope'" })
    expect(await buildError(write("child-field.yaml", "state_schema: { x: str }\nnodes: [{ id: s, kind: subgraph, spec: ./child.yaml, config: { outputs: { x: nope } } }]\n")))
      .toMatchObject({ path: "nodes[0].config.outputs.x", message: "outputs reads child field 'nope', which graph 'run:child' does not declare" })
    // A folder, and a child that is itself broken: its own location, and the parent node that named it.
    mkdirSync(join(dir, "folder"))
    expect(await buildError(write("folder-parent.yaml", "state_schema: { x: str }\nnodes: [{ id: s, kind: subgraph, spec: ./folder }]\n")))
      .toMatchObject({ path: "nodes[0].spec", message: expect.stringMatching(/^subgraph '\.\/folder' is a folder/) })
    write("broken-child.yaml", "state_schema: { x: str }\nnodes: [{ id: b, kind: sett }]\n")
    expect(await buildError(write("broken-parent.yaml", "state_schema: { x: str }\nnodes: [{ id: s, kind: subgraph, spec: ./broken-child.yaml }]\n")))
      .toMatchObject({ file: join(dir, "broken-child.yaml"), path: "nodes[0].kind", message: "unknown node kind 'sett' (in subgraph ./broken-child.yaml, named at broken-parent.yaml nodes[0].spec)" })
  })

  it("refuse fields passed in or given back between declared types that clash (mapped or shared by name), when the graph is built: no run starts", async () => {
    const dir = fixtures()
    const write = (name: string, body: string) => {
      writeFileSync(join(dir, name), `ir_version: "1.0.0"\nid: run:${name.replace(".yaml", "")}\n${body}`)
      return join(dir, name)
    }
    // child.yaml: subject string, count integer (add), log list (append).
    expect(await buildError(write("in-mapped.yaml", "state_schema: { fields: { n: { type: integer }, count: { type: integer } } }\nnodes: [{ id: s, kind: subgraph, spec: ./child.yaml, config: { inputs: { subject: n } } }]\n")))
      .toMatchObject({ path: "nodes[0].config.inputs.subject", message: "inputs feeds child field 'subject' (declared string in graph 'run:child') from parent field 'n' (declared integer)" })
    expect(await buildError(write("in-shared.yaml", "state_schema: { fields: { subject: { type: boolean } } }\nnodes: [{ id: s, kind: subgraph, spec: ./child.yaml }]\n")))
      .toMatchObject({ path: "nodes[0].spec", message: "the shared field feeds child field 'subject' (declared string in graph 'run:child') from parent field 'subject' (declared boolean)" })
    expect(await buildError(write("out-mapped.yaml", "state_schema: { fields: { subject: { type: string }, total: { type: string } } }\nnodes: [{ id: s, kind: subgraph, spec: ./child.yaml, config: { outputs: { total: count } } }]\n")))
      .toMatchObject({ path: "nodes[0].config.outputs.total", message: "outputs gives child field 'count' (declared integer in graph 'run:child') back to parent field 'total' (declared string)" })
    // Shared by name but fed from another parent field: what is given back still clashes.
    expect(await buildError(write("out-shared.yaml", "state_schema: { fields: { s: { type: string }, subject: { type: array } } }\nnodes: [{ id: s, kind: subgraph, spec: ./child.yaml, config: { inputs: { subject: s } } }]\n")))
      .toMatchObject({ path: "nodes[0].spec", message: "the shared field gives child field 'subject' (declared string in graph 'run:child') back to parent field 'subject' (declared array)" })
    // Types that can agree are taken: number and integer, any, an untyped (module) field.
    const ok = await Effect.runPromiseExit(Graph.load(write("compatible.yaml", "state_schema: { fields: { subject: { type: any }, count: { type: number } } }\nnodes: [{ id: s, kind: subgraph, spec: ./child.yaml }]\n")))
    expect(ok._tag).toBe("Success")
  })

  it("a fork killed while its child replays, resumed after the parent was answered, finishes that child: no child run is left running", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "nodes.mjs"), [
      "export const draw = async (_s, ctx) => ({ a: await ctx.random() })",
      "export const slow = async () => { await new Promise((r) => setTimeout(r, Number(process.env.SLOW_NODE_MS ?? 0))); return {} }",
      "export const ask = async (s, ctx) => ({ choice: await ctx.interrupt(`pick for ${s.a}?`) })"
    ].join("\n"))
    const fields = "state_schema: { fields: { a: { type: number, default: 0 }, choice: { type: string, default: \"\" } } }"
    const write = (name: string, lines: ReadonlyArray<string>) => writeFileSync(join(dir, name), [`ir_version: "1.0.0"`, ...lines].join("\n"))
    write("leaf.yaml", ["id: run:leaf", fields, "nodes:", ...["draw", "slow", "ask"].map((n) => `  - { id: ${n}, kind: function, module: ./nodes.mjs, export: ${n} }`)])
    write("top.yaml", ["id: run:top", fields, "nodes:", "  - { id: prep, kind: noop }", "  - { id: outer, kind: subgraph, spec: ./leaf.yaml }"])
    const db = join(dir, "runs.sqlite")
    const started = await stargraph(["run", join(dir, "top.yaml"), "--db", db, "--quiet"])
    const parentId = /run_id=(\S+)/.exec(started.last)![1]!
    const runs = () => {
      const conn = new Database(db, { readonly: true, fileMustExist: true })
      try {
        return conn.prepare("SELECT run_id, graph_id, status, parent_run_id FROM runs_history").all() as Array<{ run_id: string; graph_id: string; status: string; parent_run_id: string | null }>
      } finally {
        conn.close()
      }
    }
    // The fork's child replays slowly; the fork's process is killed inside it.
    const replay = startStargraph(["replay", parentId, "--db", db], { env: { SLOW_NODE_MS: "5000" } })
    for (let i = 0; i < 300 && !runs().some((r) => r.graph_id === "run:leaf" && r.parent_run_id?.startsWith("cf-") === true); i++) await new Promise((r) => setTimeout(r, 50))
    await new Promise((r) => setTimeout(r, 300))
    replay.child.kill("SIGKILL")
    expect([(await replay.done).signal, replay.stderr()]).toEqual(["SIGKILL", ""])
    const forkId = runs().find((r) => r.run_id.startsWith("cf-"))!.run_id
    expect(runs().find((r) => r.parent_run_id === forkId)?.status).toBe("running")
    // The parent is answered meanwhile; then the fork is resumed: it replays the parent's answer.
    expect((await stargraph(["resume", parentId, "--db", db, "--response", "\"P\"", "--quiet"])).last).toBe(`run_id=${parentId} status=done`)
    const resumed = await stargraph(["resume", forkId, "--db", db, "--quiet"], { env: { SLOW_NODE_MS: "1" } })
    expect(resumed.last).toBe(`run_id=${forkId} status=done`)
    expect(runs().filter((r) => r.status !== "done").map((r) => [r.graph_id, r.status])).toEqual([])
  })

  it("a kill -9 inside the child resumes inside the child: the same child run continues from its last checkpoint", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    const proc = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), "run", join(dir, "parent.yaml"), "--db", db, "--inputs", "topic=crash", "--quiet"], {
      stdio: "ignore",
      env: { ...process.env, SLOW_NODE_MS: "150" }
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on("exit", (_code, signal) => resolve(signal)))
    const childSteps = (): { runs: Array<{ run_id: string; graph_id: string; status: string }>; steps: number } => {
      const conn = new Database(db, { readonly: true, fileMustExist: true })
      try {
        const runs = conn.prepare("SELECT run_id, graph_id, status FROM runs_history").all() as Array<{ run_id: string; graph_id: string; status: string }>
        const child = runs.find((r) => r.graph_id === "run:child")
        const steps = child ? (conn.prepare("SELECT COUNT(*) AS n FROM checkpoints WHERE run_id = ?").get(child.run_id) as { n: number }).n : 0
        return { runs, steps }
      } finally {
        conn.close()
      }
    }
    let seen = { runs: [] as Array<{ run_id: string; graph_id: string; status: string }>, steps: 0 }
    for (let i = 0; i < 300 && seen.steps < 3; i++) {
      await new Promise((r) => setTimeout(r, 50))
      try {
        seen = childSteps()
      } catch {
        // not created yet
      }
    }
    proc.kill("SIGKILL")
    expect(await exited).toBe("SIGKILL")
    const before = childSteps()
    const parent = before.runs.find((r) => r.graph_id === "run:parent")!
    const child = before.runs.find((r) => r.graph_id === "run:child")!
    expect(parent.status).toBe("running")
    expect(child.status).toBe("running")
    expect(before.steps).toBeGreaterThanOrEqual(3)
    expect(before.steps).toBeLessThan(7)

    const resumed = await stargraph(["resume", parent.run_id, "--db", db, "--quiet"], { env: { SLOW_NODE_MS: "1" } })
    expect(resumed.stderr).toBe("")
    expect(resumed.last).toBe(`run_id=${parent.run_id} status=done`)
    const after = childSteps()
    expect(after.runs.filter((r) => r.graph_id === "run:child")).toEqual([{ ...child, status: "done" }])
    const conn = new Database(db, { readonly: true })
    const log = JSON.parse((conn.prepare("SELECT state FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1").get(parent.run_id) as { state: string }).state) as { log: Array<string>; count: number }
    const childLog = (conn.prepare("SELECT step, writes FROM checkpoints WHERE run_id = ? ORDER BY step").all(child.run_id) as Array<{ step: number; writes: string }>)
    conn.close()
    // Every child step ran once and in order across the crash: no step repeated, none lost.
    expect(childLog.map((c) => c.step)).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(log).toMatchObject({ count: 6, log: ["c0@0:crash", "c1@1:crash", "c2@2:crash", "c3@3:crash", "c4@4:crash", "c5@5:crash"] })
  })

  it("inspect shows the nesting: the child's steps under the parent step that ran them, and the child's link to its parent", async () => {
    const dir = fixtures()
    const db = join(dir, "runs.sqlite")
    const ran = await stargraph(["run", join(dir, "parent.yaml"), "--db", db, "--inputs", "topic=cves", "--quiet"])
    expect(ran.code).toBe(0)
    const parentId = ran.last.replace(/^run_id=(\S+) .*$/, "$1")
    const shown = await stargraph(["inspect", parentId, "--db", db])
    expect(shown.code).toBe(0)
    const childLine = shown.lines.find((l) => l.includes("↳ child run"))!
    const childId = /child run (\S+)/.exec(childLine)![1]!
    expect(childLine).toMatch(/↳ child run \S+ {2}graph run:child {2}status done/)
    const at = shown.lines.indexOf(childLine)
    expect(shown.lines[at - 1]).toMatch(/^2 +work +completed/)
    expect(shown.lines[at + 2]).toMatch(/^ {8}0 +__input__ +child/)
    expect(shown.lines[at + 3]).toMatch(/^ {8}1 +c0 +completed .*count=1/)
    const json = JSON.parse((await stargraph(["inspect", parentId, "--db", db, "--json"])).stdout) as { children: unknown }
    expect(json.children).toEqual([{ run_id: childId, parent_step: 2, node: "work", graph_id: "run:child", status: "done" }])
    const child = await stargraph(["inspect", childId, "--db", db])
    expect(child.lines).toContain(`child run of ${parentId} at step 2 (subgraph node 'work')`)

    // A parent waiting on its child shows the child's wait under its own.
    const waiting = await stargraph(["run", join(dir, "approval-parent.yaml"), "--db", db, "--inputs", "request=deploy", "--quiet"])
    expect(waiting.code).toBe(3)
    const waitingId = waiting.last.replace(/^run_id=(\S+) .*$/, "$1")
    const nested = await stargraph(["inspect", waitingId, "--db", db])
    const wait = nested.lines.findIndex((l) => /^1 +review +awaiting-input +- +Approve the request\?/.test(l))
    expect(wait).toBeGreaterThan(0)
    expect(nested.lines[wait + 1]).toMatch(/↳ child run \S+ {2}graph run:approval-child {2}status awaiting-input/)
    expect(nested.lines.some((l) => /^ {8}2 +ask +awaiting-input/.test(l))).toBe(true)
  })
})
