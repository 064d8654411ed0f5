// Which runs are slow (index, ms) in a 500-run memory-mode bench on dist.
import * as Effect from "effect/Effect"
import * as Graph from "../dist/src/graph/Graph.js"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
const N = 10
const ir = { ir_version: "1.0.0", id: "bench:linear", state_schema: { fields: { counter: { type: "integer", default: 0 }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "function", module: "bench", export: "step" })), edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })) }
const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })
const layer = process.argv[2] === "memory" ? MemoryCheckpointer.layer : SqliteCheckpointer.layer({ filename: "/tmp/tail-" + Date.now() + ".sqlite", synchronous: "NORMAL" })
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.make(ir, { modules: { bench: { step } } })
  const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start())
  yield* once
  const lat = []
  const t0 = performance.now()
  for (let i = 0; i < 500; i++) { const s = performance.now(); yield* once; lat.push(performance.now() - s) }
  const total = performance.now() - t0
  const buckets = [0, 50, 100, 200, 300, 400, 500].map((b, j, a) => j === 0 ? null : lat.slice(a[j - 1], b).reduce((x, y) => x + y, 0).toFixed(0)).slice(1)
  console.log("total ms", total.toFixed(0), "per 50/50/100/100/100/100 runs:", buckets.join(" "), "slow(>5ms):", lat.map((l, i) => [i, l]).filter(([, l]) => l > 5).map(([i, l]) => `${i}:${l.toFixed(0)}`).join(" "))
}).pipe(Effect.provide(layer)))
