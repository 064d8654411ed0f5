// Count and time the SQL each arm runs (and the writes made outside a transaction: each its own commit) (K=3 inlined vs subgraph), built library, SQLite NORMAL:
//   node scratchpad/sql-trace.mjs [K]
import { mkdtempSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
const require = createRequire(import.meta.url)
const Database = require("better-sqlite3")
const stats = new Map()
let on = false
const wrapStmt = (proto, name) => {
  const orig = proto[name]
  proto[name] = function(...a) {
    if (!on) return orig.apply(this, a)
    if (!this.database.inTransaction && !this.reader) { const s = stats.get("~autocommit write") ?? { n: 0, ns: 0n }; s.n++; stats.set("~autocommit write", s) }
    const t = process.hrtime.bigint()
    try { return orig.apply(this, a) } finally {
      const k = this.source.replace(/\s+/g, " ").slice(0, 90)
      const s = stats.get(k) ?? { n: 0, ns: 0n }; s.n++; s.ns += process.hrtime.bigint() - t; stats.set(k, s)
    }
  }
}
const probe = new Database(":memory:")
const SP = Object.getPrototypeOf(probe.prepare("select 1"))
for (const m of ["run", "all", "get", "iterate", "raw"]) if (typeof SP[m] === "function" && m !== "raw") wrapStmt(SP, m)
const origExec = Database.prototype.exec
Database.prototype.exec = function(src) {
  if (!on) return origExec.call(this, src)
  const t = process.hrtime.bigint()
  try { return origExec.call(this, src) } finally { const k = "EXEC " + src.slice(0, 80); const s = stats.get(k) ?? { n: 0, ns: 0n }; s.n++; s.ns += process.hrtime.bigint() - t; stats.set(k, s) }
}
const SqliteCheckpointer = await import("../dist/src/checkpoint/SqliteCheckpointer.js")
const Graph = await import("../dist/src/graph/Graph.js")
const K = Number(process.argv[2] ?? 3)
const dir = mkdtempSync(join(tmpdir(), "sg-prof-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = Array.from({ length: K }, (_, i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
const runs = 500
await Effect.runPromise(Effect.gen(function*() {
  for (const which of ["inlined", "parent"]) {
    const g = yield* Graph.load(join(dir, `${which}.yaml`))
    const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
    for (let i = 0; i < 300; i++) yield* once
    stats.clear(); on = true
    const t0 = performance.now()
    for (let i = 0; i < runs; i++) yield* once
    const total = (performance.now() - t0) * 1000 / runs
    on = false
    let sqlUs = 0
    console.log(`--- ${which}: ${total.toFixed(0)} µs/run`)
    for (const [k, s] of [...stats].sort((a, b) => Number(b[1].ns - a[1].ns))) {
      const us = Number(s.ns) / 1000 / runs; sqlUs += us
      console.log(`${(s.n / runs).toFixed(1).padStart(5)}x ${us.toFixed(1).padStart(7)} µs  ${k}`)
    }
    console.log(`sql total ${sqlUs.toFixed(0)} µs/run`)
  }
}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: join(dir, "t.sqlite"), synchronous: "NORMAL" }))))
