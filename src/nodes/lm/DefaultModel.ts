/**
 * The run-wide default model (the CLI's `--lm-url`/`--lm-model`/`--lm-key-env`/`--lm-timeout`,
 * as the original's `stargraph run --lm-url … --lm-model …`): used by a language-model node
 * that names no `model` of its own, for its live calls only. It is not part of the graph
 * (the graph hash is the same with or without it) nor of the recorded request (its `model`
 * stays null), so a replay answers from the cassette without it. A node's own
 * `model`/`api_base`/`api_key_env`/`timeout_ms` win; an app's `LanguageModel` layer wins over both.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"

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
}

/** The run-wide default model, when the driver provides one. */
export class DefaultModel extends Context.Tag("stargraph/DefaultModel")<DefaultModel, DefaultModelSettings>() {}

/** A layer providing `settings` as the default model. */
export const layer = (settings: DefaultModelSettings): Layer.Layer<DefaultModel> =>
  Layer.succeed(DefaultModel, { ...settings, apiBase: settings.apiBase.replace(/\/+$/, "") })
