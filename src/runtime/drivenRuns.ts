/**
 * The runs this process drives right now (a top-level drive: `GraphRun.start`), each with
 * how to cancel it. One table per process, like `OWNER`: the heartbeat reads the cancel
 * requests other processes left on these runs' records (`Checkpointer.requestCancel`) and
 * cancels the runs named here, as `cancel()` on their handles does.
 */
import type * as Effect from "effect/Effect"

const driven = new Map<string, () => Effect.Effect<void>>()

/** Note that this process drives `runId` until the returned function is called. */
export const registerDriven = (runId: string, cancel: () => Effect.Effect<void>): (() => void) => {
  driven.set(runId, cancel)
  return () => {
    if (driven.get(runId) === cancel) driven.delete(runId)
  }
}

/** How many runs this process drives. */
export const drivenCount = (): number => driven.size

/** How to cancel `runId`, when this process drives it. */
export const drivenCancel = (runId: string): (() => Effect.Effect<void>) | undefined => driven.get(runId)
