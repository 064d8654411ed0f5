/**
 * A Checkpointer that migrates an older database only when it first writes: it reads the
 * database as it is (a `reader`, e.g. SQLite's `readOnly`, which reads an older schema
 * through views of this connection only) until a write is asked for, then opens the
 * `writer` (which migrates, backs up and says so) and sends that write and everything
 * after it there. A command that is refused after reading (an unknown run, a run in the
 * wrong state, a step out of range, a value the schema refuses) or that only reads leaves
 * the database as it was, usable by the older Stargraph that wrote it; one that writes
 * migrates it just before its first write, as it would have when it opened it.
 *
 * A `createRun` (or `createRuns`) that is a retry, every run of it under an idempotency key
 * a run already holds, is answered through the reader, as the writer would answer it
 * (`created: false`, nothing written), and a `releaseClaims` of an owner that holds no
 * claim changes nothing: `stargraph run --idempotency-key K` retried against an older
 * database (its scheduler releasing its own claims as it stops) reads it only. A run whose
 * key is not there yet is created through the writer, which checks the key again in its
 * transaction.
 *
 * Heartbeats are deferred: a beat asked for before the first write is not written (a
 * process that only reads drives no run), and is written, the latest one, right after the
 * migration, before that write.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { CheckpointError } from "../errors.js"
import { Checkpointer, type CheckpointerShape, type CursorClaim } from "./Checkpointer.js"
import type { CreatedRun, NewRun } from "./models.js"

/** Every operation of the shape, the optional ones included (undefined when the reader has none). */
type Complete = {
  readonly [K in keyof Required<CheckpointerShape>]: undefined extends CheckpointerShape[K] ? CheckpointerShape[K] | undefined : CheckpointerShape[K]
}

/**
 * The Checkpointer that reads through `reader` and, from its first write on, reads and
 * writes through `writer` (built then, in this layer's scope; a writer that cannot be built
 * fails that write, and the next write tries again). Both must open the same database with
 * the same implementation: the optional operations are those `reader` has.
 */
export const layer = (
  reader: Layer.Layer<Checkpointer, CheckpointError>,
  writer: Layer.Layer<Checkpointer, CheckpointError>
): Layer.Layer<Checkpointer, CheckpointError> =>
  Layer.scoped(
    Checkpointer,
    Effect.gen(function*() {
      const scope = yield* Effect.scope
      const read = Context.get(yield* Layer.build(reader), Checkpointer)
      const lock = yield* Effect.makeSemaphore(1)
      let written: CheckpointerShape | undefined
      // The latest beat asked for while nothing was written yet (see the module comment).
      let deferredBeat: { readonly owner: string; readonly leaseMs: number } | undefined
      const current = (): CheckpointerShape => written ?? read
      const opened = lock.withPermits(1)(Effect.suspend(() => {
        if (written !== undefined) return Effect.succeed(written)
        return Effect.gen(function*() {
          const w = Context.get(yield* Layer.buildWithScope(writer, scope), Checkpointer)
          written = w
          const beat = deferredBeat
          deferredBeat = undefined
          if (beat !== undefined && w.beat !== undefined) {
            yield* w.beat(beat.owner, beat.leaseMs).pipe(
              Effect.catchAll((e) => Effect.logWarning(`heartbeat: beating failed after the migration (tried again at the next beat): ${e.message}`))
            )
          }
          return w
        })
      }))
      /** The writer, opened (and the database migrated) first when it is not yet. */
      const writable: Effect.Effect<CheckpointerShape, CheckpointError> = Effect.suspend(() => (written !== undefined ? Effect.succeed(written) : opened))
      /** An optional operation, present when the reader has it. */
      const optional = <K extends keyof CheckpointerShape, F>(key: K, make: () => F): F | undefined => (read[key] === undefined ? undefined : make())
      /** Call optional operation `f` (`name`), which the reader had, on the Checkpointer now in use (the same implementation has it too). */
      const call = <A extends ReadonlyArray<unknown>, R>(
        f: ((...args: A) => Effect.Effect<R, CheckpointError>) | undefined,
        name: string,
        args: A
      ): Effect.Effect<R, CheckpointError> => (f === undefined ? Effect.dieMessage(`the writer Checkpointer has no ${name}, which its reader has`) : f(...args))
      /**
       * Before the first write: the runs `runs` asks to create when each one's idempotency key
       * is held by a run already there (read through the reader), as `createRuns` answers a
       * retry; undefined when one of them has no key, or a key not used yet (it is written).
       */
      const retried = (runs: ReadonlyArray<NewRun>): Effect.Effect<ReadonlyArray<CreatedRun> | undefined, CheckpointError> =>
        Effect.suspend(() => {
          if (written !== undefined || runs.length === 0) return Effect.succeed(undefined)
          const keys: Array<string> = []
          for (const run of runs) {
            if (run.idempotency_key === undefined || run.idempotency_key === null) return Effect.succeed(undefined)
            keys.push(run.idempotency_key)
          }
          return Effect.map(Effect.forEach(keys, (key) => read.findByIdempotencyKey(key)), (found) => {
            const records = found.flatMap((f) => (Option.isSome(f) ? [{ record: f.value, created: false }] : []))
            return records.length === runs.length ? records : undefined
          })
        })
      const shape: Complete = {
        // Writes (a retry of a run already there writes nothing: read).
        createRun: (run) =>
          Effect.flatMap(retried([run]), (found) => (found?.[0] !== undefined ? Effect.succeed(found[0]) : Effect.flatMap(writable, (c) => c.createRun(run)))),
        createRuns: (runs) => Effect.flatMap(retried(runs), (found) => (found !== undefined ? Effect.succeed(found) : Effect.flatMap(writable, (c) => c.createRuns(runs)))),
        commitSteps: (checkpoints, patch, options) => Effect.flatMap(writable, (c) => c.commitSteps(checkpoints, patch, options)),
        commitTogether: optional("commitTogether", () => (commits: Parameters<NonNullable<CheckpointerShape["commitTogether"]>>[0]) => Effect.flatMap(writable, (c) => call(c.commitTogether, "commitTogether", [commits]))),
        updateRun: (runId, patch) => Effect.flatMap(writable, (c) => c.updateRun(runId, patch)),
        takeOver: (runId, expected, patch) => Effect.flatMap(writable, (c) => c.takeOver(runId, expected, patch)),
        claimPending: (runId, owner, at, expected, takenOver) => Effect.flatMap(writable, (c) => c.claimPending(runId, owner, at, expected, takenOver)),
        requeue: (runId, at) => Effect.flatMap(writable, (c) => c.requeue(runId, at)),
        completePending: (runId) => Effect.flatMap(writable, (c) => c.completePending(runId)),
        // A release of claims `owner` does not hold (this process's own, before it wrote: it
        // claimed nothing) changes nothing: read, not written (a scheduler that stops releases its own).
        releaseClaims: (owner) =>
          Effect.suspend(() =>
            written !== undefined
              ? written.releaseClaims(owner)
              : Effect.flatMap(read.listPending(Number.MAX_SAFE_INTEGER, { claimed: true }), (rows) =>
                rows.some((row) => row.claimed_by === owner) ? Effect.flatMap(writable, (c) => c.releaseClaims(owner)) : Effect.succeed(0))
          ),
        setCursor: (key, value) => Effect.flatMap(writable, (c) => c.setCursor(key, value)),
        claimCursor: optional("claimCursor", () => (claim: CursorClaim) => Effect.flatMap(writable, (c) => call(c.claimCursor, "claimCursor", [claim]))),
        requestCancel: optional("requestCancel", () => (runId: string, owner: string) => Effect.flatMap(writable, (c) => call(c.requestCancel, "requestCancel", [runId, owner]))),
        sweepHeartbeats: optional("sweepHeartbeats", () => (staleness: Parameters<NonNullable<CheckpointerShape["sweepHeartbeats"]>>[0], dryRun?: boolean) =>
          dryRun === true && written === undefined
            ? call(read.sweepHeartbeats, "sweepHeartbeats", [staleness, true])
            : Effect.flatMap(writable, (c) => call(c.sweepHeartbeats, "sweepHeartbeats", [staleness, dryRun]))),
        // Heartbeats: deferred until the first write.
        beat: optional("beat", () => (owner: string, leaseMs: number) =>
          Effect.suspend(() => {
            if (written === undefined) {
              deferredBeat = { owner, leaseMs }
              return Effect.void
            }
            return call(written.beat, "beat", [owner, leaseMs])
          })),
        endHeartbeat: optional("endHeartbeat", () => (owner: string) =>
          Effect.suspend(() => {
            if (written === undefined) {
              deferredBeat = undefined
              return Effect.void
            }
            return call(written.endHeartbeat, "endHeartbeat", [owner])
          })),
        // Reads: the reader's until the first write, then the writer's (which sees that write).
        getRun: (runId) => Effect.suspend(() => current().getRun(runId)),
        hasRun: optional("hasRun", () => (runId: string) => Effect.suspend(() => call(current().hasRun, "hasRun", [runId]))),
        listTakeOvers: optional("listTakeOvers", () => (runId: string) => Effect.suspend(() => call(current().listTakeOvers, "listTakeOvers", [runId]))),
        findByIdempotencyKey: (key) => Effect.suspend(() => current().findByIdempotencyKey(key)),
        latestCheckpoint: (runId) => Effect.suspend(() => current().latestCheckpoint(runId)),
        listCheckpoints: (runId) => Effect.suspend(() => current().listCheckpoints(runId)),
        listRuns: (query) => Effect.suspend(() => current().listRuns(query)),
        listPending: (limit, filter) => Effect.suspend(() => current().listPending(limit, filter)),
        countPending: optional("countPending", () => Effect.suspend(() => current().countPending ?? Effect.dieMessage("the writer Checkpointer has no countPending, which its reader has"))),
        getCursor: (key) => Effect.suspend(() => current().getCursor(key)),
        heartbeats: optional("heartbeats", () => (owners: ReadonlyArray<string>) => Effect.suspend(() => call(current().heartbeats, "heartbeats", [owners]))),
        cancelRequests: optional("cancelRequests", () => (owner: string) => Effect.suspend(() => call(current().cancelRequests, "cancelRequests", [owner])))
      }
      return shape
    })
  )
