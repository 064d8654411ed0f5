/**
 * Live calls after a fork (`liveAfterFork` in resume options) asked for a run that is not a
 * counterfactual fork: refused before anything changes (`RunStateError`, `field:
 * "liveAfterFork"`), answering or resuming, instead of being ignored; a fork still takes it.
 * Real SQLite files.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { cancelStopped } from "../../src/runtime/cancelStopped.js"
import { type AuditRecord, AuditSink, type AuditSinkShape } from "../../src/telemetry/AuditSink.js"
import { tempDir } from "../helpers/cli.js"

// Asks for a number, then doubles it with a recorded tool call.
const GRAPH = [
  'ir_version: "1.0.0"', "id: run:ask-double", "state_schema:", "  fields:", "    n: { type: integer, default: 0 }", "    doubled: { type: integer, default: 0 }",
  "nodes:", '  - { id: ask, kind: interrupt, prompt: "number?", response_field: n }',
  '  - { id: dbl, kind: tool, tool: std.calculator@1, inputs: { expression: "{{n}} * 2" }, out: { doubled: result } }', "edges:", "  - { from: ask, to: dbl }", ""
].join("\n")

const setup = async () => {
  const dir = tempDir()
  writeFileSync(join(dir, "graph.yaml"), GRAPH)
  const layer = SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") })
  const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
  const graph = await Effect.runPromise(Graph.load(join(dir, "graph.yaml")))
  /** The run's record and checkpoints, as stored. */
  const stored = (runId: string) =>
    run(Effect.flatMap(Checkpointer, (c) => Effect.all({ record: Effect.map(c.getRun(runId), Option.getOrThrow), checkpoints: c.listCheckpoints(runId) })))
  return { run, graph, stored }
}

describe("resume options liveAfterFork for a run that is not a fork", () => {
  it("is refused, answering: a RunStateError naming the option, that the run is not a fork and the answer without it; nothing changes; without it the run finishes", async () => {
    const t = await setup()
    const first = await t.run(Effect.flatMap(t.graph.start({ inputs: {} }), (r) => r.start()))
    expect(first.status).toBe("awaiting-input")
    const before = await t.stored(first.run_id)
    // Its `answer.refused` record names why: `not-a-fork`.
    const audited: Array<AuditRecord> = []
    const sink: AuditSinkShape = { write: (record) => Effect.sync(() => void audited.push(record)) }
    const refused = await t.run(Effect.either(Effect.provideService(t.graph.resume(first.run_id, { response: { value: 7 }, liveAfterFork: true }), AuditSink, sink)))
    if (Either.isRight(refused)) throw new Error("expected the answer with liveAfterFork to be refused")
    expect(audited).toEqual([expect.objectContaining({ event: "answer.refused", run_id: first.run_id, reason: "not-a-fork", error: "RunStateError", message: refused.left.message })])
    expect(refused.left).toMatchObject({ _tag: "RunStateError", runId: first.run_id, status: "awaiting-input", operation: "resume", field: "liveAfterFork" })
    expect(refused.left.message).toContain(`run ${first.run_id} is not a counterfactual fork`)
    expect(refused.left.message).toContain("--live-after-fork on the CLI, live_after_fork over HTTP, liveAfterFork in an app")
    expect(refused.left.message).toContain("It was not answered (nothing was changed)")
    expect((refused.left as { fix?: string }).fix).toBe(
      `answer it without the option: stargraph respond ${first.run_id} --response '<json>' on the CLI, ` +
        `POST /v1/runs/${first.run_id}/respond with {"response": <JSON>} over HTTP, resume options { response } without liveAfterFork in an app`
    )
    expect(await t.stored(first.run_id)).toEqual(before)
    // Without the option, the same answer goes through.
    const done = await t.run(Effect.flatMap(t.graph.resume(first.run_id, { response: { value: 7 } }), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { n: 7, doubled: 14 } })
  })

  it("is refused, resuming a paused run; a fork of it takes the option (answered with it, it calls live past its parent's recording)", async () => {
    const t = await setup()
    const first = await t.run(Effect.flatMap(t.graph.start({ inputs: {} }), (r) => r.start()))
    await t.run(Effect.flatMap(Checkpointer, (c) => c.updateRun(first.run_id, { status: "paused", waiting: null })))
    const before = await t.stored(first.run_id)
    const refused = await t.run(Effect.either(t.graph.resume(first.run_id, { liveAfterFork: true })))
    if (Either.isRight(refused)) throw new Error("expected the resume with liveAfterFork to be refused")
    expect(refused.left).toMatchObject({ _tag: "RunStateError", status: "paused", field: "liveAfterFork" })
    expect(refused.left.message).toContain("It was not resumed (nothing was changed)")
    expect((refused.left as { fix?: string }).fix).toContain(`resume it without the option: stargraph resume ${first.run_id} on the CLI, POST /v1/runs/${first.run_id}/resume over HTTP`)
    expect(await t.stored(first.run_id)).toEqual(before)
    // A fork (made before the parent was answered: its recording ends at the question) is answered with it.
    await t.run(Effect.flatMap(Checkpointer, (c) => c.updateRun(first.run_id, { status: "awaiting-input", waiting: before.record.waiting ?? null })))
    const fork = await t.run(Replay.fork(t.graph, first.run_id, {}))
    expect(fork.summary.status).toBe("awaiting-input")
    const done = await t.run(Effect.flatMap(t.graph.resume(fork.cfRunId, { response: { value: 7 }, liveAfterFork: true }), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { n: 7, doubled: 14 } })
    expect((await t.stored(fork.cfRunId)).record.live_after_fork).toBe(true)
  })
})

describe("resume options liveAfterFork on a fork, refused after its checks", () => {
  it("is stored only by the write that drives the fork on: a handle not started, or refused at its take-over (the fork cancelled meanwhile), leaves live_after_fork as it was", async () => {
    const t = await setup()
    const first = await t.run(Effect.flatMap(t.graph.start({ inputs: {} }), (r) => r.start()))
    expect(first.status).toBe("awaiting-input")
    // Forked at the question: the parent's recording ends there, so the answer needs live calls.
    const fork = await t.run(Replay.fork(t.graph, first.run_id, {}))
    expect(fork.summary.status).toBe("awaiting-input")
    const before = await t.stored(fork.cfRunId)
    expect(before.record.live_after_fork).toBe(false)
    const waitId = before.record.waiting?.wait_id
    expect(waitId).toBeTypeOf("string")
    // In one process (one database connection): every check passed and the handle is made,
    // but nothing is driven yet, so nothing is stored; then the fork is cancelled (by another
    // process, say) before the handle starts: its take-over is refused, and live_after_fork
    // stays false (the answer, naming its wait, was not applied either).
    const { made, stopped, refused } = await t.run(Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const handle = yield* t.graph.resume(fork.cfRunId, { response: { value: 7 }, waitId, liveAfterFork: true })
      const made = Option.getOrThrow(yield* checkpointer.getRun(fork.cfRunId))
      expect(yield* cancelStopped(checkpointer, made, new Date().toISOString())).toEqual([fork.cfRunId])
      const stopped = yield* Effect.all({ record: Effect.map(checkpointer.getRun(fork.cfRunId), Option.getOrThrow), checkpoints: checkpointer.listCheckpoints(fork.cfRunId) })
      return { made, stopped, refused: yield* Effect.either(handle.start()) }
    }))
    expect(made).toEqual(before.record)
    expect(stopped.record.status).toBe("cancelled")
    if (Either.isRight(refused)) throw new Error("expected the answer's take-over to be refused after the cancel")
    expect(refused.left).toMatchObject({ _tag: "RunStateError", runId: fork.cfRunId, status: "cancelled", operation: "respond" })
    expect(refused.left.message).toBe(`run ${fork.cfRunId} does not wait at ${waitId}: it is cancelled now, waiting for no answer; this answer was not applied`)
    const after = await t.stored(fork.cfRunId)
    expect(after.record.live_after_fork).toBe(false)
    expect(after).toEqual(stopped)
    // A second fork, answered with it: the take-over stores it (with the answer) and the fork calls live past its parent's recording.
    const again = await t.run(Replay.fork(t.graph, first.run_id, {}))
    const done = await t.run(Effect.flatMap(t.graph.resume(again.cfRunId, { response: { value: 7 }, liveAfterFork: true }), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { n: 7, doubled: 14 } })
    expect((await t.stored(again.cfRunId)).record.live_after_fork).toBe(true)
  })
})
