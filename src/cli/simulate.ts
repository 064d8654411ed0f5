/**
 * `stargraph simulate <graph.yaml> --fixtures <fixtures.json>`: evaluate the graph's rules
 * with the real engine against given states and facts, without running nodes or writing
 * anything. A fixture is `{"node": "classify", "state": {...}, "facts": ["(escalate)"]}`;
 * the file holds a list of them (or `{"fixtures": [...]}`).
 */
import { Command, Options } from "@effect/cli"
import { readFileSync } from "node:fs"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as SchemaType from "effect/Schema"
import { InputError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { reportError } from "./exit.js"
import { graphArg, json } from "./options.js"

const readFixtures = (file: string) =>
  Effect.try({
    try: () => JSON.parse(readFileSync(file, "utf8")) as unknown,
    catch: (e) => new InputError({ field: "--fixtures", message: `cannot read ${file} as JSON: ${e instanceof Error ? e.message : String(e)}`, fix: "pass a JSON file with a list of {node, state, facts}" })
  })

/** The `simulate` command. */
export const simulate = Command.make(
  "simulate",
  {
    graph: graphArg,
    fixtures: Options.text("fixtures").pipe(Options.withDescription("JSON file: a list of {node, state, facts} to evaluate the rules against")),
    json: json("the results")
  },
  (o) =>
    Effect.gen(function*() {
      const [Graph, Schema, SchemaAST, ParseResult, { simulate: evaluate }, { simulatedLines }, { FactSpec }] = yield* Effect.promise(() =>
        Promise.all([
          import("../graph/Graph.js"),
          import("effect/Schema"),
          import("effect/SchemaAST"),
          import("effect/ParseResult"),
          import("../runtime/dryRun.js"),
          import("./rules.js"),
          import("../fathom/facts.js")
        ])
      )
      const g = yield* Graph.load(o.graph)
      const raw = yield* readFixtures(o.fixtures)
      const Fixture = Schema.Struct({
        node: Schema.Literal(...(g.rules.nodeIds as [string, ...Array<string>])),
        state: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
        facts: Schema.optional(Schema.Array(FactSpec))
      })
      const list = raw !== null && typeof raw === "object" && !Array.isArray(raw) && "fixtures" in raw ? (raw as { fixtures: unknown }).fixtures : raw
      const fixtures = yield* Schema.decodeUnknown(Schema.Array(Fixture), { onExcessProperty: "error" })(list).pipe(
        Effect.mapError((e) => {
          const issue = ParseResult.ArrayFormatter.formatErrorSync(e)[0]
          const at = (issue?.path ?? []).map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("")
          return new InputError({ field: `--fixtures${at}`, message: issue?.message ?? "not a list of fixtures", fix: `each fixture is {"node": one of ${g.rules.nodeIds.slice(0, 8).join(", ")}, "state": {...}, "facts": ["(fact ...)"]}` })
        })
      )
      // The state of a fixture: declared fields only, each a value its schema accepts (as
      // written in inputs: a module schema's fields on their encoded side).
      const encoded = SchemaAST.encodedAST(g.state.schema.ast)
      const written = new Map(SchemaAST.isTypeLiteral(encoded) ? encoded.propertySignatures.map((ps) => [String(ps.name), Schema.make(ps.type)] as const) : [])
      for (const [i, fixture] of fixtures.entries()) {
        for (const [key, value] of Object.entries(fixture.state ?? {})) {
          const field = `--fixtures[${i}].state.${key}`
          if (!g.state.fields.has(key)) {
            return yield* new InputError({ field, message: `fixture ${i + 1}: '${key}' is not a state field`, fix: `use one of: ${[...g.state.fields.keys()].join(", ")}` })
          }
          const schema = g.state.fieldSchemas?.get(key) ?? written.get(key)
          const decoded = schema === undefined ? undefined : Schema.decodeUnknownEither(schema as SchemaType.Schema<unknown, unknown, never>)(value)
          if (decoded !== undefined && decoded._tag === "Left") {
            const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
            return yield* new InputError({ field, message: `fixture ${i + 1}: ${issue?.message ?? "not a value of the field"}`, fix: `give '${key}' a value of its declared type` })
          }
        }
      }
      const results = yield* evaluate(g, fixtures)
      if (o.json) return yield* Console.log(JSON.stringify(results, null, 2))
      for (const line of simulatedLines(results)) yield* Console.log(line)
    }).pipe(traced("stargraph.cli.simulate"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Evaluate a graph's rules against fixture states and facts with the real engine (no node runs, nothing is written)"))
