// The commits of a run, grouped by what they write, and the WAL frames (pages) each wrote on average, K inlined vs
// subgraph, SQLite NORMAL, built library:  node scratchpad/wal-seq.mjs [K]
import { mkdtempSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
const require = createRequire(import.meta.url)
const Database = require("better-sqlite3")
let on = false, file = "", last = 0, pending = []
const agg = new Map()
const log = (line) => { const k = pending.map((x) => x.replace(/\(.*/, "").slice(0, 40)).join(" | "); const a = agg.get(k) ?? { n: 0, f: 0 }; a.n++; a.f += line; agg.set(k, a) }
const frames = () => { const s = statSync(`${file}-wal`).size; const d = (s - last) / 4120; last = s; return d }
const probe = new Database(":memory:")
const SP = Object.getPrototypeOf(probe.prepare("select 1"))
for (const m of ["run", "all", "get"]) {
  const orig = SP[m]
  SP[m] = function(...a) {
    const r = orig.apply(this, a)
    if (on && !this.reader) {
      pending.push(this.source.replace(/\s+/g, " ").slice(0, 70))
      if (!this.database.inTransaction) { log(frames()); pending = [] }
    } else if (on && this.reader && /^\s*(COMMIT)/i.test(this.source)) {}
    return r
  }
}
const origExec = Database.prototype.exec
Database.prototype.exec = function(src) {
  const r = origExec.call(this, src)
  if (on) { pending.push(src.slice(0, 20)); if (!this.inTransaction) { log(frames()); pending = [] } }
  return r
}
const SqliteCheckpointer = await import("../dist/src/checkpoint/SqliteCheckpointer.js")
const Graph = await import("../dist/src/graph/Graph.js")
const K = Number(process.argv[2] ?? 3)
const dir = mkdtempSync(join(tmpdir(), "sg-wal-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = Array.from({ length: K }, (_, i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
for (const which of ["inlined", "parent"]) {
  file = join(dir, `${which}.sqlite`)
  await Effect.runPromise(Effect.gen(function*() {
    const g = yield* Graph.load(join(dir, `${which}.yaml`))
    const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
    for (let i = 0; i < 200; i++) yield* once
    console.log(`--- ${which}`)
    agg.clear(); frames(); on = true
    const N = 400
    for (let i = 0; i < N; i++) yield* once
    on = false
    let tot = 0
    for (const [k, a] of agg) { tot += a.f; console.log(`${(a.n / N).toFixed(1).padStart(4)}x ${(a.f / a.n).toFixed(2).padStart(6)} frames  ${k}`) }
    console.log(`total ${(tot / N).toFixed(2)} frames/run`)
  }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: file, synchronous: "NORMAL", walAutocheckpointPages: 0 }))))
}
