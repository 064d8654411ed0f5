// Inclusive time per function (µs per run over R runs): node prof-incl.mjs <dir> [R] [filter]
import { readdirSync, readFileSync } from "node:fs"
const [dir, R = "2000", filt = ""] = process.argv.slice(2)
const f = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")).sort().pop()
const p = JSON.parse(readFileSync(dir + "/" + f))
const byId = new Map(p.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const key = (cf) => `${cf.functionName || "(anon)"} ${cf.url.replace(/.*\/dist\/src\//, "").replace(/.*node_modules\//, "nm/")}:${cf.lineNumber + 1}`
const incl = new Map()
p.samples.forEach((s, i) => {
  const us = p.timeDeltas[i] ?? 0
  const seen = new Set(); let id = s
  while (id !== undefined) { const k = key(byId.get(id).callFrame); if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + us) } id = parent.get(id) }
})
for (const [k, v] of [...incl].filter(([k]) => !k.includes("nm/") && k.includes(filt)).sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log((v / Number(R)).toFixed(1).padStart(7), k)
