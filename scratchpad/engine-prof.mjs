// Profile the in-memory engine on the built library: node --cpu-prof scratchpad/engine-prof.mjs [runs] [edges|facts]
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../dist/src/graph/Graph.js"
const N = 10
const ir = {
  ir_version: "1.0.0", id: "bench:linear",
  state_schema: { fields: { counter: { type: "integer", default: 0 }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "function", module: "bench", export: "step" })),
  ...(process.argv[3] === "facts"
    ? { rules: Array.from({ length: N - 1 }, (_, i) => ({ id: `r${i}`, when: `(node-id (id n${i})) (counter (value ?v&:(>= ?v 0)))`, then: [{ kind: "goto", target: `n${i + 1}` }] })) }
    : { edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })) })
}
const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })
const runs = Number(process.argv[2] ?? 3000)
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.make(ir, { modules: { bench: { step } } })
  const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start())
  for (let i = 0; i < 300; i++) yield* once
  const t0 = performance.now(); const c0 = process.cpuUsage()
  for (let i = 0; i < runs; i++) yield* once
  const c = process.cpuUsage(c0); console.log("us per run", ((performance.now() - t0) / runs * 1000).toFixed(0), "cpu us per run", ((c.user + c.system) / runs).toFixed(0))
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
