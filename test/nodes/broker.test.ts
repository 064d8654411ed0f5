/**
 * The `broker` kind against a real HTTP broker on 127.0.0.1 (ephemeral port): a run of the
 * original's triage pipeline from the CLI with STARGRAPH_BROKER_URL, replayed with the
 * broker stopped; library use with an app-provided Broker layer, replayed without it; and
 * the failures: a non-string field, no capability, no broker, an error status, a body that
 * is not JSON or has no request_id, a loopback broker without a grant naming its host.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { IRValidationError, type ToolError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Broker from "../../src/nodes/broker/Broker.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import * as Replay from "../../src/replay/Replay.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const LOCAL = "net.fetch:http://127.0.0.1:*"
const FIXTURE = join(ROOT, "test", "fixtures", "broker", "triage_broker.yaml")

/** What the broker server was asked, in order (path and JSON body). */
const asked: Array<{ readonly path: string; readonly body: unknown }> = []
let server: Server
let base = ""

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = ""
    req.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => {
      const body: unknown = req.headers["content-type"] === "application/json" ? JSON.parse(text) : text
      asked.push({ path: req.url ?? "", body })
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" })
        res.end(typeof value === "string" ? value : JSON.stringify(value))
      }
      const { agent_id, intent } = body as { agent_id?: string; intent?: string }
      switch (new URL(req.url ?? "/", base).pathname) {
        case "/request":
          return json(200, { request_id: `req-${asked.length}`, data: { hits: [`${agent_id}:${intent}`] }, sources_queried: ["vuln_db"], sources_denied: [], duration_ms: 3 })
        case "/down":
          return json(503, { detail: "broker down" })
        case "/garbled":
          return json(200, "{not json")
        case "/anonymous":
          return json(200, { data: {} })
        default:
          return json(404, { detail: "no such endpoint" })
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(() => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())))

/** A graph reading `agent_id` and `intent` (declared `agentType`) into `answer` with one broker node. */
const ir = (agentType = "string", config: Record<string, unknown> = {}) => ({
  ir_version: "1.0.0",
  id: "run:broker",
  state_schema: { fields: { agent_id: { type: agentType }, intent: { type: "string" }, answer: { type: "object" } } },
  nodes: [{ id: "ask", kind: "broker", config: { agent_id_field: "agent_id", intent_field: "intent", output_field: "answer", ...config } }],
  edges: []
})

/** Build and run `ir` in memory with `layer`: the summary, or the run's typed failure. */
const run = (graphIr: unknown, inputs: Record<string, unknown>, layer: Layer.Layer<never> = Layer.empty) =>
  Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.make(graphIr)
    const started = yield* graph.start({ inputs })
    return yield* Effect.either(started.start())
  }).pipe(Effect.provide(Layer.merge(MemoryCheckpointer.layer, layer))))

const failure = async (graphIr: unknown, inputs: Record<string, unknown>, layer: Layer.Layer<never> = Layer.empty): Promise<ToolError> => {
  const result = await run(graphIr, inputs, layer)
  if (Either.isRight(result)) throw new Error(`expected the run to fail, it ended ${result.right.status}`)
  expect(result.left._tag).toBe("ToolError")
  return result.left as ToolError
}

const buildError = async (graphIr: unknown): Promise<IRValidationError> => {
  const exit = await Effect.runPromiseExit(Graph.make(graphIr))
  if (Exit.isSuccess(exit)) throw new Error("expected the graph to be refused")
  const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  expect(error).toBeInstanceOf(IRValidationError)
  return error as IRValidationError
}

/** A broker the app provides, counting its calls. */
const appBroker = () => {
  const calls: Array<Broker.BrokerRequest> = []
  const layer = Broker.layer({
    name: "acme",
    request: (request) => Effect.sync(() => (calls.push(request), { request_id: `acme-${calls.length}`, data: { echo: request.intent } }))
  })
  return { calls, layer }
}

const granted = Capabilities.layer([Broker.CAPABILITY])

describe("broker nodes from the CLI, with the built-in HTTP broker", () => {
  it("the original's triage pipeline runs to done with STARGRAPH_BROKER_URL, and replays with the broker stopped", async () => {
    const dir = tempDir()
    const db = join(dir, "runs.sqlite")
    const env = { STARGRAPH_BROKER_URL: `${base}/request`, STARGRAPH_CAPABILITIES: `${Broker.CAPABILITY} ${LOCAL}` }
    const before = asked.length
    const ran = await stargraph(["run", FIXTURE, "--db", db, "--inputs", "agent_id=analyst", "--inputs", "intent=cve-triage", "--no-summary"], { env })
    expect(ran.code, ran.stderr).toBe(3)
    const runId = runIdOf(ran.last)
    const resumed = await stargraph(["resume", runId, "--db", db, "--response", "\"approve\"", "--no-summary"], { env })
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.last).toMatch(/status=done/)
    expect(asked.slice(before)).toEqual([{ path: "/request", body: { agent_id: "analyst", intent: "cve-triage" } }])
    const state = JSON.parse((await stargraph(["inspect", runId, "--db", db, "--json"])).stdout)["final_state"]
    const requestId = `req-${before + 1}`
    expect(state["broker_response"]).toEqual({
      request_id: requestId,
      data: { hits: ["analyst:cve-triage"] },
      sources_queried: ["vuln_db"],
      sources_denied: [],
      duration_ms: 3,
      __stargraph_provenance__: { origin: "tool", source: "http", external_id: requestId }
    })
    expect(state["approval"]).toBe("approve")

    // The broker is gone, and neither its URL nor the capability is set: the cassette answers.
    await new Promise<void>((resolve) => server.close(() => resolve()))
    try {
      const replayed = await stargraph(["replay", runId, "--db", db, "--quiet"])
      expect(replayed.code, replayed.stderr).toBe(0)
      expect(replayed.last).toMatch(/status=done/)
      const fork = JSON.parse((await stargraph(["inspect", runIdOf(replayed.last), "--db", db, "--json"])).stdout)["final_state"]
      expect(fork).toEqual(state)
      expect(asked.length).toBe(before + 1)
    } finally {
      await new Promise<void>((resolve) => server.listen(Number(new URL(base).port), "127.0.0.1", resolve))
    }
  })
})

describe("broker nodes in an app", () => {
  it("ask the app's Broker with the two fields, write its response with provenance, and replay without it", async () => {
    const { calls, layer } = appBroker()
    const filename = join(tempDir(), "runs.sqlite")
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir())
      const parent = yield* Effect.flatMap(graph.start({ inputs: { agent_id: "analyst", intent: "rank" } }), (r) => r.start()).pipe(Effect.provide(Layer.merge(layer, granted)))
      // No broker and no capability here: the recorded call answers.
      const replayed = yield* Replay.fork(graph, parent.run_id, {})
      return { parent, replayed }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(calls).toEqual([{ agent_id: "analyst", intent: "rank" }])
    expect(out.parent.status).toBe("done")
    expect(out.parent.final_state["answer"]).toEqual({ request_id: "acme-1", data: { echo: "rank" }, __stargraph_provenance__: { origin: "tool", source: "acme", external_id: "acme-1" } })
    expect(out.replayed.summary).toMatchObject({ status: "done", final_state: out.parent.final_state })
    expect(calls).toHaveLength(1)
  })

  it("a fork whose request differs diverges, or asks the broker live with liveAfterFork", async () => {
    const { calls, layer } = appBroker()
    const filename = join(tempDir(), "runs.sqlite")
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir())
      const parent = yield* Effect.flatMap(graph.start({ inputs: { agent_id: "analyst", intent: "rank" } }), (r) => r.start()).pipe(Effect.provide(Layer.merge(layer, granted)))
      const mutation = { state_overrides: { intent: "summarize" } }
      const diverged = yield* Replay.fork(graph, parent.run_id, { mutation })
      const live = yield* Replay.fork(graph, parent.run_id, { mutation, liveAfterFork: true }).pipe(Effect.provide(Layer.merge(layer, granted)))
      return { diverged, live }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(out.diverged.summary.status).toBe("failed")
    expect(out.diverged.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "request-mismatch", nodeId: "ask" })
    expect(out.live.summary.status).toBe("done")
    expect(calls).toEqual([{ agent_id: "analyst", intent: "rank" }, { agent_id: "analyst", intent: "summarize" }])
    expect(out.live.summary.final_state["answer"]).toMatchObject({ data: { echo: "summarize" }, __stargraph_provenance__: { source: "acme", external_id: "acme-2" } })
  })

  it("a field that is not a string fails the node naming the field, before the broker is asked", async () => {
    const { calls, layer } = appBroker()
    const e = await failure(ir("any"), { agent_id: 42, intent: "rank" }, Layer.merge(layer, granted))
    expect(e).toMatchObject({ reason: "invalid-input", tool: "broker.request", nodeId: "ask", argument: "agent_id" })
    expect(e.message).toBe("state field 'agent_id' (agent_id_field) is a number, not a string")
    expect(calls).toHaveLength(0)
    // A field declared with another type is refused when the graph is built.
    const declared = await buildError(ir("integer"))
    expect([declared.path, declared.message]).toEqual(["nodes[0].config.agent_id_field", "broker reads state field 'agent_id' as a string, but it is declared integer"])
  })

  it("without tools:broker_request the node is refused with the capability to grant, before the broker is asked", async () => {
    const { calls, layer } = appBroker()
    const e = await failure(ir(), { agent_id: "analyst", intent: "rank" }, layer)
    expect(e).toMatchObject({ reason: "capability-denied", capability: "tools:broker_request", nodeId: "ask", step: 1 })
    expect(e.fix).toContain("STARGRAPH_CAPABILITIES=tools:broker_request")
    expect(e.fix).toContain("Capabilities.layer([\"tools:broker_request\"])")
    expect(calls).toHaveLength(0)
  })

  it("with no Broker and no STARGRAPH_BROKER_URL the node fails naming itself and both fixes", async () => {
    expect(process.env[Broker.ENV_VAR]).toBeUndefined()
    const e = await failure(ir(), { agent_id: "analyst", intent: "rank" }, granted)
    expect(e).toMatchObject({ reason: "failed", tool: "broker.request", nodeId: "ask" })
    expect(e.message).toContain("node 'ask' has no broker to ask")
    expect(e.fix).toContain("Broker.layer({name, request})")
    expect(e.fix).toContain("STARGRAPH_BROKER_URL=<url>")
  })

  it("the config is the original's: its three fields, nothing else, and declared fields", async () => {
    expect((await buildError(ir("string", { timeout: 3 }))).path).toBe("nodes[0].config.timeout")
    expect((await buildError({ ...ir(), nodes: [{ id: "ask", kind: "broker" }] })).message).toBe("a broker node needs config")
    const undeclared = await buildError(ir("string", { intent_field: "goal" }))
    expect([undeclared.path, undeclared.message]).toEqual(["nodes[0].config.intent_field", "broker reads state field 'goal', which is not declared"])
  })
})

describe("the built-in HTTP broker", () => {
  const ask = (path: string, grants: ReadonlyArray<string> = [LOCAL]) =>
    Effect.runPromise(Effect.either(Broker.http(`${base}${path}?token=secret`).request({ agent_id: "a", intent: "i" })).pipe(Effect.provide(Capabilities.layer(grants))))
  const failed = async (path: string, grants?: ReadonlyArray<string>): Promise<ToolError> => {
    const result = await ask(path, grants)
    if (Either.isRight(result)) throw new Error("expected the broker call to fail")
    return result.left
  }

  it("answers the decoded response", async () => {
    const result = await ask("/request")
    expect(Either.isRight(result) && result.right).toMatchObject({ request_id: expect.stringMatching(/^req-\d+$/), data: { hits: ["a:i"] } })
  })

  it("an error status, a body that is not JSON, and one without request_id fail with ToolError[failed] naming the URL without its query", async () => {
    const down = await failed("/down")
    expect([down.reason, down.message]).toEqual(["failed", `the broker at ${base}/down?token=… answered HTTP 503`])
    const garbled = await failed("/garbled")
    expect([garbled.reason, garbled.message]).toEqual(["failed", `the broker at ${base}/garbled?token=… did not answer JSON`])
    const anonymous = await failed("/anonymous")
    expect(anonymous.reason).toBe("failed")
    expect(anonymous.message).toMatch(/answered JSON that is not a broker response \(request_id: is missing\)/)
    expect(anonymous.fix).toContain("string request_id")
  })

  it("goes through the network guard: a loopback broker needs a net.fetch grant naming its host", async () => {
    const bare = await failed("/request", ["net.fetch"])
    expect(bare.reason).toBe("capability-denied")
    expect(bare.fix).toContain("net.fetch:http://127.0.0.1:")
    expect((await failed("/request", [])).reason).toBe("capability-denied")
  })

  it("a run with STARGRAPH_BROKER_URL and a broker that answers an error fails the node with it", async () => {
    process.env[Broker.ENV_VAR] = `${base}/down`
    try {
      const e = await failure(ir(), { agent_id: "analyst", intent: "rank" }, Capabilities.layer([Broker.CAPABILITY, LOCAL]))
      expect(e).toMatchObject({ reason: "failed", tool: "broker.request", nodeId: "ask", step: 1 })
      expect(e.message).toContain("answered HTTP 503")
    } finally {
      delete process.env[Broker.ENV_VAR]
    }
  })
})
