/**
 * The CLIPS tokenizer: parentheses, symbols, strings, integers, floats, variables
 * (`?x`, `$?x`, `?`, `$?`, `?*g*`) and the constraint connectives `&`, `|`, `~`.
 * Every token carries its 1-based line and column.
 */

/** Token kinds. */
export type TokenKind =
  | "lparen"
  | "rparen"
  | "symbol"
  | "string"
  | "integer"
  | "float"
  | "sfvar" // ?x
  | "mfvar" // $?x
  | "sfwild" // ?
  | "mfwild" // $?
  | "gvar" // ?*x*
  | "and" // &
  | "or" // |
  | "not" // ~
  | "eof"

/** One token with its source position. */
export interface Token {
  readonly kind: TokenKind
  /** Symbol/string text, variable name (without `?`), or the number's source text. */
  readonly text: string
  /** Numeric value for integer and float tokens. */
  readonly num?: number
  readonly line: number
  readonly column: number
}

/** A lexing failure (an unterminated string). */
export interface LexError {
  readonly message: string
  readonly line: number
  readonly column: number
}

const NUMBER = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/

/** True for characters that end an atom: whitespace, parentheses, quote, connectives, comment. */
const isDelimiter = (c: number): boolean =>
  c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11 || c === 40 || c === 41 || c === 34 || c === 38 || c === 124 || c === 126 || c === 59

/** True when an atom may be a number (a digit, sign or dot first; the regex decides). */
const mayBeNumber = (c: number): boolean => (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46

/** Tokenizes `text`; `lineOffset` is added to every line number. */
export const tokenize = (text: string, lineOffset = 0): { tokens: Array<Token>; error?: LexError } => {
  const tokens: Array<Token> = []
  let i = 0
  let line = 1 + lineOffset
  let lineStart = 0
  const n = text.length
  const push = (kind: TokenKind, tokText: string, startLine: number, startCol: number, num?: number) => {
    tokens.push(num === undefined ? { kind, text: tokText, line: startLine, column: startCol } : { kind, text: tokText, num, line: startLine, column: startCol })
  }
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 10) {
      i++
      line++
      lineStart = i
      continue
    }
    if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
      i++
      continue
    }
    if (c === 59) {
      while (i < n && text.charCodeAt(i) !== 10) i++
      continue
    }
    const col = i - lineStart + 1
    if (c === 40) {
      push("lparen", "(", line, col)
      i++
      continue
    }
    if (c === 41) {
      push("rparen", ")", line, col)
      i++
      continue
    }
    if (c === 38) {
      push("and", "&", line, col)
      i++
      continue
    }
    if (c === 124) {
      push("or", "|", line, col)
      i++
      continue
    }
    if (c === 126) {
      push("not", "~", line, col)
      i++
      continue
    }
    if (c === 34) {
      const startLine = line
      let j = i + 1
      let out = ""
      let runStart = j
      let closed = false
      while (j < n) {
        const d = text.charCodeAt(j)
        if (d === 92 && j + 1 < n) {
          out += text.slice(runStart, j) + text[j + 1]!
          if (text.charCodeAt(j + 1) === 10) {
            line++
            lineStart = j + 2
          }
          j += 2
          runStart = j
          continue
        }
        if (d === 34) {
          closed = true
          break
        }
        if (d === 10) {
          line++
          lineStart = j + 1
        }
        j++
      }
      if (!closed) return { tokens, error: { message: "unterminated string", line: startLine, column: col } }
      out += text.slice(runStart, j)
      push("string", out, startLine, col)
      i = j + 1
      continue
    }
    // An atom: read until a delimiter (a variable also ends at `<`, as in CLIPS: `?f<-(a)`).
    let j = i
    const variable = c === 63 || (c === 36 && text.charCodeAt(i + 1) === 63)
    while (j < n && !isDelimiter(text.charCodeAt(j)) && !(variable && j > i && text.charCodeAt(j) === 60)) j++
    const atom = text.slice(i, j)
    i = j
    if (c === 63 || c === 36) {
      if (atom === "?") push("sfwild", "?", line, col)
      else if (atom === "$?") push("mfwild", "$?", line, col)
      else if (atom.startsWith("?*") && atom.length > 3 && atom.endsWith("*")) push("gvar", atom.slice(2, -1), line, col)
      else if (atom.startsWith("$?")) push("mfvar", atom.slice(2), line, col)
      else if (c === 63) push("sfvar", atom.slice(1), line, col)
      else push("symbol", atom, line, col)
    } else if (mayBeNumber(c) && NUMBER.test(atom)) {
      const isFloat = /[.eE]/.test(atom)
      const value = Number(atom)
      push(isFloat ? "float" : "integer", atom, line, col, value)
    } else push("symbol", atom, line, col)
  }
  tokens.push({ kind: "eof", text: "", line, column: i - lineStart + 1 })
  return { tokens }
}
