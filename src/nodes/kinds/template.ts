/**
 * `template` (the original Stargraph's kind): renders a Python `str.format` template over
 * state fields into one field. No model, no I/O: it replays identically. Its common use
 * is feeding a judge's feedback back into the field a generator reads. A value the spec
 * cannot format (`{score:d}` on 2.5, `{x:.2f}` on a string or on None) fails the node,
 * as Python's `format` raises. A field's declared type decides how its number prints, as
 * the original's typed state does: a `number` field holds a Python float (`1.0`, and
 * `{x:d}` is refused), an `integer` field an int.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { NodeExecutionError } from "../../errors.js"
import { didYouMean } from "../../ir/didYouMean.js"
import type { FieldInfo } from "../../ir/stateSchema.js"
import * as NodeKind from "../NodeKind.js"
import * as PyFormat from "../pyFormat.js"

/** The Python type a declared field's number holds: `number` a float, `integer` an int; others undeclared. */
const numberType = (field: FieldInfo | undefined): PyFormat.NumberType =>
  field?.type === "number" ? "float" : field?.type === "integer" ? "int" : undefined

/** The fix for a placeholder `format` refuses: a float field's integer code names the field's type. */
const fixFor = (problem: PyFormat.RenderProblem, types: ReadonlyMap<string, PyFormat.NumberType>): string =>
  types.get(problem.field) === "float" && /Unknown format code '[bcdoxX]'/.test(problem.message)
    ? `'${problem.field}' is declared number, a Python float: write {${problem.field}:.0f} to print it rounded, or declare it integer (int) if it holds whole numbers`
    : "give the field a value of the type the spec formats, or change the spec: {x:.0f} rounds a float, {x} prints any value"

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
      return { path: ["config", "template"], message: `the template reads undeclared state field '${unknown}'`, fix: `${didYouMean(unknown, [...ctx.fields.keys()])}use a declared field: ${ctx.declared}` }
    }
    const out = ctx.fields.get(node.config.out)
    if (out === undefined) {
      return { path: ["config", "out"], message: `out '${node.config.out}' is not a declared state field`, fix: `declare it in the state schema or use one of: ${ctx.declared}` }
    }
    // The node writes a string: a field declared as another type would refuse every write.
    if (out.type !== undefined && out.type !== "string" && out.type !== "any") {
      const strings = [...ctx.fields.values()].filter((f) => f.type === "string" || f.type === "any").map((f) => f.name)
      return {
        path: ["config", "out"],
        message: `the template renders a string, which state field '${out.name}' (declared ${out.type}${out.reducer !== "replace" ? `, reducer ${out.reducer}` : ""}) cannot hold`,
        fix: `set out to a string field${strings.length > 0 ? ` (${strings.join(", ")})` : ""}, or declare '${out.name}' as a string`
      }
    }
    return undefined
  },
  compile: (node, ctx) => {
    const pieces = Either.getOrElse(PyFormat.parse(node.config.template), () => [])
    const types = new Map(PyFormat.fieldsOf(pieces).map((f) => [f, numberType(ctx.fields.get(f))] as const))
    const out = node.config.out
    return Effect.succeed({
      execute: (state, input) =>
        Either.match(PyFormat.render(pieces, state, types), {
          onRight: (text) => Effect.succeed({ _tag: "Update", update: { [out]: text } }),
          onLeft: (problem) =>
            Effect.fail(
              new NodeExecutionError({
                nodeId: input.nodeId,
                step: input.step,
                attempts: 1,
                cause: `template placeholder ${problem.message.replace(/\.$/, "")}, as Python's str.format says (fix: ${fixFor(problem, types)})`
              })
            )
        })
    })
  }
})
