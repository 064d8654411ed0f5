// Print the SQL statement sequence of one run of each arm (K inlined vs subgraph), built library, SQLite NORMAL:
//   node scratchpad/sql-seq.mjs [K]
import { mkdtempSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
const require = createRequire(import.meta.url)
const Database = require("better-sqlite3")
let on = false
const wrapStmt = (proto, name) => {
  const orig = proto[name]
  proto[name] = function(...a) {
    if (on) console.log("  " + this.source.replace(/\s+/g, " ").slice(0, 100))
    return orig.apply(this, a)
  }
}
const probe = new Database(":memory:")
const SP = Object.getPrototypeOf(probe.prepare("select 1"))
for (const m of ["run", "all", "get", "iterate"]) wrapStmt(SP, m)
const origExec = Database.prototype.exec
Database.prototype.exec = function(src) { if (on) console.log("  EXEC " + src.slice(0, 80)); return origExec.call(this, src) }
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
await Effect.runPromise(Effect.gen(function*() {
  for (const which of ["inlined", "parent"]) {
    const g = yield* Graph.load(join(dir, `${which}.yaml`))
    const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
    for (let i = 0; i < 3; i++) yield* once
    console.log(`--- ${which}`)
    on = true
    yield* once
    on = false
  }
}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: join(dir, "cp.db"), synchronous: "NORMAL" }))))
