/**
 * Built-in node kinds compiled to executors: `set` (templated constants), `function`
 * (a module export), `interrupt` (human input) and `noop`; plus router functions for
 * conditional edges.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { NodeExecutionError, NodeModuleError, ReplayDivergenceError } from "../errors.js"
import { echoField, type NodeSpec } from "../ir/schema.js"
import type { State } from "../ir/stateSchema.js"
import { liveCalls, type NodeCalls } from "./calls.js"
import { expand } from "../ir/template.js"

/** What a node sees besides the state. */
export interface NodeContext extends NodeCalls {
  readonly runId: string
  readonly nodeId: string
  readonly step: number
  /** 1-based attempt number under a retry policy. */
  readonly attempt: number
}

/**
 * The signature of a `function` node export: return an object of state updates (or
 * nothing), synchronously, as a Promise, or as an Effect with no requirements.
 */
export type NodeFunction = (
  state: State,
  ctx: NodeContext
) => State | void | undefined | null | Promise<State | void | undefined | null> | Effect.Effect<State | void | undefined | null, unknown>

/** A router export: return the next node id (or several, or `__end__`). */
export type RouterFunction = (state: State) => string | ReadonlyArray<string> | Promise<string | ReadonlyArray<string>>

/** Result of executing one node. */
export type NodeOutcome =
  | { readonly _tag: "Update"; readonly update: State }
  | { readonly _tag: "Interrupt"; readonly prompt: string; readonly responseField: string }

/** Inputs beyond state: the response to an interrupt, when resuming one. */
export interface ExecuteOptions {
  readonly response?: { readonly value: unknown } | undefined
  /** The step recorder's calls for this node (live and unrecorded when absent). */
  readonly calls?: NodeCalls | undefined
}

/** A compiled node. */
export type Executor = (
  state: State,
  ctx: { readonly runId: string; readonly nodeId: string; readonly step: number },
  options: ExecuteOptions
) => Effect.Effect<NodeOutcome, NodeExecutionError | ReplayDivergenceError>

const render = (cause: unknown): string => {
  if (cause instanceof Error) {
    const stack = cause.stack?.split("\n").slice(0, 4).join("\n")
    return stack ?? `${cause.name}: ${cause.message}`
  }
  if (cause !== null && typeof cause === "object" && "_tag" in cause) {
    const tagged = cause as { readonly _tag: unknown; readonly message?: unknown }
    return `${String(tagged._tag)}: ${String(tagged.message ?? JSON.stringify(cause))}`
  }
  return typeof cause === "string" ? cause : JSON.stringify(cause)
}

const asUpdate = (value: unknown, nodeId: string, step: number, attempt: number): Effect.Effect<NodeOutcome, NodeExecutionError> => {
  if (value === undefined || value === null) return Effect.succeed({ _tag: "Update", update: {} })
  if (typeof value !== "object" || Array.isArray(value)) {
    return Effect.fail(new NodeExecutionError({
      nodeId,
      step,
      attempts: attempt,
      cause: `node returned ${Array.isArray(value) ? "an array" : `a ${typeof value}`}; return an object of state updates such as { count: 1 }`
    }))
  }
  return Effect.succeed({ _tag: "Update", update: value as State })
}

const callFunction = (fn: NodeFunction, state: State, ctx: NodeContext): Effect.Effect<NodeOutcome, NodeExecutionError | ReplayDivergenceError> => {
  const failed = (cause: unknown) =>
    cause instanceof ReplayDivergenceError
      ? cause
      : new NodeExecutionError({ nodeId: ctx.nodeId, step: ctx.step, attempts: ctx.attempt, cause: render(cause) })
  const defectsFail = Effect.catchAllDefect((defect: unknown) => Effect.fail(failed(defect)))
  return Effect.suspend(() => {
    let result: ReturnType<NodeFunction>
    try {
      result = fn(state, ctx)
    } catch (cause) {
      return Effect.fail(failed(cause))
    }
    if (Effect.isEffect(result)) {
      return Effect.flatMap(Effect.mapError(result, failed), (v) => asUpdate(v, ctx.nodeId, ctx.step, ctx.attempt)).pipe(defectsFail)
    }
    if (result instanceof Promise) {
      return Effect.flatMap(
        Effect.tryPromise({ try: () => result as Promise<unknown>, catch: failed }),
        (v) => asUpdate(v, ctx.nodeId, ctx.step, ctx.attempt)
      )
    }
    // A plain value: nothing ran inside Effect, so there is no defect to catch.
    return asUpdate(result, ctx.nodeId, ctx.step, ctx.attempt)
  })
}

/** Compile a `function` node around its resolved export. */
export const functionExecutor = (spec: Extract<NodeSpec, { kind: "function" }>, fn: NodeFunction): Executor => {
  const attempts = spec.retry?.max_attempts ?? 1
  const backoff = Duration.millis(spec.retry?.backoff_ms ?? 0)
  return (state, ctx, options) => {
    let attempt = 0
    const calls = options.calls ?? liveCalls
    const once = Effect.suspend(() => {
      attempt += 1
      const call = callFunction(fn, state, { ...ctx, ...calls, attempt })
      return spec.timeout_ms === undefined ? call : call.pipe(
        Effect.timeoutFail({
          duration: Duration.millis(spec.timeout_ms),
          onTimeout: () =>
            new NodeExecutionError({
              nodeId: ctx.nodeId,
              step: ctx.step,
              attempts: attempt,
              cause: `timed out after ${spec.timeout_ms} ms (timeout_ms)`
            })
        })
      )
    })
    return attempts <= 1 ? once : once.pipe(
      Effect.retry({ times: attempts - 1, schedule: Schedule.spaced(backoff), while: (e) => e._tag === "NodeExecutionError" })
    )
  }
}

/** Compile a built-in node kind (everything but `function`). */
export const builtinExecutor = (spec: Exclude<NodeSpec, { kind: "function" }>): Executor => {
  switch (spec.kind) {
    case "set":
      return (state) => Effect.sync(() => ({ _tag: "Update", update: expand(spec.values, state) as State }))
    case "noop":
    case "passthrough":
    case "halt":
      return () => Effect.succeed({ _tag: "Update", update: {} })
    case "echo": {
      const field = echoField(spec)
      return (state) => Effect.succeed({ _tag: "Update", update: { [field]: state[field] ?? null } })
    }
    case "interrupt":
      return (_state, _ctx, options) =>
        Effect.succeed(
          options.response
            ? { _tag: "Update", update: { [spec.response_field]: options.response.value } }
            : { _tag: "Interrupt", prompt: spec.prompt, responseField: spec.response_field }
        )
  }
}

/** Check that a resolved export is callable. */
export const asFunction = <F>(
  value: unknown,
  ref: { readonly nodeId: string; readonly module: string; readonly exportName: string }
): Effect.Effect<F, NodeModuleError> =>
  typeof value === "function"
    ? Effect.succeed(value as F)
    : Effect.fail(new NodeModuleError({
      ...ref,
      reason: "not-a-function",
      message: `export '${ref.exportName}' of '${ref.module}' is a ${typeof value}, not a function`,
      fix: `export a function (state, ctx) => ({ ...updates }) named '${ref.exportName}'`
    }))
