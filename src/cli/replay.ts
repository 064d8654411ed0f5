/**
 * `stargraph replay <run_id>`: fork a counterfactual run from a persisted run, replaying
 * its recorded calls: print the fork's id, each step as it completes (as `run` does), the
 * RunDiff with `--diff`, and the final `run_id=… status=…` line (with a waiting fork's
 * question and the command that answers it on stderr).
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { formatError, InputError } from "../errors.js"
import { chooseDatabase, hintDb } from "./database.js"
import { ExitCode, reportError, setExit } from "./exit.js"
import { dbOption, shellQuote } from "./render.js"
import { NodeAbortGrace } from "../nodes/NodeAbortGrace.js"
import * as Interrupt from "./interrupt.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { leaseOption, parseLease } from "./lease.js"
import { lmDefaultLayer, lmOptions } from "./lmDefault.js"
import { mutationText } from "./mutationArg.js"
import { auditLog, dbExisting, graphFile, graphOptions, integer, moduleRoot, runIdArg } from "./options.js"

const MUTATION_FORMS = `inline JSON, --mutation '{"state_overrides":{"risk":"high"}}', or a YAML or JSON file holding it, --mutation mutation.yaml (or @mutation.yaml)`

/**
 * `--mutation`: inline JSON when it starts with `{` (as `resume --response` takes its
 * answer), else the path of a YAML or JSON file (JSON is YAML), with or without a leading `@`.
 */
const parseMutation = (value: string): Effect.Effect<unknown, InputError> =>
  Effect.flatMap(mutationText(value, "--mutation", `the CounterfactualMutation as ${MUTATION_FORMS}`), ({ inline, source, text }) =>
    inline
      ? Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (e) => new InputError({ field: "--mutation", message: `${source} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, fix: `pass the CounterfactualMutation as ${MUTATION_FORMS}` })
      })
      : Effect.flatMap(Effect.promise(() => import("yaml")), ({ parse }) =>
        Effect.try({
          try: () => parse(text) as unknown,
          catch: (e) =>
            new InputError({
              field: "--mutation",
              message: `${source} is not valid YAML or JSON: ${e instanceof Error ? (e.message.split("\n")[0] ?? "") : String(e)}`,
              fix: `pass the CounterfactualMutation as ${MUTATION_FORMS}`
            })
        })))

/** The `replay` command. */
export const replay = Command.make(
  "replay",
  {
    runId: runIdArg,
    db: dbExisting,
    fromStep: integer("from-step").pipe(
      Options.optional,
      Options.withDescription("fork from the state after this step (default: 0; for a fork, its own fork step)")
    ),
    mutation: Options.text("mutation").pipe(
      Options.optional,
      Options.withDescription("the CounterfactualMutation: inline JSON (a value starting with '{'), or a YAML or JSON file, as its path or @path (default: none, an exact replay)")
    ),
    diff: Options.boolean("diff", { negationNames: ["no-diff"] }).pipe(Options.withDescription("--diff: after the fork's id, print the parent-vs-fork RunDiff as canonical JSON; --no-diff: print only the fork's id (default: --no-diff)")),
    graph: graphFile("fork"),
    moduleRoot,
    liveAfterFork: Options.boolean("live-after-fork").pipe(
      Options.withDescription("answer calls the cassette cannot with live calls instead of failing with ReplayDivergenceError (default: off)")
    ),
    maxSteps: integer("max-steps").pipe(
      Options.optional,
      Options.withDescription("the fork's step budget: it may take at most this many steps after its fork step (replayed and live alike), then fails with StepLimitError, its steps kept; kept for a resume of the fork (default: when the run replayed is a fork with a budget, that budget, counted from the new fork step; else none, only the graph's max_steps)")
    ),
    interruptBefore: Options.text("interrupt-before").pipe(
      Options.optional,
      Options.withDescription("pause the fork before these nodes run: node ids, comma-separated, or '*' (default: none; a fork does not inherit its parent's breakpoints)")
    ),
    interruptAfter: Options.text("interrupt-after").pipe(
      Options.optional,
      Options.withDescription("pause the fork after these nodes' step is committed: node ids, comma-separated, or '*' (default: none)")
    ),
    auditLog,
    lease: leaseOption,
    ...lmOptions,
    quiet: Options.boolean("quiet").pipe(
      Options.withAlias("q"),
      Options.withDescription("print no step lines: only the fork's id, the RunDiff with --diff, and the final `run_id=<id> status=<status>` line (errors and a waiting fork's question still go to stderr) (default: off)")
    )
  },
  (o) =>
    Effect.scoped(Effect.gen(function*() {
      const db = yield* chooseDatabase(o.db)
      const leaseMs = yield* parseLease(o.lease)
      const defaultModel = yield* lmDefaultLayer(o)
      const interrupts = yield* Interrupt.install
      const mutation = yield* Option.match(o.mutation, {
        onNone: () => Effect.succeed(undefined as unknown),
        onSome: parseMutation
      })
      const [Graph, Replay, { renderDiff }, stores, follow, Progress, bp] = yield* Effect.promise(() =>
        Promise.all([
          import("../graph/Graph.js"),
          import("../replay/Replay.js"),
          import("../replay/RunDiff.js"),
          import("./stores.js"),
          import("./follow.js"),
          import("./progress.js"),
          import("../runtime/breakpoints.js")
        ])
      )
      yield* Effect.gen(function*() {
        const parent = yield* stores.getRun(o.runId, db.location)
        const file = Option.getOrElse(o.graph, () => parent.graph_source ?? "")
        if (file === "") {
          return yield* new InputError({ field: "--graph", message: `run ${o.runId} has no recorded graph file`, fix: "pass --graph path/to/graph.yaml" })
        }
        const g = yield* Graph.load(file, yield* graphOptions(o.moduleRoot))
        if (interrupts.count() > 0) {
          yield* Console.error("interrupted before the fork started; nothing was written")
          return yield* setExit(ExitCode.interrupted)
        }
        const started = yield* Replay.start(g, o.runId, {
          fromStep: Option.getOrUndefined(o.fromStep),
          mutation,
          liveAfterFork: o.liveAfterFork,
          actor: "cli",
          interruptBefore: Option.getOrUndefined(Option.map(o.interruptBefore, bp.parseNodeList)),
          interruptAfter: Option.getOrUndefined(Option.map(o.interruptAfter, bp.parseNodeList)),
          breakpointFields: { before: "--interrupt-before", after: "--interrupt-after" },
          maxSteps: Option.getOrUndefined(o.maxSteps),
          maxStepsField: "--max-steps"
        }).pipe(
          // The step is the flag the user typed (`from_step` is its name over HTTP).
          Effect.mapError((e) => (e._tag === "InputError" && e.field === "from_step" ? new InputError({ field: "--from-step", message: e.message, fix: e.fix.replace(/^pass a step/, "pass a --from-step") }) : e))
        )
        // Its id first: a fork stopped part-way (Ctrl-C, a killed process) is resumed by it.
        yield* Console.log(`cf_run_id=${started.cfRunId}`)
        // Ctrl-C pauses the fork after the step in flight, again cancels it, as for `run`.
        const driving = yield* Effect.fork(Effect.either(Effect.provideService(started.run.start(), NodeAbortGrace, Interrupt.CLI_ABORT_GRACE_MS)))
        // Each step as it completes, as `run` prints them (the steps up to the fork step are its parent's).
        const progress = Progress.make({ nodeIds: g.topology.nodes.keys(), silent: o.quiet, verbose: false, fromStep: started.forkStep })
        yield* follow.follow({
          runId: started.cfRunId,
          handle: Effect.succeed(Option.some(started.run)),
          stopped: Fiber.join(driving),
          interrupts,
          progress,
          db
        })
        const result = yield* Effect.flatMap(Fiber.join(driving), started.finish)
        const status = result.summary.status
        const interrupted = interrupts.count() > 0 && (status === "paused" || status === "cancelled")
        // The outcome as `run` prints it without its summary block: the final line (after the
        // RunDiff), the error, a waiting fork's question and the command that answers it.
        yield* follow.report(started.cfRunId, {
          quiet: o.quiet,
          noSummary: true,
          db,
          progress,
          interrupted: false,
          before: o.diff ? [renderDiff(result.diff)] : [],
          error: result.error !== undefined ? formatError(result.error) : undefined
        })
        if (interrupted) {
          // A cancelled fork is replayed again from its parent (the fork's own recording ends where it was cancelled).
          const again = [`${o.runId}${dbOption(hintDb(db))}`, ...Option.match(o.fromStep, { onNone: () => [], onSome: (n) => ["--from-step", String(n)] }), ...Option.match(o.mutation, { onNone: () => [], onSome: (m) => ["--mutation", shellQuote(m)] })]
          const lines = status === "cancelled"
            ? [`interrupted: fork ${started.cfRunId} cancelled at step ${result.summary.steps}; a cancelled run cannot be resumed`, `  replay its parent again with: stargraph replay ${again.join(" ")}`]
            : Interrupt.interruptedLines(started.cfRunId, status, result.summary.steps, hintDb(db))
          for (const line of lines) yield* Console.error(line)
          return yield* setExit(ExitCode.interrupted)
        }
      }).pipe(Effect.provide(stores.storeLayer(db, { create: false, auditLog: o.auditLog, leaseMs })), Effect.provide(defaultModel))
    })).pipe(traced("stargraph.cli.replay"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Fork a counterfactual run from a persisted run, replaying its recorded calls; print the fork's id (cf_run_id=…), and with --diff the RunDiff against its parent"))
