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

const DELIMS = new Set([" ", "\t", "\n", "\r", "\f", "\v", "(", ")", '"', "&", "|", "~", ";"])
const NUMBER = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/

/** Tokenizes `text`; `lineOffset` is added to every line number. */
export const tokenize = (text: string, lineOffset = 0): { tokens: Array<Token>; error?: LexError } => {
  const tokens: Array<Token> = []
  let i = 0
  let line = 1 + lineOffset
  let lineStart = 0
  const n = text.length
  const push = (kind: TokenKind, tokText: string, startIdx: number, startLine: number, startCol: number, num?: number) => {
    void startIdx
    tokens.push(num === undefined ? { kind, text: tokText, line: startLine, column: startCol } : { kind, text: tokText, num, line: startLine, column: startCol })
  }
  while (i < n) {
    const c = text[i]!
    if (c === "\n") {
      i++
      line++
      lineStart = i
      continue
    }
    if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      i++
      continue
    }
    if (c === ";") {
      while (i < n && text[i] !== "\n") i++
      continue
    }
    const col = i - lineStart + 1
    if (c === "(") {
      push("lparen", "(", i, line, col)
      i++
      continue
    }
    if (c === ")") {
      push("rparen", ")", i, line, col)
      i++
      continue
    }
    if (c === "&") {
      push("and", "&", i, line, col)
      i++
      continue
    }
    if (c === "|") {
      push("or", "|", i, line, col)
      i++
      continue
    }
    if (c === "~") {
      push("not", "~", i, line, col)
      i++
      continue
    }
    if (c === '"') {
      const startLine = line
      let j = i + 1
      let out = ""
      let closed = false
      while (j < n) {
        const d = text[j]!
        if (d === "\\" && j + 1 < n) {
          out += text[j + 1]!
          if (text[j + 1] === "\n") {
            line++
            lineStart = j + 2
          }
          j += 2
          continue
        }
        if (d === '"') {
          closed = true
          j++
          break
        }
        if (d === "\n") {
          line++
          lineStart = j + 1
        }
        out += d
        j++
      }
      if (!closed) return { tokens, error: { message: "unterminated string", line: startLine, column: col } }
      push("string", out, i, startLine, col)
      i = j
      continue
    }
    // An atom: read until a delimiter.
    let j = i
    while (j < n && !DELIMS.has(text[j]!)) j++
    const atom = text.slice(i, j)
    i = j
    if (atom === "?") push("sfwild", "?", i, line, col)
    else if (atom === "$?") push("mfwild", "$?", i, line, col)
    else if (atom.startsWith("?*") && atom.length > 3 && atom.endsWith("*")) push("gvar", atom.slice(2, -1), i, line, col)
    else if (atom.startsWith("$?")) push("mfvar", atom.slice(2), i, line, col)
    else if (atom.startsWith("?")) push("sfvar", atom.slice(1), i, line, col)
    else if (NUMBER.test(atom)) {
      const isFloat = /[.eE]/.test(atom)
      const value = Number(atom)
      push(isFloat ? "float" : "integer", atom, i, line, col, value)
    } else push("symbol", atom, i, line, col)
  }
  tokens.push({ kind: "eof", text: "", line, column: i - lineStart + 1 })
  return { tokens }
}
