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
import { childRunKey } from "../nodes/ChildGraph.js"
import type { GraphDefinition } from "./GraphDefinition.js"
import { waitedChildId } from "./waitedChild.js"


/** The ids of a graph's `subgraph` nodes (whose child runs a cancelled run takes with it). */
export const subgraphNodeIds = (graph: GraphDefinition): ReadonlyArray<string> =>
  [...graph.topology.nodes].flatMap(([id, node]) => (node.kind === "subgraph" ? [id] : []))

/**
 * Mark `record`'s run `cancelled`, atomically from the status and owner it was read with
 * (a run another process resumed meanwhile is left alone: the result is then empty). Its
 * child runs go with it, as a cancelled live parent's do: the one it waits for (named on
 * its wait, also while an answer to it waits for its turn), and, given its graph's
 * `subgraph` node ids (`childNodes`), the ones of its uncommitted step a pause or a
 * shutdown left paused; and so on down each chain of waits. Returns the runs cancelled,
 * `record`'s first.
 */
export const cancelStopped = (
  checkpointer: CheckpointerShape,
  record: RunRecord,
  at: string,
  childNodes: ReadonlyArray<string> = []
): Effect.Effect<ReadonlyArray<string>, CheckpointError> =>
  Effect.gen(function*() {
    const patch = { status: "cancelled" as const, finished_at: at, owner: null }
    if (!(yield* checkpointer.takeOver(record.run_id, { status: record.status, owner: record.owner }, patch))) return []
    const cancelled = [record.run_id]
    const left = yield* Effect.forEach(childNodes, (nodeId) =>
      Effect.map(checkpointer.findByIdempotencyKey(childRunKey({ parentRunId: record.run_id, parentStep: record.last_step + 1, nodeId })), Option.getOrUndefined))
    const pending = [waitedChildId(record), ...left.map((c) => c?.run_id)].filter((id): id is string => id !== undefined)
    while (pending.length > 0) {
      const next = Option.getOrUndefined(yield* checkpointer.getRun(pending.shift()!))
      if (next === undefined || cancelled.includes(next.run_id) || TERMINAL_STATUSES.has(next.status) || (next.status === "running" && next.owner !== null && ownerAlive(next.owner))) continue
      if (!(yield* checkpointer.takeOver(next.run_id, { status: next.status, owner: next.owner }, patch))) continue
      cancelled.push(next.run_id)
      const deeper = waitedChildId(next)
      if (deeper !== undefined) pending.push(deeper)
    }
    return cancelled
  })
