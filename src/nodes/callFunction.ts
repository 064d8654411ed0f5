/**
 * Calling user code as a node: a function `(state, ctx) => update` that returns a value, a
 * Promise or an Effect, under the node's retry policy and timeout, with `ctx.interrupt`
 * for human input. Whatever it throws or fails with becomes a `NodeExecutionError` that
 * keeps the original error.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { NodeExecutionError, NodeModuleError, ReplayDivergenceError } from "../errors.js"
import { checkJson, isPlainObject } from "../ir/json.js"
import type { State } from "../ir/stateSchema.js"
import { type NodeCalls, neverAnswered, Unrecorded } from "./calls.js"
import type { Executor, InterruptRequest, NodeContext, NodeFailure, NodeFunction, NodeInput, NodeOutcome } from "./Executor.js"

/** Retry and timeout of a node that runs user code. */
export interface CallPolicy {
  readonly retry?: { readonly max_attempts: number; readonly backoff_ms?: number | undefined } | undefined
  readonly timeout_ms?: number | undefined
}

/** Thrown by `ctx.interrupt` to stop the node; never seen by the run loop, never recorded as the call's failure. */
class InterruptSignal extends Error {
  readonly [Unrecorded] = true
  constructor() {
    super("the node asked for input (ctx.interrupt); the run waits for a response")
  }
}

/** The error's text: message plus the head of its stack, or its tag and message. */
export const renderCause = (cause: unknown): string => {
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

const tagOf = (cause: unknown): string | undefined => {
  if (cause !== null && typeof cause === "object" && "_tag" in cause && typeof cause._tag === "string") return cause._tag
  return cause instanceof Error ? cause.name : undefined
}

/** What V8 says when code changes a frozen object (the run state a node reads is frozen). */
const CHANGED_FROZEN = /^(Cannot assign to read only property|Cannot add property .*, object is not extensible|Cannot delete property|Cannot define property .*, object is not extensible)/

/** The error's text with the fix for a node that changed the state it reads, at the end of its first line. */
const withStateHint = (cause: unknown, text: string): string => {
  if (!(cause instanceof TypeError && CHANGED_FROZEN.test(cause.message))) return text
  const [first = "", ...rest] = text.split("\n")
  return [
    `${first} (fix: the state a node reads is read-only; return the fields the node changes, e.g. { count: state.count + 1 }, or { log: [entry] } for an append field, and copy a value before changing it: [...state.items].sort())`,
    ...rest
  ].join("\n")
}

/** A `NodeExecutionError` that keeps `cause` as its `error`. */
export const nodeFailed = (input: { readonly nodeId: string; readonly step: number }, attempts: number, cause: unknown): NodeExecutionError =>
  new NodeExecutionError({
    nodeId: input.nodeId,
    step: input.step,
    attempts,
    cause: withStateHint(cause, renderCause(cause)),
    ...(tagOf(cause) !== undefined ? { errorTag: tagOf(cause) } : {}),
    error: cause
  })

/** What a node returned instead of an object of updates, for its error. */
const describeReturn = (value: unknown): string => {
  if (Array.isArray(value)) return "an array"
  if (typeof value !== "object" || value === null) return `a ${typeof value}`
  const name: unknown = (Object.getPrototypeOf(value) as { readonly constructor?: { readonly name?: unknown } } | null)?.constructor?.name
  return typeof name === "string" && name !== "" && name !== "Object" ? `a ${name}` : "an object that inherits its fields from a prototype"
}

/** Check a node's return value: an object of updates, or nothing. */
export const asUpdate = (value: unknown, input: { readonly nodeId: string; readonly step: number }, attempt: number): Effect.Effect<NodeOutcome, NodeExecutionError> => {
  if (value === undefined || value === null) return Effect.succeed({ _tag: "Update", update: {} })
  if (typeof value !== "object" || Array.isArray(value) || !isPlainObject(value)) {
    return Effect.fail(new NodeExecutionError({
      nodeId: input.nodeId,
      step: input.step,
      attempts: attempt,
      cause: `node returned ${describeReturn(value)}; return an object of state updates such as { count: 1 }`
    }))
  }
  return Effect.succeed({ _tag: "Update", update: value as State })
}

/** Interrupt requests a node made while it ran (`ctx.interrupt` without an answer). */
interface Asked {
  pending: InterruptRequest | undefined
}

/** `ctx.emit`: `data`, checked to be JSON and copied (the node may change its object later), as a `node.custom` event. */
const publish = (input: NodeInput, data: unknown): void => {
  const problem = checkJson(data ?? null, "data")
  if (problem) throw new TypeError(`ctx.emit: ${problem.path}: ${problem.message}`)
  const emitCustom = input.emitCustom
  if (emitCustom !== undefined) Effect.runSync(emitCustom(JSON.parse(JSON.stringify(data ?? null)), input.nodeId, input.step))
}

/** The context a node function sees, with `ctx.interrupt` answered from `input.answers`. */
const contextFor = (input: NodeInput, attempt: number, asked: Asked): NodeContext => {
  const calls = input.calls
  let count = 0
  // A literal of fixed shape (no spread): built for every call of every node.
  return {
    call: calls.call,
    callEffect: calls.callEffect,
    now: calls.now,
    random: calls.random,
    // Getters: the Effects are made only for a node that uses them.
    get nowEffect() {
      return calls.callEffect("clock.now", null, Effect.sync(() => Date.now()))
    },
    get randomEffect() {
      return calls.callEffect("random", null, Effect.sync(() => Math.random()))
    },
    runId: input.runId,
    nodeId: input.nodeId,
    step: input.step,
    attempt,
    emit: (data) => publish(input, data),
    interrupt: (prompt, options) => {
      const index = count++
      const payload = options?.payload
      // Through the cassette: a replay gets the recorded answer back.
      return calls.call("interrupt", { prompt, index, ...(payload !== undefined ? { payload } : {}) }, () => {
        // Answered live only with an answer given to this run: a recorded one answered the
        // same question (its recorded call), never another (a fork that changed the prompt asks).
        if (input.answersRecorded !== true && index < input.answers.length) return input.answers[index]
        asked.pending ??= { prompt, responseField: "", payload, answered: index }
        throw new InterruptSignal()
      })
    }
  }
}

/** The node's outcome once it returned `value`: its interrupt request if it made one, else its update. */
const returned = (value: unknown, input: NodeInput, attempt: number, asked: Asked): Effect.Effect<NodeOutcome, NodeExecutionError> => {
  // Calls it started and did not wait for answer nobody: given up, not recorded when they answer.
  input.calls.abandonPending?.(true, true)
  return asked.pending === undefined ? asUpdate(value, input, attempt) : Effect.succeed({ _tag: "Interrupt", ...asked.pending })
}

/** The node's outcome once it failed with `cause`: its interrupt request if it made one, else the failure. */
const failed = (cause: unknown, input: NodeInput, attempt: number, asked: Asked): Effect.Effect<NodeOutcome, NodeFailure> => {
  input.calls.abandonPending?.(true, true)
  return asked.pending !== undefined
    ? Effect.succeed({ _tag: "Interrupt", ...asked.pending })
    : Effect.fail(cause instanceof ReplayDivergenceError ? cause : nodeFailed(input, attempt, cause))
}

/**
 * The calls of one attempt of a node that may time out or retry. Once the attempt is over
 * (`close`), its calls still waiting are given up, and its code, which may still be running
 * after a timeout, gets no answer to a call it makes and records nothing, in a live run as
 * in a replay.
 */
const attemptScope = (calls: NodeCalls): { readonly calls: NodeCalls; readonly close: () => void } => {
  let open = true
  return {
    calls: {
      call: (name, request, live) => (open ? calls.call(name, request, live) : neverAnswered),
      callEffect: (name, request, live, canonical) => Effect.suspend(() => (open ? calls.callEffect(name, request, live, canonical) : Effect.never)),
      now: () => (open ? calls.now() : neverAnswered),
      random: () => (open ? calls.random() : neverAnswered),
      // The attempt is done, not the node: a retry makes calls of its own.
      abandonPending: (returned, final) => {
        if (final === true) open = false
        calls.abandonPending?.(returned, false)
      }
    },
    close: () => {
      open = false
      calls.abandonPending?.(false)
    }
  }
}

const once = (fn: NodeFunction<unknown, unknown>, state: State, input: NodeInput, attempt: number): Effect.Effect<NodeOutcome, NodeFailure> =>
  Effect.suspend(() => {
    const asked: Asked = { pending: undefined }
    let result: ReturnType<NodeFunction<unknown, unknown>>
    try {
      result = fn(state, contextFor(input, attempt, asked))
    } catch (cause) {
      return failed(cause, input, attempt, asked)
    }
    if (Effect.isEffect(result)) {
      // The Effect's requirements are the app's: they are in the fiber that drives the run.
      const effect = result as Effect.Effect<unknown, unknown>
      return Effect.matchCauseEffect(effect, {
        onSuccess: (value) => returned(value, input, attempt, asked),
        onFailure: (cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause as Cause.Cause<never>)
            : failed(Option.getOrElse(Cause.failureOption(cause), () => Option.getOrElse(Cause.dieOption(cause), () => Cause.pretty(cause))), input, attempt, asked)
      })
    }
    if (result instanceof Promise) {
      return Effect.flatMap(
        Effect.either(Effect.tryPromise({ try: () => result as Promise<unknown>, catch: (cause) => cause })),
        (either) => (either._tag === "Right" ? returned(either.right, input, attempt, asked) : failed(either.left, input, attempt, asked))
      )
    }
    // A plain value: nothing ran inside Effect, so there is no defect to catch.
    return returned(result, input, attempt, asked)
  })

/** An executor that calls `fn` under `policy` (retries only `NodeExecutionError`s). */
export const functionExecutor = (fn: NodeFunction<unknown, unknown>, policy: CallPolicy): Executor => {
  const attempts = policy.retry?.max_attempts ?? 1
  const backoff = Duration.millis(policy.retry?.backoff_ms ?? 0)
  const timeout = policy.timeout_ms
  return (state, input) => {
    let attempt = 0
    const one = Effect.suspend(() => {
      attempt += 1
      if (timeout === undefined && attempts <= 1) return once(fn, state, input, attempt)
      const scope = attemptScope(input.calls)
      const call = once(fn, state, { ...input, calls: scope.calls }, attempt)
      const timed = timeout === undefined ? call : call.pipe(
        Effect.timeoutFail({
          duration: Duration.millis(timeout),
          onTimeout: () =>
            new NodeExecutionError({ nodeId: input.nodeId, step: input.step, attempts: attempt, cause: `timed out after ${timeout} ms (timeout_ms)` })
        })
      )
      // The attempt is over (timed out, failed, or done): its calls still in flight are given
      // up, so that a late answer is not recorded as one the next attempt saw.
      return Effect.ensuring(timed, Effect.sync(scope.close))
    })
    return attempts <= 1 ? one : one.pipe(
      Effect.retry({ times: attempts - 1, schedule: Schedule.spaced(backoff), while: (e) => e._tag === "NodeExecutionError" })
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
