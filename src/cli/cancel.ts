/**
 * `stargraph cancel <run_id>`: mark a stopped run (pending, paused, awaiting input, or
 * left `running` by a process that died) `cancelled`. A paused (or orphaned) run is
 * cancelled by the run loop: reopened with its graph, asked to cancel, and started, so
 * the loop records `cancelled` (and emits `run.cancelled` to the audit log) before running
 * any step. A run awaiting input (which reopens only with an answer), or one whose graph
 * changed since (or is gone), is cancelled on its record directly (atomically, from the
 * status and owner read; a child run it waits for is cancelled with it) and
 * `run.cancelled` is written to the audit log. A run executing in a live process that
 * beats (of this host or another) is cancelled by that process: asked through the run's
 * record (`Checkpointer.requestCancel`), it cancels the run itself, and this command waits
 * for it; an owner of another host whose lease is seen to lapse meanwhile is taken over
 * and its run cancelled here. A live process without a heartbeat is refused (stop it
 * there, or `--take-over` one of another host that is gone); so is a run that already ended.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { HeartbeatRecord } from "../checkpoint/Checkpointer.js"
import { InputError, RunStateError } from "../errors.js"
import { chooseDatabase, hintDb } from "./database.js"
import { ExitCode, reportError, setExit } from "./exit.js"
import { parseUpToAnHour, secondsText } from "./lease.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { auditLog, dbExisting, graphFile, graphOptions, moduleRoot, runIdArg } from "./options.js"

/** How long, at least, `cancel` waits for a live process it asked to cancel a run, unless told (`--wait`): 60 s (longer for a lease that needs it to lapse). */
const ASK_WAIT_MS = 60_000

/** `--wait`'s text as milliseconds, or an `InputError` naming the flag: a number with a unit, 0 to one hour. */
export const parseCancelWait = (text: string): Effect.Effect<number, InputError> =>
  parseUpToAnHour("--wait", text, "500ms, 30s, 5m", "60s, or longer for a lease that needs it to lapse")

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
      Options.withDescription(
        "cancel a run left running by a process on another host or container that is gone, without asking it or watching its heartbeat " +
          "(needed for one that has none; default: off: a process that beats is asked to cancel the run, and taken over once its lease lapses)"
      )
    ),
    wait: Options.text("wait").pipe(
      Options.optional,
      Options.withDescription(
        "how long to wait for a live process asked to cancel the run to stop it, with a unit: 500ms, 30s, 5m (0ms to 1h); " +
          "past it the cancel is refused (exit 2) and the request stands (default: 60s, or the owner's lease and a third and 10s if longer)"
      )
    )
  },
  (o) =>
    Effect.gen(function*() {
      // Checked before the database is opened.
      const waitFlagMs = Option.isSome(o.wait) ? yield* parseCancelWait(o.wait.value) : undefined
      const db = yield* chooseDatabase(o.db)
      const [Graph, { Checkpointer }, { TERMINAL_STATUSES }, owners, leases, { cancelStopped, subgraphIndex }, stores, { dbOption, finalLine }, { AuditSink }, { cancelWaitedChild, parentWaitingOn }] = yield* Effect.promise(() =>
        Promise.all([
          import("../graph/Graph.js"),
          import("../checkpoint/Checkpointer.js"),
          import("../checkpoint/models.js"),
          import("../runtime/owner.js"),
          import("../runtime/leases.js"),
          import("../runtime/cancelStopped.js"),
          import("./stores.js"),
          import("./render.js"),
          import("../telemetry/AuditSink.js"),
          import("../runtime/waitingParent.js")
        ])
      )
      const { ownerAlive, ownerElsewhere, ownerGone } = owners
      yield* Effect.gen(function*() {
        let record = yield* stores.getRun(o.runId, db.location)
        const refuse = (message: string) => new RunStateError({ runId: o.runId, status: record.status, operation: "cancel", message })
        if (TERMINAL_STATUSES.has(record.status)) {
          return yield* refuse(`run ${o.runId} is already ${record.status}; nothing to cancel`)
        }
        const checkpointer = yield* Checkpointer
        // A child run its parent waits on goes only with its parent.
        const waitingParent = yield* parentWaitingOn(checkpointer, record)
        if (waitingParent !== undefined) {
          return yield* refuse(cancelWaitedChild(record, waitingParent, `stargraph cancel ${waitingParent.run_id}${dbOption(hintDb(db))}`))
        }
        /**
         * The run executes in live process `owner`, which beats (`heartbeat`): ask it through
         * the run's record, and wait until it let the run go (cancelled, or stopped some other
         * way), or until it is seen gone: of another host, its lease lapsed as watched from
         * here; of this host, its pid. Returns the record as last read.
         */
        const askOwner = (owner: string, heartbeat: HeartbeatRecord, request: NonNullable<typeof checkpointer.requestCancel>) =>
          Effect.gen(function*() {
            if (!(yield* request(o.runId, owner))) return yield* stores.getRun(o.runId, db.location)
            const elsewhere = ownerElsewhere(owner)
            yield* Console.error(
              `run ${o.runId} is executing in process ${owner}${elsewhere ? " on another host" : ""}: asked it to cancel the run through its record; ` +
                `waiting for it to stop${elsewhere ? " (or for its lease to lapse: then the run is taken over here)" : ""}`
            )
            if (elsewhere) leases.observeHeartbeats([owner], [heartbeat])
            // Told (`--wait`): that long, lease or not; else 60 s, or long enough to see the owner's lease lapse.
            const waitMs = waitFlagMs ?? Math.max(ASK_WAIT_MS, heartbeat.lease_ms + leases.leaseGraceMs(heartbeat.lease_ms) + 10_000)
            const deadline = Date.now() + waitMs
            for (;;) {
              yield* leases.wallClockSleep(200)
              const now = yield* stores.getRun(o.runId, db.location)
              if (now.status !== "running" || now.owner !== owner) return now
              if (elsewhere && checkpointer.heartbeats !== undefined) {
                leases.observeHeartbeats([owner], yield* checkpointer.heartbeats([owner]))
                if (leases.leaseLapsed(owner)) {
                  yield* Console.error(`its lease lapsed: taking the run over`)
                  return now
                }
              }
              if (!elsewhere && !ownerAlive(owner)) return now
              if (Date.now() >= deadline) {
                return yield* refuse(
                  `run ${o.runId} was asked to cancel, but process ${owner} has not stopped it within ${secondsText(waitMs)} ` +
                    `(its node may be slow to stop); the request stands: the process cancels the run when it reads it, and nothing of the run was changed here. ` +
                    `Fix: read the run again later (stargraph inspect ${o.runId}), wait longer (stargraph cancel ${o.runId} --wait 5m), ` +
                    (elsewhere
                      ? `or, if that host or container is gone for good, stargraph cancel ${o.runId} --take-over`
                      : `or stop process ${owner.split(":")[1]} and cancel again (a run whose process is gone is cancelled here)`)
                )
              }
            }
          })
        if (record.status === "running" && record.owner !== null && !ownerGone(record.owner, o.takeOver)) {
          const owner = record.owner
          if (record.parent_run_id !== null && record.derived_hash === null) {
            return yield* refuse(
              `run ${o.runId} is a subgraph's child run, executing in process ${owner} as a step of its parent run ${record.parent_run_id}; ` +
                `cancel the parent (stargraph cancel ${record.parent_run_id}): its child runs are cancelled with it`
            )
          }
          const heartbeat = checkpointer.heartbeats === undefined ? undefined : (yield* checkpointer.heartbeats([owner]))[0]
          if (heartbeat === undefined || checkpointer.requestCancel === undefined) {
            return yield* refuse(
              ownerElsewhere(owner)
                ? `run ${o.runId} is executing in process ${owner} on another host or container, which cannot be checked from here ` +
                  `(it has no heartbeat: an older Stargraph, or a process that does not beat, so it cannot be asked to cancel the run); ` +
                  `stop it there, or, if that host or container is gone, cancel with --take-over`
                : `run ${o.runId} is executing in live process ${owner}; stop it there (Ctrl-C in its terminal pauses it, ` +
                  `a second Ctrl-C cancels it; a server cancels it with POST /v1/runs/${o.runId}/cancel): it has no heartbeat, so it cannot be asked through the run's record`
            )
          }
          record = yield* askOwner(owner, heartbeat, checkpointer.requestCancel)
          // The owner cancelled it as asked (its loop recorded it, and its audit log has run.cancelled).
          if (record.status === "cancelled") {
            yield* Console.log(finalLine({ run_id: o.runId, status: "cancelled" }))
            return yield* setExit(ExitCode.done)
          }
          if (TERMINAL_STATUSES.has(record.status)) {
            return yield* refuse(`run ${o.runId} ended ${record.status} before it could be cancelled; nothing to cancel`)
          }
          // Stopped some other way (paused, waiting), or its owner is gone: cancelled as a stopped run below.
          if (record.status === "running" && record.owner !== null && !ownerGone(record.owner, o.takeOver)) {
            return yield* refuse(`run ${o.runId} changed while it was being cancelled (now driven by ${record.owner}); try again`)
          }
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
          const cancelled = yield* cancelStopped(checkpointer, record, at, sameGraph ? subgraphIndex(g.right) : undefined)
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
).pipe(Command.withDescription("Cancel a run: a stopped one (pending, paused or awaiting input) here; one executing in a live process by asking that process through the run's record (taken over if its lease lapses); a run that ended is refused"))
