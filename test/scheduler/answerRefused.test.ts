/**
 * `Scheduler.resume` with an answer that loses the race for the wait at its take-over
 * (another process answered between its checks and its compare-and-set) is refused as
 * before and writes exactly one `answer.refused` record through the app's audit sink,
 * naming its own actor; the other process's answer writes none. The other process is the
 * real CLI answering the same database and chained log; the log still verifies.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { hashJson } from "../../src/ir/hash.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { chained } from "../../src/telemetry/AuditSink.js"
import { loadOrCreateSigner } from "../../src/telemetry/ChainedAuditLog.js"
import { ROOT, stargraph, tempDir } from "../helpers/cli.js"

const APPROVAL = join(ROOT, "examples", "approval", "graph.yaml")

describe("Scheduler.resume refused at its take-over", () => {
  it("writes one answer.refused record (answered-first) naming its actor; the CLI's accepted answer writes none; the chain verifies", async () => {
    const dir = tempDir("stargraph-answer-refused-scheduler-")
    const db = join(dir, "runs.sqlite")
    const log = join(dir, "audit.jsonl")
    const key = join(dir, "audit.key")
    let cli: Awaited<ReturnType<typeof stargraph>> | undefined
    // The database as the scheduler sees it, but for the take-over of its answer: the CLI
    // answers the run (a real other process on the same files) just before it.
    const racing = Layer.effect(
      Checkpointer,
      Effect.map(Checkpointer, (inner) => ({
        ...inner,
        takeOver: (runId: string, expected: Parameters<typeof inner.takeOver>[1], patch: Parameters<typeof inner.takeOver>[2]) =>
          cli === undefined && patch.status === "pending" && patch.waiting?.given !== undefined
            ? Effect.zipRight(
              Effect.promise(async () => {
                cli = await stargraph(["respond", runId, "--db", db, "--response", '{"approved":true}', "--actor", "alice", "--audit-log", log, "--audit-key", key, "--quiet"])
              }),
              inner.takeOver(runId, expected, patch)
            )
            : inner.takeOver(runId, expected, patch)
      }))
    ).pipe(Layer.provide(SqliteCheckpointer.layer({ filename: db })))
    const sink = Layer.unwrapEffect(Effect.map(loadOrCreateSigner(key), (signer) => chained(log, signer)))
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(APPROVAL)
      const stack = Scheduler.layer({ pollIntervalMs: 50 }).pipe(
        Layer.provideMerge(GraphRegistry.layer([graph])),
        Layer.provideMerge(racing),
        Layer.provideMerge(sink)
      )
      return yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        const checkpointer = yield* Checkpointer
        const enqueued = yield* scheduler.enqueue("run:approval", { request: "x" })
        const asked = yield* scheduler.await(enqueued.runId)
        expect(asked.status).toBe("awaiting-input")
        const refused = yield* Effect.either(scheduler.resume(enqueued.runId, { response: { value: { approved: false } }, actor: "carol" }))
        const after = Option.getOrThrow(yield* checkpointer.getRun(enqueued.runId))
        return { runId: enqueued.runId, refused, after }
      }).pipe(Effect.provide(stack))
    }))
    expect(cli?.code, cli?.stderr).toBe(0)
    expect(outcome.after.status).toBe("done")
    if (Either.isRight(outcome.refused)) throw new Error("expected the scheduler's answer to be refused")
    expect(outcome.refused.left).toMatchObject({ _tag: "RunStateError", operation: "respond" })
    expect(outcome.refused.left.message).toMatch(new RegExp(`^run ${outcome.runId} was already answered by 'alice' at .*; this answer was not applied`))
    const refusedRecords = readFileSync(log, "utf8").split("\n").filter((l) => l.length > 0)
      .map((l) => (JSON.parse(l) as { record: Record<string, unknown> }).record)
      .filter((r) => r["event"] === "answer.refused")
    expect(refusedRecords).toEqual([{
      ts: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      actor: "carol",
      event: "answer.refused",
      run_id: outcome.runId,
      wait_id: null,
      current_wait_id: null,
      reason: "answered-first",
      error: "RunStateError",
      message: outcome.refused.left.message,
      response_sha256: hashJson({ approved: false })
    }])
    const verified = await stargraph(["verify-audit", log, "--json"])
    expect(verified.code, verified.stderr).toBe(0)
  }, 30_000)
})
