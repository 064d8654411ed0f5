// CPU time per run (process.cpuUsage, less sensitive to other load than wall time), K=3
// subgraph vs inlined, interleaved, one build per process:  ROOT=dist DB=memory node scratchpad/sg-cpu.mjs [runs]
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
const root = process.env.ROOT ?? "dist", DB = process.env.DB ?? "memory"
const Graph = await import(`../${root}/src/graph/Graph.js`)
const layer = DB === "memory" ? (await import(`../${root}/src/checkpoint/MemoryCheckpointer.js`)).layer
  : (await import(`../${root}/src/checkpoint/SqliteCheckpointer.js`)).layer({ filename: join(mkdtempSync(join(tmpdir(), "sgc-")), "t.sqlite"), synchronous: DB })
const dir = mkdtempSync(join(tmpdir(), "sg-cpu-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = [0, 1, 2].map((i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
const runs = Number(process.argv[2] ?? 2000)
await Effect.runPromise(Effect.gen(function*() {
  const i = yield* Graph.load(join(dir, "inlined.yaml")), p = yield* Graph.load(join(dir, "parent.yaml"))
  const once = (g) => Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
  for (let r = 0; r < 300; r++) { yield* once(i); yield* once(p) }
  let ci = 0, cp = 0
  for (let r = 0; r < runs; r++) {
    const a = process.cpuUsage(); yield* once(i); const b = process.cpuUsage(); yield* once(p); const c = process.cpuUsage()
    ci += b.user + b.system - a.user - a.system; cp += c.user + c.system - b.user - b.system
  }
  console.log(JSON.stringify({ root, DB, inlined_cpu_us: +(ci / runs).toFixed(0), parent_cpu_us: +(cp / runs).toFixed(0), ratio: +(cp / ci).toFixed(3) }))
}).pipe(Effect.provide(layer)))
