/**
 * Ctrl-C while `run` or `resume` drives a run. The first SIGINT asks the run to pause
 * after the step in flight (the run is left `paused`, resumable with `stargraph resume`),
 * the second cancels it (the step in flight is interrupted, the run is left `cancelled`),
 * a third exits at once (the run keeps its last checkpoint; as its process is gone,
 * `stargraph resume` continues it). SIGTERM (a supervisor stopping the process) counts
 * as a first Ctrl-C: the run pauses after the step in flight, resumable; later SIGTERMs
 * change nothing. While installed, these handlers replace the runtime's own SIGINT and
 * SIGTERM handlers (which would interrupt the whole program and drain the scheduler
 * instead, losing the progress lines); they are put back when the scope closes.
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { dbOption } from "./render.js"

/**
 * How long a node interrupted by the second Ctrl-C (or by its `timeout_ms`) is waited for
 * in a CLI process, after its `ctx.signal` is aborted: the command exits soon after a
 * second Ctrl-C, and the node gets this long to stop cleanly (a server waits
 * `scheduler.abort_grace_ms`, 30 s by default).
 */
export const CLI_ABORT_GRACE_MS = 3_000

/** The Ctrl-C presses seen while installed. */
export interface Interrupts {
  /** How many SIGINTs arrived so far. */
  readonly count: () => number
  /** Each press, numbered from 1, as it arrives. */
  readonly presses: Stream.Stream<number>
  /** Whether the first press was a SIGTERM rather than a Ctrl-C. */
  readonly terminated: () => boolean
}

/** Replace the listeners of `signal` with `listener` for the current scope. */
const takeOver = (signal: NodeJS.Signals, listener: () => void): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() => {
      const previous = process.listeners(signal)
      for (const l of previous) process.removeListener(signal, l)
      process.on(signal, listener)
      return previous
    }),
    (previous) =>
      Effect.sync(() => {
        process.removeListener(signal, listener)
        for (const l of previous) process.on(signal, l)
      })
  ))

/** Take over SIGINT and SIGTERM for the current scope. */
export const install: Effect.Effect<Interrupts, never, Scope.Scope> = Effect.gen(function*() {
  const queue = yield* Queue.unbounded<number>()
  let count = 0
  let terminated = false
  const press = () => {
    count++
    queue.unsafeOffer(count)
  }
  yield* takeOver("SIGINT", press)
  yield* takeOver("SIGTERM", () => {
    if (count > 0) return
    terminated = true
    press()
  })
  return { count: () => count, presses: Stream.fromQueue(queue), terminated: () => terminated }
})

/**
 * The lines printed after an interrupted run, naming where it was left and how to go on;
 * the commands carry `--db <db>` unless `db` is undefined (see `dbOption`).
 */
export const interruptedLines = (
  runId: string,
  status: string,
  step: number,
  db: string | undefined
): ReadonlyArray<string> => {
  if (status === "paused") {
    return [
      `interrupted: run ${runId} paused after step ${step}`,
      `  continue with: stargraph resume ${runId}${dbOption(db)}`
    ]
  }
  if (status === "cancelled") {
    return [
      `interrupted: run ${runId} cancelled at step ${step}; a cancelled run cannot be resumed`,
      `  fork it from its last step with: stargraph replay ${runId}${dbOption(db)} --from-step ${step} --live-after-fork`
    ]
  }
  return [`interrupted: run ${runId} is ${status} after step ${step}`]
}
