import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Serve from "../../src/serve/server.js"
import { tempDir } from "../helpers/cli.js"
import { call, waitFor } from "../helpers/server.js"

const GRAPH = [
  'ir_version: "1.0.0"', "id: run:ask-double", "state_schema:", "  fields:", "    n: { type: integer, default: 0 }", "    doubled: { type: integer, default: 0 }",
  "nodes:", '  - { id: ask, kind: interrupt, prompt: "number?", response_field: n }',
  '  - { id: dbl, kind: tool, tool: std.calculator@1, inputs: { expression: "{{n}} * 2" }, out: { doubled: result } }', "edges:", "  - { from: ask, to: dbl }", ""
].join("\n")

let server: { url: string; close: () => Promise<void> }

beforeAll(async () => {
  const dir = tempDir()
  mkdirSync(join(dir, "graphs"), { recursive: true })
  writeFileSync(join(dir, "graphs", "graph.yaml"), GRAPH)
  writeFileSync(join(dir, "graphs", "parent.yaml"), [
    'ir_version: "1.0.0"', "id: run:sub-ask-double", "state_schema:", "  fields:", "    n: { type: integer, default: 0 }", "    doubled: { type: integer, default: 0 }",
    "nodes:", "  - { id: sub, kind: subgraph, spec: ./graph.yaml }", ""
  ].join("\n"))
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(Serve.start({ port: 0, db: join(dir, "serve.sqlite"), graphs: [join(dir, "graphs")], scheduler: { pollIntervalMs: 50 } }).pipe(Scope.extend(scope)))
  server = { url: started.url, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
})

afterAll(() => server.close())

describe("POST /v1/runs/{id}/respond on a fork of a waiting run", () => {
  it("takes an answer past the recording without live_after_fork (202); the fork fails at the call its parent never made, naming live_after_fork; with it the fork finishes", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:ask-double", params: {} })
    const parent = created.body["run_id"] as string
    expect((await waitFor(`${server.url}/v1/runs/${parent}`, (b) => b["status"] === "awaiting-input")).body["status"]).toBe("awaiting-input")
    const forked = await call(`${server.url}/v1/runs/${parent}/counterfactual`, {})
    const cf = forked.body["cf_run_id"] as string
    expect((await waitFor(`${server.url}/v1/runs/${cf}`, (b) => b["status"] === "awaiting-input")).body["status"]).toBe("awaiting-input")
    expect((await call(`${server.url}/v1/runs/${cf}/respond`, { response: 7 })).status).toBe(202)
    const failed = await waitFor(`${server.url}/v1/runs/${cf}`, (b) => b["status"] === "done" || b["status"] === "failed")
    expect(failed.body).toMatchObject({ status: "failed", live_after_fork: false, final_state: { n: 7, doubled: 0 }, error: { type: "ReplayDivergenceError" } })
    expect(failed.body["error"]["message"]).toContain(`"live_after_fork": true`)
    const again = (await call(`${server.url}/v1/runs/${parent}/counterfactual`, {})).body["cf_run_id"] as string
    await waitFor(`${server.url}/v1/runs/${again}`, (b) => b["status"] === "awaiting-input")
    const answered = await call(`${server.url}/v1/runs/${again}/respond`, { response: 7, live_after_fork: true })
    expect(answered.status).toBe(202)
    const done = await waitFor(`${server.url}/v1/runs/${again}`, (b) => b["status"] === "done" || b["status"] === "failed")
    expect(done.body).toMatchObject({ status: "done", final_state: { n: 7, doubled: 14 } })
  })
})

describe("POST /v1/runs/{id}/respond and /resume on a fork's child run", () => {
  it("refuse it with a 409 naming the fork (no replay source: it would call live); answered through the fork, it finishes", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:sub-ask-double", params: {} })
    const parent = created.body["run_id"] as string
    expect((await waitFor(`${server.url}/v1/runs/${parent}`, (b) => b["status"] === "awaiting-input")).body["status"]).toBe("awaiting-input")
    const cf = (await call(`${server.url}/v1/runs/${parent}/counterfactual`, {})).body["cf_run_id"] as string
    const waiting = await waitFor(`${server.url}/v1/runs/${cf}`, (b) => b["status"] === "awaiting-input")
    const child = waiting.body["waiting"]["payload"]["child_run_id"] as string
    const refused = await call(`${server.url}/v1/runs/${child}/respond`, { response: 7 })
    expect(refused.status).toBe(409)
    expect(refused.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "respond", forkRunId: cf } })
    expect(refused.body["error"]["details"]["fix"]).toContain(`POST /v1/runs/${cf}/respond with {"response": <JSON>, "live_after_fork": true}`)
    expect((await call(`${server.url}/v1/runs/${child}`)).body["status"]).toBe("awaiting-input")
    expect((await call(`${server.url}/v1/runs/${cf}/respond`, { response: 7, live_after_fork: true })).status).toBe(202)
    const done = await waitFor(`${server.url}/v1/runs/${cf}`, (b) => b["status"] === "done" || b["status"] === "failed")
    expect(done.body).toMatchObject({ status: "done", final_state: { n: 7, doubled: 14 } })
  })
})

/** A run's record and checkpoints as the server reads them. */
const stored = async (id: string) => ({
  record: (await call(`${server.url}/v1/runs/${id}`)).body,
  checkpoints: (await call(`${server.url}/v1/runs/${id}/checkpoints`)).body
})

describe("POST /v1/runs/{id}/respond with live_after_fork on a run that is not a fork", () => {
  it("refuses it with a 409 RunStateError (details.field live_after_fork) whose fix is the answer without it; nothing changes; without it the run finishes", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:ask-double", params: {} })
    const id = created.body["run_id"] as string
    expect((await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input")).body["status"]).toBe("awaiting-input")
    const before = await stored(id)
    const refused = await call(`${server.url}/v1/runs/${id}/respond`, { response: 7, live_after_fork: true })
    expect(refused.status).toBe(409)
    expect(refused.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "respond", field: "live_after_fork", runId: id } })
    expect(refused.body["error"]["message"]).toContain(`run ${id} is not a counterfactual fork`)
    expect(refused.body["error"]["message"]).toContain("live_after_fork over HTTP")
    expect(refused.body["error"]["details"]["fix"]).toContain(`POST /v1/runs/${id}/respond with {"response": <JSON>} over HTTP`)
    expect(await stored(id)).toEqual(before)
    expect((await call(`${server.url}/v1/runs/${id}/respond`, { response: 7 })).status).toBe(202)
    const done = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "done" || b["status"] === "failed")
    expect(done.body).toMatchObject({ status: "done", final_state: { n: 7, doubled: 14 } })
  })
})

describe("POST /v1/runs/{id}/state on a fork's child run", () => {
  it("refuses the edit with a 409 naming the fork (details.forkRunId) and the request that forks it again; nothing is written", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:sub-ask-double", params: {} })
    const parent = created.body["run_id"] as string
    await waitFor(`${server.url}/v1/runs/${parent}`, (b) => b["status"] === "awaiting-input")
    const cf = (await call(`${server.url}/v1/runs/${parent}/counterfactual`, {})).body["cf_run_id"] as string
    const waiting = await waitFor(`${server.url}/v1/runs/${cf}`, (b) => b["status"] === "awaiting-input")
    const child = waiting.body["waiting"]["payload"]["child_run_id"] as string
    const before = { child: await stored(child), fork: await stored(cf) }
    const refused = await call(`${server.url}/v1/runs/${child}/state`, { values: { n: 5 } })
    expect(refused.status).toBe(409)
    expect(refused.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "update-state", forkRunId: cf } })
    expect(refused.body["error"]["message"]).toContain(`run ${child} is a child run of fork ${cf}`)
    expect(refused.body["error"]["details"]["fix"]).toMatch(new RegExp(`POST /v1/runs/${cf}/counterfactual with \\{"from_step": \\d+, "mutation": \\{"state_overrides": \\{…\\}\\}, "live_after_fork": true\\} over HTTP`))
    // Answered directly with live_after_fork: the refusal naming the fork to answer with it, not one saying it is no fork.
    const answered = await call(`${server.url}/v1/runs/${child}/respond`, { response: 7, live_after_fork: true })
    expect(answered.status).toBe(409)
    expect(answered.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "respond", forkRunId: cf } })
    expect(answered.body["error"]["details"]["field"]).toBeUndefined()
    expect({ child: await stored(child), fork: await stored(cf) }).toEqual(before)
  })
})

/** POST `url` with `body` as it is (text, or nothing at all), no content type: the status and parsed body. */
const post = async (url: string, body?: string) => {
  const response = await fetch(url, { method: "POST", ...(body !== undefined ? { body } : {}) })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) as Record<string, any> : {} }
}

/**
 * A fork paused at its breakpoint before `dbl` where its parent's recording ends (the
 * parent stopped at the same breakpoint: `dbl`'s call was never made): the fork's parent and id.
 */
const pausedFork = async () => {
  const created = await call(`${server.url}/v1/runs`, { graph_id: "run:ask-double", params: {}, interrupt_before: ["dbl"] })
  const parent = created.body["run_id"] as string
  await waitFor(`${server.url}/v1/runs/${parent}`, (b) => b["status"] === "awaiting-input")
  expect((await call(`${server.url}/v1/runs/${parent}/respond`, { response: 7 })).status).toBe(202)
  const atBreakpoint = await waitFor(`${server.url}/v1/runs/${parent}`, (b) => b["waiting"]?.["kind"] === "breakpoint")
  expect(atBreakpoint.body["waiting"]).toMatchObject({ kind: "breakpoint", node: "dbl", when: "before" })
  const forked = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { from_step: atBreakpoint.body["steps"], interrupt_before: ["dbl"] })
  expect(forked.status).toBe(201)
  const cf = forked.body["cf_run_id"] as string
  const paused = await waitFor(`${server.url}/v1/runs/${cf}`, (b) => b["waiting"]?.["kind"] === "breakpoint")
  expect(paused.body).toMatchObject({ status: "awaiting-input", waiting: { kind: "breakpoint", node: "dbl" }, live_after_fork: false })
  return { parent, cf }
}

describe("POST /v1/runs/{id}/resume body", () => {
  it("is documented in /openapi.json as an optional ResumeBody (live_after_fork, no other field) or nothing", async () => {
    const doc = (await call(`${server.url}/openapi.json`)).body
    const body = doc["paths"]["/v1/runs/{id}/resume"]["post"]["requestBody"]
    expect(body["required"]).toBe(false)
    expect(JSON.stringify(body["content"]["application/json"]["schema"])).toContain("#/components/schemas/ResumeBody")
    expect(doc["components"]["schemas"]["ResumeBody"]).toMatchObject({ type: "object", properties: { live_after_fork: { type: "boolean" } }, additionalProperties: false })
    expect(Object.keys(doc["components"]["schemas"]["ResumeBody"]["properties"])).toEqual(["live_after_fork"])
  })

  it("refuses an unknown field with a 400 naming it (did you mean, for a misspelling; /respond for an answer), nothing changed", async () => {
    const { cf } = await pausedFork()
    const before = await stored(cf)
    const misspelt = await call(`${server.url}/v1/runs/${cf}/resume`, { live_after_forks: true })
    expect(misspelt.status).toBe(400)
    expect(misspelt.body["error"]).toMatchObject({ type: "InputError", details: { field: "live_after_forks", fix: "did you mean 'live_after_fork'? rename 'live_after_forks' to 'live_after_fork' (unknown fields are refused)" } })
    const unknown = await call(`${server.url}/v1/runs/${cf}/resume`, { live: true })
    expect(unknown.status).toBe(400)
    expect(unknown.body["error"]).toMatchObject({ type: "InputError", details: { field: "live", fix: "remove the unknown field 'live' (unknown fields are refused)" } })
    const answer = await call(`${server.url}/v1/runs/${cf}/resume`, { response: 7 })
    expect(answer.status).toBe(400)
    expect(answer.body["error"]["details"]).toMatchObject({ field: "response" })
    expect(answer.body["error"]["details"]["fix"]).toContain("an answer goes to POST /v1/runs/{id}/respond")
    const budget = await call(`${server.url}/v1/runs/${cf}/resume`, { max_steps: 5 })
    expect(budget.body["error"]["details"]["fix"]).toContain("POST /v1/runs/{id}/counterfactual with \"max_steps\"")
    const wrongType = await call(`${server.url}/v1/runs/${cf}/resume`, { live_after_fork: "yes" })
    expect(wrongType.status).toBe(400)
    expect(wrongType.body["error"]["details"]).toMatchObject({ field: "live_after_fork" })
    expect(await stored(cf)).toEqual(before)
  })

  it("live_after_fork: true resumes a paused fork whose recording ends with live calls (its record says so); without it the fork fails at the call, as with the CLI", async () => {
    const withIt = await pausedFork()
    const resumed = await call(`${server.url}/v1/runs/${withIt.cf}/resume`, { live_after_fork: true })
    expect(resumed.status).toBe(202)
    const done = await waitFor(`${server.url}/v1/runs/${withIt.cf}`, (b) => b["status"] === "done" || b["status"] === "failed")
    expect(done.body).toMatchObject({ status: "done", final_state: { n: 7, doubled: 14 }, live_after_fork: true })
    // Without it (an empty JSON object, no body at all): accepted, and the fork cannot make the call its parent never made.
    for (const body of ["{}", undefined]) {
      const without = await pausedFork()
      expect((await post(`${server.url}/v1/runs/${without.cf}/resume`, body)).status).toBe(202)
      const failed = await waitFor(`${server.url}/v1/runs/${without.cf}`, (b) => b["status"] === "done" || b["status"] === "failed")
      expect(failed.body).toMatchObject({ status: "failed", live_after_fork: false, error: { type: "ReplayDivergenceError" } })
      expect(JSON.stringify(failed.body["error"])).toContain("live_after_fork")
    }
  })

  it("live_after_fork: true on a run that is not a fork: 409 RunStateError (details.field live_after_fork) whose fix is the resume without it; nothing changes", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:ask-double", params: {}, interrupt_before: ["ask"] })
    const id = created.body["run_id"] as string
    await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["waiting"]?.["kind"] === "breakpoint")
    const before = await stored(id)
    const refused = await call(`${server.url}/v1/runs/${id}/resume`, { live_after_fork: true })
    expect(refused.status).toBe(409)
    expect(refused.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "resume", field: "live_after_fork", runId: id } })
    expect(refused.body["error"]["message"]).toContain(`run ${id} is not a counterfactual fork`)
    expect(refused.body["error"]["message"]).toContain("It was not resumed (nothing was changed)")
    expect(refused.body["error"]["details"]["fix"]).toContain(`POST /v1/runs/${id}/resume over HTTP`)
    expect(await stored(id)).toEqual(before)
    // With no body, it resumes: past the breakpoint to the question.
    expect((await post(`${server.url}/v1/runs/${id}/resume`)).status).toBe(202)
    const asked = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["waiting"]?.["prompt"] === "number?")
    expect(asked.body).toMatchObject({ status: "awaiting-input", waiting: { node: "ask", kind: "node", prompt: "number?" } })
  })
})
