/**
 * The tool-call cassette. Every non-deterministic call a node makes (tool and LLM calls,
 * ML inference, wall-clock reads, random numbers) goes through `ctx.call`, `ctx.now` or
 * `ctx.random`. In a live run each call's request and response are recorded into the
 * step's checkpoint (atomically with it). In a replay, responses come from the parent's
 * recording in order; a request that differs from the recorded one, or a call beyond
 * the recording, is a loud `ReplayDivergenceError` — never a silent live call, unless
 * the fork opted into `live_after_fork`.
 */
import type { CallRecord } from "../checkpoint/models.js"
import { ReplayDivergenceError } from "../errors.js"
import { canonicalJson, sha256 } from "../ir/hash.js"
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
export const requestHash = (name: string, request: unknown): string => sha256(canonicalJson({ name, request: request ?? null }))

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

/** A recorder for `step`; with `replay`, calls are answered from the recording. */
export const stepRecorder = (step: number, replay: ReplaySource | undefined): StepRecorder => {
  const entries: Array<CallRecord> = []
  let diverged: ReplayDivergenceError | undefined
  let live = 0
  const forNode = (nodeId: string): NodeCalls => {
    let seq = 0
    let queue: Array<CallRecord> | undefined
    const call = async <A>(name: string, request: unknown, liveCall: () => A | Promise<A>): Promise<A> => {
      const problem = checkJson(request ?? null, "request")
      if (problem) throw new Error(`ctx.call('${name}'): ${problem.path}: ${problem.message}`)
      const index = seq++
      const hash = requestHash(name, request)
      let response: unknown
      if (replay) {
        queue ??= [...(replay.calls.get(`${step}:${nodeId}`) ?? [])]
        const recorded = queue.shift()
        if (recorded !== undefined && recorded.request_hash === hash) {
          response = recorded.response
        } else if (replay.liveAfterFork) {
          live++
          response = await liveCall()
        } else {
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
          throw error
        }
      } else {
        live++
        response = await liveCall()
      }
      const bad = checkJson(response ?? null, "response")
      if (bad) throw new Error(`ctx.call('${name}'): ${bad.path}: ${bad.message}; a recorded response must be JSON`)
      entries.push({ node: nodeId, seq: index, name, request_hash: hash, request: request ?? null, response: response ?? null })
      return response as A
    }
    return {
      call,
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
