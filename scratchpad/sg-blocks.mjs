// Subgraph vs inlined (K=3) in one process, memory, built library: blocks of B runs of each, mean and median wall µs per run.
//   node scratchpad/sg-blocks.mjs [B] [rounds]
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../dist/src/graph/Graph.js"
const dir = mkdtempSync(join(tmpdir(), "sg-blocks-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = [0, 1, 2].map((i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
const B = Number(process.argv[2] ?? 100), rounds = Number(process.argv[3] ?? 20)
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
await Effect.runPromise(Effect.gen(function*() {
  const g = { i: yield* Graph.load(join(dir, "inlined.yaml")), p: yield* Graph.load(join(dir, "parent.yaml")) }
  const once = (x) => Effect.flatMap(x.start({ inputs: { counter: 0 } }), (r) => r.start())
  const t = { i: [], p: [] }, tot = { i: 0, p: 0 }, best = { i: Infinity, p: Infinity }, cpu = { i: 0, p: 0 }
  for (let r = 0; r < rounds + 3; r++) for (const k of (process.env.ARMS ?? "i,p").split(",")) {
    const t0 = performance.now(), c0 = process.cpuUsage()
    for (let j = 0; j < B; j++) { const s = performance.now(); yield* once(g[k]); if (r >= 3) t[k].push(performance.now() - s) }
    if (r >= 3) { const c = process.cpuUsage(c0); cpu[k] += (c.user + c.system) / 1000; tot[k] += performance.now() - t0; best[k] = Math.min(best[k], (performance.now() - t0) / B) }
  }
  const n = B * rounds
  console.log(JSON.stringify({ B, cpu: { i: (cpu.i / n * 1000).toFixed(0), p: (cpu.p / n * 1000).toFixed(0), ratio: (cpu.p / cpu.i).toFixed(2) }, mean: { i: (tot.i / n * 1000).toFixed(0), p: (tot.p / n * 1000).toFixed(0), ratio: (tot.p / tot.i).toFixed(2) }, best: { i: (best.i * 1000).toFixed(0), p: (best.p * 1000).toFixed(0), ratio: (best.p / best.i).toFixed(2) }, median: { i: (med(t.i) * 1000).toFixed(0), p: (med(t.p) * 1000).toFixed(0), ratio: (med(t.p) / med(t.i)).toFixed(2) } }))
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
