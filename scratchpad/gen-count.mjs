// Effect.gen bodies entered per run (ROOT=.ab-cnt, instrumented): node gen-count.mjs <dir> <file.yaml>
import { join } from "node:path"
import * as Effect from "effect/Effect"
const root = process.env.ROOT ?? ".ab-cnt"
const MemoryCheckpointer = await import(`../${root}/src/checkpoint/MemoryCheckpointer.js`)
const Graph = await import(`../${root}/src/graph/Graph.js`)
const [dir, file] = process.argv.slice(2)
const N = 200
await Effect.runPromise(Effect.gen(function*() {
  const g = yield* Graph.load(join(dir, file))
  const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
  for (let i = 0; i < 20; i++) yield* once
  globalThis.__G = new Map()
  for (let i = 0; i < N; i++) yield* once
  const rows = [...globalThis.__G].map(([k, v]) => [k, v / N]).sort((a, b) => b[1] - a[1])
  console.log(file, "gens/run", rows.reduce((s, [, v]) => s + v, 0).toFixed(1))
  for (const [k, v] of rows) console.log("  ", v.toFixed(2), k)
}).pipe(Effect.provide(MemoryCheckpointer.layer)))
