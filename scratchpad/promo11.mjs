// Is a finished run's handle kept alive across scavenges? A stub loop puts ~20 KB into the run's
// event log (reachable from the handle only) or allocates it and drops it.
import v8 from "node:v8"
import * as Effect from "effect/Effect"
import * as Graph from "../dist/src/graph/Graph.js"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import { RunLoop } from "../dist/src/runtime/RunLoop.js"
import { toSummary } from "../dist/src/checkpoint/models.js"
const ir = { ir_version: "1.0.0", id: "x", state_schema: { fields: { counter: { type: "integer", default: 0 } } }, nodes: [{ id: "a", kind: "noop" }] }
const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size
const big = () => Array.from({ length: 500 }, (_, i) => ({ i, s: "x" + i }))
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.make(ir)
  const variants = {
    inLog: (input) => Effect.zipRight(input.emit({ type: "step.started", step: 1, nodes: big() }), Effect.succeed(toSummary(input.run, input.checkpoint.state))),
    dropped: (input) => Effect.zipRight(Effect.sync(() => big().length), Effect.succeed(toSummary(input.run, input.checkpoint.state))),
    inSummary: (input) => Effect.succeed({ ...toSummary(input.run, input.checkpoint.state), extra: big() })
  }
  for (const [name, drive] of Object.entries(variants)) {
    const eff = Effect.flatMap(graph.start(), (run) => run.start()).pipe(Effect.provideService(RunLoop, { drive }))
    for (let i = 0; i < 300; i++) yield* eff
    global.gc(); const before = old(); const R = 1500
    for (let i = 0; i < R; i++) yield* eff
    console.log(name, "old-space growth per run", Math.round((old() - before) / R))
  }
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
