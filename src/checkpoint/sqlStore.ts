/**
 * The Checkpointer over an `@effect/sql` client: one implementation for SQLite
 * (`SqliteCheckpointer`) and PostgreSQL (`PgCheckpointer`), so both keep the same
 * semantics. The few statements the two databases spell differently come from a
 * {@link Dialect}; everything else (row codecs, the queue, compare-and-set claims) is shared.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CheckpointError } from "../errors.js"
import type { CheckpointerShape, HeartbeatRecord, RunCommit } from "./Checkpointer.js"
import { checkpointTooLarge, encodeJson, maxCheckpointBytes as resolveMaxCheckpointBytes, overLimit } from "./checkpointSize.js"
import { type Param, runOne, type Statements, transaction, type WriteOptions, type WriteResult } from "./connection.js"
import { sweepStaleHeartbeats } from "./heartbeatSweep.js"
import { Checkpoint, createdNoEarlierThan, type CreatedRun, expectedThreadNewest, type NewRun, newRunRecord, type PendingRun, type RunPatch, RunRecord, stopsRun, TakenOver, WaitingInfo } from "./models.js"
import { decodeRunCursor, encodeRunCursor, invalidCursor } from "./runCursor.js"
import { newRunId } from "./runId.js"
import { waitIdOf } from "./waitId.js"

/** Whether SQLite refused a write because the database was opened, or is, read-only (`SQLITE_READONLY…`). */
const readOnlyRefusal = (cause: SqlError): boolean =>
  cause.cause instanceof Error && "code" in cause.cause && typeof cause.cause.code === "string" && cause.cause.code.startsWith("SQLITE_READONLY")

const storage = (filename: string, what: string) => (cause: SqlError) =>
  readOnlyRefusal(cause)
    ? new CheckpointError({
      reason: "read-only",
      filename,
      message: `${what}: ${filename} is read-only here (${cause.cause instanceof Error ? cause.cause.message : cause.message}); nothing was written. ` +
        "Copy it to a writable folder (sqlite3 <db> \".backup <copy>\") and write to the copy, or make it and its folder writable"
    })
    : new CheckpointError({
      reason: "storage-failure",
      filename,
      message: `${what}: ${cause.cause instanceof Error ? cause.cause.message : cause.message}`
    })

const json = (value: unknown): string => JSON.stringify(value)

const CHECKPOINT_COLUMNS = `run_id, step, node, nodes, state, writes, delta, next, joins,
  graph_hash, runtime_hash, parent_run_id, parent_step, started_at, finished_at, duration_ms, calls, facts, rules, groups`

const INSERT_CHECKPOINT = `INSERT INTO checkpoints (${CHECKPOINT_COLUMNS})
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

/**
 * A checkpoint written only while its run's record names the writer as owner (the two
 * parameters after the checkpoint's: the run id and the owner), in one statement: no row
 * is inserted once another process took the run over. `lock` holds the run row against a
 * take-over until the write commits (see `Dialect.lockShared`).
 */
const insertOwnedCheckpoint = (lock: string) =>
  `INSERT INTO checkpoints (${CHECKPOINT_COLUMNS})
  SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM runs_history WHERE run_id = ? AND owner = ?${lock}`

/** Upsert of a process's heartbeat: its counter goes up by one, stamped with `now` (the database's clock, ms). */
const beatStatement = (now: string) =>
  `INSERT INTO process_heartbeats (owner, beat, lease_ms, beat_at, started_at) VALUES (?, 1, ?, ${now}, ${now})
  ON CONFLICT (owner) DO UPDATE SET beat = process_heartbeats.beat + 1, lease_ms = excluded.lease_ms, beat_at = excluded.beat_at`

const optionalJson = (value: unknown): string | null => (value === undefined ? null : json(value))

/**
 * A checkpoint's row, or `CheckpointError[checkpoint-too-large]` when its text is longer
 * than `limit` (or than one string can be; `creating`: for a new run). Synchronous: every
 * step's commit calls it.
 */
const checkpointParams = (cp: Checkpoint, limit: number, creating = false): Either.Either<ReadonlyArray<Param>, CheckpointError> => {
  const row: ReadonlyArray<Param | undefined> = [
    cp.run_id, cp.step, cp.node, json(cp.nodes), encodeJson(cp.state), encodeJson(cp.writes), encodeJson(cp.delta), json(cp.next),
    json(cp.joins), cp.graph_hash, cp.runtime_hash, cp.parent_run_id, cp.parent_step, cp.started_at, cp.finished_at,
    cp.duration_ms, encodeJson(cp.calls ?? []), cp.facts === undefined ? null : encodeJson(cp.facts),
    cp.rules === undefined ? null : encodeJson(cp.rules), optionalJson(cp.groups)
  ]
  let length = 0
  for (const value of row) {
    if (value === undefined) return Either.left(checkpointTooLarge(cp, undefined, limit, creating))
    if (typeof value === "string") length += value.length
  }
  const over = overLimit(row, length, limit)
  return over !== undefined ? Either.left(checkpointTooLarge(cp, over, limit, creating)) : Either.right(row as ReadonlyArray<Param>)
}

// The insert comes first in its transaction, which begins IMMEDIATE: dedup and insert
// are one atomic step across processes.
const INSERT_RUN = `INSERT INTO runs_history (run_id, graph_id, graph_hash, runtime_hash, status, inputs, created_at,
  idempotency_key, parent_run_id, fork_step, graph_source, last_step, derived_hash, mutation, owner, started_at, live_after_fork, actor, breakpoints,
  thread_id, continued_from, default_model, fork_max_steps, skip_failed)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (idempotency_key) DO NOTHING`

/**
 * The run record's columns as read: `last_step` is the highest committed checkpoint
 * (one primary-key probe), so a step's commit need not touch the run row.
 */
const RUN_COLUMNS = `run_id, graph_id, graph_hash, runtime_hash, status, inputs, created_at, started_at, finished_at,
  error, waiting, idempotency_key, parent_run_id, fork_step, graph_source, owner, derived_hash, mutation, live_after_fork, actor, breakpoints,
  thread_id, continued_from, taken_over, default_model, fork_max_steps, skip_failed, COALESCE((SELECT MAX(step) FROM checkpoints WHERE checkpoints.run_id = runs_history.run_id), last_step) AS last_step`

const SELECT_BY_KEY = `SELECT ${RUN_COLUMNS} FROM runs_history WHERE idempotency_key = ?`

/** A second checkpoint of the same step, as SQLite and PostgreSQL word the violation of the checkpoints' key. */
const STEP_TAKEN = /UNIQUE constraint failed: checkpoints\.|duplicate key value violates unique constraint "checkpoints_pkey"/

/** The unique index over unfinished runs' thread, as SQLite and PostgreSQL word its violation. */
const THREAD_GUARD = /UNIQUE constraint failed: runs_history\.thread_id|runs_history_thread_active/

/** `createRun` refused a thread's run: the thread's newest run is `newest`, not the one it continues. */
const threadMoved = (filename: string, threadId: string, newest: string | null) =>
  new CheckpointError({
    reason: "thread-moved",
    filename,
    ...(newest !== null ? { runId: newest } : {}),
    message: `thread '${threadId}' moved on: ${newest !== null ? `its newest run is ${newest}` : "another unfinished run is on it"}, not the run this one expected; nothing was written`
  })

const INSERT_PENDING = "INSERT INTO pending_runs (run_id, graph_id, params, idempotency_key, enqueued_at) VALUES (?, ?, ?, ?, ?)"

const DEQUEUE = "DELETE FROM pending_runs WHERE run_id = ?"

/**
 * Back on the queue, unclaimed: a new row from the run's record, or the existing row's
 * claim released. A new row keeps the run's place: queued as of its creation (a run a
 * draining server puts back goes before the runs queued after it), never later than now.
 * `least` is the database's two-argument minimum.
 */
const requeueStatement = (least: string) =>
  `INSERT INTO pending_runs (run_id, graph_id, params, idempotency_key, enqueued_at)
  SELECT run_id, graph_id, inputs, idempotency_key, ${least}(?, created_at) FROM runs_history WHERE run_id = ?
  ON CONFLICT (run_id) DO UPDATE SET claimed_by = NULL, claimed_at = NULL`

const CLAIM = "UPDATE pending_runs SET claimed_by = ?, claimed_at = ? WHERE run_id = ? AND claimed_by IS NULL"

const UNCLAIM = "UPDATE pending_runs SET claimed_by = NULL, claimed_at = NULL WHERE run_id = ? AND claimed_by = ?"

/**
 * Marks a claimed run running; its wait is kept only when the parameter says so (it keeps
 * an answer given to the run: see `keepsGiven`); a take-over (JSON, the fourth parameter)
 * is recorded when given, else the last one is kept.
 */
const MARK_CLAIMED_RUNNING = `UPDATE runs_history SET status = 'running', owner = ?, started_at = COALESCE(started_at, ?),
  waiting = CASE WHEN ? = 1 THEN waiting ELSE NULL END, error = NULL, taken_over = COALESCE(?, taken_over) WHERE run_id = ?`

/**
 * Appends a take-over to its run's history (`run_takeovers`), numbered after the run's
 * last one: the run id, then `from`, `to`, `reason`, `at`, then the run id again. Written in
 * the transaction of the write that took the run over, after that write (which holds the
 * run row), so two take-overs of one run are numbered one after the other.
 */
const INSERT_TAKEOVER = `INSERT INTO run_takeovers (run_id, seq, from_owner, to_owner, reason, at)
  SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM run_takeovers WHERE run_id = ?`

/** The take-over a patch records (`taken_over` set), if any. */
const takeOverIn = (patch: RunPatch | undefined): TakenOver | undefined => patch?.taken_over ?? undefined

const decodeWaitingText = Schema.decodeUnknownEither(Schema.parseJson(WaitingInfo))

/** Whether a run's `waiting` text is the wait `waitId` (as `waitIdOf` names it). */
const waitsAtText = (waiting: string | null | undefined, waitId: string): boolean => {
  if (waiting === null || waiting === undefined) return false
  const decoded = decodeWaitingText(waiting)
  return Either.isRight(decoded) && waitIdOf(decoded.right) === waitId
}

/**
 * Whether a run's `waiting` text keeps an answer given to the run (`waiting.given`), read
 * here rather than by the database: PostgreSQL's JSON types refuse text that JSON allows
 * and the runtime writes (a `\u0000`, half of a surrogate pair, in an answer or a payload),
 * and a claim that failed on it would leave the run queued for good. Unreadable text is
 * kept (nothing is dropped on a guess).
 */
const keepsGiven = (waiting: string | null | undefined): boolean => {
  if (waiting === null || waiting === undefined) return false
  try {
    const parsed: unknown = JSON.parse(waiting)
    return typeof parsed !== "object" || parsed === null || ("given" in parsed && parsed.given !== undefined && parsed.given !== null)
  } catch {
    return true
  }
}

/** The statements SQLite and PostgreSQL spell differently. */
export interface Dialect {
  /** The database's name in messages. */
  readonly name: "SQLite" | "PostgreSQL"
  /** The two-argument minimum of two texts (`MIN` in SQLite, `LEAST` in PostgreSQL). */
  readonly least: string
  /** What locks a row a transaction read for its later update (`FOR UPDATE` in PostgreSQL; SQLite's write transactions lock the database). */
  readonly forUpdate: string
  /**
   * A statement that serializes the writers of one thread until the transaction ends
   * (parameter: the thread id), or none where write transactions already run one at a
   * time (SQLite's `BEGIN IMMEDIATE`). Without it, PostgreSQL's READ COMMITTED lets two
   * runs read the same newest run of a thread and both continue it.
   */
  readonly lockThread: string | undefined
  /**
   * A statement that serializes run creation across every process on the database until
   * the transaction ends, or none where write transactions already run one at a time
   * (SQLite). Taken first in `createRuns`' transaction, before the last run is read: the
   * run written before this one is then committed, so its creation time is read and this
   * one is never created earlier (see `createdNoEarlierThan`), and ids, `seq` and
   * `created_at` agree with the order the runs are written in.
   */
  readonly lockCreation: string | undefined
  /** Null-safe equality with a parameter, `?` included. */
  readonly isParam: string
  /** The column that numbers rows in insertion order (`runs_history`, `pending_runs`). */
  readonly seq: string
  /** The database's clock: milliseconds since the epoch, an integer. */
  readonly nowMs: string
  /**
   * Appended to the read of a run row that an owner's write depends on: the row stays as
   * read until the write commits (PostgreSQL `FOR SHARE`, which a take-over's UPDATE
   * waits for and then re-reads past; SQLite's one writer at a time does it already).
   */
  readonly lockShared: string
  /**
   * A statement (the run id its one parameter) that locks a run row against other
   * writers until the transaction ends, so that its later reads see every write committed
   * before (PostgreSQL, whose statements each read their own snapshot); undefined for
   * SQLite, whose write transaction holds the database.
   */
  readonly lockRun: string | undefined
}

/** SQLite's spelling. */
export const SQLITE: Dialect = {
  name: "SQLite",
  least: "MIN",
  forUpdate: "",
  lockThread: undefined,
  lockCreation: undefined,
  isParam: "IS ?",
  seq: "rowid",
  nowMs: "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)",
  lockShared: "",
  lockRun: undefined
}

/**
 * The advisory lock key every Stargraph process takes on PostgreSQL while it creates runs
 * (the bytes `StgCreat` as a bigint; the migration lock is `Stargrap`): one transaction at
 * a time reads the last run and writes the next (see `Dialect.lockCreation`).
 */
export const CREATION_LOCK = "6013544941826171252"

/** PostgreSQL's spelling. */
export const POSTGRES: Dialect = {
  name: "PostgreSQL",
  least: "LEAST",
  forUpdate: " FOR UPDATE",
  lockThread: "SELECT pg_advisory_xact_lock(hashtextextended('stargraph:thread:' || ?, 0))",
  lockCreation: `SELECT pg_advisory_xact_lock(${CREATION_LOCK})`,
  isParam: "IS NOT DISTINCT FROM ?",
  seq: "seq",
  nowMs: "CAST(round(extract(epoch from clock_timestamp()) * 1000) AS bigint)",
  lockShared: " FOR SHARE",
  lockRun: "SELECT 1 FROM runs_history WHERE run_id = ? FOR UPDATE"
}

/** Whether a patch to `status` moves the run on or off the queue (so it is written in a transaction). */
const movesQueue = (status: RunPatch["status"]): boolean => stopsRun(status) || status === "pending"

/** The UPDATE for a run patch (undefined text when the patch sets nothing). JSON columns are encoded. */
const patchStatement = (runId: string, patch: RunPatch): readonly [string | undefined, ReadonlyArray<Param>] => {
  const columns: Array<string> = []
  const params: Array<Param> = []
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue
    columns.push(`"${k}" = ?`)
    params.push(k === "error" || k === "waiting" || k === "taken_over" ? (v === null ? null : json(v)) : typeof v === "boolean" ? (v ? 1 : 0) : (v as Param))
  }
  if (columns.length === 0) return [undefined, params]
  // A cancel request is for the drive it was made in: leaving `running` (stopped, paused, waiting) drops it.
  if (patch.status !== undefined && patch.status !== "running") columns.push("cancel_requested_of = NULL")
  params.push(runId)
  return [`UPDATE runs_history SET ${columns.join(", ")} WHERE run_id = ?`, params]
}

interface RunRow {
  readonly run_id: string
  readonly graph_id: string
  readonly graph_hash: string
  readonly runtime_hash: string
  readonly status: string
  readonly inputs: string
  readonly created_at: string
  readonly started_at: string | null
  readonly finished_at: string | null
  readonly error: string | null
  readonly waiting: string | null
  readonly idempotency_key: string | null
  readonly parent_run_id: string | null
  readonly fork_step: number | null
  readonly graph_source: string | null
  readonly owner: string | null
  readonly last_step: number
  readonly derived_hash: string | null
  readonly mutation: string | null
  readonly live_after_fork: number
  readonly actor: string | null
  readonly breakpoints: string | null
  readonly thread_id: string | null
  readonly continued_from: string | null
  readonly taken_over?: string | null
  readonly default_model?: string | null
  readonly fork_max_steps?: number | string | null
  readonly skip_failed?: number | string | null
  /** Its place in insertion order (a `listRuns` cursor); PostgreSQL's `bigint` comes as text. */
  readonly seq?: number | string | undefined
}

/** A heartbeat row (PostgreSQL's `bigint` comes as text), with the database's clock when read. */
interface HeartbeatRow {
  readonly owner: string
  readonly beat: number | string
  readonly lease_ms: number | string
  readonly beat_at: number | string
  readonly now_ms: number | string
}

/** `owner`'s write of run `runId` found another owner on it (`now`): the run was taken over. */
const takenOver = (runId: string, owner: string, now: { readonly owner: string | null; readonly status: string }, steps: string, filename: string) =>
  new CheckpointError({
    reason: "taken-over",
    runId,
    filename,
    message: `run ${runId} is no longer driven by this process (${owner}): it is ${now.status}${now.owner !== null ? `, driven by ${now.owner}` : ""}. ` +
      `Another process took it over (this one's lease lapsed: it was paused, stalled or cut off from the database for longer than its lease); ` +
      `${steps} was not written and this process stopped driving the run`
  })

interface CheckpointRow {
  readonly run_id: string
  readonly step: number
  readonly node: string
  readonly nodes: string
  readonly state: string
  readonly writes: string
  readonly delta: string
  readonly next: string
  readonly joins: string
  readonly graph_hash: string
  readonly runtime_hash: string
  readonly parent_run_id: string | null
  readonly parent_step: number | null
  readonly started_at: string
  readonly finished_at: string
  readonly duration_ms: number
  readonly calls: string
  readonly facts: string | null
  readonly rules: string | null
  readonly groups: string | null
}

/** A `run_takeovers` row as read. */
interface TakeOverRow {
  readonly from_owner: string
  readonly to_owner: string
  readonly reason: string
  readonly at: string
}

const decodeRun = Schema.decodeUnknownEither(RunRecord)
const decodeTakeOver = Schema.decodeUnknownEither(TakenOver)
const decodeCheckpoint = Schema.decodeUnknownEither(Checkpoint)

const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text))

const corrupt = (filename: string, what: string, cause: unknown) =>
  new CheckpointError({
    reason: "corrupt-checkpoint",
    filename,
    message: `${what} could not be decoded: ${cause instanceof Error ? cause.message : String(cause)}`
  })

const toRun = (filename: string) => (row: RunRow): Effect.Effect<RunRecord, CheckpointError> =>
  Effect.try({
    try: () => ({
      ...row,
      seq: undefined,
      inputs: parseJson(row.inputs),
      error: parseJson(row.error),
      waiting: parseJson(row.waiting),
      mutation: parseJson(row.mutation),
      breakpoints: parseJson(row.breakpoints),
      taken_over: parseJson(row.taken_over ?? null),
      default_model: parseJson(row.default_model ?? null),
      live_after_fork: row.live_after_fork === 1,
      fork_max_steps: row.fork_max_steps === null || row.fork_max_steps === undefined ? null : Number(row.fork_max_steps),
      skip_failed: row.skip_failed === null || row.skip_failed === undefined ? null : Number(row.skip_failed) === 1
    }),
    catch: (cause) => corrupt(filename, `run ${row.run_id}`, cause)
  }).pipe(
    Effect.flatMap((raw) => {
      const { seq: _seq, ...rest } = raw
      const decoded = decodeRun(rest)
      return Either.isRight(decoded) ? Effect.succeed(decoded.right) : Effect.fail(corrupt(filename, `run ${row.run_id}`, decoded.left))
    })
  )

const toCheckpoint = (filename: string) => (row: CheckpointRow): Effect.Effect<Checkpoint, CheckpointError> =>
  Effect.try({
    try: () => {
      const { facts, groups, rules, ...rest } = row
      return {
        ...rest,
        nodes: parseJson(row.nodes),
        state: parseJson(row.state),
        writes: parseJson(row.writes),
        delta: parseJson(row.delta),
        next: parseJson(row.next),
        joins: parseJson(row.joins),
        calls: parseJson(row.calls),
        ...(facts !== null ? { facts: parseJson(facts) } : {}),
        ...(rules !== null ? { rules: parseJson(rules) } : {}),
        ...(groups !== null ? { groups: parseJson(groups) } : {})
      }
    },
    catch: (cause) => corrupt(filename, `checkpoint ${row.run_id}#${row.step}`, cause)
  }).pipe(
    Effect.flatMap((raw) => {
      const decoded = decodeCheckpoint(raw)
      return Either.isRight(decoded)
        ? Effect.succeed(decoded.right)
        : Effect.fail(corrupt(filename, `checkpoint ${row.run_id}#${row.step}`, decoded.left))
    })
  )

/** How {@link make} builds a Checkpointer. */
export interface SqlStoreOptions {
  /** The database as messages name it (a file, or a URL without its password). */
  readonly filename: string
  readonly dialect: Dialect
  /**
   * How the writes that start a run commit (claiming it, marking it `running`, creating
   * it `running`), and a child run's last commit, which its parent's follows
   * (`CommitOptions.syncFollows`): SQLite under `synchronous = FULL` commits them without
   * their own fsync (see `SqliteCheckpointer.make`).
   */
  readonly startsRun?: WriteOptions | undefined
  /** Largest checkpoint a step may write, in bytes of JSON text (see `checkpointSize`). */
  readonly maxCheckpointBytes?: number | undefined
}

/** Inside `commitTogether`'s transaction: `commit` was refused for its `owner`, so the transaction is undone. */
interface NotOwned {
  readonly _tag: "NotOwned"
  readonly commit: RunCommit
  readonly owner: string
}

/** `step N`, or `steps A..B`, for messages. */
const stepsOf = (checkpoints: readonly [Checkpoint, ...Array<Checkpoint>]): string =>
  checkpoints.length === 1 ? `step ${checkpoints[0].step}` : `steps ${checkpoints[0].step}..${checkpoints[checkpoints.length - 1]!.step}`

/** Build the Checkpointer over an open, migrated SqlClient of the dialect given. */
export const make = (options: SqlStoreOptions): Effect.Effect<CheckpointerShape, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    // Stargraph's rows keep their column names whatever names an application's client maps.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const { dialect, filename, startsRun } = options
    const maxBytes = resolveMaxCheckpointBytes(options.maxCheckpointBytes)
    const REQUEUE = requeueStatement(dialect.least)
    const THREAD_NEWEST = `SELECT run_id FROM runs_history WHERE thread_id = ? ORDER BY ${dialect.seq} DESC LIMIT 1`
    const NEWEST_CREATED = `SELECT created_at FROM runs_history ORDER BY ${dialect.seq} DESC LIMIT 1`
    const READ_WAITING = `SELECT waiting FROM runs_history WHERE run_id = ?${dialect.forUpdate}`
    const INSERT_OWNED_CHECKPOINT = insertOwnedCheckpoint(dialect.lockShared)
    const BEAT = beatStatement(dialect.nowMs)

    /**
     * Insert one run (inside the caller's transaction); an existing idempotency key wins.
     * `newest`: the creation time of the run written last (see `createdNoEarlierThan`).
     */
    const insertRun = (db: Statements, asked: NewRun, newest: string | undefined) =>
      Effect.gen(function*() {
        const run = createdNoEarlierThan(asked, newest)
        const runId = newRunId(run.runIdPrefix ?? "run", Date.parse(run.created_at))
        const record = newRunRecord(runId, run)
        if (record.thread_id !== null) {
          // A retried start (same idempotency key) is answered before the thread is checked.
          const known = record.idempotency_key === null ? [] : yield* db.all<RunRow>(SELECT_BY_KEY, [record.idempotency_key])
          if (known[0]) return { _tag: "existing" as const, row: known[0] }
          // The thread's newest run is read, and this one written after it, by one writer at a time.
          if (dialect.lockThread !== undefined) yield* db.all(dialect.lockThread, [record.thread_id])
          const newest = (yield* db.all<{ run_id: string }>(THREAD_NEWEST, [record.thread_id]))[0]?.run_id ?? null
          if (newest !== expectedThreadNewest(run)) return yield* threadMoved(filename, record.thread_id, newest)
        }
        const inserted = yield* db.run(INSERT_RUN, [
          runId, record.graph_id, record.graph_hash, record.runtime_hash, record.status, json(record.inputs), record.created_at,
          record.idempotency_key, record.parent_run_id, record.fork_step, record.graph_source, record.last_step,
          record.derived_hash, record.mutation === null ? null : json(record.mutation), record.owner, record.started_at,
          record.live_after_fork ? 1 : 0, record.actor, record.breakpoints === null ? null : json(record.breakpoints), record.thread_id, record.continued_from,
          record.default_model === null ? null : json(record.default_model), record.fork_max_steps,
          record.skip_failed === null ? null : record.skip_failed ? 1 : 0
        ])
        if (inserted.changes === 0) {
          const rows = yield* db.all<RunRow>(SELECT_BY_KEY, [record.idempotency_key])
          if (rows[0]) return { _tag: "existing" as const, row: rows[0] }
        }
        yield* db.run(INSERT_CHECKPOINT, yield* checkpointParams({ ...run.initial, run_id: runId }, maxBytes, true))
        for (const cp of run.history ?? []) yield* db.run(INSERT_CHECKPOINT, yield* checkpointParams({ ...cp, run_id: runId }, maxBytes, true))
        if (run.queued === true) {
          yield* db.run(INSERT_PENDING, [runId, record.graph_id, json(record.inputs), record.idempotency_key, record.created_at])
        }
        return { _tag: "created" as const, record }
      })

    /** A patch that keeps the run going: one statement, no transaction needed. */
    const patchAlone = (runId: string, patch: RunPatch) => {
      const [text, params] = patchStatement(runId, patch)
      return text === undefined
        ? Effect.succeed(0)
        : Effect.map(runOne(sql, text, params, patch.status === "running" ? startsRun : undefined), (r) => r.changes)
    }

    const createRuns = (runs: ReadonlyArray<NewRun>): Effect.Effect<ReadonlyArray<CreatedRun>, CheckpointError> =>
      Effect.gen(function*() {
        // Runs created `running` are driven at once by this process: like the `running`
        // transition, their creation needs no fsync of its own (see `make`).
        const sync = runs.length > 0 && runs.every((run) => run.running !== undefined) ? startsRun : undefined
        const results = yield* transaction(sql, (db) =>
          Effect.gen(function*() {
            // The last run written, read under the write lock (SQLite's one writer; on
            // PostgreSQL, the creation lock, held to the commit): no run is created earlier
            // than it. Nothing in this transaction waits on anything but the database.
            if (dialect.lockCreation !== undefined) yield* db.all(dialect.lockCreation, [])
            let newest = (yield* db.all<{ created_at: string }>(NEWEST_CREATED, []))[0]?.created_at
            const out: Array<{ readonly _tag: "existing"; readonly row: RunRow } | { readonly _tag: "created"; readonly record: RunRecord }> = []
            for (const run of runs) {
              const result = yield* insertRun(db, run, newest)
              if (result._tag === "created") newest = result.record.created_at
              out.push(result)
            }
            return out
          }), sync).pipe(
          Effect.catchTag("SqlError", (e) =>
            // The database's own guard (one unfinished run per thread) stopped a second one.
            Effect.fail(
              runs.length === 1 && typeof runs[0]?.thread_id === "string" && THREAD_GUARD.test(String(e.cause))
                ? threadMoved(filename, runs[0].thread_id, null)
                : storage(filename, `creating ${runs.length === 1 ? `a run of ${runs[0]?.graph_id}` : `${runs.length} runs`}`)(e)
            ))
        )
        return yield* Effect.forEach(results, (r) =>
          r._tag === "created"
            ? Effect.succeed<CreatedRun>({ record: r.record, created: true })
            : Effect.map(toRun(filename)(r.row), (record): CreatedRun => ({ record, created: false })))
      })

    /** The queue after a run's status changed (in the same transaction): a stopped run leaves it, a `pending` one is on it, unclaimed. */
    const queueAfter = (db: Statements, runId: string, status: RunPatch["status"]): Effect.Effect<void, SqlError> =>
      stopsRun(status)
        ? Effect.asVoid(db.run(DEQUEUE, [runId]))
        : status === "pending"
        ? Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.asVoid(db.run(REQUEUE, [new Date(now).toISOString(), runId])))
        : Effect.void

    /** Append `takenOver` (when given) to run `runId`'s take-over history, inside the caller's transaction (see `INSERT_TAKEOVER`). */
    const appendTakeOver = (db: Statements, runId: string, takenOver: TakenOver | undefined): Effect.Effect<void, SqlError> =>
      takenOver === undefined
        ? Effect.void
        : Effect.asVoid(db.run(INSERT_TAKEOVER, [runId, takenOver.from, takenOver.to, takenOver.reason, takenOver.at, runId]))

    /** Apply a run patch, and move the run on or off the queue with it (see `queueAfter`), recording a take-over it makes (see `appendTakeOver`). */
    const patchRun = (db: Statements, runId: string, patch: RunPatch) =>
      Effect.gen(function*() {
        const [text, params] = patchStatement(runId, patch)
        const updated = text === undefined ? { changes: 0 } : yield* db.run(text, params)
        if (stopsRun(patch.status) || updated.changes > 0) yield* queueAfter(db, runId, patch.status)
        if (updated.changes > 0) yield* appendTakeOver(db, runId, takeOverIn(patch))
        return updated.changes
      })

    /**
     * One run's consecutive steps and its record's patch, inside the caller's transaction:
     * the first insert checks the owner, when given (and, on PostgreSQL, holds the run row
     * till the commit); when it writes nothing (another process owns the run), nothing else is.
     */
    const writeSteps = (db: Statements, last: Checkpoint, [first, ...rest]: ReadonlyArray<ReadonlyArray<Param>>, patch: RunPatch | undefined, owner: string | undefined) =>
      Effect.gen(function*() {
        const inserted = yield* db.run(owner === undefined ? INSERT_CHECKPOINT : INSERT_OWNED_CHECKPOINT, owner === undefined ? first! : [...first!, last.run_id, owner])
        if (inserted.changes === 0) return inserted
        for (const params of rest) yield* db.run(INSERT_CHECKPOINT, params)
        if (patch !== undefined) yield* patchRun(db, last.run_id, { ...patch, last_step: last.step })
        return inserted
      })

    const unknownRun = (runId: string) =>
      new CheckpointError({ reason: "unknown-run", runId, filename, message: `no run '${runId}' in ${filename}` })

    /** Why `owner`'s write of run `runId` wrote nothing: the run is gone, or another process owns it now. */
    const notOwner = (runId: string, owner: string, steps: string): Effect.Effect<never, CheckpointError> =>
      sql<{ readonly owner: string | null; readonly status: string }>`SELECT owner, status FROM runs_history WHERE run_id = ${runId}`.pipe(
        Effect.mapError(storage(filename, `reading run ${runId}`)),
        Effect.flatMap((rows) => Effect.fail(rows[0] === undefined ? unknownRun(runId) : takenOver(runId, owner, rows[0], steps, filename)))
      )

    const shape: CheckpointerShape = {
      createRun: (run) => Effect.map(createRuns([run]), (created) => created[0]!),
      createRuns,

      commitSteps: (checkpoints, patch, options) => {
        const last = checkpoints[checkpoints.length - 1]!
        // A commit a synced one follows is made as a run's start is (see `startsRun`).
        const sync = options?.syncFollows === true ? startsRun : undefined
        const steps = stepsOf(checkpoints)
        const failed = storage(filename, `persisting ${steps} of ${last.run_id}`)
        // Written only while the run is still the writer's (see `CommitOptions.owner`).
        const owner = options?.owner
        const wrote = (inserted: WriteResult) => (inserted.changes > 0 || owner === undefined ? Effect.void : notOwner(last.run_id, owner, steps))
        const expected = options?.expected
        if (expected !== undefined) {
          // A compare-and-set (see `CommitOptions.expected`): no step after the one read.
          const from = expected.step ?? checkpoints[0].step - 1
          const changed = new CheckpointError({
            reason: "run-changed",
            runId: last.run_id,
            filename,
            message: `run ${last.run_id} changed since it was read (it was ${expected.status} at step ${from}): ${steps} not written`
          })
          return Effect.flatMap(Effect.forEach(checkpoints, (cp) => checkpointParams(cp, maxBytes)), (rows) =>
            transaction(sql, (db) =>
              Effect.gen(function*() {
                // The run row locked first (PostgreSQL), so the guard's read of the steps sees every commit made before.
                if (dialect.lockRun !== undefined) yield* db.all(dialect.lockRun, [last.run_id])
                // The record first, guarded by what the caller read (and by the writer's ownership,
                // when given): nothing else is written when it changed.
                const [text, params] = patchStatement(last.run_id, { ...patch, last_step: last.step })
                const guarded = yield* db.run(
                  `${text!} AND status = ? AND owner ${dialect.isParam} AND NOT EXISTS (SELECT 1 FROM checkpoints WHERE run_id = ? AND step > ?)` +
                    (owner === undefined ? "" : " AND owner = ?"),
                  [...params, expected.status, expected.owner, last.run_id, from, ...(owner === undefined ? [] : [owner])]
                )
                if (guarded.changes === 0) return false
                for (const params of rows) yield* db.run(INSERT_CHECKPOINT, params)
                if (movesQueue(patch?.status)) yield* queueAfter(db, last.run_id, patch?.status)
                yield* appendTakeOver(db, last.run_id, takeOverIn(patch))
                return true
              }), sync).pipe(
              // Another writer's step landed in between (one that holds no lock on the run row).
              Effect.catchTag("SqlError", (e) => STEP_TAKEN.test(String(e.cause)) ? Effect.succeed(false) : Effect.fail(failed(e))),
              Effect.flatMap((written) =>
                written
                  ? Effect.void
                  : owner === undefined
                  ? Effect.fail(changed)
                  // Refused: taken over when the run names another owner now, else changed.
                  : Effect.flatMap(
                    Effect.mapError(sql<{ readonly owner: string | null }>`SELECT owner FROM runs_history WHERE run_id = ${last.run_id}`, storage(filename, `reading run ${last.run_id}`)),
                    (now) => now[0] !== undefined && now[0].owner !== owner ? notOwner(last.run_id, owner, steps) : Effect.fail(changed)
                  ))
            ))
        }
        if (patch === undefined && checkpoints.length === 1) {
          const params = checkpointParams(last, maxBytes)
          if (Either.isLeft(params)) return Effect.fail(params.left)
          return owner === undefined
            ? Effect.mapError(runOne(sql, INSERT_CHECKPOINT, params.right, sync), failed)
            : Effect.flatMap(Effect.mapError(runOne(sql, INSERT_OWNED_CHECKPOINT, [...params.right, last.run_id, owner], sync), failed), wrote)
        }
        return Effect.flatMap(Effect.forEach(checkpoints, (cp) => checkpointParams(cp, maxBytes)), (rows) =>
          transaction(sql, (db) => writeSteps(db, last, rows, patch, owner), sync).pipe(Effect.mapError(failed), Effect.flatMap(wrote)))
      },

      commitTogether: (commits) =>
        Effect.flatMap(
          Effect.forEach(commits, (commit) => Effect.forEach(commit.checkpoints, (cp) => checkpointParams(cp, maxBytes))),
          (rows) => {
            const lastOf = (commit: RunCommit) => commit.checkpoints[commit.checkpoints.length - 1]!
            // Without its own wait for the disk only when every commit may go so.
            const sync = commits.every((commit) => commit.options?.syncFollows === true) ? startsRun : undefined
            return transaction(sql, (db) =>
              Effect.gen(function*() {
                for (const [i, commit] of commits.entries()) {
                  const owner = commit.options?.owner
                  const inserted = yield* writeSteps(db, lastOf(commit), rows[i]!, commit.patch, owner)
                  // Another process owns that run now: nothing of any commit is written.
                  if (inserted.changes === 0 && owner !== undefined) return yield* Effect.fail<NotOwned>({ _tag: "NotOwned", commit, owner })
                }
              }), sync).pipe(
              Effect.catchAll((e): Effect.Effect<void, CheckpointError> =>
                e._tag === "NotOwned"
                  ? notOwner(lastOf(e.commit).run_id, e.owner, stepsOf(e.commit.checkpoints))
                  : Effect.fail(storage(filename, `persisting ${commits.map((c) => `${stepsOf(c.checkpoints)} of ${lastOf(c).run_id}`).join(", ")}`)(e)))
            )
          }
        ),

      updateRun: (runId, patch) =>
        (movesQueue(patch.status) || takeOverIn(patch) !== undefined ? transaction(sql, (db) => patchRun(db, runId, patch)) : patchAlone(runId, patch)).pipe(
          Effect.mapError(storage(filename, `updating run ${runId}`)),
          Effect.flatMap((changes) => (changes === 0 && Object.keys(patch).length > 0 ? Effect.fail(unknownRun(runId)) : Effect.void))
        ),

      takeOver: (runId, expected, patch) =>
        Effect.suspend(() => {
          const [text, params] = patchStatement(runId, patch)
          if (text === undefined) return Effect.succeed(false)
          // The same UPDATE, guarded by the status and owner the caller read (and, asked, no step after the one it read).
          const step = expected.step
          const guarded = `${text} AND status = ? AND owner ${dialect.isParam}` +
            (step === undefined ? "" : " AND NOT EXISTS (SELECT 1 FROM checkpoints WHERE run_id = ? AND step > ?)")
          const guards = [...params, expected.status, expected.owner, ...(step === undefined ? [] : [runId, step])]
          // Stopped: off the queue; pending: on it (unclaimed), in the take-over's transaction.
          // With a step: the run row locked first, so the step read sees every commit of the
          // previous owner made before (one made after finds the owner changed). A take-over
          // recorded (`taken_over`) joins the run's history in the same transaction.
          const took = takeOverIn(patch)
          const waitId = expected.waitId
          const write = movesQueue(patch.status) || step !== undefined || took !== undefined || waitId !== undefined
            ? transaction(sql, (db) =>
              Effect.gen(function*() {
                if ((step !== undefined || waitId !== undefined) && dialect.lockRun !== undefined) yield* db.all(dialect.lockRun, [runId])
                // The wait named: read in this transaction (the run row locked), so no other
                // write comes between the check and the update.
                if (waitId !== undefined && !waitsAtText((yield* db.all<{ waiting: string | null }>(READ_WAITING, [runId]))[0]?.waiting, waitId)) return 0
                const r = yield* db.run(guarded, guards)
                if (r.changes > 0 && movesQueue(patch.status)) yield* queueAfter(db, runId, patch.status)
                if (r.changes > 0) yield* appendTakeOver(db, runId, took)
                return r.changes
              }), patch.status === "running" && !movesQueue(patch.status) ? startsRun : undefined)
            : Effect.map(runOne(sql, guarded, guards, patch.status === "running" ? startsRun : undefined), (r) => r.changes)
          return write.pipe(Effect.map((changes) => changes > 0), Effect.mapError(storage(filename, `taking over run ${runId}`)))
        }),

      listTakeOvers: (runId) =>
        sql<TakeOverRow>`SELECT from_owner, to_owner, reason, at FROM run_takeovers WHERE run_id = ${runId} ORDER BY seq`.pipe(
          Effect.mapError(storage(filename, `reading the take-overs of run ${runId}`)),
          Effect.flatMap((rows) =>
            Effect.forEach(rows, (row) => {
              const decoded = decodeTakeOver({ from: row.from_owner, to: row.to_owner, reason: row.reason, at: row.at })
              return Either.isRight(decoded) ? Effect.succeed(decoded.right) : Effect.fail(corrupt(filename, `a take-over of run ${runId}`, decoded.left))
            })
          )
        ),

      getRun: (runId) =>
        sql<RunRow>`SELECT ${sql.literal(RUN_COLUMNS)} FROM runs_history WHERE run_id = ${runId}`.pipe(
          Effect.mapError(storage(filename, `reading run ${runId}`)),
          Effect.flatMap((rows) => (rows[0] ? Effect.map(toRun(filename)(rows[0]), Option.some) : Effect.succeedNone))
        ),

      hasRun: (runId) =>
        sql<{ readonly found: number }>`SELECT 1 AS found FROM runs_history WHERE run_id = ${runId}`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.mapError(storage(filename, `reading whether run ${runId} exists`))
        ),

      findByIdempotencyKey: (key) =>
        sql<RunRow>`SELECT ${sql.literal(RUN_COLUMNS)} FROM runs_history WHERE idempotency_key = ${key}`.pipe(
          Effect.mapError(storage(filename, "reading run by idempotency key")),
          Effect.flatMap((rows) => (rows[0] ? Effect.map(toRun(filename)(rows[0]), Option.some) : Effect.succeedNone))
        ),

      latestCheckpoint: (runId) =>
        sql<CheckpointRow>`SELECT * FROM checkpoints WHERE run_id = ${runId} ORDER BY step DESC LIMIT 1`.pipe(
          Effect.mapError(storage(filename, `reading checkpoints of ${runId}`)),
          Effect.flatMap((rows) => (rows[0] ? Effect.map(toCheckpoint(filename)(rows[0]), Option.some) : Effect.succeedNone))
        ),

      listCheckpoints: (runId) =>
        sql<CheckpointRow>`SELECT * FROM checkpoints WHERE run_id = ${runId} ORDER BY step`.pipe(
          Effect.mapError(storage(filename, `reading checkpoints of ${runId}`)),
          Effect.flatMap((rows) => Effect.forEach(rows, toCheckpoint(filename)))
        ),

      listRuns: (query) =>
        Effect.gen(function*() {
          const limit = Math.max(1, Math.min(query.limit ?? 50, 500))
          const given = query.cursor
          const decoded = given === undefined ? undefined : decodeRunCursor(given)
          if (given !== undefined && decoded !== undefined && Either.isLeft(decoded)) return yield* invalidCursor(given, decoded.left, filename)
          const after = decoded === undefined ? undefined : Either.getOrUndefined(decoded)
          const seq = sql.literal(dialect.seq)
          const conditions = [
            ...(query.status ? [sql`status = ${query.status}`] : []),
            ...(query.graph_id ? [sql`graph_id = ${query.graph_id}`] : []),
            ...(query.thread_id !== undefined ? [sql`thread_id = ${query.thread_id}`] : []),
            // Before the cursor's place, while its run still holds it (read in this statement: see `runCursor.ts`).
            ...(after !== undefined
              ? [sql`${seq} < ${after.seq}`, sql`EXISTS (SELECT 1 FROM runs_history anchor WHERE anchor.${seq} = ${after.seq} AND anchor.run_id = ${after.runId})`]
              : [])
          ]
          const rows = yield* sql<RunRow>`SELECT ${seq} AS seq, ${sql.literal(RUN_COLUMNS)} FROM runs_history WHERE ${sql.and(conditions)}
            ORDER BY ${seq} DESC LIMIT ${limit + 1}`.pipe(Effect.mapError(storage(filename, "listing runs")))
          if (rows.length === 0 && after !== undefined && given !== undefined) {
            // Nothing before the place, or its run is gone (then the place may be a newer run's).
            const anchor = yield* sql<{ readonly found: number }>`SELECT 1 AS found FROM runs_history WHERE ${seq} = ${after.seq} AND run_id = ${after.runId}`.pipe(
              Effect.mapError(storage(filename, "listing runs"))
            )
            if (anchor.length === 0) return yield* invalidCursor(given, "gone", filename, after.runId)
          }
          const page = rows.slice(0, limit)
          const runs = yield* Effect.forEach(page, toRun(filename))
          const last = page[page.length - 1]
          const next_cursor = rows.length > limit && last?.seq !== undefined ? encodeRunCursor(Number(last.seq), last.run_id) : null
          return { runs, next_cursor }
        }),

      claimPending: (runId, owner, at, expected, takenOver) =>
        transaction(sql, (db) =>
          Effect.gen(function*() {
            const claimed = yield* db.run(CLAIM, [owner, at, runId])
            if (claimed.changes === 0) return false
            const keep = keepsGiven((yield* db.all<{ waiting: string | null }>(READ_WAITING, [runId]))[0]?.waiting) ? 1 : 0
            const took = takenOver === undefined ? null : json(takenOver)
            if (expected === undefined) {
              const marked = yield* db.run(MARK_CLAIMED_RUNNING, [owner, at, keep, took, runId])
              if (marked.changes > 0) yield* appendTakeOver(db, runId, takenOver)
              return true
            }
            const marked = yield* db.run(`${MARK_CLAIMED_RUNNING} AND owner ${dialect.isParam}`, [owner, at, keep, took, runId, expected.owner])
            if (marked.changes > 0) {
              yield* appendTakeOver(db, runId, takenOver)
              return true
            }
            // Another process took the run over meanwhile: undo the claim.
            yield* db.run(UNCLAIM, [runId, owner])
            return false
          }), startsRun).pipe(Effect.mapError(storage(filename, `claiming run ${runId}`))),

      requeue: (runId, at) =>
        runOne(sql, REQUEUE, [at, runId]).pipe(
          Effect.mapError(storage(filename, `requeuing run ${runId}`)),
          Effect.flatMap((r) => (r.changes === 0 ? Effect.fail(unknownRun(runId)) : Effect.void))
        ),

      completePending: (runId) =>
        runOne(sql, DEQUEUE, [runId]).pipe(
          Effect.asVoid,
          Effect.mapError(storage(filename, `dequeuing run ${runId}`))
        ),

      releaseClaims: (owner) =>
        runOne(sql, "UPDATE pending_runs SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = ?", [owner]).pipe(
          Effect.map((r) => r.changes),
          Effect.mapError(storage(filename, `releasing the claims of ${owner}`))
        ),

      listPending: (limit, filter = {}) => {
        const claimed = filter.claimed === undefined ? sql`1 = 1` : filter.claimed ? sql`claimed_by IS NOT NULL` : sql`claimed_by IS NULL`
        const graphs = filter.graphIds === undefined ? sql`1 = 1` : filter.graphIds.length === 0 ? sql`1 = 0` : sql.in("graph_id", filter.graphIds)
        return sql<PendingRun>`SELECT run_id, graph_id, enqueued_at, claimed_by, claimed_at FROM pending_runs
          WHERE ${claimed} AND ${graphs} ORDER BY enqueued_at, ${sql.literal(dialect.seq)} LIMIT ${limit}`.pipe(Effect.mapError(storage(filename, "reading the run queue")))
      },

      countPending: sql<{ graph_id: string; queued: number }>`SELECT graph_id, COUNT(*) AS queued FROM pending_runs WHERE claimed_by IS NULL GROUP BY graph_id`.pipe(
        Effect.map((rows) => new Map(rows.map((r) => [r.graph_id, Number(r.queued)]))),
        Effect.mapError(storage(filename, "counting the run queue"))
      ),

      getCursor: (key) =>
        sql<{ value: string }>`SELECT value FROM trigger_cursors WHERE trigger_id = ${key}`.pipe(
          Effect.map((rows) => Option.fromNullable(rows[0]?.value)),
          Effect.mapError(storage(filename, `reading cursor ${key}`))
        ),

      claimCursor: (claim) =>
        transaction(sql, (db) =>
          Effect.gen(function*() {
            if (claim.drop !== undefined) {
              yield* db.run("DELETE FROM trigger_cursors WHERE substr(trigger_id, 1, ?) = ? AND updated_at < ?", [claim.drop.prefix.length, claim.drop.prefix, claim.drop.before])
            }
            yield* db.run("INSERT INTO trigger_cursors (trigger_id, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (trigger_id) DO NOTHING", [claim.key, claim.value, claim.at])
            const held = yield* db.all<{ readonly value: string }>("SELECT value FROM trigger_cursors WHERE trigger_id = ?", [claim.key])
            return held[0]?.value ?? claim.value
          })).pipe(Effect.mapError(storage(filename, `claiming cursor ${claim.key}`))),

      beat: (owner, leaseMs) =>
        runOne(sql, BEAT, [owner, leaseMs]).pipe(Effect.asVoid, Effect.mapError(storage(filename, `recording the heartbeat of ${owner}`))),

      endHeartbeat: (owner) =>
        runOne(sql, "DELETE FROM process_heartbeats WHERE owner = ?", [owner]).pipe(Effect.asVoid, Effect.mapError(storage(filename, `removing the heartbeat of ${owner}`))),

      heartbeats: (owners) =>
        owners.length === 0
          ? Effect.succeed([])
          : sql<HeartbeatRow>`SELECT owner, beat, lease_ms, beat_at, ${sql.literal(dialect.nowMs)} AS now_ms FROM process_heartbeats WHERE ${sql.in("owner", owners)}`.pipe(
            Effect.map((rows) =>
              rows.map((row): HeartbeatRecord => ({
                owner: row.owner,
                beat: Number(row.beat),
                lease_ms: Number(row.lease_ms),
                beat_at: new Date(Number(row.beat_at)).toISOString(),
                age_ms: Math.max(0, Number(row.now_ms) - Number(row.beat_at))
              }))
            ),
            Effect.mapError(storage(filename, "reading process heartbeats"))
          ),

      sweepHeartbeats: (staleness, dryRun) =>
        transaction(sql, (db) => sweepStaleHeartbeats(db, dialect.nowMs, staleness, dryRun)).pipe(Effect.mapError(storage(filename, "removing stale process heartbeats"))),

      requestCancel: (runId, owner) =>
        runOne(sql, "UPDATE runs_history SET cancel_requested_of = ? WHERE run_id = ? AND status = 'running' AND owner = ?", [owner, runId, owner]).pipe(
          Effect.map((result) => result.changes > 0),
          Effect.mapError(storage(filename, `asking ${owner} to cancel run ${runId}`))
        ),

      cancelRequests: (owner) =>
        sql<{ run_id: string }>`SELECT run_id FROM runs_history WHERE cancel_requested_of = ${owner} AND owner = ${owner} AND status = 'running'`.pipe(
          Effect.map((rows) => rows.map((r) => r.run_id)),
          Effect.mapError(storage(filename, `reading the cancel requests of ${owner}`))
        ),

      setCursor: (key, value) =>
        sql`INSERT INTO trigger_cursors (trigger_id, value, updated_at) VALUES (${key}, ${value}, ${new Date().toISOString()})
          ON CONFLICT (trigger_id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`.pipe(
          Effect.asVoid,
          Effect.mapError(storage(filename, `writing cursor ${key}`))
        )
    }
    return shape
  })
