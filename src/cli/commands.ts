/**
 * The `stargraph` command and its subcommands, one file each. Only `@effect/cli`,
 * `effect` and the small shared modules load here: each command imports the modules it
 * runs on (graph loading, the Scheduler, SQLite, the server, replay) when it runs, so
 * `--help` and argument errors start fast. Exit codes: see `exit.ts`.
 */
import { CliConfig, Command, HelpDoc } from "@effect/cli"
import { cancel } from "./cancel.js"
import { inspect } from "./inspect.js"
import { list } from "./list.js"
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

export { DEFAULT_DB } from "./options.js"
export { ExitCode } from "./exit.js"

const subcommands = [run, resume, respond, updateState, inspect, list, thread, cancel, prune, validate, simulate, replay, serve] as const

/** The subcommands' names, in help order. */
export const COMMAND_NAMES: ReadonlyArray<string> = subcommands.flatMap((command) => [
  ...Command.getNames(command as Command.Command<string, never, never, unknown>)
])

/** The flags a subcommand accepts (`--db`, `-q`, …), read off its help; undefined for an unknown name. */
export const flagsOf = (name: string): ReadonlySet<string> | undefined => {
  const command = subcommands.find((c) => [...Command.getNames(c as Command.Command<string, never, never, unknown>)].includes(name))
  if (command === undefined) return undefined
  const help = stripAnsi(HelpDoc.toAnsiText(Command.getHelp(command as Command.Command<string, never, never, unknown>, CliConfig.defaultConfig)))
  return new Set([...help.matchAll(/(?<![\w-])--?[A-Za-z][\w-]*/g)].map((m) => m[0]))
}

/** The root command. */
export const stargraph = Command.make("stargraph").pipe(
  Command.withDescription("Stargraph: a durable graph runtime with exact replay"),
  Command.withSubcommands(subcommands)
)
