/**
 * Cancel a run no process drives (pending, paused, awaiting input, or left `running` by a
 * process that died) by changing its record: what `stargraph cancel` and
 * `POST /v1/runs/{id}/cancel` do when there is no live handle to cancel through.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { type RunRecord, TERMINAL_STATUSES } from "../checkpoint/models.js"
import type { CheckpointError } from "../errors.js"
import { ownerAlive } from "./owner.js"

/** The child run a run waits for (a `subgraph` node's child that asked), if any. */
const waitedChild = (record: RunRecord): string | undefined => {
  const child = record.status === "awaiting-input" ? record.waiting?.payload?.["child_run_id"] : undefined
  return typeof child === "string" ? child : undefined
}

/**
 * Mark `record`'s run `cancelled`, atomically from the status and owner it was read with
 * (a run another process resumed meanwhile is left alone: the result is then empty). A
 * run waiting for its subgraph's child cancels that child too, and so on down the chain,
 * as cancelling a live parent does. Returns the runs cancelled, `record`'s first.
 */
export const cancelStopped = (
  checkpointer: CheckpointerShape,
  record: RunRecord,
  at: string
): Effect.Effect<ReadonlyArray<string>, CheckpointError> =>
  Effect.gen(function*() {
    const patch = { status: "cancelled" as const, finished_at: at, owner: null }
    if (!(yield* checkpointer.takeOver(record.run_id, { status: record.status, owner: record.owner }, patch))) return []
    const cancelled = [record.run_id]
    let child = waitedChild(record)
    while (child !== undefined) {
      const next = Option.getOrUndefined(yield* checkpointer.getRun(child))
      if (next === undefined || TERMINAL_STATUSES.has(next.status) || (next.status === "running" && next.owner !== null && ownerAlive(next.owner))) break
      if (!(yield* checkpointer.takeOver(next.run_id, { status: next.status, owner: next.owner }, patch))) break
      cancelled.push(next.run_id)
      child = waitedChild(next)
    }
    return cancelled
  })
