// Time every SQL statement the scheduler bench runs (monkeypatched better-sqlite3; scratch only).
import Database from "better-sqlite3"
const stats = new Map<string, { n: number; ms: number }>()
const proto = (Database as unknown as { prototype: { prepare: (sql: string) => any } }).prototype
const prepare = proto.prepare
proto.prepare = function (this: unknown, sql: string) {
  const st = prepare.call(this, sql)
  const key = sql.replace(/\s+/g, " ").slice(0, 90)
  for (const m of ["run", "all", "get"]) {
    const f = st[m]
    st[m] = function (...args: unknown[]) {
      const t = performance.now()
      try { return f.apply(st, args) } finally {
        const s = stats.get(key) ?? { n: 0, ms: 0 }
        s.n++; s.ms += performance.now() - t; stats.set(key, s)
      }
    }
  }
  return st
}
const dump = () => {
  console.error("--- statements")
  for (const [k, v] of [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) console.error(v.ms.toFixed(0).padStart(6), "ms", String(v.n).padStart(7), (v.ms / v.n * 1000).toFixed(0).padStart(5), "us", k)
}
process.on("exit", dump)
if (process.env["EVERY_MS"]) setInterval(dump, Number(process.env["EVERY_MS"])).unref()
await import(process.env["TARGET"] ?? "../bench/scheduler.ts")
