/**
 * The nodes a stopped run can still run once it goes on, as far as the graph says before
 * it runs: what a resume's checks (a language-model node without a model) look at.
 *
 * Where a run goes is decided step by step (rules over facts, routers, the nodes' own
 * answers), so the exact set is not known before the run gets there; this is a superset
 * of it, from what the graph declares: the frontier (`next`), then, from each node, its
 * edges (static, join, every case and the default, a router's declared targets), the next
 * node in declaration order (a graph routed by rules: a node no rule routes continues
 * there), a declared `parallel:` block's other targets and join, an `interrupt` node's
 * `on_timeout: goto:<node>`, and every target a rule's action names anywhere (a rule may
 * fire after any step: `goto`, `retry`, `parallel` targets and join, an interrupt's
 * `on_timeout`), a governance pack's YAML rules included. A decision whose target is
 * computed while the run goes on cannot be followed before: a rule that asserts a
 * `stargraph_action` fact itself (a pack's CLIPS, an `assert` action of that template),
 * after which every node counts as reachable; a node's own `ctx.interrupt(…, { onTimeout:
 * "goto:<node>" })`, which only its code knows (the wait a run stops at keeps it, and that
 * one is followed).
 */
import { possibleSuccessors } from "../ir/topology.js"
import type { Action } from "../ir/rules.js"
import type { RunRecord } from "../checkpoint/models.js"
import type { GraphDefinition } from "./GraphDefinition.js"

/** The template rule actions are asserted as: a rule asserting it itself decides where the run goes at run time. */
const ACTION_TEMPLATE = "stargraph_action"

/**
 * Where a stopped run can still go: `next`, the nodes it runs next (its latest checkpoint's
 * frontier), and `later`, every node it may reach after them (a frontier node only when it
 * can come round again), or `"any"` when the graph decides a target at run time.
 */
export interface StillReachable {
  readonly next: ReadonlySet<string>
  readonly later: ReadonlySet<string> | "any"
}

/** The node a `goto:<node>` timeout names, if it names one. */
const timeoutTarget = (onTimeout: string | undefined): string | undefined =>
  onTimeout?.startsWith("goto:") === true ? onTimeout.slice("goto:".length) : undefined

/** The nodes `action` may route to, or `"any"` when it decides that at run time (it asserts a `stargraph_action` itself). */
const actionTargets = (action: Action): ReadonlyArray<string> | "any" => {
  switch (action.kind) {
    case "goto":
    case "retry":
      return [action.target]
    case "parallel":
      return [...action.targets, ...(action.join !== undefined ? [action.join] : [])]
    case "interrupt": {
      const to = timeoutTarget(action.on_timeout)
      return to !== undefined ? [to] : []
    }
    case "assert":
      return action.fact.includes(ACTION_TEMPLATE) ? "any" : []
    case "halt":
    case "retract":
      return []
  }
}

/** Every node a rule of the graph (or of its packs) may route to, or `"any"` when one decides that at run time. */
const ruleTargets = (graph: GraphDefinition): ReadonlySet<string> | "any" => {
  const packs = graph.rules.packs
  if (packs.some((pack) => pack.programs.some((p) => p.text.includes(ACTION_TEMPLATE)))) return "any"
  const targets = new Set<string>()
  const rules = [...graph.ir.rules, ...packs.flatMap((pack) => pack.rules.map((r) => r.rule))]
  for (const rule of rules) {
    for (const action of rule.then) {
      const to = actionTargets(action)
      if (to === "any") return "any"
      for (const t of to) targets.add(t)
    }
  }
  return targets
}

/** The nodes a run may go to right after `id` ran, besides the rules' targets. */
const successors = (graph: GraphDefinition, id: string): ReadonlyArray<string> => {
  const { topology } = graph
  const out = [...possibleSuccessors(topology, id).next]
  // A graph routed by rules: a node no rule routes continues with the next one declared
  // (a `halt` node stops the run there instead).
  if (!graph.rules.edgeMode && graph.nodes.get(id)?.halts === undefined) {
    const following = graph.ir.nodes[topology.order.get(id)! + 1]
    if (following !== undefined) out.push(following.id)
  }
  for (const block of graph.ir.parallel) {
    if (block.targets[0] === id) out.push(...block.targets, ...(block.join !== undefined ? [block.join] : []))
  }
  const timeout = timeoutTarget(graph.nodes.get(id)?.waitsForInput?.onTimeout)
  if (timeout !== undefined) out.push(timeout)
  return out
}

/**
 * Where a run stopped with frontier `next` can still go (see {@link StillReachable}).
 * `also`: nodes it may go to besides its frontier's, before any of them runs (the
 * `goto:<node>` timeout of the wait it stopped at).
 */
export const stillReachable = (graph: GraphDefinition, next: ReadonlyArray<string>, also: ReadonlyArray<string> = []): StillReachable => {
  const frontier = new Set(next)
  if (frontier.size === 0 && also.length === 0) return { next: frontier, later: new Set() }
  const byRules = ruleTargets(graph)
  if (byRules === "any") return { next: frontier, later: "any" }
  const later = new Set<string>()
  const queue: Array<string> = []
  const reach = (id: string) => {
    if (!graph.topology.nodes.has(id) || later.has(id)) return
    later.add(id)
    queue.push(id)
  }
  for (const id of also) reach(id)
  for (const id of byRules) reach(id)
  for (const id of frontier) for (const to of successors(graph, id)) reach(to)
  for (let i = 0; i < queue.length; i++) for (const to of successors(graph, queue[i]!)) reach(to)
  return { next: frontier, later }
}

/**
 * The ids of `needing` (a graph's nodes that need something to run, as `nodesNeedingModel`
 * lists them: a child graph's as `<node>/<child node>`) that a run can still reach: a
 * node among `reach.next` or `reach.later`; a child graph's node when its `subgraph` or
 * `map` node is among `reach.later` (a new child run starts there). A frontier node's child
 * graph is left out when that node cannot come round again: its child run may be past the node.
 */
export const reachableNeeding = (needing: ReadonlyArray<string>, reach: StillReachable): ReadonlyArray<string> =>
  reach.later === "any" ? needing : needing.filter((id) => {
    const slash = id.indexOf("/")
    const later = reach.later as ReadonlySet<string>
    return slash === -1 ? reach.next.has(id) || later.has(id) : later.has(id.slice(0, slash))
  })

/**
 * Where run `run` can still go from its latest checkpoint's frontier `next`: with the
 * `goto:<node>` timeout of the wait it stops at, if that wait has a deadline (kept with the
 * wait, whoever asked).
 */
export const reachableFrom = (graph: GraphDefinition, next: ReadonlyArray<string>, waiting: RunRecord["waiting"]): StillReachable => {
  const to = waiting?.deadline !== undefined ? timeoutTarget(waiting.on_timeout) : undefined
  return stillReachable(graph, next, to !== undefined ? [to] : [])
}
