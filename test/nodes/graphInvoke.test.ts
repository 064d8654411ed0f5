/**
 * `std.graph_invoke@1`: a graph file inside the tools' filesystem root runs to its end on
 * the real engine (its function node really runs, counted in a file); refused without
 * `tools:std:graph_invoke` or outside the root; a child that stops for input or fails is
 * a ToolError; a replay answers from the cassette and runs no child; a react agent can
 * call it from its tools allowlist.
 */
import { mkdirSync, readFileSync, existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { afterEach, describe, expect, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { formatError, type StargraphError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import * as GraphInvoker from "../../src/nodes/GraphInvoker.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import * as FsJail from "../../src/nodes/tools/std/fsJail.js"
import { graphInvoke } from "../../src/nodes/tools/std/graphInvoke.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"
import * as OpenAiServer from "../helpers/openaiServer.js"
import { toolErr } from "../helpers/toolCalls.js"

/** A root holding the child graphs, and the file counting the child's runs. */
const fixture = () => {
  const base = tempDir("stargraph-gi-")
  const root = join(base, "root")
  mkdirSync(root)
  const counter = join(base, "count.txt")
  writeFileSync(join(root, "nodes.mjs"), [
    `import { appendFileSync } from "node:fs"`,
    `export const double = (state) => { appendFileSync(${JSON.stringify(counter)}, "ran\\n"); return { doubled: state.n * 2 } }`,
    `export const boom = () => { throw new Error("the child broke") }`,
    `export const slow = async () => { appendFileSync(${JSON.stringify(counter)}, "ran\\n"); await new Promise((r) => setTimeout(r, 2500)); appendFileSync(${JSON.stringify(counter)}, "ran\\n"); return { doubled: 1 } }`,
    `export const after = () => { appendFileSync(${JSON.stringify(counter)}, "ran\\n"); return {} }`,
    ``
  ].join("\n"))
  const child = (id: string, nodes: string) => [
    `ir_version: "1.0.0"`,
    `id: ${id}`,
    `state_schema: { fields: { n: { type: integer, default: 0 }, doubled: { type: integer, default: 0 }, ok: { type: string, default: "" } } }`,
    `nodes:`,
    nodes,
    ``
  ].join("\n")
  writeFileSync(join(root, "child.yaml"), child("run:child", `  - { id: double, kind: function, module: ./nodes.mjs, export: double }`))
  writeFileSync(join(root, "asks.yaml"), child("run:asks", `  - { id: ask, kind: interrupt, config: { prompt: "ok?", response_field: ok } }`))
  writeFileSync(join(root, "fails.yaml"), child("run:fails", `  - { id: broken, kind: function, module: ./nodes.mjs, export: boom }`))
  writeFileSync(join(root, "slow.yaml"), child("run:slow", `  - { id: slow, kind: function, module: ./nodes.mjs, export: slow }\n  - { id: after, kind: function, module: ./nodes.mjs, export: after }`))
  writeFileSync(join(base, "outside.yaml"), child("run:outside", `  - { id: double, kind: function, module: ./root/nodes.mjs, export: double }`))
  const runs = () => (existsSync(counter) ? readFileSync(counter, "utf8").split("\n").filter((l) => l !== "").length : 0)
  return { base, root, runs }
}

/** A parent graph whose tool node calls std.graph_invoke with its state's `graph` and `child_inputs`. */
const parentIr = {
  ir_version: "1.0.0",
  id: "run:parent",
  state_schema: { fields: { graph: { type: "string" }, child_inputs: { type: "object" }, result: { type: "object" } } },
  nodes: [{ id: "invoke", kind: "tool", tool: "std.graph_invoke@1", inputs: { graph: "graph", inputs: "child_inputs" }, out: "result" }],
  edges: []
}

const runParent = (ir: unknown, inputs: Record<string, unknown>, grants: ReadonlyArray<string>, root: string, filename = join(tempDir(), "runs.sqlite")) =>
  Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.make(ir)
    const run = yield* Effect.either(Effect.flatMap(graph.start({ inputs }), (r) => r.start()).pipe(
      Effect.provide(Capabilities.layer(grants)),
      Effect.provide(FsJail.layer(root))
    ))
    return { graph, run: run as Either.Either<{ run_id: string; status: string; final_state: Record<string, any> }, StargraphError> }
  }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))

const GRANT = ["tools:std:graph_invoke"]

/** The tool called directly (outside a run) with the live invoker provided, as a run's nodes get it. */
const liveGraphInvoke: typeof graphInvoke = { ...graphInvoke, run: (input) => Effect.provideService(graphInvoke.run(input), GraphInvoker.GraphInvoker, Graph.invoker) }

describe("std.graph_invoke@1", () => {
  it("runs a graph file in the root to done in-process and returns its status, final state, run id and hash; a replay runs no child", async () => {
    const { root, runs } = fixture()
    const filename = join(tempDir(), "runs.sqlite")
    const { graph, run } = await runParent(parentIr, { graph: "child.yaml", child_inputs: { n: 21 } }, GRANT, root, filename)
    if (Either.isLeft(run)) throw new Error(`expected done, got ${run.left.message}`)
    expect(run.right.status).toBe("done")
    const result = run.right.final_state["result"]
    expect(result).toMatchObject({ status: "done", final_state: { n: 21, doubled: 42, ok: "" } })
    expect(result.run_id).toMatch(/^run-/)
    expect(result.run_id).not.toBe(run.right.run_id)
    expect(result.graph_hash).toBe((await Effect.runPromise(Graph.load(join(root, "child.yaml")))).graphHash)
    expect(runs()).toBe(1)
    // Replayed with no grant and no root: the cassette answers, the child does not run again.
    const replayed = await Effect.runPromise(Replay.fork(graph, run.right.run_id, {}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(replayed.summary).toMatchObject({ status: "done", final_state: run.right.final_state })
    expect(runs()).toBe(1)
  })

  it("is refused without tools:std:graph_invoke; the child does not run", async () => {
    const { root, runs } = fixture()
    const denied = await runParent(parentIr, { graph: "child.yaml", child_inputs: { n: 1 } }, [], root)
    expect(Either.isLeft(denied.run) && denied.run.left).toMatchObject({ _tag: "ToolError", reason: "capability-denied", capability: "tools:std:graph_invoke", tool: "std.graph_invoke@1" })
    expect(runs()).toBe(0)
  })

  it("refuses a graph outside the tools' filesystem root, and runs nothing without a root", async () => {
    const { base, root, runs } = fixture()
    for (const graph of ["../outside.yaml", join(base, "outside.yaml")]) {
      const e = await toolErr(graphInvoke, { graph }, GRANT, root)
      expect(e).toMatchObject({ reason: "invalid-input", argument: "graph" })
      expect(e.message).toContain(`graph '${graph}' escapes the tools' filesystem root`)
    }
    expect((await toolErr(graphInvoke, { graph: "missing.yaml" }, GRANT, root)).message).toContain("graph 'missing.yaml' is not a file")
    const saved = process.env[FsJail.ROOT_ENV]
    delete process.env[FsJail.ROOT_ENV]
    try {
      expect((await toolErr(graphInvoke, { graph: join(root, "child.yaml") }, GRANT)).message).toContain("no filesystem root set")
    } finally {
      if (saved !== undefined) process.env[FsJail.ROOT_ENV] = saved
    }
    expect(runs()).toBe(0)
  })

  it("a child that stops for input, or fails, is a ToolError naming it (the parent run fails)", async () => {
    const { root } = fixture()
    const asks = await toolErr(liveGraphInvoke, { graph: "asks.yaml" }, GRANT, root)
    expect(asks).toMatchObject({ reason: "failed" })
    expect(asks.message).toBe("child graph 'run:asks' stopped for input at node 'ask': a tool call cannot answer an interrupt")
    const fails = await toolErr(liveGraphInvoke, { graph: "fails.yaml", inputs: { n: 1 } }, GRANT, root)
    expect(fails).toMatchObject({ reason: "failed" })
    expect(fails.message).toMatch(/^child graph 'run:fails' failed: .*the child broke/)
    const parent = await runParent(parentIr, { graph: "asks.yaml", child_inputs: {} }, GRANT, root)
    expect(Either.isLeft(parent.run) && parent.run.left).toMatchObject({ _tag: "ToolError", reason: "failed", nodeId: "invoke" })
    // Bad inputs for the child are its error too.
    const bad = await toolErr(liveGraphInvoke, { graph: "child.yaml", inputs: { n: "many" } }, GRANT, root)
    expect(bad.message).toMatch(/^child graph 'run:child' failed: StateValidationError/)
    // One fix: the child's own, folded into the call's (the CLI line shows one `(fix: …)`).
    expect(bad.message).not.toContain("(fix:")
    expect(bad.fix).toMatch(/^in the child graph: .+; run it alone with stargraph run to see its steps$/)
    expect(formatError(bad).match(/\(fix: /g)).toHaveLength(1)
  })

  it("a call cut short by the node's timeout_ms stops the child run: it takes no further step", async () => {
    const { root, runs } = fixture()
    const ir = { ...parentIr, nodes: [{ ...parentIr.nodes[0], timeout_ms: 300 }] }
    const started = Date.now()
    const { run } = await runParent(ir, { graph: "slow.yaml", child_inputs: {} }, GRANT, root)
    // The call ends at its timeout, not when the child's running node (2.5 s) ends.
    expect(Date.now() - started).toBeLessThan(1500)
    expect(Either.isLeft(run) && run.left).toMatchObject({ _tag: "ToolError", reason: "timeout" })
    expect(runs()).toBe(1)
    // The slow node's promise cannot be stopped (it wrote twice), but the child's next node never runs.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    expect(runs()).toBe(2)
  })

  it("uses the invoker the run's caller provides, not the live one", async () => {
    const { root, runs } = fixture()
    const asked: Array<{ file: string; inputs: unknown }> = []
    const invoker: GraphInvoker.GraphInvokerShape = {
      invoke: (file, inputs) =>
        Effect.sync(() => {
          asked.push({ file, inputs })
          return { status: "done", final_state: { from: "provided" }, run_id: "run-provided", graph_hash: "h" }
        })
    }
    const run = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(parentIr)
      return yield* Effect.flatMap(graph.start({ inputs: { graph: "child.yaml", child_inputs: { n: 2 } } }), (r) => r.start())
    }).pipe(
      Effect.provideService(GraphInvoker.GraphInvoker, invoker),
      Effect.provide(Capabilities.layer(GRANT)),
      Effect.provide(FsJail.layer(root)),
      Effect.provide(SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite") }))
    ))
    expect(run.final_state["result"]).toEqual({ status: "done", final_state: { from: "provided" }, run_id: "run-provided", graph_hash: "h" })
    expect(asked).toEqual([{ file: expect.stringMatching(/child\.yaml$/), inputs: { n: 2 } }])
    expect(runs()).toBe(0)
  })

  it("called outside a run with no invoker provided, is a ToolError naming the fix", async () => {
    const { root, runs } = fixture()
    const e = await toolErr(graphInvoke, { graph: "child.yaml" }, GRANT, root)
    expect(e).toMatchObject({ _tag: "ToolError", reason: "failed" })
    expect(e.message).toContain("no graph invoker in this context")
    expect(e.fix).toContain("Effect.provideService(GraphInvoker, …)")
    expect(runs()).toBe(0)
  })
})

describe("std.graph_invoke from a react agent", () => {
  const servers: Array<OpenAiServer.OpenAiServer> = []
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close().catch(() => undefined)
  })

  it("the agent calls it from its tools allowlist and reads the child's final state", async () => {
    const { root, runs } = fixture()
    const server = await OpenAiServer.start({ respond: () => ({ status: 500, message: "no more scripted replies" }) })
    servers.push(server)
    server.script(
      JSON.stringify({ next_thought: "run the child", next_tool_name: "std_graph_invoke", next_tool_args: { graph: "child.yaml", inputs: { n: 4 } } }),
      JSON.stringify({ next_thought: "I know it", next_tool_name: "finish", next_tool_args: {}, answer: "It doubled to 8." })
    )
    const ir = {
      ir_version: "1.0.0",
      id: "run:agent",
      state_schema: { fields: { question: { type: "string" }, answer: { type: "string" }, tool_trace: { type: "array" } } },
      nodes: [{ id: "agent", kind: "react", config: { model: "test-model", api_base: server.url, tools: ["std.graph_invoke@1"] } }],
      edges: []
    }
    const { run } = await runParent(ir, { question: "double 4 with the child graph" }, GRANT, root)
    if (Either.isLeft(run)) throw new Error(`expected done, got ${run.left.message}`)
    expect(run.right.final_state["answer"]).toBe("It doubled to 8.")
    const [call] = run.right.final_state["tool_trace"] as Array<{ tool: string; observation: string }>
    expect(call!.tool).toBe("std_graph_invoke")
    expect(JSON.parse(call!.observation)).toMatchObject({ status: "done", final_state: { n: 4, doubled: 8 } })
    expect(runs()).toBe(1)
  })
})
