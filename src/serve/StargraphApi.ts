/**
 * The HTTP API as an `@effect/platform` `HttpApi`: typed endpoints with Schema-validated
 * paths, query strings and bodies (unknown body fields refused), typed responses, and
 * the error envelope for every status. `/openapi.json` is generated from it; the
 * handlers live in `handlers.ts`.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import { ArtifactEntry } from "../checkpoint/artifactModels.js"
import { MissingArtifact } from "../checkpoint/artifactRefs.js"
import { Breakpoints, DefaultModelRecord, RunStatus, RunSummary, StateRecord, TakenOver, WaitingInfo } from "../checkpoint/models.js"
import { ThreadView } from "../graph/threads.js"
import { STARGRAPH_VERSION } from "../version.js"
import { ErrorAt } from "./envelope.js"

/** Refuse unknown fields in a request body or query string (the spec's `extra='forbid'`). */
const strict = { parseOptions: { onExcessProperty: "error" } } as const

/** Node ids, or `"*"` for every node: where a run pauses (`interrupt_before`, `interrupt_after`). */
export const BreakpointNodes = Schema.Union(Schema.Literal("*"), Schema.Array(Schema.String)).annotations({
  identifier: "BreakpointNodes",
  description: "node ids of the graph, or \"*\" for every node (an unknown id is refused with 400 InputError)"
})

/** Body of `POST /v1/runs`. */
export const CreateRunBody = Schema.Struct({
  graph_id: Schema.String,
  /** The run's inputs (default none: every field takes its default). Optional on both sides, so a derived client may leave it out. */
  params: Schema.optional(StateRecord),
  idempotency_key: Schema.optional(Schema.String.pipe(Schema.minLength(1))),
  /** Pause before these nodes run (default none): the run stops `awaiting-input` with a `breakpoint` wait; `/resume` continues it. */
  interrupt_before: Schema.optional(BreakpointNodes),
  /** Pause after these nodes' step committed (default none). */
  interrupt_after: Schema.optional(BreakpointNodes),
  /**
   * Start the run on this thread (1 to 200 printable characters): after the thread's first
   * run, it starts from the final state of the thread's newest (done) run, with `params`
   * applied through each field's reducer.
   */
  thread_id: Schema.optional(Schema.String),
  /**
   * With `thread_id`: pass over the thread's newest runs that ended `failed` or
   * `cancelled` and continue from the newest `done` run before them (none: the run starts
   * as the thread's first). Default false.
   */
  skip_failed: Schema.optional(Schema.Boolean)
}).annotations({ ...strict, identifier: "CreateRunBody" })

/** Body of `POST /v1/runs/{id}/respond`. */
export const RespondBody = Schema.Struct({
  response: Schema.Unknown,
  /**
   * The wait this answers (`waiting.wait_id` of the run): applied only while the run still
   * waits there, else a 409 saying where it waits now (nothing changes). Default: whatever it waits at.
   */
  wait_id: Schema.optional(Schema.String),
  /**
   * For a counterfactual fork: make live calls where its parent's recording cannot answer what follows the answer (default false; kept on the fork from then on).
   * `true` for a run that is not a fork is refused (409 `RunStateError`, `details.field` `live_after_fork`), nothing changed.
   */
  live_after_fork: Schema.optional(Schema.Boolean)
}).annotations({ ...strict, identifier: "RespondBody" })

/**
 * Body of `POST /v1/runs/{id}/resume`, every field optional: the `stargraph resume` options
 * that mean something over HTTP (an answer goes to `/respond`; the actor is the request's).
 */
export const ResumeBody = Schema.Struct({
  /**
   * For a counterfactual fork: make live calls where its parent's recording cannot answer what follows (default false; kept on the fork from then on), as `stargraph resume --live-after-fork`.
   * `true` for a run that is not a fork is refused (409 `RunStateError`, `details.field` `live_after_fork`), nothing changed.
   */
  live_after_fork: Schema.optional(Schema.Boolean)
}).annotations({ ...strict, identifier: "ResumeBody" })

/** What `POST /v1/runs/{id}/resume` takes: a `ResumeBody`, or no body at all (read as JSON `null`), as `{}`. */
export const ResumePayload = Schema.Union(ResumeBody, Schema.Null).annotations({
  description: "optional: a ResumeBody, or no body (the same as {}); unknown fields are refused"
})

/** The body of `/resume` is optional: its operation says so (OpenAPI marks every declared body required). */
const optionalBody = (operation: Record<string, unknown>): Record<string, unknown> =>
  typeof operation["requestBody"] === "object" && operation["requestBody"] !== null
    ? { ...operation, requestBody: { ...(operation["requestBody"] as Record<string, unknown>), required: false } }
    : operation

/** Body of `POST /v1/runs/{id}/state`: the fields to write (one write, through each field's reducer), and who it is attributed to. */
export const UpdateStateBody = Schema.Struct({
  values: StateRecord.annotations({ description: "state fields to write, applied as one write through each field's reducer (messages by id, append appends, replace replaces)" }),
  /** A node of the graph the write is attributed to in the step's `writes` (default `__update__`); where the run goes on does not change. */
  as_node: Schema.optional(Schema.String)
}).annotations({ ...strict, identifier: "UpdateStateBody" })

/** What `POST /v1/runs/{id}/state` answers: the edit's step and the run's state after it. */
export const StateUpdated = Schema.Struct({
  run_id: Schema.String,
  /** As before the edit: the run still waits where it stopped. */
  status: RunStatus,
  /** The edit's step (the run's last step + 1; its node is `__update__`). */
  step: Schema.Int,
  /** Who the write is attributed to: `__update__`, or `as_node`. */
  node: Schema.String,
  state: StateRecord,
  delta: StateRecord,
  /** What the run waits for (the same question or breakpoint, at the next step), or null for a paused run. */
  waiting: Schema.NullOr(WaitingInfo)
}).annotations({ identifier: "StateUpdated" })

/**
 * A fork's step budget in a request body: a whole number from 1 to 2^53 - 1
 * (`Number.MAX_SAFE_INTEGER`, the largest whole number a JSON number carries exactly), an
 * integer in OpenAPI. One past it is refused with the range, not "Expected an integer".
 */
export const ForkMaxSteps = Schema.Int.pipe(Schema.between(1, Number.MAX_SAFE_INTEGER)).annotations({
  jsonSchema: { type: "integer", minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
  description: `the most steps the fork may take after its fork step, a whole number from 1 to ${Number.MAX_SAFE_INTEGER}`,
  message: (issue) => ({ message: `Expected a whole number from 1 to ${Number.MAX_SAFE_INTEGER}, actual ${JSON.stringify(issue.actual)}`, override: true })
})

/** Body of `POST /v1/runs/{id}/counterfactual`. */
export const CounterfactualBody = Schema.Struct({
  /** Default 0; for a fork, its own fork step. */
  from_step: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  mutation: Schema.optional(Schema.Unknown),
  /** Default false. */
  live_after_fork: Schema.optional(Schema.Boolean),
  /** The fork's step budget: the most steps it may take after its fork step (default: when the run forked is a fork with a budget, that budget; else none, only the graph's max_steps). */
  max_steps: Schema.optional(ForkMaxSteps),
  /** The fork's own breakpoints (default none: a fork does not inherit its parent's). */
  interrupt_before: Schema.optional(BreakpointNodes),
  interrupt_after: Schema.optional(BreakpointNodes)
}).annotations({ ...strict, identifier: "CounterfactualBody" })

/**
 * `limit` as a query string carries it: a whole number from 1 to 500 in decimal digits
 * (no sign, space, fraction, exponent or hex), an integer in OpenAPI.
 */
const PageLimit = Schema.compose(Schema.String.pipe(Schema.pattern(/^[0-9]+$/)), Schema.NumberFromString).pipe(
  Schema.int(),
  Schema.between(1, 500)
).annotations({
  jsonSchema: { type: "integer", minimum: 1, maximum: 500, default: 50 },
  description: "page size, 1 to 500 (default 50)",
  message: (issue) => ({ message: `Expected a whole number from 1 to 500, actual ${JSON.stringify(issue.actual)}`, override: true })
})

/** Query of `GET /v1/runs` (unknown parameters refused, as unknown body fields are). */
export const ListRunsQuery = Schema.Struct({
  status: Schema.optional(RunStatus),
  graph_id: Schema.optional(Schema.String),
  /** Only the runs of this thread (1 to 200 printable characters, as `POST /v1/runs` takes it). */
  thread_id: Schema.optional(Schema.String),
  /** Default 50. */
  limit: Schema.optional(PageLimit),
  cursor: Schema.optional(Schema.String)
}).annotations(strict)

/** Query of `GET /v1/threads/{id}`: a page of its runs (unknown parameters refused). */
export const ThreadQuery = Schema.Struct({
  /** Default 50. */
  limit: Schema.optional(PageLimit),
  cursor: Schema.optional(Schema.String)
}).annotations(strict)

const RunPath = Schema.Struct({ id: Schema.String })

/**
 * Marks an endpoint that takes query parameters it does not declare, and ignores them: the
 * event stream, whose EventSource clients add their own (event-source-polyfill reconnects
 * with `?lastEventId=<id>`, which the stream reads as `Last-Event-ID`; others add cache
 * busters). An endpoint without it and without a query schema refuses any query parameter
 * (400 `InputError`, as an endpoint with a schema refuses one it does not declare).
 */
export class AnyQuery extends Context.Tag("stargraph/AnyQuery")<AnyQuery, true>() {}

/**
 * A run's record as the API shows it, in `GET /v1/runs/{id}` and each item of `GET /v1/runs`
 * alike: the RunSummary's fields but `final_state`, plus the record's provenance. Never the
 * graph file's path on the server (the record's `graph_source`; `GET /v1/graphs` names a
 * graph's file relative to the folder it was found under).
 */
export const RunFields = {
  run_id: RunSummary.fields.run_id,
  graph_id: RunSummary.fields.graph_id,
  status: RunSummary.fields.status,
  graph_hash: RunSummary.fields.graph_hash,
  runtime_hash: RunSummary.fields.runtime_hash,
  started_at: RunSummary.fields.started_at,
  finished_at: RunSummary.fields.finished_at,
  steps: RunSummary.fields.steps,
  error: RunSummary.fields.error,
  waiting: RunSummary.fields.waiting,
  parent_run_id: RunSummary.fields.parent_run_id,
  fork_step: RunSummary.fields.fork_step,
  created_at: Schema.String,
  idempotency_key: Schema.NullOr(Schema.String),
  owner: Schema.NullOr(Schema.String),
  /**
   * Who started the run: `http:<client address>`, `cli`, `cron:<id>`, `webhook:<id>`,
   * `library`…; null for a run written before it was kept (optional: a derived client of
   * an older server has none).
   */
  actor: Schema.optional(Schema.NullOr(Schema.String)),
  inputs: StateRecord,
  /** The run's breakpoints, or null for none (optional: a derived client of an older server has none). */
  breakpoints: Schema.optional(Schema.NullOr(Breakpoints)),
  /** The thread the run is on, and the thread's run it continued (null: none). */
  thread_id: Schema.NullOr(Schema.String),
  continued_from: Schema.NullOr(Schema.String),
  /**
   * For a thread's run: whether it continued from the thread's last run that finished,
   * skipping failed and cancelled ones (`skip_failed`); null for a run without a thread or
   * written before it was kept (optional: a derived client of an older server has none).
   */
  skip_failed: Schema.optional(Schema.NullOr(Schema.Boolean)),
  /**
   * The last time the run was taken over from the process that held it (it died, its lease
   * lapsed, an operator forced it): `{from, to, reason, at}`; null: never (optional: a
   * derived client of an older server has none).
   */
  taken_over: Schema.optional(Schema.NullOr(TakenOver)),
  /**
   * The run-wide default model the run was started with (`--lm-url`, `--lm-model`, …):
   * `{api_base, model, api_key_env, api_key_given, timeout_ms}`, never a key; null: none
   * (optional: a derived client of an older server has none).
   */
  default_model: Schema.optional(Schema.NullOr(DefaultModelRecord)),
  /**
   * A counterfactual fork's `derived_hash` (sha256 of its parent's graph hash, its fork step
   * and its canonical mutation) and the mutation it was forked with; null for any other run
   * (optional: a derived client of an older server has none).
   */
  derived_hash: Schema.optional(Schema.NullOr(Schema.String)),
  mutation: Schema.optional(Schema.NullOr(Schema.Unknown)),
  /**
   * A counterfactual fork's step budget: the most steps it may take after its fork step
   * (given, or taken from the fork it forks); null: none, only the graph's `max_steps`
   * (optional: a derived client of an older server has none).
   */
  fork_max_steps: Schema.optional(Schema.NullOr(Schema.Int)),
  /**
   * A counterfactual fork made (or answered) with `live_after_fork`: where its parent's
   * recording cannot answer, it calls live; false for any other run (optional: a derived
   * client of an older server has none).
   */
  live_after_fork: Schema.optional(Schema.Boolean)
}

/** A run as `GET /v1/runs/{id}` shows it: its record ({@link RunFields}), its latest state and every take-over. */
export const RunView = Schema.Struct({
  ...RunFields,
  final_state: RunSummary.fields.final_state,
  /**
   * Every take-over of the run, oldest first (`taken_over` is the last of them); empty:
   * never (optional: a derived client of an older server has none).
   */
  takeovers: Schema.optional(Schema.Array(TakenOver))
}).annotations({ identifier: "RunView" })

/** How the process that drives a running run stands (see `OwnerLiveness` in runtime/owner.ts). */
export const OwnerLivenessView = Schema.Struct({
  owner: Schema.String,
  state: Schema.Literal("alive", "gone", "lapsed", "no-heartbeat", "not-checked"),
  another_host: Schema.Boolean,
  lease_ms: Schema.NullOr(Schema.Number),
  heartbeat_age_ms: Schema.NullOr(Schema.Number)
}).annotations({ identifier: "OwnerLiveness" })

/**
 * A run as `GET /v1/runs` lists it: its record as `GET /v1/runs/{id}` shows it (without the
 * two fields read from elsewhere for one run: `final_state`, `takeovers`), and how its owner
 * stands while it runs.
 */
export const RunListItem = Schema.Struct({
  ...RunFields,
  /** Null unless the run is running with an owner (optional: a derived client of an older server has none). */
  owner_liveness: Schema.optional(Schema.NullOr(OwnerLivenessView))
}).annotations({ identifier: "RunListItem" })

const Enqueued = (deduplicated: boolean) =>
  Schema.Struct({ run_id: Schema.String, status: RunStatus, graph_id: Schema.String, deduplicated: Schema.Literal(deduplicated) })

/** A run id with the status an action left it in. */
export const RunAction = Schema.Struct({ run_id: Schema.String, status: Schema.String }).annotations({ identifier: "RunAction" })

/** Liveness answer. */
export const Health = Schema.Struct({
  status: Schema.Literal("ok"),
  version: Schema.String,
  /** The database file's name (not its path: the route needs no token). */
  db: Schema.String,
  graphs: Schema.Int,
  /** Runs waiting in the shared database's queue (unclaimed), whichever process enqueued them: what every server on the database may pick up. */
  queued: Schema.Int,
  /** Runs this server has taken off the queue and not started yet (waiting for a worker): this process's figure only. */
  queued_here: Schema.Int,
  /** Runs executing in this server: this process's figure only. */
  running: Schema.Int
}).annotations({ identifier: "Health" })

/** A registered graph. */
export const GraphView = Schema.Struct({
  id: Schema.String,
  description: Schema.NullOr(Schema.String),
  graph_hash: Schema.String,
  runtime_hash: Schema.String,
  source: Schema.NullOr(Schema.String).annotations({
    description: "the graph's file relative to the folder the server found it under (its file name when it was given as a file); null for a graph built in code. Never an absolute path"
  }),
  nodes: Schema.Array(Schema.String)
}).annotations({ identifier: "GraphView" })

const Checkpoints = Schema.Struct({ run_id: Schema.String, checkpoints: Schema.Array(Schema.Unknown) })

/** `GET /v1/runs/{id}/artifacts`: the artifacts the run stored, each step's node outputs, and the final state. */
export const RunArtifacts = Schema.Struct({
  run_id: Schema.String,
  status: RunStatus,
  artifacts: Schema.Array(ArtifactEntry).annotations({ description: "what write_artifact nodes of this run stored (a fork lists only what it wrote live)" }),
  outputs: Schema.Array(Schema.Struct({ step: Schema.Int, node: Schema.String, output: StateRecord, at: Schema.NullOr(Schema.String) })),
  final_state: StateRecord,
  missing_artifacts: Schema.Array(MissingArtifact).annotations({
    description: "artifacts the run refers to (its index entries, its steps' outputs and recorded calls) whose bytes the server's artifact store does not hold: " +
      "the store is a folder beside the database, so a database copied or restored without it names artifacts it cannot serve"
  }),
  unindexed_artifacts: Schema.Array(MissingArtifact).annotations({
    description: "artifacts the run's own write_artifact nodes stored whose bytes the store holds but whose index entries it lacks (the store's runs/<run id>/ folder was not copied with its blobs); " +
      "they are not in `artifacts`, and GET /v1/artifacts/{id} serves them. Always empty for a fork"
  }),
  warning: Schema.NullOr(Schema.String).annotations({ description: "what is wrong when missing_artifacts or unindexed_artifacts is not empty, and the fix; null otherwise" })
}).annotations({ identifier: "RunArtifacts" })

const ArtifactPath = Schema.Struct({ id: Schema.String.annotations({ description: "sha256:<64 hex digits>" }) })

/** `GET /v1/artifacts/{id}?run_id=`: whose index entry's content type to serve the bytes with (unknown parameters refused). */
export const ArtifactQuery = Schema.Struct({
  run_id: Schema.optional(Schema.String.annotations({
    description: "serve the bytes with the content type this run's index entry for them records (the ref in its state names it); " +
      "without it, or for a run with no entry for them (a fork), the type every entry agrees on, else application/octet-stream"
  }))
}).annotations(strict)

/**
 * The bytes of an artifact, served with the content type they were stored with (any: a
 * wildcard media type, which the derived client reads as bytes whatever the type).
 */
const ArtifactBytes = HttpApiSchema.Uint8Array({ contentType: "*/*" }).annotations({
  description: "the bytes, with the Content-Type they were stored with (by the run_id's entry; without run_id, the one every entry agrees on, " +
    "else application/octet-stream), X-Content-Type-Options: nosniff, Content-Length, an ETag of the artifact id and that type, " +
    "and Cache-Control: immutable with the run_id of a run that ended for good, else no-cache (revalidate: the type can change)"
})

/** The `ETag` an artifact answer carries: its id and served type, quoted. */
const ArtifactETag = {
  ETag: { description: "the artifact id and the served content type (percent-encoded), as \"<id>;<type>\" (a strong validator for If-None-Match)", schema: { type: "string" } }
}

/** An OpenAPI answer with `headers` declared on it, besides the ones it declares already. */
export const declaringHeaders = (response: Record<string, unknown> | undefined, headers: Record<string, unknown>): Record<string, unknown> => ({
  ...response,
  headers: { ...(response?.["headers"] as Record<string, unknown> | undefined), ...headers }
})

/**
 * An OpenAPI operation whose answers with `statuses` declare `headers` (an `HttpApi`
 * endpoint has no schema for response headers).
 */
const withResponseHeaders = (statuses: ReadonlyArray<number>, headers: Record<string, unknown>) =>
(operation: Record<string, unknown>): Record<string, unknown> => {
  const responses = (operation["responses"] ?? {}) as Record<string, Record<string, unknown>>
  const declared = statuses.map((status) => [status, declaringHeaders(responses[status], headers)] as const)
  return { ...operation, responses: { ...responses, ...Object.fromEntries(declared) } }
}

/** What the guard around every route answers instead of it, by status (the API-wide errors). */
export const GUARD_REFUSALS = {
  401: "missing or wrong bearer token (ApiError unauthorized)",
  403: "a browser page of another site (Origin, Sec-Fetch-Site: cross-site) or a Host the server does not answer to (ApiError forbidden)",
  413: "body too large (ApiError body-too-large)",
  429: "rate limited (ApiError rate-limited)",
  500: "internal error (StargraphRuntimeError; the details are in the server log)"
} as const

const Forked = Schema.Struct({
  cf_run_id: Schema.String,
  status: RunStatus,
  derived_hash: Schema.String,
  diff: Schema.Unknown,
  error: Schema.NullOr(Schema.Unknown)
})

const EventStream = Schema.String.pipe(
  HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/event-stream" })
).annotations({ description: "Server-Sent Events (`id:` the run's last completed step; on the event the stream ends with, `<step>.end` where the run ended, `<step>.end.paused` or `<step>.end.w<hash of what it waits for>` where it stopped and may go on)" })

const UnknownRun = ErrorAt(404, "unknown run (CheckpointError unknown-run) or graph (SchedulerError unknown-graph)")
const UnknownGraph = ErrorAt(404, "unknown graph (SchedulerError unknown-graph)")
const WrongState = ErrorAt(409, "the run is in the wrong state (RunStateError), or its graph changed (CheckpointError graph-hash-mismatch)")
const ShuttingDown = ErrorAt(503, "the server is draining (SchedulerError shutting-down)")
const KeyTaken = ErrorAt(409, "the idempotency_key is held by a run of another request: another graph_id, params, thread_id, skip_failed, interrupt_before or interrupt_after (RunStateError reason idempotency-key-reused, details.field the first that differs); nothing is written")

/** Health: the one route that never needs the bearer token. */
export class HealthGroup extends HttpApiGroup.make("health").add(
  HttpApiEndpoint.get("health", "/healthz").addSuccess(Health).annotate(AnyQuery, true)
    .addError(ErrorAt(503, "the database file was removed or replaced while the server runs (ApiError unavailable): restart the server"))
    .annotate(OpenApi.Summary, "Liveness: the server, its database and its graphs")
) {}

/** Registered graphs. */
export class GraphsGroup extends HttpApiGroup.make("graphs").add(
  HttpApiEndpoint.get("list", "/v1/graphs").addSuccess(Schema.Struct({ graphs: Schema.Array(GraphView) }))
    .annotate(OpenApi.Summary, "Registered graphs with their hashes")
) {}

/** Runs: create, list, read, control, fork, stream. */
export class RunsGroup extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.post("create", "/v1/runs").setPayload(CreateRunBody)
      .addSuccess(Enqueued(false), { status: 202 })
      .addSuccess(Enqueued(true), { status: 200 })
      .addError(UnknownGraph)
      .addError(KeyTaken)
      .addError(ErrorAt(400, "an invalid thread_id (ThreadError invalid-thread-id), skip_failed without thread_id (InputError), params that do not fit the thread's state (StateValidationError), or a language-model node (a subgraph's included) that names no model while the server has no default model (LanguageModelError no-model; no run is created)"))
      .addError(ShuttingDown)
      .annotate(OpenApi.Summary, "Enqueue a run (the same path as `stargraph run`); idempotent by idempotency_key (200 with the existing run for the same request; 409 for another request under a used key)")
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/runs").setUrlParams(ListRunsQuery)
      .addSuccess(Schema.Struct({ runs: Schema.Array(RunListItem), next_cursor: Schema.NullOr(Schema.String) }))
      .annotate(OpenApi.Summary, "Runs, newest first, filtered by status and graph_id, cursor-paginated; a running run says how the process that drives it stands (owner_liveness)")
  )
  .add(
    HttpApiEndpoint.get("get", "/v1/runs/:id").setPath(RunPath).addSuccess(RunView).addError(UnknownRun)
      .annotate(OpenApi.Summary, "A run's RunSummary and record")
  )
  .add(
    HttpApiEndpoint.get("checkpoints", "/v1/runs/:id/checkpoints").setPath(RunPath).addSuccess(Checkpoints).addError(UnknownRun)
      .annotate(OpenApi.Summary, "A run's checkpoints, one per step")
  )
  .add(
    HttpApiEndpoint.get("artifacts", "/v1/runs/:id/artifacts").setPath(RunPath).addSuccess(RunArtifacts).addError(UnknownRun)
      .annotate(OpenApi.Summary, "What a run produced: the artifacts it stored (ids, hashes, sizes), each step's node outputs, and the final state")
  )
  .add(
    HttpApiEndpoint.post("cancel", "/v1/runs/:id/cancel").setPath(RunPath).addSuccess(RunAction).addError(UnknownRun).addError(WrongState)
      .annotate(OpenApi.Summary, "Cancel a queued, running (in this server), paused or waiting run")
  )
  .add(
    HttpApiEndpoint.post("pause", "/v1/runs/:id/pause").setPath(RunPath).addSuccess(RunAction, { status: 202 })
      .addError(UnknownRun).addError(WrongState)
      .annotate(OpenApi.Summary, "Stop a run executing in this server after its current step (status becomes paused)")
  )
  .add(
    HttpApiEndpoint.post("resume", "/v1/runs/:id/resume").setPath(RunPath).setPayload(ResumePayload).addSuccess(RunAction, { status: 202 })
      .addError(UnknownRun).addError(WrongState).addError(ShuttingDown)
      .addError(ErrorAt(400, "a language-model node (a subgraph's included) the run would reach names no model, and neither the server nor the run's record has a default model (LanguageModelError no-model; the run is left as it was)"))
      .annotate(OpenApi.Summary, "Continue a paused run (or one paused at a breakpoint) in this server; a counterfactual fork with live calls allowed when the body says live_after_fork")
      .annotate(OpenApi.Transform, optionalBody)
  )
  .add(
    HttpApiEndpoint.post("respond", "/v1/runs/:id/respond").setPath(RunPath).setPayload(RespondBody)
      .addSuccess(RunAction, { status: 202 })
      .addError(UnknownRun).addError(WrongState).addError(ShuttingDown)
      .addError(ErrorAt(400, "an answer that does not fit the field it is written to (StateValidationError), or a language-model node the run would reach that names no model while neither the server nor the run's record has a default model (LanguageModelError no-model; the run is left as it was)"))
      .annotate(OpenApi.Summary, "Answer a run awaiting input; it resumes in this server (warm)")
  )
  .add(
    HttpApiEndpoint.post("state", "/v1/runs/:id/state").setPath(RunPath).setPayload(UpdateStateBody)
      .addSuccess(StateUpdated)
      .addError(UnknownRun).addError(WrongState)
      .annotate(OpenApi.Summary, "Edit the state of a stopped run (paused, at a breakpoint, awaiting input) in place: one write through each field's reducer, as a step of its own (`__update__`); the run still waits where it stopped")
  )
  .add(
    HttpApiEndpoint.post("counterfactual", "/v1/runs/:id/counterfactual").setPath(RunPath).setPayload(CounterfactualBody)
      .addSuccess(Forked, { status: 201 })
      .addError(UnknownRun).addError(WrongState)
      .annotate(OpenApi.Summary, "Fork a counterfactual run from a step of this run (optionally mutated), replaying its recorded calls; returns the RunDiff")
  )
  .add(
    HttpApiEndpoint.get("stream", "/v1/runs/:id/stream").setPath(RunPath).addSuccess(EventStream)
      .addSuccess(HttpApiSchema.Empty(204).annotations({ description: "nothing more: the Last-Event-ID is the finished run's final end (an EventSource stops reconnecting)" }))
      .addSuccess(HttpApiSchema.Empty(101).annotations({ description: "switching to a WebSocket (the request asked to upgrade): one JSON text frame per event, closed 1000 after the last" }))
      .addError(UnknownRun)
      .annotate(OpenApi.Summary, "Run events live (past events first): WebSocket when upgraded, otherwise Server-Sent Events")
      .annotate(AnyQuery, true)
  )
{}

/** Threads: conversations of runs that each continue where the previous one finished. */
export class ThreadsGroup extends HttpApiGroup.make("threads").add(
  HttpApiEndpoint.get("get", "/v1/threads/:id").setPath(RunPath).setUrlParams(ThreadQuery).addSuccess(ThreadView)
    .addError(ErrorAt(404, "no run is on the thread (ThreadError unknown-thread)"))
    .annotate(OpenApi.Summary, "A thread's runs, newest first, and the final state of its newest done run (what its next run starts from)")
) {}

/** Artifacts by id (content-addressed: the same bytes have one id across runs). */
export class ArtifactsGroup extends HttpApiGroup.make("artifacts").add(
  HttpApiEndpoint.get("get", "/v1/artifacts/:id").setPath(ArtifactPath).setUrlParams(ArtifactQuery)
    .addSuccess(ArtifactBytes)
    .addSuccess(HttpApiSchema.Empty(304).annotations({ description: "not modified (If-None-Match named this artifact's ETag)" }))
    .addError(ErrorAt(404, "unknown artifact (ApiError not-found)"))
    .annotate(OpenApi.Summary, "An artifact's bytes, with the content type they were stored with")
    .annotate(OpenApi.Transform, withResponseHeaders([200, 304], ArtifactETag))
) {}

/** The Stargraph HTTP API; every failure is the error envelope with its status. */
export class StargraphApi extends HttpApi.make("stargraph")
  .add(HealthGroup)
  .add(GraphsGroup)
  .add(RunsGroup)
  .add(ThreadsGroup)
  .add(ArtifactsGroup)
  .addError(ErrorAt(400, "invalid body, query, path or params (InputError, StateValidationError)"))
  .addError(ErrorAt(401, GUARD_REFUSALS[401]))
  .addError(ErrorAt(403, GUARD_REFUSALS[403]))
  .addError(ErrorAt(413, GUARD_REFUSALS[413]))
  .addError(ErrorAt(429, GUARD_REFUSALS[429]))
  .addError(ErrorAt(500, GUARD_REFUSALS[500]))
  .annotate(OpenApi.Title, "Stargraph")
  .annotate(OpenApi.Version, STARGRAPH_VERSION)
{}
