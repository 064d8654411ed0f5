/**
 * Per-trigger isolation: every lifecycle hook of every trigger runs, and each outcome is
 * a `DispatchResult` value. A trigger that throws, rejects, fails or dies is logged and
 * reported; the others still init, start and stop.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
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

const describe = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.squash(cause)
  return failure instanceof Error ? failure.message : typeof failure === "object" && failure !== null && "message" in failure
    ? String((failure as { message: unknown }).message)
    : String(failure)
}

const isolate = <A>(trigger: Trigger, phase: string, run: () => Effect.Effect<A, unknown>): Effect.Effect<DispatchResult<A>> =>
  run().pipe(
    Effect.map((result): DispatchResult<A> => ({ pluginName: trigger.name, success: true, result })),
    Effect.catchAllCause((cause) =>
      Effect.gen(function*() {
        const error = new TriggerError({
          reason: "lifecycle-failed",
          triggerId: trigger.name,
          message: `${phase} failed: ${describe(cause)}`,
          fix: `fix or remove the trigger '${trigger.name}'; the other triggers carry on`
        })
        trace("trigger.lifecycle.failed", { plugin: trigger.name, phase, error: error.message })
        yield* Effect.logError(`trigger ${trigger.name}: ${error.message}`)
        return { pluginName: trigger.name, success: false, error }
      })
    )
  )

/** Run `phase` on every trigger, in order, isolating each. Never fails. */
export const dispatchTriggerLifecycle = (
  phase: LifecyclePhase,
  triggers: ReadonlyArray<Trigger>,
  deps: TriggerDeps
): Effect.Effect<ReadonlyArray<DispatchResult>> =>
  Effect.forEach(triggers, (trigger) =>
    isolate(trigger, phase, () => hookEffect(() => (phase === "init" ? trigger.init(deps) : trigger[phase]()))))

/** Every trigger's routes, isolating each trigger's `routes()` the same way. */
export const collectTriggerRoutes = (
  triggers: ReadonlyArray<Trigger>
): Effect.Effect<{ readonly routes: ReadonlyArray<TriggerRoute>; readonly results: ReadonlyArray<DispatchResult> }> =>
  Effect.map(
    Effect.forEach(triggers, (trigger) => isolate(trigger, "routes", () => hookEffect(() => trigger.routes()))),
    (results) => ({
      routes: results.flatMap((r) => (r.success && Array.isArray(r.result) ? (r.result as ReadonlyArray<TriggerRoute>) : [])),
      results
    })
  )
