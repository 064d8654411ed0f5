/** Liveness of the process that owns (drives) a run. */
import { readFileSync } from "node:fs"
import { hostname } from "node:os"
import { InputError } from "../errors.js"
import * as Effect from "effect/Effect"
import type { CheckpointerShape, HeartbeatRecord } from "../checkpoint/Checkpointer.js"
import type { RunRecord, TakenOver, TakeOverReason } from "../checkpoint/models.js"
import type { CheckpointError } from "../errors.js"
import { leaseGraceMs, leaseLapsed, leaseState } from "./leases.js"

/** The fields of `/proc/<pid>/stat` after `comm` (which may hold spaces and parentheses), or undefined where `/proc` cannot tell. */
const statFields = (pid: number): ReadonlyArray<string> | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** When process `pid` started, in clock ticks since boot (field 22 of its stat), where `/proc` tells. */
const startedAt = (pid: number): string | undefined => statFields(pid)?.[19]

/** The environment variable that names the host recorded as a run's owner (see {@link THIS_HOST}). */
export const HOST_ENV = "STARGRAPH_HOST"

/**
 * The host name recorded as the owner of the runs this process drives: `STARGRAPH_HOST`
 * when set (e.g. to the pod name where hostnames are reused), else the machine's name.
 * Owners of another host are judged by their heartbeat's lease, of this host by their pid.
 */
export const THIS_HOST = process.env[HOST_ENV] ?? hostname()

/**
 * What is wrong with `STARGRAPH_HOST`, when it is set to something an owner cannot hold
 * (empty, a `:`, white space): checked where a process starts driving runs (`Heartbeat`).
 */
export const hostProblem = (value: string | undefined = process.env[HOST_ENV]): InputError | undefined =>
  value === undefined || /^[^\s:]{1,253}$/.test(value)
    ? undefined
    : new InputError({
      field: HOST_ENV,
      message: `${HOST_ENV} is '${value}': the host recorded as a run's owner must be a non-empty name of at most 253 characters without ':' or white space`,
      fix: `set ${HOST_ENV} to this host's or pod's name (e.g. ${HOST_ENV}=worker-3), or unset it to use the machine's name`
    })

/**
 * `host:pid:start` of this process, recorded as the owner of runs it drives. The start
 * time (where `/proc` gives it) tells this process from a later one that got the same pid:
 * a container restarted with the same hostname runs its server as pid 1 again.
 */
export const OWNER = [THIS_HOST, String(process.pid), ...[startedAt(process.pid)].filter((t) => t !== undefined)].join(":")

/**
 * True when `owner` (`host:pid`, or `host:pid:start`) is a live process on this host: the
 * pid answers signals, is not a zombie (exited, not reaped: it drives nothing any more),
 * and, when the owner recorded its start, started then (else the pid was reused by another
 * process). A process of another host counts as live unless this process has seen its
 * heartbeat stand still past its lease (see `leases.ts`).
 */
export const ownerAlive = (owner: string): boolean => {
  const [host, pid, started] = owner.split(":")
  if (host !== THIS_HOST) return !leaseLapsed(owner)
  try {
    process.kill(Number(pid), 0)
  } catch {
    return false
  }
  const fields = statFields(Number(pid))
  if (fields === undefined) return true
  if (fields[0] === "Z") return false
  return started === undefined || fields[19] === started
}

/** Whether `owner` is a process of another host (or container): its liveness cannot be checked from here. */
export const ownerElsewhere = (owner: string): boolean => owner.split(":")[0] !== THIS_HOST

/** Who may take over a run `owner` drives: none, a dead process of this host, or (told so: `takeOver`) a process elsewhere. */
export const ownerGone = (owner: string | null, takeOver = false): boolean =>
  owner === null || !ownerAlive(owner) || (takeOver && ownerElsewhere(owner))

/**
 * Why a run held by `owner` (a process judged gone, or an operator's `--take-over`) is
 * being taken over: a process of this host that died, one of another host whose lease this
 * process saw lapse, else (another host, its lease not seen to lapse) forced.
 */
export const takeOverReason = (owner: string): TakeOverReason =>
  !ownerElsewhere(owner) ? "owner-exited" : leaseLapsed(owner) ? "lease-lapsed" : "forced"

/** The take-over of a run from `owner` by this process (`OWNER`), now (`at`). */
export const takeOverOf = (owner: string, at: string): TakenOver => ({ from: owner, to: OWNER, reason: takeOverReason(owner), at })

/**
 * The take-over a write that moves `run` off its owner is (resuming it here, requeueing or
 * cancelling it): when another process held it `running`; else undefined.
 */
export const takeOverOfRunning = (run: Pick<RunRecord, "status" | "owner">, at: string): TakenOver | undefined =>
  run.status === "running" && run.owner !== null && run.owner !== OWNER ? takeOverOf(run.owner, at) : undefined

/** A take-over, for an operator: `taken over from A by B (lease-lapsed) at T`. */
export const describeTakeOver = (t: TakenOver): string => `taken over from ${t.from} by ${t.to} (${t.reason}) at ${t.at}`

/** A span of milliseconds for an operator: `0.4 s`, `42 s`. */
const seconds = (ms: number): string => (ms < 10_000 ? `${Math.round(Math.max(0, ms) / 100) / 10} s` : `${Math.round(ms / 1000)} s`)

/**
 * Who drives a `running` run, for an operator: the owner with `(gone: …)` when it is a
 * dead process of this host (the run waits for `stargraph resume` or a server to adopt
 * it), `(alive)` for a live one; for a process of another host, how its lease stands:
 * `heartbeat` is its heartbeat as read (`null`: it has none; undefined: not read, the
 * Checkpointer keeps none). A heartbeat's age is the database's clock's: for display only
 * (servers judge lapses by the beat counter, see `leases.ts`).
 */
export const describeOwner = (owner: string | null, heartbeat?: HeartbeatRecord | null): string => {
  if (owner === null) return "no process"
  if (!ownerElsewhere(owner)) {
    return ownerAlive(owner) ? `${owner} (alive)` : `${owner} (gone: \`stargraph resume\` continues the run, a server adopts it)`
  }
  const adopt = "a server on the database adopts the run, `stargraph resume` continues it"
  const seen = leaseState(owner)
  if (seen._tag === "Lapsed") return `${owner} (another host: lease lapsed ${seconds(seen.forMs)} ago: ${adopt})`
  if (heartbeat === undefined) return `${owner} (another host or container: not checked from here; --take-over if it is gone)`
  if (heartbeat === null) {
    return `${owner} (another host: no heartbeat (an older Stargraph, or a process that does not beat): not checked from here; --take-over if it is gone)`
  }
  const past = heartbeat.age_ms - heartbeat.lease_ms - leaseGraceMs(heartbeat.lease_ms)
  return past > 0
    ? `${owner} (another host: lease lapsed ${seconds(past)} ago: ${adopt})`
    : `${owner} (another host: alive, heartbeat seen ${seconds(heartbeat.age_ms)} ago, lease ${seconds(heartbeat.lease_ms)})`
}

/**
 * How the process that drives a `running` run stands, as `stargraph list --json` and
 * `GET /v1/runs` give it (`owner_liveness`; wire names snake_case).
 */
export interface OwnerLiveness {
  /** The process (`host:pid:start`). */
  readonly owner: string
  /**
   * `alive`: a live process of this host (its pid), or of another host whose heartbeat
   * moved within its lease and a third; `gone`: a process of this host that died;
   * `lapsed`: a process of another host whose heartbeat stood still past its lease and a
   * third (a server adopts the run); `no-heartbeat`: a process of another host without a
   * heartbeat (an older Stargraph, a process that does not beat: never taken over
   * automatically); `not-checked`: of another host, and the Checkpointer keeps no heartbeats.
   */
  readonly state: "alive" | "gone" | "lapsed" | "no-heartbeat" | "not-checked"
  /** Whether it is a process of another host (or container): judged by its heartbeat, not its pid. */
  readonly another_host: boolean
  /** Its heartbeat's lease, ms (null: none read). */
  readonly lease_ms: number | null
  /** How long ago it last beat, ms, by the database's clock (null: none read). */
  readonly heartbeat_age_ms: number | null
}

/**
 * How `owner` stands: of this host by its pid; of another host by what this process saw
 * of its lease (a lapse it watched), else by its `heartbeat` as read (`null`: it has none;
 * undefined: not read), aged by the database's clock.
 */
export const ownerLiveness = (owner: string, heartbeat?: HeartbeatRecord | null): OwnerLiveness => {
  if (!ownerElsewhere(owner)) return { owner, state: ownerAlive(owner) ? "alive" : "gone", another_host: false, lease_ms: null, heartbeat_age_ms: null }
  const read = { owner, another_host: true, lease_ms: heartbeat?.lease_ms ?? null, heartbeat_age_ms: heartbeat?.age_ms ?? null }
  const seen = leaseState(owner)
  if (seen._tag === "Lapsed") return { ...read, state: "lapsed", lease_ms: seen.leaseMs }
  if (heartbeat === undefined) return { ...read, state: "not-checked" }
  if (heartbeat === null) return { ...read, state: "no-heartbeat" }
  return { ...read, state: heartbeat.age_ms - heartbeat.lease_ms - leaseGraceMs(heartbeat.lease_ms) > 0 ? "lapsed" : "alive" }
}

/**
 * The {@link OwnerLiveness} of the owner of each `running` run among `runs`, by run id
 * (runs not running, or without an owner, are left out). The heartbeats of the owners of
 * other hosts are read in one call, however many runs.
 */
export const runsLiveness = (
  checkpointer: CheckpointerShape,
  runs: ReadonlyArray<RunRecord>
): Effect.Effect<ReadonlyMap<string, OwnerLiveness>, CheckpointError> =>
  Effect.gen(function*() {
    const driven = runs.filter((r): r is RunRecord & { readonly owner: string } => r.status === "running" && r.owner !== null)
    const elsewhere = [...new Set(driven.map((r) => r.owner).filter(ownerElsewhere))]
    const read = checkpointer.heartbeats
    const rows = elsewhere.length === 0 || read === undefined ? undefined : new Map((yield* read(elsewhere)).map((h) => [h.owner, h]))
    return new Map(driven.map((r) => [r.run_id, ownerLiveness(r.owner, rows === undefined ? undefined : rows.get(r.owner) ?? null)]))
  })
