/**
 * The run-wide default model (the CLI's `--lm-url`/`--lm-model`/`--lm-key-env`/`--lm-timeout`,
 * as the original's `stargraph run --lm-url … --lm-model …`): used by a language-model node
 * that names no `model` of its own, for its live calls only. It is not part of the graph
 * (the graph hash is the same with or without it) nor of the recorded request (its `model`
 * stays null), so a replay answers from the cassette without it. A node's own
 * `model`/`api_base`/`api_key_env`/`timeout_ms` win; an app's `LanguageModel` layer wins over both.
 * A run started with one keeps its settings (never the key) on its record
 * (`RunRecord.default_model`): driven on without one in the context (a resume without the
 * flags), it uses those; each live call it answers records its model in the call's `meta`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type { DefaultModelRecord } from "../../checkpoint/models.js"

/** The default model's settings. */
export interface DefaultModelSettings {
  /** An OpenAI-compatible server's base URL (no trailing `/`), e.g. `http://127.0.0.1:11434/v1`. */
  readonly apiBase: string
  /** The model name sent with each request. */
  readonly model: string
  /** The API key, when the server wants one (sent only to {@link apiBase}). */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** A live call's time limit (ms) for a node that sets no `timeout_ms`. */
  readonly timeoutMs?: number | undefined
  /**
   * The environment variable the key is read from (`--lm-key-env`): kept on the run's
   * record by name. Without {@link apiKey}, the key is read from it at each live call.
   */
  readonly apiKeyEnv?: string | undefined
  /**
   * The key was given on the command line (`--lm-key`): the run's record says so, never
   * the key. Without {@link apiKey} (a run resumed without `--lm-key`), a live call through
   * the default fails with a `LanguageModelError` naming the flag.
   */
  readonly apiKeyGiven?: boolean | undefined
  /**
   * Where the URL and the model were given, as an error's fix names them (`--lm-url` and
   * `--lm-model`, the graph's `lm` block): a failing call says to check those, not the
   * node's `config.api_base`.
   */
  readonly origin?: { readonly apiBase: string; readonly model: string } | undefined
}

/** The run-wide default model, when the driver provides one. */
export class DefaultModel extends Context.Tag("stargraph/DefaultModel")<DefaultModel, DefaultModelSettings>() {}

/** A layer providing `settings` as the default model. */
export const layer = (settings: DefaultModelSettings): Layer.Layer<DefaultModel> =>
  Layer.succeed(DefaultModel, { ...settings, apiBase: settings.apiBase.replace(/\/+$/, "") })

/** What a run's record keeps of `settings`: everything but the key (see `DefaultModelRecord`). */
export const toRecord = (settings: DefaultModelSettings): DefaultModelRecord => ({
  api_base: settings.apiBase.replace(/\/+$/, ""),
  model: settings.model,
  api_key_env: settings.apiKeyEnv ?? null,
  api_key_given: settings.apiKeyEnv === undefined && (settings.apiKeyGiven === true || settings.apiKey !== undefined),
  timeout_ms: settings.timeoutMs ?? null
})

/**
 * The settings a run's record keeps, to drive it on without the flags: the key is read
 * from `api_key_env` at each call; a key given with `--lm-key` is missing (see
 * {@link DefaultModelSettings.apiKeyGiven}).
 */
export const fromRecord = (record: DefaultModelRecord): DefaultModelSettings => ({
  apiBase: record.api_base,
  model: record.model,
  ...(record.timeout_ms !== null ? { timeoutMs: record.timeout_ms } : {}),
  ...(record.api_key_env !== null ? { apiKeyEnv: record.api_key_env } : {}),
  ...(record.api_key_given ? { apiKeyGiven: true } : {})
})

/** The default model in `context`, as a run's record keeps it (null: none): read with other services at once. */
export const recordIn = <R>(context: Context.Context<R>): DefaultModelRecord | null => {
  const found = Context.getOption(context, DefaultModel)
  return Option.isSome(found) ? toRecord(found.value) : null
}

/** The default model in the context, as a run's record keeps it (null: none), for a new run. */
export const currentRecord: Effect.Effect<DefaultModelRecord | null> = Effect.contextWith(recordIn)
