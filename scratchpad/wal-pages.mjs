// WAL frames (pages) written per run, K inlined vs subgraph, SQLite NORMAL, built library
// (auto-checkpoint off so the WAL only grows):  node scratchpad/wal-pages.mjs [K]
import { mkdtempSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
const require = createRequire(import.meta.url)
const Database = require("better-sqlite3")
const origPrepare = Database.prototype.prepare
const seen = new WeakSet()
Database.prototype.prepare = function(...a) {
  if (!seen.has(this)) { seen.add(this); this.pragma("wal_autocheckpoint=0") }
  return origPrepare.apply(this, a)
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
const runs = 400
for (const which of ["inlined", "parent"]) {
  const file = join(dir, `${which}.sqlite`)
  await Effect.runPromise(Effect.gen(function*() {
    const g = yield* Graph.load(join(dir, `${which}.yaml`))
    const once = Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
    for (let i = 0; i < 100; i++) yield* once
    const before = statSync(`${file}-wal`).size
    for (let i = 0; i < runs; i++) yield* once
    const after = statSync(`${file}-wal`).size
    console.log(`${which}: ${((after - before) / 4120 / runs).toFixed(2)} WAL frames/run`)
  }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: file, synchronous: "NORMAL", walAutocheckpointPages: 0 }))))
}
