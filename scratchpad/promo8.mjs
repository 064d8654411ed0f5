// Promotion per run with the real loop, as the checkpointer's step commit is stubbed out.
import v8 from "node:v8"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Graph from "../dist/src/graph/Graph.js"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import { Checkpointer } from "../dist/src/checkpoint/Checkpointer.js"
const N = 10
const ir = { ir_version: "1.0.0", id: "bench:linear", state_schema: { fields: { counter: { type: "integer", default: 0 } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "noop" })), edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })) }
const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size
const stubbed = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (c) => ({ ...c, commitSteps: () => Effect.void, updateRun: () => Effect.void })))
for (const [label, layer] of [["memory", MemoryCheckpointer.layer], ["stubbed commits", stubbed]]) {
  await Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.make(ir)
    const eff = Effect.flatMap(graph.start(), (run) => run.start())
    for (let i = 0; i < 300; i++) yield* eff
    global.gc(); const before = old(); const R = 600
    for (let i = 0; i < R; i++) yield* eff
    console.log(label, "old-space growth per run", Math.round((old() - before) / R))
  }).pipe(Effect.provide(layer)))
}
