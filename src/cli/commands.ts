/**
 * The `stargraph` subcommands: `run`, `inspect`, `validate`, `resume`. Every expected
 * failure is printed as one line on stderr with a non-zero exit code:
 * 0 done · 1 run failed/error/cancelled · 2 bad input or refused operation · 3 stopped
 * (awaiting-input or paused).
 */
import { Args, Command, Options } from "@effect/cli"
import { readFileSync } from "node:fs"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import { type RunStatus, toSummary } from "../checkpoint/models.js"
import * as SqliteCheckpointer from "../checkpoint/SqliteCheckpointer.js"
import { CheckpointError, formatError, InputError, type StargraphError } from "../errors.js"
import * as Graph from "../graph/Graph.js"
import type { GraphRun } from "../graph/GraphRun.js"
import * as AuditSink from "../telemetry/AuditSink.js"
import * as Replay from "../replay/Replay.js"
import { renderDiff } from "../replay/RunDiff.js"
import * as GraphRegistry from "../scheduler/GraphRegistry.js"
import * as Serve from "../serve/server.js"
import * as ProjectConfig from "../triggers/ProjectConfig.js"
import * as Scheduler from "../scheduler/Scheduler.js"
import * as TriggerHost from "../triggers/TriggerHost.js"
import { parseInputs, parseResponse } from "./inputs.js"
import { finalLine, summaryBlock, timeline } from "./render.js"

/** Default checkpoint database of the CLI. */
export const DEFAULT_DB = ".stargraph/stargraph.sqlite"

/** Process exit codes. */
export const ExitCode = { done: 0, failed: 1, usage: 2, stopped: 3 } as const

const exitFor = (status: RunStatus): number =>
  status === "done"
    ? ExitCode.done
    : status === "awaiting-input" || status === "paused"
    ? ExitCode.stopped
    : ExitCode.failed

const setExit = (code: number) => Effect.sync(() => {
  process.exitCode = code
})

/** Print a typed error as one line and set the usage exit code. */
const reportError = (error: StargraphError) =>
  Effect.zipRight(Console.error(`error: ${formatError(error)}`), setExit(ExitCode.usage))

const storeLayer = (db: string, logFile: Option.Option<string>) =>
  Layer.merge(
    SqliteCheckpointer.layer({ filename: db }),
    Option.match(logFile, { onNone: () => Layer.empty, onSome: (path) => AuditSink.jsonl(path) })
  )

const dbOption = (name: string) =>
  Options.text(name).pipe(
    Options.withDefault(DEFAULT_DB),
    Options.withDescription("SQLite checkpoint database (created if missing)")
  )

const logFileOption = Options.text("log-file").pipe(
  Options.optional,
  Options.withDescription("append one JSON line per run event to this file")
)

const noSummaryOption = Options.boolean("no-summary").pipe(
  Options.withDescription("print only the final `run_id=<id> status=<status>` line")
)

/** Print a stopped run's outcome from the database and set the exit code. */
const report = (runId: string, noSummary: boolean) =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    const record = yield* checkpointer.getRun(runId)
    const checkpoints = yield* checkpointer.listCheckpoints(runId)
    if (Option.isNone(record)) {
      return yield* new CheckpointError({ reason: "unknown-run", runId, message: "the run record vanished" })
    }
    const summary = toSummary(record.value, checkpoints[checkpoints.length - 1]?.state ?? {})
    if (!noSummary) {
      for (const line of summaryBlock(summary, record.value, checkpoints)) yield* Console.log(line)
    }
    yield* Console.log(finalLine(summary))
    if (summary.error) yield* Console.error(`error: ${summary.error.message}`)
    yield* setExit(exitFor(summary.status))
  })

/** Drive a run handle in this process and print its outcome. */
const driveAndReport = (run: GraphRun, noSummary: boolean) =>
  Effect.zipRight(Effect.either(run.start()), report(run.runId, noSummary))

const runCommand = Command.make(
  "run",
  {
    graph: Args.text({ name: "graph.yaml" }).pipe(Args.withDescription("the graph IR file")),
    inputs: Options.text("inputs").pipe(
      Options.repeated,
      Options.withDescription("initial state: field=value (repeatable) or a JSON object")
    ),
    checkpoint: dbOption("checkpoint"),
    logFile: logFileOption,
    noSummary: noSummaryOption,
    idempotencyKey: Options.text("idempotency-key").pipe(
      Options.optional,
      Options.withDescription("reuse the run already started with this key instead of starting another")
    )
  },
  ({ checkpoint, graph, idempotencyKey, inputs, logFile, noSummary }) =>
    Effect.gen(function*() {
      const g = yield* Graph.load(graph)
      const parsed = yield* parseInputs(inputs, g.state.fields)
      // The CLI converges with POST /v1/runs: ManualTrigger.enqueue → Scheduler.enqueue →
      // pending row → the run executes here. It does not pick up other processes' queue.
      yield* Effect.gen(function*() {
        const { manual } = yield* TriggerHost.start()
        const enqueued = yield* manual.enqueue(g.id, parsed, Option.getOrUndefined(idempotencyKey), "cli")
        yield* Deferred.await(enqueued.summary)
        yield* report(enqueued.runId, noSummary)
      }).pipe(
        Effect.scoped,
        Effect.provide(Scheduler.layer({ pickUpPending: false, pollIntervalMs: 200 })),
        Effect.provide(GraphRegistry.layer([g])),
        Effect.provide(storeLayer(checkpoint, logFile))
      )
    }).pipe(Effect.catchAll(reportError))
).pipe(Command.withDescription("Run a graph to completion, checkpointing every step"))

const resumeCommand = Command.make(
  "resume",
  {
    runId: Args.text({ name: "run_id" }),
    db: dbOption("db"),
    response: Options.text("response").pipe(
      Options.optional,
      Options.withDescription("JSON answer for a run awaiting input")
    ),
    graph: Options.text("graph").pipe(
      Options.optional,
      Options.withDescription("graph file to resume with (default: the file the run was started from)")
    ),
    logFile: logFileOption,
    noSummary: noSummaryOption,
    allowRuntimeDrift: Options.boolean("allow-runtime-drift").pipe(
      Options.withDescription("resume even though the Node.js or Stargraph version changed")
    ),
    liveAfterFork: Options.boolean("live-after-fork").pipe(
      Options.withDescription("for a counterfactual fork: make live calls where its parent's cassette cannot answer")
    )
  },
  ({ allowRuntimeDrift, db, graph, liveAfterFork, logFile, noSummary, response, runId }) =>
    Effect.gen(function*() {
      const answer = yield* Option.match(response, {
        onNone: () => Effect.succeed(undefined),
        onSome: (text) => Effect.map(parseResponse(text), (value) => ({ value }))
      })
      yield* Effect.gen(function*() {
        const checkpointer = yield* Checkpointer
        const record = yield* Effect.flatMap(checkpointer.getRun(runId), Option.match({
          onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId, filename: db, message: `no run '${runId}' in ${db}` })),
          onSome: Effect.succeed
        }))
        const file = Option.getOrElse(graph, () => record.graph_source ?? "")
        if (file === "") {
          return yield* new CheckpointError({
            reason: "unknown-run",
            runId,
            message: `run ${runId} has no recorded graph file; pass --graph path/to/graph.yaml`
          })
        }
        const g = yield* Graph.load(file)
        const run = yield* g.resume(runId, {
          actor: "cli",
          allowRuntimeDrift,
          liveAfterFork,
          ...(answer !== undefined ? { response: answer } : {})
        })
        yield* driveAndReport(run, noSummary)
      }).pipe(Effect.provide(storeLayer(db, logFile)))
    }).pipe(Effect.catchAll(reportError))
).pipe(Command.withDescription("Continue a stopped run (awaiting-input, paused, or interrupted by a crash) from its last checkpoint; a counterfactual fork continues against its parent's cassette"))

const inspectCommand = Command.make(
  "inspect",
  {
    runId: Args.text({ name: "run_id" }),
    db: dbOption("db"),
    json: Options.boolean("json").pipe(Options.withDescription("print the RunSummary and checkpoints as JSON"))
  },
  ({ db, json, runId }) =>
    Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const record = yield* Effect.flatMap(checkpointer.getRun(runId), Option.match({
        onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId, filename: db, message: `no run '${runId}' in ${db}` })),
        onSome: Effect.succeed
      }))
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
    }).pipe(
      Effect.provide(SqliteCheckpointer.layer({ filename: db })),
      Effect.catchAll(reportError)
    )
).pipe(Command.withDescription("Show a run's step-by-step timeline and its RunSummary"))

const validateCommand = Command.make(
  "validate",
  { graph: Args.text({ name: "graph.yaml" }) },
  ({ graph }) =>
    Effect.gen(function*() {
      const g = yield* Graph.load(graph)
      yield* Console.log(`ok ${g.id}: ${g.topology.nodes.size} nodes, ${g.ir.edges.length} edges, ${g.state.fields.size} state fields`)
      yield* Console.log(`graph_hash=${g.graphHash}`)
      yield* Console.log(`runtime_hash=${g.runtimeHash}`)
    }).pipe(Effect.catchAll(reportError))
).pipe(Command.withDescription("Validate a graph file and print its graph_hash and runtime_hash"))

const replayCommand = Command.make(
  "replay",
  {
    runId: Args.text({ name: "run_id" }),
    db: dbOption("db"),
    fromStep: Options.integer("from-step").pipe(Options.withDefault(0), Options.withDescription("fork from the state after this step")),
    mutation: Options.text("mutation").pipe(Options.optional, Options.withDescription("CounterfactualMutation JSON file")),
    diff: Options.boolean("diff").pipe(Options.withDescription("print the parent-vs-fork RunDiff as canonical JSON")),
    graph: Options.text("graph").pipe(Options.optional, Options.withDescription("graph file (default: the file the parent ran from)")),
    liveAfterFork: Options.boolean("live-after-fork").pipe(
      Options.withDescription("answer calls the cassette cannot with live calls instead of failing with ReplayDivergenceError")
    ),
    logFile: logFileOption
  },
  (o) =>
    Effect.gen(function*() {
      const mutation = yield* Option.match(o.mutation, {
        onNone: () => Effect.succeed(undefined as unknown),
        onSome: (file) =>
          Effect.try({
            try: () => JSON.parse(readFileSync(file, "utf8")) as unknown,
            catch: (e) => new InputError({ field: "--mutation", message: `cannot read ${file} as JSON: ${e instanceof Error ? e.message : String(e)}`, fix: "pass a JSON file with a CounterfactualMutation" })
          })
      })
      yield* Effect.gen(function*() {
        const checkpointer = yield* Checkpointer
        const parent = yield* Effect.flatMap(checkpointer.getRun(o.runId), Option.match({
          onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId: o.runId, filename: o.db, message: `no run '${o.runId}' in ${o.db}` })),
          onSome: Effect.succeed
        }))
        const file = Option.getOrElse(o.graph, () => parent.graph_source ?? "")
        if (file === "") {
          return yield* new InputError({ field: "--graph", message: `run ${o.runId} has no recorded graph file`, fix: "pass --graph path/to/graph.yaml" })
        }
        const g = yield* Graph.load(file)
        const result = yield* Replay.fork(g, o.runId, { fromStep: o.fromStep, mutation, liveAfterFork: o.liveAfterFork, actor: "cli" })
        yield* Console.log(`cf_run_id=${result.cfRunId}`)
        if (o.diff) yield* Console.log(renderDiff(result.diff))
        if (result.error) yield* Console.error(`error: ${formatError(result.error)}`)
        yield* setExit(exitFor(result.summary.status))
      }).pipe(Effect.provide(storeLayer(o.db, o.logFile)))
    }).pipe(Effect.catchAll(reportError))
).pipe(Command.withDescription("Fork a counterfactual run from a persisted run, replaying its recorded calls; print the RunDiff"))

const serveCommand = Command.make(
  "serve",
  {
    host: Options.text("host").pipe(Options.withDefault("127.0.0.1")),
    port: Options.integer("port").pipe(Options.withDefault(8000)),
    db: Options.text("db").pipe(Options.optional, Options.withDescription("SQLite checkpoint database (without it: a temporary one)")),
    auditLog: Options.text("audit-log").pipe(Options.optional, Options.withDescription("append one JSON line per API action and run event")),
    graphs: Options.text("graphs").pipe(Options.repeated, Options.withDescription("graph file or folder to register (repeatable)")),
    config: Options.text("config").pipe(Options.optional, Options.withDescription("stargraph.yaml (default: ./stargraph.yaml when present)")),
    authTokenEnv: Options.text("auth-token-env").pipe(Options.optional, Options.withDescription("environment variable holding the bearer token every route but /healthz requires")),
    rateLimit: Options.integer("rate-limit").pipe(Options.optional, Options.withDescription("requests per client per minute (default: unlimited on loopback, 600 otherwise; 0: unlimited)")),
    maxBodyBytes: Options.integer("max-body-bytes").pipe(Options.withDefault(1024 * 1024)),
    synchronous: Options.choice("synchronous", ["FULL", "NORMAL"]).pipe(Options.withDefault("FULL" as const))
  },
  (o) =>
    Effect.gen(function*() {
      const tokenEnv = Option.getOrUndefined(o.authTokenEnv)
      const authToken = tokenEnv === undefined ? undefined : process.env[tokenEnv]
      if (tokenEnv !== undefined && !authToken) {
        return yield* new InputError({ field: "--auth-token-env", message: `environment variable ${tokenEnv} is not set`, fix: `export ${tokenEnv}=<token>` })
      }
      const config = Option.getOrElse(o.config, () => ProjectConfig.find(process.cwd()))
      const started = yield* Serve.start({
        host: o.host,
        port: o.port,
        db: Option.getOrUndefined(o.db),
        auditLog: Option.getOrUndefined(o.auditLog),
        graphs: o.graphs,
        config,
        pluginRoot: process.cwd(),
        authToken,
        rateLimitPerMinute: Option.getOrUndefined(o.rateLimit),
        maxBodyBytes: o.maxBodyBytes,
        synchronous: o.synchronous
      })
      yield* Console.log(`stargraph serve listening on ${started.url} (db ${started.db}, ${started.routes.length} routes)`)
      return yield* Effect.never
    }).pipe(Effect.scoped, Effect.catchAll(reportError))
).pipe(Command.withDescription("Serve the HTTP API: runs, graphs, triggers; Ctrl-C drains and stops"))

/** The root command. */
export const stargraph = Command.make("stargraph").pipe(
  Command.withDescription("Stargraph: a durable graph runtime with exact replay"),
  Command.withSubcommands([runCommand, inspectCommand, validateCommand, resumeCommand, replayCommand, serveCommand])
)
