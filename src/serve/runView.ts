/**
 * A run record as the HTTP API shows it, the one projection `GET /v1/runs/{id}` and each
 * item of `GET /v1/runs` are built from: its error redacted (no stack frame, no server
 * path), its wait with its id, and never the graph file's path on the server.
 */
import { type RunRecord } from "../checkpoint/models.js"
import { withWaitId } from "../checkpoint/waitId.js"
import { redactErrorRecord } from "../triggers/httpError.js"

/** `record` as the API shows it (`RunFields` of `StargraphApi.ts`): everything but `final_state` and `takeovers`, which a single run's read adds. */
export const runFieldsOf = (record: RunRecord) => ({
  run_id: record.run_id,
  graph_id: record.graph_id,
  status: record.status,
  graph_hash: record.graph_hash,
  runtime_hash: record.runtime_hash,
  started_at: record.started_at,
  finished_at: record.finished_at,
  steps: record.last_step,
  error: record.error === null ? null : redactErrorRecord(record.error),
  // Its id, also on a wait written before ids were kept.
  waiting: withWaitId(record.waiting),
  parent_run_id: record.parent_run_id,
  fork_step: record.fork_step,
  created_at: record.created_at,
  idempotency_key: record.idempotency_key,
  owner: record.owner,
  actor: record.actor,
  inputs: record.inputs,
  breakpoints: record.breakpoints,
  thread_id: record.thread_id,
  continued_from: record.continued_from,
  taken_over: record.taken_over,
  default_model: record.default_model,
  derived_hash: record.derived_hash,
  mutation: record.mutation,
  fork_max_steps: record.fork_max_steps,
  live_after_fork: record.live_after_fork
})
