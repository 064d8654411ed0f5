/**
 * An answer that names the wait it answers (`respond --wait-id`, `wait_id` in the respond
 * body, `waitId` in `graph.resume`) given when the run no longer waits there. When another
 * answer to that wait was taken first, it is refused as that (`answered-first`: who
 * answered, when, where the run is now); otherwise (it asked another question without that
 * one being answered, ended, or never waited there) the refusal says where the run is now
 * (its current wait's id and prompt) and that the answer was not applied (`wait-moved`).
 */
import * as Effect from "effect/Effect"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { RunRecord } from "../checkpoint/models.js"
import { waitIdOf } from "../checkpoint/waitId.js"
import { type CheckpointError, RunStateError } from "../errors.js"
import { alreadyAnswered, answeredSince, answererOf, waitAnswerer } from "./answeredBy.js"

/** Whether `run` waits for an answer at the wait `waitId` now. */
export const waitsAt = (run: RunRecord, waitId: string): boolean =>
  run.status === "awaiting-input" && run.waiting !== null && waitIdOf(run.waiting) === waitId

/** How {@link notWaitingAt}'s message begins. */
const notWaitingPrefix = (runId: string, waitId: string) => `run ${runId} does not wait at ${waitId}: `

/**
 * The refusal of an answer to wait `waitId` of run `runId`, as `now` (its record, read
 * now; undefined: gone) shows it; undefined when it still waits there.
 */
export const notWaitingAt = (now: RunRecord | undefined, runId: string, waitId: string): RunStateError | undefined => {
  if (now !== undefined && waitsAt(now, waitId)) return undefined
  const current = now?.status === "awaiting-input" && now.waiting !== null ? now.waiting : undefined
  const where = now === undefined
    ? "it is gone"
    : current !== undefined
    ? `it waits at ${waitIdOf(current)} now (node '${current.node}': ${JSON.stringify(current.prompt)})`
    : `it is ${now.status} now, waiting for no answer`
  return new RunStateError({
    runId,
    status: now?.status ?? "unknown",
    operation: "respond",
    message: `${notWaitingPrefix(runId, waitId)}${where}; this answer was not applied`,
    ...(current !== undefined ? { waitId: waitIdOf(current) } : {})
  })
}

/** An answer naming a wait refused: why (its `answer.refused` reason) and the error it is refused with. */
export interface WaitRefusal {
  readonly reason: "wait-moved" | "answered-first"
  readonly error: RunStateError
}

/**
 * The refusal of an answer to wait `waitId` of run `runId`, as `now` (its record, read now;
 * undefined: gone) and its checkpoints show it; undefined when it still waits there. A wait
 * the run was at and took an answer to (kept on its record, or recorded with its step:
 * {@link waitAnswerer}) is `answered-first`, naming who answered and when
 * ({@link alreadyAnswered}); any other (an id the run never waited at, a wait it left
 * unanswered: a `map`'s next item asking) is `wait-moved` ({@link notWaitingAt}).
 */
export const refuseWaitId = (
  checkpointer: CheckpointerShape,
  now: RunRecord | undefined,
  runId: string,
  waitId: string
): Effect.Effect<WaitRefusal | undefined, CheckpointError> =>
  Effect.gen(function*() {
    const moved = notWaitingAt(now, runId, waitId)
    if (moved === undefined || now === undefined) return moved === undefined ? undefined : { reason: "wait-moved", error: moved }
    const answerer = yield* waitAnswerer(checkpointer, now, waitId)
    if (answerer === undefined) return { reason: "wait-moved", error: moved }
    return {
      reason: "answered-first",
      error: new RunStateError({
        runId,
        status: now.status,
        operation: "respond",
        message: alreadyAnswered(now, answerer),
        ...(moved.waitId !== undefined ? { waitId: moved.waitId } : {})
      })
    }
  })

/**
 * Why an answer is refused that lost the write applying it (the run's record, read with
 * status `read.status` at step `read.step`, changed before it): the wait it named moved
 * ({@link refuseWaitId}), or another answer to the wait it read was taken first
 * (`answered-first`: who and when, where the run is now). Undefined when neither: the
 * caller says what else changed.
 */
export const refuseLostAnswer = (
  checkpointer: CheckpointerShape,
  now: RunRecord | undefined,
  runId: string,
  waitId: string | undefined,
  read: { readonly status: RunRecord["status"]; readonly step: number },
  operation: "resume" | "respond"
): Effect.Effect<WaitRefusal | undefined, CheckpointError> =>
  Effect.gen(function*() {
    const moved = waitId !== undefined ? yield* refuseWaitId(checkpointer, now, runId, waitId) : undefined
    if (moved !== undefined) return moved
    if (now === undefined || read.status !== "awaiting-input" || !answeredSince(now, read.step)) return undefined
    const message = alreadyAnswered(now, yield* answererOf(checkpointer, now, read.step))
    return { reason: "answered-first", error: new RunStateError({ runId, status: now.status, operation, message }) }
  })

/**
 * Whether `error` is {@link notWaitingAt}'s refusal of an answer to wait `waitId`, so a
 * caller can add the way out in its own terms (a command to run, a route to read).
 */
export const isNotWaitingAt = (error: unknown, waitId: string): error is RunStateError =>
  error instanceof RunStateError && error.operation === "respond" && error.message.startsWith(notWaitingPrefix(error.runId, waitId))
