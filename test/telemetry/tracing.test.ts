import { spawn } from "node:child_process"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { rmSync } from "node:fs"
import { join } from "node:path"
import { type ReadableSpan, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Tracer from "effect/Tracer"
import { TracingEnabled } from "../../src/telemetry/TracingEnabled.js"
import { describe, expect, it } from "vitest"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import * as Serve from "../../src/serve/server.js"
import * as Tracing from "../../src/telemetry/Tracing.js"
import { ROOT, tempDir } from "../helpers/cli.js"

const ir = {
  ir_version: "1.0.0",
  id: "run:traced",
  state_schema: { fields: { n: { type: "integer", default: 0, reducer: "add" } } },
  nodes: [{ id: "a", kind: "set", values: { n: 1 } }, { id: "b", kind: "set", values: { n: 1 } }],
  edges: [{ from: "a", to: "b" }]
}

/** An exporter that keeps what it is given (the provider's shutdown clears an InMemorySpanExporter). */
const collecting = () => {
  const spans: Array<ReadableSpan> = []
  const exporter: SpanExporter = {
    export: (batch, done) => {
      spans.push(...batch)
      done({ code: 0 })
    },
    shutdown: () => Promise.resolve()
  }
  return { exporter, spans }
}

describe("tracing", () => {
  it("creates a run span and one span per step when a tracing layer is provided, none otherwise", async () => {
    const { exporter, spans } = collecting()
    const program = Effect.flatMap(Graph.make(ir), (g) => Effect.flatMap(g.start(), (r) => r.start()))
    const summary = await Effect.runPromise(program.pipe(Effect.provide(MemoryCheckpointer.layer), Effect.provide(Tracing.layerWith(new SimpleSpanProcessor(exporter)))))
    expect(spans.filter((s) => s.name === "stargraph.step").map((s) => s.attributes["stargraph.step"])).toEqual([1, 2])
    const run = spans.find((s) => s.name === "stargraph.run")
    expect(run?.attributes["stargraph.run_id"]).toBe(summary.run_id)
    // Without a tracing layer the loop creates no spans at all (checked with a recording Effect tracer).
    const names: Array<string> = []
    const recorded = (enabled: boolean) =>
      Effect.flatMap(Effect.tracer, (native) =>
        program.pipe(
          Effect.provide(MemoryCheckpointer.layer),
          Effect.provideService(TracingEnabled, enabled),
          Effect.withTracer(Tracer.make({ span: (...args) => (names.push(args[0]), native.span(...args)), context: native.context }))
        ))
    await Effect.runPromise(recorded(false))
    expect(names.filter((n) => n.startsWith("stargraph."))).toEqual([])
    await Effect.runPromise(recorded(true))
    expect(names.filter((n) => n.startsWith("stargraph."))).toEqual([
      "stargraph.run", "stargraph.step", "stargraph.node", "stargraph.checkpoint.commit", "stargraph.step", "stargraph.node", "stargraph.checkpoint.commit"
    ])

  })

  it("a request the server answers with a 5xx has an error span (and its answer); others are OK", async () => {
    const { exporter, spans } = collecting()
    const dir = tempDir()
    const db = join(dir, "data", "serve.sqlite")
    const answers = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const started = yield* Serve.start({ port: 0, db })
      const ok = yield* Effect.promise(() => fetch(`${started.url}/healthz`))
      rmSync(join(dir, "data"), { recursive: true, force: true })
      const gone = yield* Effect.promise(() => fetch(`${started.url}/healthz`))
      const body = yield* Effect.promise(() => gone.json() as Promise<{ error: { details: { reason: string } } }>)
      return [ok.status, gone.status, body.error.details.reason]
    })).pipe(Effect.provide(Tracing.layerWith(new SimpleSpanProcessor(exporter)))))
    expect(answers).toEqual([200, 503, "unavailable"])
    const health = spans.filter((s) => s.attributes["url.path"] === "/healthz")
    expect(health.map((s) => [s.attributes["http.response.status_code"], s.status.code])).toEqual([[200, 1], [503, 2]])
  })

  it("exports spans over OTLP/HTTP from the CLI when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-only variable) is set", async () => {
    const bodies: Array<{ path: string; body: string }> = []
    const collector = createServer((req, res) => {
      let body = ""
      req.on("data", (c: Buffer) => (body += c.toString("latin1")))
      req.on("end", () => {
        bodies.push({ path: req.url ?? "", body })
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    await new Promise<void>((r) => collector.listen(0, "127.0.0.1", () => r()))
    const port = (collector.address() as AddressInfo).port
    try {
      for (const env of [{ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces` }]) {
        bodies.length = 0
        const code = await new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), "run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=traced", "--checkpoint", join(tempDir(), "db.sqlite"), "--no-summary"], {
            env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "", ...env },
            stdio: "ignore"
          })
          child.on("exit", resolve)
        })
        expect(code).toBe(0)
        const traces = bodies.filter((b) => b.path === "/v1/traces").map((b) => b.body).join("")
        expect(traces, Object.keys(env)[0]).toContain("stargraph.run")
        expect(traces).toContain("stargraph.step")
      }
    } finally {
      collector.close()
    }
  })

  it("one trace per caller: the app's span → enqueue → run → step → node, commits under the run; stargraph.* attributes; an idle poll makes no span; an app's own SDK needs no switch", async () => {
    const { exporter, spans } = collecting()
    // The application's own OpenTelemetry Layer, not stargraph/tracing: no TracingEnabled.
    const appSdk = NodeSdk.layer(() => ({ resource: { serviceName: "my-app" }, spanProcessor: new SimpleSpanProcessor(exporter) }))
    const summary = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir)
      return yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        // Idle: the queue is polled every 20 ms, no span may come of it.
        yield* Effect.sleep("150 millis")
        const enqueued = yield* scheduler.enqueue(graph.id, {}).pipe(Effect.withSpan("app.request"))
        return yield* Deferred.await(enqueued.summary)
      }).pipe(Effect.provide(Scheduler.layer({ pollIntervalMs: 20 }).pipe(
        Layer.provideMerge(GraphRegistry.layer([graph])),
        Layer.provideMerge(SqliteCheckpointer.layer({ filename: join(tempDir(), "traced.sqlite") }))
      )))
    }).pipe(Effect.provide(appSdk)))
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]))
    const parentName = (s: ReadableSpan | undefined) => {
      const parent = s?.parentSpanContext?.spanId
      return parent === undefined ? undefined : byId.get(parent)?.name
    }
    const one = (name: string) => spans.find((s) => s.name === name)
    expect(parentName(one("stargraph.scheduler.enqueue"))).toBe("app.request")
    expect(parentName(one("stargraph.run"))).toBe("stargraph.scheduler.enqueue")
    expect(spans.filter((s) => s.name === "stargraph.step").map(parentName)).toEqual(["stargraph.run", "stargraph.run"])
    expect(spans.filter((s) => s.name === "stargraph.node").map(parentName)).toEqual(["stargraph.step", "stargraph.step"])
    expect(spans.filter((s) => s.name === "stargraph.checkpoint.commit").map(parentName)).toEqual(["stargraph.run", "stargraph.run"])
    expect(one("stargraph.run")?.attributes["stargraph.run_id"]).toBe(summary.run_id)
    expect(one("stargraph.node")?.attributes["stargraph.node_id"]).toBe("a")
    expect(one("stargraph.scheduler.enqueue")?.attributes["stargraph.run_id"]).toBe(summary.run_id)
    // Every span is in the app's one trace (nothing from the idle polls).
    // Three traces: opening the database, the app's request (everything the run did), the drain
    // at shutdown; nothing from the idle polls.
    const roots = spans.filter((s) => s.parentSpanContext === undefined).map((s) => s.name)
    expect(roots.sort()).toEqual(["app.request", "stargraph.checkpoint.open", "stargraph.scheduler.drain"])
    expect(spans.every((s) => Object.keys(s.attributes).every((k) => !/^(run_id|graph_id|step|nodes)$/.test(k)))).toBe(true)
  })
})
