/**
 * `POST /v1/runs/{id}/state`: edit a stopped run's state in place over HTTP (200 with the
 * edit's step and state; the run still waits at its breakpoint; `/resume` finishes it
 * with the edited value), the refusals (409 not stopped, 400 with `details.field`, 404)
 * writing nothing, the audit lines, and the route in `/openapi.json`. A real server on
 * 127.0.0.1 (ephemeral port) over a real SQLite file.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir } from "../helpers/cli.js"
import { boot, call, waitFor } from "../helpers/server.js"

let server: Awaited<ReturnType<typeof boot>>
let auditLog: string

beforeAll(async () => {
  const dir = tempDir()
  const graphs = join(dir, "graphs")
  mkdirSync(graphs)
  writeFileSync(join(graphs, "nodes.js"), [
    "export const plan = () => ({ draft: 'wrong query', n: 1 })",
    "export const use = (s) => ({ log: [`b saw ${s.draft}`], n: 1 })", ""
  ].join("\n"))
  writeFileSync(join(graphs, "graph.yaml"), [
    "ir_version: \"1.0.0\"", "id: http:update-state",
    "state_schema: { fields: { draft: { type: string, default: \"\" }, n: { type: integer, default: 0, reducer: add }, log: { type: array, items: { type: string }, default: [], reducer: append } } }",
    "nodes:",
    "  - { id: a, kind: function, module: ./nodes.js, export: plan }",
    "  - { id: b, kind: function, module: ./nodes.js, export: use }",
    "edges: [{ from: a, to: b }]", ""
  ].join("\n"))
  auditLog = join(dir, "audit.jsonl")
  server = await boot({ db: join(dir, "serve.sqlite"), graphs: [graphs], auditLog, scheduler: { pollIntervalMs: 50 } })
})

afterAll(async () => {
  await server?.close()
})

const pausedRun = async () => {
  const created = await call(`${server.url}/v1/runs`, { graph_id: "http:update-state", interrupt_before: ["b"] })
  const id = created.body["run_id"] as string
  await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input")
  return id
}

const steps = async (id: string) => ((await call(`${server.url}/v1/runs/${id}/checkpoints`)).body["checkpoints"] as Array<{ node: string }>).map((c) => c.node)

describe("POST /v1/runs/{id}/state", () => {
  it("edits a run paused at a breakpoint: 200 with the step and state; it still waits there; /resume finishes it with the edited value", async () => {
    const id = await pausedRun()
    const runUrl = `${server.url}/v1/runs/${id}`
    const edited = await call(`${runUrl}/state`, { values: { draft: "right query", log: ["note"] }, as_node: "a" })
    expect(edited.status).toBe(200)
    expect(edited.body).toEqual({
      run_id: id,
      status: "awaiting-input",
      step: 2,
      node: "a",
      state: { draft: "right query", n: 1, log: ["note"] },
      delta: { draft: "right query", log: ["note"] },
      waiting: expect.objectContaining({ kind: "breakpoint", node: "b", when: "before", step: 3 })
    })
    const read = await call(runUrl)
    expect(read.body).toMatchObject({ status: "awaiting-input", steps: 2, final_state: { draft: "right query" }, waiting: { kind: "breakpoint", node: "b", step: 3 } })
    expect(await steps(id)).toEqual(["__input__", "a", "__update__"])
    expect((await call(`${runUrl}/resume`, {})).status).toBe(202)
    const done = await waitFor(runUrl, (b) => b["status"] === "done")
    expect(done.body).toMatchObject({ status: "done", steps: 3, final_state: { draft: "right query", n: 2, log: ["note", "b saw right query"] } })
    const audit = readFileSync(auditLog, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(audit).toContainEqual(expect.objectContaining({ event: "state.updated", run_id: id, step: 2, node: "a", delta: { draft: "right query", log: ["note"] } }))
    expect(audit).toContainEqual(expect.objectContaining({ event: "api.runs.state", method: "POST", status: 200 }))
  })

  it("refuses with 409 (not stopped), 400 naming details.field (unknown field, wrong type, as_node, a body field), 404 (unknown run); nothing is written", async () => {
    const id = await pausedRun()
    const runUrl = `${server.url}/v1/runs/${id}`
    const finished = (await call(`${server.url}/v1/runs`, { graph_id: "http:update-state" })).body["run_id"] as string
    await waitFor(`${server.url}/v1/runs/${finished}`, (b) => b["status"] === "done")
    const before = [await steps(id), await steps(finished)]
    const done = await call(`${server.url}/v1/runs/${finished}/state`, { values: { draft: "x" } })
    expect(done.status).toBe(409)
    expect(done.body).toMatchObject({ error: { type: "RunStateError", details: { status: "done", operation: "update-state" } } })
    const unknownField = await call(`${runUrl}/state`, { values: { nope: 1 } })
    expect(unknownField.status).toBe(400)
    expect(unknownField.body).toMatchObject({ error: { type: "StateValidationError", details: { source: "state-update", field: "nope" } } })
    const wrongType = await call(`${runUrl}/state`, { values: { draft: 3 } })
    expect(wrongType.status).toBe(400)
    expect(wrongType.body).toMatchObject({ error: { type: "StateValidationError", details: { field: "draft", fix: expect.stringContaining("(string)") } } })
    const asNode = await call(`${runUrl}/state`, { values: { draft: "x" }, as_node: "zz" })
    expect(asNode.status).toBe(400)
    expect(asNode.body).toMatchObject({ error: { type: "InputError", details: { field: "as_node" } } })
    const extra = await call(`${runUrl}/state`, { values: { draft: "x" }, extra: true })
    expect(extra.status).toBe(400)
    expect(extra.body).toMatchObject({ error: { type: "InputError" } })
    const noValues = await call(`${runUrl}/state`, {})
    expect(noValues.status).toBe(400)
    const unknown = await call(`${server.url}/v1/runs/run-nope/state`, { values: { draft: "x" } })
    expect(unknown.status).toBe(404)
    expect(unknown.body).toMatchObject({ error: { type: "CheckpointError", details: { reason: "unknown-run" } } })
    expect([await steps(id), await steps(finished)]).toEqual(before)
    expect((await call(runUrl)).body).toMatchObject({ status: "awaiting-input", waiting: { node: "b", step: 2 } })
  })

  it("is in /openapi.json with its body, answer and refusals", async () => {
    const doc = (await call(`${server.url}/openapi.json`)).body
    const operation = doc["paths"]["/v1/runs/{id}/state"]["post"]
    expect(operation["summary"]).toContain("Edit the state of a stopped run")
    expect(JSON.stringify(operation["requestBody"])).toContain("UpdateStateBody")
    expect(Object.keys(operation["responses"])).toEqual(expect.arrayContaining(["200", "400", "404", "409"]))
    expect(JSON.stringify(operation["responses"]["200"])).toContain("StateUpdated")
    expect(doc["components"]["schemas"]["UpdateStateBody"]["properties"]).toHaveProperty("as_node")
  })
})
