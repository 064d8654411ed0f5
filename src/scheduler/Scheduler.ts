/**
 * The Scheduler: the one way runs get started. `enqueue` persists a pending run (run
 * record, step-0 checkpoint and `pending_runs` row, deduplicated by idempotency key in
 * one transaction) and returns its id with a Deferred of its RunSummary. Workers drive
 * queued runs FIFO per graph under a per-graph and a global concurrency limit. Pending
 * rows survive restarts and are picked up again, as are the runs and queue claims of a
 * dead process of this host or of one of another host whose lease lapsed (see
 * `runtime/leases.ts`); shutdown drains in-flight runs.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as HashSet from "effect/HashSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { Checkpointer, type CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { type Checkpoint, type CreatedRun, type NewRun, type RunPatch, type RunRecord, type RunStatus, type RunSummary, STOPPED_STATUSES, type TakenOver, toSummary } from "../checkpoint/models.js"
import {
  CheckpointError,
  type InputError,
  type LanguageModelError,
  RunStateError,
  SchedulerError,
  type StargraphError,
  type StateValidationError,
  type ThreadError
} from "../errors.js"
import type { Graph } from "../graph/Graph.js"
import { NodeAbortGrace } from "../nodes/NodeAbortGrace.js"
import type { GraphRun } from "../graph/GraphRun.js"
import { currentRecord } from "../nodes/lm/DefaultModel.js"
import { checkNeeding, reachedBefore } from "../nodes/lm/modelCheck.js"
import { forkAbove } from "../runtime/forkDescendant.js"
import { type BreakpointFields, type BreakpointNodes, resolveBreakpoints } from "../runtime/breakpoints.js"
import { checkSkipFailed, explainMoved, prepareThreadRun } from "../graph/threads.js"
import { keyReused, requestDifference } from "../graph/keyReuse.js"
import { refuseLostAnswer } from "../runtime/waitMoved.js"
import { type AnswerRefusedReason, refuseAnswer } from "../runtime/answerRefused.js"
import { toErrorRecord } from "../runtime/errorRecord.js"
import { nowIso, OWNER } from "../runtime/RunLoop.js"
import { leaseGraceMs, leaseState, observeHeartbeats } from "../runtime/leases.js"
import { ownerAlive, ownerElsewhere, takeOverOf, takeOverOfRunning } from "../runtime/owner.js"
import { settledChild } from "../runtime/waitedChild.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { GraphRegistry } from "./GraphRegistry.js"

/** Limits and timings of a Scheduler. */
export interface SchedulerOptions {
  /** Runs of one graph executing at once (default 4). */
  readonly perGraph?: number | undefined
  /** Per-graph overrides of `perGraph`, by graph id. */
  readonly perGraphOverrides?: { readonly [graphId: string]: number } | undefined
  /** Runs executing at once over all graphs (default 16). */
  readonly global?: number | undefined
  /** How often the queue table is read for runs enqueued elsewhere or left by a dead process (default 1000 ms). */
  readonly pollIntervalMs?: number | undefined
  /** Pick up pending rows this process did not enqueue (default true; the CLI turns it off). */
  readonly pickUpPending?: boolean | undefined
  /**
   * How long shutdown waits for its in-flight runs, asked at once to stop after their
   * current step (back on the queue), before it interrupts the steps still going, which
   * run again in the next process (default 10 000 ms).
   */
  readonly drainTimeoutMs?: number | undefined
  /**
   * How long a cancelled (or timed-out, or shut-down) node body is waited for after its
   * `ctx.signal` is aborted before its run's slot is given up anyway (default 30 000 ms;
   * see `NodeAbortGrace`).
   */
  readonly abortGraceMs?: number | undefined
  /** Told once shutdown's drain is over, with what became of the runs in flight. */
  readonly onDrained?: ((report: DrainReport) => Effect.Effect<void>) | undefined
  /**
   * Told of each run this Scheduler drives that ends `error` (the runtime broke under it,
   * e.g. a step's commit failed on a full disk), with the run's record as it ended; how
   * `stargraph serve` says so on stderr. Default: nothing (the audit log and the record say it).
   */
  readonly onRunError?: ((run: RunRecord) => Effect.Effect<void>) | undefined
  /**
   * The fix `enqueue` and `resume` name when they refuse a run whose live language-model
   * nodes need a model nobody gives (`LanguageModelError[no-model]`; default: how a library
   * caller gives one). `stargraph serve` names its flags.
   */
  readonly noModelFix?: string | undefined
}

/** What shutdown's drain did with the runs in flight when it began (and those opened meanwhile). */
export interface DrainReport {
  /** Runs that stopped on their own (done, failed, cancelled, waiting for input) within their current step. */
  readonly finished: number
  /** Runs that committed their current step and went back on the queue (`pending`), to go on from the next step. */
  readonly requeued: number
  /** Runs whose step was still running at the drain timeout: interrupted, back on the queue, that step to run again. */
  readonly interrupted: number
}

/** Who or what asked for a run. */
export interface EnqueueOptions {
  readonly idempotencyKey?: string | undefined
  /** For the audit log, e.g. `cli`, `http:127.0.0.1`, `cron:nightly`. */
  readonly actor?: string | undefined
  /** The nodes the run pauses before (`"*"`: every node); see `StartOptions.interruptBefore`. */
  readonly interruptBefore?: BreakpointNodes | undefined
  /** The nodes the run pauses after (`"*"`: every node); see `StartOptions.interruptAfter`. */
  readonly interruptAfter?: BreakpointNodes | undefined
  /** How the breakpoint options are named in an error (default `interrupt_before`, `interrupt_after`: the HTTP body's). */
  readonly breakpointFields?: BreakpointFields | undefined
  /** Start the run on this thread (see `StartOptions.threadId`). */
  readonly threadId?: string | undefined
  /** With `threadId`: pass over the thread's newest failed and cancelled runs (see `StartOptions.skipFailed`). */
  readonly skipFailed?: boolean | undefined
  /**
   * What `idempotencyKey` names. `request` (default, a client's key: `POST /v1/runs`,
   * `stargraph run`): a run that holds it is returned only for the same request (graph,
   * params as canonical JSON, thread, breakpoints); another request is refused with
   * `RunStateError` reason `idempotency-key-reused` (see `graph/keyReuse.ts`). `event` (a
   * trigger's key: a webhook delivery, a cron tick, a plugin's event): its run is returned
   * for any params of the same graph (a webhook retry re-sent with another body is the
   * same delivery).
   */
  readonly idempotency?: "request" | "event" | undefined
}

/** The answer of `enqueue`. */
export interface Enqueued {
  readonly runId: string
  readonly graphId: string
  /** True when the idempotency key matched an existing run (nothing new was queued). */
  readonly deduplicated: boolean
  /** Status when enqueue returned. */
  readonly status: RunStatus
  /** Resolves with the run's summary once it is done, failed, cancelled, errored or stopped for input. */
  readonly summary: Deferred.Deferred<RunSummary, CheckpointError>
  /**
   * The thread's failed and cancelled runs this new run passed over (`skipFailed`), newest
   * first; absent when it passed over none (or was deduplicated).
   */
  readonly skipped?: ReadonlyArray<{ readonly run_id: string; readonly status: RunStatus }> | undefined
}

/** The Scheduler's operations. */
export interface SchedulerShape {
  /** Validate params against the graph's state schema, persist the pending run, queue it. */
  readonly enqueue: (
    graphId: string,
    params: { readonly [field: string]: unknown },
    options?: EnqueueOptions
  ) => Effect.Effect<Enqueued, SchedulerError | StateValidationError | InputError | CheckpointError | RunStateError | ThreadError | LanguageModelError>
  /**
   * Continue a stopped run (`paused`, `awaiting-input` with a response, or paused at a
   * breakpoint, without one) in this process. Durable before it returns: the run is put on the queue, `pending` with the
   * answer kept on its record (`waiting.given`), so a restart (or another server on the
   * database) resumes it with that answer if this process does not get to it.
   */
  readonly resume: (
    runId: string,
    options?: {
      readonly response?: { readonly value: unknown }
      /** With `response`: the wait it answers (`waiting.wait_id`); applied only while the run waits there, else refused (`RunStateError`). */
      readonly waitId?: string | undefined
      readonly actor?: string
      /** For a counterfactual fork: allow live calls where its parent's recording cannot answer (kept on the fork's record). */
      readonly liveAfterFork?: boolean
    }
  ) => Effect.Effect<Enqueued, SchedulerError | CheckpointError | RunStateError | StateValidationError | LanguageModelError>
  /** The run's summary once it stops (waits for it when it is still queued or running). */
  readonly await: (runId: string) => Effect.Effect<RunSummary, CheckpointError>
  /** The live handle of a run executing in this process. */
  readonly live: (runId: string) => Option.Option<GraphRun>
  /** Runs queued or executing in this process. */
  readonly stats: Effect.Effect<{ readonly queued: number; readonly running: number }>
}

/** The Scheduler service tag. */
export class Scheduler extends Context.Tag("stargraph/Scheduler")<Scheduler, SchedulerShape>() {}

interface Job {
  readonly runId: string
  readonly graph: Graph
  /** Who the run's audit lines name; undefined: who started it (its record), for a run picked up later. */
  readonly actor: string | undefined
  readonly claim: boolean
  /** Set when this process created the run: no need to re-read it. */
  readonly fresh?: { readonly record: RunRecord; readonly checkpoint: Checkpoint } | undefined
  /** The span of the caller that queued it (the run's span is its child, in the caller's trace). */
  readonly parent?: Tracer.AnySpan | undefined
}

/** Resume after Node's pending I/O callbacks have run (one `setImmediate`). */
const nextMacrotask: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Build a Scheduler in a scope; closing the scope drains it. */
export const make = (
  options: SchedulerOptions = {}
): Effect.Effect<SchedulerShape, never, Scope.Scope | Checkpointer | GraphRegistry> =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    const registry = yield* GraphRegistry
    const context = yield* Effect.context<Checkpointer>()
    const perGraph = options.perGraph ?? 4
    const global = yield* Effect.makeSemaphore(options.global ?? 16)
    const lanes = new Map<string, Queue.Queue<Job>>()
    /** Runs with a job queued or executing in this process. */
    const known = new Set<string>()
    /** Runs just written by `enqueue`, not yet offered. */
    const enqueuing = new Set<string>()
    const waiters = new Map<string, Deferred.Deferred<RunSummary, CheckpointError>>()
    const running = new Map<string, GraphRun>()
    const workers: Array<Fiber.RuntimeFiber<never, never>> = []
    let draining = false
    /** What became of the runs that stopped while draining (see `DrainReport`). */
    const drained = { finished: 0, requeued: 0 }
    // Workers live in a child scope closed after the drain finalizer below has run.
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)

    // Group commit: concurrent enqueues are written in one transaction (one fsync).
    const intake = yield* Queue.unbounded<{ readonly run: NewRun; readonly done: Deferred.Deferred<CreatedRun, CheckpointError> }>()
    const writer = Effect.gen(function*() {
      const first = yield* Queue.take(intake)
      let rest = Chunk.toReadonlyArray(yield* Queue.takeUpTo(intake, 511))
      if (rest.length === 0) {
        // A lone enqueue: let the event loop deliver what is already waiting (e.g. other
        // HTTP requests, each parsed in its own I/O callback) so they join this transaction.
        yield* nextMacrotask
        rest = Chunk.toReadonlyArray(yield* Queue.takeUpTo(intake, 511))
      }
      const batch = [first, ...rest]
      const written = yield* Effect.either(checkpointer.createRuns(batch.map((b) => b.run)))
      // Hide new rows from the poller until their enqueue call offers them itself.
      if (Either.isRight(written)) for (const c of written.right) if (c.created) enqueuing.add(c.record.run_id)
      yield* Effect.forEach(batch, (b, i) =>
        Deferred.complete(b.done, Either.isRight(written) ? Effect.succeed(written.right[i]!) : Effect.fail(written.left)))
    }).pipe(Effect.forever)
    yield* Effect.forkIn(writer, scope)

    const waiter = (runId: string) =>
      Effect.gen(function*() {
        const existing = waiters.get(runId)
        if (existing) return existing
        const created = yield* Deferred.make<RunSummary, CheckpointError>()
        waiters.set(runId, created)
        return created
      })

    const settle = (runId: string, summary: Either.Either<RunSummary, CheckpointError>) =>
      Effect.gen(function*() {
        const deferred = waiters.get(runId)
        waiters.delete(runId)
        if (deferred) yield* Deferred.complete(deferred, summary._tag === "Right" ? Effect.succeed(summary.right) : Effect.fail(summary.left))
      })

    const summaryFromStore = (store: CheckpointerShape, runId: string) =>
      Effect.gen(function*() {
        const record = yield* store.getRun(runId)
        if (Option.isNone(record)) {
          return yield* new CheckpointError({ reason: "unknown-run", runId, message: `run ${runId} vanished from the checkpoint database` })
        }
        const latest = yield* store.latestCheckpoint(runId)
        return toSummary(record.value, Option.match(latest, { onNone: () => ({}), onSome: (c) => c.state }))
      })

    /** Tell `onRunError` of a run that ended `error` (as its record now says). */
    const toldIfError = (runId: string) =>
      options.onRunError === undefined
        ? Effect.void
        : Effect.flatMap(checkpointer.getRun(runId), (read) =>
          Option.isSome(read) && read.value.status === "error" ? options.onRunError!(read.value) : Effect.void)

    /** Execute one job: claim it, drive it, settle its waiters, dequeue it. */
    const execute = (job: Job): Effect.Effect<void> =>
      Effect.gen(function*() {
        // Draining: runs not started yet stay queued (unclaimed) for the next process.
        if (draining) return
        const at = yield* nowIso
        // Whether the run had started before this claim (a drain requeued it): the claim sets `started_at`.
        let startedBefore = false
        /** The claim took the run over from the process that held it (dead, or its lease lapsed). */
        let takenOver: TakenOver | undefined
        if (job.claim) {
          // The run's owner as read now (none, or a dead process): if another process takes
          // the run over before the claim (a `stargraph resume`), the claim does nothing.
          const read = job.fresh !== undefined ? Option.some(job.fresh.record) : yield* checkpointer.getRun(job.runId)
          if (Option.isNone(read)) return
          const current = read.value.owner
          if (current !== null && current !== OWNER && ownerAlive(current)) return // a live process drives it
          startedBefore = read.value.started_at !== null
          // Recorded in the claim's own transaction.
          takenOver = current !== null && current !== OWNER ? takeOverOf(current, at) : undefined
          const claimed = yield* checkpointer.claimPending(job.runId, OWNER, at, { owner: current }, takenOver)
          if (!claimed) return // another process has it
        }
        const opened = yield* Effect.either(
          job.fresh
            ? job.graph.open(
              job.claim ? { ...job.fresh.record, status: "running", owner: OWNER, started_at: job.fresh.record.started_at ?? at } : job.fresh.record,
              job.fresh.checkpoint,
              { actor: job.actor }
            )
            // An answer given through `resume` is on the record (`waiting.given`): the run consumes it.
            // Accepted when it was queued or resumed (checked there for a model): driven on as it is.
            : job.graph.resume(job.runId, { actor: job.actor, startedBefore, takenOver, skipModelCheck: true })
        )
        if (Either.isLeft(opened)) {
          // The run cannot continue here (e.g. its graph changed since it was queued): record why.
          const error = opened.left as StargraphError
          if (error._tag === "CheckpointError" && (error.reason === "graph-hash-mismatch" || error.reason === "runtime-hash-mismatch") && job.claim) {
            // A run of another version of the graph or of Stargraph (a CLI run of an edited
            // copy, a server restarted on a new version): nothing is wrong with it. It is
            // left paused for whoever runs that version (`stargraph resume`), not failed.
            yield* checkpointer.updateRun(job.runId, { status: "paused", owner: null })
          } else if (error._tag === "CheckpointError" && error.reason !== "unknown-run") {
            yield* checkpointer.updateRun(job.runId, { status: "error", error: toErrorRecord(error), finished_at: yield* nowIso, owner: null })
          }
          // A run adopted off the queue's books that its owner still drives (it beat again
          // since the poll: refused) keeps whatever row it has.
          if (job.claim || error._tag !== "RunStateError") yield* checkpointer.completePending(job.runId)
          yield* Effect.logWarning(`scheduler: run ${job.runId} could not be resumed: ${error.message}`)
          yield* toldIfError(job.runId)
        } else {
          const run = opened.right
          running.set(job.runId, run)
          // Opened while the drain began: it stops before its first step here, back on the queue.
          if (draining) yield* run.pause({ requeue: true })
          // A run that stops leaves the queue in the same transaction as its last status change.
          const outcome = yield* Effect.either(run.start())
          if (Either.isRight(outcome)) {
            if (draining && outcome.right.status === "pending") drained.requeued++
            else if (draining) drained.finished++
            return yield* settle(job.runId, Either.right(outcome.right))
          }
          // Another process took the run over (this one's lease lapsed): it goes on there.
          if (outcome.left._tag === "CheckpointError" && outcome.left.reason === "taken-over") yield* Effect.logWarning(`scheduler: ${outcome.left.message}`)
          else yield* toldIfError(job.runId)
        }
        yield* settle(job.runId, yield* Effect.either(summaryFromStore(checkpointer, job.runId)))
      }).pipe(
        Effect.catchAll((error) => Effect.logError(`scheduler: run ${job.runId}: ${error.message}`)),
        // A defect, or an interruption that is not the worker's own (the scheduler stopping),
        // ends this run only: the worker goes on with the next one.
        Effect.catchAllCause((cause) =>
          Effect.flatMap(Effect.descriptor, (fiber) =>
            HashSet.size(fiber.interruptors) > 0
              ? Effect.failCause(cause)
              : Effect.zipRight(
                Effect.logError(`scheduler: run ${job.runId} ended unexpectedly: ${Cause.pretty(cause)}`),
                Effect.flatMap(Effect.either(summaryFromStore(checkpointer, job.runId)), (summary) => settle(job.runId, summary))
              ))
        ),
        Effect.ensuring(Effect.sync(() => {
          running.delete(job.runId)
          known.delete(job.runId)
        })),
        Effect.provide(context),
        (effect) => (options.abortGraceMs === undefined ? effect : Effect.provideService(effect, NodeAbortGrace, options.abortGraceMs))
      )

    const lane = (graphId: string) =>
      Effect.gen(function*() {
        const existing = lanes.get(graphId)
        if (existing) return existing
        const queue = yield* Queue.unbounded<Job>()
        lanes.set(graphId, queue)
        const limit = options.perGraphOverrides?.[graphId] ?? perGraph
        for (let i = 0; i < limit; i++) {
          const worker = Queue.take(queue).pipe(
            Effect.flatMap((job) => global.withPermits(1)(job.parent === undefined ? execute(job) : Effect.withParentSpan(execute(job), job.parent))),
            Effect.forever
          )
          workers.push(yield* Effect.forkIn(worker, scope))
        }
        return queue
      })

    const offer = (job: Job) =>
      Effect.gen(function*() {
        enqueuing.delete(job.runId)
        if (known.has(job.runId)) return
        known.add(job.runId)
        const queue = yield* lane(job.graph.id)
        const parent = Option.getOrUndefined(yield* Effect.currentSpan.pipe(Effect.option))
        yield* Queue.offer(queue, parent === undefined ? job : { ...job, parent })
      })

    const refuseWhileDraining = Effect.suspend(() =>
      draining
        ? Effect.fail(new SchedulerError({ reason: "shutting-down", message: "the scheduler is shutting down", fix: "retry against a running server" }))
        : Effect.void
    )

    /**
     * A deduplicated run that is still queued or running: drive it here unless a live
     * process owns it (then the poller settles its waiters when it stops). A run whose
     * owner died (e.g. a `kill -9`'d CLI) has that owner's claims released first; the
     * claim is atomic, so if another process takes it meanwhile, this one stands back.
     */
    const adopt = (record: RunRecord, graph: Graph, actor: string) =>
      Effect.gen(function*() {
        if (record.owner !== null && record.owner !== OWNER) {
          if (ownerAlive(record.owner)) return
          yield* checkpointer.releaseClaims(record.owner)
        }
        // A run started outside the queue (`graph.start`) has no row to claim: resume it directly.
        const queued = (yield* checkpointer.listPending(100_000)).some((row) => row.run_id === record.run_id)
        yield* offer({ runId: record.run_id, graph, actor, claim: queued })
      })

    const enqueue: SchedulerShape["enqueue"] = (graphId, params, opts = {}) =>
      Effect.gen(function*() {
        yield* refuseWhileDraining
        const graph = yield* registry.get(graphId)
        const breakpoints = yield* resolveBreakpoints({ before: opts.interruptBefore, after: opts.interruptAfter }, graph.topology.nodes.keys(), opts.breakpointFields)
        // A live language-model node the run would reach without a model (none in the caller's
        // context: a server's --lm-url, an app's layer) is refused before the run is written,
        // whoever asks (POST /v1/runs, a cron tick, a webhook delivery, a plugin).
        yield* checkNeeding(reachedBefore(graph.needsModel, breakpoints?.before), options.noModelFix)
        const threadId = opts.threadId
        const skipFailed = yield* checkSkipFailed(opts.skipFailed, threadId)
        const defaultModel = yield* currentRecord
        const fields = { inputs: params, idempotencyKey: opts.idempotencyKey, queued: true, actor: opts.actor, breakpoints, defaultModel }
        const { run: prepared, skipped } = threadId === undefined
          ? { run: yield* graph.newRun(fields), skipped: [] }
          : yield* Effect.provideService(prepareThreadRun(graph, { ...fields, threadId, skipFailed }), Checkpointer, checkpointer)
        // A thread's run is written on its own: its thread check must not fail a group commit of others.
        const { record, created } = threadId === undefined
          ? yield* Effect.flatMap(Deferred.make<CreatedRun, CheckpointError>(), (done) =>
            Effect.zipRight(Queue.offer(intake, { run: prepared, done }), Deferred.await(done)))
          : yield* checkpointer.createRun(prepared).pipe(
            Effect.catchAll(explainMoved(checkpointer, threadId, graph.id, skipFailed)),
            Effect.tap((c) => Effect.sync(() => c.created && enqueuing.add(c.record.run_id)))
          )
        // A key held by a run of another request (another graph, params, thread, skip_failed or breakpoints;
        // for a trigger's key, another graph only) is a mistake, not a retry: refused, nothing written.
        const difference = created ? undefined : requestDifference(record, prepared)
        if (difference !== undefined && (opts.idempotency !== "event" || difference.field === "graph_id")) {
          return yield* keyReused(opts.idempotencyKey, record, prepared, difference, "enqueue")
        }
        const deferred = yield* waiter(record.run_id)
        if (created) {
          const fresh = { record, checkpoint: { ...prepared.initial, run_id: record.run_id } }
          yield* offer({ runId: record.run_id, graph, actor: opts.actor ?? "scheduler", claim: true, fresh })
        } else if (!known.has(record.run_id)) {
          if (STOPPED_STATUSES.has(record.status)) {
            yield* settle(record.run_id, yield* Effect.either(summaryFromStore(checkpointer, record.run_id)))
          } else {
            yield* adopt(record, graph, opts.actor ?? "scheduler")
          }
        }
        yield* Effect.annotateCurrentSpan({ "stargraph.run_id": record.run_id, "stargraph.deduplicated": !created })
        return { runId: record.run_id, graphId, deduplicated: !created, status: record.status, summary: deferred, ...(created && skipped.length > 0 ? { skipped } : {}) }
      }).pipe(traced("stargraph.scheduler.enqueue", { "stargraph.graph_id": graphId, "stargraph.actor": opts.actor ?? "scheduler" }))

    const resume: SchedulerShape["resume"] = (runId, opts = {}) =>
      Effect.gen(function*() {
        yield* refuseWhileDraining
        const record = yield* Effect.flatMap(checkpointer.getRun(runId), Option.match({
          onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId, message: `no run '${runId}'` })),
          onSome: Effect.succeed
        }))
        const graph = yield* registry.get(record.graph_id)
        // Validate now (status rules, hashes, the response) so the caller gets the error.
        // (And a live language-model node it would reach without a model, in the caller's context.)
        // (Its refusal of an answer writes the `answer.refused` record, naming this actor.)
        const actor = opts.actor ?? "scheduler"
        yield* graph.resume(runId, { response: opts.response, waitId: opts.waitId, actor, noModelFix: options.noModelFix, liveAfterFork: opts.liveAfterFork === true })
        const deferred = yield* waiter(runId)
        // Queued or executing here already: nothing to queue. A run known here that stopped
        // (awaiting input, paused: its job is ending) is queued below all the same, and the
        // poller picks it up once that job is done: its answer is never dropped.
        if (known.has(runId) && (record.status === "running" || record.status === "pending")) return { runId, graphId: graph.id, deduplicated: false, status: record.status, summary: deferred }
        // Durable before the caller is told: `pending` and on the queue (one transaction) with
        // the answer kept on the record (as a resumed run keeps it until its step commits).
        // Taken from the status and owner just read: an answer or resume that raced this one
        // wins alone.
        // (A breakpoint's wait is kept with who resumed it: its step does not pause there again.)
        // A run left `running` by a process that is gone: the take-over is recorded here,
        // where its owner is dropped (the claim that follows finds no owner to name).
        const takenOver = takeOverOfRunning(record, yield* nowIso)
        // A fork allowed live calls keeps that on its record, written here with its queueing
        // (the check above writes nothing): the drive that picks it up reads it there.
        const keepLiveAfterFork = opts.liveAfterFork === true && record.parent_run_id !== null && record.derived_hash !== null && !record.live_after_fork
        const patch: RunPatch = {
          status: "pending",
          owner: null,
          ...(keepLiveAfterFork ? { live_after_fork: true } : {}),
          ...(takenOver !== undefined ? { taken_over: takenOver } : {}),
          // An `error` run (the runtime broke under it) goes on from its committed steps, as in `stargraph resume`.
          ...(record.status === "error" ? { error: null, finished_at: null } : {}),
          ...(opts.response !== undefined && record.waiting !== null && record.waiting !== undefined
            ? { waiting: { ...record.waiting, given: { value: opts.response.value, actor, at: yield* nowIso } } }
            : record.status === "awaiting-input" && record.waiting?.kind === "breakpoint"
            ? { waiting: { ...record.waiting, given: { value: null, actor } } }
            : {})
        }
        // (And from its last step: a run whose state was edited meanwhile is not queued with the wait read before;
        // and, an answer naming its wait, only while the run still waits there.)
        const waitId = opts.response !== undefined ? opts.waitId : undefined
        if (!(yield* checkpointer.takeOver(runId, { status: record.status, owner: record.owner, step: record.last_step, ...(waitId !== undefined ? { waitId } : {}) }, patch))) {
          const now = Option.getOrUndefined(yield* checkpointer.getRun(runId))
          const response = opts.response
          /** `error`, refusing the answer (if any) for `reason`: its `answer.refused` record first. */
          const refused = (reason: AnswerRefusedReason, error: RunStateError) =>
            response === undefined ? Effect.fail(error) : refuseAnswer({ runId, actor, value: response.value, waitId, run: now, reason, error })
          // An answer whose wait moved, or that another answer beat to it: see `refuseLostAnswer`.
          const lost = response !== undefined
            ? yield* refuseLostAnswer(checkpointer, now, runId, waitId, { status: record.status, step: record.last_step }, "respond")
            : undefined
          if (lost !== undefined) return yield* refused(lost.reason, lost.error)
          return yield* refused(
            "other",
            new RunStateError({
              runId,
              status: now?.status ?? record.status,
              operation: response !== undefined ? "respond" : "resume",
              message: `run ${runId} changed while it was being ${response !== undefined ? "answered" : "resumed"} (now ${now?.status ?? "gone"}): ` +
                "another request or process got there first; read it again"
            })
          )
        }
        yield* offer({ runId, graph, actor, claim: true })
        return { runId, graphId: graph.id, deduplicated: false, status: record.status, summary: deferred }
      }).pipe(Effect.provide(context))

    const awaitRun: SchedulerShape["await"] = (runId) =>
      Effect.gen(function*() {
        const summary = yield* summaryFromStore(checkpointer, runId)
        if (STOPPED_STATUSES.has(summary.status) && !known.has(runId)) return summary
        return yield* Deferred.await(yield* waiter(runId))
      })

    /**
     * Runs of `status`, a page per poll, each poll going on where the last one stopped
     * (back to the newest after the last page): every such run is seen, however many.
     */
    const rotating = (status: RunStatus) =>
      Effect.map(Ref.make<string | undefined>(undefined), (cursor) =>
        Effect.gen(function*() {
          const page = yield* checkpointer.listRuns({ status, limit: 500, cursor: yield* Ref.get(cursor) })
          yield* Ref.set(cursor, page.next_cursor ?? undefined)
          return page.runs
        }))
    const runningRuns = yield* rotating("running")
    const waitingRuns = yield* rotating("awaiting-input")

    /** Owners this process reported lapsed (once each, until they beat again). */
    const reported = new Set<string>()
    /**
     * Read the heartbeats of the processes of other hosts among `owners` (see `leases.ts`):
     * one whose beat stands still past its lease counts as gone (`ownerAlive`) from then on.
     */
    const watchLeases = (owners: Iterable<string | null>) =>
      Effect.gen(function*() {
        const elsewhere = [...new Set([...owners].filter((o): o is string => o !== null && o !== OWNER && ownerElsewhere(o)))]
        if (elsewhere.length === 0 || checkpointer.heartbeats === undefined) return
        observeHeartbeats(elsewhere, yield* checkpointer.heartbeats(elsewhere))
        for (const owner of elsewhere) {
          const lease = leaseState(owner)
          if (lease._tag === "Lapsed" && !reported.has(owner)) {
            reported.add(owner)
            const stood = (lease.forMs + lease.leaseMs + leaseGraceMs(lease.leaseMs)) / 1000
            yield* Effect.logWarning(`scheduler: the heartbeat of process ${owner} (another host) has stood still for ${stood.toFixed(1)} s, past its lease of ${lease.leaseMs} ms: its runs are handed over`)
          }
          if (lease._tag !== "Lapsed") reported.delete(owner)
        }
      })
    /** Queue rows this process does not know yet (enqueued elsewhere, or left by a dead process). */
    const poll = Effect.gen(function*() {
      // Claims of dead processes (or of processes elsewhere whose lease lapsed) are released
      // first, so their rows are read as unclaimed below.
      const claimed = yield* checkpointer.listPending(500, { claimed: true })
      const orphans = options.pickUpPending === false ? [] : yield* runningRuns
      yield* watchLeases([...claimed.map((r) => r.claimed_by), ...orphans.map((r) => r.owner)])
      const dead = new Set(claimed.flatMap((r) => (r.claimed_by !== null && r.claimed_by !== OWNER && !ownerAlive(r.claimed_by) ? [r.claimed_by] : [])))
      for (const owner of dead) yield* checkpointer.releaseClaims(owner)
      // The rows this server can run: unclaimed, of its graphs (past any number of others').
      const rows = options.pickUpPending === false ? [] : yield* checkpointer.listPending(500, { claimed: false, graphIds: registry.list().map((g) => g.id) })
      for (const row of rows) {
        if (known.has(row.run_id) || enqueuing.has(row.run_id)) continue
        const graph = yield* Effect.either(registry.get(row.graph_id))
        if (Either.isLeft(graph)) continue
        yield* offer({ runId: row.run_id, graph: graph.right, actor: undefined, claim: true })
      }
      // Runs left `running` by a process of this host that died (kill -9, a crash), or of
      // another host whose lease lapsed, while it drove them outside the queue (a run it
      // resumed: /respond, /resume, a fork): nothing would pick them up, so adopt them, as
      // the queue's rows of a dead process are. (The drive takes each over from the owner
      // and the step it was read with: one that wakes up and commits first keeps its run.)
      if (options.pickUpPending !== false) {
        for (const run of orphans) {
          if (run.owner === null || ownerAlive(run.owner) || known.has(run.run_id) || enqueuing.has(run.run_id)) continue
          if (rows.some((row) => row.run_id === run.run_id)) continue
          // A subgraph's child run goes on when its parent does (its subgraph node resumes
          // it), unless the parent is not running (it waits for the child's answer, given
          // to the child directly): then the child is adopted on its own.
          if (run.parent_run_id !== null && run.derived_hash === null) {
            const parent = Option.getOrUndefined(yield* checkpointer.getRun(run.parent_run_id))
            if (parent === undefined || parent.status === "running" || parent.status === "pending") continue
            // A fork's child goes on only through its fork (which hands it its replay source).
            if ((yield* forkAbove(checkpointer, run)) !== undefined) continue
          }
          const graph = yield* Effect.either(registry.get(run.graph_id))
          // Only a run of the graph this server has (same hash): another version's run is
          // left to whoever runs that version (`stargraph resume` with its graph).
          if (Either.isRight(graph) && graph.right.graphHash === run.graph_hash) yield* offer({ runId: run.run_id, graph: graph.right, actor: undefined, claim: false })
        }
      }
      // Runs waiting for input past their interrupt's deadline: resume them, which applies
      // the interrupt's on_timeout (halt, or goto a node). Parents whose child was answered
      // directly: resume them without an answer.
      if (options.pickUpPending !== false) {
        const now = yield* Clock.currentTimeMillis
        for (const run of yield* waitingRuns) {
          if (known.has(run.run_id)) continue
          const deadline = run.waiting?.deadline
          const timedOut = deadline !== undefined && now >= Date.parse(deadline)
          // A parent whose child was answered directly and no longer waits goes on too (it takes the child's outcome).
          if (!timedOut && (yield* settledChild(checkpointer, run)) === undefined) continue
          const graph = yield* Effect.either(registry.get(run.graph_id))
          if (Either.isRight(graph) && graph.right.graphHash === run.graph_hash) {
            yield* offer({ runId: run.run_id, graph: graph.right, actor: timedOut ? "timeout" : undefined, claim: false })
          }
        }
      }
      // Settle waiters for runs another process drove.
      for (const runId of [...waiters.keys()]) {
        if (known.has(runId)) continue
        const summary = yield* Effect.either(summaryFromStore(checkpointer, runId))
        if (Either.isLeft(summary) || STOPPED_STATUSES.has(summary.right.status)) yield* settle(runId, summary)
      }
    }).pipe(Effect.catchAll((e) => Effect.logWarning(`scheduler: polling the queue failed: ${e.message}`)))

    // An idle poll is bookkeeping, not work anyone traces: its reads make no spans (a run it
    // picks up starts its own trace).
    yield* Effect.forkIn(Effect.repeat(Effect.withTracerEnabled(poll, false), Schedule.spaced(Duration.millis(options.pollIntervalMs ?? 1000))), scope)

    // Drain on shutdown: refuse new work; ask every in-flight run at once to stop after its
    // current step and go back on the queue (a run whose current step is its last finishes);
    // wait for those commits up to the drain timeout; interrupt what is still going.
    // Draining waits in wall-clock time (a test clock must not stall shutdown).
    const pauseMs = Effect.promise(() => new Promise<void>((r) => setTimeout(r, 20)))
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        draining = true
        // `pending` and back on the queue in the same write as their status (whenever this
        // process dies), so the next process resumes them from their next step.
        for (const run of running.values()) yield* run.pause({ requeue: true })
        const deadline = Date.now() + (options.drainTimeoutMs ?? 10_000)
        while (running.size > 0 && Date.now() < deadline) yield* pauseMs
        // Past the deadline: the step in flight is dropped (it runs again in the next process).
        const interrupted = [...running.keys()]
        // All at once: each waits for its node bodies (up to the abort grace), in parallel.
        yield* Fiber.interruptAll(workers)
        // Their loop put them back on the queue; one whose record this process still holds
        // (its write failed) is put back here, from that record only: a run another server
        // claimed meanwhile is left to it.
        for (const runId of interrupted) {
          yield* checkpointer.takeOver(runId, { status: "running", owner: OWNER }, { status: "pending", owner: null }).pipe(Effect.ignore)
        }
        yield* checkpointer.releaseClaims(OWNER).pipe(Effect.ignore)
        if (options.onDrained !== undefined) yield* options.onDrained({ ...drained, interrupted: interrupted.length })
      }).pipe(traced("stargraph.scheduler.drain"))
    )

    return {
      enqueue,
      resume,
      await: awaitRun,
      live: (runId) => Option.fromNullable(running.get(runId)),
      stats: Effect.sync(() => ({ queued: known.size - running.size, running: running.size }))
    }
  })

/** The Scheduler as a scoped Layer (needs a Checkpointer and a GraphRegistry). */
export const layer = (options: SchedulerOptions = {}): Layer.Layer<Scheduler, never, Checkpointer | GraphRegistry> =>
  Layer.scoped(Scheduler, make(options))
