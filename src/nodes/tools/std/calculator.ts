/**
 * `std.calculator@1`: evaluates an arithmetic expression with a small recursive-descent
 * parser (no `eval`, no names but the listed functions and constants). Python's
 * arithmetic: ints are exact (bigint) and floats are doubles, as in Python; `+ - * / // %
 * **`, `**` binds tighter than a unary minus (`-2**2` is -4) and is right-associative, `%`
 * and `//` floor (`-7 % 3` is 2), `round` rounds half to even. Python's number literals
 * (`1_000`, `0x10`, `0o17`, `0b101`, `1.5e3`). Functions: abs, round(x[, digits]), min,
 * max, sqrt, floor, ceil, exp, log(x[, base]), log2, log10, sin, cos, tan, asin, acos,
 * atan; constants pi, e, tau. Fails as the original does on an exponent past ±1000 and on
 * a result that is not a finite number (division by zero, overflow, a domain error), and
 * on an int result past ±2^53, which a JSON number cannot carry exactly.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"

/** Longest expression accepted, in characters. */
export const MAX_EXPRESSION = 4096
/** Deepest nesting of parentheses, calls and unary operators. */
const MAX_DEPTH = 200

/** Largest exponent magnitude `**` takes, as the original's calculator. */
export const MAX_EXPONENT = 1000
/** Widest int an intermediate result may be, in bits (a guard on memory and time). */
const MAX_INT_BITS = 100_000

/** A Python number: a bigint is a Python int (exact), a number a Python float. */
type Num = bigint | number

type Token =
  | { readonly kind: "num"; readonly value: Num; readonly text: string; readonly at: number }
  | { readonly kind: "name"; readonly value: string; readonly at: number }
  | { readonly kind: "op"; readonly value: string; readonly at: number }
  | { readonly kind: "end"; readonly at: number }

// Python's number literals: floats (a point or an exponent), 0b/0o/0x ints, decimal ints; `_` between digits.
const FLOAT = /(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.)(?:[eE][+-]?\d(?:_?\d)*)?|\d(?:_?\d)*[eE][+-]?\d(?:_?\d)*/y
const RADIX_INT = /0(?:[bB](?:_?[01])+|[oO](?:_?[0-7])+|[xX](?:_?[0-9a-fA-F])+)/y
const DECIMAL_INT = /[1-9](?:_?\d)*|0(?:_?0)*/y
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y
/**
 * Python's `divmod` of two floats (CPython's float_divmod): the remainder from `fmod`
 * (JavaScript's `%`), moved to the divisor's sign, and the quotient from it, so that
 * `1 // 0.1` is 9 and `1 % 0.1` about 0.1, as in Python (`Math.floor(1 / 0.1)` is 10).
 */
const pyDivmod = (a: number, b: number): readonly [number, number] => {
  let mod = a % b
  let div = (a - mod) / b
  if (mod !== 0) {
    if (b < 0 !== mod < 0) {
      mod += b
      div -= 1
    }
  } else {
    mod = b < 0 ? -0 : 0
  }
  let floordiv: number
  if (div !== 0) {
    floordiv = Math.floor(div)
    if (div - floordiv > 0.5) floordiv += 1
  } else {
    floordiv = a / b < 0 ? -0 : 0
  }
  return [floordiv, mod]
}

/** Python's `divmod` of two ints: the quotient floors, the remainder takes the divisor's sign. */
const intDivmod = (a: bigint, b: bigint): readonly [bigint, bigint] => {
  const q = a / b
  const r = a % b
  return r !== 0n && r < 0n !== b < 0n ? [q - 1n, r + b] : [q, r]
}

const OPS = ["**", "//", "+", "-", "*", "/", "%", "(", ")", ","]

/** What makes an expression fail: why, and the fix when it is not the general one. */
class Bad {
  constructor(readonly message: string, readonly fix?: string) {}
}

/** The fix for an expression that is not arithmetic the calculator takes. */
const FIX = "write an arithmetic expression such as (2 + 3) * 4 ** 2 / 8"

const tokenize = (text: string): Array<Token> => {
  const tokens: Array<Token> = []
  let i = 0
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = i
    return re.exec(text)?.[0]
  }
  while (i < text.length) {
    const c = text[i]!
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (/[0-9.]/.test(c)) {
      const float = match(FLOAT)
      const literal = float ?? match(RADIX_INT) ?? match(DECIMAL_INT)
      if (literal !== undefined) {
        const next = text[i + literal.length] ?? ""
        if (/[jJ]/.test(next)) throw new Bad(`complex literal '${literal}${next}' at position ${i}: the calculator takes ints and floats`)
        if (/[0-9]/.test(next) && /^0[0_]*$/.test(literal)) {
          const written = /^[0-9_]+/.exec(text.slice(i))![0]
          throw new Bad(
            `leading zeros in decimal integer literals are not permitted ('${written}' at position ${i}), as in Python`,
            `write ${written.replace(/^[0_]+(?=\d)/, "")}${/^[0-7_]+$/.test(written) ? `, or 0o${written.replace(/^[0_]+(?=\d)/, "")} if it is an octal int` : ""}`
          )
        }
        if (/[A-Za-z0-9_]/.test(next)) throw new Bad(`invalid number literal '${literal}${next}…' at position ${i}`)
        const digits = literal.replace(/_/g, "")
        tokens.push({ kind: "num", value: float !== undefined ? Number(digits) : BigInt(digits), text: literal, at: i })
        i += literal.length
        continue
      }
    }
    const name = match(NAME)
    if (name !== undefined) {
      tokens.push({ kind: "name", value: name, at: i })
      i += name.length
      continue
    }
    const op = OPS.find((o) => text.startsWith(o, i))
    if (op === undefined) throw new Bad(`unexpected character '${c}' at position ${i}`)
    tokens.push({ kind: "op", value: op, at: i })
    i += op.length
  }
  tokens.push({ kind: "end", at: text.length })
  return tokens
}

/** How many bits an int takes (its magnitude's). */
const bits = (n: bigint): number => (n < 0n ? -n : n).toString(2).length

/** An int as a float, as Python converts one (nearest double); past the doubles' range it fails, as Python's does. */
const toFloat = (n: Num): number => {
  if (typeof n === "number") return n
  const x = Number(n)
  if (!Number.isFinite(x)) throw new Bad("int too large to convert to float")
  return x
}

/** A float as an int (floor, ceil, round): refused for infinities and NaN, as Python does. */
const toInt = (x: number): bigint => {
  if (!Number.isFinite(x)) throw new Bad(`cannot convert float ${Number.isNaN(x) ? "NaN" : "infinity"} to integer`)
  return BigInt(x)
}

/** Fail when an int would be wider than `MAX_INT_BITS`. */
const sized = (lowerBoundBits: number, what: string): void => {
  if (lowerBoundBits > MAX_INT_BITS) {
    throw new Bad(`${what} would be an integer of more than ${MAX_INT_BITS} bits`, "keep intermediate integers smaller, or use float operands (2.0 ** 1000) for an approximation")
  }
}

/** Python's int / int: the exact quotient rounded to the nearest double (half to even). */
const intDivide = (a: bigint, b: bigint): number => {
  const negative = a < 0n !== b < 0n
  const n = a < 0n ? -a : a
  const d = b < 0n ? -b : b
  if (n === 0n) return negative ? -0 : 0
  // A quotient of 55-56 bits, then a sticky bit for any remainder: Number() rounds it once, exactly.
  const shift = 55 - (bits(n) - bits(d))
  const num = shift >= 0 ? n << BigInt(shift) : n
  const den = shift >= 0 ? d : d << BigInt(-shift)
  const scaled = Number(((num / den) << 1n) | (num % den === 0n ? 0n : 1n))
  const power = -(shift + 1)
  const half = Math.trunc(power / 2)
  const x = power > 2100 ? Infinity : power < -2200 ? 0 : scaled * 2 ** half * 2 ** (power - half)
  if (!Number.isFinite(x)) throw new Bad("integer division result too large for a float")
  return negative ? -x : x
}

/** An int or a float for a message, as Python prints it (long ints shortened). */
const show = (n: Num): string => {
  if (typeof n === "number") return String(n)
  const text = n.toString()
  return text.length > 40 ? `${text.slice(0, 20)}… (an int of ${text.replace("-", "").length} digits)` : text
}

/** Python's `a < b`, `a == b`, `a > b` of two numbers: -1, 0 or 1 (JavaScript compares a bigint with a number exactly, as Python does an int with a float). */
const compare = (a: Num, b: Num): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Python's `round(x, digits)` of a float: the double's exact value rounded to `digits`
 * decimals, an exact tie to the even digit (`round(2.675, 2)` is 2.67: 2.675 is stored as
 * 2.67499…). `toFixed` rounds the exact value (ties up); its longer expansion tells a true
 * tie. Past CPython's bounds (323 and -308 digits) the float comes back as it is, or zero.
 */
const roundHalfEven = (x: number, digits: number): number => {
  if (digits > 323) return x
  if (digits < -308) return 0 * x
  if (digits < 0 || digits > 60) {
    const factor = 10 ** digits
    const y = x * factor
    const floor = Math.floor(y)
    const rest = y - floor
    const r = rest > 0.5 ? floor + 1 : rest < 0.5 ? floor : floor % 2 === 0 ? floor : floor + 1
    return r / factor
  }
  const abs = Math.abs(x)
  const [whole, fraction = ""] = abs.toFixed(digits + 30).split(".")
  const rest = fraction.slice(digits)
  const kept = `${whole}${digits > 0 ? `.${fraction.slice(0, digits)}` : ""}`
  const tie = rest[0] === "5" && /^0*$/.test(rest.slice(1))
  const lastKept = Number(kept.slice(-1))
  const rounded = tie && lastKept % 2 === 0 ? Number(kept) : Number(abs.toFixed(digits))
  return x < 0 ? -rounded : rounded
}

/** Python's `round(n, digits)` of an int: to a multiple of 10^-digits, half to even (`round(1250, -2)` is 1200). */
const roundInt = (n: bigint, digits: bigint): bigint => {
  if (digits >= 0n) return n
  const unit = 10n ** -digits
  const [q, r] = intDivmod(n, unit)
  const twice = 2n * r
  return (twice > unit || (twice === unit && q % 2n !== 0n) ? q + 1n : q) * unit
}

const arity = (name: string, args: ReadonlyArray<Num>, min: number, max: number): void => {
  if (args.length < min || args.length > max) {
    throw new Bad(`${name}() takes ${min === max ? min : max === Infinity ? `at least ${min}` : `${min} or ${max}`} argument${max === 1 ? "" : "s"}, got ${args.length}`)
  }
}

/** A math function of one float (Python's `math` functions take an int as a float). */
const unary = (f: (x: number) => number) => (name: string, args: ReadonlyArray<Num>): Num => {
  arity(name, args, 1, 1)
  return f(toFloat(args[0]!))
}

/** Python's `min`/`max`: the first argument no other is less than (`sign` -1) or greater than (1). */
const extreme = (sign: number) => (name: string, args: ReadonlyArray<Num>): Num => {
  arity(name, args, 2, Infinity)
  return args.reduce((best, x) => (compare(x, best) === sign ? x : best))
}

const FUNCTIONS: { readonly [name: string]: (name: string, args: ReadonlyArray<Num>) => Num } = {
  abs: (name, args) => {
    arity(name, args, 1, 1)
    const x = args[0]!
    return typeof x === "bigint" ? (x < 0n ? -x : x) : Math.abs(x)
  },
  sqrt: unary(Math.sqrt),
  floor: (name, args) => (arity(name, args, 1, 1), typeof args[0] === "bigint" ? args[0] : toInt(Math.floor(args[0]!))),
  ceil: (name, args) => (arity(name, args, 1, 1), typeof args[0] === "bigint" ? args[0] : toInt(Math.ceil(args[0]!))),
  exp: unary(Math.exp),
  log2: unary(Math.log2),
  log10: unary(Math.log10),
  sin: unary(Math.sin),
  cos: unary(Math.cos),
  tan: unary(Math.tan),
  asin: unary(Math.asin),
  acos: unary(Math.acos),
  atan: unary(Math.atan),
  min: extreme(-1),
  max: extreme(1),
  log: (name, args) => (arity(name, args, 1, 2), args.length === 2 ? Math.log(toFloat(args[0]!)) / Math.log(toFloat(args[1]!)) : Math.log(toFloat(args[0]!))),
  round: (name, args) => {
    arity(name, args, 1, 2)
    const x = args[0]!
    const digits = args[1]
    // Python's round(x) is an int; round(x, digits) has x's type, and digits must be an int.
    if (digits === undefined) return typeof x === "bigint" ? x : toInt(roundHalfEven(x, 0))
    if (typeof digits !== "bigint") throw new Bad(`round() digits must be an integer, got ${digits}`)
    return typeof x === "bigint" ? roundInt(x, digits) : roundHalfEven(x, Number(digits))
  }
}

const CONSTANTS: { readonly [name: string]: number } = { pi: Math.PI, e: Math.E, tau: 2 * Math.PI }

/** A float that must be finite (an int always is). */
const finite = (value: Num, what: string): Num => {
  if (typeof value === "number" && !Number.isFinite(value)) throw new Bad(`${what} is not a finite number (${value})`)
  return value
}

const isZero = (n: Num): boolean => n === 0 || n === 0n

/** `a ** b`, as Python computes it: an int for ints with an exponent ≥ 0, else a float. */
const power = (a: Num, b: Num, at: number): Num => {
  if (compare(b, MAX_EXPONENT) > 0 || compare(b, -MAX_EXPONENT) < 0) {
    throw new Bad(`exponent magnitude exceeds ${MAX_EXPONENT} ('**' at position ${at}, exponent ${show(b)})`, `keep each exponent within ±${MAX_EXPONENT} (the bound guards against huge powers, as the original's calculator does)`)
  }
  if (isZero(a) && compare(b, 0) < 0) throw new Bad("0 cannot be raised to a negative power")
  if (typeof a === "bigint" && typeof b === "bigint" && b >= 0n) {
    if (a !== 0n && a !== 1n && a !== -1n) sized((bits(a) - 1) * Number(b), `${show(a)} ** ${b}`)
    return a ** b
  }
  return finite(toFloat(a) ** toFloat(b), `${show(a)} ** ${show(b)}`)
}

/** What went wrong with an expression, and how to fix it. */
export interface CalculatorProblem {
  readonly message: string
  readonly fix: string
}

/** Evaluate `expression`, or say what is wrong with it and the fix. */
export const evaluate = (expression: string): Either.Either<number, CalculatorProblem> => {
  try {
    const tokens = tokenize(expression)
    let pos = 0
    let depth = 0
    const peek = () => tokens[pos]!
    const isOp = (value: string) => {
      const t = peek()
      return t.kind === "op" && t.value === value
    }
    const describe = (t: Token) => (t.kind === "end" ? "the end of the expression" : `'${t.kind === "num" ? t.text : t.value}' at position ${t.at}`)
    const expect = (value: string) => {
      if (!isOp(value)) throw new Bad(`expected '${value}' but found ${describe(peek())}`)
      pos++
    }
    const nested = <A>(f: () => A): A => {
      if (++depth > MAX_DEPTH) throw new Bad(`the expression nests more than ${MAX_DEPTH} levels deep`)
      try {
        return f()
      } finally {
        depth--
      }
    }
    const expr = (): Num => {
      let left = term()
      while (isOp("+") || isOp("-")) {
        const op = (tokens[pos++] as { value: string }).value
        const right = term()
        left = typeof left === "bigint" && typeof right === "bigint"
          ? (op === "+" ? left + right : left - right)
          : (op === "+" ? toFloat(left) + toFloat(right) : toFloat(left) - toFloat(right))
      }
      return left
    }
    const term = (): Num => {
      let left = factor()
      while (isOp("*") || isOp("/") || isOp("//") || isOp("%")) {
        const { value: op, at } = tokens[pos++] as { value: string; at: number }
        const right = factor()
        if (op === "*") {
          if (typeof left === "bigint" && typeof right === "bigint") {
            if (left !== 0n && right !== 0n) sized(bits(left) - 1 + bits(right) - 1, `'*' at position ${at}`)
            left = left * right
          } else left = toFloat(left) * toFloat(right)
        } else if (isZero(right)) throw new Bad(`${op === "%" ? "modulo" : "division"} by zero ('${op}' at position ${at})`)
        else if (op === "/") left = typeof left === "bigint" && typeof right === "bigint" ? intDivide(left, right) : toFloat(left) / toFloat(right)
        else {
          const [quotient, remainder] = typeof left === "bigint" && typeof right === "bigint" ? intDivmod(left, right) : pyDivmod(toFloat(left), toFloat(right))
          left = op === "//" ? quotient : remainder
        }
      }
      return left
    }
    const factor = (): Num =>
      nested(() => {
        if (isOp("-")) {
          pos++
          return -factor()
        }
        if (isOp("+")) {
          pos++
          return factor()
        }
        return powerExpr()
      })
    const powerExpr = (): Num => {
      const base = primary()
      if (!isOp("**")) return base
      const { at } = tokens[pos++]!
      return power(base, factor(), at)
    }
    const primary = (): Num => {
      const t = peek()
      if (t.kind === "num") {
        pos++
        return t.value
      }
      if (t.kind === "op" && t.value === "(") {
        pos++
        const value = nested(expr)
        expect(")")
        return value
      }
      if (t.kind === "name") {
        pos++
        const fn = FUNCTIONS[t.value]
        if (isOp("(")) {
          if (fn === undefined) throw new Bad(`unknown function '${t.value}' at position ${t.at} (functions: ${Object.keys(FUNCTIONS).join(", ")})`)
          pos++
          const args: Array<Num> = []
          if (!isOp(")")) {
            args.push(nested(expr))
            while (isOp(",")) {
              pos++
              args.push(nested(expr))
            }
          }
          expect(")")
          return finite(fn(t.value, args), `${t.value}(${args.map(show).join(", ")})`)
        }
        const constant = CONSTANTS[t.value]
        if (constant === undefined) throw new Bad(`unknown name '${t.value}' at position ${t.at} (constants: ${Object.keys(CONSTANTS).join(", ")})`)
        return constant
      }
      throw new Bad(`expected a number, a name or '(' but found ${describe(t)}`)
    }
    if (peek().kind === "end") throw new Bad("the expression is empty")
    const value = expr()
    if (peek().kind !== "end") throw new Bad(`unexpected ${describe(peek())}`)
    if (typeof value === "bigint") {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new Bad(
          `the result ${show(value)} is an integer past ±2^53 (${Number.MAX_SAFE_INTEGER}), which a JSON number cannot carry exactly`,
          "if an approximation will do, make an operand a float (3.0 ** 40, not 3 ** 40; floor, ceil and round give ints)"
        )
      }
      return Either.right(Number(value))
    }
    return Either.right(finite(value, "the result") as number)
  } catch (error) {
    if (error instanceof Bad) return Either.left({ message: error.message, fix: error.fix ?? FIX })
    throw error
  }
}

/** `std.calculator@1`. */
export const calculator = Tool.make({
  id: "std.calculator",
  version: "1",
  description: "Evaluate an arithmetic expression safely (no eval): + - * / // % **, parentheses, abs/round/min/max/sqrt/floor/ceil/exp/log/log2/log10/sin/cos/tan/asin/acos/atan, pi/e/tau.",
  input: Schema.Struct({ expression: Schema.String.pipe(Schema.maxLength(MAX_EXPRESSION)) }),
  output: Schema.Struct({ result: Schema.Number }),
  run: ({ expression }) =>
    Either.match(evaluate(expression), {
      onLeft: ({ fix, message }) =>
        Effect.fail(new ToolError({ reason: "failed", argument: "expression", message: `cannot evaluate '${expression.length > 80 ? `${expression.slice(0, 80)}…` : expression}': ${message}`, fix })),
      onRight: (result) => Effect.succeed({ result })
    })
})
