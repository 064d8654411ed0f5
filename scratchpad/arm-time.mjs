// Wall µs per run of one bench arm (after warm-up), memory: ROOT=.ab-x node scratchpad/arm-time.mjs <inlined|parent> [N]
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
const root = process.env.ROOT ?? "dist"
const Graph = await import(`../${root}/src/graph/Graph.js`)
const layer = (await import(`../${root}/src/checkpoint/MemoryCheckpointer.js`)).layer
const dir = mkdtempSync(join(tmpdir(), "at-g-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = [0, 1, 2].map((i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
const [arm, n = "5000"] = process.argv.slice(2)
await Effect.runPromise(Effect.gen(function*() {
  const g = yield* Graph.load(join(dir, `${arm}.yaml`))
  const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
  for (let i = 0; i < 1000; i++) yield* once
  const t = performance.now()
  for (let i = 0; i < Number(n); i++) yield* once
  console.log(root, arm, ((performance.now() - t) * 1000 / Number(n)).toFixed(1))
}).pipe(Effect.provide(layer)))
