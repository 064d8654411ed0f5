// node_recorded vs node_unrecorded for the ml node on linear.onnx, back to back, many rounds.
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
import { liveCalls } from "../src/nodes/calls.js"
import type { NodeInput } from "../src/nodes/Executor.js"
import { stepRecorder } from "../src/runtime/Cassette.js"
const MODELS = join(import.meta.dirname, "..", "test", "fixtures", "models")
const graph = await Effect.runPromise(Graph.make({
  ir_version: "1.0.0", id: "bench:ml",
  state_schema: { fields: { x: { type: "any" }, y: { type: "any" } } },
  nodes: [{ id: "m", kind: "ml", model_id: "bench", version: "1", runtime: "onnx", file_uri: "linear.onnx" }],
  edges: [{ from: "m", to: "__end__" }]
}, { baseDir: MODELS }))
const execute = graph.nodes.get("m")!.execute
const med = (a: Array<number>) => a.sort((p, q) => p - q)[a.length >> 1]!
const time = (recorded: boolean, n: number, out: Array<number>) => Effect.runPromise(Effect.gen(function*() {
  for (let i = 0; i < n; i++) {
    const calls = recorded ? stepRecorder(1, undefined).forNode("m") : liveCalls
    const input: NodeInput = { runId: "b", nodeId: "m", step: 1, calls, answers: [], graphHash: graph.graphHash }
    const t0 = performance.now()
    yield* execute({ x: [1, 2, 0.5, 1] }, input)
    out.push((performance.now() - t0) * 1000)
  }
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
const u: Array<number> = [], r: Array<number> = []
for (let k = 0; k < 3; k++) { await time(false, 2000, []); await time(true, 2000, []) }
for (let k = 0; k < 15; k++) { await time(false, 2000, u); await time(true, 2000, r) }
console.log({ unrecorded: med(u).toFixed(2), recorded: med(r).toFixed(2), diff: (med(r) - med(u)).toFixed(2) })
