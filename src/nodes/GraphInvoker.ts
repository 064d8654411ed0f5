/**
 * The contract between `std.graph_invoke@1` (a tool, in src/nodes) and the graph layer
 * that loads and runs graphs (src/graph, which src/nodes may not import): the tool asks
 * the invoker in its context to run a graph file to completion. The graph layer installs
 * the live invoker when it loads ({@link install}, from `src/graph/Graph.ts`); a context
 * may provide its own with `Effect.provideService(GraphInvoker, …)`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
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

let installed: GraphInvokerShape | undefined

/** Install the live invoker (the graph layer does, once, when it loads). */
export const install = (invoker: GraphInvokerShape): void => {
  installed = invoker
}

/** The invoker of this context: the installed one unless a context provides another. */
export class GraphInvoker extends Context.Reference<GraphInvoker>()("stargraph/GraphInvoker", {
  defaultValue: (): GraphInvokerShape => ({
    invoke: (file, inputs) =>
      installed !== undefined
        ? installed.invoke(file, inputs)
        : Effect.fail(new ToolError({ reason: "failed", message: "no graph runner is loaded in this process", fix: "run graphs through stargraph's Graph module (Graph.load / Graph.make), which installs it" }))
  })
}) {}
