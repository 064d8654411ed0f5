/**
 * A signature preset: a language-model kind with a curated signature, instructions and a
 * deterministic post-processor that writes the kind's standard fields (`verdict`,
 * `confidence`, `score`, `rationale`, …), the original's `reason`, `summarize`,
 * `classify`, `extract`, `judge` and `plan`. The model never picks the next node: rules
 * route on the fields it writes. Each preset reads one state field (`config.input`, with
 * a per-kind default) and takes the shared model keys, `instructions` and `stub`.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { State } from "../../ir/stateSchema.js"
import type { CheckContext, NodeKind, NodeProblem } from "../NodeKind.js"
import * as NodeKindModule from "../NodeKind.js"
import { checkInput, checkProvider, checkWrite, needsModel, nodeFields, providerFields, providerOf } from "./config.js"
import { lmExecutor } from "./lmExecutor.js"
import type { OutputProblem } from "./parseCompletion.js"
import type { Module } from "./prompt.js"
import { FIELD_NAME, type FieldType, type SignatureField } from "./Signature.js"

/** Keys every preset takes. */
const commonFields = {
  /** The state field read (per-kind default). */
  input: Schema.optional(Schema.String),
  /** Overrides the preset's instructions. */
  instructions: Schema.optional(Schema.String),
  ...providerFields
}

/** A preset node's config: the common keys and its own. */
export type PresetConfig<F extends Schema.Struct.Fields> = Schema.Struct.Type<typeof commonFields> & Schema.Struct.Type<F>

/** A state field a preset writes; `optional` ones are written only when declared (`rationale`). */
export interface PresetWrite {
  readonly field: string
  readonly type?: FieldType | undefined
  readonly optional?: boolean
}

/** What post-processing knows of the state: whether a field is declared numeric. */
export interface PostContext {
  readonly numeric: (field: string) => boolean
}

/** A preset's definition. */
export interface PresetDefinition<F extends Schema.Struct.Fields> {
  readonly name: string
  readonly summary: string
  /** The kind's own config keys. */
  readonly fields: F
  /** What a node without `config` lacks, when it needs one (`classify` needs `labels`). */
  readonly needs?: { readonly message: string; readonly fix: string } | undefined
  readonly defaultInput: string
  readonly module: Module
  readonly outputs: (config: PresetConfig<F>) => ReadonlyArray<SignatureField>
  readonly instructions: (config: PresetConfig<F>) => string
  readonly writes: (config: PresetConfig<F>) => ReadonlyArray<PresetWrite>
  readonly check?: (config: PresetConfig<F>) => NodeProblem | undefined
  readonly post: (config: PresetConfig<F>, ctx: PostContext) => (outputs: { readonly [field: string]: unknown }, reasoning: string) => Either.Either<State, OutputProblem>
  /** The offline answer, from the input's value. */
  readonly stub: (config: PresetConfig<F>, ctx: PostContext) => (input: unknown) => State
}

/** A clamped score: a number for a numeric state field, else Python's `str(float)` (the original's float-as-string). */
export const score = (value: number, field: string, ctx: PostContext): number | string => {
  const n = Math.min(1, Math.max(0, value))
  return ctx.numeric(field) ? n : pyFloat(n)
}

/** Python's `repr` of a float: `1.0`, `0.85`, `1e-05`. */
export const pyFloat = (n: number): string => {
  if (Number.isInteger(n)) return `${n}.0`
  const abs = Math.abs(n)
  if (abs < 1e-4 || abs >= 1e16) {
    const [mantissa, exponent] = n.toExponential().split("e") as [string, string]
    const e = Number(exponent)
    return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`
  }
  return String(n)
}

/** Make a preset kind. */
export const makePreset = <F extends Schema.Struct.Fields>(definition: PresetDefinition<F>): NodeKind => {
  const Config = Schema.Struct({ ...commonFields, ...definition.fields }) as unknown as Schema.Schema<PresetConfig<F>, unknown>
  const defaults = {} as PresetConfig<F>
  const inputOf = (config: PresetConfig<F>): string => config.input ?? definition.defaultInput
  const postContext = (ctx: CheckContext): PostContext => ({
    numeric: (field) => {
      const type = ctx.fields.get(field)?.type
      return type === "number" || type === "integer"
    }
  })
  return NodeKindModule.make({
    name: definition.name,
    summary: definition.summary,
    fields: nodeFields(Config),
    check: (node, ctx) => {
      if (node.config === undefined && definition.needs !== undefined) return { path: ["config"], ...definition.needs }
      const config = node.config ?? defaults
      const provider = checkProvider(config)
      if (provider !== undefined) return provider
      const input = inputOf(config)
      const at = config.input === undefined ? ["kind"] : ["config", "input"]
      if (!FIELD_NAME.test(input)) return { path: at, message: `input '${input}' is not a field name`, fix: "name a state field (letters, digits and _)" }
      const own = definition.check?.(config)
      if (own !== undefined) return own
      const read = checkInput(definition.name, config.input, definition.defaultInput, ctx)
      if (read !== undefined) return read
      for (const write of definition.writes(config)) {
        if (write.optional === true) continue
        // Only extract's outputs are the user's (config.fields); the other presets' are fixed.
        const extract = definition.name === "extract"
        const problem = checkWrite(write.field, write.type, ["kind"], ctx, !extract)
        if (problem !== undefined) {
          const fix = extract ? problem.fix.replace("change the output's type in the signature", "change its type in config.fields").replace(" (or map the output to a declared field)", "") : problem.fix
          return { ...problem, message: `${definition.name} ${problem.message}`, fix }
        }
        // A score (no signature type) is a number or the original's float-as-string.
        const declared = ctx.fields.get(write.field)?.type
        if (write.type === undefined && declared !== undefined && declared !== "string" && declared !== "number" && declared !== "any") {
          return { path: ["kind"], message: `${definition.name} writes a score to state field '${write.field}', declared ${declared}`, fix: `declare '${write.field}' as a number (or a string, for the original's float-as-string)` }
        }
      }
      return undefined
    },
    compile: (node, ctx) => {
      const config = node.config ?? defaults
      const input = inputOf(config)
      const pctx = postContext(ctx)
      const optional = definition.writes(config).filter((w) => w.optional === true && !ctx.fields.has(w.field)).map((w) => w.field)
      const keep = (update: State): State => {
        if (optional.length === 0) return update
        const out: Record<string, unknown> = { ...update }
        for (const field of optional) delete out[field]
        return out
      }
      const post = definition.post(config, pctx)
      const stub = definition.stub(config, pctx)
      const signature = { inputs: [{ name: input, type: { _tag: "str" } as const }], outputs: definition.outputs(config) }
      return Effect.succeed({
        execute: lmExecutor({
          kind: definition.name,
          prompt: { signature, instructions: config.instructions ?? definition.instructions(config), module: definition.module },
          provider: providerOf(config),
          reads: [{ input, field: input }],
          post: (outputs, reasoning) => Either.map(post(outputs, reasoning), keep),
          stub: config.stub === true ? (inputs) => keep(stub(inputs[input])) : undefined,
          retry: node.retry,
          timeout_ms: node.timeout_ms
        }),
        needsModel: needsModel(config)
      })
    }
  })
}
