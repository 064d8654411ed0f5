/**
 * The PostgreSQL Checkpointer on `@effect/sql-pg` (an optional peer, loaded when the
 * layer is built): servers, schedulers and CLIs on several hosts share one database. The
 * same implementation as the SQLite Checkpointer (`sqlStore.ts`) in PostgreSQL's dialect:
 * claims are conditional UPDATEs whose row count says who won, so each queued run is
 * claimed once however many processes poll; migrations run once, under an advisory lock.
 *
 * ```ts
 * Effect.provide(program, PgCheckpointer.layer("postgres://stargraph@db.internal/stargraph"))
 * ```
 */
import type { ConnectionOptions } from "node:tls"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { CheckpointError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { Checkpointer, type CheckpointerShape } from "./Checkpointer.js"
import { isPostgres } from "./connection.js"
import { redactUrl, urlProblem } from "./databaseUrl.js"
import type { MigrationNotice } from "./migrations.js"
import { migrate } from "./pgMigrations.js"
import * as SqlStore from "./sqlStore.js"

/** What the PostgreSQL Checkpointer does besides connecting. */
export interface PgCheckpointerOptions {
  /**
   * Give a database without Stargraph's tables its schema (default true). Readers such as
   * `stargraph inspect` pass false: a database without them is refused, not changed.
   */
  readonly create?: boolean | undefined
  /**
   * Largest checkpoint a step may write, in bytes of JSON text (default 64 MiB, or
   * `STARGRAPH_MAX_CHECKPOINT_BYTES`); a larger one fails with
   * `CheckpointError[checkpoint-too-large]` and is not written.
   */
  readonly maxCheckpointBytes?: number | undefined
  /** Told before an existing database is migrated: from, to (default: a warning in the Effect log). */
  readonly onMigrate?: ((notice: MigrationNotice) => Effect.Effect<void>) | undefined
}

/**
 * How to reach the database and size the pool: the connection fields of `@effect/sql-pg`'s
 * `PgClientConfig` (a `url`, here also as a plain string, or host, port, user, password and
 * database), plus {@link PgCheckpointerOptions}. Fields left out come from the URL, else
 * from the `PG*` environment variables (`PGPASSWORD`, `PGHOST`…), as `pg` reads them.
 */
export interface PgCheckpointerConfig extends PgCheckpointerOptions {
  /** `postgres://user:password@host:port/database?…` (or `postgresql://`). */
  readonly url?: string | Redacted.Redacted | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted | undefined
  /** TLS: true, or Node's TLS options (a CA, a client certificate). */
  readonly ssl?: boolean | ConnectionOptions | undefined
  /** Connections the pool keeps at most (default 10, `pg`'s) and at least. */
  readonly maxConnections?: number | undefined
  readonly minConnections?: number | undefined
  /** How long a connection may stay idle in the pool, and live at most. */
  readonly idleTimeout?: Duration.DurationInput | undefined
  readonly connectionTTL?: Duration.DurationInput | undefined
  /** How long to wait for the server when connecting (default 5 s). */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** The name the server shows for these connections (default `stargraph`). */
  readonly applicationName?: string | undefined
}

/** The URL of a config, in plain text (undefined when it has none). */
const urlOf = (config: PgCheckpointerConfig): string | undefined =>
  config.url === undefined ? undefined : Redacted.isRedacted(config.url) ? Redacted.value(config.url) : config.url

/** How messages name the database: its URL without the password, else host, port and database. */
const describe = (config: PgCheckpointerConfig): string => {
  const url = urlOf(config)
  return url !== undefined
    ? redactUrl(url)
    : `postgresql://${config.username ?? ""}${config.username !== undefined ? "@" : ""}${config.host ?? ""}${config.port !== undefined ? `:${config.port}` : ""}/${config.database ?? ""}`
}

const configOf = (config: string | PgCheckpointerConfig): PgCheckpointerConfig => (typeof config === "string" ? { url: config } : config)

/** The first line of what went wrong connecting (`pg` gives an AggregateError when every address of a host refused). */
const causeText = (cause: unknown): string => {
  if (cause instanceof AggregateError && cause.errors.length > 0) return [...new Set(cause.errors.map(causeText))].join("; ")
  if (cause instanceof Error) {
    const code = "code" in cause && typeof cause.code === "string" ? cause.code : undefined
    return cause.message !== "" ? cause.message : code ?? cause.name
  }
  return String(cause)
}

const connectionFailed = (where: string, cause: unknown) =>
  new CheckpointError({
    reason: "connection-failed",
    filename: where,
    message: `cannot connect to PostgreSQL at ${where}: ${causeText(cause)}. Check that the server runs and is reachable from here, and the ` +
      "URL's host, port, user, password and database name (a password may also come from PGPASSWORD); nothing was written"
  })

/** The SqlError's own cause, or itself. */
const sqlCause = (error: SqlError): unknown => error.cause ?? error

/**
 * The migrated `@effect/sql-pg` client on `config` (a URL, or a client config), for code
 * that queries Stargraph's tables itself; `stargraph prune` deletes through it. Fails with
 * `CheckpointError[invalid-url]` for a URL that is not PostgreSQL's, and
 * `[connection-failed]` when the server cannot be reached or refuses the login.
 */
export const layerClient = (config: string | PgCheckpointerConfig): Layer.Layer<SqlClient.SqlClient, CheckpointError> => {
  const options = configOf(config)
  const url = urlOf(options)
  const where = describe(options)
  const problem = url === undefined ? undefined : urlProblem(url)
  if (problem !== undefined) {
    return Layer.fail(new CheckpointError({ reason: "invalid-url", filename: where, message: `${problem}; pass postgres://user:password@host:port/database` }))
  }
  const { create: _create, maxCheckpointBytes: _max, onMigrate: _onMigrate, url: _url, ...connection } = options
  const client = Layer.unwrapEffect(
    Effect.tryPromise({
      try: () => import("@effect/sql-pg/PgClient"),
      catch: (cause) =>
        new CheckpointError({
          reason: "connection-failed",
          filename: where,
          message: `the PostgreSQL client could not be loaded (${causeText(cause)}); install the optional peer: npm install @effect/sql-pg`
        })
    }).pipe(Effect.map((PgClient) =>
      PgClient.layer({
        ...connection,
        ...(url !== undefined ? { url: Redacted.make(url) } : {}),
        applicationName: connection.applicationName ?? "stargraph"
      }).pipe(Layer.catchAllCause((cause) =>
        Layer.fail(Cause.failureOption(cause).pipe(
          Option.match({ onNone: () => connectionFailed(where, Cause.squash(cause)), onSome: (e) => connectionFailed(where, sqlCause(e)) })
        ))
      ))
    ))
  )
  const setup = Layer.effectDiscard(
    migrate(where, { create: options.create, onMigrate: options.onMigrate }).pipe(traced("stargraph.checkpoint.open", { "stargraph.db": where }))
  )
  return Layer.provideMerge(setup, client)
}

/** Build the Checkpointer over an open, migrated PostgreSQL SqlClient; `where` names the database in messages. */
export const make = (where: string, maxCheckpointBytes?: number): Effect.Effect<CheckpointerShape, never, SqlClient.SqlClient> =>
  SqlStore.make({ filename: where, dialect: SqlStore.POSTGRES, maxCheckpointBytes })

/**
 * The PostgreSQL Checkpointer as a Layer, with its own connection pool on `config` (a
 * `postgres://` URL, or `@effect/sql-pg`'s client config with {@link PgCheckpointerOptions}).
 * It provides only `Checkpointer`: its SQL client stays inside. The schema is created or
 * migrated when the layer is built.
 */
export const layer = (config: string | PgCheckpointerConfig): Layer.Layer<Checkpointer, CheckpointError> =>
  Layer.provide(
    Layer.effect(Checkpointer, make(describe(configOf(config)), configOf(config).maxCheckpointBytes)),
    layerClient(config)
  )

/** The connection details of a `PgClient` (its `config`), for messages. */
const clientConfigOf = (sql: SqlClient.SqlClient): PgCheckpointerConfig =>
  "config" in sql && typeof sql.config === "object" && sql.config !== null ? (sql.config as PgCheckpointerConfig) : {}

/**
 * The PostgreSQL Checkpointer on the application's own `PgClient` (`@effect/sql-pg`'s
 * `PgClient.layer`, which also provides `SqlClient`): Stargraph's tables go into that
 * database (in its search path), migrated when the layer is built; the client's name
 * transforms (`transformResultNames`…) do not apply to them. Another SQL client (SQLite,
 * MySQL…) is refused with `CheckpointError[not-a-database]`.
 */
export const layerFromClient = (options: PgCheckpointerOptions = {}): Layer.Layer<Checkpointer, CheckpointError, SqlClient.SqlClient> =>
  Layer.effect(
    Checkpointer,
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const name = describe(clientConfigOf(sql))
      if (!isPostgres(sql)) {
        return yield* new CheckpointError({
          reason: "not-a-database",
          message: "PgCheckpointer.layerFromClient needs a PostgreSQL SqlClient (@effect/sql-pg's PgClient.layer); for a SQLite client use SqliteCheckpointer"
        })
      }
      yield* migrate(name, { create: options.create, onMigrate: options.onMigrate }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      return yield* make(name, options.maxCheckpointBytes)
    })
  )
