/**
 * The coding-agent bundle's state (the original's `CodingState` model), as an Effect
 * Schema. `verdict` is the field the rules route on: the `code` node writes `pass`/`fail`
 * from the script's exit, the `review` judge then writes its own, and the rules match it
 * only on the `review` node.
 */
import * as Schema from "effect/Schema"

const text = Schema.optionalWith(Schema.String, { default: () => "" })

export const CodingState = Schema.Struct({
  /** Input: what to build. */
  task: text,
  /** The planner's steps. */
  tasks: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  /** What the coder reads: the task, the plan and the reviewer's last feedback. */
  brief: text,
  /** The generated script (the approved one when the run is done). */
  code: text,
  /** The script's run: `{stdout, stderr, exit_code, timed_out, truncated}`. */
  run_result: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  /** What the reviewer reads: the task, the script and its run. */
  review_input: text,
  /** The verdict (pass/fail, routed on), the judge's score (a float as a string) and its feedback. */
  verdict: text,
  score: text,
  rationale: text
})
