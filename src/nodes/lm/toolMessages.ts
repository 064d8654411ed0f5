/**
 * The data of a native tool-calling exchange (`react`'s `tool_protocol: native`): the tools
 * and messages a request sends, and the completion the cassette records. Kept apart from
 * the client that sends them (`ChatTools.ts`), so the types a node kind shows name no
 * optional provider package.
 */
import * as Schema from "effect/Schema"

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

