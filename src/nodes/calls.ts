/**
 * The non-deterministic calls a node may make (`ctx.call`, `ctx.now`, `ctx.random`).
 * The run loop hands each node a recording (or replaying) implementation; outside a
 * run, {@link liveCalls} calls through without recording.
 */

import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type { NodeExecutionError, ReplayDivergenceError } from "../errors.js"

/**
 * Marks a failure that is a signal to the caller, not the call's outcome (a node asking
 * for input, a child run waiting): the cassette does not record it.
 */
export const Unrecorded: unique symbol = Symbol.for("stargraph/cassette/Unrecorded")

/** What a call that is never answered returns (one given up on, or made after its node was done). */
export const neverAnswered: Promise<never> = new Promise<never>(() => undefined)

/** What a node kind that builds a call's request (and response) itself tells the recorder. */
export interface CallOptions {
  /**
   * The request's canonical JSON text, exactly what `canonicalPlainJson(request)` gives, or
   * undefined (a caller that can build it cheaply: a node kind that builds its requests in a
   * fixed shape): the recorder hashes that text instead of checking and canonicalizing the
   * request again (same hash, same record). It is called only when the request is hashed:
   * live calls, and replayed calls whose request differs from the recorded one. With it, the
   * request is recorded as it is (without it, as a copy) and a replay may answer it by
   * value: pass it only for a request that nothing changes after the call.
   */
  readonly canonical?: () => string | undefined
  /**
   * The live call's response is plain JSON by construction (built by the node kind from
   * typed values it checked, never from a network reply or a user's code), and nothing
   * changes it after the call: the recorder keeps it without checking it again.
   */
  readonly jsonResponse?: boolean
  /**
   * What to record with a live call beyond its request (`CallRecord.meta`, JSON, not
   * hashed): called once the live call has answered or failed; undefined records none.
   */
  readonly meta?: () => { readonly [key: string]: unknown } | undefined
  /**
   * Told the recorded call's `meta` (undefined when it has none) when the call is answered
   * with a recorded response instead of live, before the response is returned: a node kind
   * that reads the response as the code that recorded it did (a language-model call's
   * `reply_parser`) learns which code that was.
   */
  readonly recorded?: (meta: { readonly [key: string]: unknown } | undefined) => void
}

/** The calls a node can make; available as `ctx.call`, `ctx.now`, `ctx.random`. */
export interface NodeCalls {
  /**
   * Make (or replay) a non-deterministic call. `request` and the response must be JSON;
   * `live` performs the real call and is skipped in a replay.
   */
  readonly call: <A>(name: string, request: unknown, live: () => A | Promise<A>) => Promise<A>
  /**
   * The same as an Effect: `live` runs only when the call is not answered from the
   * recording. A request or response that is not JSON fails with `NodeExecutionError`.
   * `options` are for node kinds that build their requests and responses themselves.
   */
  readonly callEffect: <A, E, R>(
    name: string,
    request: unknown,
    live: Effect.Effect<A, E, R>,
    options?: CallOptions
  ) => Effect.Effect<A, E | ReplayDivergenceError | NodeExecutionError, R>
  /**
   * `callEffect` for a live call made synchronously (`live` gives its outcome at once, an
   * inference on this thread): recorded, or answered from the recording, without stepping
   * through Effects. Optional: without it, node kinds use `callEffect`.
   */
  readonly callNow?: <A, E>(
    name: string,
    request: unknown,
    live: () => Exit.Exit<A, E>,
    options?: CallOptions
  ) => Effect.Effect<A, E | ReplayDivergenceError | NodeExecutionError>
  /** The wall clock (ms since the epoch), recorded. */
  readonly now: () => Promise<number>
  /** A uniform random number in [0, 1), recorded. */
  readonly random: () => Promise<number>
  /**
   * Give up the calls still waiting for their answer (the run loop's executors call it when
   * a node's attempt ends: `returned` when the node returned or threw without waiting for
   * them, else it timed out): they are recorded as `abandoned`, and what they answer later
   * is not recorded. `final`: the node is done for this step, and a call it still makes
   * (from a timer, say) gets no answer and is not recorded.
   */
  readonly abandonPending?: (returned: boolean, final?: boolean) => void
}

/** Unrecorded live calls, for executors run outside a run loop. */
export const liveCalls: NodeCalls = {
  call: async (_name, _request, live) => await live(),
  callEffect: (_name, _request, live) => live,
  callNow: (_name, _request, live) => live(),
  now: () => Promise.resolve(Date.now()),
  random: () => Promise.resolve(Math.random())
}
