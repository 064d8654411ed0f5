/**
 * `stargraph list`: the runs in a database, newest first, filtered by status, graph and
 * thread, one page at a time (`--limit`, `--cursor`); a table, or `{runs, next_cursor}` as JSON.
 * A running run says how the process that drives it stands (alive, gone, or of another
 * host: its lease lapsed, or no heartbeat), from one read of the heartbeats per page.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InputError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { chooseDatabase, hintDb, shown } from "./database.js"
import { reportError } from "./exit.js"
import { choice, dbExisting, integer, json } from "./options.js"

const STATUSES = ["pending", "running", "paused", "awaiting-input", "done", "cancelled", "error", "failed"] as const

/** Default page size of `list`. */
export const DEFAULT_LIMIT = 20
/** Largest page `list` asks for (the Checkpointer's own cap). */
export const MAX_LIMIT = 500

/** The `list` command. */
export const list = Command.make(
  "list",
  {
    db: dbExisting,
    status: choice("status", STATUSES, "a run status").pipe(
      Options.optional,
      Options.withDescription(`only runs in this status: ${STATUSES.join(", ")} (default: every status)`)
    ),
    graph: Options.text("graph").pipe(Options.optional, Options.withDescription("only runs of this graph id (default: every graph)")),
    thread: Options.text("thread").pipe(
      Options.optional,
      Options.withDescription("only runs of this thread id, as given to `stargraph run --thread` (default: every run, on a thread or not)")
    ),
    limit: integer("limit").pipe(
      Options.withDefault(DEFAULT_LIMIT),
      Options.withDescription(`runs per page, 1 to ${MAX_LIMIT} (default: ${DEFAULT_LIMIT})`)
    ),
    cursor: Options.text("cursor").pipe(
      Options.optional,
      Options.withDescription("continue after a previous page: its next_cursor (default: the newest runs)")
    ),
    json: json("`{runs, next_cursor}`, each run with its `owner_liveness` (null unless running)")
  },
  (o) =>
    Effect.gen(function*() {
      if (!Number.isInteger(o.limit) || o.limit < 1 || o.limit > MAX_LIMIT) {
        return yield* new InputError({ field: "--limit", message: `${o.limit} is out of range`, fix: `pass a number from 1 to ${MAX_LIMIT}` })
      }
      const db = yield* chooseDatabase(o.db)
      const [{ Checkpointer }, stores, { dbOption, shellQuote }, { runsLiveness }, { checkThreadId }] = yield* Effect.promise(() =>
        Promise.all([import("../checkpoint/Checkpointer.js"), import("./stores.js"), import("./render.js"), import("../runtime/owner.js"), import("../graph/threads.js")])
      )
      // A thread id no run can have is refused, not answered with an empty list.
      const threadId = Option.isSome(o.thread) ? yield* checkThreadId(o.thread.value, "--thread") : undefined
      const { page, liveness } = yield* Effect.flatMap(Checkpointer, (checkpointer) =>
        Effect.gen(function*() {
          const page = yield* checkpointer.listRuns({
            status: Option.getOrUndefined(o.status),
            graph_id: Option.getOrUndefined(o.graph),
            thread_id: threadId,
            limit: o.limit,
            cursor: Option.getOrUndefined(o.cursor)
          })
          // How the owner of each running run stands: one read of the heartbeats for the page.
          return { page, liveness: yield* runsLiveness(checkpointer, page.runs) }
        })).pipe(
          Effect.mapError((e) =>
            e.reason === "invalid-cursor"
              ? new InputError({ field: "--cursor", message: e.message, fix: "pass the next_cursor printed by a previous `stargraph list`, or list again from the first page (no --cursor)" })
              : e
          ),
          Effect.provide(stores.storeLayer(db, { create: false, readOnly: true }))
        )
      if (o.json) {
        const runs = page.runs.map((r) => ({ ...r, owner_liveness: liveness.get(r.run_id) ?? null }))
        yield* Console.log(JSON.stringify({ runs, next_cursor: page.next_cursor }, null, 2))
        return
      }
      if (page.runs.length === 0) {
        yield* Console.error(o.cursor._tag === "Some" ? "no more runs" : `no runs${o.status._tag === "Some" || o.graph._tag === "Some" || threadId !== undefined ? " match" : ` in ${shown(db.location)}`}`)
        return
      }
      // A running run says how its owner stands: one that died (it waits for a resume or a
      // server), or one of another host, alive by its heartbeat, lapsed (a server adopts
      // it), or without a heartbeat.
      const statusOf = (r: (typeof page.runs)[number]) => {
        const owner = liveness.get(r.run_id)
        if (owner === undefined) return r.status
        if (!owner.another_host) return owner.state === "gone" ? "running (owner gone)" : r.status
        return `running (another host: ${owner.state === "lapsed" ? "lease lapsed" : owner.state === "no-heartbeat" ? "no heartbeat" : owner.state === "not-checked" ? "not checked" : "alive"})`
      }
      const rows = page.runs.map((r) => [r.run_id, r.graph_id, statusOf(r), String(r.last_step), r.created_at, r.finished_at ?? "-"])
      const header = ["RUN_ID", "GRAPH", "STATUS", "STEPS", "CREATED", "FINISHED"]
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
      const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")
      yield* Console.log(line(header))
      for (const row of rows) yield* Console.log(line(row))
      if (page.next_cursor !== null) {
        const filters = [
          ...(o.status._tag === "Some" ? [`--status ${o.status.value}`] : []),
          ...(o.graph._tag === "Some" ? [`--graph ${shellQuote(o.graph.value)}`] : []),
          ...(threadId !== undefined ? [`--thread ${shellQuote(threadId)}`] : []),
          ...(o.limit !== DEFAULT_LIMIT ? [`--limit ${o.limit}`] : [])
        ]
        yield* Console.error(`more: stargraph list${dbOption(hintDb(db))}${filters.map((f) => ` ${f}`).join("")} --cursor ${page.next_cursor}`)
      }
    }).pipe(traced("stargraph.cli.list"), Effect.catchAll(reportError))
).pipe(Command.withDescription("List runs, newest first, filtered by status, graph or thread, with cursor pagination (the database must exist)"))
