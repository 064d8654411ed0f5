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

const call = async (url: string, init: RequestInit & { json?: unknown } = {}): Promise<{ status: number; body: Record<string, any> }> => {
  const response = await fetch(url, {
    ...init,
    ...(init.json !== undefined ? { body: JSON.stringify(init.json), method: init.method ?? "POST", headers: { "content-type": "application/json" } } : {})
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : {} }
}

const waitFor = async (url: string, until: (body: Record<string, any>) => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms
  for (;;) {
    const r = await call(url)
    if (until(r.body) || Date.now() > deadline) return r
    await new Promise((res) => setTimeout(res, 25))
  }
}

/** `count` overridden to add no round: hello's counting loop never reaches its exit. */
const LOOP = { node_output_overrides: { count: { rounds: 0, log: ["again"] } } }

let server: Awaited<ReturnType<typeof boot>>
let parent: string

beforeAll(async () => {
  const dir = tempDir()
  mkdirSync(join(dir, "graphs", "hello"), { recursive: true })
  for (const f of ["graph.yaml", "nodes.ts"]) writeFileSync(join(dir, "graphs", "hello", f), readFileSync(join(ROOT, "examples", "hello", f)))
  server = await boot({ db: join(dir, "serve.sqlite"), graphs: [join(dir, "graphs")], scheduler: { pollIntervalMs: 50 } })
  const created = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", params: { message: "hi" } } })
  parent = created.body["run_id"]
  // greet(1) count(2, 3, 4) summarise(5).
  expect((await waitFor(`${server.url}/v1/runs/${parent}`, (b) => b["status"] === "done")).body["steps"]).toBe(5)
})

afterAll(async () => {
  await server?.close()
})

const runCount = async () => (await call(`${server.url}/v1/runs?limit=500`)).body["runs"].length as number
const nodesOf = async (runId: string) => (await call(`${server.url}/v1/runs/${runId}/checkpoints`)).body["checkpoints"].map((c: { step: number }) => c.step)

describe("POST /v1/runs/{id}/counterfactual max_steps", () => {
  it("stops a fork whose override keeps a loop going after max_steps steps past its fork step, with StepLimitError; the same derived hash as without it", async () => {
    const r = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { json: { from_step: 1, mutation: LOOP, max_steps: 4 } })
    expect(r.status).toBe(201)
    const cf = r.body["cf_run_id"] as string
    expect(r.body).toMatchObject({ status: "failed", error: { type: "StepLimitError", details: { maxSteps: 4 } } })
    expect(r.body["error"]["message"]).toContain(`fork ${cf} used its step budget: max_steps 4 after its fork step 1 (its steps 2..5 are kept)`)
    expect(r.body["error"]["message"]).toContain("\"max_steps\" in the POST /v1/runs/{id}/counterfactual body")
    expect(await nodesOf(cf)).toEqual([0, 1, 2, 3, 4, 5])
    // An exact replay with a budget it does not reach: done, and the derived hash of one without it.
    const budgeted = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { json: { max_steps: 5 } })
    const plain = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { json: {} })
    expect([budgeted.status, budgeted.body["status"], plain.body["status"]]).toEqual([201, "done", "done"])
    expect(budgeted.body["derived_hash"]).toBe(plain.body["derived_hash"])
  })

  it("GET /v1/runs/{id} shows fork_max_steps (null without one); a fork of a fork sent none takes its parent fork's, one sent max_steps keeps its own", async () => {
    expect((await call(`${server.url}/v1/runs/${parent}`)).body).toMatchObject({ fork_max_steps: null })
    const first = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { json: { from_step: 1, mutation: LOOP, max_steps: 4 } })
    const cf = first.body["cf_run_id"] as string
    expect((await call(`${server.url}/v1/runs/${cf}`)).body).toMatchObject({ status: "failed", fork_max_steps: 4, fork_step: 1 })
    // Its own budget counted from its own fork step 3: steps 4..7.
    const inherited = await call(`${server.url}/v1/runs/${cf}/counterfactual`, { json: { from_step: 3 } })
    expect([inherited.status, inherited.body["status"]]).toEqual([201, "failed"])
    const second = inherited.body["cf_run_id"] as string
    expect(inherited.body["error"]["message"]).toContain(`fork ${second} used its step budget: max_steps 4 after its fork step 3 (its steps 4..7 are kept)`)
    expect((await call(`${server.url}/v1/runs/${second}`)).body).toMatchObject({ fork_max_steps: 4, parent_run_id: cf })
    expect(await nodesOf(second)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    const own = await call(`${server.url}/v1/runs/${cf}/counterfactual`, { json: { from_step: 3, max_steps: 2 } })
    expect((await call(`${server.url}/v1/runs/${own.body["cf_run_id"]}`)).body).toMatchObject({ status: "failed", fork_max_steps: 2 })
    expect(await nodesOf(own.body["cf_run_id"])).toEqual([0, 1, 2, 3, 4, 5])
    // A fork without a budget reads null too.
    const plain = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { json: {} })
    expect((await call(`${server.url}/v1/runs/${plain.body["cf_run_id"]}`)).body).toMatchObject({ status: "done", fork_max_steps: null })
  })

  it.each([0, -1, 1.5, "3", null, true])("refuses max_steps %j with 400 naming it and the fix, creating nothing", async (value) => {
    const before = await runCount()
    const r = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { json: { mutation: LOOP, max_steps: value } })
    expect(r.status).toBe(400)
    expect(r.body["error"]).toMatchObject({
      type: "InputError",
      details: { field: "max_steps", fix: expect.stringContaining(`send "max_steps" as a whole number from 1 to ${Number.MAX_SAFE_INTEGER}, the most steps the fork may take after its fork step`) }
    })
    expect(await runCount()).toBe(before)
  })

  it("refuses a max_steps past 2^53 - 1 (an integer, read as 9007199254740992) with the range, not 'Expected an integer', creating nothing", async () => {
    const before = await runCount()
    const r = await call(`${server.url}/v1/runs/${parent}/counterfactual`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"mutation": ${JSON.stringify(LOOP)}, "max_steps": 9007199254740993}`
    })
    expect(r.status).toBe(400)
    expect(r.body["error"]).toMatchObject({
      type: "InputError",
      message: expect.stringContaining("max_steps: Expected a whole number from 1 to 9007199254740991, actual 9007199254740992 (fix: "),
      details: { field: "max_steps" }
    })
    expect(await runCount()).toBe(before)
    // The largest allowed is taken (the fork ends as it would without a budget).
    const largest = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { json: { max_steps: Number.MAX_SAFE_INTEGER } })
    expect(largest.status).toBe(201)
    expect((await call(`${server.url}/v1/runs/${largest.body["cf_run_id"]}`)).body).toMatchObject({ status: "done", fork_max_steps: Number.MAX_SAFE_INTEGER })
  })

  it("GET /v1/runs/{id} shows live_after_fork as GET /v1/runs lists it (false for a run, true for a fork made with it)", async () => {
    const live = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { json: { from_step: 1, live_after_fork: true } })
    expect(live.status).toBe(201)
    const listed = (await call(`${server.url}/v1/runs?limit=500`)).body["runs"] as Array<Record<string, unknown>>
    for (const [runId, expected] of [[parent, false], [live.body["cf_run_id"] as string, true]] as const) {
      expect(listed.find((r) => r["run_id"] === runId)?.["live_after_fork"]).toBe(expected)
      // Read twice: the second answer of an ended run is the cached one.
      for (let i = 0; i < 2; i++) expect((await call(`${server.url}/v1/runs/${runId}`)).body["live_after_fork"]).toBe(expected)
    }
  })

  it("a fork stopped at a breakpoint keeps its budget when the server resumes it", async () => {
    const r = await call(`${server.url}/v1/runs/${parent}/counterfactual`, { json: { from_step: 1, mutation: LOOP, max_steps: 2, interrupt_after: ["count"] } })
    expect([r.status, r.body["status"]]).toEqual([201, "awaiting-input"])
    const cf = r.body["cf_run_id"] as string
    const seen: Array<string> = []
    for (let i = 0; i < 4; i++) {
      expect((await call(`${server.url}/v1/runs/${cf}/resume`, { method: "POST" })).status).toBe(202)
      const now = await waitFor(`${server.url}/v1/runs/${cf}`, (b) => b["status"] === "failed" || (b["status"] === "awaiting-input" && b["steps"] > 2 + i))
      seen.push(`${now.body["status"]}@${now.body["steps"]}`)
      if (now.body["status"] !== "awaiting-input") {
        expect(now.body["error"]).toMatchObject({ type: "StepLimitError", message: expect.stringContaining("max_steps 2 after its fork step 1 (its steps 2..3 are kept)") })
        break
      }
    }
    expect(seen).toEqual(["awaiting-input@3", "failed@3"])
    expect(await nodesOf(cf)).toEqual([0, 1, 2, 3])
  })
})
