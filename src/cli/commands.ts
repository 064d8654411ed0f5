/**
 * The `stargraph` command and its subcommands, one file each. Only `@effect/cli`,
 * `effect` and the small shared modules load here: each command imports the modules it
 * runs on (graph loading, the Scheduler, SQLite, the server, replay) when it runs, so
 * `--help` and argument errors start fast. Exit codes: see `exit.ts`.
 */
import { CliConfig, Command, HelpDoc, type Usage } from "@effect/cli"
import * as Option from "effect/Option"
import { cancel } from "./cancel.js"
import { compile } from "./compile.js"
import { counterfactual } from "./counterfactual.js"
import { inspect } from "./inspect.js"
import { list } from "./list.js"
import { newCommand } from "./new.js"
import { prune } from "./prune.js"
import { replay } from "./replay.js"
import { respond, resume } from "./resume.js"
import { run } from "./run.js"
import { serve } from "./serve.js"
import { simulate } from "./simulate.js"
import { stripAnsi } from "./terminal.js"
import { thread } from "./thread.js"
import { updateState } from "./updateState.js"
import { validate } from "./validate.js"
import { verifyAudit } from "./verifyAudit.js"
import { auditAnchor } from "./auditAnchor.js"

export { DEFAULT_DB } from "./options.js"
export { ExitCode } from "./exit.js"

const subcommands = [run, resume, respond, updateState, inspect, list, thread, cancel, prune, validate, compile, simulate, replay, counterfactual, serve, newCommand, verifyAudit, auditAnchor] as const

/** The subcommands' names, in help order. */
export const COMMAND_NAMES: ReadonlyArray<string> = subcommands.flatMap((command) => [
  ...Command.getNames(command as Command.Command<string, never, never, unknown>)
])

/** The help of subcommand `name` as @effect/cli renders it, without ANSI codes; undefined for an unknown name. */
const helpOf = (name: string): string | undefined => {
  const command = subcommands.find((c) => [...Command.getNames(c as Command.Command<string, never, never, unknown>)].includes(name))
  return command === undefined
    ? undefined
    : stripAnsi(HelpDoc.toAnsiText(Command.getHelp(command as Command.Command<string, never, never, unknown>, CliConfig.defaultConfig)))
}

/** The flags a subcommand accepts (`--db`, `-q`, …), read off its help; undefined for an unknown name. */
export const flagsOf = (name: string): ReadonlySet<string> | undefined => {
  const help = helpOf(name)
  if (help === undefined) return undefined
  return new Set([...help.matchAll(/(?<![\w-])--?[A-Za-z][\w-]*/g)].map((m) => m[0]))
}

/**
 * The named parts of a usage (flags and arguments), each with the values it accepts (none:
 * a flag that takes no value) and whether it may be left out.
 */
const namedIn = (usage: Usage.Usage, optional = false): ReadonlyArray<{ readonly named: Usage.Named; readonly optional: boolean }> => {
  switch (usage._tag) {
    case "Named":
      return [{ named: usage, optional }]
    case "Optional":
      return namedIn(usage.usage, true)
    case "Repeated":
      return namedIn(usage.usage, optional)
    case "Alternation":
    case "Concat":
      return [...namedIn(usage.left, optional), ...namedIn(usage.right, optional)]
    default:
      return []
  }
}

/** A flag that takes a value: what it takes as its help writes it, and whether it may be left out. */
export interface ValueFlag {
  readonly takes: string
  readonly optional: boolean
}

/**
 * The flags of subcommand `name` that take a value (`--db`, `-i`, …), each with what it
 * takes as its help writes it (`text`, `integer`, `pending | running | …`) and whether it
 * may be left out; undefined for an unknown name. Read off the command's own options, so a flag added is covered.
 */
export const valueFlagsOf = (name: string): ReadonlyMap<string, ValueFlag> | undefined => {
  const command = subcommands.find((c) => [...Command.getNames(c as Command.Command<string, never, never, unknown>)].includes(name))
  if (command === undefined) return undefined
  const flags = new Map<string, ValueFlag>()
  for (const { named, optional } of namedIn(Command.getUsage(command as Command.Command<string, never, never, unknown>))) {
    if (Option.isNone(named.acceptedValues)) continue
    for (const flag of named.names) if (flag.startsWith("-")) flags.set(flag, { takes: named.acceptedValues.value, optional })
  }
  return flags
}

/** One line per command for `stargraph --help`; a command's own `--help` has its whole description. */
const SUMMARIES: { readonly [name: string]: string } = {
  run: "start a run and drive it here, printing every step",
  resume: "continue a stopped run from its last checkpoint",
  respond: "answer a run awaiting input and continue it",
  "update-state": "edit the state of a stopped run in place",
  inspect: "a run's timeline, its artifacts and its RunSummary",
  list: "the runs in a database, newest first",
  thread: "a thread's runs and the state its next run starts from",
  cancel: "cancel a run, stopped or driven by another process",
  prune: "delete runs that ended before a cutoff",
  validate: "validate a graph, print its hashes",
  compile: "print the IR an authoring-format graph lowers to",
  simulate: "evaluate a graph's rules on fixture states; no node runs",
  replay: "fork a counterfactual run, optionally diffed with its parent",
  counterfactual: "check a fork's mutation, print its hashes",
  serve: "serve the HTTP API and the project's triggers",
  new: "start a graph from one of the original's bundles",
  "verify-audit": "check a chained audit log's hash links and signatures",
  "audit-anchor": "pin a chained audit log's head; print the anchor to keep"
}

/** The summary line of command `name` in `stargraph --help` (without one above: its description up to the first `;`). */
export const commandSummary = (name: string): string => {
  const description = /DESCRIPTION\n\n(.*)/.exec(helpOf(name) ?? "")?.[1] ?? ""
  return SUMMARIES[name] ?? description.split(/; | \(/)[0]!
}

/** The root command. */
export const stargraph = Command.make("stargraph").pipe(
  Command.withDescription("Stargraph: a durable graph runtime with exact replay"),
  Command.withSubcommands(subcommands)
)
