/**
 * A run's take-over history as readers show it (`stargraph inspect`, `GET /v1/runs/{id}`).
 */
import * as Effect from "effect/Effect"
import type { CheckpointError } from "../errors.js"
import type { CheckpointerShape } from "./Checkpointer.js"
import type { RunRecord, TakenOver } from "./models.js"

/**
 * Every take-over of `record`'s run, oldest first: the Checkpointer's history
 * (`listTakeOvers`), or, from one that keeps none, the latest alone (`taken_over`).
 */
export const takeOversOf = (checkpointer: CheckpointerShape, record: RunRecord): Effect.Effect<ReadonlyArray<TakenOver>, CheckpointError> =>
  checkpointer.listTakeOvers !== undefined
    ? checkpointer.listTakeOvers(record.run_id)
    : Effect.succeed(record.taken_over === null ? [] : [record.taken_over])
