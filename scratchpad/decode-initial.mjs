// Initial-state decode of the bench schema: the Effect Schema decode against the plain fast path (built library).
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { compileInline } from "../dist/src/ir/stateSchema.js"
const c = Either.getOrThrow(compileInline({ counter: { type: "integer", default: 0 }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } }))
const decode = Schema.decodeUnknownEither(c.schema, { onExcessProperty: "error" })
const fast = c.initialState
const check = c.fieldChecks.get("log"), decodeLog = Schema.decodeUnknownEither(c.fieldSchemas.get("log"), { onExcessProperty: "error" })
const time = (f, n = 200000) => { const t0 = performance.now(); for (let i = 0; i < n; i++) f(); return (performance.now() - t0) / n * 1000 }
const best = { schema: Infinity, fast: Infinity, fieldSchema: Infinity, fieldCheck: Infinity }
const log = ["n0", "n1", "n2"]
for (let r = 0; r < 15; r++) {
  best.schema = Math.min(best.schema, time(() => decode({ counter: 0 })))
  best.fast = Math.min(best.fast, time(() => fast({ counter: 0 })))
  best.fieldSchema = Math.min(best.fieldSchema, time(() => decodeLog(log)))
  best.fieldCheck = Math.min(best.fieldCheck, time(() => check(log)))
}
console.log(JSON.stringify(Object.fromEntries(Object.entries(best).map(([k, v]) => [k, v.toFixed(3)]))))
