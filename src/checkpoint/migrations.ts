/**
 * Versioned SQLite migrations, tracked in `PRAGMA user_version`, or, in a file shared with
 * an application (`shareFile`), whose `user_version` is the application's, in the table
 * `stargraph_schema`. The pending migrations run in one transaction under the write lock; a
 * database newer than this build is refused.
 */
import { existsSync, renameSync, rmSync } from "node:fs"
import { dirname } from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import { CheckpointError } from "../errors.js"
import { literalPath } from "./sqlitePaths.js"

/** One schema change. */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

/** The heartbeat table (schema 11): times are milliseconds since the epoch, by the database's clock. */
const HEARTBEATS_TABLE = `CREATE TABLE IF NOT EXISTS process_heartbeats (
  owner TEXT PRIMARY KEY,
  beat INTEGER NOT NULL,
  lease_ms INTEGER NOT NULL,
  beat_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL
)`

/** The take-over history (schema 14): one row per take-over of a run, `seq` its place (from 1). Its key leads with `run_id`: a run's rows are read by it. */
const TAKEOVERS_TABLE = `CREATE TABLE IF NOT EXISTS run_takeovers (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  from_owner TEXT NOT NULL,
  to_owner TEXT NOT NULL,
  reason TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
)`

/** Every migration, in order. Append only: never edit a released one. */
export const MIGRATIONS: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: "runs_history and checkpoints",
    statements: [
      `CREATE TABLE IF NOT EXISTS runs_history (
        run_id TEXT PRIMARY KEY,
        graph_id TEXT NOT NULL,
        graph_hash TEXT NOT NULL,
        runtime_hash TEXT NOT NULL,
        status TEXT NOT NULL,
        inputs TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        error TEXT,
        waiting TEXT,
        idempotency_key TEXT UNIQUE,
        parent_run_id TEXT,
        fork_step INTEGER,
        graph_source TEXT,
        owner TEXT,
        last_step INTEGER NOT NULL DEFAULT 0
      )`,
      "CREATE INDEX IF NOT EXISTS runs_history_status ON runs_history (status)",
      "CREATE INDEX IF NOT EXISTS runs_history_graph ON runs_history (graph_id)",
      `CREATE TABLE IF NOT EXISTS checkpoints (
        run_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        node TEXT NOT NULL,
        nodes TEXT NOT NULL,
        state TEXT NOT NULL,
        writes TEXT NOT NULL,
        delta TEXT NOT NULL,
        next TEXT NOT NULL,
        joins TEXT NOT NULL,
        graph_hash TEXT NOT NULL,
        runtime_hash TEXT NOT NULL,
        parent_run_id TEXT,
        parent_step INTEGER,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        duration_ms REAL NOT NULL,
        PRIMARY KEY (run_id, step)
      ) WITHOUT ROWID`
    ]
  },
  {
    version: 2,
    name: "pending_runs",
    statements: [
      `CREATE TABLE IF NOT EXISTS pending_runs (
        run_id TEXT PRIMARY KEY,
        graph_id TEXT NOT NULL,
        params TEXT NOT NULL,
        idempotency_key TEXT UNIQUE,
        enqueued_at TEXT NOT NULL,
        claimed_by TEXT,
        claimed_at TEXT
      )`,
      "CREATE INDEX IF NOT EXISTS pending_runs_graph ON pending_runs (graph_id, enqueued_at)"
    ]
  },
  {
    version: 3,
    name: "trigger_cursors",
    statements: [
      `CREATE TABLE IF NOT EXISTS trigger_cursors (
        trigger_id TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`
    ]
  },
  {
    version: 4,
    name: "cassettes and counterfactual forks",
    statements: [
      "ALTER TABLE checkpoints ADD COLUMN calls TEXT NOT NULL DEFAULT '[]'",
      "ALTER TABLE runs_history ADD COLUMN derived_hash TEXT",
      "ALTER TABLE runs_history ADD COLUMN mutation TEXT",
      "CREATE INDEX IF NOT EXISTS runs_history_parent ON runs_history (parent_run_id)"
    ]
  },
  {
    // Fewer B-trees touched per write: the queue's unused graph index and its duplicate
    // idempotency constraint go (runs_history dedups), and only forks enter the parent index.
    version: 5,
    name: "leaner queue and fork indexes",
    statements: [
      `CREATE TABLE pending_runs_v5 (
        run_id TEXT PRIMARY KEY,
        graph_id TEXT NOT NULL,
        params TEXT NOT NULL,
        idempotency_key TEXT,
        enqueued_at TEXT NOT NULL,
        claimed_by TEXT,
        claimed_at TEXT
      )`,
      `INSERT INTO pending_runs_v5 (run_id, graph_id, params, idempotency_key, enqueued_at, claimed_by, claimed_at)
        SELECT run_id, graph_id, params, idempotency_key, enqueued_at, claimed_by, claimed_at FROM pending_runs ORDER BY rowid`,
      "DROP TABLE pending_runs",
      "ALTER TABLE pending_runs_v5 RENAME TO pending_runs",
      "DROP INDEX IF EXISTS runs_history_parent",
      "CREATE INDEX runs_history_parent ON runs_history (parent_run_id) WHERE parent_run_id IS NOT NULL"
    ]
  },
  {
    // Rules route transitions: each checkpoint keeps the rule engine's working memory,
    // what the rules did, and the parallel groups of its frontier (JSON, NULL when absent).
    version: 6,
    name: "facts, rule firings and parallel groups per checkpoint",
    statements: [
      "ALTER TABLE checkpoints ADD COLUMN facts TEXT",
      "ALTER TABLE checkpoints ADD COLUMN rules TEXT",
      "ALTER TABLE checkpoints ADD COLUMN groups TEXT"
    ]
  },
  {
    // A fork made with live_after_fork keeps it: resumed, answered or re-queued later, it
    // still calls live where its recording runs out.
    version: 7,
    name: "forks keep live_after_fork",
    statements: ["ALTER TABLE runs_history ADD COLUMN live_after_fork INTEGER NOT NULL DEFAULT 0"]
  },
  {
    // Who started the run (`cli`, `http:<address>`, `cron:<id>`…): a run another process
    // picks up later (queued, adopted after a crash) reports it in its audit lines.
    version: 8,
    name: "runs keep who started them",
    statements: ["ALTER TABLE runs_history ADD COLUMN actor TEXT"]
  },
  {
    // The run's own breakpoints (`interrupt_before` / `interrupt_after`, JSON): a run
    // resumed later, or claimed from the queue by another process, pauses where it was told to.
    version: 9,
    name: "runs keep their breakpoints",
    statements: ["ALTER TABLE runs_history ADD COLUMN breakpoints TEXT"]
  },
  {
    // Threads: a run may continue the final state of the thread's previous run. At most one
    // run of a thread is unfinished at a time, enforced by the database (two processes
    // starting on one thread cannot both write their run).
    version: 10,
    name: "threads",
    statements: [
      "ALTER TABLE runs_history ADD COLUMN thread_id TEXT",
      "ALTER TABLE runs_history ADD COLUMN continued_from TEXT",
      "CREATE INDEX runs_history_thread ON runs_history (thread_id) WHERE thread_id IS NOT NULL",
      `CREATE UNIQUE INDEX runs_history_thread_active ON runs_history (thread_id)
        WHERE thread_id IS NOT NULL AND status IN ('pending', 'running', 'awaiting-input', 'paused')`
    ]
  },
  {
    // Process leases: every process that drives runs beats (a counter, stamped with the
    // database's clock, with the lease it declares); a run whose owner's beat stands
    // still past its lease is handed over. A process that stops cleanly removes its row.
    version: 11,
    name: "process heartbeats",
    statements: [HEARTBEATS_TABLE]
  },
  {
    // Cancel requests: a run executing in another process is cancelled by asking that
    // process through the run's record (the owner asked); the owner reads its requests
    // (the index holds only the runs asked) and cancels the run itself.
    version: 12,
    name: "cancel requests",
    statements: [
      "ALTER TABLE runs_history ADD COLUMN cancel_requested_of TEXT",
      "CREATE INDEX runs_history_cancel_requested ON runs_history (cancel_requested_of) WHERE cancel_requested_of IS NOT NULL"
    ]
  },
  {
    // Take-overs: the last time a run was taken over from the process that held it (JSON:
    // from, to, reason, at), written by the same statement that takes it over.
    version: 13,
    name: "run take-overs",
    statements: ["ALTER TABLE runs_history ADD COLUMN taken_over TEXT"]
  },
  {
    // Every take-over of a run, in order (`seq` from 1), appended by the write that takes it
    // over; `runs_history.taken_over` keeps the latest. The last take-over each run recorded
    // before (schema 13) is its first row.
    version: 14,
    name: "run take-over history",
    statements: [
      TAKEOVERS_TABLE,
      `INSERT INTO run_takeovers (run_id, seq, from_owner, to_owner, reason, at)
        SELECT run_id, 1, json_extract(taken_over, '$.from'), json_extract(taken_over, '$.to'), json_extract(taken_over, '$.reason'), json_extract(taken_over, '$.at')
        FROM runs_history WHERE json_valid(taken_over) AND json_type(taken_over, '$.from') = 'text' AND json_type(taken_over, '$.to') = 'text'
          AND json_type(taken_over, '$.reason') = 'text' AND json_type(taken_over, '$.at') = 'text'`
    ]
  },
  {
    // The default model a run was started with (`--lm-url`, `--lm-model`, …; JSON, never a
    // key): a resume without the flags uses it.
    version: 15,
    name: "runs keep their default model",
    statements: ["ALTER TABLE runs_history ADD COLUMN default_model TEXT"]
  },
  {
    // A fork's step budget (`max_steps` of the fork: the most steps after its fork step;
    // NULL: none): resumed, answered or adopted later, it stops at the same step.
    version: 16,
    name: "forks keep their step budget",
    statements: ["ALTER TABLE runs_history ADD COLUMN fork_max_steps INTEGER"]
  },
  {
    // A thread's run keeps whether its request passed over the thread's failed and cancelled
    // runs (`skip_failed`: 1 or 0; NULL: not known, as for every run written before), which a
    // retry under its idempotency key is compared with.
    version: 17,
    name: "runs keep skip_failed",
    statements: ["ALTER TABLE runs_history ADD COLUMN skip_failed INTEGER"]
  }
]

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version

/** What {@link migrate} tells before it changes an existing database's schema. */
export interface MigrationNotice {
  readonly filename: string
  /** The schema version found. */
  readonly from: number
  /** The schema version written ({@link SCHEMA_VERSION}). */
  readonly to: number
  /** The copy of the database as it was, written before the change (null when none was asked for). */
  readonly backup: string | null
  /** The notice as one line: from, to, the backup, and how to roll back. */
  readonly message: string
}

/** How {@link migrate} treats an existing database with an older schema. */
export interface MigrateOptions {
  /**
   * Before migrating a database that already has Stargraph's schema, write a consistent
   * copy of it beside it (`<db>.schema-<from>.bak`, `VACUUM INTO`; default true). A new,
   * empty database is migrated without one.
   */
  readonly backup?: boolean | undefined
  /** Told before an existing database is migrated (default: a warning in the Effect log). */
  readonly onMigrate?: ((notice: MigrationNotice) => Effect.Effect<void>) | undefined
  /**
   * The file is an application's own database (`shareFile`): its `user_version` is the
   * application's, so Stargraph's schema version is kept in the table `stargraph_schema`
   * and `user_version` is never read as Stargraph's nor written.
   */
  readonly shared?: boolean | undefined
}

/** A backup name beside `filename` that is not taken: `<db>.schema-<from>.bak`, else with the time in it. */
const backupName = (filename: string, from: number, now: number): string => {
  const plain = `${filename}.schema-${from}.bak`
  return existsSync(plain) ? `${filename}.schema-${from}.${new Date(now).toISOString().replace(/[:.]/g, "-")}.bak` : plain
}

const noticeOf = (filename: string, from: number, backup: string | null): MigrationNotice => ({
  filename,
  from,
  to: SCHEMA_VERSION,
  backup,
  message: `migrating ${filename} from schema ${from} to ${SCHEMA_VERSION}: Stargraph versions that write schema ${from} ` +
    `will refuse it afterwards. ${backup === null ? "No backup was written" : `A copy as it was is at ${backup}`}` +
    (backup === null ? "." : `; to roll back, stop every process using the database, replace ${filename} with that copy ` +
      `(and delete ${filename}-wal and ${filename}-shm), then start the previous version (runs made after the upgrade are lost).`)
})

/**
 * Bring the database up to {@link SCHEMA_VERSION}. Safe to run from several processes at
 * once: the pending migrations run in one transaction that holds the write lock
 * (`BEGIN IMMEDIATE`) from the moment the version is read, so a process that opens the
 * file meanwhile waits, then reads the version the other left (a new file is never seen
 * half-migrated). An existing database with an older schema is first copied (see
 * {@link MigrateOptions.backup}) and the change announced ({@link MigrateOptions.onMigrate})
 * by the process that migrates it, and by no other: the copy is made before the lock (as
 * `VACUUM INTO` cannot run in a transaction) under a temporary name, and given its name,
 * and the change announced, under the lock once the version read there is still the one
 * copied; a process that finds the file migrated meanwhile removes its copy and says nothing.
 */
export const migrate = (filename: string, options: MigrateOptions = {}): Effect.Effect<void, CheckpointError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const failed = (cause: unknown) =>
      new CheckpointError({
        reason: "migration-failed",
        filename,
        message: `migrating ${filename} failed: ${cause instanceof Error ? cause.message : String(cause)}`
      })
    const shared = options.shared === true
    const seen = yield* foundVersion(sql, filename, shared, failed)
    if (seen.version === SCHEMA_VERSION && seen.where !== "legacy") return
    const existing = seen.version > 0 && seen.version < SCHEMA_VERSION && filename !== ":memory:"
    // Copied before the write lock is taken (VACUUM INTO cannot run inside a transaction), under a temporary name.
    const copy = existing && options.backup !== false ? `${filename}.schema-${seen.version}.bak.${process.pid}-${yield* Clock.currentTimeMillis}.partial` : undefined
    if (copy !== undefined) {
      // One read transaction: a consistent copy while other processes write.
      yield* sql`VACUUM INTO ${literalPath(copy)}`.pipe(
        Effect.mapError((cause) =>
          new CheckpointError({
            reason: "migration-failed",
            filename,
            message: `${filename} has schema ${seen.version} and needs migrating to ${SCHEMA_VERSION}, but its backup ${copy} could not be written ` +
              `(${cause.cause instanceof Error ? cause.cause.message : cause.message}); nothing was changed: free disk space or make ${dirname(copy)} writable`
          })
        )
      )
    }
    let announced = false
    const pending = Effect.gen(function*() {
      // Read again under the lock: another process may have migrated the file meanwhile.
      const { where, version } = yield* foundVersion(sql, filename, shared, failed)
      // A shared file whose user_version was Stargraph's: from now on the version is in the table.
      if (where === "legacy") yield* writeVersion(sql, "table", version)
      if (version === SCHEMA_VERSION) return "done" as const
      // Migrated part of the way meanwhile (by an older Stargraph): the copy is not of what is migrated now; start again.
      if (existing && version !== seen.version) return "changed" as const
      if (existing && !announced) {
        // This process migrates: the copy gets its name, and the change is told, before anything changes.
        let backup: string | null = null
        if (copy !== undefined) {
          const named = backupName(filename, version, yield* Clock.currentTimeMillis)
          yield* Effect.try({ try: () => renameSync(copy, named), catch: failed })
          backup = named
        }
        const notice = noticeOf(filename, version, backup)
        yield* options.onMigrate === undefined ? Effect.logWarning(notice.message) : options.onMigrate(notice)
        announced = true
      }
      for (const migration of MIGRATIONS) {
        if (migration.version <= version) continue
        for (const statement of migration.statements) yield* sql.unsafe(statement)
      }
      yield* writeVersion(sql, where, SCHEMA_VERSION)
      return "done" as const
    })
    const outcome = yield* writeLocked(sql, pending).pipe(
      Effect.retry({ times: 5, schedule: Schedule.exponential("20 millis"), while: (e) => e._tag === "SqlError" }),
      Effect.mapError((e) => (e._tag === "SqlError" ? failed(e) : e)),
      // The copy, unless it became the backup: this process did not migrate (or failed to).
      Effect.ensuring(copy === undefined ? Effect.void : Effect.ignore(Effect.try(() => rmSync(copy, { force: true }))))
    )
    if (outcome === "changed") return yield* migrate(filename, options)
  })

/**
 * `body` in one transaction that takes the write lock first (`BEGIN IMMEDIATE`, waiting up
 * to the connection's busy timeout for another writer), committed when it succeeds and
 * rolled back when it fails. A deferred `BEGIN` would read under a shared lock and could
 * not always upgrade it.
 */
const writeLocked = <A, E>(sql: SqlClient.SqlClient, body: Effect.Effect<A, E>): Effect.Effect<A, E | SqlError> =>
  Effect.acquireUseRelease(
    sql.unsafe("BEGIN IMMEDIATE"),
    () => Effect.zipLeft(body, sql.unsafe("COMMIT")),
    (_, exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.ignore(sql.unsafe("ROLLBACK")))
  )

/** The table that holds Stargraph's schema version in a file shared with an application. */
const VERSION_TABLE = "stargraph_schema"

/**
 * Where the file keeps Stargraph's schema version: `stargraph_schema` once it has that
 * table, or when it is shared with an application and Stargraph's tables are not there yet
 * (or came with `user_version` as the version, before the file was shared: `legacy`);
 * else `user_version`.
 */
type VersionStore = "user_version" | "table" | "legacy"

const versionStore = (sql: SqlClient.SqlClient, shared: boolean): Effect.Effect<VersionStore, SqlError> =>
  Effect.map(
    sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${VERSION_TABLE}, 'runs_history')`,
    (rows): VersionStore => {
      const names = new Set(rows.map((r) => r.name))
      return names.has(VERSION_TABLE) ? "table" : !shared ? "user_version" : names.has("runs_history") ? "legacy" : "table"
    }
  )

/** Record `version` as Stargraph's schema version where the file keeps it. */
const writeVersion = (sql: SqlClient.SqlClient, where: VersionStore, version: number): Effect.Effect<void, SqlError> =>
  where === "user_version"
    ? Effect.asVoid(sql.unsafe(`PRAGMA user_version = ${version}`))
    : Effect.all([
      sql.unsafe(`CREATE TABLE IF NOT EXISTS ${VERSION_TABLE} (version INTEGER NOT NULL)`),
      sql.unsafe(`DELETE FROM ${VERSION_TABLE}`),
      sql.unsafe(`INSERT INTO ${VERSION_TABLE} (version) VALUES (${version})`)
    ], { discard: true })

const userVersion = (sql: SqlClient.SqlClient): Effect.Effect<number, SqlError> =>
  Effect.map(sql<{ user_version: number }>`PRAGMA user_version`, (rows) => rows[0]?.user_version ?? 0)

/** Stargraph's schema version (0: none of its tables yet): the table's once it is there (a legacy file moves to it with its first migration). */
const schemaVersion = (sql: SqlClient.SqlClient, where: VersionStore): Effect.Effect<number, SqlError> =>
  where === "user_version"
    ? userVersion(sql)
    : Effect.flatMap(
      sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ${VERSION_TABLE}`,
      (found) =>
        found.length > 0
          ? Effect.map(sql<{ version: number }>`SELECT version FROM ${sql(VERSION_TABLE)}`, (rows) => rows[0]?.version ?? 0)
          : where === "legacy"
          ? userVersion(sql)
          : Effect.succeed(0)
    )

/**
 * A `user_version` that is not Stargraph's: set (so the file passed the header check) on a
 * file without Stargraph's tables, i.e. another application's database. Refused before
 * anything is migrated; an application that keeps its checkpoints in its own file opens
 * it with `shareFile`.
 */
const refuseForeign = (sql: SqlClient.SqlClient, filename: string, where: VersionStore, version: number): Effect.Effect<void, CheckpointError> =>
  where !== "user_version" || version === 0
    ? Effect.void
    : Effect.flatMap(
      Effect.orElseSucceed(sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'runs_history'`, () => [{ name: "runs_history" }]),
      (rows) =>
        rows.length > 0 ? Effect.void : Effect.fail(
          new CheckpointError({
            reason: "not-a-database",
            filename,
            message: `${filename} is a SQLite database without Stargraph's schema (another application's? its user_version is ${version}); nothing was changed. ` +
              "Pass the path of a Stargraph database or of a new one; an application that keeps its checkpoints in its own database opens it with SqliteCheckpointer.layer({ filename, shareFile: true })"
          })
        )
    )

/**
 * Where the file keeps Stargraph's schema version, and that version; another
 * application's file and one from a newer Stargraph are refused.
 */
const foundVersion = (
  sql: SqlClient.SqlClient,
  filename: string,
  shared: boolean,
  failed: (cause: SqlError) => CheckpointError
): Effect.Effect<{ readonly where: VersionStore; readonly version: number }, CheckpointError> =>
  Effect.gen(function*() {
    const where = yield* Effect.mapError(versionStore(sql, shared), failed)
    const version = yield* Effect.mapError(schemaVersion(sql, where), failed)
    yield* refuseForeign(sql, filename, where, version)
    if (version > SCHEMA_VERSION) return yield* newerSchema(filename, version)
    return { where, version }
  })

const newerSchema = (filename: string, version: number) =>
  new CheckpointError({
    reason: "migration-failed",
    filename,
    message: `${filename} has schema version ${version}, newer than this Stargraph (${SCHEMA_VERSION}); upgrade Stargraph`
  })

/** Columns that migrations after `version` add with `ALTER TABLE … ADD COLUMN`, with their default (SQL text). */
const columnsAddedAfter = (version: number): ReadonlyArray<{ readonly table: string; readonly column: string; readonly value: string }> =>
  MIGRATIONS.filter((m) => m.version > version).flatMap((m) =>
    m.statements.flatMap((statement) => {
      const added = /^ALTER TABLE (\w+) ADD COLUMN (\w+)\b.*?(?:\bDEFAULT ('[^']*'|-?\d+))?$/s.exec(statement)
      return added === null ? [] : [{ table: added[1]!, column: added[2]!, value: added[3] ?? "NULL" }]
    }))

/**
 * Read a database as it is, without migrating it: one with an older schema gets, in this
 * connection only, `TEMP` views over its tables that add the columns later versions added
 * (with their defaults), so the current queries read it; nothing is written to the file.
 * A newer schema is refused as by {@link migrate}; a database without Stargraph's schema
 * yet (version 0) is migrated like a new one, or, on a connection that cannot write
 * (`writable` false: a read-only file), refused with `CheckpointError[not-a-database]`.
 */
export const readAsIs = (filename: string, shared = false, writable = true): Effect.Effect<void, CheckpointError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const failed = (cause: SqlError) =>
      new CheckpointError({
        reason: "storage-failure",
        filename,
        message: `reading ${filename}'s schema: ${cause.cause instanceof Error ? cause.cause.message : cause.message}`
      })
    const { version } = yield* foundVersion(sql, filename, shared, failed)
    if (version === 0 && !writable) {
      return yield* new CheckpointError({
        reason: "not-a-database",
        filename,
        message: `${filename} has no Stargraph schema yet (schema version 0) and is read-only here, so it holds no runs to read; pass the path of a Stargraph database`
      })
    }
    if (version === 0) return yield* migrate(filename, { shared })
    if (version === SCHEMA_VERSION) return
    // Tables later versions added, empty, in this connection only (the TEMP schema).
    if (version < 11) yield* Effect.mapError(sql.unsafe(HEARTBEATS_TABLE.replace("CREATE TABLE", "CREATE TEMP TABLE")), failed)
    // The take-over history: the last take-over each run recorded (schema 13), as migrating would write it; none before.
    if (version < 14) {
      yield* Effect.mapError(
        sql.unsafe(
          version < 13
            ? TAKEOVERS_TABLE.replace("CREATE TABLE", "CREATE TEMP TABLE")
            : `CREATE TEMP VIEW run_takeovers AS SELECT run_id, 1 AS seq, json_extract(taken_over, '$.from') AS from_owner, json_extract(taken_over, '$.to') AS to_owner,
              json_extract(taken_over, '$.reason') AS reason, json_extract(taken_over, '$.at') AS at FROM main.runs_history WHERE json_valid(taken_over)`
        ),
        failed
      )
    }
    const added = columnsAddedAfter(version)
    for (const table of [...new Set(added.map((a) => a.table))]) {
      const present = new Set((yield* Effect.mapError(sql<{ name: string }>`SELECT name FROM pragma_table_info(${table})`, failed)).map((c) => c.name))
      if (present.size === 0) continue
      const extra = added.filter((a) => a.table === table && !present.has(a.column)).map((a) => `${a.value} AS "${a.column}"`)
      if (extra.length === 0) continue
      // A rowid table's rowid is kept (`list` pages by it); an unqualified name finds the TEMP view before the main table.
      const withoutRowid = yield* Effect.mapError(sql<{ wr: number }>`SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ${table}`, failed)
      const rowid = withoutRowid[0]?.wr === 1 ? "" : "rowid AS rowid, "
      yield* Effect.mapError(sql.unsafe(`CREATE TEMP VIEW "${table}" AS SELECT ${rowid}*, ${extra.join(", ")} FROM main."${table}"`), failed)
    }
  })
