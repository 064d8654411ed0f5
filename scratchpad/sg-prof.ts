// CPU per run of a graph in memory (subgraph vs inlined): npx tsx scratchpad/sg-prof.ts <dir> <file> [--cpu-prof]
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
const dir = process.argv[2]!
await Effect.runPromise(Effect.gen(function*() {
  for (const file of (process.argv[3] ?? "inlined.yaml,parent.yaml,inlined.yaml,parent.yaml").split(",")) {
    const g = yield* Graph.load(join(dir, file))
    const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
    for (let i = 0; i < 200; i++) yield* once
    const c0 = process.cpuUsage()
    for (let i = 0; i < 1000; i++) yield* once
    const c = process.cpuUsage(c0)
    console.log(file, "cpu us/run", ((c.user + c.system) / 1000).toFixed(0))
  }
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
