/** `stargraph validate <graph.yaml>`: validate a graph and print its hashes. */
import { Command } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { reportError } from "./exit.js"
import { graphArg } from "./options.js"

/** The `validate` command. */
export const validate = Command.make(
  "validate",
  { graph: graphArg },
  ({ graph }) =>
    Effect.gen(function*() {
      const Graph = yield* Effect.promise(() => import("../graph/Graph.js"))
      const g = yield* Graph.load(graph)
      yield* Console.log(`ok ${g.id}: ${g.topology.nodes.size} nodes, ${g.ir.edges.length} edges, ${g.state.fields.size} state fields`)
      yield* Console.log(`graph_hash=${g.graphHash}`)
      yield* Console.log(`runtime_hash=${g.runtimeHash}`)
    }).pipe(Effect.catchAll(reportError))
).pipe(Command.withDescription("Validate a graph file and print its graph_hash and runtime_hash"))
