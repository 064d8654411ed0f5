/** The orchestrator-workers bundle's state (the original's `OrchestratorState` model), as an Effect Schema. */
import * as Schema from "effect/Schema"

const text = Schema.optionalWith(Schema.String, { default: () => "" })

export const OrchestratorState = Schema.Struct({
  /** Input: the overall task. */
  task: text,
  /** The planner's subtasks. */
  tasks: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  /** What the worker reads: the task and the subtask list. */
  brief: text,
  /** The worker's findings. */
  answer: text,
  /** Every tool call the worker made (`{tool, args, observation}`). */
  tool_trace: Schema.optionalWith(Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown })), { default: () => [] }),
  /** What the synthesizer reads: the task and the findings. */
  synth_input: text,
  /** The synthesis: the result. */
  summary: text
})
