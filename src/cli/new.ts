/**
 * `stargraph new <name> [--dir path]`: start a project from one of the original's
 * bundles, as the original's `stargraph new` does: the bundle's `graph.yaml`, `state.ts`
 * and `README.md` are copied into `./<name>/` (or `--dir`), never over anything there.
 * `stargraph new research-bot` writes the original's authoring-format template instead,
 * `./research-bot.yaml` (or the file `--dir` names).
 */
import { Args, Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { traced } from "../telemetry/TracingEnabled.js"
import { BUNDLES, bundleFolder, bundleNamed, copyBundle, writeNew } from "./bundles.js"
import { reportError } from "./exit.js"
import { RESEARCH_BOT, researchBotYaml } from "./researchBot.js"

/** The `new` command. */
export const newCommand = Command.make(
  "new",
  {
    name: Args.text({ name: "name" }).pipe(
      Args.withDescription(`${RESEARCH_BOT} (an authoring-format template, written to ./${RESEARCH_BOT}.yaml), or the bundle to start from: ${BUNDLES.map((b) => b.name).join(", ")} (or its folder name, deep_research)`)
    ),
    dir: Options.text("dir").pipe(
      Options.withAlias("dest"),
      Options.optional,
      Options.withDescription("the folder to create (default: ./<name>), or for research-bot the file (default: ./research-bot.yaml); it must not exist")
    )
  },
  ({ dir, name }) =>
    Effect.gen(function*() {
      if (name === RESEARCH_BOT) {
        const file = Option.getOrElse(dir, () => `${RESEARCH_BOT}.yaml`)
        yield* writeNew(file, researchBotYaml, Option.isSome(dir) ? "--dir" : "name")
        yield* Console.log(`wrote ${file}`)
        yield* Console.log(`next: STARGRAPH_SEARCH_URL=<searxng url> STARGRAPH_CAPABILITIES='net.fetch net.fetch:<searxng url>/*' stargraph run ${file} --lm-url <url> --lm-model <model> --inputs question="…"`)
        return
      }
      const bundle = yield* bundleNamed(name)
      const from = yield* bundleFolder(bundle)
      const target = Option.getOrElse(dir, () => name)
      const written = yield* copyBundle(bundle, from, target, Option.isSome(dir) ? "--dir" : "name")
      yield* Console.log(`wrote ${written.join(", ")}`)
      yield* Console.log(`next: stargraph run ${target}/graph.yaml`)
    }).pipe(traced("stargraph.cli.new"), Effect.catchAll(reportError))
).pipe(
  Command.withDescription(
    "Start a graph from one of the original Stargraph's bundles: copy its graph.yaml, state.ts and README.md into a new folder (./<name>, or --dir), never over an existing one; research-bot writes its authoring-format template, ./research-bot.yaml"
  )
)
