/**
 * Force-loud error hierarchy. Every expected failure in Stargraph is one of these
 * `Schema.TaggedError` classes, each carrying typed context fields that are part of the
 * public contract (assert on them, not on message text).
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/** The IR (YAML graph or in-code IR object) is malformed or structurally invalid. */
export class IRValidationError extends Schema.TaggedError<IRValidationError>()("IRValidationError", {
  /** File the IR came from, when it came from a file. */
  file: Schema.optional(Schema.String),
  /** Path inside the IR, e.g. `nodes[2].kind`; empty for the document itself. */
  path: Schema.String,
  /** 1-based line in the file, when known. */
  line: Schema.optional(Schema.Number),
  message: Schema.String,
  /** What the user should change. */
  fix: Schema.String
}) {
  /** One line: `file:line path: message (fix: ...)`. */
  summary(): string {
    const where = [this.file, this.line !== undefined ? String(this.line) : undefined].filter((x) => x).join(":")
    return `${where ? where + " " : ""}${this.path || "<document>"}: ${this.message} (fix: ${this.fix})`
  }
}

/** A node module or export referenced by the IR cannot be loaded. */
export class NodeModuleError extends Schema.TaggedError<NodeModuleError>()("NodeModuleError", {
  nodeId: Schema.String,
  module: Schema.String,
  exportName: Schema.String,
  /** The graph file that names the module, when known. */
  file: Schema.optional(Schema.String),
  reason: Schema.Literal("module-not-found", "export-not-found", "not-a-function", "load-failed", "outside-root"),
  message: Schema.String,
  fix: Schema.String
}) {}

/**
 * The node's own error behind a `NodeExecutionError`, typed, when it is an `ErrorClass`
 * (a `Schema.TaggedError` class): the instance itself, or, for an error made by a copy
 * of the class (a node module bundles its relative imports, so `instanceof` fails), one
 * decoded from it with the class's Schema, typed fields checked.
 */
export const nodeErrorAs = <A, I>(
  error: NodeExecutionError,
  ErrorClass: Schema.Schema<A, I, never> & (abstract new(...args: ReadonlyArray<never>) => A)
): Option.Option<A> =>
  error.error instanceof ErrorClass ? Option.some(error.error as A) : Schema.decodeUnknownOption(ErrorClass)(error.error)

/** Run state (inputs, a node's update, an interrupt response) does not match the state schema. */
export class StateValidationError extends Schema.TaggedError<StateValidationError>()("StateValidationError", {
  /** Where the bad state came from (`state-update`: an edit of a stopped run's state, `updateState`). */
  source: Schema.Literal("inputs", "node-update", "response", "mutation", "thread", "state-update"),
  /** Field path inside the state, e.g. `count` or `items[1]`. */
  field: Schema.String,
  nodeId: Schema.optional(Schema.String),
  step: Schema.optional(Schema.Number),
  message: Schema.String,
  /** How to correct it, when the runtime can say. */
  fix: Schema.optional(Schema.String)
}) {}

/** Two nodes of one parallel step wrote the same field and that field has no merging reducer. */
export class StateConflictError extends Schema.TaggedError<StateConflictError>()("StateConflictError", {
  field: Schema.String,
  nodeIds: Schema.Array(Schema.String),
  step: Schema.Number,
  message: Schema.String
}) {}

/** A node threw, rejected, failed or timed out. */
export class NodeExecutionError extends Schema.TaggedError<NodeExecutionError>()("NodeExecutionError", {
  nodeId: Schema.String,
  step: Schema.Number,
  /** The cause rendered as text (message plus stack head). */
  cause: Schema.String,
  attempts: Schema.Number,
  /** The `_tag` (or class name) of the node's own error, when it had one. */
  errorTag: Schema.optional(Schema.String),
  /**
   * The node's own error value, as it failed or threw (in memory only; the run record
   * keeps `errorTag` and `cause`). Match it with `Predicate.isTagged(e.error, "MyError")`.
   */
  error: Schema.optional(Schema.Unknown)
}) {
  /** One line: the node, the step and the first line of the cause (as `formatError` gives it without the tag). */
  override get message(): string {
    return `node '${this.nodeId}' failed at step ${this.step}: ${firstLine(this.cause)}`
  }
}

/** Why a tool call failed (see {@link ToolError}). */
export const ToolErrorReason = Schema.Literal(
  /** An argument does not fit the tool's input Schema. */
  "invalid-input",
  /** The tool's result does not fit its output Schema (or is not JSON). */
  "invalid-output",
  /** The tool needs a capability the run was not granted (e.g. `net.fetch`). */
  "capability-denied",
  /** The tool ran past its time limit. */
  "timeout",
  /** The tool itself failed (bad expression, network error, ...). */
  "failed"
)

/**
 * A `tool` node's call failed: its arguments, its capability gate, the tool itself or
 * its result. Tools fail with it from their `run`; the node fills in `tool`, `nodeId`
 * and `step`.
 */
export class ToolError extends Schema.TaggedError<ToolError>()("ToolError", {
  reason: ToolErrorReason,
  /** `ns.name@version`. */
  tool: Schema.optional(Schema.String),
  nodeId: Schema.optional(Schema.String),
  step: Schema.optional(Schema.Int),
  /** The tool argument at fault, for `invalid-input`. */
  argument: Schema.optional(Schema.String),
  /** The capability that was missing, for `capability-denied`. */
  capability: Schema.optional(Schema.String),
  message: Schema.String,
  fix: Schema.String
}) {}

/**
 * Writing, reading or listing artifacts failed: a bad name or content (a
 * `write_artifact` node's), or the store's storage.
 */
export class ArtifactStoreError extends Schema.TaggedError<ArtifactStoreError>()("ArtifactStoreError", {
  /** `corrupt-blob`: the stored bytes do not hash to the artifact's id (a damaged or truncated file). */
  reason: Schema.Literal("invalid-name", "invalid-content", "storage-failure", "corrupt-index", "corrupt-blob"),
  runId: Schema.optional(Schema.String),
  nodeId: Schema.optional(Schema.String),
  step: Schema.optional(Schema.Int),
  /** The artifact's name, when it had one. */
  name: Schema.optional(Schema.String),
  /** The file the store could not read or write, when relevant. */
  path: Schema.optional(Schema.String),
  message: Schema.String,
  fix: Schema.String
}) {}

/**
 * A language model's completion does not fit the node's signature: it is not a JSON
 * object, an output field is missing or of the wrong type, or a preset's field is out of
 * range (a `classify` label outside its `labels`, a `judge` verdict other than pass/fail).
 * Retried under the node's `retry` policy (the next attempt shows the model its reply
 * and this message); the run fails with it once the attempts are spent.
 */
export class ModelOutputError extends Schema.TaggedError<ModelOutputError>()("ModelOutputError", {
  nodeId: Schema.String,
  step: Schema.Number,
  /** The output field at fault, when one is. */
  field: Schema.optional(Schema.String),
  /** The completion, truncated to 2,000 characters. */
  completion: Schema.String,
  attempts: Schema.Number,
  message: Schema.String,
  fix: Schema.String
}) {}

/** Why an `ml` node's model cannot be loaded or run (see {@link ModelError}). */
export const ModelErrorReason = Schema.Literal(
  /** `file_uri` names no readable file. */
  "missing-file",
  /** `file_uri` is not a `file://` URI or a path (e.g. `s3://`). */
  "unsupported-uri",
  /** `runtime` is not `onnx` or `xgboost`. */
  "unsupported-runtime",
  /** A sklearn pickle (`runtime: sklearn`, a `.pkl`/`.joblib` file or pickle bytes): never loaded. */
  "pickle-refused",
  /** The runtime's package (`onnxruntime-node`) is not installed. */
  "runtime-missing",
  /** The state field's value does not fit the model's input. */
  "invalid-input",
  /** The file is not a model the runtime can load, or one the node cannot use. */
  "invalid-model",
  /** The runtime failed while running the model, or gave an output state cannot hold. */
  "inference-failed"
)

/**
 * An `ml` node's model cannot be loaded (at graph build: `stargraph validate` reports it)
 * or run (the run fails with it). `field` names the node's config field at fault.
 */
export class ModelError extends Schema.TaggedError<ModelError>()("ModelError", {
  reason: ModelErrorReason,
  nodeId: Schema.String,
  modelId: Schema.String,
  /** The node's config field at fault, e.g. `file_uri`, `runtime` or `input_field`. */
  field: Schema.optional(Schema.String),
  /** The model file, when one is involved. */
  file: Schema.optional(Schema.String),
  /** The step the node ran at (run-time failures). */
  step: Schema.optional(Schema.Number),
  /** The model input or output concerned (`invalid-input`, `invalid-model`). */
  tensor: Schema.optional(Schema.String),
  /** What the model expects there, e.g. `float32 [N, 4]`. */
  expected: Schema.optional(Schema.String),
  /** What it was given. */
  actual: Schema.optional(Schema.String),
  message: Schema.String,
  fix: Schema.String
}) {}

/** Why a language-model call could not be made, or failed. */
export const LanguageModelErrorReason = Schema.Literal(
  /** No `model` in the node's config and no `LanguageModel` layer provided. */
  "no-model",
  /** The environment variable `api_key_env` names is not set. */
  "missing-api-key",
  /** `@effect/ai` / `@effect/ai-openai` (optional peers) are not installed. */
  "not-installed",
  /** The server answered with an error status (`status`). */
  "http-status",
  /** The request did not reach the server, or its answer was cut off. */
  "request-failed",
  /** The server's answer does not follow the wire format. */
  "bad-response",
  /** No answer within the node's `timeout_ms`. */
  "timeout",
  /** Any other failure of the provider (an app's own `LanguageModel`). */
  "provider-error"
)

/**
 * A language-model call could not be made or failed: no model configured, a missing
 * API key, an error status, a connection failure, a timeout. Transient ones (a status of
 * 408, 409, 429 or 5xx, a failed request, a malformed answer, a timeout) are retried
 * under the node's `retry` policy.
 */
export class LanguageModelError extends Schema.TaggedError<LanguageModelError>()("LanguageModelError", {
  nodeId: Schema.String,
  step: Schema.Number,
  reason: LanguageModelErrorReason,
  /** The model the node asked for, when it names one. */
  model: Schema.optional(Schema.String),
  /** The HTTP status, for `http-status`. */
  status: Schema.optional(Schema.Int),
  attempts: Schema.Number,
  message: Schema.String,
  fix: Schema.String,
  /** A `no-model` refusal made before any call (attempts 0): before the run started (`start`, the default) or before it was resumed (`resume`). */
  refusedAt: Schema.optional(Schema.Literal("start", "resume"))
}) {}

/**
 * An `ml` node's model file does not have the SHA-256 its `expected_sha256` pins; the
 * file is not loaded. Raised when the graph is built.
 */
export class ModelIntegrityError extends Schema.TaggedError<ModelIntegrityError>()("ModelIntegrityError", {
  nodeId: Schema.String,
  modelId: Schema.String,
  file: Schema.String,
  /** The pinned digest (hex). */
  expectedSha256: Schema.String,
  /** The file's digest (hex). */
  actualSha256: Schema.String,
  message: Schema.String,
  fix: Schema.String
}) {}

/** A run exceeded its `max_steps` guard (a loop that never exits). */
export class StepLimitError extends Schema.TaggedError<StepLimitError>()("StepLimitError", {
  maxSteps: Schema.Number,
  message: Schema.String
}) {}

/** A run waited for input past its interrupt's timeout, whose `on_timeout` is `halt`. */
export class InterruptTimeoutError extends Schema.TaggedError<InterruptTimeoutError>()("InterruptTimeoutError", {
  nodeId: Schema.String,
  step: Schema.Number,
  deadline: Schema.String,
  message: Schema.String
}) {}

/** Reasons a checkpoint operation can fail. */
export const CheckpointErrorReason = Schema.Literal(
  "graph-hash-mismatch",
  "runtime-hash-mismatch",
  "not-a-database",
  "unknown-run",
  "storage-failure",
  "migration-failed",
  "corrupt-checkpoint",
  "no-checkpoint",
  /** A `listRuns` cursor that no page handed out. */
  "invalid-cursor",
  /** A step's checkpoint is larger than the Checkpointer accepts (`STARGRAPH_MAX_CHECKPOINT_BYTES`). */
  "checkpoint-too-large",
  /** A run to add to a thread: the thread's newest run is no longer the one it continues (`runId` names the newest). */
  "thread-moved",
  /** A database URL that cannot be used (not `postgres://…`, or malformed). */
  "invalid-url",
  /** The database server could not be reached, or refused the connection (login, database name). */
  "connection-failed",
  /**
   * A write of a run by a process that no longer owns it: another process took the run over
   * (this one's lease lapsed while it was paused, stalled or cut off from the database).
   * Nothing was written; the writer stops driving the run (`runId`; the message names the new owner).
   */
  "taken-over",
  /**
   * A compare-and-set write (`commitSteps` with `expected`) found the run changed since the
   * caller read it (another process resumed it, or wrote a step first): nothing was written.
   */
  "run-changed",
  /**
   * The SQLite file a server opened was removed or replaced under it: what it would write
   * goes to a file no other process sees (`filename`). The server stops.
   */
  "database-replaced",
  /**
   * The SQLite database (its file, its folder, or its `-wal`/`-shm` files) cannot be written
   * by this process: a read-only mount, a copy without write permission. A command that
   * writes is refused before it changes anything (`filename`); readers open it read-only.
   */
  "read-only"
)

/** Persisting or reading checkpoints failed, or a resume was refused. */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  reason: CheckpointErrorReason,
  message: Schema.String,
  runId: Schema.optional(Schema.String),
  expectedHash: Schema.optional(Schema.String),
  actualHash: Schema.optional(Schema.String),
  /** Database file (or PostgreSQL URL, without its password), when relevant. */
  filename: Schema.optional(Schema.String),
  /** `checkpoint-too-large`: the checkpoint's size (absent when it is too large to encode at all) and the limit. */
  size: Schema.optional(Schema.Number),
  limit: Schema.optional(Schema.Number)
}) {}

/** An operation is not allowed in the run's current lifecycle state (e.g. resume a finished run). */
export class RunStateError extends Schema.TaggedError<RunStateError>()("RunStateError", {
  runId: Schema.String,
  status: Schema.String,
  operation: Schema.String,
  message: Schema.String,
  /** How to go on, when one command does it (e.g. answering a fork with live calls allowed). */
  fix: Schema.optional(Schema.String),
  /**
   * `idempotency-key-reused`: a start or enqueue whose idempotency key a run of another
   * request holds (another graph, params, thread, skip_failed or breakpoints; `field` names which).
   */
  reason: Schema.optional(Schema.Literal("idempotency-key-reused")),
  /** An answer naming a wait the run no longer waits at: the id of the wait it waits at now, if any. */
  waitId: Schema.optional(Schema.String),
  /** A fork's child run answered, resumed or edited directly: the fork to answer, resume or fork again instead. */
  forkRunId: Schema.optional(Schema.String),
  /**
   * An option given that does not apply to the run, as the caller spells it: live calls
   * after a fork (`liveAfterFork`; `live_after_fork` over HTTP) for a run that is not a fork.
   * With reason `idempotency-key-reused`: the first field of the request that differs from
   * the run's, as the HTTP body names it (`graph_id`, `params`, `thread_id`,
   * `skip_failed`, `interrupt_before`, `interrupt_after`).
   */
  field: Schema.optional(Schema.String)
}) {}

/** A `RunStateError`'s fields, as its constructor takes them. */
const runStateFields = Schema.encodeSync(Schema.Struct(RunStateError.fields))

/**
 * `error` with `changes`, every field they do not name as it was: how a caller restates a
 * refusal in its own terms (the operation the client asked for, a field as its HTTP body
 * spells it, a fix in CLI or HTTP words) without dropping what it does not restate.
 */
export const runStateErrorWith = (error: RunStateError, changes: Partial<Schema.Struct.Type<typeof RunStateError.fields>>): RunStateError =>
  new RunStateError({ ...runStateFields(error), ...changes })

/**
 * A thread (a conversation of runs, `threadId`) refused a run or a read: a thread id that
 * is not one (`invalid-thread-id`, naming the option or field), a thread of another graph
 * (`other-graph`, naming both graph ids), or no run on it (`unknown-thread`).
 */
export class ThreadError extends Schema.TaggedError<ThreadError>()("ThreadError", {
  reason: Schema.Literal("invalid-thread-id", "other-graph", "unknown-thread"),
  threadId: Schema.String,
  /** `invalid-thread-id`: the option or field that carried it (`threadId`, `thread_id`, `--thread`). */
  field: Schema.optional(Schema.String),
  /** `other-graph`: the graph the run was to start on, and the graph of the thread's runs. */
  graphId: Schema.optional(Schema.String),
  threadGraphId: Schema.optional(Schema.String),
  message: Schema.String,
  fix: Schema.String
}) {}

/** Command-line or API input that cannot be interpreted (e.g. `--inputs` syntax). */
export class InputError extends Schema.TaggedError<InputError>()("InputError", {
  /** The flag or field at fault, e.g. `--inputs`. */
  field: Schema.String,
  message: Schema.String,
  fix: Schema.String
}) {}

/** The scheduler refused work: an unknown graph id, a shutdown in progress. */
export class SchedulerError extends Schema.TaggedError<SchedulerError>()("SchedulerError", {
  reason: Schema.Literal("unknown-graph", "shutting-down", "duplicate-graph"),
  graphId: Schema.optional(Schema.String),
  message: Schema.String,
  fix: Schema.String
}) {}

/** A trigger or trigger plugin is misconfigured or failed a lifecycle hook. */
export class TriggerError extends Schema.TaggedError<TriggerError>()("TriggerError", {
  reason: Schema.Literal(
    "invalid-cron",
    "unknown-timezone",
    "missing-secret",
    "duplicate-trigger",
    "invalid-config",
    "plugin-not-found",
    "lifecycle-failed"
  ),
  /** The trigger (or plugin) at fault, e.g. `cron:nightly-cve-feed`. */
  triggerId: Schema.String,
  message: Schema.String,
  fix: Schema.String
}) {}

/** A webhook delivery was refused; `status` is the HTTP status to answer with. */
export class WebhookError extends Schema.TaggedError<WebhookError>()("WebhookError", {
  reason: Schema.Literal("bad-signature", "bad-timestamp", "stale-timestamp", "replayed-nonce", "body-too-large", "not-json", "missing-header", "bad-thread"),
  triggerId: Schema.String,
  status: Schema.Int,
  message: Schema.String,
  /** What the sender should change. */
  fix: Schema.String
}) {}

/**
 * A replayed node made a call the cassette does not hold: a different request than
 * the recorded one (`request-mismatch`, with both request hashes) or one more call
 * than was recorded (`missing-entry`). Never answered by a silent live call.
 */
export class ReplayDivergenceError extends Schema.TaggedError<ReplayDivergenceError>()("ReplayDivergenceError", {
  /**
   * `request-mismatch`: a call's request differs from the recorded one; `missing-entry`: a
   * call the recording does not have; `write-mismatch`: in a replay without a mutation, a
   * node wrote other values than it did in the recorded run from the same state (it reads
   * the clock, randomness or the outside world without `ctx`).
   */
  reason: Schema.Literal("request-mismatch", "missing-entry", "write-mismatch"),
  nodeId: Schema.String,
  step: Schema.Int,
  /** The call's name, e.g. `llm.complete` or `clock.now` (`write` for a write-mismatch). */
  call: Schema.String,
  /** The state field whose written value differs (write-mismatch). */
  field: Schema.optional(Schema.String),
  expectedHash: Schema.optional(Schema.String),
  actualHash: Schema.String,
  message: Schema.String
}) {}

/** An HTTP request was refused before it reached a run: auth, limits, routing. */
export class ApiError extends Schema.TaggedError<ApiError>()("ApiError", {
  reason: Schema.Literal("unauthorized", "rate-limited", "body-too-large", "not-found", "not-implemented", "unavailable", "forbidden", "method-not-allowed"),
  status: Schema.Int,
  message: Schema.String,
  /** What the client should change (e.g. the header a 401 wants). */
  fix: Schema.optional(Schema.String)
}) {}

/**
 * A rule program (inline `rules:`, a governance pack's `rules.clp`, a `when` pattern)
 * cannot be parsed or compiled, or a rule misbehaved while the engine ran (a type error
 * in a function call, a firing loop that never settles).
 */
export class RuleError extends Schema.TaggedError<RuleError>()("RuleError", {
  reason: Schema.Literal("parse", "compile", "type", "unknown-template", "unbound-variable", "runtime", "firing-limit", "pack"),
  /** File the rule text came from (graph YAML, pack file), when known. */
  file: Schema.optional(Schema.String),
  /** 1-based line and column of the offending text, when known. */
  line: Schema.optional(Schema.Number),
  column: Schema.optional(Schema.Number),
  /** The construct at fault, e.g. `defrule route-high` or `deftemplate bosun.budget`. */
  construct: Schema.optional(Schema.String),
  message: Schema.String,
  fix: Schema.String
}) {}

/**
 * A chained (tamper-evident) audit log refused an append or could not be opened: a broken or
 * torn chain (`corrupt`, with the 1-based `line` at fault), a signing key that is not the
 * log's (`key`), a lock another writer holds too long (`locked`), or a file error (`io`).
 */
export class AuditChainError extends Schema.TaggedError<AuditChainError>()("AuditChainError", {
  reason: Schema.Literal("corrupt", "key", "locked", "io"),
  /** The audit log (or key file) at fault. */
  path: Schema.String,
  line: Schema.optional(Schema.Number),
  message: Schema.String,
  fix: Schema.String
}) {}

/** An internal invariant broke or a service was mis-wired. */
export class StargraphRuntimeError extends Schema.TaggedError<StargraphRuntimeError>()("StargraphRuntimeError", {
  message: Schema.String
}) {}

/** Every expected Stargraph failure. */
export const StargraphError = Schema.Union(
  IRValidationError,
  NodeModuleError,
  StateValidationError,
  StateConflictError,
  NodeExecutionError,
  StepLimitError,
  CheckpointError,
  RunStateError,
  ThreadError,
  InputError,
  SchedulerError,
  TriggerError,
  WebhookError,
  ApiError,
  ReplayDivergenceError,
  RuleError,
  InterruptTimeoutError,
  ToolError,
  ArtifactStoreError,
  ModelOutputError,
  LanguageModelError,
  ModelError,
  ModelIntegrityError,
  AuditChainError,
  StargraphRuntimeError
)

/** Every expected Stargraph failure. */
export type StargraphError = typeof StargraphError.Type

const stargraphClasses: ReadonlyArray<abstract new(...args: never) => unknown> = StargraphError.members

/** Whether `value` is one of Stargraph's own errors (an instance of a class of {@link StargraphError}). */
export const isStargraphError = (value: unknown): value is StargraphError => stargraphClasses.some((c) => value instanceof c)

/** Errors that fail a run (persisted on the run record with status `failed`). */
export type RunFailure =
  | NodeExecutionError
  | StateValidationError
  | StateConflictError
  | StepLimitError
  | NodeModuleError
  | ReplayDivergenceError
  | RuleError
  | InterruptTimeoutError
  | ToolError
  | ArtifactStoreError
  | ModelOutputError
  | LanguageModelError
  | ModelError

/**
 * Why a graph could not be built: its IR, a node module, its rules (inline, compiled
 * edges, packs), or an `ml` node's model file.
 */
export type GraphError = IRValidationError | NodeModuleError | RuleError | ModelError | ModelIntegrityError

/** Render any Stargraph error as one line for terminals and logs (newlines in messages fold to spaces). */
export const formatError = (error: StargraphError): string => render(error).replace(/\s*\n\s*/g, " ")

const render = (error: StargraphError): string => {
  switch (error._tag) {
    case "IRValidationError":
      return `IRValidationError: ${error.summary()}`
    case "NodeModuleError":
      return `NodeModuleError: node '${error.nodeId}' ${error.message}${error.file ? ` (graph ${error.file})` : ""} (fix: ${error.fix})`
    case "StateValidationError":
      // A message that names its field already (fieldProblem) is printed as it is.
      return `StateValidationError: ${error.message.includes(`field '${error.field}'`) ? "" : `${error.source} field '${error.field}'${
        error.nodeId ? ` (node '${error.nodeId}', step ${error.step})` : ""
      }: `}${error.message}${error.fix !== undefined ? ` (fix: ${error.fix})` : ""}`
    case "CheckpointError":
      return `CheckpointError[${error.reason}]: ${error.message}${
        error.expectedHash ? ` (expected ${error.expectedHash}, actual ${error.actualHash})` : ""
      }${
        error.reason === "unknown-run"
          ? ` (fix: list the runs of this database (stargraph list${error.filename !== undefined ? ` --db ${error.filename}` : ""}; in an app, Checkpointer.listRuns), or use the database the run was written to (the CLI's --db))`
          : ""
      }`
    case "NodeExecutionError":
      return `NodeExecutionError: ${error.message}`
    case "InputError":
      return `InputError: ${error.field}: ${error.message} (fix: ${error.fix})`
    case "RunStateError":
      return `RunStateError${error.reason !== undefined ? `[${error.reason}]` : ""}: ${error.message}${error.fix !== undefined ? ` (fix: ${error.fix})` : ""}`
    case "ThreadError":
      return `ThreadError[${error.reason}]: ${error.field !== undefined ? `${error.field}: ` : ""}${error.message} (fix: ${error.fix})`
    case "SchedulerError":
      return `SchedulerError[${error.reason}]: ${error.message} (fix: ${error.fix})`
    case "TriggerError":
      return `TriggerError[${error.reason}] ${error.triggerId}: ${error.message} (fix: ${error.fix})`
    case "WebhookError":
      return `WebhookError[${error.reason}] ${error.triggerId}: ${error.message} (fix: ${error.fix})`
    case "ToolError":
      return `ToolError[${error.reason}]: ${error.tool ? `${error.tool} ` : ""}${error.nodeId !== undefined ? `(node '${error.nodeId}'${error.step !== undefined ? `, step ${error.step}` : ""}) ` : ""}${error.argument !== undefined ? `argument '${error.argument}': ` : ""}${error.message} (fix: ${error.fix})`
    case "ArtifactStoreError":
      return `ArtifactStoreError[${error.reason}]: ${error.nodeId !== undefined ? `node '${error.nodeId}': ` : ""}${error.message} (fix: ${error.fix})`
    case "RuleError": {
      const where = [error.file, error.line, error.column].filter((x) => x !== undefined).join(":")
      return `RuleError[${error.reason}]: ${where ? where + " " : ""}${error.construct ? `${error.construct}: ` : ""}${error.message} (fix: ${error.fix})`
    }
    case "ModelOutputError":
      return `ModelOutputError: node '${error.nodeId}' step ${error.step}${error.field !== undefined ? ` field '${error.field}'` : ""}: ${error.message} (fix: ${error.fix})`
    case "LanguageModelError":
      return `LanguageModelError[${error.reason}]: node '${error.nodeId}' ${error.attempts === 0 ? (error.refusedAt === "resume" ? "before the run was resumed" : "before the run started") : `step ${error.step}`}${error.status !== undefined ? ` (status ${error.status})` : ""}: ${error.message} (fix: ${error.fix})`
    case "ModelError":
      return `ModelError[${error.reason}]: node '${error.nodeId}' (model ${error.modelId}${error.step !== undefined ? `, step ${error.step}` : ""}): ${error.message} (fix: ${error.fix})`
    case "ModelIntegrityError":
      return `ModelIntegrityError: node '${error.nodeId}' (model ${error.modelId}): ${error.message} (expected sha256 ${error.expectedSha256}, actual ${error.actualSha256}) (fix: ${error.fix})`
    case "AuditChainError":
      return `AuditChainError[${error.reason}]: ${error.path}${error.line !== undefined ? `:${error.line}` : ""}: ${error.message} (fix: ${error.fix})`
    case "ApiError":
      return `ApiError: ${error.message}${error.fix !== undefined ? ` (fix: ${error.fix})` : ""}`
    default:
      return `${error._tag}: ${error.message}`
  }
}

const firstLine = (s: string): string => s.split("\n")[0] ?? s
