/**
 * Rules without running nodes, with the real engine: a dry run walks a graph from its
 * entry, deciding each step's routing by the rules over a fixed state (no node executes,
 * so the state stays as given: the inputs over zero values), and `simulate` evaluates
 * the rules after a node against states and facts given as fixtures.
 */
import * as Effect from "effect/Effect"
import { type Decision, describeDecision } from "../fathom/Decision.js"
import type { FactSpec } from "../fathom/facts.js"
import { RuleEngine } from "../fathom/RuleEngine.js"
import { RuleError } from "../errors.js"
import type { FieldSpec } from "../ir/schema.js"
import { type State, stateSchemaSource, zeroOf } from "../ir/stateSchema.js"
import type { Breakpoints } from "../checkpoint/models.js"
import { names } from "./breakpoints.js"
import type { GraphDefinition } from "./GraphDefinition.js"
import { route } from "./routing.js"

/** One step of a dry run: the node(s), the rules that fired and each node's routing. */
export interface TraceStep {
  readonly step: number
  readonly nodes: ReadonlyArray<string>
  readonly fired: ReadonlyArray<string>
  readonly decisions: { readonly [node: string]: Decision }
}

/**
 * Where a dry run stops for a person, as the run would: `waits-for-input`, before a node
 * that asks before it runs (an `interrupt` node); `rule`, after a step whose rule asks;
 * `breakpoint-before` / `breakpoint-after`, at a breakpoint given with the run. `step` is
 * the step the node would run at; `prompt` what it asks (not for a breakpoint).
 */
export interface DryRunStop {
  readonly node: string
  readonly step: number
  readonly why: "waits-for-input" | "rule" | "breakpoint-before" | "breakpoint-after"
  readonly prompt?: string
  readonly rule?: string
}

/**
 * A dry run: the steps, and how it ended. `loop`: a step would have started exactly as an
 * earlier one did (the same nodes, join progress and working memory, over the same fixed
 * state), so every step after it would repeat the ones since: `step` is that earlier
 * step, `path` the nodes of each step since (the last routes back to the first).
 * `stop`: where an `interrupt` ending stops.
 */
export interface DryRun {
  readonly steps: ReadonlyArray<TraceStep>
  readonly ended: "done" | "halt" | "interrupt" | "loop" | "step-limit"
  readonly loop?: { readonly step: number; readonly path: ReadonlyArray<ReadonlyArray<string>> }
  readonly stop?: DryRunStop
}

/**
 * What a dry-run step starts from besides the fixed state: the nodes, the joins' progress,
 * the parallel groups (without their step-numbered ids) and the working memory as the
 * text of its facts, without those the session replaces at every step (`tick`: the node
 * that ran, router results, and the mirrored fields, asserted again from the same state).
 * When a rule reads a fact's `_step` slot, the step number is part of it too (so no step
 * repeats another).
 */
const stepKey = (
  at: { readonly step: number; readonly frontier: ReadonlyArray<string>; readonly joins: { readonly [join: string]: ReadonlyArray<string> }; readonly groups: Parameters<typeof route>[1]["groups"] },
  facts: ReadonlyArray<{ readonly text: string }>,
  tick: ReadonlySet<string>,
  withStep: boolean
): string =>
  JSON.stringify([
    withStep ? at.step : 0,
    at.frontier,
    Object.entries(at.joins).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    at.groups.map((g) => [g.targets, g.join, g.strategy]),
    facts.map((f) => f.text).filter((t) => !tick.has(/^\(([^\s()]+)/.exec(t)?.[1] ?? "")).sort()
  ])

/** True when a rule of `program` may read a fact's `_step` slot (the program names it besides declaring it). */
const readsStep = (program: GraphDefinition["rules"]): boolean => program.text.replace(/\(slot _step\)/g, "").includes("_step")

/**
 * The state a dry run assumes: the graph's defaults and `inputs` over zero values of
 * every declared field (as the original's `--inspect` uses zero-value fixtures).
 */
export const fixtureState = (graph: GraphDefinition, inputs: State): State => {
  const source = stateSchemaSource(graph.ir.state_schema, graph.ir.state_class)
  const declared: { readonly [name: string]: FieldSpec } = source._tag === "Right" && source.right._tag === "inline" ? source.right.fields : {}
  const base: Record<string, unknown> = {}
  for (const field of graph.state.fields.values()) base[field.name] = declared[field.name]?.default ?? zeroOf(declared[field.name]?.type ?? field.type)
  return { ...base, ...inputs }
}

/**
 * Walk the graph by its rules from the entry, without running nodes (at most `maxSteps`
 * steps). Since no node runs, the state never changes: a step that would start exactly as
 * an earlier one did ends the walk (`ended: "loop"`), as everything after it would repeat.
 * It stops (`ended: "interrupt"`) where the run would stop for a person: before a node that
 * waits for input, after a rule's interrupt, and at the `breakpoints` given, as the run
 * loop does. A node that asks while it runs (a function calling `ctx.interrupt`) is not
 * seen: no node runs.
 */
export const dryRun = (
  graph: GraphDefinition,
  state: State,
  maxSteps = 100,
  breakpoints: Breakpoints | null = null
): Effect.Effect<DryRun, RuleError> =>
  Effect.gen(function*() {
    const engine = yield* RuleEngine
    const session = yield* engine.open(graph.rules)
    const steps: Array<TraceStep> = []
    let frontier: ReadonlyArray<string> = [graph.topology.entry]
    let joins: { readonly [join: string]: ReadonlyArray<string> } = {}
    let groups: Parameters<typeof route>[1]["groups"] = []
    let ended: DryRun["ended"] = "step-limit"
    let loop: DryRun["loop"]
    let stop: DryRunStop | undefined
    const seen = new Map<string, number>()
    const withStep = readsStep(graph.rules)
    const tick = new Set(["node-id", "stargraph-route", ...graph.rules.mirrored.map((m) => m.template)])
    for (let step = 1; step <= maxSteps; step++) {
      const key = stepKey({ step, frontier, joins, groups }, session.facts(), tick, withStep)
      const earlier = seen.get(key)
      if (earlier !== undefined) {
        ended = "loop"
        loop = { step: earlier, path: steps.slice(earlier - 1).map((s) => s.nodes) }
        break
      }
      seen.set(key, step)
      // As the run loop: a breakpoint before one of the step's nodes, then a node that waits
      // for input before it runs, stop the run before anything of the step runs.
      const before = breakpoints === null ? undefined : frontier.find((id) => names(breakpoints.before, id))
      const waiting = before ?? frontier.find((id) => graph.nodes.get(id)?.waitsForInput !== undefined)
      if (waiting !== undefined) {
        ended = "interrupt"
        stop = before !== undefined
          ? { node: waiting, step, why: "breakpoint-before" }
          : { node: waiting, step, why: "waits-for-input", prompt: graph.nodes.get(waiting)?.waitsForInput?.prompt ?? "" }
        break
      }
      const rules = yield* session.route({ runId: "dry-run", step, at: "", state, nodes: frontier })
      steps.push({ step, nodes: frontier, fired: rules.firings.map((f) => f.rule), decisions: rules.decisions })
      const routed = route(graph, { step, executed: frontier, decisions: rules.decisions, joins, groups })
      if (routed.stop !== undefined) {
        ended = routed.stop._tag
        if (routed.stop._tag === "interrupt") {
          stop = { node: routed.stop.node, step, why: "rule", prompt: routed.stop.decision.prompt, rule: routed.stop.decision.rule }
        }
        break
      }
      if (routed.next.length === 0) {
        ended = "done"
        break
      }
      // A breakpoint after one of the step's nodes (not after the step that ends the run).
      const after = breakpoints === null ? undefined : frontier.find((id) => names(breakpoints.after, id))
      if (after !== undefined) {
        ended = "interrupt"
        stop = { node: after, step, why: "breakpoint-after" }
        break
      }
      frontier = routed.next
      joins = routed.joins
      groups = routed.groups
    }
    engine.release(session)
    return { steps, ended, ...(loop !== undefined ? { loop } : {}), ...(stop !== undefined ? { stop } : {}) }
  })

/** A state (and facts) to evaluate a node's rules against. */
export interface Fixture {
  readonly node: string
  readonly state?: State
  readonly facts?: ReadonlyArray<FactSpec>
}

/** What the rules decided for one fixture. */
export interface Simulated {
  readonly node: string
  readonly fired: ReadonlyArray<string>
  readonly decision: Decision
  readonly description: string
}

/** Evaluate each fixture with a fresh working memory (its facts asserted first). */
export const simulate = (graph: GraphDefinition, fixtures: ReadonlyArray<Fixture>): Effect.Effect<ReadonlyArray<Simulated>, RuleError> =>
  Effect.forEach(fixtures, (fixture, i) =>
    Effect.gen(function*() {
      const engine = yield* RuleEngine
      const session = yield* engine.open(graph.rules)
      for (const fact of fixture.facts ?? []) {
        yield* Effect.mapError(session.assert(fact), (e) => new RuleError({ ...e, message: `fixture ${i + 1}, fact ${typeof fact === "string" ? fact : JSON.stringify(fact)}: ${e.message}` }))
      }
      const state = fixtureState(graph, fixture.state ?? {})
      const rules = yield* session.route({ runId: "simulate", step: 1, at: "", state, nodes: [fixture.node] })
      engine.release(session)
      const decision = rules.decisions[fixture.node] ?? { _tag: "continue" }
      return { node: fixture.node, fired: rules.firings.map((f) => f.rule), decision, description: describeDecision(decision) }
    }))

/** The rules that fired after one node, in a walk through synthetic node outputs. */
export interface OutputStep {
  readonly node: string
  readonly fired: ReadonlyArray<string>
  readonly decision: Decision
}

/**
 * The original's simulation: each node in turn (as given, in the graph's declaration
 * order) "returns" its synthetic output, which is written over the state (the graph's
 * defaults over zero values to begin with), and the rules are evaluated after it, in one
 * working memory, as a run that went through those nodes would evaluate them.
 */
export const simulateOutputs = (
  graph: GraphDefinition,
  outputs: ReadonlyArray<readonly [node: string, output: State]>
): Effect.Effect<ReadonlyArray<OutputStep>, RuleError> =>
  Effect.gen(function*() {
    const engine = yield* RuleEngine
    const session = yield* engine.open(graph.rules)
    let state = fixtureState(graph, {})
    const steps: Array<OutputStep> = []
    for (const [i, [node, output]] of outputs.entries()) {
      state = { ...state, ...output }
      const rules = yield* session.route({ runId: "simulate", step: i + 1, at: "", state, nodes: [node] })
      steps.push({ node, fired: rules.firings.map((f) => f.rule), decision: rules.decisions[node] ?? { _tag: "continue" } })
    }
    engine.release(session)
    return steps
  })
