/**
 * One run's working memory and the routing evaluation over it. After each step the run
 * loop calls `route`: the previous step's `node-id`, mirror and router facts are
 * retracted; every mirrored state field is asserted as a fact with its provenance; then,
 * for each node the step executed (in declaration order), `(node-id (id <node>))` is
 * asserted and the engine runs to quiescence. The `stargraph_action` facts the rules
 * asserted are collected and retracted; `assert`/`retract` actions are applied at once
 * (and the engine runs again, until nothing more happens); the rest decide the node's
 * routing.
 */
import * as Either from "effect/Either"
import { RuleError } from "../errors.js"
import { evaluate } from "../ir/condition.js"
import type { State } from "../ir/stateSchema.js"
import * as Clips from "./clips/index.js"
import { choose, type Decision, type RuleFiring, type SideEffect, type StepRules } from "./Decision.js"
import { timeoutMs } from "../ir/duration.js"
import { compact, expand, type FactSpec, type FactsSnapshot } from "./facts.js"
import { type CompiledAction, PROVENANCE_SLOTS, type RuleProgram } from "./program.js"

/** What `route` needs to know about the step. */
export interface RouteInput {
  readonly runId: string
  readonly step: number
  /** ISO time of the step (the `_timestamp` provenance slot). */
  readonly at: string
  readonly state: State
  /** The nodes whose routing to decide, in declaration order. */
  readonly nodes: ReadonlyArray<string>
  /** Router results by edge index, for routers of the executed nodes. */
  readonly routes?: ReadonlyMap<number, ReadonlyArray<string>> | undefined
}

/** One run's rules. */
export interface RuleSession {
  readonly program: RuleProgram
  /** Decide each node's routing after a step. */
  readonly route: (input: RouteInput) => Either.Either<StepRules, RuleError>
  /** Assert a fact (a counterfactual's `facts_assert`, an interrupt's evidence); undefined for a duplicate. */
  readonly assert: (fact: FactSpec) => Either.Either<number | undefined, RuleError>
  /** Retract every fact matching `pattern` (a template name, or a template with literal slot values); the count. */
  readonly retract: (pattern: FactSpec) => Either.Either<number, RuleError>
  /** Working memory now, compact. */
  readonly snapshot: () => FactsSnapshot
  /** Every fact now, as CLIPS text with its id. */
  readonly facts: () => ReadonlyArray<{ readonly id: number; readonly text: string }>
}

/** The facts of the evidence a response leaves for the rules. */
export interface Evidence {
  readonly runId: string
  readonly step: number
  readonly node: string
  readonly actor: string
  readonly data: unknown
}

const ORIGIN = Clips.str("state")
const SOURCE = Clips.str("mirror")
const CONFIDENCE = Clips.float(1)

/** Most rounds of rule runs one node's evaluation takes when its rules keep asserting and retracting facts. */
const MAX_ROUNDS = 64

const runtimeError = (message: string, fix: string, construct?: string) =>
  new RuleError({ reason: "runtime", ...(construct !== undefined ? { construct } : {}), message, fix })

/** Text of a lexeme slot, or the JSON of another value. */
const text = (v: Clips.Value | undefined): string =>
  v === undefined ? "" : v.type === "STRING" || v.type === "SYMBOL" ? v.value : Clips.renderValue(v)

const slot = (fact: Clips.Fact, name: string): Clips.Value | undefined => fact.slots.find(([n]) => n === name)?.[1]

/** An `assert` action's slots (JSON object text; empty: none), or undefined when malformed. */
const parseSlots = (raw: string): Record<string, unknown> | undefined => {
  if (raw === "") return {}
  try {
    const parsed: unknown = JSON.parse(raw)
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** The value of a state field as the fact's `value` slot. */
const mirrorValue = (value: unknown, type: RuleProgram["mirrored"][number]["type"]): Clips.Value => {
  if (value === null || value === undefined) return Clips.NIL
  if (type === "number" && typeof value === "number") return Clips.float(value)
  return Clips.fromJs(value)
}

/**
 * An `assert` action's mapping slots as CLIPS values. A mapping cannot write a symbol (YAML
 * gives strings), so a string goes to a slot that takes symbols and not strings (such as
 * `stargraph_action`'s `kind`) as the symbol it spells.
 */
const fromSpecSlots = (slots: { readonly [k: string]: unknown }, types: ReadonlyMap<string, ReadonlyArray<string>> | undefined): Record<string, Clips.Value> =>
  Object.fromEntries(Object.entries(slots).map(([k, v]) => {
    const allowed = types?.get(k)
    const symbol = typeof v === "string" && allowed !== undefined && allowed.includes("SYMBOL") && !allowed.includes("STRING") && /^[^\s()"&|<~;?$]+$/.test(v)
    return [k, symbol ? Clips.sym(v) : Clips.fromJs(v)]
  }))

/** Parse one `stargraph_action` fact into a decision or a side effect. */
const readAction = (fact: Clips.Fact, nodes: ReadonlySet<string>): Either.Either<Decision | { readonly effect: "assert" | "retract"; readonly fact: Clips.Fact } | undefined, RuleError> => {
  const kind = text(slot(fact, "kind"))
  const rule = text(slot(fact, "rule_id"))
  const target = text(slot(fact, "target"))
  const known = (t: string, allowEnd: boolean) =>
    nodes.has(t) || (allowEnd && t === "__end__")
      ? Either.void
      : Either.left(runtimeError(`rule ${rule || "(unnamed)"} routes ${kind} to unknown node '${t}'`, `target one of: ${[...nodes].slice(0, 10).join(", ")}`, rule || undefined))
  switch (kind) {
    case "goto":
    case "route":
      return Either.map(known(target, true), () => ({ _tag: "goto", target, rule }))
    case "retry": {
      const backoff = slot(fact, "backoff_ms")
      return Either.map(known(target, false), () => ({ _tag: "retry", target, backoff_ms: backoff?.type === "INTEGER" || backoff?.type === "FLOAT" ? backoff.value : 0, rule }))
    }
    case "halt":
      return Either.right({ _tag: "halt", reason: text(slot(fact, "reason")), rule })
    case "deny":
      return Either.right({ _tag: "halt", reason: "denied-by-rule", rule })
    case "allow":
    case "scope":
      return Either.right(undefined)
    case "parallel": {
      const targets = slot(fact, "targets")
      const list = targets?.type === "MULTIFIELD" ? targets.value.map(text) : [text(targets)].filter((t) => t !== "")
      for (const t of list) {
        const bad = known(t, false)
        if (Either.isLeft(bad)) return Either.left(bad.left)
      }
      const join = text(slot(fact, "join"))
      if (join !== "") {
        const bad = known(join, true)
        if (Either.isLeft(bad)) return Either.left(bad.left)
      }
      const strategy = text(slot(fact, "strategy")) || "all"
      if (!/^(all|any|race|quorum:\d+)$/.test(strategy)) {
        return Either.left(runtimeError(`rule ${rule} asserted parallel strategy '${strategy}'`, "use all, any, race or quorum:N", rule))
      }
      if (list.length === 0) return Either.left(runtimeError(`rule ${rule} asserted a parallel action with no targets`, "list the targets", rule))
      return Either.right({ _tag: "parallel", targets: list, join, strategy: strategy as "all", rule })
    }
    case "interrupt": {
      // `payload`, or `interrupt_payload` as the original's template names it.
      const payloadText = text(slot(fact, "payload")) || text(slot(fact, "interrupt_payload"))
      let payload: Record<string, unknown> = {}
      if (payloadText !== "") {
        try {
          payload = JSON.parse(payloadText) as Record<string, unknown>
        } catch {
          return Either.left(runtimeError(`rule ${rule} asserted an interrupt payload that is not JSON`, "assert the payload as a JSON object text", rule))
        }
      }
      const timeout = timeoutMs(text(slot(fact, "timeout")))
      const onTimeout = text(slot(fact, "on_timeout")) || "halt"
      if (onTimeout !== "halt" && !onTimeout.startsWith("goto:")) {
        return Either.left(runtimeError(`rule ${rule} asserted on_timeout '${onTimeout}'`, "use halt or goto:<node>", rule))
      }
      if (onTimeout.startsWith("goto:")) {
        const bad = known(onTimeout.slice(5), true)
        if (Either.isLeft(bad)) return Either.left(bad.left)
      }
      const responseField = text(slot(fact, "response_field"))
      const capability = text(slot(fact, "requested_capability"))
      return Either.right({
        _tag: "interrupt",
        prompt: text(slot(fact, "prompt")),
        payload,
        ...(timeout !== undefined ? { timeout_ms: timeout } : {}),
        on_timeout: onTimeout,
        ...(responseField !== "" ? { response_field: responseField } : {}),
        ...(capability !== "" ? { requested_capability: capability } : {}),
        rule
      })
    }
    case "assert":
    case "retract":
      return Either.right({ effect: kind, fact })
    default:
      return Either.left(runtimeError(
        `rule ${rule || "(unnamed)"} asserted an action of unknown kind '${kind}'`,
        "use goto, halt, parallel, retry, assert, retract or interrupt",
        rule || undefined
      ))
  }
}

/** An engine with a program loaded, the state its `stargraph-case` function reads, and the actions its rules handed over. */
export interface LoadedEngine {
  readonly engine: Clips.Engine
  /**
   * The state the rules see, and the compiled rules' action calls in firing order, each
   * with the number of `stargraph_action` facts asserted before it (so actions of both
   * kinds are taken in the order their rules fired).
   */
  readonly current: { state: State; readonly calls: Array<readonly [index: number, args: ReadonlyArray<Clips.Value>, factsBefore: number]> }
}

/** A new engine for `program`: an instance of its compiled network, with the host functions bound to its own state. */
export const load = (program: RuleProgram): Either.Either<LoadedEngine, RuleError> => {
  const engine = program.compiled.instantiate()
  const current: LoadedEngine["current"] = { state: {}, calls: [] }
  engine.registerFunction("stargraph-case", (args) => {
    const [edge, index] = args.map((a) => (a.type === "INTEGER" ? a.value : -1))
    const condition = program.cases.get(`${edge}:${index}`)
    return Clips.bool(condition !== undefined && evaluate(condition, current.state))
  })
  // Compiled rules hand over their actions by index (see program.ts); the runtime reads them after the run.
  engine.registerFunction("stargraph-act", (args) => {
    const [index, ...rest] = args
    if (index?.type === "INTEGER") current.calls.push([index.value, rest, engine.factsOf("stargraph_action").length])
    return Clips.TRUE
  })
  return Either.right({ engine, current })
}

/**
 * Open a session for one run on a loaded engine: fresh (`(initial-fact)` and the
 * deffacts), or restored from a checkpoint's facts. Whatever the engine held before is
 * replaced.
 */
export const open = (program: RuleProgram, restored?: FactsSnapshot, loaded?: LoadedEngine): Either.Either<RuleSession, RuleError> => {
  const ready = loaded === undefined ? load(program) : Either.right(loaded)
  if (Either.isLeft(ready)) return Either.left(ready.left)
  const { current, engine } = ready.right
  current.state = {}
  current.calls.length = 0
  // A pooled engine starts without the failed conditions of its last session.
  engine.conditionErrors()
  if (restored === undefined) {
    engine.reset()
  } else {
    const ok = engine.restore(expand(restored, program.templates))
    if (Either.isLeft(ok)) return Either.left(ok.left)
  }
  const nodes: ReadonlySet<string> = new Set(program.nodeIds)
  const tickTemplates = ["node-id", "stargraph-route", ...program.mirrored.map((m) => m.template)]

  const retractAll = (template: string) => {
    for (const f of engine.factsOf(template)) engine.retract(f.id)
  }

  /** Each mirrored field with the slots its template has (a pack may define the template with fewer). */
  const mirrors = program.mirrored.map((m) => {
    const slots = program.templates.get(m.template)
    return {
      ...m,
      value: slots === undefined || slots.includes("value"),
      provenance: PROVENANCE_SLOTS.filter((p) => slots === undefined || slots.includes(p))
    }
  })

  const assertSpec = (spec: FactSpec): Either.Either<number | undefined, RuleError> => {
    const asserted = typeof spec === "string"
      ? engine.assertString(spec)
      : program.templates.has(spec.template)
      ? engine.assertFact(spec.template, fromSpecSlots(spec.slots, engine.slotTypes(spec.template)))
      : Either.left(runtimeError(`no template '${spec.template}' in this graph's rules`, `use one of: ${[...program.templates.keys()].slice(0, 12).join(", ")}`))
    return Either.map(asserted, (f) => f?.id)
  }

  /** Facts matching a template name, `(template (slot value) ...)` text, or a template and slots. */
  const matching = (pattern: FactSpec): Either.Either<ReadonlyArray<Clips.Fact>, RuleError> => {
    let template: string
    let wanted: Record<string, Clips.Value> = {}
    if (typeof pattern === "string") {
      const t = pattern.trim()
      if (!t.startsWith("(")) {
        template = t
      } else {
        // Parse the pattern as a fact on a scratch engine with the same templates.
        const scratch = program.compiled.instantiate()
        scratch.reset()
        const parsed = scratch.assertString(t)
        if (Either.isLeft(parsed)) return Either.left(parsed.left)
        const fact = parsed.right ?? scratch.facts().find((f) => Clips.renderFactReadable(f) === t)
        if (fact === undefined) return Either.right([])
        template = fact.template
        // Only the slots the pattern names are compared.
        const named = new Set([...t.matchAll(/\(\s*([^\s()]+)\s/g)].slice(1).map((m) => m[1]!))
        wanted = Object.fromEntries(fact.slots.filter(([n]) => named.has(n)))
        if (fact.ordered) return Either.right(engine.factsOf(template).filter((f) => f.fields.length === fact.fields.length && f.fields.every((v, i) => Clips.equals(v, fact.fields[i]!))))
      }
    } else {
      template = pattern.template
      wanted = fromSpecSlots(pattern.slots, engine.slotTypes(pattern.template))
    }
    return Either.right(engine.factsOf(template).filter((f) => Object.entries(wanted).every(([k, v]) => {
      const have = slot(f, k)
      return have !== undefined && Clips.equals(have, v)
    })))
  }

  const retractPattern = (pattern: FactSpec): Either.Either<number, RuleError> =>
    Either.map(matching(pattern), (facts) => {
      for (const f of facts) engine.retract(f.id)
      return facts.length
    })

  const route = (input: RouteInput): Either.Either<StepRules, RuleError> => {
    current.state = input.state
    for (const t of tickTemplates) retractAll(t)
    if (mirrors.length > 0) {
      const provenance: Record<string, Clips.Value> = {
        _origin: ORIGIN,
        _source: SOURCE,
        _run_id: Clips.str(input.runId),
        _step: Clips.int(input.step),
        _confidence: CONFIDENCE,
        _timestamp: Clips.str(input.at)
      }
      for (const m of mirrors) {
        const value = input.state[m.field]
        if (value === undefined) continue
        const slots: Record<string, Clips.Value> = {}
        if (m.value) slots["value"] = mirrorValue(value, m.type)
        for (const name of m.provenance) slots[name] = provenance[name]!
        const asserted = engine.assertFact(m.template, slots)
        if (Either.isLeft(asserted)) return Either.left(asserted.left)
      }
    }
    for (const [edge, targets] of input.routes ?? []) {
      const asserted = engine.assertFact("stargraph-route", { edge: Clips.int(edge), targets: Clips.multifield(targets.map(Clips.str)) })
      if (Either.isLeft(asserted)) return Either.left(asserted.left)
    }
    const firings: Array<RuleFiring> = []
    const effects: Array<SideEffect> = []
    const decisions: Record<string, Decision> = {}
    for (const node of input.nodes) {
      retractAll("node-id")
      const asserted = engine.assertFact("node-id", { id: Clips.sym(node) })
      if (Either.isLeft(asserted)) return Either.left(asserted.left)
      const routing: Array<Decision> = []
      for (let round = 0; ; round++) {
        if (round >= MAX_ROUNDS) {
          const rules = [...new Set(firings.slice(-20).map((f) => f.rule))]
          return Either.left(new RuleError({
            reason: "firing-limit",
            message: `the rules kept asserting and retracting facts after node '${node}' (${MAX_ROUNDS} rounds); rules involved: ${rules.join(", ")}`,
            fix: "make the assert/retract actions of these rules stop: match on a fact they retract, or test that the fact is not there yet"
          }))
        }
        current.calls.length = 0
        const ran = engine.run()
        if (Either.isLeft(ran)) return Either.left(ran.left)
        // A condition that could not be evaluated would route as if it were false: loud instead.
        const failed = engine.conditionErrors()
        if (failed.length > 0) return Either.left(failed[0]!)
        for (const f of ran.right.firings) firings.push({ rule: f.rule, facts: f.factIds, node })
        let applied = 0
        const effect = (e: Extract<CompiledAction, { _tag: "assert" | "retract" }>) => {
          if (e._tag === "assert") {
            const done = assertSpec(e.fact)
            if (Either.isLeft(done)) {
              // Which rule's action: the engine's error names only the fact.
              return Either.left(new RuleError({ ...done.left, construct: done.left.construct ?? `defrule ${e.rule}`, message: `rule ${e.rule}'s assert action ${e.text}: ${done.left.message}` }))
            }
            effects.push({ kind: "assert", rule: e.rule, fact: e.text })
          } else {
            const count = retractPattern(e.pattern)
            if (Either.isLeft(count)) return Either.left(count.left)
            effects.push({ kind: "retract", rule: e.rule, fact: e.pattern, count: count.right })
          }
          applied++
          return Either.void
        }
        // A compiled rule's action (handed over by index).
        const takeCall = (index: number, args: ReadonlyArray<Clips.Value>): Either.Either<void, RuleError> => {
          const compiled = program.actions[index]
          if (compiled === undefined) return Either.void
          if (compiled._tag === "decision") routing.push(compiled.decision)
          else if (compiled._tag === "route") {
            const returned = args.flatMap((a) => (a.type === "MULTIFIELD" ? a.value : [a])).map(text)
            routing.push({ _tag: "parallel", targets: [...new Set([...compiled.static, ...returned])], join: "", strategy: "all", rule: compiled.rule })
          } else return effect(compiled)
          return Either.void
        }
        // An action a rule asserted as a `stargraph_action` fact (retracted as it is taken).
        const takeFact = (fact: Clips.Fact): Either.Either<void, RuleError> => {
          engine.retract(fact.id)
          const action = readAction(fact, nodes)
          if (Either.isLeft(action)) return Either.left(action.left)
          const a = action.right
          if (a === undefined) return Either.void
          if (!("effect" in a)) {
            routing.push(a)
            return Either.void
          }
          const rule = text(slot(a.fact, "rule_id"))
          const raw = text(slot(a.fact, "slots"))
          const slots = parseSlots(raw)
          if (slots === undefined) return Either.left(runtimeError(`rule ${rule} asserted slots that are not a JSON object: ${raw}`, "write the slots as a JSON object", rule))
          const template = text(slot(a.fact, "fact"))
          return effect(a.effect === "assert"
            ? { _tag: "assert", rule, fact: template.trim().startsWith("(") ? template : { template, slots }, text: template.trim().startsWith("(") ? template : `(${template}${Object.entries(slots).map(([k, v]) => ` (${k} ${Clips.renderReadable(Clips.fromJs(v))})`).join("")})` }
            : { _tag: "retract", rule, pattern: text(slot(a.fact, "pattern")) })
        }
        // Both kinds in the order their rules fired: a compiled action after the facts asserted before it.
        const facts = [...engine.factsOf("stargraph_action")]
        let taken = 0
        const takeFactsBefore = (n: number): Either.Either<void, RuleError> => {
          while (taken < Math.min(n, facts.length)) {
            const done = takeFact(facts[taken++]!)
            if (Either.isLeft(done)) return done
          }
          return Either.void
        }
        for (const [index, args, factsBefore] of current.calls.splice(0)) {
          const done = Either.flatMap(takeFactsBefore(factsBefore), () => takeCall(index, args))
          if (Either.isLeft(done)) return Either.left(done.left)
        }
        const rest = takeFactsBefore(facts.length)
        if (Either.isLeft(rest)) return Either.left(rest.left)
        if (applied === 0) break
      }
      decisions[node] = choose(routing)
    }
    return Either.right({ firings, effects, decisions })
  }

  return Either.right({
    program,
    route,
    assert: assertSpec,
    retract: retractPattern,
    snapshot: () => compact(engine.snapshot(), program.templates),
    facts: () => engine.facts().map((f) => ({ id: f.id, text: Clips.renderFactReadable(f) }))
  })
}

/** Assert an interrupt's answer as a `stargraph.evidence` fact (the slots its template has). */
export const assertEvidence = (session: RuleSession, evidence: Evidence): Either.Either<number | undefined, RuleError> => {
  const slots = session.program.templates.get("stargraph.evidence") ?? []
  const data = typeof evidence.data === "string" ? evidence.data : JSON.stringify(evidence.data ?? null)
  const all: Record<string, unknown> = {
    run_id: evidence.runId,
    step: evidence.step,
    node: evidence.node,
    actor: evidence.actor,
    data,
    text: data
  }
  return session.assert({ template: "stargraph.evidence", slots: Object.fromEntries(Object.entries(all).filter(([k]) => slots.includes(k))) })
}

/** A recorded call, as far as the tool facts read it (the cassette's `CallRecord` has these fields). */
export interface RecordedCall {
  readonly node: string
  readonly name: string
  readonly request: unknown
  readonly response: unknown
  readonly error?: unknown
  readonly abandoned?: unknown
}

/** A `tool` node's call as the cassette records it: `tool.<id>` with `{tool, args}`. */
const toolCall = (call: RecordedCall): { readonly id: string; readonly args: { readonly [k: string]: unknown } } | undefined => {
  if (!call.name.startsWith("tool.") || call.abandoned !== undefined) return undefined
  const request = call.request as { readonly tool?: unknown; readonly args?: unknown } | null
  if (request === null || typeof request !== "object" || typeof request.tool !== "string" || typeof request.args !== "object" || request.args === null) return undefined
  return { id: call.name.slice("tool.".length), args: request.args as { readonly [k: string]: unknown } }
}

/**
 * Assert the facts of a step's `tool` calls, for the rules routing it (when a rule can
 * match them: `program.toolFacts`): for each call, `stargraph-tool-call {tool_id,
 * args_count}`; for each that answered, `stargraph-tool-result {tool_id, fields}` (how
 * many fields its result has) and, when the result reports `_tokens.total`,
 * `stargraph-tokens-used {tool_id, total}`; each with its provenance (origin `tool`,
 * source the node). A replay asserts the same facts: they come from the step's calls.
 */
export const assertToolFacts = (
  session: RuleSession,
  input: { readonly runId: string; readonly step: number; readonly at: string; readonly calls: ReadonlyArray<RecordedCall> }
): Either.Either<void, RuleError> => {
  for (const call of input.calls) {
    const tool = toolCall(call)
    if (tool === undefined) continue
    const provenance = { _origin: "tool", _source: call.node, _run_id: input.runId, _step: input.step, _confidence: 1, _timestamp: input.at }
    const facts: Array<FactSpec> = [{ template: "stargraph-tool-call", slots: { tool_id: tool.id, args_count: Object.keys(tool.args).length, ...provenance } }]
    const result = call.error === undefined ? call.response : undefined
    if (result !== null && typeof result === "object") {
      const output = result as { readonly [k: string]: unknown; readonly _tokens?: { readonly total?: unknown } }
      facts.push({ template: "stargraph-tool-result", slots: { tool_id: tool.id, fields: Object.keys(output).length, ...provenance } })
      const total = output._tokens?.total
      if (typeof total === "number" && Number.isInteger(total) && total > 0) {
        facts.push({ template: "stargraph-tokens-used", slots: { tool_id: tool.id, total, ...provenance } })
      }
    }
    for (const fact of facts) {
      const asserted = session.assert(fact)
      if (Either.isLeft(asserted)) return Either.left(asserted.left)
    }
  }
  return Either.void
}

/** Provenance slot names, re-exported for documentation and tests. */
export { PROVENANCE_SLOTS }
