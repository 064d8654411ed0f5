/**
 * The trigger contract (the spec's `Trigger` protocol): `init(deps)`, `start()`,
 * `stop()`, `routes()`, each sync, Promise- or Effect-returning. Triggers emit runs
 * through `deps.scheduler`; webhook-style triggers return HTTP routes that the server
 * mounts.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { GraphRegistryShape } from "../scheduler/GraphRegistry.js"
import type { SchedulerShape } from "../scheduler/Scheduler.js"

/** A hook's result: a value, a Promise of one, or an Effect. */
export type HookResult<A> = A | Promise<A> | Effect.Effect<A, unknown>

/** What `init` receives. */
export interface TriggerDeps {
  readonly scheduler: SchedulerShape
  readonly registry: GraphRegistryShape
  readonly checkpointer: CheckpointerShape
  /** Plugin-specific configuration (from `stargraph.yaml` `plugins[].config`). */
  readonly config: { readonly [key: string]: unknown }
}

/** A request as a trigger route sees it. */
export interface TriggerRequest {
  /** Lower-cased header names. */
  readonly headers: { readonly [name: string]: string | undefined }
  readonly body: Uint8Array
  /** Path parameters, e.g. `{id}`. */
  readonly params: { readonly [name: string]: string }
}

/** A trigger route's answer; `body` is sent as JSON. */
export interface TriggerResponse {
  readonly status: number
  readonly body: unknown
}

/** An HTTP route a trigger asks the server to mount. `path` may hold `:param` segments. */
export interface TriggerRoute {
  readonly method: "GET" | "POST" | "PUT" | "DELETE"
  readonly path: string
  /** Largest body accepted, in bytes (the server answers 413 above it). */
  readonly maxBodyBytes?: number | undefined
  /**
   * How `/openapi.json` documents the route: an OpenAPI 3.1 Operation Object fragment
   * (`summary`, `description`, `parameters`, `requestBody`, `responses`) merged over a
   * generic entry. Error answers may refer to `#/components/schemas/ErrorEnvelope`.
   */
  readonly openapi?: { readonly [key: string]: unknown } | undefined
  /**
   * The route checks its requests' credentials itself (a webhook's signature), so the
   * server's bearer token (`--auth-token-env`) is not asked for on it. Senders such as
   * GitHub or Stripe cannot add an `Authorization` header; a route without a check of
   * its own must leave this unset.
   */
  readonly authenticatesItself?: boolean | undefined
  readonly handle: (request: TriggerRequest) => Effect.Effect<TriggerResponse>
}

/** A trigger plugin instance. */
export interface Trigger {
  /** Unique name, e.g. `cron`, `webhook`, `my-pkg:fswatch`. */
  readonly name: string
  readonly init: (deps: TriggerDeps) => HookResult<void>
  readonly start: () => HookResult<void>
  readonly stop: () => HookResult<void>
  readonly routes: () => HookResult<ReadonlyArray<TriggerRoute>>
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === "object" || typeof value === "function") && value !== null &&
  typeof (value as { then?: unknown }).then === "function"

/**
 * Lift a hook result into an Effect: a thrown error, a rejection (of any thenable, so a
 * Promise from another realm or library too) or a failed Effect becomes a failure.
 */
export const hookEffect = <A>(run: () => HookResult<A>): Effect.Effect<A, unknown> =>
  Effect.suspend(() => {
    const result = run()
    if (Effect.isEffect(result)) return result as Effect.Effect<A, unknown>
    if (isThenable(result)) return Effect.tryPromise({ try: () => Promise.resolve(result) as Promise<A>, catch: (e) => e })
    return Effect.succeed(result as A)
  })

/**
 * Triggers an application provides in code, started with the configured ones. Provide
 * `Layer.succeed(ExtraTriggers, [myTrigger])` to add your own.
 */
export class ExtraTriggers extends Context.Reference<ExtraTriggers>()("stargraph/ExtraTriggers", {
  defaultValue: (): ReadonlyArray<Trigger> => []
}) {}
