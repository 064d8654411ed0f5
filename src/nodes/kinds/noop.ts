/** `noop`: does nothing; a join point or a named branch end. */
import * as Effect from "effect/Effect"
import { NO_UPDATE } from "../Executor.js"
import * as NodeKind from "../NodeKind.js"

/** The `noop` kind. */
export const NoopKind = NodeKind.make({
  name: "noop",
  summary: "Does nothing; a join point or a named branch end.",
  fields: {},
  compile: () => Effect.succeed({ execute: () => Effect.succeed(NO_UPDATE) })
})
