/**
 * Counterfactual forks: copy a parent run's checkpoints up to the fork step, apply the
 * mutation there, and continue with the current graph, answering every recorded call
 * from the parent's cassette. The fork is a new run (`cf-<uuid>`) with the parent and
 * fork step on its record and `derived_hash` = sha256(parent graph_hash, fork step,
 * canonical mutation). A fork of a fork works the same way. Every input is validated
 * before anything is written.
 */
import { currentRecord } from "../nodes/lm/DefaultModel.js"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import { type Checkpoint, type RunSummary, toSummary } from "../checkpoint/models.js"
import { CheckpointError, InputError, type RuleError, type RunStateError, type StargraphError, StateValidationError } from "../errors.js"
import { type Graph, packVersions } from "../graph/Graph.js"
import type { GraphDefinition } from "../runtime/GraphDefinition.js"
import type { GraphRun } from "../graph/GraphRun.js"
import { checkJson } from "../ir/json.js"
import { actorOf } from "../runtime/answeredBy.js"
import { nowIso, OWNER } from "../runtime/RunLoop.js"
import type { FactsSnapshot } from "../fathom/facts.js"
import { RuleEngine } from "../fathom/RuleEngine.js"
import { assertEvidence, assertToolFacts } from "../fathom/RuleSession.js"
import { declaredAs, declaredTypeFix, type State, undeclaredFieldFix } from "../ir/stateSchema.js"
import { type CounterfactualMutation, decodeMutation, derivedHash } from "../runtime/Mutation.js"
import { evaluateRouters, route } from "../runtime/routing.js"
import { toErrorRecord } from "../runtime/errorRecord.js"
import { replaySource } from "../runtime/replaySource.js"
import { type BreakpointFields, type BreakpointNodes, resolveBreakpoints } from "../runtime/breakpoints.js"
import { diffRuns, type RunDiff } from "./RunDiff.js"
import { checkOutputOverrides, checkOverriddenNodes, packLoadError } from "./checkMutation.js"
import { firstIssue } from "../ir/parseIssue.js"

/** How to fork. */
export interface ForkOptions {
  /** Step whose (mutated) state the fork continues from (default 0). */
  readonly fromStep?: number | undefined
  /** A `CounterfactualMutation` (raw JSON; decoded and validated here). */
  readonly mutation?: unknown | undefined
  /** Escape hatch: answer calls the cassette cannot with live calls instead of failing. */
  readonly liveAfterFork?: boolean | undefined
  readonly actor?: string | undefined
  /**
   * The fork's own breakpoints (see `StartOptions.interruptBefore`): a fork does not inherit
   * its parent's (as LangGraph's forks do not), and pauses only where these say.
   */
  readonly interruptBefore?: BreakpointNodes | undefined
  readonly interruptAfter?: BreakpointNodes | undefined
  /** How the breakpoint options are named in an error (default `interrupt_before`, `interrupt_after`). */
  readonly breakpointFields?: BreakpointFields | undefined
  /**
   * The fork's step budget: the most steps it may take after its fork step (replayed and
   * live alike), a whole number ≥ 1 (default none: only the graph's `max_steps`). Past it
   * the fork fails with `StepLimitError`, its steps kept. Kept on the fork's record for
   * every later resume; not part of `derived_hash`. A fork of a fork given none takes its
   * parent fork's, counted from its own fork step (the same number of steps after it).
   */
  readonly maxSteps?: number | undefined
  /** How the budget is named in an error (default `max_steps`; the CLI's `--max-steps`). */
  readonly maxStepsField?: string | undefined
}

/** A fork's step budget checked: a whole number ≥ 1, else an `InputError` naming `field`. */
const checkMaxSteps = (maxSteps: unknown, field: string): Effect.Effect<number | undefined, InputError> =>
  maxSteps === undefined || (typeof maxSteps === "number" && Number.isSafeInteger(maxSteps) && maxSteps >= 1)
    ? Effect.succeed(maxSteps)
    : Effect.fail(
      new InputError({
        field,
        message: `${typeof maxSteps === "number" ? String(maxSteps) : JSON.stringify(maxSteps) ?? typeof maxSteps} is not a whole number ≥ 1`,
        fix: `give ${field} a whole number ≥ 1: the most steps the fork may take after its fork step (e.g. ${field.startsWith("--") ? `${field} 50` : `${field}: 50`}), or leave it out for none but the graph's max_steps`
      })
    )

/** What a fork produced. */
export interface ForkResult {
  readonly cfRunId: string
  readonly derivedHash: string
  readonly summary: RunSummary
  readonly diff: RunDiff
  /** Why the fork's run failed, when it did (e.g. a `ReplayDivergenceError`). */
  readonly error?: StargraphError | undefined
}

/**
 * The fork step's routing decided again: from the working memory after the step before
 * it (fresh at step 0), with `facts_retract` and `facts_assert` applied, over the mutated
 * state and the fork graph's rules. Nothing to redo (the parent's step as it is) when
 * the mutation changes neither state, facts nor rules.
 */
/** The working memory a fresh run of `graph` starts with (what a step-0 checkpoint without facts stands for). */
const freshFacts = (graph: GraphDefinition): Effect.Effect<FactsSnapshot, RuleError> =>
  Effect.flatMap(RuleEngine, (engine) =>
    Effect.map(engine.open(graph.rules), (session) => {
      const facts = session.snapshot()
      engine.release(session)
      return facts
    }))

const reroute = (
  graph: GraphDefinition,
  checkpoints: ReadonlyArray<Checkpoint>,
  base: Checkpoint,
  state: State,
  mutation: CounterfactualMutation
): Effect.Effect<Partial<Checkpoint>, InputError | RuleError> =>
  Effect.gen(function*() {
    const changed = Object.keys(mutation.state_overrides).length > 0 || mutation.facts_assert.length > 0 ||
      mutation.facts_retract.length > 0 || mutation.rule_pack_version !== undefined
    if (!changed) return {}
    const executed = base.nodes.filter((n) => graph.topology.nodes.has(n))
    // A step of the loop's own (an answer to a rule's interrupt, its timeout) routes
    // nothing: its routing was decided at the step before. The fork keeps it and changes
    // the working memory it left.
    const routing = base.step > 0 && executed.length > 0
    const before = !routing ? base.step === 0 ? undefined : base.facts : checkpoints.find((c) => c.step === base.step - 1)?.facts
    const engine = yield* RuleEngine
    const session = yield* engine.open(graph.rules, before)
    if (routing) {
      // The answers the step's nodes consumed were evidence for its routing, as in the run.
      for (const call of base.calls ?? []) {
        if (call.name !== "interrupt.response" || !executed.includes(call.node)) continue
        const evidence = assertEvidence(session, { runId: base.run_id, step: base.step, node: call.node, actor: actorOf(call.request) ?? "", data: call.response })
        if (Either.isLeft(evidence)) return yield* Effect.fail(evidence.left)
      }
      // And the facts of its tool calls, when a rule can match them.
      if (graph.rules.toolFacts) {
        const asserted = assertToolFacts(session, { runId: base.run_id, step: base.step, at: base.started_at, calls: (base.calls ?? []).filter((c) => executed.includes(c.node)) })
        if (Either.isLeft(asserted)) return yield* Effect.fail(asserted.left)
      }
    }
    const factError = (field: string) => (e: RuleError) => new InputError({ field, message: e.message, fix: "write a fact as CLIPS text, e.g. \"(risk (level high))\", or {template, slots} of a template the graph's rules define" })
    for (const [i, fact] of mutation.facts_retract.entries()) yield* Effect.mapError(session.retract(fact), factError(`mutation.facts_retract[${i}]`))
    for (const [i, fact] of mutation.facts_assert.entries()) yield* Effect.mapError(session.assert(fact), factError(`mutation.facts_assert[${i}]`))
    if (!routing) {
      engine.release(session)
      return { facts: session.snapshot() }
    }
    const routes = yield* evaluateRouters(graph, executed, state, base.step).pipe(
      Effect.mapError((e) => new InputError({ field: "mutation", message: `a router failed while re-routing step ${base.step}: ${e.cause}`, fix: "check the overridden state" }))
    )
    const rules = yield* session.route({ runId: base.run_id, step: base.step, at: base.started_at, state, nodes: executed, routes })
    const before2 = checkpoints.find((c) => c.step === base.step - 1)
    const routed = route(graph, { step: base.step, executed, decisions: rules.decisions, joins: before2?.joins ?? {}, groups: before2?.groups ?? [] })
    const facts = session.snapshot()
    engine.release(session)
    return {
      next: routed.next,
      joins: routed.joins,
      facts,
      rules,
      ...(routed.groups.length > 0 ? { groups: routed.groups } : { groups: undefined })
    }
  })

/** A fork written and ready to drive; `R`: what its graph's nodes need (see `Graph<R>`). */
export interface StartedFork<out R = never> {
  readonly cfRunId: string
  /** The step it forks from (its checkpoints up to it are its parent's). */
  readonly forkStep: number
  readonly derivedHash: string
  /** The fork's run: `run.start()` drives it against its parent's cassette (Ctrl-C: `run.pause()`). */
  readonly run: GraphRun<R>
  /** How the fork stopped (`run.start()`'s outcome), read back with the RunDiff against its parent. */
  readonly finish: (outcome: Either.Either<RunSummary, StargraphError>) => Effect.Effect<ForkResult, CheckpointError | RuleError>
}

/**
 * Validate the fork, write it (its run record and the parent's checkpoints up to the fork
 * step, mutated there) and hand back its run, not driven yet: for a caller that follows
 * the run (its events, Ctrl-C) while it runs. {@link fork} drives it to a stop at once.
 */
export const start = <R = never>(
  graph: Graph<R>,
  parentRunId: string,
  options: ForkOptions = {}
): Effect.Effect<StartedFork<R>, CheckpointError | InputError | StateValidationError | RunStateError | RuleError, Checkpointer> =>
  Effect.gen(function*() {
    const ownBudget = yield* checkMaxSteps(options.maxSteps, options.maxStepsField ?? "max_steps")
    const checkpointer = yield* Checkpointer
    const parent = yield* Effect.flatMap(checkpointer.getRun(parentRunId), Option.match({
      onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId: parentRunId, message: `no run '${parentRunId}' to replay` })),
      onSome: Effect.succeed
    }))
    // A fork of a fork given no budget of its own takes its parent fork's: the same number
    // of steps after its own fork step (only a fork's record has one).
    const maxSteps = ownBudget ?? parent.fork_max_steps ?? undefined
    // A fork of a fork: what the first fork's mutation goes on doing after its fork step
    // (its node output overrides, its pack version) carries on into this one.
    const inherited = parent.fork_step !== null && parent.mutation !== null
      ? yield* decodeMutation(parent.mutation).pipe(Effect.mapError((e) =>
        new CheckpointError({ reason: "corrupt-checkpoint", runId: parentRunId, message: `the stored mutation of fork ${parentRunId} is invalid: ${e.message}` })
      ))
      : undefined
    // The loader's own fix when it has one (no packs mounted: leave the field out).
    const recordedWith = inherited?.rule_pack_version === undefined || parent.graph_hash === graph.graphHash
      ? graph
      : yield* graph.withPackVersions(packVersions(inherited.rule_pack_version)).pipe(Effect.mapError(packLoadError(inherited.rule_pack_version)))
    if (parent.graph_hash !== recordedWith.graphHash) {
      return yield* new CheckpointError({
        reason: "graph-hash-mismatch",
        runId: parentRunId,
        expectedHash: parent.graph_hash,
        actualHash: graph.graphHash,
        message: `run ${parentRunId} was recorded with a different graph than ${graph.source ?? graph.id}; replay needs the graph it ran with (check out the original files and load that graph: the CLI's --graph <that graph.yaml>, or a server started with it)`
      })
    }
    const checkpoints = yield* checkpointer.listCheckpoints(parentRunId)
    const lastStep = checkpoints[checkpoints.length - 1]?.step ?? 0
    // A fork's steps before its fork step are its parent's: it is replayed from its fork step on.
    const firstStep = inherited !== undefined ? parent.fork_step ?? 0 : 0
    const fromStep = options.fromStep ?? firstStep
    const base = checkpoints.find((c) => c.step === fromStep)
    if (!Number.isInteger(fromStep) || base === undefined) {
      return yield* new InputError({
        field: "from_step",
        message: `run ${parentRunId} has steps 0..${lastStep}; there is no step ${fromStep}`,
        fix: `pass a step from ${firstStep} to ${lastStep}`
      })
    }
    if (fromStep < firstStep) {
      return yield* new InputError({
        field: "from_step",
        message: `run ${parentRunId} is a fork of ${parent.parent_run_id} from step ${firstStep}: its steps before that are its parent's, and its mutation applies at step ${firstStep}`,
        fix: `pass a step from ${firstStep} to ${lastStep}, or fork ${parent.parent_run_id} from step ${fromStep}`
      })
    }
    const breakpoints = yield* resolveBreakpoints({ before: options.interruptBefore, after: options.interruptAfter }, graph.topology.nodes.keys(), options.breakpointFields)
    const asked = yield* decodeMutation(options.mutation)
    const mutation: CounterfactualMutation = inherited === undefined ? asked : {
      ...asked,
      node_output_overrides: { ...inherited.node_output_overrides, ...asked.node_output_overrides },
      ...(asked.rule_pack_version ?? inherited.rule_pack_version) !== undefined ? { rule_pack_version: asked.rule_pack_version ?? inherited.rule_pack_version } : {}
    }
    yield* checkOverriddenNodes(graph, mutation)
    const overrides = mutation.state_overrides
    const problem = checkJson(overrides, "mutation.state_overrides")
    if (problem) return yield* new InputError({ field: problem.path, message: problem.message, fix: "overrides must be plain JSON" })
    const state = { ...base.state, ...overrides }
    const invalid = Either.getLeft(Schema.decodeUnknownEither(graph.state.schema, { onExcessProperty: "error" })(state))
    if (Option.isSome(invalid)) {
      const issue = firstIssue(invalid.value)
      const field = (issue?.path ?? []).map(String).join(".") || "<state>"
      const top = String(issue?.path[0] ?? "")
      const declared = graph.state.fields.get(top)
      return yield* new StateValidationError({
        source: "mutation",
        field,
        step: fromStep,
        message: `state_overrides field '${field}' does not fit the state schema: ${issue?.message ?? "invalid"}`,
        fix: declared === undefined
          ? undeclaredFieldFix(top, graph.state.fields.keys(), "override")
          : declaredTypeFix(top, declaredAs(declared))
      })
    }
    // Each node output override is a write the run loop would refuse or accept: checked now
    // against the fork step's state, before anything is written.
    yield* checkOutputOverrides(graph, mutation, fromStep, state)

    const derived = derivedHash(parent.graph_hash, fromStep, mutation)
    // A fork on another pack version runs that version's rules.
    const forkGraph = mutation.rule_pack_version === undefined
      ? graph
      : mutation.rule_pack_version === inherited?.rule_pack_version
      ? recordedWith
      : yield* graph.withPackVersions(packVersions(mutation.rule_pack_version)).pipe(Effect.mapError(packLoadError(mutation.rule_pack_version)))
    // With a changed state, changed facts or other rules, the fork step's routing is
    // decided again from the working memory before it, so the fork can take another branch.
    const rerouted = yield* reroute(forkGraph, checkpoints, base, state, mutation)
    const copy = (c: Checkpoint): Omit<Checkpoint, "run_id"> => {
      const { run_id: _id, ...rest } = c
      const forkPoint = c.step === fromStep
      return {
        ...rest,
        parent_run_id: parentRunId,
        ...(forkPoint ? { state, delta: { ...c.delta, ...overrides }, ...rerouted } : {})
      }
    }
    const prefix = checkpoints.filter((c) => c.step <= fromStep).map(copy)
    const at = yield* nowIso
    const created = yield* checkpointer.createRun({
      runIdPrefix: "cf",
      graph_id: graph.id,
      graph_hash: forkGraph.graphHash,
      runtime_hash: graph.runtimeHash,
      inputs: parent.inputs,
      parent_run_id: parentRunId,
      fork_step: fromStep,
      graph_source: graph.source ?? parent.graph_source,
      created_at: at,
      derived_hash: derived,
      mutation,
      live_after_fork: options.liveAfterFork === true,
      // Not in `derived_hash`: a budget changes no step the fork takes before it.
      fork_max_steps: maxSteps ?? null,
      breakpoints,
      // The default model of the replay's driver, else the parent's (for its live calls after the fork).
      default_model: (yield* currentRecord) ?? parent.default_model,
      initial: prefix[0]!,
      history: prefix.slice(1),
      // Written already running under this process: if it dies before (or while) the fork
      // is driven, the fork is a dead process's run, which a server adopts and resumes.
      running: { owner: OWNER, started_at: at }
    })
    const cfRunId = created.record.run_id
    // The parent was read before the fork was written: a prune committed in between (it saw
    // no fork depending on it) may have deleted it. Once the fork is written no prune deletes
    // the parent (its transaction takes the runs from writers, and then sees the fork), so a
    // check now settles it: a fork without its recording is left failed, never driven.
    const parentKept = checkpointer.hasRun !== undefined ? yield* checkpointer.hasRun(parentRunId) : Option.isSome(yield* checkpointer.getRun(parentRunId))
    if (!parentKept) {
      const gone = new CheckpointError({
        reason: "unknown-run",
        runId: parentRunId,
        message: `run ${parentRunId} was deleted (a prune) while fork ${cfRunId} of it was being written: the fork has no recording to replay and is left failed; there is nothing to fork any more`
      })
      yield* checkpointer.updateRun(cfRunId, { status: "failed", error: toErrorRecord(gone), finished_at: yield* nowIso, owner: null })
      return yield* gone
    }
    const run = yield* forkGraph.resume(cfRunId, {
      replay: replaySource(forkGraph, checkpoints, fromStep, mutation, options.liveAfterFork === true, parent),
      actor: options.actor ?? "replay"
    }).pipe(
      // A fork is driven against its cassette: no model is checked for (it is never refused for one).
      Effect.catchTag("LanguageModelError", (e) => Effect.die(e))
    )
    const finish = (outcome: Either.Either<RunSummary, StargraphError>) =>
      Effect.gen(function*() {
        const forkCheckpoints = yield* checkpointer.listCheckpoints(cfRunId)
        const record = Option.getOrElse(yield* checkpointer.getRun(cfRunId), () => created.record)
        const summary = Either.isRight(outcome) ? outcome.right : toSummary(record, forkCheckpoints[forkCheckpoints.length - 1]?.state ?? {})
        return {
          cfRunId,
          derivedHash: derived,
          summary,
          diff: diffRuns(checkpoints, forkCheckpoints, derived, forkGraph.rules.templates, yield* freshFacts(graph), {
            parent: { status: parent.status, ...(parent.error !== null ? { error: parent.error.type } : {}) },
            fork: { status: summary.status, ...(Either.isLeft(outcome) ? { error: outcome.left._tag } : record.error !== null ? { error: record.error.type } : {}) }
          }),
          error: Either.isLeft(outcome) ? outcome.left : undefined
        }
      })
    return { cfRunId, forkStep: fromStep, derivedHash: derived, run, finish }
  })

/** Fork `parentRunId` and drive the fork to a stop; returns its id, summary and the RunDiff. */
export const fork = <R = never>(
  graph: Graph<R>,
  parentRunId: string,
  options: ForkOptions = {}
): Effect.Effect<ForkResult, CheckpointError | InputError | StateValidationError | RunStateError | RuleError, Checkpointer | R> =>
  Effect.flatMap(start(graph, parentRunId, options), (started) => Effect.flatMap(Effect.either(started.run.start()), started.finish))
