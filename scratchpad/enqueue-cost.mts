// Per-call cost of the enqueue path pieces (scratch).
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqliteCheckpointer from "../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
import * as GraphRegistry from "../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../src/scheduler/Scheduler.js"
import { CreateRunBody } from "../src/serve/StargraphApi.js"
const N = 5000
const ir = { ir_version: "1.0.0", id: "bench:noop", state_schema: { fields: { n: { type: "integer", default: 0 } } }, nodes: [{ id: "a", kind: "noop" }] }
const time = async (name: string, f: (i: number) => Promise<unknown> | unknown) => {
  for (let i = 0; i < 500; i++) await f(i)
  const t = performance.now()
  for (let i = 0; i < N; i++) await f(i)
  console.log(name.padEnd(40), ((performance.now() - t) / N * 1000).toFixed(1), "us/call")
}
const graph = await Effect.runPromise(Graph.make(ir))
const decode = Schema.decodeUnknownSync(CreateRunBody)
await time("decode CreateRunBody", () => decode({ graph_id: "bench:noop", params: { n: 1 } }))
await time("graph.newRun", (i) => Effect.runPromise(graph.newRun({ inputs: { n: i }, queued: true })))
const filename = join(mkdtempSync(join(tmpdir(), "ec-")), "db.sqlite")
const layer = Scheduler.layer({ perGraphOverrides: { "bench:noop": 0 } }).pipe(Layer.provideMerge(GraphRegistry.layer([graph])), Layer.provideMerge(SqliteCheckpointer.layer({ filename, synchronous: "NORMAL" })))
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const s = yield* Scheduler.Scheduler
  const rt = yield* Effect.runtime<never>()
  yield* Effect.promise(() => time("scheduler.enqueue sequential", (i) => Effect.runPromise(s.enqueue("bench:noop", { n: i }))))
  const t = performance.now()
  yield* Effect.forEach(Array.from({ length: N }, (_, i) => i), (i) => s.enqueue("bench:noop", { n: i }), { concurrency: 32 })
  console.log("scheduler.enqueue 32 concurrent".padEnd(40), ((performance.now() - t) / N * 1000).toFixed(1), "us/call")
  void rt
})).pipe(Effect.provide(layer)))
