/**
 * Calling user code as a node: a function `(state, ctx) => update` that returns a value, a
 * Promise or an Effect, under the node's retry policy and timeout, with `ctx.interrupt`
 * for human input. Whatever it throws or fails with becomes a `NodeExecutionError` that
 * keeps the original error. An attempt that is interrupted (cancel, timeout, a lost race,
 * a shutdown) aborts its `ctx.signal` and waits for a Promise body to settle, up to
 * {@link NodeAbortGrace}: the run's slot, or the retry, is not given up before.
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
import { NodeAbortGrace } from "./NodeAbortGrace.js"

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

/** What a failure with no error value (`throw undefined`, `Promise.reject()`, `Effect.fail(undefined)`) says. */
const NO_ERROR_VALUE = "the node failed with undefined (no error value)"

/**
 * A value as text, whatever it is: JSON when JSON can print it, else its own text
 * (`undefined`, a bigint as `10n`, a symbol, a function, an object that refers to itself);
 * never throws.
 */
export const valueText = (value: unknown): string => {
  if (typeof value === "bigint") return `${value}n`
  try {
    const json = JSON.stringify(value) as string | undefined
    if (json !== undefined) return json
  } catch {
    // A circular object, a bigint inside, a throwing toJSON: its own text below.
  }
  try {
    return String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** A string as itself, anything else as {@link valueText} gives it. */
const asText = (value: unknown): string => (typeof value === "string" ? value : valueText(value))

/** The error's text: message plus the head of its stack, or its tag and message, or the value itself. */
export const renderCause = (cause: unknown): string => {
  if (cause === undefined) return NO_ERROR_VALUE
  if (cause instanceof Error) {
    const stack = typeof cause.stack === "string" ? cause.stack.split("\n").slice(0, 4).join("\n") : undefined
    return stack ?? `${asText(cause.name)}: ${asText(cause.message)}`
  }
  if (cause !== null && typeof cause === "object" && "_tag" in cause) {
    const tagged = cause as { readonly _tag: unknown; readonly message?: unknown }
    return `${asText(tagged._tag)}: ${tagged.message === undefined || tagged.message === null ? valueText(cause) : asText(tagged.message)}`
  }
  return asText(cause)
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
  /** The attempt is over (the node returned or failed): what it publishes later (a timer's `ctx.emit`) is dropped. */
  ended: boolean
}

/** `ctx.emit`: `data`, checked to be JSON and copied (the node may change its object later), as a `node.custom` event. */
const publish = (input: NodeInput, data: unknown): void => {
  if (data === undefined) throw new TypeError("ctx.emit: data is undefined (nothing to publish); pass a JSON value, e.g. ctx.emit({ done: 3, of: 10 })")
  const problem = checkJson(data, "data")
  if (problem) throw new TypeError(`ctx.emit: ${problem.path}: ${problem.message}`)
  const emitCustom = input.emitCustom
  if (emitCustom !== undefined) Effect.runSync(emitCustom(JSON.parse(JSON.stringify(data)), input.nodeId, input.step))
}

/**
 * The `ctx.signal` of one attempt and why it was aborted. The controller is made when the
 * node first reads `ctx.signal` (most nodes never do); one read after the abort is aborted.
 */
interface Abort {
  controller: AbortController | undefined
  reason: DOMException | undefined
  /** Set by the attempt's own timer (`timeout_ms`) before it interrupts the attempt. */
  timedOutAfter: number | undefined
  /** Run when it fires: calls waiting with no live work behind them give up, the attempt's calls close. */
  listeners: Set<() => void> | undefined
}

const newAbort = (): Abort => ({ controller: undefined, reason: undefined, timedOutAfter: undefined, listeners: undefined })

const signalOf = (abort: Abort): AbortSignal => {
  if (abort.controller === undefined) {
    abort.controller = new AbortController()
    if (abort.reason !== undefined) abort.controller.abort(abort.reason)
  }
  return abort.controller.signal
}

/** Abort the attempt's signal, with the reason it was interrupted for (once). */
const fire = (abort: Abort, input: NodeInput): DOMException => {
  if (abort.reason !== undefined) return abort.reason
  const node = `node '${input.nodeId}' (step ${input.step}) of run ${input.runId}`
  abort.reason = abort.timedOutAfter !== undefined
    ? new DOMException(`${node} timed out after ${abort.timedOutAfter} ms (timeout_ms)`, "TimeoutError")
    : input.cancelling?.() === true
    ? new DOMException(`${node} was cancelled: its run was cancelled`, "AbortError")
    : new DOMException(`${node} was interrupted: its parallel group's race was decided without it, or the run was stopped from outside (a server shutting down, its caller interrupting it)`, "AbortError")
  abort.controller?.abort(abort.reason)
  const listeners = abort.listeners
  abort.listeners = undefined
  if (listeners !== undefined) for (const listener of listeners) listener()
  // The attempt is over: its calls in flight are given up now (recorded as abandoned), so
  // what they answer while the body winds down is not recorded as the step's.
  input.calls.abandonPending?.(false)
  return abort.reason
}

/**
 * A call of an attempt that may be interrupted. Once it is, a new call rejects with the
 * signal's reason (it would make a side effect for an attempt that is over), and so does a
 * call still waiting with no live work behind it (a replayed call the recording gave up
 * on, one made after the attempt's calls closed: they never answer, and the body waiting
 * for one could not return). A live call in flight answers as it would: its work is the
 * body's, waited for like the rest of it.
 */
const guarded = <A>(abort: Abort, make: (ran: () => void) => Promise<A>): Promise<A> => {
  if (abort.reason !== undefined) return handled(Promise.reject(abort.reason))
  let live = false as boolean
  // The recorder starts a live call before it returns its Promise.
  const promise = make(() => {
    live = true
  })
  if (live) return promise
  return handled(
    new Promise<A>((resolve, reject) => {
      const listener = () => reject(abort.reason)
      const listeners = (abort.listeners ??= new Set())
      listeners.add(listener)
      promise.then(resolve, reject).finally(() => listeners.delete(listener))
    })
  )
}

/** `promise`, its rejection handled: a call the body did not wait for, rejected by the abort, is no unhandled rejection (which stops Node). */
const handled = <A>(promise: Promise<A>): Promise<A> => {
  promise.catch(() => undefined)
  return promise
}

/** A body that did not return within the grace after its signal was aborted: said loudly, in the log and as a run event. */
const outlived = (input: NodeInput, reason: DOMException, graceMs: number): Effect.Effect<void> =>
  Effect.zipRight(
    Effect.logError(
      `node '${input.nodeId}' (step ${input.step}) of run ${input.runId} outlived its interruption: its body did not return within ${graceMs} ms ` +
        `of ctx.signal being aborted (${reason.message}); its slot is released and it runs on unseen (what it returns is dropped). ` +
        "Fix: make the node stop when ctx.signal aborts (pass it to fetch, or check signal.aborted)"
    ),
    input.outlived?.(input.nodeId, input.step, reason.message, graceMs) ?? Effect.void
  )

/**
 * Wait for a node's Promise. Interrupted, it aborts the attempt's signal and waits for the
 * Promise to settle, at most the grace ({@link NodeAbortGrace}, wall-clock time), so that
 * the run's slot (or the retry) is not given up while the body still runs.
 */
const settled = <A>(promise: Promise<A>, abort: Abort, input: NodeInput): Effect.Effect<A, unknown> =>
  Effect.async<A, unknown>((resume) => {
    let done = false
    let wake: (() => void) | undefined
    const settle = (result: Effect.Effect<A, unknown>) => {
      done = true
      wake?.()
      resume(result)
    }
    promise.then((value) => settle(Effect.succeed(value)), (cause: unknown) => settle(Effect.fail(cause)))
    // Interrupted: tell the body, then wait for it (the interruption waits for this Effect).
    return Effect.suspend(() => {
      const reason = fire(abort, input)
      if (done) return Effect.void
      return Effect.flatMap(NodeAbortGrace, (graceMs) =>
        Effect.flatMap(
          Effect.async<boolean>((back) => {
            if (done) return back(Effect.succeed(true))
            const timer = setTimeout(() => back(Effect.succeed(false)), graceMs)
            wake = () => {
              clearTimeout(timer)
              back(Effect.succeed(true))
            }
          }),
          (inTime) => (inTime ? Effect.void : outlived(input, reason, graceMs))
        ))
    })
  })

/** The context a node function sees, with `ctx.interrupt` answered from `input.answers`. */
const contextFor = (input: NodeInput, attempt: number, asked: Asked, abort: Abort): NodeContext => {
  const calls = input.calls
  let count = 0
  // A literal of fixed shape (no spread): built for every call of every node.
  const call: NodeCalls["call"] = (name, request, live) =>
    guarded(abort, (ran) =>
      calls.call(name, request, () => {
        ran()
        return live()
      }))
  return {
    call,
    callEffect: calls.callEffect,
    now: () => guarded(abort, () => calls.now()),
    random: () => guarded(abort, () => calls.random()),
    // Getters: the Effects are made only for a node that uses them.
    get nowEffect() {
      return calls.callEffect("clock.now", null, Effect.sync(() => Date.now()))
    },
    get randomEffect() {
      return calls.callEffect("random", null, Effect.sync(() => Math.random()))
    },
    get signal() {
      return signalOf(abort)
    },
    runId: input.runId,
    nodeId: input.nodeId,
    step: input.step,
    attempt,
    // After the attempt (it returned, or was interrupted) nothing is published: its step is over.
    emit: (data) => (asked.ended || abort.reason !== undefined ? undefined : publish(input, data)),
    interrupt: (prompt, options) => {
      const index = count++
      const payload = options?.payload
      // Through the cassette: a replay gets the recorded answer back.
      return call("interrupt", { prompt, index, ...(payload !== undefined ? { payload } : {}) }, () => {
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
  asked.ended = true
  // Calls it started and did not wait for answer nobody: given up, not recorded when they answer.
  input.calls.abandonPending?.(true, true)
  return asked.pending === undefined ? asUpdate(value, input, attempt) : Effect.succeed({ _tag: "Interrupt", ...asked.pending })
}

/** The node's outcome once it failed with `cause`: its interrupt request if it made one, else the failure. */
const failed = (cause: unknown, input: NodeInput, attempt: number, asked: Asked): Effect.Effect<NodeOutcome, NodeFailure> => {
  asked.ended = true
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
      callEffect: (name, request, live, options) => Effect.suspend(() => (open ? calls.callEffect(name, request, live, options) : Effect.never)),
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

const once = (fn: NodeFunction<unknown, unknown>, state: State, input: NodeInput, attempt: number, abort: Abort = newAbort()): Effect.Effect<NodeOutcome, NodeFailure> =>
  Effect.suspend(() => {
    const asked: Asked = { pending: undefined, ended: false }
    let result: ReturnType<NodeFunction<unknown, unknown>>
    try {
      result = fn(state, contextFor(input, attempt, asked, abort))
    } catch (cause) {
      return failed(cause, input, attempt, asked)
    }
    if (Effect.isEffect(result)) {
      // The Effect's requirements are the app's: they are in the fiber that drives the run.
      // Interrupted, it is interrupted as Effect does (its finalizers run before the slot is
      // given up), and its ctx.signal is aborted for the Promises it started.
      const effect = Effect.onInterrupt(result as Effect.Effect<unknown, unknown>, () => Effect.sync(() => fire(abort, input)))
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
        Effect.either(settled(result as Promise<unknown>, abort, input)),
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
      const abort = newAbort()
      // Interrupted, the attempt's calls close at once (a late answer is not recorded as one
      // the next attempt saw), though the body may still wait for those in flight.
      abort.listeners = new Set([scope.close])
      const call = once(fn, state, { ...input, calls: scope.calls }, attempt, abort)
      // The timer says why before it interrupts the attempt (its signal's reason), and the
      // race waits for the interrupted attempt (its body, up to the grace) before the retry.
      const timed = timeout === undefined ? call : Effect.raceFirst(
        call,
        Effect.zipRight(
          Effect.sleep(Duration.millis(timeout)),
          Effect.failSync(() => {
            abort.timedOutAfter = timeout
            return new NodeExecutionError({ nodeId: input.nodeId, step: input.step, attempts: attempt, cause: `timed out after ${timeout} ms (timeout_ms)` })
          })
        )
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
