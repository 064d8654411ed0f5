/**
 * The executor every language-model kind compiles to: read the signature's inputs from
 * state, build the messages, make the call through the step's cassette
 * (`lm.<kind>`, request `{model, messages, signature, params}`, response the completion),
 * decode the completion with the signature's Schema and map it to state writes. A reply
 * that does not fit is a `ModelOutputError`, and a failed call a `LanguageModelError`;
 * both are retried under the node's `retry` policy (a retry after a bad reply shows the
 * model its reply and what was wrong). A replay rebuilds the same requests and gets the
 * recorded completions back, so it makes no call and re-derives the same writes, each
 * completion decoded under the reply parser it was recorded under (`REPLY_PARSER`).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { LanguageModelError, ModelOutputError, type ToolError } from "../../errors.js"
import { canonicalPlainJson } from "../../ir/hash.js"
import { checkJson } from "../../ir/json.js"
import type { State } from "../../ir/stateSchema.js"
import type { Executor, NodeFailure, NodeInput, NodeOutcome } from "../Executor.js"
import { completionDecoder, type OutputProblem } from "./parseCompletion.js"
import { type Message, type PromptSpec, REASONING, repair, systemMessage, userMessage } from "./prompt.js"
import { type Completion, complete, defaultInUse, type ProviderConfig } from "./provider.js"
import * as Signature from "./Signature.js"

/** What a language-model node is compiled from. */
export interface LmNodeSpec {
  /** The kind's name; calls are recorded as `lm.<kind>`. */
  readonly kind: string
  readonly prompt: PromptSpec
  readonly provider: ProviderConfig
  /** Which state field each signature input reads. */
  readonly reads: ReadonlyArray<{ readonly input: string; readonly field: string }>
  /** The decoded outputs (and the `cot` reasoning, "" for `predict`) as state writes, or what is wrong with them. */
  readonly post: (outputs: { readonly [field: string]: unknown }, reasoning: string) => Either.Either<State, OutputProblem>
  /** The deterministic offline answer (`config.stub: true`): no model, no call. */
  readonly stub?: ((inputs: { readonly [input: string]: unknown }) => State) | undefined
  /**
   * The values an output may take, by output name: the `enum` of the state field it is
   * written to. A reply outside them is a `ModelOutputError` naming the output and the
   * values (retried with a repair turn), not a state that fails validation after the step.
   */
  readonly allowed?: Signature.AllowedValues | undefined
  readonly retry?: { readonly max_attempts: number; readonly backoff_ms?: number | undefined } | undefined
  readonly timeout_ms?: number | undefined
  /**
   * What must succeed before a live completion (not one the cassette answers), e.g. a
   * capability the node needs after the model answers: an ungranted run then fails
   * before it pays for a model call. Its failure is the call's (not retried).
   */
  readonly beforeLive?: ((input: NodeInput) => Effect.Effect<void, ToolError>) | undefined
}

/**
 * The version of the reply parser a language-model call's completion is checked under,
 * recorded with each call (`CallRecord.meta.reply_parser`, outside its hashed request). A
 * replay reads a recorded completion under the parser it was recorded under: 2 refuses a
 * `cot` reply without `reasoning`; a call recorded without it (before it was recorded) was
 * checked under version 1, which took such a reply with an empty reasoning.
 */
export const REPLY_PARSER = 2

/** The meta key {@link REPLY_PARSER} is recorded under. */
export const REPLY_PARSER_KEY = "reply_parser"

/** The reply parser a recorded call was checked under: its `reply_parser`, else 1 (recorded before it was kept). */
export const replyParserOf = (meta: { readonly [key: string]: unknown } | undefined): number => {
  const version = meta?.[REPLY_PARSER_KEY]
  return typeof version === "number" ? version : 1
}

/** The longest completion kept on a `ModelOutputError`. */
const MAX_SHOWN = 2000

/** A live completion's time limit when the node sets no `timeout_ms`: 10 minutes (the OpenAI SDK's default). */
export const DEFAULT_LM_TIMEOUT_MS = 600_000

/** A recorded (or fresh) completion, as the cassette holds it: `{text: string, ...}`. */
export const isCompletion = (response: unknown): response is { readonly text: string } =>
  typeof response === "object" && response !== null && typeof (response as { readonly text?: unknown }).text === "string"

/** Whether a node failure is worth another attempt under its retry policy (a bad reply, a failed or timed-out call, a busy server). */
export const isRetryable = (error: NodeFailure): boolean => {
  if (error._tag === "ModelOutputError") return true
  if (error._tag !== "LanguageModelError") return false
  switch (error.reason) {
    case "request-failed":
    case "bad-response":
    case "timeout":
      return true
    case "http-status": {
      const status = error.status ?? 0
      return status === 408 || status === 409 || status === 429 || status >= 500
    }
    default:
      return false
  }
}

/** The request a language-model node records for each call (`lm.<kind>`): stable JSON, no endpoint, key or clock. */
export interface LmRequest {
  /**
   * `config.model`, or null (the run-wide default model's, or an app-provided model): the
   * default model's name is on the call's record (`CallRecord.meta.model`), outside the
   * hashed request, so recordings made with one default replay under another.
   */
  readonly model: string | null
  readonly messages: ReadonlyArray<Message>
  /** The signature in canonical form, e.g. `question -> answer, confidence: float`. */
  readonly signature: string
  /** `temperature` and `max_tokens`, when set. */
  readonly params: { readonly temperature?: number; readonly max_tokens?: number }
}

/** The request recorded for a call. */
export const lmRequest = (spec: LmNodeSpec, messages: ReadonlyArray<Message>): LmRequest => ({
  model: spec.provider.model ?? null,
  messages: messages.map((m) => ({ role: m.role, content: m.content })),
  signature: Signature.format(spec.prompt.signature),
  params: {
    ...(spec.provider.temperature !== undefined ? { temperature: spec.provider.temperature } : {}),
    ...(spec.provider.maxTokens !== undefined ? { max_tokens: spec.provider.maxTokens } : {})
  }
})

/** The end of a message's canonical text, by role. */
const ROLE_TEXT: { readonly [role in Message["role"]]: string } = {
  system: ",\"role\":\"system\"}",
  user: ",\"role\":\"user\"}",
  assistant: ",\"role\":\"assistant\"}"
}

/** The canonical JSON text of one message (`{"content":…,"role":…}`, keys sorted). */
const messageCanonical = (message: Message): string => `{"content":${JSON.stringify(message.content)}${ROLE_TEXT[message.role]}`

/**
 * A node's requests, built from what is fixed per node (model, signature text, params, the
 * system message and their canonical JSON) and each call's messages; every request goes to
 * the cassette with its canonical text (`callEffect`'s `canonical`), so neither a live call nor a replay
 * canonicalizes the fixed parts again. The request and its text are those of
 * {@link lmRequest} and `canonicalPlainJson`.
 */
export const lmRequests = (spec: LmNodeSpec) => {
  const fixed = lmRequest(spec, [])
  const system = systemMessage(spec.prompt)
  const systemText = messageCanonical({ role: "system", content: system })
  // Params that are not JSON (a NaN temperature) go unprepared: the recorder refuses them as before.
  const tail = checkJson(fixed.params, "params") === undefined
    ? `],"model":${canonicalPlainJson(fixed.model)},"params":${canonicalPlainJson(fixed.params)},"signature":${canonicalPlainJson(fixed.signature)}}`
    : undefined
  return {
    /** The first attempt's messages for these inputs. */
    first: (inputs: { readonly [field: string]: unknown }): ReadonlyArray<Message> => [
      { role: "system", content: system },
      { role: "user", content: userMessage(spec.prompt, inputs) }
    ],
    /** The request recorded for `messages` (built here: `{role, content}` each, never changed afterwards). */
    request: (messages: ReadonlyArray<Message>): LmRequest => ({ model: fixed.model, messages, signature: fixed.signature, params: fixed.params }),
    /** The canonical text of `request(messages)` (undefined when the params are not JSON). */
    canonical: (messages: ReadonlyArray<Message>): string | undefined => {
      if (tail === undefined) return undefined
      let text = "{\"messages\":["
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!
        text += (i === 0 ? "" : ",") + (m.role === "system" && m.content === system ? systemText : messageCanonical(m))
      }
      return text + tail
    }
  }
}

/**
 * The live completion of `sent` for a node, under its timeout (by default
 * {@link DEFAULT_LM_TIMEOUT_MS}: a server that never answers fails the call), streamed to
 * the run's `node.delta` events when the node streams. `answeredBy` hears the model's name
 * when the run-wide default model answers (for the call's record, outside its request).
 */
export const liveCompletion = (
  spec: Pick<LmNodeSpec, "provider" | "timeout_ms" | "retry">,
  input: NodeInput,
  sent: ReadonlyArray<Message>,
  attempt: number,
  answeredBy?: (model: string) => void
): Effect.Effect<Completion, LanguageModelError> => {
  const emit = input.emitDelta
  const call = complete(spec.provider, sent, { nodeId: input.nodeId, step: input.step, attempt, maxAttempts: spec.retry?.max_attempts ?? 1 }, emit === undefined ? undefined : (text) => emit(text, input.nodeId, input.step))
  return timedLive(spec, input, attempt, call, answeredBy)
}

/**
 * A live model call (`call`) under the node's timeout (by default
 * {@link DEFAULT_LM_TIMEOUT_MS}, or the default model's `--lm-timeout`), as
 * {@link liveCompletion} makes it; `answeredBy` hears the run-wide default model's name.
 */
export const timedLive = <A>(
  spec: Pick<LmNodeSpec, "provider" | "timeout_ms" | "retry">,
  input: NodeInput,
  attempt: number,
  call: Effect.Effect<A, LanguageModelError>,
  answeredBy?: (model: string) => void
): Effect.Effect<A, LanguageModelError> =>
  Effect.flatMap(defaultInUse(), (fallback) => {
    // The default model's timeout (--lm-timeout) for a node that uses it and sets no timeout_ms
    // (not when the app's LanguageModel answers instead).
    const runWide = spec.timeout_ms === undefined && spec.provider.model === undefined ? Option.getOrUndefined(fallback)?.timeoutMs : undefined
    const timeoutMs = spec.timeout_ms ?? runWide ?? DEFAULT_LM_TIMEOUT_MS
    const model = spec.provider.model ?? Option.getOrUndefined(fallback)?.model
    // The default model answers: its name goes on the call's record (not in its hashed request).
    if (spec.provider.model === undefined && model !== undefined) answeredBy?.(model)
    return call.pipe(
      Effect.timeoutFail({
        duration: Duration.millis(timeoutMs),
        onTimeout: () =>
          new LanguageModelError({
            nodeId: input.nodeId,
            step: input.step,
            reason: "timeout",
            ...(model !== undefined ? { model } : {}),
            attempts: attempt,
            message: `no completion within ${timeoutMs} ms (${spec.timeout_ms !== undefined ? "timeout_ms" : runWide !== undefined ? "--lm-timeout" : "the default timeout_ms"})`,
            fix: `${runWide !== undefined ? "raise --lm-timeout or set" : "raise"} the node's timeout_ms${spec.retry === undefined || spec.retry.max_attempts <= 1 ? ", or add a retry policy" : ""}`
          })
      })
    )
  })

/** Compile a language-model node. */
export const lmExecutor = (spec: LmNodeSpec): Executor => {
  const fields = spec.prompt.signature.outputs
  const decode = completionDecoder(Signature.outputSchema(fields, spec.allowed), Signature.stringOutputs(fields, spec.allowed))
  const attempts = spec.retry?.max_attempts ?? 1
  const backoff = Duration.millis(spec.retry?.backoff_ms ?? 0)
  const name = `lm.${spec.kind}`
  const beforeLive = spec.beforeLive
  const requests = lmRequests(spec)
  const inputsOf = (state: State) => Object.fromEntries(spec.reads.map((r) => [r.input, state[r.field] ?? null]))
  // Compile-level helpers, not closures made per execution.
  const outputError = (input: NodeInput, attempt: number, completion: string, problem: OutputProblem, fix: string) =>
    new ModelOutputError({
      nodeId: input.nodeId,
      step: input.step,
      ...(problem.field !== undefined ? { field: problem.field } : {}),
      completion: completion.length > MAX_SHOWN ? `${completion.slice(0, MAX_SHOWN)}…` : completion,
      attempts: attempt,
      message: problem.message,
      fix
    })
  return (state, input) => {
    const inputs = inputsOf(state)
    const stub = spec.stub
    if (stub !== undefined) return Effect.sync((): NodeOutcome => ({ _tag: "Update", update: stub(inputs) }))
    let attempt = 0
    let messages: ReadonlyArray<Message> = requests.first(inputs)
    const one = Effect.suspend(() => {
      attempt += 1
      const sent = messages
      const current = attempt
      // Built only when the cassette does not answer the call.
      let defaultModel: string | undefined
      // A live completion is checked under this build's parser; a recorded one under the one it was recorded under.
      let parser = REPLY_PARSER
      const completion = Effect.suspend(() => liveCompletion(spec, input, sent, current, (model) => (defaultModel = model)))
      const live = beforeLive === undefined ? completion : Effect.zipRight(beforeLive(input), completion)
      const options = {
        canonical: () => requests.canonical(sent),
        meta: () => (defaultModel === undefined ? { ...PARSER_META } : { model: defaultModel, default_model: true, ...PARSER_META }),
        recorded: (meta: { readonly [key: string]: unknown } | undefined) => {
          parser = replyParserOf(meta)
        }
      }
      return Effect.flatMap(input.calls.callEffect(name, requests.request(sent), live, options), (response): Effect.Effect<NodeOutcome, ModelOutputError> => {
        if (!isCompletion(response)) {
          return Effect.fail(outputError(input, current, JSON.stringify(response) ?? "", { message: "the recorded response is not a completion ({text: string})" }, "the run's cassette is damaged: record the run again"))
        }
        const text = response.text
        const outputs = decode(text)
        const reasoning = spec.prompt.module !== "cot" ? Either.right("") : parser >= 2 ? reasoningOf(text) : Either.right(lenientReasoningOf(text))
        const decoded = Either.isRight(outputs) ? Either.flatMap(reasoning, (thought) => spec.post(outputs.right, thought)) : outputs
        if (Either.isRight(decoded)) return Effect.succeed({ _tag: "Update", update: decoded.right })
        // The next attempt shows the model its reply and what was wrong with it.
        messages = repair(sent, text, decoded.left.message, spec.prompt)
        const cut = cutAtLimit(response, decoded.left, spec.provider.maxTokens)
        return Effect.fail(cut !== undefined
          ? outputError(input, current, text, cut.problem, cut.fix)
          : outputError(input, current, text, decoded.left, fixFor(attempts)))
      })
    })
    return attempts <= 1 ? one : one.pipe(Effect.retry({ times: attempts - 1, schedule: Schedule.spaced(backoff), while: isRetryable }))
  }
}

const decodeReasoning = completionDecoder(Schema.Struct({ [REASONING]: Schema.optional(Schema.Unknown) }))

/**
 * The `reasoning` of a `cot` reply (JSON text when it is not a string). A reply without it
 * is a problem on `reasoning`, as DSPy's ChainOfThought refuses it (the original's `cot`):
 * the presets would otherwise write an empty `rationale`.
 */
const reasoningOf = (text: string): Either.Either<string, OutputProblem> => {
  const decoded = decodeReasoning(text)
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  const value = decoded.right[REASONING]
  if (value === undefined || value === null) {
    return Either.left({ field: REASONING, message: `the reply has no '${REASONING}' (module: cot asks for it first, before the outputs)` })
  }
  return Either.right(typeof value === "string" ? value : JSON.stringify(value))
}

/**
 * The `reasoning` of a `cot` reply under reply parser 1, for a completion recorded under it:
 * "" when it has none (JSON text when it is not a string), as that parser took it.
 */
const lenientReasoningOf = (text: string): string => {
  const decoded = decodeReasoning(text)
  const value = Either.isRight(decoded) ? decoded.right[REASONING] : undefined
  return typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value)
}

/** What every call records beside its request: the parser its completion is checked under. */
const PARSER_META = { [REPLY_PARSER_KEY]: REPLY_PARSER }

/**
 * For a completion that could not be used (`problem`) because the server cut it at the
 * token limit (chat's `finish_reason: length`, a Responses reply `incomplete` at
 * `max_output_tokens`): the problem saying so, and a fix naming the limit to raise.
 * Undefined for a completion that finished otherwise.
 */
export const cutAtLimit = (
  response: unknown,
  problem: OutputProblem,
  maxTokens: number | undefined
): { readonly problem: OutputProblem; readonly fix: string } | undefined =>
  Predicate.hasProperty(response, "finish_reason") && response.finish_reason === "length"
    ? {
      problem: { ...problem, message: `${problem.message} (the reply was cut at the token limit: finish_reason length, or a Responses reply incomplete at max_output_tokens)` },
      fix: `raise config.max_tokens${maxTokens !== undefined ? ` (${maxTokens})` : " (not set: the server's default limit applied)"}, or ask for a shorter reply in config.instructions`
    }
    : undefined

const fixFor = (attempts: number) =>
  attempts <= 1
    ? "add retry: {max_attempts: 3} to the node (a retry shows the model what was wrong), sharpen config.instructions, or use a model that follows JSON instructions"
    : "sharpen config.instructions, raise retry.max_attempts, or use a model that follows JSON instructions"
