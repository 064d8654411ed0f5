/**
 * The handlers of `StargraphApi`, one Layer per group, over the Scheduler, Checkpointer
 * and GraphRegistry services found in the context.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Socket from "@effect/platform/Socket"
import { basename } from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { ArtifactStore } from "../checkpoint/ArtifactStore.js"
import { ARTIFACT_ID, type ArtifactStoreShape, MIXED_CONTENT_TYPE } from "../checkpoint/artifactModels.js"
import { checkArtifacts, missingMessage } from "../checkpoint/artifactRefs.js"
import { databaseName, isPostgresUrl } from "../checkpoint/databaseUrl.js"
import { databaseReplaced, fileIdentity } from "./databaseWatch.js"
import { Checkpointer, type CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { type RunRecord, type RunStatus, TERMINAL_STATUSES } from "../checkpoint/models.js"
import { takeOversOf } from "../checkpoint/takeOvers.js"
import { ApiError, type ArtifactStoreError, CheckpointError, InputError, RunStateError, runStateErrorWith, SchedulerError, type StargraphError } from "../errors.js"
import { canonicalJson } from "../ir/hash.js"
import { ownerAlive, runsLiveness } from "../runtime/owner.js"
import { askToCancel, DEFAULT_CANCEL_WAIT_MS, stillExecuting } from "../runtime/askCancel.js"
import { cancelStopped, subgraphIndex } from "../runtime/cancelStopped.js"
import { cancelWaitedChild, parentWaitingOn } from "../runtime/waitingParent.js"
import { refuseStaleAnswer } from "../runtime/staleAnswer.js"
import { type AnswerRefusedReason, refuseAnswer } from "../runtime/answerRefused.js"
import { settledChild } from "../runtime/waitedChild.js"
import * as Replay from "../replay/Replay.js"
import { GraphRegistry, type GraphRegistryShape } from "../scheduler/GraphRegistry.js"
import { Scheduler } from "../scheduler/Scheduler.js"
import { STARGRAPH_VERSION } from "../version.js"
import { envelopeOf, redact } from "../triggers/httpError.js"
import { checkSkipFailed, checkThreadId, threadView } from "../graph/threads.js"
import { LIVE_AFTER_FORK_OPTION } from "../runtime/liveAfterFork.js"
import { identified, lastEventIdOf, parseLastEventId, recordStop, type ResumePoint, resumeAfter, withKeepAlive } from "./sse.js"
import { checkClientKey } from "../triggers/TriggerEvent.js"
import { pendingCounts } from "./metricsRoute.js"
import { runEvents } from "./runEvents.js"
import { runFieldsOf } from "./runView.js"
import { RunView, StargraphApi } from "./StargraphApi.js"

/** `http:<client address>`: who did it, for run records and the audit log. */
export const actorOf = (request: HttpServerRequest.HttpServerRequest) =>
  `http:${Option.getOrElse(request.remoteAddress, () => "unknown")}`

/** The 404 of a run id the database does not have. */
const unknownRun = (runId: string) => new CheckpointError({ reason: "unknown-run", runId, message: `no run '${runId}'` })

/** The run record, or a 404 `CheckpointError`. */
const getRun = (checkpointer: CheckpointerShape, runId: string) =>
  Effect.flatMap(checkpointer.getRun(runId), Option.match({
    onNone: () => Effect.fail(unknownRun(runId)),
    onSome: Effect.succeed
  }))

/** Whether the run is still in the database (without decoding its record when the Checkpointer can say so). */
const runExists = (checkpointer: CheckpointerShape, runId: string): Effect.Effect<boolean, CheckpointError> =>
  checkpointer.hasRun !== undefined ? checkpointer.hasRun(runId) : Effect.map(checkpointer.getRun(runId), Option.isSome)

const utf8 = new TextEncoder()

/** Finished runs whose `GET /v1/runs/{id}` response is kept in memory. */
const FINISHED_VIEWS = 2048

/** An insertion-ordered map that forgets its oldest entry beyond `capacity`. */
const boundedCache = <A>(capacity: number) => {
  const entries = new Map<string, A>()
  return {
    get: (key: string) => entries.get(key),
    delete: (key: string) => void entries.delete(key),
    set: (key: string, value: A) => {
      entries.set(key, value)
      if (entries.size > capacity) entries.delete(entries.keys().next().value!)
    }
  }
}

/**
 * An unknown-graph error with the way out when the server has no graph at all: start it
 * with `--graphs`, or from the folder that holds the graph files.
 */
const withNoGraphsHint = (registry: GraphRegistryShape) => <E>(error: E): E | SchedulerError =>
  error instanceof SchedulerError && error.reason === "unknown-graph" && registry.list().length === 0
    ? new SchedulerError({
      reason: "unknown-graph",
      ...(error.graphId !== undefined ? { graphId: error.graphId } : {}),
      message: `no graph with id '${error.graphId ?? ""}' is registered: this server has no graphs`,
      fix: "restart stargraph serve with --graphs <graph file or folder> (repeatable), or put the graph files in the folder serve runs from"
    })
    : error

const refuse = (runId: string, status: RunStatus, operation: string, message: string) =>
  new RunStateError({ runId, status, operation, message })

/** How long `GET /healthz` waits for the database's queue count before it answers 503 (a PostgreSQL server; a SQLite query is not cut short). */
export const HEALTH_COUNT_TIMEOUT_MS = 2_000

/**
 * `GET /healthz`; `db` is the database the server announces. `queued` is what waits in the
 * shared database's queue (unclaimed rows, every process's: one count query), `queued_here`
 * and `running` this server's own jobs. Unhealthy (503) once that SQLite file is gone or
 * replaced (the server's connection then writes to a file no other process, and no restart,
 * will see), or when the database does not answer the count (within
 * {@link HEALTH_COUNT_TIMEOUT_MS}). Each request counts (one indexed query): rate-limit the
 * server (`--rate-limit`) where probes or clients could ask too often.
 */
export const healthLayer = (db: string) =>
  HttpApiBuilder.group(StargraphApi, "health", (handlers) =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const registry = yield* GraphRegistry
      const checkpointer = yield* Checkpointer
      const opened = fileIdentity(db)
      const unavailable = (message: string) => new ApiError({ reason: "unavailable", status: 503, message })
      const stillServing = "; fix: check the database (its server, its disk); this server keeps running and answers 200 again once the database does"
      const queuedInDatabase = pendingCounts(checkpointer).pipe(
        Effect.map((counts) => [...counts.values()].reduce((sum, n) => sum + n, 0)),
        Effect.mapError((error) => unavailable(`the database does not answer: ${error.message}${stillServing}`)),
        Effect.timeoutFail({
          duration: Duration.millis(HEALTH_COUNT_TIMEOUT_MS),
          onTimeout: () => unavailable(`the database did not answer within ${HEALTH_COUNT_TIMEOUT_MS} ms (counting its queue)${stillServing}`)
        })
      )
      return handlers.handle("health", () =>
        opened !== undefined && fileIdentity(db) !== opened
          ? Effect.fail(unavailable(databaseReplaced(db).message))
          : Effect.map(Effect.zip(queuedInDatabase, scheduler.stats), ([queued, stats]) => ({
            status: "ok" as const,
            version: STARGRAPH_VERSION,
            // Public (no token needed): the file's name, not where it lives on the server; a
            // PostgreSQL database's name, not its server or credentials.
            db: isPostgresUrl(db) ? `postgresql:${databaseName(db) ?? ""}` : basename(db),
            graphs: registry.list().length,
            queued,
            queued_here: stats.queued,
            running: stats.running
          })))
    }))

/** `GET /v1/graphs`. */
export const graphsLayer = HttpApiBuilder.group(StargraphApi, "graphs", (handlers) =>
  Effect.gen(function*() {
    const registry = yield* GraphRegistry
    return handlers.handle("list", () =>
      Effect.succeed({
        graphs: registry.list().map((g) => ({
          id: g.id,
          description: g.ir.description ?? null,
          graph_hash: g.graphHash,
          runtime_hash: g.runtimeHash,
          // Where it was found, relative to the served folder: not the server's absolute path.
          source: registry.shownSource(g),
          nodes: g.ir.nodes.map((n) => n.id)
        }))
      }))
  }))

/** The fix a server names when it refuses a run (`POST /v1/runs`, a resume or answer, a schedule or webhook) whose language-model node has no model to use. */
export const SERVE_NO_MODEL_FIX =
  "start the server with --lm-url <base url> --lm-model <name> (and --lm-key-env <VAR> when the server wants a key), or provide a DefaultModel or an @effect/ai LanguageModel layer to Serve.start; " +
  "or set config.model on the node (and config.api_base for a local server), or config.stub: true for an offline stub"

/** Options of {@link handlersLayer}. */
export interface HandlersOptions {
  /**
   * How long `POST /v1/runs/{id}/cancel` waits for another process it asked to cancel a run,
   * ms (default {@link DEFAULT_CANCEL_WAIT_MS}, 10 s); past it the answer is `cancelling`.
   */
  readonly cancelWaitMs?: number | undefined
}

/** Everything under `/v1/runs`. */
export const runsLayer = (options: HandlersOptions = {}) => HttpApiBuilder.group(StargraphApi, "runs", (handlers) =>
  Effect.gen(function*() {
    const cancelWaitMs = options.cancelWaitMs ?? DEFAULT_CANCEL_WAIT_MS
    const scheduler = yield* Scheduler
    const checkpointer = yield* Checkpointer
    const registry = yield* GraphRegistry
    const artifacts = yield* ArtifactStore
    // A run in a terminal status never changes again (nothing resumes, cancels or
    // re-runs it; forks are new runs), so its encoded response is kept for repeated reads.
    // It can still be deleted (a prune, by this or another process on the database): each
    // read checks that it still exists (one primary-key read) before answering from here.
    const finished = boundedCache<HttpServerResponse.HttpServerResponse>(FINISHED_VIEWS)
    const encodeView = Schema.encode(RunView)
    const hint = withNoGraphsHint(registry)

    return handlers
      .handle("create", ({ payload, request }) =>
        Effect.map(
          Effect.flatMap(
            Effect.all([checkClientKey(payload.idempotency_key, "idempotency_key"), payload.thread_id === undefined ? Effect.succeed(undefined) : checkThreadId(payload.thread_id, "thread_id")]),
            ([idempotencyKey, threadId]) =>
              Effect.flatMap(checkSkipFailed(payload.skip_failed, threadId, "skip_failed", "thread_id"), (skipFailed) =>
                // (A live language-model node without a model the server was given is refused by
                // `enqueue`, with SERVE_NO_MODEL_FIX: `Serve.start` gives it to the Scheduler.)
                Effect.mapError(scheduler.enqueue(payload.graph_id, payload.params ?? {}, {
                  idempotencyKey,
                  actor: actorOf(request),
                  interruptBefore: payload.interrupt_before,
                  interruptAfter: payload.interrupt_after,
                  threadId,
                  skipFailed
                }), hint))
          ),
          (enqueued) => ({ run_id: enqueued.runId, status: enqueued.status, graph_id: enqueued.graphId, deduplicated: enqueued.deduplicated })
        ))
      .handle("list", ({ urlParams }) =>
        Effect.gen(function*() {
          // A thread id no run can have is refused (as POST /v1/runs and `list --thread` refuse it), not answered with an empty page.
          const threadId = urlParams.thread_id === undefined ? undefined : yield* checkThreadId(urlParams.thread_id, "thread_id")
          const page = yield* checkpointer.listRuns({ ...urlParams, thread_id: threadId, limit: urlParams.limit ?? 50 }).pipe(
            Effect.mapError((e): StargraphError =>
              e.reason === "invalid-cursor" ? new InputError({ field: "cursor", message: e.message, fix: "pass the next_cursor of a previous page, or list again from the first page (no cursor)" }) : e)
          )
          // How the owner of each running run stands: one read of the heartbeats for the page.
          const liveness = yield* runsLiveness(checkpointer, page.runs)
          return {
            runs: page.runs.map((r) => ({ ...runFieldsOf(r), owner_liveness: liveness.get(r.run_id) ?? null })),
            next_cursor: page.next_cursor
          }
        }))
      .handle("get", ({ path }) =>
        Effect.suspend(() => {
          const cached = finished.get(path.id)
          if (cached !== undefined) {
            return Effect.flatMap(runExists(checkpointer, path.id), (found) => {
              if (found) return Effect.succeed(cached)
              finished.delete(path.id)
              return Effect.fail(unknownRun(path.id))
            })
          }
          return Effect.gen(function*() {
            const record = yield* getRun(checkpointer, path.id)
            const latest = yield* checkpointer.latestCheckpoint(path.id)
            const view = {
              ...runFieldsOf(record),
              final_state: Option.match(latest, { onNone: () => ({}), onSome: (c) => c.state }),
              takeovers: yield* takeOversOf(checkpointer, record)
            }
            // Kept once final; an `error` run can still be resumed, so it is read afresh.
            if (!TERMINAL_STATUSES.has(record.status) || record.status === "error") return view
            const encoded = yield* Effect.orDie(encodeView(view))
            const response = HttpServerResponse.uint8Array(utf8.encode(JSON.stringify(encoded)), { contentType: "application/json" })
            finished.set(path.id, response)
            return response
          })
        }))
      .handle("checkpoints", ({ path }) =>
        Effect.gen(function*() {
          yield* getRun(checkpointer, path.id)
          return { run_id: path.id, checkpoints: yield* checkpointer.listCheckpoints(path.id) }
        }))
      .handle("artifacts", ({ path }) =>
        Effect.gen(function*() {
          const record = yield* getRun(checkpointer, path.id)
          const checkpoints = yield* checkpointer.listCheckpoints(path.id)
          const entries = yield* artifacts.list(path.id)
          const check = yield* checkArtifacts(artifacts, checkpoints, entries, record.derived_hash !== null)
          // The operator reads where the store is in the server's log; the client is not told server paths.
          const logged = missingMessage(path.id, check)
          if (logged !== undefined) yield* Effect.logWarning(logged)
          return {
            run_id: path.id,
            status: record.status,
            artifacts: entries,
            missing_artifacts: check.missing,
            unindexed_artifacts: check.unindexed,
            warning: missingMessage(path.id, { ...check, location: undefined }) ?? null,
            outputs: checkpoints.filter((c) => c.step > 0).flatMap((c) =>
              c.writes.map((w) => ({ step: c.step, node: w.node, output: w.update, at: c.finished_at }))),
            final_state: checkpoints[checkpoints.length - 1]?.state ?? {}
          }
        }))
      .handle("cancel", ({ path }) =>
        Effect.gen(function*() {
          const runId = path.id
          let record = yield* getRun(checkpointer, runId)
          if (TERMINAL_STATUSES.has(record.status)) {
            return yield* refuse(runId, record.status, "cancel", `run ${runId} is already ${record.status}`)
          }
          // A child run its parent waits on goes only with its parent.
          const waitingParent = yield* parentWaitingOn(checkpointer, record)
          if (waitingParent !== undefined) {
            return yield* refuse(runId, record.status, "cancel", cancelWaitedChild(record, waitingParent, `POST /v1/runs/${waitingParent.run_id}/cancel`))
          }
          const live = scheduler.live(runId)
          if (Option.isSome(live)) {
            yield* live.value.cancel()
            const summary = yield* scheduler.await(runId)
            return { run_id: runId, status: summary.status }
          }
          // A run executing in another live process that beats (another server on the
          // database, a CLI) is asked through its record: that process cancels it.
          if (record.status === "running" && record.owner !== null && ownerAlive(record.owner)) {
            const owner = record.owner
            const asked = yield* askToCancel(checkpointer, record, owner, cancelWaitMs)
            if ("refused" in asked) return yield* refuse(runId, record.status, "cancel", asked.refused)
            record = asked.record
            if (asked.asked) {
              // Still executing: the owner reads the request within a second, then stops the run's step.
              if (stillExecuting(record, owner)) return { run_id: runId, status: "cancelling" }
              if (TERMINAL_STATUSES.has(record.status)) return { run_id: runId, status: record.status }
            }
            if (TERMINAL_STATUSES.has(record.status)) return yield* refuse(runId, record.status, "cancel", `run ${runId} is already ${record.status}`)
            if (record.status === "running" && record.owner !== null && ownerAlive(record.owner)) {
              return yield* refuse(runId, record.status, "cancel", `run ${runId} changed while it was being cancelled (now driven by ${record.owner}); read it again`)
            }
            // Stopped some other way meanwhile (paused, waiting), or its owner is gone: cancelled here.
          }
          // From the status and owner just read, atomically: a run another process resumed
          // meanwhile is not marked cancelled under it. A child run it waits for goes with it.
          const graph = Either.getOrUndefined(yield* Effect.either(registry.get(record.graph_id)))
          const index = graph !== undefined && graph.graphHash === record.graph_hash ? subgraphIndex(graph) : undefined
          const cancelled = yield* cancelStopped(checkpointer, record, new Date().toISOString(), index)
          if (cancelled.length === 0) return yield* refuse(runId, record.status, "cancel", `run ${runId} changed while it was being cancelled (another process resumed it?); read it again`)
          return { run_id: runId, status: "cancelled" }
        }))
      .handle("pause", ({ path }) =>
        Effect.gen(function*() {
          const runId = path.id
          const record = yield* getRun(checkpointer, runId)
          const live = scheduler.live(runId)
          if (Option.isNone(live) || TERMINAL_STATUSES.has(record.status)) {
            return yield* refuse(runId, record.status, "pause", `run ${runId} is ${record.status}${record.status === "running" ? " in another process" : ""}; only a run executing in this server can be paused`)
          }
          yield* live.value.pause()
          return { run_id: runId, status: "pausing" }
        }))
      .handle("resume", ({ path, payload, request }) =>
        Effect.gen(function*() {
          const runId = path.id
          // No body (JSON null) is `{}`: resumed as before.
          const liveAfterFork = payload?.live_after_fork === true
          const record = yield* getRun(checkpointer, runId)
          // Paused, or left `running` by a process that died (it resumes from its last checkpoint),
          // or ended `error`.
          const orphaned = record.status === "running" && record.owner !== null && !ownerAlive(record.owner) && Option.isNone(scheduler.live(runId))
          // Waiting for a child run that was answered directly and no longer waits: it goes on without an answer.
          const settled = record.status === "awaiting-input" && (yield* settledChild(checkpointer, record)) !== undefined
          // Paused at one of its breakpoints (`interrupt_before`/`interrupt_after`): it goes on without an answer.
          const atBreakpoint = record.status === "awaiting-input" && record.waiting?.kind === "breakpoint"
          // Ended `error` (the runtime broke under it, e.g. a step's commit failed on a full disk):
          // it goes on from its committed steps once the cause is fixed, as `stargraph resume` does.
          const broken = record.status === "error"
          if (record.status !== "paused" && !orphaned && !settled && !atBreakpoint && !broken) {
            return yield* refuse(runId, record.status, "resume", `run ${runId} is ${record.status}, not paused${record.status === "awaiting-input" ? " (answer it with /respond)" : ""}`)
          }
          yield* Effect.mapError(scheduler.resume(runId, { actor: actorOf(request), liveAfterFork }), (error) =>
            // live_after_fork for a run that is not a fork: the field as the body spells it.
            error._tag === "RunStateError" && error.field === LIVE_AFTER_FORK_OPTION ? runStateErrorWith(error, { field: "live_after_fork" }) : error)
          return { run_id: runId, status: "running" }
        }))
      .handle("respond", ({ path, payload, request }) =>
        Effect.gen(function*() {
          const runId = path.id
          if (payload.response === undefined) {
            return yield* new InputError({ field: "response", message: "the body has no \"response\"", fix: "send the answer as {\"response\": <JSON>} (null is an answer too)" })
          }
          const record = yield* getRun(checkpointer, runId)
          const actor = actorOf(request)
          const waitId = payload.wait_id
          // Refused here: its `answer.refused` record first (past here, the scheduler and the graph write theirs).
          const refused = (reason: AnswerRefusedReason, error: RunStateError) =>
            refuseAnswer({ runId, actor, value: payload.response, waitId, run: record, reason, error })
          // An answer to a wait the run is no longer at, or to a question another answered first
          // (who, when): the checks `graph.resume` makes first, made here as the respond's.
          const stale = yield* refuseStaleAnswer(checkpointer, record, waitId, "respond")
          if (stale !== undefined) return yield* refused(stale.reason, stale.error)
          // A run that waits for no answer: said so here, whatever graph the server has for it
          // (`graph.resume` refuses it too, after its graph's checks, and in the CLI's terms).
          if (record.status !== "awaiting-input") {
            return yield* refused("not-waiting", refuse(runId, record.status, "respond", `run ${runId} is ${record.status}, not awaiting input`))
          }
          // The run refuses an answer as its resume's (at a breakpoint, a settled child): named as the respond the client asked for.
          const liveAfterFork = payload.live_after_fork === true
          yield* Effect.mapError(scheduler.resume(runId, { actor, response: { value: payload.response }, waitId, liveAfterFork }), (error) =>
            error._tag === "RunStateError" && error.operation === "resume"
              ? runStateErrorWith(error, {
                operation: "respond",
                message: error.message.replace(/; resume it without a response$/, `; resume it instead: POST /v1/runs/${runId}/resume (no body)`),
                // live_after_fork for a run that is not a fork: the field as the body spells it, and the answer without it.
                ...(error.field === LIVE_AFTER_FORK_OPTION ? { field: "live_after_fork" } : {})
              })
              : error)
          return { run_id: runId, status: "running" }
        }))
      .handle("state", ({ path, payload, request }) =>
        Effect.gen(function*() {
          const record = yield* getRun(checkpointer, path.id)
          // The graph the server runs (a run it cannot edit with that graph gets its 409 from the edit).
          const graph = yield* Effect.mapError(registry.get(record.graph_id), hint)
          return yield* graph.updateState(path.id, payload.values, {
            actor: actorOf(request),
            asNode: payload.as_node,
            fields: { values: "values", asNode: "as_node" }
          }).pipe(Effect.provideService(Checkpointer, checkpointer))
        }))
      .handle("counterfactual", ({ path, payload, request }) =>
        Effect.gen(function*() {
          const parent = yield* getRun(checkpointer, path.id)
          const graph = yield* Effect.mapError(registry.get(parent.graph_id), hint)
          const result = yield* Replay.fork(graph, parent.run_id, {
            fromStep: payload.from_step,
            mutation: payload.mutation,
            liveAfterFork: payload.live_after_fork ?? false,
            maxSteps: payload.max_steps,
            actor: actorOf(request),
            interruptBefore: payload.interrupt_before,
            interruptAfter: payload.interrupt_after
          }).pipe(Effect.provideService(Checkpointer, checkpointer))
          // RFC 8785 canonical JSON, as the CLI prints the diff: equal forks answer byte-equal bodies.
          return HttpServerResponse.text(canonicalJson({
            cf_run_id: result.cfRunId,
            status: result.summary.status,
            derived_hash: result.derivedHash,
            diff: result.diff,
            error: result.error ? envelopeOf(result.error).error : null
          }), { status: 201, contentType: "application/json" })
        }))
      .handle("stream", ({ path, request }) =>
        Effect.gen(function*() {
          const runId = path.id
          const record = yield* getRun(checkpointer, runId)
          const events = runEvents(scheduler, checkpointer, runId)
          if ((request.headers["upgrade"] ?? "").toLowerCase() === "websocket") {
            return yield* Effect.scoped(Effect.gen(function*() {
              const socket = yield* request.upgrade
              const write = yield* socket.writer
              yield* Effect.forkScoped(Effect.ignore(socket.runRaw(() => undefined)))
              // A run's events, then its error envelope if reading them failed.
              const frames = events.pipe(
                Stream.map((event) => JSON.stringify(event)),
                Stream.catchAll((e) => Stream.make(JSON.stringify(envelopeOf(e))))
              )
              yield* Stream.runForEach(frames, write)
              yield* write(new Socket.CloseEvent(1000, "run stopped"))
              return HttpServerResponse.empty()
            })).pipe(Effect.catchAll((e) =>
              Effect.fail(new ApiError({ reason: "unavailable", status: 400, message: `WebSocket failed: ${e.message}` }))
            ))
          }
          // A reconnect (`Last-Event-ID`) gets what it has not seen; one that saw a finished
          // run's end gets 204, which tells an EventSource to stop reconnecting. The end it saw
          // must be the run's last one (`<last step>.end`): an earlier end is where the run
          // stopped waiting or paused before it was resumed, and what came after is still owed.
          // (Or its `?lastEventId=`: event-source-polyfill's reconnect sends no header.)
          const from = parseLastEventId(lastEventIdOf(request.headers["last-event-id"], request.url))
          if (sawFinalEnd(from, record)) return HttpServerResponse.empty({ status: 204 })
          // One that saw the run stop to wait (or pause) where it still is waits with it, kept
          // alive, and gets the events once the run goes on: not an empty answer to reconnect on.
          const heldAt = sawStop(from, record) ? from : undefined
          const source = heldAt !== undefined
            // Made once the run moved: live from the scheduler if it drives the run by then.
            // What follows the stop it saw is new, even an end at the same step (cancelled there).
            ? Stream.unwrap(Effect.as(untilMoved(checkpointer, record), Stream.suspend(() => resumeAfter(identified(runEvents(scheduler, checkpointer, runId)), { step: heldAt.step, ended: false }))))
            : resumeAfter(identified(events), from)
          const frames = source.pipe(
            Stream.map(({ event, id }) => utf8.encode(`id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)),
            Stream.catchAll((e) => Stream.make(utf8.encode(`event: error\ndata: ${JSON.stringify(envelopeOf(e))}\n\n`)))
          )
          // A held stream says so at once: the response (and an EventSource's `open`) starts with it.
          const body = (heldAt !== undefined ? Stream.concat(Stream.make(utf8.encode(`: run ${record.status}; the events follow once it goes on\n\n`)), frames) : frames).pipe(
            // A comment line every 15 s keeps proxies from dropping a quiet stream (a queued run, a long step).
            withKeepAlive(Duration.seconds(SSE_KEEPALIVE_SECONDS), KEEPALIVE)
          )
          return HttpServerResponse.stream(body, { contentType: "text/event-stream", headers: { "cache-control": "no-cache" } })
        }))
  }))

/**
 * Whether a client resuming at `from` saw the final event of `run`, a run that will not go
 * on: its end at the last step, or an end past it (an id from a database the server no
 * longer has, e.g. after a restore from a backup), which nothing will follow either.
 */
const sawFinalEnd = (from: ResumePoint | undefined, run: RunRecord): boolean =>
  from !== undefined && from.ended && TERMINAL_STATUSES.has(run.status) && (from.step > run.last_step || (from.step === run.last_step && from.stop === undefined))

/**
 * Whether a client resuming at `from` saw the stop `run` is still at (waiting for input,
 * or paused): that very stop (its id names it), or one past the run's last step.
 */
const sawStop = (from: ResumePoint | undefined, run: RunRecord): boolean =>
  from !== undefined && from.ended && (run.status === "awaiting-input" || run.status === "paused") &&
  (from.step > run.last_step || (from.step === run.last_step && from.stop !== undefined && from.stop === recordStop(run)))

/** How often a stream held open on a stopped run looks whether it went on. */
const STOP_POLL = Duration.seconds(1)

/**
 * Done once `seen`'s run is no longer at that stop (another status, step, or question: a
 * node that asks again once answered), or is gone.
 */
const untilMoved = (checkpointer: CheckpointerShape, seen: RunRecord): Effect.Effect<void, CheckpointError> => {
  const stop = recordStop(seen)
  return Effect.repeat(
    Effect.delay(checkpointer.getRun(seen.run_id), STOP_POLL),
    { until: (now) => Option.isNone(now) || now.value.status !== seen.status || now.value.last_step !== seen.last_step || recordStop(now.value) !== stop }
  ).pipe(Effect.asVoid)
}

/** Seconds between the keep-alive comments of a quiet event stream. */
const SSE_KEEPALIVE_SECONDS = 15

const KEEPALIVE = utf8.encode(": keep-alive\n\n")

/**
 * `GET /v1/artifacts/{id}`: the bytes with the content type they were stored with, their
 * length, and an ETag of the id and the served type (`If-None-Match` with it answers 304).
 * One blob may be stored by several entries with different types: with `?run_id=`, the
 * type that run's entries for it record; without it (or for a run with none, e.g. a fork),
 * the type all entries agree on, else `application/octet-stream` (the store's rule). That
 * type can change (a new writer that disagrees, a prune), so such an answer is revalidated
 * (`no-cache`); only the type of a run that ended for good cannot, and that answer is
 * `immutable`. Always with `X-Content-Type-Options: nosniff`, so a client never guesses another type.
 */
export const artifactsLayer = HttpApiBuilder.group(StargraphApi, "artifacts", (handlers) =>
  Effect.gen(function*() {
    const store = yield* ArtifactStore
    const checkpointer = yield* Checkpointer
    return handlers.handle("get", ({ path, request, urlParams }) =>
      Effect.gen(function*() {
        // Hex digits in either case name the same digest: the id is its lower-case form.
        const id = /^sha256:[0-9a-fA-F]{64}$/.test(path.id) ? path.id.toLowerCase() : path.id
        if (!ARTIFACT_ID.test(id)) {
          return yield* new InputError({ field: "id", message: `'${path.id}' is not an artifact id`, fix: "pass sha256:<64 hex digits>, as listed by GET /v1/runs/{id}/artifacts" })
        }
        // The type the run's own entries record, and whether they are final (the run ended for good).
        const runId = urlParams.run_id
        const own = runId === undefined ? undefined : yield* typeInRun(store, runId, id)
        const final = runId !== undefined && own !== undefined && (yield* endedForGood(checkpointer, runId))
        const cacheControl = final ? ARTIFACT_IMMUTABLE : ARTIFACT_REVALIDATE
        const asked = request.headers["if-none-match"]
        // A 304 carries the headers the 200 would have for caching (RFC 9110 15.4.5).
        const notModified = (etag: string) => HttpServerResponse.empty({ status: 304, headers: { etag, "cache-control": cacheControl } })
        // A client that has these bytes: 304 once the store still holds them, without reading (and hashing) them.
        if (asked !== undefined && store.has !== undefined && (own !== undefined || store.contentType !== undefined) && (yield* store.has(id))) {
          const type = own ?? Option.getOrUndefined(yield* store.contentType!(id))
          if (type !== undefined && matches(asked, etagOf(id, type))) return notModified(etagOf(id, type))
        }
        const blob = yield* Effect.flatMap(store.get(id), Option.match({
          onNone: () =>
            Effect.fail(
              new ApiError({
                reason: "not-found",
                status: 404,
                message: `no artifact '${id}' in this server's artifact store (if a run refers to it, GET /v1/runs/{id}/artifacts lists it under missing_artifacts with the fix)`
              })
            ),
          onSome: Effect.succeed
        }))
        const contentType = own ?? blob.content_type
        const etag = etagOf(id, contentType)
        if (asked !== undefined && matches(asked, etag)) return notModified(etag)
        return HttpServerResponse.uint8Array(blob.bytes, {
          contentType,
          headers: { etag, "content-length": String(blob.size), "cache-control": cacheControl, "x-content-type-options": "nosniff" }
        })
      }))
  }))

/**
 * The strong ETag of artifact `id` served as `contentType`: both, since the same bytes
 * served under another type are another response (the type percent-encoded: an ETag holds
 * no spaces or quotes).
 */
const etagOf = (id: string, contentType: string): string => `"${id};${encodeURIComponent(contentType)}"`

/** Whether an `If-None-Match` value names `etag` (weak comparison), or is `*`: any stored representation (RFC 9110 13.1.2). */
const matches = (ifNoneMatch: string, etag: string): boolean =>
  ifNoneMatch.split(",").some((tag) => tag.trim() === "*" || tag.trim().replace(/^W\//, "") === etag)

/**
 * The content type run `runId`'s index entries record for artifact `id`: theirs when they
 * agree, `application/octet-stream` when they do not (the same bytes under two names), and
 * undefined when the run has no entry for it.
 */
const typeInRun = (store: ArtifactStoreShape, runId: string, id: string): Effect.Effect<string | undefined, ArtifactStoreError> =>
  Effect.map(store.list(runId), (entries) => {
    const types = new Set(entries.filter((e) => e.artifact_id === id).map((e) => e.content_type))
    const [only] = types
    return types.size > 1 ? MIXED_CONTENT_TYPE : only
  })

/** Whether the run ended for good (done, failed, cancelled: an `error` run may resume and write more), so its entries no longer change. */
const endedForGood = (checkpointer: CheckpointerShape, runId: string): Effect.Effect<boolean, CheckpointError> =>
  Effect.map(checkpointer.getRun(runId), (run) => Option.isSome(run) && TERMINAL_STATUSES.has(run.value.status) && run.value.status !== "error")

/** An answer whose headers never change (the bytes under their id, typed by a run that ended for good): cached for a year, by the client only. */
const ARTIFACT_IMMUTABLE = "private, max-age=31536000, immutable"

/** An answer whose type may change: kept by the client only, and revalidated (If-None-Match, 304) before each use. */
const ARTIFACT_REVALIDATE = "private, no-cache"

/** `GET /v1/threads/{id}`. */
export const threadsLayer = HttpApiBuilder.group(StargraphApi, "threads", (handlers) =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    return handlers.handle("get", ({ path, urlParams }) =>
      // A thread id no run can have (over 200 characters, unprintable ones) is refused, not answered 404.
      threadView(path.id, urlParams, "id").pipe(
        Effect.provideService(Checkpointer, checkpointer),
        Effect.mapError((e): StargraphError =>
          e._tag === "CheckpointError" && e.reason === "invalid-cursor" ? new InputError({ field: "cursor", message: e.message, fix: "pass the next_cursor of a previous page, or list again from the first page (no cursor)" }) : e),
        Effect.map((view) => ({ ...view, runs: view.runs.map((r) => (r.error === null ? r : { ...r, error: { type: r.error.type, message: redact(r.error.message) } })) }))
      ))
  }))

/** Every group's handlers. */
export const handlersLayer = (db: string, options: HandlersOptions = {}) => Layer.mergeAll(healthLayer(db), graphsLayer, runsLayer(options), threadsLayer, artifactsLayer)
