// CPU per run for linear graphs of 1 and 10 nodes in memory: the fixed per-run cost and the per-step cost.
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../dist/src/graph/Graph.js"
const ir = (N) => ({
  ir_version: "1.0.0", id: "bench:linear",
  state_schema: { fields: { counter: { type: "integer", default: 0 }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "function", module: "bench", export: "step" })),
  edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` }))
})
const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })
await Effect.runPromise(Effect.gen(function*() {
  const out = {}
  for (const N of [1, 10, 1, 10]) {
    const graph = yield* Graph.make(ir(N), { modules: { bench: { step } } })
    const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start())
    for (let i = 0; i < 300; i++) yield* once
    const c0 = process.cpuUsage()
    for (let i = 0; i < 2000; i++) yield* once
    const c = process.cpuUsage(c0)
    out[N] = (c.user + c.system) / 2000
  }
  const s = (out[10] - out[1]) / 9
  console.log(JSON.stringify({ run1: Math.round(out[1]), run10: Math.round(out[10]), per_step: Math.round(s), fixed: Math.round(out[1] - s) }))
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
