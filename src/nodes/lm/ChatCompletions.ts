/**
 * An `@effect/ai` `LanguageModel` over an OpenAI-compatible `POST /chat/completions`
 * endpoint, the API vLLM, llama.cpp, Ollama, LM Studio and most local servers speak
 * (`@effect/ai-openai`'s own `OpenAiLanguageModel` speaks `/responses`). It rides on
 * `OpenAiClient`'s HTTP client (base URL, bearer key) through {@link Wire} and reads replies
 * with lenient wire schemas: a server that leaves out `refusal`, `logprobs` or `usage` is
 * fine. With `streamText`, the request says `stream: true` (and asks for the usage in the
 * last chunk) and the SSE chunks become text deltas; the stream must end with
 * `data: [DONE]` or a finish reason, and a server that answers a whole JSON completion
 * instead is read as one.
 *
 * `@effect/ai` and `@effect/ai-openai` are optional peers: this module imports only
 * their types, and `provider.ts` imports them when a model is built, so
 * `import "stargraph"` works without them.
 */
import type * as AiErrorModule from "@effect/ai/AiError"
import type * as LanguageModelModule from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import type * as OpenAiClientModule from "@effect/ai-openai/OpenAiClient"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type AiModules, decode, eventJson, postJson, postStream, serverErrorMessage, streamError, unfinished, type Wire } from "./wire.js"

export type { AiModules } from "./wire.js"

/** Options of {@link make}. */
export interface ChatOptions {
  /** The model name sent in the request. */
  readonly model: string
  /** Sampling temperature, when set. */
  readonly temperature?: number | undefined
  /** Largest completion, in tokens (`max_tokens`), when set. */
  readonly maxTokens?: number | undefined
  /** Remove secrets (the API key) from server text before it goes into an error (default: none to remove). */
  readonly redact?: ((text: string) => string) | undefined
}

const Usage = Schema.NullOr(Schema.Struct({
  prompt_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  completion_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  total_tokens: Schema.optional(Schema.NullOr(Schema.Number))
}))

/** A chat completion, as far as a completion's text goes. */
const ChatCompletion = Schema.Struct({
  choices: Schema.NonEmptyArray(Schema.Struct({
    message: Schema.Struct({ content: Schema.optional(Schema.NullOr(Schema.String)) }),
    finish_reason: Schema.optional(Schema.NullOr(Schema.String))
  })),
  usage: Schema.optional(Usage)
})

/** One SSE chunk of a streamed chat completion. */
const ChatChunk = Schema.Struct({
  choices: Schema.optionalWith(
    Schema.Array(Schema.Struct({
      /** Which choice the chunk continues (several when the request asks for `n` > 1; we read choice 0). */
      index: Schema.optional(Schema.NullOr(Schema.Number)),
      delta: Schema.optional(Schema.NullOr(Schema.Struct({ content: Schema.optional(Schema.NullOr(Schema.String)) }))),
      finish_reason: Schema.optional(Schema.NullOr(Schema.String))
    })),
    { default: () => [] }
  ),
  usage: Schema.optional(Usage),
  /** An error a server sends in the stream (vLLM, OpenRouter). */
  error: Schema.optional(Schema.Unknown)
})

const PATH = "/chat/completions"

/** The message of an error a server put in the stream. */
const errorText = (error: unknown): string => serverErrorMessage(error) ?? JSON.stringify(error) ?? String(error)

type FinishReason = Response.FinishPartEncoded["reason"]

const finishReason = (reason: string | null | undefined): FinishReason => {
  switch (reason) {
    case "stop":
      return "stop"
    case "length":
      return "length"
    case "content_filter":
      return "content-filter"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case null:
    case undefined:
      return "unknown"
    default:
      return "other"
  }
}

const usageOf = (usage: typeof Usage.Type | undefined): Response.FinishPartEncoded["usage"] => ({
  inputTokens: usage?.prompt_tokens ?? undefined,
  outputTokens: usage?.completion_tokens ?? undefined,
  totalTokens: usage?.total_tokens ?? undefined
})

const textOf = (content: ReadonlyArray<{ readonly type: string }>): string =>
  content.map((part) => (part.type === "text" ? (part as Prompt.TextPart).text : "")).join("")

/** The prompt as chat messages (text parts only: these nodes send text). */
export const chatMessages = (prompt: Prompt.Prompt): Array<{ readonly role: string; readonly content: string }> =>
  prompt.content.flatMap((message) => {
    switch (message.role) {
      case "system":
        return [{ role: "system", content: message.content }]
      case "user":
        return [{ role: "user", content: textOf(message.content) }]
      case "assistant":
        return [{ role: "assistant", content: textOf(message.content) }]
      default:
        return []
    }
  })

/** A `LanguageModel` service over `client`'s `/chat/completions`. */
export const make = (
  ai: AiModules,
  client: OpenAiClientModule.Service,
  options: ChatOptions
): Effect.Effect<LanguageModelModule.Service> => {
  const wire: Wire = { ai, client, module: "ChatCompletions", redact: options.redact ?? identity }
  const body = (prompt: Prompt.Prompt) => ({
    model: options.model,
    messages: chatMessages(prompt),
    ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
    ...(options.maxTokens !== undefined ? { max_tokens: options.maxTokens } : {})
  })
  return ai.LanguageModel.make({
    generateText: (provider) =>
      Effect.map(postJson(wire, PATH, body(provider.prompt), ChatCompletion), (reply): Array<Response.PartEncoded> => {
        const choice = reply.choices[0]
        return [
          { type: "text", text: choice.message.content ?? "" },
          { type: "finish", reason: finishReason(choice.finish_reason), usage: usageOf(reply.usage) }
        ]
      }),
    streamText: (provider) =>
      Stream.suspend(() => {
        let reason: string | null | undefined
        let usage: typeof Usage.Type | undefined
        let done = false
        const items = postStream(wire, PATH, { ...body(provider.prompt), stream: true, stream_options: { include_usage: true } })
        const deltas = items.pipe(
          Stream.takeUntil((item) => item._tag === "Whole" || item.data.trim() === "[DONE]"),
          Stream.mapEffect((item): Effect.Effect<Array<Response.StreamPartEncoded>, AiErrorModule.AiError> => {
            if (item._tag === "Whole") {
              // The server ignored `stream: true` and answered the whole completion.
              return Effect.map(decode(wire, "streamText", ChatCompletion, item.value), (reply) => {
                const choice = reply.choices[0]
                done = true
                reason = choice.finish_reason
                usage = reply.usage
                const text = choice.message.content ?? ""
                return text === "" ? [] : [{ type: "text-delta", id: "0", delta: text }]
              })
            }
            if (item.data.trim() === "[DONE]") {
              done = true
              return Effect.succeed([])
            }
            return Effect.flatMap(eventJson(wire, item.data), (json) =>
              // `event: error` (with `{message}` or `{error: {message}}`) ends the stream as an error, as an `error` field does.
              item.event === "error"
                ? Effect.fail(streamError(wire, PATH, errorText(json)))
                : Effect.flatMap(decode(wire, "streamText", ChatChunk, json), (chunk): Effect.Effect<Array<Response.StreamPartEncoded>, AiErrorModule.AiError> => {
                if (chunk.error !== undefined && chunk.error !== null) return Effect.fail(streamError(wire, PATH, errorText(chunk.error)))
                if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
                const choice = chunk.choices.find((c) => (c.index ?? 0) === 0)
                if (choice === undefined) return Effect.succeed([])
                if (choice.finish_reason !== undefined && choice.finish_reason !== null) reason = choice.finish_reason
                const text = choice.delta?.content
                return Effect.succeed(text === undefined || text === null || text === "" ? [] : [{ type: "text-delta", id: "0", delta: text }])
              }))
          }),
          Stream.flattenIterables
        )
        const start: Array<Response.StreamPartEncoded> = [{ type: "text-start", id: "0" }]
        return Stream.fromIterable(start).pipe(
          Stream.concat(deltas),
          Stream.concat(Stream.suspend(() =>
            // A stream that ends without `[DONE]` or a finish reason was cut short.
            !done && (reason === undefined || reason === null)
              ? Stream.fail(unfinished(wire, "streamText", PATH))
              : Stream.fromIterable<Response.StreamPartEncoded>([
                { type: "text-end", id: "0" },
                { type: "finish", reason: finishReason(reason), usage: usageOf(usage) }
              ])
          ))
        )
      })
  })
}
