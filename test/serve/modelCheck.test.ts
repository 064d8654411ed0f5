/**
 * The missing-model check before a run starts, inside subgraphs and over HTTP: a
 * language-model node that names no model in a child graph (nested too) is found
 * (`nodesNeedingModel` as `<subgraph node>/<node>`), so `stargraph run` refuses the parent
 * with no run created; and `POST /v1/runs` on a server without a default model or app
 * `LanguageModel` answers 400 with the `LanguageModelError[no-model]` envelope and creates no
 * run (a node the run pauses before is not concerned), while a server given a default
 * model starts it. Real graph files, the built CLI, a real server on 127.0.0.1 over a real
 * SQLite file, and a real OpenAI-compatible server.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterEach, describe, expect, it } from "vitest"
import * as Graph from "../../src/graph/Graph.js"
import * as DefaultModel from "../../src/nodes/lm/DefaultModel.js"
import { checkModels, nodesNeedingModel } from "../../src/nodes/lm/modelCheck.js"
import * as Serve from "../../src/serve/server.js"
import { stargraph, tempDir } from "../helpers/cli.js"
import * as OpenAi from "../helpers/openaiServer.js"
import { call, waitFor } from "../helpers/server.js"

const fields = "state_schema: { fields: { question: { type: string, default: \"why?\" }, answer: { type: string } } }"

/** A folder of graphs: `child` (a modelless dspy node), `parent` (runs child), `outer` (runs parent), `direct` (set, then a modelless dspy node). */
const graphsIn = (dir: string): string => {
  const graphs = join(dir, "graphs")
  mkdirSync(graphs)
  const write = (name: string, lines: ReadonlyArray<string>) => writeFileSync(join(graphs, `${name}.yaml`), [...lines, ""].join("\n"))
  write("child", ["ir_version: \"1.0.0\"", "id: child", fields, "nodes:", "  - { id: ask, kind: dspy, config: { signature: \"question -> answer\" } }"])
  const runs = (id: string, node: string, spec: string) => [
    "ir_version: \"1.0.0\"",
    `id: ${id}`,
    fields,
    "nodes:",
    `  - { id: ${node}, kind: subgraph, spec: ./${spec}, config: { inputs: { question: question }, outputs: { answer: answer } } }`
  ]
  write("parent", runs("parent", "sub", "child.yaml"))
  write("outer", runs("outer", "wrap", "parent.yaml"))
  write("direct", [
    "ir_version: \"1.0.0\"", "id: direct", fields, "nodes:",
    "  - { id: first, kind: set, values: { answer: \"-\" } }",
    "  - { id: ask, kind: dspy, config: { signature: \"question -> answer\" } }",
    "edges: [{ from: first, to: ask }]"
  ])
  return graphs
}

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => undefined)
})

/** A server on 127.0.0.1 over `db`, with `provide` (a default model) around it. */
const bootWith = async (options: Serve.ServeOptions, defaultModel?: Parameters<typeof DefaultModel.layer>[0]) => {
  const scope = Effect.runSync(Scope.make())
  const start = Serve.start({ port: 0, host: "127.0.0.1", ...options })
  const started = await Effect.runPromise((defaultModel === undefined ? start : start.pipe(Effect.provide(DefaultModel.layer(defaultModel)))).pipe(Scope.extend(scope)))
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  closers.push(close)
  return started
}

describe("the missing-model check looks inside subgraphs", () => {
  it("nodesNeedingModel names a child's (and a grandchild's) modelless node by its path; checkModels refuses the parent, a default model lets it through", async () => {
    const graphs = graphsIn(tempDir())
    const parent = await Effect.runPromise(Graph.load(join(graphs, "parent.yaml")))
    const outer = await Effect.runPromise(Graph.load(join(graphs, "outer.yaml")))
    expect(nodesNeedingModel(parent.nodes)).toEqual(["sub/ask"])
    expect(nodesNeedingModel(outer.nodes)).toEqual(["wrap/sub/ask"])
    const refused = await Effect.runPromise(Effect.either(checkModels(outer.nodes)))
    expect(Either.getLeft(refused)).toMatchObject({ _tag: "Some", value: { _tag: "LanguageModelError", reason: "no-model", nodeId: "wrap/sub/ask", attempts: 0 } })
    const given = await Effect.runPromise(Effect.either(Effect.provide(checkModels(outer.nodes), DefaultModel.layer({ apiBase: "http://127.0.0.1:9/v1", model: "m" }))))
    expect(Either.isRight(given)).toBe(true)
  })

  it("stargraph run refuses a parent whose child needs a model, with no run created", async () => {
    const dir = tempDir()
    const graphs = graphsIn(dir)
    const db = join(dir, "runs.sqlite")
    const refused = await stargraph(["run", join(graphs, "parent.yaml"), "--db", db], { cwd: dir })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/^error: LanguageModelError\[no-model\]: node 'sub\/ask' before the run started/)
    expect(existsSync(db)).toBe(false)
  })
})

describe("POST /v1/runs refuses a run whose nodes need a model the server was not given", () => {
  it("answers 400 with the LanguageModelError envelope and creates no run; a node the run pauses before is not concerned", async () => {
    const dir = tempDir()
    const graphs = graphsIn(dir)
    const server = await bootWith({ db: join(dir, "runs.sqlite"), graphs: [graphs], scheduler: { pollIntervalMs: 50 } })
    for (const graph_id of ["direct", "parent", "outer"]) {
      const refused = await call(`${server.url}/v1/runs`, { graph_id, params: {} })
      expect(refused.status).toBe(400)
      expect(refused.body["error"]).toMatchObject({ type: "LanguageModelError" })
      expect(JSON.stringify(refused.body)).toContain("--lm-url")
    }
    expect((await call(`${server.url}/v1/runs`)).body["runs"]).toEqual([])
    // Paused before the node, the run can be given a model on resume: it starts.
    const paused = await call(`${server.url}/v1/runs`, { graph_id: "direct", params: {}, interrupt_before: ["ask"] })
    expect(paused.status).toBe(202)
    // An unknown graph is still 404.
    expect((await call(`${server.url}/v1/runs`, { graph_id: "nope", params: {} })).status).toBe(404)
  })

  it("a server given a default model starts the run, child included, and it is done", async () => {
    const model = await OpenAi.start({ respond: () => "{\"answer\": \"42\"}" })
    closers.push(() => model.close())
    const dir = tempDir()
    const graphs = graphsIn(dir)
    const server = await bootWith({ db: join(dir, "runs.sqlite"), graphs: [graphs], scheduler: { pollIntervalMs: 50 } }, { apiBase: model.url, model: "default-model" })
    const started = await call(`${server.url}/v1/runs`, { graph_id: "parent", params: {} })
    expect(started.status).toBe(202)
    const done = await waitFor(`${server.url}/v1/runs/${started.body["run_id"]}`, (b) => b["status"] === "done" || b["status"] === "failed")
    expect(done.body).toMatchObject({ status: "done", final_state: { answer: "42" } })
    expect(model.requests.map((r) => r.body["model"])).toEqual(["default-model"])
  })
})
