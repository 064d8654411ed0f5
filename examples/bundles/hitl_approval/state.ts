/** The hitl-approval bundle's state (the original's `ApprovalState` model), as an Effect Schema. */
import * as Schema from "effect/Schema"

const text = Schema.optionalWith(Schema.String, { default: () => "" })

export const ApprovalState = Schema.Struct({
  /** Input: the action that needs approval. */
  request: text,
  /** The proposed plan (the `reason` node's answer) and its rationale. */
  answer: text,
  rationale: text,
  /** Set once a person answered and the run resumed. */
  approved_plan: text
})
