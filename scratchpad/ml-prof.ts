// CPU profile target: the ml node recorded, back to back (linear.onnx, batch 1).
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
const mode = process.argv[2] ?? "recorded"
await Effect.runPromise(Effect.gen(function*() {
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now()
    for (let i = 0; i < 200_000; i++) {
      const calls = mode === "recorded" ? stepRecorder(1, undefined).forNode("m") : liveCalls
      const input: NodeInput = { runId: "bench", nodeId: "m", step: 1, calls, answers: [], graphHash: graph.graphHash }
      yield* execute({ x: [1, 2, 0.5, 1] }, input)
    }
    console.log(mode, ((performance.now() - t0) / 200).toFixed(2), "µs")
  }
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
