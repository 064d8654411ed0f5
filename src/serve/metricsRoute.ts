/**
 * `GET /metrics`: the Prometheus text exposition (version 0.0.4) of Stargraph's metrics
 * (see `telemetry/Metrics.ts`). The gauges that describe the queue are read at scrape time:
 * `stargraph_queue_depth` from the database (so it counts what every process on it
 * queued) and `stargraph_runs_running` from this server's Scheduler.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { Checkpointer, type CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { CheckpointError } from "../errors.js"
import { GraphRegistry } from "../scheduler/GraphRegistry.js"
import { Scheduler } from "../scheduler/Scheduler.js"
import type { MetricsShape } from "../telemetry/Metrics.js"
import { exposition, PROMETHEUS_CONTENT_TYPE } from "../telemetry/prometheus.js"

/** How many queue rows a Checkpointer without `countPending` is asked for at most, per scrape (a deeper queue reads as this deep). */
const PENDING_SCAN = 100_000

/** Unclaimed queue rows by graph: the Checkpointer's own count, else counted from its rows (a Checkpointer without `countPending`). */
export const pendingCounts = (checkpointer: CheckpointerShape): Effect.Effect<ReadonlyMap<string, number>, CheckpointError> =>
  checkpointer.countPending ?? Effect.map(checkpointer.listPending(PENDING_SCAN, { claimed: false }), (rows) => {
    const counts = new Map<string, number>()
    for (const row of rows) counts.set(row.graph_id, (counts.get(row.graph_id) ?? 0) + 1)
    return counts
  })

/** Refresh the scrape-time gauges (every registered graph's queue depth, 0 when empty; runs executing here). */
export const collect = (metrics: MetricsShape) => Effect.gen(function*() {
  const depths = new Map<string, number>((yield* GraphRegistry).list().map((g) => [g.id, 0]))
  for (const [graphId, queued] of yield* pendingCounts(yield* Checkpointer)) depths.set(graphId, queued)
  metrics.queueDepth(depths)
  metrics.runsRunning((yield* (yield* Scheduler).stats).running)
})

/** The `/metrics` route on the API's router, refreshing `metrics`' scrape-time gauges. */
export const metricsRouteLayer = (metrics: MetricsShape) => HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<Checkpointer | GraphRegistry | Scheduler>()
    yield* router.get(
      "/metrics",
      Effect.gen(function*() {
        yield* Effect.provide(collect(metrics), context)
        return HttpServerResponse.text(yield* exposition, { contentType: PROMETHEUS_CONTENT_TYPE })
      })
    )
  }))
