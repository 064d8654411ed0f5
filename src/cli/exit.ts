/**
 * Exit codes of the `stargraph` command and the one-line error report. Every expected
 * failure is one line on stderr (`error: <Tag>: <what> (fix: <how>)`) and a non-zero code:
 * 0 done · 1 run failed/error/cancelled · 2 bad input or refused operation · 3 stopped
 * (awaiting-input or paused) · 130 interrupted by Ctrl-C (the run is left paused or cancelled).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type { RunStatus } from "../checkpoint/models.js"
import { formatError, type StargraphError } from "../errors.js"

/** Process exit codes. */
export const ExitCode = { done: 0, failed: 1, usage: 2, stopped: 3, interrupted: 130 } as const

/** The exit code a run's status stands for. */
export const exitFor = (status: RunStatus): number =>
  status === "done"
    ? ExitCode.done
    : status === "awaiting-input" || status === "paused"
    ? ExitCode.stopped
    : ExitCode.failed

/** Set the process exit code (the process ends with it once the command returns). */
export const setExit = (code: number): Effect.Effect<void> =>
  Effect.sync(() => {
    process.exitCode = code
  })

/** Print a typed error as one line on stderr and set the usage exit code. */
export const reportError = (error: StargraphError): Effect.Effect<void> =>
  Effect.zipRight(Console.error(`error: ${formatError(error)}`), setExit(ExitCode.usage))
