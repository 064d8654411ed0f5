/**
 * `stargraph cancel <run_id>`: mark a stopped run (pending, paused, awaiting input, or
 * left `running` by a process that died) `cancelled`. The transition is the run loop's:
 * the run is reopened with its graph, asked to cancel, and started, so the loop records
 * `cancelled` (and emits `run.cancelled` to the audit log) before running any step. When
 * its graph changed since (or is gone), the record is changed directly (atomically, from
 * the status and owner read) and `run.cancelled` is written to the audit log. A run
 * executing in a live process is refused (stop it there: Ctrl-C pauses it, a second
 * Ctrl-C cancels it; a server cancels through `POST /v1/runs/{id}/cancel`); so is a run
 * that already ended.
 */
import { Command } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { InputError, RunStateError } from "../errors.js"
import { ExitCode, reportError, setExit } from "./exit.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { auditLog, dbExisting, graphFile, runIdArg } from "./options.js"

/** The `cancel` command. */
export const cancel = Command.make(
  "cancel",
  {
    runId: runIdArg,
    db: dbExisting,
    graph: graphFile("reopen the run"),
    auditLog
  },
  (o) =>
    Effect.gen(function*() {
      const [Graph, { Checkpointer }, { TERMINAL_STATUSES }, { ownerAlive }, stores, { finalLine }, { AuditSink }] = yield* Effect.promise(() =>
        Promise.all([
          import("../graph/Graph.js"),
          import("../checkpoint/Checkpointer.js"),
          import("../checkpoint/models.js"),
          import("../runtime/owner.js"),
          import("./stores.js"),
          import("./render.js"),
          import("../telemetry/AuditSink.js")
        ])
      )
      yield* Effect.gen(function*() {
        const record = yield* stores.getRun(o.runId, o.db)
        const refuse = (message: string) => new RunStateError({ runId: o.runId, status: record.status, operation: "cancel", message })
        if (TERMINAL_STATUSES.has(record.status)) {
          return yield* refuse(`run ${o.runId} is already ${record.status}; nothing to cancel`)
        }
        if (record.status === "running" && record.owner !== null && ownerAlive(record.owner)) {
          return yield* refuse(
            `run ${o.runId} is executing in live process ${record.owner}; stop it there (Ctrl-C in its terminal pauses it, ` +
              `a second Ctrl-C cancels it; a server cancels it with POST /v1/runs/${o.runId}/cancel)`
          )
        }
        const file = Option.getOrElse(o.graph, () => record.graph_source ?? "")
        if (file === "") {
          return yield* new InputError({ field: "--graph", message: `run ${o.runId} has no recorded graph file`, fix: "pass --graph path/to/graph.yaml" })
        }
        const g = yield* Effect.either(Graph.load(file))
        const sameGraph = Either.isRight(g) && g.right.graphHash === record.graph_hash
        if (!sameGraph) {
          // The graph changed (or is gone) since the run started: cancelling needs no graph,
          // so the record is changed directly, from the status and owner just read.
          const at = new Date().toISOString()
          const done = yield* Effect.flatMap(Checkpointer, (c) => c.takeOver(o.runId, { status: record.status, owner: record.owner }, { status: "cancelled", finished_at: at, owner: null }))
          if (!done) return yield* refuse(`run ${o.runId} changed while it was being cancelled (another process resumed it?); try again`)
          const audit = yield* Effect.serviceOption(AuditSink)
          if (Option.isSome(audit)) yield* audit.value.write({ ts: at, actor: "cli", event: "run.cancelled", run_id: o.runId, step: record.last_step })
          yield* Console.log(finalLine({ run_id: o.runId, status: "cancelled" }))
          return yield* setExit(ExitCode.done)
        }
        const graph = g.right
        // A run awaiting input reopens only with an answer; it is never applied (the loop
        // sees the cancel before the interrupt), so the field's current value serves.
        const waiting = record.status === "awaiting-input" ? record.waiting : null
        const response = waiting === null ? undefined : yield* Effect.map(
          Effect.flatMap(Checkpointer, (c) => c.latestCheckpoint(o.runId)),
          (latest) => ({ value: Option.match(latest, { onNone: () => null, onSome: (c) => c.state[waiting.response_field] ?? null }) })
        )
        const run = yield* graph.resume(o.runId, { actor: "cli", allowRuntimeDrift: true, ...(response ? { response } : {}) }).pipe(
          Effect.mapError((e) =>
            e._tag === "StateValidationError" && waiting !== null
              ? refuse(
                `run ${o.runId} waits for input in field '${waiting.response_field}', which has no value it can be reopened with, ` +
                  `so it cannot be cancelled from here yet; answer it instead: stargraph resume ${o.runId} --db ${o.db} --response '<json>'`
              )
              : e
          )
        )
        yield* run.cancel()
        const summary = yield* run.start()
        yield* Console.log(finalLine(summary))
        yield* setExit(summary.status === "cancelled" ? ExitCode.done : ExitCode.failed)
      }).pipe(Effect.provide(stores.storeLayer(o.db, { create: false, auditLog: o.auditLog })))
    }).pipe(traced("stargraph.cli.cancel"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Cancel a stopped run (pending, paused or awaiting input); a run executing in another live process or already ended is refused"))
