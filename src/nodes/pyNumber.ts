/**
 * Python's formatting of floats, digit for digit: `f`, `e` and `g` round the double's
 * exact binary value half to even (as CPython does; JavaScript's `toFixed` and
 * `toExponential` round half up), and `str`/`repr` switch to an exponent below 1e-4 with
 * at least two exponent digits (`1e-05`). Used by the `template` node's `str.format`.
 */

/** The exact value of a finite, non-negative double as `mantissa × 2^exponent`. */
const exact = (n: number): { readonly mantissa: bigint; readonly exponent: number } => {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, n)
  const hi = view.getUint32(0)
  const lo = view.getUint32(4)
  const biased = (hi >>> 20) & 0x7ff
  const fraction = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo)
  return biased === 0 ? { mantissa: fraction, exponent: -1074 } : { mantissa: fraction | (1n << 52n), exponent: biased - 1075 }
}

/** `n × 10^digits` rounded half to even to an integer, exactly (`digits` may be negative). */
const scaledRound = (n: number, digits: number): bigint => {
  const { exponent, mantissa } = exact(n)
  let num = mantissa
  let den = 1n
  if (exponent >= 0) num <<= BigInt(exponent)
  else den <<= BigInt(-exponent)
  if (digits >= 0) num *= 10n ** BigInt(digits)
  else den *= 10n ** BigInt(-digits)
  const q = num / den
  const twice = (num % den) * 2n
  return twice > den || (twice === den && q % 2n === 1n) ? q + 1n : q
}

/** Digits of `value` with a point `fraction` places from the right. */
const withPoint = (value: bigint, fraction: number): string => {
  if (fraction <= 0) return value.toString()
  const text = value.toString().padStart(fraction + 1, "0")
  return `${text.slice(0, -fraction)}.${text.slice(-fraction)}`
}

/** Python's `format(n, ".{precision}f")` of a finite, non-negative double. */
export const fixed = (n: number, precision: number): string => withPoint(scaledRound(n, precision), precision)

/** The digits of `n` rounded to `significant` digits, and the decimal exponent of the first. */
const significantDigits = (n: number, significant: number): { readonly digits: string; readonly exponent: number } => {
  if (n === 0) return { digits: "0".repeat(significant), exponent: 0 }
  // An estimate of the exponent, corrected against the exact rounding (and its carry).
  let exponent = Math.floor(Math.log10(n))
  for (;;) {
    const digits = scaledRound(n, significant - 1 - exponent).toString()
    if (digits.length > significant) exponent++
    else if (digits.length < significant) exponent--
    else return { digits, exponent }
  }
}

const exponentText = (exponent: number): string => `${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`

/** Python's `format(n, ".{precision}e")` of a finite, non-negative double. */
export const scientific = (n: number, precision: number): string => {
  const { digits, exponent } = significantDigits(n, precision + 1)
  return `${digits[0]}${precision > 0 ? `.${digits.slice(1)}` : ""}e${exponentText(exponent)}`
}

/**
 * Python's `format(n, ".{precision}g")` of a finite, non-negative double. `alternate` (the
 * `#` flag) keeps trailing zeros; `keepPoint` is the spec without a type (`.3`): fixed
 * notation keeps a digit after the point and gives way to an exponent one digit earlier.
 */
export const general = (n: number, precision: number, options: { readonly alternate?: boolean; readonly keepPoint?: boolean } = {}): string => {
  const p = precision === 0 ? 1 : precision
  const { exponent } = significantDigits(n, p)
  const strip = (text: string) => (options.alternate === true || !text.includes(".") ? text : text.replace(/\.?0+$/, ""))
  // `#` keeps the point even with no digit after it (`123.`, `1.e+20`).
  const point = (text: string, suffix: string) => (text.includes(".") ? text : `${text}${suffix}`)
  if (exponent >= -4 && exponent < (options.keepPoint === true ? p - 1 : p)) {
    const text = strip(fixed(n, p - 1 - exponent))
    return options.keepPoint === true ? point(text, ".0") : options.alternate === true ? point(text, ".") : text
  }
  const [mantissa = "", power = ""] = scientific(n, p - 1).split("e")
  return `${options.alternate === true ? point(mantissa, ".") : strip(mantissa)}e${power}`
}

/** Python's `repr` (and `str`) of a finite double taken as a float. */
export const floatRepr = (n: number): string => {
  const text = String(n)
  const [mantissa = "", power] = n.toExponential().split("e")
  const exponent = Number(power)
  // JavaScript writes 1e-5 and 1e-6 in full; Python switches to an exponent below 1e-4,
  // and writes a whole float with its point (`9007199254740992.0`).
  return exponent < -4 || exponent >= 16 ? `${mantissa}e${exponentText(exponent)}` : Number.isInteger(n) ? `${text}.0` : text
}
