/**
 * Native (OpenAI-style) tool calling over an OpenAI-compatible `POST /chat/completions`
 * endpoint, the `react` kind's `tool_protocol: native`: the request carries `tools` (one
 * `function` tool each, its `parameters` a JSON Schema) and messages with the assistant's
 * `tool_calls` and the `role: tool` replies to them; the reply is its text and its
 * `tool_calls`. `@effect/ai`'s text prompt cannot carry these messages, so the request is
 * made here, on `OpenAiClient`'s HTTP client through {@link Wire}, with lenient wire schemas
 * (a server that leaves out `id`, `type`, `refusal` or `usage` is fine). Not streamed: the
 * request never says `stream: true`.
 */
import type * as AiErrorModule from "@effect/ai/AiError"
import type * as OpenAiClientModule from "@effect/ai-openai/OpenAiClient"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Schema from "effect/Schema"
import { type AiModules, postJson, type Wire } from "./wire.js"

/** A tool as `/chat/completions` takes it. */
export interface FunctionTool {
  readonly type: "function"
  readonly function: {
    readonly name: string
    readonly description: string
    /** The JSON Schema of the tool's arguments. */
    readonly parameters: unknown
  }
}

/** One tool call of an assistant message, as the wire (and the recorded request) holds it. */
export interface WireToolCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

/** One message of a native request. */
export type ToolMessage =
  | { readonly role: "system" | "user"; readonly content: string }
  | { readonly role: "assistant"; readonly content: string | null; readonly tool_calls?: ReadonlyArray<WireToolCall> }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly content: string }

/** One tool call of a reply, as recorded: its id, the tool's name, its arguments (JSON text, as the model wrote them). */
export const ToolCall = Schema.Struct({ id: Schema.String, name: Schema.String, arguments: Schema.String })

/** A native completion, as the cassette records it: the text (maybe empty) and the tool calls (maybe none). */
export const ToolCompletion = Schema.Struct({
  text: Schema.String,
  tool_calls: Schema.Array(ToolCall),
  finish_reason: Schema.optional(Schema.String),
  usage: Schema.optional(Schema.Struct({ input_tokens: Schema.optional(Schema.Number), output_tokens: Schema.optional(Schema.Number) }))
})

/** A native completion. */
export type ToolCompletion = typeof ToolCompletion.Type

/** A native request's parts besides the model: messages, tools, sampling. */
export interface ToolRequest {
  readonly messages: ReadonlyArray<ToolMessage>
  readonly tools: ReadonlyArray<FunctionTool>
}

/** Options of {@link make}. */
export interface ToolChatOptions {
  readonly model: string
  readonly temperature?: number | undefined
  readonly maxTokens?: number | undefined
  readonly redact?: ((text: string) => string) | undefined
}

/** A chat completion with tool calls (ids and types optional: llama.cpp and others leave them out). */
const ChatToolCompletion = Schema.Struct({
  choices: Schema.NonEmptyArray(Schema.Struct({
    message: Schema.Struct({
      content: Schema.optional(Schema.NullOr(Schema.String)),
      tool_calls: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({
        id: Schema.optional(Schema.NullOr(Schema.String)),
        function: Schema.Struct({
          name: Schema.String,
          /** JSON text; some servers send an object instead. */
          arguments: Schema.optional(Schema.NullOr(Schema.Unknown))
        })
      }))))
    }),
    finish_reason: Schema.optional(Schema.NullOr(Schema.String))
  })),
  usage: Schema.optional(Schema.NullOr(Schema.Struct({
    prompt_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
    completion_tokens: Schema.optional(Schema.NullOr(Schema.Number))
  })))
})

const PATH = "/chat/completions"

/** A tool call's arguments as JSON text: a string as it is, anything else (an object some servers send) as JSON. */
const argumentsText = (value: unknown): string => (typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value))

/** The reply as a {@link ToolCompletion}; a call without an id gets `call_<index>` (recorded, so a replay sends the same). */
const completionOf = (reply: typeof ChatToolCompletion.Type): ToolCompletion => {
  const choice = reply.choices[0]
  const calls = (choice.message.tool_calls ?? []).map((call, i) => ({
    id: call.id ?? `call_${i}`,
    name: call.function.name,
    arguments: argumentsText(call.function.arguments)
  }))
  const input = reply.usage?.prompt_tokens ?? undefined
  const output = reply.usage?.completion_tokens ?? undefined
  const usage = { ...(input !== undefined ? { input_tokens: input } : {}), ...(output !== undefined ? { output_tokens: output } : {}) }
  return {
    text: choice.message.content ?? "",
    tool_calls: calls,
    ...(choice.finish_reason !== undefined && choice.finish_reason !== null ? { finish_reason: choice.finish_reason } : {}),
    ...(Object.keys(usage).length > 0 ? { usage } : {})
  }
}

/** A native tool-calling request maker over `client`'s `/chat/completions`. */
export const make = (ai: AiModules, client: OpenAiClientModule.Service, options: ToolChatOptions) => {
  const wire: Wire = { ai, client, module: "ChatTools", redact: options.redact ?? identity }
  return (request: ToolRequest): Effect.Effect<ToolCompletion, AiErrorModule.AiError> =>
    Effect.map(
      postJson(wire, PATH, {
        model: options.model,
        messages: request.messages,
        tools: request.tools,
        ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
        ...(options.maxTokens !== undefined ? { max_tokens: options.maxTokens } : {})
      }, ChatToolCompletion),
      completionOf
    )
}

/** A native tool-calling request maker. */
export type ToolChat = ReturnType<typeof make>
