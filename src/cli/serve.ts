/**
 * `stargraph serve`: the HTTP API (runs, graphs, triggers) over the checkpoint database.
 * Without `--graphs` (and without `graphs:` in stargraph.yaml) it registers every graph
 * under the current folder, as `--graphs .` would, and says how many on stderr.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InputError, IRValidationError, ModelError, ModelIntegrityError, NodeModuleError, RuleError, SchedulerError, type StargraphError } from "../errors.js"
import { fieldOf, fromFlagOrEnv } from "./database.js"
import { reportError } from "./exit.js"
import { leaseOption, parseLease, parseUpToAnHour, secondsText } from "./lease.js"
import { lmDefaultLayer, lmOptions } from "./lmDefault.js"
import { auditLog, choice, graphOptions, integer, moduleRoot } from "./options.js"
import { counted } from "./counted.js"

/** Access-control presets `--profile` accepts. `oss-default` is today's behaviour. */
export const PROFILES = ["oss-default"] as const

/** The flag of each `Serve.start` option its InputErrors name. */
const FLAG_OF: { readonly [option: string]: string } = {
  port: "--port",
  host: "--host",
  rateLimitPerMinute: "--rate-limit",
  maxBodyBytes: "--max-body-bytes",
  trustedProxies: "--trusted-proxy",
  leaseMs: "--lease",
  cancelWaitMs: "--cancel-wait",
  graphs: "--graphs"
}

/**
 * `error` with `hint` added to its fix, when it is about a graph (a broken graph file, two
 * graphs with one id); undefined for any other error.
 */
const withGraphHint = (error: StargraphError, hint: string): StargraphError | undefined => {
  switch (error._tag) {
    case "IRValidationError":
      return new IRValidationError({ ...error, message: error.message, fix: `${error.fix}; ${hint}` })
    case "NodeModuleError":
      return new NodeModuleError({ ...error, message: error.message, fix: `${error.fix}; ${hint}` })
    case "RuleError":
      return new RuleError({ ...error, message: error.message, fix: `${error.fix}; ${hint}` })
    case "ModelError":
      return new ModelError({ ...error, message: error.message, fix: `${error.fix}; ${hint}` })
    case "ModelIntegrityError":
      return new ModelIntegrityError({ ...error, message: error.message, fix: `${error.fix}; ${hint}` })
    case "SchedulerError":
      return error.reason === "duplicate-graph" ? new SchedulerError({ ...error, message: error.message, fix: `${error.fix}; ${hint}` }) : undefined
    default:
      return undefined
  }
}

/**
 * How to serve only some of the graphs under the scanned `folders`, for a graph that
 * stopped the start: name them with `--graphs`, e.g. another top folder that holds graphs
 * (`found`: the graph files found, `broken`: the file at fault, when known).
 */
const narrowHint = (
  folders: ReadonlyArray<string>,
  found: ReadonlyArray<string>,
  broken: string | undefined,
  rel: (from: string, to: string) => string,
  defaulted: boolean
): string => {
  const root = folders[0]!
  const top = (file: string) => rel(root, file).split(/[\\/]/)
  const brokenTop = broken === undefined ? undefined : top(broken)
  const others = [...new Set(found.map(top).filter((parts) => parts.length > 1).map((parts) => parts[0]!))].filter((t) => t !== brokenTop?.[0]).sort()
  const example = others.length > 0 ? `, e.g. --graphs ${rel(process.cwd(), `${root}/${others[0]}`) || "."}` : ""
  return defaulted
    ? `without --graphs, serve loads every graph under the current folder: to serve only some, name them: --graphs <folder or file> (repeatable)${example}`
    : `to serve only some of the graphs under ${folders.join(", ")}, name them: --graphs <folder or file> (repeatable)${example}`
}

/** How long a stopping server waits for its in-flight runs' step commits, unless told (ms). */
const DEFAULT_DRAIN_MS = 10_000

/** `--drain-timeout`'s text as milliseconds, or an `InputError` naming the flag: a number with a unit, 0 to one hour. */
export const parseDrainTimeout = (text: string): Effect.Effect<number, InputError> =>
  parseUpToAnHour("--drain-timeout", text, "500ms, 10s, 2m", "10s")

/** `--cancel-wait`'s text as milliseconds, or an `InputError` naming the flag: a number with a unit, 0 to one hour. */
export const parseServeCancelWait = (text: string): Effect.Effect<number, InputError> =>
  parseUpToAnHour("--cancel-wait", text, "500ms, 10s, 2m", "10s")

/** The `serve` command. */
export const serve = Command.make(
  "serve",
  {
    host: Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("address to listen on (default: 127.0.0.1)")),
    port: integer("port").pipe(Options.withDefault(8000), Options.withDescription("port to listen on; 0 picks a free one (default: 8000)")),
    db: Options.text("db").pipe(
      Options.optional,
      Options.withDescription("checkpoint database: a SQLite file, created if missing, or a postgres:// URL that servers on several hosts may share (default: $STARGRAPH_DB, else a temporary SQLite file, announced on stderr)")
    ),
    auditLog,
    graphs: Options.text("graphs").pipe(
      Options.repeated,
      // Optional (zero is fine): shown as [--flag text...] in --help.
      Options.withDefault([] as Array<string>),
      Options.withDescription("graph file or folder to register, searched recursively (repeatable) (default: the graphs in stargraph.yaml, else the current folder)")
    ),
    moduleRoot,
    config: Options.text("config").pipe(
      Options.optional,
      Options.withDescription("project config with schedules, webhooks and plugins (default: ./stargraph.yaml when present)")
    ),
    profile: Options.text("profile").pipe(
      Options.withDefault("oss-default"),
      Options.withDescription(`access-control preset: ${PROFILES.join(", ")} (default: oss-default)`)
    ),
    authTokenEnv: Options.text("auth-token-env").pipe(
      Options.optional,
      Options.withDescription("environment variable holding the bearer token every route but /healthz and the signed webhook deliveries requires (default: no token)")
    ),
    rateLimit: integer("rate-limit").pipe(
      Options.optional,
      Options.withDescription("requests per client per minute; 0: unlimited (default: unlimited on loopback, 600 otherwise)")
    ),
    allowedHost: Options.text("allowed-host").pipe(
      Options.repeated,
      Options.withDefault([] as Array<string>),
      Options.withDescription("a host name clients reach the server by, besides its IP addresses, localhost and this machine's name; repeatable; other names are refused, against DNS rebinding (default: none; any name with --auth-token-env on a public address)")
    ),
    trustedProxy: Options.text("trusted-proxy").pipe(
      Options.repeated,
      Options.withDefault([] as Array<string>),
      Options.withDescription("a reverse proxy's address or CIDR subnet whose X-Forwarded-For names the client (rate limits, audit lines, run actors); repeatable (default: none, the header is ignored)")
    ),
    maxBodyBytes: integer("max-body-bytes").pipe(
      Options.withDefault(1024 * 1024),
      Options.withDescription("largest request body in bytes (default: 1048576)")
    ),
    synchronous: choice("synchronous", ["FULL", "NORMAL"], "a SQLite synchronous mode").pipe(
      Options.withDefault("FULL" as const),
      Options.withDescription("SQLite durability: FULL survives power loss, NORMAL a process crash; ignored for PostgreSQL (default: FULL)")
    ),
    lease: leaseOption,
    ...lmOptions,
    drainTimeout: Options.text("drain-timeout").pipe(
      Options.optional,
      Options.withDescription(
        "how long Ctrl-C or SIGTERM waits for in-flight runs to commit their current step (each is asked at once to stop after it and go back on the queue), with a unit: 500ms, 10s, 2m; " +
          "past it the steps still running are interrupted and run again on the next server (default: scheduler.drain_timeout_ms in stargraph.yaml, else 10s)"
      )
    ),
    cancelWait: Options.text("cancel-wait").pipe(
      Options.optional,
      Options.withDescription(
        "how long POST /v1/runs/{id}/cancel waits for another live process (another server, a stargraph run) it asked to cancel a run, with a unit: 500ms, 10s, 2m (0ms to 1h); " +
          "past it the answer is status cancelling and the request stands (default: 10s)"
      )
    )
  },
  (o) =>
    Effect.gen(function*() {
      if (!(PROFILES as ReadonlyArray<string>).includes(o.profile)) {
        return yield* new InputError({ field: "--profile", message: `unknown profile '${o.profile}'`, fix: `use one of: ${PROFILES.join(", ")}` })
      }
      const leaseMs = yield* parseLease(o.lease)
      const defaultModel = yield* lmDefaultLayer(o)
      const drainFlagMs = Option.isSome(o.drainTimeout) ? yield* parseDrainTimeout(o.drainTimeout.value) : undefined
      const cancelWaitMs = Option.isSome(o.cancelWait) ? yield* parseServeCancelWait(o.cancelWait.value) : undefined
      const tokenEnv = Option.getOrUndefined(o.authTokenEnv)
      const authToken = tokenEnv === undefined ? undefined : process.env[tokenEnv]
      if (tokenEnv !== undefined && !authToken) {
        return yield* new InputError({ field: "--auth-token-env", message: `environment variable ${tokenEnv} is ${authToken === "" ? "empty" : "not set"}`, fix: `export ${tokenEnv}=<token> (a token that is not empty)` })
      }
      const db = yield* fromFlagOrEnv(o.db)
      const [Serve, ProjectConfig, GraphRegistry, { relative, resolve }, { asDbFlagError }, { statSync }, { triggerLines }] = yield* Effect.promise(() =>
        Promise.all([
          import("../serve/server.js"),
          import("../triggers/ProjectConfig.js"),
          import("../scheduler/GraphRegistry.js"),
          import("node:path"),
          import("./stores.js"),
          import("node:fs"),
          import("./serveTriggers.js")
        ])
      )
      const { moduleRoots } = yield* graphOptions(o.moduleRoot)
      const config = Option.getOrElse(o.config, () => ProjectConfig.find(process.cwd()))
      const resolved = config === undefined ? undefined : yield* ProjectConfig.load(config)
      const configured = resolved?.graphPaths ?? []
      // Nothing named anywhere: the graphs under the current folder.
      const graphs = o.graphs.length === 0 && configured.length === 0 ? ["."] : o.graphs
      const started = yield* Serve.start({
        host: o.host,
        port: o.port,
        db: db?.location,
        auditLog: Option.getOrUndefined(o.auditLog),
        graphs,
        moduleRoots,
        config,
        pluginRoot: process.cwd(),
        authToken,
        rateLimitPerMinute: Option.getOrUndefined(o.rateLimit),
        maxBodyBytes: o.maxBodyBytes,
        allowedHosts: o.allowedHost.length > 0 ? o.allowedHost : undefined,
        trustedProxies: o.trustedProxy,
        synchronous: o.synchronous,
        leaseMs,
        cancelWaitMs,
        scheduler: {
          ...(drainFlagMs !== undefined ? { drainTimeoutMs: drainFlagMs } : {}),
          // The drain's outcome, once it is over (before the database closes); nothing when no run was in flight.
          onDrained: (r) =>
            r.finished + r.requeued + r.interrupted === 0 ? Effect.void : Console.error(
              `drained: ${r.finished} in-flight run${r.finished === 1 ? "" : "s"} finished, ${r.requeued} requeued after their current step, ` +
                `${r.interrupted} interrupted mid-step (that step runs again on the next server)`
            )
        }
      }).pipe(
        // The run-wide default model (--lm-url/--lm-model), for the runs the server drives.
        Effect.provide(defaultModel),
        // The library names its options; the CLI, its flags.
        Effect.mapError((e) => (e._tag === "InputError" && e.field in FLAG_OF ? new InputError({ field: FLAG_OF[e.field]!, message: e.message, fix: e.fix }) : asDbFlagError(e, db === undefined ? "--db" : fieldOf(db)))),
        // A broken graph in a folder scanned for graphs stops the start (never skipped):
        // its fix also says how to serve only some of them.
        Effect.mapError((e) => {
          const folders = [...graphs, ...configured].filter((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory() === true)
          if (folders.length === 0) return e
          const found = folders.flatMap((f) => GraphRegistry.findGraphFiles(f))
          const broken = "file" in e && typeof e.file === "string" ? e.file : undefined
          return withGraphHint(e, narrowHint(folders, found, broken, relative, o.graphs.length === 0 && configured.length === 0)) ?? e
        })
      )
      // The registry loaded exactly these files (a broken one would have failed the start).
      const registered = new Set([...graphs, ...configured].flatMap((p) => GraphRegistry.findGraphFiles(p)).map((f) => resolve(f))).size
      const from = o.graphs.length === 0 && configured.length === 0 ? ` from ${process.cwd()} (no --graphs given)` : ""
      yield* Console.error(`registered ${registered} graph${registered === 1 ? "" : "s"}${from}`)
      yield* Console.log(`stargraph serve listening on ${started.url} (db ${started.db}, ${counted(started.routes.length, "route")}, profile ${o.profile})`)
      // Which schedules, webhooks and plugins run, so a schedule is seen to be active before its first tick.
      if (resolved !== undefined) {
        for (const line of triggerLines(resolved, started, new Date())) yield* Console.error(line)
      }
      // SIGHUP (log rotation's "reopen your logs") must not end the server: the audit log
      // follows a rotated path by itself.
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const onHangup = () => process.stderr.write("SIGHUP: nothing to reopen (the audit log follows its path when it is rotated); the server goes on\n")
          process.on("SIGHUP", onHangup)
          return onHangup
        }),
        (onHangup) => Effect.sync(() => void process.removeListener("SIGHUP", onHangup))
      )
      // Ctrl-C or SIGTERM: say what happens before the drain (runs stop after their step, requeued).
      // A database file removed or replaced under the server: it stops (exit 2) rather than
      // go on accepting runs into a file nobody will see.
      const drainMs = drainFlagMs ?? resolved?.config.scheduler?.drain_timeout_ms ?? DEFAULT_DRAIN_MS
      return yield* Effect.raceFirst(
        Effect.never.pipe(
          Effect.onInterrupt(() =>
            Console.error(
              `stopping: new runs are refused; in-flight runs stop after their current step and go back on the queue for the next server (up to ${secondsText(drainMs)}; ` +
                "a step still running then is interrupted, to run again)"
            )
          )
        ),
        started.lost.pipe(Effect.tapError(() => Console.error("stopping: the database file is gone, so new runs are refused; in-flight runs stop")))
      )
    }).pipe(Effect.scoped, Effect.catchAll(reportError))
).pipe(Command.withDescription("Serve the HTTP API: runs, graphs, triggers; Ctrl-C drains and stops"))
