/**
 * The storage Layers of the CLI commands (loaded on demand, never by `--help`): the
 * Checkpointer on `--db` (a SQLite file, or a `postgres://` URL) and the audit log on
 * `--audit-log`, plus the run lookup every command that names a run starts with.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ArtifactStore from "../checkpoint/ArtifactStore.js"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import type { MigrationNotice } from "../checkpoint/migrations.js"
import type { RunRecord } from "../checkpoint/models.js"
import { checkpointerLayer, describeDatabase } from "../checkpoint/openDatabase.js"
import { CheckpointError, InputError } from "../errors.js"
import * as Heartbeat from "../runtime/Heartbeat.js"
import * as AuditSink from "../telemetry/AuditSink.js"
import { type Database, fieldOf } from "./database.js"

/** The notice a command that migrates an existing database prints on stderr first (from, to, the backup, how to roll back). */
export const migrationNotice = (notice: MigrationNotice) => Console.error(`note: ${notice.message}`)

/**
 * A PostgreSQL URL that cannot be used, or a server that cannot be reached, as an
 * `InputError` on `field`, where the URL came from (`--db`, `STARGRAPH_DB`, the graph's
 * `checkpoints.store`); other errors as they are.
 */
export const asDbFlagError = <E>(error: E, field = "--db"): E | InputError => {
  if (!(error instanceof CheckpointError && (error.reason === "invalid-url" || error.reason === "connection-failed"))) return error
  const set = field === "--db" ? "pass" : `set ${field} to`
  const sqlite = field === "checkpoints.store" ? "sqlite:<path>" : "a SQLite file path"
  return new InputError({
    field,
    message: error.message,
    fix: error.reason === "invalid-url"
      ? `${set} ${sqlite}, or postgres://user:password@host:port/database (percent-encode @, /, : and # in the password, or leave it out and set PGPASSWORD)`
      : `start the PostgreSQL server or fix the URL's host, port, user, password and database name (${field}); or ${set} ${sqlite}`
  })
}

/**
 * The Checkpointer on `db` (with `create: false` a missing SQLite file, or a PostgreSQL
 * database without Stargraph's tables, is refused with `CheckpointError[not-a-database]`),
 * the artifact store beside it (`<db>.artifacts/`, the same as `stargraph serve` uses; for
 * PostgreSQL `$STARGRAPH_ARTIFACTS_DIR`, else `.stargraph/artifacts`), and the audit log
 * when one is given. With `readOnly`, a SQLite database with an older schema is read as it
 * is, not migrated (`list`, `inspect`); otherwise it is read as it is until the command's
 * first write, and then backed up and migrated, with {@link migrationNotice} (see
 * `migrateOnWrite.ts`): a command refused after its checks, or that only reads, leaves it
 * as it was. A bad URL or an unreachable server is an `InputError` on the
 * flag or variable that named the database.
 */
export const storeLayer = (
  db: Database,
  options: {
    readonly create: boolean
    readonly readOnly?: boolean
    readonly auditLog?: Option.Option<AuditSink.AuditLogSpec>
    /** The command drives runs: this process beats with this lease (ms, see `Heartbeat`) while it runs. */
    readonly leaseMs?: number | undefined
  }
) => {
  const checkpointer = checkpointerLayer(db.location, {
    create: options.create,
    readOnly: options.readOnly,
    migrateOnFirstWrite: options.readOnly !== true,
    onMigrate: migrationNotice
  }).pipe(
    Layer.mapError((e) => asDbFlagError(e, fieldOf(db)))
  )
  return Layer.mergeAll(
    options.leaseMs === undefined ? checkpointer : Layer.provideMerge(Heartbeat.layer({ leaseMs: options.leaseMs }), checkpointer),
    ArtifactStore.filesystem(ArtifactStore.besideDatabase(db.location)),
    Option.match(options.auditLog ?? Option.none(), { onNone: () => Layer.empty, onSome: (spec) => AuditSink.fromSpec(spec, "--audit-log") })
  )
}

/** The run record, or `CheckpointError[unknown-run]` naming the database (a URL without its password). */
export const getRun = (runId: string, db: string): Effect.Effect<RunRecord, CheckpointError, Checkpointer> =>
  Effect.flatMap(Checkpointer, (checkpointer) =>
    Effect.flatMap(checkpointer.getRun(runId), Option.match({
      onNone: () => {
        const name = describeDatabase(db)
        return Effect.fail(new CheckpointError({ reason: "unknown-run", runId, filename: name, message: `no run '${runId}' in ${name}` }))
      },
      onSome: Effect.succeed
    })))
