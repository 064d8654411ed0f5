// Compares the template formatter with CPython: python3 scratchpad/pyformat-cases.py > /tmp/pyf/cases.json, then npx tsx scratchpad/pyformat-check.ts
import { readFileSync } from "node:fs"
import * as Either from "effect/Either"
import { formatValue, pyRepr } from "../src/nodes/pyFormat.js"
const cases = JSON.parse(readFileSync("/tmp/pyf/cases.json", "utf8")) as Array<[unknown, string, string]>
let bad = 0
for (const [v, s, expected] of cases) {
  const got = s === "!r" ? pyRepr(v) : (() => { const r = formatValue(v, s); return Either.isRight(r) ? r.right : "ERR" })()
  if (got !== expected) { bad++; console.log(JSON.stringify(v), JSON.stringify(s), "py:", JSON.stringify(expected), "ours:", JSON.stringify(got)) }
}
console.log(`${cases.length} cases, ${bad} differ`)
