// Wall time per phase: top-level start/drive of inlined and parent, and the child's phases (ROOT=.ab-inst)
import { join } from "node:path"
import * as Effect from "effect/Effect"
const root = process.env.ROOT ?? ".ab-inst"
const MemoryCheckpointer = await import(`../${root}/src/checkpoint/MemoryCheckpointer.js`)
const Graph = await import(`../${root}/src/graph/Graph.js`)
const dir = process.argv[2]
const N = 3000
await Effect.runPromise(Effect.gen(function*() {
  const gi = yield* Graph.load(join(dir, "inlined.yaml")), gp = yield* Graph.load(join(dir, "parent.yaml"))
  const acc = { i_start: 0, i_drive: 0, p_start: 0, p_drive: 0 }
  const once = (g, k) => Effect.gen(function*() {
    const t0 = performance.now(); const r = yield* g.start({ inputs: { counter: 0 } }); const t1 = performance.now(); yield* r.start(); const t2 = performance.now()
    if (k) { acc[k + "_start"] += t1 - t0; acc[k + "_drive"] += t2 - t1 }
  })
  for (let i = 0; i < 500; i++) { yield* once(gi); yield* once(gp) }
  globalThis.__T = {}; globalThis.__L = {}
  for (let i = 0; i < N; i++) { yield* once(gi, "i"); yield* once(gp, "p") }
  const out = {}
  for (const [k, v] of Object.entries({ ...acc, ...Object.fromEntries(Object.entries(globalThis.__L ?? {})), ...Object.fromEntries(Object.entries(globalThis.__T).map(([k, v]) => ["child_" + k, v])) })) out[k] = +(v * 1000 / N).toFixed(1)
  console.log(JSON.stringify(out))
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
