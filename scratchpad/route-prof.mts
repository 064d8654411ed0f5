import * as Effect from "effect/Effect"
import * as Graph from "../src/graph/Graph.js"
import { open } from "../src/fathom/RuleSession.js"
const header = `ir_version: "1.0.0"\nid: run:t\nstate_schema:\n  fields:\n    n: { type: integer, default: 0 }\n`
const count = 10
const nodes = Array.from({ length: count }, (_, i) => `  - { id: n${i}, kind: noop }`).join("\n")
const edges = Array.from({ length: count - 1 }, (_, i) => `  - { from: n${i}, to: n${i + 1} }`).join("\n")
const g = Effect.runSync(Graph.fromYaml(`${header}nodes:\n${nodes}\nedges:\n${edges}\n`))
const s = open(g.rules)
if (s._tag === "Left") throw s.left
for (let round = 0; round < 5; round++) {
  const t3 = performance.now()
  for (let i = 0; i < 20000; i++) s.right.route({ runId: "r", step: i, at: "x", state: { n: i }, nodes: [`n${i % count}`] })
  console.log("route us", ((performance.now() - t3) / 20).toFixed(2))
}
const t = performance.now()
for (let i = 0; i < 300; i++) open(g.rules)
console.log("open us", ((performance.now() - t) / 300 * 1000).toFixed(0))
