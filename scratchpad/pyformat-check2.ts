// Compares the template formatter (errors too) with CPython: python3 scratchpad/pyformat-cases2.py > /tmp/pyf/cases2.json, then npx tsx scratchpad/pyformat-check2.ts
import { readFileSync } from "node:fs"
import * as Either from "effect/Either"
import { formatValue, pyRepr } from "../src/nodes/pyFormat.js"
const cases = JSON.parse(readFileSync("/tmp/pyf/cases2.json", "utf8")) as Array<[unknown, string, string]>
let bad = 0
for (const [v, s, expected] of cases) {
  const got = s === "!a" ? pyRepr(v, true) : (() => { const r = formatValue(v, s); return Either.isRight(r) ? r.right : `ERR: ${r.left}` })()
  if (got !== expected && !(expected.startsWith("ERR") && got.startsWith("ERR"))) { bad++; console.log(JSON.stringify(v), JSON.stringify(s), "py:", JSON.stringify(expected), "ours:", JSON.stringify(got)) }
}
console.log(`${cases.length} cases, ${bad} differ`)
