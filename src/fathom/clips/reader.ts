/**
 * The s-expression reader: turns tokens into nested lists, reporting unbalanced
 * parentheses with the position of the offending (or the unclosed) parenthesis.
 */
import { tokenize, type Token } from "./lexer.js"

/** A parenthesized list with the position of its `(`. */
export interface SList {
  readonly kind: "list"
  readonly items: ReadonlyArray<SExpr>
  readonly line: number
  readonly column: number
}

/** A single token (symbol, string, number, variable, connective). */
export interface SAtom {
  readonly kind: "atom"
  readonly token: Token
  readonly line: number
  readonly column: number
}

/** A node of the read tree. */
export type SExpr = SList | SAtom

/** A reader failure with its position. */
export interface ReadError {
  readonly message: string
  readonly line: number
  readonly column: number
  /** The head of the top-level form the error is in, e.g. `defrule foo`, when known. */
  readonly construct?: string
}

/** Describes a top-level form as `defrule name` (or its head symbol). */
export const describeForm = (form: SList): string | undefined => {
  const head = form.items[0]
  if (head?.kind !== "atom") return undefined
  const name = form.items[1]
  if (name?.kind === "atom" && (name.token.kind === "symbol" || name.token.kind === "string")) return `${head.token.text} ${name.token.text}`
  return head.token.text
}

/** Reads every top-level form of `text`. Top-level atoms are returned as atoms. */
export const readAll = (text: string, lineOffset = 0): { forms: Array<SExpr>; error?: ReadError } => {
  const { tokens, error: lexError } = tokenize(text, lineOffset)
  const forms: Array<SExpr> = []
  // Open lists: where their items start in `buf` (items are sliced out, exactly sized, on `)`).
  const stack: Array<{ start: number; line: number; column: number }> = []
  const buf: Array<SExpr> = []
  for (const tok of tokens) {
    if (tok.kind === "eof") break
    if (tok.kind === "lparen") {
      stack.push({ start: buf.length, line: tok.line, column: tok.column })
      continue
    }
    if (tok.kind === "rparen") {
      const top = stack.pop()
      if (top === undefined) {
        return { forms, error: { message: "unbalanced parentheses: unexpected ')'", line: tok.line, column: tok.column } }
      }
      const list: SList = { kind: "list", items: buf.slice(top.start), line: top.line, column: top.column }
      buf.length = top.start
      if (stack.length === 0) forms.push(list)
      else buf.push(list)
      continue
    }
    const atom: SAtom = { kind: "atom", token: tok, line: tok.line, column: tok.column }
    if (stack.length === 0) forms.push(atom)
    else buf.push(atom)
  }
  if (lexError !== undefined) {
    const open = stack[0]
    const construct = open ? describeForm({ kind: "list", items: buf.slice(open.start), line: open.line, column: open.column }) : undefined
    return { forms, error: { message: lexError.message, line: lexError.line, column: lexError.column, ...(construct ? { construct } : {}) } }
  }
  if (stack.length > 0) {
    const open = stack[stack.length - 1]!
    const outer = stack[0]!
    const construct = describeForm({ kind: "list", items: buf.slice(outer.start), line: outer.line, column: outer.column })
    return {
      forms,
      error: {
        message: "unbalanced parentheses: '(' is never closed",
        line: open.line,
        column: open.column,
        ...(construct ? { construct } : {})
      }
    }
  }
  return { forms }
}
