import { spawn } from "node:child_process"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { type ReadableSpan, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import { TracingEnabled } from "../../src/telemetry/TracingEnabled.js"
import { describe, expect, it } from "vitest"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Tracing from "../../src/telemetry/Tracing.js"
import { ROOT, tempDir } from "../helpers/cli.js"

const ir = {
  ir_version: "1.0.0",
  id: "run:traced",
  state_schema: { fields: { n: { type: "integer", default: 0, reducer: "add" } } },
  nodes: [{ id: "a", kind: "set", values: { n: 1 } }, { id: "b", kind: "set", values: { n: 1 } }],
  edges: [{ from: "a", to: "b" }]
}

describe("tracing", () => {
  it("creates a run span and one span per step when a tracing layer is provided, none otherwise", async () => {
    // The provider's shutdown clears an InMemorySpanExporter, so collect what it exports.
    const spans: Array<ReadableSpan> = []
    const exporter: SpanExporter = {
      export: (batch, done) => {
        spans.push(...batch)
        done({ code: 0 })
      },
      shutdown: () => Promise.resolve()
    }
    const program = Effect.flatMap(Graph.make(ir), (g) => Effect.flatMap(g.start(), (r) => r.start()))
    const summary = await Effect.runPromise(program.pipe(Effect.provide(MemoryCheckpointer.layer), Effect.provide(Tracing.layerWith(new SimpleSpanProcessor(exporter)))))
    expect(spans.filter((s) => s.name === "stargraph.step").map((s) => s.attributes["step"])).toEqual([1, 2])
    const run = spans.find((s) => s.name === "stargraph.run")
    expect(run?.attributes["run_id"]).toBe(summary.run_id)
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
    expect(names.filter((n) => n.startsWith("stargraph."))).toEqual(["stargraph.run", "stargraph.step", "stargraph.step"])

  })

  it("exports spans over OTLP/HTTP from the CLI when OTEL_EXPORTER_OTLP_ENDPOINT is set", async () => {
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
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), "run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=traced", "--checkpoint", join(tempDir(), "db.sqlite"), "--no-summary"], {
          env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
          stdio: "ignore"
        })
        child.on("exit", resolve)
      })
      expect(code).toBe(0)
      const traces = bodies.filter((b) => b.path === "/v1/traces").map((b) => b.body).join("")
      expect(traces).toContain("stargraph.run")
      expect(traces).toContain("stargraph.step")
    } finally {
      collector.close()
    }
  })
})
