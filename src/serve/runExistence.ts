/**
 * Whether runs still exist, for the server's cache of finished runs' responses: a run in
 * it may have been deleted since (a prune, by any process on the database). Each cached
 * read asks; the ids asked while the event loop delivers one round of requests are read
 * together, in one query, so many concurrent reads pay one small read, not one each.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { CheckpointError } from "../errors.js"

/** Resume after Node's pending I/O callbacks have run (one `setImmediate`): the requests already received ask first. */
const nextMacrotask: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Which of `runIds` exist: the Checkpointer's `existingRuns`, else its `getRun`, run by run. */
const existing = (checkpointer: CheckpointerShape, runIds: ReadonlyArray<string>): Effect.Effect<ReadonlySet<string>, CheckpointError> =>
  checkpointer.existingRuns !== undefined
    ? checkpointer.existingRuns(runIds)
    : Effect.map(
      Effect.forEach(runIds, (runId) => Effect.map(checkpointer.getRun(runId), Option.isSome)),
      (found) => new Set(runIds.filter((_, i) => found[i]))
    )

/** A function telling whether a run exists, its reads batched (see the module's comment). */
export const runExistence = (checkpointer: CheckpointerShape): (runId: string) => Effect.Effect<boolean, CheckpointError> => {
  /** The runs asked since the last read, and who waits for each answer. */
  let asked: Map<string, Array<Deferred.Deferred<boolean, CheckpointError>>> | undefined
  const read = Effect.zipRight(
    nextMacrotask,
    Effect.suspend(() => {
      const batch = asked!
      asked = undefined
      return Effect.flatMap(Effect.exit(existing(checkpointer, [...batch.keys()])), (found) =>
        Effect.forEach(batch, ([runId, waiters]) => {
          const answer = Exit.map(found, (ids) => ids.has(runId))
          return Effect.forEach(waiters, (waiter) => Deferred.done(waiter, answer), { discard: true })
        }, { discard: true }))
    })
  )
  return (runId) =>
    Effect.flatMap(Deferred.make<boolean, CheckpointError>(), (waiter) =>
      Effect.suspend(() => {
        const first = asked === undefined
        if (first) asked = new Map()
        const waiters = asked!.get(runId)
        if (waiters === undefined) asked!.set(runId, [waiter])
        else waiters.push(waiter)
        // The first to ask starts the read; it answers everyone asking until then.
        return first ? Effect.zipRight(Effect.forkDaemon(read), Deferred.await(waiter)) : Deferred.await(waiter)
      }))
}
