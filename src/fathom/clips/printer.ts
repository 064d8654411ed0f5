/**
 * Printing values and facts exactly as CLIPS 6.30 prints them: floats with `%.15g` plus a
 * trailing `.0` when the result looks integral, strings in quotes without escaping (or, for
 * text meant to be read back, escaped: `renderReadable`),
 * multifields in parentheses, fact addresses as `<Fact-N>`.
 */
import type { Value } from "./values.js"

/** C's `%.{precision}g` for a finite or infinite double. */
export const formatG = (x: number, precision = 15): string => {
  if (Number.isNaN(x)) return "nan"
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf"
  if (x === 0) return Object.is(x, -0) ? "-0" : "0"
  const exp = Math.floor(Math.log10(Math.abs(x)))
  // toExponential gives the correctly rounded mantissa; its exponent is authoritative.
  const e = x.toExponential(precision - 1)
  const [mant, expStr] = e.split("e") as [string, string]
  const exponent = Number(expStr)
  void exp
  if (exponent < -4 || exponent >= precision) {
    let m = mant
    if (m.includes(".")) m = m.replace(/0+$/, "").replace(/\.$/, "")
    const sign = exponent < 0 ? "-" : "+"
    const abs = Math.abs(exponent)
    return `${m}e${sign}${abs < 10 ? "0" + abs : String(abs)}`
  }
  let fixed = x.toFixed(Math.max(0, precision - 1 - exponent))
  if (fixed.includes(".")) fixed = fixed.replace(/0+$/, "").replace(/\.$/, "")
  return fixed
}

/** A float as CLIPS prints it: `%.15g`, then `.0` appended when there is no `.` or `e` (`inf.0` too). */
export const formatFloat = (x: number): string => {
  const s = formatG(x, 15)
  if (!/[.e]/.test(s)) return s + ".0"
  return s
}

/** An integer as CLIPS prints it. */
export const formatInteger = (x: number): string => (Object.is(x, -0) ? "0" : x.toFixed(0))

/** Renders a single value the way CLIPS prints it inside facts and multifields. */
export const renderValue = (v: Value): string => {
  switch (v.type) {
    case "SYMBOL":
      return v.value
    case "STRING":
      return `"${v.value}"`
    case "INTEGER":
      return formatInteger(v.value)
    case "FLOAT":
      return formatFloat(v.value)
    case "FACT-ADDRESS":
      return `<Fact-${v.value}>`
    case "MULTIFIELD":
      return `(${v.value.map(renderValue).join(" ")})`
  }
}

/** A string as the CLIPS reader reads it back: in quotes, with `"` and `\` escaped (as `save-facts` writes it). */
export const quoteString = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`

/**
 * Renders a value as {@link renderValue} does, but with strings escaped ({@link quoteString}),
 * so the text reads back as the same value: what Stargraph prints for a user to copy.
 */
export const renderReadable = (v: Value): string =>
  v.type === "STRING" ? quoteString(v.value) : v.type === "MULTIFIELD" ? `(${v.value.map(renderReadable).join(" ")})` : renderValue(v)

/** The fields of a multifield separated by spaces, without parentheses (as facts print slots). */
export const renderFields = (values: ReadonlyArray<Value>): string => values.map(renderValue).join(" ")

/** Renders a value the way `printout` prints it: strings and symbols raw, the rest as {@link renderValue}. */
export const renderPrintout = (v: Value): string => {
  if (v.type === "STRING" || v.type === "SYMBOL") return v.value
  return renderValue(v)
}

/** Left-justifies `s` in a field of `width` characters (C's `%-Ns`). */
export const padRight = (s: string, width: number): string => (s.length >= width ? s : s + " ".repeat(width - s.length))

/** Right-justifies `s` in a field of `width` characters (C's `%Ns`). */
export const padLeft = (s: string, width: number): string => (s.length >= width ? s : " ".repeat(width - s.length) + s)

/** The fact identifier as watch and `(facts)` print it: `f-1     ` (C's `f-%-5lld `). */
export const factIdentifier = (id: number): string => `f-${padRight(String(id), 5)} `
