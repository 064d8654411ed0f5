/**
 * The step recorder's matching: a replayed call is answered when its name and request
 * equal the recorded ones (compared as values) or when its request hashes to the
 * recorded hash; anything else diverges. The replay records what the live run recorded.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import type { CallRecord } from "../../src/checkpoint/models.js"
import { requestHash, type ReplaySource, stepRecorder } from "../../src/runtime/Cassette.js"

const request = { model: "m", messages: [{ role: "user", content: "q" }], params: { temperature: 0 } }

/** One live call of `name` with `req`, recorded: its entries. */
const record = (name: string, req: unknown): ReadonlyArray<CallRecord> => {
  const recorder = stepRecorder(1, undefined)
  Effect.runSync(recorder.forNode("n").callEffect(name, req, Effect.succeed({ text: "answer" })))
  return recorder.entries()
}

const source = (entries: ReadonlyArray<CallRecord>, liveAfterFork = false): ReplaySource => ({
  calls: new Map([["1:n", entries]]),
  responses: new Map(),
  overrides: new Map(),
  liveAfterFork
})

/** Replay one call; its result, the entries the replay recorded and how many calls went live. */
const replay = (entries: ReadonlyArray<CallRecord>, name: string, req: unknown, canonical?: () => string | undefined) => {
  const recorder = stepRecorder(1, source(entries))
  let lived = 0
  const live = Effect.sync(() => {
    lived++
    return { text: "live" }
  })
  const result = Effect.runSync(Effect.either(recorder.forNode("n").callEffect(name, req, live, canonical)))
  return { result, entries: recorder.entries(), lived }
}

describe("replayed calls", () => {
  it("an equal request (keys in any order, parsed back from JSON) gets the recorded answer and hash, without hashing it", () => {
    const recorded = record("lm.dspy", request)
    const reordered = { params: { temperature: 0 }, messages: [{ content: "q", role: "user" }], model: "m" }
    let built = 0
    const out = replay(recorded, "lm.dspy", reordered, () => {
      built++
      return undefined
    })
    expect(out.result).toEqual(Either.right({ text: "answer" }))
    expect(out.lived).toBe(0)
    expect(built).toBe(0)
    expect(out.entries).toEqual([{ ...recorded[0]!, request: reordered }])
    expect(out.entries[0]!.request_hash).toBe(requestHash("lm.dspy", request))
  })

  it("a request that differs diverges with both hashes; the same request under another name diverges too", () => {
    const recorded = record("lm.dspy", request)
    const changed = replay(recorded, "lm.dspy", { ...request, model: "other" })
    expect(Either.isLeft(changed.result) && changed.result.left).toMatchObject({
      _tag: "ReplayDivergenceError",
      reason: "request-mismatch",
      expectedHash: recorded[0]!.request_hash,
      actualHash: requestHash("lm.dspy", { ...request, model: "other" })
    })
    const renamed = replay(recorded, "tool.search", request)
    expect(Either.isLeft(renamed.result) && renamed.result.left).toMatchObject({ _tag: "ReplayDivergenceError", reason: "request-mismatch" })
    expect(changed.lived + renamed.lived).toBe(0)
  })

  it("a recording whose request body is not kept as JSON still matches on its hash", () => {
    const recorded = record("ml.m", { input: [1, 2] })
    // The body differs in form (a typed array), the canonical text does not.
    const out = replay(recorded, "ml.m", { input: [1, 2] }, () => "{\"input\":[1,2]}")
    expect(out.result).toEqual(Either.right({ text: "answer" }))
    const odd = replay([{ ...recorded[0]!, request: "not the body" }], "ml.m", { input: [1, 2] })
    expect(odd.result).toEqual(Either.right({ text: "answer" }))
  })

  it("a request that is not JSON is refused as before, and live_after_fork answers a differing one live", () => {
    const recorded = record("lm.dspy", request)
    const bad = replay(recorded, "lm.dspy", { when: new Date(0) })
    expect(Either.isLeft(bad.result) && bad.result.left._tag).toBe("NodeExecutionError")
    const recorder = stepRecorder(1, source(recorded, true))
    const answer = Effect.runSync(recorder.forNode("n").callEffect("lm.dspy", { ...request, model: "other" }, Effect.succeed({ text: "live" })))
    expect(answer).toEqual({ text: "live" })
    expect(recorder.liveCalls()).toBe(1)
    expect(recorder.entries()[0]!.request_hash).toBe(requestHash("lm.dspy", { ...request, model: "other" }))
  })
})
