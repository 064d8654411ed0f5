/**
 * The child run a run waits for: a `subgraph` node's child that asked a question, named
 * on the parent's wait (`waiting.payload.child_run_id`), and whether it still waits.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { type RunRecord, TERMINAL_STATUSES } from "../checkpoint/models.js"
import type { CheckpointError } from "../errors.js"
import { ownerAlive } from "./owner.js"

/** The id of the child run `record`'s wait names (kept on a parent answered and queued too), if any. */
export const waitedChildId = (record: RunRecord): string | undefined => {
  const child = record.waiting?.payload?.["child_run_id"]
  return typeof child === "string" ? child : undefined
}

/** The node the child run `waiting` names waits at (`waiting.payload.child_node`), if named. */
export const childNodeOf = (waiting: { readonly payload?: { readonly [key: string]: unknown } | null | undefined }): string | undefined => {
  const node = waiting.payload?.["child_node"]
  return typeof node === "string" && node !== "" ? node : undefined
}

/** The kind of node a parent waiting for a child run waits at: `map` when its wait names an item (`waiting.payload.item`), else `subgraph`. */
export const waitedKind = (waiting: { readonly payload?: { readonly [key: string]: unknown } | null | undefined } | null | undefined): "map" | "subgraph" =>
  typeof waiting?.payload?.["item"] === "number" ? "map" : "subgraph"

/**
 * The node a parent waiting for a child run waits at, as messages name it: `map node 'x',
 * item i` for a `map` node's item, else `subgraph node 'x'`.
 */
export const waitedVia = (waiting: { readonly node: string; readonly payload?: { readonly [key: string]: unknown } | null | undefined } | null | undefined): string =>
  waitedKind(waiting) === "map" ? `map node '${waiting?.node ?? "?"}', item ${String(waiting?.payload?.["item"])}` : `subgraph node '${waiting?.node ?? "?"}'`

/**
 * The child a parent awaiting input waits for, when that child no longer waits and no
 * live process drives it (it was answered directly and finished, failed, was cancelled or
 * paused): the parent can go on without an answer of its own, taking the child's outcome.
 */
export const settledChild = (checkpointer: CheckpointerShape, record: RunRecord): Effect.Effect<RunRecord | undefined, CheckpointError> => {
  const id = record.status === "awaiting-input" ? waitedChildId(record) : undefined
  if (id === undefined) return Effect.succeed(undefined)
  return Effect.map(checkpointer.getRun(id), (found) => {
    const child = Option.getOrUndefined(found)
    if (child === undefined) return undefined
    const settled = TERMINAL_STATUSES.has(child.status) || child.status === "paused" ||
      (child.status === "running" && (child.owner === null || !ownerAlive(child.owner)))
    return settled ? child : undefined
  })
}
