// Heap growth across runs (compiled dist; memory or in-memory SQLite checkpointer).
import * as Effect from "effect/Effect"
import * as Graph from "../dist/src/graph/Graph.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
const N = 10
const ir = { ir_version: "1.0.0", id: "bench:linear", state_schema: { fields: { counter: { type: "integer", default: 0 }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "function", module: "bench", export: "step" })), edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })) }
const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })
const layer = process.argv[2] === "memory" ? MemoryCheckpointer.layer : SqliteCheckpointer.layer({ filename: ":memory:" })
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.make(ir, { modules: { bench: { step } } })
  const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start())
  let t = performance.now()
  for (let i = 1; i <= 2000; i++) {
    yield* once
    if (i % 250 === 0) { global.gc?.(); console.log(i, "heap MB", (process.memoryUsage().heapUsed / 1e6).toFixed(1), "ms/250 runs", (performance.now() - t).toFixed(0)); t = performance.now() }
  }
}).pipe(Effect.provide(layer)))
