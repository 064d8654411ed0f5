/**
 * The Checkpointer contract through its public entry (`stargraph/testing`): over the
 * memory store and SQLite under `synchronous = NORMAL` here; SQLite (FULL) and PostgreSQL
 * run it in their conformance suites (test/checkpoint/conformance.ts).
 */
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { describe, expect, it } from "vitest"
import { Checkpointer, type CheckpointerShape } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { checkpointerContract } from "../../src/testing/index.js"
import { tempDir } from "../helpers/cli.js"

const backends: ReadonlyArray<readonly [string, Layer.Layer<Checkpointer, unknown>]> = [
  ["memory", MemoryCheckpointer.layer],
  ["sqlite (NORMAL)", SqliteCheckpointer.layer({ filename: join(tempDir(), "contract-normal.sqlite"), synchronous: "NORMAL" })]
]

for (const [name, layer] of backends) {
  describe(`Checkpointer contract: ${name}`, () => {
    for (const check of checkpointerContract(layer)) {
      it(check.name, () => Effect.runPromise(check.run))
    }
  })
}

describe("the contract itself", () => {
  it("catches a backend that breaks it (a memory store whose listRuns ignores the cursor)", async () => {
    const broken = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (c) => ({
      ...c,
      listRuns: (query: Parameters<typeof c.listRuns>[0]) => c.listRuns({ ...query, cursor: undefined })
    })))
    const failures = await Promise.all(checkpointerContract(broken).map((check) => Effect.runPromise(Effect.either(check.run))))
    const failed = failures.filter((r) => r._tag === "Left").map((r) => (r._tag === "Left" ? r.left.check : ""))
    expect(failed.some((name) => name.startsWith("listRuns"))).toBe(true)
  })

  it("catches a backend that ignores thread_newest (it checks a thread's newest run against continued_from only)", async () => {
    const broken = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (c) => ({
      ...c,
      createRun: (run: Parameters<typeof c.createRun>[0]) => c.createRun({ ...run, thread_newest: undefined })
    })))
    const failures = await Promise.all(checkpointerContract(broken).map((check) => Effect.runPromise(Effect.either(check.run))))
    const failed = failures.flatMap((r) => (r._tag === "Left" ? [r.left.check] : []))
    expect(failed).toEqual([expect.stringMatching(/passes over failed runs \(thread_newest\)/)])
  })

  const failedChecks = async (layer: Layer.Layer<Checkpointer>) =>
    (await Promise.all(checkpointerContract(layer).map((check) => Effect.runPromise(Effect.either(check.run))))).flatMap((r) => (r._tag === "Left" ? [r.left.check] : []))

  it("checks the optional heartbeat operations only when a backend has them, and catches one that breaks them", async () => {
    const memoryWith = (change: (c: CheckpointerShape) => CheckpointerShape) => Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, change))
    // Without the optional operations: nothing of theirs is checked.
    expect(await failedChecks(memoryWith(({ beat: _b, endHeartbeat: _e, heartbeats: _h, sweepHeartbeats: _s, requestCancel: _r, cancelRequests: _c, ...rest }) => rest))).toEqual([])
    // Half of them: refused.
    expect(await failedChecks(memoryWith(({ heartbeats: _h, ...rest }) => rest))).toEqual(expect.arrayContaining([expect.stringMatching(/^heartbeats/), expect.stringMatching(/^sweepHeartbeats/)]))
    expect(await failedChecks(memoryWith(({ cancelRequests: _c, ...rest }) => rest))).toEqual([expect.stringMatching(/^requestCancel/)])
    // A beat that does not count up; a sweep that removes the heartbeat of an owner still running a run; a request any process reads.
    expect(await failedChecks(memoryWith((c) => ({ ...c, beat: (owner, leaseMs) => Effect.zipRight(c.endHeartbeat!(owner), c.beat!(owner, leaseMs)) })))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^heartbeats/)])
    )
    const everything = memoryWith((c) => ({
      ...c,
      sweepHeartbeats: (staleness, dryRun) =>
        Effect.flatMap(c.listRuns({ status: "running", limit: 500 }), (page) =>
          Effect.flatMap(c.sweepHeartbeats!(staleness, dryRun), (swept) =>
            Effect.as(dryRun === true ? Effect.void : Effect.forEach(page.runs, (r) => (r.owner === null ? Effect.void : c.endHeartbeat!(r.owner))), [
              ...swept,
              ...page.runs.flatMap((r) => (r.owner === null ? [] : [r.owner]))
            ])))
    }))
    expect(await failedChecks(everything)).toEqual([expect.stringMatching(/^sweepHeartbeats/)])
    const anyone = memoryWith((c) => ({ ...c, cancelRequests: () => Effect.flatMap(c.listRuns({ status: "running", limit: 500 }), (page) => Effect.succeed(page.runs.map((r) => r.run_id))) }))
    expect(await failedChecks(anyone)).toEqual([expect.stringMatching(/^requestCancel/)])
  })
})
