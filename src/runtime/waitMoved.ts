/**
 * An answer that names the wait it answers (`respond --wait-id`, `wait_id` in the respond
 * body, `waitId` in `graph.resume`) given when the run no longer waits there: it asked
 * another question since, was answered, or ended. The refusal says where the run is now
 * (its current wait's id and prompt) and that the answer was not applied.
 */
import type { RunRecord } from "../checkpoint/models.js"
import { waitIdOf } from "../checkpoint/waitId.js"
import { RunStateError } from "../errors.js"

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
    : now.waiting?.given !== undefined && now.waiting.kind !== "breakpoint" && waitIdOf(now.waiting) === waitId
    ? `that wait was already answered and the run is ${now.status} now`
    : `it is ${now.status} now, waiting for no answer`
  return new RunStateError({
    runId,
    status: now?.status ?? "unknown",
    operation: "respond",
    message: `${notWaitingPrefix(runId, waitId)}${where}; this answer was not applied`,
    ...(current !== undefined ? { waitId: waitIdOf(current) } : {})
  })
}

/**
 * Whether `error` is {@link notWaitingAt}'s refusal of an answer to wait `waitId`, so a
 * caller can add the way out in its own terms (a command to run, a route to read).
 */
export const isNotWaitingAt = (error: unknown, waitId: string): error is RunStateError =>
  error instanceof RunStateError && error.operation === "respond" && error.message.startsWith(notWaitingPrefix(error.runId, waitId))
