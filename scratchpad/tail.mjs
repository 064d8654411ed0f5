// Which runs are slow (index, ms) in a 500-run bench on dist (memory, or SQLite NORMAL on a file);
// also how much of it is graph.start. Slow runs' time windows go to /tmp/slow-windows.json for
// slow-samples.mjs: node --cpu-prof --cpu-prof-interval 100 --cpu-prof-dir=/tmp/prof tail.mjs memory
import { writeFileSync } from "node:fs"
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
  let tStart = 0
  const once = Effect.gen(function*() {
    const s = performance.now()
    const run = yield* graph.start({ inputs: { counter: 0 } })
    tStart += performance.now() - s
    return yield* run.start()
  })
  yield* once
  tStart = 0
  const lat = []
  const wins = []
  const t0 = performance.now()
  for (let i = 0; i < 500; i++) {
    const s = performance.now()
    const h = process.hrtime.bigint()
    yield* once
    const l = performance.now() - s
    lat.push(l)
    if (l > 5) wins.push([Number(h / 1000n), Number(process.hrtime.bigint() / 1000n)])
  }
  const total = performance.now() - t0
  writeFileSync("/tmp/slow-windows.json", JSON.stringify(wins))
  const buckets = [0, 50, 100, 200, 300, 400, 500].map((b, j, a) => j === 0 ? null : lat.slice(a[j - 1], b).reduce((x, y) => x + y, 0).toFixed(0)).slice(1)
  console.log("total ms", total.toFixed(0), "graph.start ms", tStart.toFixed(0), "per 50/50/100/100/100/100 runs:", buckets.join(" "), "slow(>5ms):", lat.map((l, i) => [i, l]).filter(([, l]) => l > 5).map(([i, l]) => `${i}:${l.toFixed(0)}`).join(" "))
}).pipe(Effect.provide(layer)))
