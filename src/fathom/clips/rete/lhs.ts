/**
 * Compiling a rule's left-hand side: `or` expanded into disjuncts (in CLIPS's order),
 * `exists`/`forall`/`not (and ...)` normalised, variables analysed (bindings, joins on
 * earlier patterns, pattern-local comparisons), and each pattern turned into its path
 * through the pattern network plus the tests and hashes of its join, following CLIPS
 * 6.30's rules for what is tested where (pattern network vs join network, constant
 * selectors, multislot length checks, test CEs attached to the preceding join).
 */
import { fail, type Pos } from "../diagnostics.js"
import { compileExpr, type CompiledExpr, type Scope } from "../expressions.js"
import type { SAtom, SExpr } from "../reader.js"
import type { CE } from "../constructs.js"
import { checkField, describeViolation, type Fact, type Template } from "../templates.js"
import type { Env, Marker } from "../evaluation.js"
import { hashKey, type Value } from "../values.js"
import type { NodeSpec, RightHash } from "./alpha.js"
import { parseFields, type FieldConstraint, type Term } from "./constraints.js"
import { readField, type ElementInfo, type FieldRef } from "./fields.js"
import type { JoinHash, JoinSpec } from "./join.js"
import type { HashKey, PartialMatch } from "./partial-match.js"
import { andTests, constTest, factGetter, fieldGetter, lengthTest, orTests, predTest, rvTest, varTest, type Getter, type Side, type Test } from "./tests.js"

/** Where a variable's value lives in a complete match: bind index plus field (null: the fact address). */
export interface VarLoc {
  readonly bind: number
  readonly ref: FieldRef | null
  readonly multi: boolean
}

/** One join of a disjunct's chain. */
export type JoinStep =
  | {
      readonly kind: "pattern"
      readonly template: Template
      readonly nodes: ReadonlyArray<NodeSpec>
      readonly rightHash: RightHash | null
      join: JoinSpec
    }
  | { readonly kind: "test"; join: JoinSpec }
  | { readonly kind: "group"; readonly steps: ReadonlyArray<JoinStep>; join: JoinSpec }

/** A compiled disjunct: its join chain and where each visible variable is found. */
export interface DisjunctPlan {
  readonly steps: ReadonlyArray<JoinStep>
  readonly vars: ReadonlyMap<string, VarLoc>
}

/** What the LHS compiler needs from the engine. */
export interface LhsContext {
  readonly file: string | undefined
  readonly construct: string
  /** Template visible under this name (deftemplate or implied). */
  template(name: string): Template | undefined
  impliedTemplate(name: string, pos: Pos): Template
  /** A scope for compiling expressions whose variables resolve through `resolve`. */
  exprScope(resolve: (name: string, pos: Pos) => CompiledExpr | null): Scope
}

// ---------------------------------------------------------------------------
// Normalisation: or-expansion and CE shapes
// ---------------------------------------------------------------------------

/** A normalised element of a disjunct. */
type PatternCE = Extract<CE, { kind: "pattern" }>
type GroupCE = Exclude<CE, { kind: "pattern" } | { kind: "test" }>

type Elem =
  | { readonly kind: "pattern"; readonly ce: PatternCE; readonly negated: boolean; readonly exists: boolean; readonly extraTests: ReadonlyArray<SExpr> }
  | { readonly kind: "test"; readonly expr: SExpr; readonly negate: boolean; readonly pos: Pos }
  | { readonly kind: "group"; readonly exists: boolean; readonly elems: ReadonlyArray<Elem>; readonly pos: Pos }

type RawAlt = ReadonlyArray<CE>

const err = (ctx: LhsContext, pos: Pos, message: string, fix: string, reason: "compile" | "unbound-variable" | "unknown-template" = "compile"): never =>
  fail(reason, message, fix, { file: ctx.file, pos, construct: ctx.construct })

/** Expands `or` into alternatives (CLIPS order: the first `or` varies slowest). */
const expand = (ctx: LhsContext, ce: CE): Array<RawAlt> => {
  switch (ce.kind) {
    case "pattern":
    case "test":
      return [[ce]]
    case "and":
    case "logical": {
      let acc: Array<Array<CE>> = [[]]
      for (const ch of ce.children) {
        const alts = expand(ctx, ch)
        const next: Array<Array<CE>> = []
        for (const a of acc) for (const b of alts) next.push([...a, ...b])
        acc = next
      }
      return acc
    }
    case "or": {
      const out: Array<RawAlt> = []
      for (const ch of ce.children) out.push(...expand(ctx, ch))
      return out
    }
    case "not": {
      const alts = expand(ctx, ce.children[0]!)
      return [alts.map((a): CE => ({ kind: "not", children: [{ kind: "and", children: a, pos: ce.pos }], pos: ce.pos }))]
    }
    case "exists":
    case "forall": {
      const alts = expand(ctx, { kind: "and", children: ce.children, pos: ce.pos })
      if (alts.length !== 1) return err(ctx, ce.pos, `or inside ${ce.kind} is not supported`, `move the or outside the ${ce.kind}`)
      return [[ce]]
    }
  }
}

/** Flattens and/logical (no or left) into a list of CEs. */
const flatten = (ces: ReadonlyArray<CE>): Array<CE> => {
  const out: Array<CE> = []
  for (const c of ces) {
    if (c.kind === "and" || c.kind === "logical") out.push(...flatten(c.children))
    else out.push(c)
  }
  return out
}

/** Turns a group's contents into elements; a group of one pattern (plus tests) becomes a negated/exists pattern. */
const toElems = (ctx: LhsContext, ces: ReadonlyArray<CE>): Array<Elem> => {
  const out: Array<Elem> = []
  for (const c of flatten(ces)) out.push(toElem(ctx, c))
  return out
}

const negGroup = (ctx: LhsContext, children: ReadonlyArray<CE>, exists: boolean, pos: Pos): Elem => {
  const flat = flatten(children)
  // (not (not X)) -> exists X ; (not (exists X)) -> not X
  if (flat.length === 1) {
    const only = flat[0]!
    if (only.kind === "pattern") return { kind: "pattern", ce: only, negated: true, exists, extraTests: [] }
    if (only.kind === "test") return { kind: "test", expr: only.expr, negate: !exists, pos: only.pos }
    if (only.kind === "not") return negGroup(ctx, only.children, !exists, pos)
    // exists(exists X) = exists X; not(exists X) = not X
    if (only.kind === "exists") return negGroup(ctx, only.children, exists, pos)
    if (only.kind === "forall") return negGroup(ctx, [forallAsNot(only)], exists, pos)
  }
  // A single pattern followed only by tests folds into one negated/exists pattern (CLIPS AttachTestCEsToPatternCEs).
  const head = flat[0]
  if (head !== undefined && head.kind === "pattern" && flat.length > 1 && flat.slice(1).every((x) => x.kind === "test")) {
    return { kind: "pattern", ce: head, negated: true, exists, extraTests: flat.slice(1).map((x) => (x as Extract<CE, { kind: "test" }>).expr) }
  }
  return { kind: "group", exists, elems: toElems(ctx, flat), pos }
}

const forallAsNot = (ce: GroupCE): CE => ({
  kind: "not",
  children: [{ kind: "and", children: [ce.children[0]!, { kind: "not", children: [{ kind: "and", children: ce.children.slice(1), pos: ce.pos }], pos: ce.pos }], pos: ce.pos }],
  pos: ce.pos
})

const toElem = (ctx: LhsContext, c: CE): Elem => {
  switch (c.kind) {
    case "pattern":
      return { kind: "pattern", ce: c, negated: false, exists: false, extraTests: [] }
    case "test":
      return { kind: "test", expr: c.expr, negate: false, pos: c.pos }
    case "not":
      return negGroup(ctx, c.children, false, c.pos)
    case "exists":
      return negGroup(ctx, c.children, true, c.pos)
    case "forall":
      return toElem(ctx, forallAsNot(c))
    case "and":
    case "logical":
    case "or":
      return err(ctx, c.pos, "internal: unexpected nested and/or", "report this")
  }
}

// ---------------------------------------------------------------------------
// Variable analysis and pattern compilation
// ---------------------------------------------------------------------------

interface Binding {
  readonly bind: number
  /** Nand depth the variable was bound at (visible at that depth and deeper). */
  readonly depth: number
  readonly ref: FieldRef | null
  readonly multi: boolean
}

/** Variables visible at one point, by name; a scope inherits from its parent. */
class VarScope {
  private readonly own = new Map<string, Binding>()
  constructor(readonly parent: VarScope | null) {}
  get(name: string): Binding | undefined {
    return this.own.get(name) ?? this.parent?.get(name)
  }
  set(name: string, b: Binding): void {
    this.own.set(name, b)
  }
  entries(): Map<string, Binding> {
    const m = this.parent === null ? new Map<string, Binding>() : this.parent.entries()
    for (const [k, v] of this.own) m.set(k, v)
    return m
  }
}

const keyOfHash = (k: HashKey): string => (typeof k === "number" ? `n${k}` : `s${k}`)

const makeJoinHash = (getters: ReadonlyArray<{ key: string; read: (pm: PartialMatch) => Value }>): JoinHash | null => {
  if (getters.length === 0) return null
  const key = getters.map((g) => g.key).join(",")
  if (getters.length === 1) {
    const r = getters[0]!.read
    return { key, fn: (pm) => hashKey(r(pm)) }
  }
  return { key, fn: (pm) => getters.map((g) => keyOfHash(hashKey(g.read(pm)))).join("\u0001") }
}

const readLeft = (bind: number, ref: FieldRef | null): ((pm: PartialMatch) => Value) => {
  if (ref === null) return (pm) => ({ type: "FACT-ADDRESS", value: pm.binds[bind]!.fact.id })
  if (ref.elem === null) {
    const s = ref.slot
    return (pm) => pm.binds[bind]!.fact.fields[s]!
  }
  return (pm) => {
    const b = pm.binds[bind]!
    return readField(b.fact, b.markers, ref)
  }
}

/** Template pattern slot → field constraints; ordered pattern → elements of the implied multislot. */
interface SlotPattern {
  readonly slot: number
  readonly multi: boolean
  readonly fields: ReadonlyArray<FieldConstraint>
  readonly pos: Pos
}

/** The literals a field can only be (every alternative one plain constant), or undefined when it can be anything else. */
const onlyLiterals = (f: FieldConstraint): ReadonlyArray<{ readonly value: Value; readonly pos: Pos }> | undefined => {
  // (A variable naming the field, `?p&high`, does not widen what it can be.)
  if (f.multi || f.alternatives.length === 0) return undefined
  const out: Array<{ value: Value; pos: Pos }> = []
  for (const alt of f.alternatives) {
    const only = alt.length === 1 ? alt[0]! : undefined
    if (only === undefined || only.kind !== "const" || only.negated) return undefined
    out.push({ value: only.value, pos: only.pos })
  }
  return out
}

/**
 * A slot pattern of literals its slot's constraints refuse can never match: refused when
 * the rule is loaded, as CLIPS does ([CSTRNCHK1]): a misspelt allowed symbol, a string in
 * an INTEGER slot, a number out of its range, more fields than its cardinality.
 */
const checkLiterals = (ctx: LhsContext, tmpl: Template, sp: SlotPattern): void => {
  const slot = tmpl.slots[sp.slot]!
  const fix = `match a value the slot allows (see (deftemplate ${tmpl.name} ...)), or change the slot's constraints`
  const fields = sp.fields.map(onlyLiterals)
  for (const literals of fields) {
    // With alternatives (a|b), any of them the slot refuses is refused, as CLIPS does.
    const refused = literals?.map((l) => ({ ...l, why: checkField(slot.constraint, l.value) })).find((r) => r.why !== null)
    if (refused !== undefined) err(ctx, refused.pos, `a literal that can never match: ${describeViolation(tmpl, slot, refused.value, refused.why!)}`, fix)
  }
  // A multislot matched by exactly as many fields as it has single-field patterns (no `$?`): its cardinality.
  if (sp.multi && !sp.fields.some((f) => f.multi)) {
    const c = slot.constraint
    const count = sp.fields.length
    if ((c.maxFields !== null && count > c.maxFields) || (c.minFields !== null && count < c.minFields)) {
      err(ctx, sp.pos, `a pattern that can never match: slot ${slot.name} of ${tmpl.name} holds ${c.minFields ?? 0} to ${c.maxFields ?? "+oo"} fields, and this pattern matches ${count}`, fix)
    }
  }
}

const isSym = (e: SExpr | undefined): e is SAtom => e !== undefined && e.kind === "atom" && e.token.kind === "symbol"

const slotPatterns = (ctx: LhsContext, ce: Extract<CE, { kind: "pattern" }>, tmpl: Template): Array<SlotPattern> => {
  const site = { file: ctx.file, construct: ctx.construct }
  if (tmpl.implied) return [{ slot: 0, multi: true, fields: parseFields(site, ce.items), pos: ce.pos }]
  const out: Array<SlotPattern> = []
  const seen = new Set<number>()
  for (const item of ce.items) {
    if (item.kind !== "list" || !isSym(item.items[0])) return err(ctx, { line: item.line, column: item.column }, `expected (slot constraint) in a ${tmpl.name} pattern`, `write (${tmpl.name} (slot value))`)
    const name = (item.items[0] as SAtom).token.text
    const idx = tmpl.slotIndex.get(name)
    if (idx === undefined) return err(ctx, { line: item.line, column: item.column }, `template ${tmpl.name} has no slot ${name}`, `use one of: ${tmpl.slots.map((s) => s.name).join(", ") || "(no slots)"}`)
    if (seen.has(idx)) return err(ctx, { line: item.line, column: item.column }, `slot ${name} used twice in one pattern`, "combine the constraints with &")
    seen.add(idx)
    const slot = tmpl.slots[idx]!
    const fields = parseFields(site, item.items.slice(1))
    if (!slot.multi) {
      if (fields.length !== 1) return err(ctx, { line: item.line, column: item.column }, `single-field slot ${name} takes one constraint`, "use a multislot for several values")
      if (fields[0]!.multi) return err(ctx, { line: item.line, column: item.column }, `single-field slot ${name} cannot match a multifield variable`, "use ?x, not $?x")
    }
    out.push({ slot: idx, multi: slot.multi, fields, pos: { line: item.line, column: item.column } })
  }
  return out
}

/** Builder state for one disjunct. */
interface Builder {
  readonly ctx: LhsContext
  /** Next bind index (position in partial matches). */
  nextBind: number
}

interface FieldPlan {
  readonly ref: FieldRef
  readonly field: FieldConstraint
  readonly elem: ElementInfo | null
}

/** Compiles one pattern at bind index `bind` and nand depth `depth`. */
const compilePattern = (
  b: Builder,
  el: Extract<Elem, { kind: "pattern" }>,
  bind: number,
  scope: VarScope,
  depth: number
): Extract<JoinStep, { kind: "pattern" }> => {
  const { ctx } = b
  const ce = el.ce
  let tmpl = ctx.template(ce.relation)
  const slotSyntax = ce.items.some((x, k) => {
    if (x.kind !== "list") return false
    const prev = ce.items[k - 1]
    return !(prev !== undefined && prev.kind === "atom" && prev.token.kind === "symbol" && (prev.token.text === ":" || prev.token.text === "="))
  })
  if (tmpl === undefined) {
    if (slotSyntax) return err(ctx, ce.relationPos, `unknown template ${ce.relation}`, `define (deftemplate ${ce.relation} ...) before the rule, or check the spelling`, "unknown-template")
    tmpl = ctx.impliedTemplate(ce.relation, ce.relationPos)
  }
  const slots = slotPatterns(ctx, ce, tmpl)
  if (!tmpl.implied) for (const sp of slots) checkLiterals(ctx, tmpl, sp)
  // Local scope for variables bound inside this pattern (visible to later patterns only if positive).
  const local = new VarScope(scope)
  const fieldPlans: Array<Array<FieldPlan>> = []
  for (const sp of slots) {
    const plans: Array<FieldPlan> = []
    if (!sp.multi) plans.push({ ref: { slot: sp.slot, elem: null }, field: sp.fields[0]!, elem: null })
    else {
      const n = sp.fields.length
      const mfCount = sp.fields.filter((f) => f.multi).length
      let mfSeen = 0
      for (let k = 0; k < n; k++) {
        const f = sp.fields[k]!
        const sfAfter = sp.fields.slice(k + 1).filter((x) => !x.multi).length
        const elem: ElementInfo = { index: k + 1, isMulti: f.multi, sfAfter, mfBefore: mfSeen, marked: mfCount >= 2 }
        if (f.multi) mfSeen++
        plans.push({ ref: { slot: sp.slot, elem }, field: f, elem })
      }
    }
    fieldPlans.push(plans)
  }

  const patternVars = new Set<string>()
  const rightHashGetters: Array<{ key: string; read: (fact: PartialMatch) => Value }> = []
  const leftHashGetters: Array<{ key: string; read: (pm: PartialMatch) => Value }> = []
  const joinTests: Array<Test | null> = []

  const sideOf = (bn: Binding, inPN: boolean): Side => (bn.bind === bind ? (inPN ? { kind: "PN" } : { kind: "R" }) : { kind: "L", bind: bn.bind })
  const getterFor = (bn: Binding, inPN: boolean): Getter => (bn.ref === null ? factGetter(sideOf(bn, inPN)) : fieldGetter(sideOf(bn, inPN), bn.ref))

  const exprScopeFor = (inPN: boolean, pos: Pos): Scope =>
    ctx.exprScope((name, p) => {
      const bn = local.get(name)
      if (bn === undefined) return null
      if (inPN && bn.bind !== bind) return err(ctx, p ?? pos, "internal: pattern test refers to another pattern", "report this")
      return getterFor(bn, inPN)
    })

  const varsOfExpr = (e: SExpr, acc: Set<string>): Set<string> => {
    if (e.kind === "atom") {
      if (e.token.kind === "sfvar" || e.token.kind === "mfvar") acc.add(e.token.text)
    } else for (const x of e.items) varsOfExpr(x, acc)
    return acc
  }
  const allLocal = (e: SExpr): boolean => {
    for (const v of varsOfExpr(e, new Set())) {
      const bn = local.get(v)
      if (bn === undefined) return err(ctx, { line: e.line, column: e.column }, `variable ?${v} is not bound before it is used`, `bind ?${v} in an earlier field or pattern`, "unbound-variable")
      if (bn.bind !== bind) return false
    }
    return true
  }
  const fieldVarsLocal = (f: FieldConstraint): boolean => {
    for (const alt of f.alternatives)
      for (const t of alt) {
        if (t.kind === "var") {
          const bn = local.get(t.name)
          if (bn === undefined) return err(ctx, t.pos, `variable ?${t.name} is not bound before it is used`, `bind ?${t.name} earlier, or put it first in the field`, "unbound-variable")
          if (bn.bind !== bind) return false
        } else if ((t.kind === "pred" || t.kind === "rv") && !allLocal(t.expr)) return false
      }
    return true
  }

  // Per field: pattern-network test, selector, join tests.
  interface FieldResult {
    readonly plan: FieldPlan
    pn: Test | null
    selector: { getter: Getter; value: Value } | null
  }
  const results: Array<Array<FieldResult>> = []
  for (const plans of fieldPlans) {
    const rs: Array<FieldResult> = []
    for (const plan of plans) {
      const f = plan.field
      const selfPN = fieldGetter({ kind: "PN" }, plan.ref)
      const selfR = fieldGetter({ kind: "R" }, plan.ref)
      const pnAlts: Array<Test | null> = []
      const jnAlts: Array<Test | null> = []
      let selector: FieldResult["selector"] = null
      let leadPN: Test | null = null
      let leadJN: Test | null = null
      if (f.leadVar !== null) {
        const name = f.leadVar.name
        const prior = local.get(name)
        if (prior !== undefined && prior.multi !== f.multi && prior.ref !== null) {
          return err(ctx, f.leadVar.pos, `variable ?${name} is used both as a single-field and a multifield variable`, "use one kind of variable per name")
        }
        if (prior !== undefined) {
          if (prior.bind === bind) leadPN = varTest(selfPN, getterFor(prior, true), false)
          else {
            leadJN = varTest(selfR, getterFor(prior, false), false)
            rightHashGetters.push({ key: selfR.key, read: (am) => readField(am.binds[0]!.fact, am.binds[0]!.markers, plan.ref) })
            leftHashGetters.push({ key: getterFor(prior, false).key, read: readLeft(prior.bind, prior.ref) })
          }
        }
        // Every positive occurrence becomes the reference for later ones (CLIPS propagation).
        local.set(name, { bind, depth, ref: plan.ref, multi: f.multi })
        patternVars.add(name)
      }
      const testInPN = f.alternatives.length > 1 ? fieldVarsLocal(f) : true
      for (const alt of f.alternatives) {
        const pn: Array<Test> = []
        const jn: Array<Test> = []
        const consts: Array<Value> = []
        for (const t of alt) termTests(t, testInPN, selfPN, selfR, pn, jn, consts)
        if (f.alternatives.length === 1 && alt.length === 1 && consts.length === 1 && pn.length === 1) selector = { getter: selfPN, value: consts[0]! }
        pnAlts.push(andTests(pn))
        jnAlts.push(andTests(jn))
      }
      let pn = f.alternatives.length > 1 ? orTests(pnAlts) : (pnAlts[0] ?? null)
      const jn = andTests([leadJN, f.alternatives.length > 1 ? orTests(jnAlts) : (jnAlts[0] ?? null)])
      if (leadPN !== null) {
        pn = andTests([leadPN, pn])
        selector = null
      }
      if (selector !== null) pn = null
      rs.push({ plan, pn, selector })
      joinTests.push(jn)
    }
    results.push(rs)
  }

  function termTests(t: Term, testInPN: boolean, selfPN: Getter, selfR: Getter, pn: Array<Test>, jn: Array<Test>, consts: Array<Value>): void {
    switch (t.kind) {
      case "const":
        if (testInPN) {
          pn.push(constTest(selfPN, t.value, t.negated))
          if (!t.negated) consts.push(t.value)
        } else jn.push(constTest(selfR, t.value, t.negated))
        return
      case "pred":
      case "rv": {
        const inPN = testInPN && allLocal(t.expr)
        const e = compileExpr(t.expr, exprScopeFor(inPN, t.pos))
        const test = t.kind === "pred" ? predTest(e, t.negated) : rvTest(inPN ? selfPN : selfR, e, t.negated)
        ;(inPN ? pn : jn).push(test)
        return
      }
      case "var": {
        const bn = local.get(t.name)
        if (bn === undefined) return err(ctx, t.pos, `variable ?${t.name} is not bound before it is used`, `bind ?${t.name} earlier, or put it first in the field`, "unbound-variable")
        if (testInPN && bn.bind === bind) pn.push(varTest(selfPN, getterFor(bn, true), t.negated))
        else jn.push(varTest(selfR, getterFor(bn, false), t.negated))
        return
      }
    }
  }

  // Pattern-network path (CLIPS PlaceFactPattern + RemoveUnneededSlots).
  const nodes: Array<NodeSpec> = []
  for (let s = 0; s < results.length; s++) {
    const sp = slots[s]!
    const rs = results[s]!
    if (!sp.multi) {
      const r = rs[0]!
      if (r.selector !== null) nodes.push({ kind: "sf", slot: sp.slot, field: 0, endSlot: false, leaveFields: 0, elem: null, test: null, selector: { getter: r.selector.getter, guard: null, value: r.selector.value } })
      else if (r.pn !== null) nodes.push({ kind: "sf", slot: sp.slot, field: 0, endSlot: false, leaveFields: 0, elem: null, test: r.pn, selector: null })
      continue
    }
    if (rs.length === 0) {
      nodes.push({ kind: "sf", slot: sp.slot, field: 0, endSlot: false, leaveFields: 0, elem: null, test: lengthTest(sp.slot, true, 0), selector: null })
      continue
    }
    // Length check on the first element.
    const first = rs[0]!
    const fe = first.plan.elem!
    const sfAfterFirst = fe.sfAfter
    let len: Test | null = null
    if (!(sfAfterFirst === 0 && fe.isMulti)) {
      const mfAfterFirst = rs.slice(1).some((x) => x.plan.elem!.isMulti)
      const exactly = !fe.isMulti && !mfAfterFirst
      len = lengthTest(sp.slot, exactly, fe.isMulti ? sfAfterFirst : 1 + sfAfterFirst)
    }
    const mfTotal = rs.filter((x) => x.plan.elem!.isMulti).length
    type Kept = { r: FieldResult; kind: "sf" | "mf"; test: Test | null; guard: Test | null }
    const kept: Array<Kept> = []
    rs.forEach((r, k) => {
      const e = r.plan.elem!
      let test = r.pn
      let guard: Test | null = null
      if (k === 0 && len !== null) {
        if (r.selector !== null) guard = len
        else test = andTests([len, test])
      }
      if (!e.isMulti) {
        if (test === null && r.selector === null) return
        kept.push({ r, kind: "sf", test, guard })
        return
      }
      const otherMf = mfTotal >= 2
      if (!otherMf) {
        if (test === null) return
        kept.push({ r, kind: "sf", test, guard })
        return
      }
      kept.push({ r, kind: "mf", test, guard })
    })
    kept.forEach((k, idx) => {
      const e = k.r.plan.elem!
      const endSlot = idx === kept.length - 1
      nodes.push({
        kind: k.kind,
        slot: sp.slot,
        field: e.index,
        endSlot,
        leaveFields: e.sfAfter,
        elem: e,
        test: k.r.selector !== null ? null : k.test,
        selector: k.r.selector !== null ? { getter: k.r.selector.getter, guard: k.guard, value: k.r.selector.value } : null
      })
    })
  }
  if (nodes.length === 0) nodes.push({ kind: "sf", slot: 0, field: 0, endSlot: false, leaveFields: 0, elem: null, test: null, selector: null })

  // Fact-address binding ?f <- (pattern).
  if (ce.binding !== undefined) {
    if (local.get(ce.binding) !== undefined && scope.get(ce.binding) !== undefined) {
      return err(ctx, ce.pos, `variable ?${ce.binding} is already bound`, "bind the fact address to a new variable")
    }
    local.set(ce.binding, { bind, depth, ref: null, multi: false })
    patternVars.add(ce.binding)
  }

  // Positive patterns export their variables to the enclosing scope.
  if (!el.negated) {
    for (const name of patternVars) scope.set(name, local.get(name)!)
  }

  // Tests folded into a negated/exists pattern see its variables on the right side.
  for (const expr of el.extraTests) {
    const s = ctx.exprScope((name) => {
      const bn = local.get(name)
      if (bn === undefined) return null
      const side: Side = bn.bind === bind ? { kind: "R" } : { kind: "L", bind: bn.bind }
      return bn.ref === null ? factGetter(side) : fieldGetter(side, bn.ref)
    })
    joinTests.push(predTest(compileExpr(expr, s), false))
  }

  const rightHash: RightHash | null =
    rightHashGetters.length === 0
      ? null
      : (() => {
          const h = makeJoinHash(rightHashGetters)!
          return { key: h.key, fn: (fact, markers) => h.fn(alphaProbe(fact, markers)) }
        })()
  return {
    kind: "pattern",
    template: tmpl,
    nodes,
    rightHash,
    join: {
      networkTest: andTests(joinTests),
      secondaryNetworkTest: null,
      leftHash: makeJoinHash(leftHashGetters),
      rightHash: null,
      negated: el.negated,
      exists: el.exists,
      joinFromTheRight: false
    }
  }
}

/** A transient alpha match for computing a right hash before the match is stored. */
const alphaProbe = (fact: Fact, markers: ReadonlyArray<Marker> | null): PartialMatch => ({ binds: [{ fact, markers }] }) as unknown as PartialMatch

/** Compiles a test CE's expression for a join at bind index `bind` (variables of that bind read the right side). */
const compileTestExpr = (b: Builder, el: Extract<Elem, { kind: "test" }>, scope: VarScope, rightBind: number | null): Test => {
  const s = b.ctx.exprScope((name) => {
    const bn = scope.get(name)
    if (bn === undefined) return null
    const side: Side = rightBind !== null && bn.bind === rightBind ? { kind: "R" } : { kind: "L", bind: bn.bind }
    return bn.ref === null ? factGetter(side) : fieldGetter(side, bn.ref)
  })
  const e = compileExpr(el.expr, s)
  return predTest(e, el.negate)
}

const emptySpec = (): JoinSpec => ({
  networkTest: null,
  secondaryNetworkTest: null,
  leftHash: null,
  rightHash: null,
  negated: false,
  exists: false,
  joinFromTheRight: false
})

/** Compiles a list of elements at nand depth `depth` into join steps. */
const compileElems = (b: Builder, elems: ReadonlyArray<Elem>, scope: VarScope, depth: number): Array<JoinStep> => {
  const steps: Array<JoinStep> = []
  /** The bind index of the last pattern step's right side (for test CEs attached to it). */
  let lastRightBind: number | null = null
  for (const el of elems) {
    if (el.kind === "test") {
      const last = steps[steps.length - 1]
      if (last === undefined) {
        const t = compileTestExpr(b, el, scope, null)
        steps.push({ kind: "test", join: { ...emptySpec(), networkTest: t } })
        b.nextBind++
        lastRightBind = null
        continue
      }
      if (last.kind === "test") {
        last.join = { ...last.join, networkTest: andTests([last.join.networkTest, compileTestExpr(b, el, scope, null)]) }
        continue
      }
      if (last.join.negated || last.join.exists || last.kind === "group") {
        const t = compileTestExpr(b, el, scope, null)
        last.join = { ...last.join, secondaryNetworkTest: andTests([last.join.secondaryNetworkTest, t]) }
        continue
      }
      const t = compileTestExpr(b, el, scope, lastRightBind)
      last.join = { ...last.join, networkTest: andTests([last.join.networkTest, t]) }
      continue
    }
    if (el.kind === "pattern") {
      const bind = b.nextBind++
      const step = compilePattern(b, el, bind, scope, depth)
      steps.push(step)
      lastRightBind = bind
      continue
    }
    // A not/exists group: a sub-network joined from the right.
    const outerBind = b.nextBind
    const inner = new VarScope(scope)
    const outerVisible = scope.entries()
    const sub = compileGroup(b, el, inner, depth + 1)
    // Outer variables referenced inside the group: compare left and right copies, and hash on them.
    const refs = [...outerVisible.entries()].filter(([name]) => sub.referenced.has(name))
    const tests: Array<Test> = []
    const lh: Array<{ key: string; read: (pm: PartialMatch) => Value }> = []
    const rh: Array<{ key: string; read: (pm: PartialMatch) => Value }> = []
    for (const [, bn] of refs) {
      const left = bn.ref === null ? factGetter({ kind: "L", bind: bn.bind }) : fieldGetter({ kind: "L", bind: bn.bind }, bn.ref)
      const rightG: { key: string; fn: (env: Env) => Value } =
        bn.ref === null
          ? { key: `NR${bn.bind}.fact`, fn: (env) => ({ type: "FACT-ADDRESS", value: env.rhs!.binds[bn.bind]!.fact.id }) }
          : {
              key: `NR${bn.bind}.${left.key}`,
              fn: (env) => {
                const x = env.rhs!.binds[bn.bind]!
                return readField(x.fact, x.markers, bn.ref!)
              }
            }
      tests.push(varTest(left, rightG, false))
      lh.push({ key: left.key, read: readLeft(bn.bind, bn.ref) })
      rh.push({ key: rightG.key, read: readLeft(bn.bind, bn.ref) })
    }
    b.nextBind = outerBind + 1
    steps.push({
      kind: "group",
      steps: sub.steps,
      join: {
        networkTest: andTests(tests),
        secondaryNetworkTest: null,
        leftHash: makeJoinHash(lh),
        rightHash: makeJoinHash(rh),
        negated: true,
        exists: el.exists,
        joinFromTheRight: true
      }
    })
    lastRightBind = null
  }
  return steps
}

/** Compiles a group's elements; sub-network binds continue after the outer prefix. */
const compileGroup = (b: Builder, g: Extract<Elem, { kind: "group" }>, scope: VarScope, depth: number): { steps: Array<JoinStep>; referenced: Set<string> } => {
  const referenced = new Set<string>()
  const collect = (elems: ReadonlyArray<Elem>): void => {
    for (const e of elems) {
      if (e.kind === "pattern") {
        for (const it of e.ce.items) collectVars(it, referenced)
      } else if (e.kind === "test") collectVars(e.expr, referenced)
      else collect(e.elems)
    }
  }
  collect(g.elems)
  const steps = compileElems(b, g.elems, scope, depth)
  return { steps, referenced }
}

const collectVars = (e: SExpr, acc: Set<string>): void => {
  if (e.kind === "atom") {
    if (e.token.kind === "sfvar" || e.token.kind === "mfvar") acc.add(e.token.text)
  } else for (const x of e.items) collectVars(x, acc)
}

/** Compiles a rule's left-hand side into one plan per disjunct. */
export const compileLhs = (ctx: LhsContext, lhs: ReadonlyArray<CE>): Array<DisjunctPlan> => {
  const top: CE = { kind: "and", children: lhs, pos: { line: 0, column: 0 } }
  const alts = expand(ctx, top)
  return alts.map((alt) => {
    const elems = toElems(ctx, alt)
    const b: Builder = { ctx, nextBind: 0 }
    const scope = new VarScope(null)
    const steps = compileElems(b, elems, scope, 1)
    const vars = new Map<string, VarLoc>()
    for (const [name, bn] of scope.entries()) vars.set(name, { bind: bn.bind, ref: bn.ref, multi: bn.multi })
    return { steps, vars }
  })
}

/** Builds the `Scope.resolve` result for reading a variable of a complete match in actions. */
export const readVar = (loc: VarLoc): ((pm: PartialMatch) => Value) => readLeft(loc.bind, loc.ref)

