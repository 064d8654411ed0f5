/**
 * Built-in functions with CLIPS 6.30 semantics: comparison, arithmetic (integers stay
 * integers, `/` and `**` give floats), strings, multifields, type predicates, and the
 * Fathom regex predicate `fathom-matches`.
 */
import { EvalError, type Env, type ErrorSite } from "./evaluation.js"
import { formatFloat, formatInteger } from "./printer.js"
import {
  bool,
  equals,
  FALSE,
  float,
  int,
  isTrue,
  multifield,
  NIL,
  pushFlat,
  str,
  sym,
  TRUE,
  type FloatValue,
  type IntegerValue,
  type Value
} from "./values.js"

/** A function callable from rules: fixed arity bounds and an implementation over evaluated arguments. */
export interface FunctionDef {
  readonly name: string
  readonly min: number
  /** `Infinity` for variadic functions. */
  readonly max: number
  readonly impl: (args: ReadonlyArray<Value>, env: Env, site: ErrorSite) => Value
  /** Optional allocation-free form for exactly two arguments (hot comparisons). */
  readonly impl2?: (a: Value, b: Value, env: Env, site: ErrorSite) => Value
}

/** A float made an integer as C's cast does on CLIPS's machines: an infinite or NaN value becomes the least 64-bit integer. */
const toInteger = (x: number): number => (Number.isFinite(x) ? Math.trunc(x) : -9223372036854775808)

const err = (site: ErrorSite, message: string, fix: string, clipsId?: string): never => {
  throw new EvalError(message, fix, site, clipsId)
}

const typeNames: Record<string, string> = {
  n: "integer or float",
  l: "integer",
  s: "string",
  j: "string, symbol or instance name",
  k: "string or symbol",
  m: "multifield",
  lex: "string, symbol, float, or integer"
}

const expectNumber = (name: string, v: Value, i: number, site: ErrorSite): IntegerValue | FloatValue => {
  if (v.type === "INTEGER" || v.type === "FLOAT") return v
  return err(site, `function ${name} expected argument #${i + 1} to be of type ${typeNames.n}`, "pass a number", "ARGACCES5")
}
const expectInteger = (name: string, v: Value, i: number, site: ErrorSite): number => {
  if (v.type === "INTEGER") return v.value
  if (v.type === "FLOAT") return Math.trunc(v.value)
  return err(site, `function ${name} expected argument #${i + 1} to be of type ${typeNames.l}`, "pass an integer", "ARGACCES5")
}
const expectLexeme = (name: string, v: Value, i: number, site: ErrorSite): string => {
  if (v.type === "STRING" || v.type === "SYMBOL") return v.value
  return err(site, `function ${name} expected argument #${i + 1} to be of type ${typeNames.j}`, "pass a string or symbol", "ARGACCES5")
}
const expectMultifield = (name: string, v: Value, i: number, site: ErrorSite): ReadonlyArray<Value> => {
  if (v.type === "MULTIFIELD") return v.value
  return err(site, `function ${name} expected argument #${i + 1} to be of type ${typeNames.m}`, "pass a multifield", "ARGACCES5")
}

/** The text `str-cat` uses for a value. */
export const catText = (name: string, v: Value, i: number, site: ErrorSite): string => {
  switch (v.type) {
    case "STRING":
    case "SYMBOL":
      return v.value
    case "INTEGER":
      return formatInteger(v.value)
    case "FLOAT":
      return formatFloat(v.value)
    case "FACT-ADDRESS":
      return `<Fact-${v.value}>`
    case "MULTIFIELD":
      return err(site, `function ${name} expected argument #${i + 1} to be of type ${typeNames.lex}`, "pass single-field values", "ARGACCES5")
  }
}

const numericCompare = (name: string, args: ReadonlyArray<Value>, site: ErrorSite, ok: (a: number, b: number) => boolean): Value => {
  for (let i = 0; i < args.length; i++) expectNumber(name, args[i]!, i, site)
  for (let i = 0; i + 1 < args.length; i++) {
    if (!ok((args[i] as IntegerValue).value, (args[i + 1] as IntegerValue).value)) return FALSE
  }
  return TRUE
}

const arith = (name: string, args: ReadonlyArray<Value>, site: ErrorSite, op: (a: number, b: number) => number): Value => {
  let isFloat = false
  const first = expectNumber(name, args[0]!, 0, site)
  let acc = first.value
  if (first.type === "FLOAT") isFloat = true
  for (let i = 1; i < args.length; i++) {
    const v = expectNumber(name, args[i]!, i, site)
    if (v.type === "FLOAT") isFloat = true
    acc = op(acc, v.value)
  }
  return isFloat ? float(acc) : int(acc)
}

/** Wraps a JS integer result like C's 64-bit arithmetic would not; integers beyond 2^53 lose precision. */
const i = (x: number): IntegerValue => int(x)

const def = (name: string, min: number, max: number, impl: FunctionDef["impl"]): FunctionDef => ({ name, min, max, impl })

const BUILTINS: ReadonlyArray<FunctionDef> = [
  // ----- comparison -----
  def("eq", 2, Infinity, (a) => {
    for (let k = 1; k < a.length; k++) if (!equals(a[0]!, a[k]!)) return FALSE
    return TRUE
  }),
  def("neq", 2, Infinity, (a) => {
    for (let k = 1; k < a.length; k++) if (equals(a[0]!, a[k]!)) return FALSE
    return TRUE
  }),
  def("=", 2, Infinity, (a, _e, s) => numericCompare("=", a, s, (x, y) => x === y)),
  def("<>", 2, Infinity, (a, _e, s) => {
    for (let k = 0; k < a.length; k++) expectNumber("<>", a[k]!, k, s)
    const x = (a[0] as IntegerValue).value
    for (let k = 1; k < a.length; k++) if ((a[k] as IntegerValue).value === x) return FALSE
    return TRUE
  }),
  def("<", 2, Infinity, (a, _e, s) => numericCompare("<", a, s, (x, y) => x < y)),
  def(">", 2, Infinity, (a, _e, s) => numericCompare(">", a, s, (x, y) => x > y)),
  def("<=", 2, Infinity, (a, _e, s) => numericCompare("<=", a, s, (x, y) => x <= y)),
  def(">=", 2, Infinity, (a, _e, s) => numericCompare(">=", a, s, (x, y) => x >= y)),
  // ----- logic (and/or are special forms; these are the evaluated fallbacks) -----
  def("not", 1, 1, (a) => bool(!isTrue(a[0]!))),
  // ----- arithmetic -----
  def("+", 2, Infinity, (a, _e, s) => arith("+", a, s, (x, y) => x + y)),
  def("-", 2, Infinity, (a, _e, s) => arith("-", a, s, (x, y) => x - y)),
  def("*", 2, Infinity, (a, _e, s) => arith("*", a, s, (x, y) => x * y)),
  def("/", 2, Infinity, (a, _e, s) => {
    let acc = expectNumber("/", a[0]!, 0, s).value
    for (let k = 1; k < a.length; k++) {
      const d = expectNumber("/", a[k]!, k, s).value
      if (d === 0) err(s, "attempt to divide by zero in / function", "guard the divisor with a test", "PRNTUTIL7")
      acc = acc / d
    }
    return float(acc)
  }),
  def("div", 2, Infinity, (a, _e, s) => {
    let acc = expectInteger("div", a[0]!, 0, s)
    for (let k = 1; k < a.length; k++) {
      const d = expectInteger("div", a[k]!, k, s)
      if (d === 0) err(s, "attempt to divide by zero in div function", "guard the divisor with a test", "PRNTUTIL7")
      acc = Math.trunc(acc / d)
    }
    return i(acc)
  }),
  def("mod", 2, 2, (a, _e, s) => {
    const x = expectNumber("mod", a[0]!, 0, s)
    const y = expectNumber("mod", a[1]!, 1, s)
    if (y.value === 0) err(s, "attempt to divide by zero in mod function", "guard the divisor with a test", "PRNTUTIL7")
    if (x.type === "INTEGER" && y.type === "INTEGER") return i(x.value % y.value)
    return float(x.value - Math.trunc(x.value / y.value) * y.value)
  }),
  def("**", 2, 2, (a, _e, s) => {
    const x = expectNumber("**", a[0]!, 0, s).value
    const y = expectNumber("**", a[1]!, 1, s).value
    // A negative base to a fractional power, or zero to a negative one: CLIPS's domain error.
    if ((x < 0 && !Number.isInteger(y)) || (x === 0 && y <= 0)) err(s, "domain error for ** function", "guard the arguments with a test", "EMATHFUN1")
    return float(Math.pow(x, y))
  }),
  def("abs", 1, 1, (a, _e, s) => {
    const x = expectNumber("abs", a[0]!, 0, s)
    return x.type === "INTEGER" ? i(Math.abs(x.value)) : float(Math.abs(x.value))
  }),
  def("min", 2, Infinity, (a, _e, s) => {
    let best = expectNumber("min", a[0]!, 0, s)
    for (let k = 1; k < a.length; k++) {
      const v = expectNumber("min", a[k]!, k, s)
      if (v.value < best.value) best = v
    }
    return best
  }),
  def("max", 2, Infinity, (a, _e, s) => {
    let best = expectNumber("max", a[0]!, 0, s)
    for (let k = 1; k < a.length; k++) {
      const v = expectNumber("max", a[k]!, k, s)
      if (v.value > best.value) best = v
    }
    return best
  }),
  def("integer", 1, 1, (a, _e, s) => i(toInteger(expectNumber("integer", a[0]!, 0, s).value))),
  def("float", 1, 1, (a, _e, s) => float(expectNumber("float", a[0]!, 0, s).value)),
  def("sqrt", 1, 1, (a, _e, s) => {
    const x = expectNumber("sqrt", a[0]!, 0, s).value
    if (x < 0) err(s, "domain error for sqrt function", "guard the argument with a test", "EMATHFUN1")
    return float(Math.sqrt(x))
  }),
  def("round", 1, 1, (a, _e, s) => {
    const x = expectNumber("round", a[0]!, 0, s)
    if (x.type === "INTEGER") return x
    // CLIPS 6.30 rounds with ceil(x - 0.5): halves go down (2.5 → 2, -2.5 → -3).
    return i(toInteger(Math.ceil(x.value - 0.5)))
  }),
  def("evenp", 1, 1, (a, _e, s) => bool(expectInteger("evenp", a[0]!, 0, s) % 2 === 0)),
  def("oddp", 1, 1, (a, _e, s) => bool(expectInteger("oddp", a[0]!, 0, s) % 2 !== 0)),
  // ----- strings -----
  def("str-cat", 1, Infinity, (a, _e, s) => str(a.map((v, k) => catText("str-cat", v, k, s)).join(""))),
  def("sym-cat", 1, Infinity, (a, _e, s) => sym(a.map((v, k) => catText("sym-cat", v, k, s)).join(""))),
  def("str-length", 1, 1, (a, _e, s) => i([...expectLexeme("str-length", a[0]!, 0, s)].length)),
  def("str-index", 2, 2, (a, _e, s) => {
    const needle = expectLexeme("str-index", a[0]!, 0, s)
    const hay = expectLexeme("str-index", a[1]!, 1, s)
    const k = hay.indexOf(needle)
    return k < 0 ? FALSE : i([...hay.slice(0, k)].length + 1)
  }),
  def("sub-string", 3, 3, (a, _e, s) => {
    const start = expectInteger("sub-string", a[0]!, 0, s)
    const end = expectInteger("sub-string", a[1]!, 1, s)
    const chars = [...expectLexeme("sub-string", a[2]!, 2, s)]
    const from = Math.max(start, 1)
    const to = Math.min(end, chars.length)
    if (from > to) return str("")
    return str(chars.slice(from - 1, to).join(""))
  }),
  def("upcase", 1, 1, (a, _e, s) => {
    const v = a[0]!
    // ASCII letters only, as CLIPS's C toupper does ("straße" → "STRAßE").
    const t = expectLexeme("upcase", v, 0, s).replace(/[a-z]+/g, (m) => m.toUpperCase())
    return v.type === "SYMBOL" ? sym(t) : str(t)
  }),
  def("lowcase", 1, 1, (a, _e, s) => {
    const v = a[0]!
    const t = expectLexeme("lowcase", v, 0, s).replace(/[A-Z]+/g, (m) => m.toLowerCase())
    return v.type === "SYMBOL" ? sym(t) : str(t)
  }),
  def("str-compare", 2, 3, (a, _e, s) => {
    // With a length, only the first that many characters are compared (C's strncmp).
    const n = a[2] === undefined ? undefined : Math.max(0, expectInteger("str-compare", a[2], 2, s))
    const x = expectLexeme("str-compare", a[0]!, 0, s).slice(0, n)
    const y = expectLexeme("str-compare", a[1]!, 1, s).slice(0, n)
    return i(x < y ? -1 : x > y ? 1 : 0)
  }),
  def("string-to-field", 1, 1, (a, _e, s) => {
    const t = expectLexeme("string-to-field", a[0]!, 0, s).trim()
    if (/^[+-]?[0-9]+$/.test(t)) return i(Number(t))
    if (/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(t)) return float(Number(t))
    const m = /^"((?:[^"\\]|\\.)*)"/.exec(t)
    if (m) return str(m[1]!.replace(/\\(.)/g, "$1"))
    const w = /^[^\s()"&|~;]+/.exec(t)
    return w ? sym(w[0]) : sym("EOF")
  }),
  // ----- multifields -----
  def("create$", 0, Infinity, (a) => {
    const out: Array<Value> = []
    for (const v of a) {
      if (v.type === "MULTIFIELD") out.push(...v.value)
      else out.push(v)
    }
    return multifield(out)
  }),
  def("nth$", 2, 2, (a, _e, s) => {
    const n = expectInteger("nth$", a[0]!, 0, s)
    const mf = expectMultifield("nth$", a[1]!, 1, s)
    return n >= 1 && n <= mf.length ? mf[n - 1]! : NIL
  }),
  def("member$", 2, 2, (a, _e, s) => {
    const mf = expectMultifield("member$", a[1]!, 1, s)
    const x = a[0]!
    if (x.type === "MULTIFIELD") {
      const n = x.value.length
      if (n === 0) return FALSE
      for (let k = 0; k + n <= mf.length; k++) {
        let ok = true
        for (let j = 0; j < n; j++) if (!equals(mf[k + j]!, x.value[j]!)) ok = false
        if (ok) return multifield([i(k + 1), i(k + n)])
      }
      return FALSE
    }
    const k = mf.findIndex((v) => equals(v, x))
    return k < 0 ? FALSE : i(k + 1)
  }),
  def("length$", 1, 1, (a, _e, s) => {
    const v = a[0]!
    if (v.type === "STRING" || v.type === "SYMBOL") return i([...v.value].length)
    return i(expectMultifield("length$", v, 0, s).length)
  }),
  def("first$", 1, 1, (a, _e, s) => multifield(expectMultifield("first$", a[0]!, 0, s).slice(0, 1))),
  def("rest$", 1, 1, (a, _e, s) => multifield(expectMultifield("rest$", a[0]!, 0, s).slice(1))),
  def("subseq$", 3, 3, (a, _e, s) => {
    const mf = expectMultifield("subseq$", a[0]!, 0, s)
    const start = Math.max(expectInteger("subseq$", a[1]!, 1, s), 1)
    const end = Math.min(expectInteger("subseq$", a[2]!, 2, s), mf.length)
    return start > end ? multifield([]) : multifield(mf.slice(start - 1, end))
  }),
  def("implode$", 1, 1, (a, _e, s) => {
    const mf = expectMultifield("implode$", a[0]!, 0, s)
    return str(mf.map((v) => (v.type === "STRING" ? `"${v.value}"` : catText("implode$", v, 0, s))).join(" "))
  }),
  def("insert$", 3, Infinity, (a, _e, s) => {
    const mf = expectMultifield("insert$", a[0]!, 0, s)
    const at = expectInteger("insert$", a[1]!, 1, s)
    if (at < 1 || at > mf.length + 1) err(s, "insert$ index out of range", "use an index between 1 and length+1", "MULTIFUN1")
    const ins: Array<Value> = []
    for (const v of a.slice(2)) pushFlat(ins, v)
    return multifield([...mf.slice(0, at - 1), ...ins, ...mf.slice(at - 1)])
  }),
  def("delete$", 3, 3, (a, _e, s) => {
    const mf = expectMultifield("delete$", a[0]!, 0, s)
    const b = expectInteger("delete$", a[1]!, 1, s)
    const e = expectInteger("delete$", a[2]!, 2, s)
    if (b < 1 || e > mf.length || b > e) err(s, "delete$ range out of bounds", "use 1 <= begin <= end <= length", "MULTIFUN1")
    return multifield([...mf.slice(0, b - 1), ...mf.slice(e)])
  }),
  def("replace$", 4, Infinity, (a, _e, s) => {
    const mf = expectMultifield("replace$", a[0]!, 0, s)
    const b = expectInteger("replace$", a[1]!, 1, s)
    const e = expectInteger("replace$", a[2]!, 2, s)
    if (b < 1 || e > mf.length || b > e) err(s, "replace$ range out of bounds", "use 1 <= begin <= end <= length", "MULTIFUN1")
    const ins: Array<Value> = []
    for (const v of a.slice(3)) pushFlat(ins, v)
    return multifield([...mf.slice(0, b - 1), ...ins, ...mf.slice(e)])
  }),
  // ----- predicates -----
  def("symbolp", 1, 1, (a) => bool(a[0]!.type === "SYMBOL")),
  def("stringp", 1, 1, (a) => bool(a[0]!.type === "STRING")),
  def("numberp", 1, 1, (a) => bool(a[0]!.type === "INTEGER" || a[0]!.type === "FLOAT")),
  def("integerp", 1, 1, (a) => bool(a[0]!.type === "INTEGER")),
  def("floatp", 1, 1, (a) => bool(a[0]!.type === "FLOAT")),
  def("lexemep", 1, 1, (a) => bool(a[0]!.type === "SYMBOL" || a[0]!.type === "STRING")),
  def("multifieldp", 1, 1, (a) => bool(a[0]!.type === "MULTIFIELD")),
  def("fact-addressp", 1, 1, (a) => bool(a[0]!.type === "FACT-ADDRESS")),
  // ----- facts -----
  def("fact-index", 1, 1, (a, e, s) => {
    const v = a[0]!
    if (v.type !== "FACT-ADDRESS") return err(s, "function fact-index expected argument #1 to be of type fact-address", "pass a fact address", "ARGACCES5")
    // A retracted fact's index reads as -1, as in CLIPS.
    return i(e.host.factById(v.value) === undefined ? -1 : v.value)
  }),
  def("fact-existp", 1, 1, (a, e) => {
    const v = a[0]!
    const id = v.type === "FACT-ADDRESS" || v.type === "INTEGER" ? v.value : -1
    return bool(e.host.factById(id) !== undefined)
  }),
  // ----- Fathom -----
  def("fathom-matches", 2, 2, (a, e, s) => {
    const textV = a[0]!
    const text = textV.type === "STRING" || textV.type === "SYMBOL" ? textV.value : textV.type === "MULTIFIELD" ? "" : catText("fathom-matches", textV, 0, s)
    const pattern = expectLexeme("fathom-matches", a[1]!, 1, s)
    let re = e.host.regexCache.get(pattern)
    if (re === undefined) {
      try {
        re = new RegExp(pattern, "u")
      } catch {
        try {
          re = new RegExp(pattern)
        } catch (x) {
          return err(s, `fathom-matches: invalid regular expression ${JSON.stringify(pattern)}: ${(x as Error).message}`, "fix the regular expression")
        }
      }
      e.host.regexCache.set(pattern, re)
    }
    return bool(re.test(text))
  })
]

const num2 = (name: string, ok: (x: number, y: number) => boolean) => (a: Value, b: Value, _e: Env, s: ErrorSite): Value => {
  if ((a.type === "INTEGER" || a.type === "FLOAT") && (b.type === "INTEGER" || b.type === "FLOAT")) return ok(a.value, b.value) ? TRUE : FALSE
  return numericCompare(name, [a, b], s, ok)
}

/** Two-argument fast paths. */
const BINARY: Record<string, NonNullable<FunctionDef["impl2"]>> = {
  eq: (a, b) => (equals(a, b) ? TRUE : FALSE),
  neq: (a, b) => (equals(a, b) ? FALSE : TRUE),
  "=": num2("=", (x, y) => x === y),
  "<>": num2("<>", (x, y) => x !== y),
  "<": num2("<", (x, y) => x < y),
  ">": num2(">", (x, y) => x > y),
  "<=": num2("<=", (x, y) => x <= y),
  ">=": num2(">=", (x, y) => x >= y)
}

/** The built-in function table (fresh map per engine). */
export const builtinFunctions = (): Map<string, FunctionDef> =>
  new Map(BUILTINS.map((f) => [f.name, BINARY[f.name] !== undefined ? { ...f, impl2: BINARY[f.name]! } : f]))

/** Names handled by the expression compiler itself rather than as ordinary functions. */
export const SPECIAL_FORMS: ReadonlySet<string> = new Set([
  "if",
  "while",
  "loop-for-count",
  "foreach",
  "progn",
  "progn$",
  "bind",
  "and",
  "or",
  "assert",
  "retract",
  "modify",
  "duplicate",
  "printout",
  "halt",
  "focus",
  "return",
  "break",
  "switch"
])
