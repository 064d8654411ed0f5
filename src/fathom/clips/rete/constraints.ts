/**
 * Parsing field constraints of patterns: `?x`, `?`, `$?x`, literals, and connected
 * constraints with `&`, `|`, `~`, `:(pred)` and `=(expr)`. A field constraint is an
 * optional leading variable plus an or-of-ands of terms, as CLIPS reads it.
 */
import { fail, type Pos } from "../diagnostics.js"
import type { SAtom, SExpr } from "../reader.js"
import { atomValue } from "../expressions.js"
import type { Value } from "../values.js"

/** One term of a connected constraint. */
export type Term =
  | { readonly kind: "const"; readonly negated: boolean; readonly value: Value; readonly pos: Pos }
  | { readonly kind: "var"; readonly negated: boolean; readonly name: string; readonly multi: boolean; readonly pos: Pos }
  | { readonly kind: "pred"; readonly negated: boolean; readonly expr: SExpr; readonly pos: Pos }
  | { readonly kind: "rv"; readonly negated: boolean; readonly expr: SExpr; readonly pos: Pos }

/** A parsed field (a single slot, or one element of a multislot / ordered fact). */
export interface FieldConstraint {
  /** Multifield element (`$?`, `$?x`). */
  readonly multi: boolean
  /** The variable that names the field (`?x` in `?x&~a`), if any. */
  readonly leadVar: { readonly name: string; readonly pos: Pos } | null
  /** Alternatives (`|`) of conjunctions (`&`); empty for a bare variable or wildcard. */
  readonly alternatives: ReadonlyArray<ReadonlyArray<Term>>
  readonly pos: Pos
}

const posOf = (e: SExpr): Pos => ({ line: e.line, column: e.column })

interface Site {
  readonly file: string | undefined
  readonly construct: string | undefined
}

const perr = (site: Site, at: SExpr | Pos, message: string, fix: string): never =>
  fail("parse", message, fix, { file: site.file, pos: "kind" in at ? posOf(at) : at, construct: site.construct })

const isConn = (e: SExpr | undefined): boolean => e !== undefined && e.kind === "atom" && (e.token.kind === "and" || e.token.kind === "or")

/**
 * Splits the items of a slot (or an ordered pattern) into field constraints. Items joined
 * by `&`/`|` belong to one field.
 */
export const parseFields = (site: Site, items: ReadonlyArray<SExpr>): Array<FieldConstraint> => {
  const out: Array<FieldConstraint> = []
  let i = 0
  while (i < items.length) {
    const start = i
    // one term (with optional ~ and :/= forms)
    i = skipTerm(site, items, i)
    while (isConn(items[i])) {
      i++
      if (i >= items.length) return perr(site, items[i - 1]!, "constraint ends with a connective", "put a term after & or |")
      i = skipTerm(site, items, i)
    }
    out.push(parseField(site, items.slice(start, i)))
  }
  return out
}

const skipTerm = (site: Site, items: ReadonlyArray<SExpr>, i: number): number => {
  let e = items[i]
  if (e === undefined) return perr(site, items[i - 1]!, "expected a constraint", "write a value, a variable or a predicate")
  if (e.kind === "atom" && e.token.kind === "not") {
    i++
    e = items[i]
    if (e === undefined) return perr(site, items[i - 1]!, "~ must be followed by a term", "write ~value")
  }
  if (e.kind === "atom" && e.token.kind === "symbol" && (e.token.text === ":" || e.token.text === "=")) {
    const call = items[i + 1]
    if (call === undefined || call.kind !== "list") return perr(site, e, `${e.token.text} must be followed by a function call`, `write ${e.token.text}(function args...)`)
    return i + 2
  }
  if (e.kind === "list") return perr(site, e, "unexpected parenthesis in a field constraint", "predicates are written ?x&:(pred ...), return values =(expr)")
  if (e.kind === "atom" && (e.token.kind === "and" || e.token.kind === "or")) return perr(site, e, `unexpected ${e.token.text}`, "connectives go between terms")
  return i + 1
}

const parseTerm = (site: Site, items: ReadonlyArray<SExpr>, i: number): { term: Term | { kind: "wild"; multi: boolean }; next: number } => {
  let negated = false
  let e = items[i]!
  const pos = posOf(e)
  if (e.kind === "atom" && e.token.kind === "not") {
    negated = true
    e = items[++i]!
  }
  if (e.kind === "atom" && e.token.kind === "symbol" && (e.token.text === ":" || e.token.text === "=")) {
    const call = items[i + 1]!
    return { term: { kind: e.token.text === ":" ? "pred" : "rv", negated, expr: call, pos }, next: i + 2 }
  }
  const a = e as SAtom
  switch (a.token.kind) {
    case "sfvar":
      return { term: { kind: "var", negated, name: a.token.text, multi: false, pos }, next: i + 1 }
    case "mfvar":
      return { term: { kind: "var", negated, name: a.token.text, multi: true, pos }, next: i + 1 }
    case "sfwild":
    case "mfwild":
      if (negated) return perr(site, a, "a wildcard cannot be negated", "remove the ~")
      return { term: { kind: "wild", multi: a.token.kind === "mfwild" }, next: i + 1 }
    case "gvar":
      return perr(site, a, "global variables cannot be used directly in patterns", "compare with :(eq ?x ?*g*)")
    default: {
      const v = atomValue(a)
      if (v === null) return perr(site, a, `unexpected ${a.token.text}`, "write a value, a variable or a predicate")
      return { term: { kind: "const", negated, value: v, pos }, next: i + 1 }
    }
  }
}

const parseField = (site: Site, items: ReadonlyArray<SExpr>): FieldConstraint => {
  const pos = posOf(items[0]!)
  // A single wildcard or variable.
  const parsed: Array<{ term: Term | { kind: "wild"; multi: boolean }; conn: "&" | "|" | null }> = []
  let i = 0
  while (i < items.length) {
    const { term, next } = parseTerm(site, items, i)
    i = next
    const c = items[i]
    let conn: "&" | "|" | null = null
    if (c !== undefined && c.kind === "atom" && (c.token.kind === "and" || c.token.kind === "or")) {
      conn = c.token.kind === "and" ? "&" : "|"
      i++
    }
    parsed.push({ term, conn })
  }
  const first = parsed[0]!.term
  if (first.kind === "wild") {
    if (parsed.length > 1) return perr(site, items[0]!, "a wildcard cannot be combined with other constraints", "use a variable, e.g. ?x&~a")
    return { multi: first.multi, leadVar: null, alternatives: [], pos }
  }
  let multi = false
  let leadVar: FieldConstraint["leadVar"] = null
  let startAt = 0
  if (first.kind === "var" && !first.negated && (parsed.length === 1 || parsed[0]!.conn === "&")) {
    leadVar = { name: first.name, pos: first.pos }
    multi = first.multi
    startAt = 1
  }
  const alternatives: Array<Array<Term>> = []
  let current: Array<Term> = []
  for (let k = startAt; k < parsed.length; k++) {
    const p = parsed[k]!
    if (p.term.kind === "wild") return perr(site, items[0]!, "a wildcard cannot be combined with other constraints", "use a variable, e.g. ?x&~a")
    if (p.term.kind === "var" && p.term.multi) multi = true
    current.push(p.term)
    if (p.conn === "|" || p.conn === null) {
      alternatives.push(current)
      current = []
    }
  }
  if (current.length > 0) alternatives.push(current)
  return { multi, leadVar, alternatives, pos }
}
