/**
 * Per-trigger isolation: every lifecycle hook of every trigger runs, and each outcome is
 * a `DispatchResult` value. A trigger that throws, rejects, fails, dies or does not
 * settle in time is logged and reported; the others still init, start and stop.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { TriggerError } from "../errors.js"
import { hookEffect, type Trigger, type TriggerDeps, type TriggerRoute } from "./Trigger.js"
import { trace } from "./trace.js"

/** A lifecycle phase. */
export type LifecyclePhase = "init" | "start" | "stop"

/** The outcome of one trigger's hook. */
export interface DispatchResult<A = unknown> {
  readonly pluginName: string
  readonly success: boolean
  readonly result?: A | undefined
  readonly error?: TriggerError | undefined
}

/**
 * One line for whatever a hook threw, rejected with, failed or died with: the error's
 * own message (after its tag, for Effect's tagged errors), or, for errors without one,
 * its tag and its cause's message. Never a stack trace, and never a throw: a failure
 * whose properties cannot be read (a getter that throws, a revoked Proxy) is described
 * as such.
 */
export const describeFailure = (failure: unknown, depth = 0): string => {
  try {
    return describeUnguarded(failure, depth)
  } catch {
    return "a failure whose properties cannot be read"
  }
}

const describeUnguarded = (failure: unknown, depth: number): string => {
  if (typeof failure === "string") return failure
  if (typeof failure !== "object" || failure === null) return String(failure)
  const record = failure as { readonly message?: unknown; readonly _tag?: unknown; readonly name?: unknown; readonly cause?: unknown; readonly code?: unknown }
  const tag = typeof record._tag === "string" ? record._tag : ""
  const own = typeof record.message === "string" ? record.message.split("\n")[0]!.trim() : ""
  // A `Schema.TaggedError`'s message defaults to its fields as JSON: it says nothing without the tag.
  const message = own !== "" && tag !== "" && !own.startsWith(tag) ? `${tag}: ${own}` : own
  const cause = record.cause !== undefined && record.cause !== failure && depth < 5 ? describeFailure(record.cause, depth + 1) : ""
  if (message !== "") return cause === "" || message.includes(cause) ? message : `${message}: ${cause}`
  const label = tag !== "" ? tag : typeof record.name === "string" && record.name !== "Error" ? record.name : ""
  const code = typeof record.code === "string" ? record.code : ""
  const parts = [label, code, cause].filter((p) => p !== "")
  if (parts.length > 0) return parts.join(": ")
  try {
    return JSON.stringify(failure) ?? String(failure)
  } catch {
    return String(failure)
  }
}

const describe = (cause: Cause.Cause<unknown>): string =>
  Cause.isInterruptedOnly(cause) ? "interrupted" : describeFailure(Cause.squash(cause)) || "failed without a message"

/** Log and trace a trigger's failure, and return its `DispatchResult`. */
export const reportFailure = (pluginName: string, phase: string, error: TriggerError): Effect.Effect<DispatchResult<never>> =>
  Effect.gen(function*() {
    trace("trigger.lifecycle.failed", { plugin: pluginName, phase, error: error.message })
    yield* Effect.logError(`trigger ${pluginName}: ${error.message}`)
    return { pluginName, success: false, error }
  })

/**
 * How long a lifecycle hook may take (default 10 s): one that has not settled by then is
 * reported failed, so it cannot hold up the other triggers or the server.
 */
export const HOOK_TIMEOUT_MS = 10_000

const isolate = <A>(trigger: Trigger, phase: string, run: () => Effect.Effect<A, unknown>, timeoutMs = HOOK_TIMEOUT_MS): Effect.Effect<DispatchResult<A>> =>
  run().pipe(
    Effect.map((result): DispatchResult<A> => ({ pluginName: trigger.name, success: true, result })),
    Effect.timeout(Duration.millis(timeoutMs)),
    Effect.catchAllCause((cause) => {
      const failure = Cause.failureOption(cause)
      const timedOut = Option.isSome(failure) && Cause.isTimeoutException(failure.value)
      return reportFailure(
        trigger.name,
        phase,
        new TriggerError({
          reason: "lifecycle-failed",
          triggerId: trigger.name,
          message: timedOut ? `${phase} did not finish within ${timeoutMs} ms` : `${phase} failed: ${describe(cause)}`,
          fix: timedOut
            ? `make '${trigger.name}'.${phase}() return once it is done: start a poll loop without awaiting it (end it in stop()); the other triggers carry on`
            : `fix or remove the trigger '${trigger.name}'; the other triggers carry on`
        })
      )
    })
  )

/**
 * Run `phase` on every trigger, in order, isolating each (a hook that has not settled
 * after `timeoutMs`, default {@link HOOK_TIMEOUT_MS}, is reported failed). Never fails.
 */
export const dispatchTriggerLifecycle = (
  phase: LifecyclePhase,
  triggers: ReadonlyArray<Trigger>,
  deps: TriggerDeps,
  timeoutMs?: number
): Effect.Effect<ReadonlyArray<DispatchResult>> =>
  Effect.forEach(triggers, (trigger) =>
    isolate(trigger, phase, () => hookEffect(() => (phase === "init" ? trigger.init(deps) : trigger[phase]())), timeoutMs))

/** Every trigger's routes, isolating each trigger's `routes()` the same way. */
export const collectTriggerRoutes = (
  triggers: ReadonlyArray<Trigger>,
  timeoutMs?: number
): Effect.Effect<{ readonly routes: ReadonlyArray<TriggerRoute>; readonly results: ReadonlyArray<DispatchResult> }> =>
  Effect.map(
    Effect.forEach(triggers, (trigger) => isolate(trigger, "routes", () => hookEffect(() => trigger.routes()), timeoutMs)),
    (results) => ({
      routes: results.flatMap((r) => (r.success && Array.isArray(r.result) ? (r.result as ReadonlyArray<TriggerRoute>) : [])),
      results
    })
  )
