/**
 * `--lm-url`, `--lm-model`, `--lm-key-env` (or the original's `--lm-key`) and `--lm-timeout`,
 * for the commands that drive runs (`run`, `resume`, `respond`, `replay`, `serve`): one
 * OpenAI-compatible model for the language-model nodes that name no `model` of their own,
 * as the original's `stargraph run --lm-url … --lm-model …`. The flags become a
 * `DefaultModel` layer provided where the command drives its runs; a run started with one
 * keeps it on its record (never the key), which `resume`/`respond` use without the flags
 * ({@link resumeDefaultLayer}). They change neither the graph hash nor the recorded
 * requests, so a replay still answers from the cassette.
 */
import { Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { DefaultModelRecord } from "../checkpoint/models.js"
import { InputError } from "../errors.js"
import type { GraphModel } from "../ir/authoring.js"
import * as DefaultModel from "../nodes/lm/DefaultModel.js"
import { durationMs } from "./lease.js"

/** What `run`, `resume` and `respond` tell a graph whose language-model node has no model to use. */
export const NO_MODEL_FIX =
  "pass --lm-url <base url> --lm-model <name> (and --lm-key-env <VAR> when the server wants a key; an authoring-format graph, one without ir_version, may name it in an lm: {model: <name>, port: <port>} block instead), " +
  "set config.model on the node (and config.api_base for a local server), or set config.stub: true for an offline stub"

/** The flags, to spread into a command's options. */
export const lmOptions = {
  lmUrl: Options.text("lm-url").pipe(
    Options.optional,
    Options.withDescription("base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:11434/v1) for the language-model nodes that name no model; pair with --lm-model; kept with the run (never its key), so resume and respond use it without the flags, and override it with them (default: none, or on resume/respond the run's own: without one, run refuses to start a graph with such a node, and elsewhere it fails at its first live call)")
  ),
  lmModel: Options.text("lm-model").pipe(
    Options.optional,
    Options.withDescription("the model --lm-url serves (e.g. llama3.1); required with --lm-url; a node's own config.model wins (default: none)")
  ),
  lmKeyEnv: Options.text("lm-key-env").pipe(
    Options.optional,
    Options.withDescription("environment variable holding the API key for --lm-url (default: no key, as Ollama and vLLM need none)")
  ),
  lmKey: Options.text("lm-key").pipe(
    Options.optional,
    Options.withDescription("the API key itself, as the original takes it: visible to other processes in the process list, prefer --lm-key-env (default: none)")
  ),
  lmTimeout: Options.text("lm-timeout").pipe(
    Options.optional,
    Options.withDescription("time limit of each live call to --lm-url, for a node without timeout_ms: seconds (60, as the original) or a number with a unit (500ms, 30s, 2m) (default: 10m)")
  )
}

/** The flags' values. */
export interface LmFlags {
  readonly lmUrl: Option.Option<string>
  readonly lmModel: Option.Option<string>
  readonly lmKeyEnv: Option.Option<string>
  readonly lmKey: Option.Option<string>
  readonly lmTimeout: Option.Option<string>
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Where the default model's URL and model were given, as fixes name them (see `DefaultModelSettings.origin`). */
const FLAGS = { apiBase: "the --lm-url URL", model: "--lm-model" } as const
const GRAPH_LM = { apiBase: "the graph's lm block (lm.host, lm.port: the server's /v1)", model: "the graph's lm.model" } as const
const STORED = { apiBase: "the --lm-url the run was started with (kept on its record; pass --lm-url to use another)", model: "--lm-model" } as const

/** The longest `--lm-timeout`: one day. */
const DAY_MS = 86_400_000

const refuse = (field: string, message: string, fix: string) => Effect.fail(new InputError({ field, message, fix }))

/** `--lm-timeout`'s text as milliseconds: whole seconds, or a number with a unit; more than 0, at most a day. */
const parseTimeout = (text: string): Effect.Effect<number, InputError> => {
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : durationMs(text)
  if (ms === undefined) return refuse("--lm-timeout", `'${text}' is not a duration`, "write seconds (60) or a number with a unit: 500ms, 30s, 2m")
  if (ms <= 0 || ms > DAY_MS || !Number.isInteger(ms)) return refuse("--lm-timeout", `'${text}' is not a whole number of milliseconds from 1ms to 24h`, "use e.g. 60 or 2m")
  return Effect.succeed(ms)
}

/**
 * The default model the flags give, as a layer (empty without them), or an `InputError`
 * naming the flag at fault. `--lm-key` is taken with a warning on stderr. `graph` is the
 * server a graph's authoring `lm:` block names: the default model when the flags name
 * none (`--lm-key-env` and `--lm-timeout` apply to it); with `--lm-url`/`--lm-model` too,
 * refused.
 */
export const lmDefaultLayer = (o: LmFlags, graph?: GraphModel | undefined): Effect.Effect<Layer.Layer<never> | Layer.Layer<DefaultModel.DefaultModel>, InputError> =>
  Effect.gen(function*() {
    if (graph !== undefined && (Option.isSome(o.lmUrl) || Option.isSome(o.lmModel))) {
      const flag = Option.isSome(o.lmUrl) ? "--lm-url" : "--lm-model"
      return yield* refuse(flag, `the graph's lm block names its model server (${graph.model} at ${graph.apiBase}), and ${flag} names another`, "leave out --lm-url and --lm-model, or remove lm from the graph")
    }
    const url = graph?.apiBase ?? Option.getOrUndefined(o.lmUrl)
    const model = graph?.model ?? Option.getOrUndefined(o.lmModel)
    if (url === undefined && model === undefined) {
      const stray = Option.isSome(o.lmKeyEnv) ? "--lm-key-env" : Option.isSome(o.lmKey) ? "--lm-key" : Option.isSome(o.lmTimeout) ? "--lm-timeout" : undefined
      if (stray !== undefined) return yield* refuse(stray, `${stray} is for the default model, and none is given`, "add --lm-url <base url> --lm-model <name>, or leave it out")
      return Layer.empty
    }
    if (url === undefined) return yield* refuse("--lm-url", "--lm-model needs the server it is on", "add --lm-url <base url>, e.g. http://127.0.0.1:11434/v1 (Ollama), https://api.openai.com/v1 (OpenAI)")
    let parsed: URL | undefined
    try {
      parsed = new URL(url)
    } catch {
      parsed = undefined
    }
    if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
      return yield* refuse("--lm-url", `'${url}' is not an http(s) URL`, "write the server's base URL, e.g. http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:11434/v1 (Ollama)")
    }
    // Credentials or a query (an Azure-style ?api-key=) in the URL would end up in error
    // messages and records: refused, without echoing them.
    if (parsed.username !== "" || parsed.password !== "" || parsed.search !== "" || parsed.hash !== "") {
      return yield* refuse("--lm-url", `the URL of ${parsed.protocol}//${parsed.host} carries ${parsed.username !== "" || parsed.password !== "" ? "credentials (user:password@)" : "a query string or fragment"}, which would be shown in errors and records`, "write the server's base URL alone, and pass the key with --lm-key-env <VAR>")
    }
    if (model === undefined || model.trim() === "") {
      return yield* refuse("--lm-model", model === undefined ? "--lm-url needs the model to ask for" : "the model name is empty", "add --lm-model <name>, e.g. --lm-model llama3.1")
    }
    if (Option.isSome(o.lmKeyEnv) && Option.isSome(o.lmKey)) {
      return yield* refuse("--lm-key", "--lm-key and --lm-key-env both give the key", "pass only --lm-key-env <VAR>")
    }
    let apiKey: Redacted.Redacted<string> | undefined
    if (Option.isSome(o.lmKeyEnv)) {
      const name = o.lmKeyEnv.value
      if (!ENV_NAME.test(name)) {
        // It may be a pasted key: echo no more than its first characters.
        return yield* refuse("--lm-key-env", `'${name.slice(0, 3)}…' is not an environment variable name`, "name the variable that holds the key (e.g. OPENAI_API_KEY), never the key itself")
      }
      const value = process.env[name]?.trim()
      if (value === undefined || value === "") {
        return yield* refuse("--lm-key-env", `environment variable ${name} is ${value === "" ? "empty" : "not set"}`, `export ${name}=<your key>, or name the variable that holds it`)
      }
      apiKey = Redacted.make(value)
    } else if (Option.isSome(o.lmKey)) {
      yield* Console.error("warning: --lm-key puts the API key in the process list, where other users of this machine can read it; prefer --lm-key-env <VAR>")
      if (o.lmKey.value.trim() === "") return yield* refuse("--lm-key", "the key is empty", "pass the key in a variable: --lm-key-env <VAR>")
      apiKey = Redacted.make(o.lmKey.value.trim())
    }
    const timeoutMs = Option.isSome(o.lmTimeout) ? yield* parseTimeout(o.lmTimeout.value) : undefined
    return DefaultModel.layer({
      apiBase: url,
      model: model.trim(),
      apiKey,
      timeoutMs,
      ...(Option.isSome(o.lmKeyEnv) ? { apiKeyEnv: o.lmKeyEnv.value } : Option.isSome(o.lmKey) ? { apiKeyGiven: true } : {}),
      origin: graph !== undefined ? GRAPH_LM : FLAGS
    })
  })

/**
 * The default model `--lm-url`/`--lm-model` give a resume, checked before anything else
 * (none without them: the run's own, completed by the key flags, see {@link resumeDefaultLayer}).
 */
export const resumeFlagsLayer = (o: LmFlags): Effect.Effect<Option.Option<Layer.Layer<never> | Layer.Layer<DefaultModel.DefaultModel>>, InputError> =>
  Option.isSome(o.lmUrl) || Option.isSome(o.lmModel) ? Effect.map(lmDefaultLayer(o), Option.some) : Effect.succeedNone

/** A stored default model as notices name it. */
const shown = (record: DefaultModelRecord): string => `${record.model} at ${record.api_base}`

/**
 * The default model for `resume`/`respond` of a run whose record is `run`: the flags' when
 * `--lm-url`/`--lm-model` are given (an override, said on stderr when the run was started
 * with another), else the one the run was started with (`RunRecord.default_model`), with
 * `--lm-key-env`/`--lm-key`/`--lm-timeout` replacing its key and time limit when given. A
 * run started with `--lm-key` needs it (or `--lm-key-env`) again: refused without, as is a
 * run whose key variable is not set here. A run that ended (done, cancelled, failed) needs none.
 */
export const resumeDefaultLayer = (
  o: LmFlags,
  run: { readonly run_id: string; readonly status: string; readonly default_model?: DefaultModelRecord | null | undefined },
  flagged: Option.Option<Layer.Layer<never> | Layer.Layer<DefaultModel.DefaultModel>>
): Effect.Effect<Layer.Layer<never> | Layer.Layer<DefaultModel.DefaultModel>, InputError> =>
  Effect.gen(function*() {
    const stored = run.default_model ?? null
    if (stored === null || Option.isSome(flagged)) {
      const given = Option.isSome(flagged) ? flagged.value : yield* lmDefaultLayer(o)
      if (stored !== null) {
        const url = Option.getOrUndefined(o.lmUrl)?.replace(/\/+$/, "")
        const model = Option.getOrUndefined(o.lmModel)?.trim()
        if (url !== stored.api_base || model !== stored.model) {
          yield* Console.error(`note: run ${run.run_id} was started with default model ${shown(stored)}; this resume uses ${model} at ${url} (--lm-url/--lm-model; the run's record keeps the first)`)
        }
      }
      return given
    }
    if (Option.isSome(o.lmKeyEnv) && Option.isSome(o.lmKey)) {
      return yield* refuse("--lm-key", "--lm-key and --lm-key-env both give the key", "pass only --lm-key-env <VAR>")
    }
    let apiKey: Redacted.Redacted<string> | undefined
    let apiKeyEnv = stored.api_key_env ?? undefined
    if (Option.isSome(o.lmKeyEnv)) {
      if (!ENV_NAME.test(o.lmKeyEnv.value)) {
        return yield* refuse("--lm-key-env", `'${o.lmKeyEnv.value.slice(0, 3)}…' is not an environment variable name`, "name the variable that holds the key (e.g. OPENAI_API_KEY), never the key itself")
      }
      apiKeyEnv = o.lmKeyEnv.value
    } else if (Option.isSome(o.lmKey)) {
      yield* Console.error("warning: --lm-key puts the API key in the process list, where other users of this machine can read it; prefer --lm-key-env <VAR>")
      if (o.lmKey.value.trim() === "") return yield* refuse("--lm-key", "the key is empty", "pass the key in a variable: --lm-key-env <VAR>")
      apiKey = Redacted.make(o.lmKey.value.trim())
      apiKeyEnv = undefined
    } else if (stored.api_key_given && !TERMINAL.has(run.status)) {
      return yield* refuse(
        "--lm-key",
        `run ${run.run_id} was started with --lm-key for its default model (${shown(stored)}), and the key is not stored`,
        "pass the key again: --lm-key <key>, or better --lm-key-env <VAR> naming a variable that holds it"
      )
    }
    if (apiKeyEnv !== undefined && apiKey === undefined && !TERMINAL.has(run.status)) {
      const value = process.env[apiKeyEnv]?.trim()
      if (value === undefined || value === "") {
        return yield* refuse(
          "--lm-key-env",
          `run ${run.run_id}'s default model (${shown(stored)}) reads its key from ${apiKeyEnv}, which is ${value === "" ? "empty" : "not set"}`,
          `export ${apiKeyEnv}=<your key>, or pass --lm-key-env <VAR> naming another variable`
        )
      }
      apiKey = Redacted.make(value)
    }
    const timeoutMs = Option.isSome(o.lmTimeout) ? yield* parseTimeout(o.lmTimeout.value) : stored.timeout_ms ?? undefined
    return DefaultModel.layer({
      apiBase: stored.api_base,
      model: stored.model,
      apiKey,
      timeoutMs,
      ...(apiKeyEnv !== undefined ? { apiKeyEnv } : stored.api_key_given || apiKey !== undefined ? { apiKeyGiven: true } : {}),
      origin: STORED
    })
  })

/**
 * The default model for `resume`/`respond` of a run whose graph has an authoring `lm:`
 * block: the block's server, with the key and time limit the run was started with when
 * the run's record names that same server (a `--lm-key-env` variable read again, a
 * `--lm-key` asked for again, see {@link resumeDefaultLayer}); with another server on
 * record (the block was edited since), the block's with the flags given now.
 * `--lm-url`/`--lm-model` beside the block are refused (see {@link lmDefaultLayer}).
 */
export const resumeGraphDefaultLayer = (
  o: LmFlags,
  run: { readonly run_id: string; readonly status: string; readonly default_model?: DefaultModelRecord | null | undefined },
  flagged: Option.Option<unknown>,
  graph: GraphModel
): Effect.Effect<Layer.Layer<never> | Layer.Layer<DefaultModel.DefaultModel>, InputError> => {
  const stored = run.default_model ?? null
  return Option.isNone(flagged) && stored !== null && stored.api_base === graph.apiBase && stored.model === graph.model
    ? resumeDefaultLayer(o, run, Option.none())
    : lmDefaultLayer(o, graph)
}

/** Statuses of a run that never runs again (no model needed; an `error` run may be resumed). */
const TERMINAL: ReadonlySet<string> = new Set(["done", "cancelled", "failed"])
