import * as Effect from "effect/Effect"
import * as Graph from "../src/graph/Graph.js"
import { open } from "../src/fathom/RuleSession.js"
const header = `ir_version: "1.0.0"\nid: run:t\nstate_schema:\n  fields:\n    n: { type: integer, default: 0 }\n`
for (const count of [10, 10, 100, 1000]) {
  const nodes = Array.from({ length: count }, (_, i) => `  - { id: n${i}, kind: noop }`).join("\n")
  const edges = Array.from({ length: count - 1 }, (_, i) => `  - { from: n${i}, to: n${i + 1} }`).join("\n")
  const g = Effect.runSync(Graph.fromYaml(`${header}nodes:\n${nodes}\nedges:\n${edges}\n`))
  const n = count <= 10 ? 200 : 5
  const t1 = performance.now()
  for (let i = 0; i < n; i++) open(g.rules)
  const t2 = performance.now()
  const s = open(g.rules)
  if (s._tag === "Left") throw s.left
  let st = 0
  const t3 = performance.now()
  for (let i = 0; i < 1000; i++) s.right.route({ runId: "r", step: i, at: "x", state: { n: i }, nodes: [`n${i % count}`] })
  const t4 = performance.now()
  for (let i = 0; i < 1000; i++) s.right.snapshot()
  const t5 = performance.now()
  console.log(count, "open ms", ((t2 - t1) / n).toFixed(3), "route us", ((t4 - t3)).toFixed(1), "snapshot us", (t5 - t4).toFixed(1))
}
