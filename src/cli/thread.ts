/**
 * `stargraph thread <thread_id>`: a thread's runs, newest first, and the state its newest
 * `done` run finished with (what the thread's next run starts from); a table and the
 * state, or `{thread_id, runs, state, state_run_id, next_cursor}` as JSON (the body of
 * `GET /v1/threads/{id}`). An unknown thread is `ThreadError[unknown-thread]`, exit 2.
 */
import { Args, Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InputError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { chooseDatabase, hintDb } from "./database.js"
import { reportError } from "./exit.js"
import { dbExisting, integer, json } from "./options.js"

/** The `thread` command. */
export const thread = Command.make(
  "thread",
  {
    threadId: Args.text({ name: "thread_id" }).pipe(Args.withDescription("the thread's id, as given to `stargraph run --thread`")),
    db: dbExisting,
    limit: integer("limit").pipe(Options.withDefault(50), Options.withDescription("runs per page, 1 to 500 (default: 50)")),
    cursor: Options.text("cursor").pipe(Options.optional, Options.withDescription("continue after a previous page: its next_cursor (default: the newest runs)")),
    json: json("`{thread_id, runs, state, state_run_id, next_cursor}`")
  },
  (o) =>
    Effect.gen(function*() {
      if (!Number.isInteger(o.limit) || o.limit < 1 || o.limit > 500) {
        return yield* new InputError({ field: "--limit", message: `${o.limit} is out of range`, fix: "pass a number from 1 to 500" })
      }
      const db = yield* chooseDatabase(o.db)
      const [{ threadView }, stores, { dbOption, shellQuote }] = yield* Effect.promise(() =>
        Promise.all([import("../graph/threads.js"), import("./stores.js"), import("./render.js")])
      )
      const view = yield* threadView(o.threadId, { limit: o.limit, cursor: Option.getOrUndefined(o.cursor) }, "<thread_id>").pipe(
        Effect.mapError((e) =>
          e._tag === "CheckpointError" && e.reason === "invalid-cursor"
            ? new InputError({ field: "--cursor", message: e.message, fix: "pass the next_cursor printed by a previous `stargraph thread`, or list again from the first page (no --cursor)" })
            : e
        ),
        Effect.provide(stores.storeLayer(db, { create: false, readOnly: true }))
      )
      if (o.json) {
        yield* Console.log(JSON.stringify(view, null, 2))
        return
      }
      const rows = view.runs.map((r) => [r.run_id, r.status, String(r.steps), r.created_at, r.continued_from ?? "-", JSON.stringify(r.inputs)])
      const header = ["RUN_ID", "STATUS", "STEPS", "CREATED", "CONTINUED_FROM", "INPUTS"]
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
      const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")
      yield* Console.log(`thread ${view.thread_id} (graph ${view.runs[0]?.graph_id ?? "-"})`)
      yield* Console.log(line(header))
      for (const row of rows) yield* Console.log(line(row))
      yield* Console.log(view.state === null
        ? "state: none yet (no run of the thread is done)"
        : `state (after ${view.state_run_id}):\n${JSON.stringify(view.state, null, 2)}`)
      if (view.next_cursor !== null) {
        yield* Console.error(`more: stargraph thread ${shellQuote(o.threadId)} ${dbOption(hintDb(db))} --cursor ${view.next_cursor}`)
      }
    }).pipe(traced("stargraph.cli.thread"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Show a thread: its runs, newest first, and the state its next run starts from (the database must exist)"))
