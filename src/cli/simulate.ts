/**
 * `stargraph simulate <graph.yaml> --fixtures <fixtures.yaml|json>`: evaluate the graph's
 * rules with the real engine, without running nodes or writing anything. The file holds
 * either a list of fixtures `{"node": "classify", "state": {...}, "facts": ["(escalate)"]}`
 * (or `{"fixtures": [...]}`), each evaluated on its own, or, as the original Stargraph's
 * `simulate` takes it, a mapping of every node id to its synthetic output: the nodes
 * "run" in declaration order, each output written over the state, and the rules are
 * evaluated after each in one working memory; the trace is the original's
 * (`graph_hash=`, `rule_firings=`, one `rule=… fired=… matched=[…] actions=[…]` per rule).
 */
import { Command, Options } from "@effect/cli"
import { readFileSync } from "node:fs"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as SchemaType from "effect/Schema"
import { InputError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { reportError } from "./exit.js"
import { graphArg, graphOptions, json, moduleRoot } from "./options.js"

const FORMATS = "a list of {node, state, facts}, or a mapping of every node id to its synthetic output ({field: value, …})"

const readFixtures = (file: string, parseYaml: (text: string) => unknown) =>
  Effect.try({
    try: () => parseYaml(readFileSync(file, "utf8")),
    catch: (e) => new InputError({ field: "--fixtures", message: `cannot read ${file} as YAML or JSON: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`, fix: `pass a YAML or JSON file with ${FORMATS}` })
  })

/** True for the original's form: a mapping (not a list, not `{fixtures: [...]}`). */
const isOutputMap = (raw: unknown): raw is { readonly [node: string]: unknown } =>
  raw !== null && typeof raw === "object" && !Array.isArray(raw) && !("fixtures" in raw)

/** The `simulate` command. */
export const simulate = Command.make(
  "simulate",
  {
    graph: graphArg,
    fixtures: Options.text("fixtures").pipe(Options.withDescription(`YAML or JSON file: ${FORMATS} (required: no default)`)),
    json: json("the results"),
    moduleRoot
  },
  (o) =>
    Effect.gen(function*() {
      const [Graph, Schema, SchemaAST, ParseResult, { simulate: evaluate, simulateOutputs: walk }, { simulatedLines }, { FactSpec }, { parse: parseYaml }] = yield* Effect.promise(() =>
        Promise.all([
          import("../graph/Graph.js"),
          import("effect/Schema"),
          import("effect/SchemaAST"),
          import("effect/ParseResult"),
          import("../runtime/dryRun.js"),
          import("./rules.js"),
          import("../fathom/facts.js"),
          import("yaml")
        ])
      )
      const g = yield* Graph.load(o.graph, yield* graphOptions(o.moduleRoot))
      const raw = yield* readFixtures(o.fixtures, (text) => parseYaml(text) as unknown)
      const Fixture = Schema.Struct({
        node: Schema.Literal(...(g.rules.nodeIds as [string, ...Array<string>])),
        state: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
        facts: Schema.optional(Schema.Array(FactSpec))
      })
      // The state of a fixture: declared fields only, each a value its schema accepts (as
      // written in inputs: a module schema's fields on their encoded side).
      const encoded = SchemaAST.encodedAST(g.state.schema.ast)
      const written = new Map(SchemaAST.isTypeLiteral(encoded) ? encoded.propertySignatures.map((ps) => [String(ps.name), Schema.make(ps.type)] as const) : [])
      const checkState = (state: { readonly [field: string]: unknown }, at: string, label: string) =>
        Effect.forEach(Object.entries(state), ([key, value]) => {
          const field = `${at}.${key}`
          if (!g.state.fields.has(key)) {
            return Effect.fail(new InputError({ field, message: `${label}: '${key}' is not a state field`, fix: `use one of: ${[...g.state.fields.keys()].join(", ")}` }))
          }
          const schema = g.state.fieldSchemas?.get(key) ?? written.get(key)
          const decoded = schema === undefined ? undefined : Schema.decodeUnknownEither(schema as SchemaType.Schema<unknown, unknown, never>)(value)
          if (decoded !== undefined && decoded._tag === "Left") {
            const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
            return Effect.fail(new InputError({ field, message: `${label}: ${issue?.message ?? "not a value of the field"}`, fix: `give '${key}' a value of its declared type` }))
          }
          return Effect.void
        }, { discard: true })

      if (isOutputMap(raw)) {
        // The original's form: every node's synthetic output, walked in declaration order.
        const nodes = g.ir.nodes.map((n) => n.id)
        const unknown = Object.keys(raw).find((key) => !nodes.includes(key))
        if (unknown !== undefined) {
          return yield* new InputError({ field: `--fixtures.${unknown}`, message: `'${unknown}' is not a node of ${g.id}`, fix: `key the outputs by node id: ${nodes.slice(0, 8).join(", ")}` })
        }
        const missing = nodes.find((node) => !(node in raw))
        if (missing !== undefined) {
          return yield* new InputError({ field: `--fixtures.${missing}`, message: `no synthetic output for node '${missing}': simulate runs no node, so every node needs one`, fix: `add '${missing}: {}' (the fields it writes, or nothing)` })
        }
        const outputs: Array<readonly [string, { readonly [field: string]: unknown }]> = []
        for (const node of nodes) {
          const output = raw[node] ?? {}
          if (typeof output !== "object" || Array.isArray(output)) {
            return yield* new InputError({ field: `--fixtures.${node}`, message: `the output of '${node}' is not a mapping of state fields`, fix: `write it as {field: value, …}, or {} for none` })
          }
          yield* checkState(output as { readonly [field: string]: unknown }, `--fixtures.${node}`, `node ${node}`)
          outputs.push([node, output as { readonly [field: string]: unknown }])
        }
        const steps = yield* walk(g, outputs)
        const firings = g.ir.rules.map((rule) => {
          const matched = steps.filter((step) => step.fired.includes(rule.id)).map((step) => step.node)
          return { rule_id: rule.id, fired: matched.length > 0, matched_nodes: matched, action_kinds: rule.then.map((a) => a.kind) }
        })
        if (o.json) return yield* Console.log(JSON.stringify({ graph_hash: g.graphHash, rule_firings: firings, steps }, null, 2))
        yield* Console.log(`graph_hash=${g.graphHash}`)
        yield* Console.log(`rule_firings=${firings.length}`)
        for (const f of firings) {
          // `fired=True`/`False`: the original prints a Python bool (and `run --inspect` writes `fired=True`).
          yield* Console.log(`  rule=${f.rule_id} fired=${f.fired ? "True" : "False"} matched=[${f.matched_nodes.join(",") || "-"}] actions=[${f.action_kinds.join(",") || "-"}]`)
        }
        return
      }
      const list = raw !== null && typeof raw === "object" && !Array.isArray(raw) && "fixtures" in raw ? (raw as { fixtures: unknown }).fixtures : raw
      const fixtures = yield* Schema.decodeUnknown(Schema.Array(Fixture), { onExcessProperty: "error" })(list).pipe(
        Effect.mapError((e) => {
          const issue = ParseResult.ArrayFormatter.formatErrorSync(e)[0]
          const path = issue?.path ?? []
          const at = path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("")
          // A node that is not one of the graph's: the Schema's message names only its first literal.
          const given = path.length === 2 && path[1] === "node" && Array.isArray(list) ? (list[Number(path[0])] as { node?: unknown } | undefined)?.node : undefined
          const message = given !== undefined ? `${JSON.stringify(given)} is not a node of ${g.id}` : issue?.message ?? "not a list of fixtures"
          return new InputError({ field: `--fixtures${at}`, message, fix: `each fixture is {"node": one of ${g.rules.nodeIds.slice(0, 8).join(", ")}, "state": {...}, "facts": ["(fact ...)"]}; or give ${FORMATS}` })
        })
      )
      if (fixtures.length === 0) {
        return yield* new InputError({ field: "--fixtures", message: "the file holds no fixtures: there is nothing to evaluate", fix: `add at least one {"node": …, "state": {…}}; or give ${FORMATS}` })
      }
      for (const [i, fixture] of fixtures.entries()) yield* checkState(fixture.state ?? {}, `--fixtures[${i}].state`, `fixture ${i + 1}`)
      const results = yield* evaluate(g, fixtures)
      if (o.json) return yield* Console.log(JSON.stringify(results, null, 2))
      for (const line of simulatedLines(results)) yield* Console.log(line)
    }).pipe(traced("stargraph.cli.simulate"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Evaluate a graph's rules against fixture states and facts with the real engine (no node runs, nothing is written)"))
