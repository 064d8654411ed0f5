/**
 * The async, single-use execution half of a graph: one run id per handle. `start()`
 * drives the run to a terminal (or stopped) state; `stream()` observes its typed events,
 * replaying those already emitted to late subscribers.
 */
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Fiber from "effect/Fiber"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { Checkpoint, RunRecord, RunStatus, RunSummary, TakenOver } from "../checkpoint/models.js"
import { CheckpointError, type RunFailure, RunStateError, StargraphRuntimeError } from "../errors.js"
import { type AuditSinkShape, discard } from "../telemetry/AuditSink.js"
import { Metrics, type MetricsShape } from "../telemetry/Metrics.js"
import { registerDriven } from "../runtime/drivenRuns.js"
import { toErrorRecord } from "../runtime/errorRecord.js"
import { FINAL_EVENT_TYPES, type RunEvent, type RunEventInput } from "../runtime/events.js"
import { type Control, markError, type RunLoopShape } from "../runtime/RunLoop.js"
import type { ReplaySource } from "../runtime/Cassette.js"
import type { GraphDefinition } from "../runtime/GraphDefinition.js"
import type { HandedCommit } from "../nodes/Executor.js"
import { GraphInvoker, type GraphInvokerShape } from "../nodes/GraphInvoker.js"

/**
 * A handle on one run. `R` is what its nodes need from the context `start()` runs in (the
 * services of `NodeFunction<E, R>` exports given to `Graph.make` as `modules`); `never` for
 * a graph whose modules are loaded from files (their needs are known only when they run).
 */
export interface GraphRun<out R = never> {
  readonly runId: string
  readonly graph: GraphDefinition
  /** Current lifecycle state (as last transitioned by the loop). */
  readonly status: Effect.Effect<RunStatus>
  /**
   * Drive the run until it is `done`, `awaiting-input`, `paused` or `cancelled` and
   * return its summary. A `failed` run fails this Effect with the typed cause (after
   * persisting it); a persistence failure marks the run `error`. Single-use.
   */
  readonly start: () => Effect.Effect<RunSummary, RunFailure | CheckpointError | RunStateError, R>
  /**
   * The run's events, from the first, live until its final event (finished, failed,
   * cancelled, paused or waiting for input). Does not start the run.
   */
  readonly stream: () => Stream.Stream<RunEvent>
  /** Ask the run to stop: interrupts the current step and marks the run `cancelled`. */
  readonly cancel: () => Effect.Effect<void>
  /**
   * Ask the run to stop after the current step, in `paused`; with `requeue`, in `pending`
   * and back on the queue (what a draining server does, so the next process goes on).
   */
  readonly pause: (options?: { readonly requeue?: boolean | undefined }) => Effect.Effect<void>
}

/** Inputs for {@link make}. */
export interface GraphRunOptions {
  readonly graph: GraphDefinition
  readonly run: RunRecord
  readonly checkpoint: Checkpoint
  /** The answer to the run's wait, when resuming one (with `waitId`: only to that wait; see `DriveInput.response`). */
  readonly response: { readonly value: unknown; readonly waitId?: string | undefined } | undefined
  readonly checkpointer: CheckpointerShape
  readonly loop: RunLoopShape
  readonly audit: AuditSinkShape
  /**
   * The `GraphInvoker` the run's nodes get (`std.graph_invoke`), when the context that
   * drives it has none; undefined leaves the context's.
   */
  readonly invoker?: GraphInvokerShape | undefined
  /** Who caused this run, for the audit log (e.g. `cli`, `http:<client>`). */
  readonly actor: string
  /** For a counterfactual fork: what the replay answers from. */
  readonly replay?: ReplaySource | undefined
  /**
   * Keep the run's events for `stream()` (default true). A handle nobody streams (a
   * subgraph's child run) passes false: its events then only go to the audit sink.
   */
  readonly retainEvents?: boolean | undefined
  /**
   * Drive the run on the fiber that calls `start()` instead of a fiber of its own (a
   * subgraph's child run, driven by its parent's step). Interrupting the caller then
   * stops its current nodes and records the run `cancelled` (status and `run.cancelled`
   * event, as `cancel()` does) when `cancelledWith` says so, else `paused`; then the
   * caller sees the interruption.
   */
  readonly onCallerFiber?: boolean | undefined
  /**
   * With `onCallerFiber`: whether an interruption of the caller's fiber cancels the run
   * (the parent run is being cancelled). Otherwise (absent, or false then) the run is left
   * `paused` with no owner, resumable, as a top-level run is.
   */
  readonly cancelledWith?: (() => boolean) | undefined
  /** Its caller commits, synced, after the run ends (see `DriveInput.parentCommits`). */
  readonly parentCommits?: boolean | undefined
  /** Its parent step makes its last commit (see `DriveInput.commitWithParent`). */
  readonly commitWithParent?: ((commits: ReadonlyArray<HandedCommit>) => void) | undefined
  /** The run had started before the queue claim that hands it over (see `ResumeOptions.startedBefore`). */
  readonly startedBefore?: boolean | undefined
  /** The queue claim that hands the run over took it over from another process (see `ResumeOptions.takenOver`). */
  readonly takenOver?: TakenOver | undefined
  /** The run goes on under this graph, started with another (see `DriveInput.graphHashAccepted`). */
  readonly graphHashAccepted?: boolean | undefined
  /** A fork resumed with live calls allowed: kept on its record by the write that drives it on (see `DriveInput.keepLiveAfterFork`). */
  readonly keepLiveAfterFork?: boolean | undefined
}

/** Build a run handle (no I/O; two Effect operations: a child run is made on every parent step that reaches its node). */
export const make = (options: GraphRunOptions): Effect.Effect<GraphRun> =>
  Effect.clockWith((clock) => Effect.contextWith((context: Context.Context<never>) => build(options, clock, Context.get(context, Metrics))))

const build = (options: GraphRunOptions, clock: Clock.Clock, metrics: MetricsShape): GraphRun => {
  const { graph, run, checkpointer } = options
  const status = Ref.unsafeMake<RunStatus>(run.status)
  const control = Ref.unsafeMake<Control>("run")
  // The fiber driving the run, while it runs: `cancel` interrupts it (only its nodes are interruptible).
  let driver: Fiber.RuntimeFiber<boolean, never> | undefined
  let cancelRequested = false
  // `start()` was called (a handle drives its run once).
  let started = false
  // Append-only event log owned by this handle; late subscribers replay it.
  const log: Array<RunEvent> = []
  // Made by the first `stream()`: most runs are never streamed.
  let hub: PubSub.PubSub<RunEvent> | undefined
  // Live subscribers; with none, an event only goes to the log.
  let subscribers = 0
  const auditing = options.audit !== discard

  const retain = options.retainEvents !== false
  let seq = 0
  // When the run first started (its record's, or this handle's first `run.started`), for its duration.
  let startedMs = run.started_at !== null ? Date.parse(run.started_at) : undefined
  /** Count the event in the metrics (no allocation for a step). */
  const meter = (input: RunEventInput, ms: number) => {
    switch (input.type) {
      case "step.completed":
        return metrics.stepCompleted(graph.id, input.duration_ms / 1000)
      case "run.started":
        startedMs ??= ms
        return input.resumed ? undefined : metrics.runStarted(graph.id)
      case "run.finished":
      case "run.failed":
        return metrics.runEnded(graph.id, input.status, Math.max(0, ms - (startedMs ?? ms)) / 1000)
      case "run.cancelled":
        return metrics.runEnded(graph.id, "cancelled", Math.max(0, ms - (startedMs ?? ms)) / 1000)
    }
  }
  // Events often share a millisecond: format each millisecond once.
  let lastMs = -1
  let lastIso = ""
  const emit = (input: RunEventInput): Effect.Effect<void> =>
    Effect.suspend(() => {
      const ms = clock.unsafeCurrentTimeMillis()
      meter(input, ms)
      if (!retain && !auditing) return Effect.void
      if (ms !== lastMs) {
        lastMs = ms
        lastIso = new Date(ms).toISOString()
      }
      const at = lastIso
      const event = { ...input, run_id: run.run_id, seq: seq++, at } as RunEvent
      if (retain) log.push(event)
      const published = subscribers === 0 || hub === undefined ? Effect.void : PubSub.publish(hub, event)
      // Streamed text and published data are for live watchers, not the audit trail (the step's calls keep the text).
      if (!auditing || event.type === "node.delta" || event.type === "node.custom") return published
      const { type, ...fields } = event
      return Effect.zipRight(published, options.audit.write({ ts: at, actor: options.actor, event: type, ...fields }))
    })

  /**
   * The runtime broke under the run: it is marked `error`, and its event stream ends with
   * a `run.failed` event of status `error` (also when marking it is interrupted). A run
   * another process took over (`taken-over`) is not marked: it is that process's now; only
   * this handle's stream ends.
   */
  const broke = (error: CheckpointError | StargraphRuntimeError) =>
    (error._tag === "CheckpointError" && error.reason === "taken-over" ? Effect.void : markError(checkpointer, run.run_id, error)).pipe(
      Effect.ensuring(Effect.zipRight(Ref.set(status, "error"), emit({ type: "run.failed", status: "error", error: toErrorRecord(error) })))
    )

  // No Effect.gen (4-5 µs each here): a child run is started on every parent step that reaches its node.
  const start = (): Effect.Effect<RunSummary, RunFailure | CheckpointError | RunStateError> =>
    Effect.suspend(() => {
      if (started) {
        return Effect.flatMap(Ref.get(status), (now) =>
          Effect.fail(
            new RunStateError({
              runId: run.run_id,
              status: now,
              operation: "start",
              message: "a GraphRun is single-use; call graph.resume(runId) for a new handle"
            })
          ))
      }
      started = true
      const loop = options.loop.drive({
        graph,
        run,
        checkpoint: options.checkpoint,
        response: options.response,
        checkpointer,
        emit,
        setStatus: (s) => Ref.set(status, s),
        control,
        cancelRequested: () => cancelRequested,
        parentCancelling: options.onCallerFiber === true ? options.cancelledWith : undefined,
        parentCommits: options.parentCommits,
        commitWithParent: options.commitWithParent,
        replay: options.replay,
        actor: options.actor,
        audit: options.audit,
        startedBefore: options.startedBefore,
        takenOver: options.takenOver,
        graphHashAccepted: options.graphHashAccepted,
        keepLiveAfterFork: options.keepLiveAfterFork
      })
      const driving = (options.invoker === undefined ? loop : Effect.provideService(loop, GraphInvoker, options.invoker)).pipe(
        Effect.tapError((error) => (error instanceof CheckpointError ? broke(error) : Effect.void)),
        // A defect of the runtime itself: the run is marked `error` (not left `running`), then the defect goes on.
        Effect.tapDefect((defect) =>
          broke(new StargraphRuntimeError({ message: `the run loop broke: ${defect instanceof Error ? defect.stack ?? defect.message : String(defect)}` })))
      )
      // No fiber or Deferred of its own (about 15 µs a run): the loop is uninterruptible but for its nodes.
      if (options.onCallerFiber === true) return Effect.uninterruptible(driving)
      return Effect.flatMap(Deferred.make<RunSummary, RunFailure | CheckpointError | RunStateError>(), (result) => {
        // One fiber per run (not per step) keeps the caller's fiber out of reach of `cancel`.
        // Uninterruptible but for the nodes of a step (see RunLoop), so the result is always delivered.
        // Known to this process's heartbeat while it drives, so another process can ask it to cancel the run (see drivenRuns.ts).
        const unregister = registerDriven(run.run_id, handle.cancel)
        const drive = Effect.uninterruptible(Effect.flatMap(Effect.exit(Effect.ensuring(driving, Effect.sync(unregister))), (exit) => Deferred.done(result, exit)))
        return Effect.flatMap(Effect.fork(drive), (fiber) => {
          driver = fiber
          return Deferred.await(result)
        })
      })
    })

  const stream = (): Stream.Stream<RunEvent> =>
    Stream.unwrapScoped(
      Effect.gen(function*() {
        const pubsub = hub ?? (hub = yield* PubSub.unbounded<RunEvent>())
        // Counted before subscribing: an event emitted in between is in the log snapshot below.
        yield* Effect.acquireRelease(Effect.sync(() => subscribers++), () => Effect.sync(() => subscribers--))
        const subscription = yield* PubSub.subscribe(pubsub)
        const past = log.slice()
        const seen = past.length
        const live = Stream.fromQueue(subscription).pipe(Stream.filter((e) => e.seq >= seen))
        return Stream.concat(Stream.fromIterable(past), live).pipe(
          Stream.takeUntil((e) => FINAL_EVENT_TYPES.has(e.type))
        )
      })
    )

  const handle: GraphRun = {
    runId: run.run_id,
    graph,
    status: Ref.get(status),
    start,
    stream,
    cancel: () =>
      Effect.zipRight(
        Ref.set(control, "cancel"),
        Effect.suspend(() => {
          cancelRequested = true
          return driver ? Fiber.interruptFork(driver) : Effect.void
        })
      ),
    pause: (options) => Ref.update(control, (c) => (c === "cancel" ? c : options?.requeue === true ? "requeue" : "pause"))
  }
  return handle
}
