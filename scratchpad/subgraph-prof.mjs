// Profile K-node subgraph runs vs inlined, built library:
//   K=3 DB=NORMAL node --cpu-prof scratchpad/subgraph-prof.mjs <inlined|parent> [runs]   (no DB: memory)
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../dist/src/graph/Graph.js"
const dir = mkdtempSync(join(tmpdir(), "sg-prof-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = Array.from({ length: Number(process.env.K ?? 3) }, (_, i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
const which = process.argv[2] ?? "parent"
const runs = Number(process.argv[3] ?? 5000)
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.load(join(dir, `${which}.yaml`))
  const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (r) => r.start())
  for (let i = 0; i < 500; i++) yield* once
  const t0 = performance.now(); const c0 = process.cpuUsage()
  for (let i = 0; i < runs; i++) yield* once
  const c = process.cpuUsage(c0)
  console.log(which, "µs per run", ((performance.now() - t0) / runs * 1000).toFixed(0), "cpu", ((c.user + c.system) / runs).toFixed(0))
}).pipe(Effect.provide(process.env.DB ? SqliteCheckpointer.layer({ filename: join(dir, "t.sqlite"), synchronous: process.env.DB }) : MemoryCheckpointer.layer)))
