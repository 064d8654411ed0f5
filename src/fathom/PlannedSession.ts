/**
 * A rule session for programs whose routing depends only on which node ran (see
 * `RuleProgram.routePlan`: the graph's compiled `edges:` and rules that match nothing but
 * `(node-id (id X))` and only decide; no packs, no mirrored fields). Such a program is
 * fully predictable: after each node its static edge rule fires, or the first case whose
 * condition holds (else the default), or its router rule on the router's
 * `stargraph-route` fact, or the fixed set of rules on its `node-id` fact (their outcome
 * is worked out once per program by the engine itself); and working memory only ever
 * holds `(initial-fact)` and the tick's `node-id` and `stargraph-route` facts. This
 * session computes the same firings, decisions and working-memory snapshots the engine
 * would, fact ids included, without running it (a differential test holds the two to the
 * same results).
 *
 * The moment anything else enters working memory (an interrupt's evidence, a
 * counterfactual's `facts_assert` or `facts_retract`, a restored snapshot holding other
 * facts) the session hands over to a real engine restored from its snapshot, the same
 * path a run takes when it resumes from a checkpoint, and delegates to it from then on.
 */
import * as Either from "effect/Either"
import type { RuleError } from "../errors.js"
import { evaluate } from "../ir/condition.js"
import { choose, type Decision, type RuleFiring } from "./Decision.js"
import { type FactsSnapshot, renderStored, type StoredFact } from "./facts.js"
import type { RoutePlan, PlannedRule, RuleProgram } from "./program.js"
import { open as openEngine, type RuleSession } from "./RuleSession.js"

/** The templates of the facts an planned session keeps itself. */
const KEPT = new Set(["initial-fact", "node-id", "stargraph-route"])

const INITIAL: StoredFact = [0, "initial-fact", []]

/** Whether `facts` holds only what this session keeps (else the engine takes it). */
const keepable = (facts: FactsSnapshot): boolean =>
  facts.agenda === undefined && facts.focus === undefined && facts.globals === undefined && facts.facts.every(([, t]) => KEPT.has(t))

/** What the rules of a `fixed` node do: the rules that fire, in order, and the decision. */
interface FixedOutcome {
  readonly rules: ReadonlyArray<string>
  readonly decision: Decision
}

/** Outcomes of `fixed` nodes, by program, worked out by the engine the first time a run needs them. */
const fixedOutcomes = new WeakMap<RuleProgram, Map<string, Either.Either<FixedOutcome, RuleError>>>()

const fixedOutcome = (program: RuleProgram, node: string): Either.Either<FixedOutcome, RuleError> => {
  let known = fixedOutcomes.get(program)
  if (known === undefined) fixedOutcomes.set(program, known = new Map())
  const memo = known.get(node)
  if (memo !== undefined) return memo
  const outcome = Either.flatMap(openEngine(program), (session) =>
    Either.map(session.route({ runId: "", step: 0, at: "", state: {}, nodes: [node] }), (r) => ({
      rules: r.firings.map((f) => f.rule),
      decision: r.decisions[node] ?? { _tag: "continue" }
    })))
  known.set(node, outcome)
  return outcome
}

/** The decision of a fired edge rule (`returned`: a router's targets). */
const decide = (program: RuleProgram, fired: PlannedRule, returned: ReadonlyArray<string>): Decision => {
  const action = program.actions[fired.action]
  if (action === undefined) return { _tag: "continue" }
  if (action._tag === "decision") return choose([action.decision])
  if (action._tag === "route") return { _tag: "parallel", targets: [...new Set([...action.static, ...returned])], join: "", strategy: "all", rule: action.rule }
  return { _tag: "continue" }
}

/**
 * Open a planned session, fresh or restored; undefined when `restored` holds facts
 * only the engine can keep. `materialize` opens an engine session on a snapshot.
 */
export const open = (
  program: RuleProgram,
  plan: ReadonlyMap<string, RoutePlan>,
  restored: FactsSnapshot | undefined,
  materialize: (facts: FactsSnapshot) => Either.Either<RuleSession, RuleError>
): RuleSession | undefined => {
  if (restored !== undefined && !keepable(restored)) return undefined
  let next = restored?.next ?? 1
  // Facts in id order: `(initial-fact)` (unless retracted), then this tick's route and node-id facts.
  let facts: Array<StoredFact> = restored === undefined ? [INITIAL] : [...restored.facts].sort((a, b) => a[0] - b[0])
  let engine: RuleSession | undefined

  const snapshot = (): FactsSnapshot => (engine !== undefined ? engine.snapshot() : { next, facts: facts.slice() })

  const live = (): Either.Either<RuleSession, RuleError> => {
    if (engine !== undefined) return Either.right(engine)
    return Either.map(materialize(snapshot()), (session) => (engine = session))
  }

  const session: RuleSession = {
    program,
    route: (input) => {
      if (engine !== undefined) return engine.route(input)
      // The tick's facts go; the router results of this step come in.
      const kept: Array<StoredFact> = facts.filter(([, t]) => t === "initial-fact")
      const routeFacts = new Map<number, { readonly id: number; readonly targets: ReadonlyArray<string> }>()
      for (const [edge, targets] of input.routes ?? []) {
        const id = next++
        kept.push([id, "stargraph-route", [edge, [...targets]]])
        routeFacts.set(edge, { id, targets })
      }
      const firings: Array<RuleFiring> = []
      const decisions: Record<string, Decision> = {}
      let nodeFact: StoredFact | undefined
      for (const node of input.nodes) {
        const id = next++
        nodeFact = [id, "node-id", [{ symbol: node }]]
        const p = plan.get(node)
        if (p?._tag === "fixed") {
          const outcome = fixedOutcome(program, node)
          if (Either.isLeft(outcome)) return Either.left(outcome.left)
          for (const rule of outcome.right.rules) firings.push({ rule, facts: [id], node })
          decisions[node] = outcome.right.decision
          continue
        }
        let fired: PlannedRule | undefined
        let matched: ReadonlyArray<number> = [id]
        let returned: ReadonlyArray<string> = []
        if (p?._tag === "static") {
          fired = p.rule
        } else if (p?._tag === "cases") {
          const j = p.cases.findIndex((_, k) => {
            const condition = program.cases.get(`${p.edge}:${k}`)
            return condition !== undefined && evaluate(condition, input.state)
          })
          fired = j >= 0 ? p.cases[j] : p.default
        } else if (p?._tag === "router") {
          const routed = routeFacts.get(p.edge)
          if (routed !== undefined) {
            fired = p.rule
            matched = [id, routed.id]
            returned = routed.targets
          }
        }
        if (fired === undefined) {
          decisions[node] = { _tag: "continue" }
          continue
        }
        firings.push({ rule: fired.rule, facts: matched, node })
        decisions[node] = decide(program, fired, returned)
      }
      if (nodeFact !== undefined) kept.push(nodeFact)
      facts = kept
      return Either.right({ firings, effects: [], decisions })
    },
    assert: (fact) => Either.flatMap(live(), (s) => s.assert(fact)),
    retract: (pattern) => Either.flatMap(live(), (s) => s.retract(pattern)),
    snapshot,
    facts: () => (engine !== undefined ? engine.facts() : facts.map((f) => ({ id: f[0], text: renderStored(f, program.templates) })))
  }
  return session
}
