/**
 * `std.graph_invoke@1`: the original's tool that runs another graph to completion as a
 * tool call. Invoking a graph is code execution (its nodes may name any module), so it
 * needs the capability `tools:std:graph_invoke` (default-deny). Unlike the original, which
 * takes any path, `graph` must be a YAML file inside the tools' filesystem root (as for
 * the `std.file_*` tools, see fsJail.ts: a relative path is taken from the root, links are
 * resolved first): the root is what limits which graphs a run may invoke (set it to a
 * folder holding only those graphs and their modules).
 *
 * The child runs in-process on the real engine with a throwaway in-memory checkpointer
 * and the caller's other services (its capabilities, filesystem root, default model); it
 * answers `{status, final_state, run_id, graph_hash}`. A child that stops for input is
 * `ToolError[failed]` (a tool call has no channel to answer it); a child that fails is
 * `ToolError[failed]` carrying the child's error, as the original raises it. Like every
 * tool call, the call and its answer (or failure) are recorded in the step's cassette,
 * so a replay answers from there and runs no graph.
 */
import { stat } from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as GraphInvoker from "../../GraphInvoker.js"
import * as Tool from "../Tool.js"
import { resolveJailed } from "./fsJail.js"

/** The capability every call needs (checked before the call, never in a replay). */
export const GRAPH_INVOKE_CAPABILITY = "tools:std:graph_invoke"

/** `std.graph_invoke@1`. */
export const graphInvoke = Tool.make({
  id: "std.graph_invoke",
  version: "1",
  description:
    "Run another Stargraph graph (a YAML file inside the tools filesystem root) to completion in-process and return its status and final state. Requires the tools:std:graph_invoke capability; blocked by default.",
  input: Schema.Struct({
    graph: Schema.String,
    inputs: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })))
  }),
  output: Schema.Struct({
    status: Schema.String,
    final_state: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
    run_id: Schema.String,
    graph_hash: Schema.String
  }),
  capabilities: [GRAPH_INVOKE_CAPABILITY],
  run: ({ graph, inputs }) =>
    Effect.gen(function*() {
      const file = yield* resolveJailed(graph, undefined, "graph")
      const isFile = yield* Effect.promise(() => stat(file).then((s) => s.isFile(), () => false))
      if (!isFile) {
        return yield* new ToolError({ reason: "invalid-input", argument: "graph", message: `graph '${graph}' is not a file (looked for ${file})`, fix: "pass the path of a graph YAML file inside the tools' filesystem root" })
      }
      const invoker = yield* GraphInvoker.current
      return yield* invoker.invoke(file, inputs ?? {})
    })
})
