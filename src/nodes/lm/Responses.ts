/**
 * An `@effect/ai` `LanguageModel` over OpenAI's Responses API (`POST /responses`), the
 * `api: responses` of a language-model node. Like {@link ChatCompletions} it rides on
 * `OpenAiClient`'s HTTP client through {@link Wire} and reads replies with lenient wire
 * schemas (only what a completion's text, finish reason and usage need), so a server that
 * implements part of the API works; a reply without `output`, or whose status is not
 * `completed` or `incomplete`, is no completion. `@effect/ai-openai`'s `OpenAiLanguageModel` is not used: it decodes the whole
 * Responses schema and imports a tokenizer of about 1 MB that these nodes never need.
 * With `streamText`, the `response.output_text.delta` events become text deltas, and the
 * stream must end with `response.completed` or `response.incomplete`.
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
import { type ChatOptions, chatMessages } from "./ChatCompletions.js"
import { type AiModules, decode, eventJson, malformed, postJson, postStream, preview, serverErrorMessage, streamError, unfinished, type Wire } from "./wire.js"

const Usage = Schema.NullOr(Schema.Struct({
  input_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  output_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
  total_tokens: Schema.optional(Schema.NullOr(Schema.Number))
}))

const OutputItems = Schema.Array(Schema.Struct({
  type: Schema.String,
  content: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) }))))
}))

const ResponseFields = {
  status: Schema.optional(Schema.NullOr(Schema.String)),
  /** The server's error (`{message}` as OpenAI sends it; anything else is shown as it is). */
  error: Schema.optional(Schema.Unknown),
  incomplete_details: Schema.optional(Schema.NullOr(Schema.Struct({ reason: Schema.optional(Schema.NullOr(Schema.String)) }))),
  usage: Schema.optional(Usage)
}

/** A Responses API object, as far as a completion goes: it must have its `output`. */
const ResponseObject = Schema.Struct({ ...ResponseFields, output: OutputItems })

/** The response a stream event carries (`response.created` has no output yet). */
const StreamResponse = Schema.Struct({ ...ResponseFields, output: Schema.optionalWith(OutputItems, { default: () => [] }) })

/** One SSE event of a streamed response (the ones a completion needs; the rest pass by). */
const StreamEvent = Schema.Struct({
  type: Schema.optional(Schema.String),
  delta: Schema.optional(Schema.String),
  /** An `error` event's message, at the top (`{type: "error", message}`) or nested (`{error: {message}}`). */
  message: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.Unknown),
  response: Schema.optional(StreamResponse)
})

type ResponseLike = typeof StreamResponse.Type

const PATH = "/responses"

type FinishReason = Response.FinishPartEncoded["reason"]

const finishOf = (response: ResponseLike | undefined): FinishReason => {
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

const usageOf = (response: ResponseLike | undefined): Response.FinishPartEncoded["usage"] => ({
  inputTokens: response?.usage?.input_tokens ?? undefined,
  outputTokens: response?.usage?.output_tokens ?? undefined,
  totalTokens: response?.usage?.total_tokens ?? undefined
})

const textOf = (response: ResponseLike): string =>
  response.output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content ?? [])
    .map((part) => (part.type === "output_text" ? part.text ?? "" : ""))
    .join("")

/**
 * A response that is a completion: `completed`, `incomplete` or without a status (a
 * server that leaves it out). `failed` is the server's error; `in_progress`, `queued` or
 * `cancelled` is no completion.
 */
const completed = (wire: Wire, method: "generateText" | "streamText", response: ResponseLike): Effect.Effect<ResponseLike, AiErrorModule.AiError> => {
  const status = response.status
  if (status === undefined || status === null || status === "completed" || status === "incomplete") return Effect.succeed(response)
  if (status === "failed") {
    const message = serverErrorMessage(response.error)
    return Effect.fail(new wire.ai.AiError.UnknownError({ module: wire.module, method, description: `the response failed${message !== undefined ? `: ${preview(message, wire)}` : ""}` }))
  }
  return Effect.fail(malformed(wire, method, `status: the response is ${preview(status)}, not completed`))
}

/** What one stream item adds: parts, and whether it is the last. */
interface Step {
  readonly parts: Array<Response.StreamPartEncoded>
  readonly last: boolean
}

/** The stream parts that end a completion. */
const ending = (response: ResponseLike | undefined, text: string): Array<Response.StreamPartEncoded> => [
  ...(text === "" ? [] : [{ type: "text-delta", id: "0", delta: text } as const]),
  { type: "text-end", id: "0" },
  { type: "finish", reason: finishOf(response), usage: usageOf(response) }
]

/** A `LanguageModel` service over `client`'s `/responses`. */
export const make = (
  ai: AiModules,
  client: OpenAiClientModule.Service,
  options: ChatOptions
): Effect.Effect<LanguageModelModule.Service> => {
  const wire: Wire = { ai, client, module: "Responses", redact: options.redact ?? identity }
  const body = (prompt: Prompt.Prompt) => ({
    model: options.model,
    input: chatMessages(prompt),
    ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
    ...(options.maxTokens !== undefined ? { max_output_tokens: options.maxTokens } : {})
  })
  return ai.LanguageModel.make({
    generateText: (provider) =>
      postJson(wire, PATH, body(provider.prompt), ResponseObject).pipe(
        Effect.flatMap((response) => completed(wire, "generateText", response)),
        Effect.map((response): Array<Response.PartEncoded> => [
          { type: "text", text: textOf(response) },
          { type: "finish", reason: finishOf(response), usage: usageOf(response) }
        ])
      ),
    streamText: (provider) =>
      Stream.suspend(() => {
        let ended = false
        let streamed = false
        const start: Array<Response.StreamPartEncoded> = [{ type: "text-start", id: "0" }]
        const events = postStream(wire, PATH, { ...body(provider.prompt), stream: true }).pipe(
          Stream.mapEffect((item): Effect.Effect<Step, AiErrorModule.AiError> => {
            if (item._tag === "Whole") {
              // The server ignored `stream: true` and answered the whole response.
              return decode(wire, "streamText", ResponseObject, item.value).pipe(
                Effect.flatMap((response) => completed(wire, "streamText", response)),
                Effect.map((response) => {
                  ended = true
                  return { parts: ending(response, textOf(response)), last: true }
                })
              )
            }
            if (item.data.trim() === "[DONE]") return Effect.succeed({ parts: [], last: true })
            return Effect.flatMap(eventJson(wire, item.data), (json) =>
              Effect.flatMap(decode(wire, "streamText", StreamEvent, json), (event): Effect.Effect<Step, AiErrorModule.AiError> => {
                switch (event.type ?? item.event) {
                  case "response.output_text.delta":
                    if (event.delta === undefined || event.delta === "") return Effect.succeed({ parts: [], last: false })
                    streamed = true
                    return Effect.succeed({ parts: [{ type: "text-delta", id: "0", delta: event.delta }], last: false })
                  case "response.completed":
                  case "response.incomplete":
                    ended = true
                    // A server that sends no deltas has the text in the final response only.
                    return Effect.succeed({ parts: ending(event.response, streamed || event.response === undefined ? "" : textOf(event.response)), last: true })
                  case "response.failed":
                  case "error":
                    // The server broke off (overloaded, rate limited, its own failure): tried again like a cut stream.
                    return Effect.fail(streamError(
                      wire,
                      PATH,
                      serverErrorMessage(event.message) ?? serverErrorMessage(event.error) ?? serverErrorMessage(event.response?.error) ?? `the stream ended with ${event.type ?? item.event}`
                    ))
                  default:
                    return Effect.succeed({ parts: [], last: false })
                }
              }))
          }),
          Stream.takeUntil((step) => step.last),
          Stream.mapConcat((step) => step.parts)
        )
        return Stream.fromIterable(start).pipe(
          Stream.concat(events),
          // A stream that ends without response.completed (or incomplete) was cut short.
          Stream.concat(Stream.suspend(() => (ended ? Stream.empty : Stream.fail(unfinished(wire, "streamText", PATH)))))
        )
      })
  })
}
