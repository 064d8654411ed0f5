/**
 * The tool-call cassette. Every non-deterministic call a node makes (tool and LLM calls,
 * ML inference, wall-clock reads, random numbers) goes through `ctx.call`, `ctx.now` or
 * `ctx.random`. In a live run each call's request and response (or how it failed, see
 * `callFailure.ts`, or that its node gave up on it) are recorded into the step's
 * checkpoint (atomically with it). In a replay, responses come from the parent's recording
 * in order; a request that differs from the recorded one, or a call beyond the recording,
 * is a loud `ReplayDivergenceError` — never a silent live call, unless the fork opted
 * into `live_after_fork`.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { CallFailure, CallRecord } from "../checkpoint/models.js"
import { NodeExecutionError, ReplayDivergenceError } from "../errors.js"
import { canonicalPlainJson, sha256 } from "../ir/hash.js"
import type { State } from "../ir/stateSchema.js"
import { checkJson, plainJsonEqual } from "../ir/json.js"
import { type CallOptions, type NodeCalls, neverAnswered } from "../nodes/calls.js"
import { failureOf, isCallOutcome, replayedFailure } from "./callFailure.js"

/** An edit of a stopped run's state as its `__update__` step recorded it: the write, who it is attributed to, and its call (who made it). */
export interface RecordedEdit {
  readonly node: string
  readonly update: State
  readonly calls: ReadonlyArray<CallRecord>
}

/** What a replay answers from: the parent's recording, plus the fork's mutation. */
export interface ReplaySource {
  /** Recorded calls by `"<step>:<node>"`, in call order. */
  readonly calls: ReadonlyMap<string, ReadonlyArray<CallRecord>>
  /** Answers nodes consumed in the parent (their `interrupt.response`), by `"<step>:<node>"`. */
  readonly responses: ReadonlyMap<string, unknown>
  /** Every answer a node consumed at a step, in order, where it consumed several (a node that asked more than once). */
  readonly answers?: ReadonlyMap<string, ReadonlyArray<unknown>> | undefined
  /**
   * In a replay without a mutation that may not call live: the parent's writes by step.
   * A replayed step that runs from the same state and frontier must write the same values;
   * one that does not fails with `ReplayDivergenceError[write-mismatch]`.
   */
  readonly writes?: ReadonlyMap<number, ReadonlyArray<{ readonly node: string; readonly update: { readonly [field: string]: unknown } }>> | undefined
  /** The id of the run whose recording this is: a value a node derived from `ctx.runId` names it where the replay's own id stands. */
  readonly recordedRunId?: string | undefined
  /**
   * With `writes`: the parent's state after a step, to tell whether a drive starts from the
   * recorded state. Asked once, when the drive starts (a source may release the parent's
   * states after answering).
   */
  readonly stateAt?: ((step: number) => { readonly [field: string]: unknown } | undefined) | undefined
  /** `node_output_overrides`: these nodes' outputs replace their execution. */
  readonly overrides: ReadonlyMap<string, State>
  /** Escape hatch: answer a call the cassette cannot with a live call instead of failing. */
  readonly liveAfterFork: boolean
  /** Steps the parent took as `__timeout__` (an interrupt unanswered past its deadline), with where each went. */
  readonly timeouts: ReadonlyMap<number, ReadonlyArray<string>>
  /**
   * In a replay without a mutation: the parent's edits of its state while it was stopped
   * (`__update__` steps, see `graph/updateState.ts`), by step, with the write and the call
   * that records who made it. A replay that reaches such a step on the parent's path
   * takes it as recorded. (A counterfactual fork does not inherit them: its source is
   * built without them, the parent's later steps renumbered to close the gaps.)
   */
  readonly edits?: ReadonlyMap<number, RecordedEdit> | undefined
  /**
   * The step the parent stopped at for input, uncommitted (absent: none): its `subgraph`
   * nodes there run new child runs that replay the parent's child runs of that step (found
   * by their idempotency keys under `runId`), up to the same question.
   */
  readonly waitedAt?: { readonly runId: string; readonly step: number } | undefined
  /**
   * In a fork that may call live: the step the parent failed at, uncommitted (absent:
   * none). Its `subgraph` nodes that run again start new child runs that replay the
   * parent's child runs of that step up to where they failed, then go on live.
   */
  readonly failedAt?: { readonly runId: string; readonly step: number } | undefined
  /** The parent's `on_timeout: halt` failure: the step its timeout took the place of, and the error's fields. */
  readonly timedOut?: { readonly step: number; readonly nodeId: string; readonly deadline: string; readonly message: string } | undefined
  /**
   * The parent's own divergence from its recording (it failed so; absent in a fork that may
   * call live): the same call, with the same request, at the same step, diverges the same way.
   */
  readonly divergence?: ReplayDivergenceError | undefined
  /**
   * When the parent's steps started, by step, with the frontier each ran from: a replayed
   * step that runs the same frontier starts at its recorded time (its `started_at`, and
   * the `_timestamp` of the facts it asserts), so rules that read it route alike.
   */
  readonly startedAt?: ReadonlyMap<number, { readonly frontier: string; readonly at: string }> | undefined
  /**
   * Where the recording ends when the parent stopped part-way (paused, cancelled, left
   * running by a process that stopped, or waiting for input): a call past it names that,
   * not another path.
   */
  readonly endsAt?: { readonly runId: string; readonly step: number; readonly status: string } | undefined
  /**
   * The parent's last committed step (in the fork's numbering): a fork waiting at a later
   * step waits where the recording holds no answer, so any answer it is given goes past it.
   */
  readonly lastStep?: number | undefined
  /**
   * True for a fork driven on with an answer to its wait: a divergence then also names how
   * a waiting fork is answered with live calls allowed (advice a fork that did not wait has no use for).
   */
  readonly answered?: boolean | undefined
}

/** The recorded start of `step` when the replay runs it from the parent's frontier (else undefined: the step is the fork's own). */
export const recordedStart = (replay: ReplaySource | undefined, step: number, frontier: ReadonlyArray<string>): string | undefined => {
  const recorded = replay?.startedAt?.get(step)
  return recorded !== undefined && recorded.frontier === frontier.join("\n") ? recorded.at : undefined
}

/** The hash a call is matched on: sha256 of the canonical `{name, request}`. */
export const requestHash = (name: string, request: unknown): string => sha256(canonicalPlainJson({ name, request: request ?? null }))

/** {@link requestHash} of a request whose canonical text the caller gave: the same text, assembled. */
const preparedHash = (name: string, canonical: string): string => sha256(`{"name":${JSON.stringify(name)},"request":${canonical}}`)

/** Records (or replays) the calls of one step. */
export interface StepRecorder {
  readonly forNode: (nodeId: string) => NodeCalls
  /** Every call made in the step, ordered by node then call order. */
  readonly entries: () => ReadonlyArray<CallRecord>
  /** The first divergence, even if the node caught the thrown error. */
  readonly divergence: () => ReplayDivergenceError | undefined
  /** How many calls were answered live (every call of a live run; escapes of a replay). */
  readonly liveCalls: () => number
  /**
   * Record the node's calls as the replay source holds them, without the node running: a
   * node whose write is kept from an earlier attempt of the step (it finished before a
   * sibling asked for input) keeps the calls that gave it.
   */
  readonly keep: (nodeId: string) => void
}

const NO_CALLS: ReadonlyArray<CallRecord> = []

/** How one call is answered: from the recording (an answer or a failure), live, or not at all (a divergence). */
type Answer =
  | { readonly _tag: "recorded"; readonly response: unknown }
  | { readonly _tag: "failed"; readonly failure: CallFailure }
  | { readonly _tag: "abandoned" }
  | { readonly _tag: "unawaited" }
  | { readonly _tag: "live" }
  | { readonly _tag: "diverged"; readonly error: ReplayDivergenceError }

/** A step's recording: shared by its nodes. */
interface StepState {
  readonly step: number
  readonly replay: ReplaySource | undefined
  readonly entries: Array<CallRecord>
  /** The nodes that made live calls (those not answered yet are given up when the step ends). */
  readonly nodes: Array<NodeState>
  diverged: ReplayDivergenceError | undefined
  live: number
}

/** Where one node is in the step's recording. */
interface NodeState {
  readonly nodeId: string
  seq: number
  /** The node's recorded calls in this step (a replay), and the next one to answer with. */
  recorded: ReadonlyArray<CallRecord> | undefined
  next: number
  /** Its live calls (some may be answered since); made by the first. */
  live: Array<Begun> | undefined
  /** Done for the step (it returned): a call it still makes gets no answer and is not recorded. */
  closed: boolean
}

/** A claimed call slot and how it is answered. */
interface Begun {
  readonly name: string
  readonly index: number
  readonly hash: string
  readonly answer: Answer
  /** The request as recorded: a copy made when it was hashed (see `begin`), or the caller's. */
  readonly request: unknown
  /** A live call waiting for its answer, answered (or failed), or given up by its node. */
  status: "pending" | "settled" | "abandoned"
  /** A replayed call's recorded `meta`, kept in the fork's record. */
  readonly meta?: CallRecord["meta"]
  /** A live call's `CallOptions.meta`. */
  metaOf?: (() => { readonly [key: string]: unknown } | undefined) | undefined
}

/**
 * Claim the node's next call slot and decide how it is answered.
 *
 * A request without `canonicalOf` (a node's own `ctx.call`, whose object the node may
 * change afterwards) is checked, canonicalized and hashed, and recorded as a copy parsed
 * from its canonical text: the record holds what was asked, whatever happens to the
 * object before the step commits. A replayed one matches when its hash is the recorded one.
 *
 * A request with `canonicalOf` comes from a node kind that builds it for this call from
 * its config and the run's state, neither of which changes (nodes never change their
 * state in place), and gives its canonical text (built only when it is hashed); it is
 * recorded as it is. In a replay it matches first by value: equal to the recorded request
 * (plain JSON, compared as values) under the same name, it is answered with the recorded
 * hash, which equal requests share, without hashing it; otherwise it is hashed and
 * compared as above.
 */
const begin = (state: StepState, node: NodeState, name: string, request: unknown, canonicalOf?: () => string | undefined): Begun => {
  const { replay, step } = state
  const listed = replay ? (node.recorded ??= replay.calls.get(`${step}:${node.nodeId}`) ?? NO_CALLS)[node.next] : undefined
  // A call given up on in the recording is made live again when the fork may call live
  // (never answering it could only hang the fork where the parent moved on).
  const recorded = listed?.abandoned !== undefined && replay?.liveAfterFork === true ? undefined : listed
  if (canonicalOf !== undefined && recorded !== undefined && recorded.name === name && plainJsonEqual(request ?? null, recorded.request)) {
    node.next++
    return { name, index: node.seq++, hash: recorded.request_hash, answer: recordedAnswer(recorded), request: recorded.request, status: "settled", meta: recorded.meta }
  }
  let canonical = canonicalOf?.()
  let kept = request
  if (canonical === undefined) {
    const problem = checkJson(request ?? null, "request")
    if (problem) throw new Error(`ctx.call('${name}'): ${problem.path}: ${problem.message}`)
    canonical = canonicalPlainJson(request ?? null)
    kept = JSON.parse(canonical)
  }
  const index = node.seq++
  const hash = preparedHash(name, canonical)
  if (!replay) return liveSlot(state, node, name, index, hash, kept)
  node.next++
  if (recorded !== undefined && recorded.request_hash === hash) return { name, index, hash, answer: recordedAnswer(recorded), request: kept, status: "settled", meta: recorded.meta }
  // A `ctx.interrupt` the recording never answered is where the parent stopped to wait:
  // the replay asks again (nothing happens "live" but the wait). So does a child run of
  // the step the parent waited at: the fork's child replays it up to the same question.
  if (replay.liveAfterFork || (recorded === undefined && (name === "interrupt" || (name === "subgraph" && replay.waitedAt?.step === step)))) {
    return liveSlot(state, node, name, index, hash, kept)
  }
  const nodeId = node.nodeId
  const again = replay.divergence
  // Where the parent itself diverged (same call, same request): its error again.
  const error = recorded === undefined && again !== undefined && again.step === step && again.nodeId === nodeId && again.call === name && again.actualHash === hash
    ? again
    : divergence(nodeId, step, index, name, hash, recorded, replay.endsAt, replay.answered)
  if (state.diverged === undefined) {
    state.diverged = error
    // The step fails uncommitted, with its calls kept on the run's error: the recorded call
    // it differed from goes with them, so a replay of this run diverges the same way.
    if (recorded !== undefined) state.entries.push(recorded)
  }
  return { name, index, hash, answer: { _tag: "diverged", error }, request: kept, status: "settled" }
}

/**
 * How to let a fork call live where the recording cannot answer: when it is made, or when
 * it is answered (a fork that waited, answered otherwise than its parent was).
 */
const LIVE_FIX = "fork again with live_after_fork (--live-after-fork on the CLI) to allow live calls"

/** How a waiting fork is answered with live calls allowed. */
const ANSWERED_FIX = "a fork waiting for input is answered with them allowed by stargraph respond <cf_run_id> --response '<json>' --live-after-fork " +
  "(HTTP: POST /v1/runs/{id}/respond with {\"response\": <JSON>, \"live_after_fork\": true})"

/** {@link LIVE_FIX} for a fork that was answered: how a waiting fork is answered with live calls allowed too. */
const liveFix = (answered: boolean | undefined): string => (answered === true ? `${LIVE_FIX}; ${ANSWERED_FIX}` : LIVE_FIX)

/** The divergence of call #`index` (`name`, hashed `hash`) from the recording (`recorded`: the call in its place, if any). */
const divergence = (
  nodeId: string,
  step: number,
  index: number,
  name: string,
  hash: string,
  recorded: CallRecord | undefined,
  endsAt?: ReplaySource["endsAt"],
  answered?: boolean
): ReplayDivergenceError => {
  const message = recorded === undefined && endsAt !== undefined && step > endsAt.step
    ? `node '${nodeId}' made call #${index} '${name}' at step ${step}, past the end of the recording: run ${endsAt.runId} stopped after step ${endsAt.step} ` +
      `(it is ${endsAt.status}${endsAt.status === "awaiting-input" ? ", its step " + String(endsAt.step + 1) + " not recorded until it is answered" : ""}). ` +
      `${endsAt.status === "awaiting-input" ? "Answer that run" : "Resume that run"} and fork it again once it went further, or fork with live_after_fork (--live-after-fork) to make the call live` +
      // A fork answered past the recording took the answer: forked again, it is answered with them allowed.
      (answered === true ? `; ${ANSWERED_FIX}` : "")
    : recorded === undefined && name === "subgraph"
    ? `node '${nodeId}' runs a child graph at step ${step}, and the recording holds no outcome of it: the parent stopped inside ` +
      "that child run before it finished (paused, cancelled, or its process stopped), or the fork took another path. " +
      "Fork from a step after the subgraph node's, resume the parent and fork it then, or fork with live_after_fork (--live-after-fork) to run the child live"
    : recorded === undefined
    ? `node '${nodeId}' made call #${index} '${name}' at step ${step}, but the cassette holds no such call; ` +
      `the fork took a path the parent never recorded (${liveFix(answered)})`
    : `node '${nodeId}' call #${index} '${name}' at step ${step} differs from the recorded request ` +
      `(recorded '${recorded.name}' ${recorded.request_hash}, now ${hash}); ${liveFix(answered)}`
  return new ReplayDivergenceError({
    reason: recorded === undefined ? "missing-entry" : "request-mismatch",
    nodeId,
    step,
    call: name,
    ...(recorded ? { expectedHash: recorded.request_hash } : {}),
    actualHash: hash,
    message
  })
}

/** A call answered live: pending until it answers, or its node gives it up. */
const liveSlot = (state: StepState, node: NodeState, name: string, index: number, hash: string, request: unknown): Begun => {
  state.live++
  const begun: Begun = { name, index, hash, answer: LIVE, request, status: "pending" }
  if (node.live === undefined) {
    node.live = []
    state.nodes.push(node)
  }
  node.live.push(begun)
  return begun
}

const LIVE: Answer = { _tag: "live" }

/** Record `begun`'s call with its outcome: its response, or how it failed or was given up. */
const push = (state: StepState, node: NodeState, begun: Begun, outcome: Pick<CallRecord, "response" | "error" | "abandoned">): void => {
  const meta = begun.metaOf !== undefined ? begun.metaOf() : begun.meta
  state.entries.push({ node: node.nodeId, seq: begun.index, name: begun.name, request_hash: begun.hash, request: begun.request ?? null, ...outcome, ...(meta !== undefined ? { meta } : {}) })
}

/**
 * Give up the node's live calls that have not answered (its attempt timed out and it
 * moves on, or the step ended): each is recorded as `abandoned`, and what it answers
 * later is not recorded. A replay never answers them, as they never answered in time.
 */
const abandon = (state: StepState, node: NodeState, returned: boolean): void => {
  if (node.live === undefined) return
  for (const begun of node.live) {
    if (begun.status !== "pending") continue
    begun.status = "abandoned"
    push(state, node, begun, { response: null, abandoned: returned ? "returned" : true })
  }
  node.live.length = 0
}

const recordedAnswer = (recorded: CallRecord): Answer =>
  recorded.abandoned === true
    ? ABANDONED
    : recorded.abandoned === "returned"
    ? UNAWAITED
    : recorded.error !== undefined
    ? { _tag: "failed", failure: recorded.error }
    : { _tag: "recorded", response: recorded.response }

const ABANDONED: Answer = { _tag: "abandoned" }
const UNAWAITED: Answer = { _tag: "unawaited" }

/**
 * What a replayed call its node returned without waiting for answers: a
 * `ReplayDivergenceError`, one macrotask later (after the answers the node got in the
 * meantime, as in the recording: a race it lost stays lost). Only a fork that waits for it
 * after all (it took another path) sees it; nothing else does.
 */
const unawaited = (node: NodeState, step: number, name: string, begun: Begun): ReplayDivergenceError =>
  new ReplayDivergenceError({
    reason: "missing-entry",
    nodeId: node.nodeId,
    step,
    call: name,
    actualHash: begun.hash,
    message: `node '${node.nodeId}' waits for call #${begun.index} '${name}' at step ${step}, which the recorded run never got an answer to ` +
      "(its node returned, or its step failed, first): the fork took another path (fork with live_after_fork, or --live-after-fork on the CLI, to make the call)"
  })

/** A promise that rejects with `error` one macrotask from now, handled (no unhandled rejection if nobody waits for it). */
const rejectLater = <A>(error: unknown): Promise<A> => {
  const later = new Promise<A>((_resolve, reject) => setImmediate(() => reject(error)))
  later.catch(() => undefined)
  return later
}

/** Record that the call failed with `failure` (a replay fails with it again), unless its node gave it up. */
const failed = (state: StepState, node: NodeState, begun: Begun, failure: CallFailure): void => {
  if (begun.status === "abandoned") return
  begun.status = "settled"
  push(state, node, begun, { response: null, error: failure })
}

/** Record a replayed call its node gave up on in the recording. */
const abandonedAgain = (state: StepState, node: NodeState, begun: Begun, abandoned: true | "returned"): void => push(state, node, begun, { response: null, abandoned })

/** Record a live call's failure (or an Effect's defect) when it is the call's outcome (not a signal to the caller). */
const failedLive = (state: StepState, node: NodeState, begun: Begun, error: unknown, defect = false): void => {
  let failure: CallFailure | undefined
  try {
    // A signal to the caller (asking for input, a child waiting) is not the call's answer.
    failure = isCallOutcome(error) ? failureOf(error, defect) : undefined
  } catch {
    failure = undefined // an object that cannot be read (a hostile Proxy): unrecorded, so a replay diverges loudly
  }
  if (failure !== undefined) failed(state, node, begun, failure)
  else if (begun.status === "pending") begun.status = "settled"
}

/** Record the call's response (it must be JSON), unless its node gave it up. */
const finish = (state: StepState, node: NodeState, name: string, begun: Begun, response: unknown): void => {
  if (begun.status === "abandoned") return
  begun.status = "settled"
  const bad = checkJson(response ?? null, "response")
  if (bad) throw new Error(`ctx.call('${name}'): ${bad.path}: ${bad.message}; a recorded response must be JSON`)
  push(state, node, begun, { response: response ?? null })
}

const notJson = (state: StepState, node: NodeState, cause: unknown) =>
  new NodeExecutionError({ nodeId: node.nodeId, step: state.step, attempts: 1, cause: cause instanceof Error ? cause.message : String(cause) })

/** Record the call's response, as an Effect. */
const recordEffect = <A>(state: StepState, node: NodeState, name: string, begun: Begun, value: unknown): Effect.Effect<A, NodeExecutionError> => {
  try {
    finish(state, node, name, begun, value)
  } catch (cause) {
    return Effect.fail(notJson(state, node, cause))
  }
  return Effect.succeed(value as A)
}

/** Record a response that is JSON by construction (`CallOptions.jsonResponse`), unless its node gave the call up. */
const recordJson = <A>(state: StepState, node: NodeState, begun: Begun, value: unknown): Effect.Effect<A> => {
  if (begun.status !== "abandoned") {
    begun.status = "settled"
    push(state, node, begun, { response: value ?? null })
  }
  return Effect.succeed(value as A)
}

/**
 * What a begun call is answered with when it is not made live: the recorded response or
 * failure, a divergence, or never (a call its node gave up on in the recording); undefined
 * for a live call.
 */
const answered = <A, E>(state: StepState, node: NodeState, name: string, begun: Begun, options?: CallOptions): Effect.Effect<A, E | ReplayDivergenceError | NodeExecutionError> | undefined => {
  const answer = begun.answer
  switch (answer._tag) {
    case "live":
      return undefined
    case "diverged":
      return Effect.fail(answer.error)
    case "failed": {
      failed(state, node, begun, answer.failure)
      // What the live call failed (or died) with, as recorded: the caller's own error type.
      const error = replayedFailure(answer.failure, { nodeId: node.nodeId, step: state.step })
      return answer.failure.defect === true ? Effect.die(error) : Effect.fail(error as E)
    }
    case "abandoned":
      abandonedAgain(state, node, begun, true)
      return Effect.never
    case "unawaited":
      abandonedAgain(state, node, begun, "returned")
      return Effect.zipRight(Effect.yieldNow(), Effect.fail(unawaited(node, state.step, name, begun)))
    case "recorded":
      // A recorded answer is recorded again at once: no step through the live call's Effect,
      // and no JSON check (it was read from a checkpoint, which holds JSON only).
      options?.recorded?.(begun.meta)
      return recordJson<A>(state, node, begun, answer.response)
  }
}

/** Record a live call's response (see `CallOptions.jsonResponse`). */
const settle = <A>(state: StepState, node: NodeState, name: string, begun: Begun, value: unknown, options: CallOptions | undefined): Effect.Effect<A, NodeExecutionError> =>
  options?.jsonResponse === true ? recordJson<A>(state, node, begun, value) : recordEffect<A>(state, node, name, begun, value)

/** Record how a live call failed: its failure, else its defect; an interruption is not the call's answer. */
const settleFailure = (state: StepState, node: NodeState, begun: Begun, cause: Cause.Cause<unknown>): void => {
  const failure = Cause.failureOption(cause)
  const defect = Option.isNone(failure) ? Cause.dieOption(cause) : Option.none()
  if (Option.isSome(failure)) failedLive(state, node, begun, failure.value)
  else if (Option.isSome(defect)) failedLive(state, node, begun, defect.value, true)
  else if (begun.status === "pending") begun.status = "settled"
}

/** A recorder for `step`; with `replay`, calls are answered from the recording. */
export const stepRecorder = (step: number, replay: ReplaySource | undefined): StepRecorder => {
  const state: StepState = { step, replay, entries: [], nodes: [], diverged: undefined, live: 0 }
  // Methods, not named closures: a node's calls are made for every node of every step.
  return {
    forNode(nodeId: string): NodeCalls {
      const node: NodeState = { nodeId, seq: 0, recorded: undefined, next: 0, live: undefined, closed: false }
      /** The node's next call slot, or what the call is answered with when it gets none (its node is done, its request is not JSON). */
      const claim = (name: string, request: unknown, options: CallOptions | undefined): Begun | Effect.Effect<never, NodeExecutionError> => {
        if (node.closed) return Effect.never
        try {
          const begun = begin(state, node, name, request, options?.canonical)
          if (options?.meta !== undefined && begun.answer._tag === "live") begun.metaOf = options.meta
          return begun
        } catch (cause) {
          return Effect.fail(notJson(state, node, cause))
        }
      }
      const calls: NodeCalls = {
        async call<A>(name: string, request: unknown, liveCall: () => A | Promise<A>): Promise<A> {
          if (node.closed) return neverAnswered
          const begun = begin(state, node, name, request)
          const answer = begun.answer
          if (answer._tag === "diverged") throw answer.error
          if (answer._tag === "failed") {
            failed(state, node, begun, answer.failure)
            throw replayedFailure(answer.failure, { nodeId, step })
          }
          if (answer._tag === "abandoned") {
            abandonedAgain(state, node, begun, true)
            return neverAnswered
          }
          if (answer._tag === "unawaited") {
            abandonedAgain(state, node, begun, "returned")
            return rejectLater<A>(unawaited(node, step, name, begun))
          }
          let response: unknown
          if (answer._tag === "recorded") response = answer.response
          else {
            try {
              response = await liveCall()
            } catch (error) {
              failedLive(state, node, begun, error)
              throw error
            }
          }
          finish(state, node, name, begun, response)
          return response as A
        },
        callEffect<A, E, R>(name: string, request: unknown, liveCall: Effect.Effect<A, E, R>, options?: CallOptions): Effect.Effect<A, E | ReplayDivergenceError | NodeExecutionError, R> {
          return Effect.suspend((): Effect.Effect<A, E | ReplayDivergenceError | NodeExecutionError, R> => {
            const begun = claim(name, request, options)
            if (!("answer" in begun)) return begun
            return answered<A, E>(state, node, name, begun, options) ?? Effect.matchCauseEffect(liveCall, {
              onFailure: (cause) => {
                settleFailure(state, node, begun, cause)
                return Effect.failCause(cause)
              },
              onSuccess: (value) => settle<A>(state, node, name, begun, value, options)
            })
          })
        },
        callNow<A, E>(name: string, request: unknown, liveCall: () => Exit.Exit<A, E>, options?: CallOptions): Effect.Effect<A, E | ReplayDivergenceError | NodeExecutionError> {
          const begun = claim(name, request, options)
          if (!("answer" in begun)) return begun
          const known = answered<A, E>(state, node, name, begun, options)
          if (known !== undefined) return known
          let exit: Exit.Exit<A, E>
          try {
            exit = liveCall()
          } catch (defect) {
            // Thrown: a defect, recorded and replayed as one (as `callEffect` records its live Effect's).
            exit = Exit.die(defect)
          }
          if (Exit.isSuccess(exit)) return settle<A>(state, node, name, begun, exit.value, options)
          settleFailure(state, node, begun, exit.cause)
          return exit
        },
        now() {
          return calls.call("clock.now", null, () => Date.now())
        },
        random() {
          return calls.call("random", null, () => Math.random())
        },
        abandonPending(returned: boolean, final?: boolean) {
          abandon(state, node, returned)
          if (final === true) node.closed = true
        }
      }
      return calls
    },
    entries() {
      for (const node of state.nodes) abandon(state, node, false)
      const entries = state.entries
      return entries.length === 0 ? NO_CALLS : [...entries].sort((a, b) => (a.node === b.node ? a.seq - b.seq : a.node < b.node ? -1 : 1))
    },
    divergence() {
      return state.diverged
    },
    liveCalls() {
      return state.live
    },
    keep(nodeId: string) {
      for (const call of replay?.calls.get(`${step}:${nodeId}`) ?? NO_CALLS) state.entries.push(call)
    }
  }
}
