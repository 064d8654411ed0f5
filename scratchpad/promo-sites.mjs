// Allocation sites of objects that survive scavenges but die in a full GC (sampling heap
// profiler with includeObjectsCollectedByMajorGC, without ...MinorGC).
import { Session } from "node:inspector/promises"
import * as Effect from "effect/Effect"
import * as Graph from "../dist/src/graph/Graph.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
const N = 10
const ir = { ir_version: "1.0.0", id: "bench:linear", state_schema: { fields: { counter: { type: "integer", default: 0 } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "noop" })), edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })) }
const session = new Session(); session.connect()
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.make(ir)
  const eff = Effect.flatMap(graph.start(), (run) => run.start())
  for (let i = 0; i < 300; i++) yield* eff
  yield* Effect.promise(() => session.post("HeapProfiler.startSampling", { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false }))
  for (let i = 0; i < 600; i++) yield* eff
  const { profile } = yield* Effect.promise(() => session.post("HeapProfiler.stopSampling"))
  const self = new Map(); let total = 0
  const walk = (n, stack) => {
    const cf = n.callFrame
    const k = `${cf.functionName || "(anon)"} ${cf.url.replace(/.*node_modules\//, "").replace(/.*\/main\//, "")}:${cf.lineNumber}`
    const s2 = [...stack, k]
    if (n.selfSize) { total += n.selfSize; const key = s2.slice(-3).join(" <- "); self.set(key, (self.get(key) ?? 0) + n.selfSize) }
    for (const c of n.children ?? []) walk(c, s2)
  }
  walk(profile.head, [])
  console.log("sampled MB", (total / 1e6).toFixed(1))
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / 1e3).toFixed(0).padStart(7), "KB", k.slice(0, 260))
}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: ":memory:" }))))
