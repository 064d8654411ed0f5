/** The rag-qa bundle's state (the original's `RagQAState` model), as an Effect Schema. */
import * as Schema from "effect/Schema"

const text = Schema.optionalWith(Schema.String, { default: () => "" })

export const RagQAState = Schema.Struct({
  /** Input: the question. */
  question: text,
  /** What the rag node retrieves with: the question and the judge's last feedback. */
  brief: text,
  /** The answer, and the ids of the documents retrieved for it (best first). */
  answer: text,
  citations: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  /** What the judge reads: question, answer and citations. */
  review_input: text,
  /** The judge's verdict (pass/fail, routed on), score (a float as a string) and feedback. */
  verdict: text,
  score: text,
  rationale: text
})
