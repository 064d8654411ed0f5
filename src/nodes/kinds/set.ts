/** `set`: writes fixed values (strings may use `{{field}}` templates) into state. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { State } from "../../ir/stateSchema.js"
import { didYouMean } from "../../ir/didYouMean.js"
import { expand, placeholders } from "../../ir/template.js"
import * as NodeKind from "../NodeKind.js"

/** The `set` kind. */
export const SetKind = NodeKind.make({
  name: "set",
  summary: "Writes fixed values into state; strings may use {{field}} templates.",
  fields: { values: Schema.Record({ key: Schema.String, value: Schema.Unknown }) },
  check: (node, ctx) => {
    for (const [key, value] of Object.entries(node.values)) {
      if (!ctx.fields.has(key)) {
        return { path: ["values", key], message: `writes undeclared state field '${key}'`, fix: `declare '${key}' in state_schema or use one of: ${ctx.declared}` }
      }
      const unknown = placeholders(value).find((p) => !ctx.fields.has(p.split(".")[0]!))
      if (unknown !== undefined) {
        const head = unknown.split(".")[0]!
        return { path: ["values", key], message: `the template reads undeclared state field '${head}'`, fix: `${didYouMean(head, [...ctx.fields.keys()])}use a declared field in the placeholder: ${ctx.declared}` }
      }
    }
    return undefined
  },
  compile: (node) => Effect.succeed({ execute: (state) => Effect.sync(() => ({ _tag: "Update", update: expand(node.values, state) as State })) })
})
