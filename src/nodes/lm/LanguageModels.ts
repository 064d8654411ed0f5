/**
 * `@effect/ai` `LanguageModel` layers for an app to provide where it drives runs, so that
 * every language-model node uses one model (instead of each node's `model`/`api_base`):
 * {@link chatCompletions} for an OpenAI-compatible `/chat/completions` server (vLLM,
 * llama.cpp, Ollama, LM Studio, OpenAI), {@link responses} for OpenAI's Responses API.
 * Any other `LanguageModel` layer works the same way (`@effect/ai-anthropic`'s, a fake in
 * a test). They need an `HttpClient` (e.g. `FetchHttpClient.layer`) and the optional
 * peers `@effect/ai` and `@effect/ai-openai`, loaded when the layer is built (without
 * them, building it fails with a `StargraphRuntimeError` saying what to install).
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { LanguageModels } from "stargraph"
 * const model = LanguageModels.chatCompletions({ apiUrl: "http://127.0.0.1:11434/v1", model: "llama3.1" })
 * const summary = yield* run.start().pipe(Effect.provide(model), Effect.provide(FetchHttpClient.layer))
 * ```
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as LanguageModelModule from "@effect/ai/LanguageModel"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import { StargraphRuntimeError } from "../../errors.js"
import * as ChatCompletions from "./ChatCompletions.js"
import * as Responses from "./Responses.js"

/** Options of {@link chatCompletions} and {@link responses}. */
export interface ModelOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8000/v1` (default: OpenAI's). */
  readonly apiUrl?: string | undefined
  readonly apiKey?: Redacted.Redacted | undefined
  /** The model name sent with each request. */
  readonly model: string
  readonly temperature?: number | undefined
  readonly maxTokens?: number | undefined
}

const layerOf = (
  build: typeof ChatCompletions.make,
  options: ModelOptions
): Layer.Layer<LanguageModelModule.LanguageModel, StargraphRuntimeError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    Effect.tryPromise({
      try: () => Promise.all([import("@effect/ai/AiError"), import("@effect/ai/LanguageModel"), import("@effect/ai-openai/OpenAiClient")]),
      catch: (cause) =>
        new StargraphRuntimeError({
          message: `@effect/ai could not be loaded (${cause instanceof Error ? cause.message : String(cause)}); install the optional peers: npm install @effect/ai @effect/ai-openai`
        })
    }).pipe(
      Effect.map(([AiError, LanguageModel, OpenAiClient]) =>
        Layer.scoped(
          LanguageModel.LanguageModel,
          Effect.flatMap(
            OpenAiClient.make({ apiUrl: options.apiUrl ?? "https://api.openai.com/v1", apiKey: options.apiKey }),
            (client) => build({ AiError, LanguageModel }, client, { model: options.model, temperature: options.temperature, maxTokens: options.maxTokens })
          )
        )
      )
    )
  )

/** A `LanguageModel` over an OpenAI-compatible `POST /chat/completions` endpoint. */
export const chatCompletions = (options: ModelOptions): Layer.Layer<LanguageModelModule.LanguageModel, StargraphRuntimeError, HttpClient.HttpClient> =>
  layerOf(ChatCompletions.make, options)

/** A `LanguageModel` over OpenAI's Responses API (`POST /responses`). */
export const responses = (options: ModelOptions): Layer.Layer<LanguageModelModule.LanguageModel, StargraphRuntimeError, HttpClient.HttpClient> =>
  layerOf(Responses.make, options)
