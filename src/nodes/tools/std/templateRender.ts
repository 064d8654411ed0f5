/**
 * `std.template_render@1`: renders a text with `{{name}}` placeholders (dotted paths
 * such as `{{order.items.0.sku}}` reach inside objects and arrays), the same syntax as
 * the `set` kind's templates. Strings render as they are, numbers and booleans as
 * written, objects and arrays as JSON, `null` as nothing; a placeholder with no value
 * fails naming it.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import { readPath } from "../../../ir/template.js"
import * as Tool from "../Tool.js"

/** Longest template, in characters. */
export const MAX_TEMPLATE = 100_000

const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g

const show = (value: unknown): string => (value === null ? "" : typeof value === "string" ? value : JSON.stringify(value))

/** `std.template_render@1`. */
export const templateRender = Tool.make({
  id: "std.template_render",
  version: "1",
  description: "Render a text with {{name}} placeholders (dotted paths reach into objects) from values; a missing value fails.",
  input: Schema.Struct({
    template: Schema.String.pipe(Schema.maxLength(MAX_TEMPLATE)),
    values: Schema.Record({ key: Schema.String, value: Schema.Unknown })
  }),
  output: Schema.Struct({ text: Schema.String }),
  run: ({ template, values }) =>
    Effect.suspend(() => {
      const missing = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((path) => readPath(values, path) === undefined)
      if (missing.length > 0) {
        return Effect.fail(new ToolError({
          reason: "invalid-input",
          argument: "values",
          message: `no value for ${missing.map((p) => `{{${p}}}`).join(", ")} (values has: ${Object.keys(values).join(", ") || "nothing"})`,
          fix: "pass every placeholder's value in values (map it from a state field in the node's inputs)"
        }))
      }
      return Effect.succeed({ text: template.replace(PLACEHOLDER, (_m, path: string) => show(readPath(values, path))) })
    })
})
