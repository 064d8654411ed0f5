/**
 * Stargraph's public API: a durable graph runtime on Effect.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Graph, SqliteCheckpointer } from "stargraph"
 * const program = Effect.gen(function*() {
 *   const graph = yield* Graph.load("examples/hello/graph.yaml")
 *   const run = yield* graph.start({ inputs: { message: "hello" } })
 *   return yield* run.start()
 * })
 * Effect.runPromise(program.pipe(Effect.provide(SqliteCheckpointer.layer({ filename: "runs.sqlite" }))))
 * ```
 */
export * from "./errors.js"
export { STARGRAPH_VERSION } from "./version.js"

export * as Graph from "./graph/Graph.js"
export type { Graph as GraphType, LoadOptions, MakeOptions, ResumeOptions, StartOptions } from "./graph/Graph.js"
export type { StateUpdate, UpdateStateError, UpdateStateOptions } from "./graph/updateState.js"
export * as GraphRun from "./graph/GraphRun.js"
export type { GraphDefinition } from "./runtime/GraphDefinition.js"

export { Checkpointer, type CheckpointerShape, type CommitOptions, type HeartbeatRecord, type HeartbeatStaleness, type RunCommit, type TakeOverExpectation } from "./checkpoint/Checkpointer.js"
export * as SqliteCheckpointer from "./checkpoint/SqliteCheckpointer.js"
export * as PgCheckpointer from "./checkpoint/PgCheckpointer.js"
export * as Prune from "./checkpoint/prune.js"
export * as MemoryCheckpointer from "./checkpoint/MemoryCheckpointer.js"
export { checkpointTooLarge, DEFAULT_MAX_CHECKPOINT_BYTES, encodeJson, maxCheckpointBytes } from "./checkpoint/checkpointSize.js"
export { newRunId } from "./checkpoint/runId.js"
export * from "./checkpoint/models.js"

export * as IR from "./ir/schema.js"
export { canonicalJson, graphHash, hashJson, runtimeHash, sha256 } from "./ir/hash.js"
export type { CompiledStateSchema, FieldInfo, State } from "./ir/stateSchema.js"

export type { InterruptOptions, NodeContext, NodeContextError, NodeFunction, NodeUpdate, RouterFunction, Executor, NodeInput, NodeOutcome, InterruptRequest, NodeFailure, NodeEnv, ChildCommits, HandedCommit } from "./nodes/Executor.js"
export * as NodeKind from "./nodes/NodeKind.js"
export { NodeKinds, layer as nodeKindsLayer } from "./nodes/NodeKinds.js"
export { DEFAULT_ABORT_GRACE_MS, NodeAbortGrace } from "./nodes/NodeAbortGrace.js"
export { builtinKinds } from "./nodes/kinds/index.js"
export type { ChildGraph, ChildOutcome, ChildRunRequest } from "./nodes/ChildGraph.js"
// The `ml` kind's ONNX runtime: onnxruntime-node is imported only when an onnx node is built.
export * as OnnxRuntime from "./nodes/ml/OnnxRuntime.js"

// Tools (`tool` nodes) and artifacts (`write_artifact` nodes).
/** `Tool.make({id, version, description, input, output, run})`: a tool for `tool` nodes. */
export * as Tool from "./nodes/tools/Tool.js"
/** The tools graphs name by id (`ToolRegistry.layer(...tools)` adds some; the `std.*` tools by default). */
export * as ToolRegistry from "./nodes/tools/ToolRegistry.js"
/** What runs may do beyond computing (`Capabilities.layer(["net.fetch"])`, or `STARGRAPH_CAPABILITIES`). */
export * as Capabilities from "./nodes/tools/Capabilities.js"
export { stdTools } from "./nodes/tools/std/index.js"
/** The engine `std.web_search` asks (`SearchBackend.layer`, `searxngLayer`, or `STARGRAPH_SEARCH_URL`), and `SearchEndpoints` for `std.wikipedia`/`std.arxiv`. */
export * as SearchBackend from "./nodes/tools/std/searchBackend.js"
/** The broker `broker` nodes ask (`Broker.layer({name, request})`, `Broker.httpLayer(url)`, or `STARGRAPH_BROKER_URL`). */
export * as Broker from "./nodes/broker/Broker.js"
/** How the network tools resolve a host name before they check and pin its addresses (replace it to route names your own way). */
export * as NetResolver from "./nodes/tools/std/NetResolver.js"
/** What runs graph files for `std.graph_invoke` (each run's nodes get `Graph.invoker`; `Effect.provideService(GraphInvoker.GraphInvoker, …)` replaces it). */
export * as GraphInvoker from "./nodes/GraphInvoker.js"
/** The directory the `std.file_*` tools are confined to (`FsRoot.layer(dir)`, or `STARGRAPH_TOOLS_FS_ROOT`). */
export * as FsRoot from "./nodes/tools/std/fsJail.js"
/** Where `write_artifact` nodes store artifacts (`ArtifactStore.filesystem(dir)`, `ArtifactStore.memory`, `ArtifactStore.layer(store)`). */
export * as ArtifactStore from "./checkpoint/ArtifactStore.js"
export { ArtifactEntry, ArtifactRef, type ArtifactBlob, type ArtifactStoreShape, type ArtifactSweep, type ArtifactWrite, type DeleteRunsOptions } from "./checkpoint/artifactModels.js"

// Language-model nodes (`dspy` and the presets): the layers an app may provide, the signature
// parser, and the shapes of their cassette entries (see docs/language-models.md).
export * as LanguageModels from "./nodes/lm/LanguageModels.js"
export * as DefaultModel from "./nodes/lm/DefaultModel.js"
export * as LmSignature from "./nodes/lm/Signature.js"
export type { LmRequest } from "./nodes/lm/lmExecutor.js"
export type { Completion as LmCompletion, ProviderConfig as LmProviderConfig } from "./nodes/lm/provider.js"

// Rules route transitions: the CLIPS-dialect engine, a graph's rule program, packs, sessions.
export * as Clips from "./fathom/clips/index.js"
export * as FathomAdapter from "./fathom/FathomAdapter.js"
export { make as makeRuleEngine, RuleEngine, type RuleEngineShape } from "./fathom/RuleEngine.js"
export type { RouteInput, RuleSession } from "./fathom/RuleSession.js"
export type { MirroredField, RuleProgram, RuleSource } from "./fathom/program.js"
export { Decision, describeDecision, RuleFiring, SideEffect, StepRules } from "./fathom/Decision.js"
export { FactSpec, FactsSnapshot, factDelta, renderStored, type TemplateSlots } from "./fathom/facts.js"
export { type LoadedPack, loadPacks, type PackOptions, signPack, treeHash, verifyPack } from "./fathom/packs.js"
export * as IRRules from "./ir/rules.js"
export { MirrorAnnotationId } from "./ir/stateSchema.js"
export { dryRun, type DryRun, type Fixture, simulate, type Simulated } from "./runtime/dryRun.js"
export * from "./runtime/events.js"
export { type Control, type DriveInput, RunLoop, type RunLoopShape } from "./runtime/RunLoop.js"
export { ANSWER_REFUSED_EVENT, AnswerRefused, AnswerRefusedReason } from "./runtime/answerRefused.js"
export { AuditSink, type AuditLogSpec, type AuditRecord, type AuditSinkShape, chained as auditChained, fromSpec as auditFromSpec, jsonl as auditJsonl } from "./telemetry/AuditSink.js"
export {
  type AuditChainVerification,
  canonicalJson as auditCanonicalJson,
  keyFingerprint as auditKeyFingerprint,
  verifyAuditChain,
  type VerifyAuditChainOptions
} from "./telemetry/AuditChain.js"
export { type AuditSigner, type ChainedAuditLog, type ChainedLine, loadOrCreateSigner as loadOrCreateAuditSigner, openChainedAuditLog, signerFromPem as auditSignerFromPem } from "./telemetry/ChainedAuditLog.js"
export {
  disabled as metricsDisabled,
  type DispatchOutcome,
  layer as metricsLayer,
  makeEffectMetrics,
  METRIC_NAMES,
  Metrics,
  type MetricsShape
} from "./telemetry/Metrics.js"
export { exposition as prometheusExposition, PROMETHEUS_CONTENT_TYPE, render as renderPrometheus } from "./telemetry/prometheus.js"
// The OpenTelemetry layers live in the `stargraph/tracing` entry, so importing `stargraph` never loads the SDK.
export { TracingEnabled } from "./telemetry/TracingEnabled.js"

export * as GraphRegistry from "./scheduler/GraphRegistry.js"
export * as Scheduler from "./scheduler/Scheduler.js"
export type { Enqueued, EnqueueOptions, SchedulerOptions, SchedulerShape } from "./scheduler/Scheduler.js"
/**
 * This process's heartbeat (`Heartbeat.layer({ leaseMs })`): provide it in any process that
 * drives runs on a database shared by several hosts or containers, so that a server on
 * another host takes its runs over once it stops beating (and never while it beats).
 */
export * as Heartbeat from "./runtime/Heartbeat.js"
export type { HeartbeatOptions, HeartbeatShape } from "./runtime/Heartbeat.js"
export { type LeaseState, leaseState, watchLease } from "./runtime/leases.js"
/** Ask the live process executing a run to cancel it and wait up to `waitMs` (`askOwnerToCancel(runId, { waitMs })`), as `stargraph cancel --wait` does. */
export { type AskCancelOptions, type AskedToCancel, askOwnerToCancel, DEFAULT_CANCEL_WAIT_MS } from "./runtime/askCancel.js"
export { describeOwner, HOST_ENV, OWNER, ownerAlive, type OwnerLiveness, ownerLiveness, runsLiveness, THIS_HOST } from "./runtime/owner.js"

export {
  ExtraTriggers,
  type HookResult,
  type Trigger,
  type TriggerDeps,
  type TriggerRequest,
  type TriggerResponse,
  type TriggerRoute
} from "./triggers/Trigger.js"
export { decodeTriggerEvent, idempotencyKeyOf, TriggerEvent } from "./triggers/TriggerEvent.js"
export { collectTriggerRoutes, type DispatchResult, dispatchTriggerLifecycle, HOOK_TIMEOUT_MS, type LifecyclePhase } from "./triggers/Dispatcher.js"
export * as ManualTrigger from "./triggers/ManualTrigger.js"
export * as CronTrigger from "./triggers/CronTrigger.js"
export * as WebhookTrigger from "./triggers/WebhookTrigger.js"
export * as TriggerHost from "./triggers/TriggerHost.js"
export * as ProjectConfig from "./triggers/ProjectConfig.js"
export { discoverPackagePlugins, loadPlugin, type PluginRef } from "./triggers/plugins.js"
export {
  type CheckpointerFacade,
  type EnqueuedRun,
  makePluginDeps,
  type PluginDeps,
  type PluginRoute,
  type PluginTrigger,
  type RegistryFacade,
  type SchedulerFacade
} from "./triggers/PluginDeps.js"

export * as Serve from "./serve/server.js"
export { envelopeOf, statusOf } from "./triggers/httpError.js"
export { StargraphApi } from "./serve/StargraphApi.js"
export { handlersLayer, type HandlersOptions } from "./serve/handlers.js"

export * as Replay from "./replay/Replay.js"
export type { CallOptions, NodeCalls } from "./nodes/calls.js"
export { type ReplaySource, requestHash } from "./runtime/Cassette.js"
export { CounterfactualMutation, decodeMutation, derivedHash } from "./runtime/Mutation.js"
export { diffRuns, type PatchOp, renderDiff, type RunDiff, type RunOutcome } from "./replay/RunDiff.js"
