import * as Effect from "effect/Effect"
import * as SchemaAST from "effect/SchemaAST"
import * as Graph from "../dist/src/graph/Graph.js"
for (const fields of [{ n: { type: "integer", default: 0 } }, { counter: { type: "integer", default: 0 }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } }]) {
  const g = await Effect.runPromise(Graph.make({ ir_version: "1.0.0", id: "x", state_schema: { fields }, nodes: [{ id: "a", kind: "noop" }] }))
  const ast = g.definition?.state?.schema?.ast ?? g.state?.schema?.ast
  console.log(Object.keys(g).slice(0, 20).join(","), ast?._tag, ast && SchemaAST.isTypeLiteral(ast), ast?.indexSignatures?.length)
}
