/**
 * `stargraph cancel <run_id>`: mark a stopped run (pending, paused, awaiting input, or
 * left `running` by a process that died) `cancelled`. A paused (or orphaned) run is
 * cancelled by the run loop: reopened with its graph, asked to cancel, and started, so
 * the loop records `cancelled` (and emits `run.cancelled` to the audit log) before running
 * any step. A run awaiting input (which reopens only with an answer), or one whose graph
 * changed since (or is gone), is cancelled on its record directly (atomically, from the
 * status and owner read; a child run it waits for is cancelled with it) and
 * `run.cancelled` is written to the audit log. A run
 * executing in a live process is refused (stop it there: Ctrl-C pauses it, a second
 * Ctrl-C cancels it; a server cancels through `POST /v1/runs/{id}/cancel`); so is a run
 * that already ended.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { InputError, RunStateError } from "../errors.js"
import { chooseDatabase } from "./database.js"
import { ExitCode, reportError, setExit } from "./exit.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { auditLog, dbExisting, graphFile, graphOptions, moduleRoot, runIdArg } from "./options.js"

/** The `cancel` command. */
export const cancel = Command.make(
  "cancel",
  {
    runId: runIdArg,
    db: dbExisting,
    graph: graphFile("reopen the run"),
    moduleRoot,
    auditLog,
    takeOver: Options.boolean("take-over").pipe(
      Options.withDescription("cancel a run left running by a process on another host or container that is gone (it cannot be checked from here; default: off)")
    )
  },
  (o) =>
    Effect.gen(function*() {
      const db = yield* chooseDatabase(o.db)
      const [Graph, { Checkpointer }, { TERMINAL_STATUSES }, { ownerElsewhere, ownerGone }, { cancelStopped, subgraphIndex }, stores, { finalLine }, { AuditSink }] = yield* Effect.promise(() =>
        Promise.all([
          import("../graph/Graph.js"),
          import("../checkpoint/Checkpointer.js"),
          import("../checkpoint/models.js"),
          import("../runtime/owner.js"),
          import("../runtime/cancelStopped.js"),
          import("./stores.js"),
          import("./render.js"),
          import("../telemetry/AuditSink.js")
        ])
      )
      yield* Effect.gen(function*() {
        const record = yield* stores.getRun(o.runId, db.location)
        const refuse = (message: string) => new RunStateError({ runId: o.runId, status: record.status, operation: "cancel", message })
        if (TERMINAL_STATUSES.has(record.status)) {
          return yield* refuse(`run ${o.runId} is already ${record.status}; nothing to cancel`)
        }
        if (record.status === "running" && !ownerGone(record.owner, o.takeOver)) {
          return yield* refuse(
            ownerElsewhere(record.owner ?? "")
              ? `run ${o.runId} is executing in process ${record.owner} on another host or container, which cannot be checked from here; ` +
                `stop it there, or, if that host or container is gone, cancel with --take-over`
              : `run ${o.runId} is executing in live process ${record.owner}; stop it there (Ctrl-C in its terminal pauses it, ` +
                `a second Ctrl-C cancels it; a server cancels it with POST /v1/runs/${o.runId}/cancel)`
          )
        }
        const file = Option.getOrElse(o.graph, () => record.graph_source ?? "")
        if (file === "") {
          return yield* new InputError({ field: "--graph", message: `run ${o.runId} has no recorded graph file`, fix: "pass --graph path/to/graph.yaml" })
        }
        const g = yield* Effect.either(Graph.load(file, yield* graphOptions(o.moduleRoot)))
        // A graph named on the command line must load (the recorded one may be gone: not needed to cancel).
        if (Either.isLeft(g) && Option.isSome(o.graph)) return yield* g.left
        const sameGraph = Either.isRight(g) && g.right.graphHash === record.graph_hash
        if (!sameGraph || record.status === "awaiting-input" || record.status === "pending") {
          // Waiting for an answer (it reopens only with one) or for its turn in a queue, or
          // its graph changed (or is gone) since it started: cancelling needs no graph, so
          // the record is changed directly, from the status and owner just read (with the
          // child runs it waits for).
          const at = new Date().toISOString()
          const cancelled = yield* Effect.flatMap(Checkpointer, (c) => cancelStopped(c, record, at, sameGraph ? subgraphIndex(g.right) : undefined))
          if (cancelled.length === 0) return yield* refuse(`run ${o.runId} changed while it was being cancelled (another process resumed it?); try again`)
          const audit = yield* Effect.serviceOption(AuditSink)
          if (Option.isSome(audit)) {
            for (const id of cancelled) yield* audit.value.write({ ts: at, actor: "cli", event: "run.cancelled", run_id: id, at, ...(id === o.runId ? { step: record.last_step } : {}) })
          }
          yield* Console.log(finalLine({ run_id: o.runId, status: "cancelled" }))
          return yield* setExit(ExitCode.done)
        }
        const run = yield* g.right.resume(o.runId, { actor: "cli", allowRuntimeDrift: true, takeOver: o.takeOver })
        yield* run.cancel()
        const summary = yield* run.start()
        yield* Console.log(finalLine(summary))
        yield* setExit(summary.status === "cancelled" ? ExitCode.done : ExitCode.failed)
      }).pipe(Effect.provide(stores.storeLayer(db, { create: false, auditLog: o.auditLog })))
    }).pipe(traced("stargraph.cli.cancel"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Cancel a stopped run (pending, paused or awaiting input); a run executing in another live process or already ended is refused"))
