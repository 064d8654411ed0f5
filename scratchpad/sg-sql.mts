// Count and time SQL statements per run: inlined K=3 vs subgraph (SQLite NORMAL, sources). Scratch only.
// npx tsx scratchpad/sg-sql.mts <inlined|parent> [runs]
import Database from "better-sqlite3"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
const stats = new Map<string, { n: number; ms: number }>()
let counting = false
const proto = (Database as unknown as { prototype: { prepare: (sql: string) => any } }).prototype
const prepare = proto.prepare
proto.prepare = function (this: unknown, sql: string) {
  const st = prepare.call(this, sql)
  const key = sql.replace(/\s+/g, " ").slice(0, 100)
  for (const m of ["run", "all", "get", "raw"]) {
    const f = st[m]
    if (typeof f !== "function") continue
    st[m] = function (...args: unknown[]) {
      const t = performance.now()
      try { return f.apply(st, args) } finally {
        if (counting) { const s = stats.get(key) ?? { n: 0, ms: 0 }; s.n++; s.ms += performance.now() - t; stats.set(key, s) }
      }
    }
  }
  return st
}
const SqliteCheckpointer = await import("../src/checkpoint/SqliteCheckpointer.js")
const Graph = await import("../src/graph/Graph.js")
const dir = mkdtempSync(join(tmpdir(), "sg-sql-"))
writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
const nodes = Array.from({ length: 3 }, (_, i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
const which = process.argv[2] ?? "parent"
const runs = Number(process.argv[3] ?? 500)
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.load(join(dir, `${which}.yaml`))
  const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (r) => r.start())
  for (let i = 0; i < 200; i++) yield* once
  counting = true
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) yield* once
  counting = false
  console.log(which, "µs per run", ((performance.now() - t0) / runs * 1000).toFixed(0))
}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: join(dir, "db.sqlite"), synchronous: "NORMAL" }))))
let total = 0
for (const [k, v] of [...stats].sort((a, b) => b[1].ms - a[1].ms)) { total += v.ms; console.log((v.n / runs).toFixed(2).padStart(6), "/run", (v.ms / v.n * 1000).toFixed(0).padStart(5), "us", k) }
console.log("sql µs per run", (total / runs * 1000).toFixed(0))
