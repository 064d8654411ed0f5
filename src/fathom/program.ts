/**
 * A graph's rule program: everything the rule engine runs for it, compiled once per
 * graph. In order: Stargraph's own templates (`node-id`, `stargraph_action`,
 * `stargraph.evidence`, `stargraph-route`), the mounted governance packs, one template
 * per mirrored state field, the graph's `edges:` compiled to rules, and its `rules:`.
 *
 * Edges are authoring sugar over the same mechanism: each node's outgoing edges become
 * rules that assert one routing action after it runs — a static edge a `goto` (several
 * targets a `parallel` fan-out), each case of a conditional edge a rule whose `test`
 * evaluates the case's condition against the state (exactly one case rule fires), a
 * router a rule matching the router's `stargraph-route` fact, and a node without
 * outgoing edges a `goto __end__` (its branch ends). Join edges are kept by the run loop.
 */
import * as Either from "effect/Either"
import { type IRValidationError, RuleError } from "../errors.js"
import type { Condition } from "../ir/schema.js"
import { type IRDocument, END } from "../ir/schema.js"
import { irError, type IRSource, lineOf } from "../ir/parse.js"
import { type Action, type RuleSpec } from "../ir/rules.js"
import type { FieldInfo } from "../ir/stateSchema.js"
import type { Topology } from "../ir/topology.js"
import * as Clips from "./clips/index.js"
import { type Decision, describeDecision } from "./Decision.js"
import { timeoutMs } from "../ir/duration.js"
import type { FactSpec } from "./facts.js"
import { isSymbolText } from "./literals.js"
import type { LoadedPack } from "./packs.js"
import { compileWhen } from "./when.js"

/** Templates Stargraph asserts itself. */
export const BUILTIN_TEMPLATES = ["node-id", "stargraph_action", "stargraph.evidence", "stargraph-route", "initial-fact"] as const

/** The provenance slots of every mirrored fact (as in the original Fathom adapter). */
export const PROVENANCE_SLOTS = ["_origin", "_source", "_run_id", "_step", "_confidence", "_timestamp"] as const

/** Where a rule came from, for traces and errors. */
export interface RuleSource {
  readonly rule: string
  readonly kind: "rule" | "edge" | "pack"
  /** The IR path (`rules[2]`, `edges[0]`) or the pack id. */
  readonly origin: string
  readonly file?: string | undefined
  readonly line?: number | undefined
}

/** A mirrored state field and its fact template. */
export interface MirroredField {
  readonly field: string
  readonly template: string
  readonly type: FieldInfo["type"]
}

/** A case condition of a conditional edge, evaluated by the `stargraph-case` function. */
export interface CaseCondition {
  readonly edge: number
  readonly index: number
  readonly when: Condition
}

/** The compiled program of one graph. */
export interface RuleProgram {
  /** The programs to load, in order. */
  readonly programs: ReadonlyArray<Clips.Program>
  /** The programs compiled into one network; each run's engine is an instance of it. */
  readonly compiled: Clips.CompiledProgram
  /** The whole program as CLIPS text (what `validate --rules` prints). */
  readonly text: string
  readonly rules: ReadonlyMap<string, RuleSource>
  readonly mirrored: ReadonlyArray<MirroredField>
  /** Slots of every template the program defines (mirror and evidence facts fill only these). */
  readonly templates: ReadonlyMap<string, ReadonlyArray<string>>
  /** Conditions the `stargraph-case` host function evaluates, by `"<edge>:<case>"`. */
  readonly cases: ReadonlyMap<string, Condition>
  readonly packs: ReadonlyArray<LoadedPack>
  /** True when the graph routes by `edges:` (a node without outgoing edges ends its branch). */
  readonly edgeMode: boolean
  /** The graph's node ids, in declaration order. */
  readonly nodeIds: ReadonlyArray<string>
  /** Compiled rules' actions, by the index their `(stargraph-act <n>)` call passes. */
  readonly actions: ReadonlyArray<CompiledAction>
  /**
   * For a program whose routing depends on nothing but which node ran (no packs, no
   * mirrored fields; only the graph's compiled `edges:` and rules that match just
   * `(node-id (id X))` and decide where to go): how each node is routed, so that a session
   * can route it without running the engine (see PlannedSession.ts). A node absent from
   * the map has no rule. Undefined for any other program.
   */
  readonly routePlan?: ReadonlyMap<string, RoutePlan> | undefined
  /**
   * True when a rule matches the facts of a step's tool calls (`TOOL_FACT_TEMPLATES`):
   * the run loop then asserts them before the step is routed (otherwise nothing could see them).
   */
  readonly toolFacts: boolean
  /**
   * Likely mistakes that are still valid CLIPS: a rule pattern on an ordered fact (no
   * template) that nothing in the program asserts, e.g. a misspelt `(initail-fact)`.
   */
  readonly warnings: ReadonlyArray<string>
}

/** A compiled edge rule: its name and the index of its action. */
export interface PlannedRule {
  readonly rule: string
  readonly action: number
}

/** How one node is routed: the rules its outgoing edges compiled to, or a fixed outcome. */
export type RoutePlan =
  /**
   * Rules (edge rules and inline rules) that all match only this node's `node-id` fact and
   * only decide: their outcome depends on nothing else, so the engine works it out once.
   */
  | { readonly _tag: "fixed" }
  | { readonly _tag: "static"; readonly rule: PlannedRule }
  /** Exactly one rule fires: the first case whose condition holds, else the default. */
  | { readonly _tag: "cases"; readonly edge: number; readonly cases: ReadonlyArray<PlannedRule>; readonly default: PlannedRule }
  /** Fires on the router's `stargraph-route` fact for `edge`. */
  | { readonly _tag: "router"; readonly edge: number; readonly rule: PlannedRule }

const builtinText = `; Stargraph's templates
(deftemplate node-id "the node that just ran" (slot id))
(deftemplate stargraph_action "a routing or side-effect action asserted by a rule"
  (slot kind (type SYMBOL))
  (slot target (default ""))
  (multislot targets)
  (slot join (default ""))
  (slot strategy (default "all"))
  (slot reason (default ""))
  (slot rule_id (default ""))
  (slot backoff_ms (default 0))
  (slot prompt (default ""))
  (slot payload (default ""))
  (slot interrupt_payload (default ""))
  (slot requested_capability (default ""))
  (slot step (default 0))
  (slot timeout (default ""))
  (slot on_timeout (default "halt"))
  (slot response_field (default ""))
  (slot fact (default ""))
  (slot slots (default ""))
  (slot pattern (default "")))
(deftemplate stargraph-route "the targets a router function returned" (slot edge) (multislot targets))
`

const evidenceText = `(deftemplate stargraph.evidence "an answer to an interrupt"
  (slot run_id) (slot step) (slot node) (slot actor) (slot data) (slot text))
`

/**
 * The facts a step's `tool` calls leave for the rules routing it (the original's
 * tool-execution vocabulary, dot-mangled as it registers them): a call, its result (how
 * many fields it returned), and the tokens it reported (`_tokens.total`).
 */
export const TOOL_FACT_TEMPLATES = ["stargraph-tool-call", "stargraph-tool-result", "stargraph-tokens-used"] as const

const provenanceSlots = PROVENANCE_SLOTS.map((s) => `(slot ${s})`).join(" ")

const toolFactsText = `; facts of a step's tool calls
(deftemplate stargraph-tool-call "a tool node called its tool" (slot tool_id) (slot args_count) ${provenanceSlots})
(deftemplate stargraph-tool-result "a tool call's result" (slot tool_id) (slot fields) ${provenanceSlots})
(deftemplate stargraph-tokens-used "tokens a tool call reported" (slot tool_id) (slot total) ${provenanceSlots})
`

/**
 * A compiled rule's action: the rule, and the decision (or fact effect) it makes, built
 * once. Compiled rules hand their actions to the runtime through `(stargraph-act <n>)`
 * (no fact is asserted and retracted for them); a rule that asserts a `stargraph_action`
 * fact itself (a pack's `.clp`) is read the same way.
 */
export type CompiledAction =
  | { readonly _tag: "decision"; readonly decision: Decision }
  | { readonly _tag: "assert"; readonly rule: string; readonly fact: FactSpec; readonly text: string }
  | { readonly _tag: "retract"; readonly rule: string; readonly pattern: string }
  /** A router's fan-out: `static` targets plus those the router returned (the call's arguments). */
  | { readonly _tag: "route"; readonly rule: string; readonly static: ReadonlyArray<string> }

/** The decision (or fact effect) of an IR action of rule `rule`. */
export const compileAction = (action: Action, rule: string): CompiledAction => {
  switch (action.kind) {
    case "goto":
      return { _tag: "decision", decision: { _tag: "goto", target: action.target, rule } }
    case "halt":
      return { _tag: "decision", decision: { _tag: "halt", reason: action.reason ?? "", rule } }
    case "parallel":
      return { _tag: "decision", decision: { _tag: "parallel", targets: action.targets, join: action.join ?? "", strategy: action.strategy ?? "all", rule } }
    case "retry":
      return { _tag: "decision", decision: { _tag: "retry", target: action.target, backoff_ms: action.backoff_ms ?? 0, rule } }
    case "interrupt": {
      const timeout = action.timeout === undefined ? undefined : timeoutMs(String(action.timeout))
      return {
        _tag: "decision",
        decision: {
          _tag: "interrupt",
          prompt: action.prompt,
          payload: action.interrupt_payload ?? {},
          ...(timeout !== undefined ? { timeout_ms: timeout } : {}),
          on_timeout: action.on_timeout ?? "halt",
          ...(action.response_field !== undefined ? { response_field: action.response_field } : {}),
          ...(action.requested_capability !== undefined ? { requested_capability: action.requested_capability } : {}),
          rule
        }
      }
    }
    case "assert": {
      const slots = typeof action.slots === "string" ? (action.slots.trim() === "" ? {} : JSON.parse(action.slots) as Record<string, unknown>) : action.slots ?? {}
      const fact: FactSpec = action.fact.trim().startsWith("(") ? action.fact : { template: action.fact, slots }
      return { _tag: "assert", rule, fact, text: typeof fact === "string" ? fact : `(${fact.template}${Object.entries(slots).map(([k, v]) => ` (${k} ${JSON.stringify(v)})`).join("")})` }
    }
    case "retract":
      return { _tag: "retract", rule, pattern: action.pattern }
  }
}

/** Collects a program's compiled actions; each call site gets `(stargraph-act <n>)`. */
const actionTable = () => {
  const table: Array<CompiledAction> = []
  const call = (compiled: CompiledAction, extra = ""): string => {
    table.push(compiled)
    const note = compiled._tag === "decision" ? describeDecision(compiled.decision) : compiled._tag === "route" ? "parallel (router targets)" : `${compiled._tag} ${compiled._tag === "assert" ? compiled.text : compiled.pattern}`
    return `(stargraph-act ${table.length - 1}${extra}) ; ${note.replace(/[\r\n]+/g, " ")}\n`
  }
  return {
    table,
    /** The RHS call for an IR action of `rule`. */
    action: (action: Action, rule: string) => call(compileAction(action, rule)),
    /** One routing action for a set of edge targets: a goto, a fan-out, or the end of the branch. */
    edges: (targets: ReadonlyArray<string>, rule: string) => {
      const live = [...new Set(targets.filter((t) => t !== END))]
      return call(compileAction(
        live.length === 0
          ? { kind: "goto", target: END }
          : live.length === 1
          ? { kind: "goto", target: live[0]! }
          : { kind: "parallel", targets: live as [string, ...Array<string>] },
        rule
      ))
    },
    /** A router's fan-out: static targets and `$?targets`. */
    route: (staticTargets: ReadonlyArray<string>, rule: string) =>
      call({ _tag: "route", rule, static: staticTargets.filter((t) => t !== END) }, " $?targets")
  }
}

type ActionTable = ReturnType<typeof actionTable>

interface Piece {
  readonly text: string
  readonly file?: string | undefined
  /** Line of the piece's first line in `file`. */
  readonly line?: number | undefined
  readonly sources: ReadonlyArray<RuleSource>
}

/** The rules an IR's `edges:` compile to, one group per node. */
const edgePieces = (
  ir: IRDocument,
  topology: Topology,
  source: IRSource,
  acts: ActionTable
): { readonly pieces: Array<Piece>; readonly cases: Map<string, Condition>; readonly plan: Map<string, RoutePlan> } => {
  const pieces: Array<Piece> = []
  const cases = new Map<string, Condition>()
  const plan = new Map<string, RoutePlan>()
  const rule = (name: string): PlannedRule => ({ rule: name, action: acts.table.length - 1 })
  for (const node of ir.nodes) {
    const id = node.id
    const outgoing = topology.outgoing.get(id) ?? []
    const staticTargets = outgoing.flatMap((e) => (e._tag === "static" ? e.to : []))
    const conditional = outgoing.find((e) => e._tag === "cases" || e._tag === "router")
    const edgeIndex = ir.edges.findIndex((e) => e.from === id || (Array.isArray(e.from) && e.from.includes(id)))
    const at = { file: source.file, line: edgeIndex >= 0 ? lineOf(source, ["edges", edgeIndex]) : lineOf(source, ["nodes"]) }
    const head = `(node-id (id ${id}))`
    const rules: Array<{ readonly name: string; readonly text: string; readonly origin: string }> = []
    if (conditional?._tag === "cases") {
      const e = ir.edges.findIndex((x) => !("router" in x) && "cases" in x && x.from === id)
      const caseRules: Array<PlannedRule> = []
      conditional.cases.forEach((c, j) => {
        cases.set(`${e}:${j}`, c.when)
        const earlier = Array.from({ length: j }, (_, k) => `(test (not (stargraph-case ${e} ${k})))`).join(" ")
        const name = `edges-from-${id}-case-${j}`
        const act = acts.edges([...staticTargets, c.to], name)
        caseRules.push(rule(name))
        rules.push({ name, origin: `edges[${e}].cases[${j}]`, text: `(defrule ${name}\n  ${head} ${earlier} (test (stargraph-case ${e} ${j}))\n  =>\n  ${act})` })
      })
      const none = conditional.cases.map((_, k) => `(test (not (stargraph-case ${e} ${k})))`).join(" ")
      const name = `edges-from-${id}-default`
      const act = acts.edges([...staticTargets, ...(conditional.default !== undefined ? [conditional.default] : [])], name)
      plan.set(id, { _tag: "cases", edge: e, cases: caseRules, default: rule(name) })
      rules.push({ name, origin: `edges[${e}].default`, text: `(defrule ${name}\n  ${head} ${none}\n  =>\n  ${act})` })
    } else if (conditional?._tag === "router") {
      const name = `edges-from-${id}-router`
      const act = acts.route(staticTargets, name)
      plan.set(id, { _tag: "router", edge: conditional.edgeIndex, rule: rule(name) })
      rules.push({
        name,
        origin: `edges[${conditional.edgeIndex}]`,
        text: `(defrule ${name}\n  ${head} (stargraph-route (edge ${conditional.edgeIndex}) (targets $?targets))\n  =>\n  ${act})`
      })
    } else {
      const name = `edges-from-${id}`
      const act = acts.edges(staticTargets, name)
      plan.set(id, { _tag: "static", rule: rule(name) })
      rules.push({ name, origin: edgeIndex >= 0 ? `edges[${edgeIndex}]` : `nodes[${topology.order.get(id)}]`, text: `(defrule ${name}\n  ${head}\n  =>\n  ${act})` })
    }
    pieces.push({
      text: rules.map((r) => r.text).join("\n"),
      ...at,
      sources: rules.map((r) => ({ rule: r.name, kind: "edge", origin: r.origin, ...at }))
    })
  }
  return { pieces, cases, plan }
}

/** Checks an inline rule's action targets against the graph. */
const checkAction = (action: Action, path: ReadonlyArray<PropertyKey>, nodes: ReadonlySet<string>, fields: ReadonlyMap<string, FieldInfo>, source: IRSource): IRValidationError | undefined => {
  const known = [...nodes].slice(0, 10).join(", ")
  const node = (target: string, at: ReadonlyArray<PropertyKey>, allowEnd: boolean) =>
    nodes.has(target) || (allowEnd && target === END)
      ? undefined
      : irError(source, at, `${action.kind} to unknown node '${target}'`, `use one of: ${known}${allowEnd ? `, ${END}` : ""}`)
  switch (action.kind) {
    case "goto":
      return node(action.target, [...path, "target"], true)
    case "retry":
      return node(action.target, [...path, "target"], false)
    case "parallel":
      for (const [i, t] of action.targets.entries()) {
        const bad = node(t, [...path, "targets", i], false)
        if (bad) return bad
      }
      return action.join === undefined || action.join === "" ? undefined : node(action.join, [...path, "join"], true)
    case "interrupt": {
      if (action.response_field !== undefined && !fields.has(action.response_field)) {
        return irError(source, [...path, "response_field"], `response_field '${action.response_field}' is not a state field`, `use one of: ${[...fields.keys()].join(", ")}`)
      }
      if (action.on_timeout !== undefined && action.on_timeout !== "halt" && action.timeout === undefined) {
        return irError(source, [...path, "on_timeout"], "on_timeout has no effect without a timeout", "add timeout (seconds, PT30M or '30 minutes'), or remove on_timeout")
      }
      const goto = action.on_timeout?.startsWith("goto:") ? action.on_timeout.slice(5) : undefined
      return goto === undefined ? undefined : node(goto, [...path, "on_timeout"], true)
    }
    case "assert":
      if (typeof action.slots === "string" && action.slots.trim() !== "") {
        try {
          const parsed: unknown = JSON.parse(action.slots)
          if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object")
        } catch {
          return irError(source, [...path, "slots"], "slots is not a JSON object", "write slots as a mapping, e.g. slots: {level: high}")
        }
      }
      return undefined
    default:
      return undefined
  }
}

const rulePiece = (
  rule: RuleSpec,
  index: number,
  context: { readonly nodes: ReadonlySet<string>; readonly fields: ReadonlyMap<string, FieldInfo> },
  source: IRSource,
  acts: ActionTable
): Either.Either<Piece, IRValidationError> => {
  const path = ["rules", index]
  const lhs = compileWhen(rule.when, context)
  if (Either.isLeft(lhs)) {
    return Either.left(irError(source, [...path, "when", ...(lhs.left.key !== undefined ? [lhs.left.key] : [])], lhs.left.message, lhs.left.fix))
  }
  for (const [j, action] of rule.then.entries()) {
    const bad = checkAction(action, [...path, "then", j], context.nodes, context.fields, source)
    if (bad) return Either.left(bad)
  }
  const whenLine = lineOf(source, [...path, "when"])
  // The pattern text starts on the rule's second line, so errors point at the YAML line of `when`.
  const text = `(defrule ${rule.id}${rule.salience !== undefined ? ` (declare (salience ${rule.salience}))` : ""}\n${lhs.right}\n  =>\n  ${rule.then.map((a) => acts.action(a, rule.id)).join("  ")})`
  return Either.right({
    text,
    file: source.file,
    line: whenLine === undefined ? undefined : whenLine - 1,
    sources: [{ rule: rule.id, kind: "rule", origin: `rules[${index}]`, file: source.file, line: whenLine }]
  })
}

/** The node of a rule whose only pattern is `(node-id (id X))` (bound to a variable or not); else undefined. */
const onlyNode = (program: Clips.Program): string | undefined => {
  const [rule, ...more] = program.constructs
  if (rule?.kind !== "defrule" || more.length > 0 || rule.autoFocus || rule.lhs.length !== 1) return undefined
  const ce = rule.lhs[0]!
  if (ce.kind !== "pattern" || ce.relation !== "node-id" || ce.items.length !== 1) return undefined
  const slot = ce.items[0]!
  if (slot.kind !== "list" || slot.items.length !== 2) return undefined
  const [name, value] = slot.items
  return name?.kind === "atom" && name.token.kind === "symbol" && name.token.text === "id" && value?.kind === "atom" && value.token.kind === "symbol"
    ? value.token.text
    : undefined
}

/**
 * The routing plan of a program without packs or mirrored fields, when its inline rules
 * (`inline`, parsed, in `ir.rules` order) all match only a node's `node-id` fact and only
 * decide (no assert/retract), on nodes routed by static edges or by no edge; else undefined.
 */
const plannedRouting = (ir: IRDocument, edges: ReadonlyMap<string, RoutePlan>, inline: ReadonlyArray<Clips.Program>): ReadonlyMap<string, RoutePlan> | undefined => {
  const plan = new Map(edges)
  for (const [i, rule] of ir.rules.entries()) {
    const node = onlyNode(inline[i]!)
    if (node === undefined || rule.then.some((a) => a.kind === "assert" || a.kind === "retract")) return undefined
    const edge = plan.get(node)
    if (edge !== undefined && edge._tag !== "static" && edge._tag !== "fixed") return undefined
    plan.set(node, { _tag: "fixed" })
  }
  return plan
}

/** The relation an assert form or fact names: `(escalate)` → `escalate`. */
const relationOf = (form: Clips.SExpr | undefined): string | undefined =>
  form?.kind === "list" && form.items[0]?.kind === "atom" && form.items[0].token.kind === "symbol" ? form.items[0].token.text : undefined

/** Relations the right-hand sides and deffacts of `programs` assert (through any nesting). */
const assertedRelations = (programs: ReadonlyArray<Clips.Program>): Set<string> => {
  const out = new Set<string>()
  const visit = (form: Clips.SExpr) => {
    if (form.kind !== "list") return
    if (relationOf(form) === "assert") for (const fact of form.items.slice(1)) out.add(relationOf(fact) ?? "")
    form.items.forEach(visit)
  }
  for (const p of programs) {
    for (const c of p.constructs) {
      if (c.kind === "defrule") c.rhs.forEach(visit)
      if (c.kind === "deffacts") for (const fact of c.facts) out.add(relationOf(fact) ?? "")
    }
  }
  return out
}

/** Warnings for rule patterns on ordered facts that nothing asserts (see `RuleProgram.warnings`). */
const unassertedPatterns = (programs: ReadonlyArray<Clips.Program>, templates: ReadonlyMap<string, unknown>, actions: ReadonlyArray<CompiledAction>): Array<string> => {
  const asserted = assertedRelations(programs)
  for (const a of actions) {
    if (a._tag !== "assert") continue
    asserted.add(typeof a.fact === "string" ? a.fact.trim().slice(1).split(/[\s()]/)[0] ?? "" : a.fact.template)
  }
  const warnings: Array<string> = []
  const visit = (rule: string, ce: Clips.CE) => {
    if (ce.kind === "pattern") {
      const name = ce.relation
      if (!templates.has(name) && !asserted.has(name) && name !== "initial-fact" && !(BUILTIN_TEMPLATES as ReadonlyArray<string>).includes(name)) {
        warnings.push(`rule ${rule} matches (${name}), an ordered fact nothing in the graph asserts: a misspelt name? (fine if your app or a fork's facts_assert asserts it)`)
      }
    } else if (ce.kind !== "test") ce.children.forEach((child) => visit(rule, child))
  }
  for (const p of programs) for (const c of p.constructs) if (c.kind === "defrule") c.lhs.forEach((ce) => visit(c.name, ce))
  return [...new Set(warnings)]
}

/** The CLIPS literal kinds a mirrored field's `value` slot can hold, by field type; nil (a null) for every type. */
const MIRROR_LITERALS: { readonly [type: string]: { readonly kinds: ReadonlyArray<string>; readonly shown: string; readonly example: (text: string) => string } } = {
  string: { kinds: ["string"], shown: "a string (STRING)", example: (t) => JSON.stringify(t) },
  integer: { kinds: ["integer"], shown: "an integer (INTEGER)", example: (t) => String(Math.trunc(Number(t)) || 1) },
  number: { kinds: ["float"], shown: "a number (FLOAT)", example: (t) => (Number.isFinite(Number(t)) ? Number(t).toFixed(1) : "1.0") },
  boolean: { kinds: ["symbol"], shown: "a boolean (the symbol TRUE or FALSE)", example: (t) => (/^(true|yes|y|1)$/i.test(t) ? "TRUE" : "FALSE") },
  // A module schema's number: mirrored as it is, INTEGER when whole.
  anyNumber: { kinds: ["integer", "float"], shown: "a number (INTEGER or FLOAT)", example: (t) => (Number.isFinite(Number(t)) && t.trim() !== "" ? String(Number(t)) : "1") }
}

/** Which literals a mirrored field can match: by its declared type, or a module schema's value type. */
const literalType = (field: FieldInfo | undefined): string | undefined =>
  field === undefined ? undefined : field.type ?? (field.valueType === "number" ? "anyNumber" : field.valueType)

/**
 * A rule pattern that compares a mirrored state field with a literal of another type can
 * never match (the original mirrored every value as text, so its rules write `(rounds
 * (value "1"))` where this runtime mirrors the integer 1): refused, with the literal to
 * write instead, rather than left to never fire.
 */
const mirrorLiteralError = (programs: ReadonlyArray<Clips.Program>, mirrored: ReadonlyArray<MirroredField>, fields: ReadonlyMap<string, FieldInfo>): RuleError | undefined => {
  const types = new Map(mirrored.flatMap((m) => {
    const type = literalType(fields.get(m.field))
    return type !== undefined && MIRROR_LITERALS[type] !== undefined ? [[m.template, type] as const] : []
  }))
  const enums = new Map(mirrored.flatMap((m) => {
    const values = fields.get(m.field)?.enum
    return values !== undefined ? [[m.template, values] as const] : []
  }))
  if (types.size === 0) return undefined
  let found: RuleError | undefined
  const check = (program: Clips.Program, rule: string, ce: Clips.CE) => {
    if (found !== undefined) return
    if (ce.kind !== "pattern") {
      if (ce.kind !== "test") ce.children.forEach((child) => check(program, rule, child))
      return
    }
    const type = types.get(ce.relation)
    if (type === undefined) return
    const allowed = MIRROR_LITERALS[type]!
    for (const item of ce.items) {
      if (item.kind !== "list" || item.items[0]?.kind !== "atom" || item.items[0].token.text !== "value") continue
      // Plain literals and `|` alternatives; a term after `~`, `:` or `=` is not a literal match.
      const terms = item.items.slice(1)
      for (const [i, term] of terms.entries()) {
        if (term.kind !== "atom") continue
        const { kind, text } = term.token
        if (!["string", "integer", "float", "symbol"].includes(kind) || (kind === "symbol" && (text === "nil" || text === ":" || text === "="))) continue
        const before = terms[i - 1]
        if (before?.kind === "atom" && before.token.kind === "not") continue
        const written = kind === "string" ? JSON.stringify(text) : text
        /** The refusal of this literal, as `(field (value …)) can never match: <why>`. */
        const refuse = (why: string, fix: string) => {
          found = new RuleError({
            reason: "type",
            ...(program.file !== undefined ? { file: program.file } : {}),
            line: term.line,
            column: term.column,
            construct: `defrule ${rule}`,
            message: `(${ce.relation} (value ${written})) can never match: state field '${ce.relation}' ${why}`,
            fix
          })
        }
        if (allowed.kinds.includes(kind) && (type !== "boolean" || text === "TRUE" || text === "FALSE")) {
          // A literal of the right type that is none of the field's `enum` values can never match either.
          const values = enums.get(ce.relation)
          const literal = kind === "string" ? text : kind === "symbol" ? text === "TRUE" : Number(text)
          if (values === undefined || values.includes(literal)) continue
          const shownValues = values.map((v) => (typeof v === "string" ? JSON.stringify(v) : typeof v === "boolean" ? (v ? "TRUE" : "FALSE") : String(v))).join(", ")
          return refuse(`takes only ${shownValues} (its enum)`, `compare with one of ${shownValues}, or add ${written} to the field's enum`)
        }
        return refuse(`is mirrored as ${allowed.shown}`, `compare with ${allowed.shown}: (${ce.relation} (value ${allowed.example(text)})), or declare the field with that type`)
      }
    }
  }
  for (const program of programs) for (const c of program.constructs) if (c.kind === "defrule") c.lhs.forEach((ce) => check(program, c.name, ce))
  return found
}

/**
 * `(state (risk_class "high"))`, as the original's tutorials write it, names no template:
 * each mirrored field is its own. The compiler's fix ("define the template") says so instead.
 */
const withStateTemplateFix = (error: RuleError, programs: ReadonlyArray<Clips.Program>, fields: ReadonlyMap<string, FieldInfo>): RuleError => {
  if (error.reason !== "unknown-template") return error
  if (error.message !== "unknown template state" || fields.has("state")) return withFieldSpelling(error, fields)
  // The slot the rule wrote, `(state (risk_class high))`, for the example.
  let slot: { readonly field: string; readonly value: string } | undefined
  const visit = (ce: Clips.CE) => {
    if (ce.kind === "pattern") {
      const first = ce.relation === "state" ? ce.items[0] : undefined
      if (slot === undefined && first?.kind === "list" && first.items[0]?.kind === "atom" && first.items[1]?.kind === "atom") {
        slot = { field: first.items[0].token.text, value: first.items[1].token.text }
      }
    } else if (ce.kind !== "test") ce.children.forEach(visit)
  }
  for (const p of programs) for (const c of p.constructs) if (c.kind === "defrule") c.lhs.forEach(visit)
  const { field, value } = slot ?? { field: [...fields.values()].find((f) => f.mirror)?.name ?? "<field>", value: "high" }
  const literal = fields.get(field)?.type === "string" ? JSON.stringify(value) : value
  return new RuleError({
    ...error,
    message: "unknown template state: state fields are not slots of one state fact",
    fix: `match each mirrored field as its own template: write (state (${field} ${value})) as (${field} (value ${literal}))`
  })
}

/** Edit distance of two short names (insertions, deletions, substitutions). */
const distance = (a: string, b: string): number => {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    row = next
  }
  return row[b.length]!
}

/** An unknown template one or two edits away from a state field: the misspelt field, named in the fix. */
const withFieldSpelling = (error: RuleError, fields: ReadonlyMap<string, FieldInfo>): RuleError => {
  const name = /^unknown template (\S+)$/.exec(error.message)?.[1]
  if (name === undefined) return error
  // Only fields the rules can match (mirrored ones): others have no template to point at.
  const near = [...fields.values()].filter((f) => f.mirror).map((f) => f.name)
    .map((field) => ({ field, d: distance(name, field) }))
    .filter(({ d }) => d > 0 && d <= Math.min(2, Math.floor(name.length / 3)))
    .sort((a, b) => a.d - b.d)[0]
  return near === undefined ? error : new RuleError({
    ...error,
    message: error.message,
    fix: `the state has a field '${near.field}': match it as its own template, (${near.field} (value ...)); or ${error.fix}`
  })
}

/** Templates the rules of `program` match in their patterns (through and/or/not/exists/forall). */
const matchedTemplates = (program: Clips.Program): ReadonlyArray<string> => {
  const out: Array<string> = []
  const visit = (ce: Clips.CE) => {
    if (ce.kind === "pattern") out.push(ce.relation)
    else if (ce.kind !== "test") ce.children.forEach(visit)
  }
  for (const c of program.constructs) if (c.kind === "defrule") c.lhs.forEach(visit)
  return out
}

const templateSlots = (program: Clips.Program): Array<[string, ReadonlyArray<string>]> =>
  program.constructs.flatMap((c) => (c.kind === "deftemplate" ? [[c.name, c.slots.map((s) => s.name)] as [string, ReadonlyArray<string>]] : []))

/** Compile a graph's rule program; parse and load errors name the file, line and construct. */
export const compileProgram = (input: {
  readonly ir: IRDocument
  readonly topology: Topology
  readonly fields: ReadonlyMap<string, FieldInfo>
  readonly packs: ReadonlyArray<LoadedPack>
  readonly source: IRSource
}): Either.Either<RuleProgram, IRValidationError | RuleError> => {
  const { ir, topology, fields, packs, source } = input
  const nodes = new Set(topology.nodes.keys())
  const context = { nodes, fields }
  for (const id of nodes) {
    if (!isSymbolText(id)) {
      return Either.left(irError(source, ["nodes", topology.order.get(id)!, "id"], `node id '${id}' cannot be written as a CLIPS symbol`, "use letters, digits, '_', '-', '.' and single ':' only"))
    }
  }
  const seenRules = new Map<string, number>()
  for (const [i, rule] of ir.rules.entries()) {
    const first = seenRules.get(rule.id)
    if (first !== undefined) return Either.left(irError(source, ["rules", i, "id"], `duplicate rule id '${rule.id}' (first at rules[${first}])`, "give every rule a unique id"))
    seenRules.set(rule.id, i)
  }

  const edgeMode = ir.edges.length > 0
  const acts = actionTable()
  const { cases, pieces: edges, plan } = edgeMode ? edgePieces(ir, topology, source, acts) : { cases: new Map<string, Condition>(), pieces: [], plan: undefined }
  const tails: Array<Piece> = [...edges]
  // A pack's YAML rules are written like inline ones, with the graph's nodes and fields.
  for (const pack of packs) {
    for (const [i, { file, rule }] of pack.rules.entries()) {
      const piece = rulePiece(rule, i, context, { file }, acts)
      if (Either.isLeft(piece)) return Either.left(piece.left)
      tails.push({ ...piece.right, sources: piece.right.sources.map((s) => ({ ...s, kind: "pack", origin: `${pack.id}@${pack.version}` })) })
    }
  }
  for (const [i, rule] of ir.rules.entries()) {
    const piece = rulePiece(rule, i, context, source, acts)
    if (Either.isLeft(piece)) return Either.left(piece.left)
    tails.push(piece.right)
  }

  // Parse every piece on its own, so errors carry the right file and line.
  const parse = (piece: Piece) =>
    Clips.parseProgram(piece.text, { ...(piece.file !== undefined ? { file: piece.file } : {}), lineOffset: (piece.line ?? 1) - 1 })
  const parsedTails: Array<Clips.Program> = []
  for (const piece of tails) {
    const parsed = parse(piece)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    parsedTails.push(parsed.right)
  }
  const packPrograms = packs.flatMap((p) => p.programs.map((pr) => pr.program))
  const matched = new Set([...packPrograms, ...parsedTails].flatMap(matchedTemplates))

  // Stargraph's templates (and the mirror templates) load first, so pack rules can match
  // them; then the packs; then the edges and the inline rules. A field is mirrored when a
  // rule can match it (or when it asks to be, `mirror: true`): a fact no rule can see
  // would only cost time every step.
  const heads: Array<Piece> = [{ text: builtinText, sources: [] }]
  const packTemplates = new Set(packPrograms.flatMap((p) => templateSlots(p).map(([name]) => name)))
  if (!packTemplates.has("stargraph.evidence")) heads.push({ text: evidenceText, sources: [] })
  const toolFacts = TOOL_FACT_TEMPLATES.some((t) => matched.has(t))
  if (toolFacts && !TOOL_FACT_TEMPLATES.some((t) => packTemplates.has(t))) heads.push({ text: toolFactsText, sources: [] })
  const mirrored: Array<MirroredField> = []
  const mirrorLines: Array<string> = []
  for (const field of fields.values()) {
    if (!field.mirror || !(field.mirrorAlways === true || matched.has(field.name))) continue
    if (!isSymbolText(field.name) || (BUILTIN_TEMPLATES as ReadonlyArray<string>).includes(field.name)) {
      return Either.left(irError(source, ["state_schema"], `state field '${field.name}' cannot be mirrored as a fact template`, "rename the field (letters, digits, '_', '-') or set mirror: false"))
    }
    mirrored.push({ field: field.name, template: field.name, type: field.type })
    if (!packTemplates.has(field.name)) {
      mirrorLines.push(`(deftemplate ${field.name} (slot value) ${PROVENANCE_SLOTS.map((s) => `(slot ${s})`).join(" ")})`)
    }
  }
  if (mirrorLines.length > 0) heads.push({ text: `; mirrored state fields\n${mirrorLines.join("\n")}\n`, sources: [] })
  const ordered: Array<Clips.Program> = []
  for (const piece of heads) {
    const parsed = parse(piece)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    ordered.push(parsed.right)
  }
  ordered.push(...packPrograms, ...parsedTails)
  const literal = mirrorLiteralError([...packPrograms, ...parsedTails], mirrored.filter((m) => !packTemplates.has(m.template)), fields)
  if (literal !== undefined) return Either.left(literal)
  // Compiled once per graph: every run's engine is an instance sharing this network.
  const compiled = Clips.compile(ordered, { functions: HOST_FUNCTIONS })
  if (Either.isLeft(compiled)) return Either.left(withStateTemplateFix(compiled.left, ordered, fields))
  const rules = new Map<string, RuleSource>()
  for (const pack of packs) {
    for (const { file, program } of pack.programs) {
      for (const c of program.constructs) {
        if (c.kind === "defrule") rules.set(c.name, { rule: c.name, kind: "pack", origin: pack.id, file, line: c.pos.line })
      }
    }
  }
  for (const piece of tails) for (const s of piece.sources) rules.set(s.rule, s)
  const templates = new Map<string, ReadonlyArray<string>>(ordered.flatMap(templateSlots))
  const text = [
    ...heads.map((p) => p.text),
    ...packs.flatMap((p) => p.programs.map((pr) => `; pack ${p.id}@${p.version} (${pr.file})\n${pr.text.trim()}\n`)),
    ...tails.map((p) => p.text)
  ].join("\n")
  const routePlan = packs.length === 0 && mirrored.length === 0
    ? plannedRouting(ir, plan ?? new Map(), parsedTails.slice(edges.length))
    : undefined
  return Either.right({
    programs: ordered,
    compiled: compiled.right,
    text,
    rules,
    mirrored,
    templates,
    cases,
    packs,
    edgeMode,
    nodeIds: [...nodes],
    actions: acts.table,
    routePlan,
    toolFacts,
    warnings: unassertedPatterns(ordered, templates, acts.table)
  })
}

/** The host functions compiled rules call: `stargraph-case` (edge conditions) and `stargraph-act` (actions). */
export const HOST_FUNCTIONS: ReadonlyArray<string> = ["stargraph-case", "stargraph-act"]

/** A RuleError for rule text the program could not take. */
export const programError = (message: string, fix: string, file?: string): RuleError =>
  new RuleError({ reason: "compile", ...(file !== undefined ? { file } : {}), message, fix })
