// Profile a subgraph run in memory: npx tsx --cpu-prof scratchpad/sg-prof.ts
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
const dir = process.argv[2]!
await Effect.runPromise(Effect.gen(function*() {
  const g = yield* Graph.load(join(dir, process.argv[3] ?? "parent.yaml"))
  const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
  for (let i = 0; i < 100; i++) yield* once
  const t = performance.now()
  for (let i = 0; i < 500; i++) yield* once
  console.log("us/run", ((performance.now() - t) / 500 * 1000).toFixed(0))
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
