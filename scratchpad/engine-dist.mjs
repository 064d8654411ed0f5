// The engine benchmark's loop against the compiled dist/ (for profiles with real line numbers).
import * as Effect from "effect/Effect"
import * as Graph from "../dist/src/graph/Graph.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
const N = 10, R = Number(process.argv[3] ?? 2000)
const ir = { ir_version: "1.0.0", id: "bench:linear", state_schema: { fields: { counter: { type: "integer", default: 0 }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "function", module: "bench", export: "step" })), edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })) }
const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })
const layer = process.argv[2] === "memory" ? MemoryCheckpointer.layer : SqliteCheckpointer.layer({ filename: ":memory:" })
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.make(ir, { modules: { bench: { step } } })
  const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start())
  for (let i = 0; i < Number(process.argv[4] ?? 100); i++) yield* once
  const t0 = performance.now()
  for (let i = 0; i < R; i++) yield* once
  console.log(process.argv[2], process.env.NOTRACE ? "tracer off" : "tracer on", Math.round(R * N / ((performance.now() - t0) / 1000)), "steps/s")
}).pipe((e) => (process.env.NOTRACE ? Effect.withTracerEnabled(e, false) : e), Effect.provide(layer)))
