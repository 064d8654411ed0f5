/**
 * The engine: working memory, the compiled network, the agenda and focus stack, the
 * run loop with CLIPS 6.30 semantics, watch output, and the public `Engine` API
 * (load, reset, assert/retract/modify, run, facts, agenda, snapshot/restore).
 * All mutable state lives in the object `makeEngine` returns.
 */
import * as Either from "effect/Either"
import type { RuleError } from "../../errors.js"
import { Activation } from "./agenda.js"
import type { Construct, DefruleConstruct, Program, SlotAttributes, SlotType } from "./constructs.js"
import { fail, ruleError, RuleFailure, type Pos, type Where } from "./diagnostics.js"
import { EvalError, type ActionHost, type Compiled, type Env, type ErrorSite, type Marker } from "./evaluation.js"
import { atomValue, compileExpr, compileFactSpec, constantScope, defaultValue, type CompiledExpr, type DeffunctionRef, type FactMaker, type Scope } from "./expressions.js"
import { builtinFunctions, type FunctionDef } from "./functions.js"
import { Module, visibleTemplate } from "./modules.js"
import { factIdentifier, padRight, renderValue } from "./printer.js"
import { readAll, type SAtom } from "./reader.js"
import { matchFact, type AlphaHost, type AlphaNode } from "./rete/alpha.js"
import { networkAssert, networkRetract, epmDrive, ASSERT, type DriveHost } from "./rete/drive.js"
import { nextActive, resetActive, type JoinNode, type JoinRoots, type RuleRef } from "./rete/join.js"
import { compileLhs, readVar, type DisjunctPlan } from "./rete/lhs.js"
import { buildDisjunct } from "./rete/network.js"
import { Match, type AlphaBind, type PartialMatch } from "./rete/partial-match.js"
import type { ActivationRef } from "./model.js"
import { fromSnapshot, toSnapshot, type Snapshot } from "./snapshot.js"
import {
  checkSlot,
  describeViolation,
  impliedSlot,
  makeTemplate,
  newFact,
  renderFact as renderInternalFact,
  type Constraint,
  type Fact as InternalFact,
  type Slot,
  type SlotDefault,
  type Template
} from "./templates.js"
import { EMPTY, equals, FALSE, multifield, NIL, pushFlat, type Value } from "./values.js"

/** A fact as the API shows it. */
export interface Fact {
  readonly id: number
  readonly template: string
  /** The module the template belongs to. */
  readonly module: string
  /** True for ordered facts like `(foo a b)`. */
  readonly ordered: boolean
  /** Template facts: slot name and value, in template order (empty for ordered facts). */
  readonly slots: ReadonlyArray<readonly [string, Value]>
  /** Ordered facts: the fields; template facts: the slot values in template order. */
  readonly fields: ReadonlyArray<Value>
}

/** One rule firing. */
export interface Firing {
  /** The rule name, module-qualified (`A::r`) when the rule is not in MAIN. */
  readonly rule: string
  /** The partial match in pattern order, as CLIPS prints it; null where CLIPS prints `*` (not/exists CEs). */
  readonly factIds: ReadonlyArray<number | null>
}

/** The result of `run`. */
export interface RunResult {
  readonly firings: ReadonlyArray<Firing>
  /** True when a rule called `(halt)`. */
  readonly halted: boolean
}

/** An agenda entry. */
export interface AgendaEntry {
  readonly rule: string
  readonly salience: number
  readonly factIds: ReadonlyArray<number | null>
}

/** Options of {@link makeEngine}. */
export interface EngineOptions {
  /** Maximum firings of one `run` call before it fails with reason "firing-limit" (default 100,000). */
  readonly firingLimit?: number
}

/** What can be watched. */
export type WatchItem = "facts" | "rules" | "activations" | "focus"

/** A rule engine instance. */
export interface Engine {
  /** Adds the constructs of a program (may be called several times). */
  load(program: Program): Either.Either<void, RuleError>
  /** Clears working memory and the agenda, asserts (initial-fact) as f-0 and the deffacts, focuses MAIN. */
  reset(): void
  /** Asserts a template fact; unspecified slots take their defaults. Right(undefined) for a duplicate. */
  assertFact(template: string, slots: Readonly<Record<string, Value>>): Either.Either<Fact | undefined, RuleError>
  /** Asserts an ordered fact `(relation fields...)`. */
  assertOrdered(relation: string, fields: ReadonlyArray<Value>): Either.Either<Fact | undefined, RuleError>
  /** Asserts a fact written in CLIPS syntax, e.g. `(foo (a 1))`. */
  assertString(text: string): Either.Either<Fact | undefined, RuleError>
  /** Retracts a fact by index; false when there is no such fact. */
  retract(factId: number): boolean
  /** Retracts and re-asserts a template fact with changed slots (new fact index, CLIPS 6.30 semantics). */
  modify(factId: number, slots: Readonly<Record<string, Value>>): Either.Either<Fact | undefined, RuleError>
  /** Fires activations until the agenda is empty, a rule halts, or `limit` firings. */
  run(limit?: number): Either.Either<RunResult, RuleError>
  /** All facts by index. */
  facts(): ReadonlyArray<Fact>
  /** The facts of one template, by index. */
  factsOf(template: string): ReadonlyArray<Fact>
  /** A fact by index. */
  fact(factId: number): Fact | undefined
  /** Pending activations in firing order (across the focus stack, then other modules). */
  agenda(): ReadonlyArray<AgendaEntry>
  /** Registers (or replaces) a host function callable from rules. */
  registerFunction(name: string, fn: (args: ReadonlyArray<Value>) => Value): void
  /** Text printed by printout and watch since the last call (then cleared). */
  output(): string
  /** Turns a watch item on or off. */
  watch(what: WatchItem, on: boolean): void
  /** A JSON-serializable snapshot of working memory, the focus stack and the agenda. */
  snapshot(): Snapshot
  /** Rebuilds working memory from a snapshot without re-firing anything. */
  restore(snapshot: Snapshot): Either.Either<void, RuleError>
  /** The names of the defined rules (module-qualified when not in MAIN). */
  rules(): ReadonlyArray<string>
}

/** A compiled rule. */
interface Rule {
  readonly name: string
  readonly module: Module
  readonly salience: number
  readonly autoFocus: boolean
  readonly disjuncts: Array<{ readonly plan: DisjunctPlan; readonly ref: TerminalRef; terminal: JoinNode | null; readonly extract: ReadonlyArray<{ slot: number; read: (pm: PartialMatch) => Value }> }>
  actions: Compiled
  frameSize: number
  readonly pos: Pos
  readonly file: string | undefined
  /** Firings in the run numbered `runEpoch` (for the firing-limit message). */
  runEpoch: number
  runFirings: number
}

/** The rule reference stored on terminal joins. */
interface TerminalRef extends RuleRef {
  readonly rule: Rule
  readonly disjunct: number
}

interface Deffacts {
  readonly name: string
  readonly module: Module
  readonly makers: ReadonlyArray<FactMaker>
}

const DEFAULT_FIRING_LIMIT = 100_000

const busyError = (): RuleError =>
  ruleError("runtime", "facts may not be asserted, retracted or loaded during pattern matching", "do not change facts from a host function used in a rule's conditions")
const NO_SITE: ErrorSite = {}

const qualified = (name: string, module: string): string => (module === "MAIN" ? name : `${module}::${name}`)

const hashValue = (v: Value, h: number): number => {
  switch (v.type) {
    case "SYMBOL":
    case "STRING": {
      const s = v.value
      h = Math.imul(h ^ (v.type === "SYMBOL" ? 17 : 31), 16777619)
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
      return h
    }
    case "INTEGER":
    case "FLOAT":
    case "FACT-ADDRESS": {
      const x = v.value
      const lo = x | 0
      const hi = (x / 4294967296) | 0
      h = Math.imul(h ^ (v.type === "FLOAT" ? 7 : 3), 16777619)
      h = Math.imul(h ^ lo, 16777619)
      return Math.imul(h ^ hi, 16777619)
    }
    case "MULTIFIELD": {
      h = Math.imul(h ^ 101, 16777619)
      for (const x of v.value) h = hashValue(x, h)
      return h
    }
  }
}

const hashFields = (fields: ReadonlyArray<Value>): number => {
  let h = 2166136261
  for (let i = 0; i < fields.length; i++) h = hashValue(fields[i]!, h)
  return h >>> 0
}

const sameFields = (a: ReadonlyArray<Value>, b: ReadonlyArray<Value>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!equals(a[i]!, b[i]!)) return false
  return true
}

/** Builds a constraint record from slot attributes (CLIPS's rules for type/allowed-* facets). */
const buildConstraint = (attrs: SlotAttributes, multi: boolean, where: Where): Constraint => {
  const types = attrs.types
  const allowed = (t: SlotType): boolean => types === null || types.includes(t)
  const restriction: Array<Value> = []
  let anyRestriction = false
  let symbolRestriction = false
  let stringRestriction = false
  let integerRestriction = false
  let floatRestriction = false
  const take = (atoms: ReadonlyArray<SAtom> | undefined, check: (v: Value) => boolean, what: string): boolean => {
    if (atoms === undefined) return false
    for (const a of atoms) {
      const v = atomValue(a)
      if (v === null) continue
      if (!check(v)) fail("compile", `${what} contains ${a.token.text}, which is not a ${what.replace("allowed-", "").replace(/s$/, "")}`, "list values of the right type", { ...where, pos: { line: a.line, column: a.column } })
      restriction.push(v)
    }
    return true
  }
  if (take(attrs.allowedSymbols, (v) => v.type === "SYMBOL", "allowed-symbols")) symbolRestriction = true
  if (take(attrs.allowedStrings, (v) => v.type === "STRING", "allowed-strings")) stringRestriction = true
  if (take(attrs.allowedLexemes, (v) => v.type === "STRING" || v.type === "SYMBOL", "allowed-lexemes")) symbolRestriction = stringRestriction = true
  if (take(attrs.allowedIntegers, (v) => v.type === "INTEGER", "allowed-integers")) integerRestriction = true
  if (take(attrs.allowedFloats, (v) => v.type === "FLOAT", "allowed-floats")) floatRestriction = true
  if (take(attrs.allowedNumbers, (v) => v.type === "INTEGER" || v.type === "FLOAT", "allowed-numbers")) integerRestriction = floatRestriction = true
  if (take(attrs.allowedValues, () => true, "allowed-values")) anyRestriction = true
  const bound = (a: SAtom | undefined): number | null => {
    if (a === undefined || a.token.kind === "sfvar") return null
    const v = atomValue(a)
    if (v === null || (v.type !== "INTEGER" && v.type !== "FLOAT")) return fail("compile", "range and cardinality bounds must be numbers or ?VARIABLE", "write (range 0 10)", { ...where, pos: { line: a.line, column: a.column } })
    return v.value
  }
  const typeNames = types === null ? [] : [...new Set(types)]
  return {
    anyAllowed: types === null,
    symbolsAllowed: allowed("SYMBOL"),
    stringsAllowed: allowed("STRING"),
    integersAllowed: allowed("INTEGER"),
    floatsAllowed: allowed("FLOAT"),
    factAddressesAllowed: allowed("FACT-ADDRESS"),
    anyRestriction,
    symbolRestriction,
    stringRestriction,
    integerRestriction,
    floatRestriction,
    restrictionList: restriction,
    minValue: bound(attrs.range?.[0]),
    maxValue: bound(attrs.range?.[1]),
    minFields: multi ? bound(attrs.cardinality?.[0]) : null,
    maxFields: multi ? bound(attrs.cardinality?.[1]) : null,
    typeNames
  }
}

/** Creates an engine. */
export const makeEngine = (options: EngineOptions = {}): Engine => new EngineImpl(options)

class EngineImpl implements Engine, ActionHost, AlphaHost, DriveHost {
  private readonly firingLimit: number
  private readonly modules = new Map<string, Module>()
  private readonly main: Module
  private current: Module
  private readonly rulesByName = new Map<string, Rule>()
  private readonly ruleList: Array<Rule> = []
  private readonly deffacts: Array<Deffacts> = []
  private readonly deffunctions = new Map<string, DeffunctionRef>()
  private readonly globalDefs: Array<{ name: string; expr: CompiledExpr }> = []
  readonly globals = new Map<string, Value>()
  private readonly functions: Map<string, FunctionDef> = builtinFunctions()
  private readonly hostFunctions = new Map<string, { fn: (args: ReadonlyArray<Value>) => Value }>()
  readonly regexCache = new Map<string, RegExp>()
  private readonly roots: JoinRoots = { rightPrimeJoins: [], leftPrimeJoins: [] }
  /** Live facts by index (insertion order = index order). */
  private readonly factMap = new Map<number, InternalFact>()
  /** API template lookups by name (cleared when templates change). */
  private readonly templateCache = new Map<string, Template>()
  private readonly templatesByName = new Map<string, Array<Template>>()
  private nextFactId = 0
  private timetag = 0
  /** Focus stack, top last. */
  private focusStack: Array<Module> = []
  private readonly watching = { facts: false, rules: false, activations: false, focus: false }
  private out: Array<string> = []
  private halted = false
  private returnFlag = false
  private executingRule: Rule | null = null
  private inRun = false
  private pendingRebuild = false
  /** Set while a fact change is propagating through the network (host functions may not change facts then). */
  private matching = false
  /** Programs loaded so far (replayed into a scratch engine to make `load` all-or-nothing). */
  private readonly programs: Array<Program> = []
  private runEpoch = 0
  private silent = false
  incrementalReset = false
  readonly markerStack: Array<Marker> = []
  readonly env: Env
  private readonly actionEnv: Env

  constructor(options: EngineOptions) {
    this.firingLimit = options.firingLimit ?? DEFAULT_FIRING_LIMIT
    this.main = new Module("MAIN")
    this.modules.set("MAIN", this.main)
    this.current = this.main
    this.env = { lhs: null, rhs: null, frame: [], fact: null, markers: null, host: this, returning: false, breaking: false }
    this.actionEnv = { lhs: null, rhs: null, frame: [], fact: null, markers: null, host: this, returning: false, breaking: false }
    this.main.templates.set("initial-fact", makeTemplate("initial-fact", "MAIN", true, [impliedSlot]))
  }

  // -------------------------------------------------------------------------
  // Output and watch
  // -------------------------------------------------------------------------

  print(router: string, text: string): void {
    if (router === "nil") return
    this.out.push(text)
  }

  output(): string {
    const s = this.out.join("")
    this.out = []
    return s
  }

  watch(what: WatchItem, on: boolean): void {
    this.watching[what] = on
  }

  private trace(line: string): void {
    if (!this.silent) this.out.push(line)
  }

  private basisText(pm: PartialMatch): string {
    return pm.binds.map((b) => (b === null ? "*" : `f-${b.fact.id}`)).join(",")
  }

  private activationText(act: Activation): string {
    return `${padRight(String(act.salience), 6)} ${act.rule.name}: ${this.basisText(act.basis)}`
  }

  // -------------------------------------------------------------------------
  // Templates, modules and scopes
  // -------------------------------------------------------------------------

  private findTemplate(name: string, from: Module = this.current): Template | undefined {
    return visibleTemplate(this.modules, from, name)
  }

  private impliedTemplate(name: string, from: Module, pos: Pos, where: Where): Template {
    const t = this.findTemplate(name, from)
    if (t !== undefined) {
      if (!t.implied) return fail("compile", `${name} is a deftemplate, not an ordered relation`, `use slot syntax: (${name} (slot value))`, { ...where, pos })
      return t
    }
    if (name.includes("::")) return fail("unknown-template", `unknown template ${name}`, "define it first", { ...where, pos })
    const nt = makeTemplate(name, from.name, true, [impliedSlot])
    from.templates.set(name, nt)
    this.templatesByName.clear()
    return nt
  }

  private baseScope(module: Module, file: string | undefined, construct: string): Omit<Scope, "resolve" | "bindLocal" | "actions"> {
    return {
      site: { file, construct },
      functions: this.functions,
      deffunctions: this.deffunctions,
      template: (name) => this.findTemplate(name, module),
      impliedTemplate: (name, pos) => this.impliedTemplate(name, module, pos, { file, construct }),
      moduleExists: (name) => this.modules.has(name),
      globalExists: (name) => this.globals.has(name) || this.globalDefs.some((g) => g.name === name)
    }
  }

  // -------------------------------------------------------------------------
  // Loading
  // -------------------------------------------------------------------------

  load(program: Program): Either.Either<void, RuleError> {
    if (this.matching) return Either.left(busyError())
    // Loading is all or nothing: the program is first loaded into a scratch engine that has
    // the same programs and host functions, so a failing construct leaves this engine untouched.
    const scratch = new EngineImpl({ firingLimit: this.firingLimit })
    for (const [name, h] of this.hostFunctions) scratch.registerFunction(name, (args) => h.fn(args))
    for (const prior of this.programs) {
      const r = scratch.loadConstructs(prior)
      if (Either.isLeft(r)) return r
    }
    const trial = scratch.loadConstructs(program)
    if (Either.isLeft(trial)) return trial
    const r = this.loadConstructs(program)
    if (Either.isRight(r)) this.programs.push(program)
    return r
  }

  private loadConstructs(program: Program): Either.Either<void, RuleError> {
    const file = program.file
    this.current = this.main
    try {
      for (const c of program.constructs) this.loadConstruct(c, file)
      // Rules added while facts exist: match them against working memory once, at the end.
      if (this.pendingRebuild) {
        this.pendingRebuild = false
        this.rebuild(null)
      }
      return Either.right(undefined)
    } catch (e) {
      if (e instanceof RuleFailure) return Either.left(e.error)
      throw e
    } finally {
      this.current = this.main
    }
  }

  private splitName(name: string, where: Where): { module: Module; local: string } {
    const sep = name.indexOf("::")
    if (sep < 0) return { module: this.current, local: name }
    const mname = name.slice(0, sep)
    const m = this.modules.get(mname)
    if (m === undefined) return fail("compile", `unknown module ${mname}`, `define (defmodule ${mname}) first`, where)
    this.current = m
    return { module: m, local: name.slice(sep + 2) }
  }

  private loadConstruct(c: Construct, file: string | undefined): void {
    switch (c.kind) {
      case "defmodule": {
        const where: Where = { file, pos: c.pos, construct: `defmodule ${c.name}` }
        let m = this.modules.get(c.name)
        if (m === undefined) {
          m = new Module(c.name)
          this.modules.set(c.name, m)
        } else if (c.name !== "MAIN") fail("compile", `module ${c.name} is already defined`, "define each module once", where)
        for (const imp of c.imports) {
          if (imp.module !== undefined && !this.modules.has(imp.module)) fail("compile", `module ${c.name} imports from unknown module ${imp.module}`, `define (defmodule ${imp.module}) before it`, where)
        }
        m.imports = c.imports
        m.exports = c.exports
        this.current = m
        return
      }
      case "deftemplate":
        return this.loadTemplate(c, file)
      case "deffacts": {
        const where: Where = { file, pos: c.pos, construct: `deffacts ${c.name}` }
        const { module, local } = this.splitName(c.name, where)
        const scope = constantScope(this.baseScope(module, file, `deffacts ${local}`))
        const makers = c.facts.map((f) => compileFactSpec(f, scope))
        this.deffacts.push({ name: local, module, makers })
        return
      }
      case "deffunction":
        return this.loadDeffunction(c, file)
      case "defglobal": {
        for (const g of c.globals) {
          const scope = constantScope(this.baseScope(this.current, file, `defglobal ?*${g.name}*`))
          const expr = compileExpr(g.expr, scope)
          const existing = this.globalDefs.findIndex((x) => x.name === g.name)
          if (existing >= 0) this.globalDefs.splice(existing, 1)
          this.globalDefs.push({ name: g.name, expr })
          this.globals.set(g.name, this.evalConstant(expr, { file, line: g.pos.line, column: g.pos.column, construct: `defglobal ?*${g.name}*` }))
        }
        return
      }
      case "defrule":
        return this.loadRule(c, file)
    }
  }

  private evalConstant(expr: CompiledExpr, site: ErrorSite): Value {
    try {
      return expr.fn({ lhs: null, rhs: null, frame: [], fact: null, markers: null, host: this, returning: false, breaking: false })
    } catch (e) {
      if (e instanceof EvalError) return fail("runtime", e.message, e.fix, { file: site.file, pos: site.line !== undefined ? { line: site.line, column: site.column ?? 0 } : undefined, construct: site.construct })
      throw e
    }
  }

  private loadTemplate(c: Extract<Construct, { kind: "deftemplate" }>, file: string | undefined): void {
    const where: Where = { file, pos: c.pos, construct: `deftemplate ${c.name}` }
    const { module, local } = this.splitName(c.name, where)
    if (module.templates.has(local)) fail("compile", `template ${local} is already defined`, "define each template once (or rename it)", where)
    const scope = constantScope(this.baseScope(module, file, `deftemplate ${local}`))
    const slots: Array<Slot> = c.slots.map((s, index) => {
      const swhere: Where = { file, pos: s.pos, construct: `deftemplate ${local}` }
      const constraint = buildConstraint(s.attributes, s.multi, swhere)
      let def: SlotDefault
      const tmpSlot: Slot = { name: s.name, index, multi: s.multi, constraint, default: { kind: "derive" } }
      const combine = (vals: ReadonlyArray<Value>): Value => {
        if (s.multi) {
          const out: Array<Value> = []
          for (const v of vals) pushFlat(out, v)
          return multifield(out)
        }
        return vals[0] ?? NIL
      }
      switch (s.default.kind) {
        case "derive":
          def = { kind: "derive" }
          break
        case "none":
          def = { kind: "none" }
          break
        case "static": {
          const exprs = s.default.exprs.map((e) => compileExpr(e, scope))
          const value = combine(exprs.map((e) => this.evalConstant(e, { file, line: s.pos.line, column: s.pos.column, construct: `deftemplate ${local}` })))
          const why = checkSlot(tmpSlot, value)
          if (why !== null) fail("type", `default value: ${describeViolation({ name: local } as Template, tmpSlot, value, why)}`, "give a default the slot's constraints accept", swhere)
          def = { kind: "static", value }
          break
        }
        case "dynamic": {
          const exprs = s.default.exprs.map((e) => compileExpr(e, scope))
          def = { kind: "dynamic", eval: () => combine(exprs.map((e) => e.fn(this.actionEnv))) }
          break
        }
      }
      return { name: s.name, index, multi: s.multi, constraint, default: def }
    })
    module.templates.set(local, makeTemplate(local, module.name, false, slots))
    this.templateCache.clear()
    this.templatesByName.clear()
  }

  private loadDeffunction(c: Extract<Construct, { kind: "deffunction" }>, file: string | undefined): void {
    const where: Where = { file, pos: c.pos, construct: `deffunction ${c.name}` }
    if (this.functions.has(c.name)) fail("compile", `deffunction ${c.name} would redefine a built-in function`, "choose another name", where)
    const ref: DeffunctionRef = { name: c.name, params: c.params.length, rest: c.rest !== undefined, body: null, frameSize: 0 }
    const prev = this.deffunctions.get(c.name)
    this.deffunctions.set(c.name, ref)
    const slots = new Map<string, number>()
    c.params.forEach((p, i) => slots.set(p, i))
    if (c.rest !== undefined) slots.set(c.rest, c.params.length)
    const scope: Scope = {
      ...this.baseScope(this.current, file, `deffunction ${c.name}`),
      actions: true,
      resolve: (name) => {
        const s = slots.get(name)
        if (s === undefined) return null
        return { key: `v${s}`, fn: (env) => env.frame[s]! }
      },
      bindLocal: (name) => {
        let s = slots.get(name)
        if (s === undefined) {
          s = slots.size
          slots.set(name, s)
        }
        return s
      }
    }
    try {
      const body = c.body.map((e) => compileExpr(e, scope).fn)
      ref.frameSize = slots.size
      ref.body = (env) => {
        let last: Value = FALSE
        for (const b of body) {
          last = b(env)
          if (env.returning) break
        }
        return last
      }
    } catch (e) {
      if (prev !== undefined) this.deffunctions.set(c.name, prev)
      else this.deffunctions.delete(c.name)
      throw e
    }
  }

  private loadRule(c: DefruleConstruct, file: string | undefined): void {
    const where: Where = { file, pos: c.pos, construct: `defrule ${c.name}` }
    const { module, local } = this.splitName(c.name, where)
    const full = qualified(local, module.name)
    if (this.rulesByName.has(full)) fail("compile", `rule ${full} is already defined`, "give each rule a unique name", where)
    const construct = `defrule ${local}`
    const base = this.baseScope(module, file, construct)
    const plans = compileLhs(
      {
        file,
        construct,
        template: (name) => this.findTemplate(name, module),
        impliedTemplate: (name, pos) => this.impliedTemplate(name, module, pos, { file, construct }),
        exprScope: (resolve) => ({ ...base, actions: false, resolve, bindLocal: () => null })
      },
      c.lhs
    )
    // Variables usable on the RHS: those bound in every disjunct.
    const common = [...plans[0]!.vars.keys()].filter((v) => plans.every((p) => p.vars.has(v)))
    const slots = new Map<string, number>()
    for (const v of common) slots.set(v, slots.size)
    const rhsScope: Scope = {
      ...base,
      actions: true,
      resolve: (name) => {
        const s = slots.get(name)
        if (s === undefined) return null
        return { key: `v${s}`, fn: (env) => env.frame[s]! }
      },
      bindLocal: (name) => {
        let s = slots.get(name)
        if (s === undefined) {
          s = slots.size
          slots.set(name, s)
        }
        return s
      }
    }
    const actions = c.rhs.map((e) => compileExpr(e, rhsScope).fn)
    const rule: Rule = {
      name: local,
      module,
      salience: c.salience,
      autoFocus: c.autoFocus,
      disjuncts: [],
      actions: (env) => {
        let last: Value = FALSE
        for (let k = 0; k < actions.length; k++) {
          last = actions[k]!(env)
          if (env.returning) break
        }
        return last
      },
      frameSize: slots.size,
      pos: c.pos,
      file,
      runEpoch: 0,
      runFirings: 0
    }
    const incremental = this.factMap.size > 0 || this.hasActivations()
    plans.forEach((plan, d) => {
      const ref: TerminalRef = { name: local, salience: c.salience, module: module.name, autoFocus: c.autoFocus, rule, disjunct: d }
      const extract = common.map((v) => ({ slot: slots.get(v)!, read: readVar(plan.vars.get(v)!) }))
      rule.disjuncts.push({ plan, ref, terminal: null, extract })
    })
    // Build the network (after everything compiled, so a failed rule leaves no joins behind).
    for (const d of rule.disjuncts) d.terminal = buildDisjunct(this.roots, d.plan.steps, d.ref, incremental).terminal
    this.rulesByName.set(full, rule)
    this.ruleList.push(rule)
    rule.frameSize = slots.size
    if (incremental) this.pendingRebuild = true
  }

  private hasActivations(): boolean {
    for (const m of this.modules.values()) if (m.agenda.size > 0) return true
    return false
  }

  // -------------------------------------------------------------------------
  // Facts
  // -------------------------------------------------------------------------

  /** Asserts a fact with complete field values (the one path every assert goes through). */
  assertFields(template: Template, fields: ReadonlyArray<Value>, _where: ErrorSite): InternalFact | undefined {
    void _where
    const h = hashFields(fields)
    const dup = template.dup
    const existing = dup.get(h)
    if (existing !== undefined) {
      if (Array.isArray(existing)) {
        for (const f of existing) if (sameFields(f.fields, fields)) return undefined
      } else if (sameFields(existing.fields, fields)) return undefined
    }
    if (this.matching) throw new RuleFailure(busyError())
    const fact = newFact(this.nextFactId++, template, fields, h)
    this.index(fact)
    if (this.watching.facts) this.trace(`==> ${factIdentifier(fact.id)}${renderInternalFact(fact)}\n`)
    this.matching = true
    try {
      matchFact(this, fact, template.network.first)
    } finally {
      this.matching = false
    }
    return fact
  }

  /** Adds a fact to the fact map, its template's set and the duplicate index. */
  private index(fact: InternalFact): void {
    const dup = fact.template.dup
    const existing = dup.get(fact.hash)
    if (existing === undefined) dup.set(fact.hash, fact)
    else if (Array.isArray(existing)) existing.push(fact)
    else dup.set(fact.hash, [existing, fact])
    this.factMap.set(fact.id, fact)
    const t = fact.template
    fact.prevOfTemplate = t.lastFact
    fact.nextOfTemplate = null
    if (t.lastFact === null) t.firstFact = fact
    else t.lastFact.nextOfTemplate = fact
    t.lastFact = fact
  }

  private unindex(fact: InternalFact): void {
    const dup = fact.template.dup
    const existing = dup.get(fact.hash)
    if (existing === fact) dup.delete(fact.hash)
    else if (Array.isArray(existing)) {
      const i = existing.indexOf(fact)
      if (i >= 0) existing.splice(i, 1)
      if (existing.length === 1) dup.set(fact.hash, existing[0]!)
    }
    this.factMap.delete(fact.id)
    const t = fact.template
    if (fact.prevOfTemplate === null) t.firstFact = fact.nextOfTemplate
    else fact.prevOfTemplate.nextOfTemplate = fact.nextOfTemplate
    if (fact.nextOfTemplate === null) t.lastFact = fact.prevOfTemplate
    else fact.nextOfTemplate.prevOfTemplate = fact.prevOfTemplate
    fact.prevOfTemplate = fact.nextOfTemplate = null
  }

  retractId(id: number): boolean {
    const fact = this.factMap.get(id)
    if (fact === undefined || this.matching) return false
    if (this.watching.facts) this.trace(`<== ${factIdentifier(fact.id)}${renderInternalFact(fact)}\n`)
    this.unindex(fact)
    fact.garbage = true
    this.matching = true
    try {
      networkRetract(this, fact)
    } finally {
      this.matching = false
    }
    return true
  }

  factById(id: number): InternalFact | undefined {
    return this.factMap.get(id)
  }

  /** Pattern-network callback: store the alpha match and feed the joins (CLIPS ProcessFactAlphaMatch). */
  alphaMatch(node: AlphaNode, fact: InternalFact, markers: ReadonlyArray<Marker> | null): void {
    let bind: AlphaBind
    if (markers === null) {
      if (fact.bind === null) fact.bind = { fact, markers: null }
      bind = fact.bind
    } else bind = { fact, markers }
    const pm = new Match([bind], true)
    pm.hashKey = node.rightHash === null ? 0 : node.rightHash.fn(fact, markers)
    pm.owner = node
    node.memory.append(pm)
    if (fact.matches === null) fact.matches = [pm]
    else fact.matches.push(pm)
    const savedFact = this.env.fact
    const savedMarkers = this.env.markers
    // Only the joins that can act (left unlinking; the order is the entryJoin order).
    for (let j = node.activeFirst as JoinNode | null; j !== null; j = nextActive(j)) networkAssert(this, pm, j)
    this.env.fact = savedFact
    this.env.markers = savedMarkers
  }

  // -------------------------------------------------------------------------
  // Activations and focus
  // -------------------------------------------------------------------------

  addActivation(ruleRef: RuleRef, pm: PartialMatch): void {
    const ref = ruleRef as TerminalRef
    if (ref.autoFocus) this.focus([ref.module], {})
    const act = new Activation(ref, pm, ref.salience, this.timetag++)
    pm.activation = act
    if (this.watching.activations) this.trace(`==> Activation ${this.activationText(act)}\n`)
    ref.rule.module.agenda.add(act)
  }

  removeActivation(activation: ActivationRef): void {
    const act = activation as Activation
    const ref = act.rule as TerminalRef
    if (this.watching.activations) this.trace(`<== Activation ${this.activationText(act)}\n`)
    ref.rule.module.agenda.remove(act)
    act.basis.activation = null
  }

  testError(error: unknown, join: JoinNode): void {
    void join
    this.reportEvalError(error)
  }

  patternError(error: unknown): void {
    this.reportEvalError(error)
  }

  /** A test on the left-hand side failed to evaluate: CLIPS prints the error and treats the test as failed. */
  private reportEvalError(error: unknown): void {
    if (!(error instanceof EvalError)) throw error
    this.trace(`[${error.clipsId ?? "EVAL"}] ${error.message}${error.site.construct !== undefined ? ` (in ${error.site.construct})` : ""}\n`)
  }

  focus(modules: ReadonlyArray<string>, where: ErrorSite): void {
    for (let i = modules.length - 1; i >= 0; i--) {
      const m = this.modules.get(modules[i]!)
      if (m === undefined) throw new EvalError(`unknown module ${modules[i]}`, "define it with defmodule", where)
      this.pushFocus(m)
    }
  }

  private pushFocus(m: Module): void {
    const top = this.focusStack[this.focusStack.length - 1]
    if (top === m) return
    if (this.watching.focus) this.trace(`==> Focus ${m.name}${top !== undefined ? ` from ${top.name}` : ""}\n`)
    this.focusStack.push(m)
  }

  private popFocus(): void {
    const m = this.focusStack.pop()
    if (m !== undefined && this.watching.focus) {
      const top = this.focusStack[this.focusStack.length - 1]
      this.trace(`<== Focus ${m.name}${top !== undefined ? ` to ${top.name}` : ""}\n`)
    }
  }

  private removeFocus(m: Module): void {
    for (let i = this.focusStack.length - 1; i >= 0; i--) {
      if (this.focusStack[i] === m) {
        const wasTop = i === this.focusStack.length - 1
        this.focusStack.splice(i, 1)
        if (this.watching.focus) {
          const top = this.focusStack[this.focusStack.length - 1]
          this.trace(`<== Focus ${m.name}${wasTop && top !== undefined ? ` to ${top.name}` : ""}\n`)
        }
        return
      }
    }
  }

  halt(): void {
    this.halted = true
  }

  get currentRuleModule(): string | undefined {
    return this.executingRule?.module.name
  }

  ruleReturned(): void {
    if (this.executingRule !== null) this.returnFlag = true
  }

  private nextActivation(): Activation | null {
    if (this.focusStack.length === 0) this.pushFocus(this.main)
    let act = this.focusStack[this.focusStack.length - 1]!.agenda.top()
    while (act === null && this.focusStack.length > 0) {
      this.popFocus()
      if (this.focusStack.length > 0) act = this.focusStack[this.focusStack.length - 1]!.agenda.top()
    }
    return act
  }

  // -------------------------------------------------------------------------
  // Running
  // -------------------------------------------------------------------------

  run(limit?: number): Either.Either<RunResult, RuleError> {
    if (this.inRun) return Either.left(ruleError("runtime", "run called while rules are firing", "do not call run from a host function"))
    this.inRun = true
    this.halted = false
    const firings: Array<Firing> = []
    const epoch = ++this.runEpoch
    let fired = 0
    try {
      for (;;) {
        if (limit !== undefined && limit >= 0 && fired >= limit) break
        if (this.halted) break
        const act = this.nextActivation()
        if (act === null) break
        if (fired >= this.firingLimit) {
          const top = this.ruleList
            .filter((r) => r.runEpoch === epoch)
            .map((r): [Rule, number] => [r, r.runFirings])
            .sort((a, b) => b[1] - a[1])
            .slice(0, 5)
          const names = top.map(([r, n]) => `${qualified(r.name, r.module.name)} (${n})`).join(", ")
          return Either.left(
            ruleError("firing-limit", `more than ${this.firingLimit} rule firings in one run; the rules that kept firing: ${names}`, "make the rules stop (retract or modify the facts that trigger them), or raise firingLimit", {
              construct: top[0] !== undefined ? `defrule ${top[0][0].name}` : undefined,
              file: top[0]?.[0].file
            })
          )
        }
        const ref = act.rule as TerminalRef
        const rule = ref.rule
        rule.module.agenda.remove(act)
        const pm = act.basis
        pm.activation = null
        fired++
        if (rule.runEpoch !== epoch) {
          rule.runEpoch = epoch
          rule.runFirings = 0
        }
        rule.runFirings++
        if (this.watching.rules) this.trace(`FIRE ${String(fired).padStart(4, " ")} ${rule.name}: ${this.basisText(pm)}\n`)
        firings.push({ rule: qualified(rule.name, rule.module.name), factIds: pm.binds.map((b) => (b === null ? null : b.fact.id)) })
        const d = rule.disjuncts[ref.disjunct]!
        const frame: Array<Value> = new Array<Value>(rule.frameSize)
        for (let k = 0; k < d.extract.length; k++) {
          const x = d.extract[k]!
          frame[x.slot] = x.read(pm)
        }
        const env = this.actionEnv
        env.frame = frame
        env.lhs = pm
        env.returning = false
        env.breaking = false
        this.executingRule = rule
        this.returnFlag = false
        try {
          rule.actions(env)
        } catch (e) {
          if (e instanceof EvalError) {
            this.executingRule = null
            return Either.left(
              ruleError("runtime", `${e.message} (while firing ${qualified(rule.name, rule.module.name)})`, e.fix, {
                file: e.site.file ?? rule.file,
                pos: e.site.line !== undefined ? { line: e.site.line, column: e.site.column ?? 0 } : rule.pos,
                construct: `defrule ${rule.name}`
              })
            )
          }
          if (e instanceof RuleFailure) return Either.left(e.error)
          throw e
        } finally {
          this.executingRule = null
          env.lhs = null
        }
        // CLIPS reports a halt from a watched rule's actions.
        if (this.halted && this.watching.rules) this.trace(`[PRCCODE4] Execution halted during the actions of defrule ${rule.name}.\n`)
        if (this.returnFlag) this.removeFocus(rule.module)
        this.returnFlag = false
      }
      return Either.right({ firings, halted: this.halted })
    } finally {
      this.inRun = false
    }
  }

  // -------------------------------------------------------------------------
  // Reset
  // -------------------------------------------------------------------------

  /** Empties every memory and the agenda (the network itself stays). */
  private clearNetwork(): void {
    for (const m of this.modules.values()) {
      for (const a of m.agenda.list()) a.basis.activation = null
      m.agenda.clear()
    }
    const seenJoins = new Set<JoinNode>()
    const seenNodes = new Set<AlphaNode>()
    const clearJoin = (j: JoinNode | null): void => {
      for (; j !== null; j = j.lastLevel) {
        if (seenJoins.has(j)) return
        seenJoins.add(j)
        if (j.leftMemory !== null) {
          j.leftMemory.clear()
          if (j.emptyLeft !== null) {
            const seed = j.emptyLeft
            seed.children = null
            seed.blockList = null
            seed.marker = null
            seed.nextBlocked = seed.prevBlocked = null
            j.leftMemory.prepend(seed)
          }
        }
        if (j.rightMemory !== null) {
          j.rightMemory.clear()
          if (j.emptyRight !== null) {
            const seed = j.emptyRight
            seed.children = null
            seed.blockList = null
            j.rightMemory.append(seed)
          }
        }
        const r = j.rightSideEntry
        if (r !== null) {
          if ("entryJoin" in r) {
            if (!seenNodes.has(r)) {
              seenNodes.add(r)
              r.memory.clear()
            }
          } else clearJoin(r)
        }
      }
    }
    for (const rule of this.ruleList) for (const d of rule.disjuncts) clearJoin(d.terminal)
    for (const n of seenNodes) resetActive(n)
    for (const f of this.factMap.values()) {
      f.garbage = true
      f.matches = null
    }
    this.factMap.clear()
    for (const m of this.modules.values()) {
      for (const t of m.templates.values()) {
        t.firstFact = t.lastFact = null
        t.dup.clear()
      }
    }
  }

  /** Primes the pattern-less and not-first joins (CLIPS ResetDefrulesPrime). */
  private primeJoins(): void {
    for (const link of this.roots.rightPrimeJoins) networkAssert(this, link.join.emptyRight!, link.join)
    for (const link of this.roots.leftPrimeJoins) {
      const j = link.join
      if ((j.patternIsNegated || j.joinFromTheRight) && !j.patternIsExists) {
        const notParent = j.emptyLeft!
        if (notParent.marker !== null) continue
        if (j.secondaryNetworkTest !== null) {
          this.env.lhs = notParent
          this.env.rhs = null
          let ok = false
          try {
            ok = j.secondaryNetworkTest.fn(this.env)
          } catch (e) {
            this.testError(e, j)
          }
          this.env.lhs = null
          if (!ok) continue
        }
        epmDrive(this, notParent, j, ASSERT)
      }
    }
  }

  reset(): void {
    if (this.watching.facts) for (const f of this.factMap.values()) this.trace(`<== ${factIdentifier(f.id)}${renderInternalFact(f)}\n`)
    this.clearNetwork()
    this.focusStack = []
    this.nextFactId = 0
    this.halted = false
    for (const g of this.globalDefs) {
      try {
        this.globals.set(g.name, g.expr.fn(this.actionEnv))
      } catch {
        /* keep the old value */
      }
    }
    this.pushFocus(this.main)
    this.primeJoins()
    const initial = this.main.templates.get("initial-fact")!
    this.assertFields(initial, [EMPTY], {})
    for (const d of this.deffacts) {
      for (const m of d.makers) {
        try {
          m.make(this.actionEnv)
        } catch {
          /* deffacts errors were caught at load time where possible */
        }
      }
    }
  }

  // -------------------------------------------------------------------------
  // Rebuilding memories (incremental load, restore)
  // -------------------------------------------------------------------------

  /** The identity of a rule disjunct in match keys (`or` alternatives can match the same facts). */
  private refKey(ref: TerminalRef): string {
    const name = qualified(ref.rule.name, ref.rule.module.name)
    return ref.rule.disjuncts.length > 1 ? `${name}#${ref.disjunct}` : name
  }

  private matchKey(rule: string, pm: PartialMatch): string {
    return `${rule}|${pm.binds.map((b) => (b === null ? "*" : b.markers === null ? String(b.fact.id) : `${b.fact.id}[${b.markers.map((m) => `${m.slot}.${m.element}:${m.start}-${m.end}`).join(";")}]`)).join(",")}`
  }

  /**
   * Re-derives every memory from the facts (in index order) without firing or printing.
   * Afterwards only the activations in `pending` (keys in agenda order) stay on the agenda;
   * when `pending` is null, previously pending activations keep their order, previously
   * fired matches stay fired, and matches of rules that had none before become new activations.
   */
  private rebuild(pending: ReadonlyArray<string> | null): void {
    const before = new Map<string, { pending: boolean; timetag: number }>()
    const oldRules = new Set<Rule>()
    if (pending === null) {
      for (const rule of this.ruleList) {
        for (const d of rule.disjuncts) {
          const t = d.terminal
          if (t === null || t.leftMemory === null || t.initialize) continue
          oldRules.add(rule)
          for (const pm of t.leftMemory.all()) before.set(this.matchKey(this.refKey(d.ref), pm), { pending: pm.activation !== null, timetag: pm.activation?.timetag ?? -1 })
        }
      }
    }
    const facts = [...this.factMap.values()].sort((a, b) => a.id - b.id)
    const focus = this.focusStack
    this.clearNetwork()
    const silent = this.silent
    this.silent = true
    const watchAct = this.watching.activations
    this.watching.activations = false
    const startTag = this.timetag
    try {
      this.primeJoins()
      for (const f of facts) {
        const nf = newFact(f.id, f.template, f.fields, f.hash)
        this.index(nf)
        matchFact(this, nf, nf.template.network.first)
      }
    } finally {
      this.silent = silent
      this.watching.activations = watchAct
    }
    this.focusStack = focus
    // Decide which activations survive, and in which order.
    const all: Array<{ act: Activation; key: string }> = []
    for (const m of this.modules.values()) for (const a of m.agenda.list()) all.push({ act: a, key: this.matchKey(this.refKey(a.rule as TerminalRef), a.basis) })
    for (const { act } of all) {
      ;(act.rule as TerminalRef).rule.module.agenda.remove(act)
      act.basis.activation = null
    }
    let keep: Array<{ act: Activation; key: string; tag: number }>
    if (pending !== null) {
      const order = new Map(pending.map((k, i) => [k, i]))
      keep = all.filter((x) => order.has(x.key)).map((x) => ({ ...x, tag: pending.length - order.get(x.key)! }))
    } else {
      keep = []
      for (const x of all) {
        const rule = (x.act.rule as TerminalRef).rule
        if (oldRules.has(rule)) {
          const b = before.get(x.key)
          if (b !== undefined && b.pending) keep.push({ ...x, tag: b.timetag })
        } else keep.push({ ...x, tag: startTag + 1_000_000 + x.act.timetag })
      }
    }
    keep.sort((a, b) => a.tag - b.tag)
    for (const x of keep) {
      const act = new Activation(x.act.rule, x.act.basis, x.act.salience, this.timetag++)
      x.act.basis.activation = act
      ;(x.act.rule as TerminalRef).rule.module.agenda.add(act)
    }
    for (const rule of this.ruleList) for (const d of rule.disjuncts) if (d.terminal !== null) clearInitialize(d.terminal)
  }

  // -------------------------------------------------------------------------
  // Public API
  // -------------------------------------------------------------------------

  private wrap<A>(f: () => A): Either.Either<A, RuleError> {
    try {
      return Either.right(f())
    } catch (e) {
      return this.failure(e)
    }
  }

  private failure(e: unknown): Either.Either<never, RuleError> {
    if (e instanceof RuleFailure) return Either.left(e.error)
    if (e instanceof EvalError) {
      return Either.left(ruleError("runtime", e.message, e.fix, { file: e.site.file, pos: e.site.line !== undefined ? { line: e.site.line, column: e.site.column ?? 0 } : undefined, construct: e.site.construct }))
    }
    throw e
  }

  private templateFor(name: string): Template {
    const cached = this.templateCache.get(name)
    if (cached !== undefined) return cached
    const t = this.findTemplate(name, this.main) ?? this.findTemplateAnywhere(name)
    if (t !== undefined && !t.implied) {
      this.templateCache.set(name, t)
      return t
    }
    if (t === undefined || t.implied) return fail("unknown-template", `unknown template ${name}`, "load a program with (deftemplate " + name + " ...) first, or check the spelling")
    return t
  }

  private findTemplateAnywhere(name: string): Template | undefined {
    for (const m of this.modules.values()) {
      const t = m.templates.get(name)
      if (t !== undefined) return t
    }
    return undefined
  }

  private checkedFields(t: Template, slots: Readonly<Record<string, Value>>): Array<Value> {
    const out: Array<Value> = new Array<Value>(t.slots.length)
    let used = 0
    for (let i = 0; i < t.slots.length; i++) {
      const s = t.slots[i]!
      const given = slots[s.name]
      if (given === undefined) {
        if (s.default.kind === "none") return fail("compile", `slot ${s.name} of ${t.name} requires a value (default ?NONE)`, `give a value for ${s.name}`)
        out[i] = defaultValue(s)
        continue
      }
      used++
      const v = s.multi ? (given.type !== "MULTIFIELD" ? multifield([given]) : given) : given
      if (!t.unconstrained[i] || (!s.multi && v.type === "MULTIFIELD")) {
        const why = checkSlot(s, v)
        if (why !== null) fail("type", describeViolation(t, s, v, why), "use a value the slot's type and allowed values accept")
      }
      out[i] = v
    }
    let given = 0
    for (const k in slots) if (slots[k] !== undefined) given++
    if (given !== used) {
      for (const k of Object.keys(slots)) {
        if (!t.slotIndex.has(k)) fail("compile", `template ${t.name} has no slot ${k}`, `use one of: ${t.slots.map((s) => s.name).join(", ") || "(no slots)"}`)
      }
    }
    return out
  }

  assertFact(template: string, slots: Readonly<Record<string, Value>>): Either.Either<Fact | undefined, RuleError> {
    try {
      const t = this.templateCache.get(template) ?? this.templateFor(template)
      const f = this.assertFields(t, this.checkedFields(t, slots), NO_SITE)
      return Either.right(f === undefined ? undefined : view(f))
    } catch (e) {
      return this.failure(e)
    }
  }

  assertOrdered(relation: string, fields: ReadonlyArray<Value>): Either.Either<Fact | undefined, RuleError> {
    return this.wrap(() => {
      const t = this.impliedTemplate(relation, this.main, { line: 0, column: 0 }, {})
      const flat: Array<Value> = []
      for (const v of fields) pushFlat(flat, v)
      const f = this.assertFields(t, [multifield(flat)], {})
      return f === undefined ? undefined : view(f)
    })
  }

  assertString(text: string): Either.Either<Fact | undefined, RuleError> {
    return this.wrap(() => {
      const { forms, error } = readAll(text)
      if (error !== undefined) return fail("parse", error.message, "write one fact like (foo (a 1))", { pos: { line: error.line, column: error.column } })
      if (forms.length !== 1) return fail("parse", "expected exactly one fact", "write one fact like (foo (a 1))")
      const scope = constantScope(this.baseScope(this.main, undefined, "assert-string"))
      const maker = compileFactSpec(forms[0]!, scope)
      const f = maker.make(this.actionEnv)
      return f === undefined ? undefined : view(f)
    })
  }

  retract(factId: number): boolean {
    return this.retractId(factId)
  }

  modify(factId: number, slots: Readonly<Record<string, Value>>): Either.Either<Fact | undefined, RuleError> {
    return this.wrap(() => {
      const old = this.factMap.get(factId)
      if (old === undefined) return fail("runtime", `fact f-${factId} does not exist`, "modify a fact that is in working memory")
      const t = old.template
      if (t.implied) return fail("compile", `fact f-${factId} is an ordered fact`, "modify template facts only")
      const merged: Record<string, Value> = {}
      t.slots.forEach((s) => (merged[s.name] = old.fields[s.index]!))
      for (const [k, v] of Object.entries(slots)) merged[k] = v
      const fields = this.checkedFields(t, merged)
      this.retractId(factId)
      const f = this.assertFields(t, fields, {})
      return f === undefined ? undefined : view(f)
    })
  }

  facts(): ReadonlyArray<Fact> {
    return [...this.factMap.values()].sort((a, b) => a.id - b.id).map(view)
  }

  factsOf(template: string): ReadonlyArray<Fact> {
    let ts = this.templatesByName.get(template)
    if (ts === undefined) {
      ts = []
      for (const m of this.modules.values()) {
        for (const t of m.templates.values()) if (t.name === template || qualified(t.name, t.module) === template) ts.push(t)
      }
      this.templatesByName.set(template, ts)
    }
    const out: Array<Fact> = []
    for (const t of ts) for (let f = t.firstFact; f !== null; f = f.nextOfTemplate) out.push(view(f))
    if (ts.length > 1) out.sort((a, b) => a.id - b.id)
    return out
  }

  fact(factId: number): Fact | undefined {
    const f = this.factMap.get(factId)
    return f === undefined ? undefined : view(f)
  }

  agenda(): ReadonlyArray<AgendaEntry> {
    return this.agendaActivations().map((a) => ({
      rule: qualified(a.rule.name, a.rule.module),
      salience: a.salience,
      factIds: a.basis.binds.map((b) => (b === null ? null : b.fact.id))
    }))
  }

  registerFunction(name: string, fn: (args: ReadonlyArray<Value>) => Value): void {
    // Re-registering replaces the implementation, also for rules already compiled.
    const holder = this.hostFunctions.get(name)
    if (holder !== undefined) {
      holder.fn = fn
      return
    }
    const h = { fn }
    this.hostFunctions.set(name, h)
    this.functions.set(name, {
      name,
      min: 0,
      max: Infinity,
      impl: (args, _env, site) => {
        let v: Value
        try {
          v = h.fn(args)
        } catch (e) {
          throw new EvalError(`host function ${name} failed: ${e instanceof Error ? e.message : String(e)}`, "fix the host function or its arguments", site)
        }
        if (v === undefined || v === null || typeof v !== "object" || !("type" in v)) {
          throw new EvalError(`host function ${name} returned a non-CLIPS value`, "return a Value such as TRUE/FALSE symbols", site)
        }
        return v
      }
    })
  }

  rules(): ReadonlyArray<string> {
    return this.ruleList.map((r) => qualified(r.name, r.module.name))
  }

  snapshot(): Snapshot {
    return toSnapshot({
      facts: [...this.factMap.values()].sort((a, b) => a.id - b.id),
      nextFactId: this.nextFactId,
      focus: [...this.focusStack].reverse().map((m) => m.name),
      agenda: this.agendaActivations().map((a) => ({
        rule: qualified(a.rule.name, (a.rule as TerminalRef).rule.module.name),
        salience: a.salience,
        factIds: a.basis.binds.map((b) => (b === null ? null : b.fact.id)),
        key: this.matchKey(this.refKey(a.rule as TerminalRef), a.basis)
      })),
      globals: this.globals
    })
  }

  /** Activations in firing order: the focus stack top first, then the other modules. */
  private agendaActivations(): Array<Activation> {
    const order: Array<Module> = [...this.focusStack].reverse()
    for (const m of this.modules.values()) if (!order.includes(m)) order.push(m)
    const out: Array<Activation> = []
    for (const m of order) out.push(...m.agenda.list())
    return out
  }

  restore(snapshot: Snapshot): Either.Either<void, RuleError> {
    return this.wrap(() => {
      const decoded = fromSnapshot(snapshot, (name, module) => {
        const m = module === undefined ? this.main : this.modules.get(module)
        if (m === undefined) return undefined
        return m.templates.get(name) ?? this.findTemplate(name, m) ?? (name === "initial-fact" ? this.main.templates.get("initial-fact") : undefined)
      }, (name, module) => {
        const m = module === undefined ? this.main : this.modules.get(module) ?? this.main
        return this.impliedTemplate(name, m, { line: 0, column: 0 }, {})
      })
      this.clearNetwork()
      for (const f of decoded.facts) {
        const fact = newFact(f.id, f.template, f.fields, hashFields(f.fields))
        this.factMap.set(f.id, fact)
      }
      this.nextFactId = decoded.nextFactId
      this.focusStack = []
      for (const name of [...decoded.focus].reverse()) {
        const m = this.modules.get(name)
        if (m !== undefined) this.focusStack.push(m)
      }
      for (const [k, v] of decoded.globals) this.globals.set(k, v)
      // Agenda entries: most recent first in the snapshot; rebuild wants creation order keys.
      this.rebuild(decoded.pending)
      this.halted = false
    })
  }
}

const clearInitialize = (j: JoinNode | null): void => {
  for (; j !== null; j = j.lastLevel) {
    j.initialize = false
    const r = j.rightSideEntry
    if (r !== null && !("entryJoin" in r)) clearInitialize(r)
  }
}

/** The API view of a fact; `slots` is built on first access (facts are immutable). */
class FactView implements Fact {
  readonly id: number
  readonly template: string
  readonly module: string
  readonly ordered: boolean
  readonly fields: ReadonlyArray<Value>
  private cachedSlots: ReadonlyArray<readonly [string, Value]> | null = null
  constructor(private readonly fact: InternalFact) {
    const t = fact.template
    this.id = fact.id
    this.template = t.name
    this.module = t.module
    this.ordered = t.implied
    if (t.implied) {
      const mf = fact.fields[0]!
      this.fields = mf.type === "MULTIFIELD" ? mf.value : [mf]
      this.cachedSlots = []
    } else this.fields = fact.fields
  }
  get slots(): ReadonlyArray<readonly [string, Value]> {
    if (this.cachedSlots === null) {
      const f = this.fact
      this.cachedSlots = f.template.slots.map((s) => [s.name, f.fields[s.index]!] as const)
    }
    return this.cachedSlots
  }
  toJSON(): Fact {
    return { id: this.id, template: this.template, module: this.module, ordered: this.ordered, slots: this.slots, fields: this.fields }
  }
}

const view = (f: InternalFact): Fact => new FactView(f)

/** Renders a fact exactly as CLIPS prints it, e.g. `(a (x 1) (m 1 2))` or `(foo a b)`. */
export const renderFact = (fact: Fact): string => {
  if (fact.ordered) return fact.fields.length === 0 ? `(${fact.template})` : `(${fact.template} ${fact.fields.map((v) => renderValue(v)).join(" ")})`
  let out = `(${fact.template}`
  for (const [name, v] of fact.slots) {
    if (v.type === "MULTIFIELD") out += v.value.length === 0 ? ` (${name})` : ` (${name} ${v.value.map((x) => renderValue(x)).join(" ")})`
    else out += ` (${name} ${renderValue(v)})`
  }
  return out + ")"
}

