/**
 * The first checks an answer to a run gets, before anything else about the run is looked
 * at: whether the wait it names is still where the run waits, and whether another answer
 * was applied first. `Graph.resume` makes them first (as operation `resume`), and the HTTP
 * respond handler before it hands the answer on (as `respond`): one sequence, here.
 */
import * as Effect from "effect/Effect"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { RunRecord } from "../checkpoint/models.js"
import { type CheckpointError, RunStateError } from "../errors.js"
import { answeredFirst } from "./answeredBy.js"
import { refuseWaitId, type WaitRefusal } from "./waitMoved.js"

/**
 * Why an answer to `run` (its record, read now) is refused at once, or undefined: it names a
 * wait (`waitId`) the run is no longer at ({@link refuseWaitId}: `wait-moved`, or
 * `answered-first` when that wait took another answer), or the run no longer waits and
 * another answer was applied first ({@link answeredFirst}: `answered-first`, who and when;
 * its error names `operation`).
 */
export const refuseStaleAnswer = (
  checkpointer: CheckpointerShape,
  run: RunRecord,
  waitId: string | undefined,
  operation: "resume" | "respond"
): Effect.Effect<WaitRefusal | undefined, CheckpointError> =>
  Effect.gen(function*() {
    const moved = waitId !== undefined ? yield* refuseWaitId(checkpointer, run, run.run_id, waitId) : undefined
    if (moved !== undefined) return moved
    const answered = yield* answeredFirst(checkpointer, run)
    return answered === undefined
      ? undefined
      : { reason: "answered-first", error: new RunStateError({ runId: run.run_id, status: run.status, operation, message: answered }) }
  })
