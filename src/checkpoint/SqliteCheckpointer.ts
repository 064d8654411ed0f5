/**
 * The embedded SQLite Checkpointer on `@effect/sql-sqlite-node`: WAL mode, a busy
 * timeout (so a CLI and a server can share one file), versioned migrations, and one
 * transaction per step.
 */
import { accessSync, closeSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, dirname, join } from "node:path"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { CheckpointError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { Checkpointer, type CheckpointerShape } from "./Checkpointer.js"
import * as MigrateOnWrite from "./migrateOnWrite.js"
import { migrate, type MigrationNotice, readAsIs, SCHEMA_VERSION } from "./migrations.js"
import { immutableUri, literalPath } from "./sqlitePaths.js"
import * as SqlStore from "./sqlStore.js"

/** Options of the SQLite Checkpointer. */
export interface SqliteCheckpointerOptions {
  /** Database file; created (with its folder) when missing. */
  readonly filename: string
  /**
   * `FULL` (default): every committed step survives power loss. `NORMAL`: survives a
   * process crash, may lose the last steps on power loss; several times faster.
   */
  readonly synchronous?: "FULL" | "NORMAL" | undefined
  /** How long a writer waits for another process's lock, in ms (default 5000). */
  readonly busyTimeoutMs?: number | undefined
  /**
   * WAL pages after which a commit copies the log back into the database (default
   * 10,000, about 40 MB; SQLite's own default is 1,000). Fewer, larger WAL checkpoints
   * make each commit cheaper under a steady write load.
   */
  readonly walAutocheckpointPages?: number | undefined
  /**
   * Create the file (and its folder) when it does not exist (default true). Readers such
   * as `stargraph inspect` pass false: a mistyped path is refused, not created.
   */
  readonly create?: boolean | undefined
  /**
   * Add Stargraph's tables to a SQLite file that already holds another application's
   * (default false: such a file is refused with `CheckpointError[not-a-database]` and
   * left untouched, so a mistyped `--db` never migrates someone else's database). The
   * file's `user_version` stays the application's: Stargraph keeps its own schema version
   * in the table `stargraph_schema`.
   */
  readonly shareFile?: boolean | undefined
  /**
   * Largest checkpoint a step may write, in bytes of JSON text (default 64 MiB, or
   * `STARGRAPH_MAX_CHECKPOINT_BYTES`); a larger one fails with
   * `CheckpointError[checkpoint-too-large]` and is not written.
   */
  readonly maxCheckpointBytes?: number | undefined
  /**
   * Read the database as it is (default false): an older schema is not migrated but read
   * through views that exist only in this connection, so the file stays usable by the
   * version that wrote it; a newer one is refused. For readers (`stargraph list`, `inspect`).
   * A file this process cannot write (a read-only mount, a `chmod 444` copy, a folder it
   * cannot write) is opened read-only: in place, with `immutable=1` when it has no -wal
   * (which needs URI filenames: `SQLITE_USE_URI=1` before SQLite is first loaded, as the
   * `stargraph` command sets it), else from a temporary copy when SQLite would have to create
   * its -wal or -shm; writes then fail with `CheckpointError[read-only]`.
   * Without it, such a file is refused with `CheckpointError[read-only]` before anything is written.
   */
  readonly readOnly?: boolean | undefined
  /**
   * Before migrating a database that has an older Stargraph schema, copy it to
   * `<db>.schema-<from>.bak` beside it (default true; see `migrate`).
   */
  readonly backupBeforeMigrate?: boolean | undefined
  /** Told before an existing database is migrated: from, to, the backup (default: a warning in the Effect log). */
  readonly onMigrate?: ((notice: MigrationNotice) => Effect.Effect<void>) | undefined
  /**
   * Migrate a database with an older Stargraph schema only when the Checkpointer first
   * writes (default false: when it opens). Until then it is read as it is, as `readOnly`
   * reads it (see `migrateOnWrite.ts`): a caller that is refused after reading, or only
   * reads (a `createRun` retry whose idempotency key's run is there reads), leaves it as it
   * was, usable by the older Stargraph that wrote it. A database
   * that is up to date (or new) is opened once, as without it. For `layer` only (not with
   * `readOnly` or `shareFile`); the CLI's writing commands open so.
   */
  readonly migrateOnFirstWrite?: boolean | undefined
}

const SQLITE_HEADER = "SQLite format 3\u0000"

/**
 * Whether a SQLite file's header says it holds Stargraph's schema (or, with `allowEmpty`,
 * nothing yet): its `user_version` (offset 60, set by Stargraph's migrations) is not 0,
 * or its write-ahead log holds changes the header does not show yet (a process killed
 * before its WAL was copied back), or it has no page beyond the schema page (offset 28).
 */
const stargraphOrEmpty = (filename: string, header: Buffer, allowEmpty: boolean): boolean => {
  if (header.readUInt32BE(60) !== 0 || (allowEmpty && header.readUInt32BE(28) <= 1)) return true
  const wal = `${filename}-wal`
  return existsSync(wal) && statSync(wal).size > 0
}

/**
 * What an empty SQLite database (no page beyond the schema page, no Stargraph schema)
 * most likely is when a reader is pointed at it: a copy of a Stargraph database made with
 * `cp` while a process had it open, so the committed runs stayed in the original's `-wal`.
 */
const copiedWithoutWal = (filename: string): string =>
  `${filename} is an empty SQLite database (no tables, no Stargraph schema). If it is a copy of a Stargraph database, ` +
  "it was most likely copied without its -wal file while a process had the database open (committed runs stay in <db>-wal " +
  `until SQLite copies them back); copy it again with \`sqlite3 <db> ".backup ${filename}"\` (safe while a server writes), ` +
  "or stop every process using the database and copy <db> together with <db>-wal"

/** At most this many SQLite files of the folder are named when a database path has no file. */
const NEARBY_LIMIT = 3

/**
 * The SQLite files (`*.sqlite`, `*.db`) in the folder of `filename`, which has no file: the
 * database meant is often one of them under another name (the original Stargraph's
 * `.stargraph/run.sqlite` beside this CLI's `.stargraph/stargraph.sqlite`). As the path was
 * written (`dir/name`), a few at most, and how many more there are.
 */
const nearbyDatabases = (filename: string): string => {
  let names: Array<string>
  try {
    const dir = dirname(filename)
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && /\.(sqlite|db)$/i.test(e.name) && e.name !== basename(filename))
      .map((e) => join(dir, e.name))
      .sort()
  } catch {
    return ""
  }
  if (names.length === 0) return ""
  const more = names.length > NEARBY_LIMIT ? ` (and ${names.length - NEARBY_LIMIT} more)` : ""
  return `, such as ${names.length === 1 ? "the one" : "one of those"} in that folder: ${names.slice(0, NEARBY_LIMIT).join(", ")}${more}`
}

/**
 * Refuse, before anything opens it, a file that exists but is not SQLite, or is a SQLite
 * database of something else (migrating it would add Stargraph's tables to it); with
 * `create: false`, also a missing or empty file.
 */
const checkFile = (filename: string, create: boolean, shareFile: boolean): Effect.Effect<void, CheckpointError> =>
  Effect.try({
    try: (): { readonly problem: string; readonly nearby?: string } | undefined => {
      if (filename === ":memory:") return undefined
      if (!existsSync(filename)) {
        if (!create) return { problem: `there is no database at ${filename}`, nearby: nearbyDatabases(filename) }
        mkdirSync(dirname(filename), { recursive: true })
        return undefined
      }
      if (statSync(filename).isDirectory()) return { problem: `${filename} is a directory` }
      const fd = openSync(filename, "r")
      try {
        const header = Buffer.alloc(100)
        const n = readSync(fd, header, 0, 100, 0)
        if (n === 0) return create ? undefined : { problem: `${filename} is an empty file, not a Stargraph database` }
        if (n < 100 || header.toString("latin1", 0, 16) !== SQLITE_HEADER) return { problem: `${filename} is not a SQLite database` }
        if ((create && shareFile) || stargraphOrEmpty(filename, header, create)) return undefined
        return { problem: header.readUInt32BE(28) <= 1 ? copiedWithoutWal(filename) : `${filename} is a SQLite database without Stargraph's schema (another application's?)` }
      } finally {
        closeSync(fd)
      }
    },
    catch: (cause) => new CheckpointError({ reason: "storage-failure", filename, message: `cannot open ${filename}: ${String(cause)}` })
  }).pipe(
    Effect.flatMap((found) =>
      found === undefined ? Effect.void : Effect.fail(
        new CheckpointError({
          reason: "not-a-database",
          filename,
          message: `${found.problem}; pass the path of a Stargraph SQLite file${create ? " or of a new one" : ""}${found.nearby ?? ""} (nothing was created or changed)`
        })
      )
    )
  )

/**
 * Build the Checkpointer over an open SqlClient (already migrated), whose connection runs
 * at `synchronous` (default `FULL`).
 *
 * Under `FULL`, these writes commit without their own fsync: marking a run `running`,
 * claiming a queued run, and creating runs that are created `running` (`NewRun.running`:
 * a subgraph's child run, driven at once). A synced commit (the run's next step, or its
 * stop) always follows them and makes them durable with it; a power loss before it leaves
 * the run as it was before it started (a child run not there at all: its parent step,
 * never committed either, starts it again), which is what the lost write would have changed.
 * A fourth, a commit asked with `CommitOptions.syncFollows` (a child run's `done` step,
 * which its parent's step commit follows), is made the same way: a power loss before the
 * parent's commit loses both, and the parent, resumed, drives the child again from its
 * last synced step.
 */
export const make = (
  filename: string,
  synchronous: "FULL" | "NORMAL" = "FULL",
  maxCheckpointBytes?: number
): Effect.Effect<CheckpointerShape, never, SqlClient.SqlClient> =>
  SqlStore.make({ filename, dialect: SqlStore.SQLITE, startsRun: { deferSync: synchronous === "FULL" }, maxCheckpointBytes })

/** Why `path` cannot be written by this process (`EACCES`, `EROFS`…), or undefined when it can, or is not there. */
const unwritablePath = (path: string): string | undefined => {
  if (!existsSync(path)) return undefined
  try {
    accessSync(path, constants.W_OK)
    return undefined
  } catch (cause) {
    return cause instanceof Error && "code" in cause && typeof cause.code === "string" ? cause.code : String(cause)
  }
}

/**
 * The first of `filename`, its `-wal` and `-shm` files and its folder that is there and this
 * process cannot write (SQLite's WAL needs them all), with why; undefined when all can be.
 */
const unwritable = (filename: string): { readonly path: string; readonly why: string } | undefined => {
  if (filename === ":memory:") return undefined
  for (const path of [filename, `${filename}-wal`, `${filename}-shm`, dirname(filename)]) {
    const why = unwritablePath(path)
    if (why !== undefined) return { path, why }
  }
  return undefined
}

/** A write command's refusal of a database it cannot write, naming what cannot be written and the ways on. */
const readOnlyError = (filename: string, found: { readonly path: string; readonly why: string }): CheckpointError =>
  new CheckpointError({
    reason: "read-only",
    filename,
    message: `${filename} is read-only for this process (${found.path === dirname(filename) ? "its folder " : ""}${found.path} cannot be written: ${found.why}); ` +
      "nothing was changed. The commands that only read it (stargraph list, inspect, thread) open it read-only; to write, make the file and its folder writable, " +
      `or copy it to a writable folder (sqlite3 ${filename} ".backup <copy>") and pass the copy`
  })

/**
 * How a reader (`readOnly`) opens `filename`: `read-write` when this process can write it,
 * its -wal and -shm files and its folder (as a writer would, so SQLite makes and removes its
 * -wal and -shm as usual); else `read-only` (SQLite's read-only open, that writes nothing to
 * the file) when its -wal and -shm are there (a server has it open, or it was copied with
 * them). Without them (closed cleanly, or copied alone), SQLite would have to create them to
 * read a WAL database: in a folder this process cannot write it cannot, and beside a file it
 * cannot write they would stay behind, owned by this user, in the way of the file's writer.
 * With no -wal (or an empty one) the file holds every committed write, and no writer has it
 * open (a writer keeps its -wal and -shm there): it is read in place as `immutable` (no
 * -wal, -shm or locks). With a -wal that holds writes but no -shm, it is read from a
 * `snapshot`: a copy with its -wal in a private temporary folder, removed when it is closed.
 */
const readerMode = (filename: string): "read-write" | "read-only" | "immutable" | "snapshot" => {
  if (unwritable(filename) === undefined) return "read-write"
  const wal = `${filename}-wal`
  if (existsSync(wal) && existsSync(`${filename}-shm`)) return "read-only"
  return existsSync(wal) && statSync(wal).size > 0 ? "snapshot" : "immutable"
}

/**
 * A copy of `filename` (and its -wal) in a new private temporary folder, removed with the
 * scope: the path of the copy. `why` says why it cannot be read in place.
 */
const snapshot = (filename: string, why: string): Effect.Effect<string, CheckpointError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const folder = mkdtempSync(join(tmpdir(), "stargraph-readonly-"))
        try {
          const copy = join(folder, basename(filename))
          copyFileSync(filename, copy)
          if (existsSync(`${filename}-wal`)) copyFileSync(`${filename}-wal`, `${copy}-wal`)
          return { folder, copy }
        } catch (cause) {
          rmSync(folder, { recursive: true, force: true })
          throw cause
        }
      },
      catch: (cause) =>
        new CheckpointError({
          reason: "read-only",
          filename,
          message: `${filename} cannot be written by this process and ${why}, so it is read from a copy; ` +
            `copying it to ${tmpdir()} to read it failed (${String(cause)}): free space there, set TMPDIR to a writable folder, or copy the database to a writable folder yourself`
        })
    }),
    ({ folder }) => Effect.sync(() => rmSync(folder, { recursive: true, force: true }))
  ).pipe(Effect.map(({ copy }) => copy))

/** Whether opening failed on another process's lock (`SQLITE_BUSY`, thrown by the driver as it opens). */
const busyOnOpen = (cause: Cause.Cause<unknown>): boolean => {
  const error = Cause.squash(cause)
  return typeof error === "object" && error !== null && "code" in error && error.code === "SQLITE_BUSY"
}

/** The SQL client layer with Stargraph's pragmas applied and migrations run (or, `readOnly`, the schema read as it is). */
export const layerClient = (
  options: SqliteCheckpointerOptions
): Layer.Layer<SqlClient.SqlClient | SqliteClient.SqliteClient, CheckpointError> => {
  const { filename } = options
  const reader = options.readOnly === true
  const openFailed = (message: string) => {
    const found = unwritable(filename)
    return found !== undefined && !reader
      ? readOnlyError(filename, found)
      : new CheckpointError({ reason: "not-a-database", filename, message: `${filename} could not be opened as SQLite: ${message}` })
  }
  const open = Effect.gen(function*() {
    yield* checkFile(filename, options.create !== false, options.shareFile === true)
    if (!reader) {
      const found = unwritable(filename)
      if (found !== undefined) return yield* readOnlyError(filename, found)
      return SqliteClient.layer({ filename: literalPath(filename) })
    }
    const mode = readerMode(filename)
    if (mode === "read-write") return SqliteClient.layer({ filename: literalPath(filename) })
    // Read-only: no `journal_mode = WAL` (a write, on a database not in WAL mode yet).
    const readOnlyAt = (path: string) => SqliteClient.layer({ filename: path, readonly: true, disableWAL: true })
    if (mode === "read-only") return readOnlyAt(literalPath(filename))
    if (mode === "immutable") {
      // Opens only where URI filenames are on (SQLITE_USE_URI=1 when SQLite was loaded); else it is read from a copy.
      const inPlace = yield* Effect.exit(Layer.build(readOnlyAt(immutableUri(filename))))
      if (Exit.isSuccess(inPlace)) return Layer.succeedContext(inPlace.value)
    }
    const why = mode === "immutable"
      ? "has no -wal/-shm files, and this process cannot open it in place (immutable=1 needs SQLite URI filenames: SQLITE_USE_URI=1 in its environment before SQLite is first loaded)"
      : "its -wal holds writes but it has no -shm file"
    return readOnlyAt(literalPath(yield* snapshot(filename, why)))
  })
  const client = Layer.unwrapScoped(open).pipe(
    // Several processes switching one new file to WAL at once: SQLite may answer one of them
    // SQLITE_BUSY at once instead of waiting (its deadlock rule); that one opens it again.
    Layer.catchAllCause((cause) => Layer.fail(cause)),
    Layer.retry(Schedule.exponential("20 millis").pipe(Schedule.intersect(Schedule.recurs(6)), Schedule.whileInput(busyOnOpen))),
    Layer.catchAll((cause) =>
      Layer.fail(
        Cause.failureOption(cause).pipe(
          Option.filter((e): e is CheckpointError => e instanceof CheckpointError),
          Option.getOrElse(() => openFailed(Cause.pretty(cause).split("\n")[0] ?? "unknown error"))
        )
      )
    )
  )
  const setup = Layer.effectDiscard(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Effect.all([
        sql.unsafe(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`),
        sql.unsafe(`PRAGMA synchronous = ${options.synchronous ?? "FULL"}`),
        sql.unsafe(`PRAGMA wal_autocheckpoint = ${Math.trunc(options.walAutocheckpointPages ?? 10_000)}`)
      ]).pipe(Effect.mapError((e) => openFailed(e.cause instanceof Error ? e.cause.message : e.message)))
      yield* reader
        ? readAsIs(filename, options.shareFile === true, filename === ":memory:" || readerMode(filename) === "read-write")
        : migrate(filename, { backup: options.backupBeforeMigrate, onMigrate: options.onMigrate, shared: options.shareFile === true })
    }).pipe(traced("stargraph.checkpoint.open", { "stargraph.db": filename }))
  )
  return Layer.provideMerge(setup, client)
}

/**
 * Whether the file's header says it has an older Stargraph schema than this build's: its
 * `user_version` (offset 60) from 1 to {@link SCHEMA_VERSION} - 1. A missing file, or one
 * that is not SQLite, is not (opening it says what it is). The header may lag a `-wal`
 * that holds a migration already made: such a file is then read first, then found up to
 * date when written (nothing more is migrated).
 */
const olderSchemaOnDisk = (filename: string): boolean => {
  if (filename === ":memory:") return false
  try {
    const fd = openSync(filename, "r")
    try {
      const header = Buffer.alloc(100)
      if (readSync(fd, header, 0, 100, 0) < 100 || header.toString("latin1", 0, 16) !== SQLITE_HEADER) return false
      const version = header.readUInt32BE(60)
      return version >= 1 && version < SCHEMA_VERSION
    } finally {
      closeSync(fd)
    }
  } catch {
    return false
  }
}

/**
 * The SQLite Checkpointer as a Layer. It provides only `Checkpointer`: its SQL client stays
 * inside, so an app's own `SqlClient` (another database) is not shadowed by it. With
 * `migrateOnFirstWrite`, an older database is read as it is until the first write.
 */
export const layer = (options: SqliteCheckpointerOptions): Layer.Layer<Checkpointer, CheckpointError> => {
  const opened = Layer.provide(Layer.effect(Checkpointer, make(options.filename, options.synchronous ?? "FULL", options.maxCheckpointBytes)), layerClient(options))
  if (options.migrateOnFirstWrite !== true || options.readOnly === true || options.shareFile === true) return opened
  return Layer.unwrapEffect(Effect.sync(() =>
    olderSchemaOnDisk(options.filename)
      ? MigrateOnWrite.layer(layer({ ...options, readOnly: true, migrateOnFirstWrite: false }), opened)
      : opened
  ))
}

/** The SQLite Checkpointer and its migrated SQL client, for code that queries Stargraph's tables itself. */
export const layerWithClient = (
  options: SqliteCheckpointerOptions
): Layer.Layer<Checkpointer | SqlClient.SqlClient | SqliteClient.SqliteClient, CheckpointError> =>
  Layer.provideMerge(Layer.effect(Checkpointer, make(options.filename, options.synchronous ?? "FULL", options.maxCheckpointBytes)), layerClient(options))
