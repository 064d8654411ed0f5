/** State for the governance-pack tutorial: a message and the risk class the pack routes on. */
import * as Schema from "effect/Schema"

export const HelloState = Schema.Struct({
  message: Schema.optionalWith(Schema.String, { default: () => "" }),
  risk_class: Schema.optionalWith(Schema.Literal("low", "high"), { default: () => "low" as const })
})
