/**
 * Typed run events, emitted by the run loop on every lifecycle transition and step.
 * They are a wire format (audit JSONL, HTTP streams), so fields are snake_case; `seq`
 * numbers a run's events from 0 so late subscribers can de-duplicate.
 */
import * as Schema from "effect/Schema"
import { ErrorRecord, RunStatus, StateRecord, TakenOver, WaitingInfo } from "../checkpoint/models.js"

const base = {
  run_id: Schema.String,
  seq: Schema.Int,
  at: Schema.String
}

/** The loop began (or resumed) driving a run. */
export const RunStarted = Schema.Struct({
  ...base,
  type: Schema.Literal("run.started"),
  graph_id: Schema.String,
  graph_hash: Schema.String,
  /** Step the loop continues from (0 for a fresh run). */
  from_step: Schema.Int,
  resumed: Schema.Boolean,
  /**
   * Set when this drive took the run over from the process that held it (it died, its
   * lease lapsed, an operator forced it): who held it, who took it, why and when. The
   * same record is kept on the run's record (`taken_over`).
   */
  taken_over: Schema.optional(TakenOver)
})

/** A step is about to execute its node(s). */
export const StepStarted = Schema.Struct({
  ...base,
  type: Schema.Literal("step.started"),
  step: Schema.Int,
  nodes: Schema.Array(Schema.String)
})

/** A step's checkpoint was committed. */
export const StepCompleted = Schema.Struct({
  ...base,
  type: Schema.Literal("step.completed"),
  step: Schema.Int,
  nodes: Schema.Array(Schema.String),
  delta: StateRecord,
  next: Schema.Array(Schema.String),
  duration_ms: Schema.Number,
  /** The rules that fired after the step (in firing order) and each node's routing, as text. */
  rules: Schema.optional(Schema.Struct({
    fired: Schema.Array(Schema.String),
    decisions: Schema.Record({ key: Schema.String, value: Schema.String })
  }))
})

/** The run stopped at an interrupt and waits for a response. */
export const WaitingForInput = Schema.Struct({
  ...base,
  type: Schema.Literal("run.waiting"),
  waiting: WaitingInfo
})

/** The run stopped after a step because a pause was requested. */
export const RunPaused = Schema.Struct({
  ...base,
  type: Schema.Literal("run.paused"),
  step: Schema.Int,
  /**
   * Set (true) when a draining server stopped the run: it is `pending`, back on the queue,
   * and goes on in the next server (from the step after `step`).
   */
  requeued: Schema.optional(Schema.Boolean)
})

/** The run reached `done`. */
export const RunFinished = Schema.Struct({
  ...base,
  type: Schema.Literal("run.finished"),
  status: RunStatus,
  steps: Schema.Int,
  final_state: StateRecord,
  /** Set when a rule's `halt` action (or a halt node) ended the run. */
  halt: Schema.optional(Schema.Struct({ rule: Schema.String, reason: Schema.String, node: Schema.String }))
})

/** The run ended `failed` (a node or the state broke) or `error` (the runtime broke). */
export const RunFailed = Schema.Struct({
  ...base,
  type: Schema.Literal("run.failed"),
  status: RunStatus,
  error: ErrorRecord
})

/** The run was cancelled. */
export const RunCancelled = Schema.Struct({
  ...base,
  type: Schema.Literal("run.cancelled"),
  step: Schema.Int
})

/**
 * Text a node's live model call streamed (a language-model node with `stream: true`), as it
 * arrives: for a chat UI. Not written to the audit log; a replayed call streams nothing.
 */
export const NodeDelta = Schema.Struct({
  ...base,
  type: Schema.Literal("node.delta"),
  step: Schema.Int,
  node: Schema.String,
  text: Schema.String
})

/**
 * Data a node published while it ran (`ctx.emit`), as it ran: progress for a UI, like
 * LangGraph's custom stream writer. Live only: not recorded, not written to the audit
 * log, not in a stream re-read from the checkpoints; a replay's node publishes again.
 */
export const NodeCustom = Schema.Struct({
  ...base,
  type: Schema.Literal("node.custom"),
  step: Schema.Int,
  node: Schema.String,
  data: Schema.Unknown
})

/**
 * A node's interrupted body (its run cancelled, its `timeout_ms` reached) did not return
 * within the grace after its `ctx.signal` was aborted: the run went on without it, and
 * it may still be running, unseen. Written to the audit log.
 */
export const NodeOutlived = Schema.Struct({
  ...base,
  type: Schema.Literal("node.outlived"),
  step: Schema.Int,
  node: Schema.String,
  /** Why its attempt was interrupted (the signal's reason). */
  reason: Schema.String,
  /** How long it was waited for. */
  grace_ms: Schema.Number
})

/** Any run event. */
export const RunEvent = Schema.Union(
  RunStarted,
  StepStarted,
  NodeDelta,
  NodeCustom,
  NodeOutlived,
  StepCompleted,
  WaitingForInput,
  RunPaused,
  RunFinished,
  RunFailed,
  RunCancelled
)
/** Any run event. */
export type RunEvent = typeof RunEvent.Type

/** Event types after which a run's event stream ends. */
export const FINAL_EVENT_TYPES: ReadonlySet<RunEvent["type"]> = new Set([
  "run.waiting",
  "run.paused",
  "run.finished",
  "run.failed",
  "run.cancelled"
])

/** An event without the bookkeeping fields the emitter fills in. */
export type RunEventInput = RunEvent extends infer E ? E extends RunEvent ? Omit<E, "seq" | "at" | "run_id"> : never : never
