/**
 * Versioned SQLite migrations, tracked in `PRAGMA user_version`. Each migration runs in
 * its own transaction; a database newer than this build is refused.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { CheckpointError } from "../errors.js"

/** One schema change. */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

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
  }
]

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version

/** Bring the database up to {@link SCHEMA_VERSION}. Safe to run from several processes at once. */
export const migrate = (filename: string): Effect.Effect<void, CheckpointError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const failed = (cause: unknown) =>
      new CheckpointError({
        reason: "migration-failed",
        filename,
        message: `migrating ${filename} failed: ${cause instanceof Error ? cause.message : String(cause)}`
      })
    const currentVersion = sql<{ user_version: number }>`PRAGMA user_version`.pipe(
      Effect.map((rows) => rows[0]?.user_version ?? 0)
    )
    const version = yield* Effect.mapError(currentVersion, failed)
    if (version > SCHEMA_VERSION) {
      return yield* new CheckpointError({
        reason: "migration-failed",
        filename,
        message: `${filename} has schema version ${version}, newer than this Stargraph (${SCHEMA_VERSION}); upgrade Stargraph`
      })
    }
    for (const migration of MIGRATIONS) {
      const apply = Effect.gen(function*() {
        // Re-read inside the transaction: another process may have applied it meanwhile.
        const now = yield* currentVersion
        if (now >= migration.version) return
        for (const statement of migration.statements) yield* sql.unsafe(statement)
        yield* sql.unsafe(`PRAGMA user_version = ${migration.version}`)
      }).pipe(sql.withTransaction)
      yield* apply.pipe(
        Effect.retry({ times: 5, schedule: Schedule.exponential("20 millis") }),
        Effect.mapError(failed)
      )
    }
  })
