/**
 * The explicit-caller trigger behind `stargraph run` and `POST /v1/runs`: both call
 * `enqueue`, which goes through `Scheduler.enqueue` to a pending row, so the CLI and the
 * HTTP API see identical run records and idempotency (the spec's convergence guarantee).
 */
import * as Effect from "effect/Effect"
import { type CheckpointError, type InputError, type LanguageModelError, type RunStateError, type SchedulerError, StargraphRuntimeError, type StateValidationError, type ThreadError } from "../errors.js"
import type { Enqueued, EnqueueOptions, SchedulerShape } from "../scheduler/Scheduler.js"
import type { Trigger } from "./Trigger.js"

/** The manual trigger: a Trigger plus `enqueue`. */
export interface ManualTrigger extends Trigger {
  /** Enqueue a run; returns its real, persisted run id (and the summary Deferred). `breakpoints`: where it pauses (see `EnqueueOptions`). */
  readonly enqueue: (
    graphId: string,
    params: { readonly [field: string]: unknown },
    idempotencyKey?: string,
    actor?: string,
    /** The run's breakpoints and thread (see `EnqueueOptions`). */
    options?: Pick<EnqueueOptions, "interruptBefore" | "interruptAfter" | "breakpointFields" | "threadId" | "skipFailed">
  ) => Effect.Effect<Enqueued, SchedulerError | StateValidationError | InputError | CheckpointError | RunStateError | ThreadError | LanguageModelError | StargraphRuntimeError>
}

/** A fresh manual trigger; `init` must receive the scheduler before `enqueue` works. */
export const make = (): ManualTrigger => {
  let scheduler: SchedulerShape | undefined
  return {
    name: "manual",
    init: (deps) =>
      Effect.suspend(() => {
        if (deps.scheduler === undefined) {
          return Effect.fail(new StargraphRuntimeError({ message: "ManualTrigger.init requires deps.scheduler" }))
        }
        scheduler = deps.scheduler
        return Effect.void
      }),
    start: () => undefined,
    stop: () => undefined,
    routes: () => [],
    enqueue: (graphId, params, idempotencyKey, actor, options) =>
      Effect.suspend((): Effect.Effect<Enqueued, SchedulerError | StateValidationError | InputError | CheckpointError | RunStateError | ThreadError | LanguageModelError | StargraphRuntimeError> =>
        scheduler === undefined
          ? Effect.fail(new StargraphRuntimeError({ message: "ManualTrigger.enqueue called before init: start the triggers first" }))
          : scheduler.enqueue(graphId, params, { idempotencyKey, actor: actor ?? "manual", ...options })
      )
  }
}
