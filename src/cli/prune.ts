/**
 * `stargraph prune`: delete runs that ended before a cutoff (`--before 30d`, or an ISO
 * instant), with their checkpoints, keeping what remaining runs depend on (a fork's parent,
 * a kept parent's subgraph children). `--dry-run` counts without deleting.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { InputError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { reportError } from "./exit.js"
import { dbExisting, json } from "./options.js"

const ENDED = ["done", "failed", "cancelled"] as const

/** Units of a relative `--before`: `30d`, `12h`, `45m`. */
const UNIT_MS: { readonly [unit: string]: number } = { d: 86_400_000, h: 3_600_000, m: 60_000 }

/** `--before` as an ISO instant: an age (`30d`, `12h`, `45m`: that long before `now`) or an ISO date. */
export const cutoffOf = (text: string, now: number): Either.Either<string, InputError> => {
  const age = /^(\d+)([dhm])$/.exec(text.trim())
  if (age !== null) return Either.right(new Date(now - Number(age[1]) * UNIT_MS[age[2]!]!).toISOString())
  const at = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text.trim()) : Number.NaN
  return Number.isNaN(at)
    ? Either.left(new InputError({ field: "--before", message: `'${text}' is neither an age nor a date`, fix: "pass an age such as 30d, 12h or 45m, or an ISO date such as 2026-10-01 or 2026-10-01T00:00:00Z" }))
    : Either.right(new Date(at).toISOString())
}

/** The `prune` command. */
export const prune = Command.make(
  "prune",
  {
    db: dbExisting,
    before: Options.text("before").pipe(
      Options.withDescription("delete runs that finished before this: an age (30d, 12h, 45m) or an ISO date (no default: required)")
    ),
    status: Options.choice("status", ENDED).pipe(
      Options.repeated,
      Options.withDefault([] as Array<(typeof ENDED)[number]>),
      Options.withDescription(`only runs that ended so: ${ENDED.join(", ")}; repeatable (default: all three; error runs are resumable and never pruned)`)
    ),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("count what would be deleted, delete nothing (default: off)")),
    json: json("`{runs, checkpoints, kept, run_ids, before, dry_run}`")
  },
  (o) =>
    Effect.gen(function*() {
      const before = yield* cutoffOf(o.before, Date.now())
      const [Prune, SqliteCheckpointer, stores] = yield* Effect.promise(() =>
        Promise.all([import("../checkpoint/prune.js"), import("../checkpoint/SqliteCheckpointer.js"), import("./stores.js")])
      )
      const result = yield* Prune.prune(o.db, { before, dryRun: o.dryRun, ...(o.status.length > 0 ? { statuses: o.status } : {}) }).pipe(
        Effect.provide(SqliteCheckpointer.layerClient({ filename: o.db, create: false, onMigrate: stores.migrationNotice }))
      )
      if (o.json) {
        yield* Console.log(JSON.stringify({ ...result, before, dry_run: o.dryRun }, null, 2))
        return
      }
      const verb = o.dryRun ? "would delete" : "deleted"
      yield* Console.log(`${verb} ${result.runs} run${result.runs === 1 ? "" : "s"} that finished before ${before} (${result.checkpoints} checkpoints)`)
      if (result.kept > 0) yield* Console.log(`kept ${result.kept} as old that remaining runs depend on (a fork's parent, or a kept parent's subgraph children)`)
    }).pipe(traced("stargraph.cli.prune"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Delete runs that ended (done, failed, cancelled) before a cutoff, with their checkpoints; runs that remaining runs depend on are kept"))
