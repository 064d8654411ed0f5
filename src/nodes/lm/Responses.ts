/**
 * An `@effect/ai` `LanguageModel` over OpenAI's Responses API (`POST /responses`), the
 * `api: responses` of a language-model node. Like {@link ChatCompletions} it rides on
 * `OpenAiClient` and reads replies with lenient wire schemas (only what a completion's
 * text, finish reason and usage need), so a server that implements part of the API
 * works. `@effect/ai-openai`'s `OpenAiLanguageModel` is not used: it decodes the whole
 * Responses schema and imports a tokenizer of about 1 MB that these nodes never need.
 * With `streamText`, the `response.output_text.delta` events become text deltas.
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as LanguageModelModule from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import type * as OpenAiClientModule from "@effect/ai-openai/OpenAiClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type AiModules, type ChatOptions, chatMessages, postJson } from "./ChatCompletions.js"

const Usage = Schema.NullOr(Schema.Struct({
  input_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  output_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  total_tokens: Schema.optional(Schema.NullOr(Schema.Number))
}))

/** A Responses API object, as far as a completion goes. */
const ResponseObject = Schema.Struct({
  status: Schema.optional(Schema.NullOr(Schema.String)),
  incomplete_details: Schema.optional(Schema.NullOr(Schema.Struct({ reason: Schema.optional(Schema.NullOr(Schema.String)) }))),
  output: Schema.optionalWith(
    Schema.Array(Schema.Struct({
      type: Schema.String,
      content: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) }))))
    })),
    { default: () => [] }
  ),
  usage: Schema.optional(Usage)
})

/** One SSE event of a streamed response (the ones a completion needs; the rest pass by). */
const StreamEvent = Schema.Struct({
  type: Schema.String,
  delta: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  response: Schema.optional(ResponseObject)
})

type FinishReason = Response.FinishPartEncoded["reason"]

const finishOf = (response: typeof ResponseObject.Type | undefined): FinishReason => {
  switch (response?.status) {
    case "completed":
      return "stop"
    case "incomplete": {
      const reason = response.incomplete_details?.reason
      return reason === "max_output_tokens" ? "length" : reason === "content_filter" ? "content-filter" : "other"
    }
    case "failed":
      return "error"
    default:
      return "unknown"
  }
}

const usageOf = (response: typeof ResponseObject.Type | undefined): Response.FinishPartEncoded["usage"] => ({
  inputTokens: response?.usage?.input_tokens ?? undefined,
  outputTokens: response?.usage?.output_tokens ?? undefined,
  totalTokens: response?.usage?.total_tokens ?? undefined
})

const textOf = (response: typeof ResponseObject.Type): string =>
  response.output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content ?? [])
    .map((part) => (part.type === "output_text" ? part.text ?? "" : ""))
    .join("")

/** A `LanguageModel` service over `client`'s `/responses`. */
export const make = (
  ai: AiModules,
  client: OpenAiClientModule.Service,
  options: ChatOptions
): Effect.Effect<LanguageModelModule.Service> => {
  const body = (prompt: Prompt.Prompt) => ({
    model: options.model,
    input: chatMessages(prompt),
    ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
    ...(options.maxTokens !== undefined ? { max_output_tokens: options.maxTokens } : {})
  })
  const where = { module: "Responses" } as const
  return ai.LanguageModel.make({
    generateText: (provider) =>
      Effect.map(postJson(ai, client, "/responses", body(provider.prompt), ResponseObject, "Responses"), (response): Array<Response.PartEncoded> => [
        { type: "text", text: textOf(response) },
        { type: "finish", reason: finishOf(response), usage: usageOf(response) }
      ]),
    streamText: (provider) => {
      const request = HttpClientRequest.post("/responses", { body: HttpBody.unsafeJson({ ...body(provider.prompt), stream: true }) })
      const start: Array<Response.StreamPartEncoded> = [{ type: "text-start", id: "0" }]
      const events = client.streamRequest(request, StreamEvent).pipe(
        Stream.takeUntil((event) => event.type === "response.completed" || event.type === "response.incomplete" || event.type === "response.failed" || event.type === "error"),
        Stream.mapEffect((event) => {
          switch (event.type) {
            case "response.output_text.delta":
              return Effect.succeed<Array<Response.StreamPartEncoded>>(event.delta === undefined || event.delta === "" ? [] : [{ type: "text-delta", id: "0", delta: event.delta }])
            case "response.completed":
            case "response.incomplete":
              return Effect.succeed<Array<Response.StreamPartEncoded>>([
                { type: "text-end", id: "0" },
                { type: "finish", reason: finishOf(event.response), usage: usageOf(event.response) }
              ])
            case "response.failed":
            case "error":
              return Effect.fail(new ai.AiError.UnknownError({ ...where, method: "streamText", description: event.message ?? `the stream ended with ${event.type}` }))
            default:
              return Effect.succeed<Array<Response.StreamPartEncoded>>([])
          }
        }),
        Stream.flattenIterables
      )
      return Stream.concat(Stream.fromIterable(start), events)
    }
  })
}
