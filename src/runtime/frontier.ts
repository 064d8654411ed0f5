/**
 * Where a run goes after a step: evaluates static, join, conditional and router edges of
 * the nodes that just ran, in declaration order, and returns the next frontier.
 */
import * as Effect from "effect/Effect"
import { NodeExecutionError } from "../errors.js"
import { END } from "../ir/schema.js"
import type { State } from "../ir/stateSchema.js"
import type { GraphDefinition } from "./GraphDefinition.js"
import { evaluate } from "../nodes/condition.js"
import { listSome } from "../ir/limits.js"

/** The frontier plus updated join progress. */
export interface NextStep {
  readonly next: ReadonlyArray<string>
  readonly joins: { readonly [join: string]: ReadonlyArray<string> }
}

/** Sort node ids by declaration order (the deterministic scheduling order). */
export const byDeclaration = (graph: GraphDefinition, ids: Iterable<string>): ReadonlyArray<string> =>
  [...new Set(ids)].sort((a, b) => graph.topology.order.get(a)! - graph.topology.order.get(b)!)

const routerTargets = (
  graph: GraphDefinition,
  from: string,
  edgeIndex: number,
  allowed: ReadonlyArray<string>,
  state: State,
  step: number
): Effect.Effect<ReadonlyArray<string>, NodeExecutionError> => {
  const fn = graph.routers.get(edgeIndex)!
  const failed = (cause: string) => new NodeExecutionError({ nodeId: `${from}#router`, step, attempts: 1, cause })
  return Effect.tryPromise({
    try: async () => await fn(state),
    catch: (cause) => failed(cause instanceof Error ? cause.stack ?? cause.message : String(cause))
  }).pipe(
    Effect.flatMap((result) => {
      const targets = typeof result === "string" ? [result] : Array.isArray(result) ? result : undefined
      if (targets === undefined || targets.some((t) => typeof t !== "string")) {
        return Effect.fail(failed(`router returned ${JSON.stringify(result)}; return a node id or a list of node ids`))
      }
      const bad = targets.find((t) => !allowed.includes(t))
      return bad === undefined
        ? Effect.succeed(targets)
        : Effect.fail(failed(`router returned '${bad}', which is not among its declared targets (${listSome(allowed)})`))
    })
  )
}

/** Compute the frontier after `executed` ran and produced `state`. */
export const nextFrontier = (
  graph: GraphDefinition,
  executed: ReadonlyArray<string>,
  state: State,
  joins: { readonly [join: string]: ReadonlyArray<string> },
  step: number
): Effect.Effect<NextStep, NodeExecutionError> => {
  // Router targets come from user code (possibly async); every other edge is evaluated synchronously.
  const routed = new Map<number, ReadonlyArray<string>>()
  const routers: Array<Effect.Effect<void, NodeExecutionError>> = []
  for (const id of executed) {
    for (const edge of graph.topology.outgoing.get(id) ?? []) {
      if (edge._tag === "router") {
        routers.push(Effect.map(routerTargets(graph, id, edge.edgeIndex, edge.targets, state, step), (t) => void routed.set(edge.edgeIndex, t)))
      }
    }
  }
  const follow = (): NextStep => {
    const next: Array<string> = []
    const progress: Record<string, ReadonlyArray<string>> = { ...joins }
    for (const id of executed) {
      for (const edge of graph.topology.outgoing.get(id) ?? []) {
        switch (edge._tag) {
          case "static":
            next.push(...edge.to)
            break
          case "cases": {
            const hit = edge.cases.find((c) => evaluate(c.when, state))
            const target = hit ? hit.to : edge.default
            if (target !== undefined) next.push(target)
            break
          }
          case "router":
            next.push(...routed.get(edge.edgeIndex)!)
            break
          case "join": {
            const join = graph.topology.joins[edge.join]!
            const seen = new Set([...(progress[String(edge.join)] ?? []), id])
            if (join.sources.every((s) => seen.has(s))) {
              next.push(...join.targets)
              delete progress[String(edge.join)]
            } else {
              progress[String(edge.join)] = byDeclaration(graph, seen)
            }
            break
          }
        }
      }
    }
    return { next: byDeclaration(graph, next.filter((n) => n !== END)), joins: progress }
  }
  return routers.length === 0 ? Effect.sync(follow) : Effect.zipRight(Effect.all(routers, { discard: true }), Effect.sync(follow))
}
