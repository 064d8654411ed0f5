/**
 * `stargraph update-state <run_id> --set field=value … [--values '{…}'] [--as-node n]`:
 * edit the state of a stopped run (paused, at a breakpoint, awaiting input) in place,
 * LangGraph's `update_state` (see `graph/updateState.ts`). `--set` values are typed by the
 * field's declared type as `--inputs` values are; `--values` is a JSON object of fields.
 * They are one write, through each field's reducer, committed as a step of its own
 * (`__update__`); the run still waits where it stopped, and `stargraph resume` (or
 * `respond`) continues it. Prints the step and the written fields, then the command that
 * continues the run, then the final `run_id=<id> status=<status>` line; exit 0. A run
 * that is not stopped, or values the state schema refuses, exit 2 with nothing written.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { CheckpointError, InputError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { chooseDatabase, hintDb } from "./database.js"
import { reportError } from "./exit.js"
import { auditLog, dbExisting, graphFile, graphOptions, json, moduleRoot, runIdArg } from "./options.js"

/** The `update-state` command. */
export const updateState = Command.make(
  "update-state",
  {
    runId: runIdArg,
    set: Options.text("set").pipe(
      Options.withAlias("s"),
      Options.repeated,
      // Optional (zero is fine): shown as [--flag text...] in --help.
      Options.withDefault([] as Array<string>),
      Options.withDescription("a field to write: field=value, typed by the field's declared type as --inputs values are, or a JSON object (repeatable) (default: none; --set or --values names at least one field)")
    ),
    values: Options.text("values").pipe(
      Options.optional,
      Options.withDescription("the fields to write as one JSON object, e.g. '{\"draft\": \"…\"}' (default: none)")
    ),
    asNode: Options.text("as-node").pipe(
      Options.optional,
      Options.withDescription("a node of the graph the write is attributed to in the step's writes; where the run goes on does not change (default: __update__)")
    ),
    actor: Options.text("actor").pipe(
      Options.withDefault("cli"),
      Options.withDescription("who edits: recorded with the edit step and in the audit log (default: cli)")
    ),
    db: dbExisting,
    graph: graphFile("check the values against"),
    moduleRoot,
    auditLog,
    json: json("the edit (`{run_id, status, step, node, state, delta, waiting}`, the body of POST /v1/runs/{id}/state)")
  },
  (o) =>
    Effect.gen(function*() {
      const db = yield* chooseDatabase(o.db)
      const [Graph, inputs, stores, { toSummary }, { dbOption, finalLine, formatDelta, waitingLines }] = yield* Effect.promise(() =>
        Promise.all([
          import("../graph/Graph.js"),
          import("./inputs.js"),
          import("./stores.js"),
          import("../checkpoint/models.js"),
          import("./render.js")
        ])
      )
      yield* Effect.gen(function*() {
        const record = yield* stores.getRun(o.runId, db.location)
        const file = Option.getOrElse(o.graph, () => record.graph_source ?? "")
        if (file === "") {
          return yield* new CheckpointError({ reason: "unknown-run", runId: o.runId, message: `run ${o.runId} has no recorded graph file; pass --graph path/to/graph.yaml` })
        }
        const g = yield* Graph.load(file, yield* graphOptions(o.moduleRoot))
        const set = yield* inputs.parseInputs(o.set, g.state.fields, "--set")
        if (Option.isSome(o.values) && !o.values.value.trim().startsWith("{")) {
          return yield* new InputError({ field: "--values", message: "takes a JSON object of state fields", fix: "pass --values '{\"field\": value}', or --set field=value" })
        }
        const given = Option.isNone(o.values) ? {} : yield* inputs.parseInputs([o.values.value], g.state.fields, "--values")
        const twice = Object.keys(given).find((k) => Object.hasOwn(set, k))
        if (twice !== undefined) {
          return yield* new InputError({ field: `--values ${twice}`, message: `'${twice}' is given by --set and --values`, fix: `give '${twice}' once` })
        }
        const values = { ...set, ...given }
        if (Object.keys(values).length === 0) {
          return yield* new InputError({ field: "--set", message: "names no field to write", fix: "pass --set field=value (repeatable) or --values '{\"field\": value}'" })
        }
        const edit = yield* g.updateState(o.runId, values, {
          actor: o.actor,
          asNode: Option.getOrUndefined(o.asNode),
          fields: { values: "--set", asNode: "--as-node" }
        })
        if (o.json) return yield* Console.log(JSON.stringify(edit, null, 2))
        yield* Console.log(`step ${edit.step}  ${edit.node === "__update__" ? "__update__" : `__update__ (as ${edit.node})`}  ${formatDelta(edit.delta)}`)
        const after = yield* stores.getRun(o.runId, db.location)
        const hint = hintDb(db)
        const lines = after.status === "paused"
          ? [`run ${o.runId} is paused`, `  continue with: stargraph resume ${o.runId}${dbOption(hint)}`]
          : waitingLines(toSummary(after, edit.state), hint, after.live_after_fork)
        for (const line of lines) yield* Console.error(line)
        yield* Console.log(finalLine(edit))
      }).pipe(Effect.provide(stores.storeLayer(db, { create: false, auditLog: o.auditLog })))
    }).pipe(traced("stargraph.cli.update-state"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Edit the state of a stopped run (paused, at a breakpoint, awaiting input) in place: one write through each field's reducer, as a step of its own; resume continues it from where it stopped"))
