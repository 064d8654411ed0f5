/**
 * An in-process Checkpointer: same contract as SQLite, nothing durable. For tests,
 * benchmarks and ephemeral runs. Checkpoints are kept as JSON text, as SQLite keeps
 * them: a reader gets its own copy, the same values a SQLite round trip gives, and a
 * long run's history is a few strings to the garbage collector rather than thousands
 * of small objects.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { CheckpointError } from "../errors.js"
import { Checkpointer, type CheckpointerShape, type CommitOptions, type HeartbeatRecord } from "./Checkpointer.js"
import { checkpointTooLarge, encodeJson, maxCheckpointBytes, overLimit } from "./checkpointSize.js"
import { ACTIVE_STATUSES, type Checkpoint, createdNoEarlierThan, type CreatedRun, expectedThreadNewest, newRunRecord, type PendingRun, type RunPatch, type RunRecord, stopsRun, type TakenOver } from "./models.js"
import { newRunId } from "./runId.js"
import { waitIdOf } from "./waitId.js"

/** When a run put back on the queue counts as queued: its creation (it keeps its place), never later than `now` (as SQLite does). */
const queuedAt = (run: RunRecord, now: string): string => (run.created_at < now ? run.created_at : now)

/** The queue after a run's status changed: a stopped run leaves it, a `pending` one is on it (unclaimed). */
const queueAfter = (pending: Map<string, PendingRun>, run: RunRecord, status: RunRecord["status"] | undefined, now: number): void => {
  if (stopsRun(status)) pending.delete(run.run_id)
  else if (status === "pending") {
    const row = pending.get(run.run_id)
    pending.set(run.run_id, row ? { ...row, claimed_by: null, claimed_at: null } : { run_id: run.run_id, graph_id: run.graph_id, enqueued_at: queuedAt(run, new Date(now).toISOString()), claimed_by: null, claimed_at: null })
  }
}

/** A checkpoint as kept: its step (for lookups) and its JSON text. */
interface StoredCheckpoint {
  readonly step: number
  readonly json: string
}

/** A checkpoint as kept, or `CheckpointError[checkpoint-too-large]` when its text is longer than `limit`. */
const store = (cp: Checkpoint, limit: number, creating = false): StoredCheckpoint | CheckpointError => {
  const json = encodeJson(cp)
  if (json === undefined) return checkpointTooLarge(cp, undefined, limit, creating)
  const over = overLimit([json], json.length, limit)
  return over !== undefined ? checkpointTooLarge(cp, over, limit, creating) : { step: cp.step, json }
}

/** Every checkpoint as kept, or the error of the first that is too large (nothing is kept then). */
const storeAll = (cps: ReadonlyArray<Checkpoint>, limit: number, creating = false): Array<StoredCheckpoint> | CheckpointError => {
  const stored: Array<StoredCheckpoint> = []
  for (const cp of cps) {
    const kept = store(cp, limit, creating)
    if (kept instanceof CheckpointError) return kept
    stored.push(kept)
  }
  return stored
}

const load = (stored: StoredCheckpoint): Checkpoint => JSON.parse(stored.json) as Checkpoint

/** Options of the in-memory Checkpointer. */
export interface MemoryCheckpointerOptions {
  /**
   * Largest checkpoint a step may write, in bytes of JSON text (default 64 MiB, or
   * `STARGRAPH_MAX_CHECKPOINT_BYTES`), as for SQLite.
   */
  readonly maxCheckpointBytes?: number | undefined
}

/** Build a fresh in-memory Checkpointer with options. */
export const makeWith = (options: MemoryCheckpointerOptions): Effect.Effect<CheckpointerShape> => Effect.sync(() => {
  const maxBytes = maxCheckpointBytes(options.maxCheckpointBytes)
  const runs = new Map<string, RunRecord>()
  const order: Array<string> = []
  const checkpoints = new Map<string, Array<StoredCheckpoint>>()
  const byKey = new Map<string, string>()
  const pending = new Map<string, PendingRun>()
  const cursors = new Map<string, string>()
  // When each claimed cursor was written (`claimCursor`), to drop it once outlived.
  const claimedAt = new Map<string, string>()
  /** Process heartbeats by owner: the count, the lease, when it last beat (this process's clock is the database's). */
  const beats = new Map<string, { readonly beat: number; readonly leaseMs: number; readonly at: number }>()
  /** Cancel requests: run id → the owner asked to cancel it (`requestCancel`). */
  const cancelAsked = new Map<string, string>()
  /** A request is for the drive it was made in: one that leaves `running` (stops, pauses, waits) drops it. */
  const dropCancelRequest = (runId: string, status: RunRecord["status"] | undefined): void => {
    if (status !== undefined && status !== "running") cancelAsked.delete(runId)
  }
  /** Every take-over of each run, oldest first (`listTakeOvers`). */
  const takeOvers = new Map<string, Array<TakenOver>>()
  /** Append the take-over a write recorded (`taken_over` set), if any, to its run's history. */
  const appendTakeOver = (runId: string, takenOver: TakenOver | null | undefined): void => {
    if (takenOver === null || takenOver === undefined) return
    const list = takeOvers.get(runId)
    if (list === undefined) takeOvers.set(runId, [takenOver])
    else list.push(takenOver)
  }
  /** The record with `last_step` = its highest committed step, as SQLite reads it. */
  const withLastStep = (run: RunRecord): RunRecord => {
    const list = checkpoints.get(run.run_id) ?? []
    const last = list.reduce((max, c) => (c.step > max ? c.step : max), run.last_step)
    return last === run.last_step ? run : { ...run, last_step: last }
  }
  const unknownRun = (runId: string) =>
    new CheckpointError({ reason: "unknown-run", runId, message: `no run '${runId}' in the in-memory checkpointer` })
  /** The newest run of each thread (creation order). */
  const threads = new Map<string, string>()
  const newestOfThread = (threadId: string): string | null => threads.get(threadId) ?? null

  /** `commitSteps` checked without changing anything: what applies it, or why it cannot be made. */
  const prepareCommit = (
    batch: readonly [Checkpoint, ...Array<Checkpoint>],
    patch: RunPatch | undefined,
    options: CommitOptions | undefined
  ): (() => void) | CheckpointError => {
    const last = batch[batch.length - 1]!
    const list = checkpoints.get(last.run_id)
    const run = runs.get(last.run_id)
    if (!list || !run) return unknownRun(last.run_id)
    if (options?.owner !== undefined && run.owner !== options.owner) {
      return new CheckpointError({
        reason: "taken-over",
        runId: last.run_id,
        message: `run ${last.run_id} is no longer driven by this process (${options.owner}): it is ${run.status}${run.owner !== null ? `, driven by ${run.owner}` : ""}; ` +
          `step ${last.step} was not written and this process stopped driving the run`
      })
    }
    const expected = options?.expected
    if (expected !== undefined) {
      const from = expected.step ?? batch[0].step - 1
      if (run.status !== expected.status || run.owner !== expected.owner || list.some((c) => c.step > from)) {
        return new CheckpointError({
          reason: "run-changed",
          runId: last.run_id,
          message: `run ${last.run_id} changed since it was read (it was ${expected.status} at step ${from}): step ${last.step} not written`
        })
      }
    }
    const twice = batch.find((cp) => list.some((c) => c.step === cp.step))
    if (twice) {
      return new CheckpointError({
        reason: "storage-failure",
        runId: last.run_id,
        message: `step ${twice.step} of ${last.run_id} is already persisted`
      })
    }
    const stored = storeAll(batch, maxBytes)
    if (stored instanceof CheckpointError) return stored
    return () => {
      list.push(...stored)
      if (patch) runs.set(last.run_id, { ...run, ...patch, last_step: last.step })
      appendTakeOver(last.run_id, patch?.taken_over)
      dropCancelRequest(last.run_id, patch?.status)
      queueAfter(pending, run, patch?.status, Date.now())
    }
  }

  const shape: CheckpointerShape = {
    createRun: (asked) =>
      Effect.suspend((): Effect.Effect<CreatedRun, CheckpointError> => {
        // Never created earlier than the run written before it (see `createdNoEarlierThan`).
        const previous = order.length === 0 ? undefined : runs.get(order[order.length - 1]!)
        const run = createdNoEarlierThan(asked, previous?.created_at)
        const key = run.idempotency_key ?? null
        const existing = key === null ? undefined : byKey.get(key)
        if (existing !== undefined) return Effect.succeed({ record: runs.get(existing)!, created: false })
        const thread = run.thread_id ?? null
        if (thread !== null) {
          const newest = newestOfThread(thread)
          // Also refused: a newest run not finished (the database's one-unfinished-run rule, as SQLite enforces it).
          if (newest !== expectedThreadNewest(run) || (newest !== null && ACTIVE_STATUSES.has(runs.get(newest)!.status))) {
            return Effect.fail(new CheckpointError({
              reason: "thread-moved",
              ...(newest !== null ? { runId: newest } : {}),
              message: `thread '${thread}' moved on: its newest run is ${newest}, not the run this one expected; nothing was written`
            }))
          }
        }
        const runId = newRunId(run.runIdPrefix ?? "run", Date.parse(run.created_at))
        const stored = storeAll([run.initial, ...(run.history ?? [])].map((c) => ({ ...c, run_id: runId })), maxBytes, true)
        if (stored instanceof CheckpointError) return Effect.fail(stored)
        const record = newRunRecord(runId, run)
        runs.set(runId, record)
        order.push(runId)
        if (key !== null) byKey.set(key, runId)
        if (thread !== null) threads.set(thread, runId)
        checkpoints.set(runId, stored)
        if (run.queued === true) {
          pending.set(runId, { run_id: runId, graph_id: run.graph_id, enqueued_at: run.created_at, claimed_by: null, claimed_at: null })
        }
        return Effect.succeed({ record, created: true })
      }),
    createRuns: (list) => Effect.forEach(list, (run) => shape.createRun(run)),
    commitSteps: (batch, patch, options) =>
      Effect.suspend(() => {
        const apply = prepareCommit(batch, patch, options)
        if (apply instanceof CheckpointError) return Effect.fail(apply)
        apply()
        return Effect.void
      }),
    commitTogether: (commits) =>
      Effect.suspend(() => {
        // Every commit checked before any is applied: all or nothing.
        const applies: Array<() => void> = []
        for (const commit of commits) {
          const apply = prepareCommit(commit.checkpoints, commit.patch, commit.options)
          if (apply instanceof CheckpointError) return Effect.fail(apply)
          applies.push(apply)
        }
        for (const apply of applies) apply()
        return Effect.void
      }),
    updateRun: (runId, patch) =>
      Effect.suspend(() => {
        const run = runs.get(runId)
        if (!run) return Effect.fail(unknownRun(runId))
        runs.set(runId, { ...run, ...patch })
        appendTakeOver(runId, patch.taken_over)
        dropCancelRequest(runId, patch.status)
        queueAfter(pending, run, patch.status, Date.now())
        return Effect.void
      }),
    takeOver: (runId, expected, patch) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const run = runs.get(runId)
        if (!run || run.status !== expected.status || run.owner !== expected.owner) return false
        if (expected.step !== undefined && (checkpoints.get(runId) ?? []).some((c) => c.step > expected.step!)) return false
        if (expected.waitId !== undefined && (run.waiting === null || waitIdOf(run.waiting) !== expected.waitId)) return false
        runs.set(runId, { ...run, ...patch })
        appendTakeOver(runId, patch.taken_over)
        dropCancelRequest(runId, patch.status)
        queueAfter(pending, run, patch.status, now)
        return true
      }),
    listTakeOvers: (runId) => Effect.sync(() => [...(takeOvers.get(runId) ?? [])]),
    getRun: (runId) => Effect.sync(() => Option.map(Option.fromNullable(runs.get(runId)), withLastStep)),
    hasRun: (runId) => Effect.sync(() => runs.has(runId)),
    findByIdempotencyKey: (key) =>
      Effect.sync(() => Option.map(Option.fromNullable(runs.get(byKey.get(key) ?? "")), withLastStep)),
    latestCheckpoint: (runId) =>
      Effect.sync(() => {
        const list = checkpoints.get(runId) ?? []
        const latest = list.reduce<StoredCheckpoint | undefined>((a, c) => (a === undefined || c.step > a.step ? c : a), undefined)
        return Option.map(Option.fromNullable(latest), load)
      }),
    listCheckpoints: (runId) =>
      Effect.sync(() => [...(checkpoints.get(runId) ?? [])].sort((a, b) => a.step - b.step).map(load)),
    listRuns: (query) =>
      Effect.suspend(() => {
        const limit = Math.max(1, Math.min(query.limit ?? 50, 500))
        // Cursors are opaque: base64url of a position (nothing is deleted here, so a position keeps its run; SQL stores name the run too).
        const decoded = query.cursor === undefined ? undefined : Buffer.from(query.cursor, "base64url").toString()
        // The cursor is the 1-based position of the last run handed out; the page holds older ones.
        const position = decoded === undefined ? order.length + 1 : /^[1-9][0-9]*$/.test(decoded) ? Number(decoded) : Number.NaN
        if (!Number.isSafeInteger(position) || position > order.length + 1) {
          return Effect.fail(new CheckpointError({ reason: "invalid-cursor", message: `invalid cursor '${query.cursor}'` }))
        }
        const matching: Array<RunRecord> = []
        for (let i = position - 2; i >= 0 && matching.length <= limit; i--) {
          const run = runs.get(order[i]!)!
          if (query.status && run.status !== query.status) continue
          if (query.graph_id && run.graph_id !== query.graph_id) continue
          if (query.thread_id !== undefined && run.thread_id !== query.thread_id) continue
          matching.push(run)
        }
        const page = matching.slice(0, limit).map(withLastStep)
        const last = page[page.length - 1]
        const next_cursor = matching.length > limit && last !== undefined
          ? Buffer.from(String(order.indexOf(last.run_id) + 1)).toString("base64url")
          : null
        return Effect.succeed({ runs: page, next_cursor })
      }),
    claimPending: (runId, owner, at, expected, takenOver) =>
      Effect.sync(() => {
        const row = pending.get(runId)
        if (!row || row.claimed_by !== null) return false
        if (expected !== undefined && runs.get(runId)?.owner !== expected.owner) return false
        pending.set(runId, { ...row, claimed_by: owner, claimed_at: at })
        const run = runs.get(runId)
        if (run) {
          runs.set(runId, { ...run, status: "running", owner, started_at: run.started_at ?? at, waiting: run.waiting?.given !== undefined ? run.waiting : null, error: null, taken_over: takenOver ?? run.taken_over })
          appendTakeOver(runId, takenOver)
        }
        return true
      }),
    requeue: (runId, at) =>
      Effect.suspend(() => {
        const run = runs.get(runId)
        if (!run) return Effect.fail(unknownRun(runId))
        const row = pending.get(runId)
        pending.set(runId, row ? { ...row, claimed_by: null, claimed_at: null } : { run_id: runId, graph_id: run.graph_id, enqueued_at: queuedAt(run, at), claimed_by: null, claimed_at: null })
        return Effect.void
      }),
    completePending: (runId) => Effect.sync(() => void pending.delete(runId)),
    releaseClaims: (owner) =>
      Effect.sync(() => {
        let n = 0
        for (const [id, row] of pending) {
          if (row.claimed_by === owner) {
            pending.set(id, { ...row, claimed_by: null, claimed_at: null })
            n++
          }
        }
        return n
      }),
    listPending: (limit, filter = {}) =>
      Effect.sync(() =>
        [...pending.values()].filter((row) =>
          (filter.claimed === undefined || (row.claimed_by !== null) === filter.claimed) &&
          (filter.graphIds === undefined || filter.graphIds.includes(row.graph_id))
        ).sort((a, b) => (a.enqueued_at < b.enqueued_at ? -1 : a.enqueued_at > b.enqueued_at ? 1 : 0)).slice(0, limit)
      ),
    countPending: Effect.sync(() => {
      const counts = new Map<string, number>()
      for (const row of pending.values()) if (row.claimed_by === null) counts.set(row.graph_id, (counts.get(row.graph_id) ?? 0) + 1)
      return counts
    }),
    getCursor: (key) => Effect.sync(() => Option.fromNullable(cursors.get(key))),
    setCursor: (key, value) => Effect.sync(() => void cursors.set(key, value)),
    claimCursor: (claim) =>
      Effect.sync(() => {
        if (claim.drop !== undefined) {
          for (const [key, at] of claimedAt) {
            if (key.startsWith(claim.drop.prefix) && at < claim.drop.before) {
              claimedAt.delete(key)
              cursors.delete(key)
            }
          }
        }
        const held = cursors.get(claim.key)
        if (held !== undefined) return held
        cursors.set(claim.key, claim.value)
        claimedAt.set(claim.key, claim.at)
        return claim.value
      }),
    beat: (owner, leaseMs) =>
      Effect.sync(() => void beats.set(owner, { beat: (beats.get(owner)?.beat ?? 0) + 1, leaseMs, at: Date.now() })),
    endHeartbeat: (owner) => Effect.sync(() => void beats.delete(owner)),
    heartbeats: (owners) =>
      Effect.sync(() => {
        const now = Date.now()
        return owners.flatMap((owner): Array<HeartbeatRecord> => {
          const b = beats.get(owner)
          return b === undefined ? [] : [{ owner, beat: b.beat, lease_ms: b.leaseMs, beat_at: new Date(b.at).toISOString(), age_ms: Math.max(0, now - b.at) }]
        })
      }),
    sweepHeartbeats: (staleness, dryRun) =>
      Effect.sync(() => {
        const now = Date.now()
        // An owner of a running run, or of a queue claim, keeps its row (its standing beat hands them over).
        const holding = new Set([
          ...[...runs.values()].flatMap((r) => (r.status === "running" && r.owner !== null ? [r.owner] : [])),
          ...[...pending.values()].flatMap((p) => (p.claimed_by !== null ? [p.claimed_by] : []))
        ])
        const stale = [...beats.entries()]
          .filter(([owner, b]) => !holding.has(owner) && now - b.at > Math.max(staleness.minMs, staleness.leases * b.leaseMs))
          .map(([owner]) => owner)
          .sort()
        if (dryRun !== true) for (const owner of stale) beats.delete(owner)
        return stale
      }),
    requestCancel: (runId, owner) =>
      Effect.sync(() => {
        const run = runs.get(runId)
        if (run === undefined || run.status !== "running" || run.owner !== owner) return false
        cancelAsked.set(runId, owner)
        return true
      }),
    cancelRequests: (owner) =>
      Effect.sync(() =>
        [...cancelAsked.entries()].flatMap(([runId, asked]) => {
          const run = runs.get(runId)
          return asked === owner && run !== undefined && run.status === "running" && run.owner === owner ? [runId] : []
        }))
  }
  return shape
})

/** Build a fresh in-memory Checkpointer (default options). */
export const make: Effect.Effect<CheckpointerShape> = makeWith({})

/** A Layer with a fresh in-memory Checkpointer. */
export const layer: Layer.Layer<Checkpointer> = Layer.effect(Checkpointer, make)

/** A Layer with a fresh in-memory Checkpointer and options. */
export const layerWith = (options: MemoryCheckpointerOptions): Layer.Layer<Checkpointer> => Layer.effect(Checkpointer, makeWith(options))
