/**
 * The step recorder's matching: a replayed call is answered when its name and request
 * equal the recorded ones (compared as values) or when its request hashes to the
 * recorded hash; anything else diverges. The replay records what the live run recorded.
 * A call that failed is recorded with how it failed, and fails so again in a replay.
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import type { CallFailure, CallRecord } from "../../src/checkpoint/models.js"
import { CheckpointError, NodeExecutionError, ReplayDivergenceError, ToolError } from "../../src/errors.js"
import { Unrecorded } from "../../src/nodes/calls.js"
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
  const result = Effect.runSync(Effect.either(recorder.forNode("n").callEffect(name, req, live, canonical === undefined ? undefined : { canonical })))
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

describe("responses", () => {
  it("a live response is checked for JSON, unless the caller says it built JSON (jsonResponse), when it is kept as it is", () => {
    const notJson = stepRecorder(1, undefined)
    const refused = Effect.runSync(Effect.either(notJson.forNode("n").callEffect("tool.t", { a: 1 }, Effect.succeed({ when: new Date(0) }))))
    expect(Either.isLeft(refused) && refused.left._tag).toBe("NodeExecutionError")
    expect(notJson.entries()).toEqual([])
    // Not walked at all: the caller vouches for it (a value the check refuses shows that).
    const built = { score: [0.25, 0.75], when: new Date(0) }
    const trusted = stepRecorder(1, undefined)
    expect(Effect.runSync(trusted.forNode("n").callEffect("ml.m", { input: [1] }, Effect.succeed(built), { jsonResponse: true }))).toBe(built)
    const [entry] = trusted.entries()
    expect(entry!.response).toBe(built)
    expect(entry!.request_hash).toBe(requestHash("ml.m", { input: [1] }))
  })
})

/** The record of node `n`'s first call, `name` with `request`, that failed with `error`. */
const failedCall = (name: string, request: unknown, error: CallFailure): CallRecord =>
  ({ node: "n", seq: 0, name, request_hash: requestHash(name, request), request, response: null, error })

describe("failed calls", () => {
  /** A live `ctx.call` whose function throws `thrown`: what the caller saw and the entries recorded. */
  const liveThrow = async (thrown: unknown) => {
    const recorder = stepRecorder(1, undefined)
    const seen = await recorder.forNode("n").call("api", { q: 1 }, () => {
      throw thrown
    }).then(() => undefined, (e: unknown) => e)
    return { seen, entries: recorder.entries() }
  }
  /** The same call replayed against `entries`: what it failed with, and what it recorded. */
  const replayThrow = async (entries: ReadonlyArray<CallRecord>) => {
    const recorder = stepRecorder(1, source(entries))
    let lived = 0
    const seen = await recorder.forNode("n").call("api", { q: 1 }, () => {
      lived++
      return "live"
    }).then(() => undefined, (e: unknown) => e)
    return { seen, entries: recorder.entries(), lived }
  }

  it("a thrown error is recorded with its name, message and JSON fields, and the replay throws it again without calling", async () => {
    const thrown = Object.assign(new TypeError("socket hang up"), { code: "ECONNRESET", retryable: true, socket: { close: () => undefined } })
    const run = await liveThrow(thrown)
    expect(run.seen).toBe(thrown)
    // The socket is not JSON: not kept.
    expect(run.entries).toEqual([failedCall("api", { q: 1 }, { kind: "error", name: "TypeError", message: "socket hang up", fields: { code: "ECONNRESET", retryable: true } })])
    const again = await replayThrow(run.entries)
    expect(again.lived).toBe(0)
    expect(again.seen).toBeInstanceOf(TypeError)
    expect(again.seen).toMatchObject({ name: "TypeError", message: "socket hang up", code: "ECONNRESET", retryable: true })
    expect(again.entries).toEqual(run.entries)
  })

  it("a thrown primitive or plain object comes back as it was; an error of an unknown class keeps its name, getters, cause and errors", async () => {
    const again = async (value: unknown) => (await replayThrow((await liveThrow(value)).entries)).seen
    const busy = await liveThrow("busy")
    expect(busy.entries[0]!.error).toEqual({ kind: "value", name: "string", message: "busy" })
    expect(await again("busy")).toBe("busy")
    expect(await again(undefined)).toBeUndefined()
    expect(await again(null)).toBeNull()
    expect(await again(Number.NaN)).toBeNaN()
    expect(await again(-Infinity)).toBe(-Infinity)
    expect(await again(false)).toBe(false)
    expect(await again(12n)).toBe(12n)
    const plain = await again({ code: 7, detail: { retry: true } })
    expect(plain).not.toBeInstanceOf(Error)
    expect(plain).toEqual({ code: 7, detail: { retry: true } })
    expect(String(plain)).toBe("[object Object]")

    class HttpFailure extends Error {
      override readonly name = "HttpFailure"
      constructor(readonly response: { readonly status: number }, options?: ErrorOptions) {
        super(`upstream ${response.status}`, options)
      }
      get status() {
        return this.response.status
      }
      get body(): string {
        throw new Error("body already consumed")
      }
    }
    const failed = new HttpFailure({ status: 503 }, { cause: new RangeError("socket closed") })
    const run = await liveThrow(new AggregateError([failed, new TypeError("dns")], "all attempts failed", { cause: "budget" }))
    const back = (await replayThrow(run.entries)).seen as AggregateError
    expect(back).toBeInstanceOf(AggregateError)
    expect(back.message).toBe("all attempts failed")
    expect(back.cause).toBe("budget")
    const [first, second] = back.errors as [HttpFailure, TypeError]
    // An app's class is rebuilt as an Error with its name, fields and getters' values (not its class).
    expect(first).toBeInstanceOf(Error)
    expect(first).toMatchObject({ name: "HttpFailure", message: "upstream 503", status: 503, response: { status: 503 } })
    // Getters' values and the cause are not enumerable, as they were: the same keys.
    expect(Object.keys(first).sort()).toEqual(Object.keys(failed).sort())
    expect(first.cause).toBeInstanceOf(RangeError)
    expect((first.cause as Error).message).toBe("socket closed")
    expect(second).toBeInstanceOf(TypeError)
    // A getter that throws is skipped: the call's own failure is what the node sees, live and replayed.
    const thrower = await liveThrow(failed)
    expect(thrower.seen).toBe(failed)
    expect(thrower.entries[0]!.error?.fields).not.toHaveProperty("body")
  })

  it("an Effect call's typed failure comes back as the same class (Stargraph errors) or with its _tag (the app's own)", () => {
    const failing = <E>(error: E) => {
      const recorder = stepRecorder(1, undefined)
      const exit = Effect.runSync(Effect.either(recorder.forNode("n").callEffect("tool.t", { a: 1 }, Effect.fail(error))))
      return { exit, entries: recorder.entries() }
    }
    const replayed = (entries: ReadonlyArray<CallRecord>) =>
      Effect.runSync(Effect.either(stepRecorder(1, source(entries)).forNode("n").callEffect("tool.t", { a: 1 }, Effect.die("must not run live"))))
    const tool = new ToolError({ reason: "timeout", message: "took too long", fix: "raise timeout_ms", tool: "t@1", nodeId: "n", step: 1 })
    const live = failing(tool)
    expect(live.exit).toEqual(Either.left(tool))
    const back = replayed(live.entries)
    expect(Either.isLeft(back) && back.left).toBeInstanceOf(ToolError)
    expect(Either.isLeft(back) && back.left).toEqual(tool)

    class Throttled extends Data.TaggedError("Throttled")<{ readonly retryAfter: number }> {}
    const own = replayed(failing(new Throttled({ retryAfter: 3 })).entries)
    if (Either.isRight(own)) throw new Error("the replay did not fail")
    const caught = Effect.runSync(Effect.catchTag(Effect.fail(own.left as unknown as Throttled), "Throttled", (e) => Effect.succeed(`retry after ${e.retryAfter}`)))
    expect(caught).toBe("retry after 3")

    // An app's error whose tag is also a Stargraph error's is the app's: not decoded as Stargraph's.
    class ApiError extends Data.TaggedError("ApiError")<{ readonly status: number }> {}
    const clash = replayed(failing(new ApiError({ status: 404 })).entries)
    expect(Either.isLeft(clash) && clash.left).toMatchObject({ _tag: "ApiError", status: 404 })
    expect(Either.isLeft(clash) && clash.left).not.toBeInstanceOf(NodeExecutionError)
  })

  it("an Effect call's defect (Effect.die) is recorded and replayed as a defect; an interruption is not recorded", () => {
    const recorder = stepRecorder(1, undefined)
    const dying = Effect.runSync(Effect.exit(recorder.forNode("n").callEffect("tool.t", { a: 1 }, Effect.die(new Error("socket destroyed")))))
    expect(Exit.isFailure(dying) && Cause.isDie(dying.cause)).toBe(true)
    expect(recorder.entries()[0]!.error).toMatchObject({ kind: "error", message: "socket destroyed", defect: true })
    const replayed = Effect.runSync(Effect.exit(stepRecorder(1, source(recorder.entries())).forNode("n").callEffect("tool.t", { a: 1 }, Effect.succeed("live"))))
    expect(Exit.isFailure(replayed) && Option.getOrUndefined(Cause.dieOption(replayed.cause))).toMatchObject({ message: "socket destroyed" })
    const interrupted = stepRecorder(1, undefined)
    Effect.runSync(Effect.exit(interrupted.forNode("n").callEffect("tool.t", { a: 1 }, Effect.interrupt)))
    expect(interrupted.entries()).toEqual([])
  })

  it("a recorded Stargraph error that no longer decodes fails the node loudly, saying the cassette is damaged", () => {
    const entries = [failedCall("tool.t", { a: 1 }, { kind: "stargraph", name: "ToolError", message: "boom", fields: { _tag: "ToolError", reason: "no-such-reason" } })]
    const out = Effect.runSync(Effect.either(stepRecorder(1, source(entries)).forNode("n").callEffect("tool.t", { a: 1 }, Effect.die("must not run live"))))
    expect(Either.isLeft(out) && out.left).toMatchObject({ _tag: "NodeExecutionError", nodeId: "n", step: 1 })
    expect(Either.isLeft(out) && out.left._tag === "NodeExecutionError" && out.left.cause).toMatch(/the recorded ToolError of this call cannot be rebuilt .*reason.*cassette is damaged/s)
  })

  it("signals, divergences and storage failures are not the call's outcome: nothing is recorded", async () => {
    const signal = Object.assign(new Error("asking"), { [Unrecorded]: true })
    expect((await liveThrow(signal)).entries).toEqual([])
    expect((await liveThrow(new CheckpointError({ reason: "storage-failure", runId: "r", message: "disk full" }))).entries).toEqual([])
    expect((await liveThrow(new ReplayDivergenceError({ reason: "missing-entry", nodeId: "n", step: 1, call: "x", actualHash: "h", message: "m" }))).entries).toEqual([])
  })
})

describe("calls made now (callNow: a live call whose outcome is known at once, an inference on this thread)", () => {
  const now = (recorder: ReturnType<typeof stepRecorder>, live: () => Exit.Exit<unknown, unknown>, req: unknown = { input: [1, 2] }) => {
    const callNow = recorder.forNode("n").callNow
    if (callNow === undefined) throw new Error("the step recorder has no callNow")
    return callNow("ml.m", req, live, { jsonResponse: true })
  }

  it("records the response as callEffect does (same entry), and gives it back as an Exit: nothing to step through", () => {
    const viaNow = stepRecorder(1, undefined)
    const outcome = now(viaNow, () => Exit.succeed({ score: [0.5] }))
    expect(Exit.isExit(outcome) && Exit.isSuccess(outcome) && outcome.value).toEqual({ score: [0.5] })
    const viaEffect = stepRecorder(1, undefined)
    Effect.runSync(viaEffect.forNode("n").callEffect("ml.m", { input: [1, 2] }, Effect.succeed({ score: [0.5] }), { jsonResponse: true }))
    expect(viaNow.entries()).toEqual(viaEffect.entries())
    expect(viaNow.liveCalls()).toBe(1)
  })

  it("a replay answers from the recording without making the call; another request diverges; a failure is recorded and replayed, a defect as a defect", () => {
    const live = stepRecorder(1, undefined)
    now(live, () => Exit.succeed({ score: [0.5] }))
    let made = 0
    const making = () => {
      made++
      return Exit.succeed({ score: [9] })
    }
    const replayed = now(stepRecorder(1, source(live.entries())), making)
    expect(Exit.isExit(replayed) && Exit.isSuccess(replayed) && replayed.value).toEqual({ score: [0.5] })
    expect(made).toBe(0)
    const other = Effect.runSync(Effect.either(now(stepRecorder(1, source(live.entries())), making, { input: [3, 4] })))
    expect(Either.isLeft(other) && other.left).toBeInstanceOf(ReplayDivergenceError)
    expect(made).toBe(0)

    const tool = new ToolError({ reason: "timeout", message: "took too long", fix: "raise timeout_ms", tool: "t@1", nodeId: "n", step: 1 })
    const failing = stepRecorder(1, undefined)
    expect(Effect.runSync(Effect.either(now(failing, () => Exit.fail(tool))))).toEqual(Either.left(tool))
    expect(failing.entries()[0]!.error).toMatchObject({ kind: "stargraph", name: "ToolError" })
    const again = Effect.runSync(Effect.either(now(stepRecorder(1, source(failing.entries())), making)))
    expect(Either.isLeft(again) && again.left).toEqual(tool)

    const dying = stepRecorder(1, undefined)
    const died = Effect.runSync(Effect.exit(now(dying, () => Exit.die(new Error("native binding crashed")))))
    expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
    const diesAgain = Effect.runSync(Effect.exit(now(stepRecorder(1, source(dying.entries())), making)))
    expect(Exit.isFailure(diesAgain) && Option.getOrUndefined(Cause.dieOption(diesAgain.cause))).toMatchObject({ message: "native binding crashed" })
    expect(made).toBe(0)
  })

  it("a live call that throws is a defect, recorded and replayed as one (not left pending, which a replay would never answer)", () => {
    const throwing = stepRecorder(1, undefined)
    const died = Effect.runSync(Effect.exit(now(throwing, () => {
      throw new Error("binding threw")
    })))
    expect(Exit.isFailure(died) && Option.getOrUndefined(Cause.dieOption(died.cause))).toMatchObject({ message: "binding threw" })
    expect(throwing.entries()[0]!.error).toMatchObject({ message: "binding threw", defect: true })
    const again = Effect.runSync(Effect.exit(now(stepRecorder(1, source(throwing.entries())), () => Exit.succeed(1))))
    expect(Exit.isFailure(again) && Option.getOrUndefined(Cause.dieOption(again.cause))).toMatchObject({ message: "binding threw" })
  })

  it("a node done for the step gets no answer, and a request that is not JSON fails the node, as with callEffect", () => {
    const recorder = stepRecorder(1, undefined)
    const calls = recorder.forNode("n")
    calls.abandonPending?.(true, true)
    let made = 0
    const outcome = calls.callNow!("ml.m", { input: [1] }, () => {
      made++
      return Exit.succeed(1)
    })
    expect(Exit.isExit(outcome)).toBe(false)
    expect(made).toBe(0)
    const bad = Effect.runSync(Effect.either(stepRecorder(1, undefined).forNode("n").callNow!("ml.m", { when: new Date(0) }, () => Exit.succeed(1))))
    expect(Either.isLeft(bad) && bad.left).toBeInstanceOf(NodeExecutionError)
    expect(recorder.entries()).toEqual([])
  })
})
