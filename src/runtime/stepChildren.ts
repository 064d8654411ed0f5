/**
 * The child runs a parent step's `subgraph` or `map` node started, found by their
 * idempotency keys: a `subgraph` node's one child (`childRunKey`), or a `map` node's, one
 * per item (`childRunKey` + `#<index>`) and one per retry of a failed item (`@<attempt>`
 * after it: an attempt is started only once the one before failed). A map starts its items in order, at most 64 at
 * once, but a child whose start was still on its way when the process stopped leaves a
 * gap behind later ones: the items are looked up from 0 until {@link MAX_GAP} in a row
 * have no child run.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { RunRecord } from "../checkpoint/models.js"
import type { CheckpointError } from "../errors.js"
import { childRunKey } from "../nodes/ChildGraph.js"

/** Items in a row without a child run after which no later item has one: a map's most children at once (`concurrency` ≤ 64). */
const MAX_GAP = 64

/**
 * The child runs node `nodeId` of run `parentRunId` started at `parentStep` (none when it
 * started none). With the node's `kind`, only its own keys are looked up (a `subgraph`
 * node's one key, a `map` node's item keys); without it, both.
 */
export const stepChildren = (
  checkpointer: CheckpointerShape,
  at: { readonly parentRunId: string; readonly parentStep: number; readonly nodeId: string },
  kind?: "subgraph" | "map"
): Effect.Effect<ReadonlyArray<RunRecord>, CheckpointError> => {
  const items = (): Effect.Effect<ReadonlyArray<RunRecord>, CheckpointError> => {
    const found: Array<RunRecord> = []
    // An item's retries, after its failed attempt `attempt`: each started only once the one before failed.
    const retries = (index: number, attempt: number): Effect.Effect<void, CheckpointError> =>
      Effect.flatMap(checkpointer.findByIdempotencyKey(childRunKey({ ...at, index, attempt: attempt + 1 })), (retry) => {
        if (Option.isNone(retry)) return Effect.void
        found.push(retry.value)
        return retry.value.status === "failed" ? retries(index, attempt + 1) : Effect.void
      })
    const from = (index: number, missed: number): Effect.Effect<ReadonlyArray<RunRecord>, CheckpointError> =>
      Effect.flatMap(checkpointer.findByIdempotencyKey(childRunKey({ ...at, index })), (child) => {
        if (Option.isNone(child)) return missed + 1 >= MAX_GAP ? Effect.succeed(found) : from(index + 1, missed + 1)
        found.push(child.value)
        return Effect.zipRight(child.value.status === "failed" ? retries(index, 1) : Effect.void, from(index + 1, 0))
      })
    return from(0, 0)
  }
  if (kind === "map") return items()
  return Effect.flatMap(checkpointer.findByIdempotencyKey(childRunKey(at)), (single) =>
    Option.isSome(single) ? Effect.succeed([single.value]) : kind === "subgraph" ? Effect.succeed([]) : items())
}

/** A node kind as {@link stepChildren} takes it: `subgraph` or `map`, else undefined (both looked up). */
export const linkKind = (kind: string | undefined): "subgraph" | "map" | undefined => (kind === "subgraph" || kind === "map" ? kind : undefined)

/** A child run of a parent step, with the step and the node that started it. */
export interface StepChild {
  readonly step: number
  readonly node: string
  readonly run: RunRecord
}

/**
 * The child runs of `run`'s uncommitted step (the one it runs, waits at, or stopped in:
 * the `next` nodes of its last checkpoint `last`, at step `last.step + 1`), each node's in
 * item order: a map's items already done, asking or still running, or a subgraph's child,
 * before the step that records them commits. None for a run that is done. The node's kind
 * is known only from a wait that names the child (`payload.item`: a map); otherwise both
 * kinds of key are looked up.
 */
export const uncommittedChildren = (
  checkpointer: CheckpointerShape,
  run: RunRecord,
  last: { readonly step: number; readonly next: ReadonlyArray<string> } | undefined
): Effect.Effect<ReadonlyArray<StepChild>, CheckpointError> => {
  if (run.status === "done" || last === undefined || last.next.length === 0) return Effect.succeed([])
  const step = last.step + 1
  const waiting = run.waiting
  const kindOf = (node: string): "subgraph" | "map" | undefined =>
    waiting?.node !== node || waiting.step !== step || typeof waiting.payload?.["child_run_id"] !== "string"
      ? undefined
      : typeof waiting.payload["item"] === "number" ? "map" : "subgraph"
  return Effect.map(
    Effect.forEach(last.next, (node) =>
      Effect.map(stepChildren(checkpointer, { parentRunId: run.run_id, parentStep: step, nodeId: node }, kindOf(node)), (children) =>
        children.map((child): StepChild => ({ step, node, run: child })))),
    (all) => all.flat()
  )
}
