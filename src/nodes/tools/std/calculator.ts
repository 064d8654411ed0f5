/**
 * `std.calculator@1`: evaluates an arithmetic expression with a small recursive-descent
 * parser (no `eval`, no names but the listed functions and constants). Python's
 * arithmetic: `+ - * / // % **`, `**` binds tighter than a unary minus (`-2**2` is -4)
 * and is right-associative, `%` and `//` floor (`-7 % 3` is 2), `round` rounds half to
 * even. Functions: abs, round(x[, digits]), min, max, sqrt, floor, ceil, exp,
 * log(x[, base]), log2, log10, sin, cos, tan, asin, acos, atan; constants pi, e, tau. A
 * result that is not a finite number (division by zero, overflow, a domain error) fails.
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

type Token =
  | { readonly kind: "num"; readonly value: number; readonly at: number }
  | { readonly kind: "name"; readonly value: string; readonly at: number }
  | { readonly kind: "op"; readonly value: string; readonly at: number }
  | { readonly kind: "end"; readonly at: number }

const NUMBER = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y
/**
 * Python's `divmod` of two floats (CPython's float_divmod): the remainder from `fmod`
 * (JavaScript's `%`), moved to the divisor's sign, and the quotient from it, so that
 * `1 // 0.1` is 9 and `1 % 0.1` about 0.1, as in Python (`Math.floor(1 / 0.1)` is 10).
 * Integers give the same results as Python's integer `//` and `%`.
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

const OPS = ["**", "//", "+", "-", "*", "/", "%", "(", ")", ","]

class Bad {
  constructor(readonly message: string) {}
}

const tokenize = (text: string): Array<Token> => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (/\s/.test(c)) {
      i++
      continue
    }
    NUMBER.lastIndex = i
    const num = NUMBER.exec(text)
    if (num) {
      tokens.push({ kind: "num", value: Number(num[0]), at: i })
      i += num[0].length
      continue
    }
    NAME.lastIndex = i
    const name = NAME.exec(text)
    if (name) {
      tokens.push({ kind: "name", value: name[0], at: i })
      i += name[0].length
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

/**
 * Python's `round(x, digits)`: the double's exact value rounded to `digits` decimals, an
 * exact tie to the even digit (`round(2.675, 2)` is 2.67: 2.675 is stored as 2.67499…).
 * `toFixed` rounds the exact value (ties up); its longer expansion tells a true tie.
 */
const roundHalfEven = (x: number, digits: number): number => {
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

const arity = (name: string, args: ReadonlyArray<number>, min: number, max: number): void => {
  if (args.length < min || args.length > max) {
    throw new Bad(`${name}() takes ${min === max ? min : max === Infinity ? `at least ${min}` : `${min} or ${max}`} argument${max === 1 ? "" : "s"}, got ${args.length}`)
  }
}

const unary = (f: (x: number) => number) => (name: string, args: ReadonlyArray<number>) => {
  arity(name, args, 1, 1)
  return f(args[0]!)
}

const FUNCTIONS: { readonly [name: string]: (name: string, args: ReadonlyArray<number>) => number } = {
  abs: unary(Math.abs),
  sqrt: unary(Math.sqrt),
  floor: unary(Math.floor),
  ceil: unary(Math.ceil),
  exp: unary(Math.exp),
  log2: unary(Math.log2),
  log10: unary(Math.log10),
  sin: unary(Math.sin),
  cos: unary(Math.cos),
  tan: unary(Math.tan),
  asin: unary(Math.asin),
  acos: unary(Math.acos),
  atan: unary(Math.atan),
  min: (name, args) => (arity(name, args, 2, Infinity), Math.min(...args)),
  max: (name, args) => (arity(name, args, 2, Infinity), Math.max(...args)),
  log: (name, args) => (arity(name, args, 1, 2), args.length === 2 ? Math.log(args[0]!) / Math.log(args[1]!) : Math.log(args[0]!)),
  round: (name, args) => {
    arity(name, args, 1, 2)
    const digits = args[1] ?? 0
    if (!Number.isInteger(digits)) throw new Bad(`round() digits must be an integer, got ${digits}`)
    return roundHalfEven(args[0]!, digits)
  }
}

const CONSTANTS: { readonly [name: string]: number } = { pi: Math.PI, e: Math.E, tau: 2 * Math.PI }

const finite = (value: number, what: string): number => {
  if (!Number.isFinite(value)) throw new Bad(`${what} is not a finite number (${value})`)
  return value
}

/** Evaluate `expression`, or say what is wrong with it. */
export const evaluate = (expression: string): Either.Either<number, string> => {
  try {
    const tokens = tokenize(expression)
    let pos = 0
    let depth = 0
    const peek = () => tokens[pos]!
    const isOp = (value: string) => {
      const t = peek()
      return t.kind === "op" && t.value === value
    }
    const describe = (t: Token) => (t.kind === "end" ? "the end of the expression" : `'${t.kind === "num" ? String(t.value) : t.value}' at position ${t.at}`)
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
    const expr = (): number => {
      let left = term()
      while (isOp("+") || isOp("-")) {
        const op = (tokens[pos++] as { value: string }).value
        const right = term()
        left = op === "+" ? left + right : left - right
      }
      return left
    }
    const term = (): number => {
      let left = factor()
      while (isOp("*") || isOp("/") || isOp("//") || isOp("%")) {
        const { value: op, at } = tokens[pos++] as { value: string; at: number }
        const right = factor()
        if (op === "*") left = left * right
        else if (right === 0) throw new Bad(`${op === "%" ? "modulo" : "division"} by zero ('${op}' at position ${at})`)
        else if (op === "/") left = left / right
        else {
          const [quotient, remainder] = pyDivmod(left, right)
          left = op === "//" ? quotient : remainder
        }
      }
      return left
    }
    const factor = (): number =>
      nested(() => {
        if (isOp("-")) {
          pos++
          return -factor()
        }
        if (isOp("+")) {
          pos++
          return factor()
        }
        return power()
      })
    const power = (): number => {
      const base = primary()
      if (!isOp("**")) return base
      pos++
      const exponent = factor()
      if (base === 0 && exponent < 0) throw new Bad("0 cannot be raised to a negative power")
      return finite(base ** exponent, `${base} ** ${exponent}`)
    }
    const primary = (): number => {
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
          const args: Array<number> = []
          if (!isOp(")")) {
            args.push(nested(expr))
            while (isOp(",")) {
              pos++
              args.push(nested(expr))
            }
          }
          expect(")")
          return finite(fn(t.value, args), `${t.value}(${args.join(", ")})`)
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
    return Either.right(finite(value, "the result"))
  } catch (error) {
    if (error instanceof Bad) return Either.left(error.message)
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
      onLeft: (message) =>
        Effect.fail(new ToolError({ reason: "failed", argument: "expression", message: `cannot evaluate '${expression.length > 80 ? `${expression.slice(0, 80)}…` : expression}': ${message}`, fix: "write an arithmetic expression such as (2 + 3) * 4 ** 2 / 8" })),
      onRight: (result) => Effect.succeed({ result })
    })
})
