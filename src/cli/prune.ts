/**
 * `stargraph prune`: delete runs that ended before a cutoff (`--before 30d`, or an ISO
 * instant), with their checkpoints, keeping what remaining runs depend on (a fork's parent,
 * a kept parent's subgraph children) and each thread's newest run, then their artifact index entries and the blobs no
 * remaining run refers to in `<db>.artifacts/`, and the heartbeats of processes killed long
 * ago (see `heartbeatSweep.ts`). `--dry-run` counts without deleting;
 * `--audit-log` records `runs.pruned` at the commit and `artifacts.pruned` after the sweep.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { formatError, InputError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { chooseDatabase, fieldOf } from "./database.js"
import { ExitCode, reportError, setExit } from "./exit.js"
import { auditLog, dbExisting, json, oneOf } from "./options.js"
import { counted } from "./counted.js"

const ENDED = ["done", "failed", "cancelled"] as const

/** Units of a relative `--before`: `30d`, `12h`, `45m`. */
const UNIT_MS: { readonly [unit: string]: number } = { d: 86_400_000, h: 3_600_000, m: 60_000 }

/**
 * `--before` as an ISO instant: an age (`30d`, `12h`, `45m`: that long before `now`) or an
 * ISO date not later than `now` (a cutoff in the future would delete every ended run).
 */
export const cutoffOf = (text: string, now: number): Either.Either<string, InputError> => {
  const age = /^(\d+)([dhm])$/.exec(text.trim())
  if (age !== null) return Either.right(new Date(now - Number(age[1]) * UNIT_MS[age[2]!]!).toISOString())
  const at = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text.trim()) : Number.NaN
  if (Number.isNaN(at)) {
    return Either.left(new InputError({ field: "--before", message: `'${text}' is neither an age nor a date`, fix: "pass an age such as 30d, 12h or 45m, or an ISO date such as 2026-10-01 or 2026-10-01T00:00:00Z" }))
  }
  if (at > now) {
    return Either.left(new InputError({
      field: "--before",
      message: `${new Date(at).toISOString()} is later than now (${new Date(now).toISOString()}): every run that ended would be deleted`,
      fix: "pass a date in the past, or an age such as 30d (0m: every run that ended until now)"
    }))
  }
  return Either.right(new Date(at).toISOString())
}

/** The `prune` command. */
export const prune = Command.make(
  "prune",
  {
    db: dbExisting,
    before: Options.text("before").pipe(
      Options.withDescription("delete runs that finished before this: an age (30d, 12h, 45m) or an ISO date (no default: required)")
    ),
    status: Options.text("status").pipe(
      Options.withPseudoName(ENDED.join(" | ")),
      Options.repeated,
      Options.withDefault([] as Array<string>),
      Options.mapEffect((values) => Effect.forEach(values, oneOf("status", ENDED, "a status prune deletes"))),
      Options.withDescription(`only runs that ended so: ${ENDED.join(", ")}; repeatable (default: all three; error runs are resumable and never pruned)`)
    ),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("count what would be deleted, delete nothing (default: off)")),
    auditLog,
    json: json("`{runs, checkpoints, kept, kept_newest, run_ids, heartbeats, heartbeat_owners, artifacts: {entries, blobs, bytes}, before, dry_run}`")
  },
  (o) =>
    Effect.gen(function*() {
      const before = yield* cutoffOf(o.before, Date.now())
      const db = yield* chooseDatabase(o.db)
      const [Prune, Database, stores, ArtifactStore, AuditSink, { isPostgresUrl }] = yield* Effect.promise(() =>
        Promise.all([
          import("../checkpoint/prune.js"),
          import("../checkpoint/openDatabase.js"),
          import("./stores.js"),
          import("../checkpoint/ArtifactStore.js"),
          import("../telemetry/AuditSink.js"),
          import("../checkpoint/databaseUrl.js")
        ])
      )
      // A dry run opens the database read-only: an older schema is read as it is, never migrated.
      // The audit log opens first (its Layer is built before the prune runs): a path it
      // cannot open is refused before anything is deleted.
      const result = yield* Effect.gen(function*() {
        const sink = yield* AuditSink.AuditSink
        const audit = (event: string, fields: Record<string, unknown>) => sink.write({ ts: new Date().toISOString(), actor: "cli", event, before, ...fields })
        const pruned = yield* Prune.prune(Database.describeDatabase(db.location), {
          before,
          dryRun: o.dryRun,
          ...(o.status.length > 0 ? { statuses: o.status } : {}),
          // <db>.artifacts/ is this database's alone; a shared $STARGRAPH_ARTIFACTS_DIR is not, nor
          // a PostgreSQL database's .stargraph/artifacts (whatever other database is used from here).
          ownsArtifactStore: process.env[ArtifactStore.ENV_VAR] === undefined && !isPostgresUrl(db.location),
          // Recorded as soon as it is committed: a prune stopped later still left its line.
          afterCommit: (deleted) => (deleted.runs > 0 ? audit("runs.pruned", { ...deleted }) : Effect.void)
        })
        const { artifacts, artifacts_error: error } = pruned
        if (!o.dryRun && (error !== undefined || (artifacts !== null && (artifacts.entries > 0 || artifacts.blobs > 0)))) {
          yield* audit("artifacts.pruned", { run_ids: pruned.run_ids, artifacts, ...(error !== undefined ? { artifacts_error: error.message } : {}) })
        }
        return pruned
      }).pipe(
        Effect.provide(Database.clientLayer(db.location, { create: false, readOnly: o.dryRun, onMigrate: stores.migrationNotice }).pipe(Layer.mapError((e) => stores.asDbFlagError(e, fieldOf(db))))),
        Effect.provide(ArtifactStore.filesystem(ArtifactStore.besideDatabase(db.location))),
        Effect.provide(Option.match(o.auditLog, { onNone: () => Layer.empty, onSome: (spec) => AuditSink.fromSpec(spec, "--audit-log") }))
      )
      const failed = result.artifacts_error
      if (o.json) {
        const { artifacts_error: _error, ...rest } = result
        yield* Console.log(JSON.stringify({ ...rest, ...(failed !== undefined ? { artifacts_error: { message: failed.message, fix: failed.fix } } : {}), before, dry_run: o.dryRun }, null, 2))
      } else {
        const verb = o.dryRun ? "would delete" : "deleted"
        yield* Console.log(`${verb} ${result.runs} run${result.runs === 1 ? "" : "s"} that finished before ${before} (${result.checkpoints} checkpoint${result.checkpoints === 1 ? "" : "s"})`)
        if (result.kept > 0) yield* Console.log(`kept ${result.kept} as old that remaining runs depend on (a fork's parent, or a kept parent's subgraph children)`)
        if (result.kept_newest > 0) {
          yield* Console.log(`kept ${result.kept_newest} as old that ${result.kept_newest === 1 ? "is its thread's" : "are their threads'"} newest run or newest done run (a thread goes on from its newest run, or past failed runs from its newest done one, never from an older one)`)
        }
        if (result.heartbeats > 0) {
          yield* Console.log(
            `${o.dryRun ? "would remove" : "removed"} ${result.heartbeats} heartbeat${result.heartbeats === 1 ? "" : "s"} of processes gone for over a day ` +
              `(killed: their beat stood still for longer than a day and 100 leases, and they own no running run)`
          )
        }
        const a = result.artifacts
        if (a !== null && (a.entries > 0 || a.blobs > 0)) {
          yield* Console.log(`${verb} ${a.entries} artifact entr${a.entries === 1 ? "y" : "ies"} and ${a.blobs} blob${a.blobs === 1 ? "" : "s"} nothing else refers to (${counted(a.bytes, "byte")})`)
        }
      }
      if (failed !== undefined) {
        // The runs are deleted; the artifact clean-up is what failed.
        yield* Console.error(`error: ${formatError(failed)}`)
        if (!o.json && result.run_ids.length > 0) yield* Console.error(`the deleted runs (their artifact entries may be left under runs/<run id>/): ${result.run_ids.join(", ")}`)
        yield* setExit(ExitCode.failed)
      }
    }).pipe(traced("stargraph.cli.prune"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Delete runs that ended (done, failed, cancelled) before a cutoff, with their checkpoints and the artifacts nothing else refers to; runs that remaining runs depend on, and each thread's newest run, are kept"))
