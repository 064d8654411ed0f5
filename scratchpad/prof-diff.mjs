// Self-sample diff between two profiles (per run counts scaled): node prof-diff.mjs <dirA> <dirB>
import { readFileSync, readdirSync } from "node:fs"
const load = (dir) => {
  const f = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")).sort().pop()
  const p = JSON.parse(readFileSync(dir + "/" + f))
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const key = (cf) => `${cf.functionName || "(anon)"} ${cf.url.replace(/.*\/dist\/src\//, "").replace(/.*node_modules\//, "nm/")}:${cf.lineNumber + 1}`
  const self = new Map(); let total = 0
  const dt = p.timeDeltas
  p.samples.forEach((s, i) => { const us = dt[i] ?? 0; total += us; const k = key(byId.get(s).callFrame); self.set(k, (self.get(k) ?? 0) + us) })
  return { self, total }
}
const a = load(process.argv[2]), b = load(process.argv[3]); const runs = Number(process.env.RUNS ?? 2300)
const keys = new Set([...a.self.keys(), ...b.self.keys()])
const rows = [...keys].map((k) => [k, ((b.self.get(k) ?? 0) - (a.self.get(k) ?? 0)) / runs])
console.log("total us/run A", (a.total / runs).toFixed(0), "B", (b.total / runs).toFixed(0))
for (const [k, v] of rows.sort((x, y) => y[1] - x[1]).slice(0, Number(process.env.TOP ?? 40))) console.log(v.toFixed(1).padStart(7), k)
