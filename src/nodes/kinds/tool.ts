/**
 * `tool`: calls a tool through the step's cassette. The node names the tool (`tool:
 * std.calculator@1`, from the `ToolRegistry`, or `./tools.ts:lookup` exported by a module
 * beside the graph), maps tool arguments from state (`inputs: {arg: field}`, a dotted
 * path or a `{{field}}` template) and constants (`static: {arg: value}`), and writes the
 * result to one field (`out: field`, default `tool_result`) or picks parts of it into
 * several (`out: {field: key}`). The original's form, the same keys under `config:`, is
 * accepted too; a `tool` node with neither (the original's placeholder) copies `message`
 * onto itself like `echo`.
 *
 * Arguments are checked against the tool's input Schema: names and constants when the
 * graph is built, state-fed values at each call. Each call goes through
 * `ctx.calls.callEffect("tool.<id>", {tool: "id@version", args})`, so a replay or fork
 * answers it from the recording without running the tool.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import { ToolError } from "../../errors.js"
import { checkJson } from "../../ir/json.js"
import type { State } from "../../ir/stateSchema.js"
import { expand, placeholders, readPath } from "../../ir/template.js"
import type { NodeInput } from "../Executor.js"
import type { CheckContext } from "../NodeKind.js"
import * as NodeKind from "../NodeKind.js"
import { issueText, liveRun, located } from "../tools/runTool.js"
import type { Tool } from "../tools/Tool.js"
import { pythonRefProblem, resolveTool, toolModules } from "../tools/toolRef.js"
import { firstIssue } from "../../ir/parseIssue.js"

const FieldMap = Schema.Record({ key: Schema.String, value: Schema.String })

/** The node's settings, in either form. */
const settings = {
  /** `ns.name@version`, `ns.name` (its highest version) or `./module.ts:export[@version]`. */
  tool: Schema.optional(Schema.String.pipe(Schema.minLength(1, { message: () => "tool must not be empty" }))),
  /** Tool argument → state field (a dotted path) or a `{{field}}` template. */
  inputs: Schema.optional(FieldMap),
  /** Tool argument → a constant (JSON). */
  static: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  /** The state field for the result (default `tool_result`), or state field → key of the result. */
  out: Schema.optional(Schema.Union(Schema.String, FieldMap)),
  /** Time limit of one call, in ms (default none). */
  timeout_ms: Schema.optional(Schema.Int.pipe(Schema.positive()))
}

type Settings = Schema.Struct.Type<typeof settings>

/** Default field for the result (the original's). */
const DEFAULT_OUT = "tool_result"

/** The settings in effect and where they are written (`[]` or `["config"]`), or the placeholder. */
const formOf = (node: Settings & { readonly config?: Settings | undefined }):
  | { readonly _tag: "Settings"; readonly at: ReadonlyArray<string>; readonly s: Settings & { readonly tool: string } }
  | { readonly _tag: "Placeholder" }
  | { readonly _tag: "Problem"; readonly path: ReadonlyArray<string>; readonly message: string; readonly fix: string } => {
  const flat = (["tool", "inputs", "static", "out", "timeout_ms"] as const).filter((k) => node[k] !== undefined)
  const config = node.config
  if (flat.length > 0 && config !== undefined) {
    return { _tag: "Problem", path: [flat[0]!], message: `'${flat[0]}' is given both beside and under config`, fix: "write the tool settings either on the node (tool, inputs, static, out) or under config:, not both" }
  }
  const s = config ?? node
  const at = config !== undefined ? ["config"] : []
  if (s.tool === undefined) {
    const given = (["inputs", "static", "out", "timeout_ms"] as const).find((k) => s[k] !== undefined)
    if (given === undefined) return { _tag: "Placeholder" }
    return { _tag: "Problem", path: at.length > 0 ? at : [given], message: "a tool node without 'tool'", fix: "name the tool, e.g. tool: std.calculator@1 (registered) or tool: ./tools.ts:myTool (a module beside the graph)" }
  }
  return { _tag: "Settings", at, s: { ...s, tool: s.tool } }
}

/** The struct an input Schema decodes from, when it is one (for the checks at build). */
const structOf = (ast: SchemaAST.AST): SchemaAST.TypeLiteral | undefined =>
  ast._tag === "TypeLiteral" ? ast : ast._tag === "Transformation" && ast.from._tag === "TypeLiteral" ? ast.from : undefined


/** `out` (one field for the whole result; `byDefault` when it is out's default) must be declared. */
const outProblem = (out: string, byDefault: boolean, at: ReadonlyArray<string>, ctx: CheckContext): NodeKind.NodeProblem | undefined =>
  ctx.fields.has(out) ? undefined : {
    path: byDefault ? [...at, "tool"] : [...at, "out"],
    message: `the result goes to state field '${out}'${byDefault ? " (out's default)" : ""}, which is not declared`,
    fix: `declare it, or set out to one of: ${ctx.declared}`
  }

/** Declared types that cannot hold an object. */
const NOT_OBJECT: ReadonlySet<string> = new Set(["string", "integer", "number", "boolean", "array"])

/**
 * A tool whose result is an object (its output Schema encodes to a struct, as every std
 * tool's does) written whole to a field declared as a scalar or a list: every call would
 * fail the run when its update is checked, so it is refused when the graph is built.
 */
const wholeResultProblem = (tool: Tool, out: string, byDefault: boolean, at: ReadonlyArray<string>, ctx: CheckContext): NodeKind.NodeProblem | undefined => {
  const declared = ctx.fields.get(out)?.type
  const encoded = SchemaAST.encodedAST(tool.output.ast)
  if (declared === undefined || !NOT_OBJECT.has(declared) || encoded._tag !== "TypeLiteral") return undefined
  const keys = encoded.propertySignatures.map((p) => String(p.name))
  return {
    path: byDefault ? [...at, "tool"] : [...at, "out"],
    message: `${tool.key} returns an object {${keys.join(", ")}}, which state field '${out}' (declared ${declared}) cannot hold`,
    fix: keys.length > 0
      ? `pick a key of the result into the field: out: {${out}: ${keys[0]}}; or declare '${out}' as an object`
      : `declare '${out}' as an object`
  }
}

/** The `tool` kind. */
export const ToolKind = NodeKind.make({
  name: "tool",
  summary: "Calls a tool (std.calculator@1, or ./tools.ts:myTool) with arguments from state (inputs) and constants (static), recorded in the cassette; writes its result to out.",
  fields: {
    spec: Schema.optional(Schema.String),
    ...settings,
    /** The original's form: the same settings under `config:`. */
    config: Schema.optional(Schema.Struct(settings))
  },
  modules: (node) => {
    const form = formOf(node)
    return form._tag === "Settings" ? toolModules(form.s.tool) : []
  },
  check: (node, ctx) => {
    const form = formOf(node)
    if (form._tag === "Problem") return form
    if (form._tag === "Placeholder") {
      return ctx.fields.has("message") ? undefined : {
        path: ["kind"],
        message: "a tool node without a tool copies state field 'message' (the original's placeholder), which is not declared",
        fix: `name the tool, e.g. tool: std.calculator@1 with inputs and out; or declare 'message' (state fields: ${ctx.declared})`
      }
    }
    const { at, s } = form
    const python = pythonRefProblem(s.tool, [...at, "tool"])
    if (python !== undefined) return python
    for (const [arg, source] of Object.entries(s.inputs ?? {})) {
      const roots = source.includes("{{") ? placeholders(source).map((p) => p.split(".")[0]!) : [source.split(".")[0]!]
      const unknown = roots.find((f) => !ctx.fields.has(f))
      if (unknown !== undefined) {
        return { path: [...at, "inputs", arg], message: `argument '${arg}' reads undeclared state field '${unknown}'`, fix: `map it from one of: ${ctx.declared}` }
      }
      if (s.static !== undefined && Object.hasOwn(s.static, arg)) {
        return { path: [...at, "static", arg], message: `argument '${arg}' is given in both inputs and static`, fix: "give each argument once: from state in inputs, or as a constant in static" }
      }
    }
    const problem = checkJson(s.static ?? {}, "static")
    if (problem !== undefined) return { path: [...at, ...problem.path.split(".")], message: problem.message, fix: "static arguments are JSON values" }
    // `out`'s default is checked once the tool is resolved (in compile): an unknown tool is
    // the problem to report first, not the undeclared field its result would go to.
    if (s.out === undefined) return undefined
    if (typeof s.out === "string") return outProblem(s.out, false, at, ctx)
    const undeclared = Object.keys(s.out).find((f) => !ctx.fields.has(f))
    return undeclared === undefined ? undefined : { path: [...at, "out", undeclared], message: `out writes undeclared state field '${undeclared}'`, fix: `write to one of: ${ctx.declared}` }
  },
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const form = formOf(node)
      if (form._tag === "Problem") return yield* ctx.invalid(form.path, form.message, form.fix)
      if (form._tag === "Placeholder") {
        return { execute: (state) => Effect.succeed({ _tag: "Update", update: { message: state["message"] ?? null } }) }
      }
      const { at, s } = form
      const tool = yield* resolveTool(s.tool, [...at, "tool"], ctx)
      const outField = typeof s.out === "object" ? undefined : s.out ?? DEFAULT_OUT
      if (outField !== undefined) {
        const problem = outProblem(outField, s.out === undefined, at, ctx) ?? wholeResultProblem(tool, outField, s.out === undefined, at, ctx)
        if (problem !== undefined) return yield* ctx.invalid(problem.path, problem.message, problem.fix)
      }
      const inputs = Object.entries(s.inputs ?? {})
      // The fields each templated argument reads, found once.
      const templatePaths = new Map(inputs.flatMap(([arg, source]) => (source.includes("{{") ? [[arg, placeholders(source)] as const] : [])))
      const constants = s.static ?? {}

      // The arguments against the input Schema: names, required ones, and constants' values.
      const struct = structOf(tool.input.ast)
      if (struct !== undefined) {
        const props = new Map(struct.propertySignatures.map((p) => [String(p.name), p]))
        const open = struct.indexSignatures.length > 0
        const takes = [...props.values()].map((p) => `${String(p.name)}${p.isOptional ? "?" : ""}`).join(", ") || "none"
        for (const [where, names] of [["inputs", inputs.map(([a]) => a)], ["static", Object.keys(constants)]] as const) {
          const extra = names.find((n) => !props.has(n))
          if (extra !== undefined && !open) {
            return yield* ctx.invalid([...at, where, extra], `${tool.key} takes no argument '${extra}'`, `its arguments: ${takes}`)
          }
        }
        const given = new Set([...inputs.map(([a]) => a), ...Object.keys(constants)])
        const missing = [...props.values()].find((p) => !p.isOptional && !given.has(String(p.name)))
        if (missing !== undefined) {
          return yield* ctx.invalid([...at, "tool"], `${tool.key} needs argument '${String(missing.name)}', which neither inputs nor static gives`, `map it from a state field (inputs: {${String(missing.name)}: <field>}) or give it in static; its arguments: ${takes}`)
        }
        for (const [arg, value] of Object.entries(constants)) {
          const prop = props.get(arg)
          if (prop === undefined) continue
          const decoded = Schema.decodeUnknownEither(Schema.make(prop.type), { onExcessProperty: "error" })(value)
          if (Either.isLeft(decoded)) {
            const issue = firstIssue(decoded.left)
            return yield* ctx.invalid([...at, "static", arg, ...(issue?.path ?? [])], `argument '${arg}' of ${tool.key}: ${issueText(issue?.message ?? "invalid")}`, `give static.${arg} a value the tool accepts (its arguments: ${takes})`)
          }
        }
      }

      const out = s.out ?? DEFAULT_OUT
      const sourceOf = (arg: string | undefined) => {
        const from = inputs.find(([a]) => a === arg)?.[1]
        return from !== undefined ? `inputs.${arg} (${from.includes("{{") ? `template ${from}` : `state field '${from}'`})` : arg !== undefined ? `static.${arg}` : "the arguments"
      }
      const run = liveRun(tool, { timeoutMs: s.timeout_ms, sourceOf })

      /** Run the tool (live): input decoding, capabilities, the call, the result's encoding. */
      const live = (args: State, input: NodeInput): Effect.Effect<unknown, ToolError> => run(args).pipe(Effect.mapError((e) => located(e, tool, input)))

      /** The state update from the result (one field, or picked parts). */
      const update = (result: unknown, input: NodeInput): Effect.Effect<State, ToolError> => {
        if (typeof out === "string") return Effect.succeed({ [out]: result })
        const picked: Record<string, unknown> = {}
        for (const [field, key] of Object.entries(out)) {
          const value = result !== null && typeof result === "object" ? readPath(result as State, key) : undefined
          if (value === undefined) {
            const keys = result !== null && typeof result === "object" ? Object.keys(result).join(", ") : typeof result
            return Effect.fail(located(new ToolError({ reason: "invalid-output", message: `out.${field} picks '${key}', which the result does not have (it has: ${keys})`, fix: "pick a key the tool returns, or write the whole result to one field (out: <field>)" }), tool, input))
          }
          picked[field] = value
        }
        return Effect.succeed(picked)
      }

      return {
        hashes: { tool: tool.key },
        execute: (state, input) =>
          Effect.gen(function*() {
            const args: Record<string, unknown> = { ...constants }
            for (const [arg, source] of inputs) {
              // An unset field leaves the argument out, whether named or in a template (which
              // would otherwise render it as "": `{{revenue}} - {{cost}}` → " - 30").
              const paths = templatePaths.get(arg)
              const value = paths === undefined ? readPath(state, source) : paths.some((p) => readPath(state, p) === undefined) ? undefined : expand(source, state)
              if (value !== undefined) args[arg] = value
            }
            const result = yield* input.calls.callEffect(`tool.${tool.id}`, { tool: tool.key, args }, live(args, input))
            return { _tag: "Update" as const, update: yield* update(result, input) }
          })
      }
    })
})
