// CPU-profile samples inside the slow runs tail.mjs recorded vs outside them: node slow-samples.mjs /tmp/prof
import { readFileSync, readdirSync } from "node:fs"
const dir = process.argv[2] ?? "/tmp/prof"; const f = readdirSync(dir).find((x) => x.endsWith(".cpuprofile"))
const p = JSON.parse(readFileSync(dir + "/" + f)); const wins = JSON.parse(readFileSync("/tmp/slow-windows.json"))
const byId = new Map(p.nodes.map((n) => [n.id, n])); const parent = new Map()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
let t = p.startTime; const slow = new Map(), fast = new Map(); let ns = 0, nf = 0
const inWin = (x) => wins.some(([a, b]) => x >= a && x <= b)
const first = wins[0]?.[0] ?? 0
console.log("profile start", p.startTime, "first window", first)
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i]
  if (t < first) continue
  const n = byId.get(p.samples[i]); const cf = n.callFrame
  // attribute to the nearest frame from our code or node internals, plus leaf
  const k = `${cf.functionName || "(anon)"} ${cf.url.replace(/.*node_modules\//, "").replace(/.*\/main\//, "")}:${cf.lineNumber}`
  const m = inWin(t) ? slow : fast; if (m === slow) ns++; else nf++
  m.set(k, (m.get(k) ?? 0) + 1)
}
console.log("samples slow", ns, "fast", nf)
for (const [k, v] of [...slow].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(String(v).padStart(6), ((100 * v) / ns).toFixed(1).padStart(5) + "%", (100 * (fast.get(k) ?? 0) / nf).toFixed(1).padStart(5) + "%", k)
