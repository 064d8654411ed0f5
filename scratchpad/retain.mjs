// After a minor GC, which finished runs' handles are still alive? (WeakRefs; compiled dist)
import * as Effect from "effect/Effect"
import * as Graph from "../dist/src/graph/Graph.js"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
const N = 10
const ir = { ir_version: "1.0.0", id: "bench:linear", state_schema: { fields: { counter: { type: "integer", default: 0 }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "function", module: "bench", export: "step" })), edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })) }
const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.make(ir, { modules: { bench: { step } } })
  for (let i = 0; i < 300; i++) yield* Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start())
  const refs = []
  for (let i = 0; i < 100; i++) {
    const run = yield* graph.start({ inputs: { counter: 0 } })
    refs.push(new WeakRef(run))
    yield* run.start()
  }
  const tick = Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
  yield* tick
  global.gc({ type: "minor" })
  console.log("alive after minor GC:", refs.map((r) => (r.deref() ? 1 : 0)).join(""))
  yield* tick
  global.gc({ type: "minor" })
  console.log("after 2nd minor GC:  ", refs.map((r) => (r.deref() ? 1 : 0)).join(""))
  yield* tick
  global.gc()
  console.log("after full GC:       ", refs.map((r) => (r.deref() ? 1 : 0)).join(""))
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
