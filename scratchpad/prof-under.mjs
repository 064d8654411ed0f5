// Inclusive and self time per function among the samples whose stack holds `marker` (µs per run over R runs):
//   node scratchpad/prof-under.mjs <dir> <R> <marker> [top]
import { readdirSync, readFileSync } from "node:fs"
const [dir, R = "2000", marker = "", top = "50"] = process.argv.slice(2)
const f = readdirSync(dir).filter((x) => x.endsWith(".cpuprofile")).sort().pop()
const p = JSON.parse(readFileSync(dir + "/" + f))
const byId = new Map(p.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const key = (cf) => `${cf.functionName || "(anon)"} ${cf.url.replace(/.*\/dist\/src\//, "").replace(/.*node_modules\//, "nm/")}:${cf.lineNumber + 1}`
const incl = new Map(); const self = new Map(); let total = 0
p.samples.forEach((s, i) => {
  const us = p.timeDeltas[i] ?? 0
  const stack = []; let id = s
  while (id !== undefined) { stack.push(key(byId.get(id).callFrame)); id = parent.get(id) }
  if (!stack.some((k) => k.startsWith(marker + " "))) return
  total += us
  self.set(stack[0], (self.get(stack[0]) ?? 0) + us)
  for (const k of new Set(stack)) incl.set(k, (incl.get(k) ?? 0) + us)
})
console.log("total", (total / Number(R)).toFixed(1))
console.log("-- inclusive")
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log((v / Number(R)).toFixed(2).padStart(7), k)
console.log("-- self")
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log((v / Number(R)).toFixed(2).padStart(7), k)
