/**
 * `dspy` (the original Stargraph's kind): a language-model call over a signature,
 * `"question, context -> answer"` or typed (`"text -> label: str, confidence: float"`), or
 * `inputs`/`outputs` mappings. The inputs are read from state (renamed by
 * `signature_map`, state field → signature field), the reply must be a JSON object with
 * the outputs, decoded with the signature's Schema, and the outputs are written back.
 * `module: cot` asks for a `reasoning` field first (written only if the signature
 * declares it; a reply without it is a `ModelOutputError`, as DSPy's ChainOfThought). An output written to a state field with an `enum` must be one of its
 * values. `config.stub: true` answers offline and deterministically: `stub-<field>`
 * for a string output (`{answer: "stub-answer"}`, as the original), zero values otherwise.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { State } from "../../ir/stateSchema.js"
import { allowedValues, checkProvider, checkRead, checkWrite, needsModel, nodeFields, providerFields, providerOf } from "../lm/config.js"
import { lmExecutor } from "../lm/lmExecutor.js"
import type { Module } from "../lm/prompt.js"
import * as Signature from "../lm/Signature.js"
import * as NodeKind from "../NodeKind.js"

const FieldTypes = Schema.Record({ key: Schema.String, value: Schema.String })

const DspyConfig = Schema.Struct({
  /** `"question -> answer"`, typed fields allowed. */
  signature: Schema.optional(Schema.String),
  /** `{name: type}` inputs, instead of a signature. */
  inputs: Schema.optional(FieldTypes),
  /** `{name: type}` outputs, instead of a signature. */
  outputs: Schema.optional(FieldTypes),
  instructions: Schema.optional(Schema.String),
  module: Schema.optional(Schema.Literal("predict", "cot")),
  /** State field → signature field (default: the same names). */
  signature_map: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  ...providerFields
})
type DspyConfig = typeof DspyConfig.Type

/** A signature-less stub (the original's `{kind: dspy, config: {stub: true}}`) writes `answer`. */
const STUB_FIELD = "answer"

/** The node's signature (none: a signature-less stub); or the problem with it. */
const signatureOf = (config: DspyConfig | undefined): Either.Either<Signature.Signature | undefined, { readonly path: ReadonlyArray<PropertyKey>; readonly message: string; readonly fix: string }> => {
  const mapped = config?.inputs !== undefined || config?.outputs !== undefined
  if (config?.signature !== undefined && mapped) {
    return Either.left({ path: ["config", "signature"], message: "the signature is given twice (signature and inputs/outputs)", fix: "keep one: signature: \"question -> answer\", or inputs: {question: str} with outputs: {answer: str}" })
  }
  if (config?.signature !== undefined) {
    return Either.mapLeft(Signature.parse(config.signature), (message) => ({
      path: ["config", "signature"],
      message: `invalid signature '${config.signature}': ${message}`,
      fix: `write "input1, input2 -> output1, output2", fields optionally typed (name: type) with ${Signature.TYPE_NAMES}`
    }))
  }
  if (mapped) {
    if (config?.inputs === undefined || config.outputs === undefined) {
      return Either.left({ path: ["config", config?.inputs === undefined ? "inputs" : "outputs"], message: "inputs and outputs go together", fix: "give both inputs: {name: type} and outputs: {name: type}" })
    }
    return Either.mapLeft(Signature.fromMappings(config.inputs, config.outputs), (e) => ({
      path: ["config", e.side, ...(e.name !== undefined ? [e.name] : [])],
      message: e.message,
      fix: `name each field (letters, digits, _) and give it a type: ${Signature.TYPE_NAMES}`
    }))
  }
  if (config?.stub === true) return Either.right(undefined)
  return Either.left({ path: ["config"], message: "a dspy node needs config.signature", fix: "add config: {signature: \"question -> answer\"} (or inputs/outputs mappings); set config.stub: true for the offline stub" })
}

/** Signature field → state field, from `signature_map` (state → signature). */
const fieldOf = (config: DspyConfig | undefined) => {
  const reverse = new Map(Object.entries(config?.signature_map ?? {}).map(([state, sig]) => [sig, state]))
  return (name: string) => reverse.get(name) ?? name
}

/** A stub output value: `stub-<field>` for strings, a zero value otherwise. */
const stubValue = (name: string, type: Signature.FieldType): unknown => {
  switch (type._tag) {
    case "str":
      return `stub-${name}`
    case "int":
    case "float":
      return 0
    case "bool":
      return false
    case "list":
      return []
    case "dict":
      return {}
    case "any":
      return null
    case "literal":
      return type.values[0]
  }
}

/** The `dspy` kind. */
export const DspyKind = NodeKind.make({
  name: "dspy",
  summary: "A language-model call over a signature (\"question -> answer\", typed fields allowed); the JSON reply is decoded with its Schema and written to state. config.stub: true answers offline.",
  fields: nodeFields(DspyConfig),
  check: (node, ctx) => {
    const config = node.config
    const provider = checkProvider(config)
    if (provider !== undefined) return provider
    const parsed = signatureOf(config)
    if (Either.isLeft(parsed)) return parsed.left
    const signature = parsed.right
    if (signature === undefined) return undefined
    const names = new Set([...signature.inputs, ...signature.outputs].map((f) => f.name))
    const mappedTo = new Map<string, string>()
    for (const [state, sig] of Object.entries(config?.signature_map ?? {})) {
      const other = mappedTo.get(sig)
      if (other !== undefined) {
        return { path: ["config", "signature_map", state], message: `maps '${state}' and '${other}' to the same signature field '${sig}'`, fix: "map each signature field from one state field" }
      }
      mappedTo.set(sig, state)
      if (!names.has(sig)) {
        return { path: ["config", "signature_map", state], message: `maps state field '${state}' to '${sig}', which is not in the signature`, fix: `map to one of the signature's fields: ${[...names].join(", ")}` }
      }
    }
    const field = fieldOf(config)
    const at = config?.signature !== undefined ? ["config", "signature"] : undefined
    for (const input of signature.inputs) {
      const problem = checkRead(field(input.name), at ?? ["config", "inputs", input.name], ctx)
      if (problem !== undefined) return problem
    }
    for (const output of signature.outputs) {
      const problem = checkWrite(field(output.name), output.type, at ?? ["config", "outputs", output.name], ctx)
      if (problem !== undefined) return problem
    }
    return undefined
  },
  compile: (node, ctx) => {
    const config = node.config
    const signature = Either.getOrUndefined(signatureOf(config)) ?? { inputs: [], outputs: [] }
    const field = fieldOf(config)
    const module: Module = config?.module ?? "predict"
    const outputs = signature.outputs.map((f) => ({ name: f.name, field: field(f.name), type: f.type }))
    const bare = config?.signature === undefined && config?.inputs === undefined
    const stub = config?.stub !== true
      ? undefined
      : bare
      ? () => (ctx.fields.has(STUB_FIELD) ? { [STUB_FIELD]: `stub-${STUB_FIELD}` } : {})
      : () => Object.fromEntries(outputs.map((o) => [o.field, stubValue(o.name, o.type)]))
    return Effect.succeed({
      execute: lmExecutor({
        kind: "dspy",
        prompt: { signature, instructions: config?.instructions, module },
        provider: providerOf(config),
        reads: signature.inputs.map((f) => ({ input: f.name, field: field(f.name) })),
        post: (values) => Either.right(Object.fromEntries(outputs.map((o) => [o.field, values[o.name]])) as State),
        // An output written to a field with an `enum` must be one of its values (a ModelOutputError, retried).
        allowed: allowedValues(outputs, (f) => ctx.fields.get(f)?.enum),
        stub,
        retry: node.retry,
        timeout_ms: node.timeout_ms
      }),
      needsModel: needsModel(config)
    })
  }
})
