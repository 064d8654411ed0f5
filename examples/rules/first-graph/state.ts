/** The run state of the first-graph tutorial, as an Effect Schema (the original used a Pydantic model). */
import * as Schema from "effect/Schema"

export const HelloState = Schema.Struct({
  message: Schema.optionalWith(Schema.String, { default: () => "" })
})
