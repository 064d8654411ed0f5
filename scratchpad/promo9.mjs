// Promotion per run: runs in one root fiber's loop vs each run in its own Effect.runPromise.
import v8 from "node:v8"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Graph from "../dist/src/graph/Graph.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
const N = 10
const ir = { ir_version: "1.0.0", id: "bench:linear", state_schema: { fields: { counter: { type: "integer", default: 0 } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "noop" })), edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })) }
const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size
const rt = ManagedRuntime.make(SqliteCheckpointer.layer({ filename: ":memory:" }))
const graph = await Effect.runPromise(Graph.make(ir))
const eff = Effect.flatMap(graph.start(), (run) => run.start())
for (let i = 0; i < 300; i++) await rt.runPromise(eff)
global.gc(); let before = old(); const R = 600
for (let i = 0; i < R; i++) {
  await rt.runPromise(eff)
  // MACROTASK=1: a macrotask between runs.
  if (process.env.MACROTASK) await new Promise((r) => setImmediate(r))
}
console.log("one runPromise per run", Math.round((old() - before) / R))
global.gc(); before = old()
await rt.runPromise(Effect.gen(function*() { for (let i = 0; i < R; i++) yield* eff }))
console.log("one root fiber looping", Math.round((old() - before) / R))
