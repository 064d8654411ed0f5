/**
 * The engine: working memory, the agenda and focus stack, the run loop with CLIPS 6.30
 * semantics, watch output, and the public `Engine` API (load, reset, assert/retract/modify,
 * run, facts, agenda, snapshot/restore). The program itself (templates, rules, the Rete
 * network) is a {@link RuleBase}: an engine made by `makeEngine` owns its rule base and
 * loads into it; engines made by `compile(...).instantiate()` share one and keep only
 * their own state (facts, memories in a {@link NetworkState}, agendas, globals).
 */
import * as Either from "effect/Either"
import type { RuleError } from "../../errors.js"
import { Activation, ModuleAgenda } from "./agenda.js"
import type { Program } from "./constructs.js"
import { fail, ruleError, RuleFailure, type Pos, type Where } from "./diagnostics.js"
import { EvalError, type ActionHost, type Env, type ErrorSite, type Marker } from "./evaluation.js"
import { compileFactSpec, constantScope, defaultValue } from "./expressions.js"
import type { Module } from "./modules.js"
import { factIdentifier, padRight, renderReadable, renderValue } from "./printer.js"
import { readAll } from "./reader.js"
import { matchFact, type AlphaHost, type AlphaNode } from "./rete/alpha.js"
import { ASSERT, epmDrive, networkAssert, networkRetract, type DriveHost } from "./rete/drive.js"
import type { JoinNode, RuleRef } from "./rete/join.js"
import { Match, type AlphaBind, type PartialMatch } from "./rete/partial-match.js"
import { NetworkState } from "./rete/state.js"
import type { ActivationRef } from "./model.js"
import { callHostFunction, ConstantHost, qualified, RuleBase, type HostFunction, type Rule, type TerminalRef } from "./rulebase.js"
import { fromSnapshot, toSnapshot, type Snapshot } from "./snapshot.js"
import { impliedSlot, makeTemplate, newFact, renderFact as renderInternalFact, checkSlot, describeViolation, type Fact as InternalFact, type Template, type TemplateFacts } from "./templates.js"
import { EMPTY, equals, multifield, pushFlat, type Value } from "./values.js"

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

/** Options of {@link compile}. */
export interface CompileOptions {
  /**
   * Host functions the rules may call. Names only: each engine registers its own
   * implementation with `registerFunction`. Or name to implementation: the default for
   * every engine instantiated (an engine's `registerFunction` replaces it for that engine).
   */
  readonly functions?: ReadonlyArray<string> | Readonly<Record<string, (args: ReadonlyArray<Value>) => Value>>
}

/**
 * A program compiled once (parsed constructs checked, rules built into a Rete network),
 * from which engines are made cheaply. The network is immutable and shared by every
 * engine instantiated from it; each engine has its own working memory, agenda, focus
 * stack, globals, output and host-function registrations.
 */
export interface CompiledProgram {
  /**
   * A new engine over this program, as `makeEngine()` followed by `load` of the same
   * programs would give (call `reset()` to start). Costs a few microseconds whatever the
   * number of rules: nothing per rule is allocated until facts reach it. Loading more
   * constructs into the engine later is allowed and gives it a private copy of the program.
   */
  instantiate(options?: EngineOptions): Engine
  /** The names of the defined rules (module-qualified when not in MAIN). */
  rules(): ReadonlyArray<string>
}

/** A rule engine instance. */
export interface Engine {
  /** Adds the constructs of a program (may be called several times), all or nothing. */
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
  /** The types each slot of a template allows (`SYMBOL`, `STRING`, …; empty: any), or undefined for no such template. */
  slotTypes(template: string): ReadonlyMap<string, ReadonlyArray<string>> | undefined
  /** A fact by index. */
  fact(factId: number): Fact | undefined
  /** Pending activations in firing order (across the focus stack, then other modules). */
  agenda(): ReadonlyArray<AgendaEntry>
  /**
   * Registers (or replaces) a host function callable from rules, for this engine only. Rules
   * loaded afterwards may call it; rules already loaded that call it use the new one.
   */
  registerFunction(name: string, fn: (args: ReadonlyArray<Value>) => Value): void
  /** Text printed by printout and watch since the last call (then cleared). */
  output(): string
  /**
   * The rule conditions that failed to evaluate since the last call (then cleared): CLIPS
   * prints each and treats the condition as not matched; a host that must not route on a
   * silently failed condition reads them here.
   */
  conditionErrors(): ReadonlyArray<RuleError>
  /** Turns a watch item on or off. */
  watch(what: WatchItem, on: boolean): void
  /** A JSON-serializable snapshot of working memory, the focus stack and the agenda. */
  snapshot(): Snapshot
  /** Rebuilds working memory from a snapshot without re-firing anything. */
  restore(snapshot: Snapshot): Either.Either<void, RuleError>
  /** The names of the defined rules (module-qualified when not in MAIN). */
  rules(): ReadonlyArray<string>
}


const DEFAULT_FIRING_LIMIT = 100_000

const busyError = (): RuleError =>
  ruleError("runtime", "facts may not be asserted, retracted or loaded during pattern matching", "do not change facts from a host function used in a rule's conditions")
const NO_SITE: ErrorSite = {}

const hashValue = (v: Value, h: number): number => {
  switch (v.type) {
    case "SYMBOL":
    case "STRING": {
      // Long strings are sampled (length, first and last 16 characters): the hash only picks
      // the duplicate-index bucket, whose facts are compared in full.
      const s = v.value
      const n = s.length
      h = Math.imul(h ^ (v.type === "SYMBOL" ? 17 : 31), 16777619)
      if (n <= 32) for (let i = 0; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
      else {
        h = Math.imul(h ^ n, 16777619)
        for (let i = 0; i < 16; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
        for (let i = n - 16; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
      }
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

/** A fact's hash (computed when first needed). */
const factHash = (f: InternalFact): number => (f.hash >= 0 ? f.hash : (f.hash = hashFields(f.fields)))

/** Templates with more facts than this get a duplicate index; smaller ones are scanned. */
const DUP_INDEX_FROM = 8

const sameFields = (a: ReadonlyArray<Value>, b: ReadonlyArray<Value>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!equals(a[i]!, b[i]!)) return false
  return true
}

const addDup = (dup: Map<number, InternalFact | Array<InternalFact>>, fact: InternalFact): void => {
  const h = factHash(fact)
  const existing = dup.get(h)
  if (existing === undefined) dup.set(h, fact)
  else if (Array.isArray(existing)) existing.push(fact)
  else dup.set(h, [existing, fact])
}

/** Creates an engine with its own (empty) program; `load` adds constructs to it. */
export const makeEngine = (options: EngineOptions = {}): Engine => new EngineImpl(options, new RuleBase())

/**
 * Compiles programs once (in order, as successive `load`s would) into a program engines
 * are instantiated from. Errors are the ones `load` would report.
 *
 * @example
 * ```ts
 * const compiled = Either.getOrThrow(compile(programs, { functions: ["stargraph-case"] }))
 * const engine = compiled.instantiate()            // per run: a few µs
 * engine.registerFunction("stargraph-case", (args) => ...)
 * engine.reset()
 * ```
 */
export const compile = (programs: Program | ReadonlyArray<Program>, options: CompileOptions = {}): Either.Either<CompiledProgram, RuleError> => {
  const base = new RuleBase()
  const fns = options.functions
  if (fns !== undefined) {
    if (Array.isArray(fns)) for (const name of fns as ReadonlyArray<string>) base.declareHostFunction(name, null)
    else for (const [name, fn] of Object.entries(fns as Readonly<Record<string, HostFunction>>)) base.declareHostFunction(name, fn)
  }
  const host = new ConstantHost(base)
  for (const p of Array.isArray(programs) ? (programs as ReadonlyArray<Program>) : [programs as Program]) {
    const r = base.load(p, host)
    if (Either.isLeft(r)) return Either.left(r.left)
  }
  base.initialGlobals = host.globals
  base.shared = true
  return Either.right(new Compiled(base))
}

class Compiled implements CompiledProgram {
  constructor(private readonly base: RuleBase) {}
  instantiate(options: EngineOptions = {}): Engine {
    return new EngineImpl(options, this.base)
  }
  rules(): ReadonlyArray<string> {
    return this.base.ruleList.map((r) => qualified(r.name, r.module.name))
  }
}

/** What a rebuild keeps from the state before a load: which rules existed, which of their matches were pending. */
interface Before {
  readonly rules: ReadonlySet<string>
  readonly matches: ReadonlyMap<string, { readonly pending: boolean; readonly timetag: number }>
}

/** A fact to re-derive memories from. */
interface FactImage {
  readonly id: number
  readonly template: Template
  readonly fields: ReadonlyArray<Value>
  readonly hash: number
}

class EngineImpl implements Engine, ActionHost, AlphaHost, DriveHost {
  private readonly firingLimit: number
  /** The program: owned (makeEngine), or shared with other engines (compile). */
  private base: RuleBase
  /** Memories of the network's nodes. */
  net = new NetworkState()
  /** Facts per template, by template id. */
  private tfacts: Array<TemplateFacts | undefined> = []
  /** Agendas by module id. */
  private agendas: Array<ModuleAgenda | undefined> = []
  /** Ordered relations first used at run time while the rule base is shared (they have no patterns). */
  private extraTemplates: Map<string, Template> | null = null
  private nextExtraId = 0
  readonly globals: Map<string, Value>
  private hostFns: Map<string, HostFunction> | null = null
  readonly regexCache = new Map<string, RegExp>()
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
  /** The facts the firing rule's actions retracted (cleared after each firing). */
  private readonly retractedNow = new Map<number, InternalFact>()
  /** Rule conditions that failed to evaluate, until read by `conditionErrors`. */
  private readonly failedConditions: Array<RuleError> = []
  /** Set while a fact change is propagating through the network (host functions may not change facts then). */
  private matching = false
  private runEpoch = 0
  /** Per rule id: the run its firings were counted in, and the count (for the firing-limit message). */
  private readonly ruleEpochs: Array<number> = []
  private readonly ruleFirings: Array<number> = []
  private silent = false
  readonly markerStack: Array<Marker> = []
  readonly env: Env
  private readonly actionEnv: Env

  constructor(options: EngineOptions, base: RuleBase) {
    this.firingLimit = options.firingLimit ?? DEFAULT_FIRING_LIMIT
    this.base = base
    this.globals = new Map(base.initialGlobals)
    this.nextExtraId = base.templates.length
    this.env = { lhs: null, rhs: null, frame: [], fact: null, markers: null, host: this, returning: false, breaking: false }
    this.actionEnv = { lhs: null, rhs: null, frame: [], fact: null, markers: null, host: this, returning: false, breaking: false }
  }

  // -------------------------------------------------------------------------
  // Output and watch
  // -------------------------------------------------------------------------

  print(router: string, text: string): void {
    if (router === "nil") return
    this.out.push(text)
  }

  conditionErrors(): ReadonlyArray<RuleError> {
    return this.failedConditions.splice(0)
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
  // Per-engine state of the program's parts
  // -------------------------------------------------------------------------

  private templateFacts(t: Template): TemplateFacts {
    let tf = this.tfacts[t.id]
    if (tf === undefined) {
      tf = { first: null, last: null, count: 0, dup: null }
      this.tfacts[t.id] = tf
    }
    return tf
  }

  /**
   * Whether `fields` duplicate a fact of `tf` (CLIPS refuses duplicate facts): -2 when they
   * do, else their hash when it was computed (-1 when not).
   */
  private duplicateCheck(tf: TemplateFacts, fields: ReadonlyArray<Value>): number {
    const dup = tf.dup
    if (dup === null) {
      for (let f = tf.first; f !== null; f = f.nextOfTemplate) if (sameFields(f.fields, fields)) return -2
      return -1
    }
    const h = hashFields(fields)
    const existing = dup.get(h)
    if (existing === undefined) return h
    if (Array.isArray(existing)) {
      for (const f of existing) if (sameFields(f.fields, fields)) return -2
      return h
    }
    return sameFields(existing.fields, fields) ? -2 : h
  }

  private agendaOf(m: Module): ModuleAgenda {
    let a = this.agendas[m.id]
    if (a === undefined) {
      a = new ModuleAgenda()
      this.agendas[m.id] = a
    }
    return a
  }

  // -------------------------------------------------------------------------
  // Templates
  // -------------------------------------------------------------------------

  private findTemplate(name: string, from: Module): Template | undefined {
    return this.base.findTemplate(name, from) ?? this.extraTemplates?.get(`${from.name}::${name}`)
  }

  /** The implied template of an ordered relation used at run time (created when new). */
  private impliedTemplate(name: string, from: Module, pos: Pos, where: Where): Template {
    if (!this.base.shared) {
      const t = this.base.impliedTemplate(name, from, pos, where)
      this.templatesByName.clear()
      return t
    }
    const t = this.findTemplate(name, from)
    if (t !== undefined) {
      if (!t.implied) return fail("compile", `${name} is a deftemplate, not an ordered relation`, `use slot syntax: (${name} (slot value))`, { ...where, pos })
      return t
    }
    if (name.includes("::")) return fail("unknown-template", `unknown template ${name}`, "define it first", { ...where, pos })
    const nt = makeTemplate(this.nextExtraId++, name, from.name, true, [impliedSlot])
    ;(this.extraTemplates ??= new Map()).set(`${from.name}::${name}`, nt)
    this.templatesByName.clear()
    return nt
  }

  /** Every template: the program's and the run-time relations. */
  private allTemplates(): Array<Template> {
    const out: Array<Template> = []
    for (const m of this.base.moduleList) for (const t of m.templates.values()) out.push(t)
    if (this.extraTemplates !== null) out.push(...this.extraTemplates.values())
    return out
  }

  // -------------------------------------------------------------------------
  // Loading
  // -------------------------------------------------------------------------

  load(program: Program): Either.Either<void, RuleError> {
    if (this.matching) return Either.left(busyError())
    const live = this.factMap.size > 0 || this.hasActivations()
    const before = live ? this.captureBefore() : null
    let base = this.base
    if (base.shared) {
      // A shared program is never changed: load into a private copy (with this engine's
      // host functions and run-time relations, as if they had been created in it).
      base = base.copy()
      if (this.hostFns !== null) for (const name of this.hostFns.keys()) if (!base.hostFunctions.has(name)) base.declareHostFunction(name, null)
      if (this.extraTemplates !== null) for (const t of this.extraTemplates.values()) base.impliedTemplate(t.name, base.modules.get(t.module) ?? base.main, { line: 0, column: 0 }, {})
    }
    const loaded = base.load(program, this)
    if (Either.isLeft(loaded)) return Either.left(loaded.left)
    this.templateCache.clear()
    this.templatesByName.clear()
    if (base !== this.base) {
      // Every node is new: re-derive all memories.
      const facts = this.factImages()
      this.base = base
      this.focusStack = this.focusStack.map((m) => base.modules.get(m.name)!)
      this.extraTemplates = null
      const mapped = facts.map((f) => ({ id: f.id, template: base.modules.get(f.template.module)!.templates.get(f.template.name)!, fields: f.fields, hash: f.hash }))
      if (before !== null) this.rebuild(mapped, null, before)
      else this.clearState()
    } else if (before !== null) this.rebuild(this.factImages(), null, before)
    else {
      // Nothing to re-derive; first joins entered from alpha nodes that already have state join their active lists.
      for (const j of loaded.right) if (this.net.alphas[(j.rightSideEntry as AlphaNode).id] !== undefined) this.net.join(j)
    }
    return Either.right(undefined)
  }

  private hasActivations(): boolean {
    for (const a of this.agendas) if (a !== undefined && a.size > 0) return true
    return false
  }

  // -------------------------------------------------------------------------
  // Facts
  // -------------------------------------------------------------------------

  /** Asserts a fact with complete field values (the one path every assert goes through). */
  assertFields(template: Template, fields: ReadonlyArray<Value>, _where: ErrorSite): InternalFact | undefined {
    void _where
    const tf = this.tfacts[template.id] ?? this.templateFacts(template)
    const h = tf.count > 0 ? this.duplicateCheck(tf, fields) : -1
    if (h === -2) return undefined
    if (this.matching) throw new RuleFailure(busyError())
    const fact = newFact(this.nextFactId++, template, fields, h)
    this.index(fact, tf)
    if (this.watching.facts) this.trace(`==> ${factIdentifier(fact.id)}${renderInternalFact(fact)}\n`)
    this.matching = true
    try {
      matchFact(this, fact, template.network.first)
    } finally {
      this.matching = false
    }
    return fact
  }

  /** Adds a fact to the fact map, its template's list and the duplicate index. */
  private index(fact: InternalFact, tf: TemplateFacts): void {
    if (tf.dup !== null) addDup(tf.dup, fact)
    else if (tf.count >= DUP_INDEX_FROM) {
      const dup = new Map<number, InternalFact | Array<InternalFact>>()
      for (let f = tf.first; f !== null; f = f.nextOfTemplate) addDup(dup, f)
      addDup(dup, fact)
      tf.dup = dup
    }
    tf.count++
    this.factMap.set(fact.id, fact)
    fact.prevOfTemplate = tf.last
    fact.nextOfTemplate = null
    if (tf.last === null) tf.first = fact
    else tf.last.nextOfTemplate = fact
    tf.last = fact
  }

  private unindex(fact: InternalFact): void {
    const tf = this.tfacts[fact.template.id]!
    const dup = tf.dup
    if (dup !== null) {
      const h = factHash(fact)
      const existing = dup.get(h)
      if (existing === fact) dup.delete(h)
      else if (Array.isArray(existing)) {
        const i = existing.indexOf(fact)
        if (i >= 0) existing.splice(i, 1)
        if (existing.length === 1) dup.set(h, existing[0]!)
      }
      if (tf.count <= 1) tf.dup = null
    }
    tf.count--
    this.factMap.delete(fact.id)
    if (fact.prevOfTemplate === null) tf.first = fact.nextOfTemplate
    else fact.prevOfTemplate.nextOfTemplate = fact.nextOfTemplate
    if (fact.nextOfTemplate === null) tf.last = fact.prevOfTemplate
    else fact.nextOfTemplate.prevOfTemplate = fact.prevOfTemplate
    fact.prevOfTemplate = fact.nextOfTemplate = null
  }

  retractId(id: number): boolean {
    const fact = this.factMap.get(id)
    if (fact === undefined || this.matching) return false
    if (this.executingRule !== null) this.retractedNow.set(id, fact)
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

  retractedInFiring(id: number): InternalFact | undefined {
    return this.retractedNow.get(id)
  }

  /** Pattern-network callback: store the alpha match and feed the joins (CLIPS ProcessFactAlphaMatch). */
  alphaMatch(node: AlphaNode, fact: InternalFact, markers: ReadonlyArray<Marker> | null): void {
    let bind: AlphaBind
    if (markers === null) {
      if (fact.bind === null) fact.bind = { fact, markers: null }
      bind = fact.bind
    } else bind = { fact, markers }
    const net = this.net
    const state = net.alphas[node.id] ?? net.alpha(node)
    const pm = new Match([bind], true)
    pm.hashKey = node.rightHash === null ? 0 : node.rightHash.fn(fact, markers)
    pm.owner = state
    state.memory.append(pm)
    if (fact.matches === null) fact.matches = [pm]
    else fact.matches.push(pm)
    const savedFact = this.env.fact
    const savedMarkers = this.env.markers
    // Only the joins that can act (left unlinking; the order is the entryJoin order).
    for (let j = state.activeFirst; j !== null; j = net.nextActive(j)) networkAssert(this, pm, j)
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
    this.agendaOf(ref.rule.module).add(act)
  }

  removeActivation(activation: ActivationRef): void {
    const act = activation as Activation
    const ref = act.rule as TerminalRef
    if (this.watching.activations) this.trace(`<== Activation ${this.activationText(act)}\n`)
    this.agendaOf(ref.rule.module).remove(act)
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
    this.failedConditions.push(ruleError("runtime", `a condition of ${error.site.construct ?? "a rule"} could not be evaluated: ${error.message}`, error.fix, {
      file: error.site.file,
      pos: error.site.line !== undefined ? { line: error.site.line, column: error.site.column ?? 0 } : undefined,
      construct: error.site.construct
    }))
    this.trace(`[${error.clipsId ?? "EVAL"}] ${error.message}${error.site.construct !== undefined ? ` (in ${error.site.construct})` : ""}\n`)
  }

  focus(modules: ReadonlyArray<string>, where: ErrorSite): void {
    for (let i = modules.length - 1; i >= 0; i--) {
      const m = this.base.modules.get(modules[i]!)
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

  callHost(name: string, args: ReadonlyArray<Value>, site: ErrorSite): Value {
    return callHostFunction(name, this.hostFns?.get(name) ?? this.base.hostFunctions.get(name), args, site)
  }

  private nextActivation(): Activation | null {
    if (this.focusStack.length === 0) this.pushFocus(this.base.main)
    let act = this.agendaOf(this.focusStack[this.focusStack.length - 1]!).top()
    while (act === null && this.focusStack.length > 0) {
      this.popFocus()
      if (this.focusStack.length > 0) act = this.agendaOf(this.focusStack[this.focusStack.length - 1]!).top()
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
          const top = this.base.ruleList
            .filter((r) => this.ruleEpochs[r.id] === epoch)
            .map((r): [Rule, number] => [r, this.ruleFirings[r.id]!])
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
        this.agendaOf(rule.module).remove(act)
        const pm = act.basis
        pm.activation = null
        fired++
        if (this.ruleEpochs[rule.id] !== epoch) {
          this.ruleEpochs[rule.id] = epoch
          this.ruleFirings[rule.id] = 1
        } else this.ruleFirings[rule.id]!++
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
          this.retractedNow.clear()
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

  /** Empties working memory, every memory and the agenda (the network itself stays). */
  private clearState(): void {
    for (const f of this.factMap.values()) {
      f.garbage = true
      f.matches = null
    }
    this.factMap.clear()
    for (const a of this.agendas) a?.clear()
    this.net = new NetworkState()
    this.tfacts = []
  }

  /** Primes the pattern-less and not-first joins, newest first (CLIPS ResetDefrulesPrime). */
  private primeJoins(): void {
    const roots = this.base.roots
    for (let k = roots.rightPrimeJoins.length - 1; k >= 0; k--) {
      const js = this.net.join(roots.rightPrimeJoins[k]!.join)
      networkAssert(this, js.emptyRight!, js)
    }
    for (let k = roots.leftPrimeJoins.length - 1; k >= 0; k--) {
      const j = roots.leftPrimeJoins[k]!.join
      if ((j.patternIsNegated || j.joinFromTheRight) && !j.patternIsExists) {
        const js = this.net.join(j)
        const notParent = js.emptyLeft!
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
        epmDrive(this, notParent, js, ASSERT)
      }
    }
  }

  reset(): void {
    if (this.watching.facts) for (const f of this.factMap.values()) this.trace(`<== ${factIdentifier(f.id)}${renderInternalFact(f)}\n`)
    this.clearState()
    this.focusStack = []
    this.nextFactId = 0
    this.halted = false
    for (const g of this.base.globalDefs) {
      try {
        this.globals.set(g.name, g.expr.fn(this.actionEnv))
      } catch {
        /* keep the old value */
      }
    }
    this.pushFocus(this.base.main)
    this.primeJoins()
    this.assertFields(this.base.templates[0]!, [EMPTY], {})
    for (const d of this.base.deffacts) {
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
  // Rebuilding memories (load with facts, restore)
  // -------------------------------------------------------------------------

  private matchKey(rule: string, pm: PartialMatch): string {
    let s = `${rule}|`
    const binds = pm.binds
    for (let k = 0; k < binds.length; k++) {
      const b = binds[k]!
      if (k > 0) s += ","
      if (b === null) s += "*"
      else if (b.markers === null) s += b.fact.id
      else s += `${b.fact.id}[${b.markers.map((m) => `${m.slot}.${m.element}:${m.start}-${m.end}`).join(";")}]`
    }
    return s
  }

  /** The facts in index order, as rebuild takes them. */
  private factImages(): Array<FactImage> {
    return [...this.factMap.values()].sort((a, b) => a.id - b.id)
  }

  /** Which rules exist and which of their matches are pending (fired ones are the others). */
  private captureBefore(): Before {
    const rules = new Set<string>()
    const matches = new Map<string, { pending: boolean; timetag: number }>()
    for (const rule of this.base.ruleList) {
      for (const d of rule.disjuncts) {
        rules.add(d.ref.key)
        const s = this.net.joins[d.terminal!.id]
        if (s === undefined || s.left === null) continue
        for (const pm of s.left.all()) matches.set(this.matchKey(d.ref.key, pm), { pending: pm.activation !== null, timetag: (pm.activation as Activation | null)?.timetag ?? -1 })
      }
    }
    return { rules, matches }
  }

  /**
   * Re-derives every memory from `facts` (in index order) without firing or printing.
   * Afterwards only the activations in `pending` (keys in agenda order) stay on the agenda;
   * when `pending` is null, previously pending activations keep their order, previously
   * fired matches stay fired, and matches of rules that did not exist before become new
   * activations (`before` says which).
   */
  private rebuild(facts: ReadonlyArray<FactImage>, pending: ReadonlyArray<string> | null, before: Before | null): void {
    const focus = this.focusStack
    this.clearState()
    const silent = this.silent
    this.silent = true
    const watchAct = this.watching.activations
    this.watching.activations = false
    const startTag = this.timetag
    try {
      this.primeJoins()
      for (const f of facts) {
        const nf = newFact(f.id, f.template, f.fields, f.hash)
        this.index(nf, this.templateFacts(nf.template))
        this.matching = true
        try {
          matchFact(this, nf, nf.template.network.first)
        } finally {
          this.matching = false
        }
      }
    } finally {
      this.silent = silent
      this.watching.activations = watchAct
    }
    this.focusStack = focus
    // Decide which activations survive, and in which order.
    const all: Array<{ act: Activation; key: string }> = []
    for (const agenda of this.agendas) if (agenda !== undefined) for (const a of agenda.list()) all.push({ act: a, key: this.matchKey((a.rule as TerminalRef).key, a.basis) })
    for (const { act } of all) {
      this.agendaOf((act.rule as TerminalRef).rule.module).remove(act)
      act.basis.activation = null
    }
    let keep: Array<{ act: Activation; key: string; tag: number }>
    if (pending !== null) {
      const order = new Map(pending.map((k, i) => [k, i]))
      keep = []
      for (const x of all) {
        const i = order.get(x.key)
        if (i !== undefined) keep.push({ ...x, tag: pending.length - i })
      }
    } else {
      keep = []
      for (const x of all) {
        if (before !== null && before.rules.has((x.act.rule as TerminalRef).key)) {
          const b = before.matches.get(x.key)
          if (b !== undefined && b.pending) keep.push({ ...x, tag: b.timetag })
        } else keep.push({ ...x, tag: startTag + 1_000_000 + x.act.timetag })
      }
    }
    keep.sort((a, b) => a.tag - b.tag)
    for (const x of keep) {
      const act = new Activation(x.act.rule, x.act.basis, x.act.salience, this.timetag++)
      x.act.basis.activation = act
      this.agendaOf((x.act.rule as TerminalRef).rule.module).add(act)
    }
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
    const t = this.findTemplate(name, this.base.main) ?? this.allTemplates().find((x) => x.name === name)
    if (t !== undefined && !t.implied) {
      this.templateCache.set(name, t)
      return t
    }
    return fail("unknown-template", `unknown template ${name}`, "load a program with (deftemplate " + name + " ...) first, or check the spelling")
  }

  private checkedFields(t: Template, slots: Readonly<Record<string, Value>>): Array<Value> {
    const ts = t.slots
    const out: Array<Value> = new Array<Value>(ts.length)
    // One pass over the given slots (reading `slots[k]` inside for-in is fast; lookups by slot name are not).
    let unknown: string | null = null
    for (const k in slots) {
      const v = slots[k]
      if (v === undefined) continue
      const idx = t.slotIndex.get(k)
      if (idx === undefined) unknown ??= k
      else out[idx] = v
    }
    for (let i = 0; i < ts.length; i++) {
      const s = ts[i]!
      const given = out[i]
      if (given === undefined) {
        if (s.default.kind === "none") return fail("compile", `slot ${s.name} of ${t.name} requires a value (default ?NONE)`, `give a value for ${s.name}`)
        out[i] = defaultValue(s, this.actionEnv)
        continue
      }
      const v = s.multi ? (given.type !== "MULTIFIELD" ? multifield([given]) : given) : given
      if (!t.unconstrained[i] || (!s.multi && v.type === "MULTIFIELD")) {
        const why = checkSlot(s, v)
        if (why !== null) fail("type", describeViolation(t, s, v, why), "use a value the slot's type and allowed values accept")
      }
      out[i] = v
    }
    if (unknown !== null) fail("compile", `template ${t.name} has no slot ${unknown}`, `use one of: ${ts.map((s) => s.name).join(", ") || "(no slots)"}`)
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
      const t = this.impliedTemplate(relation, this.base.main, { line: 0, column: 0 }, {})
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
      const main = this.base.main
      const scope = constantScope({
        ...this.base.baseScope(main, undefined, "assert-string", this),
        template: (name) => this.findTemplate(name, main),
        impliedTemplate: (name, pos) => this.impliedTemplate(name, main, pos, { construct: "assert-string" })
      })
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
    return this.factImages().map((f) => view(f as InternalFact))
  }

  slotTypes(template: string): ReadonlyMap<string, ReadonlyArray<string>> | undefined {
    const t = this.findTemplate(template, this.base.main) ?? this.allTemplates().find((x) => x.name === template)
    return t === undefined || t.implied ? undefined : new Map(t.slots.map((slot) => [slot.name, slot.constraint.typeNames]))
  }

  factsOf(template: string): ReadonlyArray<Fact> {
    let ts = this.templatesByName.get(template)
    if (ts === undefined) {
      ts = this.allTemplates().filter((t) => t.name === template || qualified(t.name, t.module) === template)
      this.templatesByName.set(template, ts)
    }
    const out: Array<Fact> = []
    for (const t of ts) {
      const tf = this.tfacts[t.id]
      if (tf !== undefined) for (let f = tf.first; f !== null; f = f.nextOfTemplate) out.push(view(f))
    }
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
    ;(this.hostFns ??= new Map()).set(name, fn)
    if (!this.base.shared) this.base.declareHostFunction(name, null)
  }

  rules(): ReadonlyArray<string> {
    return this.base.ruleList.map((r) => qualified(r.name, r.module.name))
  }

  snapshot(): Snapshot {
    const facts: Array<InternalFact> = []
    let sorted = true
    for (const f of this.factMap.values()) {
      if (facts.length > 0 && facts[facts.length - 1]!.id > f.id) sorted = false
      facts.push(f)
    }
    if (!sorted) facts.sort((a, b) => a.id - b.id)
    const focus: Array<string> = []
    for (let i = this.focusStack.length - 1; i >= 0; i--) focus.push(this.focusStack[i]!.name)
    return toSnapshot({
      facts,
      nextFactId: this.nextFactId,
      focus,
      agenda: this.agendaActivations().map((a) => {
        const ref = a.rule as TerminalRef
        return {
          rule: qualified(ref.name, ref.module),
          salience: a.salience,
          factIds: a.basis.binds.map((b) => (b === null ? null : b.fact.id)),
          key: this.matchKey(ref.key, a.basis)
        }
      }),
      globals: this.globals
    })
  }

  /** Activations in firing order: the focus stack top first, then the other modules. */
  private agendaActivations(): Array<Activation> {
    const order: Array<Module> = [...this.focusStack].reverse()
    for (const m of this.base.moduleList) if (!order.includes(m)) order.push(m)
    const out: Array<Activation> = []
    for (const m of order) {
      const a = this.agendas[m.id]
      if (a !== undefined && a.size > 0) out.push(...a.list())
    }
    return out
  }

  restore(snapshot: Snapshot): Either.Either<void, RuleError> {
    return this.wrap(() => {
      const base = this.base
      const decoded = fromSnapshot(snapshot, (name, module) => {
        const m = module === undefined ? base.main : base.modules.get(module)
        if (m === undefined) return undefined
        return m.templates.get(name) ?? this.findTemplate(name, m) ?? (name === "initial-fact" ? base.templates[0] : undefined)
      }, (name, module) => {
        const m = module === undefined ? base.main : base.modules.get(module) ?? base.main
        return this.impliedTemplate(name, m, { line: 0, column: 0 }, {})
      })
      const facts: Array<FactImage> = decoded.facts.map((f) => ({ id: f.id, template: f.template, fields: f.fields, hash: -1 }))
      facts.sort((a, b) => a.id - b.id)
      this.nextFactId = decoded.nextFactId
      this.focusStack = []
      for (let i = decoded.focus.length - 1; i >= 0; i--) {
        const m = base.modules.get(decoded.focus[i]!)
        if (m !== undefined) this.focusStack.push(m)
      }
      for (const [k, v] of decoded.globals) this.globals.set(k, v)
      this.rebuild(facts, decoded.pending, null)
      this.halted = false
    })
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

const renderWith = (fact: Fact, value: (v: Value) => string): string => {
  if (fact.ordered) return fact.fields.length === 0 ? `(${fact.template})` : `(${fact.template} ${fact.fields.map(value).join(" ")})`
  let out = `(${fact.template}`
  for (const [name, v] of fact.slots) {
    if (v.type === "MULTIFIELD") out += v.value.length === 0 ? ` (${name})` : ` (${name} ${v.value.map(value).join(" ")})`
    else out += ` (${name} ${value(v)})`
  }
  return out + ")"
}

/**
 * Renders a fact exactly as CLIPS's `(facts)` prints it, e.g. `(a (x 1) (m 1 2))` or
 * `(foo a b)` (strings unescaped: `(a (x "say "hi""))`).
 */
export const renderFact = (fact: Fact): string => renderWith(fact, renderValue)

/**
 * Renders a fact as CLIPS source that reads back as the same fact: {@link renderFact}
 * with strings escaped (`(a (x "say \"hi\""))`), as `save-facts` writes them.
 */
export const renderFactReadable = (fact: Fact): string => renderWith(fact, renderReadable)

