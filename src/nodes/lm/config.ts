/**
 * The config every language-model kind shares (`model`, `api_base`, `api_key_env`, `api`,
 * `stream`, `temperature`, `max_tokens`, `stub`, under the node's `config:` as in the
 * original), the node-level `retry` and `timeout_ms`, and the static checks of a node's
 * reads and writes against the declared state fields.
 */
import * as Schema from "effect/Schema"
import type { FieldType as StateType } from "../../ir/schema.js"
import { RetryPolicy } from "../../ir/schema.js"
import type { CheckContext, NodeProblem } from "../NodeKind.js"
import type { ProviderConfig } from "./provider.js"
import type { AllowedValues, FieldType } from "./Signature.js"
import { FIELD_NAME, typeText } from "./Signature.js"

/** Config keys every language-model kind accepts. */
export const providerFields = {
  /** The model name (`gpt-4o-mini`, `llama3.1`; a LiteLLM `openai/<name>` works too). */
  model: Schema.optional(Schema.String.pipe(Schema.minLength(1, { message: () => "model must not be empty" }))),
  /** An OpenAI-compatible server's base URL, e.g. `http://127.0.0.1:8000/v1`. */
  api_base: Schema.optional(Schema.String),
  /** The environment variable holding the API key (never the key itself). */
  api_key_env: Schema.optional(Schema.String),
  /** `chat` (`/chat/completions`, default with `api_base`) or `responses` (`/responses`, default without). */
  api: Schema.optional(Schema.Literal("chat", "responses")),
  /** Stream the reply (SSE); the recorded completion is the same. */
  stream: Schema.optional(Schema.Boolean),
  temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 2))),
  max_tokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** A deterministic offline answer instead of a model (as the original's `stub: true`). */
  stub: Schema.optional(Schema.Boolean)
}

/** The shared keys, decoded. */
export type ProviderFields = Schema.Struct.Type<typeof providerFields>

/** The node-level fields of every language-model kind, around its `config` struct. */
export const nodeFields = <C extends Schema.Schema.Any>(config: C) => ({
  /** Accepted and ignored, as in the original's node spec. */
  spec: Schema.optional(Schema.String),
  config: Schema.optional(config),
  /** Attempts for a failed call or a reply that does not fit (like `function` nodes). */
  retry: Schema.optional(RetryPolicy),
  /** Per attempt, in ms. */
  timeout_ms: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

/** Whether a node with these keys needs a model from elsewhere: it names no `model` and is not `stub: true` (see `CompiledNode.needsModel`). */
export const needsModel = (config: ProviderFields | undefined): boolean => config?.stub !== true && config?.model === undefined

/** The provider config of a node. */
export const providerOf = (config: ProviderFields | undefined): ProviderConfig => ({
  model: config?.model,
  apiBase: config?.api_base?.replace(/\/+$/, ""),
  apiKeyEnv: config?.api_key_env,
  api: config?.api,
  stream: config?.stream ?? false,
  temperature: config?.temperature,
  maxTokens: config?.max_tokens
})

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Checks of the shared keys (`api_base` a URL, `api_key_env` a variable name). */
export const checkProvider = (config: ProviderFields | undefined): NodeProblem | undefined => {
  if (config?.api_base !== undefined) {
    let url: URL | undefined
    try {
      url = new URL(config.api_base)
    } catch {
      url = undefined
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      return { path: ["config", "api_base"], message: `api_base '${config.api_base}' is not an http(s) URL`, fix: "write the server's base URL, e.g. http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:11434/v1 (Ollama)" }
    }
  }
  if (config?.api_key_env !== undefined && !ENV_NAME.test(config.api_key_env)) {
    return {
      path: ["config", "api_key_env"],
      // It may be a pasted key: echo no more than its first characters.
      message: `api_key_env '${config.api_key_env.slice(0, 3)}…' is not an environment variable name`,
      fix: "name the variable that holds the key (e.g. OPENAI_API_KEY), never the key itself"
    }
  }
  return undefined
}

/** Whether a value of signature type `type` fits a state field declared `declared`. */
const fits = (type: FieldType, declared: StateType): boolean => {
  if (declared === "any") return true
  switch (type._tag) {
    case "str":
      return declared === "string"
    case "int":
      return declared === "integer" || declared === "number"
    case "float":
      return declared === "number"
    case "bool":
      return declared === "boolean"
    case "list":
      return declared === "array"
    case "dict":
      return declared === "object"
    case "any":
      return true
    case "literal":
      return type.values.every((v) => (typeof v === "string" ? declared === "string" : typeof v === "boolean" ? declared === "boolean" : declared === "number" || (declared === "integer" && Number.isInteger(v))))
  }
}

/** A state field the node reads must be declared. */
export const checkRead = (field: string, path: ReadonlyArray<PropertyKey>, ctx: CheckContext): NodeProblem | undefined =>
  ctx.fields.has(field) ? undefined : {
    path,
    message: `reads state field '${field}', which is not declared`,
    fix: `declare '${field}' in the state schema, or read one of: ${ctx.declared}`
  }

/**
 * The state field a kind reads its input from, `config.input` or the kind's `fallback` when that is unset,
 * must be a field name the state declares; the fallback's problem says it is the default and how to change it.
 */
export const checkInput = (kind: string, input: string | undefined, fallback: string, ctx: CheckContext): NodeProblem | undefined => {
  const field = input ?? fallback
  const at = input === undefined ? ["kind"] : ["config", "input"]
  if (!FIELD_NAME.test(field)) return { path: at, message: `input '${field}' is not a field name`, fix: "name a state field (letters, digits and _)" }
  const read = checkRead(field, at, ctx)
  return read === undefined || input !== undefined
    ? read
    : { ...read, message: `${kind} reads state field '${field}' by default, which is not declared`, fix: `declare '${field}', or set config.input to one of: ${ctx.declared}` }
}

/**
 * A state field the node writes must be declared, with a type its value fits (when the type
 * is known). `fixed`: the kind's outputs are fixed (no signature or mapping to change), so
 * the fix only says how to declare the field.
 */
export const checkWrite = (
  field: string,
  type: FieldType | undefined,
  path: ReadonlyArray<PropertyKey>,
  ctx: CheckContext,
  fixed = false
): NodeProblem | undefined => {
  const info = ctx.fields.get(field)
  if (info === undefined) {
    return {
      path,
      message: `writes state field '${field}', which is not declared`,
      fix: fixed ? `declare '${field}' in the state schema (this kind always writes it)` : `declare '${field}' in the state schema (or map the output to a declared field): ${ctx.declared}`
    }
  }
  if (type !== undefined && info.type !== undefined && !fits(type, info.type)) {
    const text = typeText(type)
    return {
      path,
      message: `writes ${/^[aeiou]/i.test(text) ? "an" : "a"} ${text} to state field '${field}', declared ${info.type}`,
      // A kind whose outputs are fixed (rag, code, react) has no signature to change.
      fix: fixed ? `declare '${field}' with a type that holds ${/^[aeiou]/i.test(text) ? "an" : "a"} ${text} (this kind's outputs are fixed)` : `declare '${field}' with a matching type, or change the output's type in the signature`
    }
  }
  return undefined
}

/**
 * The values each output may take (for `LmNodeSpec.allowed`): the `enum` of the state
 * field it is written to, for a scalar output (`str`, `int`, `float`, `bool`, `Any`,
 * `Literal`) whose field declares one; `enumOf` gives a field's enum.
 */
export const allowedValues = (
  outputs: ReadonlyArray<{ readonly name: string; readonly field: string; readonly type: FieldType }>,
  enumOf: (field: string) => ReadonlyArray<string | number | boolean> | undefined
): AllowedValues => {
  const allowed: Record<string, ReadonlyArray<string | number | boolean>> = {}
  for (const output of outputs) {
    if (output.type._tag === "list" || output.type._tag === "dict") continue
    const values = enumOf(output.field)
    if (values !== undefined && values.length > 0) allowed[output.name] = values
  }
  return allowed
}
