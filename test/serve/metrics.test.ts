/**
 * `GET /metrics` on a real server: the Prometheus text format (content type, HELP and TYPE
 * lines, escaped labels, histogram buckets), what runs, steps, webhook deliveries and
 * requests count, the queue gauges read at scrape time, and the bearer-token rule.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { pendingCounts } from "../../src/serve/metricsRoute.js"
import * as Serve from "../../src/serve/server.js"
import { escapeLabelValue, render } from "../../src/telemetry/prometheus.js"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import { AuditSink } from "../../src/telemetry/AuditSink.js"
import * as WebhookTrigger from "../../src/triggers/WebhookTrigger.js"
import { tempDir } from "../helpers/cli.js"

/** One sample line: `name{labels} value`. */
interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** A tiny parser of the text format: samples, and each family's HELP and TYPE. */
const parse = (text: string) => {
  const samples: Array<Sample> = []
  const types = new Map<string, string>()
  const helps = new Map<string, string>()
  for (const line of text.split("\n")) {
    if (line === "") continue
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (comment !== null) {
      ;(comment[1] === "TYPE" ? types : helps).set(comment[2]!, comment[3]!)
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    const body = m[2] ?? ""
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy
    let at = 0
    while (at < body.length) {
      label.lastIndex = at
      const l = label.exec(body)
      if (l === null) throw new Error(`bad labels: ${body}`)
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))
      at = label.lastIndex
    }
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3])
    samples.push({ name: m[1]!, labels, value })
  }
  /** The value of the sample `name` whose labels include `labels` (undefined: none). */
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
  return { samples, types, helps, value }
}

const boot = async (options: Serve.ServeOptions) => {
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(Serve.start({ port: 0, ...options }).pipe(Scope.extend(scope)))
  return { ...started, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const TOKEN = "metrics-t0ken"
const auth = { authorization: `Bearer ${TOKEN}` }

const scrape = async (url: string) => {
  const response = await fetch(`${url}/metrics`, { headers: auth })
  expect(response.status).toBe(200)
  return { contentType: response.headers.get("content-type"), text: await response.text() }
}

const waitForStatus = async (url: string, runId: string, status: string) => {
  const deadline = Date.now() + 15_000
  for (;;) {
    const body = await (await fetch(`${url}/v1/runs/${runId}`, { headers: auth })).json() as { status: string }
    if (body.status === status) return
    if (Date.now() > deadline) throw new Error(`run ${runId} is ${body.status}, not ${status}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const enqueue = async (url: string, graphId: string) => {
  const response = await fetch(`${url}/v1/runs`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ graph_id: graphId }) })
  expect(response.status).toBe(202)
  return ((await response.json()) as { run_id: string }).run_id
}

let dir: string
let db: string
let server: Awaited<ReturnType<typeof boot>>

beforeAll(async () => {
  dir = tempDir()
  const graphs = join(dir, "graphs")
  for (const name of ["ok", "broken", "slow"]) mkdirSync(join(graphs, name), { recursive: true })
  writeFileSync(join(graphs, "ok", "graph.yaml"), [
    "ir_version: \"1.0.0\"", "id: m:ok",
    "state_schema: { fields: { out: { type: string, default: \"\" }, n: { type: integer, default: 0 } } }",
    "nodes:", "  - { id: a, kind: set, values: { out: x } }", "  - { id: b, kind: set, values: { n: 1 } }",
    "edges: [{ from: a, to: b }]", ""
  ].join("\n"))
  writeFileSync(join(graphs, "broken", "nodes.js"), "export const boom = async () => { throw new Error(\"boom\") }\n")
  writeFileSync(join(graphs, "broken", "graph.yaml"), [
    "ir_version: \"1.0.0\"", "id: m:broken",
    "state_schema: { fields: { out: { type: string, default: \"\" } } }",
    "nodes:", "  - { id: a, kind: function, module: ./nodes.js, export: boom }", ""
  ].join("\n"))
  writeFileSync(join(graphs, "slow", "nodes.js"), "export const wait = async (s) => { await new Promise((r) => setTimeout(r, 1500)); return { n: s.n + 1 } }\n")
  writeFileSync(join(graphs, "slow", "graph.yaml"), [
    "ir_version: \"1.0.0\"", "id: m:slow",
    "state_schema: { fields: { n: { type: integer, default: 0 } } }",
    "nodes:", "  - { id: a, kind: function, module: ./nodes.js, export: wait }", ""
  ].join("\n"))
  const config = join(dir, "stargraph.yaml")
  // A webhook id with characters a label value must escape is not URL-safe: the id stays plain.
  writeFileSync(config, `webhooks:\n  - { id: hook, graph: ${join(graphs, "ok", "graph.yaml")}, secret_env: HOOK_SECRET }\n`)
  db = join(dir, "metrics.sqlite")
  server = await boot({
    db,
    graphs: [graphs],
    config,
    env: { HOOK_SECRET: "s3cret" },
    authToken: TOKEN,
    scheduler: { pollIntervalMs: 50, perGraphOverrides: { "m:slow": 1 } }
  })
})

afterAll(async () => {
  await server?.close()
})

describe("GET /metrics", () => {
  it("needs the bearer token like every route but /healthz, and answers the Prometheus text format", async () => {
    const refused = await fetch(`${server.url}/metrics`)
    expect(refused.status).toBe(401)
    expect(refused.headers.get("www-authenticate")).toBe("Bearer realm=\"stargraph\"")
    const wrong = await fetch(`${server.url}/metrics`, { headers: { authorization: "Bearer nope" } })
    expect(wrong.status).toBe(401)
    const { contentType, text } = await scrape(server.url)
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8")
    const parsed = parse(text)
    expect(parsed.types.get("process_start_time_seconds")).toBe("gauge")
    const start = parsed.value("process_start_time_seconds")!
    expect(start).toBeGreaterThan(Date.now() / 1000 - 3600)
    expect(start).toBeLessThanOrEqual(Date.now() / 1000)
    expect(parsed.value("nodejs_heap_used_bytes")).toBeGreaterThan(0)
    // Every family has its HELP and TYPE, and TYPE before its samples.
    for (const name of ["stargraph_queue_depth", "stargraph_runs_running", "process_cpu_seconds_total"]) {
      expect(parsed.helps.get(name), name).toBeTruthy()
      expect(parsed.types.get(name), name).toBeTruthy()
    }
  })

  it("counts runs by graph and status, steps, and their durations as histograms", async () => {
    const ok = await enqueue(server.url, "m:ok")
    const broken = await enqueue(server.url, "m:broken")
    await waitForStatus(server.url, ok, "done")
    await waitForStatus(server.url, broken, "failed")
    const m = parse((await scrape(server.url)).text)
    expect(m.types.get("stargraph_runs_started_total")).toBe("counter")
    expect(m.value("stargraph_runs_started_total", { graph_id: "m:ok" })).toBeGreaterThanOrEqual(1)
    expect(m.value("stargraph_runs_started_total", { graph_id: "m:broken" })).toBe(1)
    expect(m.value("stargraph_runs_finished_total", { graph_id: "m:broken", status: "failed" })).toBe(1)
    expect(m.value("stargraph_runs_finished_total", { graph_id: "m:ok", status: "done" })).toBeGreaterThanOrEqual(1)
    expect(m.value("stargraph_runs_finished_total", { graph_id: "m:broken", status: "done" })).toBeUndefined()
    // m:ok has two steps per run; m:broken's one step failed (no checkpoint).
    const okRuns = m.value("stargraph_runs_finished_total", { graph_id: "m:ok", status: "done" })!
    expect(m.value("stargraph_steps_total", { graph_id: "m:ok" })).toBe(2 * okRuns)
    expect(m.value("stargraph_steps_total", { graph_id: "m:broken" })).toBeUndefined()
    for (const [name, graphId, count] of [
      ["stargraph_step_duration_seconds", "m:ok", 2 * okRuns],
      ["stargraph_run_duration_seconds", "m:ok", okRuns],
      ["stargraph_run_duration_seconds", "m:broken", 1]
    ] as const) {
      expect(m.types.get(name)).toBe("histogram")
      const buckets = m.samples.filter((s) => s.name === `${name}_bucket` && s.labels["graph_id"] === graphId)
      expect(buckets.length).toBeGreaterThan(3)
      // Ascending bounds, cumulative counts, +Inf last and equal to _count.
      const bounds = buckets.map((b) => Number(b.labels["le"] === "+Inf" ? Infinity : b.labels["le"]))
      expect(bounds).toEqual([...bounds].sort((a, b) => a - b))
      expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b))
      expect(buckets.at(-1)!.labels["le"]).toBe("+Inf")
      expect(m.value(`${name}_count`, { graph_id: graphId })).toBe(count)
      expect(buckets.at(-1)!.value).toBe(count)
      expect(m.value(`${name}_sum`, { graph_id: graphId })).toBeGreaterThanOrEqual(0)
    }
  })

  it("counts webhook deliveries by outcome (a bad signature is a failure; a redelivery answered with its run, deduplicated)", async () => {
    const url = `${server.url}/v1/triggers/webhook/hook`
    const body = JSON.stringify({ out: "from-webhook" })
    const now = Math.floor(Date.now() / 1000)
    const bad = await fetch(url, { method: "POST", body, headers: { ...auth, ...WebhookTrigger.sign("wrong", body, now, "n-bad") } })
    expect(bad.status).toBe(401)
    const signed = WebhookTrigger.sign("s3cret", body, now, "n-good")
    const good = await fetch(url, { method: "POST", body, headers: { ...auth, ...signed } })
    expect(good.status).toBe(202)
    // The sender retries the delivery (the same signed request): answered with the run it enqueued, not counted as a success again.
    const again = await fetch(url, { method: "POST", body, headers: { ...auth, ...signed } })
    expect([again.status, (await again.json() as Record<string, unknown>)["deduplicated"]]).toEqual([200, true])
    const m = parse((await scrape(server.url)).text)
    expect(m.types.get("stargraph_trigger_dispatches_total")).toBe("counter")
    expect(m.value("stargraph_trigger_dispatches_total", { trigger_id: "webhook:hook", kind: "webhook", outcome: "failure" })).toBe(1)
    expect(m.value("stargraph_trigger_dispatches_total", { trigger_id: "webhook:hook", kind: "webhook", outcome: "success" })).toBe(1)
    expect(m.value("stargraph_trigger_dispatches_total", { trigger_id: "webhook:hook", kind: "webhook", outcome: "deduplicated" })).toBe(1)
  })

  it("counts requests by route template (never the raw path), method and status", async () => {
    const missing = await fetch(`${server.url}/v1/runs/run-does-not-exist`, { headers: auth })
    expect(missing.status).toBe(404)
    await fetch(`${server.url}/no/such/route/${Math.random()}`, { headers: auth })
    const m = parse((await scrape(server.url)).text)
    expect(m.value("stargraph_http_requests_total", { route: "/v1/runs/:id", method: "GET", status: "404" })).toBeGreaterThanOrEqual(1)
    expect(m.value("stargraph_http_requests_total", { route: "/v1/runs", method: "POST", status: "202" })).toBeGreaterThanOrEqual(2)
    expect(m.value("stargraph_http_requests_total", { route: "/metrics", method: "GET", status: "401" })).toBe(2)
    expect(m.value("stargraph_http_requests_total", { route: "unmatched", method: "GET", status: "404" })).toBeGreaterThanOrEqual(1)
    expect(m.samples.some((s) => s.labels["route"]?.includes("run-does-not-exist") || s.labels["route"]?.startsWith("/no/"))).toBe(false)
    const count = m.value("stargraph_http_request_duration_seconds_count", { route: "/v1/runs/:id" })!
    expect(m.value("stargraph_http_request_duration_seconds_bucket", { route: "/v1/runs/:id", le: "+Inf" })).toBe(count)
  })

  it("reads the queue depth from the database at scrape time (other processes' rows too) and the runs executing here", async () => {
    // m:slow runs one at a time: of three, two wait in the queue.
    const ids = [await enqueue(server.url, "m:slow"), await enqueue(server.url, "m:slow"), await enqueue(server.url, "m:slow")]
    await waitForStatus(server.url, ids[0]!, "running")
    // A row queued by another process, for a graph this server does not run.
    await Effect.runPromise(Effect.gen(function*() {
      const other = yield* Checkpointer
      yield* other.createRun({
        graph_id: "m:elsewhere",
        graph_hash: "sha256:x",
        runtime_hash: "sha256:y",
        inputs: {},
        created_at: new Date().toISOString(),
        queued: true,
        initial: {
          step: 0, node: "__input__", nodes: ["__input__"], state: {}, writes: [], delta: {}, next: ["a"], joins: {},
          graph_hash: "sha256:x", runtime_hash: "sha256:y", parent_run_id: null, parent_step: null,
          started_at: new Date().toISOString(), finished_at: new Date().toISOString(), duration_ms: 0
        }
      })
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    const busy = parse((await scrape(server.url)).text)
    expect(busy.types.get("stargraph_queue_depth")).toBe("gauge")
    expect(busy.value("stargraph_queue_depth", { graph_id: "m:slow" })).toBe(2)
    expect(busy.value("stargraph_queue_depth", { graph_id: "m:elsewhere" })).toBe(1)
    expect(busy.value("stargraph_queue_depth", { graph_id: "m:ok" })).toBe(0)
    expect(busy.value("stargraph_runs_running")).toBe(1)
    // A run cancelled while it waits in the queue ends `cancelled`: counted, not timed (it never ran).
    const queued = await enqueue(server.url, "m:slow")
    const cancel = await fetch(`${server.url}/v1/runs/${queued}/cancel`, { method: "POST", headers: auth })
    expect(cancel.status).toBe(200)
    for (const id of ids) await waitForStatus(server.url, id, "done")
    const idle = parse((await scrape(server.url)).text)
    expect(idle.value("stargraph_runs_finished_total", { graph_id: "m:slow", status: "cancelled" })).toBe(1)
    expect(idle.value("stargraph_runs_finished_total", { graph_id: "m:slow", status: "done" })).toBe(3)
    expect(idle.value("stargraph_run_duration_seconds_count", { graph_id: "m:slow" })).toBe(3)
    expect(idle.value("stargraph_queue_depth", { graph_id: "m:slow" })).toBe(0)
    expect(idle.value("stargraph_runs_running")).toBe(0)
  }, 30_000)

  it("is in /openapi.json, behind the token", async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`, { headers: auth })).json() as { paths: Record<string, Record<string, Record<string, unknown>>> }
    const operation = doc.paths["/metrics"]!["get"]!
    expect(operation["security"]).toEqual([{ bearer: [] }])
    expect(Object.keys((operation["responses"] as Record<string, { content?: Record<string, unknown> }>)["200"]!.content!)).toEqual(["text/plain; version=0.0.4; charset=utf-8"])
  })
})

describe("the text format", () => {
  it("escapes label values and HELP text, and renders a histogram's buckets cumulatively with +Inf", async () => {
    expect(escapeLabelValue("a\\b\"c\nd")).toBe("a\\\\b\\\"c\\nd")
    const counter = Metric.counter("test_escape_total", { description: "line one\nline \\ two", incremental: true }).pipe(Metric.tagged("who", "a \"q\" \\ b\nc"))
    const histogram = Metric.histogram("test_hist_seconds", MetricBoundaries.fromIterable([1, 2]), "h")
    const upDown = Metric.counter("test_up_down")
    await Effect.runPromise(Effect.all([Metric.increment(counter), Metric.update(histogram, 0.5), Metric.update(histogram, 1.5), Metric.update(histogram, 9), Metric.incrementBy(upDown, -2)]))
    const text = render(await Effect.runPromise(Metric.snapshot))
    expect(text).toContain("# HELP test_escape_total line one\\nline \\\\ two\n# TYPE test_escape_total counter\ntest_escape_total{who=\"a \\\"q\\\" \\\\ b\\nc\"} 1\n")
    expect(parse(text).value("test_escape_total", { who: "a \"q\" \\ b\nc" })).toBe(1)
    // A counter that may go down (not incremental, as Effect's effect_fiber_active) is a gauge to Prometheus.
    expect(text).toContain("# TYPE test_up_down gauge\ntest_up_down -2\n")
    expect(text).toContain([
      "# TYPE test_hist_seconds histogram",
      "test_hist_seconds_bucket{le=\"1\"} 1",
      "test_hist_seconds_bucket{le=\"2\"} 2",
      "test_hist_seconds_bucket{le=\"+Inf\"} 3",
      "test_hist_seconds_sum 11",
      "test_hist_seconds_count 3"
    ].join("\n"))
  })
})

describe("queue depth from a Checkpointer without countPending (an app's own)", () => {
  it("counts the unclaimed rows listPending gives, as countPending does", async () => {
    const counts = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* MemoryCheckpointer.make
      const graph = yield* Graph.make({ ir_version: "1.0.0", id: "run:queued", state_schema: { a: "str" }, nodes: [{ id: "n", kind: "noop" }] })
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) ids.push((yield* c.createRun(yield* graph.newRun({ inputs: { a: "x" }, queued: true }))).record.run_id)
      yield* c.claimPending(ids[0]!, "host:1", new Date().toISOString())
      const { countPending: _own, ...withoutCount } = c
      return [Object.fromEntries(yield* pendingCounts(c)), Object.fromEntries(yield* pendingCounts(withoutCount))]
    }))
    expect(counts).toEqual([{ "run:queued": 2 }, { "run:queued": 2 }])
  })
})

describe("runs started", () => {
  it("a run a drain requeued before its first step committed counts started once, claimed again off the queue or resumed directly; two runs count two", async () => {
    const graphId = "m:requeued"
    const started = async () => parse(render(await Effect.runPromise(Metric.snapshot))).value("stargraph_runs_started_total", { graph_id: graphId }) ?? 0
    const seen: Array<Record<string, unknown>> = []
    const audit = Layer.succeed(AuditSink, { write: (record) => Effect.sync(() => void (record["event"] === "run.started" && seen.push(record))) })
    const resumedFlags = (runId: string) => seen.filter((e) => e["run_id"] === runId).map((e) => e["resumed"])
    // A draining process's node outlasts its drain; a later one's returns at once.
    let delayMs = 0
    const work = async (state: Record<string, unknown>) => {
      await new Promise((r) => setTimeout(r, delayMs))
      return { n: (state["n"] as number) + 1 }
    }
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0", id: graphId,
      state_schema: { fields: { n: { type: "integer", default: 0 } } },
      nodes: [{ id: "work", kind: "function", module: "m", export: "work" }]
    }, { modules: { m: { work } } }))
    const filename = join(tempDir(), "requeued.sqlite")
    const store = SqliteCheckpointer.layer({ filename })
    const processOn = <A, E>(body: Effect.Effect<A, E, Scheduler.Scheduler | Checkpointer>, options: Scheduler.SchedulerOptions = {}) =>
      Effect.runPromise(body.pipe(Effect.provide(Scheduler.layer({ pollIntervalMs: 50, ...options }).pipe(
        Layer.provideMerge(GraphRegistry.layer([graph])),
        Layer.provideMerge(store),
        Layer.provideMerge(audit)
      ))))
    /** A run one process claimed and was stopped in, in its first step: the drain requeues it, started. */
    const requeuedRun = async () => {
      delayMs = 20_000
      const runId = await processOn(Effect.gen(function*() {
        const enqueued = yield* (yield* Scheduler.Scheduler).enqueue(graphId, {})
        yield* Effect.sleep("200 millis")
        return enqueued.runId
      }), { drainTimeoutMs: 50, abortGraceMs: 50 })
      delayMs = 0
      const record = Option.getOrThrow(await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)).pipe(Effect.provide(store))))
      expect(record).toMatchObject({ status: "pending", owner: null, last_step: 0 })
      expect(record.started_at).not.toBeNull()
      return runId
    }
    const before = await started()
    const claimedAgain = await requeuedRun()
    expect((await started()) - before).toBe(1)
    // The next process claims it off the queue and finishes it: not a second start.
    const status = await processOn(Effect.flatMap(Checkpointer, (c) =>
      c.getRun(claimedAgain).pipe(
        Effect.map((r) => Option.getOrThrow(r).status),
        Effect.repeat({ until: (s) => s === "done", schedule: Schedule.spaced("25 millis") }),
        Effect.timeout("10 seconds"),
        Effect.zipRight(Effect.map(c.getRun(claimedAgain), (r) => Option.getOrThrow(r).status))
      )))
    expect(status).toBe("done")
    expect((await started()) - before).toBe(1)
    expect(resumedFlags(claimedAgain)).toEqual([false, true])
    // Resumed directly instead (what `stargraph resume` does): not a second start either.
    const resumedDirectly = await requeuedRun()
    expect((await started()) - before).toBe(2)
    const summary = await Effect.runPromise(Effect.flatMap(graph.resume(resumedDirectly), (run) => run.start()).pipe(Effect.provide(Layer.merge(store, audit))))
    expect(summary.status).toBe("done")
    expect((await started()) - before).toBe(2)
    expect(resumedFlags(resumedDirectly)).toEqual([false, true])
    // Another run is another start.
    await processOn(Effect.gen(function*() {
      const enqueued = yield* (yield* Scheduler.Scheduler).enqueue(graphId, {})
      yield* Deferred.await(enqueued.summary)
    }))
    expect((await started()) - before).toBe(3)
  }, 30_000)
})
