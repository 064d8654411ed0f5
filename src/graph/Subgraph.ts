/**
 * Child graphs of `subgraph` nodes. The child graph is loaded once per parent graph (a
 * path that leads back to an ancestor is refused), and each parent step that reaches the
 * node runs the child as its own run: `parent_run_id` is the parent run, `fork_step` and
 * its step-0 checkpoint's `parent_step` are the parent step, and its idempotency key
 * (`subgraph:<parent run>:<step>:<node>`) finds it again. So a parent that crashed, or
 * waits for input the child asked for, continues the same child run instead of starting
 * another: the child resumes inside itself, from its own last checkpoint. A `map` node runs
 * its child graph this way once per item, each keyed with `#<index>` after that key.
 */
import { existsSync, statSync } from "node:fs"
import { basename, dirname, isAbsolute, relative, resolve } from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { Checkpointer, type CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { waitIdOf } from "../checkpoint/waitId.js"
import { type Checkpoint, type DefaultModelRecord, type NewRun, type RunRecord, type RunSummary, toSummary, type WaitingInfo } from "../checkpoint/models.js"
import {
  type CheckpointError,
  formatError,
  type GraphError,
  IRValidationError,
  NodeExecutionError,
  ReplayDivergenceError,
  type LanguageModelError,
  type RunFailure,
  type RunStateError,
  type StateValidationError
} from "../errors.js"
import { listSome } from "../ir/limits.js"
import { formatPath, irError, type IRSource } from "../ir/parse.js"
import { allowFolder } from "../nodes/loader.js"
import { type ChildGraph, type ChildOutcome, type ChildRunRequest, childRunKey, itemOfKey, subgraphsOf } from "../nodes/ChildGraph.js"
import type { HandedCommit, UnfinishedChild } from "../nodes/Executor.js"
import { plainJsonEqual } from "../ir/json.js"
import { requestHash, type ReplaySource } from "../runtime/Cassette.js"
import { emptyMutation } from "../runtime/Mutation.js"
import { replaySource } from "../runtime/replaySource.js"
import { reachableFrom, reachableNeeding } from "../runtime/reachable.js"
import { waitedChildId } from "../runtime/waitedChild.js"
import type { GraphDefinition } from "../runtime/GraphDefinition.js"
import { OWNER } from "../runtime/RunLoop.js"
import { recordIn } from "../nodes/lm/DefaultModel.js"
import { nodesNeedingModel } from "../nodes/lm/modelCheck.js"
import type { GraphRun } from "./GraphRun.js"
import type { ChildLink } from "./newRun.js"

/** How a child run is driven: on its parent's fiber, cancelled with it or else paused. */
interface ChildDriving {
  readonly onCallerFiber?: boolean | undefined
  readonly cancelledWith?: (() => boolean) | undefined
  readonly parentCommits?: boolean | undefined
  readonly commitWithParent?: ((commits: ReadonlyArray<HandedCommit>) => void) | undefined
}

/** The part of a built graph a child run needs (a `Graph` has it). */
export interface RunnableGraph extends GraphDefinition {
  readonly newRun: (options: {
    readonly inputs: { readonly [field: string]: unknown }
    readonly idempotencyKey: string
    readonly actor: string
    readonly defaultModel?: DefaultModelRecord | null | undefined
    readonly child: ChildLink
  }) => Effect.Effect<NewRun, StateValidationError>
  readonly open: (
    run: RunRecord,
    checkpoint: Checkpoint,
    options: ChildDriving & { readonly actor: string; readonly retainEvents?: boolean; readonly replay?: ReplaySource | undefined }
  ) => Effect.Effect<GraphRun, never, Checkpointer>
  readonly resume: (
    runId: string,
    options: ChildDriving & { readonly response?: { readonly value: unknown }; readonly actor: string; readonly replay?: ReplaySource; readonly skipModelCheck?: boolean; readonly startedBefore?: boolean }
  ) => Effect.Effect<GraphRun, CheckpointError | RunStateError | StateValidationError | LanguageModelError, Checkpointer>
  readonly checkResponse: (runId: string, value: unknown) => Effect.Effect<void, StateValidationError | CheckpointError, Checkpointer>
  readonly initialState: (inputs: { readonly [field: string]: unknown }) => Either.Either<unknown, StateValidationError>
}

/** Where a child graph is named, and how to build one. */
export interface ChildSource {
  /** The parent graph's file (absent for a graph built from an object). */
  readonly parentFile: string | undefined
  readonly baseDir: string
  /** Folders a child graph file must be inside (the parent's folder and its module roots). */
  readonly roots: ReadonlyArray<string>
  /** Graph files that contain the parent (for cycle detection). */
  readonly ancestors: ReadonlyArray<string>
  /** Where the path is written, for errors. */
  readonly source: IRSource
  readonly at: ReadonlyArray<PropertyKey>
  /** Build the child graph at `file`, knowing its ancestors, with a step limit. */
  readonly build: (file: string, ancestors: ReadonlyArray<string>, maxSteps: number | undefined) => Effect.Effect<RunnableGraph, GraphError>
}

/** Load the child graph at `path` (relative to the parent graph's folder). */
export const loadChild = (path: string, maxSteps: number | undefined, from: ChildSource): Effect.Effect<ChildGraph, GraphError> =>
  Effect.gen(function*() {
    const file = resolve(from.baseDir, path)
    const chain = [...from.ancestors, ...(from.parentFile !== undefined ? [resolve(from.parentFile)] : [])]
    if (chain.includes(file)) {
      return yield* irError(from.source, from.at, `subgraph '${path}' includes its parent: ${[...chain, file].map((f) => basename(f)).join(" → ")}`,
        "a graph cannot contain itself, directly or through other subgraphs; break the cycle")
    }
    if (!from.roots.some((root) => isInside(file, root))) {
      const where = from.roots.length > 1 ? `to ${file}, outside the graph's folder and its module roots (${listSome(from.roots.slice(1))})` : `outside the graph's folder (${file})`
      return yield* irError(from.source, from.at, `subgraph '${path}' resolves ${where}`,
        `put the child graph in this graph's folder tree and name it with a relative path such as ./child.yaml, ${allowFolder(dirname(file))}`)
    }
    if (!existsSync(file)) {
      return yield* irError(from.source, from.at, `subgraph '${path}' does not exist (looked for ${file})`,
        "set spec to the child graph's YAML file, relative to this graph's folder")
    }
    if (statSync(file).isDirectory()) {
      return yield* irError(from.source, from.at, `subgraph '${path}' is a folder (${file})`, "set spec to the child graph's YAML file, e.g. ./child/graph.yaml")
    }
    // The child's own error locates the problem in the child; say which parent node led there.
    const via = `${from.parentFile !== undefined ? basename(from.parentFile) : "the parent graph"} ${formatPath(from.at)}`
    return childGraph(yield* from.build(file, chain, maxSteps).pipe(
      Effect.mapError((error) =>
        error._tag === "IRValidationError" && error.file === file
          ? new IRValidationError({ file: error.file, path: error.path, line: error.line, message: `${error.message} (in subgraph ${path}, named at ${via})`, fix: error.fix })
          : error
      )
    ))
  })

const isInside = (path: string, root: string): boolean => {
  const rel = relative(resolve(root), path)
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel))
}

/** Who drives a child run for its parent (the actor of its audit records). */
export const childActor = (parentRunId: string): string => `subgraph:${parentRunId}`

/**
 * The question a run waiting on child run `childRunId` shows for the child's `waiting`
 * (`item`: the child's item, when the run waits at a `map` node).
 */
const parentWaiting = (parent: WaitingInfo, childRunId: string, asked: WaitingInfo, item: number | undefined): WaitingInfo => ({
  ...parent,
  prompt: asked.prompt,
  payload: { ...asked.payload, child_run_id: childRunId, child_node: asked.node, ...(item !== undefined ? { item } : {}) },
  ...(asked.asked_at !== undefined ? { asked_at: asked.asked_at } : {}),
  wait_id: waitIdOf(asked)
})

/**
 * A child run that stopped for input again after it was answered directly: every run
 * still waiting on it (its parent, and theirs up the chain) shows its new question, as if
 * it had asked through them. A parent no longer waiting on it (answered, resumed, changed
 * meanwhile) is left as it is.
 */
export const askedAgain = (checkpointer: CheckpointerShape, summary: RunSummary): Effect.Effect<void, CheckpointError> =>
  Effect.gen(function*() {
    if (summary.status !== "awaiting-input" || summary.waiting === null || summary.waiting === undefined) return
    let childId = summary.run_id
    let asked: WaitingInfo = summary.waiting
    let parentId = summary.parent_run_id ?? null
    // The child's key: a `map` node's child's names its item.
    let childKey = parentId === null ? undefined : Option.getOrUndefined(yield* checkpointer.getRun(childId))?.idempotency_key
    while (parentId !== null) {
      const parent = Option.getOrUndefined(yield* checkpointer.getRun(parentId))
      if (parent === undefined || parent.status !== "awaiting-input" || parent.waiting === null || waitedChildId(parent) !== childId) return
      const waiting = parentWaiting(parent.waiting, childId, asked, itemOfKey(childKey))
      if (!(yield* checkpointer.takeOver(parentId, { status: "awaiting-input", owner: parent.owner }, { waiting }))) return
      childId = parentId
      childKey = parent.idempotency_key
      asked = waiting
      parentId = parent.derived_hash === null ? parent.parent_run_id : null
    }
  })

const childFailed = (request: ChildRunRequest, runId: string, message: string, error?: unknown): NodeExecutionError =>
  new NodeExecutionError({
    nodeId: request.nodeId,
    step: request.parentStep,
    attempts: 1,
    cause: `child run ${runId} ${message}`,
    ...(error !== undefined && typeof error === "object" && error !== null && "_tag" in error ? { errorTag: String(error._tag), error } : {})
  })

/** What a summary of the child's drive means to the parent step. */
const outcomeOf = (request: ChildRunRequest, summary: RunSummary): Effect.Effect<ChildOutcome, NodeExecutionError> => {
  switch (summary.status) {
    case "done":
      return Effect.succeed({ _tag: "Done", runId: summary.run_id, state: summary.final_state })
    case "awaiting-input": {
      const waiting = summary.waiting
      return Effect.succeed({
        _tag: "Waiting",
        runId: summary.run_id,
        prompt: waiting?.prompt ?? "",
        responseField: "",
        payload: { ...waiting?.payload, child_run_id: summary.run_id, child_node: waiting?.node ?? "" },
        // The innermost question's id: the parent waits at the child's question.
        ...(waiting !== null && waiting !== undefined ? { waitId: waitIdOf(waiting) } : {}),
        // The child keeps its own answers: the parent passes on only the next one.
        answered: 0
      })
    }
    default:
      return Effect.fail(childFailed(request, summary.run_id, `stopped ${summary.status}${summary.error ? `: ${summary.error.message}` : ""}`))
  }
}

/**
 * Drive a child run handle, made to run on the parent's fiber (`driving`): interrupting
 * the parent's step cancels the child when the parent is being cancelled, and leaves it
 * paused otherwise (the child's run loop records either).
 */
const drive = (request: ChildRunRequest, handle: GraphRun): Effect.Effect<ChildOutcome, NodeExecutionError | CheckpointError> =>
  handle.start().pipe(
    Effect.catchAll((error): Effect.Effect<never, NodeExecutionError | CheckpointError> =>
      error._tag === "CheckpointError" ? Effect.fail(error) : Effect.fail(childFailed(request, handle.runId, `failed: ${formatError(error)}`, error))),
    Effect.flatMap((summary) => outcomeOf(request, summary))
  )

/**
 * A child run is driven on its parent's fiber, and cancelled only with its parent; the
 * parent's step commit, which records the child's outcome, follows the child's end.
 */
const driving = (request: ChildRunRequest): ChildDriving => ({
  onCallerFiber: true,
  cancelledWith: request.cancelling,
  parentCommits: true,
  commitWithParent: request.commits?.defer
})

/** A loaded child graph as the `subgraph` kind uses it. */
const childGraph = (graph: RunnableGraph): ChildGraph => ({
  id: graph.id,
  graphHash: graph.graphHash,
  fields: graph.state.fields,
  subgraphs: subgraphsOf(graph.nodes),
  needsModel: nodesNeedingModel(graph.nodes),
  stillNeeding: (runId) =>
    Effect.gen(function*() {
      const needing = nodesNeedingModel(graph.nodes)
      const checkpointer = yield* Checkpointer
      const record = Option.getOrUndefined(yield* checkpointer.getRun(runId))
      const latest = record === undefined ? undefined : Option.getOrUndefined(yield* checkpointer.latestCheckpoint(runId))
      if (record === undefined || latest === undefined) return needing
      const reach = reachableFrom(graph, latest.next, record.waiting)
      // A nested child it waits on (a frontier node's) may not be past its nodes: counted whole.
      const reached = new Set(reachableNeeding(needing, reach))
      return needing.filter((id) => reached.has(id) || reach.next.has(id.split("/")[0]!))
    }),
  checkResponse: graph.checkResponse,
  checkInputs: (inputs) => Either.map(graph.initialState(inputs), () => undefined),
  run: (request) =>
    Effect.gen(function*() {
      // One read of the context: the checkpointer and the parent's default model.
      const { checkpointer, defaultModel } = yield* Effect.contextWith((context: Context.Context<Checkpointer>) => ({
        checkpointer: Context.get(context, Checkpointer),
        defaultModel: recordIn(context)
      }))
      const actor = childActor(request.parentRunId)
      // Driven at once by this process: created running (no separate transition).
      const linked = yield* graph.newRun({
        inputs: request.inputs,
        idempotencyKey: childRunKey(request),
        actor,
        // Its parent's default model (the parent's driver's, or the one on the parent's record).
        defaultModel,
        child: { parentRunId: request.parentRunId, parentStep: request.parentStep, owner: OWNER }
      })
      // In a replay of the step its parent waited at: the recorded child it replays (a
      // divergence is refused before a child run is made).
      const replay = request.replayOf === undefined ? undefined : yield* childReplay(graph, request, request.replayOf)
      const { created, record: found } = yield* checkpointer.createRun(linked)
      if (created) {
        const handle = yield* graph.open(found, { ...linked.initial, run_id: found.run_id }, { actor, retainEvents: false, replay, ...driving(request) })
        return yield* drive(request, handle)
      }
      // The child this parent step started before: finish it, pass it the answer, or report it.
      // One that ended in a first attempt of a retried node handed its end to the step: made now, it is found done.
      const record = found.status === "running" && request.commits !== undefined
        ? yield* Effect.zipRight(request.commits.flush, Effect.map(checkpointer.getRun(found.run_id), Option.getOrElse(() => found)))
        : found
      switch (record.status) {
        case "done": {
          const latest = yield* checkpointer.latestCheckpoint(record.run_id)
          return { _tag: "Done", runId: record.run_id, state: Option.match(latest, { onNone: () => ({}), onSome: (c) => c.state }) } satisfies ChildOutcome
        }
        case "failed":
        case "cancelled":
          return yield* childFailed(request, record.run_id, `is ${record.status}${record.error ? `: ${record.error.message}` : ""}`)
        case "awaiting-input":
          if (request.answer === undefined) {
            return yield* outcomeOf(request, toSummary(record, {}))
          }
          // A fork's child answered through the fork goes on against the recorded child (live past it only when the fork may call live).
          return yield* drive(request, yield* resumeChild(graph, request, record.run_id, request.answer, replay))
        default:
          // Stopped part-way (paused, its process died, or the runtime broke under it:
          // `error`, whose committed steps are intact): a replaying child goes on replaying.
          return yield* drive(request, yield* resumeChild(graph, request, record.run_id, undefined, replay))
      }
    })
})

/**
 * What a replay's new child replays: the recorded parent's child run of the same node and
 * step (the step the parent stopped at for input, or failed at), from its first step, so
 * the new child asks the same question (or, live, retries the failure) with the same
 * calls behind it. Started with other inputs (or
 * another child graph), or where the parent started none, it diverges, unless the fork may
 * call live (then it runs live).
 */
const childReplay = (graph: RunnableGraph, request: ChildRunRequest, recorded: UnfinishedChild) =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    const record = Option.getOrUndefined(yield* checkpointer.findByIdempotencyKey(childRunKey({ ...request, parentRunId: recorded.parentRunId })))
    const checkpoints = record === undefined ? [] : yield* checkpointer.listCheckpoints(record.run_id)
    if (record !== undefined && checkpoints.length > 0 && record.graph_hash === graph.graphHash && plainJsonEqual(record.inputs, request.inputs)) {
      return replaySource(graph, checkpoints, 0, emptyMutation, recorded.liveAfterFork, record)
    }
    if (recorded.liveAfterFork) return undefined
    return yield* new ReplayDivergenceError({
      reason: record === undefined ? "missing-entry" : "request-mismatch",
      nodeId: request.nodeId,
      step: request.parentStep,
      call: "subgraph",
      ...(record !== undefined ? { expectedHash: requestHash("subgraph", { graph: record.graph_hash, inputs: record.inputs }) } : {}),
      actualHash: requestHash("subgraph", { graph: graph.graphHash, inputs: request.inputs }),
      message: `node '${request.nodeId}' starts its child graph at step ${request.parentStep} ` +
        (record === undefined
          ? `where run ${recorded.parentRunId} started none`
          : `with other inputs than child run ${record.run_id}, which run ${recorded.parentRunId} started there`) +
        "; fork with live_after_fork, or --live-after-fork on the CLI, to run the child live"
    })
  })

const resumeChild = (graph: RunnableGraph, request: ChildRunRequest, runId: string, answer: { readonly value: unknown } | undefined, replay?: ReplaySource) =>
  graph.resume(runId, { ...(answer !== undefined ? { response: answer } : {}), actor: childActor(request.parentRunId), ...(replay !== undefined ? { replay } : {}), ...driving(request), skipModelCheck: true, startedBefore: true }).pipe(
    Effect.catchAll((error): Effect.Effect<never, NodeExecutionError | CheckpointError | RunFailure> =>
      error._tag === "CheckpointError" && error.reason !== "graph-hash-mismatch"
        ? Effect.fail(error)
        : Effect.fail(childFailed(request, runId, `cannot be resumed: ${formatError(error)}`, error)))
  )
