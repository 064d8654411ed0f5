/**
 * An `@effect/ai` `LanguageModel` over an OpenAI-compatible `POST /chat/completions`
 * endpoint, the API vLLM, llama.cpp, Ollama, LM Studio and most local servers speak
 * (`@effect/ai-openai`'s own `OpenAiLanguageModel` speaks `/responses`). It rides on
 * `OpenAiClient` (base URL, bearer key, header redaction) and reads replies with lenient
 * wire schemas: a server that leaves out `refusal`, `logprobs` or `usage` is fine. With
 * `streamText`, the request says `stream: true` and the SSE chunks (ending
 * `data: [DONE]`) become text deltas.
 *
 * `@effect/ai` and `@effect/ai-openai` are optional peers: this module imports only
 * their types, and `provider.ts` imports them when a model is built, so
 * `import "stargraph"` works without them.
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as AiErrorModule from "@effect/ai/AiError"
import type * as LanguageModelModule from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import type * as OpenAiClientModule from "@effect/ai-openai/OpenAiClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/** The `@effect/ai` modules a chat model is made with. */
export interface AiModules {
  readonly AiError: typeof AiErrorModule
  readonly LanguageModel: typeof LanguageModelModule
}

/** Options of {@link make}. */
export interface ChatOptions {
  /** The model name sent in the request. */
  readonly model: string
  /** Sampling temperature, when set. */
  readonly temperature?: number | undefined
  /** Largest completion, in tokens (`max_tokens`), when set. */
  readonly maxTokens?: number | undefined
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
      delta: Schema.optional(Schema.NullOr(Schema.Struct({ content: Schema.optional(Schema.NullOr(Schema.String)) }))),
      finish_reason: Schema.optional(Schema.NullOr(Schema.String))
    })),
    { default: () => [] }
  ),
  usage: Schema.optional(Usage)
})

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

/**
 * POST `body` to `path` on `client` and decode the reply with `schema`; a transport
 * failure, a non-2xx status and a reply of the wrong shape become the `AiError`s
 * `@effect/ai` reports (`module` names the caller in them).
 */
export const postJson = <A, I>(
  ai: AiModules,
  client: OpenAiClientModule.Service,
  path: string,
  body: unknown,
  schema: Schema.Schema<A, I>,
  module: string
): Effect.Effect<A, AiErrorModule.AiError> => {
  const where = { module, method: "generateText" } as const
  return client.client.httpClient.execute(HttpClientRequest.post(path).pipe(HttpClientRequest.bodyUnsafeJson(body))).pipe(
    Effect.flatMap(HttpClientResponse.filterStatusOk),
    Effect.flatMap(HttpClientResponse.schemaBodyJson(schema)),
    Effect.scoped,
    Effect.catchTags({
      RequestError: (error) => Effect.fail(ai.AiError.HttpRequestError.fromRequestError({ ...where, error })),
      ResponseError: (error) => ai.AiError.HttpResponseError.fromResponseError({ ...where, error }),
      ParseError: (error) => Effect.fail(ai.AiError.MalformedOutput.fromParseError({ ...where, error }))
    })
  )
}

/** A `LanguageModel` service over `client`'s `/chat/completions`. */
export const make = (
  ai: AiModules,
  client: OpenAiClientModule.Service,
  options: ChatOptions
): Effect.Effect<LanguageModelModule.Service> => {
  const body = (prompt: Prompt.Prompt) => ({
    model: options.model,
    messages: chatMessages(prompt),
    ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
    ...(options.maxTokens !== undefined ? { max_tokens: options.maxTokens } : {})
  })
  return ai.LanguageModel.make({
    generateText: (provider) =>
      Effect.map(postJson(ai, client, "/chat/completions", body(provider.prompt), ChatCompletion, "ChatCompletions"), (reply): Array<Response.PartEncoded> => {
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
        const request = HttpClientRequest.post("/chat/completions", { body: HttpBody.unsafeJson({ ...body(provider.prompt), stream: true }) })
        const deltas = client.streamRequest(request, ChatChunk).pipe(
          Stream.mapConcat((chunk): Array<Response.StreamPartEncoded> => {
            if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
            const choice = chunk.choices[0]
            if (choice === undefined) return []
            if (choice.finish_reason !== undefined && choice.finish_reason !== null) reason = choice.finish_reason
            const text = choice.delta?.content
            return text === undefined || text === null || text === "" ? [] : [{ type: "text-delta", id: "0", delta: text }]
          })
        )
        const start: Array<Response.StreamPartEncoded> = [{ type: "text-start", id: "0" }]
        return Stream.fromIterable(start).pipe(
          Stream.concat(deltas),
          Stream.concat(Stream.suspend(() =>
            Stream.fromIterable<Response.StreamPartEncoded>([
              { type: "text-end", id: "0" },
              { type: "finish", reason: finishReason(reason), usage: usageOf(usage) }
            ])
          ))
        )
      })
  })
}
