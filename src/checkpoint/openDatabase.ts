/**
 * The Checkpointer a `--db` names, as the CLI and `stargraph serve` open it: a
 * `postgres://` or `postgresql://` URL opens the PostgreSQL Checkpointer, anything else a
 * SQLite file.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { CheckpointError } from "../errors.js"
import type { Checkpointer } from "./Checkpointer.js"
import { isPostgresUrl, redactUrl } from "./databaseUrl.js"
import type { MigrationNotice } from "./migrations.js"
import * as PgCheckpointer from "./PgCheckpointer.js"
import * as SqliteCheckpointer from "./SqliteCheckpointer.js"

/** How to open the database. */
export interface OpenOptions {
  /** Create a missing SQLite file, or the tables of a PostgreSQL database without them (default true). */
  readonly create?: boolean | undefined
  /** SQLite: read an older schema as it is, without migrating it (`list`, `inspect`). PostgreSQL migrates it. */
  readonly readOnly?: boolean | undefined
  /**
   * SQLite: migrate an older schema only at the Checkpointer's first write, reading it as it
   * is until then (the CLI's writing commands: one refused, or that only reads, leaves it
   * as it was). PostgreSQL migrates it when it opens.
   */
  readonly migrateOnFirstWrite?: boolean | undefined
  /** SQLite's durability (`FULL` or `NORMAL`); PostgreSQL commits as its server is configured. */
  readonly synchronous?: "FULL" | "NORMAL" | undefined
  /** Told before an existing database is migrated. */
  readonly onMigrate?: ((notice: MigrationNotice) => Effect.Effect<void>) | undefined
}

/** How messages and banners name `db`: a PostgreSQL URL without its password, a SQLite path as it is. */
export const describeDatabase = (db: string): string => (isPostgresUrl(db) ? redactUrl(db) : db)

/** The Checkpointer on `db` (a SQLite path or a PostgreSQL URL). */
export const checkpointerLayer = (db: string, options: OpenOptions = {}): Layer.Layer<Checkpointer, CheckpointError> =>
  isPostgresUrl(db)
    ? PgCheckpointer.layer({ url: db, create: options.create, onMigrate: options.onMigrate })
    : SqliteCheckpointer.layer({
      filename: db,
      create: options.create,
      readOnly: options.readOnly,
      onMigrate: options.onMigrate,
      migrateOnFirstWrite: options.migrateOnFirstWrite,
      ...(options.synchronous !== undefined ? { synchronous: options.synchronous } : {})
    })

/**
 * The migrated SQL client on `db`, for code that queries Stargraph's tables itself
 * (`prune`); with `readOnly`, a SQLite database with an older schema is read as it is
 * (`prune --dry-run`).
 */
export const clientLayer = (db: string, options: OpenOptions = {}): Layer.Layer<SqlClient.SqlClient, CheckpointError> =>
  isPostgresUrl(db)
    ? PgCheckpointer.layerClient({ url: db, create: options.create, onMigrate: options.onMigrate })
    : SqliteCheckpointer.layerClient({ filename: db, create: options.create, readOnly: options.readOnly, onMigrate: options.onMigrate })
