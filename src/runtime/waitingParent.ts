/**
 * The parent run that waits on a child run: a `subgraph` (or `map`) node's child that asked
 * a question, which its parent's wait names. Such a child is not cancelled on its own (its
 * parent would be left waiting on a question nobody can answer): its parent is.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { type RunRecord, TERMINAL_STATUSES } from "../checkpoint/models.js"
import type { CheckpointError } from "../errors.js"
import { waitedChildId } from "./waitedChild.js"

/** `record`'s parent run, when it has not ended and its wait names `record` (also while an answer to it waits for its turn). */
export const parentWaitingOn = (checkpointer: CheckpointerShape, record: RunRecord): Effect.Effect<RunRecord | undefined, CheckpointError> => {
  if (record.parent_run_id === null || record.derived_hash !== null) return Effect.succeed(undefined)
  return Effect.map(checkpointer.getRun(record.parent_run_id), (found) => {
    const parent = Option.getOrUndefined(found)
    return parent !== undefined && !TERMINAL_STATUSES.has(parent.status) && waitedChildId(parent) === record.run_id ? parent : undefined
  })
}

/** The refusal of cancelling `child` on its own while `parent` waits on it, with the fix: cancel the parent. */
export const cancelWaitedChild = (child: RunRecord, parent: RunRecord, cancelParent: string): string =>
  `run ${child.run_id} is a subgraph's child run whose parent run ${parent.run_id} (${parent.status}) waits on it` +
  `${parent.waiting !== null ? ` at node '${parent.waiting.node}'` : ""}; cancelling the child alone would leave the parent waiting on a question nobody can answer. ` +
  `Cancel the parent (${cancelParent}): its child runs are cancelled with it`
