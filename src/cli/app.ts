/**
 * The whole `stargraph` program for one argv, ready for a runtime: the commands plus
 * what surrounds them. An argument the parser refuses (unknown flag, missing argument,
 * bad value) is one line on stderr and exit 2, like every other bad input; `--help` has
 * no ANSI codes when stdout is not a TTY or `NO_COLOR` is set; a stdout closed by its
 * reader (`| head -1`) ends quietly.
 *
 * `main.ts` imports this module only when the argv is not one whose output the build
 * rendered ahead of time (`--help`, `<command> --help`, `--version`: see `renderBuiltIn`
 * and scripts/build.mjs), so those never load `@effect/cli`.
 */
import { CliConfig, Command, HelpDoc, ValidationError } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Runtime from "@effect/platform/Runtime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { closestName } from "../ir/didYouMean.js"
import { otlpConfigured } from "../telemetry/TracingEnabled.js"
import { STARGRAPH_VERSION } from "../version.js"
import { COMMAND_NAMES, flagsOf, stargraph, valueFlagsOf } from "./commands.js"
import { ExitCode, setExit } from "./exit.js"
import { NO_DIFF_STEPS } from "./inspect.js"
import { tidyHelp } from "./help.js"
import { colorAllowed, quietOnClosedPipe, stripAnsi } from "./terminal.js"
import { VerifyExit } from "./verifyAudit.js"

/** The console the parser prints through: help without colour where colour is off; its own error output dropped (see `cli`). */
const parserConsole = (base: Console.Console, color: boolean): Console.Console => ({
  ...base,
  log: (...args) => base.log(...args.map((a) => (typeof a === "string" ? tidyHelp(color ? a : stripAnsi(a)) : a))),
  error: () => Effect.void
})

/** One line out of a parser message (`HelpDoc`), without ANSI codes. */
export const oneLine = (doc: HelpDoc.HelpDoc): string =>
  stripAnsi(HelpDoc.toAnsiText(doc)).split("\n").map((l) => l.trim()).filter((l) => l.length > 0).join(" ")

const COMMANDS = new Set<string>(COMMAND_NAMES)

/** The argvs (after the script) whose whole output the parser produces by itself, and the build renders ahead of time. */
export const BUILT_IN_ARGS: ReadonlyArray<ReadonlyArray<string>> = [
  ["--help"],
  ["-h"],
  ["--version"],
  ...COMMAND_NAMES.flatMap((name) => [[name, "--help"], [name, "-h"]])
]

/** Where to look for the right usage: the subcommand's help when one was named. */
const helpHint = (argv: ReadonlyArray<string>): string => {
  const command = argv.slice(2).find((a) => COMMANDS.has(a))
  return command === undefined ? "stargraph --help" : `stargraph ${command} --help`
}

/** Flags every command takes from the parser itself. */
const BUILT_IN_FLAGS = new Set(["--help", "-h", "--version", "--wizard", "--completions", "--log-level"])

/**
 * The first flag in `argv` that its subcommand does not take, if any. The parser reports
 * an unknown flag placed before the positional argument as the positional argument
 * ("unknown argument 'graph.yaml'"), since it took the flag for it: this names the flag.
 */
export const unknownFlag = (argv: ReadonlyArray<string>): string | undefined => {
  const at = argv.findIndex((a, i) => i >= 2 && COMMANDS.has(a))
  const known = at < 0 ? undefined : flagsOf(argv[at]!)
  if (known === undefined) return undefined
  const args = argv.slice(at + 1)
  const end = args.indexOf("--")
  return (end < 0 ? args : args.slice(0, end)).find((arg, i) => {
    if (!/^--?[A-Za-z]/.test(arg)) return false
    const name = arg.split("=")[0]!
    // A value that looks like a flag (`--inputs -x=1`) follows a flag that takes one.
    const previous = i > 0 ? args[i - 1]! : ""
    return !known.has(name) && !BUILT_IN_FLAGS.has(name) && !(known.has(previous) && !previous.includes("="))
  })
}

/**
 * The first empty value in `argv` (`--flag ""`, `--flag=`, or an empty argument), as the
 * flag it belongs to (or `argument`). The parser drops an empty value as if it were
 * absent in some places (a repeated flag: `--trusted-proxy "$UNSET"` would silently mean
 * no proxy), and every flag and argument needs a value to mean something.
 */
export const emptyValue = (argv: ReadonlyArray<string>): string | undefined => {
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") return undefined
    if (/^--?[A-Za-z][\w-]*=$/.test(arg)) return arg.slice(0, -1)
    if (arg === "") return i > 2 && /^--?[A-Za-z]/.test(argv[i - 1]!) && !argv[i - 1]!.includes("=") ? argv[i - 1]! : "argument"
  }
  return undefined
}

/** The command named in `argv`, if any. */
const commandOf = (argv: ReadonlyArray<string>): string | undefined => argv.slice(2).find((a) => COMMANDS.has(a))

/**
 * The exit code of an argument error (the parser's, an empty or missing value) of the
 * command in `argv`: 2 as every bad input, but 1 for `verify-audit`, whose 2 means the log
 * failed verification (its codes are the original's).
 */
export const usageExit = (argv: ReadonlyArray<string>): number =>
  commandOf(argv) === "verify-audit" ? VerifyExit.userError : ExitCode.usage

/**
 * What to give a flag whose value is empty or missing, where "pass a value" says too little
 * (by command, then flag).
 */
const VALUE_FIXES: { readonly [command: string]: { readonly [flag: string]: string } } = {
  "verify-audit": {
    "--expected-head": "give the head to check for (64 hex digits): the expected_head=… line stargraph audit-anchor printed, or the head_sha256=… verify-audit printed",
    "--anchor-token": "give the anchor_token=… line stargraph audit-anchor printed",
    "--pubkey": "give the log's Ed25519 public key (PEM; the writer puts it beside the log as <log>.pub.pem)"
  }
}

/** The fix for an empty or missing value of `flag` in `argv`'s command, when it has its own. */
const valueFix = (argv: ReadonlyArray<string>, flag: string): string | undefined => VALUE_FIXES[commandOf(argv) ?? ""]?.[flag]

/**
 * The first flag in `argv` that takes a value and was given none: the last argument, or
 * followed by another flag of its command (`verify-audit log --expected-head`, `list --db
 * --json`), with what it takes (`text`, `integer`, its choices). The parser would call it
 * an unknown argument (or take the next flag for its value). Everything after `--` is left
 * as it is.
 */
export const missingValue = (argv: ReadonlyArray<string>): { readonly flag: string; readonly takes: string; readonly optional: boolean } | undefined => {
  const at = argv.findIndex((a, i) => i >= 2 && COMMANDS.has(a))
  const command = at < 0 ? undefined : argv[at]!
  const takes = command === undefined ? undefined : valueFlagsOf(command)
  if (command === undefined || takes === undefined) return undefined
  // The command's flags, read off its help (rendering it costs milliseconds): only once a value looks like a flag.
  let known: ReadonlySet<string> | undefined
  for (let i = at + 1; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") return undefined
    const kind = takes.get(arg)
    if (kind === undefined) continue
    const next = argv[i + 1]
    if (next === undefined) return { flag: arg, ...kind }
    const name = next.split("=")[0]!
    if (name.startsWith("-")) {
      known ??= flagsOf(command) ?? new Set()
      if (known.has(name) || BUILT_IN_FLAGS.has(name)) return { flag: arg, ...kind }
    }
    i += 1
  }
  return undefined
}

/** The fix for {@link missingValue}'s flag: its own, else what to write after it; or to leave it out, when it may be. */
const missingFix = (argv: ReadonlyArray<string>, missing: { readonly flag: string; readonly takes: string; readonly optional: boolean }): string =>
  (valueFix(argv, missing.flag) ??
    (missing.takes.includes(" | ")
      ? `put one of ${missing.takes.split(" | ").join(", ")} right after it (${missing.flag} ${missing.takes.split(" | ")[0]})`
      : `put its value right after it (${missing.flag} <${missing.takes}>)`)) +
  (missing.optional ? ", or leave the flag out" : "")

/** A step number, as `inspect --diff N M` takes two. */
const STEP = /^(0|[1-9]\d*)$/

/**
 * `argv` with the original Stargraph's spellings the parser cannot read as written put in
 * the form it reads: `inspect … --diff N M` (one flag, two values) as `--diff N --diff M`;
 * a `--diff` with no value as `--diff <none>` ({@link NO_DIFF_STEPS}), and one whose value is not a step with the word
 * after it, so that `inspect` refuses them (an InputError at `--diff`) rather than the
 * parser dropping the flag or calling the second word an unknown argument.
 * Anything else, and everything after `--`, is left as it is.
 */
export const originalSpellings = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const at = argv.findIndex((a, i) => i >= 2 && COMMANDS.has(a))
  if (at < 0 || argv[at] !== "inspect") return argv
  const out = argv.slice(0, at + 1)
  for (let i = at + 1; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") return [...out, ...argv.slice(i)]
    const next = argv[i + 1]
    if (arg === "--diff" && i + 2 < argv.length && STEP.test(argv[i + 1]!) && STEP.test(argv[i + 2]!)) {
      out.push("--diff", argv[i + 1]!, "--diff", argv[i + 2]!)
      i += 2
    } else if (arg === "--diff" && (next === undefined || next.startsWith("-"))) {
      // No step after it: a value that says so, which `inspect` refuses.
      out.push("--diff", NO_DIFF_STEPS)
    } else if (arg === "--diff" && (!STEP.test(next) || (argv[i + 2] !== undefined && !argv[i + 2]!.startsWith("-") && !argv[i + 2]!.startsWith("run-")))) {
      // A word that is not a step: it and the word after it (the N M pair; not a flag or a
      // run's id) go to `inspect`, which names the one that is not a step.
      const after = argv[i + 2]
      out.push("--diff", next)
      i += 1
      if (after !== undefined && !after.startsWith("-") && (!STEP.test(next) || !after.startsWith("run-"))) {
        out.push("--diff", after)
        i += 1
      }
    } else {
      out.push(arg)
    }
  }
  return out
}

/**
 * Flags of the original Stargraph's commands that have no counterpart flag here, by
 * command: what this command does instead and how to get what the flag gave (`value`: the
 * flag's value on the command line, when there is one).
 */
const ORIGINAL_FLAGS: { readonly [command: string]: { readonly [flag: string]: (value: string | undefined) => { readonly message: string; readonly fix: string } } } = {
  inspect: {
    "--log-file": (value) => ({
      message: "inspect reads the run from its checkpoint database (--db), not from an audit log (the original's --log-file stream mode)",
      fix: `the audit log holds one JSON event a line, each with its run_id: grep -F '"run_id":"<run_id>"' ${value ?? "<audit log>"} prints the run's events`
    })
  },
  respond: {
    "--server": () => ({
      message: "respond answers the run in this process, on its checkpoint database (--db), not through a server (the original's --server)",
      fix: "pass --db with the server's database, or POST {\"response\": …} to <server>/v1/runs/<run_id>/respond"
    })
  }
}

/** What to say about an unknown flag that is one of the original's (see {@link ORIGINAL_FLAGS}). */
export const originalFlagHint = (argv: ReadonlyArray<string>): { readonly flag: string; readonly message: string; readonly fix: string } | undefined => {
  const command = argv.slice(2).find((a) => COMMANDS.has(a))
  const unknown = unknownFlag(argv)
  if (command === undefined || unknown === undefined) return undefined
  const [flag, inline] = unknown.includes("=") ? [unknown.slice(0, unknown.indexOf("=")), unknown.slice(unknown.indexOf("=") + 1)] : [unknown, undefined]
  const hint = ORIGINAL_FLAGS[command]?.[flag]
  if (hint === undefined) return undefined
  const next = argv[argv.indexOf(unknown) + 1]
  return { flag, ...hint(inline ?? (next !== undefined && !next.startsWith("-") ? next : undefined)) }
}

/**
 * The parser's message for `error`, naming an unknown flag the parser blamed on another
 * argument, and the fixes a refusal of a value carries (`invalidValue` writes them into its
 * text as `(fix: …)`), taken out to go at the end of the line.
 */
const parserMessage = (error: ValidationError.ValidationError, argv: ReadonlyArray<string>): { readonly message: string; readonly fixes: ReadonlyArray<string> } => {
  const full = oneLine(error.error) || "invalid arguments"
  const fixes = [...full.matchAll(/ \(fix: ([^()]*)\)/g)].map((m) => m[1]!)
  const text = full.replace(/ \(fix: [^()]*\)/g, "")
  const flag = text.startsWith("Received unknown argument") ? unknownFlag(argv) : undefined
  return { message: flag === undefined ? text : `Received unknown option: '${flag.split("=")[0]}'`, fixes }
}

/** The flag of the command an unknown one (`Received unknown option: '--inptus'`) most likely meant (`--inputs`). */
const meantFlag = (message: string, argv: ReadonlyArray<string>): string | undefined => {
  const unknown = /^Received unknown option: '(--?[^']+)'$/.exec(message)?.[1]
  const command = argv.slice(2).find((a) => COMMANDS.has(a))
  const known = command === undefined ? undefined : flagsOf(command)
  return unknown === undefined || known === undefined ? undefined : closestName(unknown, [...known].filter((f) => f.startsWith("--")))
}

/** The parser and its configuration, for `commands` (the root command with its handlers wrapped). */
const parse = <Name extends string, R, E, A>(commands: Command.Command<Name, R, E, A>, argv: ReadonlyArray<string>) =>
  Command.run(commands, { name: "stargraph", version: STARGRAPH_VERSION })(argv).pipe(Effect.provide(CliConfig.layer({ showBuiltIns: false })))

const app = (argv: ReadonlyArray<string>, color: boolean) =>
  Effect.consoleWith((base) => {
    const commands = stargraph.pipe(Command.transformHandler((handler) => Effect.withConsole(handler, base)))
    const empty = emptyValue(argv)
    if (empty !== undefined) {
      const fix = valueFix(argv, empty) ?? "pass a value"
      return Effect.zipRight(
        Effect.withConsole(Console.error(`error: InputError: ${empty}: the value is empty (fix: ${fix}, or leave ${empty === "argument" ? "it" : "the flag"} out; see ${helpHint(argv)})`), base),
        setExit(usageExit(argv))
      )
    }
    const respelt = originalSpellings(argv)
    const missing = missingValue(respelt)
    if (missing !== undefined) {
      return Effect.zipRight(
        Effect.withConsole(Console.error(`error: InputError: ${missing.flag} needs a value (fix: ${missingFix(argv, missing)}; see ${helpHint(argv)})`), base),
        setExit(usageExit(argv))
      )
    }
    return parse(commands, respelt).pipe(
      Effect.withConsole(parserConsole(base, color)),
      Effect.catchIf(ValidationError.isValidationError, (error) => {
        // As every bad input: `error: InputError: <what> (fix: <how>)`, the help to read last.
        const { message, fixes } = parserMessage(error, argv)
        const original = message.startsWith("Received unknown") ? originalFlagHint(argv) : undefined
        const meant = original === undefined ? meantFlag(message, argv) : undefined
        return Effect.zipRight(
          Console.error(
            original === undefined
              ? `error: InputError: ${message} (fix: ${[...(meant === undefined ? [] : [`did you mean '${meant}'?`]), ...fixes, `see ${helpHint(argv)}`].join("; ")})`
              : `error: InputError: Received unknown option: '${original.flag}': ${original.message} (fix: ${original.fix}; see ${helpHint(argv)})`
          ),
          setExit(usageExit(argv))
        )
      })
    )
  })

/** Run the CLI on `argv` (`process.argv`: the runtime and script come first). */
export const cli = (argv: ReadonlyArray<string>) =>
  Effect.suspend(() => {
    quietOnClosedPipe()
    return app(argv, colorAllowed())
  })

/**
 * What the commands need from the platform: files, paths and the terminal (the parser's
 * prompts). Not `NodeContext.layer`, which also builds a command executor and a worker
 * manager that nothing here uses.
 */
const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

/**
 * Log lines (a trigger that failed to load, a request that failed) go to stderr: stdout
 * carries results only. `STARGRAPH_LOG_FORMAT=json` writes them as one JSON object a line
 * (for a log collector); the default is Effect's readable format.
 */
const logToStderr = (format: string | undefined) =>
  Logger.replace(Logger.defaultLogger, format === "json" ? Logger.withConsoleError(Logger.jsonLogger) : Logger.prettyLogger({ stderr: true }))

/** Run the whole command for `argv` and exit with its code (the entry's slow path). */
export const main = (argv: ReadonlyArray<string>): void => {
  // The OpenTelemetry SDK is loaded only when an OTLP endpoint is configured.
  const tracing = otlpConfigured(process.env)
    ? Layer.unwrapEffect(Effect.promise(() => import("../telemetry/Tracing.js").then((t) => t.layerFromEnv())))
    : Layer.empty
  cli(argv).pipe(
    Effect.provide(Layer.mergeAll(platform, tracing, logToStderr(process.env["STARGRAPH_LOG_FORMAT"]))),
    NodeRuntime.runMain({ disableErrorReporting: false, disablePrettyLogger: true, teardown })
  )
}

/**
 * End the process once the command is done, with its exit code, after stdout and stderr
 * are flushed: what a run's nodes left behind (a timer, a request still open, a node a
 * second Ctrl-C interrupted in the middle of a wait) must not keep the command alive.
 * Everything the command persisted is written by then.
 */
const teardown: Runtime.Teardown = (exit) =>
  Runtime.defaultTeardown(exit, (code) => {
    const exitCode = code !== 0 ? code : typeof process.exitCode === "number" ? process.exitCode : 0
    process.stdout.write("", () => process.stderr.write("", () => process.exit(exitCode)))
  })

/**
 * The exact stdout of `stargraph ...args` for an argv the parser answers by itself
 * (`--help`, `<command> --help`, `--version`), as @effect/cli renders it, ANSI codes
 * included (the caller strips them where colour is off, as `cli` does): what
 * scripts/build.mjs embeds in the bundle so `main.ts` can print it without loading the
 * parser. Fails when the argv runs a command instead.
 */
export const renderBuiltIn = (args: ReadonlyArray<string>): Promise<string> => {
  const out: Array<string> = []
  let ran = false
  const capture: Console.Console = {
    ...Effect.runSync(Effect.console),
    log: (...parts) => Effect.sync(() => void out.push(`${tidyHelp(parts.join(" "))}\n`)),
    error: (...parts) => Effect.sync(() => void out.push(`stderr: ${parts.join(" ")}\n`))
  }
  const commands = stargraph.pipe(Command.transformHandler(() => Effect.sync(() => void (ran = true))))
  return Effect.runPromise(
    parse(commands, ["node", "stargraph", ...args]).pipe(
      Effect.withConsole(capture),
      Effect.provide(platform)
    )
  ).then(() => {
    const text = out.join("")
    if (ran || text.includes("stderr: ")) throw new Error(`stargraph ${args.join(" ")} is not answered by the parser alone`)
    // The version on one line (the parser's has a blank line after it, which breaks `| wc -l`).
    return args[0] === "--version" ? text.replace(/\n+$/, "\n") : text
  })
}
