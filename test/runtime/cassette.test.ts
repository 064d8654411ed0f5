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
  liveAfterFork,
  timeouts: new Map()
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

  it("a request that is not equal as a value still matches on its hash (its canonical text built then)", () => {
    const recorded = record("ml.m", { input: [1, 2] })
    // Not plain JSON (a typed array), so not equal as a value; its canonical text is the recorded one.
    let built = 0
    const out = replay(recorded, "ml.m", { input: Float32Array.of(1, 2) }, () => {
      built++
      return "{\"input\":[1,2]}"
    })
    expect(out.result).toEqual(Either.right({ text: "answer" }))
    expect(built).toBe(1)
    expect(out.entries[0]!.request_hash).toBe(recorded[0]!.request_hash)
  })

  it("a node's own call is matched on its hash only, and recorded as it was when asked", () => {
    // A node that changes its request object after the call (a page cursor, a message list).
    const recorder = stepRecorder(1, undefined)
    const request = { args: { page: 1 } }
    Effect.runSync(recorder.forNode("n").callEffect("tool.search", request, Effect.succeed({ hits: ["page-1"] })))
    request.args.page = 2
    const recorded = recorder.entries()
    expect(recorded[0]!.request).toEqual({ args: { page: 1 } })
    expect(recorded[0]!.request_hash).toBe(requestHash("tool.search", { args: { page: 1 } }))
    // A replay asking for page 2 diverges; asking for page 1 gets page 1.
    const page2 = replay(recorded, "tool.search", { args: { page: 2 } })
    expect(Either.isLeft(page2.result) && page2.result.left).toMatchObject({ _tag: "ReplayDivergenceError", reason: "request-mismatch" })
    expect(replay(recorded, "tool.search", { args: { page: 1 } }).result).toEqual(Either.right({ hits: ["page-1"] }))
    // A recorded body that does not hash to its recorded hash (a hand-edited checkpoint) never answers a node's own call.
    const edited = [{ ...recorded[0]!, request: { args: { page: 2 } } }]
    expect(Either.isLeft(replay(edited, "tool.search", { args: { page: 2 } }).result)).toBe(true)
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
