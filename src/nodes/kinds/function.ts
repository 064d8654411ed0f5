/** `function`: calls an exported function `(state, ctx) => update` from a module beside the graph. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { RetryPolicy } from "../../ir/schema.js"
import { asFunction, functionExecutor } from "../callFunction.js"
import type { NodeFunction } from "../Executor.js"
import * as NodeKind from "../NodeKind.js"

/** The `function` kind. */
export const FunctionKind = NodeKind.make({
  name: "function",
  summary: "Calls an exported function (state, ctx) => update from a .ts/.js module beside the graph; it may ask for input with ctx.interrupt.",
  fields: {
    module: Schema.String,
    export: Schema.String,
    /** Bump when the code's behaviour changes; folded into the graph hash. */
    version: Schema.optional(Schema.String),
    retry: Schema.optional(RetryPolicy),
    timeout_ms: Schema.optional(Schema.Int.pipe(Schema.positive()))
  },
  stops: "may-ask-for-input",
  modules: (node) => [{ module: node.module, exportName: node.export }],
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const ref = { nodeId: node.id, module: node.module, exportName: node.export }
      const fn = yield* Effect.flatMap(ctx.exported(ref), (v) => asFunction<NodeFunction<unknown, unknown>>(v, ref))
      return { execute: functionExecutor(fn, node) }
    })
})
