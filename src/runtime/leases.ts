/**
 * Leases of processes on other hosts, as this process sees them. Each process that drives
 * runs beats (`Heartbeat`): a counter in the database goes up every third of its lease.
 * A reader remembers, per owner, the last beat it saw and when, by its own monotonic
 * clock, that beat last changed: the owner has lapsed once its beat has not moved for
 * longer than its lease plus a grace of a third of it. No clock of another host is read,
 * and a reader that saw an owner only once cannot call it lapsed (it watches first).
 *
 * The observations are this process's (one table, like `OWNER`): the Scheduler's poll
 * and {@link watchLease} add to them, `ownerAlive` (owner.ts) reads them.
 */
import * as Effect from "effect/Effect"
import type { CheckpointerShape, HeartbeatRecord } from "../checkpoint/Checkpointer.js"
import type { CheckpointError } from "../errors.js"

/** What this process saw of one owner's heartbeat. */
interface Seen {
  readonly beat: number
  readonly leaseMs: number
  /** When (this process's monotonic clock, ms) the beat was first seen at its current count. */
  readonly changedAt: number
}

const seen = new Map<string, Seen>()

/** This process's monotonic clock, ms. */
const monotonicMs = (): number => performance.now()

/** How long past its lease an owner's beat may stand still before it counts as lapsed: a third of the lease (one beat). */
export const leaseGraceMs = (leaseMs: number): number => Math.ceil(leaseMs / 3)

/**
 * Note what `rows` (read by `Checkpointer.heartbeats(owners)`) say of `owners`: a beat that
 * moved restarts its owner's lease; an owner without a row is forgotten (it has no
 * heartbeat: never taken over automatically).
 */
export const observeHeartbeats = (owners: Iterable<string>, rows: ReadonlyArray<HeartbeatRecord>, now: number = monotonicMs()): void => {
  const byOwner = new Map(rows.map((row) => [row.owner, row]))
  for (const owner of owners) {
    const row = byOwner.get(owner)
    if (row === undefined) {
      seen.delete(owner)
      continue
    }
    const before = seen.get(owner)
    seen.set(owner, before !== undefined && before.beat === row.beat ? { ...before, leaseMs: row.lease_ms } : { beat: row.beat, leaseMs: row.lease_ms, changedAt: now })
  }
}

/** How an owner's lease stands, as this process has seen it. */
export type LeaseState =
  /** No heartbeat seen (none read yet, or the owner has none: an older Stargraph, a process that does not beat). */
  | { readonly _tag: "Unknown" }
  /** Its beat moved within its lease (plus grace) of this process's clock. */
  | { readonly _tag: "Alive"; readonly leaseMs: number; readonly stillForMs: number }
  /** Its beat has stood still for longer than its lease plus grace: `forMs` past that. */
  | { readonly _tag: "Lapsed"; readonly leaseMs: number; readonly forMs: number }

/** How `owner`'s lease stands, as this process has seen it so far. */
export const leaseState = (owner: string, now: number = monotonicMs()): LeaseState => {
  const s = seen.get(owner)
  if (s === undefined) return { _tag: "Unknown" }
  const still = now - s.changedAt
  const over = still - s.leaseMs - leaseGraceMs(s.leaseMs)
  return over > 0 ? { _tag: "Lapsed", leaseMs: s.leaseMs, forMs: over } : { _tag: "Alive", leaseMs: s.leaseMs, stillForMs: still }
}

/** Whether this process has seen `owner`'s heartbeat stand still past its lease. */
export const leaseLapsed = (owner: string): boolean => leaseState(owner)._tag === "Lapsed"

/** Wait `ms` of wall-clock time (a test clock must not hold a lease watch, or a heartbeat, still). */
export const wallClockSleep = (ms: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * Watch `owner`'s heartbeat until its lease is decided: `Alive` as soon as its beat moves,
 * `Lapsed` once it has stood still for its lease plus grace (up to that long, by this
 * process's clock), `Unknown` when it has no heartbeat (or the Checkpointer keeps none).
 * What it sees is noted for `ownerAlive` too. For a one-shot process (`stargraph resume`)
 * that has not watched the owner before.
 */
export const watchLease = (checkpointer: CheckpointerShape, owner: string): Effect.Effect<LeaseState, CheckpointError> =>
  Effect.gen(function*() {
    const read = checkpointer.heartbeats
    if (read === undefined) return { _tag: "Unknown" } as const
    const first = (yield* read([owner]))[0]
    observeHeartbeats([owner], first === undefined ? [] : [first])
    if (first === undefined) return { _tag: "Unknown" } as const
    while (true) {
      const state = leaseState(owner)
      if (state._tag === "Lapsed") return state
      yield* wallClockSleep(Math.max(20, Math.min(1000, Math.floor(state._tag === "Alive" ? state.leaseMs / 6 : 1000))))
      const rows = yield* read([owner])
      observeHeartbeats([owner], rows)
      const row = rows[0]
      if (row === undefined) return { _tag: "Unknown" } as const
      if (row.beat !== first.beat) return leaseState(owner)
    }
  })
