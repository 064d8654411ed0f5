/**
 * The API's routes over the Scheduler, Checkpointer and GraphRegistry: runs (create,
 * list, get, checkpoints, artifacts, cancel, pause, resume, respond, counterfactual,
 * stream), graphs, health. Trigger routes (webhooks) are appended by the server.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Socket from "@effect/platform/Socket"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Checkpointer, type CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { RunStatus, TERMINAL_STATUSES, toSummary } from "../checkpoint/models.js"
import * as Replay from "../replay/fork.js"
import { ApiError, CheckpointError, InputError, RunStateError, type StargraphError } from "../errors.js"
import type { GraphRegistryShape } from "../scheduler/GraphRegistry.js"
import type { SchedulerShape } from "../scheduler/Scheduler.js"
import { STARGRAPH_VERSION } from "../version.js"
import { envelopeOf } from "./envelope.js"
import type { Route } from "./routes.js"
import { runEvents } from "./runEvents.js"

/** Body of `POST /v1/runs`. */
export const CreateRunBody = Schema.Struct({
  graph_id: Schema.String,
  params: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  idempotency_key: Schema.optional(Schema.String.pipe(Schema.minLength(1)))
})

/** Body of `POST /v1/runs/{id}/respond`. */
export const RespondBody = Schema.Struct({ response: Schema.Unknown })

/** Body of `POST /v1/runs/{id}/counterfactual`. */
export const CounterfactualBody = Schema.Struct({
  from_step: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 0 }),
  mutation: Schema.optional(Schema.Unknown),
  live_after_fork: Schema.optionalWith(Schema.Boolean, { default: () => false })
})

/** What the API routes need. */
export interface ApiDeps {
  readonly scheduler: SchedulerShape
  readonly checkpointer: CheckpointerShape
  readonly registry: GraphRegistryShape
  readonly db: string
}

const json = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status })

/** The run record, or a 404 `CheckpointError`. */
const getRun = (checkpointer: CheckpointerShape, runId: string) =>
  Effect.flatMap(checkpointer.getRun(runId), Option.match({
    onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId, message: `no run '${runId}'` })),
    onSome: Effect.succeed
  }))

const runIdOf = (params: { readonly [k: string]: string | undefined }) => params["id"] ?? ""

/** Build the API routes. */
export const makeRoutes = (deps: ApiDeps): ReadonlyArray<Route> => {
  const { checkpointer, registry, scheduler } = deps

  const summaryOf = (runId: string) =>
    Effect.gen(function*() {
      const record = yield* getRun(checkpointer, runId)
      const latest = yield* checkpointer.latestCheckpoint(runId)
      return { record, summary: toSummary(record, Option.match(latest, { onNone: () => ({}), onSome: (c) => c.state })) }
    })

  const refuse = (runId: string, status: RunStatus, operation: string, message: string) =>
    new RunStateError({ runId, status, operation, message })

  const routes: Array<Route> = [
    {
      method: "GET",
      path: "/healthz",
      name: "health",
      summary: "Liveness: the server, its database and its graphs",
      public: true,
      responses: { 200: "ok" },
      handle: () =>
        Effect.gen(function*() {
          const stats = yield* scheduler.stats
          return json({ status: "ok", version: STARGRAPH_VERSION, db: deps.db, graphs: registry.list().length, ...stats })
        })
    },
    {
      method: "GET",
      path: "/v1/graphs",
      name: "graphs.list",
      summary: "Registered graphs with their hashes",
      responses: { 200: "graphs" },
      handle: () =>
        Effect.succeed(json({
          graphs: registry.list().map((g) => ({
            id: g.id,
            description: g.ir.description ?? null,
            graph_hash: g.graphHash,
            runtime_hash: g.runtimeHash,
            source: g.source ?? null,
            nodes: g.ir.nodes.map((n) => n.id)
          }))
        }))
    },
    {
      method: "POST",
      path: "/v1/runs",
      name: "runs.create",
      summary: "Enqueue a run (the same path as `stargraph run`); idempotent by idempotency_key",
      body: CreateRunBody,
      responses: { 202: "queued", 200: "an existing run with this idempotency_key", 400: "invalid body or params", 404: "unknown graph" },
      handle: ({ actor, body }) =>
        Effect.gen(function*() {
          const b = body as typeof CreateRunBody.Type
          const enqueued = yield* scheduler.enqueue(b.graph_id, b.params, { idempotencyKey: b.idempotency_key, actor })
          return json(
            { run_id: enqueued.runId, status: enqueued.status, graph_id: enqueued.graphId, deduplicated: enqueued.deduplicated },
            enqueued.deduplicated ? 200 : 202
          )
        })
    },
    {
      method: "GET",
      path: "/v1/runs",
      name: "runs.list",
      summary: "Runs, newest first, filtered by status and graph_id, cursor-paginated",
      query: ["status", "graph_id", "limit", "cursor"],
      responses: { 200: "a page of runs", 400: "bad query" },
      handle: ({ query }) =>
        Effect.gen(function*() {
          const status = query.get("status") || undefined
          if (status !== undefined && !Schema.is(RunStatus)(status)) {
            return yield* new InputError({ field: "status", message: `unknown status '${status}'`, fix: `use one of: ${RunStatus.literals.join(", ")}` })
          }
          const limitText = query.get("limit")
          const limit = limitText === null ? 50 : Number(limitText)
          if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
            return yield* new InputError({ field: "limit", message: `limit must be an integer from 1 to 500, got '${limitText}'`, fix: "pass limit=50" })
          }
          const page = yield* checkpointer.listRuns({ status, graph_id: query.get("graph_id") || undefined, limit, cursor: query.get("cursor") || undefined }).pipe(
            Effect.mapError((e): StargraphError =>
              e.reason === "invalid-cursor" ? new InputError({ field: "cursor", message: e.message, fix: "pass the next_cursor of a previous page" }) : e)
          )
          return json({ runs: page.runs, next_cursor: page.next_cursor })
        })
    },
    {
      method: "GET",
      path: "/v1/runs/:id",
      name: "runs.get",
      summary: "A run's RunSummary and record",
      responses: { 200: "the run", 404: "unknown run" },
      handle: ({ params }) =>
        Effect.map(summaryOf(runIdOf(params)), ({ record, summary }) =>
          json({ ...summary, created_at: record.created_at, idempotency_key: record.idempotency_key, owner: record.owner, inputs: record.inputs }))
    },
    {
      method: "GET",
      path: "/v1/runs/:id/checkpoints",
      name: "runs.checkpoints",
      summary: "A run's checkpoints, one per step",
      responses: { 200: "checkpoints", 404: "unknown run" },
      handle: ({ params }) =>
        Effect.gen(function*() {
          const runId = runIdOf(params)
          yield* getRun(checkpointer, runId)
          return json({ run_id: runId, checkpoints: yield* checkpointer.listCheckpoints(runId) })
        })
    },
    {
      method: "GET",
      path: "/v1/runs/:id/artifacts",
      name: "runs.artifacts",
      summary: "What a run produced: each step's node outputs, and the final state",
      responses: { 200: "artifacts", 404: "unknown run" },
      handle: ({ params }) =>
        Effect.gen(function*() {
          const runId = runIdOf(params)
          const record = yield* getRun(checkpointer, runId)
          const checkpoints = yield* checkpointer.listCheckpoints(runId)
          return json({
            run_id: runId,
            status: record.status,
            artifacts: checkpoints.filter((c) => c.step > 0).flatMap((c) =>
              c.writes.map((w) => ({ step: c.step, node: w.node, output: w.update, at: c.finished_at }))),
            final_state: checkpoints[checkpoints.length - 1]?.state ?? {}
          })
        })
    },
    {
      method: "POST",
      path: "/v1/runs/:id/cancel",
      name: "runs.cancel",
      summary: "Cancel a queued, running (in this server), paused or waiting run",
      responses: { 200: "cancelled", 404: "unknown run", 409: "already finished, or running in another process" },
      handle: ({ params }) =>
        Effect.gen(function*() {
          const runId = runIdOf(params)
          const record = yield* getRun(checkpointer, runId)
          if (TERMINAL_STATUSES.has(record.status)) {
            return yield* refuse(runId, record.status, "cancel", `run ${runId} is already ${record.status}`)
          }
          const live = scheduler.live(runId)
          if (Option.isSome(live)) {
            yield* live.value.cancel()
            const summary = yield* scheduler.await(runId)
            return json({ run_id: runId, status: summary.status })
          }
          if (record.status === "running" && record.owner !== null) {
            return yield* refuse(runId, record.status, "cancel", `run ${runId} is executing in process ${record.owner}; cancel it there`)
          }
          yield* checkpointer.updateRun(runId, { status: "cancelled", finished_at: new Date().toISOString(), owner: null })
          return json({ run_id: runId, status: "cancelled" })
        })
    },
    {
      method: "POST",
      path: "/v1/runs/:id/pause",
      name: "runs.pause",
      summary: "Stop a running run after its current step (status becomes paused)",
      responses: { 202: "pausing", 404: "unknown run", 409: "not running here" },
      handle: ({ params }) =>
        Effect.gen(function*() {
          const runId = runIdOf(params)
          const record = yield* getRun(checkpointer, runId)
          const live = scheduler.live(runId)
          if (Option.isNone(live) || TERMINAL_STATUSES.has(record.status)) {
            return yield* refuse(runId, record.status, "pause", `run ${runId} is ${record.status}${record.status === "running" ? " in another process" : ""}; only a run executing in this server can be paused`)
          }
          yield* live.value.pause()
          return json({ run_id: runId, status: "pausing" }, 202)
        })
    },
    {
      method: "POST",
      path: "/v1/runs/:id/resume",
      name: "runs.resume",
      summary: "Continue a paused run in this server",
      responses: { 202: "resumed", 404: "unknown run", 409: "not paused" },
      handle: ({ actor, params }) =>
        Effect.gen(function*() {
          const runId = runIdOf(params)
          const record = yield* getRun(checkpointer, runId)
          if (record.status !== "paused") {
            return yield* refuse(runId, record.status, "resume", `run ${runId} is ${record.status}, not paused${record.status === "awaiting-input" ? " (answer it with /respond)" : ""}`)
          }
          yield* scheduler.resume(runId, { actor })
          return json({ run_id: runId, status: "running" }, 202)
        })
    },
    {
      method: "POST",
      path: "/v1/runs/:id/respond",
      name: "runs.respond",
      summary: "Answer a run awaiting input; it resumes in this server (warm)",
      body: RespondBody,
      responses: { 202: "resumed", 400: "response does not fit the state schema", 404: "unknown run", 409: "not awaiting input" },
      handle: ({ actor, body, params }) =>
        Effect.gen(function*() {
          const runId = runIdOf(params)
          const record = yield* getRun(checkpointer, runId)
          if (record.status !== "awaiting-input") {
            return yield* refuse(runId, record.status, "respond", `run ${runId} is ${record.status}, not awaiting input`)
          }
          yield* scheduler.resume(runId, { actor, response: { value: (body as typeof RespondBody.Type).response } })
          return json({ run_id: runId, status: "running" }, 202)
        })
    },
    {
      method: "POST",
      path: "/v1/runs/:id/counterfactual",
      name: "runs.counterfactual",
      summary: "Fork a counterfactual run from a step of this run (optionally mutated), replaying its recorded calls; returns the RunDiff",
      body: CounterfactualBody,
      responses: { 201: "forked", 400: "bad from_step or mutation", 404: "unknown run or graph", 409: "the registered graph differs from the run's" },
      handle: ({ actor, body, params }) =>
        Effect.gen(function*() {
          const b = body as typeof CounterfactualBody.Type
          const parent = yield* getRun(checkpointer, runIdOf(params))
          const graph = yield* registry.get(parent.graph_id)
          const result = yield* Replay.fork(graph, parent.run_id, {
            fromStep: b.from_step,
            mutation: b.mutation,
            liveAfterFork: b.live_after_fork,
            actor
          }).pipe(Effect.provideService(Checkpointer, checkpointer))
          return json({
            cf_run_id: result.cfRunId,
            status: result.summary.status,
            derived_hash: result.derivedHash,
            diff: result.diff,
            error: result.error ? envelopeOf(result.error).error : null
          }, 201)
        })
    },
    {
      method: "GET",
      path: "/v1/runs/:id/stream",
      name: "runs.stream",
      summary: "Run events live (past events first): WebSocket when upgraded, otherwise Server-Sent Events",
      raw: true,
      responses: { 200: "text/event-stream", 101: "WebSocket", 404: "unknown run" },
      handle: ({ headers, params, request }) =>
        Effect.gen(function*() {
          const runId = runIdOf(params)
          yield* getRun(checkpointer, runId)
          const events = runEvents(scheduler, checkpointer, runId)
          if ((headers["upgrade"] ?? "").toLowerCase() === "websocket") {
            return yield* Effect.scoped(Effect.gen(function*() {
              const socket = yield* request.upgrade
              const write = yield* socket.writer
              yield* Effect.forkScoped(Effect.ignore(socket.runRaw(() => undefined)))
              yield* events.pipe(
                Stream.runForEach((event) => write(JSON.stringify(event))),
                Effect.catchAll((e) => write(JSON.stringify(envelopeOf(e as StargraphError))))
              )
              yield* write(new Socket.CloseEvent(1000, "run stopped"))
              return HttpServerResponse.empty()
            })).pipe(Effect.catchAll((e) =>
              Effect.fail(new ApiError({ reason: "unavailable", status: 400, message: `WebSocket upgrade failed: ${String((e as { message?: unknown }).message ?? e)}` }))
            ))
          }
          const encoder = new TextEncoder()
          const body = events.pipe(
            Stream.map((event) => encoder.encode(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)),
            Stream.catchAll((e) => Stream.make(encoder.encode(`event: error\ndata: ${JSON.stringify(envelopeOf(e))}\n\n`)))
          )
          return HttpServerResponse.stream(body, { contentType: "text/event-stream", headers: { "cache-control": "no-cache" } })
        })
    }
  ]
  return routes
}
