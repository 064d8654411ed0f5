/**
 * Persisted records: the run record, the per-step checkpoint and the RunSummary. These
 * are wire formats (CLI `--json`, HTTP, audit log), so their fields are snake_case.
 */
import * as Schema from "effect/Schema"
import { StepRules } from "../fathom/Decision.js"
import { FactsSnapshot } from "../fathom/facts.js"
import { ParallelStrategy } from "../ir/rules.js"

/** Run lifecycle states, transitioned only by the run loop. */
export const RunStatus = Schema.Literal("pending", "running", "paused", "awaiting-input", "done", "cancelled", "error", "failed")
/** Run lifecycle states. */
export type RunStatus = typeof RunStatus.Type

/** States after which a run never executes again. */
export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set(["done", "cancelled", "error", "failed"])

/** States of a run that is not finished and may go on (a thread takes no new run while its newest run is in one). */
export const ACTIVE_STATUSES: ReadonlySet<RunStatus> = new Set(["pending", "running", "awaiting-input", "paused"])

/** States in which a run is not executing and will not until someone acts (terminal, paused, waiting). */
export const STOPPED_STATUSES: ReadonlySet<RunStatus> = new Set([...TERMINAL_STATUSES, "awaiting-input", "paused"])

/** True when a status change stops the run (anything but `pending`/`running`): it then leaves the queue. */
export const stopsRun = (status: RunStatus | undefined): boolean => status !== undefined && status !== "running" && status !== "pending"

/** A JSON object of state fields. */
export const StateRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * How a recorded call failed: what a replay fails with again. A Stargraph error comes
 * back as the same class with the same fields; another error as an `Error` of the same
 * built-in class (a `TypeError` stays one) with the same name, message and fields; a
 * plain object as a plain object; a primitive as itself. Fields that are errors (`cause`,
 * `AggregateError.errors`) are kept as failures; other fields that are not JSON are not.
 */
export interface CallFailure {
  /** What failed: a Stargraph error, another `Error`, another object, or a primitive (absent: `error`). */
  readonly kind?: "stargraph" | "error" | "object" | "value" | undefined
  /** The error's `name`; for a primitive, its type (`string`, `number`, `undefined`, `null`, …). */
  readonly name: string
  /** The error's message; for a primitive, its text (`String(value)`). */
  readonly message: string
  /** Its own enumerable fields that are JSON, `_tag` included. */
  readonly fields?: { readonly [key: string]: unknown } | undefined
  /** Its other fields that are JSON: own but not enumerable (`cause`), and its classes' getters' values (`status`). */
  readonly hidden?: { readonly [key: string]: unknown } | undefined
  /** Its fields that are errors (`cause`, `errors`), recorded the same way. */
  readonly nested?: { readonly [key: string]: CallFailure | ReadonlyArray<CallFailure> } | undefined
  /** An Effect's defect (`Effect.die`) rather than its failure: a replay dies with it. */
  readonly defect?: boolean | undefined
}

/** {@link CallFailure}'s Schema. */
export const CallFailure: Schema.Schema<CallFailure> = Schema.Struct({
  kind: Schema.optional(Schema.Literal("stargraph", "error", "object", "value")),
  name: Schema.String,
  message: Schema.String,
  fields: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  hidden: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  nested: Schema.optional(Schema.Record({
    key: Schema.String,
    value: Schema.Union(Schema.suspend(() => CallFailure), Schema.Array(Schema.suspend(() => CallFailure)))
  })),
  defect: Schema.optional(Schema.Boolean)
}).annotations({ identifier: "CallFailure" })

/** One non-deterministic call a node made (tool, LLM, inference, clock, random), as recorded. */
export const CallRecord = Schema.Struct({
  node: Schema.String,
  /** Order of the call among this node's calls in this step, from 0. */
  seq: Schema.Int,
  name: Schema.String,
  request_hash: Schema.String,
  request: Schema.Unknown,
  /** The answer (null when the call failed). */
  response: Schema.Unknown,
  /** Present when the call failed: a replay fails the same way instead of calling again. */
  error: Schema.optional(CallFailure),
  /**
   * The node stopped waiting before the call answered: what came after is not recorded.
   * `true`: its attempt timed out, or the step failed around it; a replay never answers it
   * either. `"returned"`: the node returned without waiting for it; a replay that waits for
   * it after all (the fork took another path) gets a `ReplayDivergenceError`.
   */
  abandoned: Schema.optional(Schema.Literal(true, "returned")),
  /**
   * What the recorder was told about a live call beyond its request, not part of its hash
   * (a replay matches on the request alone): for a language-model call, `reply_parser`, the
   * version of the reply parser its completion was checked under (absent: 1, recorded
   * before it was kept), and when the run-wide default model answered, `{model}`, the model
   * it named. A replayed call keeps the recorded one.
   */
  meta: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})
/** One recorded call. */
export type CallRecord = typeof CallRecord.Type

/** One node's write in a step. */
export const WriteRecord = Schema.Struct({ node: Schema.String, update: StateRecord })

/**
 * The calls a step made before it stopped without a checkpoint (a node asked for input
 * part-way, or failed): the step runs again from the start, and these answer its calls
 * again, so a resumed step sees what it saw before and a replay of a failed run fails
 * as it did. `writes`, kept with a wait: the updates of the step's nodes that finished
 * before a sibling asked; the resumed step takes them as they are instead of running those
 * nodes again (their side effects happen once), with their recorded calls.
 */
export const StepAttempt = Schema.Struct({ step: Schema.Int, calls: Schema.Array(CallRecord), writes: Schema.optional(Schema.Array(WriteRecord)) })
/** The calls of a step that stopped without a checkpoint. */
export type StepAttempt = typeof StepAttempt.Type

/**
 * An earlier wait of the step a run waits at that the run took an answer to, kept while
 * that step is not committed: the wait, the node that asked it, who answered and when
 * (absent: not known). Written where nothing else of the step keeps it: a run waiting on
 * its child run's question (a `subgraph` or `map` node, whose questions are the child's)
 * that was answered and asked again in the same step, or a step whose nodes ask in turn
 * (an answer kept in `others` while the next node asks). Once the step commits, the
 * `interrupt.response` of each node's answer keeps its own: the wait and who gave it, and
 * a node's earlier ones in `meta.answered_waits`.
 */
export const AnsweredWait = Schema.Struct({
  wait_id: Schema.String,
  node: Schema.String,
  actor: Schema.String,
  at: Schema.optional(Schema.String)
})
/** An earlier answered wait of the step a run waits at. */
export type AnsweredWait = typeof AnsweredWait.Type

/**
 * Why a run stopped for input: the interrupt node (or the node after which a rule's
 * `interrupt` action fired), its prompt and the step it waits at; or, `kind: "breakpoint"`,
 * the node a run-time breakpoint paused it before or after (`when`), at the step that node
 * runs (`before`) or ran (`after`).
 */
export const WaitingInfo = Schema.Struct({
  node: Schema.String,
  prompt: Schema.String,
  step: Schema.Int,
  /** The state field the answer is written to (absent: the answer is only asserted as evidence). */
  response_field: Schema.String,
  /**
   * `rule` when a rule's `interrupt` action stopped the run (its id in `rule`);
   * `breakpoint` when one of the run's `interrupt_before`/`interrupt_after` breakpoints did
   * (it needs no answer: resume it without one).
   */
  kind: Schema.optional(Schema.Literal("node", "rule", "breakpoint")),
  rule: Schema.optional(Schema.String),
  /** For a breakpoint: whether it paused the run before `node` ran (nothing of its step ran) or after (its step committed). */
  when: Schema.optional(Schema.Literal("before", "after")),
  /**
   * A node's wait in a step the run had paused before at a breakpoint and was resumed
   * from: when the step runs again with the answer, that breakpoint does not fire again.
   */
  breakpoint_passed: Schema.optional(Schema.Boolean),
  /** The interrupt's `interrupt_payload`. */
  payload: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  /** The capability the interrupt says its answerer needs (`requested_capability`), for the client that answers; not checked by Stargraph. */
  requested_capability: Schema.optional(Schema.String),
  /** When the run stopped to ask (ISO 8601): the time of its `run.waiting` event, however it is read. */
  asked_at: Schema.optional(Schema.String),
  /** When the wait times out (ISO 8601), and what happens then: `halt` or `goto:<node>`. */
  deadline: Schema.optional(Schema.String),
  on_timeout: Schema.optional(Schema.String),
  /** Earlier answers the waiting node consumed before it asked again (`ctx.interrupt` called more than once). */
  answers: Schema.optional(Schema.Array(Schema.Unknown)),
  /**
   * Answers other nodes of the same step were given (several interrupt nodes in one
   * fan-out): kept until the step runs with all of them.
   */
  others: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.Unknown) })),
  /** The calls the step made before it asked (answered again when it runs again). */
  attempt: Schema.optional(StepAttempt),
  /**
   * The answer a resume brought, kept (with the run `running`) until the step it answers
   * is checkpointed: a process that dies before then leaves it for the next resume. For a
   * breakpoint, who resumed it (`value` null): its step does not pause there again.
   * `at`: when it was given (ISO 8601; records written before it was kept have none).
   */
  given: Schema.optional(Schema.Struct({ value: Schema.Unknown, actor: Schema.String, at: Schema.optional(Schema.String) })),
  /**
   * The waits of this step the run took answers to before it asked this question, whose
   * answers the step's other records do not keep (see {@link AnsweredWait}): a late answer
   * to one is refused as answered (who, when). Absent in records written before it was kept.
   */
  answered_waits: Schema.optional(Schema.Array(AnsweredWait)),
  /**
   * The wait's id (`w` and 12 hex digits, see `checkpoint/waitId`): set when it is first
   * written, from what it waits for; a run waiting on a child run's question has the
   * child's. An answer naming it is applied only while the run still waits there.
   */
  wait_id: Schema.optional(Schema.String)
})
/** Why a run stopped for input. */
export type WaitingInfo = typeof WaitingInfo.Type

/** A persisted error: its tag, one-line message and typed fields. */
export const ErrorRecord = Schema.Struct({
  type: Schema.String,
  message: Schema.String,
  details: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** The calls the failing step made before it failed (a replay answers them to fail the same way). */
  attempt: Schema.optional(StepAttempt)
})
/** A persisted error. */
export type ErrorRecord = typeof ErrorRecord.Type

/** Name of the pseudo-node of step 0 (the run's inputs). */
export const INPUT_NODE = "__input__"

/**
 * Name of the pseudo-node of a step that edited a stopped run's state in place
 * (`graph.updateState`, `POST /v1/runs/{id}/state`, `stargraph update-state`).
 */
export const UPDATE_NODE = "__update__"


/**
 * A fan-out in progress: `targets` run together in the next step under `strategy`
 * (all, any, race, quorum:N), then the run continues at `join` (empty: each winning
 * branch routes on).
 */
export const ParallelGroup = Schema.Struct({
  id: Schema.String,
  targets: Schema.Array(Schema.String),
  join: Schema.String,
  strategy: ParallelStrategy
})
/** A fan-out in progress. */
export type ParallelGroup = typeof ParallelGroup.Type

/** One row per step: the state after it, what was written, and where the run goes next. */
export const Checkpoint = Schema.Struct({
  run_id: Schema.String,
  step: Schema.Int,
  /** Node(s) executed at this step, comma-joined (`__input__` for step 0). */
  node: Schema.String,
  nodes: Schema.Array(Schema.String),
  state: StateRecord,
  writes: Schema.Array(WriteRecord),
  delta: StateRecord,
  /** Frontier: node ids to execute at the next step. */
  next: Schema.Array(Schema.String),
  /** Join progress: join index → sources completed so far. */
  joins: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }),
  graph_hash: Schema.String,
  runtime_hash: Schema.String,
  parent_run_id: Schema.NullOr(Schema.String),
  parent_step: Schema.NullOr(Schema.Int),
  started_at: Schema.String,
  finished_at: Schema.String,
  duration_ms: Schema.Number,
  /** The step's recorded calls: the cassette a replay answers from. */
  calls: Schema.optional(Schema.Array(CallRecord)),
  /** Working memory of the rule engine after the step's routing (compact). */
  facts: Schema.optional(FactsSnapshot),
  /** The rules that fired after the step, the facts they asserted or retracted, and each node's routing decision. */
  rules: Schema.optional(StepRules),
  /** Parallel groups among `next`: which targets join where, under which strategy. */
  groups: Schema.optional(Schema.Array(ParallelGroup))
})
/** One row per step. */
export type Checkpoint = typeof Checkpoint.Type

/**
 * A run's own breakpoints (LangGraph's `interrupt_before` / `interrupt_after`): the node
 * ids it pauses before and after, `["*"]` for every node. Kept on its record, so a run
 * resumed later, elsewhere or claimed from the queue honours them.
 */
export const Breakpoints = Schema.Struct({
  before: Schema.Array(Schema.String),
  after: Schema.Array(Schema.String)
}).annotations({ identifier: "Breakpoints" })
/** A run's breakpoints. */
export type Breakpoints = typeof Breakpoints.Type

/**
 * Why a run was taken over from the process that held it: `lease-lapsed`, that process was
 * of another host and its heartbeat stood still past its lease (and a third);
 * `owner-exited`, it was a process of this host that died (kill -9, a crash); `forced`, an
 * operator took it over from a process of another host whose lease was not seen to lapse
 * (`stargraph resume --take-over` or `cancel --take-over`, `resume({ takeOver: true })` in
 * the library). Run records are decoded strictly: a new reason needs a new schema version,
 * so that an older Stargraph refuses the database instead of failing on the record.
 */
export const TakeOverReason = Schema.Literal("lease-lapsed", "owner-exited", "forced")
/** Why a run was taken over. */
export type TakeOverReason = typeof TakeOverReason.Type

/**
 * The last take-over of a run from the process that held it, recorded on its record in the
 * write that takes it over (a queue claim, a compare-and-set resume).
 */
export const TakenOver = Schema.Struct({
  /** The process (`host:pid:start`) that held the run. */
  from: Schema.String,
  /** The process that took it over. */
  to: Schema.String,
  reason: TakeOverReason,
  /** When (ISO 8601, the taker's clock). */
  at: Schema.String
}).annotations({ identifier: "TakenOver" })
/** The last take-over of a run. */
export type TakenOver = typeof TakenOver.Type

/**
 * The run-wide default model a run was started with (the CLI's `--lm-url`, `--lm-model`,
 * `--lm-key-env`, `--lm-timeout`), kept on its record so a resume, a respond or a server
 * that drives it later uses the same model without the flags. Never a key: the name of the
 * variable that held it (`api_key_env`), or only that one was given on the command line
 * (`api_key_given`: `--lm-key`), which must be given again where the run is driven on.
 */
export const DefaultModelRecord = Schema.Struct({
  /** The server's base URL (never with credentials or a query: `--lm-url` refuses those). */
  api_base: Schema.String,
  model: Schema.String,
  /** The environment variable the key is read from, or null. */
  api_key_env: Schema.NullOr(Schema.String),
  /** A key was given on the command line (`--lm-key`): it is not stored. */
  api_key_given: Schema.Boolean,
  /** `--lm-timeout` in ms, or null. */
  timeout_ms: Schema.NullOr(Schema.Int)
}).annotations({ identifier: "DefaultModelRecord" })
/** The default model a run was started with. */
export type DefaultModelRecord = typeof DefaultModelRecord.Type

/** The run record (`runs_history` row). */
export const RunRecord = Schema.Struct({
  run_id: Schema.String,
  graph_id: Schema.String,
  graph_hash: Schema.String,
  runtime_hash: Schema.String,
  status: RunStatus,
  inputs: StateRecord,
  created_at: Schema.String,
  started_at: Schema.NullOr(Schema.String),
  finished_at: Schema.NullOr(Schema.String),
  error: Schema.NullOr(ErrorRecord),
  waiting: Schema.NullOr(WaitingInfo),
  idempotency_key: Schema.NullOr(Schema.String),
  parent_run_id: Schema.NullOr(Schema.String),
  fork_step: Schema.NullOr(Schema.Int),
  /** Path of the graph YAML the run was started from, when known (used by `resume`). */
  graph_source: Schema.NullOr(Schema.String),
  /** `host:pid` of the process driving the run, while it runs. */
  owner: Schema.NullOr(Schema.String),
  last_step: Schema.Int,
  /** For a counterfactual fork: sha256 of (parent graph_hash, fork step, canonical mutation). */
  derived_hash: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /** For a counterfactual fork: the applied mutation. */
  mutation: Schema.optionalWith(Schema.NullOr(Schema.Unknown), { default: () => null }),
  /** For a counterfactual fork: where its recording runs out, it calls live (kept for every later resume). */
  live_after_fork: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /**
   * For a counterfactual fork: its step budget, the most steps it may take after its fork
   * step (`max_steps` of the fork; null: none, only the graph's `max_steps`). Kept for every
   * later resume; not part of `derived_hash`.
   */
  fork_max_steps: Schema.optionalWith(Schema.NullOr(Schema.Int), { default: () => null }),
  /** Who started the run (`cli`, `http:<address>`, `cron:<id>`, `library`…), for the audit lines of whoever drives it later. */
  actor: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /** The nodes the run pauses before and after (`interrupt_before`, `interrupt_after`), or null for none. */
  breakpoints: Schema.optionalWith(Schema.NullOr(Breakpoints), { default: () => null }),
  /** The conversation (thread) the run belongs to, when started with a thread id (see `graph/threads.ts`). */
  thread_id: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /** The run of its thread whose final state this run started from (null: the thread's first run, or no thread). */
  continued_from: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /** The last time the run was taken over from a process that held it (null: never): see {@link TakenOver}. */
  taken_over: Schema.optionalWith(Schema.NullOr(TakenOver), { default: () => null }),
  /** The default model the run was started with (null: none), see {@link DefaultModelRecord}; its child runs inherit it. */
  default_model: Schema.optionalWith(Schema.NullOr(DefaultModelRecord), { default: () => null }),
  /**
   * For a thread's run started or enqueued (schema 17): whether the request passed over the
   * thread's failed and cancelled runs (`skipFailed`, `skip_failed`), compared when its
   * idempotency key is used again. Null: not known (a run without a thread, one made
   * otherwise, or one recorded before it was kept), and then not compared.
   */
  skip_failed: Schema.optionalWith(Schema.NullOr(Schema.Boolean), { default: () => null })
})
/** The run record. */
export type RunRecord = typeof RunRecord.Type

/** Fields of a run record the loop may change. */
export type RunPatch = Partial<
  Pick<RunRecord, "status" | "started_at" | "finished_at" | "error" | "waiting" | "owner" | "last_step" | "live_after_fork" | "graph_hash" | "taken_over">
>

/** What the Checkpointer needs to create a run (it mints the id). */
export interface NewRun {
  readonly runIdPrefix?: "run" | "cf" | undefined
  readonly graph_id: string
  readonly graph_hash: string
  readonly runtime_hash: string
  readonly inputs: { readonly [k: string]: unknown }
  readonly idempotency_key?: string | null | undefined
  readonly parent_run_id?: string | null | undefined
  readonly fork_step?: number | null | undefined
  readonly graph_source?: string | null | undefined
  readonly created_at: string
  /** Step-0 checkpoint body (everything but `run_id`). */
  readonly initial: Omit<Checkpoint, "run_id">
  /** Also write a `pending_runs` row (the scheduler's queue) in the same transaction. */
  readonly queued?: boolean | undefined
  /** Checkpoints after step 0 to write in the same transaction (a fork's copied prefix). */
  readonly history?: ReadonlyArray<Omit<Checkpoint, "run_id">> | undefined
  readonly derived_hash?: string | null | undefined
  readonly mutation?: unknown
  /** A fork that calls live where its recording runs out. */
  readonly live_after_fork?: boolean | undefined
  /** A fork's step budget after its fork step (kept on its record). */
  readonly fork_max_steps?: number | null | undefined
  /** Who started the run (kept on its record). */
  readonly actor?: string | null | undefined
  /** The nodes it pauses before and after (kept on its record). */
  readonly breakpoints?: Breakpoints | null | undefined
  /** The default model it was started with (kept on its record). */
  readonly default_model?: DefaultModelRecord | null | undefined
  /** Whether a thread's start asked to pass over the thread's failed and cancelled runs (kept on its record; absent: not known). */
  readonly skip_failed?: boolean | null | undefined
  /**
   * Create the run already `running`, owned by `owner` from `started_at` (a process that
   * drives it at once, such as a subgraph node starting its child run): no separate
   * transition to `running` is written.
   */
  readonly running?: { readonly owner: string; readonly started_at: string } | undefined
  /**
   * The thread the run joins. With it, `createRun` writes the run only if the thread's
   * newest run is still `thread_newest` (when that is left out: `continued_from`; none,
   * when it is null) and that run is not unfinished, checked in the transaction that
   * writes it; else it fails with `CheckpointError[thread-moved]` naming the newest run
   * and writes nothing. An existing idempotency key is answered first.
   */
  readonly thread_id?: string | null | undefined
  /** The thread's run this one continues (its final state is this run's starting point). */
  readonly continued_from?: string | null | undefined
  /**
   * The thread's newest run as the caller read it (null: the thread had no run), when that
   * is not `continued_from`: a start that passes over the thread's newest `failed` or
   * `cancelled` runs (`skipFailed`) continues an older run while expecting these to be
   * the newest still. Not kept on the record.
   */
  readonly thread_newest?: string | null | undefined
}

/** The run a thread's newest run must still be for `createRun` to write `run` (see `NewRun.thread_newest`). */
export const expectedThreadNewest = (run: NewRun): string | null =>
  run.thread_newest !== undefined ? run.thread_newest : run.continued_from ?? null

/**
 * What `createRun` did: `created: false` means a run with the same idempotency key
 * already existed and `record` is that run (nothing was written).
 */
export interface CreatedRun {
  readonly record: RunRecord
  readonly created: boolean
}

/** A row of the scheduler's queue (`pending_runs`). */
export const PendingRun = Schema.Struct({
  run_id: Schema.String,
  graph_id: Schema.String,
  enqueued_at: Schema.String,
  /** `host:pid:start` of the process that claimed it, or null while it waits. */
  claimed_by: Schema.NullOr(Schema.String),
  claimed_at: Schema.NullOr(Schema.String)
})
/** A row of the scheduler's queue. */
export type PendingRun = typeof PendingRun.Type

/** Which queue rows to read: claimed or unclaimed ones (default both), of these graphs only (default all). */
export interface PendingFilter {
  readonly claimed?: boolean | undefined
  readonly graphIds?: ReadonlyArray<string> | undefined
}

/** The record of a run `createRun` is about to write (status `pending`). */
export const newRunRecord = (runId: string, run: NewRun): RunRecord => ({
  run_id: runId,
  graph_id: run.graph_id,
  graph_hash: run.graph_hash,
  runtime_hash: run.runtime_hash,
  status: run.running !== undefined ? "running" : "pending",
  inputs: run.inputs,
  created_at: run.created_at,
  started_at: run.running?.started_at ?? null,
  finished_at: null,
  error: null,
  waiting: null,
  idempotency_key: run.idempotency_key ?? null,
  parent_run_id: run.parent_run_id ?? null,
  fork_step: run.fork_step ?? null,
  graph_source: run.graph_source ?? null,
  owner: run.running?.owner ?? null,
  last_step: run.history?.[run.history.length - 1]?.step ?? run.initial.step,
  derived_hash: run.derived_hash ?? null,
  mutation: run.mutation ?? null,
  live_after_fork: run.live_after_fork === true,
  fork_max_steps: run.fork_max_steps ?? null,
  actor: run.actor ?? null,
  breakpoints: run.breakpoints ?? null,
  thread_id: run.thread_id ?? null,
  continued_from: run.continued_from ?? null,
  taken_over: null,
  default_model: run.default_model ?? null,
  skip_failed: run.skip_failed ?? null
})

/** How much later than a new run's prepared time the last written run may be for the new run to be raised to it (ms): longer than a writer waits for the store. */
export const MAX_CREATED_RAISE_MS = 30_000

/**
 * `run` as written after a run created at `newest` (the creation time of the last run the
 * store wrote, read in the transaction that writes this one): a run is never created
 * earlier than the run written before it. `created_at` is the time the run was prepared,
 * taken before the write waited for the store (another writer's lock, a group commit), so
 * a writer that prepared its run first may write it second; it is then raised to
 * `newest`, as is the start of a run created `running`, and the id is minted from it. So
 * the runs' creation times (and their ids' times) never disagree with the order they are
 * listed in. Unchanged when `newest` is earlier, absent or not a time, and when it is more
 * than {@link MAX_CREATED_RAISE_MS} later: that is not a wait for the store but a clock
 * that was ahead (another host's, a stepped clock, an app's test clock), which must not
 * pin every later run to its time.
 */
export const createdNoEarlierThan = (run: NewRun, newest: string | undefined): NewRun => {
  const gap = newest === undefined ? Number.NaN : Date.parse(newest) - Date.parse(run.created_at)
  if (!(gap > 0 && gap <= MAX_CREATED_RAISE_MS) || newest === undefined) return run
  const running = run.running
  return {
    ...run,
    created_at: newest,
    ...(running !== undefined && Date.parse(running.started_at) < Date.parse(newest) ? { running: { ...running, started_at: newest } } : {})
  }
}

/** The terminal (or stopped) outcome of a run. */
export const RunSummary = Schema.Struct({
  run_id: Schema.String,
  graph_id: Schema.String,
  status: RunStatus,
  graph_hash: Schema.String,
  runtime_hash: Schema.String,
  started_at: Schema.NullOr(Schema.String),
  finished_at: Schema.NullOr(Schema.String),
  /** Index of the last persisted step. */
  steps: Schema.Int,
  final_state: StateRecord,
  error: Schema.NullOr(ErrorRecord),
  waiting: Schema.NullOr(WaitingInfo),
  parent_run_id: Schema.NullOr(Schema.String),
  fork_step: Schema.NullOr(Schema.Int)
})
/** The terminal (or stopped) outcome of a run. */
export type RunSummary = typeof RunSummary.Type

/** Build a summary from a run record and its latest state. */
export const toSummary = (run: RunRecord, state: { readonly [k: string]: unknown }): RunSummary => ({
  run_id: run.run_id,
  graph_id: run.graph_id,
  status: run.status,
  graph_hash: run.graph_hash,
  runtime_hash: run.runtime_hash,
  started_at: run.started_at,
  finished_at: run.finished_at,
  steps: run.last_step,
  final_state: state,
  error: run.error,
  waiting: run.waiting,
  parent_run_id: run.parent_run_id,
  fork_step: run.fork_step
})

/** Filter and page for listing runs. */
export interface RunQuery {
  readonly status?: RunStatus | undefined
  readonly graph_id?: string | undefined
  /** Only the runs of this thread. */
  readonly thread_id?: string | undefined
  readonly limit?: number | undefined
  /** Opaque cursor from a previous page. */
  readonly cursor?: string | undefined
}

/** One page of runs. */
export interface RunPage {
  readonly runs: ReadonlyArray<RunRecord>
  readonly next_cursor: string | null
}
