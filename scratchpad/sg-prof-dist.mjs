// CPU per run of the bench graphs in a folder, built library: node [--cpu-prof] scratchpad/sg-prof-dist.mjs <dir> inlined.yaml,parent.yaml
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../dist/src/graph/Graph.js"
const [dir, files = "inlined.yaml,parent.yaml"] = process.argv.slice(2)
await Effect.runPromise(Effect.gen(function*() {
  for (const file of files.split(",")) {
    const g = yield* Graph.load(join(dir, file))
    const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
    for (let i = 0; i < 300; i++) yield* once
    const c0 = process.cpuUsage()
    for (let i = 0; i < Number(process.env.N ?? 2000); i++) yield* once
    const c = process.cpuUsage(c0)
    console.log(file, "cpu us/run", ((c.user + c.system) / Number(process.env.N ?? 2000)).toFixed(0))
  }
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
