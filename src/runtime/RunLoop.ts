/**
 * The run loop: drives a run from its latest checkpoint, one superstep at a time. Each
 * step executes the frontier's nodes concurrently against one state snapshot, merges
 * their writes in declaration order through the field reducers, validates the state
 * against the compiled schema, and commits exactly one checkpoint. Lifecycle states
 * are transitioned only here.
 */
import { hostname } from "node:os"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { type Checkpoint, type RunRecord, type RunStatus, type RunSummary, toSummary } from "../checkpoint/models.js"
import {
  type CheckpointError,
  type NodeExecutionError,
  type ReplayDivergenceError,
  type RunFailure,
  type StargraphError,
  StateValidationError,
  StepLimitError
} from "../errors.js"
import type { GraphDefinition } from "./GraphDefinition.js"
import type { State } from "../ir/stateSchema.js"
import type { NodeOutcome } from "../nodes/executors.js"
import { type ReplaySource, stepRecorder } from "./Cassette.js"
import { TracingEnabled } from "../telemetry/TracingEnabled.js"
import { toErrorRecord } from "./errorRecord.js"
import type { RunEventInput } from "./events.js"
import { nextFrontier } from "./frontier.js"
import { writtenDelta } from "../ir/json.js"
import { applyWrites, type NodeWrite } from "./reducers.js"

/** Requests a caller can make of a running loop. */
export type Control = "run" | "pause" | "cancel"

/** Everything one drive of the loop needs. */
export interface DriveInput {
  readonly graph: GraphDefinition
  readonly run: RunRecord
  readonly checkpoint: Checkpoint
  /** The response to the interrupt the run waits at, when resuming one. */
  readonly response: { readonly value: unknown } | undefined
  readonly checkpointer: CheckpointerShape
  readonly emit: (event: RunEventInput) => Effect.Effect<void>
  readonly setStatus: (status: RunStatus) => Effect.Effect<void>
  readonly control: Ref.Ref<Control>
  /** Whether a cancellation was requested (an interrupted step then means "cancelled"). */
  readonly cancelRequested: () => boolean
  /** For a counterfactual fork: the parent's cassette, responses and output overrides. */
  readonly replay?: ReplaySource | undefined
}

/** The loop's contract. Override the `RunLoop` reference to wrap or instrument it. */
export interface RunLoopShape {
  readonly drive: (input: DriveInput) => Effect.Effect<RunSummary, RunFailure | CheckpointError>
}

/** `host:pid` of this process, recorded as the owner of runs it drives. */
export const OWNER = `${hostname()}:${process.pid}`

/** The current time (Effect `Clock`) as an ISO 8601 string. */
export const nowIso: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/** Replayed steps committed per transaction (see `flush` in the loop). */
export const REPLAY_BATCH = 64

const invalidState = (
  error: ParseResult.ParseError,
  prefix: ReadonlyArray<PropertyKey>,
  writes: ReadonlyArray<NodeWrite>,
  step: number
): StateValidationError => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  const path = [...prefix, ...(issue?.path ?? [])]
  const field = path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("")
  const writer = writes.find((w) => path[0] !== undefined && String(path[0]) in w.update)
  return new StateValidationError({
    source: "node-update",
    field: field || "<state>",
    nodeId: writer?.node,
    step,
    message: `state after step ${step} does not match the state schema: ${issue?.message ?? "invalid"}`
  })
}

/** Checks the state after a step; the writes say which fields changed. */
type StateValidator = (state: State, writes: ReadonlyArray<NodeWrite>, step: number) => Either.Either<void, StateValidationError>

/**
 * The state validator of a graph, built once per graph. Where the compiled schema offers
 * per-field schemas (every inline schema), only the fields the step wrote are checked:
 * the others were valid before and did not change. Otherwise, and for a write to an
 * undeclared field, the whole state is decoded.
 */
const validateState = (graph: GraphDefinition): StateValidator => {
  const cached = validators.get(graph)
  if (cached) return cached
  const decodeAll = Schema.decodeUnknownEither(graph.state.schema, { onExcessProperty: "error" })
  const whole: StateValidator = (state, writes, step) => {
    const result = decodeAll(state)
    return Either.isRight(result) ? Either.void : Either.left(invalidState(result.left, [], writes, step))
  }
  const fields = graph.state.fieldSchemas
  const perField = fields && new Map(
    [...fields].map(([name, schema]) => [name, Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>, { onExcessProperty: "error" })])
  )
  const validator: StateValidator = perField === undefined ? whole : (state, writes, step) => {
    for (const write of writes) {
      for (const key in write.update) {
        const decode = perField.get(key)
        if (decode === undefined) return whole(state, writes, step)
        const result = decode(state[key])
        if (Either.isLeft(result)) return Either.left(invalidState(result.left, [key], writes, step))
      }
    }
    return Either.void
  }
  validators.set(graph, validator)
  return validator
}

const validators = new WeakMap<GraphDefinition, StateValidator>()

const drive = (input: DriveInput): Effect.Effect<RunSummary, RunFailure | CheckpointError> =>
  Effect.flatMap(TracingEnabled, (traced) =>
    Effect.uninterruptible(
      traced
        ? Effect.withSpan(loop(input, true), "stargraph.run", { attributes: { run_id: input.run.run_id, graph_id: input.graph.id } })
        : loop(input, false)
    ))

const loop = (input: DriveInput, traced: boolean): Effect.Effect<RunSummary, RunFailure | CheckpointError> =>
  Effect.gen(function*() {
    const { graph, checkpointer, emit, control } = input
    const validate = validateState(graph)
    // The fiber's Clock (a TestClock in tests), read synchronously.
    const clock = yield* Effect.clock
    const isoNow = () => new Date(clock.unsafeCurrentTimeMillis()).toISOString()
    let run = input.run
    let state: State = input.checkpoint.state
    let next = input.checkpoint.next
    let joins = input.checkpoint.joins
    let step = input.checkpoint.step
    let response = input.response

    // Replayed steps (every call answered by the cassette) are re-derivable from the
    // parent, so their checkpoints are committed in batches: one transaction (one fsync)
    // per REPLAY_BATCH steps, and before any status change or live step. A crash loses
    // at most the unflushed replayed steps; resuming re-derives them.
    let unflushed: Array<Checkpoint> = []
    const flush = Effect.suspend(() => {
      const [first, ...rest] = unflushed
      unflushed = []
      return first === undefined ? Effect.void : checkpointer.commitSteps([first, ...rest])
    })

    const transition = (patch: Parameters<CheckpointerShape["updateRun"]>[1]) =>
      Effect.gen(function*() {
        yield* flush
        yield* checkpointer.updateRun(run.run_id, patch)
        run = { ...run, ...patch }
        if (patch.status) yield* input.setStatus(patch.status)
      })

    const fail = (error: RunFailure) =>
      Effect.gen(function*() {
        const record = toErrorRecord(error as StargraphError)
        yield* transition({ status: "failed", error: record, finished_at: isoNow(), owner: null })
        yield* emit({ type: "run.failed", status: "failed", error: record })
        return yield* Effect.fail(error)
      })

    // Driven before this drive: steps were taken, it stopped (paused, waiting for input),
    // or another process was driving it and died. A queued run this process just claimed
    // (running, owned here, at step 0) is a fresh start.
    const resumed = input.checkpoint.step > 0 || run.status === "paused" || run.status === "awaiting-input" ||
      (run.status === "running" && run.owner !== OWNER)
    if (run.status === "running" && run.owner === OWNER && run.started_at !== null) {
      // Claimed by this process's Scheduler, which marked it running in the same transaction.
      yield* input.setStatus("running")
    } else {
      const startedAt = run.started_at ?? isoNow()
      yield* transition({ status: "running", started_at: startedAt, owner: OWNER, waiting: null, error: null })
    }
    yield* emit({
      type: "run.started",
      graph_id: graph.id,
      graph_hash: graph.graphHash,
      from_step: step,
      resumed
    })

    while (next.length > 0) {
      const requested = yield* Ref.get(control)
      if (requested === "cancel") {
        yield* transition({ status: "cancelled", finished_at: isoNow(), owner: null })
        yield* emit({ type: "run.cancelled", step })
        return toSummary(run, state)
      }
      if (requested === "pause") {
        yield* Ref.set(control, "run")
        yield* transition({ status: "paused", owner: null })
        yield* emit({ type: "run.paused", step })
        return toSummary(run, state)
      }
      const current = step + 1
      if (current > graph.topology.maxSteps) {
        return yield* fail(new StepLimitError({
          maxSteps: graph.topology.maxSteps,
          message: `the run exceeded max_steps (${graph.topology.maxSteps}); a loop never reached its exit. ` +
            "Fix the loop's exit condition or raise max_steps in the IR"
        }))
      }
      const frontier = next
      const interrupt = frontier.map((id) => graph.topology.nodes.get(id)!).find((n) => n.kind === "interrupt")
      const recorded = interrupt ? input.replay?.responses.get(`${current}:${interrupt.id}`) : undefined
      if (response === undefined && recorded !== undefined) response = { value: recorded }
      if (interrupt && interrupt.kind === "interrupt" && response === undefined) {
        const waiting = { node: interrupt.id, prompt: interrupt.prompt, step: current, response_field: interrupt.response_field }
        yield* transition({ status: "awaiting-input", waiting, owner: null })
        yield* emit({ type: "run.waiting", waiting })
        return toSummary(run, state)
      }

      const stepStartedAt = isoNow()
      const t0 = performance.now()
      yield* emit({ type: "step.started", step: current, nodes: frontier })
      const snapshot = state
      const recorder = stepRecorder(current, input.replay)
      const execute = (id: string): Effect.Effect<NodeOutcome, NodeExecutionError | ReplayDivergenceError> => {
        const override = input.replay?.overrides.get(id)
        if (override !== undefined) return Effect.succeed({ _tag: "Update", update: override })
        return graph.executors.get(id)!(snapshot, { runId: run.run_id, nodeId: id, step: current }, { response, calls: recorder.forNode(id) })
      }
      const nodes = frontier.length === 1
        ? Effect.map(execute(frontier[0]!), (o) => [o])
        : Effect.forEach(frontier, execute, { concurrency: "unbounded" })
      // The loop is uninterruptible but for its nodes: `cancel` interrupts the driving
      // fiber, which stops the running nodes and nothing else.
      const exit = yield* Effect.exit(Effect.interruptible(
        traced
          ? Effect.withSpan(nodes, "stargraph.step", { attributes: { run_id: run.run_id, step: current, nodes: frontier.join(",") } })
          : nodes
      ))
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure)) return yield* fail(failure.value)
        if (Cause.isInterruptedOnly(exit.cause)) {
          if (input.cancelRequested()) continue
          return yield* Effect.interrupt
        }
        return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
      }
      const diverged = recorder.divergence()
      if (diverged) return yield* fail(diverged)
      const writes: Array<NodeWrite> = []
      for (const [i, outcome] of exit.value.entries()) {
        if (outcome._tag === "Update") writes.push({ node: frontier[i]!, update: outcome.update })
      }

      const merged = applyWrites(state, writes, graph.state.fields, current)
      if (Either.isLeft(merged)) return yield* fail(merged.left)
      const valid = validate(merged.right, writes, current)
      if (Either.isLeft(valid)) return yield* fail(valid.left)
      const routed = yield* Effect.either(nextFrontier(graph, frontier, merged.right, joins, current))
      if (Either.isLeft(routed)) return yield* fail(routed.left)

      const delta = writtenDelta(merged.right, writes)
      const finishedAt = isoNow()
      const duration_ms = performance.now() - t0
      const checkpoint: Checkpoint = {
        run_id: run.run_id,
        step: current,
        node: frontier.join(","),
        nodes: frontier,
        state: merged.right,
        writes,
        delta,
        next: routed.right.next,
        joins: routed.right.joins,
        graph_hash: graph.graphHash,
        runtime_hash: graph.runtimeHash,
        parent_run_id: null,
        parent_step: step,
        started_at: stepStartedAt,
        finished_at: finishedAt,
        duration_ms,
        calls: recorder.entries()
      }
      const done = routed.right.next.length === 0
      const patch = done ? { status: "done" as const, finished_at: finishedAt, owner: null } : undefined
      if (input.replay !== undefined && !done && recorder.liveCalls() === 0 && unflushed.length < REPLAY_BATCH - 1) {
        unflushed.push(checkpoint)
      } else {
        const [first = checkpoint, ...rest] = [...unflushed, checkpoint]
        unflushed = []
        yield* checkpointer.commitSteps([first, ...rest], patch)
      }
      run = { ...run, ...patch, last_step: current }
      if (done) yield* input.setStatus("done")
      state = merged.right
      next = routed.right.next
      joins = routed.right.joins
      step = current
      response = undefined
      yield* emit({ type: "step.completed", step: current, nodes: frontier, delta, next, duration_ms })
    }

    if (run.status !== "done") {
      yield* transition({ status: "done", finished_at: isoNow(), owner: null })
    }
    yield* emit({ type: "run.finished", status: "done", steps: step, final_state: state })
    return toSummary(run, state)
  })

/** The run loop service. Its default is the loop above; provide another to wrap it. */
export class RunLoop extends Context.Reference<RunLoop>()("stargraph/RunLoop", {
  defaultValue: (): RunLoopShape => ({ drive })
}) {}

/** Mark a run `error` after the runtime itself broke (e.g. a checkpoint write failed). */
export const markError = (
  checkpointer: CheckpointerShape,
  runId: string,
  error: CheckpointError
): Effect.Effect<void> =>
  Effect.flatMap(nowIso, (finished_at) =>
    checkpointer.updateRun(runId, { status: "error", error: toErrorRecord(error), finished_at, owner: null })
  ).pipe(Effect.ignore)

