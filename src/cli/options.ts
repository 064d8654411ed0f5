/**
 * The flags shared by several commands, so every command spells them the same way:
 * `--db` (the checkpoint database: a SQLite file or a `postgres://` URL; `STARGRAPH_DB` when
 * it is not given), `--audit-log` (the JSONL audit log), `--quiet`,
 * `--no-summary`, `--json`. Every description states the default.
 */
import { Args, HelpDoc, Options, ValidationError } from "@effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { statSync } from "node:fs"
import { resolve } from "node:path"
import { InputError } from "../errors.js"
import type { AuditLogSpec } from "../telemetry/AuditSink.js"

/** Default checkpoint database of the CLI (relative to the current folder). */
export const DEFAULT_DB = ".stargraph/stargraph.sqlite"

/**
 * `--db` for commands that create the database when it is missing (`run`). Optional: when
 * it is not given, `STARGRAPH_DB` names the database, else the graph's
 * `checkpoints: {store: …}`, else {@link DEFAULT_DB} (see `chooseDatabase` in database.ts).
 */
export const dbCreating = Options.text("db").pipe(
  Options.withAlias("checkpoint"),
  Options.optional,
  Options.withDescription(`checkpoint database: a SQLite file, created with its folder if missing, or a postgres:// URL (default: $STARGRAPH_DB, else the graph's checkpoints.store, else ${DEFAULT_DB}; --checkpoint is an alias)`)
)

/**
 * `--db` for commands that read an existing database (a missing file is refused, never
 * created). Optional: `STARGRAPH_DB`, else {@link DEFAULT_DB}, when it is not given.
 */
export const dbExisting = Options.text("db").pipe(
  Options.optional,
  Options.withDescription(`checkpoint database: a SQLite file, which must exist, or a postgres:// URL (default: $STARGRAPH_DB, else ${DEFAULT_DB})`)
)

/**
 * `--audit-log` (alias `--log-file`) and `--audit-key`: the audit log, chained and signed
 * when a key is given (the flag, else `STARGRAPH_AUDIT_KEY`). A key without a log is refused.
 */
export const auditLog: Options.Options<Option.Option<AuditLogSpec>> = Options.all({
  path: Options.text("audit-log").pipe(
    Options.withAlias("log-file"),
    Options.optional,
    Options.withDescription("append one JSON line per run event to this file (default: no audit log; --log-file is an alias)")
  ),
  key: Options.text("audit-key").pipe(
    Options.optional,
    Options.withDescription("chain and sign the audit log with this Ed25519 private key (PEM; created, mode 0600, when missing), for stargraph verify-audit (default: $STARGRAPH_AUDIT_KEY, else a plain log)")
  )
}).pipe(
  Options.mapEffect(({ key, path }) => {
    const chosen = Option.orElse(key, () => Option.fromNullable(process.env["STARGRAPH_AUDIT_KEY"] || undefined))
    if (Option.isNone(path)) {
      return Option.isSome(key) ? Effect.fail(ValidationError.invalidValue(HelpDoc.p("--audit-key signs an audit log: give --audit-log too"))) : Effect.succeed(Option.none())
    }
    return Effect.succeed(Option.some<AuditLogSpec>({ path: path.value, key: Option.getOrUndefined(chosen) }))
  })
)

/**
 * `--module-root` (repeatable): a folder besides the graph's own that its `subgraph`
 * specs and node, router and state-schema modules may come from (`moduleRoots` of
 * `Graph.load`). `STARGRAPH_MODULE_ROOTS` adds folders for every graph, flag or not.
 */
export const moduleRoot = Options.text("module-root").pipe(
  Options.repeated,
  // Optional (zero is fine): shown as [--flag text...] in --help.
  Options.withDefault([] as Array<string>),
  Options.withDescription("a folder besides the graph's own that its subgraph specs and node, router and state-schema modules may come from (repeatable; STARGRAPH_MODULE_ROOTS adds folders, separated by ':') (default: the graph's folder tree only)")
)

const isFolder = (path: string): boolean => {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** The `--module-root` folders as `Graph.load` options; one that is not an existing folder is an InputError. */
export const graphOptions = (roots: ReadonlyArray<string>): Effect.Effect<{ readonly moduleRoots: ReadonlyArray<string> }, InputError> =>
  Effect.map(
    Effect.forEach(roots, (root) => {
      return isFolder(root) ? Effect.succeed(resolve(root)) : Effect.fail(
        new InputError({ field: "--module-root", message: `${root} is not an existing folder`, fix: "pass the folder that holds the child graph or module the graph names" })
      )
    }),
    (moduleRoots) => ({ moduleRoots })
  )

/** `--no-summary`: no summary block (the per-step lines and the final line stay). */
export const noSummary = Options.boolean("no-summary").pipe(
  Options.withDescription("leave out the summary block (timeline, final state); step lines and the final `run_id=<id> status=<status>` line stay (default: off)")
)

/** `--quiet`: only the final line. */
export const quiet = Options.boolean("quiet").pipe(
  Options.withAlias("q"),
  Options.withDescription("print only the final `run_id=<id> status=<status>` line (errors still go to stderr) (default: off)")
)

/** `--summary-json`: the summary as one JSON object instead of the text block (the original's flag). */
export const summaryJson = Options.boolean("summary-json").pipe(
  Options.withDescription("print the summary as one JSON object (the RunSummary, with the database as `checkpoint`) instead of the text block; the final `run_id=<id> status=<status>` line stays last (default: off)")
)

/** `--verbose`: each step's whole state delta under its line (the original's flag). */
export const verbose = Options.boolean("verbose").pipe(
  Options.withAlias("v"),
  Options.withDescription("print each step's whole state delta (tool and model outputs included) under its step line, which clips long values (default: off)")
)

/** Output flags that ask for opposite things (`--quiet --verbose`, `--summary-json` with no summary): the flag and what to do. */
export const conflictingOutput = (o: {
  readonly quiet: boolean
  readonly verbose: boolean
  readonly noSummary: boolean
  readonly summaryJson: boolean
}): InputError | undefined =>
  o.quiet && o.verbose
    ? new InputError({ field: "--verbose", message: "--quiet and --verbose ask for opposite output", fix: "pass one of them" })
    : o.summaryJson && (o.quiet || o.noSummary)
    ? new InputError({
      field: "--summary-json",
      message: `--summary-json asks for the summary, which ${o.quiet ? "--quiet" : "--no-summary"} leaves out`,
      fix: "pass one of them: --summary-json alone prints the JSON summary and the final line"
    })
    : undefined

/** `--non-interactive`: what every run already is (the original's flag, kept for its scripts). */
export const nonInteractive = Options.boolean("non-interactive").pipe(
  Options.withDescription("accepted for scripts written for the original Stargraph: runs never prompt; a run that stops for input exits 3 (answer it with resume --response or respond) (default: off)")
)

/** `--json`. */
export const json = (what: string) =>
  Options.boolean("json").pipe(Options.withDescription(`print ${what} as JSON (default: off)`))

/** `--graph` for commands that reload a run's graph. */
export const graphFile = (purpose: string) =>
  Options.text("graph").pipe(
    Options.optional,
    Options.withDescription(`graph file to ${purpose} with (default: the file the run was started from)`)
  )

/** The `<run_id>` argument. */
export const runIdArg = Args.text({ name: "run_id" }).pipe(
  Args.withDescription("the run's id (`run-…`, or `cf-…` for a fork), as printed by run, list or replay")
)

/** The `<graph.yaml>` argument. */
export const graphArg = Args.text({ name: "graph.yaml" }).pipe(Args.withDescription("the graph IR file (YAML)"))

/**
 * An integer flag written in decimal digits (an optional `-` sign, no leading zero):
 * `0x10`, `1e3`, `10.0`, `-0`, `010` and ` 5` are refused with the flag named, where
 * `Options.integer` would read them as numbers.
 */
export const integer = (name: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("integer"),
    Options.mapEffect((text) =>
      /^(0|-?[1-9]\d*)$/.test(text) && Number.isSafeInteger(Number(text))
        ? Effect.succeed(Number(text))
        : Effect.fail(invalidValue(`--${name}: '${text}' is not a whole number written in decimal digits`, "write it in decimal digits, e.g. 10")))
  )

/**
 * The parser's refusal of a flag's value: what is wrong and how to fix it. The CLI prints
 * it as every bad input is printed, `error: InputError: <message> (fix: <fix>; see … --help)`
 * (see `parserMessage` in app.ts, which takes the fix out of the text).
 */
export const invalidValue = (message: string, fix: string): ValidationError.ValidationError =>
  ValidationError.invalidValue(HelpDoc.p(`${message} (fix: ${fix})`))


/** The check of a {@link choice} value: one of `values`, else refused naming `--name`, what it is and the values. */
export const oneOf = <const A extends string>(name: string, values: ReadonlyArray<A>, what: string) => (text: string): Effect.Effect<A, ValidationError.ValidationError> =>
  (values as ReadonlyArray<string>).includes(text)
    ? Effect.succeed(text as A)
    : Effect.fail(invalidValue(`--${name}: '${text}' is not ${what}`, `use one of: ${values.join(", ")}`))

/**
 * A flag taking one of `values` (`what` names them in a refusal: "a run status"). Unlike
 * `Options.choice`, whose refusal names neither the flag nor the value (`Expected one of
 * the following cases: …`), a value outside them is refused as `--name: 'x' is not …`
 * with the fix `use one of: …`. The usage line shows the values (`--name a | b`) as `Options.choice` does.
 */
export const choice = <const A extends string>(name: string, values: ReadonlyArray<A>, what: string) =>
  Options.text(name).pipe(Options.withPseudoName(values.join(" | ")), Options.mapEffect(oneOf(name, values, what)))
