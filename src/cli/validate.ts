/** `stargraph validate <graph.yaml>`: validate a graph and print its hashes. */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { traced } from "../telemetry/TracingEnabled.js"
import { reportError } from "./exit.js"
import { graphArg, graphOptions, moduleRoot } from "./options.js"
import { counted } from "./counted.js"

/** The `validate` command. */
export const validate = Command.make(
  "validate",
  {
    graph: graphArg,
    moduleRoot,
    rules: Options.boolean("rules").pipe(Options.withDescription("also print the compiled rule program: templates, packs, edges as rules, and rules (default: off)"))
  },
  ({ graph, moduleRoot, rules }) =>
    Effect.gen(function*() {
      const [Graph, { nodesNeedingModel }] = yield* Effect.promise(() => Promise.all([import("../graph/Graph.js"), import("../nodes/lm/modelCheck.js")]))
      const g = yield* Graph.load(graph, yield* graphOptions(moduleRoot))
      const packs = g.rules.packs.map((p) => `${p.id}@${p.version}${p.signedBy ? ` (signed by ${p.signedBy})` : ""}`)
      yield* Console.log(`ok ${g.id}: ${counted(g.topology.nodes.size, "node")}, ${counted(g.ir.edges.length, "edge")}, ${counted(g.ir.rules.length, "rule")}, ${counted(g.state.fields.size, "state field")}${packs.length > 0 ? `, packs ${packs.join(", ")}` : ""}`)
      yield* Console.log(`graph_hash=${g.graphHash}`)
      yield* Console.log(`runtime_hash=${g.runtimeHash}`)
      for (const warning of g.rules.warnings) yield* Console.error(`warning: ${warning}`)
      // A graph validates without a model; `run` refuses to start it without one.
      const modelless = g.lm === undefined ? nodesNeedingModel(g.nodes) : []
      if (modelless.length > 0) {
        yield* Console.error(
          `warning: ${modelless.map((id) => `'${id}'`).join(", ")} call${modelless.length === 1 ? "s" : ""} a language model and name${modelless.length === 1 ? "s" : ""} no model: ` +
            "stargraph run refuses to start the graph without --lm-url <base url> --lm-model <name> (or set config.model, or config.stub: true)"
        )
      }
      if (rules) yield* Console.log(g.rules.text)
    }).pipe(traced("stargraph.cli.validate"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Validate a graph file and print its graph_hash and runtime_hash (and, with --rules, its compiled rules)"))
