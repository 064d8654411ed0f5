// Effect operations per phase of the parent arm (ROOT=.ab-ph: a copy of dist with globalThis.__PH markers in Subgraph.js)
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Supervisor from "effect/Supervisor"
const root = process.env.ROOT ?? ".ab-ph"
const Graph = await import(`../${root}/src/graph/Graph.js`)
const layer = (await import(`../${root}/src/checkpoint/MemoryCheckpointer.js`)).layer
const dir = mkdtempSync(join(tmpdir(), "opp-g-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = [0, 1, 2].map((i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
let on = false
const counts = new Map()
class Count extends Supervisor.AbstractSupervisor {
  value = Effect.void
  onEffect() { if (on) { const k = globalThis.__PH ?? "p-pre"; counts.set(k, (counts.get(k) ?? 0) + 1) } }
}
await Effect.runPromise(Effect.gen(function*() {
  const g = yield* Graph.load(join(dir, "parent.yaml"))
  const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
  for (let i = 0; i < 20; i++) yield* once
  on = true
  for (let i = 0; i < 100; i++) { globalThis.__PH = "p-pre"; yield* once }
  on = false
}).pipe(Effect.provide(layer), Effect.supervised(new Count()), Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))))
console.log(Object.fromEntries([...counts].map(([k, v]) => [k, v / 100])))
