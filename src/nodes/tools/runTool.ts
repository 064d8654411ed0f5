/**
 * One live call of a tool, as every node that calls tools makes it (the `tool` kind, the
 * `react` agent): its arguments decoded with the tool's input Schema, its capabilities
 * demanded, its `run` (a throw or a missing service as a `ToolError[failed]`), an optional
 * time limit, and its result encoded with its output Schema to JSON. The caller wraps it
 * in the step's cassette (`tool.<id>`, request `{tool: "id@version", args}`), so a replay
 * answers from the recording and never gets here.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { ToolError } from "../../errors.js"
import { checkJson } from "../../ir/json.js"
import { firstIssue } from "../../ir/parseIssue.js"
import * as Capabilities from "./Capabilities.js"
import type { Tool } from "./Tool.js"

/** The longest issue text an error repeats: a Schema issue quotes the whole value it refused. */
const MAX_ISSUE = 300

/** An issue's text, cut to {@link MAX_ISSUE} characters (a 150 KB document is not an error message). */
export const issueText = (message: string): string =>
  message.length <= MAX_ISSUE ? message : `${message.slice(0, MAX_ISSUE)}… (${message.length.toLocaleString("en-US")} characters in all)`

/** How {@link liveRun} is set up for one tool (built once per node). */
export interface RunOptions {
  /** Time limit of one call, in ms (none when undefined). */
  readonly timeoutMs?: number | undefined
  /** Where an argument's value came from, for the fix of an `invalid-input` error. */
  readonly sourceOf: (argument: string | undefined) => string
}

/** A live runner of `tool`: `args` (JSON) → its encoded result, or a `ToolError` (not yet located at a node). */
export const liveRun = (tool: Tool, options: RunOptions): (args: unknown) => Effect.Effect<unknown, ToolError> => {
  const decodeArgs = Schema.decodeUnknownEither(tool.input, { onExcessProperty: "error" })
  const encodeResult = Schema.encodeEither(tool.output)
  const timeout = options.timeoutMs
  return (args) =>
    Effect.gen(function*() {
      const decoded = decodeArgs(args)
      if (Either.isLeft(decoded)) {
        const issue = firstIssue(decoded.left)
        const arg = issue?.path[0] === undefined ? undefined : String(issue.path[0])
        return yield* new ToolError({
          reason: "invalid-input",
          ...(arg !== undefined ? { argument: arg } : {}),
          message: `${issue?.path.length ? `${issue.path.map(String).join(".")}: ` : ""}${issueText(issue?.message ?? "invalid arguments")}`,
          fix: `the value comes from ${options.sourceOf(arg)}; make it fit the tool's input`
        })
      }
      for (const capability of tool.capabilities) yield* Capabilities.demand(capability)
      const called = Effect.suspend(() => {
        const effect: unknown = tool.run(decoded.right)
        return Effect.isEffect(effect)
          ? (effect as Effect.Effect<unknown, ToolError>)
          : Effect.fail(new ToolError({ reason: "failed", message: `its run returned ${effect instanceof Promise ? "a Promise" : `a ${typeof effect}`}, not an Effect`, fix: "return an Effect from run: Effect.succeed(result), or Effect.tryPromise(() => …) for a Promise" }))
      }).pipe(
        Effect.catchAllDefect((defect) => {
          const message = defect instanceof Error ? defect.message : String(defect)
          return Effect.fail(
            message.startsWith("Service not found")
              ? new ToolError({ reason: "failed", message: `the tool needs a service the run does not have: ${message}`, fix: "provide it to the Effect that calls run.start() (or to the Scheduler's layer)" })
              : new ToolError({ reason: "failed", message: `the tool threw: ${message}`, fix: "fix the tool: its run should fail with a ToolError, not throw" })
          )
        })
      )
      const result = yield* (timeout === undefined ? called : called.pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => new ToolError({ reason: "timeout", message: `the call took more than ${timeout} ms (timeout_ms)`, fix: "raise timeout_ms, or make the call faster" }) })
      ))
      const encoded = encodeResult(result)
      if (Either.isLeft(encoded)) {
        return yield* new ToolError({ reason: "invalid-output", message: `its result does not fit its output Schema: ${ParseResult.TreeFormatter.formatErrorSync(encoded.left)}`, fix: "fix the tool so that run returns what its output Schema declares" })
      }
      const problem = checkJson(encoded.right, "result")
      if (problem !== undefined) {
        return yield* new ToolError({ reason: "invalid-output", message: `${problem.path}: ${problem.message}`, fix: "a tool's output Schema must encode to JSON" })
      }
      return encoded.right
    })
}

/** A tool's `ToolError`, with the tool, node and step it happened at. */
export const located = (error: ToolError, tool: Tool, at: { readonly nodeId: string; readonly step: number }): ToolError =>
  new ToolError({
    reason: error.reason,
    tool: tool.key,
    nodeId: at.nodeId,
    step: at.step,
    ...(error.argument !== undefined ? { argument: error.argument } : {}),
    ...(error.capability !== undefined ? { capability: error.capability } : {}),
    message: error.message,
    fix: error.fix
  })
