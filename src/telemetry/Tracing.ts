/**
 * OpenTelemetry tracing: spans per HTTP request, per run (`stargraph.run`) and per step
 * (`stargraph.step`), exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
 * Otherwise tracing is off and the run loop creates no spans at all.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Layer from "effect/Layer"
import { STARGRAPH_VERSION } from "../version.js"
import { otlpConfigured, TracingEnabled } from "./TracingEnabled.js"

/**
 * Tracing through the given span processor (tests use an in-memory exporter). Spans not
 * exported yet are flushed when the layer closes, for at most `shutdownTimeoutMs`.
 */
export const layerWith = (processor: SpanProcessor, serviceName = "stargraph", shutdownTimeoutMs = 3_000): Layer.Layer<never> =>
  Layer.merge(
    Layer.discard(NodeSdk.layer(() => ({ resource: { serviceName, serviceVersion: STARGRAPH_VERSION }, spanProcessor: processor, shutdownTimeout: shutdownTimeoutMs }))),
    Layer.succeed(TracingEnabled, true)
  ) as Layer.Layer<never>

/** How long one export may wait for the collector unless `OTEL_EXPORTER_OTLP_TIMEOUT` says: a collector that is down must not hold up a command. */
const EXPORT_TIMEOUT_MS = 2_000

/**
 * OTLP/HTTP export when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
 * is set in `env`; otherwise nothing. A collector that does not answer costs an export at
 * most 2 s (unless `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise), and the final flush as much.
 */
export const layerFromEnv = (env: { readonly [name: string]: string | undefined } = process.env): Layer.Layer<never> =>
  otlpConfigured(env)
    ? layerWith(
      new BatchSpanProcessor(new OTLPTraceExporter(env["OTEL_EXPORTER_OTLP_TIMEOUT"] ? {} : { timeoutMillis: EXPORT_TIMEOUT_MS }), { exportTimeoutMillis: EXPORT_TIMEOUT_MS }),
      env["OTEL_SERVICE_NAME"] ?? "stargraph",
      EXPORT_TIMEOUT_MS
    )
    : Layer.empty

