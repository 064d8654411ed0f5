/**
 * Language-model nodes against a real OpenAI-compatible server on 127.0.0.1
 * (test/helpers/openaiServer.ts): live calls over /chat/completions and /responses, plain
 * and streamed; a recorded run replayed with the server stopped; forks that diverge or
 * call live; bad completions and error statuses retried; an app's own LanguageModel; the
 * run-wide DefaultModel; stubs; and every bad-input case.
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Response from "@effect/ai/Response"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import type { Checkpoint, RunSummary } from "../../src/checkpoint/models.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { formatError, type StargraphError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { DefaultModel, LanguageModels } from "../../src/index.js"
import { checkModels, nodesNeedingModel } from "../../src/nodes/lm/modelCheck.js"
import { withDefault } from "../../src/nodes/lm/provider.js"
import * as Replay from "../../src/replay/Replay.js"
import * as AuditSink from "../../src/telemetry/AuditSink.js"
import { tempDir } from "../helpers/cli.js"
import * as OpenAiServer from "../helpers/openaiServer.js"

type Fields = Record<string, { type: string; default?: unknown }>
const str = { type: "string" }

const irOf = (fields: Fields, nodes: ReadonlyArray<Record<string, unknown>>, extra: Record<string, unknown> = {}) => ({
  ir_version: "1.0.0",
  id: "run:lm",
  state_schema: { fields },
  nodes,
  ...extra
})

const dbLayer = () => SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite") })

/**
 * Run a graph to its end on `layer`; the summary and its checkpoints (and the run's error).
 * `around` wraps the start and the drive (a model the app gives is checked for at the start).
 */
const runGraph = (
  ir: unknown,
  inputs: Record<string, unknown>,
  layer = dbLayer(),
  around: <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = (e) => e
) =>
  Effect.runPromise(around(Effect.gen(function*() {
    const graph = yield* Graph.make(ir)
    const handle = yield* graph.start({ inputs })
    const result = yield* Effect.either(handle.start())
    const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(handle.runId))
    const run = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(handle.runId))
    return {
      graph,
      runId: handle.runId,
      summary: Either.getOrUndefined(result) as RunSummary | undefined,
      error: Either.isLeft(result) ? (result.left as StargraphError) : undefined,
      record: run._tag === "Some" ? run.value : undefined,
      checkpoints
    }
  })).pipe(Effect.provide(layer)))

const ask = (config: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ id: "ask", kind: "dspy", config: { signature: "question -> answer", model: "test-model", ...config }, ...extra })

let server: OpenAiServer.OpenAiServer
beforeAll(async () => {
  server = await OpenAiServer.start({
    respond: (r) => {
      const user = String((r.body["messages"] ?? r.body["input"])?.at(-1)?.content ?? "")
      return JSON.stringify({ answer: `echo ${user.split("\n").at(-1)}` })
    }
  })
})
afterAll(() => server.close())

const qa = { question: str, answer: str }

describe("dspy nodes call a model over HTTP", () => {
  it.each([
    ["chat", {}, "/v1/chat/completions"],
    ["chat, streamed (SSE)", { stream: true }, "/v1/chat/completions"],
    ["responses", { api: "responses" }, "/v1/responses"],
    ["responses, streamed (SSE)", { api: "responses", stream: true }, "/v1/responses"]
  ])("%s: writes the decoded outputs and records {model, messages, signature, params} → completion", async (_label, config, path) => {
    const before = server.requests.length
    const r = await runGraph(irOf(qa, [ask({ api_base: server.url, temperature: 0, max_tokens: 64, ...config })]), { question: "2+2?" })
    expect(r.summary?.status).toBe("done")
    expect(r.summary?.final_state).toEqual({ question: "2+2?", answer: "echo 2+2?" })
    const sent = server.requests.slice(before)
    expect(sent.map((s) => s.path)).toEqual([path])
    expect(sent[0]!.body["model"]).toBe("test-model")
    expect(sent[0]!.body["stream"]).toBe("stream" in config ? true : undefined)
    const [call] = r.checkpoints[1]!.calls ?? []
    expect(call).toMatchObject({
      node: "ask",
      name: "lm.dspy",
      request: { model: "test-model", signature: "question -> answer", params: { temperature: 0, max_tokens: 64 } },
      response: { text: "{\"answer\":\"echo 2+2?\"}", finish_reason: "stop" }
    })
    const messages = (call!.request as { messages: Array<{ role: string; content: string }> }).messages
    expect(messages.map((m) => m.role)).toEqual(["system", "user"])
    expect(messages[0]!.content).toContain("Given the fields `question`, produce the fields `answer`.")
    expect(messages[0]!.content).toContain("- \"answer\": string")
    expect(messages[1]!.content).toBe("## question\n2+2?")
    // The endpoint is an environment binding, not part of the request.
    expect(JSON.stringify(call!.request)).not.toContain("127.0.0.1")
    expect((call!.response as { usage?: unknown }).usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) })
  })

  it("module: cot asks for `reasoning` first and does not write it unless the signature declares it", async () => {
    server.script("{\"reasoning\": \"two and two\", \"answer\": \"4\"}", "{\"reasoning\": \"two and two\", \"answer\": \"4\"}")
    const before = server.requests.length
    const r = await runGraph(irOf(qa, [ask({ api_base: server.url, module: "cot", instructions: "Answer briefly." })]), { question: "2+2?" })
    expect(r.summary?.final_state).toEqual({ question: "2+2?", answer: "4" })
    const system = server.requests[before]!.body["messages"][0].content as string
    expect(system.startsWith("Answer briefly.")).toBe(true)
    expect(system.indexOf("\"reasoning\"")).toBeLessThan(system.indexOf("\"answer\""))
    const declared = await runGraph(
      irOf({ ...qa, reasoning: str }, [ask({ api_base: server.url, module: "cot", signature: "question -> reasoning, answer" })]),
      { question: "2+2?" }
    )
    expect(declared.summary?.final_state).toEqual({ question: "2+2?", reasoning: "two and two", answer: "4" })
  })

  it("reads typed signatures and signature_map, tolerating a fenced or chatty JSON reply", async () => {
    server.script("Sure! Here it is:\n```json\n{\"label\": \"b\", \"score\": \"0.75\", \"ok\": true, \"tags\": [\"x\"]}\n```\nAnything else?")
    const r = await runGraph(
      irOf({ text: str, verdict: str, score: { type: "number" }, ok: { type: "boolean" }, tags: { type: "array" } }, [{
        id: "ask",
        kind: "dspy",
        config: {
          signature: "body -> label: Literal['a', 'b'], score: float, ok: bool, tags: list[str]",
          signature_map: { text: "body", verdict: "label" },
          model: "m",
          api_base: server.url
        }
      }]),
      { text: "hello" }
    )
    expect(r.summary?.final_state).toEqual({ text: "hello", verdict: "b", score: 0.75, ok: true, tags: ["x"] })
    const request = r.checkpoints[1]!.calls![0]!.request as { signature: string; messages: Array<{ content: string }> }
    expect(request.signature).toBe("body -> label: Literal['a', 'b'], score: float, ok: bool, tags: list[str]")
    expect(request.messages[1]!.content).toBe("## body\nhello")
  })

  it("takes inputs/outputs mappings instead of a signature", async () => {
    server.script("{\"n\": 3}")
    const r = await runGraph(irOf({ words: str, n: { type: "integer" } }, [{ id: "count", kind: "dspy", config: { inputs: { words: "str" }, outputs: { n: "int" }, model: "m", api_base: server.url } }]), { words: "a b c" })
    expect(r.summary?.final_state).toEqual({ words: "a b c", n: 3 })
    expect(r.checkpoints[1]!.calls![0]!.request).toMatchObject({ signature: "words -> n: int" })
  })
})

describe("the cassette: replay and forks", () => {
  /** classify → (rule) → reason, recorded live against the server. */
  const triage = (base: string) =>
    irOf(
      { item: str, verdict: str, confidence: str, answer: str, rationale: str },
      [
        { id: "classify", kind: "classify", config: { input: "item", labels: ["urgent", "routine"], model: "m", api_base: base } },
        { id: "act", kind: "reason", config: { input: "item", model: "m", api_base: base, stream: true } },
        { id: "file", kind: "noop" }
      ],
      {
        rules: [
          { id: "r-urgent", when: { node: "classify", verdict: "urgent" }, then: [{ kind: "goto", target: "act" }] },
          { id: "r-routine", when: { node: "classify", verdict: "routine" }, then: [{ kind: "goto", target: "file" }] },
          { id: "r-done", when: { node: "act" }, then: [{ kind: "halt", reason: "handled" }] }
        ]
      }
    )
  const replies = (r: OpenAiServer.ReceivedRequest) => {
    const system = String(r.body["messages"][0].content)
    const item = String(r.body["messages"].at(-1).content)
    if (system.includes("Choose the one label")) return JSON.stringify({ label: item.includes("down") ? "Urgent." : "routine", confidence: 0.9 })
    return JSON.stringify({ reasoning: "it is down", answer: `page the on-call for: ${item.split("\n").at(-1)}` })
  }

  it("records a live run, then replays it with the server stopped: identical checkpoints and no request", async () => {
    const own = await OpenAiServer.start({ respond: replies })
    const layer = dbLayer()
    const live = await runGraph(triage(own.url), { item: "the API is down" }, layer)
    expect(live.summary?.status).toBe("done")
    expect(live.summary?.final_state).toMatchObject({ verdict: "urgent", confidence: "0.9", answer: "page the on-call for: the API is down", rationale: "it is down" })
    expect(own.requests).toHaveLength(2)
    await own.close()

    const fork = await Effect.runPromise(Replay.fork(live.graph, live.runId, {}).pipe(Effect.provide(layer)))
    expect(fork.summary.status).toBe("done")
    expect(fork.error).toBeUndefined()
    expect(fork.summary.final_state).toEqual(live.summary?.final_state)
    expect(fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    const replayed = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(fork.cfRunId)).pipe(Effect.provide(layer)))
    const same = (cps: ReadonlyArray<Checkpoint>) => cps.map((c) => ({ step: c.step, nodes: c.nodes, state: c.state, writes: c.writes, next: c.next, calls: c.calls }))
    expect(same(replayed)).toEqual(same(live.checkpoints))
    expect(replayed.flatMap((c) => c.calls ?? []).map((c) => c.name)).toEqual(["lm.classify", "lm.reason"])
    // The server is gone: nothing reached it (a live call would have failed the fork).
    expect(own.requests).toHaveLength(2)
  })

  it("a fork that changes an input diverges loudly; with live_after_fork it calls the model", async () => {
    const own = await OpenAiServer.start({ respond: replies })
    const layer = dbLayer()
    const live = await runGraph(triage(own.url), { item: "the API is down" }, layer)
    const mutation = { state_overrides: { item: "the DB is down" } }
    const diverged = await Effect.runPromise(Replay.fork(live.graph, live.runId, { mutation }).pipe(Effect.provide(layer)))
    expect(diverged.summary.status).toBe("failed")
    expect(diverged.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "request-mismatch", nodeId: "classify", step: 1, call: "lm.classify" })
    // A fork that never waited is told how to fork again, not how to answer a waiting fork.
    const message = (diverged.error as { message: string }).message
    expect(message).toContain("fork again with live_after_fork (--live-after-fork on the CLI) to allow live calls")
    expect(message).not.toContain("a fork waiting for input")
    expect(own.requests).toHaveLength(2)
    const relive = await Effect.runPromise(Replay.fork(live.graph, live.runId, { mutation, liveAfterFork: true }).pipe(Effect.provide(layer)))
    expect(relive.summary.status).toBe("done")
    expect(relive.summary.final_state["answer"]).toBe("page the on-call for: the DB is down")
    expect(own.requests).toHaveLength(4)
    // A fork after the calls (from the last step) replays them without asking again.
    const after = await Effect.runPromise(Replay.fork(live.graph, live.runId, { fromStep: 1 }).pipe(Effect.provide(layer)))
    expect(after.summary).toMatchObject({ status: "done", final_state: live.summary!.final_state })
    expect(own.requests).toHaveLength(4)
    await own.close()
  })
})

describe("bad completions and failed calls", () => {
  it("a completion that does not parse is a ModelOutputError; retried, the model sees its reply and what was wrong", async () => {
    server.script("I think the answer is four.", "{\"answer\": \"4\"}")
    const before = server.requests.length
    const layer = dbLayer()
    const r = await runGraph(irOf(qa, [ask({ api_base: server.url }, { retry: { max_attempts: 2 } })]), { question: "2+2?" }, layer)
    expect(r.summary?.status).toBe("done")
    expect(r.summary?.final_state["answer"]).toBe("4")
    const [first, second] = server.requests.slice(before)
    expect(second!.body["messages"].slice(0, 2)).toEqual(first!.body["messages"])
    expect(second!.body["messages"][2]).toEqual({ role: "assistant", content: "I think the answer is four." })
    expect(second!.body["messages"][3].content).toMatch(/^That reply could not be used: the completion is not a JSON object\. Reply again with only the JSON object, with the keys "answer"\.$/)
    // Both calls are recorded, so a replay retries the same way without the server.
    expect(r.checkpoints[1]!.calls!.map((c) => c.seq)).toEqual([0, 1])
    const fork = await Effect.runPromise(Replay.fork(r.graph, r.runId, {}).pipe(Effect.provide(layer)))
    expect(fork.summary).toMatchObject({ status: "done", final_state: r.summary!.final_state })
    expect(server.requests.length).toBe(before + 2)
  })

  it("without a retry the run fails with the ModelOutputError, persisted on the run record", async () => {
    server.script("not json")
    const r = await runGraph(irOf(qa, [ask({ api_base: server.url })]), { question: "2+2?" })
    expect(r.error).toMatchObject({ _tag: "ModelOutputError", nodeId: "ask", step: 1, completion: "not json", attempts: 1, message: "the completion is not a JSON object" })
    expect(r.record?.status).toBe("failed")
    expect(r.record?.error).toMatchObject({ type: "ModelOutputError", details: { nodeId: "ask", completion: "not json" } })
    expect(formatError(r.error!)).toMatch(/^ModelOutputError: node 'ask' step 1: the completion is not a JSON object \(fix: add retry/)
  })

  it.each([
    ["a missing field", "{\"other\": 1}", "answer", "the reply has no 'answer'"],
    ["a wrong type", "{\"answer\": \"4\", \"confidence\": \"high\"}", "confidence", "'confidence'"],
    ["JSON that is not an object", "[\"4\"]", undefined, "the completion is JSON but not an object (an array)"],
    ["an empty completion", "", undefined, "the completion is empty"]
  ])("%s is a ModelOutputError naming the field", async (_label, reply, field, message) => {
    server.script(reply)
    const r = await runGraph(irOf({ ...qa, confidence: { type: "number" } }, [ask({ api_base: server.url, signature: "question -> answer, confidence: float" })]), { question: "q" })
    expect(r.error?._tag).toBe("ModelOutputError")
    expect((r.error as { field?: string }).field).toBe(field)
    expect((r.error as { message: string }).message).toContain(message)
  })

  it("a server error status is a LanguageModelError, retried under the policy (5xx, 429) or not (401)", async () => {
    server.script({ status: 500, message: "overloaded" }, { status: 429, message: "slow down" }, "{\"answer\": \"4\"}")
    const before = server.requests.length
    const layer = dbLayer()
    const ok = await runGraph(irOf(qa, [ask({ api_base: server.url }, { retry: { max_attempts: 3, backoff_ms: 1 } })]), { question: "2+2?" }, layer)
    expect(ok.summary?.final_state["answer"]).toBe("4")
    expect(server.requests.length).toBe(before + 3)
    // The two failed attempts are in the cassette with how they failed; a replay fails
    // and retries as the run did, without a request.
    const calls = ok.checkpoints[1]!.calls ?? []
    expect(calls.map((c) => [c.seq, c.error?.fields?.["status"] ?? null])).toEqual([[0, 500], [1, 429], [2, null]])
    expect(calls[0]!.error).toMatchObject({ name: "LanguageModelError", message: `${server.url} answered 500: overloaded`, fields: { _tag: "LanguageModelError", reason: "http-status" } })
    const replayed = await Effect.runPromise(Replay.fork(ok.graph, ok.runId, {}).pipe(Effect.provide(layer)))
    expect(server.requests.length).toBe(before + 3)
    expect(replayed.summary.final_state).toEqual(ok.summary?.final_state)
    expect(replayed.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    const forkCalls = (await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(replayed.cfRunId)).pipe(Effect.provide(layer))))[1]!.calls
    expect(forkCalls).toEqual(calls)

    server.script({ status: 500, message: "overloaded" })
    const failed = await runGraph(irOf(qa, [ask({ api_base: server.url })]), { question: "2+2?" })
    expect(failed.error).toMatchObject({ _tag: "LanguageModelError", reason: "http-status", status: 500, nodeId: "ask", model: "test-model", attempts: 1 })
    expect((failed.error as { message: string }).message).toBe(`${server.url} answered 500: overloaded`)
    expect(failed.record?.error?.type).toBe("LanguageModelError")

    expect((failed.error as { fix: string }).fix).toBe("the server is busy or failing: add retry: {max_attempts: 3, backoff_ms: 1000} to the node, or try later")
    // Past its retries, the fix does not ask for the policy the node has.
    server.script({ status: 503, message: "loading" }, { status: 503, message: "loading" })
    const exhausted = await runGraph(irOf(qa, [ask({ api_base: server.url }, { retry: { max_attempts: 2 } })]), { question: "2+2?" })
    expect(exhausted.error).toMatchObject({ _tag: "LanguageModelError", status: 503, attempts: 2, fix: "the server is busy or failing: raise the node's retry.max_attempts (2) or retry.backoff_ms, or try later" })

    server.script({ status: 401, message: "bad key" })
    const n = server.requests.length
    const denied = await runGraph(irOf(qa, [ask({ api_base: server.url }, { retry: { max_attempts: 3 } })]), { question: "2+2?" })
    expect(denied.error).toMatchObject({ _tag: "LanguageModelError", reason: "http-status", status: 401 })
    // The node sets api_base and no api_key_env: no key was sent, and the fix says so.
    expect((denied.error as { fix: string }).fix).toBe("no API key was sent (config.api_base is set and config.api_key_env is not): set config.api_key_env to the environment variable that holds the server's key")
    expect(server.requests.at(-1)!.headers["authorization"]).toBeUndefined()
    expect(server.requests.length).toBe(n + 1)
    // With api_key_env, the fix names the variable whose key was refused.
    process.env["QA_LM_KEY"] = "sk-qa-refused"
    try {
      server.script({ status: 403, message: "forbidden" })
      const forbidden = await runGraph(irOf(qa, [ask({ api_base: server.url, api_key_env: "QA_LM_KEY" })]), { question: "2+2?" })
      expect(forbidden.error).toMatchObject({ _tag: "LanguageModelError", reason: "http-status", status: 403, fix: "check the API key in the environment variable QA_LM_KEY (config.api_key_env)" })
    } finally {
      delete process.env["QA_LM_KEY"]
    }
  })

  it.each([
    ["chat, streamed", { stream: true }],
    ["responses", { api: "responses" }],
    ["responses, streamed", { api: "responses", stream: true }]
  ])("an error status over %s is the same LanguageModelError", async (_label, config) => {
    server.script({ status: 502, message: "bad gateway" })
    const r = await runGraph(irOf(qa, [ask({ api_base: server.url, ...config })]), { question: "q" })
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "http-status", status: 502 })
  })

  it("a run failed by the model loses nothing: its steps stay, and a live fork from the last one runs on", async () => {
    const layer = dbLayer()
    const ir = irOf({ ...qa, topic: str }, [{ id: "prep", kind: "set", values: { topic: "math" } }, ask({ api_base: server.url })])
    server.script({ status: 503, message: "down for maintenance" })
    const failed = await runGraph(ir, { question: "2+2?" }, layer)
    expect(failed.record?.status).toBe("failed")
    expect(failed.error).toMatchObject({ _tag: "LanguageModelError", status: 503, step: 2 })
    expect(failed.checkpoints.map((c) => c.node)).toEqual(["__input__", "prep"])
    // An exact replay fails as the run did, without a request; a fork that may call live
    // calls the model again and runs on.
    const requests = server.requests.length
    const exact = await Effect.runPromise(Replay.fork(failed.graph, failed.runId, { fromStep: 1 }).pipe(Effect.provide(layer)))
    expect(exact.summary.status).toBe("failed")
    expect(exact.error).toMatchObject({ _tag: "LanguageModelError", status: 503, step: 2 })
    expect(server.requests.length).toBe(requests)
    const fork = await Effect.runPromise(Replay.fork(failed.graph, failed.runId, { fromStep: 1, liveAfterFork: true }).pipe(Effect.provide(layer)))
    expect(fork.summary).toMatchObject({ status: "done", final_state: { question: "2+2?", topic: "math", answer: "echo 2+2?" } })
    expect(server.requests.length).toBe(requests + 1)
  })

  it("a model server that never answers fails the call after the default timeout_ms (10 minutes), not never", async () => {
    const silent = await OpenAiServer.start({ latencyMs: 30_000 })
    try {
      const result = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(irOf(qa, [ask({ api_base: silent.url })]))
        const handle = yield* graph.start({ inputs: { question: "q" } })
        const fiber = yield* Effect.fork(Effect.either(handle.start()))
        // Real time for the request to go out (the test clock stands still meanwhile), then ten minutes of test time.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 300)))
        yield* TestClock.adjust("599 seconds")
        const early = yield* Fiber.poll(fiber)
        yield* TestClock.adjust("2 seconds")
        return { early, outcome: yield* Fiber.join(fiber) }
      }).pipe(Effect.provide(dbLayer()), Effect.provide(TestContext.TestContext)))
      expect(Option.isNone(result.early)).toBe(true)
      expect(Either.isLeft(result.outcome) && result.outcome.left).toMatchObject({ _tag: "LanguageModelError", reason: "timeout", message: "no completion within 600000 ms (the default timeout_ms)" })
    } finally {
      await silent.close()
    }
  })

  it("a run failed on completions it could not use (ModelOutputError) is re-run live by a live_after_fork fork; an exact replay fails again", async () => {
    const layer = dbLayer()
    const ir = irOf(qa, [ask({ api_base: server.url })])
    server.script("not json at all")
    const failed = await runGraph(ir, { question: "3+3?" }, layer)
    expect(failed.error).toMatchObject({ _tag: "ModelOutputError", nodeId: "ask" })
    const requests = server.requests.length
    const exact = await Effect.runPromise(Replay.fork(failed.graph, failed.runId, {}).pipe(Effect.provide(layer)))
    expect(exact.error).toMatchObject({ _tag: "ModelOutputError" })
    expect(server.requests.length).toBe(requests)
    const fork = await Effect.runPromise(Replay.fork(failed.graph, failed.runId, { liveAfterFork: true }).pipe(Effect.provide(layer)))
    expect(fork.summary).toMatchObject({ status: "done", final_state: { question: "3+3?", answer: "echo 3+3?" } })
    expect(server.requests.length).toBe(requests + 1)
  })

  it("an unreachable server is request-failed; a slow one past timeout_ms is timeout", async () => {
    const gone = await OpenAiServer.start()
    const url = gone.url
    await gone.close()
    const down = await runGraph(irOf(qa, [ask({ api_base: url })]), { question: "q" })
    expect(down.error).toMatchObject({ _tag: "LanguageModelError", reason: "request-failed" })
    expect((down.error as { fix: string }).fix).toBe(`check that the server is running and config.api_base is right; add a retry policy for flaky networks`)
    // A node that retried already is not told to add a retry policy.
    const retried = await runGraph(irOf(qa, [ask({ api_base: url }, { retry: { max_attempts: 2 } })]), { question: "q" })
    expect(retried.error).toMatchObject({ _tag: "LanguageModelError", reason: "request-failed", attempts: 2, fix: "check that the server is running and config.api_base is right" })
    const slow = await OpenAiServer.start({ latencyMs: 1000 })
    const late = await runGraph(irOf(qa, [ask({ api_base: slow.url }, { timeout_ms: 50 })]), { question: "q" })
    expect(late.error).toMatchObject({ _tag: "LanguageModelError", reason: "timeout", message: "no completion within 50 ms (timeout_ms)" })
    await slow.close()
  })

  it("a reply that is not a completion is bad-response, naming what is missing (no internal dump)", async () => {
    for (const body of [{ foo: 1 }, { choices: [] }]) {
      const server = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify(body))
      })
      await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok))
      const { port } = server.address() as AddressInfo
      const bad = await runGraph(irOf(qa, [ask({ api_base: `http://127.0.0.1:${port}/v1` })]), { question: "q" })
      server.close()
      expect(bad.error).toMatchObject({ _tag: "LanguageModelError", reason: "bad-response" })
      const message = (bad.error as { message: string }).message
      expect(message).toMatch(/answered with something that is not a completion: \S/)
      expect(message).not.toMatch(/undefined|readonly|\{ "module"/)
    }
  })

  it("a missing api_key_env variable is a LanguageModelError naming it, and no request is made; a set one is sent as a bearer token", async () => {
    const before = server.requests.length
    const missing = await runGraph(irOf(qa, [ask({ api_base: server.url, api_key_env: "STARGRAPH_TEST_NO_SUCH_KEY" })]), { question: "q" })
    expect(missing.error).toMatchObject({ _tag: "LanguageModelError", reason: "missing-api-key", model: "test-model" })
    expect((missing.error as { message: string }).message).toContain("STARGRAPH_TEST_NO_SUCH_KEY (config.api_key_env)")
    expect(server.requests.length).toBe(before)
    process.env["STARGRAPH_TEST_LM_KEY"] = "sk-test-123"
    try {
      const keyed = await runGraph(irOf(qa, [ask({ api_base: server.url, api_key_env: "STARGRAPH_TEST_LM_KEY" })]), { question: "q" })
      expect(keyed.summary?.status).toBe("done")
      expect(server.requests.at(-1)!.headers["authorization"]).toBe("Bearer sk-test-123")
      expect(JSON.stringify(keyed.checkpoints)).not.toContain("sk-test-123")
    } finally {
      delete process.env["STARGRAPH_TEST_LM_KEY"]
    }
  })

  it("without api_base the node talks to OpenAI and needs OPENAI_API_KEY; without a model it is no-model", async () => {
    const saved = process.env["OPENAI_API_KEY"]
    delete process.env["OPENAI_API_KEY"]
    try {
      const openai = await runGraph(irOf(qa, [ask({})]), { question: "q" })
      expect(openai.error).toMatchObject({ _tag: "LanguageModelError", reason: "missing-api-key" })
      expect((openai.error as { message: string }).message).toContain("OPENAI_API_KEY")
    } finally {
      if (saved !== undefined) process.env["OPENAI_API_KEY"] = saved
    }
    // graph.start refuses a run whose node names no model (none given) before creating it.
    const modelless = irOf(qa, [{ id: "ask", kind: "dspy", config: { signature: "question -> answer" } }])
    const refused = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(modelless)
      const started = yield* Effect.either(graph.start({ inputs: { question: "q" } }))
      const runs = yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 10 }))
      return { started, runs: runs.runs }
    }).pipe(Effect.provide(dbLayer())))
    expect(Either.getLeft(refused.started).pipe(Option.getOrUndefined)).toMatchObject({ _tag: "LanguageModelError", reason: "no-model", nodeId: "ask", attempts: 0 })
    expect(refused.runs).toEqual([])
    // A run made without that check (newRun and open, as a Scheduler drives one it queued) fails at the node.
    const none = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(modelless)
      const checkpointer = yield* Checkpointer
      const prepared = yield* graph.newRun({ inputs: { question: "q" } })
      const { record } = yield* checkpointer.createRun(prepared)
      const handle = yield* graph.open(record, { ...prepared.initial, run_id: record.run_id })
      return yield* Effect.either(handle.start())
    }).pipe(Effect.provide(dbLayer())))
    expect(Either.getLeft(none).pipe(Option.getOrUndefined)).toMatchObject({ _tag: "LanguageModelError", reason: "no-model" })
    expect((Either.getLeft(none).pipe(Option.getOrThrow) as { fix: string }).fix).toContain("LanguageModel layer")
  })
})

describe("streamed text as run events", () => {
  it("a live streamed completion is published as node.delta events as it arrives, not audited", async () => {
    const server = await OpenAiServer.start({ respond: () => "{\"answer\": \"forty-two, as streamed\"}" })
    try {
      const auditFile = join(tempDir(), "audit.jsonl")
      const layer = Layer.merge(dbLayer(), AuditSink.jsonl(auditFile))
      const out = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(irOf(qa, [ask({ api_base: server.url, stream: true })]))
        const handle = yield* graph.start({ inputs: { question: "q" } })
        const watching = yield* Effect.fork(Stream.runCollect(handle.stream()))
        const summary = yield* handle.start()
        const events = Chunk.toArray(yield* Fiber.join(watching))
        return { summary, events }
      }).pipe(Effect.provide(layer)))
      expect(out.summary.final_state["answer"]).toBe("forty-two, as streamed")
      const deltas = out.events.filter((e) => e.type === "node.delta")
      expect(deltas.length).toBeGreaterThan(1)
      expect(deltas.every((e) => e.type === "node.delta" && e.node === "ask" && e.step === 1)).toBe(true)
      expect(deltas.map((e) => (e.type === "node.delta" ? e.text : "")).join("")).toBe("{\"answer\": \"forty-two, as streamed\"}")
      // Between the step's start and its completion.
      const types = out.events.map((e) => e.type)
      expect(types.indexOf("step.started")).toBeLessThan(types.indexOf("node.delta"))
      expect(types.lastIndexOf("node.delta")).toBeLessThan(types.indexOf("step.completed"))
      const audited = readFileSync(auditFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string })
      expect(audited.some((r) => r.event === "step.completed")).toBe(true)
      expect(audited.some((r) => r.event === "node.delta")).toBe(false)
    } finally {
      await server.close()
    }
  })
})

describe("an app's own LanguageModel", () => {
  const appModel = (seen: Array<string>) =>
    LanguageModel.make({
      generateText: (options) =>
        Effect.sync((): Array<Response.PartEncoded> => {
          seen.push(`text:${options.prompt.content.length}`)
          return [{ type: "text", text: "{\"answer\": \"from the app\"}" }, { type: "finish", reason: "stop", usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 } }]
        }),
      streamText: () =>
        Stream.fromIterable<Response.StreamPartEncoded>([
          { type: "text-delta", id: "0", delta: "{\"answer\": " },
          { type: "text-delta", id: "0", delta: "\"streamed\"}" },
          { type: "finish", reason: "stop", usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 } }
        ]).pipe(Stream.tap(() => Effect.sync(() => seen.push("stream"))))
    })

  it("is used instead of HTTP for every node, plain and streamed, and recorded like any call", async () => {
    const seen: Array<string> = []
    const lm = await Effect.runPromise(appModel(seen))
    const before = server.requests.length
    const provide = <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.provideService(e, LanguageModel.LanguageModel, lm)
    const plain = await runGraph(irOf(qa, [ask({ api_base: server.url })]), { question: "q" }, dbLayer(), provide)
    expect(plain.summary?.final_state["answer"]).toBe("from the app")
    expect(plain.checkpoints[1]!.calls![0]!.response).toEqual({ text: "{\"answer\": \"from the app\"}", finish_reason: "stop", usage: { input_tokens: 3, output_tokens: 4 } })
    const streamed = await runGraph(irOf(qa, [{ id: "ask", kind: "dspy", config: { signature: "question -> answer", stream: true } }]), { question: "q" }, dbLayer(), provide)
    expect(streamed.summary?.final_state["answer"]).toBe("streamed")
    expect(seen).toEqual(["text:2", "stream", "stream", "stream"])
    expect(server.requests.length).toBe(before)
  })

  it("checkModels, before a run starts: a live node without a model is refused without a default model or an app LanguageModel; with the app's layer it passes and the run goes on", async () => {
    const ir = irOf({ ...qa, seen: str }, [
      { id: "first", kind: "set", values: { seen: "yes" } },
      { id: "ask", kind: "dspy", config: { signature: "question -> answer" } },
      { id: "own", kind: "dspy", config: { signature: "question -> answer", model: "own-model" } },
      { id: "stubbed", kind: "reason", config: { stub: true } }
    ], { edges: [{ from: "first", to: "ask" }] })
    const graph = await Effect.runPromise(Graph.make(ir))
    expect(nodesNeedingModel(graph.nodes)).toEqual(["ask"])
    const refused = await Effect.runPromise(Effect.either(checkModels(graph.nodes)))
    expect(Either.getLeft(refused).pipe(Option.getOrUndefined)).toMatchObject({ _tag: "LanguageModelError", reason: "no-model", nodeId: "ask", attempts: 0 })
    expect(formatError(Either.getLeft(refused).pipe(Option.getOrThrow))).toMatch(/^LanguageModelError\[no-model\]: node 'ask' before the run started: .*\(fix: set config\.model on the node .*an @effect\/ai LanguageModel layer/)
    // Neither the graph hash nor a graph without such a node is concerned.
    expect(Either.isRight(await Effect.runPromise(Effect.either(checkModels(new Map([...graph.nodes].filter(([id]) => id !== "ask"))))))).toBe(true)
    const lm = await Effect.runPromise(appModel([]))
    const provide = <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.provideService(e, LanguageModel.LanguageModel, lm)
    expect(Either.isRight(await Effect.runPromise(Effect.either(provide(checkModels(graph.nodes)))))).toBe(true)
    const defaults = DefaultModel.layer({ apiBase: "http://127.0.0.1:9/v1", model: "default-model" })
    expect(Either.isRight(await Effect.runPromise(Effect.either(Effect.provide(checkModels(graph.nodes), defaults))))).toBe(true)
    // The app's model answers the node: the run is done.
    const r = await runGraph(irOf({ ...qa, seen: str }, [{ id: "first", kind: "set", values: { seen: "yes" } }, { id: "ask", kind: "dspy", config: { signature: "question -> answer" } }], { edges: [{ from: "first", to: "ask" }] }), { question: "q" }, dbLayer(), provide)
    expect(r.summary).toMatchObject({ status: "done", final_state: { question: "q", seen: "yes", answer: "from the app" } })
  })

  it.each([
    ["chatCompletions", LanguageModels.chatCompletions, "/v1/chat/completions"],
    ["responses", LanguageModels.responses, "/v1/responses"]
  ] as const)("LanguageModels.%s is a layer an app provides for every node", async (_name, make, path) => {
    const before = server.requests.length
    const layer = make({ apiUrl: server.url, model: "shared-model" }).pipe(Layer.provide(FetchHttpClient.layer))
    const r = await runGraph(irOf(qa, [{ id: "ask", kind: "dspy", config: { signature: "question -> answer" } }]), { question: "q" }, dbLayer(), (e) => Effect.provide(e, layer) as typeof e)
    expect(r.summary?.final_state["answer"]).toBe("echo q")
    expect(server.requests.slice(before).map((q) => [q.path, q.body["model"]])).toEqual([[path, "shared-model"]])
    // The node names no model: the cassette says so.
    expect(r.checkpoints[1]!.calls![0]!.request).toMatchObject({ model: null })
  })

  it("DefaultModel.layer answers the nodes (dspy and presets) that name no model; a node's own model wins", async () => {
    const before = server.requests.length
    const layer = DefaultModel.layer({ apiBase: `${server.url}/`, model: "default-model" })
    const ir = irOf({ ...qa, text: str, verdict: str, confidence: str }, [
      { id: "ask", kind: "dspy", config: { signature: "question -> answer" } },
      { id: "own", kind: "dspy", config: { signature: "question -> answer", model: "own-model", api_base: server.url } },
      { id: "c", kind: "classify", config: { labels: ["echo q", "other"], input: "answer" } }
    ], { edges: [{ from: "ask", to: "own" }, { from: "own", to: "c" }] })
    server.script("{\"answer\": \"a\"}", "{\"answer\": \"echo q\"}", "{\"label\": \"echo q\", \"confidence\": 0.5}")
    const r = await runGraph(ir, { question: "q" }, dbLayer(), (e) => Effect.provide(e, layer))
    expect(r.error).toBeUndefined()
    expect(server.requests.slice(before).map((q) => [q.path, q.body["model"]])).toEqual([
      ["/v1/chat/completions", "default-model"],
      ["/v1/chat/completions", "own-model"],
      ["/v1/chat/completions", "default-model"]
    ])
    // Not recorded: the requests of the nodes without a model say null, as without the default.
    expect(r.checkpoints[1]!.calls![0]!.request).toMatchObject({ model: null })
    // Without it, the same graph (same hash) is refused before a run is created, naming both nodes.
    const without = await Effect.runPromise(Effect.flatMap(Graph.make(ir), (graph) => Effect.map(Effect.flip(graph.start({ inputs: { question: "q" } })), (error) => ({ graph, error }))).pipe(Effect.provide(dbLayer())))
    expect(without.graph.graphHash).toBe(r.graph.graphHash)
    expect(without.error).toMatchObject({ _tag: "LanguageModelError", reason: "no-model", nodeId: "ask" })
    expect(without.error.message).toContain("'ask', 'c'")
  })

  it("the default model's URL never receives a node's own key: a node naming api_key_env without api_base keeps its own endpoint", () => {
    const fallback = { apiBase: "http://127.0.0.1:9/v1", model: "default-model", apiKey: Redacted.make("default-key") }
    const node = { model: undefined, apiBase: undefined, apiKeyEnv: "OPENAI_API_KEY", api: undefined, stream: false, temperature: undefined, maxTokens: undefined }
    const used = withDefault(node, fallback)
    // The default's model, but not its URL (its key is for the node's own endpoint), and not the default's key.
    expect([used.model, used.apiBase, used.apiKey, used.apiKeyEnv]).toEqual(["default-model", undefined, undefined, "OPENAI_API_KEY"])
    // A node with neither gets the default's URL and key; one with its own api_base keeps it, without the default's key.
    const bare = withDefault({ ...node, apiKeyEnv: undefined }, fallback)
    expect([bare.apiBase, bare.apiKey === fallback.apiKey]).toEqual([fallback.apiBase, true])
    const based = withDefault({ ...node, apiKeyEnv: undefined, apiBase: "http://127.0.0.1:8/v1" }, fallback)
    expect([based.apiBase, based.apiKey]).toEqual(["http://127.0.0.1:8/v1", undefined])
  })

  it("--lm-timeout (the default model's timeout) does not bound an app's LanguageModel, which answers instead of the default", async () => {
    const failing = await Effect.runPromise(LanguageModel.make({
      generateText: () => Effect.die(new Error("never")),
      streamText: () => Stream.die(new Error("never"))
    }))
    // Slow, then refused: with the default's 20 ms it would be a timeout naming the default's model.
    const slow: LanguageModel.Service = { ...failing, generateText: () => Effect.delay(Effect.fail({ _tag: "QuotaExceeded", message: "out of credits" }), "150 millis") as never }
    const defaults = DefaultModel.layer({ apiBase: "http://127.0.0.1:9/v1", model: "default-model", timeoutMs: 20 })
    // A node that names no model: the one the default (and its timeout) would be for.
    const r = await runGraph(irOf(qa, [{ id: "ask", kind: "dspy", config: { signature: "question -> answer" } }]), { question: "q" }, dbLayer(), (e) => Effect.provide(Effect.provideService(e, LanguageModel.LanguageModel, slow), defaults))
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "provider-error", message: "the app's LanguageModel failed: out of credits" })
  })

  it("an app model's failure is a LanguageModelError (provider-error)", async () => {
    const failing = await Effect.runPromise(LanguageModel.make({
      generateText: () => Effect.die(new Error("never")),
      streamText: () => Stream.die(new Error("never"))
    }))
    const broken: LanguageModel.Service = { ...failing, generateText: () => Effect.fail({ _tag: "QuotaExceeded", message: "out of credits" }) as never }
    const r = await runGraph(irOf(qa, [ask({})]), { question: "q" }, dbLayer(), (e) => Effect.provideService(e, LanguageModel.LanguageModel, broken))
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "provider-error", message: "the app's LanguageModel failed: out of credits" })
  })
})

describe("presets", () => {
  const run1 = (fields: Fields, node: Record<string, unknown>, inputs: Record<string, unknown>, ...replies: Array<OpenAiServer.Reply>) => {
    server.script(...replies)
    return runGraph(irOf(fields, [{ ...node, config: { model: "m", api_base: server.url, ...(node["config"] as object) } }]), inputs)
  }

  it("classify: canonical label, clamped confidence (float-as-string, or a number for a numeric field)", async () => {
    const a = await run1({ text: str, verdict: str, confidence: str }, { id: "c", kind: "classify", config: { labels: ["urgent", "routine"] } }, { text: "x" }, "{\"label\": \" Urgent. \", \"confidence\": 1.3}")
    expect(a.summary?.final_state).toEqual({ text: "x", verdict: "urgent", confidence: "1.0" })
    const b = await run1({ text: str, verdict: str, confidence: { type: "number" } }, { id: "c", kind: "classify", config: { labels: ["urgent", "routine"] } }, { text: "x" }, "{\"label\": \"routine\", \"confidence\": \"0.25\"}")
    expect(b.summary?.final_state).toEqual({ text: "x", verdict: "routine", confidence: 0.25 })
    const system = String(b.checkpoints[1]!.calls![0]!.request && (b.checkpoints[1]!.calls![0]!.request as { messages: Array<{ content: string }> }).messages[0]!.content)
    expect(system).toContain("from: urgent, routine")
    const c = await run1({ text: str, verdict: str, confidence: str }, { id: "c", kind: "classify", config: { labels: ["urgent", "routine"] } }, { text: "x" }, "{\"label\": \"spam\", \"confidence\": 1}")
    expect(c.error).toMatchObject({ _tag: "ModelOutputError", field: "label", message: "label 'spam' is not one of the labels: urgent, routine" })
  })

  it("judge: pass/fail, score and the reasoning as rationale; anything else is a ModelOutputError", async () => {
    const fields = { content: str, verdict: str, score: str, rationale: str }
    const ok = await run1(fields, { id: "j", kind: "judge", config: { rubric: "Be right." } }, { content: "x" }, "{\"reasoning\": \"it is right\", \"verdict\": \"PASS\", \"score\": 0.8}")
    expect(ok.summary?.final_state).toEqual({ content: "x", verdict: "pass", score: "0.8", rationale: "it is right" })
    const bad = await run1(fields, { id: "j", kind: "judge", config: { rubric: "Be right." } }, { content: "x" }, "{\"reasoning\": \"unsure\", \"verdict\": \"maybe\", \"score\": 0.5}")
    expect(bad.error).toMatchObject({ _tag: "ModelOutputError", field: "verdict", message: "verdict 'maybe' is neither pass nor fail" })
  })

  it("a cot reply without reasoning is a ModelOutputError on reasoning (as DSPy's ChainOfThought), not an empty rationale; retried, the model is told", async () => {
    const fields = { question: str, answer: str, rationale: str }
    const bare = await run1(fields, { id: "r", kind: "reason" }, { question: "q" }, "{\"answer\": \"a\"}")
    expect(bare.error).toMatchObject({ _tag: "ModelOutputError", nodeId: "r", field: "reasoning", attempts: 1, message: "the reply has no 'reasoning' (module: cot asks for it first, before the outputs)" })
    const nulled = await run1({ content: str, verdict: str, score: str, rationale: str }, { id: "j", kind: "judge", config: { rubric: "Be right." } }, { content: "x" }, "{\"reasoning\": null, \"verdict\": \"pass\", \"score\": 1}")
    expect(nulled.error).toMatchObject({ _tag: "ModelOutputError", field: "reasoning" })
    const before = server.requests.length
    const retried = await run1(fields, { id: "r", kind: "reason", retry: { max_attempts: 2 } }, { question: "q" }, "{\"answer\": \"a\"}", "{\"reasoning\": \"because\", \"answer\": \"a\"}")
    expect(retried.summary?.final_state).toEqual({ question: "q", answer: "a", rationale: "because" })
    expect(server.requests[before + 1]!.body["messages"].at(-1).content).toContain("the reply has no 'reasoning'")
    // A plain dspy node with module: cot is held to the same reply.
    server.script("{\"answer\": \"4\"}")
    const dspy = await runGraph(irOf(qa, [ask({ api_base: server.url, module: "cot" })]), { question: "q" })
    expect(dspy.error).toMatchObject({ _tag: "ModelOutputError", field: "reasoning" })
  })

  it("each call records the reply parser it was checked under; a recording made before it (no marker) replays a cot reply without reasoning as it ran, one with the marker is refused", async () => {
    const own = await OpenAiServer.start({ respond: () => "{\"reasoning\": \"R-TOKEN\", \"answer\": \"a\"}" })
    const file = join(tempDir(), "runs.sqlite")
    const layer = SqliteCheckpointer.layer({ filename: file })
    const ir = irOf({ question: str, answer: str, rationale: str }, [{ id: "r", kind: "reason", config: { model: "m", api_base: own.url } }])
    const live = await runGraph(ir, { question: "q" }, layer)
    expect(live.summary?.final_state).toEqual({ question: "q", answer: "a", rationale: "R-TOKEN" })
    expect(live.checkpoints[1]!.calls!.map((c) => c.meta)).toEqual([{ reply_parser: 2 }])
    await own.close()

    /** A copy of the run's recording, each step's calls (and state, writes, delta) passed through `edit`. */
    const copyOf = async (edit: (column: string, text: string) => string) => {
      const copy = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(ir)
        const handle = yield* graph.start({ inputs: { question: "q" } })
        return handle.runId
      }).pipe(Effect.provide(layer)))
      const Database = (await import("better-sqlite3")).default
      const db = new Database(file)
      try {
        const columns = ["state", "writes", "delta", "calls"]
        const rows = db.prepare(`SELECT * FROM checkpoints WHERE run_id = ?`).all(live.runId) as Array<Record<string, unknown>>
        db.prepare("DELETE FROM checkpoints WHERE run_id = ?").run(copy)
        for (const row of rows) {
          const next: Record<string, unknown> = { ...row, run_id: copy }
          for (const column of columns) if (typeof row[column] === "string") next[column] = edit(column, row[column] as string)
          const keys = Object.keys(next)
          db.prepare(`INSERT INTO checkpoints (${keys.join(", ")}) VALUES (${keys.map(() => "?").join(", ")})`).run(...keys.map((k) => next[k]))
        }
        const run = db.prepare("SELECT status, finished_at, started_at, last_step FROM runs_history WHERE run_id = ?").get(live.runId) as Record<string, unknown>
        db.prepare("UPDATE runs_history SET status = ?, finished_at = ?, started_at = ?, last_step = ? WHERE run_id = ?").run(run["status"], run["finished_at"], run["started_at"], run["last_step"], copy)
      } finally {
        db.close()
      }
      return copy
    }
    /** The recorded completion without its reasoning (the reply a model that skipped it gave). */
    const bare = (calls: string) =>
      JSON.stringify((JSON.parse(calls) as Array<Record<string, unknown>>).map((call) => ({ ...call, response: { ...(call["response"] as object), text: "{\"answer\": \"a\"}" } })))
    const replayOf = async (runId: string) => {
      const fork = await Effect.runPromise(Replay.fork(live.graph, runId, {}).pipe(Effect.provide(layer)))
      const checkpoints = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(fork.cfRunId)).pipe(Effect.provide(layer)))
      return { fork, checkpoints }
    }

    // As a build before the marker recorded it: no meta, and the empty rationale it wrote.
    const old = await copyOf((column, text) =>
      column === "calls"
        ? JSON.stringify((JSON.parse(bare(text)) as Array<Record<string, unknown>>).map(({ meta: _meta, ...call }) => call))
        : text.replaceAll("\"R-TOKEN\"", "\"\""))
    const oldCheckpoints = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(old)).pipe(Effect.provide(layer)))
    expect(oldCheckpoints[1]!.calls!.map((c) => [c.meta, (c.response as { text: string }).text])).toEqual([[undefined, "{\"answer\": \"a\"}"]])
    const lenient = await replayOf(old)
    expect(lenient.fork.error).toBeUndefined()
    expect(lenient.fork.summary).toMatchObject({ status: "done", final_state: { question: "q", answer: "a", rationale: "" } })
    const same = (cps: ReadonlyArray<Checkpoint>) => cps.map((c) => ({ step: c.step, nodes: c.nodes, state: c.state, writes: c.writes, next: c.next, calls: c.calls }))
    // Bit-identical: the fork records the old calls as they were (still no marker).
    expect(same(lenient.checkpoints)).toEqual(same(oldCheckpoints))
    expect(lenient.checkpoints[1]!.calls![0]).not.toHaveProperty("meta")

    // The fresh recording replays bit-identically, its marker kept.
    const fresh = await replayOf(live.runId)
    expect(fresh.fork.summary).toMatchObject({ status: "done", final_state: live.summary!.final_state })
    expect(same(fresh.checkpoints)).toEqual(same(live.checkpoints))

    // The same bare reply recorded under the marker (parser 2) is refused on replay, as it was live.
    const marked = await copyOf((column, text) => (column === "calls" ? bare(text) : text))
    const strict = await replayOf(marked)
    expect(strict.fork.summary.status).toBe("failed")
    expect(strict.fork.error).toMatchObject({ _tag: "ModelOutputError", nodeId: "r", field: "reasoning" })
  })

  it("reason, summarize, plan and extract write their standard fields (rationale only when declared)", async () => {
    const reason = await run1({ question: str, answer: str }, { id: "r", kind: "reason" }, { question: "q" }, "{\"reasoning\": \"r\", \"answer\": \"a\"}")
    expect(reason.summary?.final_state).toEqual({ question: "q", answer: "a" })
    const summary = await run1({ text: str, summary: str }, { id: "s", kind: "summarize" }, { text: "long" }, "{\"reasoning\": \"r\", \"summary\": \"short\"}")
    expect(summary.summary?.final_state).toEqual({ text: "long", summary: "short" })
    const plan = await run1({ goal: str, tasks: { type: "array" } }, { id: "p", kind: "plan" }, { goal: "g" }, "{\"reasoning\": \"r\", \"tasks\": [\"one\", \"two\"]}")
    expect(plan.summary?.final_state).toEqual({ goal: "g", tasks: ["one", "two"] })
    const extract = await run1(
      { text: str, who: str, amount: { type: "number" }, paid: { type: "boolean" }, items: { type: "array" } },
      { id: "e", kind: "extract", config: { fields: { who: "str", amount: "float", paid: "bool", items: "list" } } },
      { text: "Ann paid 12.5 for a, b" },
      "{\"who\": \"Ann\", \"amount\": 12.5, \"paid\": true, \"items\": [\"a\", \"b\"]}"
    )
    expect(extract.summary?.final_state).toEqual({ text: "Ann paid 12.5 for a, b", who: "Ann", amount: 12.5, paid: true, items: ["a", "b"] })
    expect(extract.checkpoints[1]!.calls![0]!.request).toMatchObject({ signature: "text -> who, amount: float, paid: bool, items: list[str]" })
  })
})

describe("stub: true", () => {
  const stubs = irOf(
    { question: str, text: str, answer: str, rationale: str, summary: str, verdict: str, confidence: str, score: str, tasks: { type: "array" }, who: str, n: { type: "integer" }, label: str },
    [
      { id: "d", kind: "dspy", config: { signature: "question -> label: Literal['x', 'y'], n: int", stub: true } },
      { id: "bare", kind: "dspy", config: { stub: true } },
      { id: "r", kind: "reason", config: { stub: true } },
      { id: "s", kind: "summarize", config: { stub: true } },
      { id: "c", kind: "classify", config: { labels: ["urgent", "routine"], stub: true } },
      { id: "p", kind: "plan", config: { input: "question", stub: true } },
      { id: "e", kind: "extract", config: { fields: { who: "str" }, stub: true } },
      { id: "j", kind: "judge", config: { input: "answer", rubric: "ok", stub: true } }
    ]
  )

  it("answers every kind offline, deterministically, and records no call", async () => {
    const before = server.requests.length
    const a = await runGraph(stubs, { question: "q", text: "a routine report" })
    const b = await runGraph(stubs, { question: "q", text: "a routine report" })
    expect(a.summary?.final_state).toEqual({
      question: "q",
      text: "a routine report",
      label: "x",
      n: 0,
      answer: "stub-answer",
      rationale: "stub-rationale",
      summary: "stub-summary",
      verdict: "pass",
      confidence: "1.0",
      tasks: ["stub-task"],
      who: "stub-who",
      score: "1.0"
    })
    expect(b.summary?.final_state).toEqual(a.summary?.final_state)
    expect(a.checkpoints.flatMap((c) => c.calls ?? [])).toEqual([])
    expect(server.requests.length).toBe(before)
  })

  it("the stub classifier picks the first label the input mentions, else the first label with confidence 0", async () => {
    const ir = irOf({ text: str, verdict: str, confidence: str }, [{ id: "c", kind: "classify", config: { labels: ["urgent", "routine", "irrelevant"], stub: true } }])
    const pick = async (text: string) => (await runGraph(ir, { text })).summary?.final_state
    expect(await pick("Routine: weekly report")).toMatchObject({ verdict: "routine", confidence: "1.0" })
    expect(await pick("irrelevant, but urgent-ish")).toMatchObject({ verdict: "urgent", confidence: "1.0" })
    expect(await pick("nothing here")).toMatchObject({ verdict: "urgent", confidence: "0.0" })
    expect(await pick("routinely")).toMatchObject({ verdict: "urgent", confidence: "0.0" })
  })
})

describe("bad config is refused when the graph is built", () => {
  const build = (fields: Fields, node: Record<string, unknown>) => Effect.runPromise(Effect.either(Graph.make(irOf(fields, [node]))))
  it.each([
    ["no signature", qa, { id: "n", kind: "dspy", config: { model: "m" } }, "nodes[0].config", "needs config.signature"],
    ["no config at all", qa, { id: "n", kind: "dspy" }, "nodes[0].config", "needs config.signature"],
    ["a signature without ->", qa, ask({ signature: "question answer" }), "nodes[0].config.signature", "needs '->'"],
    ["an unknown type", qa, ask({ signature: "question -> answer: complex" }), "nodes[0].config.signature", "unknown type 'complex'"],
    ["a duplicated field", qa, ask({ signature: "question -> question" }), "nodes[0].config.signature", "appears twice"],
    ["signature and inputs", qa, ask({ inputs: { question: "str" }, outputs: { answer: "str" } }), "nodes[0].config.signature", "given twice"],
    ["an undeclared input", { answer: str }, ask({}), "nodes[0].config.signature", "reads state field 'question'"],
    ["an undeclared output", { question: str }, ask({}), "nodes[0].config.signature", "writes state field 'answer'"],
    ["an output of the wrong type", { question: str, answer: { type: "number" } }, ask({}), "nodes[0].config.signature", "writes a str to state field 'answer', declared number"],
    ["an int output to a string field", qa, ask({ signature: "question -> answer: int" }), "nodes[0].config.signature", "writes an int to state field 'answer', declared string"],
    ["signature_map to a field not in the signature", qa, ask({ signature_map: { question: "q" } }), "nodes[0].config.signature_map.question", "not in the signature"],
    ["signature_map mapping two fields to one", { ...qa, q2: str }, ask({ signature_map: { question: "question", q2: "question" } }), "nodes[0].config.signature_map.q2", "to the same signature field 'question'"],
    ["an unknown config key", qa, ask({ temprature: 0.2 }), "nodes[0].config.temprature", ""],
    ["a temperature out of range", qa, ask({ temperature: 3 }), "nodes[0].config.temperature", ""],
    ["an unknown module", qa, ask({ module: "react" }), "nodes[0].config.module", ""],
    ["api_base not a URL", qa, ask({ api_base: "localhost:8000" }), "nodes[0].config.api_base", "not an http(s) URL"],
    ["api_key_env holding a key (not echoed)", qa, ask({ api_key_env: "sk-abc-123456789" }), "nodes[0].config.api_key_env", "api_key_env 'sk-…' is not an environment variable name"],
    ["api_key_env holding a short key (not echoed)", qa, ask({ api_key_env: "sk-abc123def" }), "nodes[0].config.api_key_env", "api_key_env 'sk-…' is not"],
    ["classify with one label", { text: str, verdict: str, confidence: str }, { id: "c", kind: "classify", config: { labels: ["only"] } }, "nodes[0].config.labels", "at least two labels"],
    ["classify with repeated labels", { text: str, verdict: str, confidence: str }, { id: "c", kind: "classify", config: { labels: ["a", "A"] } }, "nodes[0].config.labels[1]", "repeats label 0"],
    ["classify without labels", { text: str, verdict: str, confidence: str }, { id: "c", kind: "classify" }, "nodes[0].config", "classify needs config.labels"],
    ["classify writing an undeclared verdict", { text: str, confidence: str }, { id: "c", kind: "classify", config: { labels: ["a", "b"] } }, "nodes[0].kind", "classify writes state field 'verdict'"],
    ["classify writing confidence to a boolean field", { text: str, verdict: str, confidence: { type: "boolean" } }, { id: "c", kind: "classify", config: { labels: ["a", "b"] } }, "nodes[0].kind", "writes a score to state field 'confidence', declared boolean"],
    ["reason reading an undeclared default input", { answer: str }, { id: "r", kind: "reason" }, "nodes[0].kind", "reason reads state field 'question' by default"],
    ["an undeclared config.input", { answer: str }, { id: "r", kind: "reason", config: { input: "prompt" } }, "nodes[0].config.input", "reads state field 'prompt'"],
    ["extract with an unknown type", { text: str, who: str }, { id: "e", kind: "extract", config: { fields: { who: "person" } } }, "nodes[0].config.fields.who", "unknown type 'person'"],
    ["judge with an empty rubric", { content: str, verdict: str, score: str }, { id: "j", kind: "judge", config: { rubric: " " } }, "nodes[0].config.rubric", "the rubric is empty"],
    ["a preset with a dspy-only key", { question: str, answer: str }, { id: "r", kind: "reason", config: { signature: "a -> b" } }, "nodes[0].config.signature", ""]
  ])("%s", async (_label, fields, node, path, message) => {
    const r = await build(fields as Fields, node)
    if (Either.isRight(r)) throw new Error("built")
    expect(r.left).toMatchObject({ _tag: "IRValidationError", path })
    expect((r.left as { message: string }).message).toContain(message)
  })

  it("a preset writing to a mistyped field: the fix names what to change (a fixed output's field; extract's config.fields), never a signature it does not have", async () => {
    const fixOf = async (fields: Fields, node: Record<string, unknown>) => {
      const r = await build(fields, node)
      if (Either.isRight(r)) throw new Error("built")
      return (r.left as { fix: string }).fix
    }
    expect(await fixOf({ text: str, verdict: { type: "integer" }, confidence: str }, { id: "c", kind: "classify", config: { labels: ["a", "b"] } }))
      .toBe("declare 'verdict' with a type that holds a str (this kind's outputs are fixed)")
    expect(await fixOf({ text: str, confidence: str }, { id: "c", kind: "classify", config: { labels: ["a", "b"] } }))
      .toBe("declare 'verdict' in the state schema (this kind always writes it)")
    expect(await fixOf({ text: str, who: { type: "integer" } }, { id: "e", kind: "extract", config: { fields: { who: "str" } } }))
      .toBe("declare 'who' with a matching type, or change its type in config.fields")
  })

  it("a value out of range: the fix restates the range, not 'the expected type shown'", async () => {
    const fixOf = async (config: Record<string, unknown>) => {
      const r = await build(qa, ask(config))
      if (Either.isRight(r)) throw new Error("built")
      return [(r.left as { path: string }).path, (r.left as { fix: string }).fix]
    }
    expect(await fixOf({ temperature: 3 })).toEqual(["nodes[0].config.temperature", "use a number between 0 and 2"])
    expect(await fixOf({ max_tokens: 0 })).toEqual(["nodes[0].config.max_tokens", "use a positive number"])
    expect(await fixOf({ model: "" })).toEqual(["nodes[0].config.model", "use a value the message allows"])
  })
})
