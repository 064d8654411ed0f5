/** `echo` (the original Stargraph's kind): copies a state field onto itself, a visible no-op step. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as NodeKind from "../NodeKind.js"

/** The `echo` kind. */
export const EchoKind = NodeKind.make({
  name: "echo",
  summary: "Copies a state field (config.field, default message) onto itself: a visible no-op step.",
  fields: {
    spec: Schema.optional(Schema.String),
    config: Schema.optional(Schema.Struct({ field: Schema.optional(Schema.String) }))
  },
  check: (node, ctx) => {
    const field = node.config?.field ?? "message"
    return ctx.fields.has(field) ? undefined : {
      path: node.config?.field === undefined ? ["kind"] : ["config", "field"],
      message: `echo copies state field '${field}', which is not declared`,
      fix: `declare '${field}' in the state schema, or set config.field to one of: ${ctx.declared}`
    }
  },
  compile: (node) => {
    const field = node.config?.field ?? "message"
    return Effect.succeed({ execute: (state) => Effect.succeed({ _tag: "Update", update: { [field]: state[field] ?? null } }) })
  }
})
