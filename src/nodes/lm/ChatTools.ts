/**
 * Native (OpenAI-style) tool calling over an OpenAI-compatible `POST /chat/completions`
 * endpoint, the `react` kind's `tool_protocol: native`: the request carries `tools` (one
 * `function` tool each, its `parameters` a JSON Schema) and messages with the assistant's
 * `tool_calls` and the `role: tool` replies to them; the reply is its text and its
 * `tool_calls`. `@effect/ai`'s text prompt cannot carry these messages, so the request is
 * made here, on `OpenAiClient`'s HTTP client through {@link Wire}, with lenient wire schemas
 * (a server that leaves out `id`, `type`, `refusal` or `usage` is fine). Streamed (`stream:
 * true`), the text deltas are handed on as they come and the `tool_calls` deltas are put
 * together by their `index` (the first delta of a call has its id and name, the next ones
 * pieces of its arguments; see `addCallDelta`); the completion is the same as unstreamed.
 */
import type * as AiErrorModule from "@effect/ai/AiError"
import type * as OpenAiClientModule from "@effect/ai-openai/OpenAiClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { identity } from "effect/Function"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { ToolCompletion, ToolRequest } from "./toolMessages.js"
import { type AiModules, decode, eventJson, malformed, postJson, postStream, serverErrorMessage, streamError, unfinished, type Wire } from "./wire.js"

/** Options of {@link make}. */
export interface ToolChatOptions {
  readonly model: string
  readonly temperature?: number | undefined
  readonly maxTokens?: number | undefined
  readonly redact?: ((text: string) => string) | undefined
  /** Stream the reply (SSE). */
  readonly stream?: boolean | undefined
}

/** What a streamed reply's text is handed to as it arrives. */
export type OnText = (text: string) => Effect.Effect<void>

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

/** One `tool_calls` delta of a streamed chunk. */
const ToolCallDelta = Schema.Struct({
  index: Schema.optional(Schema.NullOr(Schema.Number)),
  id: Schema.optional(Schema.NullOr(Schema.String)),
  function: Schema.optional(Schema.NullOr(Schema.Struct({
    name: Schema.optional(Schema.NullOr(Schema.String)),
    arguments: Schema.optional(Schema.NullOr(Schema.String))
  })))
})

type ToolCallDelta = typeof ToolCallDelta.Type

/** One SSE chunk of a streamed chat completion with tool calls. */
const ChatToolChunk = Schema.Struct({
  choices: Schema.optionalWith(
    Schema.Array(Schema.Struct({
      index: Schema.optional(Schema.NullOr(Schema.Number)),
      delta: Schema.optional(Schema.NullOr(Schema.Struct({
        content: Schema.optional(Schema.NullOr(Schema.String)),
        tool_calls: Schema.optional(Schema.NullOr(Schema.Array(ToolCallDelta)))
      }))),
      finish_reason: Schema.optional(Schema.NullOr(Schema.String))
    })),
    { default: () => [] }
  ),
  usage: Schema.optional(Schema.NullOr(Schema.Struct({
    prompt_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
    completion_tokens: Schema.optional(Schema.NullOr(Schema.Number))
  }))),
  error: Schema.optional(Schema.Unknown)
})

const PATH = "/chat/completions"

/** A streamed reply put together so far. */
interface Accumulated {
  text: string
  readonly calls: Array<{ id: string | undefined; name: string; arguments: string }>
  reason: string | null | undefined
  usage: typeof ChatToolCompletion.Type["usage"]
  done: boolean
}

/** A streamed reply as the whole completion it adds up to. */
const accumulatedReply = (acc: Accumulated): typeof ChatToolCompletion.Type => ({
  choices: [{
    message: { content: acc.text, tool_calls: acc.calls.map((c) => ({ id: c.id, function: { name: c.name, arguments: c.arguments } })) },
    finish_reason: acc.reason
  }],
  usage: acc.usage
})

/**
 * One `tool_calls` delta folded into the reply's calls, or what is wrong with it. A delta
 * with an `index` belongs to the call at that index, which must be an integer ≥ 0 that
 * leaves no hole (the next index at most). A delta without one (some servers leave it
 * out) starts a new call when it carries an `id` other than the last call's, and goes on
 * with the last call otherwise. The name is set once, by the first delta that has one
 * (OpenAI, vLLM and llama.cpp send it in a call's first delta only; a server that repeats
 * it in every delta would otherwise double it); a later, different name is a piece of it.
 */
const addCallDelta = (calls: Accumulated["calls"], delta: ToolCallDelta): string | undefined => {
  const id = delta.id !== undefined && delta.id !== null && delta.id !== "" ? delta.id : undefined
  let call: Accumulated["calls"][number] | undefined
  if (delta.index !== undefined && delta.index !== null) {
    const index = delta.index
    if (!Number.isInteger(index) || index < 0) return `tool-call index ${index} is not an integer ≥ 0`
    if (index > calls.length) return `tool-call index ${index} leaves a hole (the calls so far are ${calls.length === 0 ? "none" : `0 to ${calls.length - 1}`})`
    call = calls[index]
  } else {
    const last = calls.at(-1)
    call = last !== undefined && (id === undefined || id === last.id) ? last : undefined
  }
  if (call === undefined) {
    call = { id: undefined, name: "", arguments: "" }
    calls.push(call)
  }
  if (id !== undefined) call.id = id
  const name = delta.function?.name ?? ""
  if (name !== "" && name !== call.name) call.name += name
  call.arguments += delta.function?.arguments ?? ""
  return undefined
}

/** One chunk folded into the reply (choice 0 only): its text, handed to `onText`, or what is wrong with its tool-call deltas. */
const addChunk = (acc: Accumulated, chunk: typeof ChatToolChunk.Type): Either.Either<string, string> => {
  if (chunk.usage !== undefined && chunk.usage !== null) acc.usage = chunk.usage
  const choice = chunk.choices.find((c) => (c.index ?? 0) === 0)
  if (choice === undefined) return Either.right("")
  if (choice.finish_reason !== undefined && choice.finish_reason !== null) acc.reason = choice.finish_reason
  for (const delta of choice.delta?.tool_calls ?? []) {
    const problem = addCallDelta(acc.calls, delta)
    if (problem !== undefined) return Either.left(problem)
  }
  const text = choice.delta?.content ?? ""
  acc.text += text
  return Either.right(text)
}

/** A tool call's arguments as JSON text: a string as it is, anything else (an object some servers send) as JSON. */
const argumentsText = (value: unknown): string => (typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value))

/**
 * The ids of a reply's calls, unique: a call without one (missing, `null` or `""`) gets
 * `call_<index>`, and an id already taken by an earlier call of the reply gets `_<index>`
 * appended until it is free, so each `role: tool` message answers one call. A reply whose
 * ids are given and distinct keeps them as they are.
 */
const uniqueIds = (given: ReadonlyArray<string | null | undefined>): ReadonlyArray<string> => {
  const taken = new Set<string>()
  return given.map((id, i) => {
    let unique = id === undefined || id === null || id === "" ? `call_${i}` : id
    while (taken.has(unique)) unique = `${unique}_${i}`
    taken.add(unique)
    return unique
  })
}

/** The reply as a {@link ToolCompletion}, its call ids made unique by {@link uniqueIds} (recorded, so a replay sends the same). */
const completionOf = (reply: typeof ChatToolCompletion.Type): ToolCompletion => {
  const choice = reply.choices[0]
  const given = choice.message.tool_calls ?? []
  const ids = uniqueIds(given.map((call) => call.id))
  const calls = given.map((call, i) => ({
    id: ids[i]!,
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
  const body = (request: ToolRequest) => ({
    model: options.model,
    messages: request.messages,
    tools: request.tools,
    ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
    ...(options.maxTokens !== undefined ? { max_tokens: options.maxTokens } : {})
  })
  const streamed = (request: ToolRequest, onText: OnText | undefined): Effect.Effect<ToolCompletion, AiErrorModule.AiError> =>
    Effect.suspend(() => {
      const acc: Accumulated = { text: "", calls: [], reason: undefined, usage: undefined, done: false }
      const items = postStream(wire, PATH, { ...body(request), stream: true, stream_options: { include_usage: true } })
      const run = items.pipe(
        Stream.takeUntil((item) => item._tag === "Whole" || item.data.trim() === "[DONE]"),
        Stream.runForEach((item): Effect.Effect<void, AiErrorModule.AiError> => {
          if (item._tag === "Whole") {
            // The server ignored `stream: true` and answered the whole completion.
            return Effect.map(decode(wire, "streamText", ChatToolCompletion, item.value), (reply) => {
              acc.done = true
              const whole = completionOf(reply)
              acc.text = whole.text
              acc.reason = whole.finish_reason
              acc.usage = reply.usage
              acc.calls.push(...whole.tool_calls.map((c) => ({ ...c })))
            })
          }
          if (item.data.trim() === "[DONE]") {
            acc.done = true
            return Effect.void
          }
          return Effect.flatMap(eventJson(wire, item.data), (json) =>
            item.event === "error"
              ? Effect.fail(streamError(wire, PATH, serverErrorMessage(json) ?? JSON.stringify(json)))
              : Effect.flatMap(decode(wire, "streamText", ChatToolChunk, json), (chunk): Effect.Effect<void, AiErrorModule.AiError> => {
                if (chunk.error !== undefined && chunk.error !== null) return Effect.fail(streamError(wire, PATH, serverErrorMessage(chunk.error) ?? JSON.stringify(chunk.error)))
                const added = addChunk(acc, chunk)
                if (Either.isLeft(added)) return Effect.fail(malformed(wire, "streamText", `the server sent malformed tool-call deltas: ${added.left}`))
                const text = added.right
                return text !== "" && onText !== undefined ? onText(text) : Effect.void
              }))
        })
      )
      return Effect.flatMap(run, () =>
        // A stream that ends without `[DONE]` or a finish reason was cut short.
        !acc.done && (acc.reason === undefined || acc.reason === null)
          ? Effect.fail(unfinished(wire, "streamText", PATH))
          : Effect.succeed(completionOf(accumulatedReply(acc))))
    })
  return (request: ToolRequest, onText?: OnText): Effect.Effect<ToolCompletion, AiErrorModule.AiError> =>
    options.stream === true ? streamed(request, onText) : Effect.map(postJson(wire, PATH, body(request), ChatToolCompletion), completionOf)
}

/** A native tool-calling request maker. */
export type ToolChat = ReturnType<typeof make>
