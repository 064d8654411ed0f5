/**
 * Ctrl-C while `run` or `resume` drives a run. The first SIGINT asks the run to pause
 * after the step in flight (the run is left `paused`, resumable with `stargraph resume`),
 * the second cancels it (the step in flight is interrupted, the run is left `cancelled`),
 * a third exits at once (the run keeps its last checkpoint; as its process is gone,
 * `stargraph resume` continues it). While installed, these handlers replace the
 * runtime's own SIGINT handler (which would interrupt the whole program and drain the
 * scheduler instead); it is put back when the scope closes.
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { shellQuote } from "./render.js"

/** The Ctrl-C presses seen while installed. */
export interface Interrupts {
  /** How many SIGINTs arrived so far. */
  readonly count: () => number
  /** Each press, numbered from 1, as it arrives. */
  readonly presses: Stream.Stream<number>
}

/** Take over SIGINT for the current scope. */
export const install: Effect.Effect<Interrupts, never, Scope.Scope> = Effect.gen(function*() {
  const queue = yield* Queue.unbounded<number>()
  let count = 0
  const listener = () => {
    count++
    queue.unsafeOffer(count)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const previous = process.listeners("SIGINT")
      for (const l of previous) process.removeListener("SIGINT", l)
      process.on("SIGINT", listener)
      return previous
    }),
    (previous) =>
      Effect.sync(() => {
        process.removeListener("SIGINT", listener)
        for (const l of previous) process.on("SIGINT", l)
      })
  )
  return { count: () => count, presses: Stream.fromQueue(queue) }
})

/** The lines printed after an interrupted run, naming where it was left and how to go on. */
export const interruptedLines = (
  runId: string,
  status: string,
  step: number,
  db: string
): ReadonlyArray<string> => {
  const quoted = shellQuote(db)
  if (status === "paused") {
    return [
      `interrupted: run ${runId} paused after step ${step}`,
      `  continue with: stargraph resume ${runId} --db ${quoted}`
    ]
  }
  if (status === "cancelled") {
    return [
      `interrupted: run ${runId} cancelled at step ${step}; a cancelled run cannot be resumed`,
      `  fork it from its last step with: stargraph replay ${runId} --db ${quoted} --from-step ${step} --live-after-fork`
    ]
  }
  return [`interrupted: run ${runId} is ${status} after step ${step}`]
}
