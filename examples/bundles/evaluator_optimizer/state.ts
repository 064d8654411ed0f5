/** The evaluator-optimizer bundle's state (the original's `RefineState` model), as an Effect Schema. */
import * as Schema from "effect/Schema"

const text = Schema.optionalWith(Schema.String, { default: () => "" })

export const RefineState = Schema.Struct({
  /** Input: what to produce. */
  task: text,
  /** What the drafter reads: the task and the judge's last feedback. */
  brief: text,
  /** The current draft. */
  answer: text,
  /** The judge's verdict (pass/fail, routed on), score (a float as a string) and feedback. */
  verdict: text,
  score: text,
  rationale: text
})
