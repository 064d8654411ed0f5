/** `stargraph inspect <run_id>`: a run's step-by-step timeline and its RunSummary. */
import { Command } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { reportError } from "./exit.js"
import { dbExisting, json, runIdArg } from "./options.js"

/** The `inspect` command. */
export const inspect = Command.make(
  "inspect",
  {
    runId: runIdArg,
    db: dbExisting,
    json: json("the RunSummary and its checkpoints")
  },
  ({ db, json, runId }) =>
    Effect.gen(function*() {
      const [{ Checkpointer }, { toSummary }, stores, { timeline }] = yield* Effect.promise(() =>
        Promise.all([
          import("../checkpoint/Checkpointer.js"),
          import("../checkpoint/models.js"),
          import("./stores.js"),
          import("./render.js")
        ])
      )
      yield* Effect.gen(function*() {
        const checkpointer = yield* Checkpointer
        const record = yield* stores.getRun(runId, db)
        const checkpoints = yield* checkpointer.listCheckpoints(runId)
        const summary = toSummary(record, checkpoints[checkpoints.length - 1]?.state ?? {})
        if (json) {
          yield* Console.log(JSON.stringify({ ...summary, checkpoints }, null, 2))
          return
        }
        yield* Console.log(`run ${record.run_id}  graph ${record.graph_id}  status ${record.status}`)
        yield* Console.log(`graph_hash ${record.graph_hash}`)
        yield* Console.log(`runtime_hash ${record.runtime_hash}`)
        yield* Console.log(`created ${record.created_at}  started ${record.started_at ?? "-"}  finished ${record.finished_at ?? "-"}`)
        if (record.parent_run_id) {
          yield* Console.log(`forked from ${record.parent_run_id} at step ${record.fork_step}  derived_hash ${record.derived_hash ?? "-"}`)
          if (record.mutation !== null) yield* Console.log(`mutation ${JSON.stringify(record.mutation)}`)
        }
        yield* Console.log("")
        for (const line of timeline(record, checkpoints)) yield* Console.log(line)
        yield* Console.log("")
        yield* Console.log("RunSummary:")
        yield* Console.log(JSON.stringify(summary, null, 2))
      }).pipe(Effect.provide(stores.storeLayer(db, { create: false })))
    }).pipe(Effect.catchAll(reportError))
).pipe(Command.withDescription("Show a run's step-by-step timeline and its RunSummary (the database must exist)"))
