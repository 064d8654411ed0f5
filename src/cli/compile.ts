/**
 * `stargraph compile <graph.yaml> [--show-clips]`: the IR document a graph in the
 * original's authoring format (no `ir_version`) is lowered to, printed as YAML; with
 * `--show-clips`, each rule's CLIPS left-hand side and actions as YAML comments
 * (`rule-id: <LHS> => goto X`). The graph is built first, so every error a run of it
 * would meet at load is reported here, at the key written. A document that already
 * declares `ir_version` is printed as written (with a note on stderr).
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { traced } from "../telemetry/TracingEnabled.js"
import { reportError } from "./exit.js"
import { graphArg, graphOptions, moduleRoot } from "./options.js"

/** The `compile` command. */
export const compile = Command.make(
  "compile",
  {
    graph: graphArg,
    moduleRoot,
    showClips: Options.boolean("show-clips").pipe(Options.withDescription("also print each rule as `rule-id: <CLIPS LHS> => goto X / halt`, as YAML comments (default: off)"))
  },
  ({ graph, moduleRoot, showClips }) =>
    Effect.gen(function*() {
      const Graph = yield* Effect.promise(() => import("../graph/Graph.js"))
      const { lowered } = yield* Effect.promise(() => import("./compileOutput.js"))
      const g = yield* Graph.load(graph, yield* graphOptions(moduleRoot))
      const output = lowered(graph, g, showClips)
      if (output.note !== undefined) yield* Console.error(output.note)
      yield* Console.log(output.text)
    }).pipe(traced("stargraph.cli.compile"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Print the IR a graph in the authoring format (no ir_version: state, nodes, routes) is lowered to; --show-clips adds each rule's CLIPS left-hand side"))
