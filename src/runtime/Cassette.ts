/**
 * The tool-call cassette. Every non-deterministic call a node makes (tool and LLM calls,
 * ML inference, wall-clock reads, random numbers) goes through `ctx.call`, `ctx.now` or
 * `ctx.random`. In a live run each call's request and response are recorded into the
 * step's checkpoint (atomically with it). In a replay, responses come from the parent's
 * recording in order; a request that differs from the recorded one, or a call beyond
 * the recording, is a loud `ReplayDivergenceError` — never a silent live call, unless
 * the fork opted into `live_after_fork`.
 */
import * as Effect from "effect/Effect"
import type { CallRecord } from "../checkpoint/models.js"
import { NodeExecutionError, ReplayDivergenceError } from "../errors.js"
import { canonicalPlainJson, sha256 } from "../ir/hash.js"
import type { State } from "../ir/stateSchema.js"
import { checkJson } from "../ir/json.js"
import type { NodeCalls } from "../nodes/calls.js"

/** What a replay answers from: the parent's recording, plus the fork's mutation. */
export interface ReplaySource {
  /** Recorded calls by `"<step>:<node>"`, in call order. */
  readonly calls: ReadonlyMap<string, ReadonlyArray<CallRecord>>
  /** Recorded interrupt responses by `"<step>:<node>"`. */
  readonly responses: ReadonlyMap<string, unknown>
  /** `node_output_overrides`: these nodes' outputs replace their execution. */
  readonly overrides: ReadonlyMap<string, State>
  /** Escape hatch: answer a call the cassette cannot with a live call instead of failing. */
  readonly liveAfterFork: boolean
}

/** The hash a call is matched on: sha256 of the canonical `{name, request}`. */
export const requestHash = (name: string, request: unknown): string => sha256(canonicalPlainJson({ name, request: request ?? null }))

/** Records (or replays) the calls of one step. */
export interface StepRecorder {
  readonly forNode: (nodeId: string) => NodeCalls
  /** Every call made in the step, ordered by node then call order. */
  readonly entries: () => ReadonlyArray<CallRecord>
  /** The first divergence, even if the node caught the thrown error. */
  readonly divergence: () => ReplayDivergenceError | undefined
  /** How many calls were answered live (every call of a live run; escapes of a replay). */
  readonly liveCalls: () => number
}

const NO_CALLS: ReadonlyArray<CallRecord> = []

/** How one call is answered: from the recording, live, or not at all (a divergence). */
type Answer =
  | { readonly _tag: "recorded"; readonly response: unknown }
  | { readonly _tag: "live" }
  | { readonly _tag: "diverged"; readonly error: ReplayDivergenceError }

/** A recorder for `step`; with `replay`, calls are answered from the recording. */
export const stepRecorder = (step: number, replay: ReplaySource | undefined): StepRecorder => {
  const entries: Array<CallRecord> = []
  let diverged: ReplayDivergenceError | undefined
  let live = 0
  const forNode = (nodeId: string): NodeCalls => {
    let seq = 0
    let queue: Array<CallRecord> | undefined
    /** Claim the next call slot and decide how it is answered. */
    const begin = (name: string, request: unknown): { readonly index: number; readonly hash: string; readonly answer: Answer } => {
      const problem = checkJson(request ?? null, "request")
      if (problem) throw new Error(`ctx.call('${name}'): ${problem.path}: ${problem.message}`)
      const index = seq++
      const hash = requestHash(name, request)
      if (!replay) {
        live++
        return { index, hash, answer: { _tag: "live" } }
      }
      queue ??= [...(replay.calls.get(`${step}:${nodeId}`) ?? [])]
      const recorded = queue.shift()
      if (recorded !== undefined && recorded.request_hash === hash) return { index, hash, answer: { _tag: "recorded", response: recorded.response } }
      if (replay.liveAfterFork) {
        live++
        return { index, hash, answer: { _tag: "live" } }
      }
      const error = new ReplayDivergenceError({
        reason: recorded === undefined ? "missing-entry" : "request-mismatch",
        nodeId,
        step,
        call: name,
        ...(recorded ? { expectedHash: recorded.request_hash } : {}),
        actualHash: hash,
        message: recorded === undefined
          ? `node '${nodeId}' made call #${index} '${name}' at step ${step}, but the cassette holds no such call; ` +
            "the fork took a path the parent never recorded (fork with live_after_fork to allow live calls)"
          : `node '${nodeId}' call #${index} '${name}' at step ${step} differs from the recorded request ` +
            `(recorded '${recorded.name}' ${recorded.request_hash}, now ${hash}); fork with live_after_fork to allow live calls`
      })
      diverged ??= error
      return { index, hash, answer: { _tag: "diverged", error } }
    }
    /** Record the call's response (it must be JSON). */
    const finish = (name: string, request: unknown, index: number, hash: string, response: unknown): void => {
      const bad = checkJson(response ?? null, "response")
      if (bad) throw new Error(`ctx.call('${name}'): ${bad.path}: ${bad.message}; a recorded response must be JSON`)
      entries.push({ node: nodeId, seq: index, name, request_hash: hash, request: request ?? null, response: response ?? null })
    }
    const call = async <A>(name: string, request: unknown, liveCall: () => A | Promise<A>): Promise<A> => {
      const { answer, hash, index } = begin(name, request)
      if (answer._tag === "diverged") throw answer.error
      const response = answer._tag === "recorded" ? answer.response : await liveCall()
      finish(name, request, index, hash, response)
      return response as A
    }
    const notJson = (cause: unknown) =>
      new NodeExecutionError({ nodeId, step, attempts: 1, cause: cause instanceof Error ? cause.message : String(cause) })
    const callEffect = <A, E, R>(name: string, request: unknown, liveCall: Effect.Effect<A, E, R>): Effect.Effect<A, E | ReplayDivergenceError | NodeExecutionError, R> =>
      Effect.suspend((): Effect.Effect<A, E | ReplayDivergenceError | NodeExecutionError, R> => {
        let begun: ReturnType<typeof begin>
        try {
          begun = begin(name, request)
        } catch (cause) {
          return Effect.fail(notJson(cause))
        }
        const { answer, hash, index } = begun
        if (answer._tag === "diverged") return Effect.fail(answer.error)
        const response: Effect.Effect<unknown, E, R> = answer._tag === "recorded" ? Effect.succeed(answer.response) : liveCall
        return Effect.flatMap(response, (value) =>
          Effect.try({ try: () => (finish(name, request, index, hash, value), value as A), catch: notJson }))
      })
    return {
      call,
      callEffect,
      now: () => call("clock.now", null, () => Date.now()),
      random: () => call("random", null, () => Math.random())
    }
  }
  return {
    forNode,
    entries: () => (entries.length === 0 ? NO_CALLS : [...entries].sort((a, b) => (a.node === b.node ? a.seq - b.seq : a.node < b.node ? -1 : 1))),
    divergence: () => diverged,
    liveCalls: () => live
  }
}
