// Count FiberRefs locals on the running fiber after N runs of each bench graph: node fiberrefs-size.mjs <dir>
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as FiberRefs from "effect/FiberRefs"
const Graph = await import("../dist/src/graph/Graph.js")
const MemoryCheckpointer = await import("../dist/src/checkpoint/MemoryCheckpointer.js")
const dir = process.argv[2]
await Effect.runPromise(Effect.gen(function*() {
  for (const file of ["inlined.yaml", "parent.yaml"]) {
    const g = yield* Graph.load(join(dir, file))
    const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
    for (const n of [0, 10, 100]) {
      for (let i = 0; i < n; i++) yield* once
      const refs = yield* Effect.getFiberRefs
      console.log(file, n, FiberRefs.fiberRefs(refs).size)
    }
    yield* Effect.withFiberRuntime((fiber) => Effect.sync(() => console.log("fiber", fiber.id().id, fiber.getFiberRefs && [...fiber._fiberRefs.locals].map(([k, v]) => v.length).join(","))))
  }
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
