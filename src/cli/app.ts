/**
 * The whole `stargraph` program for one argv, ready for a runtime: the commands plus
 * what surrounds them. An argument the parser refuses (unknown flag, missing argument,
 * bad value) is one line on stderr and exit 2, like every other bad input; `--help` has
 * no ANSI codes when stdout is not a TTY or `NO_COLOR` is set; a stdout closed by its
 * reader (`| head -1`) ends quietly.
 *
 *   cli(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
 */
import { CliConfig, Command, HelpDoc, ValidationError } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { STARGRAPH_VERSION } from "../version.js"
import { stargraph } from "./commands.js"
import { ExitCode, setExit } from "./exit.js"
import { colorAllowed, quietOnClosedPipe, stripAnsi } from "./terminal.js"

/** The console the parser prints through: help without colour where colour is off; its own error output dropped (see `cli`). */
const parserConsole = (base: Console.Console): Console.Console => {
  const color = colorAllowed()
  return {
    ...base,
    log: (...args) => base.log(...args.map((a) => (typeof a === "string" && !color ? stripAnsi(a) : a))),
    error: () => Effect.void
  }
}

/** One line out of a parser message (`HelpDoc`), without ANSI codes. */
export const oneLine = (doc: HelpDoc.HelpDoc): string =>
  stripAnsi(HelpDoc.toAnsiText(doc)).split("\n").map((l) => l.trim()).filter((l) => l.length > 0).join(" ")

const COMMANDS = new Set(["run", "resume", "inspect", "list", "cancel", "validate", "replay", "serve"])

/** Where to look for the right usage: the subcommand's help when one was named. */
const helpHint = (argv: ReadonlyArray<string>): string => {
  const command = argv.slice(2).find((a) => COMMANDS.has(a))
  return command === undefined ? "stargraph --help" : `stargraph ${command} --help`
}

const app = (argv: ReadonlyArray<string>) =>
  Effect.consoleWith((base) => {
    const commands = stargraph.pipe(Command.transformHandler((handler) => Effect.withConsole(handler, base)))
    return Command.run(commands, { name: "stargraph", version: STARGRAPH_VERSION })(argv).pipe(
      Effect.withConsole(parserConsole(base)),
      Effect.catchIf(ValidationError.isValidationError, (error) =>
        Effect.zipRight(
          Console.error(`error: ${oneLine(error.error) || "invalid arguments"} (fix: see ${helpHint(argv)})`),
          setExit(ExitCode.usage)
        ))
    )
  })

/** Run the CLI on `argv` (`process.argv`: the runtime and script come first). */
export const cli = (argv: ReadonlyArray<string>) =>
  Effect.suspend(() => {
    quietOnClosedPipe()
    return app(argv)
  }).pipe(Effect.provide(CliConfig.layer({ showBuiltIns: false })))
