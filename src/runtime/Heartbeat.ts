/**
 * This process's heartbeat: while it lives, a scoped fiber beats every third of its lease
 * (a counter in the database goes up, `Checkpointer.beat`); on a clean shutdown its row is
 * removed. A process on another host that watches the beat stand still for longer than
 * the lease (plus a third) takes this process's runs over (see `leases.ts`, the
 * Scheduler). Provide it in any process that drives runs on a database shared by several
 * hosts or containers (`stargraph serve` and the CLI's run, resume, replay… do): a process
 * without one has no heartbeat, and its runs are never handed over automatically.
 *
 * While it drives runs, the process also reads, every second, the cancel requests other
 * processes left on their records (`Checkpointer.requestCancel`: `stargraph cancel`,
 * `POST /v1/runs/{id}/cancel` of a run executing here) and cancels those runs itself; with
 * `sweepEveryMs` (a server: hourly) it removes the stale heartbeats of processes killed long
 * ago (`STALE_HEARTBEAT`).
 *
 * ```ts
 * Layer.provideMerge(Scheduler.layer(), Heartbeat.layer({ leaseMs: 30_000 }))
 * ```
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import { STALE_HEARTBEAT } from "../checkpoint/heartbeatSweep.js"
import { type CheckpointError, InputError } from "../errors.js"
import { drivenCancel, drivenCount } from "./drivenRuns.js"
import { wallClockSleep } from "./leases.js"
import { hostProblem, OWNER } from "./owner.js"

/** The lease a process declares unless told otherwise: 30 s. */
export const DEFAULT_LEASE_MS = 30_000

/** The shortest lease: 100 ms (a beat every 33 ms). */
export const MIN_LEASE_MS = 100

/** The longest lease: one day. */
export const MAX_LEASE_MS = 86_400_000

export { STALE_HEARTBEAT } from "../checkpoint/heartbeatSweep.js"

/** How often a server removes stale heartbeats (`sweepEveryMs` of `Serve.start`'s heartbeat): hourly. */
export const HEARTBEAT_SWEEP_MS = 3_600_000

/** How often, at most, a process that drives runs reads the cancel requests left on their records: every second (or third of its lease, if shorter). */
export const CANCEL_POLL_MS = 1000

/** Options of the heartbeat. */
export interface HeartbeatOptions {
  /**
   * How long this process's beat may stand still before another host takes its runs over,
   * ms (default {@link DEFAULT_LEASE_MS}; {@link MIN_LEASE_MS} to {@link MAX_LEASE_MS}). It
   * beats every third of it. Longer: a stalled process (a long GC pause, a network cut)
   * keeps its runs longer; shorter: a dead one's runs are taken over sooner.
   */
  readonly leaseMs?: number | undefined
  /**
   * Remove the stale heartbeats of other processes ({@link STALE_HEARTBEAT}) when it
   * starts and then every this many ms (default: never; `stargraph serve` sweeps every
   * {@link HEARTBEAT_SWEEP_MS}).
   */
  readonly sweepEveryMs?: number | undefined
}

/** The running heartbeat. */
export interface HeartbeatShape {
  /** Whose heartbeat it is (`OWNER`). */
  readonly owner: string
  /** The lease it declares, ms. */
  readonly leaseMs: number
  /** Whether it beats (false: the Checkpointer keeps no heartbeats). */
  readonly beating: boolean
}

/** The Heartbeat service tag. */
export class Heartbeat extends Context.Tag("stargraph/Heartbeat")<Heartbeat, HeartbeatShape>() {}

/** A lease that is not a whole number of milliseconds between the bounds, as an `InputError` on `field`. */
export const checkLease = (leaseMs: number, field = "leaseMs"): InputError | undefined =>
  Number.isInteger(leaseMs) && leaseMs >= MIN_LEASE_MS && leaseMs <= MAX_LEASE_MS
    ? undefined
    : new InputError({
      field,
      message: `a lease of ${leaseMs} ms is not a whole number of milliseconds from ${MIN_LEASE_MS} ms to one day`,
      fix: `use e.g. ${DEFAULT_LEASE_MS} (30 s, the default): how long this process's heartbeat may stand still before another host takes its runs over`
    })

/**
 * Beat now, then every third of the lease until the scope closes, when the row is removed
 * (after whatever was built later in the scope, e.g. a Scheduler's drain, has finished).
 * Fails with `InputError` for a bad lease, `sweepEveryMs` or `STARGRAPH_HOST`, and with the Checkpointer's
 * error when the first beat cannot be written; later beats that fail are logged and tried
 * again (a process that cannot beat past its lease may be taken over; its next write then
 * fails with `CheckpointError[taken-over]` instead of landing).
 */
export const make = (options: HeartbeatOptions = {}): Effect.Effect<HeartbeatShape, InputError | CheckpointError, Scope.Scope | Checkpointer> =>
  Effect.gen(function*() {
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS
    const badLease = checkLease(leaseMs)
    if (badLease !== undefined) return yield* badLease
    const badHost = hostProblem()
    if (badHost !== undefined) return yield* badHost
    const sweepEvery = options.sweepEveryMs
    if (sweepEvery !== undefined && !(Number.isInteger(sweepEvery) && sweepEvery >= 1000)) {
      return yield* new InputError({
        field: "sweepEveryMs",
        message: `removing stale heartbeats every ${sweepEvery} ms is not a whole number of milliseconds of at least 1000`,
        fix: `use e.g. ${HEARTBEAT_SWEEP_MS} (hourly, as stargraph serve does), or leave it out to never sweep`
      })
    }
    const checkpointer = yield* Checkpointer
    const { beat, endHeartbeat } = checkpointer
    if (beat === undefined) return { owner: OWNER, leaseMs, beating: false }
    yield* beat(OWNER, leaseMs)
    // Registered before the beating fiber: the scope stops it first, then removes the row.
    if (endHeartbeat !== undefined) {
      yield* Effect.addFinalizer(() =>
        endHeartbeat(OWNER).pipe(Effect.catchAll((e) => Effect.logWarning(`heartbeat: removing the heartbeat of ${OWNER} failed: ${e.message}`))))
    }
    const every = Math.max(1, Math.floor(leaseMs / 3))
    yield* Effect.forkScoped(
      wallClockSleep(every).pipe(
        Effect.zipRight(beat(OWNER, leaseMs).pipe(Effect.catchAll((e) => Effect.logWarning(`heartbeat: beating failed (tried again in ${every} ms): ${e.message}`)))),
        Effect.forever
      )
    )
    // Cancel requests other processes left on the records of the runs this one drives.
    const asked = checkpointer.cancelRequests
    if (asked !== undefined) {
      const pollMs = Math.min(CANCEL_POLL_MS, every)
      const handled = new Set<string>()
      yield* Effect.forkScoped(
        wallClockSleep(pollMs).pipe(
          Effect.zipRight(Effect.suspend(() => (drivenCount() === 0 ? Effect.void : cancelAsked(asked, handled)))),
          Effect.catchAll((e) => Effect.logWarning(`heartbeat: reading cancel requests failed (tried again in ${pollMs} ms): ${e.message}`)),
          Effect.forever
        )
      )
    }
    const sweep = checkpointer.sweepHeartbeats
    if (sweep !== undefined && sweepEvery !== undefined) {
      const once = sweep(STALE_HEARTBEAT).pipe(
        Effect.tap((owners) => (owners.length === 0 ? Effect.void : Effect.logInfo(`heartbeat: removed the stale heartbeats of ${owners.length} process(es) gone for over a day: ${owners.join(", ")}`))),
        Effect.catchAll((e) => Effect.logWarning(`heartbeat: removing stale heartbeats failed (tried again in ${sweepEvery} ms): ${e.message}`))
      )
      yield* Effect.forkScoped(Effect.zipRight(once, Effect.forever(Effect.zipRight(wallClockSleep(sweepEvery), once))))
    }
    return { owner: OWNER, leaseMs, beating: true }
  })

/**
 * Cancel the runs this process drives that it was asked to cancel through their records,
 * each once (`handled`: the runs already cancelled so, while they stop).
 */
const cancelAsked = (asked: (owner: string) => Effect.Effect<ReadonlyArray<string>, CheckpointError>, handled: Set<string>) =>
  Effect.flatMap(asked(OWNER), (runIds) =>
    Effect.suspend(() => {
      for (const runId of handled) if (!runIds.includes(runId)) handled.delete(runId)
      return Effect.forEach(runIds, (runId) => {
        const cancel = drivenCancel(runId)
        if (cancel === undefined || handled.has(runId)) return Effect.void
        handled.add(runId)
        return Effect.zipRight(Effect.logInfo(`heartbeat: cancelling run ${runId}, as asked through its record`), cancel())
      }, { discard: true })
    }))

/** This process's heartbeat as a scoped Layer (needs a Checkpointer). */
export const layer = (options: HeartbeatOptions = {}): Layer.Layer<Heartbeat, InputError | CheckpointError, Checkpointer> =>
  Layer.scoped(Heartbeat, make(options))
