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
import { type ChildGraph, subgraphsOf } from "../nodes/ChildGraph.js"
import { Metrics, type MetricsShape } from "../telemetry/Metrics.js"
import type { GraphDefinition } from "./GraphDefinition.js"
import { ownerAlive, takeOverOfRunning } from "./owner.js"
import { stepChildren } from "./stepChildren.js"
import { waitedChildId } from "./waitedChild.js"

/** The `subgraph` node ids of a graph and of every graph nested under it, by graph hash. */
export type SubgraphIndex = ReadonlyMap<string, ReadonlyArray<string>>

/**
 * The {@link SubgraphIndex} of `graph`: its `subgraph` node ids, and, through the child
 * graphs those nodes run, those of every nested graph (what finding a run's child runs,
 * at any depth, takes).
 */
export const subgraphIndex = (graph: GraphDefinition): SubgraphIndex => {
  const index = new Map<string, ReadonlyArray<string>>()
  const visit = (hash: string, subgraphs: ReadonlyMap<string, ChildGraph>) => {
    if (index.has(hash)) return
    index.set(hash, [...subgraphs.keys()])
    for (const child of subgraphs.values()) visit(child.graphHash, child.subgraphs)
  }
  visit(graph.graphHash, subgraphsOf(graph.nodes))
  return index
}

/** The child runs of `record` that may be left stopped: the one its wait names, and those of its uncommitted step (a `map` node's, every item's). */
const childrenOf = (checkpointer: CheckpointerShape, record: RunRecord, index: SubgraphIndex) =>
  Effect.map(
    Effect.forEach(index.get(record.graph_hash) ?? [], (nodeId) =>
      Effect.map(stepChildren(checkpointer, { parentRunId: record.run_id, parentStep: record.last_step + 1, nodeId }), (children) => children.map((c) => c.run_id))),
    (ids) => [...new Set([waitedChildId(record), ...ids.flat()].filter((id): id is string => id !== undefined))]
  )

/** Count a cancelled run in the metrics: its duration only when it had started. */
const ended = (metrics: MetricsShape, record: RunRecord, at: string) =>
  metrics.runEnded(record.graph_id, "cancelled", record.started_at !== null ? Math.max(0, Date.parse(at) - Date.parse(record.started_at)) / 1000 : undefined)

/**
 * Mark `record`'s run `cancelled`, atomically from the status and owner it was read with
 * (a run another process resumed meanwhile is left alone: the result is then empty). Its
 * child runs go with it, as a cancelled live parent's do, at every depth: the one it
 * waits for (named on its wait, also while an answer to it waits for its turn) and,
 * given the graphs' `subgraph` nodes (`index`), those of its uncommitted step a pause or
 * a shutdown left stopped. A child a live process drives is left to it. Returns the runs
 * cancelled, `record`'s first.
 */
export const cancelStopped = (
  checkpointer: CheckpointerShape,
  record: RunRecord,
  at: string,
  index: SubgraphIndex = new Map()
): Effect.Effect<ReadonlyArray<string>, CheckpointError> =>
  Effect.gen(function*() {
    // A cancelled run waits for nothing any more: its wait goes (the audit log keeps what it was).
    const patch = { status: "cancelled" as const, finished_at: at, owner: null, waiting: null }
    // A run left `running` by a process that is gone is taken over to be cancelled: recorded as any take-over is.
    const patchOf = (r: RunRecord) => {
      const takenOver = takeOverOfRunning(r, at)
      return takenOver === undefined ? patch : { ...patch, taken_over: takenOver }
    }
    if (!(yield* checkpointer.takeOver(record.run_id, { status: record.status, owner: record.owner }, patchOf(record)))) return []
    const metrics = yield* Metrics
    ended(metrics, record, at)
    const cancelled = [record.run_id]
    const pending = [...(yield* childrenOf(checkpointer, record, index))]
    while (pending.length > 0) {
      const next = Option.getOrUndefined(yield* checkpointer.getRun(pending.shift()!))
      if (next === undefined || cancelled.includes(next.run_id) || TERMINAL_STATUSES.has(next.status) || (next.status === "running" && next.owner !== null && ownerAlive(next.owner))) continue
      if (!(yield* checkpointer.takeOver(next.run_id, { status: next.status, owner: next.owner }, patchOf(next)))) continue
      cancelled.push(next.run_id)
      ended(metrics, next, at)
      pending.push(...(yield* childrenOf(checkpointer, next, index)))
    }
    return cancelled
  })
