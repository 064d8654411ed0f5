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
import type { GraphDefinition } from "./GraphDefinition.js"
import { route } from "./routing.js"

/** One step of a dry run: the node(s), the rules that fired and each node's routing. */
export interface TraceStep {
  readonly step: number
  readonly nodes: ReadonlyArray<string>
  readonly fired: ReadonlyArray<string>
  readonly decisions: { readonly [node: string]: Decision }
}

/** A dry run: the steps, and how it ended. */
export interface DryRun {
  readonly steps: ReadonlyArray<TraceStep>
  readonly ended: "done" | "halt" | "interrupt" | "step-limit"
}

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

/** Walk the graph by its rules from the entry, without running nodes (at most `maxSteps` steps). */
export const dryRun = (graph: GraphDefinition, state: State, maxSteps = 100): Effect.Effect<DryRun, RuleError> =>
  Effect.gen(function*() {
    const engine = yield* RuleEngine
    const session = yield* engine.open(graph.rules)
    const steps: Array<TraceStep> = []
    let frontier: ReadonlyArray<string> = [graph.topology.entry]
    let joins: { readonly [join: string]: ReadonlyArray<string> } = {}
    let groups: Parameters<typeof route>[1]["groups"] = []
    let ended: DryRun["ended"] = "step-limit"
    for (let step = 1; step <= maxSteps; step++) {
      const rules = yield* session.route({ runId: "dry-run", step, at: "", state, nodes: frontier })
      steps.push({ step, nodes: frontier, fired: rules.firings.map((f) => f.rule), decisions: rules.decisions })
      const routed = route(graph, { step, executed: frontier, decisions: rules.decisions, joins, groups })
      if (routed.stop !== undefined) {
        ended = routed.stop._tag
        break
      }
      if (routed.next.length === 0) {
        ended = "done"
        break
      }
      frontier = routed.next
      joins = routed.joins
      groups = routed.groups
    }
    engine.release(session)
    return { steps, ended }
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
