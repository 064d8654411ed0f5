/**
 * `react`: the original Stargraph's tool-loop agent (DSPy's ReAct). A language model
 * answers `config.input` (default `question`) by calling the tools of the allowlist
 * `config.tools` (registry ids, or `./tools.ts:myTool` exports beside the graph, as a
 * `tool` node names them), one at a time, until it picks `finish` with its answer, within
 * `config.max_iters` model calls (1–64, default 8). The agent picks tools, never the next
 * node: it writes `answer` and `tool_trace` (`[{tool, args, observation}]`, when the state
 * declares it), and rules route on them.
 *
 * Each turn the model replies with one JSON object, `{next_thought, next_tool_name,
 * next_tool_args, answer}` (`answer` with `finish` only), decoded with a Schema, the
 * text protocol of DSPy's ReAct; so any model works, over `/chat/completions`,
 * `/responses`, streamed or not, or an app's `LanguageModel`. `config.tool_protocol:
 * native` uses OpenAI-style tool calling over `/chat/completions` instead (`tools` in the
 * request, `tool_calls` in the reply, `role: tool` messages back; see `ChatTools.ts`), a
 * reply without tool calls being the answer; its `lm.react` requests add `tools` and
 * record the messages as sent (`tool_calls`, `role: tool`), its responses `{text,
 * tool_calls}`. A tool is named to the
 * model as `<namespace>_<name>` (`std_calculator`, as the original). Every model call is
 * recorded as `lm.react` (the request of every language-model kind: `{model, messages,
 * signature, params}`) and every tool call as the `tool` kind records it (`tool.<id>`,
 * `{tool: "id@version", args}`), through the same live path (argument Schema, capability
 * gate, result Schema), so a replay answers all of them from the cassette.
 *
 * A tool outside the allowlist, or a call the tool refuses (bad arguments, a failure, a
 * timeout), is an observation the model reads and may correct, as DSPy's ReAct makes
 * tool errors observations; a capability the run was not granted fails the node
 * (`ToolError[capability-denied]`). No `finish` within `max_iters` calls, or a reply
 * that is not the JSON object, is a `ModelOutputError`. Under `retry`, a failed model call
 * is retried alone, with the same messages (the tools already called are not called again).
 * Observations are capped at {@link OBSERVATION_LIMIT} characters and the oldest elided
 * past {@link OBSERVATION_BUDGET}, so the recorded requests stay bounded.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { ModelOutputError, type ToolError } from "../../errors.js"
import type { State } from "../../ir/stateSchema.js"
import type { NodeFailure, NodeInput, NodeOutcome } from "../Executor.js"
import { checkInput, checkProvider, checkWrite, needsModel, nodeFields, providerFields, providerOf } from "../lm/config.js"
import { type FunctionTool, ToolCompletion, type ToolMessage } from "../lm/toolMessages.js"
import { cutAtLimit, isCompletion, isRetryable, type LmRequest, liveCompletion, timedLive } from "../lm/lmExecutor.js"
import { completionDecoder, type OutputProblem } from "../lm/parseCompletion.js"
import { completeWithTools } from "../lm/provider.js"
import { type Message, type PromptSpec, userMessage } from "../lm/prompt.js"
import * as NodeKind from "../NodeKind.js"
import { liveRun, located } from "../tools/runTool.js"
import type { Tool } from "../tools/Tool.js"
import { pythonRefProblem, resolveTool, toolModules } from "../tools/toolRef.js"
import { nativeArgs, nativeSystemText, nativeTool } from "../lm/reactNative.js"

/** The original's bounds and default of `max_iters`. */
const MIN_ITERS = 1
const MAX_ITERS = 64
const DEFAULT_ITERS = 8

/** The bounds and default of `max_tool_calls_per_step` (native protocol). */
const MIN_CALLS = 1
const MAX_CALLS = 64
const DEFAULT_CALLS = 8

/** The longest function name OpenAI's tool calling takes (`^[a-zA-Z0-9_-]{1,64}$`). */
const MAX_TOOL_NAME = 64

/** The state field read by default. */
const DEFAULT_INPUT = "question"

/** The pseudo-tool the model picks to answer. */
const FINISH = "finish"

/** The original's instructions. */
const INSTRUCTIONS = "Answer the question using the available tools. Call tools to gather facts; do not invent tool results. Give a direct, complete answer."

/** A `react` node's config (under `config:`, as in the original). */
const Config = Schema.Struct({
  /** The tools the agent may call: registry ids (`std.calculator@1`, `std.calculator` for its latest version) or `./tools.ts:myTool`. */
  tools: Schema.Array(Schema.String),
  /** The state field read (default `question`). */
  input: Schema.optional(Schema.String),
  /** Model calls at most (the last must answer). */
  max_iters: Schema.optional(Schema.Int.pipe(Schema.between(MIN_ITERS, MAX_ITERS, { message: () => `max_iters must be an integer from ${MIN_ITERS} to ${MAX_ITERS}` }))),
  /** Overrides the agent's instructions. */
  instructions: Schema.optional(Schema.String),
  /**
   * How the model asks for tools: `json` (default), a JSON step object in its reply text
   * (any model, any API); `native`, OpenAI-style tool calling over `/chat/completions`
   * (`tools` in the request, `tool_calls` in the reply, `role: tool` messages back).
   */
  tool_protocol: Schema.optional(Schema.Literal("json", "native")),
  /** With `tool_protocol: native`: the tool calls one reply may ask for (1–64, default 8); a reply asking for more is a `ModelOutputError`. */
  max_tool_calls_per_step: Schema.optional(
    Schema.Int.pipe(Schema.between(MIN_CALLS, MAX_CALLS, { message: () => `max_tool_calls_per_step must be an integer from ${MIN_CALLS} to ${MAX_CALLS}` }))
  ),
  ...providerFields
})

/** One reply of the model: its next step. */
const Step = Schema.Struct({
  next_thought: Schema.optional(Schema.Unknown),
  next_tool_name: Schema.String,
  next_tool_args: Schema.optionalWith(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })), { default: () => ({}) }),
  answer: Schema.optional(Schema.Unknown)
})

/** One entry of `tool_trace`. */
export interface TraceEntry {
  /** The tool's name as the model called it (`std_calculator`). */
  readonly tool: string
  readonly args: { readonly [arg: string]: unknown }
  readonly observation: string
}

/** The name the model calls a tool by: `<namespace>_<name>`, anything but letters, digits and `_` as `_` (the original's). */
export const callableName = (tool: Pick<Tool, "id">): string => tool.id.replace(/[^0-9A-Za-z_]/g, "_")

/** A tool's arguments as JSON Schema text for the prompt (`{}` when its Schema has none to give). */
const argumentsText = (tool: Tool): string => {
  try {
    return JSON.stringify(JSONSchema.make(tool.input))
  } catch {
    return "{}"
  }
}

/** The system message: instructions, the tools and the reply format. */
const systemText = (instructions: string, input: string, tools: ReadonlyArray<{ readonly name: string; readonly tool: Tool }>): string => {
  const names = [...tools.map((t) => t.name), FINISH]
  return [
    instructions,
    "",
    "Your input field is:",
    `- \`${input}\``,
    "",
    "Work in steps. At each step, call one tool, or finish. After a tool call you get its observation in the next message.",
    "",
    "The tools:",
    ...tools.map((t, i) => `${i + 1}. ${t.name}: ${t.tool.description} Its arguments (JSON Schema): ${argumentsText(t.tool)}`),
    `${tools.length + 1}. ${FINISH}: you have what you need to answer. Its arguments: {}`,
    "",
    "Reply with one JSON object and nothing else, with these keys in this order:",
    "- \"next_thought\": string (what you know, and what to do next)",
    `- "next_tool_name": one of ${names.map((n) => `"${n}"`).join(", ")}`,
    "- \"next_tool_args\": object (the tool's arguments; {} for finish)",
    `- "answer": string (with ${FINISH} only: the answer to \`${input}\`)`
  ].join("\n")
}

/**
 * The longest observation the model is shown and `tool_trace` keeps, in characters (UTF-16
 * units): a longer one is cut there, with a marker saying how much was cut. (`std.fetch_page`
 * alone may return 100,000 characters; every model call re-sends the observations before it.)
 */
export const OBSERVATION_LIMIT = 20_000

/**
 * The budget of the observations one model call re-sends, in characters: past it, the
 * oldest observations (never the latest) are replaced by a short marker, as DSPy's ReAct
 * trims its trajectory, so each recorded request stays within it and a long session's
 * recorded bytes grow linearly, not quadratically.
 */
export const OBSERVATION_BUDGET = 60_000

/** An observation within {@link OBSERVATION_LIMIT}, with the marker when it was cut. */
export const capObservation = (text: string): string => {
  if (text.length <= OBSERVATION_LIMIT) return text
  // Do not split a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(text[OBSERVATION_LIMIT - 1]!) ? OBSERVATION_LIMIT - 1 : OBSERVATION_LIMIT
  return `${text.slice(0, end)}\n[… observation truncated: ${(text.length - end).toLocaleString("en-US")} of ${text.length.toLocaleString("en-US")} characters cut]`
}

/** A tool's result as the observation the model reads (and `tool_trace` keeps), within {@link OBSERVATION_LIMIT}. */
const observationOf = (result: unknown): string => capObservation(typeof result === "string" ? result : JSON.stringify(result) ?? "null")

/** The user message that shows the model observation `iter`. */
const observationMessage = (iter: number, observation: string): Message => ({ role: "user", content: `## observation_${iter}\n${observation}` })

/** The marker an observation elided to keep the prompt within {@link OBSERVATION_BUDGET} is shown as. */
const elided = (iter: number, observation: string): Message => ({
  role: "user",
  content: `## observation_${iter}\n${elidedText(observation)}`
})

/** The longest completion kept on a `ModelOutputError`. */
const MAX_SHOWN = 2000

/** Where a streamed reply's text goes: the run's `node.delta` events, when the node streams. */
const emitOf = (at: NodeInput) => {
  const emit = at.emitDelta
  return emit === undefined ? undefined : (text: string) => emit(text, at.nodeId, at.step)
}

/** An observation shown at `index` of the messages, and the message it is elided to past the budget. */
interface Shown<M> {
  readonly index: number
  readonly observation: string
  readonly short: M
  elided: boolean
}

/** The marker text an observation elided to keep the prompt within {@link OBSERVATION_BUDGET} is shown as. */
const elidedText = (observation: string): string =>
  `[observation elided to keep the prompt within its budget: ${observation.length.toLocaleString("en-US")} characters; your thought after it says what it held]`

/**
 * The finish reasons of a reply that ended on its own: OpenAI's `stop` (and TGI's
 * `eos_token`, `stop_sequence`); a reply without one is taken as finished too.
 */
const FINISHED = new Set(["stop", "eos_token", "stop_sequence"])

/**
 * Why a native reply without tool calls is not an answer, from its finish reason: cut at
 * `max_tokens` (`length`), withheld by the server's content filter (`content_filter`), or
 * ended some other way than on its own; `undefined` when it finished (or says nothing).
 */
export const unfinishedAnswer = (reason: string | undefined): { readonly message: string; readonly fix: string } | undefined => {
  if (reason === undefined || FINISHED.has(reason)) return undefined
  if (reason === "length") {
    return {
      message: "the reply was cut at the token limit (finish_reason: length): its text is not a whole answer",
      fix: "raise config.max_tokens (or remove it), ask for a shorter answer in config.instructions, or add retry: {max_attempts: 3}"
    }
  }
  if (reason === "content_filter") {
    return {
      message: "the server's content filter withheld the reply (finish_reason: content_filter): its text is not a whole answer",
      fix: "rephrase the input or config.instructions so that the provider's content filter lets the answer through, or add retry: {max_attempts: 3}"
    }
  }
  return {
    message: `the reply has no tool calls and did not finish on its own (finish_reason: ${reason}): its text is not taken as the answer`,
    fix: "add retry: {max_attempts: 3}, sharpen config.instructions, or use a model whose server supports tool calling"
  }
}

const settingsOf = (node: { readonly config?: typeof Config.Type | undefined }) => node.config

/** The `react` kind. */
export const ReactKind = NodeKind.make({
  name: "react",
  summary:
    "A tool-calling agent: a language model answers config.input (default question) by calling the registry tools of config.tools, one at a time, until it finishes (at most config.max_iters model calls, 1-64, default 8); writes answer and tool_trace. config.tool_protocol: native uses the server's own tool calling (tools/tool_calls) instead of the JSON text protocol, at most config.max_tool_calls_per_step calls per reply (1-64, default 8). Every model and tool call is recorded. config.stub: true answers offline.",
  fields: nodeFields(Config),
  modules: (node) => (settingsOf(node)?.tools ?? []).flatMap(toolModules),
  check: (node, ctx) => {
    const config = settingsOf(node)
    if (config === undefined) return { path: ["config"], message: "react needs config.tools", fix: "add config: {tools: [std.calculator@1]} (the registry tools the agent may call)" }
    if (config.tools.length === 0) return { path: ["config", "tools"], message: "react needs at least one tool in config.tools", fix: "list the registry tools the agent may call, e.g. tools: [std.calculator@1]" }
    for (const [i, tool] of config.tools.entries()) {
      const python = pythonRefProblem(tool, ["config", "tools", i])
      if (python !== undefined) return python
    }
    const provider = checkProvider(config)
    if (provider !== undefined) return provider
    if (config.tool_protocol === "native" && config.api === "responses") {
      return { path: ["config", "tool_protocol"], message: "tool_protocol: native speaks /chat/completions, and config.api is responses", fix: "remove config.api (or set api: chat), or use tool_protocol: json" }
    }
    // The JSON protocol calls one tool per reply: the key would silently do nothing there.
    if (config.max_tool_calls_per_step !== undefined && config.tool_protocol !== "native") {
      return {
        path: ["config", "max_tool_calls_per_step"],
        message: `max_tool_calls_per_step bounds the tool calls of one reply under tool_protocol: native; this node uses tool_protocol: ${config.tool_protocol ?? "json"} (the default), whose replies call one tool each`,
        fix: "remove max_tool_calls_per_step, or set tool_protocol: native"
      }
    }
    const input = checkInput("react", config.input, DEFAULT_INPUT, ctx)
    if (input !== undefined) return input
    const answer = checkWrite("answer", { _tag: "str" }, ["kind"], ctx, true)
    if (answer !== undefined) return { ...answer, message: `react ${answer.message}` }
    const trace = ctx.fields.get("tool_trace")?.type
    if (trace !== undefined && trace !== "array" && trace !== "any") {
      return { path: ["kind"], message: `react writes a list of {tool, args, observation} to state field 'tool_trace', declared ${trace}`, fix: "declare 'tool_trace' as an array" }
    }
    return undefined
  },
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const config = settingsOf(node)
      if (config === undefined) return yield* ctx.invalid(["config"], "react needs config.tools", "add config: {tools: [std.calculator@1]}")
      const tools: Array<{ readonly name: string; readonly tool: Tool; readonly run: (args: unknown) => Effect.Effect<unknown, ToolError> }> = []
      for (const [i, ref] of config.tools.entries()) {
        const tool = yield* resolveTool(ref, ["config", "tools", i], ctx)
        const name = callableName(tool)
        const twin = tools.find((t) => t.name === name)
        if (twin !== undefined) {
          return yield* ctx.invalid(["config", "tools", i], `'${ref}' is named ${name} to the model, as ${twin.tool.key} is`, "list each tool once (one version of it)")
        }
        if (config.tool_protocol === "native" && name.length > MAX_TOOL_NAME) {
          return yield* ctx.invalid(
            ["config", "tools", i],
            `'${ref}' is named ${name} to the model, ${name.length} characters: tool calling (tool_protocol: native) takes names of ${MAX_TOOL_NAME} characters at most, and the server would refuse the request`,
            `give the tool a shorter id (namespace.name, at most ${MAX_TOOL_NAME} characters), or use tool_protocol: json`
          )
        }
        tools.push({ name, tool, run: liveRun(tool, { sourceOf: (arg) => (arg !== undefined ? `the model's argument '${arg}'` : "the model's arguments") }) })
      }
      const byName = new Map(tools.map((t) => [t.name, t]))
      const input = config.input ?? DEFAULT_INPUT
      const maxIters = config.max_iters ?? DEFAULT_ITERS
      const maxCalls = config.max_tool_calls_per_step ?? DEFAULT_CALLS
      const writesTrace = ctx.fields.has("tool_trace")
      const outcome = (answer: string, trace: ReadonlyArray<TraceEntry>): NodeOutcome => ({
        _tag: "Update",
        update: writesTrace ? { answer, tool_trace: trace } : { answer }
      })
      const provider = providerOf(config)
      const call = { provider, timeout_ms: node.timeout_ms, retry: node.retry }
      const system = systemText(config.instructions?.trim() || INSTRUCTIONS, input, tools)
      const fixed = {
        model: provider.model ?? null,
        signature: `${input} -> answer`,
        params: {
          ...(provider.temperature !== undefined ? { temperature: provider.temperature } : {}),
          ...(provider.maxTokens !== undefined ? { max_tokens: provider.maxTokens } : {})
        }
      }
      const request = (messages: ReadonlyArray<Message>): LmRequest => ({ ...fixed, messages })
      const decode = completionDecoder(Step)
      /** The question as the other language-model kinds show an input (`## <input>` and its value). */
      const asked: PromptSpec = { signature: { inputs: [{ name: input, type: { _tag: "str" } }], outputs: [{ name: "answer", type: { _tag: "str" } }] }, instructions: undefined, module: "predict" }
      // The names the model may call: with tool calling there is no `finish` pseudo-tool (a reply without tool calls answers).
      const names = [...byName.keys(), ...(config.tool_protocol === "native" ? [] : [FINISH])].join(", ")
      const attempts = node.retry?.max_attempts ?? 1
      const backoff = Duration.millis(node.retry?.backoff_ms ?? 0)

      const outputError = (at: NodeInput, attempt: number, completion: string, problem: OutputProblem, fix: string) =>
        new ModelOutputError({
          nodeId: at.nodeId,
          step: at.step,
          ...(problem.field !== undefined ? { field: problem.field } : {}),
          completion: completion.length > MAX_SHOWN ? `${completion.slice(0, MAX_SHOWN)}…` : completion,
          attempts: attempt,
          message: problem.message,
          fix
        })

      /** One tool call through the cassette: its result as an observation, or the refusal the model reads. */
      const callTool = (at: NodeInput, name: string, args: { readonly [arg: string]: unknown }) => {
        const entry = byName.get(name)
        if (entry === undefined) {
          return Effect.succeed(`Unknown tool '${name}': it is not one of the tools you may call. Call one of: ${names}.`)
        }
        const live = Effect.suspend(() => entry.run(args)).pipe(Effect.mapError((e) => located(e, entry.tool, at)))
        return at.calls.callEffect(`tool.${entry.tool.id}`, { tool: entry.tool.key, args }, live).pipe(
          Effect.map(observationOf),
          // A denied capability fails the node; any other refusal is the model's to correct.
          Effect.catchIf(
            (e): e is ToolError => e._tag === "ToolError" && e.reason !== "capability-denied",
            (e) => Effect.succeed(`Execution error in ${name}: ${e.message} (${e.fix})`)
          )
        )
      }

      /**
       * One model call and its reply decoded: under `retry`, a failure of this call alone
       * (a reply that is not the step object, a finish without an answer, a retryable model
       * error) is retried with the same messages; the tools called before it are not called
       * again. Each attempt is a recorded `lm.react` call, so a replay reads them in order.
       */
      const modelStep = (at: NodeInput, sent: ReadonlyArray<Message>) => {
        let attempt = 0
        const one = Effect.suspend(() => {
          const current = ++attempt
          let defaultModel: string | undefined
          const live = Effect.suspend(() => liveCompletion(call, at, sent, current, (model) => (defaultModel = model)))
          const meta = () => (defaultModel === undefined ? undefined : { model: defaultModel, default_model: true })
          return Effect.flatMap(at.calls.callEffect("lm.react", request(sent), live, { meta }), (response) => {
            if (!isCompletion(response)) {
              return Effect.fail(outputError(at, current, JSON.stringify(response) ?? "", { message: "the recorded response is not a completion ({text: string})" }, "the run's cassette is damaged: record the run again"))
            }
            const text = response.text
            const decoded = decode(text)
            if (Either.isLeft(decoded)) {
              const cut = cutAtLimit(response, decoded.left, call.provider.maxTokens)
              if (cut !== undefined) return Effect.fail(outputError(at, current, text, cut.problem, cut.fix))
              return Effect.fail(outputError(at, current, text, decoded.left, `reply with the JSON object {next_thought, next_tool_name, next_tool_args, answer}: sharpen config.instructions, add retry: {max_attempts: 3}, or use a model that follows JSON instructions`))
            }
            const step = decoded.right
            if (step.next_tool_name === FINISH && (step.answer === undefined || step.answer === null)) {
              return Effect.fail(outputError(at, current, text, { field: "answer", message: "the reply finishes without an 'answer'" }, "give the answer with finish: sharpen config.instructions, or add retry: {max_attempts: 3}"))
            }
            return Effect.succeed({ text, step })
          })
        })
        return attempts <= 1 ? one : one.pipe(Effect.retry({ times: attempts - 1, schedule: Schedule.spaced(backoff), while: isRetryable }))
      }

      /**
       * The messages with the oldest observations elided until the observations re-sent add
       * up to {@link OBSERVATION_BUDGET} at most (the latest is always kept whole).
       * Deterministic: the same observations give the same messages, so replay matches.
       */
      const withinBudget = <M>(messages: ReadonlyArray<M>, shown: Array<Shown<M>>): ReadonlyArray<M> => {
        let total = shown.reduce((n, o) => n + (o.elided ? 0 : o.observation.length), 0)
        if (total <= OBSERVATION_BUDGET) return messages
        const trimmed = [...messages]
        for (const o of shown.slice(0, -1)) {
          if (total <= OBSERVATION_BUDGET) break
          if (o.elided) continue
          trimmed[o.index] = o.short
          o.elided = true
          total -= o.observation.length
        }
        return trimmed
      }

      /** The loop, from the first message. */
      const loop = (state: State, at: NodeInput): Effect.Effect<NodeOutcome, NodeFailure> =>
        Effect.gen(function*() {
          let messages: ReadonlyArray<Message> = [
            { role: "system", content: system },
            { role: "user", content: userMessage(asked, { [input]: state[input] }) }
          ]
          const trace: Array<TraceEntry> = []
          const shown: Array<Shown<Message>> = []
          let last = ""
          for (let iter = 0; iter < maxIters; iter++) {
            const sent = messages
            const { step, text } = yield* modelStep(at, sent)
            last = text
            if (step.next_tool_name === FINISH) {
              return outcome(typeof step.answer === "string" ? step.answer : JSON.stringify(step.answer), trace)
            }
            const args = step.next_tool_args ?? {}
            const observation = yield* callTool(at, step.next_tool_name, args)
            if (byName.has(step.next_tool_name)) trace.push({ tool: step.next_tool_name, args, observation })
            shown.push({ index: sent.length + 1, observation, short: elided(iter, observation), elided: false })
            messages = withinBudget([...sent, { role: "assistant", content: last }, observationMessage(iter, observation)], shown)
          }
          return yield* outputError(
            at,
            1,
            last,
            { field: "next_tool_name", message: `react node '${at.nodeId}' did not finish within max_iters: ${maxIters} (each of its ${maxIters} model calls asked for a tool)` },
            `raise config.max_iters (at most ${MAX_ITERS}), or sharpen config.instructions so that the agent answers sooner`
          )
        })

      // The native protocol (tool_protocol: native): tools in the request, tool_calls in the reply.
      const functionTools: ReadonlyArray<FunctionTool> = tools.map((t) => nativeTool(t.name, t.tool))
      const nativeSystem = nativeSystemText(config.instructions?.trim() || INSTRUCTIONS, input)
      const nativeRequest = (messages: ReadonlyArray<ToolMessage>) => ({ ...fixed, messages, tools: functionTools })
      const decodeToolCompletion = Schema.decodeUnknownEither(ToolCompletion)

      const replyFix = "answer with tool calls whose arguments are JSON objects, or with the answer as text: sharpen config.instructions, add retry: {max_attempts: 3}, or use a model that supports tool calling"

      /** A native reply decoded: its text and its tool calls with their arguments read, or the problem with it (and its fix). */
      const nativeReply = (reply: ToolCompletion): Either.Either<ReadonlyArray<{ readonly id: string; readonly name: string; readonly args: { readonly [arg: string]: unknown } }>, { readonly problem: OutputProblem; readonly fix: string }> => {
        const calls: Array<{ readonly id: string; readonly name: string; readonly args: { readonly [arg: string]: unknown } }> = []
        if (reply.tool_calls.length > maxCalls) {
          return Either.left({
            problem: { field: "tool_calls", message: `the reply asks for ${reply.tool_calls.length} tool calls, more than config.max_tool_calls_per_step: ${maxCalls}` },
            fix: `ask for fewer tool calls per reply in config.instructions, raise config.max_tool_calls_per_step (at most ${MAX_CALLS}), or add retry: {max_attempts: 3}`
          })
        }
        for (const [i, call] of reply.tool_calls.entries()) {
          const args = nativeArgs(call.arguments)
          if (Either.isLeft(args)) return Either.left({ problem: { field: `tool_calls[${i}].arguments`, message: `tool call ${i} (${call.name}): ${args.left}` }, fix: replyFix })
          calls.push({ id: call.id, name: call.name, args: args.right })
        }
        if (calls.length === 0) {
          const unfinished = unfinishedAnswer(reply.finish_reason)
          if (unfinished !== undefined) return Either.left({ problem: { field: "answer", message: unfinished.message }, fix: unfinished.fix })
          if (reply.text.trim() === "") return Either.left({ problem: { field: "answer", message: "the reply has neither tool calls nor an answer" }, fix: replyFix })
        }
        return Either.right(calls)
      }

      /**
       * One native model call and its reply decoded, retried under `retry` as {@link modelStep}
       * retries (a tool call whose arguments are not a JSON object, an empty reply, a
       * retryable model error), with the same messages. Each attempt is a recorded `lm.react` call.
       */
      const nativeStep = (at: NodeInput, sent: ReadonlyArray<ToolMessage>) => {
        let attempt = 0
        const one = Effect.suspend(() => {
          const current = ++attempt
          let defaultModel: string | undefined
          const site = { nodeId: at.nodeId, step: at.step, attempt: current, maxAttempts: call.retry?.max_attempts ?? 1 }
          const live = Effect.suspend(() => timedLive(call, at, current, completeWithTools(provider, { messages: sent, tools: functionTools }, site, emitOf(at)), (model) => (defaultModel = model)))
          const meta = () => (defaultModel === undefined ? undefined : { model: defaultModel, default_model: true })
          return Effect.flatMap(at.calls.callEffect("lm.react", nativeRequest(sent), live, { meta }), (response) => {
            const decoded = decodeToolCompletion(response)
            if (Either.isLeft(decoded)) {
              return Effect.fail(outputError(at, current, JSON.stringify(response) ?? "", { message: "the recorded response is not a native completion ({text, tool_calls})" }, "the run's cassette is damaged: record the run again"))
            }
            const reply = decoded.right
            const calls = nativeReply(reply)
            if (Either.isLeft(calls)) return Effect.fail(outputError(at, current, JSON.stringify(reply), calls.left.problem, calls.left.fix))
            return Effect.succeed({ reply, calls: calls.right })
          })
        })
        return attempts <= 1 ? one : one.pipe(Effect.retry({ times: attempts - 1, schedule: Schedule.spaced(backoff), while: isRetryable }))
      }

      /** The native loop, from the first message. */
      const nativeLoop = (state: State, at: NodeInput): Effect.Effect<NodeOutcome, NodeFailure> =>
        Effect.gen(function*() {
          let messages: ReadonlyArray<ToolMessage> = [
            { role: "system", content: nativeSystem },
            { role: "user", content: userMessage(asked, { [input]: state[input] }) }
          ]
          const trace: Array<TraceEntry> = []
          const shown: Array<Shown<ToolMessage>> = []
          let last = ""
          for (let iter = 0; iter < maxIters; iter++) {
            const sent = messages
            const { calls, reply } = yield* nativeStep(at, sent)
            last = JSON.stringify(reply)
            if (calls.length === 0) return outcome(reply.text, trace)
            const next: Array<ToolMessage> = [
              ...sent,
              {
                role: "assistant",
                content: reply.text === "" ? null : reply.text,
                tool_calls: reply.tool_calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }))
              }
            ]
            for (const c of calls) {
              const observation = yield* callTool(at, c.name, c.args)
              if (byName.has(c.name)) trace.push({ tool: c.name, args: c.args, observation })
              shown.push({ index: next.length, observation, short: { role: "tool", tool_call_id: c.id, content: elidedText(observation) }, elided: false })
              next.push({ role: "tool", tool_call_id: c.id, content: observation })
            }
            messages = withinBudget(next, shown)
          }
          return yield* outputError(
            at,
            1,
            last,
            { field: "tool_calls", message: `react node '${at.nodeId}' did not finish within max_iters: ${maxIters} (each of its ${maxIters} model calls asked for a tool)` },
            `raise config.max_iters (at most ${MAX_ITERS}), or sharpen config.instructions so that the agent answers sooner`
          )
        })

      const native = config.tool_protocol === "native"
      return {
        hashes: { tools: tools.map((t) => t.tool.key).join(",") },
        needsModel: needsModel(config),
        execute: (state, at) => {
          if (config.stub === true) return Effect.succeed(outcome("stub-answer", []))
          return native ? nativeLoop(state, at) : loop(state, at)
        }
      }
    })
})
