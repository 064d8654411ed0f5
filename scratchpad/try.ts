import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Graph from "../src/graph/Graph.js"
import * as Sqlite from "../src/checkpoint/SqliteCheckpointer.js"
const prog = Effect.gen(function*() {
  const g = yield* Graph.load("examples/hello/graph.yaml")
  console.log(g.graphHash, g.runtimeHash)
  const run = yield* g.start({ inputs: { message: "hi" } })
  const f = yield* Effect.fork(Stream.runForEach(run.stream(), (e) => Effect.sync(() => console.log(e.type, "step" in e ? e.step : ""))))
  const s = yield* run.start()
  console.log(s)
})
Effect.runPromise(prog.pipe(Effect.provide(Sqlite.layer({ filename: "scratchpad/t.db" })))).catch((e) => console.error("ERR", e))
