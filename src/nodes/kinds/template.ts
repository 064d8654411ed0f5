/**
 * `template` (the original Stargraph's kind): renders a Python `str.format` template over
 * state fields into one field. No model, no I/O: it replays identically. Its common use
 * is feeding a judge's feedback back into the field a generator reads. A value the spec
 * cannot format (`{score:d}` on 2.5, `{x:.2f}` on a string or on None) fails the node,
 * as Python's `format` raises.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { NodeExecutionError } from "../../errors.js"
import * as NodeKind from "../NodeKind.js"
import * as PyFormat from "../pyFormat.js"

/** The `template` kind. */
export const TemplateKind = NodeKind.make({
  name: "template",
  summary: "Renders a Python str.format template ({field}, {x!r}, {score:.2f}) over state fields into config.out.",
  fields: {
    spec: Schema.optional(Schema.String),
    config: Schema.Struct({ template: Schema.String, out: Schema.String })
  },
  check: (node, ctx) => {
    const parsed = PyFormat.parse(node.config.template)
    if (Either.isLeft(parsed)) return { path: ["config", "template"], message: parsed.left, fix: "write placeholders as {field}, {field!r} or {field:spec}" }
    const unknown = PyFormat.fieldsOf(parsed.right).find((f) => !ctx.fields.has(f))
    if (unknown !== undefined) {
      return { path: ["config", "template"], message: `the template reads undeclared state field '{${unknown}}'`, fix: `use a declared field: ${ctx.declared}` }
    }
    if (!ctx.fields.has(node.config.out)) {
      return { path: ["config", "out"], message: `out '${node.config.out}' is not a declared state field`, fix: `declare it in the state schema or use one of: ${ctx.declared}` }
    }
    return undefined
  },
  compile: (node) => {
    const pieces = Either.getOrElse(PyFormat.parse(node.config.template), () => [])
    const out = node.config.out
    return Effect.succeed({
      execute: (state, input) =>
        Either.match(PyFormat.render(pieces, state), {
          onRight: (text) => Effect.succeed({ _tag: "Update", update: { [out]: text } }),
          onLeft: (problem) =>
            Effect.fail(
              new NodeExecutionError({
                nodeId: input.nodeId,
                step: input.step,
                attempts: 1,
                cause: `template placeholder ${problem.replace(/\.$/, "")}, as Python's str.format says (fix: give the field a value of the type the spec formats, or change the spec: {x:.0f} rounds a float, {x} prints any value)`
              })
            )
        })
    })
  }
})
