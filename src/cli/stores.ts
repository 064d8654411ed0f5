/**
 * The storage Layers of the CLI commands (loaded on demand, never by `--help`): the
 * SQLite Checkpointer on `--db` and the audit log on `--audit-log`, plus the run lookup
 * every command that names a run starts with.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ArtifactStore from "../checkpoint/ArtifactStore.js"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import type { MigrationNotice } from "../checkpoint/migrations.js"
import type { RunRecord } from "../checkpoint/models.js"
import * as SqliteCheckpointer from "../checkpoint/SqliteCheckpointer.js"
import { CheckpointError } from "../errors.js"
import * as AuditSink from "../telemetry/AuditSink.js"

/** The notice a command that migrates an existing database prints on stderr first (from, to, the backup, how to roll back). */
export const migrationNotice = (notice: MigrationNotice) => Console.error(`note: ${notice.message}`)

/**
 * The Checkpointer on `db` (with `create: false` a missing file is refused with
 * `CheckpointError[not-a-database]`), the artifact store beside it (`<db>.artifacts/`,
 * the same as `stargraph serve` uses), and the audit log when one is given. With
 * `readOnly`, a database with an older schema is read as it is, not migrated (`list`,
 * `inspect`); otherwise it is backed up and migrated, with {@link migrationNotice}.
 */
export const storeLayer = (
  db: string,
  options: { readonly create: boolean; readonly readOnly?: boolean; readonly auditLog?: Option.Option<string> }
) =>
  Layer.mergeAll(
    SqliteCheckpointer.layer({ filename: db, create: options.create, readOnly: options.readOnly, onMigrate: migrationNotice }),
    ArtifactStore.filesystem(ArtifactStore.besideDatabase(db)),
    Option.match(options.auditLog ?? Option.none(), { onNone: () => Layer.empty, onSome: (path) => AuditSink.jsonl(path, "--audit-log") })
  )

/** The run record, or `CheckpointError[unknown-run]` naming the database. */
export const getRun = (runId: string, db: string): Effect.Effect<RunRecord, CheckpointError, Checkpointer> =>
  Effect.flatMap(Checkpointer, (checkpointer) =>
    Effect.flatMap(checkpointer.getRun(runId), Option.match({
      onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId, filename: db, message: `no run '${runId}' in ${db}` })),
      onSome: Effect.succeed
    })))
