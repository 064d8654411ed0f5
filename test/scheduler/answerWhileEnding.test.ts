/**
 * An answer to a run whose job is still ending in this process (its record already
 * `awaiting-input`, the job not yet off the Scheduler's books) is queued, never dropped.
 */
import { join } from "node:path"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { AuditSink } from "../../src/telemetry/AuditSink.js"
import { ROOT, tempDir } from "../helpers/cli.js"

describe("Scheduler.resume of a run whose job is ending", () => {
  it("an answer given while the job that stopped the run for input has not ended yet is applied, not dropped", async () => {
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(join(ROOT, "examples", "approval", "graph.yaml"))
      const asked = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      // The job writes `run.waiting` after the record says awaiting-input: held there, it has not ended.
      const audit = Layer.succeed(AuditSink, {
        write: (record) => record.event === "run.waiting" ? Effect.zipRight(Deferred.succeed(asked, undefined), Deferred.await(gate)) : Effect.void
      })
      const stack = Scheduler.layer({ pollIntervalMs: 50 }).pipe(
        Layer.provideMerge(GraphRegistry.layer([graph])),
        Layer.provideMerge(SqliteCheckpointer.layer({ filename: join(tempDir(), "db.sqlite") })),
        Layer.provideMerge(audit)
      )
      return yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        const checkpointer = yield* Checkpointer
        const enqueued = yield* scheduler.enqueue("run:approval", { request: "x" })
        yield* Deferred.await(asked)
        const before = Option.getOrThrow(yield* checkpointer.getRun(enqueued.runId))
        expect(before.status).toBe("awaiting-input")
        const answered = yield* scheduler.resume(enqueued.runId, { response: { value: { approved: true } }, actor: "alice" })
        yield* Deferred.succeed(gate, undefined)
        // Polled from the record: the answer is taken up once the ending job is off the books.
        for (let i = 0; i < 100; i++) {
          const now = Option.getOrThrow(yield* checkpointer.getRun(enqueued.runId))
          if (now.status === "done") return { answered, now, state: Option.getOrThrow(yield* checkpointer.latestCheckpoint(enqueued.runId)).state }
          yield* Effect.sleep("50 millis")
        }
        return { answered, now: Option.getOrThrow(yield* checkpointer.getRun(enqueued.runId)), state: undefined }
      }).pipe(Effect.provide(stack))
    }))
    expect(outcome.now.status).toBe("done")
    expect(outcome.state?.["outcome"]).toBe("published: Proposed change: x")
  }, 20_000)
})
