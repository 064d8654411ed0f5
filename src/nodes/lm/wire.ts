/**
 * The wire of the OpenAI-compatible models ({@link ChatCompletions}, {@link Responses}):
 * a request is executed on `OpenAiClient`'s HTTP client (which adds the base URL and the
 * bearer key), and everything after that is read here: the status, the body text, the
 * JSON, the SSE events. Each failure becomes an `AiError` made here with a short
 * description of our own, never with the request or its headers in it (the platform's
 * errors hold the request, and `@effect/ai` prints them whole, key included):
 *
 * - no connection, a reset, a body that breaks off (mid-stream too): `HttpRequestError`
 *   `Transport`;
 * - a non-2xx status: `HttpResponseError` `StatusCode`, with the body text (cut) and
 *   empty request headers;
 * - a body that is not JSON, an event that is not JSON, JSON of the wrong shape:
 *   `MalformedOutput`.
 *
 * A streamed request yields the reply's SSE events, or the whole reply when the server
 * answers JSON instead of a stream (it ignored `stream: true`).
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as AiErrorModule from "@effect/ai/AiError"
import type * as LanguageModelModule from "@effect/ai/LanguageModel"
import type * as OpenAiClientModule from "@effect/ai-openai/OpenAiClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/** The `@effect/ai` modules a model is made with. */
export interface AiModules {
  readonly AiError: typeof AiErrorModule
  readonly LanguageModel: typeof LanguageModelModule
}

/** Where calls go and who makes them (named in their errors). */
export interface Wire {
  readonly ai: AiModules
  readonly client: OpenAiClientModule.Service
  /** The caller, e.g. `ChatCompletions`. */
  readonly module: string
  /**
   * Remove secrets (the node's API key) from text a server sent or a transport error
   * holds, before it is cut to fit an error: a cut must not leave part of a key.
   */
  readonly redact: (text: string) => string
}

/** What a call is, for its errors. */
type Method = "generateText" | "streamText"

/** One SSE event, or the whole reply of a server that answered JSON to a streamed request. */
export type StreamItem =
  | { readonly _tag: "Event"; readonly event: string | undefined; readonly data: string }
  | { readonly _tag: "Whole"; readonly value: unknown }

/** The longest body kept on a status error. */
const MAX_BODY = 2000
/** The longest piece of a body shown in a description. */
const PREVIEW = 120

/** A body's first characters, on one line (secrets removed first, when `wire` is given). */
export const preview = (text: string, wire?: Wire): string => {
  const flat = (wire === undefined ? text : wire.redact(text)).replace(/\s+/g, " ").trim()
  return flat.length > PREVIEW ? `${flat.slice(0, PREVIEW)}…` : flat
}

/** The request as an error shows it: the path, no headers. */
const requestOf = (path: string) => ({ method: "POST" as const, url: path, urlParams: [], hash: Option.none<string>(), headers: {} })

/**
 * What broke on the wire, from a platform error's causes: their messages (or codes) only,
 * never the error itself (it holds the request).
 */
const causeText = (wire: Wire, error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = Predicate.hasProperty(error, "cause") ? error.cause : undefined
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error) {
      const code = Predicate.hasProperty(current, "code") && typeof current.code === "string" ? current.code : undefined
      const text = current.message !== "" ? current.message : code
      if (text !== undefined && !parts.includes(text)) parts.push(text)
    }
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  const text = wire.redact(parts.join(": "))
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

/** A transport failure (`what` went wrong), as `@effect/ai` reports it. */
const transport = (wire: Wire, method: Method, path: string, what: string, error?: unknown): AiErrorModule.AiError => {
  const detail = error === undefined ? "" : causeText(wire, error)
  return new wire.ai.AiError.HttpRequestError({
    module: wire.module,
    method,
    reason: "Transport",
    request: requestOf(path),
    description: detail === "" ? what : `${what} (${detail})`
  })
}

/** A reply that is not what the API answers. */
export const malformed = (wire: Wire, method: Method, description: string): AiErrorModule.AiError =>
  new wire.ai.AiError.MalformedOutput({ module: wire.module, method, description })

/** The stream ended before the completion did (a connection cut between events, a server that stopped). */
export const unfinished = (wire: Wire, method: Method, path: string): AiErrorModule.AiError =>
  transport(wire, method, path, "the stream ended before the completion did")

/**
 * The server broke off the stream with an error of its own (overloaded, rate limited, a
 * failed response): the completion did not finish, so, like a cut stream, the call may
 * be tried again.
 */
export const streamError = (wire: Wire, path: string, message: string): AiErrorModule.AiError =>
  transport(wire, "streamText", path, `${STREAM_ERROR}: ${preview(message, wire)}`)

/** How a {@link streamError}'s description starts: the server answered, then reported an error. */
export const STREAM_ERROR = "the server ended the stream with an error"

/** The message of an error object a server sent (`{message}`, `{error: {message}}`, a string), if it has one. */
export const serverErrorMessage = (value: unknown): string | undefined => {
  if (typeof value === "string") return value === "" ? undefined : value
  if (!Predicate.isRecord(value)) return undefined
  if (typeof value["message"] === "string" && value["message"] !== "") return value["message"]
  return serverErrorMessage(value["error"])
}

const contentType = (response: HttpClientResponse.HttpClientResponse): string => response.headers["content-type"] ?? ""

const describeType = (type: string): string => (type === "" ? "no content-type" : `content-type ${type.split(";")[0]!.trim()}`)

const isOk = (response: HttpClientResponse.HttpClientResponse): boolean => response.status >= 200 && response.status < 300

/** POST `body` (JSON) to `path`. */
const send = (wire: Wire, method: Method, path: string, body: unknown) =>
  wire.client.client.httpClient.execute(HttpClientRequest.post(path).pipe(HttpClientRequest.bodyUnsafeJson(body))).pipe(
    Effect.catchAll((error) => Effect.fail(transport(wire, method, path, "the request could not be sent", error)))
  )

/** The body, as text. */
const readText = (wire: Wire, method: Method, path: string, response: HttpClientResponse.HttpClientResponse) =>
  Effect.catchAll(response.text, (error) => Effect.fail(transport(wire, method, path, "the connection broke while the reply was read", error)))

/** A non-2xx status, with the body the server sent. */
const statusError = (wire: Wire, method: Method, path: string, status: number, text: string): AiErrorModule.AiError =>
  new wire.ai.AiError.HttpResponseError({
    module: wire.module,
    method,
    reason: "StatusCode",
    request: requestOf(path),
    response: { status, headers: {} },
    body: cutBody(wire.redact(text))
  })

const cutBody = (text: string): string => (text.length > MAX_BODY ? `${text.slice(0, MAX_BODY)}…` : text)

const NOT_JSON: unique symbol = Symbol("not JSON")

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return NOT_JSON
  }
}

/** The JSON a body holds, or a `MalformedOutput` saying what came instead. */
const bodyJson = (wire: Wire, method: Method, type: string, text: string): Effect.Effect<unknown, AiErrorModule.AiError> => {
  const value = parseJson(text)
  if (value !== NOT_JSON) return Effect.succeed(value)
  return Effect.fail(malformed(wire, method, text.trim() === "" ? `the reply is empty (${describeType(type)})` : `the reply is not JSON (${describeType(type)}): ${preview(text, wire)}`))
}

/**
 * Decode `value` with `schema`; a mismatch is a `MalformedOutput` with the parse error as
 * its cause, or, for a reply that is an error object (`{error: {message}}` with a 200),
 * one that shows the server's message.
 */
export const decode = <A, I>(wire: Wire, method: Method, schema: Schema.Schema<A, I>, value: unknown): Effect.Effect<A, AiErrorModule.AiError> =>
  Effect.catchAll(Schema.decodeUnknown(schema)(value), (error) => {
    const said = Predicate.isRecord(value) && value["error"] !== undefined ? serverErrorMessage(value["error"]) : undefined
    return Effect.fail(
      said !== undefined
        ? malformed(wire, method, `the reply is an error, not a completion: ${preview(said, wire)}`)
        : wire.ai.AiError.MalformedOutput.fromParseError({ module: wire.module, method, error })
    )
  })

/** The JSON of one SSE event's data, or a `MalformedOutput`. */
export const eventJson = (wire: Wire, data: string): Effect.Effect<unknown, AiErrorModule.AiError> => {
  const value = parseJson(data)
  return value === NOT_JSON ? Effect.fail(malformed(wire, "streamText", `a stream event is not JSON: ${preview(data, wire)}`)) : Effect.succeed(value)
}

/** POST `body` to `path` and decode the JSON reply with `schema`. */
export const postJson = <A, I>(wire: Wire, path: string, body: unknown, schema: Schema.Schema<A, I>): Effect.Effect<A, AiErrorModule.AiError> =>
  Effect.gen(function*() {
    const response = yield* send(wire, "generateText", path, body)
    const text = yield* readText(wire, "generateText", path, response)
    if (!isOk(response)) return yield* Effect.fail(statusError(wire, "generateText", path, response.status, text))
    const value = yield* bodyJson(wire, "generateText", contentType(response), text)
    return yield* decode(wire, "generateText", schema, value)
  }).pipe(Effect.scoped)

/** An SSE parser's state: the event being read, and whether anything but SSE was seen. */
interface SseState {
  event: string | undefined
  data: Array<string>
  events: number
  junk: string | undefined
  /** The text so far while no event was seen (a whole JSON reply sent as an event stream), up to MAX_RAW. */
  raw: string
}

/** The longest reply kept to be read as whole JSON when an "event stream" has no event. */
const MAX_RAW = 64 * 1024 * 1024

/** One line of an event stream: an event when it ends one (a blank line). */
const sseLine = (state: SseState, line: string): Array<StreamItem> => {
  if (state.events === 0 && state.raw.length < MAX_RAW) state.raw += `${line}\n`
  if (line === "") {
    const event = state.event
    const data = state.data
    state.event = undefined
    state.data = []
    // No data, or only empty data lines (a keep-alive): nothing to dispatch.
    if (data.every((d) => d.trim() === "")) return []
    state.events++
    return [{ _tag: "Event", event, data: data.join("\n") }]
  }
  if (line.startsWith(":")) return []
  const colon = line.indexOf(":")
  const field = colon < 0 ? line : line.slice(0, colon)
  const value = colon < 0 ? "" : line.slice(line.charAt(colon + 1) === " " ? colon + 2 : colon + 1)
  switch (field) {
    case "data":
      state.data.push(value)
      break
    case "event":
      state.event = value
      break
    case "id":
    case "retry":
      break
    default:
      state.junk ??= line
  }
  return []
}

/**
 * Text cut into lines at LF, CRLF or a lone CR (all three end an SSE line), whatever the
 * chunks' boundaries (a CRLF split across two chunks is one line end).
 */
const sseLines = <E>(text: Stream.Stream<string, E>): Stream.Stream<string, E> =>
  Stream.suspend(() => {
    let pending = ""
    let afterCR = false
    return text.pipe(
      Stream.mapConcat((chunk) => {
        const lines: Array<string> = []
        let start = 0
        let i = 0
        if (afterCR && chunk.startsWith("\n")) {
          start = 1
          i = 1
        }
        afterCR = false
        for (; i < chunk.length; i++) {
          const c = chunk.charCodeAt(i)
          if (c !== 10 && c !== 13) continue
          lines.push(pending + chunk.slice(start, i))
          pending = ""
          if (c === 13) {
            if (i + 1 < chunk.length) {
              if (chunk.charCodeAt(i + 1) === 10) i++
            } else afterCR = true
          }
          start = i + 1
        }
        pending += chunk.slice(start)
        return lines
      }),
      Stream.concat(Stream.suspend(() => (pending === "" ? Stream.empty : Stream.make(pending))))
    )
  })

/**
 * The events of an event stream's text: `data:` lines (several make one event's data,
 * joined by newlines), `event:` lines, comments (`:`) skipped, an event ending at a blank
 * line or at the end. A stream with no event that holds one JSON value is that value (a
 * whole reply under an event-stream content type); one with no event but lines that are
 * not SSE is not a stream.
 */
const sseEvents = (wire: Wire, type: string, text: Stream.Stream<string, AiErrorModule.AiError>): Stream.Stream<StreamItem, AiErrorModule.AiError> =>
  Stream.suspend(() => {
    const state: SseState = { event: undefined, data: [], events: 0, junk: undefined, raw: "" }
    return sseLines(text).pipe(
      Stream.concat(Stream.make("")),
      Stream.mapConcat((line) => sseLine(state, line)),
      Stream.concat(Stream.suspend(() => {
        if (state.events > 0 || state.junk === undefined) return Stream.empty
        const whole = parseJson(state.raw)
        return whole !== NOT_JSON
          ? Stream.succeed<StreamItem>({ _tag: "Whole", value: whole })
          : Stream.fail(malformed(wire, "streamText", `the reply is not an event stream (${describeType(type)}): ${preview(state.junk, wire)}`))
      }))
    )
  })

/**
 * POST `body` (which says `stream: true`) to `path`: the reply's SSE events, or the whole
 * reply when the server answered JSON. A non-2xx status, a reply that is neither, and a
 * connection that breaks (before or during the stream) fail the stream.
 */
export const postStream = (wire: Wire, path: string, body: unknown): Stream.Stream<StreamItem, AiErrorModule.AiError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const response = yield* send(wire, "streamText", path, body)
    const type = contentType(response)
    if (!isOk(response)) {
      const text = yield* readText(wire, "streamText", path, response)
      return yield* Effect.fail(statusError(wire, "streamText", path, response.status, text))
    }
    if (type.includes("text/event-stream")) {
      const text = response.stream.pipe(
        Stream.mapError((error) => transport(wire, "streamText", path, "the connection broke mid-stream", error)),
        Stream.decodeText()
      )
      return sseEvents(wire, type, text)
    }
    // Not an event stream: a whole JSON reply, SSE under another content type, or neither.
    const text = yield* readText(wire, "streamText", path, response)
    const value = parseJson(text)
    if (value !== NOT_JSON) return Stream.succeed<StreamItem>({ _tag: "Whole", value })
    if (!type.includes("json") && /^(data|event):/m.test(text)) return sseEvents(wire, type, Stream.make(text))
    return yield* Effect.fail(malformed(
      wire,
      "streamText",
      text.trim() === "" ? `the reply is empty (${describeType(type)})` : type.includes("json") ? `the reply is not JSON (${describeType(type)}): ${preview(text, wire)}` : `the reply is neither an event stream nor JSON (${describeType(type)}): ${preview(text, wire)}`
    ))
  }))
