/**
 * Constructs: the syntax tree of a program (deftemplate, deffacts, defrule, deffunction,
 * defmodule, defglobal) and `parseProgram`, which checks the syntax of every construct.
 * Meaning (templates known, functions known, variables bound) is checked by the engine's
 * compiler when the program is loaded.
 */
import * as Either from "effect/Either"
import type { RuleError } from "../../errors.js"
import { fail, RuleFailure, ruleError, type Pos } from "./diagnostics.js"
import { describeForm, readAll, type SAtom, type SExpr, type SList } from "./reader.js"

/** The value types a slot may be restricted to with `(type ...)`. */
export type SlotType = "SYMBOL" | "STRING" | "INTEGER" | "FLOAT" | "FACT-ADDRESS" | "EXTERNAL-ADDRESS" | "INSTANCE-NAME" | "INSTANCE-ADDRESS"

/** How a slot gets its value when an assert does not give one. */
export type DefaultSpec =
  | { readonly kind: "derive" }
  | { readonly kind: "none" }
  | { readonly kind: "static"; readonly exprs: ReadonlyArray<SExpr> }
  | { readonly kind: "dynamic"; readonly exprs: ReadonlyArray<SExpr> }

/** A slot's constraint attributes as written. */
export interface SlotAttributes {
  /** `null` when any type is allowed. */
  readonly types: ReadonlyArray<SlotType> | null
  readonly allowedSymbols?: ReadonlyArray<SAtom>
  readonly allowedStrings?: ReadonlyArray<SAtom>
  readonly allowedLexemes?: ReadonlyArray<SAtom>
  readonly allowedIntegers?: ReadonlyArray<SAtom>
  readonly allowedFloats?: ReadonlyArray<SAtom>
  readonly allowedNumbers?: ReadonlyArray<SAtom>
  readonly allowedValues?: ReadonlyArray<SAtom>
  readonly range?: readonly [SAtom, SAtom]
  readonly cardinality?: readonly [SAtom, SAtom]
}

/** A `slot` or `multislot` of a deftemplate. */
export interface SlotDef {
  readonly name: string
  readonly multi: boolean
  readonly default: DefaultSpec
  readonly attributes: SlotAttributes
  readonly pos: Pos
}

/** A conditional element of a rule's left-hand side, as written. */
export type CE =
  | {
      readonly kind: "pattern"
      readonly relation: string
      readonly relationPos: Pos
      /** Everything after the relation name. */
      readonly items: ReadonlyArray<SExpr>
      /** `?f` in `?f <- (pattern)`. */
      readonly binding?: string
      readonly pos: Pos
    }
  | { readonly kind: "test"; readonly expr: SExpr; readonly pos: Pos }
  | { readonly kind: "and" | "or" | "not" | "exists" | "forall" | "logical"; readonly children: ReadonlyArray<CE>; readonly pos: Pos }

/** `(deftemplate ...)`. */
export interface DeftemplateConstruct {
  readonly kind: "deftemplate"
  readonly name: string
  readonly comment?: string
  readonly slots: ReadonlyArray<SlotDef>
  readonly pos: Pos
}
/** `(deffacts ...)`. */
export interface DeffactsConstruct {
  readonly kind: "deffacts"
  readonly name: string
  readonly facts: ReadonlyArray<SList>
  readonly pos: Pos
}
/** `(defrule ...)`. */
export interface DefruleConstruct {
  readonly kind: "defrule"
  readonly name: string
  readonly comment?: string
  readonly salience: number
  readonly autoFocus: boolean
  readonly lhs: ReadonlyArray<CE>
  readonly rhs: ReadonlyArray<SExpr>
  readonly pos: Pos
}
/** `(deffunction ...)`. */
export interface DeffunctionConstruct {
  readonly kind: "deffunction"
  readonly name: string
  readonly params: ReadonlyArray<string>
  readonly rest?: string
  readonly body: ReadonlyArray<SExpr>
  readonly pos: Pos
}
/** One `(import ...)` or `(export ...)` item of a defmodule. */
export interface PortSpec {
  /** The module imported from (imports only). */
  readonly module?: string
  /** `?ALL`, `?NONE`, or a construct kind with `?ALL`/`?NONE`/names. */
  readonly constructKind?: string
  readonly names: "all" | "none" | ReadonlyArray<string>
}
/** `(defmodule ...)`. */
export interface DefmoduleConstruct {
  readonly kind: "defmodule"
  readonly name: string
  readonly imports: ReadonlyArray<PortSpec>
  readonly exports: ReadonlyArray<PortSpec>
  readonly pos: Pos
}
/** `(defglobal ...)`: global variables `?*x*` with initial values. */
export interface DefglobalConstruct {
  readonly kind: "defglobal"
  readonly module?: string
  readonly globals: ReadonlyArray<{ readonly name: string; readonly expr: SExpr; readonly pos: Pos }>
  readonly pos: Pos
}

/** Any construct. */
export type Construct =
  | DeftemplateConstruct
  | DeffactsConstruct
  | DefruleConstruct
  | DeffunctionConstruct
  | DefmoduleConstruct
  | DefglobalConstruct

/** A parsed program: its constructs in source order, with the file they came from. */
export interface Program {
  readonly constructs: ReadonlyArray<Construct>
  readonly file?: string
}

/** Options of {@link parseProgram}. */
export interface ParseOptions {
  /** File name reported in errors. */
  readonly file?: string
  /** Added to every reported line (for rule text embedded in a larger file). */
  readonly lineOffset?: number
}

// ---------------------------------------------------------------------------

const posOf = (e: SExpr): Pos => ({ line: e.line, column: e.column })

const isSym = (e: SExpr | undefined, text?: string): e is SAtom =>
  e !== undefined && e.kind === "atom" && e.token.kind === "symbol" && (text === undefined || e.token.text === text)

interface Ctx {
  readonly file: string | undefined
  construct: string | undefined
}

const perr = (ctx: Ctx, at: SExpr | Pos, message: string, fix: string): never =>
  fail("parse", message, fix, { file: ctx.file, pos: "kind" in at ? posOf(at) : at, construct: ctx.construct })

const expectSymbol = (ctx: Ctx, e: SExpr | undefined, after: SExpr, what: string): SAtom => {
  if (isSym(e)) return e
  return perr(ctx, e ?? after, `expected ${what}`, `write ${what} here`)
}

const parseTypes = (ctx: Ctx, items: ReadonlyArray<SExpr>): ReadonlyArray<SlotType> | null => {
  const out: Array<SlotType> = []
  for (const it of items) {
    if (it.kind === "atom" && it.token.kind === "sfvar" && it.token.text === "VARIABLE") return null
    if (!isSym(it)) return perr(ctx, it, "expected a type name", "use SYMBOL, STRING, LEXEME, INTEGER, FLOAT, NUMBER or ?VARIABLE")
    switch (it.token.text) {
      case "SYMBOL":
      case "STRING":
      case "INTEGER":
      case "FLOAT":
      case "FACT-ADDRESS":
      case "EXTERNAL-ADDRESS":
      case "INSTANCE-NAME":
      case "INSTANCE-ADDRESS":
        out.push(it.token.text)
        break
      case "LEXEME":
        out.push("SYMBOL", "STRING")
        break
      case "NUMBER":
        out.push("INTEGER", "FLOAT")
        break
      case "INSTANCE":
        out.push("INSTANCE-NAME", "INSTANCE-ADDRESS")
        break
      default:
        return perr(ctx, it, `unknown type ${it.token.text}`, "use SYMBOL, STRING, LEXEME, INTEGER, FLOAT, NUMBER or ?VARIABLE")
    }
  }
  if (out.length === 0) return perr(ctx, items[0] ?? { line: 0, column: 0 }, "empty type attribute", "name at least one type")
  return out
}

const atomsOf = (ctx: Ctx, items: ReadonlyArray<SExpr>, attr: string): ReadonlyArray<SAtom> => {
  const out: Array<SAtom> = []
  for (const it of items) {
    if (it.kind !== "atom" || !["symbol", "string", "integer", "float", "sfvar"].includes(it.token.kind)) {
      return perr(ctx, it, `${attr} takes constants`, `list constant values in (${attr} ...)`)
    }
    out.push(it)
  }
  return out
}

const parseSlot = (ctx: Ctx, form: SList, multi: boolean): SlotDef => {
  const name = expectSymbol(ctx, form.items[1], form, "a slot name")
  let def: DefaultSpec = { kind: "derive" }
  const attrs: {
    -readonly [K in keyof SlotAttributes]: SlotAttributes[K]
  } = { types: null }
  const seen = new Set<string>()
  for (const attr of form.items.slice(2)) {
    if (attr.kind !== "list" || !isSym(attr.items[0])) {
      return perr(ctx, attr, `bad attribute in slot ${name.token.text}`, "slot attributes look like (default ...) or (type ...)")
    }
    const head = (attr.items[0] as SAtom).token.text
    const rest = attr.items.slice(1)
    if (seen.has(head)) return perr(ctx, attr, `attribute ${head} given twice in slot ${name.token.text}`, "keep one")
    seen.add(head)
    switch (head) {
      case "default": {
        const first = rest[0]
        if (rest.length === 1 && first?.kind === "atom" && first.token.kind === "sfvar" && first.token.text === "NONE") def = { kind: "none" }
        else if (rest.length === 1 && first?.kind === "atom" && first.token.kind === "sfvar" && first.token.text === "DERIVE") def = { kind: "derive" }
        else {
          if (!multi && rest.length !== 1) {
            return perr(ctx, attr, `slot ${name.token.text} takes exactly one default value`, "give one value, or use multislot")
          }
          def = { kind: "static", exprs: rest }
        }
        break
      }
      case "default-dynamic":
        if (!multi && rest.length !== 1) {
          return perr(ctx, attr, `slot ${name.token.text} takes exactly one default value`, "give one value, or use multislot")
        }
        def = { kind: "dynamic", exprs: rest }
        break
      case "type":
        attrs.types = parseTypes(ctx, rest)
        break
      case "allowed-symbols":
        attrs.allowedSymbols = atomsOf(ctx, rest, head)
        break
      case "allowed-strings":
        attrs.allowedStrings = atomsOf(ctx, rest, head)
        break
      case "allowed-lexemes":
        attrs.allowedLexemes = atomsOf(ctx, rest, head)
        break
      case "allowed-integers":
        attrs.allowedIntegers = atomsOf(ctx, rest, head)
        break
      case "allowed-floats":
        attrs.allowedFloats = atomsOf(ctx, rest, head)
        break
      case "allowed-numbers":
        attrs.allowedNumbers = atomsOf(ctx, rest, head)
        break
      case "allowed-values":
        attrs.allowedValues = atomsOf(ctx, rest, head)
        break
      case "range": {
        const r = atomsOf(ctx, rest, head)
        if (r.length !== 2) return perr(ctx, attr, "range takes a low and a high bound", "write (range <low> <high>), ?VARIABLE for open ends")
        attrs.range = [r[0]!, r[1]!]
        break
      }
      case "cardinality": {
        if (!multi) return perr(ctx, attr, "cardinality applies to multislots only", "remove it or use multislot")
        const r = atomsOf(ctx, rest, head)
        if (r.length !== 2) return perr(ctx, attr, "cardinality takes a low and a high bound", "write (cardinality <low> <high>)")
        attrs.cardinality = [r[0]!, r[1]!]
        break
      }
      default:
        return perr(ctx, attr, `unknown slot attribute ${head}`, "use default, default-dynamic, type, allowed-..., range or cardinality")
    }
  }
  return { name: name.token.text, multi, default: def, attributes: attrs, pos: posOf(form) }
}

const parseDeftemplate = (ctx: Ctx, form: SList): DeftemplateConstruct => {
  const name = expectSymbol(ctx, form.items[1], form, "a deftemplate name")
  let i = 2
  let comment: string | undefined
  const c = form.items[i]
  if (c?.kind === "atom" && c.token.kind === "string") {
    comment = c.token.text
    i++
  }
  const slots: Array<SlotDef> = []
  const names = new Set<string>()
  for (; i < form.items.length; i++) {
    const s = form.items[i]!
    if (s.kind !== "list" || !(isSym(s.items[0], "slot") || isSym(s.items[0], "multislot") || isSym(s.items[0], "field") || isSym(s.items[0], "multifield"))) {
      return perr(ctx, s, "expected (slot ...) or (multislot ...)", "declare slots as (slot name ...) or (multislot name ...)")
    }
    const head = (s.items[0] as SAtom).token.text
    const slot = parseSlot(ctx, s, head === "multislot" || head === "multifield")
    if (names.has(slot.name)) return perr(ctx, s, `slot ${slot.name} declared twice`, "rename or remove one")
    names.add(slot.name)
    slots.push(slot)
  }
  return { kind: "deftemplate", name: name.token.text, ...(comment !== undefined ? { comment } : {}), slots, pos: posOf(form) }
}

const CE_HEADS = new Set(["and", "or", "not", "exists", "forall", "logical", "test"])

const parseCE = (ctx: Ctx, items: ReadonlyArray<SExpr>, i: number): { ce: CE; next: number } => {
  const e = items[i]!
  if (e.kind === "atom" && e.token.kind === "sfvar") {
    const arrow = items[i + 1]
    const pat = items[i + 2]
    if (!isSym(arrow, "<-")) return perr(ctx, arrow ?? e, `expected <- after ?${e.token.text}`, `bind a fact address as ?${e.token.text} <- (pattern)`)
    if (pat?.kind !== "list") return perr(ctx, arrow, "expected a pattern after <-", "write ?f <- (template ...)")
    const inner = parseCE(ctx, items, i + 2)
    if (inner.ce.kind !== "pattern") return perr(ctx, pat, "only a pattern can be bound to a fact address", "bind a pattern, not a conditional element")
    return { ce: { ...inner.ce, binding: e.token.text, pos: posOf(e) }, next: inner.next }
  }
  if (e.kind !== "list") return perr(ctx, e, `expected a pattern or conditional element, found ${e.token.text || e.token.kind}`, "patterns are parenthesized, e.g. (node-id (id n1))")
  const head = e.items[0]
  if (head === undefined) return perr(ctx, e, "empty pattern ()", "name a template or relation")
  if (!isSym(head)) return perr(ctx, head, "a pattern must start with a symbol", "start the pattern with a template or relation name")
  const h = head.token.text
  if (CE_HEADS.has(h)) {
    if (h === "test") {
      if (e.items.length !== 2 || e.items[1]!.kind !== "list") return perr(ctx, e, "test takes one function call", "write (test (<function> ...))")
      return { ce: { kind: "test", expr: e.items[1]!, pos: posOf(e) }, next: i + 1 }
    }
    const children: Array<CE> = []
    let j = 1
    while (j < e.items.length) {
      const r = parseCE(ctx, e.items, j)
      children.push(r.ce)
      j = r.next
    }
    if (children.length === 0) return perr(ctx, e, `${h} needs at least one conditional element`, `put a pattern inside (${h} ...)`)
    if (h === "not" && children.length !== 1) return perr(ctx, e, "not takes exactly one conditional element", "wrap several in (not (and ...))")
    if (h === "forall" && children.length < 2) return perr(ctx, e, "forall takes at least two conditional elements", "write (forall (a ?x) (b ?x))")
    for (const ch of children) {
      if ((h === "not" || h === "exists" || h === "forall") && ch.kind === "pattern" && ch.binding !== undefined) {
        return perr(ctx, ch.pos, `a fact address cannot be bound inside ${h}`, "remove the ?f <- binding")
      }
    }
    return { ce: { kind: h as "and", children, pos: posOf(e) }, next: i + 1 }
  }
  return { ce: { kind: "pattern", relation: h, relationPos: posOf(head), items: e.items.slice(1), pos: posOf(e) }, next: i + 1 }
}

const parseDefrule = (ctx: Ctx, form: SList): DefruleConstruct => {
  const name = expectSymbol(ctx, form.items[1], form, "a rule name")
  let i = 2
  let comment: string | undefined
  let salience = 0
  let autoFocus = false
  const c = form.items[i]
  if (c?.kind === "atom" && c.token.kind === "string") {
    comment = c.token.text
    i++
  }
  const d = form.items[i]
  if (d?.kind === "list" && isSym(d.items[0], "declare")) {
    i++
    for (const p of d.items.slice(1)) {
      if (p.kind !== "list" || !isSym(p.items[0])) return perr(ctx, p, "bad declaration", "write (declare (salience 10))")
      const k = (p.items[0] as SAtom).token.text
      const v = p.items[1]
      if (k === "salience") {
        if (p.items.length !== 2 || v?.kind !== "atom" || v.token.kind !== "integer") {
          return perr(ctx, p, "salience must be an integer", "write (declare (salience 10)), between -10000 and 10000")
        }
        salience = v.token.num!
        if (salience < -10000 || salience > 10000) return perr(ctx, v, "salience out of range", "use a value between -10000 and 10000")
      } else if (k === "auto-focus") {
        if (!isSym(v, "TRUE") && !isSym(v, "FALSE")) return perr(ctx, p, "auto-focus takes TRUE or FALSE", "write (auto-focus TRUE)")
        autoFocus = v.token.text === "TRUE"
      } else return perr(ctx, p, `unknown declaration ${k}`, "use salience or auto-focus")
    }
  }
  const lhs: Array<CE> = []
  let arrow = -1
  while (i < form.items.length) {
    if (isSym(form.items[i], "=>")) {
      arrow = i
      break
    }
    const r = parseCE(ctx, form.items, i)
    lhs.push(r.ce)
    i = r.next
  }
  if (arrow < 0) return perr(ctx, form, `defrule ${name.token.text} has no =>`, "separate the conditions from the actions with =>")
  const rhs = form.items.slice(arrow + 1)
  for (const a of rhs) {
    if (a.kind !== "list") {
      if (a.token.kind === "sfvar" || a.token.kind === "mfvar" || a.token.kind === "gvar") continue
      return perr(ctx, a, `expected an action, found ${a.token.text}`, "actions are function calls, e.g. (assert (a (x 1)))")
    }
  }
  return {
    kind: "defrule",
    name: name.token.text,
    ...(comment !== undefined ? { comment } : {}),
    salience,
    autoFocus,
    lhs,
    rhs,
    pos: posOf(form)
  }
}

const parseDeffacts = (ctx: Ctx, form: SList): DeffactsConstruct => {
  const name = expectSymbol(ctx, form.items[1], form, "a deffacts name")
  let i = 2
  const c = form.items[i]
  if (c?.kind === "atom" && c.token.kind === "string") i++
  const facts: Array<SList> = []
  for (; i < form.items.length; i++) {
    const f = form.items[i]!
    if (f.kind !== "list" || !isSym(f.items[0])) return perr(ctx, f, "expected a fact", "write facts as (relation ...) or (template (slot value))")
    facts.push(f)
  }
  return { kind: "deffacts", name: name.token.text, facts, pos: posOf(form) }
}

const parseDeffunction = (ctx: Ctx, form: SList): DeffunctionConstruct => {
  const name = expectSymbol(ctx, form.items[1], form, "a function name")
  let i = 2
  const c = form.items[i]
  if (c?.kind === "atom" && c.token.kind === "string") i++
  const plist = form.items[i]
  if (plist?.kind !== "list") return perr(ctx, plist ?? form, "expected a parameter list", "write (deffunction name (?a ?b $?rest) ...)")
  const params: Array<string> = []
  let rest: string | undefined
  for (const p of plist.items) {
    if (p.kind === "atom" && p.token.kind === "sfvar" && rest === undefined) {
      if (params.includes(p.token.text)) return perr(ctx, p, `parameter ?${p.token.text} given twice`, "rename one")
      params.push(p.token.text)
    } else if (p.kind === "atom" && p.token.kind === "mfvar" && rest === undefined) rest = p.token.text
    else return perr(ctx, p, "bad parameter", "parameters are ?name, with an optional last $?rest")
  }
  return { kind: "deffunction", name: name.token.text, params, ...(rest !== undefined ? { rest } : {}), body: form.items.slice(i + 1), pos: posOf(form) }
}

const parsePort = (ctx: Ctx, p: SList, isImport: boolean): PortSpec => {
  const items = p.items.slice(1)
  let module: string | undefined
  if (isImport) {
    const m = items.shift()
    if (!isSym(m)) return perr(ctx, m ?? p, "expected a module name", "write (import MAIN ?ALL)")
    module = m.token.text
  }
  const first = items[0]
  const isAllNone = (e: SExpr | undefined) => e?.kind === "atom" && e.token.kind === "sfvar" && (e.token.text === "ALL" || e.token.text === "NONE")
  if (isAllNone(first) && items.length === 1) {
    return { ...(module ? { module } : {}), names: (first as SAtom).token.text === "ALL" ? "all" : "none" }
  }
  if (!isSym(first)) return perr(ctx, first ?? p, "expected ?ALL, ?NONE or a construct type", "write (export ?ALL) or (export deftemplate ?ALL)")
  const kind = first.token.text
  const rest = items.slice(1)
  if (rest.length === 1 && isAllNone(rest[0])) {
    return { ...(module ? { module } : {}), constructKind: kind, names: (rest[0] as SAtom).token.text === "ALL" ? "all" : "none" }
  }
  const names: Array<string> = []
  for (const r of rest) {
    if (!isSym(r)) return perr(ctx, r, "expected a construct name", "list names of constructs")
    names.push(r.token.text)
  }
  if (names.length === 0) return perr(ctx, p, "expected construct names", "write (export deftemplate a b)")
  return { ...(module ? { module } : {}), constructKind: kind, names }
}

const parseDefmodule = (ctx: Ctx, form: SList): DefmoduleConstruct => {
  const name = expectSymbol(ctx, form.items[1], form, "a module name")
  let i = 2
  const c = form.items[i]
  if (c?.kind === "atom" && c.token.kind === "string") i++
  const imports: Array<PortSpec> = []
  const exports: Array<PortSpec> = []
  for (; i < form.items.length; i++) {
    const p = form.items[i]!
    if (p.kind === "list" && isSym(p.items[0], "import")) imports.push(parsePort(ctx, p, true))
    else if (p.kind === "list" && isSym(p.items[0], "export")) exports.push(parsePort(ctx, p, false))
    else return perr(ctx, p, "expected (import ...) or (export ...)", "write (import MAIN ?ALL) or (export ?ALL)")
  }
  return { kind: "defmodule", name: name.token.text, imports, exports, pos: posOf(form) }
}

const parseDefglobal = (ctx: Ctx, form: SList): DefglobalConstruct => {
  let i = 1
  let module: string | undefined
  if (isSym(form.items[1])) {
    module = (form.items[1] as SAtom).token.text
    i++
  }
  const globals: Array<{ name: string; expr: SExpr; pos: Pos }> = []
  while (i < form.items.length) {
    const v = form.items[i]!
    if (v.kind !== "atom" || v.token.kind !== "gvar") return perr(ctx, v, "expected a global variable ?*name*", "write (defglobal ?*x* = 0)")
    if (!isSym(form.items[i + 1], "=")) return perr(ctx, form.items[i + 1] ?? v, "expected =", "write (defglobal ?*x* = 0)")
    const e = form.items[i + 2]
    if (e === undefined) return perr(ctx, v, "expected a value", "write (defglobal ?*x* = 0)")
    globals.push({ name: v.token.text, expr: e, pos: posOf(v) })
    i += 3
  }
  return { kind: "defglobal", ...(module ? { module } : {}), globals, pos: posOf(form) }
}

/** Parses one top-level form into a construct (throws RuleFailure). */
const parseConstruct = (ctx: Ctx, form: SExpr): Construct => {
  if (form.kind !== "list") return perr(ctx, form, `expected a construct, found ${form.token.text || form.token.kind}`, "programs contain (deftemplate ...), (defrule ...) and similar forms")
  const head = form.items[0]
  if (!isSym(head)) return perr(ctx, form, "expected a construct", "start with deftemplate, deffacts, defrule, deffunction, defmodule or defglobal")
  ctx.construct = describeForm(form)
  switch (head.token.text) {
    case "deftemplate":
      return parseDeftemplate(ctx, form)
    case "deffacts":
      return parseDeffacts(ctx, form)
    case "defrule":
      return parseDefrule(ctx, form)
    case "deffunction":
      return parseDeffunction(ctx, form)
    case "defmodule":
      return parseDefmodule(ctx, form)
    case "defglobal":
      return parseDefglobal(ctx, form)
    default:
      return perr(ctx, head, `unknown construct ${head.token.text}`, "use deftemplate, deffacts, defrule, deffunction, defmodule or defglobal")
  }
}

/**
 * Parses program text into constructs. Errors name the file, line, column and the
 * construct (`defrule foo`).
 */
export const parseProgram = (text: string, options: ParseOptions = {}): Either.Either<Program, RuleError> => {
  const { forms, error } = readAll(text, options.lineOffset ?? 0)
  if (error !== undefined) {
    return Either.left(
      ruleError("parse", error.message, error.message.includes("never closed") ? "add the missing ')'" : error.message.includes("string") ? 'close the string with "' : "remove the extra ')'", {
        file: options.file,
        pos: { line: error.line, column: error.column },
        construct: error.construct
      })
    )
  }
  const ctx: Ctx = { file: options.file, construct: undefined }
  const constructs: Array<Construct> = []
  try {
    for (const f of forms) constructs.push(parseConstruct(ctx, f))
  } catch (e) {
    if (e instanceof RuleFailure) return Either.left(e.error)
    throw e
  }
  return Either.right({ constructs, ...(options.file !== undefined ? { file: options.file } : {}) })
}

/** Parses a bare left-hand side (e.g. `?n <- (node-id (id node_b))`) into conditional elements. */
export const parsePatterns = (lhsText: string, options: ParseOptions = {}): Either.Either<ReadonlyArray<CE>, RuleError> => {
  const { forms, error } = readAll(lhsText, options.lineOffset ?? 0)
  if (error !== undefined) {
    return Either.left(ruleError("parse", error.message, "balance the parentheses", { file: options.file, pos: { line: error.line, column: error.column } }))
  }
  const ctx: Ctx = { file: options.file, construct: undefined }
  const out: Array<CE> = []
  try {
    let i = 0
    while (i < forms.length) {
      const r = parseCE(ctx, forms, i)
      out.push(r.ce)
      i = r.next
    }
  } catch (e) {
    if (e instanceof RuleFailure) return Either.left(e.error)
    throw e
  }
  return Either.right(out)
}
