/**
 * Versioned PostgreSQL migrations, tracked in the table `stargraph_schema`. The schema is
 * SQLite's (see `migrations.ts`) in PostgreSQL's types, and its versions follow SQLite's:
 * a PostgreSQL database starts at SQLite's schema 8, and a later change to the schema is
 * appended to both lists under the same number. JSON is kept as the text the runtime
 * wrote (`text`, not `jsonb`), so it reads back byte for byte as it was hashed.
 *
 * All migrations run in one transaction under an advisory lock: several processes that
 * start at once on one database migrate it once, and the others wait for it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { CheckpointError } from "../errors.js"
import type { Migration, MigrationNotice } from "./migrations.js"

/** Every PostgreSQL migration, in order. Append only: never edit a released one. */
export const PG_MIGRATIONS: ReadonlyArray<Migration> = [
  {
    // SQLite's schema 8 (runs_history, checkpoints, pending_runs, trigger_cursors) at once.
    // `seq` numbers rows as SQLite's rowid does (runs are listed, the queue read, in that
    // order); times and ids compare byte-wise (`COLLATE "C"`), as SQLite compares text.
    version: 8,
    name: "runs_history, checkpoints, pending_runs and trigger_cursors (SQLite schema 8)",
    statements: [
      `CREATE TABLE runs_history (
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        run_id text COLLATE "C" PRIMARY KEY,
        graph_id text COLLATE "C" NOT NULL,
        graph_hash text NOT NULL,
        runtime_hash text NOT NULL,
        status text NOT NULL,
        inputs text NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        started_at text,
        finished_at text,
        error text,
        waiting text,
        idempotency_key text UNIQUE,
        parent_run_id text,
        fork_step integer,
        graph_source text,
        owner text,
        last_step integer NOT NULL DEFAULT 0,
        derived_hash text,
        mutation text,
        live_after_fork integer NOT NULL DEFAULT 0,
        actor text
      )`,
      "CREATE INDEX runs_history_status ON runs_history (status, seq)",
      "CREATE INDEX runs_history_graph ON runs_history (graph_id, seq)",
      "CREATE INDEX runs_history_parent ON runs_history (parent_run_id) WHERE parent_run_id IS NOT NULL",
      `CREATE TABLE checkpoints (
        run_id text COLLATE "C" NOT NULL,
        step integer NOT NULL,
        node text NOT NULL,
        nodes text NOT NULL,
        state text NOT NULL,
        writes text NOT NULL,
        delta text NOT NULL,
        next text NOT NULL,
        joins text NOT NULL,
        graph_hash text NOT NULL,
        runtime_hash text NOT NULL,
        parent_run_id text,
        parent_step integer,
        started_at text NOT NULL,
        finished_at text NOT NULL,
        duration_ms double precision NOT NULL,
        calls text NOT NULL DEFAULT '[]',
        facts text,
        rules text,
        groups text,
        PRIMARY KEY (run_id, step)
      )`,
      `CREATE TABLE pending_runs (
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        run_id text COLLATE "C" PRIMARY KEY,
        graph_id text COLLATE "C" NOT NULL,
        params text NOT NULL,
        idempotency_key text,
        enqueued_at text COLLATE "C" NOT NULL,
        claimed_by text,
        claimed_at text
      )`,
      "CREATE INDEX pending_runs_order ON pending_runs (enqueued_at, seq)",
      `CREATE TABLE trigger_cursors (
        trigger_id text PRIMARY KEY,
        value text NOT NULL,
        updated_at text NOT NULL
      )`
    ]
  },
  {
    // SQLite's schema 9: the run's own breakpoints (JSON text).
    version: 9,
    name: "runs keep their breakpoints (SQLite schema 9)",
    statements: ["ALTER TABLE runs_history ADD COLUMN breakpoints text"]
  },
  {
    // SQLite's schema 10: threads, with at most one unfinished run per thread.
    version: 10,
    name: "threads (SQLite schema 10)",
    statements: [
      "ALTER TABLE runs_history ADD COLUMN thread_id text COLLATE \"C\"",
      "ALTER TABLE runs_history ADD COLUMN continued_from text",
      "CREATE INDEX runs_history_thread ON runs_history (thread_id, seq) WHERE thread_id IS NOT NULL",
      `CREATE UNIQUE INDEX runs_history_thread_active ON runs_history (thread_id)
        WHERE thread_id IS NOT NULL AND status IN ('pending', 'running', 'awaiting-input', 'paused')`
    ]
  },
  {
    // SQLite's schema 11: process heartbeats (times in ms since the epoch, by the server's clock).
    version: 11,
    name: "process heartbeats (SQLite schema 11)",
    statements: [
      `CREATE TABLE process_heartbeats (
        owner text COLLATE "C" PRIMARY KEY,
        beat bigint NOT NULL,
        lease_ms integer NOT NULL,
        beat_at bigint NOT NULL,
        started_at bigint NOT NULL
      )`
    ]
  },
  {
    // SQLite's schema 12: cancel requests (the owner asked to cancel a run it drives).
    version: 12,
    name: "cancel requests (SQLite schema 12)",
    statements: [
      "ALTER TABLE runs_history ADD COLUMN cancel_requested_of text COLLATE \"C\"",
      "CREATE INDEX runs_history_cancel_requested ON runs_history (cancel_requested_of) WHERE cancel_requested_of IS NOT NULL"
    ]
  },
  {
    // SQLite's schema 13: run take-overs (the last one, JSON, on the run's record).
    version: 13,
    name: "run take-overs (SQLite schema 13)",
    statements: ["ALTER TABLE runs_history ADD COLUMN taken_over text"]
  },
  {
    // SQLite's schema 14: every take-over of a run, in order; the last one recorded before is its first row.
    version: 14,
    name: "run take-over history (SQLite schema 14)",
    statements: [
      `CREATE TABLE run_takeovers (
        run_id text COLLATE "C" NOT NULL,
        seq integer NOT NULL,
        from_owner text NOT NULL,
        to_owner text NOT NULL,
        reason text NOT NULL,
        at text COLLATE "C" NOT NULL,
        PRIMARY KEY (run_id, seq)
      )`,
      `INSERT INTO run_takeovers (run_id, seq, from_owner, to_owner, reason, at)
        SELECT run_id, 1, t ->> 'from', t ->> 'to', t ->> 'reason', t ->> 'at'
        FROM (SELECT run_id, taken_over::json AS t FROM runs_history WHERE taken_over IS NOT NULL) AS r
        WHERE t ->> 'from' IS NOT NULL AND t ->> 'to' IS NOT NULL AND t ->> 'reason' IS NOT NULL AND t ->> 'at' IS NOT NULL`
    ]
  },
  {
    // SQLite's schema 15: the default model a run was started with (JSON text, never a key).
    version: 15,
    name: "runs keep their default model (SQLite schema 15)",
    statements: ["ALTER TABLE runs_history ADD COLUMN default_model text"]
  },
  {
    // SQLite's schema 16: a fork's step budget after its fork step (NULL: none).
    version: 16,
    name: "forks keep their step budget (SQLite schema 16)",
    statements: ["ALTER TABLE runs_history ADD COLUMN fork_max_steps integer"]
  },
  {
    // SQLite's schema 17: whether a thread's run was asked to pass over failed runs (NULL: not known).
    version: 17,
    name: "runs keep skip_failed (SQLite schema 17)",
    statements: ["ALTER TABLE runs_history ADD COLUMN skip_failed integer"]
  }
]

/** The schema version this build writes on PostgreSQL. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version

/** The table that holds the schema version. */
const VERSION_TABLE = "stargraph_schema"

/**
 * The advisory lock key every Stargraph process takes while it migrates (the bytes
 * `Stargrap` as a bigint): one migrates, the others wait and then find the schema current.
 */
const MIGRATION_LOCK = "6013538546436170096"

/** How {@link migrate} treats a database. */
export interface PgMigrateOptions {
  /**
   * Give a database without Stargraph's tables its schema (default true). Readers pass
   * false: a database without them is refused (`not-a-database`), not changed.
   */
  readonly create?: boolean | undefined
  /** Told before an existing database is migrated (default: a warning in the Effect log). */
  readonly onMigrate?: ((notice: MigrationNotice) => Effect.Effect<void>) | undefined
}

/** The schema version recorded, or undefined when the database has no `stargraph_schema` table (in its search path). */
const recordedVersion = (sql: SqlClient.SqlClient): Effect.Effect<number | undefined, SqlError> =>
  Effect.flatMap(
    hasTable(sql, VERSION_TABLE),
    (found) =>
      found
        ? Effect.map(sql<{ readonly version: number | null }>`SELECT max(version) AS version FROM ${sql(VERSION_TABLE)}`, (r) => r[0]?.version ?? 0)
        : Effect.succeed(undefined)
  )

/**
 * Whether the database has a table `name` (in a schema of its search path). Read from
 * `pg_class` with the statement's own snapshot: `to_regclass` answers from the session's
 * catalog cache, which a process that waited for the migration lock may hold from before
 * another session created the table (it takes no lock that would refresh it).
 */
const hasTable = (sql: SqlClient.SqlClient, name: string): Effect.Effect<boolean, SqlError> =>
  Effect.map(
    sql<{ readonly found: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = ${name} AND n.nspname = ANY (current_schemas(false))) AS found`,
    (rows) => rows[0]?.found === true
  )

const newerSchema = (where: string, version: number) =>
  new CheckpointError({
    reason: "migration-failed",
    filename: where,
    message: `${where} has Stargraph schema version ${version}, newer than this Stargraph's (${PG_SCHEMA_VERSION}): a newer Stargraph migrated it; ` +
      "upgrade Stargraph here (every process on one database runs a version that knows its schema), nothing was changed"
  })

const notOurs = (where: string) =>
  new CheckpointError({
    reason: "not-a-database",
    filename: where,
    message: `${where} has a table runs_history but no ${VERSION_TABLE} (another application's tables?); nothing was changed. ` +
      "Give Stargraph a database of its own, or a schema of its own (set its search_path in the URL: ?options=-c%20search_path%3Dstargraph)"
  })

const noSchema = (where: string) =>
  new CheckpointError({
    reason: "not-a-database",
    filename: where,
    message: `${where} has no Stargraph tables yet (no ${VERSION_TABLE}); nothing was created. Check the URL's database name, ` +
      "or create the tables by starting a writer on it first (stargraph run … --db <url>, stargraph serve --db <url>)"
  })

/**
 * Bring the database up to {@link PG_SCHEMA_VERSION}: one transaction under an advisory
 * lock, so processes that start together migrate it once. A database already current is
 * only read (no lock); one from a newer Stargraph is refused (`migration-failed`, naming
 * both versions); one with a `runs_history` table that is not Stargraph's is left alone.
 */
export const migrate = (where: string, options: PgMigrateOptions = {}): Effect.Effect<void, CheckpointError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const failed = (cause: SqlError) =>
      new CheckpointError({
        reason: "migration-failed",
        filename: where,
        message: `migrating ${where} failed: ${cause.cause instanceof Error ? cause.cause.message : cause.message}`
      })
    let found = yield* Effect.mapError(recordedVersion(sql), failed)
    // Tables but no version: read the version again, after the tables were seen. Another
    // process's first migration may have committed between the two reads (its tables and
    // its version become visible at once), which is not another application's tables.
    if (found === undefined && (yield* Effect.mapError(hasTable(sql, "runs_history"), failed))) {
      found = yield* Effect.mapError(recordedVersion(sql), failed)
      if (found === undefined) return yield* notOurs(where)
    }
    if (found !== undefined && found > PG_SCHEMA_VERSION) return yield* newerSchema(where, found)
    if (found === PG_SCHEMA_VERSION) return
    if (found === undefined && options.create === false) return yield* noSchema(where)
    const apply = Effect.gen(function*() {
      yield* sql.unsafe(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`)
      // Read again under the lock: another process may have migrated meanwhile, or another
      // application may have made its own runs_history since the check above.
      const locked = yield* recordedVersion(sql)
      if (locked === undefined && (yield* hasTable(sql, "runs_history"))) return yield* notOurs(where)
      yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${VERSION_TABLE} (version integer NOT NULL)`)
      const now = locked ?? 0
      if (now > PG_SCHEMA_VERSION) return yield* newerSchema(where, now)
      if (now === PG_SCHEMA_VERSION) return
      if (now > 0) {
        const notice: MigrationNotice = {
          filename: where,
          from: now,
          to: PG_SCHEMA_VERSION,
          backup: null,
          message: `migrating ${where} from schema ${now} to ${PG_SCHEMA_VERSION}: Stargraph versions that write schema ${now} will refuse it afterwards. ` +
            "No backup was written (take one with pg_dump before upgrading)."
        }
        yield* options.onMigrate === undefined ? Effect.logWarning(notice.message) : options.onMigrate(notice)
      }
      for (const migration of PG_MIGRATIONS) {
        if (migration.version <= now) continue
        for (const statement of migration.statements) yield* sql.unsafe(statement)
      }
      yield* sql.unsafe(`DELETE FROM ${VERSION_TABLE}`)
      yield* sql.unsafe(`INSERT INTO ${VERSION_TABLE} (version) VALUES (${PG_SCHEMA_VERSION})`)
    })
    yield* apply.pipe(sql.withTransaction, Effect.catchTag("SqlError", (e) => Effect.fail(failed(e))))
  })
