/**
 * The run loop: drives a run from its latest checkpoint, one superstep at a time. Each
 * step executes the frontier's nodes concurrently against one state snapshot, merges
 * their writes in declaration order through the field reducers, validates the state
 * against the compiled schema, and commits exactly one checkpoint. Lifecycle states
 * are transitioned only here.
 */
import { DEFAULT_MAX_STEPS } from "../ir/topology.js"
import * as Duration from "effect/Duration"
import * as Context from "effect/Context"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as HashSet from "effect/HashSet"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import {
  type AnsweredWait as AnsweredWaitRecord,
  type CallRecord,
  type Checkpoint,
  type ParallelGroup,
  type RunPatch,
  type RunRecord,
  type RunStatus,
  type RunSummary,
  type StepAttempt,
  type TakenOver,
  toSummary,
  UPDATE_NODE,
  type WaitingInfo
} from "../checkpoint/models.js"
import {
  CheckpointError,
  InterruptTimeoutError,
  NodeExecutionError,
  ReplayDivergenceError,
  type RunFailure,
  RunStateError,
  type StargraphError,
  StepLimitError
} from "../errors.js"
import type { GraphDefinition } from "./GraphDefinition.js"
import { type Decision, describeDecision } from "../fathom/Decision.js"
import { RuleEngine, type RuleEngineShape } from "../fathom/RuleEngine.js"
import { assertEvidence, assertToolFacts, type RuleSession } from "../fathom/RuleSession.js"
import { canonicalJson, hashJson } from "../ir/hash.js"
import { END } from "../ir/schema.js"
import type { State } from "../ir/stateSchema.js"
import { linkKind, stepChildren } from "./stepChildren.js"
import { DefaultModel, fromRecord } from "../nodes/lm/DefaultModel.js"
import { cancelStopped, type SubgraphIndex, subgraphIndex } from "./cancelStopped.js"
import { OWNER, ownerAlive, takeOverOfRunning } from "./owner.js"
import { actorOf, answeredWaitMeta, answeredWaitOf, answeredWaitsOf, answererOfMeta, askedAgainMeta } from "./answeredBy.js"
import { refuseLostAnswer } from "./waitMoved.js"
import type { HandedCommit, InterruptRequest, NodeEnv, NodeFailure, NodeOutcome, UnfinishedChild } from "../nodes/Executor.js"
import { nodeFailed } from "../nodes/callFunction.js"
import { Checkpointer, type CheckpointerShape, type CommitOptions } from "../checkpoint/Checkpointer.js"
import { commitAll, inOrder, type StepCommits, stepCommits } from "./childCommits.js"
import { recordedStart, type ReplaySource, requestHash, stepRecorder } from "./Cassette.js"
import { tracing } from "../telemetry/TracingEnabled.js"
import type { AuditSinkShape } from "../telemetry/AuditSink.js"
import { type AnswerRefusedReason, auditAnswerRefused } from "./answerRefused.js"
import { breakpointPrompt } from "./breakpointPrompt.js"
import { toErrorRecord } from "./errorRecord.js"
import type { RunEventInput } from "./events.js"
import { type Executed, executeFrontier, PARALLEL_NODE, recordedWinners, winnersCall } from "./branches.js"
import { evaluateRouters, route, withHaltNode } from "./routing.js"
import { checkJson, frozenCopy, jsonEqual, writtenDelta } from "../ir/json.js"
import { applyWrites, type NodeWrite } from "./reducers.js"
import { validateState } from "./stateValidator.js"
import { names } from "./breakpoints.js"
import { deriveWaitId, waitIdOf } from "../checkpoint/waitId.js"

export { markError } from "./markError.js"
export { nowIso } from "./nowIso.js"

/** Requests a caller can make of a running loop. */
export type Control = "run" | "pause" | "requeue" | "cancel"

/** Everything one drive of the loop needs. */
export interface DriveInput {
  readonly graph: GraphDefinition
  readonly run: RunRecord
  readonly checkpoint: Checkpoint
  /**
   * The response to the interrupt the run waits at, when resuming one; with `waitId`, it
   * is applied only if the run still waits at that wait (checked in the take-over's write).
   */
  readonly response: { readonly value: unknown; readonly waitId?: string | undefined } | undefined
  readonly checkpointer: CheckpointerShape
  readonly emit: (event: RunEventInput) => Effect.Effect<void>
  readonly setStatus: (status: RunStatus) => Effect.Effect<void>
  readonly control: Ref.Ref<Control>
  /** Whether a cancellation was requested (an interrupted step then means "cancelled"). */
  readonly cancelRequested: () => boolean
  /**
   * The run is driven on its caller's fiber (a subgraph's child run): whether an
   * interruption of that fiber cancels the run (its parent is being cancelled), recorded
   * as `cancel` would (status, event), before the caller sees the interruption. Otherwise
   * (the parent's caller timed out, its server shuts down) the run is left `paused`, as
   * its parent is, and resuming the parent resumes it.
   */
  readonly parentCancelling?: (() => boolean) | undefined
  /**
   * The caller commits, synced, after this run ends (a subgraph's parent step recording
   * the child's outcome): the run's `done` commit is made with `syncFollows`, so under
   * SQLite `FULL` it does not wait for the disk. A power loss before the parent's commit
   * loses both; the parent, resumed, drives the child again from its last synced step.
   */
  readonly parentCommits?: boolean | undefined
  /**
   * The parent step makes this run's last commit, with its own (see `childCommits.ts`):
   * when the run ends `done`, its last step's commit, after the ones its own children
   * handed it, goes here instead of to the Checkpointer. Given only for a Checkpointer
   * with `commitTogether`.
   */
  readonly commitWithParent?: ((commits: ReadonlyArray<HandedCommit>) => void) | undefined
  /** For a counterfactual fork: the parent's cassette, responses and output overrides. */
  readonly replay?: ReplaySource | undefined
  /** Who drives the run (the actor of the evidence facts an answer asserts). */
  readonly actor?: string | undefined
  /** Where an answer (`response`) refused before the drive takes the run over is recorded (`answer.refused`). */
  readonly audit?: AuditSinkShape | undefined
  /**
   * The run had started before the queue claim that handed it to this drive (a run a
   * draining server requeued before it committed a step): the claim set its `started_at`,
   * so only the caller, which read it before claiming, knows.
   */
  readonly startedBefore?: boolean | undefined
  /**
   * The queue claim that handed the run to this drive took it over from another process
   * (recorded on the record by the claim): `run.started` names it.
   */
  readonly takenOver?: TakenOver | undefined
  /**
   * The operator accepted that the run goes on under this graph although it was started
   * with another (`ResumeOptions.acceptGraphHash`): the take-over that drives it on stores
   * this graph's hash, in the same write (a resume refused before it stores nothing).
   */
  readonly graphHashAccepted?: boolean | undefined
  /**
   * A counterfactual fork resumed (or answered) with live calls allowed
   * (`ResumeOptions.liveAfterFork`): `live_after_fork` is stored on its record, for every
   * later resume, by the write that takes it over to drive it on (a resume refused before
   * it, or by it, stores nothing).
   */
  readonly keepLiveAfterFork?: boolean | undefined
}

const NO_ANSWERS: ReadonlyArray<unknown> = []
const NO_COMMITS: ReadonlyArray<HandedCommit> = []
/**
 * Every commit of a drive is made only while the run is still this process's (see
 * `CommitOptions.owner`): a process that lost the run (another took it over after this
 * one's lease lapsed) writes nothing more.
 */
const OWNED: CommitOptions = { owner: OWNER }
/** A child run's last commit: its parent's synced step commit follows it. */
const SYNC_FOLLOWS: CommitOptions = { syncFollows: true, owner: OWNER }

/**
 * A write of run `runId` by this process applied to nothing: the run is gone
 * (`unknown-run`), or another process owns it now (`taken-over`, naming it).
 */
/** An interrupt's wait with its id, derived from what it waits for. */
const withId = (waiting: WaitingInfo): WaitingInfo => ({ ...waiting, wait_id: deriveWaitId(waiting) })

const lostRun = (checkpointer: CheckpointerShape, runId: string, what: string): Effect.Effect<never, CheckpointError> =>
  Effect.flatMap(checkpointer.getRun(runId), (now) =>
    Effect.fail(Option.match(now, {
      onNone: () => new CheckpointError({ reason: "unknown-run", runId, message: `run ${runId} is gone from the checkpoint database; ${what} was not written` }),
      onSome: (r) =>
        new CheckpointError({
          reason: "taken-over",
          runId,
          message: `run ${runId} is no longer driven by this process (${OWNER}): it is ${r.status}${r.owner !== null ? `, driven by ${r.owner}` : ""}. ` +
            "Another process took it over (this one's lease lapsed: it was paused, stalled or cut off from the database for longer than its lease); " +
            `${what} was not written and this process stopped driving the run`
        })
    })))
const NO_CONSUMED: ReadonlyArray<ConsumedAnswer> = []

/** A step whose nodes ended interrupted though nobody interrupted the run. */
const selfInterrupted = (frontier: ReadonlyArray<string>, step: number): NodeExecutionError =>
  new NodeExecutionError({
    nodeId: frontier.join(","),
    step,
    attempts: 1,
    cause: `the node's Effect ended interrupted, though nothing interrupted the run (it ran Effect.interrupt, or joined a fiber it had interrupted); ` +
      "a node that gives up should fail with an error of its own"
  })

/** The longest wait an interrupt may ask for (a year), so its deadline is a date. */
const MAX_WAIT_MS = 366 * 24 * 3600 * 1000

/**
 * What is wrong with a node's request for input, if anything (a kind's own Interrupt may
 * carry anything): a wait that is no duration, an `on_timeout` to no node, a response
 * field the state does not declare, a payload that is not JSON, a capability that is no string.
 */
const interruptProblem = (request: InterruptRequest, graph: GraphDefinition): string | undefined => {
  const { timeoutMs, onTimeout, responseField, payload } = request
  if (timeoutMs !== undefined && !(typeof timeoutMs === "number" && Number.isFinite(timeoutMs) && timeoutMs >= 0 && timeoutMs <= MAX_WAIT_MS)) {
    return `timeoutMs ${JSON.stringify(timeoutMs) ?? String(timeoutMs)}, not a wait of 0 ms to a year`
  }
  if (onTimeout !== undefined && onTimeout !== "halt" && !(typeof onTimeout === "string" && onTimeout.startsWith("goto:") && graph.nodes.has(onTimeout.slice("goto:".length)))) {
    return `onTimeout ${JSON.stringify(onTimeout)}: use "halt" or "goto:<node>" with a node of the graph`
  }
  if (responseField !== "" && !graph.state.fields.has(responseField)) {
    return `responseField '${responseField}', which the state schema does not declare: declare it, or use "" to check the answer against nothing`
  }
  const notJson = payload === undefined ? undefined : checkJson(payload, "payload")
  if (notJson !== undefined) return `a payload that is not JSON: ${notJson.path}: ${notJson.message}`
  const capability: unknown = request.requestedCapability
  if (capability !== undefined && typeof capability !== "string") return `requestedCapability ${JSON.stringify(capability) ?? String(capability)}, not a string`
  return undefined
}

/**
 * In a replay of the step the parent stopped at for input, or failed at (a fork that may
 * call live): where the parent's child runs of that step are found.
 */
const unfinishedChild = (replay: ReplaySource | undefined, step: number): UnfinishedChild | undefined => {
  const stopped = replay?.waitedAt?.step === step ? replay.waitedAt : replay?.failedAt?.step === step ? replay.failedAt : undefined
  return stopped === undefined ? undefined : { parentRunId: stopped.runId, liveAfterFork: replay!.liveAfterFork }
}

/** The answer a node of a step consumed, who gave it, and what its record keeps. */
interface ConsumedAnswer {
  readonly node: string
  /** The answer the evidence carries (a node that asked several times: the last). */
  readonly value: unknown
  /** What `interrupt.response` records: an interrupt node's response, else `value`. */
  readonly recorded: unknown
  readonly prompt: string
  readonly actor: string
  /** The wait this answer was given to, when the run was resumed with it (`meta.wait_id` of its record). */
  readonly waitId?: string | undefined
  /** When it was given, for an answer a node consumed before it asked again (`meta.at` of its record). */
  readonly at?: string | undefined
  /** The earlier waits of the step its node took answers to that no other record keeps (`meta.answered_waits` of its record). */
  readonly earlier?: ReadonlyArray<AnsweredWaitRecord> | undefined
}

/**
 * The wait the run was resumed with an answer to, its node, who answered and when (see
 * `askedAgainMeta`), and the earlier answered waits of its step that wait kept
 * (`waiting.answered_waits`).
 */
interface AnsweredWait {
  readonly node: string
  readonly waitId: string
  readonly actor: string
  readonly at: string | undefined
  readonly earlier: ReadonlyArray<AnsweredWaitRecord>
}

/**
 * The answers nodes of this step consumed, in frontier order: the ones the run was resumed
 * with (for every node of the step that asked, a losing branch's too: a replay must find
 * it to run the step), or, in a replay, the ones the parent's nodes consumed at this step
 * (their `interrupt.response`: ctx.interrupt, a child run's answer), given by whoever
 * answered the parent.
 */
const consumedAnswers = (
  graph: GraphDefinition,
  step: number,
  frontier: ReadonlyArray<string>,
  given: ReadonlyMap<string, ReadonlyArray<unknown>>,
  replay: ReplaySource | undefined,
  actor: string,
  answeredWait: AnsweredWait | undefined,
  stepCalls: () => ReadonlyArray<CallRecord>
): ReadonlyArray<ConsumedAnswer> =>
  given.size === 0 && replay === undefined ? NO_CONSUMED : frontier.flatMap((node): ReadonlyArray<ConsumedAnswer> => {
    const answers = given.get(node)
    const resumed = answers !== undefined && answers.length > 0
    if (!resumed && replay?.responses.has(`${step}:${node}`) !== true) return []
    // The answer the run was resumed with (the node's last): the wait it answered. An answer
    // a replay gives from the recording keeps the wait the recording says (as a replayed call keeps its meta).
    const own = resumed && answeredWait?.node === node ? answeredWait.waitId : undefined
    const waits = graph.nodes.get(node)!.waitsForInput
    // What the wait the run was resumed at kept of this node's answers (see `answeredWaitsFor`);
    // for a node answered with an earlier resume of the step, its last is the one it consumes.
    const mine = answeredWait === undefined ? [] : answeredWait.earlier.filter((w) => w.node === node)
    const keptBefore = resumed && own === undefined ? mine[mine.length - 1] : undefined
    if (resumed && waits === undefined && answers.length > 1) {
      // A node that asked several times consumed each answer: each is recorded (a replay
      // gives them all back) and is evidence. An answer given before the node asked again
      // is known by its answered `ctx.interrupt` call (`askedAgainMeta`: its wait, who, when),
      // else, in a replay, by the recording's record of it.
      const records = replay?.calls.get(`${step}:${node}`)?.filter((c) => c.name === "interrupt.response") ?? []
      return answers.map((value, i) => {
        const last = i === answers.length - 1 && own !== undefined
        const asked = last ? undefined : stepCalls().find((c) => c.node === node && c.name === "interrupt" && requestIndex(c.request) === i && answeredWaitOf(c.meta) !== undefined)
        const source = asked?.meta ?? records[i]?.meta
        const waitId = last ? own : answeredWaitOf(source)
        const by = asked !== undefined ? answererOfMeta(asked.meta) : { actor: actorOf(records[i]?.request), at: answererOfMeta(records[i]?.meta).at }
        // The node's last answer, given with an earlier resume of the step (kept in `others`): its wait's record.
        const kept = i === answers.length - 1 ? keptBefore : undefined
        const earlier = last ? mine : kept !== undefined ? mine.slice(0, -1) : answeredWaitsOf(records[i]?.meta)
        if (kept !== undefined && asked === undefined) {
          return { node, value, recorded: value, prompt: "", actor: kept.actor, waitId: kept.wait_id, ...(kept.at !== undefined ? { at: kept.at } : {}), ...(earlier.length > 0 ? { earlier } : {}) }
        }
        return {
          node,
          value,
          recorded: value,
          prompt: "",
          actor: by.actor ?? actor,
          ...(waitId !== undefined ? { waitId } : {}),
          ...(by.at !== undefined && !last ? { at: by.at } : {}),
          ...(earlier.length > 0 ? { earlier } : {})
        }
      })
    }
    const value = resumed ? answers[answers.length - 1] : replay!.responses.get(`${step}:${node}`)
    const record = replay?.calls.get(`${step}:${node}`)?.find((c) => c.name === "interrupt.response")
    const waitId = own ?? keptBefore?.wait_id ?? answeredWaitOf(record?.meta)
    // Its earlier answered waits: the wait it was resumed at kept them (else, a replayed answer, its record's).
    const earlier = own !== undefined ? mine : keptBefore !== undefined ? mine.slice(0, -1) : answeredWaitsOf(record?.meta)
    return [{
      node,
      value,
      recorded: resumed && waits !== undefined ? answers[0] : value,
      prompt: waits?.prompt ?? "",
      actor: keptBefore?.actor ?? actorOf(record?.request) ?? actor,
      ...(waitId !== undefined ? { waitId } : {}),
      ...(keptBefore?.at !== undefined ? { at: keptBefore.at } : {}),
      ...(earlier.length > 0 ? { earlier } : {})
    }]
  })

/**
 * The step's calls plus the answers its nodes consumed and who gave them (what a replay
 * answers them with, and the evidence it asserts again).
 */
const withResponses = (calls: ReadonlyArray<CallRecord>, answered: ReadonlyArray<ConsumedAnswer>): ReadonlyArray<CallRecord> => {
  if (answered.length === 0) return calls
  const next = new Map<string, number>()
  const added = answered.map(({ node, prompt, actor, recorded, waitId, at, earlier }): CallRecord => {
    const request = { prompt, node, actor }
    // After the node's calls, and after its answers recorded before this one.
    const seq = next.get(node) ?? calls.filter((c) => c.node === node).length
    next.set(node, seq + 1)
    // The wait answered, outside the hashed request (see `answeredWaitMeta`).
    return { node, seq, name: "interrupt.response", request_hash: requestHash("interrupt.response", request), request, response: recorded, ...(waitId !== undefined ? { meta: answeredWaitMeta(waitId, at, earlier) } : {}) }
  })
  return [...calls, ...added].sort((a, b) => (a.node === b.node ? a.seq - b.seq : a.node < b.node ? -1 : 1))
}

/**
 * The attempt a wait keeps: its calls, and the updates of the nodes that finished before
 * a sibling asked (not those racing in a group: which of them wins is decided again). The
 * resumed step takes those updates instead of running the nodes again.
 */
const withKeptWrites = (attempt: StepAttempt | undefined, executed: ReadonlyArray<Executed>, groups: ReadonlyArray<ParallelGroup>, at: number): StepAttempt | undefined => {
  const racing = new Set(groups.flatMap((g) => (g.strategy !== "all" ? g.targets : [])))
  const writes = executed.flatMap(({ id, outcome }) => (outcome._tag === "Update" && !racing.has(id) ? [{ node: id, update: outcome.update }] : []))
  if (writes.length === 0) return attempt
  return { step: at, calls: attempt?.calls ?? [], writes }
}

/** The `index` of a `ctx.interrupt` call's request (its place among the node's questions in the step). */
const requestIndex = (request: unknown): number | undefined => {
  const index = typeof request === "object" && request !== null && "index" in request ? request.index : undefined
  return typeof index === "number" ? index : undefined
}

/**
 * The attempt a wait of `node` keeps, when `node` was resumed with an answer (`answered`:
 * the wait, who, when) and asked again in the same step: its `ctx.interrupt` call that
 * answer answered (the `index`-th, its last) keeps the wait, who and when in its meta
 * (`askedAgainMeta`), so a late answer to that wait is known as answered. Its earlier
 * answered calls keep theirs (answered again from the attempt, with their meta).
 */
const withAskedAgain = (attempt: StepAttempt | undefined, node: string, index: number, answered: AnsweredWait | undefined): StepAttempt | undefined => {
  if (attempt === undefined || answered === undefined || answered.node !== node) return attempt
  const calls = attempt.calls.map((c) =>
    c.node === node && c.name === "interrupt" && requestIndex(c.request) === index && c.meta === undefined
      ? { ...c, meta: askedAgainMeta(answered.waitId, answered.actor, answered.at) }
      : c
  )
  return { ...attempt, calls }
}

/**
 * The answered waits of its step a new wait keeps (`waiting.answered_waits`), when the run
 * was resumed with an answer (`answered`) and asks again in the same step: the ones the
 * wait it was resumed at kept, and that wait, unless the new wait's attempt keeps it in an
 * answered `ctx.interrupt` call (a node asking again itself: see `withAskedAgain`). So a
 * run waiting on its child run's question, answered through it, keeps who answered the
 * child's earlier question and when, which its own calls do not record; and so does a run
 * whose step asks several nodes in turn (the answers kept in `others`), each answer's
 * record crediting whoever gave it, not the last answerer.
 */
const answeredWaitsFor = (attempt: StepAttempt | undefined, answered: AnsweredWait | undefined): ReadonlyArray<AnsweredWaitRecord> => {
  if (answered === undefined) return []
  if (attempt?.calls.some((c) => c.name === "interrupt" && answeredWaitOf(c.meta) === answered.waitId) === true) return answered.earlier
  const at = answered.at !== undefined ? { at: answered.at } : {}
  return [...answered.earlier, { wait_id: answered.waitId, node: answered.node, actor: answered.actor, ...at }]
}

/** Node of the step that records the answer to a rule's interrupt. */
export const RESPONSE_NODE = "__response__"

/** Node of the step the loop takes when an interrupt timed out with `on_timeout: goto:<node>`. */
export const TIMEOUT_NODE = "__timeout__"

/** The loop's contract. Override the `RunLoop` reference to wrap or instrument it. */
export interface RunLoopShape {
  /**
   * Drive the run to a stop. Fails with `RunStateError` (and does nothing) when another
   * process took the run over between reading it and this drive.
   */
  readonly drive: (input: DriveInput) => Effect.Effect<RunSummary, RunFailure | CheckpointError | RunStateError>
}

/** `host:pid` of this process, recorded as the owner of runs it drives (see `owner.ts`). */
export { OWNER }


/** Replayed steps committed per transaction (see `flush` in the loop). */
export const REPLAY_BATCH = 64

/** Whether `graph` has `subgraph` nodes (whose child runs hand their last commits to the step). */
const runsChildren = (graph: GraphDefinition): boolean => {
  let known = withChildren.get(graph)
  if (known === undefined) {
    known = [...graph.nodes.values()].some((node) => node.childGraph !== undefined)
    withChildren.set(graph, known)
  }
  return known
}
const withChildren = new WeakMap<GraphDefinition, boolean>()

/**
 * Record the drive's answer (if it carries one) as refused with `error`, for `reason`
 * (`answer.refused`, to `input.audit`); `now` is the run's record as read then.
 */
const answerRefused = (input: DriveInput, reason: AnswerRefusedReason, error: RunStateError, now: RunRecord | undefined): Effect.Effect<void> =>
  input.response === undefined || input.audit === undefined
    ? Effect.void
    : auditAnswerRefused(input.audit, {
      runId: input.run.run_id,
      actor: input.actor ?? "library",
      value: input.response.value,
      waitId: input.response.waitId,
      run: now,
      reason,
      error
    })

/** The run's rule session, once opened (given back to the engine when the drive ends). */
interface Held {
  session: RuleSession | undefined
}

/**
 * The loop's `drive`, refusing a run that this loop is driving already: the owner check
 * between processes cannot tell two handles of one process apart (both are `OWNER`).
 */
const makeDrive = (): RunLoopShape["drive"] => {
  const driving = new Set<string>()
  return (input) =>
    Effect.flatMap(tracing, (traced) =>
      Effect.flatMap(RuleEngine, (ruleEngine) => {
        const runId = input.run.run_id
        if (driving.has(runId)) {
          const busy = new RunStateError({
            runId,
            status: "running",
            operation: "resume",
            message: `run ${runId} is being driven in this process already (by another handle); nothing was done here: wait for that handle, or cancel it`
          })
          // (Another handle drives it: the record as read here says nothing of where it waits now.)
          return Effect.zipRight(answerRefused(input, "other", busy, undefined), Effect.fail(busy))
        }
        driving.add(runId)
        const held: Held = { session: undefined }
        // Where its steps' child runs leave their last commits, with a Checkpointer that can make them with a step.
        const children = input.checkpointer.commitTogether !== undefined && runsChildren(input.graph) ? stepCommits(input.checkpointer) : undefined
        const body = withStoredDefault(input.run, loop(input, traced, ruleEngine, held, children))
        return Effect.uninterruptible(
          (traced ? Effect.withSpan(body, "stargraph.run", { attributes: { "stargraph.run_id": runId, "stargraph.graph_id": input.graph.id, "stargraph.from_step": input.checkpoint.step } }) : body).pipe(
            Effect.ensuring(Effect.suspend(() => {
              driving.delete(runId)
              if (held.session !== undefined) ruleEngine.release(held.session)
              // Every way out of the loop makes them first; this catches one that did not (a defect).
              return children === undefined ? Effect.void : Effect.ignoreLogged(children.flush)
            }))
          )
        )
      }))
}

/**
 * `body` with the default model the run was started with (`RunRecord.default_model`), when
 * its driver provides none (a resume without `--lm-url`, a server started without it, a
 * queued run claimed elsewhere): the same model answers the run's nodes, and its child runs
 * are created with it. A default model the driver provides wins.
 */
const withStoredDefault = <A, E, R>(run: RunRecord, body: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const stored = run.default_model
  if (stored === null) return body
  return Effect.flatMap(Effect.serviceOption(DefaultModel), (given) => (Option.isSome(given) ? body : Effect.provideService(body, DefaultModel, fromRecord(stored))))
}

/**
 * How a replayed step's writes differ from the recorded ones (undefined: they do not): the
 * first node and field whose value differs, as `ReplayDivergenceError[write-mismatch]`.
 */
const writeMismatch = (
  recorded: ReadonlyArray<{ readonly node: string; readonly update: State }>,
  replayed: ReadonlyArray<NodeWrite>,
  step: number,
  /** The recorded run's id and the replay's: a value built from `ctx.runId` differs by them alone. */
  ids: { readonly recorded: string | undefined; readonly replaying: string }
): ReplayDivergenceError | undefined => {
  const same = (a: unknown, b: unknown) =>
    jsonEqual(a, b) ||
    (ids.recorded !== undefined && ids.recorded !== ids.replaying && a !== undefined && b !== undefined &&
      canonicalJson(a).split(ids.recorded).join(ids.replaying) === canonicalJson(b))
  const nodes = new Set([...recorded.map((w) => w.node), ...replayed.map((w) => w.node)])
  for (const node of nodes) {
    const before = recorded.find((w) => w.node === node)?.update ?? {}
    const now = replayed.find((w) => w.node === node)?.update ?? {}
    const field = [...new Set([...Object.keys(before), ...Object.keys(now)])].find((k) => !same(before[k], now[k]))
    if (field === undefined) continue
    const shown = (value: unknown) => (value === undefined ? "nothing" : canonicalJson(value).slice(0, 120))
    return new ReplayDivergenceError({
      reason: "write-mismatch",
      nodeId: node,
      step,
      call: "write",
      field,
      ...(field in before ? { expectedHash: hashJson(before[field]) } : {}),
      actualHash: hashJson(now[field] ?? null),
      message: `replaying step ${step} from the recorded state, node '${node}' wrote ${field} = ${shown(now[field])} where the recorded run wrote ${shown(before[field])}. ` +
        "The node is not deterministic: it reads the clock, randomness or the outside world directly. Fix: use ctx.now(), ctx.random() or ctx.call(…) " +
        "(recorded, and replayed exactly), or fork with --live-after-fork to run it anew"
    })
  }
  return undefined
}

/** Whether a fork's stored mutation overrides some node's output (`node_output_overrides`). */
const overridesNodes = (mutation: unknown): boolean => {
  const overrides = typeof mutation === "object" && mutation !== null ? (mutation as { readonly node_output_overrides?: unknown }).node_output_overrides : undefined
  return typeof overrides === "object" && overrides !== null && Object.keys(overrides).length > 0
}

const loop = (
  input: DriveInput,
  traced: boolean,
  ruleEngine: RuleEngineShape,
  held: Held,
  children: StepCommits | undefined
): Effect.Effect<RunSummary, RunFailure | CheckpointError | RunStateError> =>
  Effect.gen(function*() {
    const { graph, checkpointer, control } = input
    // Once this run has handed its end to its parent's step (see `commit`), the events that
    // follow are held back until that commit is made: the audit trail never reports an end
    // that a crash could still undo.
    let heldBack: Array<RunEventInput> | undefined
    const emit = (event: RunEventInput): Effect.Effect<void> => {
      if (heldBack === undefined) return input.emit(event)
      heldBack.push(event)
      return Effect.void
    }
    /** Told by the parent's step commit: report the held-back events, or that the end was lost. */
    const settled = (lost: CheckpointError | undefined): Effect.Effect<void> =>
      Effect.suspend(() => {
        const events = heldBack ?? []
        heldBack = undefined
        return lost === undefined
          ? inOrder(events.map(input.emit))
          : input.emit({ type: "run.failed", status: "error", error: toErrorRecord(lost) })
      })
    const validate = validateState(graph)
    // Nodes get the run's Checkpointer; a run driven through a Graph already has it in its context.
    const hasCheckpointer = Option.exists(Context.getOption(yield* Effect.context<never>(), Checkpointer), (c) => c === checkpointer)
    // The fiber's Clock (a TestClock in tests), read synchronously.
    const clock = yield* Effect.clock
    // Steps often start and finish within one millisecond: format each millisecond once.
    let lastMs = -1
    let lastIso = ""
    const isoNow = () => {
      const ms = clock.unsafeCurrentTimeMillis()
      if (ms !== lastMs) {
        lastMs = ms
        lastIso = new Date(ms).toISOString()
      }
      return lastIso
    }
    const actor = input.actor ?? "library"
    /** A live call's streamed text, as a run event (one function for every node and step). */
    const emitDelta = (text: string, node: string, at: number) => emit({ type: "node.delta", step: at, node, text })
    const emitCustom = (data: unknown, node: string, at: number) => emit({ type: "node.custom", step: at, node, data })
    const outlived = (node: string, at: number, reason: string, graceMs: number) => emit({ type: "node.outlived", step: at, node, reason, grace_ms: graceMs })
    /** Whether this run is being cancelled (by its own `cancel`, or its parent's): its nodes' child runs are cancelled with it. */
    const cancelling = (): boolean => input.cancelRequested() || input.parentCancelling?.() === true
    let run = input.run
    // Frozen throughout, as every later state is: nodes read it and cannot change it in place.
    let state: State = frozenCopy(input.checkpoint.state)
    let next = input.checkpoint.next
    let joins = input.checkpoint.joins
    let groups: ReadonlyArray<ParallelGroup> = input.checkpoint.groups ?? []
    let step = input.checkpoint.step
    // A run whose process died (or was paused) while it drove the step an answer was for:
    // the answer it was resumed with, kept on the record until that step's checkpoint.
    // (A breakpoint's kept wait says who resumed it; it carries no answer.)
    const carried = run.status !== "awaiting-input" && run.waiting?.given !== undefined && input.response === undefined ? run.waiting : null
    const response = input.response ?? (carried?.given !== undefined && carried.kind !== "breakpoint" ? { value: carried.given.value } : undefined)
    // Who gave the answer this drive consumes (a kept answer: whoever gave it then).
    const answerActor = carried?.given?.actor ?? actor
    let backoffMs = 0

    // Replayed steps (every call answered by the cassette) are re-derivable from the
    // parent, so their checkpoints are committed in batches: one transaction (one fsync)
    // per REPLAY_BATCH steps, and before any status change or live step. A crash loses
    // at most the unflushed replayed steps; resuming re-derives them.
    let unflushed: Array<Checkpoint> = []
    // With the commits the steps' child runs handed over (see childCommits.ts).
    const flush = Effect.suspend(() => {
      const [first, ...rest] = unflushed
      unflushed = []
      const handed = children?.take() ?? NO_COMMITS
      return first === undefined ? commitAll(checkpointer, handed) : commitAll(checkpointer, handed, { checkpoints: [first, ...rest], options: OWNED })
    })

    const transition = (given: Parameters<CheckpointerShape["updateRun"]>[1]) =>
      Effect.gen(function*() {
        // A run that ends drops an answer still kept on its record (one that pauses, or
        // breaks on its storage, keeps it for the resume).
        const patch = run.waiting?.given !== undefined && (given.status === "done" || given.status === "failed" || given.status === "cancelled")
          ? { waiting: null, ...given }
          : given
        yield* flush
        // From the status and owner this drive holds: a run taken over meanwhile is left to its new owner.
        if (!(yield* checkpointer.takeOver(run.run_id, { status: run.status, owner: run.owner }, patch))) {
          return yield* lostRun(checkpointer, run.run_id, `its ${patch.status ?? "record"} change`)
        }
        run = { ...run, ...patch }
        if (patch.status) yield* input.setStatus(patch.status)
      })

    const fail = (error: RunFailure, attempt?: StepAttempt) =>
      Effect.gen(function*() {
        const record = { ...toErrorRecord(error as StargraphError), ...(attempt !== undefined ? { attempt } : {}) }
        yield* transition({ status: "failed", error: record, finished_at: isoNow(), owner: null })
        yield* emit({ type: "run.failed", status: "failed", error: record })
        return yield* Effect.fail(error)
      })

    /**
     * The child runs `nodes` started at step `at` and left stopped (paused, or waiting for
     * input) when their node was stopped inside a step that goes on without it (a race's
     * losers), failed, or was cancelled: nothing will resume them, so they are cancelled,
     * as a cancelled parent's are. (A node interrupted because the whole run was leaves
     * its child paused, to be resumed with it.)
     */
    let childIndex: SubgraphIndex | undefined
    const cancelLeftChildren = (nodes: ReadonlyArray<string>, at: number) =>
      Effect.forEach(nodes.filter((id) => graph.nodes.get(id)?.childGraph !== undefined), (nodeId) =>
        Effect.gen(function*() {
          // A `map` node's, every item's; with their own children, at every depth.
          for (const child of yield* stepChildren(checkpointer, { parentRunId: run.run_id, parentStep: at, nodeId }, linkKind(graph.topology.nodes.get(nodeId)?.kind))) {
            // Or left `running` by a process that died (a crash inside the step).
            const orphaned = child.status === "running" && child.owner !== null && !ownerAlive(child.owner)
            if (child.status === "paused" || child.status === "awaiting-input" || child.status === "pending" || orphaned) {
              yield* cancelStopped(checkpointer, child, isoNow(), childIndex ??= subgraphIndex(graph))
            }
          }
        }), { discard: true })

    /** Commit a step (batched while replaying), then track it as the latest (few Effect operations: it runs every step). */
    const commit = (checkpoint: Checkpoint, given: Parameters<CheckpointerShape["updateRun"]>[1] | undefined, replayed: boolean): Effect.Effect<void, CheckpointError> =>
      Effect.suspend(() => {
        // The first checkpoint after an answer also drops the answer kept on the record.
        const patch = run.waiting?.given !== undefined && run.status === "running" ? { waiting: null, ...given } : given
        const track = () => {
          run = { ...run, ...patch, last_step: checkpoint.step }
          state = checkpoint.state
          next = checkpoint.next
          joins = checkpoint.joins
          groups = checkpoint.groups ?? []
          step = checkpoint.step
        }
        // The last commits of the step's child runs that ended: made with the step's (see childCommits.ts).
        const handed = children?.take() ?? NO_COMMITS
        if (replayed && patch === undefined && unflushed.length < REPLAY_BATCH - 1 && handed.length === 0) {
          unflushed.push(checkpoint)
          track()
          return Effect.void
        }
        const [first = checkpoint, ...rest] = [...unflushed, checkpoint]
        unflushed = []
        const options = patch?.status === "done" && input.parentCommits === true ? SYNC_FOLLOWS : OWNED
        if (patch?.status === "done" && input.commitWithParent !== undefined) {
          // This child run's end: its parent's step commit makes it.
          heldBack = []
          input.commitWithParent([...handed, { commit: { checkpoints: [first, ...rest], patch, options }, settled }])
          track()
          return input.setStatus("done")
        }
        const batch = handed.length === 0
          ? checkpointer.commitSteps([first, ...rest], patch, options)
          : commitAll(checkpointer, handed, { checkpoints: [first, ...rest], patch, options })
        const written = Effect.map(
          traced
            ? Effect.withSpan(batch, "stargraph.checkpoint.commit", { attributes: { "stargraph.run_id": run.run_id, "stargraph.step": checkpoint.step, "stargraph.steps": rest.length + 1 } })
            : batch,
          track
        )
        return patch?.status ? Effect.zipRight(written, input.setStatus(patch.status)) : written
      })

    // Claimed by this process's Scheduler (or created running by it): already marked running.
    const claimed = run.status === "running" && run.owner === OWNER && run.started_at !== null
    // Driven before this drive: steps were taken, it stopped (paused, waiting for input),
    // another process was driving it and died, or it started and was requeued before its
    // first step committed (a drain). Its record says so, but for a run just claimed off the
    // queue: the claim set `started_at`, and the claimer says whether it was set before.
    // Otherwise a run claimed (or created running) here at step 0 is a fresh start.
    const resumed = input.checkpoint.step > 0 || run.status === "paused" || run.status === "awaiting-input" ||
      (run.status === "running" && run.owner !== OWNER) || (claimed ? input.startedBefore === true : run.started_at !== null)
    const waitingAtStart = run.status === "awaiting-input" ? run.waiting : carried
    // Taken over from the process that held it: by the claim (the caller says so), or here,
    // from a `running` run's owner (dead, its lease lapsed, or an operator's --take-over).
    let takenOver = claimed ? input.takenOver : undefined
    if (claimed) {
      // Claimed by this process's Scheduler, which marked it running in the same transaction
      // (and kept live calls allowed on a fork it queued so). Asked for now, on the run this
      // process holds: kept on its record before it drives a step.
      if (input.keepLiveAfterFork === true && !run.live_after_fork) {
        if (!(yield* checkpointer.takeOver(run.run_id, { status: run.status, owner: run.owner }, { live_after_fork: true }))) {
          return yield* lostRun(checkpointer, run.run_id, "its live_after_fork change")
        }
        run = { ...run, live_after_fork: true }
      }
      yield* input.setStatus("running")
    } else {
      // Taken over atomically from the status and owner it was read with: of two
      // processes resuming one run at once, one drives it and the other does nothing.
      // A wait it is resumed from stays on the record until the step it gates commits: with
      // the answer (a process that dies first resumes with it), or, for a breakpoint, who
      // resumed it (the step runs again without pausing there).
      // Recorded in the write that takes the run over: it cannot be lost apart from it.
      const takenOverHere = takeOverOfRunning(run, isoNow())
      const patch: RunPatch = {
        status: "running",
        started_at: run.started_at ?? isoNow(),
        owner: OWNER,
        waiting: waitingAtStart !== null && response !== undefined
          ? { ...waitingAtStart, given: carried?.given ?? { value: response.value, actor, at: isoNow() } }
          : waitingAtStart?.kind === "breakpoint"
          ? { ...waitingAtStart, given: waitingAtStart.given ?? { value: null, actor } }
          : null,
        error: null,
        ...(input.graphHashAccepted === true && run.graph_hash !== graph.graphHash ? { graph_hash: graph.graphHash } : {}),
        ...(input.keepLiveAfterFork === true && !run.live_after_fork ? { live_after_fork: true } : {}),
        ...(takenOverHere !== undefined ? { taken_over: takenOverHere } : {})
      }
      // Also from the step it was read at: a previous owner that committed a step since (it
      // woke up from a stall before its run was taken over) keeps the run, and a stopped run
      // whose state was edited since (a step added) is not taken over from the stale step.
      // An answer naming its wait (`waitId`): only while the run still waits there, in the same write.
      const waitId = input.response?.waitId
      if (!(yield* checkpointer.takeOver(run.run_id, { status: run.status, owner: run.owner, step: input.checkpoint.step, ...(waitId !== undefined ? { waitId } : {}) }, patch))) {
        const now = yield* checkpointer.getRun(run.run_id)
        const read = Option.getOrUndefined(now)
        // An answer whose wait moved, or that another answer beat to it: see `refuseLostAnswer`.
        const lost = input.response !== undefined
          ? yield* refuseLostAnswer(checkpointer, read, run.run_id, waitId, { status: run.status, step: input.checkpoint.step }, "resume")
          : undefined
        if (lost !== undefined) {
          yield* answerRefused(input, lost.reason, lost.error, read)
          return yield* lost.error
        }
        const seen = Option.match(now, { onNone: () => "gone", onSome: (r) => `${r.status}${r.owner !== null ? `, driven by ${r.owner}` : ""}` })
        const edited = read !== undefined && read.status === run.status && read.owner === run.owner && read.last_step !== input.checkpoint.step
        const refused = new RunStateError({
          runId: run.run_id,
          status: Option.match(now, { onNone: () => "unknown", onSome: (r) => r.status }),
          operation: "resume",
          message: edited
            ? `run ${run.run_id} changed since it was read: its state was edited (step ${read.last_step}, read at step ${input.checkpoint.step}); nothing was done here: resume it again`
            : `run ${run.run_id} changed since it was read (${run.status} then, ${seen} now): another process took it over first; nothing was done here`
        })
        yield* answerRefused(input, "other", refused, read)
        return yield* refused
      }
      if (patch.graph_hash !== undefined) {
        yield* Effect.logWarning(`run ${run.run_id}: continuing under graph hash ${patch.graph_hash} (it was started with ${run.graph_hash}; accepted)`)
      }
      run = { ...run, ...patch }
      takenOver = patch.taken_over ?? undefined
      yield* input.setStatus("running")
    }
    yield* emit({
      type: "run.started",
      graph_id: graph.id,
      graph_hash: graph.graphHash,
      from_step: step,
      resumed,
      ...(takenOver !== undefined ? { taken_over: takenOver } : {})
    })

    // The run's working memory: fresh, or as the latest checkpoint left it.
    const opened = ruleEngine.open(graph.rules, input.checkpoint.facts)
    if (Either.isLeft(opened)) return yield* fail(opened.left)
    const session = opened.right
    held.session = session

    // In a replay, while each step runs from the frontier the parent's did: replayed steps
    // keep their recorded start. Once a step leaves the recording, every later one is the fork's own.
    let onRecording = input.replay !== undefined
    /** When step `current` (run from `frontier`) starts: recorded while on the recording, else now. */
    const startOf = (current: number, frontier: ReadonlyArray<string>): string => {
      const recorded = onRecording ? recordedStart(input.replay, current, frontier) : undefined
      if (recorded === undefined) onRecording = false
      return recorded ?? isoNow()
    }

    /**
     * A step the loop takes itself: an answer to a rule's interrupt, its timeout, or (in a
     * replay) the parent's edit of its state, whose write is attributed to `writer`. With
     * `pause` (a breakpoint after the step that asked, in a replay that answers it), the run
     * stops there unless the step ends it, written with the step. Committed as every step
     * of the loop is: only while this process still owns the run.
     */
    const pseudoStep = (
      node: typeof RESPONSE_NODE | typeof TIMEOUT_NODE | typeof UPDATE_NODE,
      update: State,
      calls: ReadonlyArray<CallRecord>,
      to: ReadonlyArray<string> | undefined,
      options: { readonly pause?: WaitingInfo | undefined; readonly writer?: string | undefined } = {}
    ) =>
      Effect.gen(function*() {
        const { pause, writer = node } = options
        const current = step + 1
        const at = startOf(current, next)
        const writes: Array<NodeWrite> = Object.keys(update).length > 0 ? [{ node: writer, update }] : []
        const merged = applyWrites(state, writes, graph.state.fields, current)
        if (Either.isLeft(merged)) return yield* fail(merged.left)
        const valid = validate(merged.right, writes, current)
        if (Either.isLeft(valid)) return yield* fail(valid.left)
        const checkpoint: Checkpoint = {
          run_id: run.run_id,
          step: current,
          node,
          nodes: [node],
          state: merged.right,
          writes,
          delta: writtenDelta(merged.right, writes),
          next: to ?? next,
          joins,
          graph_hash: graph.graphHash,
          runtime_hash: graph.runtimeHash,
          parent_run_id: null,
          parent_step: step,
          started_at: at,
          finished_at: at,
          duration_ms: 0,
          calls,
          facts: session.snapshot(),
          ...(to === undefined && groups.length > 0 ? { groups } : {})
        }
        const done = checkpoint.next.length === 0
        yield* commit(
          checkpoint,
          done ? { status: "done", finished_at: at, owner: null } : pause !== undefined ? { status: "awaiting-input", waiting: pause, owner: null } : undefined,
          false
        )
        yield* emit({ type: "step.completed", step: current, nodes: [node], delta: checkpoint.delta, next, duration_ms: 0 })
      })

    /** What a run waits for when a rule's `interrupt` action stopped the routing of step `at`. */
    const ruleWaiting = (node: string, d: Extract<Decision, { _tag: "interrupt" }>, at: number): WaitingInfo => withId({
      node,
      prompt: d.prompt,
      step: at + 1,
      response_field: d.response_field ?? "",
      kind: "rule",
      rule: d.rule,
      payload: d.payload,
      asked_at: isoNow(),
      ...(d.requested_capability !== undefined ? { requested_capability: d.requested_capability } : {}),
      on_timeout: d.on_timeout,
      ...(d.timeout_ms !== undefined ? { deadline: new Date(clock.unsafeCurrentTimeMillis() + d.timeout_ms).toISOString() } : {})
    })

    /** In a replay still on the parent's recording, the parent's edit of its state at step `at` (see `ReplaySource.edits`), if any. */
    const recordedEdit = (at: number) => (onRecording ? input.replay?.edits?.get(at) : undefined)

    /** Step `at`, or the last of the parent's edits right after it: the parent's next step of its own follows it. */
    const pastEdits = (at: number): number => {
      let last = at
      while (recordedEdit(last + 1) !== undefined) last++
      return last
    }

    /** In a replay, take the parent's edits of its state at the next steps, as recorded (from the frontier they were made at). */
    const replayEdits = Effect.gen(function*() {
      for (let edit = recordedEdit(step + 1); edit !== undefined && recordedStart(input.replay, step + 1, next) !== undefined; edit = recordedEdit(step + 1)) {
        yield* pseudoStep(UPDATE_NODE, edit.update, edit.calls, undefined, { writer: edit.node })
      }
    })

    /** The response the replayed run recorded to the rule interrupt after step `at` (after its edits there), if any. */
    const recordedResponse = (at: number) => input.replay?.calls.get(`${pastEdits(at) + 1}:${RESPONSE_NODE}`)?.[0]

    /** True when, in a replay, the parent's wait whose answer would have been step `at` timed out instead. */
    const timesOutInReplay = (at: number): boolean =>
      input.replay !== undefined && (input.replay.timeouts.has(at) || input.replay.timedOut?.step === at)

    /**
     * Replay the parent's timeout of the wait whose answer would have been step `at`: its
     * `__timeout__` step to the same node, or its `on_timeout: halt` failure.
     */
    const replayTimeout = (at: number, pause?: WaitingInfo) =>
      Effect.gen(function*() {
        const to = input.replay?.timeouts.get(at)
        if (to !== undefined) return yield* pseudoStep(TIMEOUT_NODE, {}, [], to, { pause })
        const halted = input.replay?.timedOut
        if (halted !== undefined) {
          return yield* fail(new InterruptTimeoutError({ nodeId: halted.nodeId, step: halted.step, deadline: halted.deadline, message: halted.message }))
        }
      })

    /** Answer a rule's interrupt: the response (and its evidence fact) as a step (then `pause`, if given: see `pseudoStep`). */
    const answer = (waiting: WaitingInfo, value: unknown, by: string, pause?: WaitingInfo, waitId?: string) =>
      Effect.gen(function*() {
        const current = step + 1
        const evidence = assertEvidence(session, { runId: run.run_id, step: current, node: waiting.node, actor: by, data: value })
        if (Either.isLeft(evidence)) return yield* fail(evidence.left)
        const request = { prompt: waiting.prompt, node: waiting.node, actor: by }
        const call: CallRecord = {
          node: RESPONSE_NODE,
          seq: 0,
          name: "interrupt.response",
          request_hash: requestHash("interrupt.response", request),
          request,
          response: value,
          // The wait this run was resumed with an answer to (not a replayed one): see `answeredWaitMeta`.
          ...(waitId !== undefined ? { meta: answeredWaitMeta(waitId) } : {})
        }
        yield* pseudoStep(RESPONSE_NODE, waiting.response_field !== "" ? { [waiting.response_field]: value } : {}, [call], undefined, { pause })
      })

    if (waitingAtStart !== null) {
      const deadline = waitingAtStart.deadline
      if (waitingAtStart.kind === "rule" && response !== undefined) {
        yield* answer(waitingAtStart, response.value, answerActor, undefined, waitIdOf(waitingAtStart))
      } else if (response === undefined && deadline !== undefined && clock.unsafeCurrentTimeMillis() >= Date.parse(deadline)) {
        const onTimeout = waitingAtStart.on_timeout ?? "halt"
        if (onTimeout === "halt") {
          return yield* fail(new InterruptTimeoutError({
            nodeId: waitingAtStart.node,
            step: waitingAtStart.step,
            deadline,
            message: `nobody answered '${waitingAtStart.prompt}' at node '${waitingAtStart.node}' before ${deadline} (on_timeout: halt)`
          }))
        }
        const target = onTimeout.slice("goto:".length)
        yield* pseudoStep(TIMEOUT_NODE, {}, [], target === END ? [] : [target])
      }
    }

    // Started from a step whose routing stopped at a rule's interrupt that was not answered
    // since (a fork from that step; a run a crash left running there before its status was
    // written with the step): the replayed run's recorded answer, or the run waits again.
    if (waitingAtStart === null && step > 0) {
      const pending = unansweredInterrupt(input.checkpoint)
      if (pending !== undefined) {
        const asking = ruleWaiting(pending.node, pending.decision, step)
        const replayed = recordedResponse(step)
        if (replayed !== undefined) {
          yield* replayEdits
          yield* answer(asking, replayed.response, actorOf(replayed.request) ?? actor, undefined, answeredWaitOf(replayed.meta))
        } else if (timesOutInReplay(pastEdits(step) + 1)) {
          yield* replayEdits
          yield* replayTimeout(step + 1)
        } else {
          yield* transition({ status: "awaiting-input", waiting: asking, owner: null })
          yield* emit({ type: "run.waiting", waiting: asking })
          return toSummary(run, state)
        }
      }
    }

    // The answers nodes of the next step get, by node: the node the run waited at (its
    // earlier answers, then the response) and the nodes of its step answered before it;
    // consumed by the step that runs them.
    let answered = new Map<string, ReadonlyArray<unknown>>()
    // The nodes whose `answered` entry is the recording's (a replay), not given to this run.
    let fromRecording = new Set<string>()
    // The wait the run was resumed with an answer to, its node, who answered and when:
    // recorded with that answer's `interrupt.response` (and, when its node asks again in
    // the step, with its answered `ctx.interrupt` call: see `withAskedAgain`).
    let answeredWait: AnsweredWait | undefined
    // Whether this drive of an exact replay starts from the state the recording had at this
    // step, with no answer of its own: then each step it replays must write what the recorded one did.
    const exactState = input.replay?.writes !== undefined && response === undefined && jsonEqual(input.replay.stateAt?.(step), state)
    if (waitingAtStart !== null && waitingAtStart.kind !== "rule" && response !== undefined) {
      for (const [node, list] of Object.entries(waitingAtStart.others ?? {})) answered.set(node, list)
      answered.set(waitingAtStart.node, [...(waitingAtStart.answers ?? []), response.value])
      answeredWait = {
        node: waitingAtStart.node,
        waitId: waitIdOf(waitingAtStart),
        actor: answerActor,
        at: run.waiting?.given?.at,
        earlier: waitingAtStart.answered_waits ?? []
      }
    }

    // A step that asked part-way runs again from its start: the calls it made before it
    // asked answer it again (then it goes on live, or in a replay as the replay may), so it
    // sees what it saw before.
    let resumedAttempt = waitingAtStart !== null && waitingAtStart.kind !== "rule" && response !== undefined ? waitingAtStart.attempt : undefined
    /**
     * What answers step `at`'s calls: the replay's recording, if any; for the step a wait
     * is resumed at, the calls of that attempt instead (in a replay too: they are what
     * this run's nodes saw there, the ones the recording answered included).
     */
    const callSource = (at: number): ReplaySource | undefined => {
      if (resumedAttempt === undefined || resumedAttempt.step !== at) return input.replay
      const calls = new Map<string, Array<CallRecord>>()
      for (const call of resumedAttempt.calls) calls.set(`${at}:${call.node}`, [...(calls.get(`${at}:${call.node}`) ?? []), call])
      return input.replay === undefined
        ? { calls, responses: new Map(), overrides: new Map(), liveAfterFork: true, timeouts: new Map() }
        : { ...input.replay, calls }
    }

    // The run's breakpoints (`interrupt_before`, `interrupt_after`), and the step whose
    // breakpoints before it the run was resumed from (they do not fire again for it).
    const breakpoints = run.breakpoints
    const passedBefore = waitingAtStart === null
      ? undefined
      : waitingAtStart.kind === "breakpoint"
      ? waitingAtStart.when === "before" ? waitingAtStart.step : undefined
      : waitingAtStart.breakpoint_passed === true ? waitingAtStart.step : undefined

    /** The wait of a breakpoint before or after `node`, which runs (ran) at step `at` (`then`: what the run did after that step, before it paused). */
    const breakpointWaiting = (node: string, when: "before" | "after", at: number, then?: string): WaitingInfo => withId({
      node,
      prompt: breakpointPrompt(node, when, at, then),
      step: at,
      response_field: "",
      kind: "breakpoint",
      when,
      asked_at: isoNow()
    })

    /** Stop the run in `awaiting-input` for `request`, asked by `node` at `at` (the answers of the step's other nodes kept). */
    const waitFor = (node: string, request: InterruptRequest, at: number, given: ReadonlyArray<unknown>, attempt?: StepAttempt) =>
      Effect.gen(function*() {
        const others = [...answered].filter(([id]) => id !== node)
        // The waits of this step answered before, which nothing else of the step keeps (see `answeredWaitsFor`).
        const answeredWaits = answeredWaitsFor(attempt, answeredWait)
        let waiting: WaitingInfo = {
          node,
          prompt: request.prompt,
          step: at,
          response_field: request.responseField,
          kind: "node",
          asked_at: isoNow(),
          ...(request.payload !== undefined ? { payload: request.payload } : {}),
          ...(request.requestedCapability !== undefined ? { requested_capability: request.requestedCapability } : {}),
          ...(given.length > 0 ? { answers: given } : {}),
          ...(others.length > 0 ? { others: Object.fromEntries(others) } : {}),
          ...(attempt !== undefined ? { attempt } : {}),
          ...(answeredWaits.length > 0 ? { answered_waits: answeredWaits } : {}),
          ...(passedBefore === at ? { breakpoint_passed: true } : {}),
          ...(request.timeoutMs !== undefined
            ? { deadline: new Date(clock.unsafeCurrentTimeMillis() + request.timeoutMs).toISOString(), on_timeout: request.onTimeout ?? "halt" }
            : {})
        }
        // Its id: the child's question's when it asks on a child run's behalf, else its own.
        waiting = { ...waiting, wait_id: request.waitId ?? deriveWaitId(waiting) }
        yield* transition({ status: "awaiting-input", waiting, owner: null })
        yield* emit({ type: "run.waiting", waiting })
      })

    while (next.length > 0) {
      const requested = yield* Ref.get(control)
      if (requested === "cancel") {
        yield* transition({ status: "cancelled", finished_at: isoNow(), owner: null })
        // A child a pause or a shutdown left paused in the step that had not committed goes with it.
        yield* cancelLeftChildren(next, step + 1)
        yield* emit({ type: "run.cancelled", step })
        return toSummary(run, state)
      }
      if (requested === "pause" || requested === "requeue") {
        yield* Ref.set(control, "run")
        // Requeued (a server draining): `pending` and back on the queue in one write, for the next process.
        yield* transition({ status: requested === "pause" ? "paused" : "pending", owner: null })
        yield* emit(requested === "pause" ? { type: "run.paused", step } : { type: "run.paused", step, requeued: true })
        return toSummary(run, state)
      }
      // A fork's step budget (`max_steps` of the fork): at most that many steps after its
      // fork step, replayed and live alike (the parent's recorded edits too).
      if (run.fork_max_steps !== null && run.fork_step !== null && step + 1 > run.fork_step + run.fork_max_steps) {
        yield* flush
        return yield* fail(new StepLimitError({
          maxSteps: run.fork_max_steps,
          message: `fork ${run.run_id} used its step budget: max_steps ${run.fork_max_steps} after its fork step ${run.fork_step} ` +
            `(its steps ${run.fork_step + 1}..${run.fork_step + run.fork_max_steps} are kept), and had not ended. ` +
            "Fork again with a larger budget (--max-steps on stargraph replay, \"max_steps\" in the POST /v1/runs/{id}/counterfactual body, maxSteps in Replay.fork's options)" +
            (overridesNodes(run.mutation)
              ? ", or with an override that lets a loop exit (a node_output_overrides entry applies at every execution)"
              : "")
        }))
      }
      // In a replay, the parent's edit of its state where it was stopped, as recorded.
      if (recordedEdit(step + 1) !== undefined && recordedStart(input.replay, step + 1, next) !== undefined) {
        yield* replayEdits
        continue
      }
      const current = step + 1
      if (current > graph.topology.maxSteps) {
        // The rules that routed the last steps, from the checkpoints (the same message
        // whichever process, or replay, drove the steps before).
        yield* flush
        const trail = (yield* checkpointer.listCheckpoints(run.run_id)).slice(-8).flatMap((cp) =>
          Object.values(cp.rules?.decisions ?? {}).flatMap((d) => (d._tag !== "continue" ? [d.rule || d._tag] : []))
        ).slice(-8)
        const cycle = trail.length > 0 ? ` The rules that routed the last steps: ${trail.join(" → ")}.` : ""
        return yield* fail(new StepLimitError({
          maxSteps: graph.topology.maxSteps,
          message: `the run exceeded max_steps (${graph.topology.maxSteps}); a loop never reached its exit.${cycle} ` +
            "Fix the loop's exit condition (a rule or edge that leaves it, or a halt) or raise " +
            // A child whose limit its parent's node set (`config.max_steps` of a subgraph or map node).
            (run.parent_run_id !== null && run.fork_step !== null && run.derived_hash === null && (graph.ir.max_steps ?? DEFAULT_MAX_STEPS) !== graph.topology.maxSteps
              ? "config.max_steps of the parent graph's node that runs this graph (it sets this child's limit)"
              : "max_steps in the IR")
        }))
      }
      const frontier = next
      const frontierGroups = groups
      // A breakpoint before one of the step's nodes: the run pauses before anything of the
      // step runs (once for the step, naming its first such node), unless it was resumed from there.
      if (breakpoints !== null && breakpoints.before.length > 0 && passedBefore !== current) {
        const at = frontier.find((id) => names(breakpoints.before, id))
        if (at !== undefined) {
          const waiting = breakpointWaiting(at, "before", current)
          yield* transition({ status: "awaiting-input", waiting, owner: null })
          yield* emit({ type: "run.waiting", waiting })
          return toSummary(run, state)
        }
      }
      // A node that waits for input before it runs (an `interrupt` node) stops the step
      // unless it has its answer (from the resume, or from the parent's recording); with
      // several in the step, the run asks for each in turn and keeps the answers given.
      let timedOut = false
      for (const id of frontier) {
        if (answered.has(id)) continue
        // In a replay, a node that consumed answers at this step in the recording (an
        // interrupt node, or a node that asked while it ran) is given them again.
        const recorded = input.replay?.responses.get(`${current}:${id}`)
        if (recorded !== undefined) {
          const all = input.replay?.answers?.get(`${current}:${id}`)
          answered.set(id, all !== undefined && all.length > 1 ? all : [recorded])
          fromRecording.add(id)
          continue
        }
        const waits = graph.nodes.get(id)!.waitsForInput
        if (waits === undefined) continue
        // In a replay, a wait the parent let time out times out again.
        if (timesOutInReplay(current)) {
          yield* replayTimeout(current)
          timedOut = true
          break
        }
        yield* waitFor(id, waits, current, NO_ANSWERS)
        return toSummary(run, state)
      }
      if (timedOut) continue

      // A replayed step keeps its recorded start: the time its facts carry, as rules saw it.
      const stepStartedAt = startOf(current, frontier)
      const t0 = performance.now()
      yield* emit({ type: "step.started", step: current, nodes: frontier })
      const snapshot = state
      const recorder = stepRecorder(current, callSource(current))
      /** This attempt's calls, kept with a wait or a failure that leaves the step uncommitted. */
      const attempt = (): StepAttempt | undefined => {
        const calls = recorder.entries()
        return calls.length > 0 ? { step: current, calls } : undefined
      }
      /**
       * A failed attempt's calls and the answers its nodes consumed (an interrupt node's,
       * a losing branch's): a replay of the failed run has them, and fails as it did
       * instead of asking again.
       */
      const failedAttempt = (): StepAttempt | undefined => {
        const calls = withResponses(recorder.entries(), consumedAnswers(graph, current, frontier, answered, input.replay, answerActor, answeredWait, () => recorder.entries()))
        return calls.length > 0 ? { step: current, calls } : undefined
      }
      // Resuming the step a node asked at: the siblings that had finished keep their writes
      // (and their calls, from the attempt: see `callSource`), in a replay as in a run.
      const kept = resumedAttempt?.step === current ? resumedAttempt.writes : undefined
      const execute = (id: string): Effect.Effect<NodeOutcome, NodeFailure, NodeEnv> => {
        const write = kept?.find((w) => w.node === id)
        if (write !== undefined) {
          recorder.keep(id)
          return Effect.succeed({ _tag: "Update", update: write.update })
        }
        const override = input.replay?.overrides.get(id)
        if (override !== undefined) return Effect.succeed({ _tag: "Update", update: override })
        const node = graph.nodes.get(id)!.execute(snapshot, {
          runId: run.run_id,
          nodeId: id,
          step: current,
          calls: recorder.forNode(id),
          answers: answered.get(id) ?? NO_ANSWERS,
          ...(fromRecording.has(id) ? { answersRecorded: true } : {}),
          graphHash: graph.graphHash,
          unfinishedChild: input.replay === undefined ? undefined : unfinishedChild(input.replay, current),
          cancelling,
          childCommits: children,
          emitDelta,
          emitCustom,
          outlived
        })
        return traced
          ? Effect.withSpan(node, "stargraph.node", { attributes: { "stargraph.run_id": run.run_id, "stargraph.node_id": id, "stargraph.node_kind": graph.topology.nodes.get(id)!.kind, "stargraph.step": current } })
          : node
      }
      const parentCalls = input.replay?.calls.get(`${current}:${PARALLEL_NODE}`)
      const frontierRun = executeFrontier({ frontier, groups: frontierGroups, execute, recorded: (g) => recordedWinners(parentCalls, g) })
      // (The context holds this Checkpointer already when `hasCheckpointer`: checked at the start of the drive.)
      const nodes = hasCheckpointer
        ? (frontierRun as Effect.Effect<Effect.Effect.Success<typeof frontierRun>, NodeFailure>)
        : Effect.provideService(frontierRun, Checkpointer, checkpointer)
      // A retry's backoff is waited out before the step, except in a replay.
      const wait = backoffMs > 0 && input.replay === undefined ? Effect.zipRight(Effect.sleep(Duration.millis(backoffMs)), nodes) : nodes
      backoffMs = 0
      // The loop is uninterruptible but for its nodes: `cancel` interrupts the driving
      // fiber, which stops the running nodes and nothing else.
      const exit = yield* Effect.exit(Effect.interruptible(
        traced
          ? Effect.withSpan(wait, "stargraph.step", { attributes: { "stargraph.run_id": run.run_id, "stargraph.step": current, "stargraph.nodes": frontier.join(",") } })
          : wait
      ))
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure) || !Cause.isInterruptedOnly(exit.cause)) yield* cancelLeftChildren(frontier, current)
        if (Option.isSome(failure)) {
          // A child run's storage failure is the runtime's, not the run's (the run is marked `error`).
          return yield* (failure.value._tag === "CheckpointError" ? Effect.fail(failure.value) : fail(failure.value, failedAttempt()))
        }
        if (Cause.isInterruptedOnly(exit.cause)) {
          if (input.cancelRequested()) continue
          // Nobody interrupted the run: a node's own Effect ended interrupted (it ran
          // `Effect.interrupt`, or joined a fiber it interrupted). That is the node's failure.
          if (HashSet.size((yield* Effect.descriptor).interruptors) === 0) {
            return yield* fail(selfInterrupted(frontier, current), failedAttempt())
          }
          if (input.parentCancelling?.() === true) {
            yield* Ref.set(control, "cancel")
            continue
          }
          // Interrupted from outside (the caller's timeout, a closed scope, an interrupted
          // runtime): the step in flight is dropped, and the run is left `paused` with no
          // owner, resumable by any process, as Ctrl-C leaves it; then the interruption goes on.
          // A draining server asked for a requeue first: `pending`, back on the queue, its step to run again.
          const requeue = (yield* Ref.get(control)) === "requeue"
          yield* transition({ status: requeue ? "pending" : "paused", owner: null })
          yield* emit(requeue ? { type: "run.paused", step, requeued: true } : { type: "run.paused", step })
          return yield* Effect.interrupt
        }
        // A defect in the step (a node's executor threw, or broke the contract): the node's failure.
        return yield* fail(nodeFailed({ nodeId: frontier.join(","), step: current }, 1, Cause.squash(exit.cause)), failedAttempt())
      }
      const { executed, winners } = exit.value
      if (executed.length < frontier.length) yield* cancelLeftChildren(frontier.filter((id) => !executed.some((e) => e.id === id)), current)
      // A node asked for input (ctx.interrupt, a child run waiting): the step is not
      // committed; it runs again, with the answer, when the run is resumed.
      const asked = executed.find((e) => e.outcome._tag === "Interrupt")
      if (asked !== undefined && asked.outcome._tag === "Interrupt") {
        const bad = interruptProblem(asked.outcome, graph)
        if (bad !== undefined) {
          return yield* fail(new NodeExecutionError({ nodeId: asked.id, step: current, attempts: 1, cause: `the node asked for input with ${bad}` }), failedAttempt())
        }
        // The answers it consumed before asking: its answered `interrupt` calls (ctx.interrupt),
        // whether the answer came with the resume or, in a replay, from the recording; for a
        // node that reads `input.answers` (a kind's Interrupt outcome), the first `answered` of them.
        const fromCalls = recorder.entries().flatMap((c) => (c.node === asked.id && c.name === "interrupt" ? [c.response] : []))
        const given = fromCalls.length > 0 ? fromCalls : (answered.get(asked.id) ?? NO_ANSWERS).slice(0, Math.max(0, asked.outcome.answered))
        // Asked again after the answer this run was resumed with: its call keeps which wait that answered (see `withAskedAgain`).
        const tagged = withAskedAgain(attempt(), asked.id, (answered.get(asked.id)?.length ?? 0) - 1, fromRecording.has(asked.id) ? undefined : answeredWait)
        yield* waitFor(asked.id, asked.outcome, current, given, withKeptWrites(tagged, executed, frontierGroups, current))
        return toSummary(run, state)
      }
      // Which branches won is part of the step's cassette (a replay reruns the same ones).
      for (const [group, ids] of winners) {
        yield* Effect.promise(() => recorder.forNode(PARALLEL_NODE).call(winnersCall(group), { strategy: group.strategy, targets: group.targets }, () => ids).catch(() => undefined))
      }
      const diverged = recorder.divergence()
      if (diverged) return yield* fail(diverged, failedAttempt())
      const executedIds = executed.map((e) => e.id)
      const writes: Array<NodeWrite> = []
      for (const { id, outcome } of executed) {
        if (outcome._tag === "Update") writes.push({ node: id, update: outcome.update })
      }

      // An exact replay of a step run from the recorded state and frontier writes what it recorded.
      const recordedWrites = onRecording && exactState ? input.replay?.writes?.get(current) : undefined
      const unlike = recordedWrites === undefined ? undefined : writeMismatch(recordedWrites, writes, current, { recorded: input.replay?.recordedRunId, replaying: run.run_id })
      if (unlike !== undefined) return yield* fail(unlike, failedAttempt())
      const merged = applyWrites(state, writes, graph.state.fields, current)
      if (Either.isLeft(merged)) return yield* fail(merged.left, failedAttempt())
      const valid = validate(merged.right, writes, current)
      if (Either.isLeft(valid)) return yield* fail(valid.left, failedAttempt())
      // The answers the step's nodes consumed are evidence for the rules (a losing branch's
      // answer is recorded, for a replay, but its effects are dropped with its writes).
      const consumed = consumedAnswers(graph, current, frontier, answered, input.replay, answerActor, answeredWait, () => recorder.entries())
      for (const a of consumed) {
        if (!executedIds.includes(a.node)) continue
        const evidence = assertEvidence(session, { runId: run.run_id, step: current, node: a.node, actor: a.actor, data: a.value })
        if (Either.isLeft(evidence)) return yield* fail(evidence.left, failedAttempt())
      }
      // Router functions are user code (possibly async): an Effect only when the step has one.
      const routerEdges = graph.routers.size === 0 ? undefined : evaluateRouters(graph, executedIds, merged.right, current)
      const routes = routerEdges === undefined ? Either.right(undefined) : yield* Effect.either(routerEdges)
      if (Either.isLeft(routes)) return yield* fail(routes.left, failedAttempt())
      // The facts of the step's tool calls, when a rule can match them (the winners' calls only).
      if (graph.rules.toolFacts) {
        const asserted = assertToolFacts(session, { runId: run.run_id, step: current, at: stepStartedAt, calls: recorder.entries().filter((c) => executedIds.includes(c.node)) })
        if (Either.isLeft(asserted)) return yield* fail(asserted.left, failedAttempt())
      }
      const rules = session.route({ runId: run.run_id, step: current, at: stepStartedAt, state: merged.right, nodes: executedIds, routes: routes.right })
      if (Either.isLeft(rules)) return yield* fail(rules.left, failedAttempt())
      const routed = route(graph, { step: current, executed: executedIds, decisions: rules.right.decisions, joins, groups: frontierGroups })
      const ruled = withHaltNode(rules.right, routed.stop)
      backoffMs = routed.backoffMs

      const delta = writtenDelta(merged.right, writes)
      const finishedAt = isoNow()
      const duration_ms = performance.now() - t0
      const checkpoint: Checkpoint = {
        run_id: run.run_id,
        step: current,
        node: executedIds.join(","),
        nodes: executedIds,
        state: merged.right,
        writes,
        delta,
        next: routed.next,
        joins: routed.joins,
        graph_hash: graph.graphHash,
        runtime_hash: graph.runtimeHash,
        parent_run_id: null,
        parent_step: step,
        started_at: stepStartedAt,
        finished_at: finishedAt,
        duration_ms,
        // A branch that lost its race left no writes, and its calls go with them (a replay
        // does not run it); its answer, if it had one, stays (a replay needs it to start the step).
        calls: withResponses(executedIds.length === frontier.length ? recorder.entries() : recorder.entries().filter((c) => executedIds.includes(c.node) || !frontier.includes(c.node)), consumed),
        facts: session.snapshot(),
        rules: ruled,
        ...(routed.groups.length > 0 ? { groups: routed.groups } : {})
      }
      const stop = routed.stop
      const done = stop?._tag === "halt" || (stop === undefined && routed.next.length === 0)
      // A rule's interrupt: unless a replay answers it, the run waits, written with the step
      // (a crash between the two would leave a committed step the run then went past).
      const asking = stop?._tag === "interrupt" ? ruleWaiting(stop.node, stop.decision, current) : undefined
      const waits = asking !== undefined && recordedResponse(current) === undefined && !timesOutInReplay(pastEdits(current) + 1)
      // A breakpoint after one of the step's nodes: the run pauses, written with the step (a
      // crash cannot leave it past the breakpoint). Not when the step ends the run, nor when
      // a rule's interrupt asks there: the run stops for that answer, or, when a replay
      // answers it from the recording (or lets it time out again), pauses once that is applied.
      const pausesAfter = breakpoints !== null && breakpoints.after.length > 0 && !done
        ? executedIds.find((id) => names(breakpoints.after, id))
        : undefined
      const afterWaiting = pausesAfter === undefined || waits ? undefined : breakpointWaiting(pausesAfter, "after", current, asking !== undefined ? `its rule's interrupt replayed from the recording at step ${pastEdits(current) + 1}` : undefined)
      const patch = done
        ? { status: "done" as const, finished_at: finishedAt, owner: null }
        : waits
        ? { status: "awaiting-input" as const, waiting: asking, owner: null }
        : afterWaiting !== undefined && asking === undefined
        ? { status: "awaiting-input" as const, waiting: afterWaiting, owner: null }
        : undefined
      yield* commit(checkpoint, patch, input.replay !== undefined && recorder.liveCalls() === 0 && stop === undefined)
      if (answered.size > 0) answered = new Map()
      answeredWait = undefined
      if (fromRecording.size > 0) fromRecording = new Set()
      resumedAttempt = undefined
      yield* emit({
        type: "step.completed",
        step: current,
        nodes: executedIds,
        delta,
        next,
        duration_ms,
        rules: {
          fired: ruled.firings.map((f) => f.rule),
          decisions: Object.fromEntries(Object.entries(ruled.decisions).map(([node, d]) => [node, describeDecision(d)]))
        }
      })
      if (stop?._tag === "halt") {
        yield* emit({ type: "run.finished", status: "done", steps: step, final_state: state, halt: { rule: stop.rule, reason: stop.reason, node: stop.node } })
        return toSummary(run, state)
      }
      if (asking !== undefined) {
        const replayed = recordedResponse(current)
        if (replayed !== undefined || timesOutInReplay(pastEdits(current) + 1)) {
          // A replay answers with the parent's recorded response (or lets the wait time out
          // as the parent's did), after the parent's edits there; a breakpoint after the step
          // pauses the run once that is applied.
          yield* replayEdits
          yield* replayed !== undefined ? answer(asking, replayed.response, actorOf(replayed.request) ?? actor, afterWaiting, answeredWaitOf(replayed.meta)) : replayTimeout(step + 1, afterWaiting)
          if (afterWaiting !== undefined && run.status === "awaiting-input") {
            yield* emit({ type: "run.waiting", waiting: afterWaiting })
            return toSummary(run, state)
          }
          continue
        }
        yield* emit({ type: "run.waiting", waiting: asking })
        return toSummary(run, state)
      }
      if (afterWaiting !== undefined) {
        yield* emit({ type: "run.waiting", waiting: afterWaiting })
        return toSummary(run, state)
      }
    }

    if (run.status !== "done") {
      yield* transition({ status: "done", finished_at: isoNow(), owner: null })
    }
    yield* emit({ type: "run.finished", status: "done", steps: step, final_state: state })
    return toSummary(run, state)
  })

/**
 * The rule interrupt a step's routing stopped at (an `interrupt` decision for one of the
 * nodes it ran; it outranks every other action), if any. The loop's own pseudo-steps
 * (`__response__`, `__timeout__`) route nothing.
 */
const unansweredInterrupt = (checkpoint: Checkpoint): { readonly node: string; readonly decision: Extract<Decision, { _tag: "interrupt" }> } | undefined => {
  const decisions = checkpoint.rules?.decisions
  if (decisions === undefined) return undefined
  for (const node of checkpoint.nodes) {
    const decision = decisions[node]
    if (decision?._tag === "interrupt") return { node, decision }
  }
  return undefined
}

/** The run loop service. Its default is the loop above; provide another to wrap it. */
export class RunLoop extends Context.Reference<RunLoop>()("stargraph/RunLoop", {
  defaultValue: (): RunLoopShape => ({ drive: makeDrive() })
}) {}
