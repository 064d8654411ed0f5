/**
 * The Fathom adapter: a graph's rules as an Effect-facing working memory outside a run —
 * assert facts (with the provenance slots mirrored facts carry), retract them, evaluate
 * the rules after a node, read the facts. The run loop uses the same session; tools and
 * tests use this to drive a graph's rules directly.
 *
 * ```ts
 * const adapter = yield* FathomAdapter.make(graph)
 * yield* adapter.assertFact("(risk (level high))")
 * const { decisions } = yield* adapter.evaluate({ node: "classify", state: { verdict: "urgent" } })
 * ```
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { RuleError } from "../errors.js"
import type { State } from "../ir/stateSchema.js"
import type { StepRules } from "./Decision.js"
import type { FactSpec, FactsSnapshot } from "./facts.js"
import type { RuleProgram } from "./program.js"
import { RuleEngine } from "./RuleEngine.js"

/** Provenance of an asserted fact (the `_origin … _timestamp` slots of mirrored facts). */
export interface Provenance {
  readonly origin: string
  readonly source: string
  readonly runId: string
  readonly step: number
  readonly confidence?: number
  readonly timestamp: string
}

/** A graph's rules and a working memory. */
export interface FathomAdapter {
  /** Assert a fact: CLIPS text, or a template and its slots; its id (undefined for a duplicate). */
  readonly assertFact: (fact: FactSpec) => Effect.Effect<number | undefined, RuleError>
  /** Assert a template fact with the provenance slots its template declares. */
  readonly assertWithProvenance: (template: string, slots: { readonly [slot: string]: unknown }, provenance: Provenance) => Effect.Effect<number | undefined, RuleError>
  /** Retract every fact matching a template name, a pattern with literal slots, or `{template, slots}`. */
  readonly retract: (pattern: FactSpec) => Effect.Effect<number, RuleError>
  /** Mirror `state`, assert `(node-id (id node))`, run the rules: what fired and the routing decided. */
  readonly evaluate: (input: { readonly node: string; readonly state: State; readonly step?: number; readonly runId?: string }) => Effect.Effect<StepRules, RuleError>
  /** The facts, as CLIPS text with their ids. */
  readonly facts: Effect.Effect<ReadonlyArray<{ readonly id: number; readonly text: string }>>
  /** Working memory, compact (as a checkpoint stores it). */
  readonly snapshot: Effect.Effect<FactsSnapshot>
}

/** An adapter over a graph's rule program (fresh, or restored from facts); released with the scope. */
export const make = (graph: { readonly rules: RuleProgram }, facts?: FactsSnapshot): Effect.Effect<FathomAdapter, RuleError, Scope.Scope> =>
  Effect.gen(function*() {
    const engine = yield* RuleEngine
    const session = yield* Effect.acquireRelease(engine.open(graph.rules, facts), (s) => Effect.sync(() => engine.release(s)))
    let step = 0
    return {
      assertFact: (fact) => session.assert(fact),
      assertWithProvenance: (template, slots, p) =>
        session.assert({
          template,
          slots: { ...slots, _origin: p.origin, _source: p.source, _run_id: p.runId, _step: p.step, _confidence: p.confidence ?? 1, _timestamp: p.timestamp }
        }),
      retract: (pattern) => session.retract(pattern),
      evaluate: (input) =>
        Effect.suspend(() => session.route({ runId: input.runId ?? "adapter", step: input.step ?? ++step, at: new Date(0).toISOString(), state: input.state, nodes: [input.node] })),
      facts: Effect.sync(() => session.facts()),
      snapshot: Effect.sync(() => session.snapshot())
    }
  })
