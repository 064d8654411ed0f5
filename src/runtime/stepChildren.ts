/**
 * The child runs a parent step's `subgraph` or `map` node started, found by their
 * idempotency keys: a `subgraph` node's one child (`childRunKey`), or a `map` node's, one
 * per item (`childRunKey` + `#<index>`), which it creates in item order, so the items are
 * looked up from 0 up to the first one with no child run.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { RunRecord } from "../checkpoint/models.js"
import type { CheckpointError } from "../errors.js"
import { childRunKey } from "../nodes/ChildGraph.js"

/** The child runs node `nodeId` of run `parentRunId` started at `parentStep` (none when it started none). */
export const stepChildren = (
  checkpointer: CheckpointerShape,
  at: { readonly parentRunId: string; readonly parentStep: number; readonly nodeId: string }
): Effect.Effect<ReadonlyArray<RunRecord>, CheckpointError> =>
  Effect.flatMap(checkpointer.findByIdempotencyKey(childRunKey(at)), (single) => {
    if (Option.isSome(single)) return Effect.succeed([single.value])
    const found: Array<RunRecord> = []
    const from = (index: number): Effect.Effect<ReadonlyArray<RunRecord>, CheckpointError> =>
      Effect.flatMap(checkpointer.findByIdempotencyKey(childRunKey({ ...at, index })), (child) => {
        if (Option.isNone(child)) return Effect.succeed(found)
        found.push(child.value)
        return from(index + 1)
      })
    return from(0)
  })
