/**
 * The non-deterministic calls a node may make (`ctx.call`, `ctx.now`, `ctx.random`).
 * The run loop hands each node a recording (or replaying) implementation; outside a
 * run, {@link liveCalls} calls through without recording.
 */

/** The calls a node can make; available as `ctx.call`, `ctx.now`, `ctx.random`. */
export interface NodeCalls {
  /**
   * Make (or replay) a non-deterministic call. `request` and the response must be JSON;
   * `live` performs the real call and is skipped in a replay.
   */
  readonly call: <A>(name: string, request: unknown, live: () => A | Promise<A>) => Promise<A>
  /** The wall clock (ms since the epoch), recorded. */
  readonly now: () => Promise<number>
  /** A uniform random number in [0, 1), recorded. */
  readonly random: () => Promise<number>
}

/** Unrecorded live calls, for executors run outside a run loop. */
export const liveCalls: NodeCalls = {
  call: async (_name, _request, live) => await live(),
  now: () => Promise.resolve(Date.now()),
  random: () => Promise.resolve(Math.random())
}
