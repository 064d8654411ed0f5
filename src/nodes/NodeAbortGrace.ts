/**
 * How long an interrupted node body is waited for. A node whose attempt is interrupted
 * (its run cancelled, its `timeout_ms` reached, its parallel race lost, its server shut
 * down) has its `ctx.signal` aborted, and its run keeps its slot (and a timed-out attempt
 * its retry) until the body settles: at most this long. A body still running then is left
 * to run on unseen (logged, and a `node.outlived` run event in the audit log) and what it
 * returns is dropped.
 *
 * A `Context.Reference`: 30 000 ms unless the app provides another value
 * (`Effect.provideService(NodeAbortGrace, 5_000)`), or the Scheduler does
 * (`abortGraceMs`, `scheduler.abort_grace_ms` in `stargraph.yaml`).
 */
import * as Context from "effect/Context"

/** The default grace: 30 s. */
export const DEFAULT_ABORT_GRACE_MS = 30_000

/** How long (ms) an interrupted node body is waited for after its `ctx.signal` is aborted (default 30 000). */
export class NodeAbortGrace extends Context.Reference<NodeAbortGrace>()("stargraph/NodeAbortGrace", {
  defaultValue: (): number => DEFAULT_ABORT_GRACE_MS
}) {}
