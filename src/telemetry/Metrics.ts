/**
 * Stargraph's metrics: runs, steps, the queue, trigger dispatches and HTTP requests, kept
 * as Effect metrics (`effect/Metric`) in Effect's process-wide metric registry. The
 * `Metrics` service records them; by default it is on, so an application that runs
 * Stargraph in its own Effect runtime reads them with `Metric.snapshot` (or exports them
 * with `@effect/opentelemetry`'s metrics layer) with nothing to wire, and `stargraph serve`
 * renders them at `GET /metrics` in the Prometheus text format (see `prometheus.ts`).
 *
 * Recording is synchronous and cheap: each label set's metrics are resolved once (its
 * registry entry is cached), so counting a step is a map lookup and two updates.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"

/**
 * What a trigger dispatch came to: a run enqueued (`success`), a run found that was already
 * enqueued for it (`deduplicated`: a cron tick another server enqueued first, a webhook
 * delivered again), or none (`failure`). Summed over servers, `success` counts each run once.
 */
export type DispatchOutcome = "success" | "deduplicated" | "failure"

/** The recorder Stargraph calls where things happen. Every method is synchronous and never fails. */
export interface MetricsShape {
  /** A run began (its first drive; a resumption is not a start). */
  readonly runStarted: (graphId: string) => void
  /**
   * A run ended `status` (done, failed, error, cancelled), `seconds` after it first started
   * (undefined: it never started, e.g. cancelled while queued; it is counted, not timed).
   */
  readonly runEnded: (graphId: string, status: string, seconds: number | undefined) => void
  /** A step committed after `seconds`. */
  readonly stepCompleted: (graphId: string, seconds: number) => void
  /** A trigger fired (a webhook delivery, a cron tick, a plugin's enqueue). */
  readonly triggerDispatched: (triggerId: string, kind: string, outcome: DispatchOutcome) => void
  /** The server answered a request of `route` (its template, e.g. `/v1/runs/:id`). */
  readonly httpRequest: (route: string, method: string, status: number, seconds: number) => void
  /** Runs waiting in the queue, by graph (graphs set before and absent now are set to 0). */
  readonly queueDepth: (depths: ReadonlyMap<string, number>) => void
  /** Runs this process executes now. */
  readonly runsRunning: (count: number) => void
}

/** The metric names, as `/metrics` shows them. */
export const METRIC_NAMES = {
  runsStarted: "stargraph_runs_started_total",
  runsFinished: "stargraph_runs_finished_total",
  runDuration: "stargraph_run_duration_seconds",
  steps: "stargraph_steps_total",
  stepDuration: "stargraph_step_duration_seconds",
  queueDepth: "stargraph_queue_depth",
  runsRunning: "stargraph_runs_running",
  triggerDispatches: "stargraph_trigger_dispatches_total",
  httpRequests: "stargraph_http_requests_total",
  httpDuration: "stargraph_http_request_duration_seconds"
} as const

/** Histogram bucket upper bounds, seconds (`+Inf` is added). */
export const BUCKETS = {
  run: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400],
  step: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  http: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
} as const

/** The metrics that are off: every method does nothing. */
export const disabledMetrics: MetricsShape = {
  runStarted: () => undefined,
  runEnded: () => undefined,
  stepCompleted: () => undefined,
  triggerDispatched: () => undefined,
  httpRequest: () => undefined,
  queueDepth: () => undefined,
  runsRunning: () => undefined
}

/** Updates with no fiber labels: the registry entry of a fully tagged key is cached by its metric. */
const NO_TAGS: ReadonlyArray<never> = []

type Labels = ReadonlyArray<readonly [string, string]>

const counterKey = (name: string, description: string) => MetricKey.counter(name, { description, incremental: true })

/** A counter, gauge or histogram of `key` with `labels` as its tags. */
const counterOf = (key: MetricKey.MetricKey.Counter<number>) => (labels: Labels) =>
  Metric.fromMetricKey(labels.reduce((k, [name, value]) => MetricKey.tagged(k, name, value), key))
const gaugeOf = (key: MetricKey.MetricKey.Gauge<number>) => (labels: Labels) =>
  Metric.fromMetricKey(labels.reduce((k, [name, value]) => MetricKey.tagged(k, name, value), key))
const histogramOf = (key: MetricKey.MetricKey.Histogram) => (labels: Labels) =>
  Metric.fromMetricKey(labels.reduce((k, [name, value]) => MetricKey.tagged(k, name, value), key))

/** A metric per label set, made once: the same labels always update the same registry entry. */
const perLabels = <M>(make: (labels: Labels) => M) => {
  const made = new Map<string, M>()
  return (cacheKey: string, labels: () => Labels): M => {
    let metric = made.get(cacheKey)
    if (metric === undefined) {
      metric = make(labels())
      made.set(cacheKey, metric)
    }
    return metric
  }
}

/**
 * A recorder on Effect's global metric registry (every recorder made here shares it: they
 * count into the same metrics).
 */
export const makeEffectMetrics = (): MetricsShape => {
  const D = {
    runsStarted: counterKey(METRIC_NAMES.runsStarted, "Runs that began, by graph (once per run: a resumed or requeued run is not counted again)"),
    runsFinished: counterKey(METRIC_NAMES.runsFinished, "Runs that ended, by graph and final status (done, failed, error, cancelled)"),
    runDuration: MetricKey.histogram(METRIC_NAMES.runDuration, MetricBoundaries.fromIterable(BUCKETS.run), "Seconds from a run's first start to its end, by graph (time waiting for input or paused included)"),
    steps: counterKey(METRIC_NAMES.steps, "Steps committed, by graph"),
    stepDuration: MetricKey.histogram(METRIC_NAMES.stepDuration, MetricBoundaries.fromIterable(BUCKETS.step), "Seconds a step took to execute, by graph"),
    queueDepth: MetricKey.gauge(METRIC_NAMES.queueDepth, { description: "Runs waiting in the queue (pending, unclaimed) in the database, by graph, read at scrape time" }),
    runsRunning: MetricKey.gauge(METRIC_NAMES.runsRunning, { description: "Runs this process executes now, read at scrape time" }),
    triggerDispatches: counterKey(METRIC_NAMES.triggerDispatches, "Trigger firings (webhook deliveries, cron ticks, plugin enqueues), by trigger, kind and outcome (success: a run was enqueued; deduplicated: the run already enqueued for it was found; failure: none)"),
    httpRequests: counterKey(METRIC_NAMES.httpRequests, "HTTP requests answered, by route template, method and status"),
    httpDuration: MetricKey.histogram(METRIC_NAMES.httpDuration, MetricBoundaries.fromIterable(BUCKETS.http), "Seconds until a request's response began, by route template")
  }
  const byGraph = perLabels((labels) => ({
    started: counterOf(D.runsStarted)(labels),
    steps: counterOf(D.steps)(labels),
    stepDuration: histogramOf(D.stepDuration)(labels),
    runDuration: histogramOf(D.runDuration)(labels),
    queueDepth: gaugeOf(D.queueDepth)(labels)
  }))
  const graph = (graphId: string) => byGraph(graphId, () => [["graph_id", graphId]])
  const finished = perLabels(counterOf(D.runsFinished))
  const dispatches = perLabels(counterOf(D.triggerDispatches))
  const requests = perLabels(counterOf(D.httpRequests))
  const requestDuration = perLabels(histogramOf(D.httpDuration))
  const running = Metric.fromMetricKey(D.runsRunning)
  const queued = new Set<string>()
  return {
    runStarted: (graphId) => graph(graphId).started.unsafeUpdate(1, NO_TAGS),
    runEnded: (graphId, status, seconds) => {
      finished(`${graphId}\u0000${status}`, () => [["graph_id", graphId], ["status", status]]).unsafeUpdate(1, NO_TAGS)
      if (seconds !== undefined) graph(graphId).runDuration.unsafeUpdate(seconds, NO_TAGS)
    },
    stepCompleted: (graphId, seconds) => {
      const metrics = graph(graphId)
      metrics.steps.unsafeUpdate(1, NO_TAGS)
      metrics.stepDuration.unsafeUpdate(seconds, NO_TAGS)
    },
    triggerDispatched: (triggerId, kind, outcome) =>
      dispatches(`${triggerId}\u0000${kind}\u0000${outcome}`, () => [["trigger_id", triggerId], ["kind", kind], ["outcome", outcome]]).unsafeUpdate(1, NO_TAGS),
    httpRequest: (route, method, status, seconds) => {
      requests(`${route}\u0000${method}\u0000${status}`, () => [["route", route], ["method", method], ["status", String(status)]]).unsafeUpdate(1, NO_TAGS)
      requestDuration(route, () => [["route", route]]).unsafeUpdate(seconds, NO_TAGS)
    },
    queueDepth: (depths) => {
      for (const graphId of queued) if (!depths.has(graphId)) graph(graphId).queueDepth.unsafeUpdate(0, NO_TAGS)
      for (const [graphId, count] of depths) {
        queued.add(graphId)
        graph(graphId).queueDepth.unsafeUpdate(count, NO_TAGS)
      }
    },
    runsRunning: (count) => running.unsafeUpdate(count, NO_TAGS)
  }
}

/** The recorder on Effect's global metric registry that `Metrics` uses unless told otherwise. */
export const effectMetrics: MetricsShape = makeEffectMetrics()

/**
 * The metrics service. On by default ({@link effectMetrics}): provide {@link disabled} to
 * record nothing, or a `MetricsShape` of your own (`Layer.succeed(Metrics, …)`).
 */
export class Metrics extends Context.Reference<Metrics>()("stargraph/Metrics", {
  defaultValue: (): MetricsShape => effectMetrics
}) {}

/** Metrics on Effect's global registry (the default, made explicit). */
export const layer: Layer.Layer<Metrics> = Layer.succeed(Metrics, effectMetrics)

/** No metrics recorded (for an application that wants none). */
export const disabled: Layer.Layer<Metrics> = Layer.succeed(Metrics, disabledMetrics)
