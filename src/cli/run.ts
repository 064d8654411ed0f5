/**
 * `stargraph run <graph.yaml>`: start a run through the manual trigger (the same
 * `Scheduler.enqueue` path as `POST /v1/runs`) and drive it here, printing each step as
 * it completes; Ctrl-C pauses it (twice: cancels it). The modules that load, run and
 * store graphs are imported when the command runs, not when the CLI starts.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { ExitCode, reportError, setExit } from "./exit.js"
import { traced } from "../telemetry/TracingEnabled.js"
import * as Interrupt from "./interrupt.js"
import { chooseDatabase } from "./database.js"
import { leaseOption, parseLease } from "./lease.js"
import { lmDefaultLayer, lmOptions, NO_MODEL_FIX } from "./lmDefault.js"
import { auditLog, conflictingOutput, dbCreating, graphArg, graphOptions, moduleRoot, nonInteractive, noSummary, quiet, summaryJson, verbose } from "./options.js"


/** The `run` command. */
export const run = Command.make(
  "run",
  {
    graph: graphArg,
    inputs: Options.text("inputs").pipe(
      Options.withAlias("i"),
      Options.repeated,
      // Optional (zero is fine): shown as [--flag text...] in --help.
      Options.withDefault([] as Array<string>),
      Options.withDescription("initial state: field=value (repeatable) or a JSON object (default: none; the state schema's defaults apply)")
    ),
    db: dbCreating,
    auditLog,
    noSummary,
    quiet,
    summaryJson,
    verbose,
    nonInteractive,
    moduleRoot,
    thread: Options.text("thread").pipe(
      Options.optional,
      Options.withDescription("run on this thread: after its first run, start from the state the thread's last run finished with, the --inputs applied through each field's reducer (default: a run of its own)")
    ),
    skipFailed: Options.boolean("skip-failed").pipe(
      Options.withDescription("with --thread: pass over the thread's newest failed or cancelled runs and continue from the newest done run before them (none: start as the thread's first run); an unfinished or error run still refuses the start (default: off: such a thread refuses it)")
    ),
    idempotencyKey: Options.text("idempotency-key").pipe(
      Options.optional,
      Options.withDescription("return the run already started with this key instead of starting another (default: none)")
    ),
    interruptBefore: Options.text("interrupt-before").pipe(
      Options.optional,
      Options.withDescription("pause the run before these nodes run: node ids, comma-separated, or '*' for every node; `stargraph resume <run_id>` continues it (default: none)")
    ),
    interruptAfter: Options.text("interrupt-after").pipe(
      Options.optional,
      Options.withDescription("pause the run after these nodes' step is committed: node ids, comma-separated, or '*' for every node (default: none)")
    ),
    lease: leaseOption,
    ...lmOptions,
    inspect: Options.boolean("inspect").pipe(
      Options.withAlias("dry-run"),
      Options.withDescription("dry run: print the rule trace from the entry without executing nodes or writing anything (the state is the inputs over zero values) (default: off)")
    )
  },
  (o) =>
    Effect.scoped(Effect.gen(function*() {
      const conflict = conflictingOutput(o)
      if (conflict !== undefined) return yield* conflict
      const leaseMs = yield* parseLease(o.lease)
      // Flags that name a server are checked before anything else; the graph's lm block, once it is loaded.
      const flagModel = Option.isSome(o.lmUrl) || Option.isSome(o.lmModel) ? yield* lmDefaultLayer(o) : undefined
      const interrupts = yield* Interrupt.install
      const [Graph, GraphRegistry, Scheduler, TriggerHost, inputs, stores, follow, Progress, { STOPPED_STATUSES }, { OWNER }, { ownerAlive }, { checkClientKey }, bp, threads, { Checkpointer }, { checkModels }] = yield* Effect.promise(() =>
        Promise.all([
          import("../graph/Graph.js"),
          import("../scheduler/GraphRegistry.js"),
          import("../scheduler/Scheduler.js"),
          import("../triggers/TriggerHost.js"),
          import("./inputs.js"),
          import("./stores.js"),
          import("./follow.js"),
          import("./progress.js"),
          import("../checkpoint/models.js"),
          import("../runtime/RunLoop.js"),
          import("../runtime/owner.js"),
          import("../triggers/TriggerEvent.js"),
          import("../runtime/breakpoints.js"),
          import("../graph/threads.js"),
          import("../checkpoint/Checkpointer.js"),
          import("../nodes/lm/modelCheck.js")
        ])
      )
      const key = yield* checkClientKey(Option.getOrUndefined(o.idempotencyKey), "--idempotency-key")
      const threadId = Option.isSome(o.thread) ? yield* threads.checkThreadId(o.thread.value, "--thread") : undefined
      const skipFailed = yield* threads.checkSkipFailed(o.skipFailed, threadId, "--skip-failed", "--thread")
      const g = yield* Graph.load(o.graph, yield* graphOptions(o.moduleRoot))
      const defaultModel = flagModel !== undefined && g.lm === undefined ? flagModel : yield* lmDefaultLayer(o, g.lm)
      const db = yield* chooseDatabase(o.db, { store: g.ir.checkpoints?.store, file: o.graph })
      // The original's flat state_schema: fields not given start at their zero value, as in its CLI.
      const given = yield* inputs.parseInputs(o.inputs, g.state.fields)
      const zeros = inputs.flatZeroInputs(g.ir.state_schema, g.ir.state_class)
      let parsed = { ...zeros, ...given }
      // Breakpoints are checked against the graph's nodes before the database is opened.
      const breakpoints = {
        interruptBefore: Option.getOrUndefined(Option.map(o.interruptBefore, bp.parseNodeList)),
        interruptAfter: Option.getOrUndefined(Option.map(o.interruptAfter, bp.parseNodeList)),
        breakpointFields: { before: "--interrupt-before", after: "--interrupt-after" }
      }
      const resolved = yield* bp.resolveBreakpoints({ before: breakpoints.interruptBefore, after: breakpoints.interruptAfter }, g.topology.nodes.keys(), breakpoints.breakpointFields)
      if (o.inspect) {
        const [{ dryRun, fixtureState }, { traceLines }] = yield* Effect.promise(() => Promise.all([import("../runtime/dryRun.js"), import("./rules.js")]))
        const trace = yield* dryRun(g, fixtureState(g, parsed), undefined, resolved)
        for (const line of traceLines(g.graphHash, trace)) yield* Console.log(line)
        // Inputs `run` would refuse (a required field missing): said as `run` says it, exit 2.
        // A thread's later run starts from its carried state, which a dry run does not read.
        const refused = threadId === undefined ? Either.getLeft(g.initialState(parsed)) : Option.none()
        if (Option.isSome(refused)) yield* reportError(refused.value)
        return
      }
      // Inputs that do not fit the state schema are refused before the database is opened
      // (or created). A thread's later run applies them to its carried state: checked there.
      if (threadId === undefined) {
        const refused = Either.getLeft(g.initialState(parsed))
        if (Option.isSome(refused)) return yield* refused.value
      }
      // A live language-model node without a model would fail only when it runs, after the
      // steps before it: refused now, before the database is opened and the run created. A
      // node the run pauses before (--interrupt-before) can get one on resume.
      const reached = new Map([...g.nodes].filter(([id]) => !bp.names(resolved?.before, id)))
      yield* checkModels(reached, NO_MODEL_FIX).pipe(Effect.provide(defaultModel))
      if (interrupts.count() > 0) {
        yield* Console.error("interrupted before the run started; nothing was written")
        return yield* setExit(ExitCode.interrupted)
      }
      // The CLI converges with POST /v1/runs: ManualTrigger.enqueue → Scheduler.enqueue →
      // pending row → the run executes here. It does not pick up other processes' queue.
      yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        const { manual } = yield* TriggerHost.start()
        // A thread's later run: the zero values are not inputs (they would replace the carried state).
        // With --skip-failed the run continues a done run, when the thread has one, else it is the thread's first.
        const checkpointer = yield* Checkpointer
        // A retry (its key taken) sends the inputs its run was started with: that run's
        // continuing or not decides, not the thread it may have moved on since.
        const retried = threadId === undefined || key === undefined ? undefined : Option.getOrUndefined(yield* checkpointer.findByIdempotencyKey(key))
        const continues = threadId === undefined
          ? false
          : retried !== undefined
          ? retried.continued_from !== null
          : skipFailed
          ? (yield* checkpointer.listRuns({ thread_id: threadId, status: "done", limit: 1 })).runs.length > 0
          : Option.isSome(yield* threads.newestRun(checkpointer, threadId))
        if (continues) parsed = given
        const enqueued = yield* manual.enqueue(g.id, parsed, key, "cli", { ...breakpoints, threadId, skipFailed })
        if (enqueued.skipped !== undefined && !o.quiet) {
          const from = Option.getOrUndefined(yield* checkpointer.getRun(enqueued.runId))?.continued_from ?? null
          yield* Console.error(
            `thread ${threadId}: passed over ${enqueued.skipped.map((r) => `${r.run_id} (${r.status})`).join(", ")}; ` +
              (from === null ? "no done run before them: the run starts as the thread's first" : `continuing from ${from}`)
          )
        }
        // A deduplicated run that already stopped did no work here: no step lines for it.
        const stopped = enqueued.deduplicated && STOPPED_STATUSES.has(enqueued.status)
        const silent = o.quiet || stopped
        // Even with --quiet: a script must be able to tell a deduplicated run (the note is on stderr).
        if (enqueued.deduplicated) {
          // Say what happens unless this process simply drives the run (the Scheduler adopts
          // a queued run, or one whose process died).
          const owner = stopped ? null : (yield* stores.getRun(enqueued.runId, db.location)).owner
          const elsewhere = owner !== null && owner !== OWNER && ownerAlive(owner)
          if (stopped) {
            yield* Console.error(`idempotency key '${key}' already belongs to run ${enqueued.runId} (${enqueued.status}): no new run was started`)
          } else if (elsewhere) {
            yield* Console.error(`idempotency key '${key}' already belongs to run ${enqueued.runId}, running in process ${owner}: following it`)
          }
        }
        const progress = Progress.make({ nodeIds: g.topology.nodes.keys(), silent, verbose: o.verbose })
        yield* follow.follow({
          runId: enqueued.runId,
          handle: follow.awaitHandle(() => scheduler.live(enqueued.runId), Deferred.isDone(enqueued.summary)),
          stopped: Effect.either(Deferred.await(enqueued.summary)),
          interrupts,
          progress,
          db
        })
        yield* follow.report(enqueued.runId, { ...o, db, progress, interrupted: interrupts.count() > 0 })
      }).pipe(
        Effect.scoped,
        Effect.provide(Scheduler.layer({ pickUpPending: false, pollIntervalMs: 200, abortGraceMs: Interrupt.CLI_ABORT_GRACE_MS })),
        Effect.provide(GraphRegistry.layer([g])),
        Effect.provide(stores.storeLayer(db, { create: true, auditLog: o.auditLog, leaseMs })),
        Effect.provide(defaultModel)
      )
    })).pipe(traced("stargraph.cli.run"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Run a graph to completion, checkpointing and printing every step; Ctrl-C pauses it (resumable), a second Ctrl-C cancels it"))
