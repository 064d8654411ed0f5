/**
 * Breakpoints over HTTP: `interrupt_before` / `interrupt_after` in `POST /v1/runs` (and a
 * counterfactual's body), the wait `GET /v1/runs/{id}` and the event stream show, `/resume`
 * continuing it, and unknown node ids refused with 400 before anything is written. A real
 * server on 127.0.0.1 (ephemeral port) over a real SQLite file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bootBreakpointServer } from "../helpers/breakpointGraph.js"
import { call, waitFor } from "../helpers/server.js"

let server: Awaited<ReturnType<typeof bootBreakpointServer>>

beforeAll(async () => {
  server = await bootBreakpointServer()
})

afterAll(async () => {
  await server?.close()
})

describe("breakpoints over HTTP", () => {
  it("POST /v1/runs with interrupt_before pauses the run there; GET and the event stream show the breakpoint; /respond is refused; /resume continues it", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:bp", interrupt_before: ["b"], interrupt_after: "*" })
    expect(created.status).toBe(202)
    const id = created.body["run_id"] as string
    const runUrl = `${server.url}/v1/runs/${id}`
    const before = await waitFor(runUrl, (b) => b["status"] === "awaiting-input")
    // After a first: its step is committed.
    expect(before.body).toMatchObject({
      status: "awaiting-input",
      steps: 1,
      final_state: { n: 1, log: ["a"] },
      waiting: { kind: "breakpoint", node: "a", when: "after", step: 1 },
      breakpoints: { before: ["b"], after: ["*"] }
    })
    const stream = await fetch(`${runUrl}/stream`)
    const text = await stream.text()
    expect(text).toContain("event: run.waiting")
    expect(text).toMatch(/"kind":"breakpoint"[^\n]*"when":"after"|"when":"after"[^\n]*"kind":"breakpoint"/)
    const answered = await call(`${runUrl}/respond`, { response: true })
    expect(answered.status).toBe(409)
    expect(answered.body).toMatchObject({ error: { type: "RunStateError" } })
    // Named as the operation the client asked for, with the way on: resume it instead.
    expect(answered.body["error"]["details"]).toMatchObject({ operation: "respond", status: "awaiting-input" })
    expect(answered.body["error"]["details"]["message"]).toBe(`run ${id} is paused at a breakpoint after node 'a' (step 1, committed), not waiting for an answer; resume it instead: POST /v1/runs/${id}/resume (no body)`)
    expect((await call(`${runUrl}/resume`, {})).status).toBe(202)
    const atB = await waitFor(runUrl, (b) => b["status"] === "awaiting-input" && b["waiting"]?.["node"] === "b" && b["waiting"]?.["when"] === "before")
    expect(atB.body).toMatchObject({ steps: 1, waiting: { kind: "breakpoint", node: "b", when: "before", step: 2 } })
    // Before b, after b, before nothing else (c has no breakpoint before it), after c the run is done.
    expect((await call(`${runUrl}/resume`, {})).status).toBe(202)
    const afterB = await waitFor(runUrl, (b) => b["status"] === "awaiting-input" && b["waiting"]?.["when"] === "after" && b["waiting"]?.["node"] === "b")
    expect(afterB.body).toMatchObject({ steps: 2, final_state: { n: 2, log: ["a", "b"] } })
    expect((await call(`${runUrl}/resume`, {})).status).toBe(202)
    const done = await waitFor(runUrl, (b) => b["status"] === "done")
    expect(done.body).toMatchObject({ status: "done", steps: 3, final_state: { n: 3, log: ["a", "b", "c"] }, waiting: null })
  })

  it("an unknown node id is a 400 InputError naming the field, the id and the graph's nodes; no run is created", async () => {
    const runsBefore = (await call(`${server.url}/v1/runs?graph_id=run:bp&limit=500`)).body["runs"].length as number
    const refused = await call(`${server.url}/v1/runs`, { graph_id: "run:bp", interrupt_after: ["a", "nope"] })
    expect(refused.status).toBe(400)
    expect(refused.body).toMatchObject({ error: { type: "InputError", details: { field: "interrupt_after" } } })
    expect(refused.body["error"]["message"]).toContain("'nope'")
    expect(refused.body["error"]["message"]).toContain("a, b, c")
    // Not a list of ids nor "*": the body's schema refuses it.
    const wrongType = await call(`${server.url}/v1/runs`, { graph_id: "run:bp", interrupt_before: "b" })
    expect(wrongType.status).toBe(400)
    expect(wrongType.body).toMatchObject({ error: { type: "InputError" } })
    expect((await call(`${server.url}/v1/runs?graph_id=run:bp&limit=500`)).body["runs"]).toHaveLength(runsBefore)
  })

  it("a counterfactual takes its own breakpoints (it inherits none)", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:bp" })
    const runUrl = `${server.url}/v1/runs/${created.body["run_id"]}`
    await waitFor(runUrl, (b) => b["status"] === "done")
    const forked = await call(`${runUrl}/counterfactual`, { interrupt_before: ["c"] })
    expect(forked.status).toBe(201)
    expect(forked.body).toMatchObject({ status: "awaiting-input" })
    const fork = await call(`${server.url}/v1/runs/${forked.body["cf_run_id"]}`)
    expect(fork.body).toMatchObject({ waiting: { kind: "breakpoint", node: "c", when: "before", step: 3 }, breakpoints: { before: ["c"], after: [] } })
    const plain = await call(`${runUrl}/counterfactual`, {})
    expect(plain.body).toMatchObject({ status: "done" })
  })
})
