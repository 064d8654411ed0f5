/** The switch for run and step spans; kept apart from the OpenTelemetry SDK so that loading it costs nothing. */
import * as Context from "effect/Context"

/** Whether Stargraph creates run and step spans (false unless a tracing layer is provided). */
export class TracingEnabled extends Context.Reference<TracingEnabled>()("stargraph/TracingEnabled", {
  defaultValue: (): boolean => false
}) {}
