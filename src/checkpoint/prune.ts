/**
 * Retention for the checkpoint database (SQLite or PostgreSQL): delete runs that ended before a cutoff, with their
 * checkpoints, in one transaction. A run another remaining run depends on is kept: a
 * counterfactual fork replays its parent's recording, and a subgraph child belongs to its
 * parent (it is deleted with it, never alone). A thread's newest run is kept too: the
 * thread goes on from it, and never skips back to an older run; and so is its newest
 * `done` run, what a start that passes over failed runs (`skipFailed`) goes on from. Then the artifact store (`ArtifactStore`:
 * the CLI's is `<db>.artifacts/`) drops the deleted runs' index entries and the blobs no
 * remaining run refers to (blobs are shared by content, so a blob another run wrote too
 * stays).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { type ArtifactStoreError, CheckpointError, InputError } from "../errors.js"
import type { ArtifactSweep } from "./artifactModels.js"
import { ArtifactStore } from "./ArtifactStore.js"
import { isPostgres, type Param, transaction } from "./connection.js"
import { STALE_HEARTBEAT, sweepStaleHeartbeats } from "./heartbeatSweep.js"
import type { RunStatus } from "./models.js"
import { POSTGRES, SQLITE } from "./sqlStore.js"

/** The statuses a prune may delete: runs that ended for good (`error` is resumable, and never pruned). */
export const PRUNABLE_STATUSES: ReadonlyArray<RunStatus> = ["done", "failed", "cancelled"]

/** What to prune. */
export interface PruneOptions {
  /** Runs that finished before this instant (ISO 8601; not later than now: `InputError` at `before`). */
  readonly before: string
  /** Which ended statuses (default: done, failed, cancelled). */
  readonly statuses?: ReadonlyArray<RunStatus> | undefined
  /** Count what would be deleted, delete nothing. */
  readonly dryRun?: boolean | undefined
  /**
   * The artifact store belongs to this database alone (the CLI's `<db>.artifacts/`, not a
   * shared `$STARGRAPH_ARTIFACTS_DIR`): index entries of runs the database no longer has
   * (left by a prune that stopped after its commit) are dropped too.
   */
  readonly ownsArtifactStore?: boolean | undefined
  /** Runs once the deletion is committed, before the artifact store is cleaned (the CLI writes its audit line there). */
  readonly afterCommit?: ((deleted: PrunedRuns) => Effect.Effect<void>) | undefined
}

/** The runs a prune deleted (or, dry, would delete), once its transaction is committed. */
export interface PrunedRuns {
  readonly runs: number
  readonly checkpoints: number
  /** Runs old enough that were kept because a remaining run depends on them (a fork's parent, a kept parent's child). */
  readonly kept: number
  /**
   * Runs old enough that were kept because each is its thread's newest run (the thread's
   * next run continues it; a failed or cancelled one stops the thread until it is settled)
   * or its newest `done` run (a start that passes over the failed runs after it continues
   * that one): deleting either would take the thread back to an older run.
   */
  readonly kept_newest: number
  readonly run_ids: ReadonlyArray<string>
  /**
   * How many stale heartbeats were removed (or, dry, would be): rows of processes killed long
   * ago, whose beat has stood still for longer than a day and 100 of their leases
   * (`STALE_HEARTBEAT`); an owner that still owns a running run or holds a queue claim keeps its row.
   */
  readonly heartbeats: number
  /** Whose heartbeats those were (`host:pid:start`). */
  readonly heartbeat_owners: ReadonlyArray<string>
}

/** What a prune deleted (or, dry, would delete). */
export interface PruneResult extends PrunedRuns {
  /** The artifact store's part; null when the store keeps everything (it has no `deleteRuns`). */
  readonly artifacts: ArtifactSweep | null
  /**
   * The store could not clean up (the runs are deleted all the same: the database is
   * committed first): what is left only takes space. The CLI exits non-zero with it.
   */
  readonly artifacts_error?: ArtifactStoreError | undefined
}

/** A run as a prune weighs it. */
export interface RunRow {
  readonly run_id: string
  readonly parent_run_id: string | null
  readonly derived_hash: string | null
  readonly status: string
  readonly finished_at: string | null
  /** 1 when the run is its thread's newest run, or its newest `done` run (0: another run of its thread, or no thread). */
  readonly thread_newest: number
}

/**
 * The runs to delete among `rows`: old enough, not their thread's newest (or newest `done`) run, and with
 * every run that depends on them deleted too (a subgraph child only with its parent). The
 * rest of the runs old enough are kept: `kept_newest` for a thread's newest run, `kept` for
 * the others.
 */
export const prunable = (
  rows: ReadonlyArray<RunRow>,
  before: string,
  statuses: ReadonlyArray<string>
): { readonly ids: ReadonlySet<string>; readonly kept: number; readonly kept_newest: number } => {
  const cutoff = Date.parse(before)
  const oldEnough = (r: RunRow) => statuses.includes(r.status) && r.finished_at !== null && Date.parse(r.finished_at) < cutoff
  const newest = (r: RunRow) => r.thread_newest === 1
  const candidate = (r: RunRow) => oldEnough(r) && !newest(r)
  const dependents = new Map<string, Array<string>>()
  const byId = new Map(rows.map((r) => [r.run_id, r]))
  for (const r of rows) {
    if (r.parent_run_id === null) continue
    const list = dependents.get(r.parent_run_id) ?? []
    list.push(r.run_id)
    dependents.set(r.parent_run_id, list)
  }
  const ids = new Set(rows.filter(candidate).map((r) => r.run_id))
  const candidates = ids.size
  let changed = true
  while (changed) {
    changed = false
    for (const id of ids) {
      const row = byId.get(id)!
      const child = row.parent_run_id !== null && row.derived_hash === null
      const orphaned = child && !ids.has(row.parent_run_id!)
      const needed = (dependents.get(id) ?? []).some((d) => !ids.has(d))
      if (orphaned || needed) {
        ids.delete(id)
        changed = true
      }
    }
  }
  return { ids, kept: candidates - ids.size, kept_newest: rows.filter((r) => oldEnough(r) && newest(r)).length }
}

/** An artifact id anywhere in a record's JSON text. */
const ARTIFACT_IDS = /sha256:[0-9a-f]{64}/g

/**
 * The artifact ids the records of the runs not in `deleted` name: their inputs, and what
 * their steps wrote and their calls answered. Read in pages, a column at a time.
 */
const referencedByRuns = (sql: SqlClient.SqlClient, deleted: ReadonlySet<string>): Effect.Effect<ReadonlySet<string>, SqlError> =>
  Effect.gen(function*() {
    const ids = new Set<string>()
    const scan = (text: string | null) => {
      for (const id of text?.match(ARTIFACT_IDS) ?? []) ids.add(id)
    }
    for (const row of yield* sql<{ readonly run_id: string; readonly inputs: string }>`SELECT run_id, inputs FROM runs_history`) {
      if (!deleted.has(row.run_id)) scan(row.inputs)
    }
    let after: readonly [string, number] = ["", -1]
    for (;;) {
      const page = yield* sql<{ readonly run_id: string; readonly step: number; readonly writes: string; readonly calls: string }>`
        SELECT run_id, step, writes, calls FROM checkpoints WHERE (run_id, step) > (${after[0]}, ${after[1]}) ORDER BY run_id, step LIMIT 500`
      for (const row of page) {
        if (deleted.has(row.run_id)) continue
        scan(row.writes)
        scan(row.calls)
      }
      const last = page[page.length - 1]
      if (last === undefined) return ids
      after = [last.run_id, last.step]
    }
  })

/** `IN (?, ?, …)` batches of at most 500 ids (SQLite's and PostgreSQL's parameter limits are far above). */
const batches = (ids: ReadonlyArray<string>): ReadonlyArray<ReadonlyArray<string>> =>
  Array.from({ length: Math.ceil(ids.length / 500) }, (_, i) => ids.slice(i * 500, i * 500 + 500))

/**
 * Delete the runs that ended before `options.before` (and their checkpoints), in one
 * transaction on the database's SQL client; with `dryRun`, only count them. Statuses
 * other than done, failed and cancelled are refused (`InputError`).
 */
export const prune = (filename: string, options: PruneOptions): Effect.Effect<PruneResult, CheckpointError | InputError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const statuses = options.statuses ?? PRUNABLE_STATUSES
    const other = statuses.find((s) => !PRUNABLE_STATUSES.includes(s))
    if (other !== undefined) {
      return yield* new InputError({ field: "statuses", message: `'${other}' is not a status a run ends in for good`, fix: `use ${PRUNABLE_STATUSES.join(", ")} (an error run is resumable; other runs have not ended)` })
    }
    const cutoff = Date.parse(options.before)
    if (Number.isNaN(cutoff)) {
      return yield* new InputError({ field: "before", message: `'${options.before}' is not a date`, fix: "give an ISO 8601 instant, e.g. 2026-10-01T00:00:00Z" })
    }
    // A cutoff in the future (a typo in the year) would delete every run that ended.
    const now = yield* Clock.currentTimeMillis
    if (cutoff > now) {
      return yield* new InputError({
        field: "before",
        message: `${new Date(cutoff).toISOString()} is later than now (${new Date(now).toISOString()}): every run that ended would be deleted`,
        fix: "give an instant in the past (now at the latest)"
      })
    }
    const sql = yield* SqlClient.SqlClient
    const deleted = yield* transaction(sql, (db) =>
      Effect.gen(function*() {
        // SQLite's write transaction holds the database from its start; PostgreSQL's takes
        // the runs table from other writers: a run written before it is seen here, and one
        // written after waits for the commit. That alone does not stop a writer that read a
        // run before this deletes it and depends on it after (a fork reads its parent, then
        // writes itself): that writer checks again once written (`Replay.start`).
        if (isPostgres(sql)) yield* db.run("LOCK TABLE runs_history IN SHARE ROW EXCLUSIVE MODE", [])
        // A run's place among its thread's runs: the newest is the highest row order (SQLite's
        // rowid, PostgreSQL's seq), as `listRuns({thread_id})` and `createRun` take it. Kept:
        // the newest, and the newest `done` (where a start passing over failed runs goes on).
        const seq = isPostgres(sql) ? "seq" : "rowid"
        const rows = yield* db.all<RunRow>(
          `SELECT r.run_id, r.parent_run_id, r.derived_hash, r.status, r.finished_at,
            CASE WHEN r.thread_id IS NOT NULL AND (
              r.${seq} = (SELECT MAX(t.${seq}) FROM runs_history t WHERE t.thread_id = r.thread_id)
              OR (r.status = 'done' AND r.${seq} = (SELECT MAX(t.${seq}) FROM runs_history t WHERE t.thread_id = r.thread_id AND t.status = 'done'))
            ) THEN 1 ELSE 0 END AS thread_newest
          FROM runs_history r`,
          []
        )
        const { ids, kept, kept_newest } = prunable(rows, options.before, statuses)
        const list = [...ids]
        let checkpoints = 0
        for (const batch of batches(list)) {
          const marks = batch.map(() => "?").join(", ")
          const params: ReadonlyArray<Param> = batch
          // A count is a bigint in PostgreSQL, which comes as text.
          const counted = yield* db.all<{ readonly n: number | string }>(`SELECT count(*) AS n FROM checkpoints WHERE run_id IN (${marks})`, params)
          checkpoints += Number(counted[0]?.n ?? 0)
          if (options.dryRun === true) continue
          yield* db.run(`DELETE FROM checkpoints WHERE run_id IN (${marks})`, params)
          yield* db.run(`DELETE FROM pending_runs WHERE run_id IN (${marks})`, params)
          yield* db.run(`DELETE FROM run_takeovers WHERE run_id IN (${marks})`, params)
          yield* db.run(`DELETE FROM runs_history WHERE run_id IN (${marks})`, params)
        }
        // Heartbeats left by processes killed long ago (a clean stop removes its own row).
        const owners = yield* sweepStaleHeartbeats(db, isPostgres(sql) ? POSTGRES.nowMs : SQLITE.nowMs, STALE_HEARTBEAT, options.dryRun === true)
        return { runs: list.length, checkpoints, kept, kept_newest, run_ids: list, heartbeats: owners.length, heartbeat_owners: owners }
      }), { readOnly: options.dryRun === true }).pipe(Effect.mapError((e: SqlError) => new CheckpointError({ reason: "storage-failure", filename, message: `pruning runs: ${e.cause instanceof Error ? e.cause.message : e.message}` })))
    if (options.dryRun !== true && options.afterCommit !== undefined) yield* options.afterCommit(deleted)
    const store = yield* ArtifactStore
    if (store.deleteRuns === undefined) return { ...deleted, artifacts: null }
    const failed = (e: SqlError) => new CheckpointError({ reason: "storage-failure", filename, message: `reading the artifacts remaining runs refer to: ${e.cause instanceof Error ? e.cause.message : e.message}` })
    // What the remaining runs' records name stays, whatever the store's index says (an index not copied with its blobs).
    const gone = new Set(deleted.run_ids)
    const keep = yield* Effect.mapError(referencedByRuns(sql, gone), failed)
    const remaining = options.ownsArtifactStore === true
      ? yield* Effect.mapError(Effect.map(sql<{ readonly run_id: string }>`SELECT run_id FROM runs_history`, (rows) => new Set(rows.map((r) => r.run_id).filter((id) => !gone.has(id)))), failed)
      : undefined
    return yield* store.deleteRuns(deleted.run_ids, { dryRun: options.dryRun, keep, remaining }).pipe(
      Effect.match({
        onSuccess: (artifacts): PruneResult => ({ ...deleted, artifacts }),
        onFailure: (error): PruneResult => ({ ...deleted, artifacts: null, artifacts_error: error })
      })
    )
  })
