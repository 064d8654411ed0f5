// Print the checkpoints a K=3 subgraph run writes (sizes and the parent's subgraph step).
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import { Checkpointer } from "../dist/src/checkpoint/Checkpointer.js"
import * as Graph from "../dist/src/graph/Graph.js"
const dir = mkdtempSync(join(tmpdir(), "sg-cp-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = [0, 1, 2].map((i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.load(join(dir, "parent.yaml"))
  const s = yield* Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (r) => r.start())
  const cp = yield* Checkpointer
  for (const c of yield* cp.listCheckpoints(s.run_id)) console.log("parent", c.step, JSON.stringify(c).length, process.argv[2] ? JSON.stringify(c, null, 1) : "")
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
