import * as Effect from "effect/Effect"
import * as Graph from "../src/graph/Graph.js"
import * as Clips from "../src/fathom/clips/index.js"
const header = `ir_version: "1.0.0"\nid: run:t\nstate_schema:\n  fields:\n    n: { type: integer, default: 0 }\n`
for (const count of [10, 100]) {
const nodes = Array.from({ length: count }, (_, i) => `  - { id: n${i}, kind: noop }`).join("\n")
const edges = Array.from({ length: count - 1 }, (_, i) => `  - { from: n${i}, to: n${i + 1} }`).join("\n")
const g = Effect.runSync(Graph.fromYaml(`${header}nodes:\n${nodes}\nedges:\n${edges}\n`))
const e = Clips.makeEngine()
e.registerFunction("stargraph-case", () => Clips.FALSE)
let t = performance.now()
for (let i = 0; i < 300; i++) { const x = Clips.makeEngine(); for (const p of g.rules.programs) x.load(p) }
console.log(count, "load us", ((performance.now() - t) / 300 * 1000).toFixed(0))
for (const p of g.rules.programs) e.load(p)
e.reset()
const snap = e.snapshot()
t = performance.now()
for (let i = 0; i < 3000; i++) e.reset()
console.log(count, "reset us", ((performance.now() - t) / 3000 * 1000).toFixed(1))
t = performance.now()
for (let i = 0; i < 3000; i++) e.restore(snap)
console.log(count, "restore us", ((performance.now() - t) / 3000 * 1000).toFixed(1))
}
