/**
 * `code`: the original Stargraph's generate-then-run kind. A language model writes a
 * self-contained Python script for the state field `config.input` (default `task`),
 * thinking step by step (signature `<input> -> code`, recorded as `lm.code`); the script
 * (one markdown fence around it removed) runs through `std.python_exec@1`, on the same live
 * path as the `tool` kind (capability `tools:std:exec`, default-deny; recorded as
 * `tool.std.python_exec`), so a replay answers both calls from the cassette and runs
 * nothing. It writes `code` (the script), `run_result` (the tool's
 * `{stdout, stderr, exit_code, timed_out, truncated}`) and `verdict` (`pass` when the script
 * exited 0 within its time, else `fail`); rules route on the verdict.
 *
 * A live run demands `tools:std:exec` before it asks the model (an ungranted run fails
 * with `ToolError[capability-denied]` without a model call); a replay answers the
 * generation from the cassette and needs no grant. An empty script is a
 * `ModelOutputError` (retried under `retry`); a refused or failed `std.python_exec` call
 * fails the node with its `ToolError`. `config.stub: true` writes a
 * fixed script and a passing result offline, with neither a model nor a process.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { ModelOutputError } from "../../errors.js"
import type { NodeOutcome } from "../Executor.js"
import { checkInput, checkProvider, checkWrite, needsModel, nodeFields, providerFields, providerOf } from "../lm/config.js"
import { lmExecutor } from "../lm/lmExecutor.js"
import * as NodeKind from "../NodeKind.js"
import * as Capabilities from "../tools/Capabilities.js"
import { liveRun, located } from "../tools/runTool.js"
import { resolveTool } from "../tools/toolRef.js"

/** The tool every `code` node runs its script with. */
export const PYTHON_EXEC_TOOL = "std.python_exec@1"

/** The state field read by default. */
const DEFAULT_INPUT = "task"

/** The original's instructions. */
const INSTRUCTIONS =
  "Write a complete, self-contained Python script that accomplishes the task. The script must print its result to stdout and exit 0 on success. Use only the standard library. Return only the code."

/** The longest `timeout_s` (the original's bound; `std.python_exec` itself stops at 120). */
const MAX_TIMEOUT_S = 600

const TIMEOUT_BOUNDS = `timeout_s must be more than 0 and at most ${MAX_TIMEOUT_S}`

/** A `code` node's config (under `config:`, as in the original). */
const Config = Schema.Struct({
  /** The state field holding the task (default `task`). */
  input: Schema.optional(Schema.String),
  /** The script's wall-clock limit, in seconds (default 30). */
  timeout_s: Schema.optional(Schema.Number.pipe(Schema.greaterThan(0, { message: () => TIMEOUT_BOUNDS }), Schema.lessThanOrEqualTo(MAX_TIMEOUT_S, { message: () => TIMEOUT_BOUNDS }))),
  /** Overrides the instructions. */
  instructions: Schema.optional(Schema.String),
  ...providerFields
})

const FENCE = /^```[a-zA-Z0-9]*\n([\s\S]*?)\n?```\s*$/

/** One markdown code fence around a script removed (the original's `strip_code_fences`); the script trimmed otherwise. */
export const stripCodeFences = (code: string): string => {
  const match = FENCE.exec(code.trim())
  return match !== null ? match[1]! : code.trim()
}

/** What `stub: true` writes. */
const STUB_CODE = "print('stub')"
const STUB_RESULT = { stdout: "stub\n", stderr: "", exit_code: 0, timed_out: false, truncated: false }

/** `pass` when the run exited 0 within its time, else `fail`. */
const verdictOf = (result: unknown): "pass" | "fail" => {
  const r = result as { readonly exit_code?: unknown; readonly timed_out?: unknown } | null
  return r !== null && typeof r === "object" && r.exit_code === 0 && r.timed_out !== true ? "pass" : "fail"
}

const settingsOf = (node: { readonly config?: typeof Config.Type | undefined }) => node.config ?? {}

/** The `code` kind. */
export const CodeKind = NodeKind.make({
  name: "code",
  summary:
    "Generate-then-run: a language model writes a Python script for config.input (default task), which runs through std.python_exec@1 (needs the tools:std:exec capability); writes code, run_result and verdict (pass when it exits 0). Both calls are recorded. config.stub: true answers offline.",
  fields: nodeFields(Config),
  check: (node, ctx) => {
    const config = settingsOf(node)
    const provider = checkProvider(config)
    if (provider !== undefined) return provider
    const input = checkInput("code", config.input, DEFAULT_INPUT, ctx)
    if (input !== undefined) return input
    for (const field of ["code", "verdict"]) {
      const problem = checkWrite(field, { _tag: "str" }, ["kind"], ctx, true)
      if (problem !== undefined) return { ...problem, message: `code ${problem.message}` }
    }
    const result = checkWrite("run_result", { _tag: "dict" }, ["kind"], ctx, true)
    if (result !== undefined) return { ...result, message: `code ${result.message} (run_result is {stdout, stderr, exit_code, timed_out, truncated})` }
    return undefined
  },
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const config = settingsOf(node)
      const tool = yield* resolveTool(PYTHON_EXEC_TOOL, ["kind"], ctx)
      const run = liveRun(tool, { sourceOf: () => "the model's script" })
      const input = config.input ?? DEFAULT_INPUT
      const timeout_s = config.timeout_s ?? 30
      const generate = lmExecutor({
        kind: "code",
        prompt: {
          signature: { inputs: [{ name: input, type: { _tag: "str" } }], outputs: [{ name: "code", type: { _tag: "str" } }] },
          instructions: config.instructions?.trim() || INSTRUCTIONS,
          module: "cot"
        },
        provider: providerOf(config),
        reads: [{ input, field: input }],
        post: (outputs) => {
          const code = stripCodeFences(typeof outputs["code"] === "string" ? outputs["code"] : JSON.stringify(outputs["code"]) ?? "")
          return code === "" ? Either.left({ field: "code", message: "the model wrote an empty script" }) : Either.right({ code })
        },
        retry: node.retry,
        timeout_ms: node.timeout_ms,
        // The script's capabilities, before a live generation: an ungranted run fails before
        // it pays for a model call. A replay answers the generation and demands nothing.
        beforeLive: (at) => Effect.forEach(tool.capabilities, (c) => Capabilities.demand(c), { discard: true }).pipe(Effect.mapError((e) => located(e, tool, at)))
      })
      return {
        hashes: { tools: tool.key },
        needsModel: needsModel(config),
        execute: (state, at) => {
          if (config.stub === true) {
            return Effect.succeed<NodeOutcome>({ _tag: "Update", update: { code: STUB_CODE, run_result: STUB_RESULT, verdict: "pass" } })
          }
          return Effect.gen(function*() {
            const generated = yield* generate(state, at)
            const code = generated._tag === "Update" ? generated.update["code"] : undefined
            if (typeof code !== "string") {
              return yield* new ModelOutputError({ nodeId: at.nodeId, step: at.step, field: "code", completion: "", attempts: 1, message: "the generation wrote no script", fix: "the run's cassette is damaged: record the run again" })
            }
            const args = { code, timeout_s }
            const live = Effect.suspend(() => run(args)).pipe(Effect.mapError((e) => located(e, tool, at)))
            const result = yield* at.calls.callEffect(`tool.${tool.id}`, { tool: tool.key, args }, live)
            return { _tag: "Update", update: { code, run_result: result, verdict: verdictOf(result) } } satisfies NodeOutcome
          })
        }
      }
    })
})
