// Effect operations per run (a load-independent proxy for the runtime's work): ROOT=.ab-x DB=memory|NORMAL node scratchpad/op-count.mjs
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Supervisor from "effect/Supervisor"
const root = process.env.ROOT ?? "dist", DB = process.env.DB ?? "memory"
const Graph = await import(`../${root}/src/graph/Graph.js`)
const layer = DB === "memory" ? (await import(`../${root}/src/checkpoint/MemoryCheckpointer.js`)).layer
  : (await import(`../${root}/src/checkpoint/SqliteCheckpointer.js`)).layer({ filename: join(mkdtempSync(join(tmpdir(), "opc-")), "t.sqlite"), synchronous: DB })
const dir = mkdtempSync(join(tmpdir(), "opc-g-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = [0, 1, 2].map((i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
let ops = 0
let on = false
class Count extends Supervisor.AbstractSupervisor {
  value = Effect.sync(() => ops)
  onEffect() { if (on) ops++ }
}
const out = {}
await Effect.runPromise(Effect.gen(function*() {
  for (const arm of ["inlined", "parent"]) {
    const g = yield* Graph.load(join(dir, `${arm}.yaml`))
    const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
    for (let i = 0; i < 20; i++) yield* once
    ops = 0; on = true
    for (let i = 0; i < 100; i++) yield* once
    on = false
    out[arm] = ops / 100
  }
}).pipe(Effect.provide(layer), Effect.supervised(new Count()), Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))))
console.log(JSON.stringify({ root, DB, ...out, diff: out.parent - out.inlined }))
