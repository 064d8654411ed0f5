/** Checks every Checkpointer with heartbeats passes (SQLite and memory in leases.test.ts, PostgreSQL in postgres.test.ts). */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { expect } from "vitest"
import type { CheckpointerShape } from "../../src/checkpoint/Checkpointer.js"
import type * as Graph from "../../src/graph/Graph.js"
import { OWNER } from "../../src/runtime/owner.js"

/** What every Checkpointer with heartbeats does (SQLite, memory; PostgreSQL in postgres.test.ts). */
export const heartbeatChecks = (c: CheckpointerShape) =>
  Effect.gen(function*() {
    const me = `checks-${Math.random()}:1:1`
    expect(yield* c.heartbeats!([me])).toEqual([])
    yield* c.beat!(me, 500)
    yield* c.beat!(me, 700)
    const [row] = yield* c.heartbeats!([me, "nobody:2:2"])
    expect(row).toMatchObject({ owner: me, beat: 2, lease_ms: 700 })
    expect(row!.age_ms).toBeGreaterThanOrEqual(0)
    expect(Math.abs(Date.parse(row!.beat_at) - Date.now())).toBeLessThan(60_000)
    yield* c.endHeartbeat!(me)
    expect(yield* c.heartbeats!([me])).toEqual([])
  })

/** A drive's writes land only while it owns its run; a take-over from a step refuses a run that moved past it. */
export const ownerGuardChecks = (c: CheckpointerShape, graph: Graph.Graph) =>
  Effect.gen(function*() {
    const stale = "stalled-host:1:1"
    const created = yield* c.createRun({ ...(yield* graph.newRun({ inputs: {} })), running: { owner: stale, started_at: new Date().toISOString() } })
    const runId = created.record.run_id
    const step0 = Option.getOrThrow(yield* c.latestCheckpoint(runId))
    const step = (n: number) => ({ ...step0, step: n, parent_step: n - 1 })
    // The owner commits step 1; another process's take-over read step 0: refused, the owner keeps its run.
    yield* c.commitSteps([step(1)], undefined, { owner: stale })
    expect(yield* c.takeOver(runId, { status: "running", owner: stale, step: 0 }, { owner: OWNER })).toBe(false)
    expect(yield* c.takeOver(runId, { status: "running", owner: stale, step: 1 }, { owner: OWNER })).toBe(true)
    // The stalled owner wakes up: its step and its status change are refused, nothing is written.
    const lost = yield* Effect.either(c.commitSteps([step(2)], undefined, { owner: stale }))
    expect(Either.isLeft(lost) && lost.left).toMatchObject({ _tag: "CheckpointError", reason: "taken-over", runId })
    expect(Either.isLeft(lost) && lost.left.message).toContain(`driven by ${OWNER}`)
    const lostDone = yield* Effect.either(c.commitSteps([step(2), step(3)], { status: "done", owner: null }, { owner: stale }))
    expect(Either.isLeft(lostDone) && lostDone.left).toMatchObject({ reason: "taken-over" })
    expect((yield* c.listCheckpoints(runId)).map((cp) => cp.step)).toEqual([0, 1])
    expect(Option.getOrThrow(yield* c.getRun(runId))).toMatchObject({ status: "running", owner: OWNER })
    // The new owner's commits land.
    yield* c.commitSteps([step(2), step(3)], { status: "done", owner: null }, { owner: OWNER })
    expect(Option.getOrThrow(yield* c.getRun(runId))).toMatchObject({ status: "done", owner: null, last_step: 3 })
    const gone = yield* Effect.either(c.commitSteps([{ ...step(1), run_id: "run-nothing" }], undefined, { owner: OWNER }))
    expect(Either.isLeft(gone) && gone.left).toMatchObject({ reason: "unknown-run" })
  })

