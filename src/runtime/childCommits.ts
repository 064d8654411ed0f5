/**
 * A child run's last commit, made with its parent's step. A `subgraph` node's child run
 * that ends (`done`) hands its last step's commit to the parent step instead of making
 * it, and the parent's step commit, which records the child's outcome, writes both in one
 * transaction (`CheckpointerShape.commitTogether`): one commit where there were two.
 *
 * Until then the child's end is not durable: a process that dies first leaves the child
 * `running` at its previous step, and the parent, resumed, drives it on from there, as
 * after any crash inside the child. Every way the parent's step can end without its own
 * commit makes the handed commits on their own first: a transition (the step fails, asks
 * for input, pauses, is cancelled), a retried `subgraph` node (its child found `done`
 * again), and a joint commit that fails (each child's is then tried on its own: see
 * {@link commitAll}).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { CheckpointerShape, RunCommit } from "../checkpoint/Checkpointer.js"
import { CheckpointError } from "../errors.js"
import type { ChildCommits, HandedCommit } from "../nodes/Executor.js"
import { markError } from "./markError.js"

/** The handed-over commits of one run's steps, for `checkpointer` (which must have `commitTogether`). */
export interface StepCommits extends ChildCommits {
  /** Take the commits handed over so far (the step's commit makes them). */
  readonly take: () => ReadonlyArray<HandedCommit>
}

const NONE: ReadonlyArray<HandedCommit> = []

/** A holder of the commits a run's child runs hand over (see {@link ChildCommits}). */
export const stepCommits = (checkpointer: CheckpointerShape): StepCommits => {
  let held: Array<HandedCommit> = []
  const take = (): ReadonlyArray<HandedCommit> => {
    if (held.length === 0) return NONE
    const taken = held
    held = []
    return taken
  }
  return {
    defer: (commits) => {
      held.push(...commits)
    },
    take,
    // Uninterruptible: once taken, the commits are made (a node's retry flushes them inside its interruptible step).
    flush: Effect.uninterruptible(Effect.suspend(() => (held.length === 0 ? Effect.void : commitAll(checkpointer, take()))))
  }
}

/**
 * Make the `children`'s commits, then the caller's `own` (when given), in one transaction.
 * When that fails (or the Checkpointer cannot make them together), one at a time: every
 * child's, whatever became of the others; a child whose commit fails is marked `error`,
 * as its run loop would have marked it, so that it is not left `running` with no drive
 * behind it (unless another process owns it now), and then the caller's own is not made:
 * the step that records the child's outcome fails with {@link childEndLost}. Else the
 * caller's own is made last. Each child is told once its commit is made or lost
 * (`HandedCommit.settled`): only then does it report its end.
 */
export const commitAll = (checkpointer: CheckpointerShape, children: ReadonlyArray<HandedCommit>, own?: RunCommit): Effect.Effect<void, CheckpointError> => {
  const one = (commit: RunCommit) => checkpointer.commitSteps(commit.checkpoints, commit.patch, commit.options)
  if (children.length === 0) return own === undefined ? Effect.void : one(own)
  const oneByOne = Effect.flatMap(
    Effect.forEach(children, (child) =>
      Effect.flatMap(Effect.either(one(child.commit)), (written) => {
        if (Either.isRight(written)) return Effect.as(child.settled(undefined), undefined)
        const lost = childEndLost(child.commit, written.left)
        return Effect.as(Effect.zipRight(markError(checkpointer, child.commit.checkpoints[0].run_id, written.left), child.settled(written.left)), lost)
      })),
    (results) => {
      const lost = results.find((r) => r !== undefined)
      return lost !== undefined ? Effect.fail(lost) : own === undefined ? Effect.void : one(own)
    }
  )
  const together = checkpointer.commitTogether
  if (together === undefined || (own === undefined && children.length === 1)) return oneByOne
  const [first, ...rest] = children.map((child) => child.commit)
  return Effect.matchEffect(together(own === undefined ? [first!, ...rest] : [first!, ...rest, own]), {
    onFailure: () => oneByOne,
    onSuccess: () => inOrder(children.map((child) => child.settled(undefined)))
  })
}

/**
 * `effects` one after the other: for the handful a step settles, fewer operations than
 * `Effect.forEach` (which every child run's end would pay).
 */
export const inOrder = (effects: ReadonlyArray<Effect.Effect<void>>): Effect.Effect<void> =>
  effects.length === 0 ? Effect.void : effects.reduce((done, next) => Effect.zipRight(done, next))

/**
 * Why a step that records a child run's outcome was not committed: the child's end could
 * not be written. Not `taken-over` even when the child's was (a run forced over by an
 * operator): the step's own run is still this process's, and is marked `error`.
 */
export const childEndLost = (child: RunCommit, error: CheckpointError): CheckpointError => {
  const last = child.checkpoints[child.checkpoints.length - 1]!
  return new CheckpointError({
    reason: error.reason === "taken-over" ? "run-changed" : error.reason,
    runId: last.run_id,
    ...(error.filename !== undefined ? { filename: error.filename } : {}),
    message: `child run ${last.run_id} ended, but its step ${last.step} could not be written (${error.message}); ` +
      "the parent step that records its outcome was not committed either"
  })
}
