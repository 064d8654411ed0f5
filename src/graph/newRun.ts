/**
 * The run record and step-0 checkpoint a new run is created with, from the state it
 * starts in: what `Graph.newRun` persists, and a thread's continued run too.
 */
import { type Breakpoints, type DefaultModelRecord, INPUT_NODE, type NewRun } from "../checkpoint/models.js"
import type { State } from "../ir/stateSchema.js"
import type { GraphDefinition } from "../runtime/GraphDefinition.js"

/** Who starts the run and how (the fields of `StartOptions` a new run records). */
export interface NewRunFields {
  readonly inputs: { readonly [field: string]: unknown }
  readonly idempotencyKey?: string | undefined
  readonly actor?: string | undefined
  readonly queued?: boolean | undefined
  /** The run's breakpoints, already checked against the graph's nodes (null or absent: none). */
  readonly breakpoints?: Breakpoints | null | undefined
  /** The default model the run starts with (null or absent: none), kept on its record. */
  readonly defaultModel?: DefaultModelRecord | null | undefined
  /**
   * For a thread's run: whether the request passed over the thread's failed and cancelled
   * runs, kept on its record (`skip_failed`: a retry under its key is compared with it).
   */
  readonly skipFailed?: boolean | undefined
  /**
   * The thread the run joins, the thread's run it continues (null: its first), and the
   * thread's newest run as read when the run was prepared (`NewRun.thread_newest`; left
   * out: the run it continues).
   */
  readonly thread?: { readonly id: string; readonly continuedFrom: string | null; readonly newest?: string | null | undefined } | undefined
  /**
   * A child run of a `subgraph` node: its parent run and step, and the process driving it
   * at once (created `running`, owned by `owner`).
   */
  readonly child?: ChildLink | undefined
}

/** Where a child run hangs in its parent, and who drives it. */
export interface ChildLink {
  readonly parentRunId: string
  readonly parentStep: number
  readonly owner: string
}

/**
 * A new run of `definition` starting in `state` at `at`. Step 0's write is `written` (the
 * update its inputs made: the whole state for a run that starts afresh) and its delta
 * `delta` (default: the whole state).
 */
export const newRunOf = (
  definition: GraphDefinition,
  state: State,
  fields: NewRunFields,
  at: string,
  step0: { readonly written?: State | undefined; readonly delta?: State | undefined } = {}
): NewRun => ({
  graph_id: definition.id,
  graph_hash: definition.graphHash,
  runtime_hash: definition.runtimeHash,
  inputs: fields.inputs,
  idempotency_key: fields.idempotencyKey ?? null,
  graph_source: definition.source ?? null,
  actor: fields.actor ?? null,
  breakpoints: fields.breakpoints ?? null,
  ...(fields.defaultModel != null ? { default_model: fields.defaultModel } : {}),
  ...(fields.skipFailed !== undefined ? { skip_failed: fields.skipFailed } : {}),
  created_at: at,
  queued: fields.queued ?? false,
  ...(fields.thread !== undefined ? { thread_id: fields.thread.id, continued_from: fields.thread.continuedFrom } : {}),
  ...(fields.thread?.newest !== undefined && fields.thread.newest !== fields.thread.continuedFrom ? { thread_newest: fields.thread.newest } : {}),
  // Built in one object literal, not spread over a top-level run's: a child is made on every parent step that reaches its node.
  ...(fields.child !== undefined
    ? { parent_run_id: fields.child.parentRunId, fork_step: fields.child.parentStep, running: { owner: fields.child.owner, started_at: at } }
    : {}),
  initial: {
    step: 0,
    node: INPUT_NODE,
    nodes: [INPUT_NODE],
    state,
    writes: [{ node: INPUT_NODE, update: step0.written ?? state }],
    delta: step0.delta ?? state,
    next: [definition.topology.entry],
    joins: {},
    graph_hash: definition.graphHash,
    runtime_hash: definition.runtimeHash,
    parent_run_id: fields.child?.parentRunId ?? null,
    parent_step: fields.child?.parentStep ?? null,
    started_at: at,
    finished_at: at,
    duration_ms: 0
  }
})
