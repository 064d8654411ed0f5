/** The deep-research bundle's state (the original's `ResearchState` model), as an Effect Schema. */
import * as Schema from "effect/Schema"

const text = Schema.optionalWith(Schema.String, { default: () => "" })

/** One tool call of the research agent: the tool as the model named it, its arguments and what it returned. */
const ToolCall = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export const ResearchState = Schema.Struct({
  /** Input: what to research. */
  question: text,
  /** What the agent reads: the question and the judge's named gaps. */
  brief: text,
  /** The agent's answer. */
  answer: text,
  /** Every tool call the agent made on its last pass (`{tool, args, observation}`). */
  tool_trace: Schema.optionalWith(Schema.Array(ToolCall), { default: () => [] }),
  /** The judge's verdict (pass/fail, routed on), score (a float as a string) and the gaps it found. */
  verdict: text,
  score: text,
  rationale: text
})
