/**
 * Asking another live process to cancel a run it executes: through the run's record
 * (`Checkpointer.requestCancel`), then waiting up to a given time for it to let the run
 * go. What `POST /v1/runs/{id}/cancel` does for a run another process drives (waiting
 * `cancelWaitMs`, `serve --cancel-wait`), and what a library user calls as
 * {@link askOwnerToCancel} (`stargraph cancel --wait` is its command-line side).
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Checkpointer, type CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { type RunRecord, type RunStatus, TERMINAL_STATUSES } from "../checkpoint/models.js"
import { CheckpointError, InputError, RunStateError } from "../errors.js"
import { wallClockSleep } from "./leases.js"
import { ownerAlive } from "./owner.js"

/** How long, unless told, a process that asked another to cancel a run waits for it (ms): 10 s (the server's `--cancel-wait` default). */
export const DEFAULT_CANCEL_WAIT_MS = 10_000

/** The longest wait {@link checkCancelWait} takes (ms): one hour, as `--wait` and `--cancel-wait`. */
export const MAX_CANCEL_WAIT_MS = 3_600_000

/** `waitMs` when it is a whole number of milliseconds from 0 to one hour, else an `InputError` naming `field`. */
export const checkCancelWait = (waitMs: number, field: string): Effect.Effect<number, InputError> =>
  Number.isInteger(waitMs) && waitMs >= 0 && waitMs <= MAX_CANCEL_WAIT_MS
    ? Effect.succeed(waitMs)
    : Effect.fail(new InputError({
      field,
      message: `a wait of ${waitMs} ms is not ${Number.isInteger(waitMs) ? (waitMs < 0 ? "a duration (it is negative)" : "at most an hour") : "a whole number of milliseconds"}`,
      fix: `use a whole number of milliseconds from 0 to ${MAX_CANCEL_WAIT_MS} (one hour), e.g. ${DEFAULT_CANCEL_WAIT_MS} (the default)`
    }))

/**
 * The record of `runId` once `owner`, asked to cancel it, has let it go (it is no longer
 * `running` under `owner`, or `owner` is seen gone), or as it is after `waitMs`.
 */
const awaitRelease = (checkpointer: CheckpointerShape, runId: string, owner: string, waitMs: number): Effect.Effect<RunRecord, CheckpointError> =>
  Effect.gen(function*() {
    const deadline = Date.now() + waitMs
    for (;;) {
      yield* wallClockSleep(Math.max(0, Math.min(100, deadline - Date.now())))
      const now = yield* readRun(checkpointer, runId)
      if (!stillExecuting(now, owner) || Date.now() >= deadline) return now
    }
  })

/** Whether `record` is still executing under `owner`, a live process. */
export const stillExecuting = (record: RunRecord, owner: string): boolean => record.status === "running" && record.owner === owner && ownerAlive(owner)

/**
 * Ask `owner`, the live process executing `record`'s run, to cancel it through the run's
 * record, and wait up to `waitMs` for it to let the run go: the record then (`asked`: the
 * request was recorded; false when the run changed before it could be), or why it cannot
 * be asked (a subgraph's child run, an owner without a heartbeat).
 */
export const askToCancel = (
  checkpointer: CheckpointerShape,
  record: RunRecord,
  owner: string,
  waitMs: number
): Effect.Effect<{ readonly refused: string } | { readonly asked: boolean; readonly record: RunRecord }, CheckpointError> =>
  Effect.gen(function*() {
    const runId = record.run_id
    if (record.parent_run_id !== null && record.derived_hash === null) {
      return { refused: `run ${runId} is a subgraph's child run, executing in process ${owner} as a step of its parent run ${record.parent_run_id}; cancel the parent` }
    }
    const beats = checkpointer.heartbeats !== undefined && (yield* checkpointer.heartbeats([owner])).length > 0
    if (!beats || checkpointer.requestCancel === undefined) {
      return { refused: `run ${runId} is executing in process ${owner}, which has no heartbeat (it cannot be asked through the run's record); cancel it there` }
    }
    const asked = yield* checkpointer.requestCancel(runId, owner)
    return { asked, record: asked ? yield* awaitRelease(checkpointer, runId, owner, waitMs) : yield* readRun(checkpointer, runId) }
  })

const readRun = (checkpointer: CheckpointerShape, runId: string) =>
  Effect.flatMap(checkpointer.getRun(runId), Option.match({
    onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId, message: `no run '${runId}' in this checkpoint database` })),
    onSome: Effect.succeed
  }))

/** Options of {@link askOwnerToCancel}. */
export interface AskCancelOptions {
  /** How long to wait for the owner to let the run go, ms, 0 to one hour (default {@link DEFAULT_CANCEL_WAIT_MS}). */
  readonly waitMs?: number | undefined
}

/** What became of a run whose owner was asked to cancel it. */
export interface AskedToCancel {
  readonly run_id: string
  /** The process asked. */
  readonly owner: string
  /**
   * `cancelled` (the owner cancelled it), the status it is in otherwise (it ended or paused
   * meanwhile, its owner is gone, or another process drives it now: read the record), or
   * `cancelling`: still executing when the wait ran out; the request stands, and the owner
   * cancels the run when it reads it.
   */
  readonly status: RunStatus | "cancelling"
}

/**
 * Ask the live process executing `runId` (one that beats: another server on the database,
 * a `stargraph run`, of this host or another) to cancel it, through the run's record, and
 * wait up to `waitMs` for it to do so. Refused (`RunStateError`, saying what to do) for a
 * run that ended, one no live process executes (cancel a stopped run with
 * `graph.resume(runId)` and `run.cancel()`, `stargraph cancel` or the HTTP API), a
 * subgraph's child run (cancel its parent), or an owner without a heartbeat.
 */
export const askOwnerToCancel = (
  runId: string,
  options: AskCancelOptions = {}
): Effect.Effect<AskedToCancel, InputError | CheckpointError | RunStateError, Checkpointer> =>
  Effect.gen(function*() {
    const waitMs = yield* checkCancelWait(options.waitMs ?? DEFAULT_CANCEL_WAIT_MS, "waitMs")
    const checkpointer = yield* Checkpointer
    const record = yield* readRun(checkpointer, runId)
    const refuse = (message: string) => new RunStateError({ runId, status: record.status, operation: "cancel", message })
    if (TERMINAL_STATUSES.has(record.status)) return yield* refuse(`run ${runId} is already ${record.status}; nothing to cancel`)
    const owner = record.owner
    if (record.status !== "running" || owner === null || !ownerAlive(owner)) {
      return yield* refuse(
        `run ${runId} is ${record.status}${owner === null ? "" : ` (its process ${owner} is gone)`}: no live process executes it to ask; ` +
          `cancel it here: graph.resume(runId) then run.cancel() and run.start(), or stargraph cancel ${runId}`
      )
    }
    const asked = yield* askToCancel(checkpointer, record, owner, waitMs)
    if ("refused" in asked) return yield* refuse(asked.refused)
    return { run_id: runId, owner, status: stillExecuting(asked.record, owner) ? "cancelling" : asked.record.status }
  })
