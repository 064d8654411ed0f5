// Profile a run's fixed cost: a one-node graph, in memory, run back to back (built library).
// node --cpu-prof scratchpad/fixed-cost-prof.mjs [runs]
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../dist/src/graph/Graph.js"
const dir = mkdtempSync(join(tmpdir(), "fixed-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
writeFileSync(join(dir, "one.yaml"), `ir_version: "1.0.0"\nid: bench:one\n${schema}nodes:\n  - { id: n0, kind: function, module: ./step.mjs, export: step }\n`)
const runs = Number(process.argv[2] ?? 20000)
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.load(join(dir, "one.yaml"))
  const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (r) => r.start())
  for (let i = 0; i < 2000; i++) yield* once
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) yield* once
  console.log("µs per one-step run", ((performance.now() - t0) / runs * 1000).toFixed(1))
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
