/**
 * `stargraph resume <run_id>`: continue a stopped run (awaiting input, paused, or left
 * `running` by a process that died) from its last checkpoint in this process, printing
 * each step as it completes; Ctrl-C pauses it again (twice: cancels it). `stargraph
 * respond <run_id> --response …` (the original's command) is the same with an answer.
 * `--response` is JSON, or `@<path>` for a file holding it (the original's form).
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { CheckpointError, InputError, type RunStateError, runStateErrorWith } from "../errors.js"
import { isNotWaitingAt } from "../runtime/waitMoved.js"
import { traced } from "../telemetry/TracingEnabled.js"
import type { AuditLogSpec } from "../telemetry/AuditSink.js"
import { chooseDatabase, type Database, hintDb } from "./database.js"
import { reportError } from "./exit.js"
import { NodeAbortGrace } from "../nodes/NodeAbortGrace.js"
import * as Interrupt from "./interrupt.js"
import { dbOption } from "./render.js"
import { leaseOption, parseLease } from "./lease.js"
import { type LmFlags, lmOptions, NO_MODEL_FIX, resumeDefaultLayer, resumeFlagsLayer, resumeGraphDefaultLayer } from "./lmDefault.js"
import { auditLog, conflictingOutput, dbExisting, graphFile, graphOptions, moduleRoot, noSummary, quiet, runIdArg, summaryJson, verbose } from "./options.js"

/** Options `resume` and `respond` share. */
const common = {
  runId: runIdArg,
  db: dbExisting,
  graph: graphFile("resume"),
  moduleRoot,
  auditLog,
  noSummary,
  quiet,
  summaryJson,
  verbose,
  actor: Options.text("actor").pipe(
    Options.withDefault("cli"),
    Options.withDescription("who answers or resumes: recorded with the answer (its stargraph.evidence fact) and in the audit log (default: cli)")
  ),
  allowRuntimeDrift: Options.boolean("allow-runtime-drift").pipe(
    Options.withDescription("resume even though the Node.js or Stargraph version changed (default: off)")
  ),
  acceptGraphHash: Options.text("accept-graph-hash").pipe(
    Options.optional,
    Options.withDescription("the graph hash the run was started with (sha256:…, as its graph-hash-mismatch error says): continue it under the current graph anyway, e.g. after a Stargraph upgrade hashed the same files differently (default: refuse)")
  ),
  liveAfterFork: Options.boolean("live-after-fork").pipe(
    Options.withDescription("for a counterfactual fork: make live calls where its parent's cassette cannot answer (default: off; refused for a run that is not a fork)")
  ),
  takeOver: Options.boolean("take-over").pipe(
    Options.withDescription(
      "take over a run left running by a process on another host or container that is gone, without watching its heartbeat " +
        "(needed for one that has none: an older Stargraph; default: off, a run whose owner's lease lapsed is taken over after watching it)"
    )
  ),
  waitId: Options.text("wait-id").pipe(
    Options.optional,
    Options.withDescription(
      "with --response: the wait it answers (waiting.wait_id, as the waiting hint and inspect show it); refused, changing nothing, " +
        "when the run waits elsewhere by then (default: whatever it waits at)"
    )
  ),
  lease: leaseOption,
  ...lmOptions
}

/** What `resume` and `respond` are given. */
interface ResumeInput extends LmFlags {
  readonly runId: string
  readonly db: Option.Option<string>
  readonly response: Option.Option<string>
  readonly graph: Option.Option<string>
  readonly moduleRoot: ReadonlyArray<string>
  readonly auditLog: Option.Option<AuditLogSpec>
  readonly noSummary: boolean
  readonly quiet: boolean
  readonly summaryJson: boolean
  readonly verbose: boolean
  readonly actor: string
  readonly allowRuntimeDrift: boolean
  readonly acceptGraphHash: Option.Option<string>
  readonly liveAfterFork: boolean
  readonly takeOver: boolean
  readonly waitId: Option.Option<string>
  readonly lease: string
}

/** Continue the run, printing its steps, then report how it stopped. */
const resumeRun = (o: ResumeInput) =>
  Effect.scoped(Effect.gen(function*() {
    const conflict = conflictingOutput(o)
    if (conflict !== undefined) return yield* conflict
    if (Option.isSome(o.waitId) && Option.isNone(o.response)) {
      return yield* new InputError({ field: "--wait-id", message: "it names the wait an answer is for, and no --response was given", fix: "pass the answer too: --response '<json>'" })
    }
    const db = yield* chooseDatabase(o.db)
    const leaseMs = yield* parseLease(o.lease)
    // Flags that name a server are checked before anything else; the graph's lm block, once it is loaded.
    const flagged = yield* resumeFlagsLayer(o)
    const interrupts = yield* Interrupt.install
    const [Graph, inputs, stores, follow, Progress, owners, leases, { Checkpointer }] = yield* Effect.promise(() =>
      Promise.all([
        import("../graph/Graph.js"),
        import("./inputs.js"),
        import("./stores.js"),
        import("./follow.js"),
        import("./progress.js"),
        import("../runtime/owner.js"),
        import("../runtime/leases.js"),
        import("../checkpoint/Checkpointer.js")
      ])
    )
    const answer = yield* Option.match(o.response, {
      onNone: () => Effect.succeed(undefined),
      onSome: (text) => Effect.map(inputs.parseResponse(text), (value) => ({ value }))
    })
    yield* Effect.gen(function*() {
      const record = yield* stores.getRun(o.runId, db.location)
      const file = Option.getOrElse(o.graph, () => record.graph_source ?? "")
      if (file === "") {
        return yield* new CheckpointError({
          reason: "unknown-run",
          runId: o.runId,
          message: `run ${o.runId} has no recorded graph file; pass --graph path/to/graph.yaml`
        })
      }
      const g = yield* Graph.load(file, yield* graphOptions(o.moduleRoot))
      // The default model: the server the graph's lm block names (with the key the run was
      // started with), else the flags', else the one the run was started with.
      const defaultModel = g.lm !== undefined ? yield* resumeGraphDefaultLayer(o, record, flagged, g.lm) : yield* resumeDefaultLayer(o, record, flagged)
      yield* Effect.gen(function*() {
      const owner = record.owner
      if (record.status === "running" && owner !== null && owner !== owners.OWNER && owners.ownerElsewhere(owner) && !o.takeOver) {
        // Driven on another host: taken over once its heartbeat is seen to stand still past its lease.
        const checkpointer = yield* Checkpointer
        if (checkpointer.heartbeats !== undefined && (yield* checkpointer.heartbeats([owner])).length > 0) {
          yield* Console.error(`run ${o.runId} is driven by ${owner} on another host: watching its heartbeat (up to its lease and a third)`)
          const lease = yield* leases.watchLease(checkpointer, owner)
          if (lease._tag === "Lapsed") yield* Console.error(`its lease lapsed: taking the run over`)
        }
      }
      const run = yield* g.resume(o.runId, {
        actor: o.actor,
        allowRuntimeDrift: o.allowRuntimeDrift,
        acceptGraphHash: Option.getOrUndefined(o.acceptGraphHash),
        liveAfterFork: o.liveAfterFork,
        takeOver: o.takeOver,
        // A live language-model node it would reach without a model (no flags, no lm: block,
        // none on its record) is refused before the run changes.
        noModelFix: NO_MODEL_FIX,
        ...(answer !== undefined ? { response: answer, waitId: Option.getOrUndefined(o.waitId) } : {})
      })
      const progress = Progress.make({ nodeIds: g.topology.nodes.keys(), silent: o.quiet, verbose: o.verbose, fromStep: record.last_step })
      // Subscribed before the run starts; the handle also replays past events to late subscribers.
      const driving = yield* Effect.fork(Effect.either(Effect.provideService(run.start(), NodeAbortGrace, Interrupt.CLI_ABORT_GRACE_MS)))
      yield* follow.follow({
        runId: o.runId,
        handle: Effect.succeed(Option.some(run)),
        stopped: Fiber.join(driving),
        interrupts,
        progress,
        db
      })
      // Refused before it drove a step (another process answered or took the run over first):
      // this process's own error, not the outcome of a drive it did not make.
      const driven = yield* Fiber.join(driving)
      if (Either.isLeft(driven) && driven.left._tag === "RunStateError") return yield* driven.left
      yield* follow.report(o.runId, { ...o, db, progress, interrupted: interrupts.count() > 0 })
      }).pipe(Effect.provide(defaultModel))
    }).pipe(
      Effect.provide(stores.storeLayer(db, { create: false, auditLog: o.auditLog, leaseMs })),
      // An answer to a wait the run is not at: say how to see where it waits.
      Effect.mapError((error) => Option.isSome(o.waitId) && isNotWaitingAt(error, o.waitId.value) ? withWaitFix(error, db) : error)
    )
  }))

/** {@link isNotWaitingAt}'s refusal with the way out: read the question the run waits at now, or answer without `--wait-id`. */
const withWaitFix = (error: RunStateError, db: Database): RunStateError => {
  const inspect = `stargraph inspect ${error.runId}${dbOption(hintDb(db))}`
  return runStateErrorWith(error, {
    fix: error.waitId !== undefined
      ? `run ${inspect} to read the question it waits at now, and answer that one with --wait-id ${error.waitId}; or leave out --wait-id to answer whatever it waits at`
      : `${inspect} shows where the run is; it waits for no answer now`
  })
}

/** The `resume` command. */
export const resume = Command.make(
  "resume",
  {
    ...common,
    response: Options.text("response").pipe(
      Options.optional,
      Options.withDescription("the answer for a run awaiting input: JSON, or @file to read the JSON from a file (default: none; required for such a run)")
    )
  },
  (o) => resumeRun(o).pipe(traced("stargraph.cli.resume"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Continue a stopped run (awaiting-input, paused, or interrupted by a crash) from its last checkpoint, printing every step; a counterfactual fork continues against its parent's cassette"))

/** The `respond` command: the original's name for answering a run (`resume --response`). */
export const respond = Command.make(
  "respond",
  {
    ...common,
    response: Options.text("response").pipe(Options.withDescription("the answer to the question the run waits at: JSON, or @file to read the JSON from a file, as the original's --response @approve.json (required: no default)"))
  },
  (o) => resumeRun({ ...o, response: Option.some(o.response) }).pipe(traced("stargraph.cli.respond"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Answer a run awaiting input and continue it, printing every step (resume --response, as the original Stargraph names it)"))
