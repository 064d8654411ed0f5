/**
 * A child run written with its first commit. A `subgraph` or `map` node's new child run
 * is not created on its own: its record and step-0 checkpoint go into the transaction of
 * its first step (`CommitOptions.creates`), one transaction fewer per child run, with a
 * Checkpointer that can (`createsInCommit`).
 *
 * A first step that takes longer than {@link WRITE_DEADLINE_MS} does not wait for it: the
 * run is then created on its own, so that `list` and `inspect` show a running child
 * within that time. Any other write or read of the child's record before its first commit
 * (its run stops before a step commits: it fails, is cancelled, asks for input) creates
 * it on its own first, so the run that drives it never finds it missing. Its run events
 * are held until it is written, so the audit log never names a run that is not stored.
 *
 * A process that dies before the child is written leaves no child: the parent, resumed,
 * starts it again from the same inputs (its first step had not committed either way).
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { CheckpointerShape, CommitOptions, RunCommit } from "../checkpoint/Checkpointer.js"
import type { NewRun } from "../checkpoint/models.js"
import { CheckpointError } from "../errors.js"
import type { HandedCommit } from "../nodes/Executor.js"

/** How long a new child run's first step may run before the run is written on its own, ms. */
export const WRITE_DEADLINE_MS = 50

/** A run to create with its first commit, its id minted by the caller. */
export type UnwrittenRun = NewRun & { readonly run_id: string }

/** What drives an unwritten child run (see the module's doc). */
export interface FirstCommitCreates {
  /** The Checkpointer its run loop writes through: the run is created with the first write. */
  readonly checkpointer: CheckpointerShape
  /** The child's commits handed to its parent's step (`ChildCommits.defer`), its first one creating it. */
  readonly handOver: (defer: (commits: ReadonlyArray<HandedCommit>) => void) => (commits: ReadonlyArray<HandedCommit>) => void
  /** `write` (a run event's audit record) now, when the run is stored; else after the write that stores it. */
  readonly hold: (write: Effect.Effect<void>) => Effect.Effect<void>
  /** Its drive starts: from now, a first step past the deadline gets the run created on its own. */
  readonly arm: () => void
}

/** `checkpointer`, for the run loop that drives `run`: `run` is created with its first write. */
export const firstCommitCreates = (checkpointer: CheckpointerShape, run: UnwrittenRun): FirstCommitCreates => {
  const runId = run.run_id
  // Written: its creation is made, or handed to the parent's step. Durable: made. Stored: its held events went out.
  let written = false
  let durable = false
  let stored = false
  // The run loop is writing it (its first commit, or a creation on its own): the deadline leaves it.
  let writing = false
  // The deadline's creation, while it is made.
  let deadline: Promise<void> | undefined
  let held: Array<Effect.Effect<void>> = []
  const release = Effect.suspend(() => {
    durable = true
    stored = true
    if (held.length === 0) return Effect.void
    const writes = held
    held = []
    return Effect.forEach(writes, (write) => write, { discard: true })
  })
  // Created on its own once its first step runs past the deadline (armed when its drive starts).
  let timer: ReturnType<typeof setTimeout> | undefined
  const createOnItsOwn = () => {
    if (written || writing) return
    deadline = Effect.runPromise(Effect.exit(checkpointer.createRun(run))).then((exit) => {
      deadline = undefined
      // Created (or found created: a creation whose answer was lost): its held records go out now.
      if (Exit.isSuccess(exit) && exit.value.record.run_id === runId) {
        written = durable = true
        Effect.runFork(release)
      }
    })
  }
  const disarm = () => {
    if (timer !== undefined) clearTimeout(timer)
  }

  /**
   * The loop's write that stores it: `creating` (which creates it), or `plain` once it is
   * written. Waits out the deadline's creation when one is being made; decided in one
   * synchronous turn, so the deadline cannot start one in between.
   */
  const firstWrite = <A>(creating: () => Effect.Effect<A, CheckpointError>, plain: () => Effect.Effect<A, CheckpointError>): Effect.Effect<A, CheckpointError> =>
    Effect.suspend(() => {
      if (written) return plain()
      const pending = deadline
      if (pending !== undefined) return Effect.zipRight(Effect.promise(() => pending), firstWrite(creating, plain))
      writing = true
      disarm()
      return Effect.onExit(creating(), (exit) => {
        writing = false
        if (Exit.isFailure(exit)) return Effect.void
        written = true
        return release
      })
    })
  /** Create it on its own, before a write or read that is not its first commit. */
  const ensure: Effect.Effect<void, CheckpointError> = firstWrite(
    () => Effect.flatMap(checkpointer.createRun(run), ({ record }) =>
      record.run_id === runId ? Effect.void : Effect.fail(new CheckpointError({
        reason: "run-changed",
        runId: record.run_id,
        message: `child run ${record.run_id} (key ${run.idempotency_key ?? "none"}) was created by another writer first; run ${runId} was not written`
      }))),
    () => Effect.void
  )
  const first = <A, E>(id: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E | CheckpointError> =>
    written || id !== runId ? effect : Effect.zipRight(ensure, effect)
  const withCreate = (options: Omit<CommitOptions, "expected"> | undefined): Omit<CommitOptions, "expected"> => ({ ...options, creates: run })
  const mine = (commit: RunCommit): boolean => commit.checkpoints[0].run_id === runId

  const wrapped: CheckpointerShape = {
    ...checkpointer,
    commitSteps: (checkpoints, patch, options) =>
      written || checkpoints[0].run_id !== runId
        ? checkpointer.commitSteps(checkpoints, patch, options)
        : options?.expected !== undefined
        ? Effect.zipRight(ensure, checkpointer.commitSteps(checkpoints, patch, options))
        : firstWrite(() => checkpointer.commitSteps(checkpoints, patch, withCreate(options)), () => checkpointer.commitSteps(checkpoints, patch, options)),
    // (Its own commit with its children's, a first one among them: created on its own first.)
    commitTogether: checkpointer.commitTogether === undefined
      ? undefined
      : (commits) => (written || !commits.some(mine) ? checkpointer.commitTogether!(commits) : Effect.zipRight(ensure, checkpointer.commitTogether!(commits))),
    updateRun: (id, patch) => first(id, checkpointer.updateRun(id, patch)),
    takeOver: (id, expected, patch) => first(id, checkpointer.takeOver(id, expected, patch)),
    getRun: (id) => first(id, checkpointer.getRun(id)),
    hasRun: checkpointer.hasRun === undefined ? undefined : (id) => first(id, checkpointer.hasRun!(id)),
    findByIdempotencyKey: (key) => (key === run.idempotency_key ? first(runId, checkpointer.findByIdempotencyKey(key)) : checkpointer.findByIdempotencyKey(key)),
    latestCheckpoint: (id) => first(id, checkpointer.latestCheckpoint(id)),
    listCheckpoints: (id) => first(id, checkpointer.listCheckpoints(id)),
    listTakeOvers: checkpointer.listTakeOvers === undefined ? undefined : (id) => first(id, checkpointer.listTakeOvers!(id)),
    requeue: (id, at) => first(id, checkpointer.requeue(id, at)),
    completePending: (id) => first(id, checkpointer.completePending(id)),
    requestCancel: checkpointer.requestCancel === undefined ? undefined : (id, owner) => first(id, checkpointer.requestCancel!(id, owner))
  }
  return {
    checkpointer: wrapped,
    handOver: (defer) => (commits) => {
      if (written || !commits.some((handed) => mine(handed.commit))) return defer(commits)
      // Handed over, its first commit is the parent step's to make (or, the step failing, to
      // make on its own); once made, the events it held go out before the ones it settles.
      written = true
      disarm()
      defer(commits.map((handed): HandedCommit =>
        mine(handed.commit)
          ? {
            commit: { ...handed.commit, options: withCreate(handed.commit.options) },
            settled: (lost) => (lost === undefined ? Effect.zipRight(release, handed.settled(lost)) : handed.settled(lost))
          }
          : handed
      ))
    },
    hold: (write) => (stored ? write : durable ? Effect.zipRight(release, write) : Effect.sync(() => void held.push(write))),
    arm: () => {
      if (timer !== undefined || written) return
      timer = setTimeout(createOnItsOwn, WRITE_DEADLINE_MS)
      timer.unref()
    }
  }
}
