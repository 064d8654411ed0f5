/**
 * `stargraph counterfactual <graph.yaml> --step N --mutate mutation.yaml`: a fork's dry
 * run, as the original Stargraph's command of that name. It reads the mutation (YAML or
 * JSON), checks it against the graph as a fork would (unknown fields, overridden nodes
 * and fields, facts, pack versions), and prints the hashes a fork of a run of this graph
 * from step N with it would carry. Nothing is read from or written to a database.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { InputError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { reportError } from "./exit.js"
import { mutationText } from "./mutationArg.js"
import { graphArg, graphOptions, integer, json, moduleRoot } from "./options.js"

const FORMS = "a YAML or JSON file holding the CounterfactualMutation (state_overrides, facts_assert, facts_retract, rule_pack_version, node_output_overrides), or the mutation itself inline: --mutate '{\"state_overrides\": {\"risk\": \"high\"}}'"

/** The `counterfactual` command. */
export const counterfactual = Command.make(
  "counterfactual",
  {
    graph: graphArg,
    step: integer("step").pipe(Options.withDescription("the step a fork would start from (0 or more; required: no default)")),
    mutate: Options.text("mutate").pipe(Options.withAlias("mutation"), Options.withDescription(`the mutation: ${FORMS} (required: no default; --mutation, as replay spells it, is the same option)`)),
    json: json("the hashes"),
    moduleRoot
  },
  (o) =>
    Effect.gen(function*() {
      if (o.step < 0) return yield* new InputError({ field: "--step", message: `--step ${o.step} is negative`, fix: "pass a step number from 0 (the run's initial state) up" })
      const [Graph, { parse: parseYaml }, { decodeMutation, derivedHash }, { checkMutation }] = yield* Effect.promise(() =>
        Promise.all([import("../graph/Graph.js"), import("yaml"), import("../runtime/Mutation.js"), import("../replay/checkMutation.js")])
      )
      const { source, text } = yield* mutationText(o.mutate, "--mutate", FORMS)
      const raw = yield* Effect.try({
        try: () => parseYaml(text) as unknown,
        catch: (e) => new InputError({ field: "--mutate", message: `${source} is not valid YAML or JSON: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`, fix: `pass ${FORMS}` })
      })
      if (raw !== null && raw !== undefined && (typeof raw !== "object" || Array.isArray(raw))) {
        return yield* new InputError({ field: "--mutate", message: `${source} holds ${Array.isArray(raw) ? "a list" : `a ${typeof raw}`}, not a mapping`, fix: `pass ${FORMS}` })
      }
      const mutation = yield* decodeMutation(raw)
      const g = yield* Graph.load(o.graph, yield* graphOptions(o.moduleRoot))
      const forkGraph = yield* checkMutation(g, mutation, o.step)
      const derived = derivedHash(g.graphHash, o.step, mutation)
      if (o.json) {
        yield* Console.log(JSON.stringify({
          original_graph_hash: g.graphHash,
          cf_step: o.step,
          derived_graph_hash: derived,
          fork_graph_hash: forkGraph.graphHash,
          mutation
        }))
        return
      }
      yield* Console.log(`original_graph_hash=${g.graphHash}`)
      yield* Console.log(`cf_step=${o.step}`)
      yield* Console.log(`derived_graph_hash=${derived}`)
      if (forkGraph.graphHash !== g.graphHash) yield* Console.log(`fork_graph_hash=${forkGraph.graphHash}`)
    }).pipe(traced("stargraph.cli.counterfactual"), Effect.catchAll(reportError))
).pipe(
  Command.withDescription(
    "Check a counterfactual mutation against a graph without a database and print the hashes a fork from --step with it would carry: original_graph_hash, cf_step, derived_graph_hash (the fork's derived_hash when its parent ran this graph), and fork_graph_hash when a rule_pack_version changes the graph"
  )
)
