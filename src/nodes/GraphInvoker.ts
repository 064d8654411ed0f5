/**
 * The contract between `std.graph_invoke@1` (a tool, in src/nodes) and the graph layer
 * that loads and runs graphs (src/graph, which src/nodes may not import): the tool asks
 * the invoker in its context to run a graph file to completion. The graph layer provides
 * the live invoker to the nodes of every run it drives (unless the run's caller provides
 * one: `Effect.provideService(GraphInvoker, …)` overrides it); the tool called with none
 * in its context fails with a `ToolError` saying so ({@link current}).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ToolError } from "../errors.js"

/** What a finished child run returns (the original's `{status, final_state, run_id, graph_hash}`). */
export interface InvokedRun {
  readonly status: string
  readonly final_state: Readonly<Record<string, unknown>>
  readonly run_id: string
  readonly graph_hash: string
}

/** Runs a graph file (an absolute, already checked path) with `inputs` to completion. */
export interface GraphInvokerShape {
  readonly invoke: (file: string, inputs: Readonly<Record<string, unknown>>) => Effect.Effect<InvokedRun, ToolError>
}

/** The service that runs graph files for `std.graph_invoke@1` (the graph layer provides the live one to a run's nodes). */
export class GraphInvoker extends Context.Tag("stargraph/GraphInvoker")<GraphInvoker, GraphInvokerShape>() {}

/** The invoker of this context, or `ToolError[failed]` naming the fix when none is provided. */
export const current: Effect.Effect<GraphInvokerShape, ToolError> = Effect.flatMap(Effect.serviceOption(GraphInvoker), Option.match({
  onSome: Effect.succeed,
  onNone: () =>
    Effect.fail(
      new ToolError({
        reason: "failed",
        message: "no graph invoker in this context: std.graph_invoke runs graphs only inside a graph run (or where one is provided)",
        fix: "call the tool from a node of a run started through stargraph's Graph module (Graph.load / Graph.make provide the invoker), " +
          "or provide one: Effect.provideService(GraphInvoker, …) (Graph.invoker is the live one)"
      })
    )
}))
