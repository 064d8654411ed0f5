/**
 * The Prometheus text exposition format (version 0.0.4) of Effect's metric registry, with
 * the process basics (`process_start_time_seconds`, memory, CPU) a scrape expects.
 * Every metric of the process's registry is rendered (Stargraph's, Effect's own runtime
 * metrics `effect_fiber_*`, an application's): counters (a counter that may decrease, not
 * made `incremental`, as a gauge), gauges, histograms (`_bucket{le=…}`, `_sum`, `_count`)
 * and summaries; frequencies, and metrics whose names or label names Prometheus would
 * refuse, are left out.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

/** The Content-Type of a scrape's answer. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** A label value as the format writes it: backslash, double quote and line feed escaped. */
export const escapeLabelValue = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

/** HELP text as the format writes it: backslash and line feed escaped. */
const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** A sample value: `+Inf`, `-Inf`, `NaN` or the number. */
const formatValue = (value: number | bigint): string =>
  typeof value === "bigint"
    ? value.toString()
    : Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value)

/** `{a="1",b="2"}`, or nothing without labels. */
const labelText = (labels: ReadonlyArray<readonly [string, string]>): string =>
  labels.length === 0 ? "" : `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`

type Kind = "counter" | "gauge" | "histogram" | "summary"

/** The Prometheus type of a metric, or undefined for one the format has no type for (a frequency). */
const kindOf = (pair: MetricPair.MetricPair.Untyped): Kind | undefined => {
  const keyType = pair.metricKey.keyType
  // A counter that may go down (Effect's `effect_fiber_active`) is a gauge to Prometheus.
  return MetricKeyType.isCounterKey(keyType)
    ? keyType.incremental ? "counter" : "gauge"
    : MetricKeyType.isGaugeKey(keyType)
    ? "gauge"
    : MetricKeyType.isHistogramKey(keyType)
    ? "histogram"
    : MetricKeyType.isSummaryKey(keyType)
    ? "summary"
    : undefined
}

/** The sample lines of one metric (one label set). */
const samples = (name: string, labels: ReadonlyArray<readonly [string, string]>, pair: MetricPair.MetricPair.Untyped): Array<string> => {
  const state = pair.metricState
  if (MetricState.isCounterState(state) || MetricState.isGaugeState(state)) {
    return [`${name}${labelText(labels)} ${formatValue(MetricState.isCounterState(state) ? state.count : state.value)}`]
  }
  if (MetricState.isHistogramState(state)) {
    const lines = state.buckets
      .filter(([le]) => le !== Infinity)
      .map(([le, count]) => `${name}_bucket${labelText([...labels, ["le", formatValue(le)]])} ${count}`)
    lines.push(`${name}_bucket${labelText([...labels, ["le", "+Inf"]])} ${state.count}`)
    lines.push(`${name}_sum${labelText(labels)} ${formatValue(state.sum)}`, `${name}_count${labelText(labels)} ${state.count}`)
    return lines
  }
  if (MetricState.isSummaryState(state)) {
    const lines = state.quantiles.flatMap(([q, value]) =>
      Option.isSome(value) ? [`${name}${labelText([...labels, ["quantile", formatValue(q)]])} ${formatValue(value.value)}`] : [])
    lines.push(`${name}_sum${labelText(labels)} ${formatValue(state.sum)}`, `${name}_count${labelText(labels)} ${state.count}`)
    return lines
  }
  return []
}

/** The exposition of `snapshot`: one HELP and TYPE per name, then its samples; names and label sets in order. */
export const render = (snapshot: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, { kind: Kind; help: string | undefined; series: Array<{ readonly labels: string; readonly lines: ReadonlyArray<string> }> }>()
  for (const pair of snapshot) {
    const name = pair.metricKey.name
    const kind = kindOf(pair)
    if (kind === undefined || !METRIC_NAME.test(name)) continue
    const labels = pair.metricKey.tags.map((t) => [t.key, t.value] as const)
    if (labels.some(([label]) => !LABEL_NAME.test(label) || label.startsWith("__"))) continue
    let family = families.get(name)
    if (family === undefined) {
      family = { kind, help: Option.getOrUndefined(pair.metricKey.description), series: [] }
      families.set(name, family)
    } else if (family.kind !== kind) {
      continue // two metrics of one name and different types: the first one's type stands
    }
    family.series.push({ labels: labelText(labels), lines: samples(name, labels, pair) })
  }
  const out: Array<string> = []
  for (const name of [...families.keys()].sort()) {
    const family = families.get(name)!
    if (family.help !== undefined) out.push(`# HELP ${name} ${escapeHelp(family.help)}`)
    out.push(`# TYPE ${name} ${family.kind}`)
    // Label sets in a stable order; a histogram's buckets stay in ascending `le`.
    for (const series of family.series.sort((a, b) => (a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0))) out.push(...series.lines)
  }
  return out.length === 0 ? "" : out.join("\n") + "\n"
}

/** When this process started, epoch seconds. */
const startTimeSeconds = (Date.now() - performance.now()) / 1000

/** The process basics, read now. */
export const processMetrics = (): string => {
  const memory = process.memoryUsage()
  const cpu = process.cpuUsage()
  const family = (name: string, kind: Kind, help: string, value: number) => `# HELP ${name} ${help}\n# TYPE ${name} ${kind}\n${name} ${formatValue(value)}\n`
  return [
    family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", Math.round(startTimeSeconds * 1000) / 1000),
    family("process_cpu_user_seconds_total", "counter", "Total user CPU time spent in seconds.", cpu.user / 1e6),
    family("process_cpu_system_seconds_total", "counter", "Total system CPU time spent in seconds.", cpu.system / 1e6),
    family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", (cpu.user + cpu.system) / 1e6),
    family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", memory.rss),
    family("nodejs_heap_used_bytes", "gauge", "V8 heap used, bytes.", memory.heapUsed),
    family("nodejs_heap_total_bytes", "gauge", "V8 heap allocated, bytes.", memory.heapTotal),
    family("nodejs_external_memory_bytes", "gauge", "Memory of C++ objects bound to JavaScript objects, bytes.", memory.external)
  ].join("")
}

/** Every metric in Effect's registry, then the process basics, in the text format. */
export const exposition: Effect.Effect<string> = Effect.map(Metric.snapshot, (snapshot) => render(snapshot) + processMetrics())
