/**
 * Python `str.format` templates over state fields, as the original Stargraph's `template`
 * node writes them: `{field}`, `{field!r}`, `{field:>8}`, `{score:.2f}`, `{{` and `}}`
 * for literal braces. Placeholders name state fields only (no positional, dotted or
 * indexed placeholders), so what a template reads is visible when the graph is built.
 */
import * as Either from "effect/Either"
import { fixed, floatRepr, general, scientific } from "./pyNumber.js"

/** One piece of a parsed template. */
export type Piece =
  | { readonly _tag: "text"; readonly text: string }
  | { readonly _tag: "field"; readonly name: string; readonly conversion: "s" | "r" | "a" | undefined; readonly spec: string }

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Parse `template`, or say what is wrong with it. */
export const parse = (template: string): Either.Either<ReadonlyArray<Piece>, string> => {
  const pieces: Array<Piece> = []
  let text = ""
  let i = 0
  while (i < template.length) {
    const c = template[i]!
    if (c === "{" && template[i + 1] === "{") {
      text += "{"
      i += 2
    } else if (c === "}" && template[i + 1] === "}") {
      text += "}"
      i += 2
    } else if (c === "}") {
      return Either.left(`single '}' at offset ${i}; write '}}' for a literal brace`)
    } else if (c === "{") {
      const end = template.indexOf("}", i)
      if (end < 0) return Either.left(`unclosed '{' at offset ${i}; write '{{' for a literal brace`)
      const body = template.slice(i + 1, end)
      const colon = body.indexOf(":")
      const head = colon < 0 ? body : body.slice(0, colon)
      const spec = colon < 0 ? "" : body.slice(colon + 1)
      const bang = head.indexOf("!")
      const name = bang < 0 ? head : head.slice(0, bang)
      const conversion = bang < 0 ? undefined : head.slice(bang + 1)
      if (!IDENTIFIER.test(name)) {
        return Either.left(`placeholder {${body}} must name a state field (no positional, dotted or indexed placeholders)`)
      }
      if (conversion !== undefined && conversion !== "s" && conversion !== "r" && conversion !== "a") {
        return Either.left(`placeholder {${body}}: unknown conversion '!${conversion}' (use !s, !r or !a)`)
      }
      if (spec !== "" && SPEC.exec(spec) === null) return Either.left(`placeholder {${body}}: unsupported format spec '${spec}'`)
      if (text !== "") pieces.push({ _tag: "text", text })
      text = ""
      pieces.push({ _tag: "field", name, conversion, spec })
      i = end + 1
    } else {
      text += c
      i++
    }
  }
  if (text !== "") pieces.push({ _tag: "text", text })
  return Either.right(pieces)
}

/** The state fields a parsed template reads. */
export const fieldsOf = (pieces: ReadonlyArray<Piece>): ReadonlyArray<string> =>
  pieces.flatMap((p) => (p._tag === "field" ? [p.name] : []))

/** Characters Python's `repr` escapes: the non-printable ones (control, format, unassigned, separators but the space). */
const NON_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u

const ESCAPES: { readonly [c: string]: string } = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" }

/** `\xNN`, `\uNNNN` or `\UNNNNNNNN` for a code point. */
const escapeCode = (code: number): string =>
  code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : code < 0x10000 ? `\\u${code.toString(16).padStart(4, "0")}` : `\\U${code.toString(16).padStart(8, "0")}`

/**
 * Python's `repr` of a string: single quotes unless it holds one and no double quote
 * (`ascii`: Python's `ascii`, which escapes every character past ASCII too).
 */
const strRepr = (value: string, ascii: boolean): string => {
  const quote = value.includes("'") && !value.includes("\"") ? "\"" : "'"
  let out = quote
  for (const c of value) {
    const code = c.codePointAt(0)!
    out += ESCAPES[c] ?? (c === quote ? `\\${c}` : NON_PRINTABLE.test(c) || (ascii && code > 0x7e) ? escapeCode(code) : c)
  }
  return out + quote
}

/**
 * The Python type a number is taken as: `float` or `int` when a declared field says so
 * (`type: number` holds a Python float, `type: integer` an int), undefined when nothing
 * does (see `isInt`).
 */
export type NumberType = "float" | "int" | undefined

/** Python's `repr` of a JSON value (`ascii`: Python's `ascii`, `!a`; `as`: the Python type of a number value). */
export const pyRepr = (value: unknown, ascii = false, as?: NumberType): string => {
  if (typeof value === "string") return strRepr(value, ascii)
  if (Array.isArray(value)) return `[${value.map((v) => pyRepr(v, ascii)).join(", ")}]`
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${pyRepr(k, ascii)}: ${pyRepr(v, ascii)}`).join(", ")}}`
  }
  return pyStr(value, as)
}

/**
 * Whether a JSON number stands for a Python int. A declared type decides (`float`: never;
 * `int`: a whole number, at any size). Without one: a whole number within the range where
 * doubles count every integer (±2^53); past it a whole number is almost surely a float's
 * value (`1e22`), and Python prints those as floats.
 */
const isInt = (value: number, as: NumberType): boolean =>
  as === "float" ? false : as === "int" ? Number.isInteger(value) : Number.isSafeInteger(value)

/** Python's `str` of a JSON value (`as`: the Python type of a number value). */
export const pyStr = (value: unknown, as?: NumberType): string => {
  if (value === null || value === undefined) return "None"
  if (value === true) return "True"
  if (value === false) return "False"
  if (typeof value === "string") return value
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return value > 0 ? "inf" : value < 0 ? "-inf" : "nan"
    return isInt(value, as) ? BigInt(value).toString() : floatRepr(value)
  }
  return pyRepr(value)
}

// [[fill]align][sign][#][0][width][,|_][.precision][type]
const SPEC = /^(?:(.)?([<>^=]))?([+\- ])?(#)?(0)?(\d+)?([,_])?(?:\.(\d+))?([bcdeEfFgGnosxX%])?$/

/** `digits` with `sep` every `size` digits from the right. */
const group = (digits: string, sep: string, size: number): string => {
  let out = ""
  for (let end = digits.length; end > 0; end -= size) out = digits.slice(Math.max(0, end - size), end) + (out === "" ? "" : sep + out)
  return out
}

/** Zero padding with a separator: zeros are added (and grouped) until the number fills `width`, as Python pads `{n:08,}`. */
const zeroGrouped = (digits: string, sep: string, size: number, width: number): string => {
  let padded = digits
  while (group(padded, sep, size).length < width) padded = `0${padded}`
  return group(padded, sep, size)
}

/** Python's type name of a JSON value, for errors. */
const pyType = (value: unknown, as: NumberType): string =>
  value === null || value === undefined ? "NoneType"
    : typeof value === "boolean" ? "bool"
    : typeof value === "number" ? (isInt(value, as) ? "int" : "float")
    : typeof value === "string" ? "str"
    : Array.isArray(value) ? "list" : "dict"

const INTEGER_TYPES = new Set(["b", "c", "d", "o", "x", "X"])
/** Integer codes whose digits group by four with `_`, and take no `,`. */
const RADIX_TYPES = new Set(["b", "o", "x", "X"])

/**
 * Apply a format spec to a value (the subset of Python's mini-language above), refusing
 * what Python's `format` refuses rather than guessing: a spec on None, a list or a dict;
 * a float with an integer code (`d`, `x`…); a string with a number code, a sign, `,` or `=`;
 * a number with `s`. A number is the Python type `as` says; without it, whole JSON
 * numbers count as ints (see `isInt`). Booleans count as 0 and 1.
 */
export const formatValue = (input: unknown, spec: string, as?: NumberType): Either.Either<string, string> => {
  const m = SPEC.exec(spec)
  if (m === null || spec === "") return Either.right(pyStr(input, as))
  const [, fillChar, alignChar, sign, alternate, zero, widthText, sep, precisionText, type] = m
  const value = typeof input === "boolean" ? Number(input) : input
  const precision = precisionText === undefined ? undefined : Number(precisionText)
  const numeric = typeof value === "number"
  if (!numeric && typeof value !== "string") return Either.left(`unsupported format string passed to ${pyType(input, as)}.__format__ (the value is ${pyRepr(input)})`)
  if (numeric && type === "s") return Either.left(`Unknown format code 's' for object of type '${pyType(input, as)}'`)
  if (numeric && type !== undefined && INTEGER_TYPES.has(type) && !isInt(value, as)) return Either.left(`Unknown format code '${type}' for object of type 'float' (the value is ${pyStr(value, as)})`)
  if (numeric && precision !== undefined && (type === undefined || type === "n" || INTEGER_TYPES.has(type)) && isInt(value, as)) {
    return Either.left("Precision not allowed in integer format specifier")
  }
  if (numeric && type === "c" && sign !== undefined) return Either.left("Sign not allowed with integer format specifier 'c'")
  if (numeric && type === "c" && alternate !== undefined) return Either.left("Alternate form (#) not allowed with integer format specifier 'c'")
  if (numeric && sep !== undefined && (type === "c" || type === "n" || (sep === "," && type !== undefined && RADIX_TYPES.has(type)))) {
    return Either.left(`Cannot specify '${sep}' with '${type}'.`)
  }
  if (numeric && type === "c" && !(value >= 0 && value < 0x110000)) return Either.left("%c arg not in range(0x110000)")
  if (!numeric && type !== undefined && type !== "s") return Either.left(`Unknown format code '${type}' for object of type 'str'`)
  if (!numeric && sign !== undefined) return Either.left("Sign not allowed in string format specifier")
  if (!numeric && alternate !== undefined) return Either.left("Alternate form (#) not allowed in string format specifier")
  if (!numeric && alignChar === "=") return Either.left("'=' alignment not allowed in string format specifier")
  if (!numeric && sep !== undefined) return Either.left(`Cannot specify '${sep}' with 's'.`)
  const width = widthText === undefined ? 0 : Number(widthText)
  const fill = fillChar ?? (zero !== undefined ? "0" : " ")
  const align = alignChar ?? (zero !== undefined && numeric ? "=" : numeric ? ">" : "<")
  // What precedes the padding when it goes after the sign (`=`): the sign, then a `#` prefix.
  let lead = ""
  let body: string
  if (numeric) {
    const negative = value < 0 || Object.is(value, -0)
    const n = Math.abs(value)
    const finite = Number.isFinite(n)
    const integral = isInt(value, as)
    switch (type) {
      case "d": body = BigInt(n).toString(); break
      case "b": body = BigInt(n).toString(2); break
      case "o": body = BigInt(n).toString(8); break
      case "x": body = BigInt(n).toString(16); break
      case "X": body = BigInt(n).toString(16).toUpperCase(); break
      case "c": body = String.fromCodePoint(value); break
      case "e": case "E": body = finite ? scientific(n, precision ?? 6) : pyStr(n); break
      case "f": case "F": body = finite ? fixed(n, precision ?? 6) : pyStr(n); break
      case "%": body = `${Number.isFinite(n * 100) ? fixed(n * 100, precision ?? 6) : pyStr(n * 100)}%`; break
      case "g": case "G": body = finite ? general(n, precision ?? 6, { alternate: alternate !== undefined }) : pyStr(n); break
      // `n` is `d` for ints and `g` for floats (without a locale's separators).
      case "n": body = integral ? BigInt(n).toString() : finite ? general(n, precision ?? 6) : pyStr(n); break
      default: body = precision === undefined || !finite ? pyStr(n, as) : general(n, precision, { keepPoint: true })
    }
    if (type === "E" || type === "G" || type === "F") body = body.toUpperCase()
    lead = (negative ? "-" : sign === "+" ? "+" : sign === " " ? " " : "") +
      (alternate !== undefined && type !== undefined && RADIX_TYPES.has(type) ? `0${type}` : "")
    if (sep !== undefined && type !== "c") {
      const size = type !== undefined && RADIX_TYPES.has(type) ? 4 : 3
      const cut = body.search(type === "x" || type === "X" ? /[^0-9a-fA-F]/ : /[^0-9]/)
      const digits = cut < 0 ? body : body.slice(0, cut)
      const rest = cut < 0 ? "" : body.slice(cut)
      // Zeros padding a grouped number are grouped too (`{n:08,}` is 0,001,234).
      body = (align === "=" && fill === "0" ? zeroGrouped(digits, sep, size, width - lead.length - rest.length) : group(digits, sep, size)) + rest
    }
  } else {
    // Precision and width count characters (code points), as Python's do.
    body = precision === undefined ? value : Array.from(value).slice(0, precision).join("")
  }
  const pad = Math.max(0, width - lead.length - Array.from(body).length)
  switch (align) {
    case "<": return Either.right(lead + body + fill.repeat(pad))
    case ">": return Either.right(fill.repeat(pad) + lead + body)
    case "^": return Either.right(fill.repeat(Math.floor(pad / 2)) + lead + body + fill.repeat(pad - Math.floor(pad / 2)))
    default: return Either.right(lead + fill.repeat(pad) + body)
  }
}

/** A placeholder Python's `format` would refuse: its field, and the placeholder and why (`{score:d}: Unknown format code…`). */
export interface RenderProblem {
  readonly field: string
  readonly message: string
}

/**
 * Render parsed pieces over `values`, or say which placeholder Python's `format` would
 * refuse and why. `types` gives the Python type of a field's number value (its declared
 * type); it applies to the field's value itself, not to numbers nested in it.
 */
export const render = (
  pieces: ReadonlyArray<Piece>,
  values: { readonly [field: string]: unknown },
  types?: ReadonlyMap<string, NumberType>
): Either.Either<string, RenderProblem> => {
  let out = ""
  for (const p of pieces) {
    if (p._tag === "text") {
      out += p.text
      continue
    }
    const value = values[p.name]
    const as = types?.get(p.name)
    const converted = p.conversion === "r" || p.conversion === "a" ? pyRepr(value, p.conversion === "a", as) : p.conversion === "s" ? pyStr(value, as) : value
    const formatted = formatValue(converted, p.spec, as)
    if (Either.isLeft(formatted)) {
      return Either.left({ field: p.name, message: `{${p.name}${p.conversion !== undefined ? `!${p.conversion}` : ""}:${p.spec}}: ${formatted.left}` })
    }
    out += formatted.right
  }
  return Either.right(out)
}
