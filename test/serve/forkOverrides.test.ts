/**
 * `POST /v1/runs/{id}/counterfactual` checks a mutation's `node_output_overrides` before it
 * writes anything, as the library and the CLI do (one check, `Replay.start`'s): an override
 * that is no write its node could make is a 400 `StateValidationError` naming the node,
 * the field and the fix, and no fork is created.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Serve from "../../src/serve/server.js"
import { ROOT, tempDir } from "../helpers/cli.js"

/** A running server in its own scope. */
const boot = async (options: Serve.ServeOptions) => {
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(Serve.start({ port: 0, ...options }).pipe(Scope.extend(scope)))
  return { ...started, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const call = async (url: string, json?: unknown): Promise<{ status: number; body: Record<string, any> }> => {
  const response = await fetch(url, json === undefined ? {} : { method: "POST", body: JSON.stringify(json), headers: { "content-type": "application/json" } })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : {} }
}

let server: Awaited<ReturnType<typeof boot>>
let parent: string

beforeAll(async () => {
  const dir = tempDir()
  mkdirSync(join(dir, "graphs", "hello"), { recursive: true })
  for (const f of ["graph.yaml", "nodes.ts"]) writeFileSync(join(dir, "graphs", "hello", f), readFileSync(join(ROOT, "examples", "hello", f)))
  server = await boot({ db: join(dir, "serve.sqlite"), graphs: [join(dir, "graphs")], scheduler: { pollIntervalMs: 50 } })
  const created = await call(`${server.url}/v1/runs`, { graph_id: "run:hello-stargraph", params: { message: "hi" } })
  parent = created.body["run_id"]
  const deadline = Date.now() + 10_000
  while ((await call(`${server.url}/v1/runs/${parent}`)).body["status"] !== "done" && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25))
})

afterAll(async () => {
  await server?.close()
})

const runIds = async () => ((await call(`${server.url}/v1/runs?limit=500`)).body["runs"] as Array<{ run_id: string }>).map((r) => r.run_id).sort()
const checkpointCount = async (runId: string) => ((await call(`${server.url}/v1/runs/${runId}/checkpoints`)).body["checkpoints"] as Array<unknown>).length

describe("POST /v1/runs/{id}/counterfactual node_output_overrides", () => {
  it.each([
    ["an undeclared field", { count: { nofield: 1 } }, "count", "nofield", "node_output_overrides.count field 'nofield' is not a state field (the state schema does not declare it)", "write one of the declared fields (message, greeting, rounds, log, summary), or declare 'nofield' in state_schema.fields"],
    ["a value of the wrong type", { summarise: { summary: 3 } }, "summarise", "summary", "node_output_overrides.summarise field 'summary' does not fit the state schema: Expected string, actual 3", "give 'summary' in node_output_overrides.summarise a value of its declared type (string)"],
    ["a write its field's reducer refuses", { count: { log: "again" } }, "count", "log", "node_output_overrides.count field 'log' is not a write the field takes: append reducer: the write is a string, not a list of items to append; write a list, e.g. [\"again\"] for one item", "give 'log' in node_output_overrides.count a value of its declared type (array), which its reducer (append) takes"]
  ])("refuses %s with 400 StateValidationError naming the node, the field and the fix, creating nothing", async (_what, overrides, node, field, message, fix) => {
    const before = { runs: await runIds(), checkpoints: await checkpointCount(parent) }
    const r = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { from_step: 1, mutation: { node_output_overrides: overrides } })
    expect(r.status).toBe(400)
    expect(r.body["error"]).toMatchObject({ type: "StateValidationError", message: `StateValidationError: ${message} (fix: ${fix})`, details: { source: "mutation", nodeId: node, field, step: 1, fix } })
    expect({ runs: await runIds(), checkpoints: await checkpointCount(parent) }).toEqual(before)
  })

  it("a valid override forks (201) and replaces its node's execution", async () => {
    const before = await runIds()
    const r = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { from_step: 1, mutation: { node_output_overrides: { summarise: { summary: "overridden" } } } })
    expect([r.status, r.body["status"], r.body["error"]]).toEqual([201, "done", null])
    const cf = r.body["cf_run_id"] as string
    expect(await runIds()).toEqual([...before, cf].sort())
    expect((await call(`${server.url}/v1/runs/${cf}`)).body["final_state"]).toMatchObject({ summary: "overridden" })
  })
})
