// Self CPU share per function: node prof-self.mjs <dir>
import { readFileSync, readdirSync } from "node:fs"
const dir = process.argv[2]
const f = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")).sort().pop()
const p = JSON.parse(readFileSync(dir + "/" + f))
const byId = new Map(p.nodes.map((n) => [n.id, n]))
const key = (cf) => `${cf.functionName || "(anon)"} ${cf.url.replace(/.*\/dist\/src\//, "").replace(/.*node_modules\//, "nm/")}:${cf.lineNumber + 1}`
const self = new Map(); let total = 0
for (const s of p.samples) { total++; const k = key(byId.get(s).callFrame); self.set(k, (self.get(k) ?? 0) + 1) }
console.log("samples", total)
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40))) console.log(((100 * v) / total).toFixed(1).padStart(6) + "%", k)
