// A/B of two builds (.base-dist vs dist): K=3 subgraph vs inlined, runs strictly alternating
// (inlined A, parent A, inlined B, parent B), medians per arm and the ratio per build.
//   DB=memory|NORMAL|FULL node scratchpad/sg-ab.mjs [runs] [warmup]
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
const dir = mkdtempSync(join(tmpdir(), "sg-ab-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = [0, 1, 2].map((i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
const runs = Number(process.argv[2] ?? 300), warm = Number(process.argv[3] ?? 150)
const DB = process.env.DB ?? "memory"
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const lib = async (root, tag) => {
  const Graph = await import(`../${root}/src/graph/Graph.js`)
  const layer = DB === "memory" ? (await import(`../${root}/src/checkpoint/MemoryCheckpointer.js`)).layer
    : (await import(`../${root}/src/checkpoint/SqliteCheckpointer.js`)).layer({ filename: join(dir, `${tag}.sqlite`), synchronous: DB })
  const rt = await Effect.runPromise(Effect.scoped(Effect.succeed(0))) // noop
  return { Graph, layer, tag }
}
const libs = [await lib(process.env.A ?? ".base-dist", "A"), await lib(process.env.B ?? "dist", "B")]
const programs = await Promise.all(libs.map(async ({ Graph, layer, tag }) => {
  const { ManagedRuntime } = await import("effect")
  const runtime = ManagedRuntime.make(layer)
  const i = await runtime.runPromise(Graph.load(join(dir, "inlined.yaml")))
  const p = await runtime.runPromise(Graph.load(join(dir, "parent.yaml")))
  const once = (g) => Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
  const time = async (g) => { const t = performance.now(); const s = await runtime.runPromise(once(g)); if (s.status !== "done") throw new Error(JSON.stringify(s)); return (performance.now() - t) * 1000 }
  return { tag, i: () => time(i), p: () => time(p), ti: [], tp: [] }
}))
for (let r = 0; r < warm + runs; r++) for (const x of (r % 2 ? programs : [...programs].reverse())) {
  const a = await x.i(); const b = await x.p()
  if (r >= warm) { x.ti.push(a); x.tp.push(b) }
}
for (const x of programs) console.log(x.tag, DB, "inlined", med(x.ti).toFixed(0), "parent", med(x.tp).toFixed(0), "ratio", (med(x.tp) / med(x.ti)).toFixed(3))
