/**
 * The static, hashable, IR-validated graph: build it from an IR object, a YAML string or
 * a YAML file, then `start` runs (or `resume` them) against the provided Checkpointer.
 *
 * Construction does no I/O when every module the IR references is passed in `modules`
 * (the Effect then completes synchronously); otherwise the modules are imported from
 * beside the YAML (`.ts` works without a build step).
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Checkpointer, type CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { type Breakpoints, type Checkpoint, type DefaultModelRecord, type NewRun, type RunRecord, type TakenOver, TERMINAL_STATUSES } from "../checkpoint/models.js"
import {
  CheckpointError,
  type GraphError,
  type InputError,
  type LanguageModelError,
  NodeModuleError,
  RunStateError,
  StateValidationError,
  type ThreadError
} from "../errors.js"
import { graphHash, runtimeHash } from "../ir/hash.js"
import { decodeDocument, graphTooLarge, irError, isGraphText, parseIR, type IRSource } from "../ir/parse.js"
import type { GraphModel } from "../ir/authoring.js"
import { IRDocument } from "../ir/schema.js"
import { compileInline, compileModuleSchema, type CompiledStateSchema, type CompileProblem, declaredAs, declaredAt, declaredTypeFix, type State, stateSchemaSource } from "../ir/stateSchema.js"
import { buildTopology } from "../ir/topology.js"
import { asFunction } from "../nodes/callFunction.js"
import type { ChildGraph } from "../nodes/ChildGraph.js"
import type { HandedCommit, RouterFunction } from "../nodes/Executor.js"
import type { CompiledNode } from "../nodes/NodeKind.js"
import { decodeNodes } from "./decodeNodes.js"
import { askedAgain, childActor, loadChild } from "./Subgraph.js"
import { envModuleRoots, type ExportNaming, loadModule, type ModuleNamespace, pickExport, providedModuleHash } from "../nodes/loader.js"
import { loadPacks, type PackOptions } from "../fathom/packs.js"
import { compileProgram } from "../fathom/program.js"
import { checkJson } from "../ir/json.js"
import { IRValidationError } from "../errors.js"
import type { ReplaySource } from "../runtime/Cassette.js"
import { refuseStaleAnswer } from "../runtime/staleAnswer.js"
import { forkAbove, forkAnswerNeedsLive, forkDescendantRefusal } from "../runtime/forkDescendant.js"
import { liveAfterForkRefusal } from "../runtime/liveAfterFork.js"
import { forkReplaySource } from "../runtime/replaySource.js"
import { type BreakpointNodes, resolveBreakpoints } from "../runtime/breakpoints.js"

/** How `start` names its breakpoint options in an error. */
const START_FIELDS = { before: "interruptBefore", after: "interruptAfter" } as const
import { leaseState } from "../runtime/leases.js"
import { type AnswerRefusedReason, auditAnswerRefused } from "../runtime/answerRefused.js"
import { ownerElsewhere, ownerGone } from "../runtime/owner.js"
import { childNodeOf, waitedChildId, waitedKind } from "../runtime/waitedChild.js"
import { nowIso, OWNER, RunLoop } from "../runtime/RunLoop.js"
import { AuditSink } from "../telemetry/AuditSink.js"
import type { GraphDefinition } from "../runtime/GraphDefinition.js"
import * as GraphRun from "./GraphRun.js"
import { type ChildLink, newRunOf } from "./newRun.js"
import { recordIn } from "../nodes/lm/DefaultModel.js"
import { checkNeeding, nodesNeedingModel, reachedBefore } from "../nodes/lm/modelCheck.js"
import { reachableFrom, reachableNeeding } from "../runtime/reachable.js"
import { type StateUpdate, updateState as editState, type UpdateStateError, type UpdateStateOptions } from "./updateState.js"
import { checkSkipFailed, explainMoved, threadRun } from "./threads.js"
import { keyReused, requestDifference } from "./keyReuse.js"
import { listSome, maxGraphBytes } from "../ir/limits.js"
import { fieldProblem, firstIssue } from "../ir/parseIssue.js"
import * as GraphInvoker from "../nodes/GraphInvoker.js"
import { makeInvoker } from "./graphInvoker.js"

/** Why a graph could not be built: its IR, a node module, or its rules (inline, compiled edges, packs). */
export type { GraphError }

/** Options for starting a run. */
export interface StartOptions {
  /** Initial state fields; validated against the state schema (defaults fill the rest). */
  readonly inputs?: { readonly [field: string]: unknown } | undefined
  readonly idempotencyKey?: string | undefined
  /** Who started the run, for the audit log (default `library`); kept on the run's record. */
  readonly actor?: string | undefined
  /**
   * Start the run on this thread (a conversation of runs; see `graph/threads.ts`): after
   * the thread's first run, it starts from the final state of the thread's newest run
   * (which must be `done`), with `inputs` applied through each field's reducer.
   */
  readonly threadId?: string | undefined
  /**
   * With `threadId`: pass over the thread's newest runs that ended `failed` or `cancelled`
   * and continue from the newest `done` run before them (none: start as the thread's first
   * run). An unfinished or `error` newest run is still refused. Without `threadId` it is an
   * `InputError`. Default false: such a thread refuses the start.
   */
  readonly skipFailed?: boolean | undefined
  /**
   * Pause the run before these nodes run (`"*"`: every node), LangGraph's `interrupt_before`:
   * it stops `awaiting-input` with a `breakpoint` wait; `resume` (no response) continues it.
   * Kept on the run's record. An id the graph does not have is an `InputError`, and nothing is written.
   */
  readonly interruptBefore?: BreakpointNodes | undefined
  /** Pause the run after these nodes' step committed (`"*"`: every node), LangGraph's `interrupt_after`. */
  readonly interruptAfter?: BreakpointNodes | undefined
}

/**
 * What `newRun` builds a run from: the start options, with the breakpoints already checked
 * (`resolveBreakpoints`), and whether the run is queued for the Scheduler. No `threadId`:
 * a run on a thread starts from the thread's newest run, which only a read of the
 * database finds; `start({threadId})` and `Scheduler.enqueue(…, {threadId})` make it
 * (`threads.threadRun`).
 */
export interface NewRunOptions extends Omit<StartOptions, "interruptBefore" | "interruptAfter" | "threadId" | "skipFailed"> {
  readonly queued?: boolean | undefined
  readonly breakpoints?: Breakpoints | null | undefined
  /** The default model the run starts with (kept on its record; `start` records the one in its context). */
  readonly defaultModel?: DefaultModelRecord | null | undefined
  /** A `subgraph` node's child run: its parent, and the process driving it (see `NewRunFields.child`). */
  readonly child?: ChildLink | undefined
}

/** Options for resuming a run. */
export interface ResumeOptions {
  /** Answer to the interrupt the run waits at (required for `awaiting-input` runs). */
  readonly response?: { readonly value: unknown } | undefined
  /**
   * With `response`: the id of the wait it answers (`waiting.wait_id`). Applied only while
   * the run still waits there (checked in the write that takes the run over); else refused
   * (`RunStateError`, its `waitId` the wait the run is at now) and nothing changes.
   */
  readonly waitId?: string | undefined
  readonly actor?: string | undefined
  /** Resume even if this process's runtime hash differs from the run's (Node.js upgrade). */
  readonly allowRuntimeDrift?: boolean | undefined
  /**
   * The graph hash the run was started with (`sha256:…`, as its `graph-hash-mismatch`
   * error names it): continue it under this graph although its hash differs. For graph
   * files that are the same but hashed differently by another Stargraph version, or a
   * change the operator means the run to continue on. The run's record takes this graph's
   * hash when the handle starts driving it, in the same write that takes it over (its
   * committed steps stay as they were); a resume refused (an ended run, a missing answer)
   * stores nothing. Any other value changes nothing.
   */
  readonly acceptGraphHash?: string | undefined
  /**
   * Drive a counterfactual fork against its parent's cassette (see `replay/fork`). When
   * omitted and the run is a fork, the source is rebuilt from its parent.
   */
  readonly replay?: ReplaySource | undefined
  /**
   * For a fork rebuilt as above: answer calls the cassette cannot with live calls. A fork
   * made with `live_after_fork` keeps it without this (its run record says so). Given for
   * a run that is not a fork, it is refused before anything changes (`RunStateError`,
   * `field: "liveAfterFork"`): such a run calls live anyway. A fork's child run is answered
   * through its fork (answered directly it is refused, naming the fork).
   */
  readonly liveAfterFork?: boolean | undefined
  /**
   * Drive it on the fiber that calls `start()`, and whether an interruption of that fiber
   * cancels it (a parent run's node driving its child; see `GraphRunOptions`).
   */
  readonly onCallerFiber?: boolean | undefined
  readonly cancelledWith?: (() => boolean) | undefined
  /**
   * Its caller commits, synced, after the run ends (a parent step, which records its child
   * run's outcome): the run's `done` commit need not wait for the disk (see
   * `CommitOptions.syncFollows`).
   */
  readonly parentCommits?: boolean | undefined
  /** Its parent step makes its last commit, with its own (see `DriveInput.commitWithParent`). */
  readonly commitWithParent?: ((commits: ReadonlyArray<HandedCommit>) => void) | undefined
  /**
   * Take over a run left `running` by a process on another host or container, which
   * cannot be checked from here (a container recreated, a host gone): the caller says it
   * is gone. A live process of this host is never taken over.
   */
  readonly takeOver?: boolean | undefined
  /**
   * For a run the caller has just claimed off the queue (the Scheduler): whether it had
   * started before that claim (a run a draining server requeued before it committed a
   * step). The claim marks the run started, so the record read now cannot tell; such a
   * run is resumed (`run.started` says so), not counted started again. Also given for a
   * child run its parent's step drives again (found `running` under this process).
   */
  readonly startedBefore?: boolean | undefined
  /**
   * For a run the caller has just claimed off the queue from a process that held it (dead,
   * or its lease lapsed): that take-over, which the claim recorded on the run's record;
   * `run.started` (and so the audit line) names it.
   */
  readonly takenOver?: TakenOver | undefined
  /**
   * Leave out the check that refuses, before anything changes, a run whose live
   * language-model nodes need a model nobody gives (no default model in the context nor on
   * the run's record, no app `LanguageModel`): for a caller that accepted the run already
   * (the Scheduler driving a run it queued, a parent's node driving its child run).
   */
  readonly skipModelCheck?: boolean | undefined
  /** The fix that check's `LanguageModelError[no-model]` names (default: how a library caller gives a model). */
  readonly noModelFix?: string | undefined
}

/**
 * A validated graph. `R` is what its nodes need from the context its runs are driven in
 * (see {@link GraphRun.GraphRun}): inferred by {@link make} from the `modules` it is given.
 */
export interface Graph<out R = never> extends GraphDefinition {
  /**
   * The live language-model nodes that name no model (`stub: true` ones left out), their
   * child graphs' as `<subgraph node>/<node>`, in graph order (`nodesNeedingModel`): what
   * must be given a model where a run is started or resumed. Computed once when the graph
   * is built; empty for a graph without such nodes, which then costs no check.
   */
  readonly needsModel: ReadonlyArray<string>
  /** Apply defaults to `inputs` and validate them against the state schema. */
  readonly initialState: (inputs: { readonly [field: string]: unknown }) => Either.Either<State, StateValidationError>
  /**
   * Validate `inputs` and build the run record and step-0 checkpoint to persist (no I/O): a
   * run on no thread. A thread's run is made by `start({threadId})` or
   * `Scheduler.enqueue(…, {threadId})` (`threads.threadRun`).
   */
  readonly newRun: (options?: NewRunOptions) => Effect.Effect<NewRun, StateValidationError>
  /**
   * Persist a new run (minting its id) and return its single-use handle. An
   * idempotency key that is already used fails with `RunStateError` naming its run (with
   * reason `idempotency-key-reused` and the differing `field` when the request is not
   * the one that run was started with: see `keyReuse.ts`).
   */
  readonly start: (
    options?: StartOptions
  ) => Effect.Effect<GraphRun.GraphRun<R>, StateValidationError | InputError | CheckpointError | RunStateError | ThreadError | LanguageModelError, Checkpointer>
  /**
   * A handle on a run this process just created (record and step-0 checkpoint in hand),
   * without re-reading them. Use `resume` for anything else.
   */
  readonly open: (
    run: RunRecord,
    checkpoint: Checkpoint,
    options?: {
      readonly actor?: string | undefined
      /** Keep the run's events for `stream()` (default true; false when nobody will stream them). */
      readonly retainEvents?: boolean | undefined
      /** Drive it on the fiber that calls `start()` (see `GraphRunOptions.onCallerFiber`). */
      readonly onCallerFiber?: boolean | undefined
      /** With `onCallerFiber`: whether an interruption cancels it (see `GraphRunOptions.cancelledWith`). */
      readonly cancelledWith?: (() => boolean) | undefined
      /** Its caller commits after it ends (see `ResumeOptions.parentCommits`). */
      readonly parentCommits?: boolean | undefined
      /** Its parent step makes its last commit (see `ResumeOptions.commitWithParent`). */
      readonly commitWithParent?: ((commits: ReadonlyArray<HandedCommit>) => void) | undefined
      /** Answer its calls from a recording (a replay's new child run; see `ResumeOptions.replay`). */
      readonly replay?: ReplaySource | undefined
    }
  ) => Effect.Effect<GraphRun.GraphRun<R>, never, Checkpointer>
  /**
   * Reload a persisted run for this graph and return a handle that continues it. An answer
   * (`response`) refused here, or by the handle's `start()` (another answer took the wait
   * over first), writes one `answer.refused` record to the `AuditSink` (see `answerRefused.ts`).
   */
  readonly resume: (
    runId: string,
    options?: ResumeOptions
  ) => Effect.Effect<GraphRun.GraphRun<R>, CheckpointError | RunStateError | StateValidationError | LanguageModelError, Checkpointer>
  /**
   * Check an answer for the interrupt run `runId` waits at (in a child run too, when it
   * waits for one) without changing anything: what `resume` with that response would refuse.
   * A run that is not awaiting input passes.
   */
  readonly checkResponse: (runId: string, value: unknown) => Effect.Effect<void, StateValidationError | CheckpointError, Checkpointer>
  /**
   * Edit the state of a stopped run (`paused`, or `awaiting-input`: a breakpoint, an
   * interrupt) in place, LangGraph's `update_state`: `values` are one write through each
   * field's reducer, committed as a step of its own (`__update__`), and the run goes on
   * from where it stopped when resumed (see `updateState.ts`). Any other status, or a run a
   * live process holds, is a `RunStateError`; values the state schema refuses are a
   * `StateValidationError` naming the field. Nothing is written when it fails.
   */
  readonly updateState: (
    runId: string,
    values: { readonly [field: string]: unknown },
    options?: UpdateStateOptions
  ) => Effect.Effect<StateUpdate, UpdateStateError, Checkpointer>
  /**
   * The same graph with other versions of its governance packs (by pack id, `*` for
   * every pack): what a counterfactual fork with a `rule_pack_version` runs.
   */
  readonly withPackVersions: (versions: { readonly [packId: string]: string }) => Effect.Effect<Graph<R>, GraphError>
}

/** `"1.1.0"` (every pack) or `"a@1.1.0,b@2.0"` as pack versions by id. */
export const packVersions = (spec: string): { readonly [packId: string]: string } =>
  Object.fromEntries(spec.split(",").map((part) => part.trim()).filter((p) => p !== "").map((part) => {
    const at = part.lastIndexOf("@")
    return at > 0 ? [part.slice(0, at), part.slice(at + 1)] : ["*", part]
  }))

/** The pack versions a fork's stored mutation asks for, if any. */
const forkPackVersions = (mutation: unknown): { readonly [packId: string]: string } | undefined => {
  const version = mutation !== null && typeof mutation === "object" ? (mutation as { readonly rule_pack_version?: unknown }).rule_pack_version : undefined
  return typeof version === "string" && version !== "" ? packVersions(version) : undefined
}

/** How to build a graph. */
export interface MakeOptions {
  /** File the IR came from (for error messages, module paths and `resume`). */
  readonly file?: string | undefined
  /** Folder that module paths are relative to (default: the file's folder, or cwd). */
  readonly baseDir?: string | undefined
  /** Module namespaces by the specifier written in the IR, instead of importing them. */
  readonly modules?: { readonly [specifier: string]: ModuleNamespace } | undefined
  /**
   * Extra folders node, router and state-schema modules and `subgraph` specs may come
   * from. By default a module or child graph must resolve inside the graph file's folder
   * tree (a graph cannot import `../../etc/passwd` or an absolute path). The folders of
   * `STARGRAPH_MODULE_ROOTS` (see `envModuleRoots`) are added to these; a graph's child
   * graphs are loaded with the same roots.
   */
  readonly moduleRoots?: ReadonlyArray<string> | undefined
  /** Largest graph file accepted, in bytes (default 1 MiB, or STARGRAPH_MAX_GRAPH_BYTES). */
  readonly maxGraphBytes?: number | undefined
  /** Where governance packs are found and which signing keys are trusted (see fathom/packs). */
  readonly packs?: PackOptions | undefined
  /** Override the IR's `max_steps` (a `subgraph` node's `config.max_steps` does this for its child). */
  readonly maxSteps?: number | undefined
  /** Graph files that contain this one through `subgraph` nodes (a graph that contains itself is refused). */
  readonly ancestors?: ReadonlyArray<string> | undefined
}

const routerRefs = (ir: IRDocument) =>
  ir.edges.flatMap((edge, i) =>
    "router" in edge ? [{ nodeId: `edges[${i}].router`, module: edge.router.module, exportName: edge.router.export }] : []
  )

const build = (
  written: IRDocument,
  source: IRSource,
  options: MakeOptions,
  lm?: GraphModel | undefined
): Effect.Effect<Graph, GraphError> =>
  Effect.gen(function*() {
    const baseDir = options.baseDir ?? (options.file ? dirname(resolve(options.file)) : process.cwd())
    const roots = [baseDir, ...(options.moduleRoots ?? []), ...envModuleRoots()]
    const namespaces = new Map<string, ModuleNamespace>()
    const moduleHashes: Record<string, string> = {}
    // `hashKey`: the name the module's hash is folded in under when `module` is an absolute
    // path found on this machine (a package's kind), so the hash does not depend on where
    // the project lives.
    const resolveModule = (ref: { nodeId: string; module: string; exportName: string }, moduleRoots: ReadonlyArray<string> = roots, hashKey?: string) =>
      Effect.gen(function*() {
        const known = namespaces.get(ref.module)
        if (known) return known
        const provided = options.modules?.[ref.module]
        const loaded = provided ? { namespace: provided, hash: providedModuleHash(provided) } : yield* loadModule(baseDir, ref, { graphFile: options.file, roots: moduleRoots })
        namespaces.set(ref.module, loaded.namespace)
        moduleHashes[hashKey ?? ref.module] = loaded.hash
        return loaded.namespace
      })
    const exported = (ref: { nodeId: string; module: string; exportName: string }, naming?: ExportNaming) =>
      Effect.flatMap(resolveModule(ref), (ns) => pickExport(ns, ref, naming))

    // Structure first (no I/O): only a module-defined state schema must be loaded before it.
    const stateSource = stateSchemaSource(written.state_schema, written.state_class)
    if (Either.isLeft(stateSource)) return yield* irError(source, stateSource.left.path, stateSource.left.message, stateSource.left.fix)
    const spec = stateSource.right
    const compiled: Either.Either<CompiledStateSchema, CompileProblem> = spec._tag === "module"
      ? yield* Effect.gen(function*() {
        const ref = { nodeId: spec.path[0] === "state_class" ? "state_class" : "state_schema", module: spec.module, exportName: spec.export }
        return compileModuleSchema(yield* exported(ref, spec.path[0] === "state_class" ? "reference" : "field"), spec.reducers, spec.path)
      })
      : compileInline(spec._tag === "inline" ? spec.fields : {})
    if (Either.isLeft(compiled)) {
      return yield* irError(source, compiled.left.path, compiled.left.message, compiled.left.fix)
    }
    const state = compiled.right

    // Every node decoded by its kind.
    const { decoded, specs } = yield* decodeNodes(written, source, { baseDir, resolveModule })
    const ir: IRDocument = specs === written.nodes ? written : { ...written, nodes: specs }
    const structure = yield* buildTopology(ir, state.fields, source)
    const topology = options.maxSteps === undefined ? structure : { ...structure, maxSteps: options.maxSteps }
    const declared = listSome(state.fields.keys())
    const checkContext = { fields: state.fields, nodes: new Set(topology.nodes.keys()), declared }
    for (const [i, node] of decoded.entries()) {
      const problem = node.check(checkContext)
      if (problem) return yield* irError(source, ["nodes", i, ...problem.path], problem.message, problem.fix)
      for (const ref of node.modules) yield* resolveModule({ nodeId: node.id, ...ref })
    }
    for (const ref of routerRefs(ir)) yield* resolveModule(ref)

    const nodes = new Map<string, CompiledNode>()
    const kindHashes: Record<string, string> = {}
    const children = new Map<string, ChildGraph>()
    const childrenByNode = new Map<string, ChildGraph>()
    for (const [i, node] of decoded.entries()) {
      const compiledNode = yield* node.compile({
        ...checkContext,
        graphId: ir.id,
        file: options.file,
        baseDir,
        exported: (ref, naming) => exported({ nodeId: node.id, ...ref }, naming),
        invalid: (path, message, fix) => irError(source, ["nodes", i, ...path], message, fix),
        subgraph: (path, { at, maxSteps }) => {
          const key = `${path}|${maxSteps ?? ""}`
          const known = children.get(key)
          const found = known !== undefined ? Effect.succeed(known) : Effect.tap(
            loadChild(path, maxSteps, {
              parentFile: options.file,
              baseDir,
              roots,
              ancestors: options.ancestors ?? [],
              source,
              at: ["nodes", i, ...at],
              build: (file, ancestors, steps) =>
                load(file, { packs: options.packs, moduleRoots: options.moduleRoots, maxGraphBytes: options.maxGraphBytes, maxSteps: steps, ancestors })
            }),
            (child) => Effect.sync(() => children.set(key, child))
          )
          return Effect.tap(found, (child) => Effect.sync(() => childrenByNode.set(node.id, child)))
        }
      })
      nodes.set(node.id, compiledNode)
      for (const [key, hash] of Object.entries(compiledNode.hashes ?? {})) kindHashes[`${node.id}:${key}`] = hash
    }
    const routers = new Map<number, RouterFunction>()
    for (const [i, edge] of ir.edges.entries()) {
      if ("router" in edge) {
        const ref = { nodeId: `edges[${i}].router`, module: edge.router.module, exportName: edge.router.export }
        routers.set(i, yield* Effect.flatMap(exported(ref), (v) => asFunction<RouterFunction>(v, ref)))
      }
    }

    const packs = loadPacks(ir.governance, options.file, options.packs ?? {})
    if (Either.isLeft(packs)) return yield* packs.left
    const rules = compileProgram({ ir, topology, fields: state.fields, packs: packs.right, source })
    if (Either.isLeft(rules)) return yield* rules.left
    const packHashes = Object.fromEntries(packs.right.map((p) => [`${p.id}@${p.version}`, p.hash]))

    const definition: GraphDefinition = {
      id: ir.id,
      ir,
      graphHash: graphHash(Schema.encodeSync(IRDocument)(ir), state.jsonSchema, { ...moduleHashes, ...kindHashes }, packHashes),
      runtimeHash: runtimeHash(),
      state,
      topology,
      nodes,
      routers,
      rules: rules.right,
      source: options.file ? resolve(options.file) : undefined,
      ...(lm !== undefined ? { lm } : {})
    }
    return withRuns(definition, childrenByNode, (versions) => build(ir, source, { ...options, packs: { ...options.packs, versionOverrides: { ...options.packs?.versionOverrides, ...versions } } }, lm))
  }).pipe(
    // Every module error names the graph file that referenced the module.
    Effect.mapError((error) =>
      error._tag === "NodeModuleError" && error.file === undefined && options.file !== undefined
        ? new NodeModuleError({
          nodeId: error.nodeId,
          module: error.module,
          exportName: error.exportName,
          reason: error.reason,
          message: error.message,
          fix: error.fix,
          file: options.file
        })
        : error
    )
  )

const decodeInitial = (definition: GraphDefinition) => {
  const decode = Schema.decodeUnknownEither(definition.state.schema, { onExcessProperty: "error" })
  const encode = Schema.encodeEither(definition.state.schema)
  return (inputs: { readonly [field: string]: unknown }): Either.Either<State, StateValidationError> => {
    for (const [k, v] of Object.entries(inputs)) {
      const problem = checkJson(v, k)
      if (problem) return Either.left(new StateValidationError({ source: "inputs", field: problem.path, message: fieldProblem("inputs", problem.path, problem.message) }))
    }
    const fast = definition.state.initialState?.(inputs)
    if (fast !== undefined) return Either.right(fast)
    const invalid = (error: ParseResult.ParseError) => {
      const issue = firstIssue(error)
      const field = (issue?.path ?? []).map(String).join(".") || "<inputs>"
      const declared = listSome([...definition.state.fields.values()].map((f) => `${f.name}${declaredAs(f) !== undefined ? `: ${declaredAs(f)}` : ""}`))
      const takes = declaredAt(definition.state.fields.get(String(issue?.path[0] ?? "")), issue?.path.slice(1) ?? [])
      const missing = issue?.message === "is missing"
      return new StateValidationError({
        source: "inputs",
        field,
        message: `${fieldProblem("inputs", field, issue?.message ?? "is invalid")} (state fields: ${declared})`,
        fix: missing
          ? `pass it: --inputs ${field}=<value> on the CLI, or "params": {"${field}": …} in POST /v1/runs`
          : issue?.message.startsWith("is unexpected") === true
          ? `leave out '${field}' (it is not a state field), or declare it in the state schema`
          : declaredTypeFix(field, takes)
      })
    }
    return decode(inputs).pipe(
      Either.flatMap((decoded) => (definition.state.decodedIsJson === true ? Either.right(decoded) : encode(decoded))),
      Either.mapLeft(invalid),
      Either.map((s) => s as State)
    )
  }
}

/** What `resume` learnt of an answer it refuses, for its `answer.refused` record. */
interface Refusing {
  /** The run as read. */
  run: RunRecord | undefined
  /** Why, where the refusal said it. */
  reason: AnswerRefusedReason | undefined
  /** Handed to the graph on the fork's pack versions, whose `resume` writes the record. */
  delegated: boolean
}

const withRuns = (definition: GraphDefinition, children: ReadonlyMap<string, ChildGraph>, withPackVersions: Graph["withPackVersions"]): Graph => {
  const initialState = decodeInitial(definition)
  // What needs a model from where a run is driven: read once here, checked per start or resume.
  const needsModel = nodesNeedingModel(definition.nodes)

  // Only a graph whose nodes name `std.graph_invoke` (a tool node's `tool`, an agent's
  // `tools`) gets the live invoker: providing it costs every run about 25 operations.
  const callsGraphs = definition.ir.nodes.some((node) => JSON.stringify(node).includes("graph_invoke"))

  // One context read for them all (an `Effect.all` of them costs several µs a run).
  const services = Effect.contextWith((context: Context.Context<Checkpointer>) => ({
    checkpointer: Context.get(context, Checkpointer),
    loop: Context.get(context, RunLoop),
    audit: Context.get(context, AuditSink),
    defaultModel: recordIn(context),
    // The live invoker for `std.graph_invoke`, unless the caller provides one (a child run's caller, its parent's node, has it).
    invoker: !callsGraphs || Option.isSome(Context.getOption(context, GraphInvoker.GraphInvoker)) ? undefined : invoker
  }))

  const decodeState = Schema.decodeUnknownEither(definition.state.schema, { onExcessProperty: "error" })

  /** The child run (and its graph) `run` waits for, when a `subgraph` node's child (or a `map` node's item's) asked for input. */
  const waitedChild = (run: RunRecord): { readonly child: ChildGraph; readonly runId: string } | undefined => {
    const child = run.waiting === null ? undefined : children.get(run.waiting.node)
    const runId = waitedChildId(run)
    return child !== undefined && runId !== undefined ? { child, runId } : undefined
  }

  /**
   * Refuse an answer that cannot answer the interrupt `run` waits at, before anything
   * changes: it must be JSON and fit the field it is written to; a run waiting for its
   * child run (a `subgraph` node) hands it to the child graph, which checks it against the
   * child's own interrupt.
   */
  const checkWaiting = (checkpointer: CheckpointerShape, run: RunRecord, state: State, value: unknown): Effect.Effect<void, StateValidationError | CheckpointError> => {
    const waiting = run.waiting
    if (waiting === null) return Effect.void
    const waited = waitedChild(run)
    if (waited !== undefined) {
      const childRunId = waited.runId
      const item = waiting.payload?.["item"]
      const via = definition.topology.nodes.get(waiting.node)?.kind === "map" && typeof item === "number"
        ? `map node '${waiting.node}' (item ${item})`
        : `subgraph node '${waiting.node}'`
      return waited.child.checkResponse(childRunId, value).pipe(
        Effect.provideService(Checkpointer, checkpointer),
        Effect.mapError((e) =>
          // `nodeId` and `field` stay the innermost interrupt's; the message names each level's
          // own waiting node (the child's subgraph node, when it waits for a grandchild).
          e._tag === "StateValidationError"
            ? new StateValidationError({
              source: e.source,
              field: e.field,
              nodeId: e.nodeId,
              step: e.step,
              message: `${e.message} (the answer goes to child run ${childRunId} of ${via}, which waits at its node '${childNodeOf(waiting) ?? e.nodeId ?? "?"}')`,
              fix: e.fix
            })
            : e
        )
      )
    }
    const field = waiting.response_field
    const type = declaredAs(definition.state.fields.get(field))
    const refused = (path: string, message: string) =>
      Effect.fail(
        new StateValidationError({
          source: "response",
          field: path,
          nodeId: waiting.node,
          step: waiting.step,
          message: field === "" ? `the response is not JSON: ${message}` : `the response does not fit field '${field}': ${message}`,
          fix: `answer with ${field === "" ? "any JSON value" : `a value of the field's declared type${type !== undefined ? ` (${type})` : ""}`}: ` +
            `--response '<JSON>' on the CLI, {"response": <JSON>} in POST /v1/runs/{id}/respond`
        })
      )
    const problem = checkJson(value, field === "" ? "response" : field)
    if (problem) return refused(problem.path, problem.message)
    if (field === "") return Effect.void
    return Either.match(decodeState({ ...state, [field]: value }), {
      onLeft: (e) => {
        const issue = firstIssue(e)
        return refused(issue === undefined || issue.path.length === 0 ? field : issue.path.map(String).join("."), issue?.message ?? "invalid")
      },
      onRight: () => Effect.void
    })
  }

  /** The child run `run` waits for (its subgraph node's interrupt), if it no longer waits. */
  const settledChild = (checkpointer: CheckpointerShape, run: RunRecord): Effect.Effect<{ readonly runId: string; readonly status: string } | undefined, CheckpointError> => {
    const waited = waitedChild(run)
    if (waited === undefined) return Effect.succeed(undefined)
    return Effect.map(checkpointer.getRun(waited.runId), (child) =>
      Option.isSome(child) && child.value.status !== "awaiting-input" ? { runId: waited.runId, status: child.value.status } : undefined)
  }

  const checkResponse: Graph["checkResponse"] = (runId, value) =>
    Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const run = yield* checkpointer.getRun(runId)
      if (Option.isNone(run) || run.value.status !== "awaiting-input") return
      const latest = yield* checkpointer.latestCheckpoint(runId)
      if (Option.isNone(latest)) return
      yield* checkWaiting(checkpointer, run.value, latest.value.state, value)
    })

  // No Effect.gen (4-5 µs each here): a child run is made on every parent step that reaches its node.
  const newRun: Graph["newRun"] = (options = {}) =>
    Effect.suspend(() =>
      Either.match(initialState(options.inputs ?? {}), {
        onLeft: (error) => Effect.fail(error),
        onRight: (state) => Effect.map(nowIso, (at) => newRunOf(definition, state, { ...options, inputs: options.inputs ?? {} }, at))
      })
    )

  const start: Graph["start"] = (options = {}) =>
    Effect.gen(function*() {
      const breakpoints = yield* resolveBreakpoints({ before: options.interruptBefore, after: options.interruptAfter }, definition.topology.nodes.keys(), START_FIELDS)
      // A live language-model node without a model would fail only when reached: refused
      // before the run is created (a node the run pauses before can get one on resume).
      yield* checkNeeding(reachedBefore(needsModel, breakpoints?.before))
      const { audit, checkpointer, defaultModel, invoker, loop } = yield* services
      const fields = { inputs: options.inputs ?? {}, idempotencyKey: options.idempotencyKey, actor: options.actor, breakpoints, defaultModel }
      const threadId = options.threadId
      const skipFailed = yield* checkSkipFailed(options.skipFailed, threadId)
      const prepared = threadId === undefined
        ? yield* newRun(fields)
        : yield* threadRun({ ...definition, initialState }, { ...fields, threadId, skipFailed })
      const { created, record: run } = yield* checkpointer.createRun(prepared).pipe(
        Effect.catchAll(threadId === undefined ? Effect.fail : explainMoved(checkpointer, threadId, definition.id, skipFailed))
      )
      if (!created) {
        // Another request under a held key (another graph, params, thread, skip_failed or breakpoints) says what differs.
        const difference = requestDifference(run, prepared)
        if (difference !== undefined) return yield* keyReused(options.idempotencyKey, run, prepared, difference, "start")
        return yield* new RunStateError({
          runId: run.run_id,
          status: run.status,
          operation: "start",
          message: `idempotency key '${options.idempotencyKey}' already belongs to run ${run.run_id}; ` +
            "resume that run, or enqueue through the Scheduler, which returns the existing run"
        })
      }
      return yield* GraphRun.make({
        graph: definition,
        run,
        checkpoint: { ...prepared.initial, run_id: run.run_id },
        response: undefined,
        checkpointer,
        loop,
        audit,
        invoker,
        actor: options.actor ?? "library"
      })
    })

  const open: Graph["open"] = (run, checkpoint, options = {}) =>
    Effect.flatMap(services, ({ audit, checkpointer, invoker, loop }) =>
      GraphRun.make({
        graph: definition,
        run,
        checkpoint,
        response: undefined,
        checkpointer,
        loop,
        audit,
        invoker,
        actor: options.actor ?? run.actor ?? "library",
        retainEvents: options.retainEvents,
        onCallerFiber: options.onCallerFiber,
        cancelledWith: options.cancelledWith,
        parentCommits: options.parentCommits,
        commitWithParent: options.commitWithParent,
        replay: options.replay
      }))

  /**
   * `resume`, refusing an answer with an `answer.refused` audit record (see
   * `answerRefused.ts`): one per refused answer, the refusal itself unchanged.
   */
  const resume: Graph["resume"] = (runId, options = {}) => {
    const response = options.response
    if (response === undefined) return resumeRun(runId, options, undefined)
    const refusing: Refusing = { run: undefined, reason: undefined, delegated: false }
    return resumeRun(runId, options, refusing).pipe(
      Effect.tapError((error) =>
        (error._tag === "RunStateError" || error._tag === "StateValidationError") && !refusing.delegated && refusing.run !== undefined
          ? Effect.flatMap(services, ({ audit }) =>
            auditAnswerRefused(audit, {
              runId,
              // As its drive's records would name it (see `GraphRun.make` below).
              actor: options.actor ?? refusing.run?.actor ?? "library",
              value: response.value,
              waitId: options.waitId,
              run: refusing.run,
              reason: refusing.reason ?? (error._tag === "StateValidationError" ? "invalid-value" : "other"),
              error
            }))
          : Effect.void
      )
    )
  }

  const resumeRun = (runId: string, options: ResumeOptions, refusing: Refusing | undefined) =>
    Effect.gen(function*() {
      const { audit, checkpointer, invoker, loop } = yield* services
      const run = yield* Effect.flatMap(checkpointer.getRun(runId), Option.match({
        onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId, message: `no run '${runId}' in this checkpoint database` })),
        onSome: Effect.succeed
      }))
      if (refusing !== undefined) refusing.run = run
      /** `error`, an answer refused for `reason` (its audit record's). */
      const refusedAs = <E>(reason: AnswerRefusedReason, error: E) =>
        Effect.suspend(() => {
          if (refusing !== undefined) refusing.reason = reason
          return Effect.fail(error)
        })
      // An answer naming a wait the run is no longer at, or to a question another process or
      // request answered first: refused, saying who answered and when, whatever graph it ran
      // with (see `refuseStaleAnswer`).
      const stale = options.response === undefined ? undefined : yield* refuseStaleAnswer(checkpointer, run, options.waitId, "resume")
      if (stale !== undefined) return yield* refusedAs(stale.reason, stale.error)
      // A run that ended can never be resumed: said first, whatever graph it ran with.
      // `error` is the runtime's failure (a checkpoint write failed, e.g. a database locked
      // too long), not the run's: its committed steps are intact, so it resumes from them.
      if (TERMINAL_STATUSES.has(run.status) && run.status !== "error") {
        return yield* refusedAs(
          "not-waiting",
          new RunStateError({
            runId,
            status: run.status,
            operation: "resume",
            message: `run ${runId} is already ${run.status}; nothing to resume (start a new run, or fork this one with \`stargraph replay\`)`
          })
        )
      }
      // A fork's child run (or theirs) answered or resumed directly, not by its parent: it
      // would have no replay source and run live past the fork's recording. Refused, naming
      // the fork, which passes the answer down (or drives it on) with its replay source.
      if (run.parent_run_id !== null && run.derived_hash === null && options.actor !== childActor(run.parent_run_id)) {
        const fork = yield* forkAbove(checkpointer, run)
        if (fork !== undefined) {
          const parentLast = fork.parent_run_id === null ? undefined : Option.getOrUndefined(yield* checkpointer.latestCheckpoint(fork.parent_run_id))?.step
          return yield* refusedAs("fork-descendant", forkDescendantRefusal(run, fork, options.response !== undefined, forkAnswerNeedsLive(fork, parentLast)))
        }
      }
      // Live calls after a fork asked for a run that is not a fork (no parent's recording:
      // it calls live anyway): refused rather than ignored. (A fork's child answered directly
      // got the refusal above, which names its fork and whether to answer that with them.)
      if (options.liveAfterFork === true && (run.parent_run_id === null || run.derived_hash === null)) {
        return yield* refusedAs("not-a-fork", liveAfterForkRefusal(run, options.response !== undefined))
      }
      // A fork on other pack versions runs (and resumes) with those versions' rules.
      const versions = forkPackVersions(run.mutation)
      if (versions !== undefined && run.graph_hash !== definition.graphHash) {
        const variant = yield* withPackVersions(versions).pipe(Effect.mapError((e) =>
          new CheckpointError({ reason: "graph-hash-mismatch", runId, message: `fork ${runId} runs on pack versions ${JSON.stringify(versions)}, which cannot be loaded: ${e.message}` })
        ))
        if (variant.graphHash !== definition.graphHash) {
          // Its resume writes the refused answer's record, if any.
          if (refusing !== undefined) refusing.delegated = true
          return yield* variant.resume(runId, options)
        }
      }
      let accepted = false
      if (run.graph_hash !== definition.graphHash && options.acceptGraphHash === run.graph_hash && run.graph_id === definition.id) {
        // The operator named the hash the run was started with: it goes on under this graph.
        // Stored only by the take-over that drives it on (nothing when it is refused).
        accepted = true
      }
      if (run.graph_hash !== definition.graphHash && run.graph_id !== definition.id) {
        // Another graph altogether: no hash it could accept (acceptance is for a changed
        // version of the run's own graph), only the run's own graph file resumes it.
        return yield* new CheckpointError({
          reason: "graph-hash-mismatch",
          runId,
          expectedHash: run.graph_hash,
          actualHash: definition.graphHash,
          message: `run ${runId} ran graph '${run.graph_id}', but the graph given is a different graph, '${definition.id}' (another graph file, ` +
            `not a changed version of the run's graph, so no graph hash can be accepted for it): resume it with the run's own graph ` +
            `(the CLI's --graph <the graph.yaml of '${run.graph_id}'>${run.graph_source !== null ? `, recorded as ${run.graph_source}` : ""}; ` +
            `a server with '${run.graph_id}' registered)`
        })
      }
      if (run.graph_hash !== definition.graphHash && !accepted) {
        return yield* new CheckpointError({
          reason: "graph-hash-mismatch",
          runId,
          expectedHash: run.graph_hash,
          actualHash: definition.graphHash,
          message: `run ${runId} was started with a different graph (${run.graph_id}): the graph, its state schema or its node modules changed since, ` +
            "or the Stargraph version that hashed it did. Resume (or replay) it with the graph it ran with: check out the original files and load that graph " +
            "(the CLI's --graph <that graph.yaml>; a server started with it); the changed graph can only start new runs. " +
            `If the files are the same (Stargraph was upgraded) or the run is meant to go on with the changed graph, resume it accepting that hash (the CLI's --accept-graph-hash ${run.graph_hash}; in an app, resume options { acceptGraphHash: "${run.graph_hash}" })`
        })
      }
      if (run.runtime_hash !== definition.runtimeHash && options.allowRuntimeDrift !== true) {
        return yield* new CheckpointError({
          reason: "runtime-hash-mismatch",
          runId,
          expectedHash: run.runtime_hash,
          actualHash: definition.runtimeHash,
          message: `run ${runId} was started under a different Node.js or Stargraph version; pass --allow-runtime-drift to resume anyway`
        })
      }
      const refuse = (message: string) => new RunStateError({ runId, status: run.status, operation: "resume", message })
      const deadline = run.waiting?.deadline
      const timedOut = deadline !== undefined && (yield* Clock.currentTimeMillis) >= Date.parse(deadline)
      // Waiting for a child run that was answered directly: nothing to ask any more.
      const settled = run.status === "awaiting-input" ? yield* settledChild(checkpointer, run) : undefined
      if (settled !== undefined && options.response !== undefined) {
        return yield* refusedAs("not-waiting", refuse(
          `run ${runId} waited for child run ${settled.runId}, which no longer waits for input: ` +
            (settled.status === "cancelled"
              ? `it was cancelled on its own; this answer was not applied: cancel run ${runId} too, or resume it without a response ` +
                `to take the child's outcome (its ${waitedKind(run.waiting)} node '${run.waiting?.node ?? "?"}' fails)`
              : `it was answered or resumed on its own (not through this run) and is now ${settled.status}; this answer was not applied: ` +
                `resume run ${runId} without a response to go on with the child's outcome`)
        ))
      }
      // Paused at a breakpoint: it goes on without an answer, and refuses one (nothing asked).
      const atBreakpoint = run.status === "awaiting-input" && run.waiting?.kind === "breakpoint"
      if (atBreakpoint && options.response !== undefined) {
        return yield* refusedAs("not-waiting", refuse(`run ${runId} is paused at a ${run.waiting?.prompt ?? "breakpoint"}, not waiting for an answer; resume it without a response`))
      }
      if (run.status === "awaiting-input" && options.response === undefined && !timedOut && settled === undefined && !atBreakpoint) {
        return yield* refuse(`run ${runId} is awaiting input at node '${run.waiting?.node}': ${run.waiting?.prompt} (pass a response${deadline !== undefined ? `, or wait until it times out at ${deadline}` : ""})`)
      }
      if (run.status !== "awaiting-input" && options.response !== undefined) {
        return yield* refusedAs("not-waiting", refuse(`run ${runId} is ${run.status}, not awaiting input; resume it without a response`))
      }
      // A child run whose question was already answered through a parent up its chain (the
      // answer kept on that parent while it waits for its turn, and passed down then): a
      // second answer is refused.
      if (options.response !== undefined && run.parent_run_id !== null && run.derived_hash === null && options.actor !== childActor(run.parent_run_id)) {
        let below: RunRecord = run
        while (below.parent_run_id !== null && below.derived_hash === null) {
          const parent = Option.getOrUndefined(yield* checkpointer.getRun(below.parent_run_id))
          if (parent === undefined || waitedChildId(parent) !== below.run_id) break
          if (parent.waiting?.given !== undefined) {
            return yield* refusedAs(
              "answered-first",
              refuse(`run ${runId} was already answered through its parent run ${parent.run_id}, which passes that answer on when it continues; a second answer is refused`)
            )
          }
          below = parent
        }
      }
      if (timedOut && options.response !== undefined) {
        return yield* refusedAs(
          "timed-out",
          refuse(
            `run ${runId} stopped waiting for '${run.waiting?.prompt}' at node '${run.waiting?.node}' at ${deadline}; a late answer is refused ` +
              `(resume it without a response to apply on_timeout: ${run.waiting?.on_timeout ?? "halt"})`
          )
        )
      }
      if (run.status === "running" && run.owner !== null && run.owner !== OWNER && !ownerGone(run.owner, options.takeOver === true)) {
        const lease = leaseState(run.owner)
        return yield* refuse(
          !ownerElsewhere(run.owner)
            ? `run ${runId} is being driven by live process ${run.owner}; wait for it or stop that process first`
            : lease._tag === "Alive"
            ? `run ${runId} is being driven by process ${run.owner} on another host or container, which is alive: its heartbeat goes on (lease ${lease.leaseMs} ms); ` +
              "wait for it, or stop it there"
            : `run ${runId} is being driven by process ${run.owner} on another host or container, whose heartbeat has not been seen to lapse ` +
              "(it has none, being an older Stargraph or a process that does not beat, or it was not watched for a lease); wait for it, " +
              "or watch its heartbeat (stargraph resume does, and takes the run over once its lease lapses), or, if that host or container is gone, " +
              "take the run over (stargraph resume --take-over; in an app, resume options { takeOver: true })"
        )
      }
      const isFork = run.parent_run_id !== null && run.derived_hash !== null
      const checkpoint = yield* Effect.flatMap(checkpointer.latestCheckpoint(runId), Option.match({
        onNone: () => Effect.fail(new CheckpointError({ reason: "no-checkpoint", runId, message: `run ${runId} has no checkpoint to resume from` })),
        onSome: Effect.succeed
      }))
      // A live language-model node it can still reach (its latest checkpoint's frontier: the
      // waiting node's step, and every node the graph lets it go to from there: see
      // `stillReachable`) without a model (none in the context, none on its record) is
      // refused before anything changes. A fork or a replay answers from its cassette; a
      // node the run pauses before (a breakpoint) is not run now, unless the run is resumed
      // from that very breakpoint.
      if (needsModel.length > 0 && options.skipModelCheck !== true && !isFork && options.replay === undefined && (run.default_model ?? null) === null) {
        const waiting = run.waiting
        const resumedBefore = run.status === "awaiting-input" && waiting?.kind === "breakpoint" && waiting.when === "before" ? waiting.node : undefined
        const before = run.breakpoints?.before.filter((id) => id !== resumedBefore)
        const pausedBefore = before !== undefined && before[0] === "*" && resumedBefore !== undefined
          ? [...definition.topology.nodes.keys()].filter((id) => id !== resumedBefore)
          : before
        // The wait it stops at may time out to another node (kept with the wait, whoever asked).
        const reach = reachableFrom(definition, checkpoint.next, waiting)
        // The child run it waits on goes on from where it stopped: its nodes it can still
        // reach count (a `map`'s whole child graph: items not started, or retried, run it all).
        const waitedNode = run.status === "awaiting-input" && waiting !== null && waiting.kind !== "breakpoint" ? waiting.node : undefined
        const waitedChild = waitedNode === undefined ? undefined : definition.nodes.get(waitedNode)?.childGraph
        const childRun = waitedChildId(run)
        const inChild = waitedNode === undefined || waitedChild === undefined || childRun === undefined || !reach.next.has(waitedNode)
          ? []
          : (waitedKind(waiting) === "map" ? waitedChild.needsModel : yield* waitedChild.stillNeeding(childRun)).map((id) => `${waitedNode}/${id}`)
        const needing = reachedBefore([...new Set([...reachableNeeding(needsModel, reach), ...inChild])], pausedBefore)
        const how = needing[0] !== undefined && reach.next.has(needing[0])
          ? "runs it next"
          : reach.later === "any"
          ? "may reach it (its rules choose where it goes as it runs)"
          : "may reach it after the nodes it runs next"
        yield* checkNeeding(needing, options.noModelFix, `run ${runId} ${how}, so it was not resumed (nothing was changed)`, "resume")
      }
      if (options.response !== undefined) yield* checkWaiting(checkpointer, run, checkpoint.state, options.response.value)
      // A fork resumed with live calls allowed keeps that for every later resume (a crash, a
      // pause): stored by the write that takes it over to drive it on, never before (a
      // refusal, here or by that write, changes nothing).
      const keepLiveAfterFork = isFork && options.liveAfterFork === true && !run.live_after_fork && options.replay === undefined
      const source = options.replay ?? (isFork
        ? yield* forkReplaySource(definition, run, options.liveAfterFork === true || run.live_after_fork).pipe(Effect.provideService(Checkpointer, checkpointer))
        : undefined)
      // A fork answered: a divergence past the answer names how a waiting fork is answered with live calls allowed.
      // Answered where its parent's recording ends (the parent still waits there, or stopped
      // before answering), a fork that may not call live takes the answer all the same: the
      // nodes after it run against the recording as far as they make no call it cannot
      // answer (a node that calls nothing needs no live call); the first call past it fails
      // the fork with a `ReplayDivergenceError` naming `--live-after-fork` (see `Cassette.begin`).
      // (Answered here, or queued with its answer kept on its record: a server's respond.)
      const carriesAnswer = run.status !== "awaiting-input" && run.waiting?.given !== undefined && run.waiting.kind !== "breakpoint"
      const replay = source !== undefined && isFork && (options.response !== undefined || carriesAnswer) ? { ...source, answered: true } : source
      const handle = yield* GraphRun.make({
        graph: definition,
        run,
        checkpoint,
        response: options.response !== undefined && options.waitId !== undefined ? { ...options.response, waitId: options.waitId } : options.response,
        checkpointer,
        loop,
        audit,
        invoker,
        // Whoever drives it now, its audit lines name who started it unless told otherwise.
        actor: options.actor ?? run.actor ?? "library",
        replay,
        onCallerFiber: options.onCallerFiber,
        cancelledWith: options.cancelledWith,
        parentCommits: options.parentCommits,
        commitWithParent: options.commitWithParent,
        startedBefore: options.startedBefore,
        takenOver: options.takenOver,
        graphHashAccepted: accepted,
        keepLiveAfterFork
      })
      // A child run answered directly (not through its parent) that asks again: the runs
      // waiting on it show its new question.
      const answeredDirectly = run.parent_run_id !== null && run.derived_hash === null && options.actor !== childActor(run.parent_run_id)
      return answeredDirectly
        ? { ...handle, start: () => Effect.tap(handle.start(), (summary) => askedAgain(checkpointer, summary)) }
        : handle
    })

  const updateState: Graph["updateState"] = (runId, values, options) => editState(definition, runId, values, options)

  return { ...definition, needsModel, initialState, newRun, start, open, resume, checkResponse, updateState, withPackVersions }
}

/**
 * What the exports of `modules` need from the context they run in: the `R` of every
 * export that returns an Effect (a `NodeFunction<E, R>`, a router), `never` for the rest.
 */
export type ModulesRequirements<M> = M extends { readonly [specifier: string]: infer Namespace }
  ? EffectRequirements<ReturnOf<Namespace extends { readonly [name: string]: infer Export } ? Export : never>>
  : never

/** Module namespaces an app gives by specifier (`MakeOptions.modules`). */
export type GivenModules = { readonly [specifier: string]: ModuleNamespace }

type ReturnOf<F> = F extends (...args: never) => infer Returned ? Returned : never
type EffectRequirements<T> = T extends Effect.Effect<infer _A, infer _E, infer R> ? R : never

/**
 * Build a graph from an IR object (decoded with unknown fields rejected). The graph's
 * runs need what the `modules` given need (`Graph<R>`): an app provides it to the Effect
 * that drives them.
 */
export const make = <const M extends GivenModules = Record<never, never>>(
  ir: unknown,
  options: MakeOptions & { readonly modules?: M | undefined } = {}
): Effect.Effect<Graph<ModulesRequirements<M>>, GraphError> =>
  Effect.flatMap(decodeDocument(ir, { file: options.file }), (parsed) => build(parsed.ir, parsed.source, options, parsed.lm))

/** Build a graph from YAML text; as {@link make}, its runs need what the `modules` given need. */
export const fromYaml = <const M extends GivenModules = Record<never, never>>(
  text: string,
  options: MakeOptions & { readonly modules?: M | undefined } = {}
): Effect.Effect<Graph<ModulesRequirements<M>>, GraphError> =>
  Effect.suspend(() =>
    Effect.flatMap(parseIR(text, options.file, { maxBytes: maxGraphBytes(options.maxGraphBytes) }), ({ ir, source, lm }) => build(ir, source, options, lm))
  )

/** How `load` builds a graph from a file (every {@link MakeOptions} but the file). */
export type LoadOptions = Omit<MakeOptions, "file">

/**
 * The refusal of a folder given as a graph file, with the graph in it as the fix: its
 * `graph.yaml`, else its one YAML graph (a `.yaml`/`.yml` file with `ir_version`), else
 * the graphs it holds, if any.
 */
const folderGiven = (folder: string): IRValidationError => {
  const yamls = (() => {
    try {
      return readdirSync(folder, { withFileTypes: true })
        .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
        .map((e) => e.name)
        .sort()
    } catch {
      return []
    }
  })()
  const isGraph = (name: string) => {
    try {
      return isGraphText(readFileSync(join(folder, name), "utf8"))
    } catch {
      return false
    }
  }
  const graphs = yamls.includes("graph.yaml") ? ["graph.yaml"] : yamls.filter(isGraph)
  return new IRValidationError({
    file: folder,
    path: "",
    message: `${folder} is a folder, not a graph file`,
    fix: graphs.length === 1
      ? `pass the graph file in it: ${join(folder, graphs[0]!)}`
      : graphs.length > 1
      ? `pass one of the graph files in it: ${listSome(graphs.map((g) => join(folder, g)))}`
      : "pass the path of a graph file (a YAML file with ir_version), e.g. path/to/graph.yaml"
  })
}

/** Read a YAML graph file and build it; node modules are resolved beside it. */
export const load = (file: string, options: LoadOptions = {}): Effect.Effect<Graph, GraphError> =>
  Effect.flatMap(
    Effect.try({
      try: () => {
        // Refuse an oversize file before reading it (parseIR checks the text as well).
        const limit = maxGraphBytes(options.maxGraphBytes)
        const stat = statSync(file)
        if (stat.isDirectory()) return { folder: true } as const
        return stat.size > limit ? { size: stat.size, limit } : readFileSync(file, "utf8")
      },
      catch: (cause) =>
        new IRValidationError({
          file,
          path: "",
          message: `cannot read the graph file: ${cause instanceof Error ? cause.message : String(cause)}`,
          fix: "pass the path of an existing graph.yaml"
        })
    }),
    (text) =>
      typeof text === "string"
        ? fromYaml(text, { ...options, file })
        : "folder" in text
        ? Effect.fail(folderGiven(file))
        : Effect.fail(graphTooLarge(file, text.size, text.limit))
  )

/**
 * The live invoker behind `std.graph_invoke@1`: it runs graph files with this module's
 * `load` (src/nodes cannot import it). Every run a graph drives provides it to its nodes,
 * unless the run's caller provides its own `GraphInvoker`; provide it yourself only to call
 * the tool outside a run.
 */
export const invoker: GraphInvoker.GraphInvokerShape = makeInvoker((file) => load(file))
