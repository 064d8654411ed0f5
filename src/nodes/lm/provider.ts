/**
 * Where a language-model node's completions come from. A `LanguageModel` (from
 * `@effect/ai`) that the app provides where it drives the run is used for every node;
 * otherwise each node builds one from its config: an OpenAI-compatible server at
 * `api_base` (`api: chat`, `/chat/completions`, the default for a custom `api_base`) or
 * OpenAI's Responses API (`api: responses`, the default without one), with the key read
 * from the environment variable `api_key_env` names. `stream: true` streams the reply.
 *
 * Only a live call gets here: a replay answers from the cassette, without a model, a key
 * or `@effect/ai` installed.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as LanguageModelModule from "@effect/ai/LanguageModel"
import type * as OpenAiClientModule from "@effect/ai-openai/OpenAiClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { LanguageModelError } from "../../errors.js"
import * as ChatCompletions from "./ChatCompletions.js"
import * as ChatTools from "./ChatTools.js"
import type { ToolCompletion, ToolRequest } from "./toolMessages.js"
import type { AiModules } from "./ChatCompletions.js"
import * as Responses from "./Responses.js"
import type { Message } from "./prompt.js"
import { firstIssue } from "../../ir/parseIssue.js"
import { DefaultModel, type DefaultModelSettings } from "./DefaultModel.js"
import { STREAM_ERROR } from "./wire.js"

/** The wire API of a node's own model: `/chat/completions` or `/responses`. */
export type Api = "chat" | "responses"

/** How a node reaches its model, from its config. */
export interface ProviderConfig {
  readonly model: string | undefined
  readonly apiBase: string | undefined
  readonly apiKeyEnv: string | undefined
  readonly api: Api | undefined
  readonly stream: boolean
  readonly temperature: number | undefined
  readonly maxTokens: number | undefined
  /** A key given directly (the run-wide default model's), instead of one read from `apiKeyEnv`. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /**
   * The run-wide default model's key was given with `--lm-key` when the run started, and
   * not again where it is driven now (the key is never stored): a live call fails.
   */
  readonly keyNotGiven?: boolean | undefined
  /** Where `apiBase` and `model` were given, when not in the node's config (see `DefaultModelSettings.origin`). */
  readonly origin?: { readonly apiBase: string; readonly model: string } | undefined
}

/** Where `config`'s URL was given, for a fix: the node's `config.api_base` unless the default model's. */
const baseFrom = (config: ProviderConfig): string => config.origin?.apiBase ?? "config.api_base"

/** Where `config`'s model was given, for a fix. */
const modelFrom = (config: ProviderConfig): string => config.origin?.model ?? "config.model"

/**
 * The fix for a 401/403: which key was sent, or that none was (a node with its own
 * `api_base` sends one only when it names `api_key_env`).
 */
const keyFix = (config: ProviderConfig): string => {
  if (config.apiKey !== undefined) return "check the API key the run's default model was given (--lm-key-env <VAR>, or --lm-key)"
  const keyEnv = keyEnvOf(config)
  // The variable came from the default model's --lm-key-env unless the node names its own endpoint or key.
  const fromDefault = config.origin !== undefined && config.origin.apiBase !== "config.api_base"
  if (keyEnv === undefined) {
    return fromDefault
      ? "no API key was sent: pass --lm-key-env <VAR> naming the environment variable that holds the server's key"
      : "no API key was sent (config.api_base is set and config.api_key_env is not): set config.api_key_env to the environment variable that holds the server's key"
  }
  return `check the API key in the environment variable ${keyEnv} (${config.apiKeyEnv === undefined ? "the default variable for OpenAI's API; set config.api_key_env to use another" : fromDefault ? "--lm-key-env" : "config.api_key_env"})`
}

/** The failure of a live call through a default model whose `--lm-key` was not given again. */
const keyNotGiven = (site: CallSite, config: ProviderConfig) =>
  new LanguageModelError({
    ...ids(site),
    reason: "missing-api-key",
    ...(config.model !== undefined ? { model: config.model } : {}),
    message: `the run's default model (${config.model ?? "?"} at ${config.apiBase ?? OPENAI_API}) was given its key with --lm-key when the run started; the key is not stored, and it was not given again`,
    fix: "drive the run on with the key: --lm-key <key>, or better --lm-key-env <VAR> naming a variable that holds it"
  })

/** A completion, as the cassette records it. */
export interface Completion {
  readonly text: string
  readonly finish_reason?: string
  readonly usage?: { readonly input_tokens?: number; readonly output_tokens?: number }
}

/** Where a call is made (for its errors). */
export interface CallSite {
  readonly nodeId: string
  readonly step: number
  readonly attempt: number
  /** The node's `retry.max_attempts` when known, so a fix does not ask for a retry policy the node has. */
  readonly maxAttempts?: number | undefined
}

/** Whether the node calling at `site` retries its calls already (more than one attempt). */
const retries = (site: CallSite): boolean => (site.maxAttempts ?? 1) > 1

/** The OpenAI endpoint a node without `api_base` talks to. */
export const OPENAI_API = "https://api.openai.com/v1"
/** The key variable of a node without `api_base` and `api_key_env`. */
export const OPENAI_KEY_ENV = "OPENAI_API_KEY"

/** The API a node's config resolves to. */
export const apiOf = (config: Pick<ProviderConfig, "api" | "apiBase">): Api => config.api ?? (config.apiBase === undefined ? "responses" : "chat")

/** The key variable a node's config resolves to (none for a custom `api_base` without `api_key_env`). */
export const keyEnvOf = (config: Pick<ProviderConfig, "apiKeyEnv" | "apiBase">): string | undefined =>
  config.apiKeyEnv ?? (config.apiBase === undefined ? OPENAI_KEY_ENV : undefined)

/** `openai/gpt-4o-mini` (a LiteLLM model string, as the original takes) → `gpt-4o-mini`. */
export const wireModel = (model: string): string => model.replace(/^openai\//, "")

interface OpenAiModules extends AiModules {
  readonly OpenAiClient: typeof OpenAiClientModule
  /**
   * The HTTP client model calls go through: undici without its own 300-second limits on
   * a reply's headers and between its chunks (Node's `fetch` has them), so a slow model
   * is bound by the node's `timeout_ms` (default 10 minutes) and nothing shorter.
   */
  readonly httpClient: HttpClient.HttpClient
}

let languageModelModule: Promise<typeof LanguageModelModule> | undefined
let openAiModules: Promise<OpenAiModules> | undefined

const notInstalled = (site: CallSite, model: string | undefined, what: string) => (cause: unknown) =>
  new LanguageModelError({
    ...ids(site),
    reason: "not-installed",
    ...(model !== undefined ? { model } : {}),
    message: `${what} could not be loaded: ${cause instanceof Error ? cause.message : String(cause)}`,
    fix: "install the optional peers: npm install @effect/ai @effect/ai-openai (or set config.stub: true for an offline stub)"
  })

const ids = (site: CallSite) => ({ nodeId: site.nodeId, step: site.step, attempts: site.attempt })

/** The app's `LanguageModel`, if it provided one (needs `@effect/ai`; without it, none can have been). */
const appModel = (): Effect.Effect<Option.Option<LanguageModelModule.Service>> =>
  Effect.flatMap(
    Effect.option(Effect.tryPromise(() => (languageModelModule ??= import("@effect/ai/LanguageModel")))),
    Option.match({
      onNone: () => Effect.succeedNone,
      onSome: (module) => Effect.serviceOption(module.LanguageModel)
    })
  )

const loadOpenAi = (site: CallSite, model: string): Effect.Effect<OpenAiModules, LanguageModelError> =>
  Effect.tryPromise({
    try: () =>
      (openAiModules ??= Promise.all([
        import("@effect/ai/AiError"),
        import("@effect/ai/LanguageModel"),
        import("@effect/ai-openai/OpenAiClient"),
        import("@effect/platform-node/NodeHttpClient"),
        import("@effect/platform-node/Undici")
      ]).then(([AiError, LanguageModel, OpenAiClient, NodeHttpClient, Undici]) => ({
        AiError,
        LanguageModel,
        OpenAiClient,
        httpClient: NodeHttpClient.makeUndici(new Undici.Agent({ headersTimeout: 0, bodyTimeout: 0 }))
      }))),
    catch: notInstalled(site, model, "@effect/ai-openai")
  })

/**
 * The models built from node configs, by config (one per compiled node) and API key: the
 * client is built on a node's first live call and reused by the next ones.
 */
const built = new WeakMap<ProviderConfig, Map<string, LanguageModelModule.Service>>()

/** The failure of a node with no model to call. */
const noModel = (site: CallSite) =>
  new LanguageModelError({
    ...ids(site),
    reason: "no-model",
    message: "the node names no model, and neither a default model (--lm-url/--lm-model) nor an app's LanguageModel was given",
    fix: "set config.model (and config.api_base for a local server), pass --lm-url <base url> --lm-model <name> to the command, provide an @effect/ai LanguageModel layer where the run is driven, or set config.stub: true"
  })

/** The API key a node's own model is called with (read from the environment on every call; undefined: none is sent). */
const keyOf = (config: ProviderConfig, site: CallSite, model: string): Effect.Effect<string | undefined, LanguageModelError> => {
  const keyEnv = config.apiKey !== undefined ? undefined : keyEnvOf(config)
  // A key read from a mounted secret file often ends in a newline: the key is what is inside.
  const key = config.apiKey !== undefined ? Redacted.value(config.apiKey).trim() : keyEnv === undefined ? undefined : process.env[keyEnv]?.trim()
  if (keyEnv !== undefined && (key === undefined || key === "")) {
    return Effect.fail(
      new LanguageModelError({
        ...ids(site),
        reason: "missing-api-key",
        model,
        message: `the environment variable ${keyEnv} (${config.apiKeyEnv !== undefined ? "config.api_key_env" : "the default for OpenAI's API"}) is not set`,
        fix: `export ${keyEnv}=<your key>, or set config.api_key_env to the variable that holds it`
      })
    )
  }
  return Effect.succeed(key)
}

/**
 * Something built once per node config and key from the node's own OpenAI client (a
 * `LanguageModel`, a native tool-calling request maker), cached in `cache`.
 */
const fromClient = <A>(
  cache: WeakMap<ProviderConfig, Map<string, A>>,
  config: ProviderConfig,
  site: CallSite,
  build: (modules: OpenAiModules, client: OpenAiClientModule.Service, options: { readonly model: string; readonly temperature: number | undefined; readonly maxTokens: number | undefined; readonly redact: (text: string) => string }) => Effect.Effect<A>
): Effect.Effect<A, LanguageModelError> =>
  Effect.gen(function*() {
    const model = config.model
    if (model === undefined) return yield* noModel(site)
    const key = yield* keyOf(config, site, model)
    const byKey = cache.get(config) ?? new Map<string, A>()
    cache.set(config, byKey)
    const known = byKey.get(key ?? "")
    if (known !== undefined) return known
    const modules = yield* loadOpenAi(site, model)
    // The client's scope only restores a logging setting (redacted header names) once built.
    const built = yield* Effect.gen(function*() {
      const client = yield* modules.OpenAiClient.make({
        apiUrl: config.apiBase ?? OPENAI_API,
        ...(key !== undefined ? { apiKey: Redacted.make(key) } : {})
      })
      const secrets = secretsOf(config)
      return yield* build(modules, client, { model: wireModel(model), temperature: config.temperature, maxTokens: config.maxTokens, redact: (text: string) => redact(text, secrets) })
    }).pipe(Effect.scoped, Effect.provideService(HttpClient.HttpClient, modules.httpClient))
    byKey.set(key ?? "", built)
    return built
  })

/** The model the node's config names (the API key is read from the environment on every call). */
const configModel = (config: ProviderConfig, site: CallSite): Effect.Effect<LanguageModelModule.Service, LanguageModelError> =>
  fromClient(built, config, site, (modules, client, options) =>
    apiOf(config) === "chat" ? ChatCompletions.make(modules, client, options) : Responses.make(modules, client, options))

/** The native tool-calling request makers built from node configs, by config and API key. */
const builtToolChats = new WeakMap<ProviderConfig, Map<string, ChatTools.ToolChat>>()

/** What a streamed completion's text is handed to as it arrives (the node's `node.delta` events). */
export type OnDelta = (text: string) => Effect.Effect<void>

/** One completion from `lm`, streamed or not (a stream's text handed to `onDelta` as it comes). */
const generate = (lm: LanguageModelModule.Service, messages: ReadonlyArray<Message>, stream: boolean, onDelta: OnDelta | undefined) => {
  const prompt = messages.map((m) => ({ role: m.role, content: m.content }))
  if (!stream) {
    return Effect.map(lm.generateText({ prompt }), (r): Completion => completion(r.text, r.finishReason, r.usage))
  }
  const parts = lm.streamText({ prompt })
  return Stream.runFold(
    onDelta === undefined ? parts : Stream.tap(parts, (part) => (part.type === "text-delta" && part.delta !== "" ? onDelta(part.delta) : Effect.void)),
    { text: "", reason: "unknown", usage: undefined as { readonly inputTokens?: number | undefined; readonly outputTokens?: number | undefined } | undefined },
    (acc, part) =>
      part.type === "text-delta" ? { ...acc, text: acc.text + part.delta } : part.type === "finish" ? { ...acc, reason: part.reason, usage: part.usage } : acc
  ).pipe(Effect.map((acc) => completion(acc.text, acc.reason, acc.usage)))
}

const completion = (
  text: string,
  reason: string,
  usage: { readonly inputTokens?: number | undefined; readonly outputTokens?: number | undefined } | undefined
): Completion => {
  const tokens = {
    ...(usage?.inputTokens !== undefined ? { input_tokens: usage.inputTokens } : {}),
    ...(usage?.outputTokens !== undefined ? { output_tokens: usage.outputTokens } : {})
  }
  return { text, finish_reason: reason, ...(Object.keys(tokens).length > 0 ? { usage: tokens } : {}) }
}

/** The longest piece of a provider's error text kept in a message. */
const MAX_DETAIL = 300

/** Text for an error: secrets removed first, then cut to {@link MAX_DETAIL} (a cut never leaves part of a key). */
type Clean = (text: string) => string

const cleaner = (secrets: ReadonlyArray<string>): Clean => (text) => {
  const clean = redact(text, secrets)
  return clean.length > MAX_DETAIL ? `${clean.slice(0, MAX_DETAIL)}…` : clean
}

const serverMessage = (body: string | undefined, clean: Clean): string | undefined => {
  if (body === undefined || body === "") return undefined
  try {
    const parsed: unknown = JSON.parse(body)
    const error = Predicate.isRecord(parsed) ? parsed["error"] : undefined
    const message = Predicate.isRecord(error) ? error["message"] : Predicate.isRecord(parsed) ? parsed["message"] : undefined
    if (typeof message === "string") return clean(message)
  } catch {
    // Not JSON: the text itself.
  }
  return clean(body)
}

const stringField = (error: unknown, key: string): string | undefined => {
  const value = Predicate.hasProperty(error, key) ? error[key] : undefined
  return typeof value === "string" && value !== "" ? value : undefined
}

/**
 * What is wrong with a reply that is not a completion: the first issue of the schema
 * error behind it (`choices: is missing`), else its description, else its reason. Never
 * an `@effect/ai` error's `message`: it prints the request (headers included) and the
 * failed body read whole.
 */
const malformed = (error: unknown, clean: Clean): string => {
  const cause = Predicate.hasProperty(error, "cause") ? error.cause : undefined
  if (ParseResult.isParseError(cause)) {
    const issue = firstIssue(cause)
    if (issue !== undefined) return clean(`${issue.path.length > 0 ? `${issue.path.map(String).join(".")}: ` : ""}${issue.message}`)
  }
  const description = stringField(error, "description")
  if (description !== undefined) return clean(description)
  const reason = stringField(error, "reason")
  return reason !== undefined ? `the reply could not be read (${reason})` : "the reply could not be read"
}

/** Secrets (4 characters or more) and any `Bearer <token>`, replaced in `text`. */
export const redact = (text: string, secrets: ReadonlyArray<string>): string => {
  let keyless = text
  for (const secret of secrets) if (secret.length >= 4) keyless = keyless.split(secret).join("<redacted>")
  return keyless.replace(/\bBearer\s+[^\s"'`,;\\)\]}]+/gi, "Bearer <redacted>")
}

/** The node's API key as its variable holds it, and trimmed (as it is sent): what errors must not show. */
const secretsOf = (config: ProviderConfig): ReadonlyArray<string> => {
  const keyEnv = keyEnvOf(config)
  const raw = config.apiKey !== undefined ? Redacted.value(config.apiKey) : keyEnv === undefined ? undefined : process.env[keyEnv]
  if (raw === undefined) return []
  const trimmed = raw.trim()
  // Longest first: the raw value (with its newline) before the key inside it.
  return trimmed === raw ? [raw] : [raw, trimmed]
}

/** `error` with the node's API key and bearer tokens redacted from its message and fix. */
const redacted = (error: LanguageModelError, secrets: ReadonlyArray<string>): LanguageModelError => {
  const message = redact(error.message, secrets)
  const fix = redact(error.fix, secrets)
  if (message === error.message && fix === error.fix) return error
  return new LanguageModelError({
    nodeId: error.nodeId,
    step: error.step,
    reason: error.reason,
    ...(error.model !== undefined ? { model: error.model } : {}),
    ...(error.status !== undefined ? { status: error.status } : {}),
    attempts: error.attempts,
    message,
    fix
  })
}

/**
 * A provider's failure as a `LanguageModelError`, with the node's API key and any bearer
 * token redacted from it (an app's model may put its request in its errors).
 */
export const toLanguageModelError = (error: unknown, site: CallSite, config: ProviderConfig, where: string): LanguageModelError => {
  const secrets = secretsOf(config)
  return redacted(error instanceof LanguageModelError ? error : languageModelError(error, site, config, where, cleaner(secrets)), secrets)
}

const languageModelError = (error: unknown, site: CallSite, config: ProviderConfig, where: string, clean: Clean): LanguageModelError => {
  const base = { ...ids(site), ...(config.model !== undefined ? { model: config.model } : {}) }
  if (Predicate.isTagged(error, "HttpResponseError")) {
    const e = error as unknown as { readonly reason: string; readonly response: { readonly status: number }; readonly body?: string }
    if (e.reason !== "StatusCode") {
      return new LanguageModelError({ ...base, reason: "bad-response", status: e.response.status, message: `${where} answered with something that is not a completion: ${malformed(error, clean)}`, fix: `check that ${baseFrom(config)} points at an OpenAI-compatible server (…/v1) and that config.api matches what it speaks (chat or responses)` })
    }
    const status = e.response.status
    const said = serverMessage(e.body, clean)
    return new LanguageModelError({
      ...base,
      reason: "http-status",
      status,
      message: `${where} answered ${status}${said !== undefined ? `: ${said}` : ""}`,
      fix: status === 401 || status === 403
        ? keyFix(config)
        : status === 404
        ? `check ${baseFrom(config)} (it usually ends in /v1), config.api (chat or responses) and ${modelFrom(config)}`
        : status >= 300 && status < 400
        ? `the server redirects the request elsewhere (requests to a model are not followed): set ${baseFrom(config)} to the URL it redirects to`
        : status === 429 || status >= 500
        ? retries(site)
          ? `the server is busy or failing: raise the node's retry.max_attempts (${site.maxAttempts}) or retry.backoff_ms, or try later`
          : "the server is busy or failing: add retry: {max_attempts: 3, backoff_ms: 1000} to the node, or try later"
        : "check the node's config (model, temperature, max_tokens) against what the server accepts"
    })
  }
  if (Predicate.isTagged(error, "HttpRequestError")) {
    const what = stringField(error, "description") ?? stringField(error, "reason") ?? "the request failed"
    // The server is up and answered, then said why it stopped: "check that it runs" would mislead.
    const fix = what.startsWith(STREAM_ERROR)
      ? `the server reported an error mid-reply (overloaded, rate limited, its model failed): ${retries(site) ? `raise the node's retry.max_attempts (${site.maxAttempts}) or retry.backoff_ms` : "add retry: {max_attempts: 3, backoff_ms: 1000} to the node"}, or try later`
      : `check that the server is running and ${baseFrom(config)} is right${retries(site) ? "" : "; add a retry policy for flaky networks"}`
    return new LanguageModelError({ ...base, reason: "request-failed", message: `no answer from ${where}: ${clean(what)}`, fix })
  }
  if (Predicate.isTagged(error, "MalformedOutput")) {
    return new LanguageModelError({ ...base, reason: "bad-response", message: `${where} answered with something that is not a completion: ${malformed(error, clean)}`, fix: `check that ${baseFrom(config)} points at an OpenAI-compatible server and that config.api matches what it speaks (chat or responses)` })
  }
  const message = Predicate.isTagged(error, "UnknownError") && stringField(error, "description") !== undefined
    ? stringField(error, "description")!
    : error instanceof Error || Predicate.hasProperty(error, "message") ? String((error as { readonly message: unknown }).message) : String(error)
  return new LanguageModelError({ ...base, reason: "provider-error", message: `${where} failed: ${clean(message)}`, fix: "see the provider's error above" })
}

/**
 * One live completion of `messages`: the app's `LanguageModel` if it provided one, else
 * the model the node's config names.
 */
export const complete = (config: ProviderConfig, messages: ReadonlyArray<Message>, site: CallSite, onDelta?: OnDelta): Effect.Effect<Completion, LanguageModelError> =>
  Effect.flatMap(appModel(), (provided) =>
    Option.match(provided, {
      onSome: (lm) => asLanguageModelError(generate(lm, messages, config.stream, onDelta), site, config, "the app's LanguageModel"),
      onNone: () =>
        Effect.flatMap(Effect.serviceOption(DefaultModel), (fallback) => {
          const used = Option.isSome(fallback) ? withDefault(config, fallback.value) : config
          if (used.keyNotGiven === true) return Effect.fail(keyNotGiven(site, used))
          return asLanguageModelError(
            Effect.flatMap(configModel(used, site), (lm) => generate(lm, messages, used.stream, onDelta) as Effect.Effect<Completion, unknown>),
            site,
            used,
            used.apiBase ?? OPENAI_API
          )
        })
    }))

/**
 * The run-wide default model a node without a model of its own would use: none when the
 * app provides a `LanguageModel`, which answers every node (see {@link complete}).
 */
export const defaultInUse = (): Effect.Effect<Option.Option<DefaultModelSettings>> =>
  Effect.flatMap(appModel(), (provided) => (Option.isSome(provided) ? Effect.succeedNone : Effect.serviceOption(DefaultModel)))

/** Whether a node that names no model has one: the app's `LanguageModel`, or the run-wide default model, is in the context. */
export const modelProvided = (): Effect.Effect<boolean> =>
  Effect.flatMap(appModel(), (provided) => (Option.isSome(provided) ? Effect.succeed(true) : Effect.map(Effect.serviceOption(DefaultModel), Option.isSome)))

/** The configs completed with a default model, by default and node config (built once each, so their clients are reused). */
const defaulted = new WeakMap<DefaultModelSettings, WeakMap<ProviderConfig, ProviderConfig>>()

/**
 * A node's config completed with the run-wide default model: a node that names no model
 * gets the default's model, and its URL and key unless it names its own `api_base` or
 * `api_key_env` (the default's key is only ever sent to the default's URL). A node that
 * names its own key (`api_key_env`) keeps the endpoint that key is for: its `api_base`, or
 * the implicit one (OpenAI's) when it names none, never the default's URL, which would
 * receive that key. A node that names its model is left as it is.
 */
export const withDefault = (config: ProviderConfig, fallback: DefaultModelSettings): ProviderConfig => {
  if (config.model !== undefined) return config
  const byConfig = defaulted.get(fallback) ?? new WeakMap<ProviderConfig, ProviderConfig>()
  defaulted.set(fallback, byConfig)
  const known = byConfig.get(config)
  if (known !== undefined) return known
  const own = config.apiBase !== undefined || config.apiKeyEnv !== undefined
  const used: ProviderConfig = {
    ...config,
    model: fallback.model,
    apiBase: config.apiBase ?? (config.apiKeyEnv !== undefined ? undefined : fallback.apiBase),
    api: config.api ?? "chat",
    ...(config.apiBase === undefined && config.apiKeyEnv === undefined && fallback.origin !== undefined
      ? { origin: fallback.origin }
      : fallback.origin !== undefined
      ? { origin: { apiBase: "config.api_base", model: fallback.origin.model } }
      : {}),
    ...(own
      ? {}
      : fallback.apiKey !== undefined
      ? { apiKey: fallback.apiKey }
      : fallback.apiKeyEnv !== undefined
      ? { apiKeyEnv: fallback.apiKeyEnv }
      : fallback.apiKeyGiven === true
      ? { keyNotGiven: true }
      : {})
  }
  byConfig.set(config, used)
  return used
}

/** A model's failures, and its defects (a provider that throws), as redacted `LanguageModelError`s. */
const asLanguageModelError = <A>(effect: Effect.Effect<A, unknown>, site: CallSite, config: ProviderConfig, where: string): Effect.Effect<A, LanguageModelError> =>
  effect.pipe(
    Effect.mapError((e) => toLanguageModelError(e, site, config, where)),
    Effect.catchAllDefect((defect) => Effect.fail(toLanguageModelError(defect, site, config, where)))
  )

/**
 * One live native tool-calling completion (`react`'s `tool_protocol: native`) over the
 * node's own `/chat/completions` endpoint, or the run-wide default model's (streamed when
 * the config says `stream`, its text handed to `onDelta`). An app's
 * `LanguageModel` cannot carry the tools and the tool messages (its prompt is text), so
 * with one provided the call fails (`provider-error`, naming the fix) rather than send
 * the prompt without its tools; so does a node whose `api` is `responses`.
 */
export const completeWithTools = (config: ProviderConfig, request: ToolRequest, site: CallSite, onDelta?: OnDelta): Effect.Effect<ToolCompletion, LanguageModelError> =>
  Effect.flatMap(appModel(), (provided) => {
    if (Option.isSome(provided)) {
      return Effect.fail(
        new LanguageModelError({
          ...ids(site),
          reason: "provider-error",
          ...(config.model !== undefined ? { model: config.model } : {}),
          message: "tool_protocol: native sends the tools and the tool messages in the chat request, and the app's LanguageModel takes a text prompt only: it cannot carry them",
          fix: "set config.tool_protocol: json on the react node (the JSON text protocol works with any LanguageModel), or drive the run without the app's LanguageModel layer so the node calls its own chat server (config.model/config.api_base, or --lm-url/--lm-model)"
        })
      )
    }
    return Effect.flatMap(Effect.serviceOption(DefaultModel), (fallback) => {
      const used = Option.isSome(fallback) ? withDefault(config, fallback.value) : config
      if (used.keyNotGiven === true) return Effect.fail(keyNotGiven(site, used))
      if (used.api === "responses") {
        return Effect.fail(
          new LanguageModelError({
            ...ids(site),
            reason: "provider-error",
            ...(used.model !== undefined ? { model: used.model } : {}),
            message: "tool_protocol: native speaks /chat/completions, and the node's api is responses",
            fix: "remove config.api (or set api: chat), or set config.tool_protocol: json"
          })
        )
      }
      return asLanguageModelError(
        Effect.flatMap(fromClient(builtToolChats, used, site, (modules, client, options) => Effect.succeed(ChatTools.make(modules, client, { ...options, stream: used.stream }))), (chat) => chat(request, onDelta) as Effect.Effect<ToolCompletion, unknown>),
        site,
        used,
        used.apiBase ?? OPENAI_API
      )
    })
  })
