/**
 * Marking a run `error` when the runtime broke under it (a checkpoint write failed, a
 * defect of the loop), so that it is not left `running` with no drive behind it.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { CheckpointError, StargraphRuntimeError } from "../errors.js"
import { toErrorRecord } from "./errorRecord.js"
import { OWNER } from "./owner.js"
import { nowIso } from "./nowIso.js"

/**
 * Mark a run `error` after the runtime itself broke (a checkpoint write failed, a defect).
 * The write that broke may break this one too (a database locked past its busy timeout, a
 * full disk): it is retried, every second for two minutes, so that the run is not left
 * `running` under a process that no longer drives it (nothing else would take it over).
 * The retries may be interrupted (the caller's timeout, a closing scope): they then go on
 * in a fiber of their own, and the caller is not held up.
 */
export const markError = (
  checkpointer: CheckpointerShape,
  runId: string,
  error: CheckpointError | StargraphRuntimeError
): Effect.Effect<void> => {
  // Only a run this process still drives: one another process took over (or that stopped) is left as it is.
  const write = Effect.flatMap(nowIso, (finished_at) =>
    checkpointer.takeOver(runId, { status: "running", owner: OWNER }, { status: "error", error: toErrorRecord(error), finished_at, owner: null })
  )
  const retried = write.pipe(
    Effect.retry({ schedule: MARK_ERROR_RETRIES, while: (e) => e.reason === "storage-failure" }),
    Effect.tapError((e) => Effect.logError(`run ${runId} could not be marked error (${e.message}); it stays running under this process until it ends`)),
    Effect.ignore
  )
  return Effect.catchAll(write, (first) =>
    first.reason !== "storage-failure"
      ? Effect.logError(`run ${runId} could not be marked error (${first.message})`)
      : Effect.interruptible(retried).pipe(Effect.onInterrupt(() => Effect.asVoid(Effect.forkDaemon(retried)))))
}

const MARK_ERROR_RETRIES = Schedule.intersect(Schedule.spaced(Duration.seconds(1)), Schedule.recurs(120))
