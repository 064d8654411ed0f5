/** Entry point of the `stargraph` command. */
import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { STARGRAPH_VERSION } from "../version.js"
import { stargraph } from "./commands.js"

const cli = Command.run(stargraph, { name: "stargraph", version: STARGRAPH_VERSION })

cli(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: false })
)
