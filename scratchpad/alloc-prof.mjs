// Allocation by function (collected objects included), K=3 subgraph or inlined, built library:
//   node scratchpad/alloc-prof.mjs <inlined|parent> [runs]
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Session } from "node:inspector/promises"
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../dist/src/graph/Graph.js"
const dir = mkdtempSync(join(tmpdir(), "sg-alloc-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = Array.from({ length: Number(process.env.K ?? 3) }, (_, i) => i).map((i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
const which = process.argv[2] ?? "parent", runs = Number(process.argv[3] ?? 2000)
const session = new Session(); session.connect()
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.load(join(dir, `${which}.yaml`))
  const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (r) => r.start())
  for (let i = 0; i < 500; i++) yield* once
  yield* Effect.promise(() => session.post("HeapProfiler.startSampling", { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }))
  for (let i = 0; i < runs; i++) yield* once
  const { profile } = yield* Effect.promise(() => session.post("HeapProfiler.stopSampling"))
  const self = new Map(); let tot = 0
  const walk = (n, path) => { const cf = n.callFrame; const k = `${cf.functionName || "(anon)"} ${cf.url.replace(/.*\/dist\/src\//, "").replace(/.*node_modules\//, "nm/")}:${cf.lineNumber + 1}`; self.set(k, (self.get(k) ?? 0) + n.selfSize); tot += n.selfSize; for (const c of n.children ?? []) walk(c) }
  walk(profile.head)
  console.log(which, "bytes per run", (tot / runs).toFixed(0))
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 35))) console.log((v / runs).toFixed(0).padStart(7), k)
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
