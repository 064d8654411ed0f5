/**
 * CLIPS values: a tagged, immutable representation that keeps CLIPS's types distinct
 * (SYMBOL vs STRING, INTEGER vs FLOAT), plus the lossless JSON form used by snapshots.
 */
import * as Either from "effect/Either"
import { RuleError } from "../../errors.js"

/** A CLIPS symbol, e.g. `goto`, `TRUE`, `nil`. */
export interface SymbolValue {
  readonly type: "SYMBOL"
  readonly value: string
}
/** A CLIPS string, e.g. `"n_1"`. */
export interface StringValue {
  readonly type: "STRING"
  readonly value: string
}
/** A CLIPS integer (exact up to 2^53; CLIPS itself uses 64-bit integers). */
export interface IntegerValue {
  readonly type: "INTEGER"
  readonly value: number
}
/** A CLIPS float (a double). */
export interface FloatValue {
  readonly type: "FLOAT"
  readonly value: number
}
/** A CLIPS multifield: an ordered sequence of single-field values. */
export interface MultifieldValue {
  readonly type: "MULTIFIELD"
  readonly value: ReadonlyArray<Value>
}
/** A fact address (`<Fact-3>`), carrying the fact index. */
export interface FactAddressValue {
  readonly type: "FACT-ADDRESS"
  readonly value: number
}

/** Every CLIPS value this engine handles. */
export type Value = SymbolValue | StringValue | IntegerValue | FloatValue | MultifieldValue | FactAddressValue

/** The type tag of a value. */
export type ValueType = Value["type"]

/** A symbol value. */
export const sym = (value: string): SymbolValue => {
  if (value === "TRUE") return TRUE
  if (value === "FALSE") return FALSE
  if (value === "nil") return NIL
  return { type: "SYMBOL", value }
}
/** A string value. */
export const str = (value: string): StringValue => ({ type: "STRING", value })
/** An integer value (the number is truncated toward zero). */
export const int = (value: number): IntegerValue => ({ type: "INTEGER", value: Math.trunc(value) })
/** A float value. */
export const float = (value: number): FloatValue => ({ type: "FLOAT", value })
/** A multifield value. */
export const multifield = (values: ReadonlyArray<Value>): MultifieldValue => ({ type: "MULTIFIELD", value: values })
/** A fact-address value. */
export const factAddress = (index: number): FactAddressValue => ({ type: "FACT-ADDRESS", value: index })

/** The symbol `TRUE`. */
export const TRUE: SymbolValue = { type: "SYMBOL", value: "TRUE" }
/** The symbol `FALSE`. */
export const FALSE: SymbolValue = { type: "SYMBOL", value: "FALSE" }
/** The symbol `nil`. */
export const NIL: SymbolValue = { type: "SYMBOL", value: "nil" }
/** The empty multifield. */
export const EMPTY: MultifieldValue = { type: "MULTIFIELD", value: [] }

/** `TRUE` or `FALSE` for a JS boolean. */
export const bool = (b: boolean): SymbolValue => (b ? TRUE : FALSE)

/** Appends `v` to `out`, splicing a multifield's fields (how multifields enter facts and create$). */
export const pushFlat = (out: Array<Value>, v: Value): void => {
  if (v.type === "MULTIFIELD") for (const x of v.value) out.push(x)
  else out.push(v)
}

/** CLIPS truth: everything except the symbol `FALSE` is true. */
export const isTrue = (v: Value): boolean => !(v.type === "SYMBOL" && v.value === "FALSE")

/** Structural equality as CLIPS's `eq` sees it (types must match; multifields compare element-wise). */
export const equals = (a: Value, b: Value): boolean => {
  if (a === b) return true
  if (a.type !== b.type) return false
  if (a.type === "MULTIFIELD") {
    const bv = (b as MultifieldValue).value
    if (a.value.length !== bv.length) return false
    for (let i = 0; i < bv.length; i++) if (!equals(a.value[i]!, bv[i]!)) return false
    return true
  }
  if (a.type === "FLOAT") return Object.is(a.value, b.value) || a.value === b.value
  return a.value === b.value
}

/** True for INTEGER and FLOAT values. */
export const isNumber = (v: Value): v is IntegerValue | FloatValue => v.type === "INTEGER" || v.type === "FLOAT"
/** True for SYMBOL and STRING values. */
export const isLexeme = (v: Value): v is SymbolValue | StringValue => v.type === "SYMBOL" || v.type === "STRING"

/**
 * A hash key for join memories. Symbols and strings with the same text share a key and
 * so do 1 and 1.0, exactly as CLIPS's hashed memories collide them; the join test filters.
 */
export const hashKey = (v: Value): string | number => {
  switch (v.type) {
    case "SYMBOL":
    case "STRING":
      return v.value
    case "INTEGER":
    case "FLOAT":
    case "FACT-ADDRESS":
      return v.value
    case "MULTIFIELD":
      return 0
  }
}

// ---------------------------------------------------------------------------
// JSON forms
// ---------------------------------------------------------------------------

const ruleError = (message: string, fix: string): RuleError => new RuleError({ reason: "type", message, fix })

/**
 * Lossless JSON form: STRING -> "text"; INTEGER -> 3; FLOAT -> 2.5 (an integral float
 * -> {"float": 2}); SYMBOL -> {"symbol": "x"}; MULTIFIELD -> [...]; FACT-ADDRESS -> {"fact": 3}.
 */
export const toJson = (v: Value): unknown => {
  switch (v.type) {
    case "STRING":
      return v.value
    case "INTEGER":
      return v.value
    case "FLOAT":
      return Number.isInteger(v.value) || !Number.isFinite(v.value) ? { float: Number.isFinite(v.value) ? v.value : String(v.value) } : v.value
    case "SYMBOL":
      return { symbol: v.value }
    case "MULTIFIELD":
      return v.value.map(toJson)
    case "FACT-ADDRESS":
      return { fact: v.value }
  }
}

/** Inverse of {@link toJson} without the reason of a failure: undefined when `json` is not a value's JSON form. */
export const decodeJson = (json: unknown): Value | undefined => {
  switch (typeof json) {
    case "string":
      return str(json)
    case "number":
      return Number.isFinite(json) ? (Number.isInteger(json) ? int(json) : float(json)) : undefined
    case "object": {
      if (json === null) return undefined
      if (Array.isArray(json)) {
        const out: Array<Value> = new Array<Value>(json.length)
        for (let i = 0; i < json.length; i++) {
          const v = decodeJson(json[i])
          if (v === undefined || v.type === "MULTIFIELD") return undefined
          out[i] = v
        }
        return multifield(out)
      }
      const o = json as Record<string, unknown>
      let keys = 0
      for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) keys++
      if (keys !== 1) return undefined
      if (typeof o.symbol === "string") return sym(o.symbol)
      if (typeof o.float === "number") return float(o.float)
      if (typeof o.float === "string" && (o.float === "Infinity" || o.float === "-Infinity" || o.float === "NaN")) return float(Number(o.float))
      if (typeof o.fact === "number" && Number.isInteger(o.fact)) return factAddress(o.fact)
      return undefined
    }
    default:
      return undefined
  }
}

/** Inverse of {@link toJson}; fails with a `RuleError` (reason "type") on anything else. */
export const fromJson = (json: unknown): Either.Either<Value, RuleError> => {
  const fast = decodeJson(json)
  if (fast !== undefined) return Either.right(fast)
  if (typeof json === "string") return Either.right(str(json))
  if (typeof json === "number") {
    if (!Number.isFinite(json)) return Either.left(ruleError(`not a finite number: ${json}`, "use a finite number"))
    return Either.right(Number.isInteger(json) ? int(json) : float(json))
  }
  if (Array.isArray(json)) {
    const out: Array<Value> = []
    for (const item of json) {
      const r = fromJson(item)
      if (Either.isLeft(r)) return r
      if (r.right.type === "MULTIFIELD") {
        return Either.left(ruleError("a multifield cannot contain a multifield", "flatten the array"))
      }
      out.push(r.right)
    }
    return Either.right(multifield(out))
  }
  if (json !== null && typeof json === "object") {
    const o = json as Record<string, unknown>
    const keys = Object.keys(o)
    if (keys.length === 1) {
      if (typeof o.symbol === "string") return Either.right(sym(o.symbol))
      if (typeof o.float === "number") return Either.right(float(o.float))
      if (typeof o.float === "string" && ["Infinity", "-Infinity", "NaN"].includes(o.float)) {
        return Either.right(float(Number(o.float)))
      }
      if (typeof o.fact === "number" && Number.isInteger(o.fact)) return Either.right(factAddress(o.fact))
    }
  }
  return Either.left(
    ruleError(
      `not a CLIPS value in JSON form: ${JSON.stringify(json)}`,
      `use "text", 3, 2.5, {"float": 2}, {"symbol": "x"}, [..] or {"fact": 3}`
    )
  )
}

/** Canonical JSON text (keys sorted), used by {@link fromJs} for objects. */
const canonicalJson = (x: unknown): string => {
  if (x === null || typeof x !== "object") return JSON.stringify(x) ?? "null"
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(",")}]`
  const o = x as Record<string, unknown>
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(",")}}`
}

/**
 * Converts a plain JSON state value: string -> STRING, integer -> INTEGER, other number ->
 * FLOAT, boolean -> TRUE/FALSE, null -> nil, array of scalars -> MULTIFIELD; objects
 * (and nested arrays) -> STRING holding canonical JSON.
 */
export const fromJs = (x: unknown): Value => {
  if (x === null || x === undefined) return NIL
  if (typeof x === "string") return str(x)
  if (typeof x === "boolean") return bool(x)
  if (typeof x === "number") return Number.isInteger(x) ? int(x) : float(x)
  if (typeof x === "bigint") return int(Number(x))
  if (Array.isArray(x)) {
    const scalars = x.every((e) => e === null || ["string", "number", "boolean"].includes(typeof e))
    if (scalars) return multifield(x.map(fromJs))
  }
  return str(canonicalJson(x))
}
