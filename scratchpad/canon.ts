// canonicalJson (the canonicalize package) vs canonicalPlainJson: equal output, time per call.
import { canonicalJson, canonicalPlainJson } from "../src/ir/hash.js"
const samples: Array<unknown> = [
  { name: "ml.risk", request: { version: "1", sha256: "ab".repeat(32), input: [0.1, -2, 3.5e-7, 4] } },
  { name: "lm.dspy", request: { model: "m", messages: [{ role: "system", content: "x".repeat(2000) }, { role: "user", content: "é😀\u2028".repeat(200) }], params: { t: 0, z: null, a: true } } },
  { b: [1, { d: 2, c: [3, "4"] }], a: { "é": 1, "e": 2, "\u00e9a": 3, "10": 4, "9": 5 } }
]
for (const s of samples) {
  if (canonicalJson(s) !== canonicalPlainJson(s)) throw new Error("differs: " + canonicalJson(s) + "\n" + canonicalPlainJson(s))
  for (const [name, f] of [["canonicalize", canonicalJson], ["plain", canonicalPlainJson]] as const) {
    for (let i = 0; i < 2000; i++) f(s)
    const t = performance.now()
    for (let i = 0; i < 20000; i++) f(s)
    console.log(name, ((performance.now() - t) / 20000 * 1000).toFixed(2), "µs")
  }
}
