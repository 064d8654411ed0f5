// Effect operations per run by kind and code (parent minus inlined), memory: ROOT=.ab-x node scratchpad/op-kinds.mjs
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
let on = false
let counts = new Map()
const keyOf = (e) => {
  const op = e._op ?? "?"
  const f = e.effect_instruction_i0
  const g = e.effect_instruction_i1
  const code = typeof f === "function" ? f.toString() : typeof g === "function" ? g.toString() : ""
  return `${op} ${code.replace(/\s+/g, " ").slice(0, 110)}`
}
class Count extends Supervisor.AbstractSupervisor {
  value = Effect.void
  onEffect(_fiber, e) { if (on) { const k = keyOf(e); counts.set(k, (counts.get(k) ?? 0) + 1) } }
}
const per = {}
await Effect.runPromise(Effect.gen(function*() {
  for (const arm of ["inlined", "parent"]) {
    const g = yield* Graph.load(join(dir, `${arm}.yaml`))
    const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
    for (let i = 0; i < 20; i++) yield* once
    counts = new Map(); on = true
    for (let i = 0; i < 100; i++) yield* once
    on = false
    per[arm] = counts
  }
}).pipe(Effect.provide(layer), Effect.supervised(new Count()), Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))))
const keys = new Set([...per.inlined.keys(), ...per.parent.keys()])
if (process.env.DUMP) { const fs = await import("node:fs"); fs.writeFileSync(process.env.DUMP, JSON.stringify([...per.parent].map(([k, v]) => [k, v / 100]))) }
const rows = [...keys].map((k) => [k, ((per.parent.get(k) ?? 0) - (per.inlined.get(k) ?? 0)) / 100]).filter(([, v]) => v !== 0).sort((a, b) => b[1] - a[1])
for (const [k, v] of rows.slice(0, Number(process.env.TOP ?? 60))) console.log(v.toFixed(2).padStart(7), k)
