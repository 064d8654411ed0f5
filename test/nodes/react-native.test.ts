/**
 * `react` nodes with `config.tool_protocol: native` (OpenAI-style tool calling) against a
 * real OpenAI-compatible server on 127.0.0.1 (test/helpers/openaiServer.ts) scripted to
 * answer with `tool_calls` and then a final answer: the request carries the `tools` array
 * (each tool's input as JSON Schema) and the `role: tool` messages with the matching ids;
 * every model and tool call lands in the cassette, and a replay with the server stopped
 * gives the same state. Malformed tool calls, an app's LanguageModel (which cannot carry
 * tools), and the JSON protocol left as it was.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import type { Checkpoint } from "../../src/checkpoint/models.js"
import { IRValidationError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { DefaultModel, LanguageModels } from "../../src/index.js"
import { OBSERVATION_BUDGET, OBSERVATION_LIMIT } from "../../src/nodes/kinds/react.js"
import * as Tool from "../../src/nodes/tools/Tool.js"
import * as ToolRegistry from "../../src/nodes/tools/ToolRegistry.js"
import * as Replay from "../../src/replay/Replay.js"
import { dbLayer, runGraph } from "../helpers/graphRun.js"
import * as OpenAiServer from "../helpers/openaiServer.js"
import { scriptedServers } from "../helpers/scriptedServers.js"

const str = { type: "string" }
const fields = { question: str, answer: str, tool_trace: { type: "array" } }

const irOf = (config: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  ir_version: "1.0.0",
  id: "run:react-native",
  state_schema: { fields },
  nodes: [{ id: "agent", kind: "react", config: { model: "test-model", tool_protocol: "native", ...config }, ...extra }]
})

interface Call {
  readonly id?: string
  readonly name: string
  readonly args: string | Record<string, unknown>
}

/** A chat completion whose message asks for `calls` (as vLLM answers: content null, finish_reason tool_calls). */
const toolCalls = (...calls: ReadonlyArray<Call>): OpenAiServer.Reply =>
  OpenAiServer.Raw.body(JSON.stringify({
    id: "chatcmpl-test",
    object: "chat.completion",
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: null,
        tool_calls: calls.map((c) => ({ ...(c.id !== undefined ? { id: c.id } : {}), type: "function", function: { name: c.name, arguments: typeof c.args === "string" ? c.args : JSON.stringify(c.args) } }))
      },
      finish_reason: "tool_calls"
    }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
  }))

/** One streamed chunk of choice 0 with `delta` (and a finish reason). */
const toolChunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: "chatcmpl-test", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`

const { serve } = scriptedServers()

type Sent = Record<string, unknown>
const messagesOf = (s: OpenAiServer.OpenAiServer, i: number) => s.requests[i]!.body["messages"] as Array<Sent>

describe("react with tool_protocol: native", () => {
  it("sends the tools as JSON Schema, runs the tool_calls, sends role: tool messages back, answers; a replay with the server stopped gives the same checkpoints", async () => {
    const server = await serve(toolCalls({ id: "call_abc", name: "std_calculator", args: { expression: "6 * 7" } }), "It is 42.")
    const layer = dbLayer()
    const live = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"] }), { question: "What is six times seven?" }, { layer })
    expect(live.error).toBeUndefined()
    expect(live.summary?.status).toBe("done")
    expect(live.summary?.final_state).toEqual({
      question: "What is six times seven?",
      answer: "It is 42.",
      tool_trace: [{ tool: "std_calculator", args: { expression: "6 * 7" }, observation: "{\"result\":42}" }]
    })

    expect(server.requests.map((r) => r.path)).toEqual(["/v1/chat/completions", "/v1/chat/completions"])
    const body = server.requests[0]!.body
    expect(body["stream"]).toBeUndefined()
    expect(body["tools"]).toEqual([{
      type: "function",
      function: {
        name: "std_calculator",
        description: expect.stringContaining("Evaluate an arithmetic expression"),
        parameters: { type: "object", required: ["expression"], properties: { expression: expect.objectContaining({ type: "string", maxLength: 4096 }) }, additionalProperties: false }
      }
    }])
    expect(messagesOf(server, 0).map((m) => m["role"])).toEqual(["system", "user"])
    expect(messagesOf(server, 0)[0]!["content"]).not.toContain("next_tool_name")
    expect(messagesOf(server, 1)).toEqual([
      ...messagesOf(server, 0),
      { role: "assistant", content: null, tool_calls: [{ id: "call_abc", type: "function", function: { name: "std_calculator", arguments: "{\"expression\":\"6 * 7\"}" } }] },
      { role: "tool", tool_call_id: "call_abc", content: "{\"result\":42}" }
    ])
    expect(server.requests[1]!.body["tools"]).toEqual(body["tools"])

    // The cassette: model call (with its tools), tool call, model call.
    const calls = live.checkpoints.flatMap((c) => c.calls ?? [])
    expect(calls.map((c) => c.name)).toEqual(["lm.react", "tool.std.calculator", "lm.react"])
    expect(calls[0]).toMatchObject({ request: { model: "test-model", signature: "question -> answer", tools: body["tools"] }, response: { text: "", tool_calls: [{ id: "call_abc", name: "std_calculator", arguments: "{\"expression\":\"6 * 7\"}" }] } })
    expect(calls[1]).toMatchObject({ request: { tool: "std.calculator@1", args: { expression: "6 * 7" } }, response: { result: 42 } })
    expect(calls[2]).toMatchObject({ request: { messages: messagesOf(server, 1) }, response: { text: "It is 42.", tool_calls: [] } })

    await server.close()
    const fork = await Effect.runPromise(Replay.fork(live.graph, live.runId, {}).pipe(Effect.provide(layer)))
    expect(fork.error).toBeUndefined()
    expect(fork.summary.status).toBe("done")
    expect(fork.summary.final_state).toEqual(live.summary?.final_state)
    const replayed = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(fork.cfRunId)).pipe(Effect.provide(layer)))
    const same = (cps: ReadonlyArray<Checkpoint>) => cps.map((c) => ({ step: c.step, nodes: c.nodes, state: c.state, writes: c.writes, calls: c.calls }))
    expect(same(replayed)).toEqual(same(live.checkpoints))
    expect(server.requests).toHaveLength(2)
  })

  it("runs every call of a reply in order, answers an unknown tool or arguments failing its Schema with an observation, and gives an id-less call one; with the run-wide default model", async () => {
    const server = await serve(
      toolCalls(
        { id: "c1", name: "std_calculator", args: { expression: "1 + 1" } },
        { id: "c2", name: "std_http_fetch", args: { url: "http://127.0.0.1:1/" } },
        { name: "std_calculator", args: { expression: 5 } }
      ),
      "2"
    )
    const ir = { ...irOf({}), nodes: [{ id: "agent", kind: "react", config: { tools: ["std.calculator@1"], tool_protocol: "native" } }] }
    const r = await runGraph(ir, { question: "1 + 1?" }, { provide: DefaultModel.layer({ apiBase: server.url, model: "default-model" }) })
    expect(r.error).toBeUndefined()
    expect(server.requests[0]!.body["model"]).toBe("default-model")
    const tools = messagesOf(server, 1).filter((m) => m["role"] === "tool")
    expect(tools.map((m) => m["tool_call_id"])).toEqual(["c1", "c2", "call_2"])
    expect(tools[0]!["content"]).toBe("{\"result\":2}")
    expect(tools[1]!["content"]).toBe("Unknown tool 'std_http_fetch': it is not one of the tools you may call. Call one of: std_calculator.")
    expect(tools[2]!["content"]).toMatch(/^Execution error in std_calculator: /)
    expect(r.summary?.final_state).toMatchObject({ answer: "2" })
    // Only the allowed tools' calls are traced (as the JSON protocol traces them).
    expect((r.summary?.final_state["tool_trace"] as Array<{ tool: string }>).map((t) => t.tool)).toEqual(["std_calculator", "std_calculator"])
    expect(r.checkpoints.flatMap((c) => c.calls ?? [])[0]).toMatchObject({ name: "lm.react", request: { model: null } })
  })

  it.each([
    ["not JSON", "{\"expression\": ", "tool call 0 (std_calculator): its arguments are not JSON"],
    ["not an object", "[1, 2]", "tool call 0 (std_calculator): its arguments are not a JSON object"]
  ])("a tool call whose arguments are %s is a ModelOutputError; under retry the model is asked again and no tool ran for it", async (_label, args, message) => {
    const bad = await serve(toolCalls({ id: "x", name: "std_calculator", args }))
    const r = await runGraph(irOf({ api_base: bad.url, tools: ["std.calculator@1"] }), { question: "2+2" })
    expect(r.error).toMatchObject({ _tag: "ModelOutputError", nodeId: "agent", field: "tool_calls[0].arguments", message })

    const server = await serve(toolCalls({ id: "x", name: "std_calculator", args }), toolCalls({ id: "y", name: "std_calculator", args: { expression: "2+2" } }), "4")
    const retried = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"] }, { retry: { max_attempts: 2 } }), { question: "2+2" })
    expect(retried.error).toBeUndefined()
    expect(retried.summary?.final_state).toMatchObject({ answer: "4", tool_trace: [{ tool: "std_calculator", args: { expression: "2+2" }, observation: "{\"result\":4}" }] })
    // The retry re-sent the same messages.
    expect(messagesOf(server, 1)).toEqual(messagesOf(server, 0))
    expect(retried.checkpoints.flatMap((c) => c.calls ?? []).map((c) => c.name)).toEqual(["lm.react", "lm.react", "tool.std.calculator", "lm.react"])
  })

  it("streamed (stream: true): tool_calls deltas are put together by index, the answer streams; the cassette holds the same completion, and a replay matches", async () => {
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      `data: ${JSON.stringify({ id: "chatcmpl-test", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
    const deltas = OpenAiServer.Raw.sse([
      chunk({ role: "assistant", content: null }),
      chunk({ tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "std_calculator", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: "{\"expression\": " } }] }),
      chunk({ tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "std_calculator", arguments: "{\"expression\"" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: "\"6 * 7\"}" } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: ": \"1 + 2\"}" } }] }),
      chunk({}, "tool_calls"),
      `data: ${JSON.stringify({ id: "chatcmpl-test", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } })}\n\n`,
      "data: [DONE]\n\n"
    ])
    const server = await serve(deltas, "42 and 3.")
    const layer = dbLayer()
    const live = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], stream: true }), { question: "?" }, { layer })
    expect(live.error).toBeUndefined()
    expect(server.requests.map((q) => q.body["stream"])).toEqual([true, true])
    expect(live.summary?.final_state).toMatchObject({
      answer: "42 and 3.",
      tool_trace: [{ args: { expression: "6 * 7" }, observation: "{\"result\":42}" }, { args: { expression: "1 + 2" }, observation: "{\"result\":3}" }]
    })
    expect(messagesOf(server, 1).slice(2)).toEqual([
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_a", type: "function", function: { name: "std_calculator", arguments: "{\"expression\": \"6 * 7\"}" } },
          { id: "call_b", type: "function", function: { name: "std_calculator", arguments: "{\"expression\": \"1 + 2\"}" } }
        ]
      },
      { role: "tool", tool_call_id: "call_a", content: "{\"result\":42}" },
      { role: "tool", tool_call_id: "call_b", content: "{\"result\":3}" }
    ])
    const calls = live.checkpoints.flatMap((c) => c.calls ?? [])
    expect(calls[0]!.response).toEqual({ text: "", tool_calls: [{ id: "call_a", name: "std_calculator", arguments: "{\"expression\": \"6 * 7\"}" }, { id: "call_b", name: "std_calculator", arguments: "{\"expression\": \"1 + 2\"}" }], finish_reason: "tool_calls", usage: { input_tokens: 7, output_tokens: 3 } })
    expect(calls.at(-1)!.response).toMatchObject({ text: "42 and 3.", tool_calls: [], finish_reason: "stop" })

    await server.close()
    const fork = await Effect.runPromise(Replay.fork(live.graph, live.runId, {}).pipe(Effect.provide(layer)))
    expect(fork.summary.final_state).toEqual(live.summary?.final_state)
  })

  it.each([
    ["not an integer", [{ index: 0.5, id: "c", function: { name: "std_calculator", arguments: "{}" } }], "tool-call index 0.5 is not an integer ≥ 0"],
    ["negative", [{ index: -1, id: "c", function: { name: "std_calculator", arguments: "{}" } }], "tool-call index -1 is not an integer ≥ 0"],
    ["leaving a hole", [{ index: 0, id: "a", function: { name: "std_calculator", arguments: "{}" } }, { index: 2, id: "b", function: { name: "std_calculator", arguments: "{}" } }], "tool-call index 2 leaves a hole"]
  ])("streamed tool-call deltas with an index %s are a LanguageModelError saying the server sent malformed deltas (not a damaged cassette, no call dropped)", async (_label, calls, message) => {
    const server = await serve(OpenAiServer.Raw.sse([
      ...calls.map((call) => toolChunk({ tool_calls: [call] })),
      toolChunk({}, "tool_calls"),
      "data: [DONE]\n\n"
    ]))
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], stream: true }), { question: "?" })
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "bad-response", message: expect.stringContaining(`the server sent malformed tool-call deltas: ${message}`) })
    expect(r.checkpoints.flatMap((c) => c.calls ?? []).filter((c) => c.name.startsWith("tool."))).toEqual([])
  })

  it("streamed tool-call deltas without an index start a new call on a new id, and a name repeated in every delta is not doubled", async () => {
    const server = await serve(
      OpenAiServer.Raw.sse([
        toolChunk({ tool_calls: [{ id: "call_a", type: "function", function: { name: "std_calculator", arguments: "" } }] }),
        toolChunk({ tool_calls: [{ function: { name: "std_calculator", arguments: "{\"expression\": " } }] }),
        toolChunk({ tool_calls: [{ id: "call_a", function: { name: "std_calculator", arguments: "\"6 * 7\"}" } }] }),
        toolChunk({ tool_calls: [{ id: "call_b", type: "function", function: { name: "std_calculator", arguments: "{\"expression\"" } }] }),
        toolChunk({ tool_calls: [{ function: { arguments: ": \"1 + 2\"}" } }] }),
        toolChunk({}, "tool_calls"),
        "data: [DONE]\n\n"
      ]),
      "42 and 3."
    )
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], stream: true }), { question: "?" })
    expect(r.error).toBeUndefined()
    expect(r.checkpoints.flatMap((c) => c.calls ?? [])[0]!.response).toMatchObject({
      tool_calls: [
        { id: "call_a", name: "std_calculator", arguments: "{\"expression\": \"6 * 7\"}" },
        { id: "call_b", name: "std_calculator", arguments: "{\"expression\": \"1 + 2\"}" }
      ]
    })
    expect(r.summary?.final_state).toMatchObject({ answer: "42 and 3.", tool_trace: [{ observation: "{\"result\":42}" }, { observation: "{\"result\":3}" }] })
  })

  it("a stream cut before it finishes is a LanguageModelError (request-failed)", async () => {
    const server = await serve(OpenAiServer.Raw.sse([`data: ${JSON.stringify({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: "c", function: { name: "std_calculator", arguments: "{" } }] } }] })}\n\n`], "cut"))
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], stream: true }), { question: "?" })
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "request-failed" })
  })

  it("large observations are capped, and the oldest role: tool messages elided past the budget (keeping their tool_call_id); a replay matches", async () => {
    const turns = 6
    const page = Tool.make({
      id: "acme.page",
      version: "1",
      description: "Fetch a long page.",
      input: Schema.Struct({ n: Schema.Number }),
      output: Schema.String,
      run: ({ n }) => Effect.succeed(`page ${n} `.padEnd(50_000, "x"))
    })
    const server = await serve(...Array.from({ length: turns }, (_, n) => toolCalls({ id: `c${n}`, name: "acme_page", args: { n } })), "read them all")
    const layer = dbLayer()
    const live = await runGraph(irOf({ api_base: server.url, tools: ["acme.page@1"] }), { question: "read" }, { layer, provide: ToolRegistry.layer(page) })
    expect(live.error).toBeUndefined()
    const last = messagesOf(server, turns).filter((m) => m["role"] === "tool")
    expect(last.map((m) => m["tool_call_id"])).toEqual(Array.from({ length: turns }, (_, n) => `c${n}`))
    expect(last[0]!["content"]).toMatch(/^\[observation elided to keep the prompt within its budget: /)
    expect(String(last[turns - 1]!["content"]).length).toBeLessThan(OBSERVATION_LIMIT + 100)
    expect(String(last[turns - 1]!["content"])).toMatch(/observation truncated: 30,000 of 50,000 characters cut\]$/)
    expect(last.reduce((n, m) => n + String(m["content"]).length, 0)).toBeLessThan(OBSERVATION_BUDGET + 2_000)

    await server.close()
    const fork = await Effect.runPromise(Replay.fork(live.graph, live.runId, {}).pipe(Effect.provide(Layer.merge(layer, ToolRegistry.layer(page)))))
    expect(fork.summary.final_state).toEqual(live.summary?.final_state)
  })

  it("a reply with neither tool calls nor content is a ModelOutputError on answer", async () => {
    const server = await serve("")
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"] }), { question: "?" })
    expect(r.error).toMatchObject({ _tag: "ModelOutputError", field: "answer", message: "the reply has neither tool calls nor an answer" })
  })

  it.each([
    ["length", /finish_reason: length/, /max_tokens/],
    ["content_filter", /finish_reason: content_filter/, /content filter/],
    ["tool_calls", /finish_reason: tool_calls/, /retry/]
  ])("a reply without tool calls that ended with finish_reason %s is a ModelOutputError on answer, retried under retry", async (reason, message, fix) => {
    const cut = OpenAiServer.Raw.body(JSON.stringify({
      id: "chatcmpl-test",
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "The answer is" }, finish_reason: reason }]
    }))
    const server = await serve(cut)
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], max_tokens: 5 }), { question: "?" })
    expect(r.error).toMatchObject({ _tag: "ModelOutputError", nodeId: "agent", field: "answer", message: expect.stringMatching(message), fix: expect.stringMatching(fix) })

    const again = await serve(cut, "The answer is 4.")
    const retried = await runGraph(irOf({ api_base: again.url, tools: ["std.calculator@1"] }, { retry: { max_attempts: 2 } }), { question: "?" })
    expect(retried.error).toBeUndefined()
    expect(retried.summary?.final_state).toMatchObject({ answer: "The answer is 4." })
    expect(again.requests).toHaveLength(2)
  })

  it("a reply asking for more tool calls than max_tool_calls_per_step (default 8) is a ModelOutputError on tool_calls before any of them runs; retried under retry", async () => {
    const calc = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, name: "std_calculator", args: { expression: `${i} + 1` } }))
    const many = await serve(toolCalls(...calc(9)))
    const r = await runGraph(irOf({ api_base: many.url, tools: ["std.calculator@1"] }), { question: "?" })
    expect(r.error).toMatchObject({ _tag: "ModelOutputError", field: "tool_calls", message: "the reply asks for 9 tool calls, more than config.max_tool_calls_per_step: 8", fix: expect.stringContaining("max_tool_calls_per_step") })
    expect(many.requests).toHaveLength(1)
    expect(r.checkpoints.flatMap((c) => c.calls ?? []).filter((c) => c.name.startsWith("tool."))).toEqual([])

    const server = await serve(toolCalls(...calc(3)), toolCalls(...calc(2)), "done")
    const retried = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], max_tool_calls_per_step: 2 }, { retry: { max_attempts: 2 } }), { question: "?" })
    expect(retried.error).toBeUndefined()
    expect(retried.checkpoints.flatMap((c) => c.calls ?? []).map((c) => c.name)).toEqual(["lm.react", "lm.react", "tool.std.calculator", "tool.std.calculator", "lm.react"])

    for (const bad of [0, 65, 2.5]) {
      const exit = await Effect.runPromiseExit(Graph.make(irOf({ tools: ["std.calculator@1"], max_tool_calls_per_step: bad })))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined).toBeInstanceOf(IRValidationError)
    }
  })

  it("an empty id is taken as missing and a duplicate id within one reply is made unique, before the reply is recorded; a replay matches", async () => {
    const server = await serve(
      toolCalls(
        { id: "", name: "std_calculator", args: { expression: "1 + 1" } },
        { id: "dup", name: "std_calculator", args: { expression: "2 + 2" } },
        { id: "dup", name: "std_calculator", args: { expression: "3 + 3" } }
      ),
      "ok"
    )
    const layer = dbLayer()
    const live = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"] }), { question: "?" }, { layer })
    expect(live.error).toBeUndefined()
    expect(messagesOf(server, 1).filter((m) => m["role"] === "tool").map((m) => m["tool_call_id"])).toEqual(["call_0", "dup", "dup_2"])
    expect((live.checkpoints.flatMap((c) => c.calls ?? [])[0]!.response as { tool_calls: Array<{ id: string }> }).tool_calls.map((c) => c.id)).toEqual(["call_0", "dup", "dup_2"])

    await server.close()
    const fork = await Effect.runPromise(Replay.fork(live.graph, live.runId, {}).pipe(Effect.provide(layer)))
    expect(fork.summary.final_state).toEqual(live.summary?.final_state)
  })

  it("no final answer within max_iters is a ModelOutputError after exactly max_iters calls", async () => {
    const server = await serve(...Array.from({ length: 3 }, (_, i) => toolCalls({ id: `c${i}`, name: "std_calculator", args: { expression: "1" } })))
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], max_iters: 2 }), { question: "?" })
    expect(r.error).toMatchObject({ _tag: "ModelOutputError", field: "tool_calls" })
    expect(server.requests).toHaveLength(2)
  })

  it("an app's LanguageModel cannot carry the tools: a LanguageModelError naming tool_protocol: json, and no request", async () => {
    const server = await serve("never")
    const app = LanguageModels.chatCompletions({ apiUrl: server.url, model: "app-model" }).pipe(Layer.provide(FetchHttpClient.layer))
    const r = await runGraph(irOf({ tools: ["std.calculator@1"] }), { question: "?" }, { provide: app })
    expect(r.error).toMatchObject({ _tag: "LanguageModelError", reason: "provider-error", fix: expect.stringContaining("tool_protocol: json") })
    expect(server.requests).toHaveLength(0)
  })

  it("refuses tool_protocol: native with api: responses, and a tool_protocol it does not know", async () => {
    const refused = async (config: Record<string, unknown>) => {
      const exit = await Effect.runPromiseExit(Graph.make(irOf({ tools: ["std.calculator@1"], ...config })))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
      expect(error).toBeInstanceOf(IRValidationError)
      return JSON.stringify(error)
    }
    expect(await refused({ api: "responses" })).toContain("tool_protocol: native speaks /chat/completions")
    expect(await refused({ tool_protocol: "xml" })).toContain("tool_protocol")
  })

  it("refuses max_tool_calls_per_step without tool_protocol: native (the JSON protocol calls one tool per reply: the key would do nothing)", async () => {
    for (const protocol of ["json", undefined]) {
      const exit = await Effect.runPromiseExit(Graph.make(irOf({ tools: ["std.calculator@1"], tool_protocol: protocol, max_tool_calls_per_step: 4 })))
      const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
      expect(error).toBeInstanceOf(IRValidationError)
      expect(error).toMatchObject({ path: "nodes[0].config.max_tool_calls_per_step" })
      expect(JSON.stringify(error)).toContain("tool_protocol: native")
    }
    const native = await Effect.runPromiseExit(Graph.make(irOf({ tools: ["std.calculator@1"], max_tool_calls_per_step: 4 })))
    expect(Exit.isSuccess(native)).toBe(true)
  })

  it("refuses, with tool_protocol: native, a tool whose name to the model is longer than 64 characters (OpenAI's limit), naming it; json takes it", async () => {
    const id = `acme.${"x".repeat(60)}`
    const long = Tool.make({ id, version: "1", description: "A tool with a long id.", input: Schema.Struct({}), output: Schema.String, run: () => Effect.succeed("ok") })
    const build = (protocol: string) => Effect.runPromiseExit(Graph.make(irOf({ tools: [`${id}@1`], tool_protocol: protocol })).pipe(Effect.provide(ToolRegistry.layer(long))))
    const exit = await build("native")
    const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
    expect(error).toBeInstanceOf(IRValidationError)
    expect(JSON.stringify(error)).toContain(`acme_${"x".repeat(60)}`)
    expect(JSON.stringify(error)).toContain("64 characters at most")
    expect(JSON.stringify(error)).toContain("shorter id")
    expect(Exit.isSuccess(await build("json"))).toBe(true)
  })

  it("tool_protocol: json (the default) sends no tools and records the request as before", async () => {
    const finish = JSON.stringify({ next_thought: "ok", next_tool_name: "finish", next_tool_args: {}, answer: "a" })
    const server = await serve(finish, finish)
    const implicit = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], tool_protocol: undefined }), { question: "?" })
    const explicit = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], tool_protocol: "json" }), { question: "?" })
    expect(implicit.summary?.final_state).toMatchObject({ answer: "a" })
    expect(server.requests.map((q) => q.body["tools"])).toEqual([undefined, undefined])
    expect(server.requests[1]!.body).toEqual(server.requests[0]!.body)
    const requests = [implicit, explicit].map((r) => r.checkpoints.flatMap((c) => c.calls ?? [])[0]!.request)
    expect(requests[1]).toEqual(requests[0])
    expect(Object.keys(requests[0] as object).sort()).toEqual(["messages", "model", "params", "signature"])
  })
})
