/**
 * OpenTelemetry tracing: spans per HTTP request, per run (`stargraph.run`) and per step
 * (`stargraph.step`), exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 * Otherwise tracing is off and the run loop creates no spans at all.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Layer from "effect/Layer"
import { STARGRAPH_VERSION } from "../version.js"
import { TracingEnabled } from "./TracingEnabled.js"

/** Tracing through the given span processor (tests use an in-memory exporter). */
export const layerWith = (processor: SpanProcessor, serviceName = "stargraph"): Layer.Layer<never> =>
  Layer.merge(
    Layer.discard(NodeSdk.layer(() => ({ resource: { serviceName, serviceVersion: STARGRAPH_VERSION }, spanProcessor: processor }))),
    Layer.succeed(TracingEnabled, true)
  ) as Layer.Layer<never>

/** OTLP/HTTP export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set in `env`; otherwise nothing. */
export const layerFromEnv = (env: { readonly [name: string]: string | undefined } = process.env): Layer.Layer<never> =>
  env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    ? layerWith(new BatchSpanProcessor(new OTLPTraceExporter()), env["OTEL_SERVICE_NAME"] ?? "stargraph")
    : Layer.empty

