// Self time per source file (µs per run over R runs), two profiles side by side: node prof-files.mjs <dirA> <dirB> [R]
import { readdirSync, readFileSync } from "node:fs"
const R = Number(process.argv[4] ?? 2300)
const load = (dir) => {
  const f = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")).sort().pop()
  const p = JSON.parse(readFileSync(dir + "/" + f))
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const m = new Map()
  p.samples.forEach((s, i) => { const cf = byId.get(s).callFrame; const k = (cf.url.replace(/.*\/dist\/src\//, "").replace(/.*node_modules\//, "nm/") || cf.functionName); m.set(k, (m.get(k) ?? 0) + (p.timeDeltas[i] ?? 0)) })
  return m
}
const a = load(process.argv[2]), b = load(process.argv[3])
const keys = new Set([...a.keys(), ...b.keys()])
const rows = [...keys].map((k) => [k, (a.get(k) ?? 0) / R, (b.get(k) ?? 0) / R]).sort((x, y) => (y[2] - y[1]) - (x[2] - x[1]))
for (const [k, x, y] of rows.slice(0, 40)) console.log(x.toFixed(1).padStart(7), y.toFixed(1).padStart(7), (y - x).toFixed(1).padStart(7), k)
