// Self time of functions matching a pattern, grouped by caller chain (depth D): node prof-callers.mjs <dir> <pattern> [D]
import { readdirSync, readFileSync } from "node:fs"
const [dir, pat, D = "3"] = process.argv.slice(2)
const f = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")).sort().pop()
const p = JSON.parse(readFileSync(dir + "/" + f))
const byId = new Map(p.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const key = (cf) => `${cf.functionName || "(anon)"} ${cf.url.replace(/.*\/dist\/src\//, "").replace(/.*node_modules\//, "nm/")}:${cf.lineNumber + 1}`
const agg = new Map(); let total = 0
p.samples.forEach((s, i) => {
  const us = p.timeDeltas[i] ?? 0; total += us
  const n = byId.get(s)
  if (!key(n.callFrame).includes(pat)) return
  const chain = []; let id = parent.get(s)
  while (id !== undefined && chain.length < Number(D)) { const k = key(byId.get(id).callFrame); if (!k.startsWith("(anon) nm/effect") && !k.includes("fiberRuntime")) chain.push(k); id = parent.get(id) }
  const k = chain.join(" <- "); agg.set(k, (agg.get(k) ?? 0) + us)
})
for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / 2300).toFixed(1).padStart(7), k)
