/**
 * Where a run goes after a step. Rules decide each executed node's routing (see
 * fathom/RuleSession); this module turns those decisions into the next frontier:
 *
 * - `goto T` adds T (`__end__`: the branch ends); `retry T` adds T after its backoff;
 * - `parallel` adds its targets, as a group when it has a join or a strategy other than
 *   `all` (the group's branches run together; their own routing gives way to the join);
 * - `continue` (no rule routed the node) adds the next node in declaration order — except
 *   in a graph routed by `edges:`, where every node's edges compiled to an action, and at
 *   a `halt` node, where the run stops;
 * - `halt` stops the run (done), `interrupt` stops it for input; interrupt wins over halt,
 *   and the first node in declaration order over later ones. The frontier returned with
 *   an interrupt is where the run goes once answered (past the node, as `continue`).
 *
 * Join edges (`from: [a, b]`) keep their progress in the checkpoint, and a declared
 * `parallel:` block fans out when the run reaches its first target.
 */
import * as Effect from "effect/Effect"
import type { ParallelGroup } from "../checkpoint/models.js"
import type { Decision, StepRules } from "../fathom/Decision.js"
import { NodeExecutionError } from "../errors.js"
import { renderCause, valueText } from "../nodes/callFunction.js"
import { listSome } from "../ir/limits.js"
import { END } from "../ir/schema.js"
import type { State } from "../ir/stateSchema.js"
import type { GraphDefinition } from "./GraphDefinition.js"

/** Why the run stops after this step, when it does. */
export type Stop =
  | { readonly _tag: "halt"; readonly node: string; readonly rule: string; readonly reason: string }
  | { readonly _tag: "interrupt"; readonly node: string; readonly decision: Extract<Decision, { _tag: "interrupt" }> }

/**
 * The step's rule outcome with a `halt` node's stop as that node's decision (`halt`, rule
 * "", its reason) where the rules left it `continue`: a halt node ends the run as a rule's
 * halt does, and its checkpoint, `inspect` and the run's summary say so and why.
 */
export const withHaltNode = (rules: StepRules, stop: Stop | undefined): StepRules =>
  stop?._tag === "halt" && stop.rule === "" && rules.decisions[stop.node]?._tag === "continue"
    ? { ...rules, decisions: { ...rules.decisions, [stop.node]: { _tag: "halt", rule: "", reason: stop.reason } } }
    : rules

/** The frontier after a step, its join progress and groups, and a stop if any. */
export interface Routed {
  readonly next: ReadonlyArray<string>
  readonly joins: { readonly [join: string]: ReadonlyArray<string> }
  readonly groups: ReadonlyArray<ParallelGroup>
  /** The longest `retry` backoff among the decisions (ms). */
  readonly backoffMs: number
  readonly stop: Stop | undefined
}

/** Sort node ids by declaration order (the deterministic scheduling order). */
export const byDeclaration = (graph: GraphDefinition, ids: Iterable<string>): ReadonlyArray<string> =>
  [...new Set(ids)].sort((a, b) => graph.topology.order.get(a)! - graph.topology.order.get(b)!)

/** Router results of the executed nodes (user code, possibly async), by edge index. */
export const evaluateRouters = (
  graph: GraphDefinition,
  executed: ReadonlyArray<string>,
  state: State,
  step: number
): Effect.Effect<ReadonlyMap<number, ReadonlyArray<string>>, NodeExecutionError> => {
  const edges = executed.flatMap((id) => (graph.topology.outgoing.get(id) ?? []).flatMap((e) => (e._tag === "router" ? [{ id, e }] : [])))
  if (edges.length === 0) return Effect.succeed(new Map())
  return Effect.map(
    Effect.forEach(edges, ({ e, id }) => {
      const fn = graph.routers.get(e.edgeIndex)!
      const failed = (cause: string) => new NodeExecutionError({ nodeId: `${id}#router`, step, attempts: 1, cause })
      return Effect.tryPromise({
        try: async () => await fn(state),
        catch: (cause) => failed(cause === undefined ? "the router failed with undefined (no error value)" : renderCause(cause))
      }).pipe(Effect.flatMap((result) => {
        const targets = typeof result === "string" ? [result] : Array.isArray(result) ? result : undefined
        if (targets === undefined || targets.some((t) => typeof t !== "string")) {
          return Effect.fail(failed(`router returned ${valueText(result)}; return a node id or a list of node ids`))
        }
        const bad = targets.find((t) => !e.targets.includes(t))
        return bad === undefined
          ? Effect.succeed([e.edgeIndex, targets] as const)
          : Effect.fail(failed(`router returned '${bad}', which is not among its declared targets (${listSome(e.targets)})`))
      }))
    }),
    (pairs) => new Map(pairs)
  )
}

/** The frontier after `executed` ran with `decisions`, given the groups the step ran. */
export const route = (
  graph: GraphDefinition,
  input: {
    readonly step: number
    readonly executed: ReadonlyArray<string>
    readonly decisions: { readonly [node: string]: Decision }
    readonly joins: { readonly [join: string]: ReadonlyArray<string> }
    /** The groups the step's frontier belonged to. */
    readonly groups: ReadonlyArray<ParallelGroup>
  }
): Routed => {
  const { decisions, executed, step } = input
  const order = graph.topology.order
  const ids = graph.rules.nodeIds
  const next: Array<string> = []
  const groups: Array<ParallelGroup> = []
  const progress: Record<string, ReadonlyArray<string>> = { ...input.joins }
  let backoffMs = 0
  let stop: Stop | undefined
  const joining = new Map<string, ParallelGroup>()
  for (const g of input.groups) if (g.join !== "") for (const t of g.targets) joining.set(t, g)
  const joined = new Set<string>()

  for (const node of executed) {
    let decision = decisions[node] ?? { _tag: "continue" }
    if (decision._tag === "interrupt") {
      if (stop?._tag !== "interrupt") stop = { _tag: "interrupt", node, decision }
      // Once answered, the run goes where the node's other actions say (past it when none).
      decision = decision.after ?? { _tag: "continue" }
    }
    if (decision._tag === "halt") {
      stop ??= { _tag: "halt", node, rule: decision.rule, reason: decision.reason }
      continue
    }
    // A branch of a joined group: the join decides where it goes.
    const group = joining.get(node)
    if (group !== undefined) {
      if (!joined.has(group.id)) {
        joined.add(group.id)
        if (group.join !== END) next.push(group.join)
      }
      continue
    }
    switch (decision._tag) {
      case "goto":
        if (decision.target !== END) next.push(decision.target)
        break
      case "retry":
        next.push(decision.target)
        backoffMs = Math.max(backoffMs, decision.backoff_ms)
        break
      case "parallel":
        next.push(...decision.targets.filter((t) => t !== END))
        if (decision.join !== "" || decision.strategy !== "all") {
          groups.push({ id: `${step}:${node}`, targets: decision.targets, join: decision.join, strategy: decision.strategy })
        }
        break
      case "continue": {
        if (graph.rules.edgeMode) break
        const reason = graph.nodes.get(node)?.halts
        if (reason !== undefined) {
          stop ??= { _tag: "halt", node, rule: "", reason }
          break
        }
        const after = ids[order.get(node)! + 1]
        if (after !== undefined) next.push(after)
        break
      }
    }
  }

  // Join edges: targets run once every source has completed.
  for (const id of executed) {
    for (const edge of graph.topology.outgoing.get(id) ?? []) {
      if (edge._tag !== "join") continue
      const join = graph.topology.joins[edge.join]!
      const seen = new Set([...(progress[String(edge.join)] ?? []), id])
      if (join.sources.every((s) => seen.has(s))) {
        next.push(...join.targets.filter((t) => t !== END))
        delete progress[String(edge.join)]
      } else {
        progress[String(edge.join)] = byDeclaration(graph, seen)
      }
    }
  }

  // Declared parallel blocks fan out when the run reaches their first target; the block
  // goes on at its join, and without one (`join: ""`, as in the original) it ends there.
  const grouped = new Set(groups.flatMap((g) => g.targets))
  for (const [i, block] of graph.ir.parallel.entries()) {
    const first = block.targets[0]
    if (next.includes(first) && !grouped.has(first)) {
      next.push(...block.targets)
      for (const t of block.targets) grouped.add(t)
      const join = block.join === undefined || block.join === "" ? END : block.join
      groups.push({ id: `${step}:parallel[${i}]`, targets: block.targets, join, strategy: block.strategy ?? "all" })
    }
  }

  return { next: stop?._tag === "halt" ? [] : byDeclaration(graph, next), joins: progress, groups, backoffMs, stop }
}
