/**
 * A compiled program (a rule base): modules and templates, rules with their compiled
 * actions, deffacts, deffunctions, global definitions, callable functions, and the Rete
 * network built from the rules. It holds no working memory: engines keep their own facts,
 * memories (rete/state.ts), agendas and global values, so several engines can share one
 * rule base (`compile(...).instantiate()`).
 *
 * Loading a program is all or nothing: its constructs are compiled in order while a
 * journal records every change to the rule base, a failing construct undoes them all, and
 * only once every construct compiled are its rules placed in the network (placing cannot
 * fail). Every step is linear in the size of the program: node and join sharing are found
 * through indexes (rete/alpha.ts, rete/join.ts).
 */
import * as Either from "effect/Either"
import type { RuleError } from "../../errors.js"
import type { Construct, DefruleConstruct, Program, SlotAttributes, SlotType } from "./constructs.js"
import { fail, RuleFailure, type Pos, type Where } from "./diagnostics.js"
import { EvalError, type ActionHost, type Compiled, type ErrorSite } from "./evaluation.js"
import { atomValue, compileExpr, compileFactSpec, constantScope, withVariables, type BaseScope, type CompiledExpr, type DeffunctionRef, type FactMaker, type Scope } from "./expressions.js"
import { builtinFunctions, type FunctionDef } from "./functions.js"
import { Module, visibleTemplate } from "./modules.js"
import type { SAtom } from "./reader.js"
import { emptyRoots, type JoinNode, type JoinRoots, type RuleRef } from "./rete/join.js"
import { compileLhs, readVar, type DisjunctPlan } from "./rete/lhs.js"
import { buildDisjunct } from "./rete/network.js"
import type { PartialMatch } from "./rete/partial-match.js"
import { checkSlot, describeViolation, impliedSlot, makeTemplate, type Constraint, type Fact, type Slot, type SlotDefault, type Template } from "./templates.js"
import { FALSE, multifield, NIL, pushFlat, type Value } from "./values.js"

/** A host function callable from rules. */
export type HostFunction = (args: ReadonlyArray<Value>) => Value

/** One alternative of a rule (rules with `or` have several). */
export interface Disjunct {
  /** The compiled LHS (dropped once the rule is placed in the network). */
  plan: DisjunctPlan | null
  readonly ref: TerminalRef
  /** The join that activates the rule (set when the rule is placed in the network). */
  terminal: JoinNode | null
  /** Copies the LHS variables the actions use into the frame. */
  readonly extract: ReadonlyArray<{ slot: number; read: (pm: PartialMatch) => Value }>
}

/** A compiled rule. */
export interface Rule {
  /** Index in the rule base's rule list. */
  readonly id: number
  readonly name: string
  readonly module: Module
  readonly salience: number
  readonly autoFocus: boolean
  readonly disjuncts: Array<Disjunct>
  readonly actions: Compiled
  readonly frameSize: number
  readonly pos: Pos
  readonly file: string | undefined
}

/** The rule reference stored on terminal joins. */
export interface TerminalRef extends RuleRef {
  readonly rule: Rule
  readonly disjunct: number
  /** The identity of the disjunct in match keys (`or` alternatives can match the same facts). */
  readonly key: string
}

/** A compiled deffacts. */
export interface Deffacts {
  readonly name: string
  readonly module: Module
  readonly makers: ReadonlyArray<FactMaker>
}

/**
 * A rule's actions in sequence (stopping at `return`). Made here rather than in `loadRule`
 * so the closure keeps only the actions alive, not the compile scopes.
 */
const runActions = (actions: ReadonlyArray<Compiled>): Compiled => (env) => {
  let last: Value = FALSE
  for (let k = 0; k < actions.length; k++) {
    last = actions[k]!(env)
    if (env.returning) break
  }
  return last
}

const noBind = (): null => null

/** Resolves variables to frame slots (rule actions, deffunction bodies). */
const frameResolver =
  (slots: ReadonlyMap<string, number>): Scope["resolve"] =>
  (name) => {
    const s = slots.get(name)
    if (s === undefined) return null
    return { key: `v${s}`, fn: (env) => env.frame[s]! }
  }

/** Finds or adds the frame slot of a local variable (`bind`). */
const frameBinder =
  (slots: Map<string, number>): Scope["bindLocal"] =>
  (name) => {
    let s = slots.get(name)
    if (s === undefined) {
      s = slots.size
      slots.set(name, s)
    }
    return s
  }

/** A module-qualified name (`A::r`), or the bare name in MAIN. */
export const qualified = (name: string, module: string): string => (module === "MAIN" ? name : `${module}::${name}`)

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

/** The function definition of a host function: calls whatever the evaluating engine registered. */
const hostFunctionDef = (name: string): FunctionDef => ({
  name,
  min: 0,
  max: Infinity,
  impl: (args, env, site) => env.host.callHost(name, args, site)
})

/** Calls a host function and checks what it returned (shared by engines and {@link ConstantHost}). */
export const callHostFunction = (name: string, fn: HostFunction | null | undefined, args: ReadonlyArray<Value>, site: ErrorSite): Value => {
  if (fn === undefined || fn === null) throw new EvalError(`host function ${name} is not registered in this engine`, `register it with engine.registerFunction("${name}", ...)`, site)
  let v: Value
  try {
    v = fn(args)
  } catch (e) {
    throw new EvalError(`host function ${name} failed: ${e instanceof Error ? e.message : String(e)}`, "fix the host function or its arguments", site)
  }
  if (v === undefined || v === null || typeof v !== "object" || !("type" in v)) {
    throw new EvalError(`host function ${name} returned a non-CLIPS value`, "return a Value such as TRUE/FALSE symbols", site)
  }
  return v
}

/**
 * The evaluation host of a program compiled without an engine (`compile`): global values
 * and constant expressions only; facts cannot be changed.
 */
export class ConstantHost implements ActionHost {
  readonly globals = new Map<string, Value>()
  readonly regexCache = new Map<string, RegExp>()
  readonly currentRuleModule = undefined
  constructor(private readonly base: RuleBase) {}
  assertFields(_template: Template, _fields: ReadonlyArray<Value>, where: ErrorSite): Fact | undefined {
    throw new EvalError("facts cannot be asserted while a program is compiled", "assert facts from rules or deffacts", where)
  }
  retractId(): boolean {
    return false
  }
  factById(): Fact | undefined {
    return undefined
  }
  retractedInFiring(): Fact | undefined {
    return undefined
  }
  print(): void {}
  halt(): void {}
  focus(): void {}
  ruleReturned(): void {}
  callHost(name: string, args: ReadonlyArray<Value>, site: ErrorSite): Value {
    return callHostFunction(name, this.base.hostFunctions.get(name), args, site)
  }
}

/** A compiled program and its network (see the file comment). */
export class RuleBase {
  readonly modules = new Map<string, Module>()
  /** Modules by id. */
  readonly moduleList: Array<Module> = []
  readonly main: Module
  readonly rulesByName = new Map<string, Rule>()
  readonly ruleList: Array<Rule> = []
  readonly deffacts: Array<Deffacts> = []
  readonly deffunctions = new Map<string, DeffunctionRef>()
  readonly globalDefs: Array<{ name: string; expr: CompiledExpr }> = []
  readonly functions: Map<string, FunctionDef> = builtinFunctions()
  /** Host functions rules may call, with the implementation engines use when they register none. */
  readonly hostFunctions = new Map<string, HostFunction | null>()
  /** Templates by id. */
  readonly templates: Array<Template> = []
  readonly roots: JoinRoots = emptyRoots()
  /** The programs loaded, in order. */
  readonly programs: Array<Program> = []
  /** Global values after compiling (engines instantiated from a shared base start with them). */
  initialGlobals: ReadonlyMap<string, Value> = new Map()
  /** True once engines share this rule base: nothing may be loaded into it any more. */
  shared = false
  private current: Module
  /** Undo actions of the program being loaded. */
  private journal: Array<() => void> = []
  /** Rules of the program being loaded, placed in the network once all its constructs compiled. */
  private pendingRules: Array<Rule> = []
  /** Evaluates constant expressions during a load (the loading engine, or a {@link ConstantHost}). */
  private host: ActionHost | null = null

  constructor() {
    this.main = new Module("MAIN", 0)
    this.modules.set("MAIN", this.main)
    this.moduleList.push(this.main)
    this.current = this.main
    const initial = makeTemplate(0, "initial-fact", "MAIN", true, [impliedSlot])
    this.templates.push(initial)
    this.main.templates.set("initial-fact", initial)
  }

  /** Makes `name` callable from rules loaded afterwards; `fn` is the default implementation (null: none). */
  declareHostFunction(name: string, fn: HostFunction | null): void {
    if (!this.hostFunctions.has(name) || fn !== null) this.hostFunctions.set(name, fn)
    this.functions.set(name, hostFunctionDef(name))
  }

  /** A rule base with the same programs and host functions, not shared (for an engine that loads more into a shared one). */
  copy(): RuleBase {
    const base = new RuleBase()
    for (const [name, fn] of this.hostFunctions) base.declareHostFunction(name, fn)
    const host = new ConstantHost(base)
    for (const p of this.programs) {
      const r = base.load(p, host)
      if (Either.isLeft(r)) throw new Error(`internal: a program that compiled before failed to compile again: ${r.left.message}`)
    }
    return base
  }

  // -------------------------------------------------------------------------
  // Journal
  // -------------------------------------------------------------------------

  private setIn<K, V>(map: Map<K, V>, key: K, value: V): void {
    const had = map.has(key)
    const old = map.get(key)
    map.set(key, value)
    this.journal.push(() => {
      if (had) map.set(key, old as V)
      else map.delete(key)
    })
  }

  // -------------------------------------------------------------------------
  // Templates and scopes
  // -------------------------------------------------------------------------

  /** The template `name` visible from module `from`. */
  findTemplate(name: string, from: Module = this.current): Template | undefined {
    return visibleTemplate(this.modules, from, name)
  }

  /** A new template with the next id (registered in its module by the caller). */
  private newTemplate(name: string, module: string, implied: boolean, slots: ReadonlyArray<Slot>): Template {
    const t = makeTemplate(this.templates.length, name, module, implied, slots)
    this.templates.push(t)
    return t
  }

  /** The implied (ordered) template of relation `name` visible from `from`, created in `from` if there is none. */
  impliedTemplate(name: string, from: Module, pos: Pos, where: Where): Template {
    const t = this.findTemplate(name, from)
    if (t !== undefined) {
      if (!t.implied) return fail("compile", `${name} is a deftemplate, not an ordered relation`, `use slot syntax: (${name} (slot value))`, { ...where, pos })
      return t
    }
    if (name.includes("::")) return fail("unknown-template", `unknown template ${name}`, "define it first", { ...where, pos })
    const nt = this.newTemplate(name, from.name, true, [impliedSlot])
    from.templates.set(name, nt)
    return nt
  }

  /** The compile scope of a construct (without variables). */
  baseScope(module: Module, file: string | undefined, construct: string, host: ActionHost): BaseScope {
    return {
      site: { file, construct },
      functions: this.functions,
      deffunctions: this.deffunctions,
      template: (name) => this.findTemplate(name, module),
      impliedTemplate: (name, pos) => this.impliedTemplate(name, module, pos, { file, construct }),
      moduleExists: (name) => this.modules.has(name),
      globalExists: (name) => host.globals.has(name) || this.globalDefs.some((g) => g.name === name)
    }
  }

  // -------------------------------------------------------------------------
  // Loading
  // -------------------------------------------------------------------------

  /**
   * Adds a program's constructs, all or nothing; `host` evaluates constant expressions
   * (defglobal values, static defaults). Returns the first joins the new rules created
   * that are entered from an alpha node (an engine with state links them; see state.ts).
   */
  load(program: Program, host: ActionHost): Either.Either<ReadonlyArray<JoinNode>, RuleError> {
    if (this.shared) throw new Error("internal: a shared rule base cannot be changed")
    this.host = host
    this.journal = []
    this.pendingRules = []
    this.current = this.main
    // Rules, templates, deffacts and modules are only ever added: undone by truncating.
    const rules = this.ruleList.length
    const templates = this.templates.length
    const deffacts = this.deffacts.length
    const modules = this.moduleList.length
    try {
      for (const c of program.constructs) this.loadConstruct(c, program.file)
    } catch (e) {
      for (let k = this.journal.length - 1; k >= 0; k--) this.journal[k]!()
      for (const r of this.ruleList.splice(rules)) this.rulesByName.delete(qualified(r.name, r.module.name))
      for (const t of this.templates.splice(templates)) this.modules.get(t.module)?.templates.delete(t.name)
      for (const m of this.moduleList.splice(modules)) this.modules.delete(m.name)
      this.deffacts.length = deffacts
      this.pendingRules = []
      if (e instanceof RuleFailure) return Either.left(e.error)
      throw e
    } finally {
      this.journal = []
      this.current = this.main
      this.host = null
    }
    // Place the rules, in definition order.
    const entered: Array<JoinNode> = []
    for (const rule of this.pendingRules) {
      for (const d of rule.disjuncts) {
        const built = buildDisjunct(this.roots, d.plan!.steps, d.ref)
        d.terminal = built.terminal
        d.plan = null
        for (const j of built.created) if (j.firstJoin && j.rightSideEntry !== null && "isAlphaNode" in j.rightSideEntry) entered.push(j)
      }
    }
    this.pendingRules = []
    this.programs.push(program)
    return Either.right(entered)
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
    const host = this.host!
    switch (c.kind) {
      case "defmodule": {
        const where: Where = { file, pos: c.pos, construct: `defmodule ${c.name}` }
        let m = this.modules.get(c.name)
        if (m === undefined) {
          m = new Module(c.name, this.moduleList.length)
          this.modules.set(c.name, m)
          this.moduleList.push(m)
        } else if (c.name !== "MAIN") fail("compile", `module ${c.name} is already defined`, "define each module once", where)
        for (const imp of c.imports) {
          if (imp.module !== undefined && !this.modules.has(imp.module)) fail("compile", `module ${c.name} imports from unknown module ${imp.module}`, `define (defmodule ${imp.module}) before it`, where)
        }
        const mod = m
        const { imports, exports } = mod
        this.journal.push(() => {
          mod.imports = imports
          mod.exports = exports
        })
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
        const scope = constantScope(this.baseScope(module, file, `deffacts ${local}`, host))
        const makers = c.facts.map((f) => compileFactSpec(f, scope))
        this.deffacts.push({ name: local, module, makers })
        return
      }
      case "deffunction":
        return this.loadDeffunction(c, file)
      case "defglobal": {
        for (const g of c.globals) {
          const scope = constantScope(this.baseScope(this.current, file, `defglobal ?*${g.name}*`, host))
          const expr = compileExpr(g.expr, scope)
          const before = [...this.globalDefs]
          const existing = this.globalDefs.findIndex((x) => x.name === g.name)
          if (existing >= 0) this.globalDefs.splice(existing, 1)
          this.globalDefs.push({ name: g.name, expr })
          this.journal.push(() => {
            this.globalDefs.length = 0
            this.globalDefs.push(...before)
          })
          this.setIn(host.globals, g.name, this.evalConstant(expr, { file, line: g.pos.line, column: g.pos.column, construct: `defglobal ?*${g.name}*` }))
        }
        return
      }
      case "defrule":
        return this.loadRule(c, file)
    }
  }

  private evalConstant(expr: CompiledExpr, site: ErrorSite): Value {
    try {
      return expr.fn({ lhs: null, rhs: null, frame: [], fact: null, markers: null, host: this.host!, returning: false, breaking: false })
    } catch (e) {
      if (e instanceof EvalError) return fail("runtime", e.message, e.fix, { file: site.file, pos: site.line !== undefined ? { line: site.line, column: site.column ?? 0 } : undefined, construct: site.construct })
      throw e
    }
  }

  private loadTemplate(c: Extract<Construct, { kind: "deftemplate" }>, file: string | undefined): void {
    const where: Where = { file, pos: c.pos, construct: `deftemplate ${c.name}` }
    const { module, local } = this.splitName(c.name, where)
    if (module.templates.has(local)) fail("compile", `template ${local} is already defined`, "define each template once (or rename it)", where)
    const scope = constantScope(this.baseScope(module, file, `deftemplate ${local}`, this.host!))
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
          def = { kind: "dynamic", eval: (env) => combine(exprs.map((e) => e.fn(env))) }
          break
        }
      }
      return { name: s.name, index, multi: s.multi, constraint, default: def }
    })
    module.templates.set(local, this.newTemplate(local, module.name, false, slots))
  }

  private loadDeffunction(c: Extract<Construct, { kind: "deffunction" }>, file: string | undefined): void {
    const where: Where = { file, pos: c.pos, construct: `deffunction ${c.name}` }
    // `(deffunction MOD::f ...)`, as CLIPS takes it: defined in MOD (which becomes the
    // current module), called as `(f ...)` or `(MOD::f ...)`.
    const { module, local } = this.splitName(c.name, where)
    if (this.functions.has(local)) fail("compile", `deffunction ${local} would redefine a built-in function`, "choose another name", where)
    const existing = this.deffunctions.get(local)
    if (existing !== undefined && existing.module !== module.name) {
      fail("compile", `deffunction ${local} is already defined in module ${existing.module ?? "MAIN"}`, "give it another name: deffunctions of different modules may not share a name here", where)
    }
    const ref: DeffunctionRef = { name: local, module: module.name, params: c.params.length, rest: c.rest !== undefined, body: null, frameSize: 0 }
    this.setIn(this.deffunctions, local, ref)
    this.setIn(this.deffunctions, `${module.name}::${local}`, ref)
    const slots = new Map<string, number>()
    c.params.forEach((p, i) => slots.set(p, i))
    if (c.rest !== undefined) slots.set(c.rest, c.params.length)
    const scope = withVariables(this.baseScope(module, file, `deffunction ${local}`, this.host!), true, frameResolver(slots), frameBinder(slots))
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
  }

  private loadRule(c: DefruleConstruct, file: string | undefined): void {
    const where: Where = { file, pos: c.pos, construct: `defrule ${c.name}` }
    const { module, local } = this.splitName(c.name, where)
    const full = qualified(local, module.name)
    if (this.rulesByName.has(full)) fail("compile", `rule ${full} is already defined`, "give each rule a unique name", where)
    const construct = `defrule ${local}`
    const base = this.baseScope(module, file, construct, this.host!)
    const plans = compileLhs(
      {
        file,
        construct,
        template: (name) => this.findTemplate(name, module),
        impliedTemplate: (name, pos) => this.impliedTemplate(name, module, pos, { file, construct }),
        exprScope: (resolve) => withVariables(base, false, resolve, noBind)
      },
      c.lhs
    )
    // Variables usable on the RHS: those bound in every disjunct.
    const common: Array<string> = []
    for (const v of plans[0]!.vars.keys()) if (plans.length === 1 || plans.every((p) => p.vars.has(v))) common.push(v)
    const slots = new Map<string, number>()
    for (const v of common) slots.set(v, slots.size)
    const rhsScope = withVariables(base, true, frameResolver(slots), frameBinder(slots))
    const actions: Array<Compiled> = new Array<Compiled>(c.rhs.length)
    for (let k = 0; k < c.rhs.length; k++) actions[k] = compileExpr(c.rhs[k]!, rhsScope).fn
    const disjuncts: Array<Disjunct> = new Array<Disjunct>(plans.length)
    const rule: Rule = {
      id: this.ruleList.length,
      name: local,
      module,
      salience: c.salience,
      autoFocus: c.autoFocus,
      disjuncts,
      actions: runActions(actions),
      frameSize: slots.size,
      pos: c.pos,
      file
    }
    for (let d = 0; d < plans.length; d++) {
      const plan = plans[d]!
      const ref: TerminalRef = { name: local, salience: c.salience, module: module.name, autoFocus: c.autoFocus, rule, disjunct: d, key: plans.length > 1 ? `${full}#${d}` : full }
      const extract: Array<{ slot: number; read: (pm: PartialMatch) => Value }> = []
      for (const v of common) extract.push({ slot: slots.get(v)!, read: readVar(plan.vars.get(v)!) })
      disjuncts[d] = { plan, ref, terminal: null, extract }
    }
    this.rulesByName.set(full, rule)
    this.ruleList.push(rule)
    this.pendingRules.push(rule)
  }
}

