/**
 * The wire of language-model nodes against a real HTTP server on 127.0.0.1 that answers
 * badly (test/helpers/openaiServer.ts `Raw`): a body that is not JSON, a JSON reply to a
 * streamed request, SSE that is not JSON, a connection cut mid-stream, a stream without
 * its end. The API key never shows in an error, the SQLite file or the CLI's output; a
 * reply in the wrong format is `bad-response`, never an empty completion; a cut stream
 * is `request-failed`. And an output written to a state field with an `enum` must be one
 * of its values.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import type { RunSummary } from "../../src/checkpoint/models.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { formatError, type StargraphError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { liveCalls } from "../../src/nodes/calls.js"
import { allowedValues, providerOf } from "../../src/nodes/lm/config.js"
import { lmExecutor } from "../../src/nodes/lm/lmExecutor.js"
import * as Signature from "../../src/nodes/lm/Signature.js"
import { stargraph, tempDir } from "../helpers/cli.js"
import * as OpenAiServer from "../helpers/openaiServer.js"
import { Raw } from "../helpers/openaiServer.js"

const str = { type: "string" }
const qa = { question: str, answer: str }

const irOf = (nodes: ReadonlyArray<Record<string, unknown>>) => ({ ir_version: "1.0.0", id: "run:wire", state_schema: { fields: qa }, nodes })

/** Run a graph on a SQLite file; the summary, the error, the run record and checkpoints, and the file. */
const runGraph = (ir: unknown, provide: <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = (e) => e) => {
  const filename = join(tempDir(), "runs.sqlite")
  return Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.make(ir)
    const handle = yield* graph.start({ inputs: { question: "2+2?" } })
    const result = yield* provide(Effect.either(handle.start()))
    const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(handle.runId))
    const run = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(handle.runId))
    return {
      summary: Either.getOrUndefined(result) as RunSummary | undefined,
      error: Either.isLeft(result) ? (result.left as StargraphError) : undefined,
      record: run._tag === "Some" ? run.value : undefined,
      checkpoints,
      filename
    }
  }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
}

/** The bytes of a SQLite database and its write-ahead log. */
const dbBytes = (filename: string): Buffer => Buffer.concat([filename, `${filename}-wal`].filter(existsSync).map((f) => readFileSync(f)))

const ask = (config: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: "ask",
  kind: "dspy",
  config: { signature: "question -> answer", model: "test-model", api_base: server.url, ...config },
  ...extra
})

const KEY_ENV = "STARGRAPH_TEST_WIRE_KEY"
const KEY = `sk-wire-${Math.random().toString(36).slice(2)}-SECRET`

let server: OpenAiServer.OpenAiServer
beforeAll(async () => {
  server = await OpenAiServer.start()
  process.env[KEY_ENV] = KEY
})
afterAll(async () => {
  delete process.env[KEY_ENV]
  await server.close()
})

const good = "{\"answer\": \"4\"}"
/** The server's default reply. */
const good42 = "{\"answer\": \"42\"}"
const html = "<html><body>Bad gateway</body></html>"

describe("the API key never leaks into an error", () => {
  it.each([
    ["chat: 200 with a body that is not JSON", {}, Raw.body(html), "bad-response", "the reply is not JSON (content-type application/json): <html><body>Bad gateway</body></html>"],
    ["chat, streamed: the connection cut after the first chunk", { stream: true }, Raw.sse([Raw.chatChunk("{\"answer\"")], "cut"), "request-failed", "no answer from http://127.0.0.1:"],
    ["chat, streamed: 200 with a body that is not JSON", { stream: true }, Raw.body(html), "bad-response", "the reply is not JSON (content-type application/json)"],
    ["chat: 502 with an HTML body", {}, Raw.body(html, "text/html", 502), "http-status", "answered 502: <html>"],
    ["responses: 200 with a body that is not JSON", { api: "responses" }, Raw.body(html, "text/html"), "bad-response", "the reply is not JSON (content-type text/html)"],
    ["responses, streamed: the connection cut after the first event", { api: "responses", stream: true }, Raw.sse(["event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"{\"}\n\n"], "cut"), "request-failed", "no answer from"]
  ])("%s", async (_label, config, reply, reason, message) => {
    server.script(reply, reply)
    const before = server.requests.length
    const r = await runGraph(irOf([ask({ api_key_env: KEY_ENV, ...config }, { retry: { max_attempts: 2 } })]))
    // The key was sent: it is there to leak.
    expect(server.requests.slice(before).map((q) => q.headers["authorization"])).toEqual([`Bearer ${KEY}`, `Bearer ${KEY}`])
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason, attempts: 2 })
    const text = formatError(r.error!)
    expect(text).toContain(message)
    expect(text).not.toContain(KEY)
    expect(text.toLowerCase()).not.toContain("authorization")
    expect(text.length).toBeLessThan(700)
    // The run record holds the error and both failed attempts' calls.
    expect(JSON.stringify(r.record)).toContain("lm.dspy")
    expect(JSON.stringify(r.record)).not.toContain(KEY)
    const bytes = dbBytes(r.filename)
    expect(bytes.length).toBeGreaterThan(0)
    expect(bytes.includes(reason)).toBe(true)
    expect(bytes.includes(KEY)).toBe(false)
  })

  it("the CLI prints no key on stderr and writes none to its database", async () => {
    const dir = tempDir()
    writeFileSync(
      join(dir, "graph.yaml"),
      [
        "ir_version: \"1.0.0\"",
        "id: run:leak",
        "state_schema:",
        "  fields:",
        "    question: { type: string }",
        "    answer: { type: string }",
        "nodes:",
        "  - id: ask",
        "    kind: dspy",
        "    config:",
        "      signature: \"question -> answer\"",
        "      model: notjson",
        `      api_base: ${server.url}`,
        `      api_key_env: ${KEY_ENV}`
      ].join("\n") + "\n"
    )
    server.script(Raw.body("<html>oops</html>"))
    const before = server.requests.length
    const db = join(dir, "db.sqlite")
    const r = await stargraph(["run", "graph.yaml", "--inputs", "question=hi", "--db", db, "--quiet"], { cwd: dir, env: { [KEY_ENV]: KEY } })
    expect(server.requests.length).toBe(before + 1)
    expect(server.requests.at(-1)!.headers["authorization"]).toBe(`Bearer ${KEY}`)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("LanguageModelError[bad-response]")
    expect(r.stderr).toContain("the reply is not JSON (content-type application/json): <html>oops</html>")
    expect(r.stderr).not.toContain(KEY)
    expect(r.stdout).not.toContain(KEY)
    expect(r.stderr.length).toBeLessThan(700)
    expect(dbBytes(db).includes(KEY)).toBe(false)
  })

  const failing = (error: unknown) =>
    Effect.map(
      LanguageModel.make({ generateText: () => Effect.fail(error as AiError.AiError), streamText: () => Stream.fail(error as AiError.AiError) }),
      (lm) => <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.provideService(e, LanguageModel.LanguageModel, lm)
    )

  it("a key whose variable ends in a newline is redacted too (as sent, trimmed)", async () => {
    process.env[KEY_ENV] = `${KEY}\n`
    try {
      server.script({ status: 401, message: `Invalid API key: ${KEY}` })
      const r = await runGraph(irOf([ask({ api_key_env: KEY_ENV })]))
      expect(server.requests.at(-1)!.headers["authorization"]).toBe(`Bearer ${KEY}`)
      expect((r.error as { message: string }).message).toBe(`${server.url} answered 401: Invalid API key: <redacted>`)
      expect(dbBytes(r.filename).includes(KEY)).toBe(false)
    } finally {
      process.env[KEY_ENV] = KEY
    }
  })

  it("no part of the key is left where a server's text is cut to fit an error", async () => {
    // The key starts 16 characters before the cut (300 for a server's message, 120 for a body's preview).
    const head = KEY.slice(0, 16)
    for (const reply of [
      { status: 401, message: `${"x".repeat(300 - 16)}${KEY}` },
      Raw.body(`${"p".repeat(120 - 16)}${KEY}`, "text/html")
    ]) {
      server.script(reply)
      const r = await runGraph(irOf([ask({ api_key_env: KEY_ENV })]))
      const message = (r.error as { message: string }).message
      expect(message).toContain("<redacted>")
      expect(message).not.toContain(head)
      expect(dbBytes(r.filename).includes(head)).toBe(false)
    }
  })

  it("an app model that dies (not fails) with the key in its message is a redacted LanguageModelError", async () => {
    const dying = LanguageModel.make({ generateText: () => Effect.die(new Error(`auth failed for ${KEY}`)), streamText: () => Stream.die(new Error(`auth failed for ${KEY}`)) })
    for (const stream of [false, true]) {
      const lm = await Effect.runPromise(dying)
      const r = await runGraph(irOf([ask({ api_key_env: KEY_ENV, stream })]), (e) => Effect.provideService(e, LanguageModel.LanguageModel, lm))
      expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "provider-error", message: "the app's LanguageModel failed: auth failed for <redacted>" })
      expect(dbBytes(r.filename).includes(KEY)).toBe(false)
    }
  })

  it("an app model's error is redacted: the node's key and any bearer token", async () => {
    const provide = await Effect.runPromise(failing({ _tag: "Quota", message: `POST failed; authorization: Bearer abc.DEF-123_x; the key was ${KEY}` }))
    const r = await runGraph(irOf([ask({ api_key_env: KEY_ENV })]), provide)
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "provider-error" })
    const message = (r.error as { message: string }).message
    expect(message).toBe("the app's LanguageModel failed: POST failed; authorization: Bearer <redacted>; the key was <redacted>")
    expect(dbBytes(r.filename).includes(KEY)).toBe(false)
  })

  it("an app model's @effect/ai response error is described, never printed whole (it holds the request)", async () => {
    const error = new AiError.HttpResponseError({
      module: "OpenAiClient",
      method: "createResponse",
      reason: "Decode",
      request: { method: "POST", url: "http://127.0.0.1:1/v1/responses", urlParams: [], hash: Option.none(), headers: { authorization: `Bearer ${KEY}` } },
      response: { status: 200, headers: {} },
      body: `{ "request": { "headers": { "authorization": "Bearer ${KEY}", "x-other": "${"y".repeat(3000)}" } } }`
    })
    const provide = await Effect.runPromise(failing(error))
    const r = await runGraph(irOf([ask({})]), provide)
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "bad-response", status: 200 })
    const message = (r.error as { message: string }).message
    expect(message).toBe("the app's LanguageModel answered with something that is not a completion: the reply could not be read (Decode)")
    expect(dbBytes(r.filename).includes(KEY)).toBe(false)
  })
})

describe("a reply in the wrong format is bad-response, never an empty completion", () => {
  it.each([
    ["chat, streamed: a JSON body without choices", { stream: true }, Raw.body("{\"id\":\"x\"}"), "choices: is missing"],
    ["chat, streamed: an HTML page", { stream: true }, Raw.body("<html>oops</html>", "text/html"), "the reply is neither an event stream nor JSON (content-type text/html): <html>oops</html>"],
    ["chat, streamed: SSE data that is not JSON", { stream: true }, Raw.sse(["data: {not json}\n\n", "data: [DONE]\n\n"]), "a stream event is not JSON: {not json}"],
    ["chat, streamed: an event stream that holds no SSE", { stream: true }, Raw.sse(["<html>oops</html>\n"]), "the reply is not an event stream (content-type text/event-stream): <html>oops</html>"],
    ["chat, streamed: an empty 200", { stream: true }, Raw.body("", null), "the reply is empty (no content-type)"],
    ["chat: an empty 200", {}, Raw.body("", "application/json"), "the reply is empty (content-type application/json)"],
    ["responses: a JSON body without output", { api: "responses" }, Raw.body("{\"id\":\"x\"}"), "output: is missing"],
    ["responses: a response still in progress", { api: "responses" }, Raw.body("{\"id\":\"x\",\"status\":\"in_progress\",\"output\":[]}"), "status: the response is in_progress, not completed"],
    ["responses, streamed: a JSON body without output", { api: "responses", stream: true }, Raw.body("{\"id\":\"x\"}"), "output: is missing"],
    ["responses, streamed: SSE data that is not JSON", { api: "responses", stream: true }, Raw.sse(["event: response.output_text.delta\ndata: nope\n\n"]), "a stream event is not JSON: nope"]
  ])("%s", async (_label, config, reply, message) => {
    server.script(reply)
    const r = await runGraph(irOf([ask(config)]))
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "bad-response" })
    expect((r.error as { message: string }).message).toBe(`${server.url} answered with something that is not a completion: ${message}`)
  })

  it("retried, the next attempt asks again without a repair turn (the reply was not the model's)", async () => {
    server.script(Raw.body("{\"id\":\"x\"}"), good)
    const before = server.requests.length
    const r = await runGraph(irOf([ask({ stream: true }, { retry: { max_attempts: 2 } })]))
    expect(r.summary?.final_state["answer"]).toBe("4")
    const [first, second] = server.requests.slice(before)
    expect(second!.body["messages"]).toEqual(first!.body["messages"])
    const calls = r.checkpoints[1]!.calls ?? []
    expect(calls.map((c) => c.error?.fields?.["reason"] ?? null)).toEqual(["bad-response", null])
  })

  it.each([
    ["chat: no [DONE] and no finish reason", {}, Raw.sse([Raw.chatChunk(good)])],
    ["chat: cut after a chunk", {}, Raw.sse([Raw.chatChunk("{\"answer\"")], "cut")],
    ["responses: no response.completed", { api: "responses" }, Raw.sse([`event: response.output_text.delta\ndata: ${JSON.stringify({ type: "response.output_text.delta", delta: good })}\n\n`])],
    ["responses: [DONE] before response.completed", { api: "responses" }, Raw.sse([`data: ${JSON.stringify({ type: "response.output_text.delta", delta: good })}\n\n`, "data: [DONE]\n\n"])]
  ])("a stream that ends before the completion is request-failed (%s)", async (_label, config, reply) => {
    server.script(reply)
    const r = await runGraph(irOf([ask({ stream: true, ...config })]))
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "request-failed" })
    expect((r.error as { message: string }).message).toMatch(/^no answer from http:\/\/127\.0\.0\.1:\d+\/v1: (the stream ended before the completion did|the connection broke mid-stream \(.+\))$/)
  })

  it("a server that ignores stream: true and answers the whole completion is read as it", async () => {
    server.script(Raw.chatCompletion(good))
    const r = await runGraph(irOf([ask({ stream: true })]))
    expect(r.summary?.final_state["answer"]).toBe("4")
    expect(r.checkpoints[1]!.calls![0]!.response).toEqual({ text: good, finish_reason: "stop", usage: { input_tokens: 11, output_tokens: 3 } })
    const whole = { id: "r", status: "completed", output: [{ type: "message", content: [{ type: "output_text", text: good }] }], usage: { input_tokens: 5, output_tokens: 2 } }
    server.script(Raw.body(JSON.stringify(whole)))
    const responses = await runGraph(irOf([ask({ stream: true, api: "responses" })]))
    expect(responses.checkpoints[1]!.calls![0]!.response).toEqual({ text: good, finish_reason: "stop", usage: { input_tokens: 5, output_tokens: 2 } })
  })

  it("reads SSE as written: multi-line data, event lines, comments, CRLF, a finish without [DONE]", async () => {
    const chunk = (content: string) => JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })
    const split = chunk("{\"answer\": ")
    server.script(Raw.sse([
      ": keep-alive\r\n\r\n",
      `event: message\r\ndata: ${split.slice(0, 20)}\r\ndata: ${split.slice(20)}\r\n\r\n`,
      `id: 2\nretry: 100\ndata: ${chunk("\"4\"}")}\n\n`,
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 7, completion_tokens: 2 } })}`
    ]))
    const r = await runGraph(irOf([ask({ stream: true })]))
    expect(r.summary?.final_state["answer"]).toBe("4")
    expect(r.checkpoints[1]!.calls![0]!.response).toEqual({ text: good, finish_reason: "stop", usage: { input_tokens: 7, output_tokens: 2 } })
  })

  it("a streamed chat request asks for the usage, so the recorded completion is as without streaming", async () => {
    const before = server.requests.length
    const plain = await runGraph(irOf([ask({})]))
    const streamed = await runGraph(irOf([ask({ stream: true })]))
    const [p, s] = server.requests.slice(before)
    expect(p!.body["stream_options"]).toBeUndefined()
    expect(s!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } })
    // The server counts the (longer) streamed request's tokens: the same fields, not the same numbers.
    const shape = { text: good42, finish_reason: "stop", usage: { input_tokens: expect.any(Number), output_tokens: 4 } }
    expect(plain.checkpoints[1]!.calls![0]!.response).toEqual(shape)
    expect(streamed.checkpoints[1]!.calls![0]!.response).toEqual(shape)
  })

  it("an error a server sends in a stream is the server's error, with its message, tried again like a cut stream", async () => {
    const errors: ReadonlyArray<[string, ReadonlyArray<string>, Record<string, unknown>]> = [
      ["chat: an error field", [Raw.chatChunk("{\"ans"), `data: ${JSON.stringify({ error: { message: "model overloaded" } })}\n\n`, "data: [DONE]\n\n"], {}],
      ["chat: an error event", [Raw.chatChunk("{\"ans"), `event: error\ndata: ${JSON.stringify({ message: "model overloaded" })}\n\n`], {}],
      ["responses: a nested error event", [`data: ${JSON.stringify({ type: "error", error: { message: "model overloaded" } })}\n\n`], { api: "responses" }],
      ["responses: response.failed", [`data: ${JSON.stringify({ type: "response.failed", response: { status: "failed", error: { message: "model overloaded" } } })}\n\n`], { api: "responses" }]
    ]
    for (const [label, lines, config] of errors) {
      const before = server.requests.length
      server.script(Raw.sse(lines), Raw.sse(lines))
      const r = await runGraph(irOf([ask({ stream: true, ...config }, { retry: { max_attempts: 2 } })]))
      expect(r.error, label).toMatchObject({ _tag: "LanguageModelError", reason: "request-failed" })
      expect((r.error as { message: string }).message, label).toBe(`no answer from ${server.url}: the server ended the stream with an error: model overloaded`)
      // The server answered: the fix says to retry, not to check that it runs.
      expect((r.error as { fix: string }).fix, label).toBe("the server reported an error mid-reply (overloaded, rate limited, its model failed): raise the node's retry.max_attempts (2) or retry.backoff_ms, or try later")
      expect(server.requests.length - before, label).toBe(2)
    }
  })

  it("reads SSE with lone CR line ends, skips events with empty data, picks choice 0 by index", async () => {
    const cr = [`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "{\"answer\": \"cr\"}" }, finish_reason: "stop" }] })}\r\r`, "data: [DONE]\r\r"]
    server.script(Raw.sse(cr))
    expect((await runGraph(irOf([ask({ stream: true })]))).summary?.final_state).toMatchObject({ answer: "cr" })
    const responsesCr = [`data: ${JSON.stringify({ type: "response.output_text.delta", delta: "{\"answer\": \"r-cr\"}" })}\r\r`, `data: ${JSON.stringify({ type: "response.completed", response: { status: "completed", output: [] } })}\r\r`]
    server.script(Raw.sse(responsesCr))
    expect((await runGraph(irOf([ask({ stream: true, api: "responses" })]))).summary?.final_state).toMatchObject({ answer: "r-cr" })
    server.script(Raw.sse(["data:\n\n", "data: \n\n", Raw.chatChunk("{\"answer\": \"after empty\"}", "stop"), "data: [DONE]\n\n"]))
    expect((await runGraph(irOf([ask({ stream: true })]))).summary?.final_state).toMatchObject({ answer: "after empty" })
    const two = (index: number, content: string) => `data: ${JSON.stringify({ choices: [{ index, delta: { content }, finish_reason: null }] })}\n\n`
    server.script(Raw.sse([two(1, "SECOND"), two(0, "{\"answer\": \"first\"}"), Raw.chatChunk(undefined, "stop"), "data: [DONE]\n\n"]))
    expect((await runGraph(irOf([ask({ stream: true })]))).summary?.final_state).toMatchObject({ answer: "first" })
  })

  it("a whole JSON completion sent as text/event-stream is read as the completion", async () => {
    server.script({ raw: { contentType: "text/event-stream", chunks: [JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: "{\"answer\": \"whole\"}" }, finish_reason: "stop" }] })] } })
    expect((await runGraph(irOf([ask({ stream: true })]))).summary?.final_state).toMatchObject({ answer: "whole" })
  })

  it("a 200 that is an error object shows the server's message", async () => {
    server.script(Raw.body(JSON.stringify({ error: { message: "no such model: m" } })))
    const r = await runGraph(irOf([ask({})]))
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "bad-response" })
    expect((r.error as { message: string }).message).toBe(`${server.url} answered with something that is not a completion: the reply is an error, not a completion: no such model: m`)
  })
})

describe("an output written to a state field with an enum", () => {
  const signature = Either.getOrThrow(Signature.parse("question -> level, n: int"))
  const outputs = signature.outputs.map((f) => ({ name: f.name, field: f.name, type: f.type }))
  const enums: Record<string, ReadonlyArray<string>> = { level: ["low", "high"] }
  const execute = (retry: number) =>
    lmExecutor({
      kind: "dspy",
      prompt: { signature, instructions: undefined, module: "predict" },
      provider: providerOf({ model: "m", api_base: server.url }),
      reads: [{ input: "question", field: "question" }],
      post: (values) => Either.right({ level: values["level"], n: values["n"] }),
      allowed: allowedValues(outputs, (field) => enums[field]),
      retry: { max_attempts: retry }
    })
  const input = { runId: "r", nodeId: "ask", step: 1, calls: liveCalls, answers: [], graphHash: "h" }

  it("allows only the enum's values: another is a ModelOutputError naming the field and the values", async () => {
    expect(allowedValues(outputs, (field) => enums[field])).toEqual({ level: ["low", "high"] })
    server.script("{\"level\": \"medium\", \"n\": 2}")
    const failed = await Effect.runPromise(Effect.either(execute(1)({ question: "q" }, input)).pipe(Effect.provide(MemoryCheckpointer.layer)))
    if (Either.isRight(failed)) throw new Error("decoded")
    expect(failed.left).toMatchObject({ _tag: "ModelOutputError", field: "level", message: "'level': must be one of \"low\", \"high\", not \"medium\"" })
  })

  it("retried, the repair turn says which values are allowed", async () => {
    server.script("{\"level\": \"medium\", \"n\": 2}", "{\"level\": \"high\", \"n\": \"2\"}")
    const before = server.requests.length
    const outcome = await Effect.runPromise(execute(3)({ question: "q" }, input).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(outcome).toEqual({ _tag: "Update", update: { level: "high", n: 2 } })
    const second = server.requests.slice(before)[1]!
    expect(second.body["messages"].at(-1).content).toBe(
      "That reply could not be used: 'level': must be one of \"low\", \"high\", not \"medium\". Reply again with only the JSON object, with the keys \"level\", \"n\"."
    )
  })
})

describe("a dspy output written to a state field with an enum (the graph)", () => {
  const ir = (retry: number) => ({
    ir_version: "1.0.0",
    id: "run:enum",
    state_schema: { fields: { question: str, level: { type: "string", enum: ["low", "high"] }, n: { type: "integer" } } },
    nodes: [{ id: "ask", kind: "dspy", config: { signature: "question -> level, n: int", model: "m", api_base: server.url }, retry: { max_attempts: retry } }]
  })

  it("is decoded against the enum: another value is a ModelOutputError, retried with a repair turn (not a StateValidationError)", async () => {
    server.script("{\"level\": \"medium\", \"n\": 1}", "{\"level\": \"high\", \"n\": 1}")
    const before = server.requests.length
    const r = await runGraph(ir(3))
    expect(r.summary).toMatchObject({ status: "done", final_state: { level: "high", n: 1 } })
    const sent = server.requests.slice(before)
    expect(sent).toHaveLength(2)
    expect(sent[1]!.body["messages"].at(-1).content).toContain("'level': must be one of \"low\", \"high\", not \"medium\"")
    server.script("{\"level\": \"medium\", \"n\": 1}")
    const failed = await runGraph(ir(1))
    expect(failed.error).toMatchObject({ _tag: "ModelOutputError", field: "level", message: "'level': must be one of \"low\", \"high\", not \"medium\"" })
  })
})

describe("a reply cut at the token limit", () => {
  const cut = "{\"answer\": \"a long answ"
  const responsesCut = Raw.body(JSON.stringify({
    id: "resp_cut",
    object: "response",
    status: "incomplete",
    incomplete_details: { reason: "max_output_tokens" },
    output: [{ type: "message", id: "m", status: "incomplete", role: "assistant", content: [{ type: "output_text", text: cut, annotations: [] }] }]
  }))
  const chatCut = Raw.body(JSON.stringify({ id: "c", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: cut }, finish_reason: "length" }] }))

  it("is a ModelOutputError that says so, whose fix names max_tokens (Responses incomplete, chat finish_reason length, streamed or not)", async () => {
    const cases: ReadonlyArray<[string, OpenAiServer.Reply, Record<string, unknown>]> = [
      ["responses: incomplete (max_output_tokens)", responsesCut, { api: "responses", max_tokens: 16 }],
      ["chat: finish_reason length", chatCut, { max_tokens: 16 }],
      ["chat streamed: finish_reason length", Raw.sse([Raw.chatChunk(cut), Raw.chatChunk(undefined, "length"), "data: [DONE]\n\n"]), { stream: true }]
    ]
    for (const [label, reply, config] of cases) {
      server.script(reply)
      const r = await runGraph(irOf([ask(config)]))
      expect(r.error, label).toMatchObject({ _tag: "ModelOutputError" })
      const error = r.error as { message: string; fix: string }
      expect(error.message, label).toContain("cut at the token limit")
      expect(error.fix, label).toContain("config.max_tokens")
      if (config["max_tokens"] !== undefined) expect(error.fix, label).toContain("(16)")
    }
  })

  it("a reply that finished on its own keeps the usual error and fix", async () => {
    server.script(Raw.body(JSON.stringify({ id: "c", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: cut }, finish_reason: "stop" }] })))
    const r = await runGraph(irOf([ask({})]))
    expect(r.error).toMatchObject({ _tag: "ModelOutputError", message: "the completion is not a JSON object" })
    expect((r.error as { fix: string }).fix).not.toContain("max_tokens")
  })
})
