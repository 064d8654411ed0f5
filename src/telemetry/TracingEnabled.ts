/**
 * Whether Stargraph creates its spans (CLI command, run, step, node, checkpoint commit,
 * enqueue). Kept apart from the OpenTelemetry SDK so that loading it costs nothing.
 *
 * By default (`"auto"`) Stargraph traces exactly when the fiber has a real tracer: an
 * application that provides its own OpenTelemetry Layer (`@effect/opentelemetry`'s
 * `NodeSdk.layer`, or any `Tracer` Layer) gets Stargraph's spans in its traces with no
 * other switch; with Effect's built-in tracer (nothing exported) no span is made at all.
 * Provide `true` or `false` to force it either way.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

/**
 * Whether `env` asks for OTLP export: `OTEL_EXPORTER_OTLP_ENDPOINT`, or the traces-only
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (both standard OpenTelemetry variables).
 */
export const otlpConfigured = (env: { readonly [name: string]: string | undefined }): boolean =>
  Boolean(env["OTEL_EXPORTER_OTLP_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])

/** The tracing switch: `"auto"` (default), or forced on or off. */
export class TracingEnabled extends Context.Reference<TracingEnabled>()("stargraph/TracingEnabled", {
  defaultValue: (): boolean | "auto" => "auto"
}) {}

/** Effect's built-in tracer, as every fiber has it unless an application provides another. */
const builtIn = Effect.runSync(Effect.tracer)

/** Whether to create spans here: the switch, or (`"auto"`) whether a tracer other than Effect's built-in one is installed. */
export const tracing: Effect.Effect<boolean> = Effect.flatMap(TracingEnabled, (enabled) =>
  enabled === "auto" ? Effect.map(Effect.tracer, (tracer) => tracer !== builtIn) : Effect.succeed(enabled))

/** `effect` inside a span named `name` when tracing (see {@link tracing}); as it is otherwise. */
export const traced = (name: string, attributes: { readonly [key: string]: unknown } = {}) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(tracing, (on) => (on ? Effect.withSpan(effect, name, { attributes }) : effect))
