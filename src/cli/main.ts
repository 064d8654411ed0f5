/** Entry point of the `stargraph` command. */
import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { STARGRAPH_VERSION } from "../version.js"
import { stargraph } from "./commands.js"

const cli = Command.run(stargraph, { name: "stargraph", version: STARGRAPH_VERSION })

// The OpenTelemetry SDK is loaded only when an OTLP endpoint is configured.
const tracing = process.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
  ? Layer.unwrapEffect(Effect.promise(() => import("../telemetry/Tracing.js").then((t) => t.layerFromEnv())))
  : Layer.empty

cli(process.argv).pipe(
  Effect.provide(Layer.merge(NodeContext.layer, tracing)),
  NodeRuntime.runMain({ disableErrorReporting: false })
)
