/**
 * A run's own default model over HTTP: a run started by `stargraph run --lm-url … --lm-model
 * …` and stopped part-way is shown with its `default_model` by `GET /v1/runs/{id}`, and a
 * server started without a default model resumes it (`POST /v1/runs/{id}/resume`) with that
 * model; one started with `--lm-key` (the key is not stored) fails its next call through the
 * default with `LanguageModelError[missing-api-key]` naming the flag. A real server on
 * 127.0.0.1 over a real SQLite file the built CLI wrote, and a real OpenAI-compatible server.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runIdOf, stargraph, tempDir } from "../helpers/cli.js"
import * as OpenAi from "../helpers/openaiServer.js"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as DefaultModel from "../../src/nodes/lm/DefaultModel.js"
import * as Serve from "../../src/serve/server.js"
import { boot, call, waitFor } from "../helpers/server.js"

let model: OpenAi.OpenAiServer
let server: Awaited<ReturnType<typeof boot>>
let dir: string
let graph: string
let db: string
let plainRun: string
let keyedRun: string

beforeAll(async () => {
  model = await OpenAi.start({ respond: () => "{\"answer\": \"42\", \"later\": \"l\"}" })
  dir = tempDir()
  const graphs = join(dir, "graphs")
  mkdirSync(graphs)
  graph = join(graphs, "graph.yaml")
  writeFileSync(graph, [
    "ir_version: \"1.0.0\"", "id: lm:http",
    "state_schema: { fields: { question: { type: string, default: \"why?\" }, answer: { type: string }, later: { type: string } } }",
    "nodes:",
    "  - { id: ask, kind: dspy, config: { signature: \"question -> answer\" } }",
    "  - { id: later, kind: dspy, config: { signature: \"answer -> later: str\" } }",
    "edges: [{ from: ask, to: later }]",
    ""
  ].join("\n"))
  db = join(dir, "runs.sqlite")
  // Written by the CLI before the server opens the database (a server claims the runs the CLI queues).
  plainRun = await pausedRun(["--lm-url", model.url, "--lm-model", "http-model", "--lm-timeout", "45"])
  keyedRun = await pausedRun(["--lm-url", model.url, "--lm-model", "keyed-model", "--lm-key", "sk-http-1111"])
  server = await boot({ db, graphs: [graphs], scheduler: { pollIntervalMs: 50 } })
})

afterAll(async () => {
  await server?.close()
  await model?.close()
})

const pausedRun = async (flags: ReadonlyArray<string>): Promise<string> => {
  const paused = await stargraph(["run", graph, "--db", db, "--interrupt-before", "later", ...flags], { cwd: dir })
  expect(paused.code).toBe(3)
  return runIdOf(paused.last)
}

describe("a run's default model over HTTP", () => {
  it("GET /v1/runs/{id} shows it, and a server without one resumes the run with it", async () => {
    const id = plainRun
    const runUrl = `${server.url}/v1/runs/${id}`
    const got = await call(runUrl)
    expect(got.body["default_model"]).toEqual({ api_base: model.url, model: "http-model", api_key_env: null, api_key_given: false, timeout_ms: 45_000 })
    const before = model.requests.length
    expect((await call(`${runUrl}/resume`, {})).status).toBe(202)
    const done = await waitFor(runUrl, (b) => b["status"] === "done" || b["status"] === "failed" || b["status"] === "error")
    expect(done.body["status"]).toBe("done")
    expect(done.body["final_state"]).toMatchObject({ later: "l" })
    expect(model.requests.slice(before).map((r) => r.body["model"])).toEqual(["http-model"])
  })

  it("a run started with --lm-key fails its next call through the default, naming the flag, without calling the model", async () => {
    const id = keyedRun
    const runUrl = `${server.url}/v1/runs/${id}`
    expect((await call(runUrl)).body["default_model"]).toMatchObject({ api_key_env: null, api_key_given: true })
    const before = model.requests.length
    expect((await call(`${runUrl}/resume`, {})).status).toBe(202)
    const stopped = await waitFor(runUrl, (b) => b["status"] === "failed" || b["status"] === "error" || b["status"] === "done")
    expect(stopped.body["status"]).not.toBe("done")
    expect(stopped.body["error"]).toMatchObject({ type: "LanguageModelError" })
    expect(JSON.stringify(stopped.body["error"])).toContain("--lm-key")
    expect(JSON.stringify(stopped.body["error"])).toContain("missing-api-key")
    expect(model.requests.length).toBe(before)
  })

  it("a server with a default model keeps it on the runs POST /v1/runs starts", async () => {
    const scope = Effect.runSync(Scope.make())
    const served = await Effect.runPromise(
      Serve.start({ port: 0, host: "127.0.0.1", db: join(dir, "served.sqlite"), graphs: [join(dir, "graphs")], scheduler: { pollIntervalMs: 50 } }).pipe(
        Effect.provide(DefaultModel.layer({ apiBase: `${model.url}/`, model: "served-model" })),
        Scope.extend(scope)
      )
    )
    try {
      const before = model.requests.length
      const created = await call(`${served.url}/v1/runs`, { graph_id: "lm:http" })
      expect(created.status).toBe(202)
      const runUrl = `${served.url}/v1/runs/${created.body["run_id"] as string}`
      const done = await waitFor(runUrl, (b) => b["status"] === "done" || b["status"] === "failed" || b["status"] === "error")
      expect(done.body["status"]).toBe("done")
      expect(done.body["default_model"]).toEqual({ api_base: model.url, model: "served-model", api_key_env: null, api_key_given: false, timeout_ms: null })
      expect(model.requests.slice(before).map((r) => r.body["model"])).toEqual(["served-model", "served-model"])
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})
