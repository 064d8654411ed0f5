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
 * again), and a commit that fails (the children's commits are retried one at a time, so
 * a child ends as it did before it handed them over).
 */
import * as Effect from "effect/Effect"
import type { CheckpointerShape, RunCommit } from "../checkpoint/Checkpointer.js"
import type { CheckpointError } from "../errors.js"
import type { ChildCommits } from "../nodes/Executor.js"
import { markError } from "./markError.js"

/** The handed-over commits of one run's steps, for `checkpointer` (which must have `commitTogether`). */
export interface StepCommits extends ChildCommits {
  /** Take the commits handed over so far (the step's commit makes them). */
  readonly take: () => ReadonlyArray<RunCommit>
}

const NONE: ReadonlyArray<RunCommit> = []

/** A holder of the commits a run's child runs hand over (see {@link ChildCommits}). */
export const stepCommits = (checkpointer: CheckpointerShape): StepCommits => {
  let held: Array<RunCommit> = []
  const take = (): ReadonlyArray<RunCommit> => {
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
    flush: Effect.suspend(() => (held.length === 0 ? Effect.void : commitAll(checkpointer, take())))
  }
}

/**
 * Make `commits` in one transaction; when that fails, one at a time, in order, so that
 * the children's commits before the last (the caller's own) are made whatever became of
 * it: the error is then the first commit's that failed. A child whose own commit fails
 * is marked `error` as its run loop would have marked it (unless another process took it
 * over), so that it is not left `running` with no drive behind it.
 */
export const commitAll = (checkpointer: CheckpointerShape, commits: ReadonlyArray<RunCommit>): Effect.Effect<void, CheckpointError> => {
  const together = checkpointer.commitTogether
  const one = (commit: RunCommit) => checkpointer.commitSteps(commit.checkpoints, commit.patch, commit.options)
  const [first, second, ...rest] = commits
  if (second === undefined || together === undefined) return Effect.forEach(commits, one, { discard: true })
  const children = commits.slice(0, -1)
  const own = commits[commits.length - 1]!
  return Effect.catchAll(together([first!, second, ...rest]), () =>
    Effect.zipRight(
      Effect.forEach(children, (child) =>
        Effect.tapError(one(child), (error) =>
          error.reason === "taken-over" ? Effect.void : markError(checkpointer, child.checkpoints[0].run_id, error)), { discard: true }),
      one(own)
    ))
}
