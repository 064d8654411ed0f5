/**
 * `react` nodes (the original's tool-loop agent) against a real OpenAI-compatible server on
 * 127.0.0.1 (test/helpers/openaiServer.ts) scripted to ask for tools and then answer: the
 * tools run through the registry and the capability gate, every model and tool call lands
 * in the cassette, and a replay with the server stopped gives the same state and makes no
 * request. Bad configs, tools outside the allowlist, tool failures, max_iters, stubs.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import type { Checkpoint } from "../../src/checkpoint/models.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { IRValidationError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { DefaultModel } from "../../src/index.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import * as Tool from "../../src/nodes/tools/Tool.js"
import * as ToolRegistry from "../../src/nodes/tools/ToolRegistry.js"
import * as Replay from "../../src/replay/Replay.js"
import { OBSERVATION_BUDGET, OBSERVATION_LIMIT } from "../../src/nodes/kinds/react.js"
import { ROOT, tempDir } from "../helpers/cli.js"
import { dbLayer, runGraph } from "../helpers/graphRun.js"
import * as OpenAiServer from "../helpers/openaiServer.js"
import { scriptedServers } from "../helpers/scriptedServers.js"

const str = { type: "string" }
const fields = { question: str, answer: str, tool_trace: { type: "array" } }

const irOf = (config: Record<string, unknown>, extra: Record<string, unknown> = {}, stateFields: Record<string, unknown> = fields) => ({
  ir_version: "1.0.0",
  id: "run:react",
  state_schema: { fields: stateFields },
  nodes: [{ id: "agent", kind: "react", config: { model: "test-model", ...config }, ...extra }]
})



const buildError = async (ir: unknown, layer: Layer.Layer<never, unknown> = Layer.empty): Promise<IRValidationError> => {
  const exit = await Effect.runPromiseExit(Graph.make(ir).pipe(Effect.provide(layer)))
  if (Exit.isSuccess(exit)) throw new Error("expected the graph to be refused")
  const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  expect(error).toBeInstanceOf(IRValidationError)
  return error as IRValidationError
}

/** One step of the agent, as the model writes it. */
const step = (tool: string, args: Record<string, unknown>, thought = `call ${tool}`) => JSON.stringify({ next_thought: thought, next_tool_name: tool, next_tool_args: args })
const finish = (answer: string) => JSON.stringify({ next_thought: "I know it", next_tool_name: "finish", next_tool_args: {}, answer })

const { serve, track } = scriptedServers()

type Sent = { role: string; content: string }
const messagesOf = (s: OpenAiServer.OpenAiServer, i: number) => s.requests[i]!.body["messages"] as Array<Sent>

describe("react nodes call tools until they answer", () => {
  it("asks for std.calculator, reads its observation, answers; records both calls; a replay with the server stopped gives the same state", async () => {
    const server = await serve(step("std_calculator", { expression: "6 * 7" }), finish("It is 42."))
    const layer = dbLayer()
    const live = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"] }), { question: "What is six times seven?" }, { layer })
    expect(live.error).toBeUndefined()
    expect(live.summary?.status).toBe("done")
    expect(live.summary?.final_state).toEqual({
      question: "What is six times seven?",
      answer: "It is 42.",
      tool_trace: [{ tool: "std_calculator", args: { expression: "6 * 7" }, observation: "{\"result\":42}" }]
    })

    // What the model saw: the tools and the reply format, then its step and the observation.
    expect(server.requests).toHaveLength(2)
    const first = messagesOf(server, 0)
    expect(first.map((m) => m.role)).toEqual(["system", "user"])
    expect(first[0]!.content).toContain("1. std_calculator: Evaluate an arithmetic expression")
    expect(first[0]!.content).toContain("\"expression\"")
    expect(first[0]!.content).toContain("- \"next_tool_name\": one of \"std_calculator\", \"finish\"")
    expect(first[1]!.content).toBe("## question\nWhat is six times seven?")
    const second = messagesOf(server, 1)
    expect(second.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"])
    expect(second[2]!.content).toBe(step("std_calculator", { expression: "6 * 7" }))
    expect(second[3]!.content).toBe("## observation_0\n{\"result\":42}")

    // The cassette: model call, tool call (as the tool kind records it), model call.
    const calls = live.checkpoints.flatMap((c) => c.calls ?? [])
    expect(calls.map((c) => c.name)).toEqual(["lm.react", "tool.std.calculator", "lm.react"])
    expect(calls[0]).toMatchObject({ node: "agent", request: { model: "test-model", signature: "question -> answer", params: {} }, response: { text: step("std_calculator", { expression: "6 * 7" }) } })
    expect(calls[1]).toMatchObject({ node: "agent", request: { tool: "std.calculator@1", args: { expression: "6 * 7" } }, response: { result: 42 } })
    expect(calls[2]).toMatchObject({ response: { text: finish("It is 42.") } })
    expect((calls[2]!.request as { messages: Array<Sent> }).messages).toEqual(second)

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

  it.each([
    ["responses", { api: "responses" }, "/v1/responses"],
    ["chat, streamed", { stream: true }, "/v1/chat/completions"],
    ["responses, streamed", { api: "responses", stream: true }, "/v1/responses"]
  ])("works over %s too", async (_label, extra, path) => {
    const server = await serve(step("std_calculator", { expression: "3 + 4" }), finish("7"))
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], ...extra }), { question: "3 + 4?" })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toMatchObject({ answer: "7", tool_trace: [{ tool: "std_calculator", args: { expression: "3 + 4" }, observation: "{\"result\":7}" }] })
    expect(server.requests.map((q) => q.path)).toEqual([path, path])
  })

  it("a reply cut at the token limit is a ModelOutputError that says so, whose fix names config.max_tokens", async () => {
    const cut = OpenAiServer.Raw.body(JSON.stringify({ id: "c", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "{\"next_thought\": \"I should" }, finish_reason: "length" }] }))
    const server = await serve(cut)
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], max_tokens: 8 }), { question: "3 + 4?" })
    expect(r.error).toMatchObject({ _tag: "ModelOutputError" })
    expect((r.error as { message: string }).message).toContain("cut at the token limit")
    expect((r.error as { fix: string }).fix).toContain("raise config.max_tokens (8)")
  })

  it("a node that names no model uses the run-wide default model (--lm-url/--lm-model); its request records model null", async () => {
    const server = await serve(finish("hi"))
    const ir = { ...irOf({ tools: ["std.calculator@1"] }), nodes: [{ id: "agent", kind: "react", config: { tools: ["std.calculator@1"] } }] }
    const r = await runGraph(ir, { question: "hello?" }, { provide: DefaultModel.layer({ apiBase: server.url, model: "default-model" }) })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toMatchObject({ answer: "hi", tool_trace: [] })
    expect(server.requests[0]!.body["model"]).toBe("default-model")
    expect(r.checkpoints.flatMap((c) => c.calls ?? [])[0]).toMatchObject({ name: "lm.react", request: { model: null } })
  })

  it("reads config.input, writes no tool_trace the state does not declare, and names tools by their latest version", async () => {
    const server = await serve(step("std_calculator", { expression: "2 ** 10" }), step("std_calculator", { expression: "1024 + 1" }), finish("1025"))
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator"], input: "brief" }, {}, { brief: str, answer: str }), { brief: "two to the tenth, plus one" })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toEqual({ brief: "two to the tenth, plus one", answer: "1025" })
    expect(messagesOf(server, 0)[1]!.content).toBe("## brief\ntwo to the tenth, plus one")
    expect(messagesOf(server, 2).at(-1)!.content).toBe("## observation_1\n{\"result\":1025}")
  })

  it("a tool outside the allowlist is never called: the model is told so, and may go on", async () => {
    const server = await serve(step("std_http_fetch", { url: "http://127.0.0.1:1/" }), finish("I could not fetch it."))
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"] }), { question: "fetch it" }, { provide: Capabilities.layer(["net.fetch"]) })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toMatchObject({ answer: "I could not fetch it.", tool_trace: [] })
    expect(messagesOf(server, 1).at(-1)!.content).toBe("## observation_0\nUnknown tool 'std_http_fetch': it is not one of the tools you may call. Call one of: std_calculator, finish.")
    expect(r.checkpoints.flatMap((c) => c.calls ?? []).map((c) => c.name)).toEqual(["lm.react", "lm.react"])
  })

  it("a tool's failure (bad arguments, a bad expression) is an observation the model reads", async () => {
    const server = await serve(step("std_calculator", { expr: "1/0" }), step("std_calculator", { expression: "1/0" }), finish("undefined"))
    const layer = dbLayer()
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"] }), { question: "1/0?" }, { layer })
    expect(r.error).toBeUndefined()
    // The refusals are recorded: a replay with the server stopped reads the same observations.
    await server.close()
    const fork = await Effect.runPromise(Replay.fork(r.graph, r.runId, {}).pipe(Effect.provide(layer)))
    expect(fork.error).toBeUndefined()
    expect(fork.summary.final_state).toEqual(r.summary?.final_state)
    expect(server.requests).toHaveLength(3)
    const trace = r.summary?.final_state["tool_trace"] as Array<{ observation: string }>
    expect(trace).toHaveLength(2)
    expect(trace[0]!.observation).toMatch(/^Execution error in std_calculator: /)
    expect(trace[0]!.observation).toContain("the model's argument")
    expect(trace[1]!.observation).toMatch(/^Execution error in std_calculator: cannot evaluate '1\/0'/)
  })

  it("a tool whose capability is not granted fails the node with ToolError[capability-denied]; granted, it runs", async () => {
    let runs = 0
    const secret = Tool.make({
      id: "acme.secret",
      version: "1",
      description: "Read the secret.",
      input: Schema.Struct({}),
      output: Schema.Struct({ secret: Schema.String }),
      capabilities: ["acme.vault"],
      run: () => Effect.sync(() => ({ secret: `s${++runs}` }))
    })
    const registry = ToolRegistry.layer(secret)
    const denied = await serve(step("acme_secret", {}), finish("no"))
    const ir = (url: string) => irOf({ api_base: url, tools: ["acme.secret@1"] })
    const r = await runGraph(ir(denied.url), { question: "the secret?" }, { provide: registry })
    expect(r.error).toMatchObject({ _tag: "ToolError", reason: "capability-denied", tool: "acme.secret@1", nodeId: "agent", capability: "acme.vault" })
    expect(runs).toBe(0)
    const granted = await serve(step("acme_secret", {}), finish("s1"))
    const ok = await runGraph(ir(granted.url), { question: "the secret?" }, { provide: Layer.merge(registry, Capabilities.layer(["acme.vault"])) })
    expect(ok.error).toBeUndefined()
    expect(ok.summary?.final_state["tool_trace"]).toEqual([{ tool: "acme_secret", args: {}, observation: "{\"secret\":\"s1\"}" }])
  })

  it("no finish within max_iters is a ModelOutputError naming the node and the limit, after exactly max_iters calls", async () => {
    const server = await serve(...Array.from({ length: 5 }, () => step("std_calculator", { expression: "1 + 1" })))
    const r = await runGraph(irOf({ api_base: server.url, tools: ["std.calculator@1"], max_iters: 3 }), { question: "loop" })
    expect(r.error).toMatchObject({ _tag: "ModelOutputError", nodeId: "agent", field: "next_tool_name" })
    expect(r.error?.message).toBe("react node 'agent' did not finish within max_iters: 3 (each of its 3 model calls asked for a tool)")
    expect(server.requests).toHaveLength(3)
  })

  it("a reply that is not the step object, or a finish without an answer, is a ModelOutputError (retried under retry)", async () => {
    const bad = await serve("I think the answer is 4")
    const r = await runGraph(irOf({ api_base: bad.url, tools: ["std.calculator@1"] }), { question: "2+2" })
    expect(r.error).toMatchObject({ _tag: "ModelOutputError", nodeId: "agent", message: "the completion is not a JSON object" })
    const noAnswer = await serve(JSON.stringify({ next_tool_name: "finish" }), finish("4"))
    const retried = await runGraph(irOf({ api_base: noAnswer.url, tools: ["std.calculator@1"] }, { retry: { max_attempts: 2 } }), { question: "2+2" })
    expect(retried.error).toBeUndefined()
    expect(retried.summary?.final_state).toMatchObject({ answer: "4", tool_trace: [] })
    expect(noAnswer.requests).toHaveLength(2)
  })

  it("calls a tool exported by ./tools.ts beside the graph, named to the model by its id; refuses a Python reference", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "node_modules"))
    symlinkSync(join(ROOT, "node_modules", "effect"), join(dir, "node_modules", "effect"))
    symlinkSync(ROOT, join(dir, "node_modules", "stargraph"))
    writeFileSync(join(dir, "tools.ts"), [
      `import { Effect, Schema } from "effect"`,
      `import { Tool } from "stargraph"`,
      `export const lookup = Tool.make({`,
      `  id: "acme.lookup", version: "2", description: "Order status by id.",`,
      `  input: Schema.Struct({ order_id: Schema.String }),`,
      `  output: Schema.Struct({ status: Schema.String }),`,
      `  run: ({ order_id }) => Effect.succeed({ status: order_id.startsWith("A") ? "shipped" : "open" })`,
      `})`,
      ``
    ].join("\n"))
    const server = await serve(step("acme_lookup", { order_id: "A7" }), finish("Order A7 has shipped."))
    const graphYaml = (tool: string) => [
      `ir_version: "1.0.0"`,
      `id: run:react-module`,
      `state_schema: { fields: { question: { type: string }, answer: { type: string }, tool_trace: { type: array } } }`,
      `nodes:`,
      `  - { id: agent, kind: react, config: { tools: ["${tool}"], model: test-model, api_base: "${server.url}" } }`,
      ``
    ].join("\n")
    writeFileSync(join(dir, "graph.yaml"), graphYaml("./tools.ts:lookup@2"))
    const summary = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(join(dir, "graph.yaml"))
      return yield* Effect.flatMap(graph.start({ inputs: { question: "Where is order A7?" } }), (run) => run.start())
    }).pipe(Effect.provide(dbLayer())))
    expect(summary.final_state).toMatchObject({ answer: "Order A7 has shipped.", tool_trace: [{ tool: "acme_lookup", args: { order_id: "A7" }, observation: "{\"status\":\"shipped\"}" }] })
    expect(messagesOf(server, 0)[0]!.content).toContain("1. acme_lookup: Order status by id.")
    writeFileSync(join(dir, "graph.yaml"), graphYaml("my_pkg.tools:lookup"))
    const exit = await Effect.runPromiseExit(Graph.load(join(dir, "graph.yaml")))
    const e = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error as IRValidationError : undefined
    expect([e?.path, e?.message]).toEqual(["nodes[0].config.tools[0]", "'my_pkg.tools:lookup' is a Python module reference; this runtime loads JavaScript and TypeScript modules"])
  })

  it("config.stub: true answers offline, with no model and no tool call", async () => {
    const r = await runGraph(irOf({ stub: true, tools: ["std.calculator@1"] }), { question: "anything" })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toEqual({ question: "anything", answer: "stub-answer", tool_trace: [] })
    expect(r.checkpoints.flatMap((c) => c.calls ?? [])).toEqual([])
  })

  it("the original's graph form runs: config under config:, spec accepted", async () => {
    const yaml = [
      "ir_version: \"1.0.0\"",
      "id: research",
      "state_schema: {question: str, answer: str, tool_trace: list}",
      "nodes:",
      "  - id: research",
      "    kind: react",
      "    spec: research",
      "    config: {tools: [std.calculator@1], max_iters: 8, input: question, stub: true}",
      ""
    ].join("\n")
    const graph = await Effect.runPromise(Graph.fromYaml(yaml))
    const summary = await Effect.runPromise(Effect.flatMap(graph.start({ inputs: { question: "q", answer: "", tool_trace: [] } }), (run) => run.start()).pipe(Effect.provide(dbLayer())))
    expect(summary.final_state).toMatchObject({ answer: "stub-answer", tool_trace: [] })
  })

  it("the tool calls a react step made are asserted as stargraph-tool-call and -tool-result facts before the step is routed, as the tool kind's are", async () => {
    const server = await serve(step("std_calculator", { expression: "6 * 7" }), finish("42"))
    const ir = {
      ...irOf({ api_base: server.url, tools: ["std.calculator@1"] }),
      nodes: [
        { id: "agent", kind: "react", config: { model: "test-model", api_base: server.url, tools: ["std.calculator@1"] } },
        { id: "no_tools", kind: "halt" },
        { id: "used_tools", kind: "halt" }
      ],
      rules: [
        { id: "r-used", when: "(node-id (id agent)) (stargraph-tool-call (tool_id \"std.calculator\") (args_count 1) (_source \"agent\")) (stargraph-tool-result (tool_id \"std.calculator\") (fields 1))", then: [{ kind: "goto", target: "used_tools" }] }
      ]
    }
    const live = await runGraph(ir, { question: "six times seven?" })
    expect(live.error).toBeUndefined()
    expect(live.checkpoints.map((c) => c.node)).toEqual(["__input__", "agent", "used_tools"])
    expect(live.checkpoints[1]!.rules?.firings.map((f) => f.rule)).toEqual(["r-used"])
  })
})

describe("react nodes keep their recorded requests bounded, and retry only the failing model call", () => {
  it("a long session of large observations: each is capped (with a marker), the oldest are elided past the budget, the step checkpoints under a small limit, and a replay matches", async () => {
    const turns = 24
    let served = 0
    const page = Tool.make({
      id: "acme.page",
      version: "1",
      description: "Fetch a long page.",
      input: Schema.Struct({ n: Schema.Number }),
      output: Schema.String,
      run: ({ n }) => Effect.sync(() => `page ${n} ${String(++served)} `.padEnd(100_000, "x"))
    })
    const server = await serve(...Array.from({ length: turns }, (_, n) => step("acme_page", { n })), finish("read them all"))
    // Without the caps, this step's recorded requests add up to about 30 MB.
    const layer = SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite"), maxCheckpointBytes: 8 * 1024 * 1024 })
    const live = await runGraph(irOf({ api_base: server.url, tools: ["acme.page@1"], max_iters: 32 }), { question: "read" }, { layer, provide: ToolRegistry.layer(page) })
    expect(live.error).toBeUndefined()
    expect(live.summary?.status).toBe("done")
    const trace = live.summary?.final_state["tool_trace"] as Array<{ observation: string }>
    expect(trace).toHaveLength(turns)
    for (const entry of trace) {
      expect(entry.observation.length).toBeLessThan(OBSERVATION_LIMIT + 100)
      expect(entry.observation.endsWith("\n[… observation truncated: 80,000 of 100,000 characters cut]")).toBe(true)
    }
    expect(server.requests).toHaveLength(turns + 1)
    for (let i = 0; i < server.requests.length; i++) {
      const observations = messagesOf(server, i).filter((m) => m.content.startsWith("## observation_"))
      expect(observations).toHaveLength(i)
      expect(observations.reduce((n, m) => n + m.content.length, 0)).toBeLessThan(OBSERVATION_BUDGET + 2_000)
    }
    const lastSent = messagesOf(server, turns).filter((m) => m.role === "user").slice(1)
    expect(lastSent[0]!.content).toBe(`## observation_0\n[observation elided to keep the prompt within its budget: ${trace[0]!.observation.length.toLocaleString("en-US")} characters; your thought after it says what it held]`)
    expect(lastSent[turns - 1]!.content).toBe(`## observation_${turns - 1}\n${trace[turns - 1]!.observation}`)

    await server.close()
    const fork = await Effect.runPromise(Replay.fork(live.graph, live.runId, {}).pipe(Effect.provide(Layer.merge(layer, ToolRegistry.layer(page)))))
    expect(fork.error).toBeUndefined()
    expect(fork.summary.final_state).toEqual(live.summary?.final_state)
    const replayed = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(fork.cfRunId)).pipe(Effect.provide(layer)))
    const same = (cps: ReadonlyArray<Checkpoint>) => cps.map((c) => ({ step: c.step, nodes: c.nodes, state: c.state, writes: c.writes, calls: c.calls }))
    expect(same(replayed)).toEqual(same(live.checkpoints))
    expect(served).toBe(turns)
  })

  it("under retry, a garbled reply mid-loop re-asks the model with the same messages: the tool called before it is not called again; a replay matches", async () => {
    let posts = 0
    const post = Tool.make({
      id: "acme.post",
      version: "1",
      description: "Post the order (a side effect).",
      input: Schema.Struct({}),
      output: Schema.Struct({ posted: Schema.Number }),
      run: () => Effect.sync(() => ({ posted: ++posts }))
    })
    let garbled = false
    const server = await OpenAiServer.start({
      respond: (request) => {
        const seen = (request.body["messages"] as Array<Sent>).some((m) => m.content.startsWith("## observation_"))
        if (!seen) return step("acme_post", {})
        if (!garbled) {
          garbled = true
          return "Sure! I posted it."
        }
        return finish("posted")
      }
    })
    track(server)
    const layer = dbLayer()
    const registry = ToolRegistry.layer(post)
    const live = await runGraph(irOf({ api_base: server.url, tools: ["acme.post@1"] }, { retry: { max_attempts: 2 } }), { question: "post it" }, { layer, provide: registry })
    expect(live.error).toBeUndefined()
    expect(live.summary?.final_state).toMatchObject({ answer: "posted", tool_trace: [{ tool: "acme_post", args: {}, observation: "{\"posted\":1}" }] })
    expect(posts).toBe(1)
    expect(server.requests).toHaveLength(3)
    expect(messagesOf(server, 2)).toEqual(messagesOf(server, 1))
    const calls = live.checkpoints.flatMap((c) => c.calls ?? [])
    expect(calls.map((c) => c.name)).toEqual(["lm.react", "tool.acme.post", "lm.react", "lm.react"])

    await server.close()
    const fork = await Effect.runPromise(Replay.fork(live.graph, live.runId, {}).pipe(Effect.provide(Layer.merge(layer, registry))))
    expect(fork.error).toBeUndefined()
    const replayed = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(fork.cfRunId)).pipe(Effect.provide(layer)))
    const same = (cps: ReadonlyArray<Checkpoint>) => cps.map((c) => ({ step: c.step, nodes: c.nodes, state: c.state, writes: c.writes, calls: c.calls }))
    expect(same(replayed)).toEqual(same(live.checkpoints))
    expect(posts).toBe(1)
    expect(server.requests).toHaveLength(3)
  })
})

describe("react nodes at build", () => {
  it.each([
    ["no config", undefined, "nodes[0].config", "react needs config.tools"],
    ["no tools", { model: "m" }, "nodes[0].config.tools", "is missing"],
    ["an empty tools list", { tools: [] }, "nodes[0].config.tools", "react needs at least one tool in config.tools"],
    ["max_iters 0", { tools: ["std.calculator@1"], max_iters: 0 }, "nodes[0].config.max_iters", "max_iters must be an integer from 1 to 64"],
    ["max_iters 65", { tools: ["std.calculator@1"], max_iters: 65 }, "nodes[0].config.max_iters", "max_iters must be an integer from 1 to 64"],
    ["an unknown tool", { tools: ["std.calculator@1", "std.nope@1"] }, "nodes[0].config.tools[1]", "unknown tool 'std.nope@1'"],
    ["an input that is no field name", { tools: ["std.calculator@1"], input: "not id" }, "nodes[0].config.input", "input 'not id' is not a field name"],
    ["an unknown key", { tools: ["std.calculator@1"], max_iter: 3 }, "nodes[0].config.max_iter", "max_iter"]
  ])("refuses %s", async (_label, config, path, message) => {
    const ir = { ir_version: "1.0.0", id: "run:react", state_schema: { fields }, nodes: [{ id: "agent", kind: "react", ...(config !== undefined ? { config } : {}) }] }
    const e = await buildError(ir)
    expect(e.path).toBe(path)
    expect(e.message).toContain(message)
  })

  it("a max_iters out of range or not whole: the fix says what to write, not 'the expected type shown'", async () => {
    const ir = (max_iters: unknown) => ({ ir_version: "1.0.0", id: "run:react", state_schema: { fields }, nodes: [{ id: "agent", kind: "react", config: { tools: ["std.calculator@1"], max_iters } }] })
    expect((await buildError(ir(0))).fix).toBe("set max_iters to an integer from 1 to 64")
    expect((await buildError(ir(65))).fix).toBe("set max_iters to an integer from 1 to 64")
    expect((await buildError(ir(2.5))).fix).toBe("use an integer")
    // A value of the wrong type keeps the typed-mismatch fix: its message shows the type.
    const typed = await buildError(ir("three"))
    expect([typed.message, typed.fix]).toEqual(['Expected number, actual "three"', "correct the value to match the expected type shown"])
  })

  it("refuses a state without answer, or a tool_trace that is not a list", async () => {
    const noAnswer = await buildError(irOf({ tools: ["std.calculator@1"] }, {}, { question: str }))
    expect(noAnswer.message).toContain("react writes state field 'answer', which is not declared")
    const badTrace = await buildError(irOf({ tools: ["std.calculator@1"] }, {}, { question: str, answer: str, tool_trace: str }))
    expect(badTrace.message).toContain("'tool_trace', declared string")
  })
})
