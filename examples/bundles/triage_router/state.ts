/**
 * The triage-router bundle's state (the original's `TriageState` model), as an Effect
 * Schema. `verdict` is a scalar field, so it is mirrored into the rule engine as a fact:
 * the rules route on it.
 */
import * as Schema from "effect/Schema"

const text = Schema.optionalWith(Schema.String, { default: () => "" })

export const TriageState = Schema.Struct({
  /** Input: the thing to triage. */
  item: text,
  /** The classifier's label and its confidence (a float as a string, as in the original). */
  verdict: text,
  confidence: text,
  /** The urgent path's proposed actions, the routine path's digest. */
  answer: text,
  summary: text,
  rationale: text
})
