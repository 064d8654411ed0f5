/**
 * What a trigger plugin's `init` receives: Promise-facing facades of the Scheduler,
 * Checkpointer and graph registry, so that a plain-JS trigger (the how-to's class with
 * `init/start/stop/routes`) can `await deps.scheduler.enqueue(...)`. Every facade call
 * starts at once (it is a Promise, not a lazy Effect). A call that fails rejects with the
 * typed StargraphError; a rejection nobody handles is logged, never an unhandled
 * rejection that would take the server down. Plugins written with Effect find the
 * Effect services under `deps.effect`.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type { RunPage, RunQuery, RunRecord, RunStatus, RunSummary } from "../checkpoint/models.js"
import type { HookResult, TriggerDeps, TriggerRequest, TriggerResponse, TriggerRoute } from "./Trigger.js"
import { pluginKey } from "./TriggerEvent.js"

/** The answer of `deps.scheduler.enqueue`. */
export interface EnqueuedRun {
  readonly runId: string
  readonly graphId: string
  /** True when the idempotency key matched an existing run (nothing new was queued). */
  readonly deduplicated: boolean
  readonly status: RunStatus
  /** The thread's failed and cancelled runs the new run passed over (`skipFailed`), newest first; absent when none. */
  readonly skipped?: ReadonlyArray<{ readonly run_id: string; readonly status: RunStatus }> | undefined
}

/** The Scheduler, Promise-facing. */
export interface SchedulerFacade {
  /**
   * Validate params, persist the pending run, queue it; a known idempotency key returns the
   * existing run. The key is kept in the plugin's own part of the trigger namespace
   * (`trigger:<plugin>:<key>`), so neither an API client nor another trigger can claim it.
   * With `threadId`, the run joins that thread (see `StartOptions.threadId`); with
   * `skipFailed` too, it passes over the thread's newest failed and cancelled runs (see
   * `StartOptions.skipFailed`).
   */
  readonly enqueue: (
    graphId: string,
    params: { readonly [field: string]: unknown },
    options?: {
      readonly idempotencyKey?: string | undefined
      readonly actor?: string | undefined
      readonly threadId?: string | undefined
      readonly skipFailed?: boolean | undefined
    }
  ) => Promise<EnqueuedRun>
  /** The run's summary once it stops (done, failed, cancelled, errored, or waiting for input). */
  readonly await: (runId: string) => Promise<RunSummary>
  /** Runs queued or executing in this process. */
  readonly stats: () => Promise<{ readonly queued: number; readonly running: number }>
}

/** The parts of the Checkpointer a trigger needs, Promise-facing. */
export interface CheckpointerFacade {
  /** A durable cursor (e.g. the last event seen), or undefined when never set. */
  readonly getCursor: (key: string) => Promise<string | undefined>
  readonly setCursor: (key: string, value: string) => Promise<void>
  /** A run record, or undefined. */
  readonly getRun: (runId: string) => Promise<RunRecord | undefined>
  /** The run started with this idempotency key (as given to `scheduler.enqueue`), or undefined. */
  readonly findByIdempotencyKey: (key: string) => Promise<RunRecord | undefined>
  readonly listRuns: (query: RunQuery) => Promise<RunPage>
}

/** The registered graphs. */
export interface RegistryFacade {
  /** Ids of every registered graph. */
  readonly ids: () => ReadonlyArray<string>
  readonly has: (graphId: string) => boolean
}

/** What a plugin's `init` receives. */
export interface PluginDeps {
  readonly scheduler: SchedulerFacade
  readonly checkpointer: CheckpointerFacade
  readonly registry: RegistryFacade
  /** The plugin's configuration: its `stargraph.yaml` `plugins[].config`, plus `config_dir`. */
  readonly config: { readonly [key: string]: unknown }
  /** The same services as Effects, for plugins written with Effect. */
  readonly effect: TriggerDeps
}

/** Facades over `deps`, run on `runtime`; unhandled rejections are logged as `plugin`'s. */
export const makePluginDeps = (deps: TriggerDeps, runtime: Runtime.Runtime<never>, plugin: string): PluginDeps => {
  const run = <A>(what: string, effect: Effect.Effect<A, unknown>): Promise<A> => {
    const promise = Runtime.runPromiseExit(runtime)(effect).then((exit) =>
      // The typed error itself (not a FiberFailure wrapping it).
      Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))
    )
    // A rejection is still seen by whoever awaits `promise`; this handler only keeps one
    // nobody awaits from becoming an unhandled rejection (which ends the process).
    promise.catch((error: unknown) =>
      Runtime.runFork(runtime)(
        Effect.logWarning(`trigger ${plugin}: ${what} failed: ${error instanceof Error ? error.message : String(error)}`)
      )
    )
    return promise
  }
  const { scheduler, checkpointer, registry } = deps
  return {
    scheduler: {
      enqueue: (graphId, params, options) =>
        run(
          "scheduler.enqueue",
          Effect.map(
            scheduler.enqueue(graphId, params, {
              idempotencyKey: options?.idempotencyKey === undefined ? undefined : pluginKey(plugin, options.idempotencyKey),
              // A plugin's key names an event (as a webhook's delivery id): its run answers any params.
              idempotency: "event",
              actor: options?.actor ?? plugin,
              threadId: options?.threadId,
              skipFailed: options?.skipFailed
            }),
            ({ deduplicated, graphId, runId, skipped, status }) => ({ runId, graphId, deduplicated, status, ...(skipped !== undefined ? { skipped } : {}) })
          )
        ),
      await: (runId) => run("scheduler.await", scheduler.await(runId)),
      stats: () => run("scheduler.stats", scheduler.stats)
    },
    checkpointer: {
      getCursor: (key) => run("checkpointer.getCursor", Effect.map(checkpointer.getCursor(key), Option.getOrUndefined)),
      setCursor: (key, value) => run("checkpointer.setCursor", checkpointer.setCursor(key, value)),
      getRun: (runId) => run("checkpointer.getRun", Effect.map(checkpointer.getRun(runId), Option.getOrUndefined)),
      findByIdempotencyKey: (key) =>
        run("checkpointer.findByIdempotencyKey", Effect.map(checkpointer.findByIdempotencyKey(pluginKey(plugin, key)), Option.getOrUndefined)),
      listRuns: (query) => run("checkpointer.listRuns", checkpointer.listRuns(query))
    },
    registry: {
      ids: () => registry.list().map((g) => g.id),
      has: (graphId) => registry.list().some((g) => g.id === graphId)
    },
    config: deps.config,
    effect: deps
  }
}

/** A route a plugin asks the server to mount; `handle` may return a value, a Promise or an Effect. */
export interface PluginRoute {
  readonly method: TriggerRoute["method"]
  /** May hold `:param` segments. */
  readonly path: string
  readonly maxBodyBytes?: number
  /** An OpenAPI Operation Object fragment documenting the route (see `TriggerRoute.openapi`). */
  readonly openapi?: { readonly [key: string]: unknown }
  readonly handle: (request: TriggerRequest) => HookResult<TriggerResponse>
}

/**
 * What a plugin module exports (an instance, or a class or factory building one): the
 * four hooks, each sync, Promise- or Effect-returning. Methods may live on a class's
 * prototype; they are always called on the instance.
 */
export interface PluginTrigger {
  /** Optional; the plugin's registered name is used when absent. */
  readonly name?: string | undefined
  init(deps: PluginDeps): HookResult<void>
  start(): HookResult<void>
  stop(): HookResult<void>
  routes(): HookResult<ReadonlyArray<PluginRoute>>
}
