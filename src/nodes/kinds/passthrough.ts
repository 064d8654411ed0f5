/** `passthrough` (the original Stargraph's kind): writes nothing; checkpointed and routed like any step. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { NO_UPDATE } from "../Executor.js"
import * as NodeKind from "../NodeKind.js"

/** The `passthrough` kind. */
export const PassthroughKind = NodeKind.make({
  name: "passthrough",
  summary: "Writes nothing; the step is checkpointed and routed like any other (a dispatch point for rules).",
  fields: {
    spec: Schema.optional(Schema.String),
    config: Schema.optional(Schema.Struct({}))
  },
  compile: () => Effect.succeed({ execute: () => Effect.succeed(NO_UPDATE) })
})
