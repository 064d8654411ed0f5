/**
 * `halt` (the original Stargraph's kind): a terminal marker. It writes nothing, and when
 * no rule routes away from it the run stops there, `done`, with `config.reason`.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { NO_UPDATE } from "../Executor.js"
import * as NodeKind from "../NodeKind.js"

/** The `halt` kind. */
export const HaltKind = NodeKind.make({
  name: "halt",
  summary: "A terminal marker: when no rule routes away from it, the run stops there (done) with config.reason.",
  fields: {
    spec: Schema.optional(Schema.String),
    config: Schema.optional(Schema.Struct({ reason: Schema.optional(Schema.String) }))
  },
  stops: "halts",
  compile: (node) =>
    Effect.succeed({
      execute: () => Effect.succeed(NO_UPDATE),
      halts: node.config?.reason ?? `reached halt node '${node.id}'`
    })
})
