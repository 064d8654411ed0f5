/**
 * The `stargraph` command and its subcommands, one file each. Only `@effect/cli`,
 * `effect` and the small shared modules load here: each command imports the modules it
 * runs on (graph loading, the Scheduler, SQLite, the server, replay) when it runs, so
 * `--help` and argument errors start fast. Exit codes: see `exit.ts`.
 */
import { Command } from "@effect/cli"
import { cancel } from "./cancel.js"
import { inspect } from "./inspect.js"
import { list } from "./list.js"
import { replay } from "./replay.js"
import { respond, resume } from "./resume.js"
import { run } from "./run.js"
import { serve } from "./serve.js"
import { simulate } from "./simulate.js"
import { validate } from "./validate.js"

export { DEFAULT_DB } from "./options.js"
export { ExitCode } from "./exit.js"

const subcommands = [run, resume, respond, inspect, list, cancel, validate, simulate, replay, serve] as const

/** The subcommands' names, in help order. */
export const COMMAND_NAMES: ReadonlyArray<string> = subcommands.flatMap((command) => [
  ...Command.getNames(command as Command.Command<string, never, never, unknown>)
])

/** The root command. */
export const stargraph = Command.make("stargraph").pipe(
  Command.withDescription("Stargraph: a durable graph runtime with exact replay"),
  Command.withSubcommands(subcommands)
)
