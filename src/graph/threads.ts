/**
 * Threads: a conversation of runs of one graph under a caller's thread id. A thread's
 * first run starts from its inputs (and the defaults); each later run starts from the
 * final state of the thread's newest run, which must be `done`, with its inputs applied
 * as an update through each field's reducer (a `messages` or `append` field accumulates,
 * a `replace` field takes the new value). One run of a thread is unfinished at a time:
 * the Checkpointer writes a thread's run only while the thread's newest run is still the
 * one it continues (SQLite also enforces it with a unique index over unfinished runs).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Checkpointer, type CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { ACTIVE_STATUSES, INPUT_NODE, type NewRun, type RunRecord, type RunStatus, StateRecord } from "../checkpoint/models.js"
import { CheckpointError, InputError, RunStateError, StateValidationError, ThreadError } from "../errors.js"
import { jsonEqual } from "../ir/json.js"
import { firstIssue } from "../ir/parseIssue.js"
import { declaredAs, declaredTypeFix, type State } from "../ir/stateSchema.js"
import { applyWrites } from "../runtime/reducers.js"
import type { GraphDefinition } from "../runtime/GraphDefinition.js"
import { nowIso } from "../runtime/RunLoop.js"
import { newRunOf, type NewRunFields } from "./newRun.js"

/** The longest thread id accepted, in characters. */
export const MAX_THREAD_ID_LENGTH = 200

/** Characters a thread id may not hold: control, format, unassigned and private-use characters, lone surrogates, line and paragraph separators. */
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u

/**
 * The thread id, or `ThreadError[invalid-thread-id]` naming `field` (the option or field
 * that carried it): a thread id is non-empty, at most 200 characters, all printable.
 */
export const checkThreadId = (threadId: string, field = "threadId"): Either.Either<string, ThreadError> => {
  const invalid = (message: string) =>
    Either.left(new ThreadError({
      reason: "invalid-thread-id",
      threadId: threadId.length > MAX_THREAD_ID_LENGTH ? `${threadId.slice(0, 40)}…` : threadId,
      field,
      message,
      fix: `pass a thread id of 1 to ${MAX_THREAD_ID_LENGTH} printable characters (e.g. a conversation or user id such as chat-42)`
    }))
  if (threadId.trim() === "") return invalid("the thread id is empty")
  if (threadId.length > MAX_THREAD_ID_LENGTH) return invalid(`the thread id is ${threadId.length} characters long, more than ${MAX_THREAD_ID_LENGTH}`)
  const bad = UNPRINTABLE.exec(threadId)
  if (bad !== null) {
    return invalid(`the thread id holds a character that is not printable (U+${(bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")} at ${bad.index})`)
  }
  return Either.right(threadId)
}

/**
 * The `skipFailed` option as given (`field`: how the caller spells it, with `threadField`
 * its thread option): a boolean, and only with a thread; else `InputError` naming `field`.
 */
export const checkSkipFailed = (
  skipFailed: unknown,
  threadId: string | undefined,
  field = "skipFailed",
  threadField = "threadId"
): Either.Either<boolean, InputError> => {
  if (skipFailed === undefined) return Either.right(false)
  if (typeof skipFailed !== "boolean") {
    return Either.left(new InputError({ field, message: `${field} must be true or false, not ${JSON.stringify(skipFailed) ?? typeof skipFailed}`, fix: `pass ${field} as a boolean (true to pass over the thread's failed and cancelled runs)` }))
  }
  if (skipFailed && threadId === undefined) {
    return Either.left(new InputError({
      field,
      message: `${field} passes over a thread's failed and cancelled runs, and the run is on no thread`,
      fix: `pass ${threadField} too (the thread to continue), or leave out ${field}`
    }))
  }
  return Either.right(skipFailed)
}

/** What a thread's run needs of its graph: the definition and how it validates fresh inputs. */
export interface ThreadGraph extends GraphDefinition {
  readonly initialState: (inputs: { readonly [field: string]: unknown }) => Either.Either<State, StateValidationError>
}

/** How to start a run on a thread (the thread id checked already). */
export interface ThreadRunOptions extends Omit<NewRunFields, "thread"> {
  readonly threadId: string
  /**
   * Pass over the thread's newest runs that ended `failed` or `cancelled`: the run
   * continues from the newest `done` run before them (none: it is the thread's first run,
   * from its inputs). Unfinished and `error` runs are still refused. Default false.
   */
  readonly skipFailed?: boolean | undefined
}

/** A thread's run to create, and the thread's runs it passes over (`skipFailed`), newest first. */
export interface PreparedThreadRun {
  readonly run: NewRun
  readonly skipped: ReadonlyArray<{ readonly run_id: string; readonly status: RunStatus }>
}

/** The statuses `skipFailed` passes over. */
const SKIPPABLE: ReadonlySet<RunStatus> = new Set(["failed", "cancelled"])

/** The newest run of a thread, if it has any. */
export const newestRun = (checkpointer: CheckpointerShape, threadId: string): Effect.Effect<Option.Option<RunRecord>, CheckpointError> =>
  Effect.map(checkpointer.listRuns({ thread_id: threadId, limit: 1 }), (page) => Option.fromNullable(page.runs[0]))

/** What to do about an unfinished run before the thread takes another. */
const settleFirst = (runId: string, status: RunStatus): string =>
  status === "awaiting-input"
    ? `answer it (stargraph resume ${runId} --response '<JSON>'; POST /v1/runs/${runId}/respond) or cancel it (stargraph cancel ${runId})`
    : status === "paused"
    ? `resume it (stargraph resume ${runId}; POST /v1/runs/${runId}/resume) or cancel it (stargraph cancel ${runId})`
    : `wait for it to finish, or cancel it (stargraph cancel ${runId}; POST /v1/runs/${runId}/cancel)`

/**
 * Why the thread takes no run after `newest` (undefined: it is `done` and may be
 * continued): it is unfinished, or it did not finish `done` (a thread never skips back to
 * an earlier run).
 */
export const refusalAfter = (threadId: string, newest: RunRecord): RunStateError | undefined => {
  const refuse = (message: string) => new RunStateError({ runId: newest.run_id, status: newest.status, operation: "start", message })
  if (newest.status === "done") return undefined
  if (ACTIVE_STATUSES.has(newest.status)) {
    return refuse(
      `thread '${threadId}' has an unfinished run, ${newest.run_id} (${newest.status}); a thread runs one run at a time: ` +
        `${settleFirst(newest.run_id, newest.status)}, then start the next run on the thread`
    )
  }
  const goOn = newest.status === "error"
    ? `resume it (stargraph resume ${newest.run_id}: its committed steps are intact) and start the next run once it is done, or start a new thread (another thread id)`
    : `start a new thread (another thread id), passing in its inputs what it should carry over${newest.status === "failed" ? ` (fork the failed run with stargraph replay ${newest.run_id} to try it again off the thread)` : ""}`
  return refuse(
    `thread '${threadId}''s newest run, ${newest.run_id}, ended ${newest.status}; the thread does not go on from an earlier run: ${goOn}` +
      (newest.status === "error" ? "" : `; or start with skip-failed (skipFailed, --skip-failed, "skip_failed": true) to continue from the thread's newest done run before it`)
  )
}

/**
 * Why a start that passes over failed and cancelled runs (`skipFailed`) takes no run after
 * `run` (undefined: it is `done`, or `failed`/`cancelled` and passed over): it is
 * unfinished, or it ended `error` (it can still be resumed, so it is not passed over).
 */
const refusalSkipping = (threadId: string, run: RunRecord, skipped: ReadonlyArray<string>): RunStateError | undefined => {
  if (run.status === "done" || SKIPPABLE.has(run.status)) return undefined
  const past = skipped.length === 0 ? "" : ` (past the failed or cancelled ${skipped.length === 1 ? "run" : "runs"} ${skipped.join(", ")})`
  if (run.status !== "error") {
    const refused = refusalAfter(threadId, run)
    return refused === undefined ? undefined : new RunStateError({ ...refused, message: refused.message + past })
  }
  return new RunStateError({
    runId: run.run_id,
    status: run.status,
    operation: "start",
    message: `thread '${threadId}''s run ${run.run_id}${past} ended error, which skip-failed does not pass over: its committed steps are intact and it can be resumed. ` +
      `Resume it (stargraph resume ${run.run_id}; POST /v1/runs/${run.run_id}/resume) and start the next run once it is done, or cancel it once resumed ` +
      `(stargraph cancel ${run.run_id}) so that skip-failed passes over it, or start a new thread (another thread id)`
  })
}

/**
 * The run a thread's next run continues when it passes over failed and cancelled runs:
 * the newest `done` run behind them (undefined: none, the next run is the thread's
 * first), and the runs passed over, newest first; refused at an unfinished or `error` run.
 */
const skippingBack = (
  checkpointer: CheckpointerShape,
  threadId: string
): Effect.Effect<{ readonly base: RunRecord | undefined; readonly skipped: ReadonlyArray<RunRecord> }, RunStateError | CheckpointError> =>
  Effect.gen(function*() {
    const skipped: Array<RunRecord> = []
    let cursor: string | undefined
    do {
      const page = yield* checkpointer.listRuns({ thread_id: threadId, limit: cursor === undefined ? 10 : 100, cursor })
      for (const run of page.runs) {
        const refused = refusalSkipping(threadId, run, skipped.map((r) => r.run_id))
        if (refused !== undefined) return yield* refused
        if (run.status === "done") return { base: run, skipped }
        skipped.push(run)
      }
      cursor = page.next_cursor ?? undefined
    } while (cursor !== undefined)
    return { base: undefined, skipped }
  })

/** `ThreadError[other-graph]`: the thread's runs are of another graph. */
const otherGraph = (threadId: string, graphId: string, newest: RunRecord) =>
  new ThreadError({
    reason: "other-graph",
    threadId,
    graphId,
    threadGraphId: newest.graph_id,
    message: `thread '${threadId}' belongs to graph '${newest.graph_id}' (its newest run is ${newest.run_id}), not '${graphId}'`,
    fix: `start this graph's run on another thread id, or start the run with graph '${newest.graph_id}' (a changed version of it may go on with the thread)`
  })

/** The state schema's decoder and encoder for the carried state. */
const carriedState = (graph: ThreadGraph) => {
  const decode = Schema.decodeUnknownEither(graph.state.schema, { onExcessProperty: "error" })
  const encode = Schema.encodeEither(graph.state.schema)
  return (state: State) => Either.flatMap(decode(state), (decoded) => (graph.state.decodedIsJson === true ? Either.right(decoded) : encode(decoded)))
}

/**
 * The run to create on a thread: its first run as `initialState` builds it, else one that
 * starts from the final state of the thread's newest run (which must be `done`, of this
 * graph id) with `inputs` applied through the fields' reducers, validated under this
 * graph's state schema. Nothing is written.
 */
export const threadRun = (
  graph: ThreadGraph,
  options: ThreadRunOptions
): Effect.Effect<NewRun, ThreadError | RunStateError | StateValidationError | CheckpointError, Checkpointer> =>
  Effect.map(prepareThreadRun(graph, options), (prepared) => prepared.run)

/**
 * `threadRun`, with the thread's runs the new run passes over (`skipFailed`: its newest
 * `failed` and `cancelled` runs). The run expects the thread's newest run to be the one
 * read here when it is written (`NewRun.thread_newest`).
 */
export const prepareThreadRun = (
  graph: ThreadGraph,
  options: ThreadRunOptions
): Effect.Effect<PreparedThreadRun, ThreadError | RunStateError | StateValidationError | CheckpointError, Checkpointer> =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    const threadId = yield* checkThreadId(options.threadId)
    // The request's skipFailed is kept on the run's record (a retry under its key is compared with it).
    const fields = { ...options, skipFailed: options.skipFailed === true }
    const inputs = options.inputs
    // A retried start (its idempotency key taken): `createRun` answers with that run and
    // writes nothing, so the thread is not checked (it may be that very run, unfinished).
    const retried = options.idempotencyKey === undefined ? undefined : Option.getOrUndefined(yield* checkpointer.findByIdempotencyKey(options.idempotencyKey))
    if (retried !== undefined) {
      return { run: newRunOf(graph, {}, { ...fields, thread: { id: threadId, continuedFrom: retried.continued_from } }, yield* nowIso), skipped: [] }
    }
    const newest = Option.getOrUndefined(yield* newestRun(checkpointer, threadId))
    if (newest !== undefined && newest.graph_id !== graph.id) return yield* otherGraph(threadId, graph.id, newest)
    const { base, skipped } = newest === undefined || options.skipFailed !== true
      ? { base: newest, skipped: [] }
      : yield* skippingBack(checkpointer, threadId)
    const passed = skipped.map((r) => ({ run_id: r.run_id, status: r.status }))
    const thread = { id: threadId, newest: newest?.run_id ?? null }
    if (base === undefined) {
      const state = yield* graph.initialState(inputs)
      return { run: newRunOf(graph, state, { ...fields, thread: { ...thread, continuedFrom: null } }, yield* nowIso), skipped: passed }
    }
    const refused = refusalAfter(threadId, base)
    if (refused !== undefined) return yield* refused
    const last = yield* Effect.flatMap(checkpointer.latestCheckpoint(base.run_id), Option.match({
      onNone: () => Effect.fail(new CheckpointError({ reason: "no-checkpoint", runId: base.run_id, message: `run ${base.run_id} of thread '${threadId}' has no checkpoint to continue from` })),
      onSome: Effect.succeed
    }))
    const previous = last.state
    // The inputs are an update of the thread's state, through each field's reducer.
    const applied = applyWrites(previous, [{ node: INPUT_NODE, update: inputs }], graph.state.fields, 0)
    if (Either.isLeft(applied)) {
      const e = applied.left
      const field = e._tag === "StateValidationError" ? e.field : e.field
      return yield* new StateValidationError({
        source: "inputs",
        field,
        message: `${e.message} (applying this run's inputs to the state run ${base.run_id} left on thread '${threadId}')`,
        fix: graph.state.fields.has(field.split(/[.[]/)[0] ?? "")
          ? `give '${field}' a value its reducer (${graph.state.fields.get(field.split(/[.[]/)[0] ?? "")?.reducer}) can apply to the thread's state`
          : `leave out '${field}' (it is not a state field), or declare it in the state schema`
      })
    }
    const decoded = carriedState(graph)(applied.right)
    if (Either.isLeft(decoded)) {
      const issue = firstIssue(decoded.left)
      const field = (issue?.path ?? []).map(String).join(".") || "<state>"
      const top = String(issue?.path[0] ?? "")
      const info = graph.state.fields.get(top)
      if (top in inputs) {
        return yield* new StateValidationError({
          source: "inputs",
          field,
          message: issue?.message ?? "invalid",
          fix: declaredTypeFix(top, declaredAs(info))
        })
      }
      return yield* new StateValidationError({
        source: "thread",
        field,
        message: `the state run ${base.run_id} left on thread '${threadId}' does not fit graph '${graph.id}''s state schema any more: ${issue?.message ?? "invalid"}`,
        fix: `start a new thread (another thread id): the state schema changed incompatibly since that run` +
          (info !== undefined && info.reducer === "replace" ? `; or pass '${top}' in this run's inputs with a value that fits it now` : "")
      })
    }
    const state = decoded.right
    const delta: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(state)) if (!(k in previous) || !jsonEqual(previous[k], v)) delta[k] = v
    return { run: newRunOf(graph, state, { ...fields, thread: { ...thread, continuedFrom: base.run_id } }, yield* nowIso, { written: inputs, delta }), skipped: passed }
  })

/**
 * `createRun` refused a thread's run (`CheckpointError[thread-moved]`: another process
 * started or finished a run on the thread meanwhile): the refusal as it stands now, read
 * afresh (passing over failed and cancelled runs with `skipFailed`). Other errors pass through.
 */
export const explainMoved = (
  checkpointer: CheckpointerShape,
  threadId: string,
  graphId: string,
  skipFailed = false
) =>
<E>(error: E): Effect.Effect<never, E | RunStateError | ThreadError | CheckpointError> =>
  !(error instanceof CheckpointError) || error.reason !== "thread-moved" ? Effect.fail(error) : Effect.gen(function*() {
    const newest = Option.getOrUndefined(yield* newestRun(checkpointer, threadId))
    if (newest !== undefined && newest.graph_id !== graphId) return yield* otherGraph(threadId, graphId, newest)
    const refused = newest === undefined ? undefined : skipFailed ? refusalSkipping(threadId, newest, []) : refusalAfter(threadId, newest)
    return yield* (refused ?? new RunStateError({
      runId: newest?.run_id ?? error.runId ?? "",
      status: newest?.status ?? "done",
      operation: "start",
      message: `another run was added to thread '${threadId}' while this one was being started (its newest run is now ${newest?.run_id ?? "unknown"}); nothing was written: start this run again to continue from it`
    }))
  })

/** One run of a thread as `GET /v1/threads/{id}` lists it. */
export const ThreadRunView = Schema.Struct({
  run_id: Schema.String,
  graph_id: Schema.String,
  status: Schema.String,
  created_at: Schema.String,
  started_at: Schema.NullOr(Schema.String),
  finished_at: Schema.NullOr(Schema.String),
  /** Index of its last persisted step. */
  steps: Schema.Int,
  /** The inputs the run applied to the thread's state. */
  inputs: StateRecord,
  continued_from: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.Struct({ type: Schema.String, message: Schema.String }))
}).annotations({ identifier: "ThreadRunView" })
/** One run of a thread. */
export type ThreadRunView = typeof ThreadRunView.Type

/** A thread: its runs, newest first, and the state its newest `done` run finished with. */
export const ThreadView = Schema.Struct({
  thread_id: Schema.String,
  runs: Schema.Array(ThreadRunView),
  /** The final state of the thread's newest `done` run (what its next run starts from); null before one is done. */
  state: Schema.NullOr(StateRecord),
  /** The run `state` comes from. */
  state_run_id: Schema.NullOr(Schema.String),
  /** More (older) runs: pass it as `cursor`. */
  next_cursor: Schema.NullOr(Schema.String)
}).annotations({ identifier: "ThreadView" })
/** A thread as `GET /v1/threads/{id}` and `stargraph thread` show it. */
export type ThreadView = typeof ThreadView.Type

/** A run record as a thread lists it. */
export const threadRunView = (run: RunRecord): ThreadRunView => ({
  run_id: run.run_id,
  graph_id: run.graph_id,
  status: run.status,
  created_at: run.created_at,
  started_at: run.started_at,
  finished_at: run.finished_at,
  steps: run.last_step,
  inputs: run.inputs,
  continued_from: run.continued_from,
  error: run.error === null ? null : { type: run.error.type, message: run.error.message }
})

/**
 * A thread's runs (newest first, a page of `limit`, default 50) and the final state of its
 * newest `done` run; `ThreadError[unknown-thread]` when no run is on it, and
 * `ThreadError[invalid-thread-id]` naming `field` for an id no thread can have.
 */
export const threadView = (
  threadId: string,
  page: { readonly limit?: number | undefined; readonly cursor?: string | undefined } = {},
  field = "threadId"
): Effect.Effect<ThreadView, ThreadError | CheckpointError, Checkpointer> =>
  Effect.gen(function*() {
    // A thread id no run can have (over 200 characters, unprintable ones) is refused, naming `field`, not "unknown".
    yield* checkThreadId(threadId, field)
    const checkpointer = yield* Checkpointer
    const runs = yield* checkpointer.listRuns({ thread_id: threadId, limit: page.limit ?? 50, cursor: page.cursor })
    if (runs.runs.length === 0 && page.cursor === undefined) {
      return yield* new ThreadError({
        reason: "unknown-thread",
        threadId,
        message: `no run is on thread '${threadId}'`,
        fix: "start one with its thread id (stargraph run <graph> --thread <id>; \"thread_id\" in POST /v1/runs), or list the runs (stargraph list) to find the thread id"
      })
    }
    const done = (yield* checkpointer.listRuns({ thread_id: threadId, status: "done", limit: 1 })).runs[0]
    const state = done === undefined ? undefined : Option.getOrUndefined(yield* checkpointer.latestCheckpoint(done.run_id))?.state
    return {
      thread_id: threadId,
      runs: runs.runs.map(threadRunView),
      state: state ?? null,
      state_run_id: done?.run_id ?? null,
      next_cursor: runs.next_cursor
    }
  })
