// CPU per child-style run (newRun + createRun + open on caller fiber + start) vs top-level run, of child.yaml: node child-only.mjs <dir> [child|top] [n]
import { join } from "node:path"
import * as Effect from "effect/Effect"
const root = process.env.ROOT ?? "dist"
const MemoryCheckpointer = await import(`../${root}/src/checkpoint/MemoryCheckpointer.js`)
const { Checkpointer } = await import(`../${root}/src/checkpoint/Checkpointer.js`)
const Graph = await import(`../${root}/src/graph/Graph.js`)
const [dir, mode = "child", nArg = "4000"] = process.argv.slice(2)
const N = Number(nArg)
let k = 0
await Effect.runPromise(Effect.gen(function*() {
  const g = yield* Graph.load(join(dir, "child.yaml"))
  const cpr = yield* Checkpointer
  const child = Effect.gen(function*() {
    const linked = yield* g.newRun({ inputs: { counter: 0 }, idempotencyKey: `k${k++}`, actor: "subgraph:x", child: { parentRunId: "p", parentStep: 1, owner: "o" } })
    const { record } = yield* cpr.createRun(linked)
    const h = yield* g.open(record, { ...linked.initial, run_id: record.run_id }, { actor: "subgraph:x", retainEvents: false, onCallerFiber: true, parentCommits: true })
    return yield* h.start()
  })
  const top = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
  const once = mode === "child" ? child : top
  for (let i = 0; i < 500; i++) yield* once
  const c0 = process.cpuUsage(); const t0 = performance.now()
  for (let i = 0; i < N; i++) { const s = yield* once; if (s.status !== "done") throw new Error(JSON.stringify(s)) }
  const c = process.cpuUsage(c0)
  console.log(mode, "cpu us/run", ((c.user + c.system) / N).toFixed(0), "wall", ((performance.now() - t0) * 1000 / N).toFixed(0))
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
