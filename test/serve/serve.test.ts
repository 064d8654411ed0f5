import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { connect } from "node:net"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Validator } from "@seriousme/openapi-schema-validator"
import WebSocket from "ws"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Serve from "../../src/serve/server.js"
import { StargraphApi } from "../../src/serve/StargraphApi.js"
import { ApiError, CheckpointError, RunStateError } from "../../src/errors.js"
import { canonicalJson } from "../../src/ir/hash.js"
import { OWNER } from "../../src/runtime/owner.js"
import * as WebhookTrigger from "../../src/triggers/WebhookTrigger.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

/** A running server in its own scope. */
const boot = async (options: Serve.ServeOptions) => {
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(Serve.start({ port: 0, ...options }).pipe(Scope.extend(scope)))
  return { ...started, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const call = async (url: string, init: RequestInit & { json?: unknown } = {}) => {
  const response = await fetch(url, {
    ...init,
    ...(init.json !== undefined ? { body: JSON.stringify(init.json), method: init.method ?? "POST", headers: { "content-type": "application/json", ...init.headers } } : {})
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, body: text ? JSON.parse(text) as Record<string, any> : {} }
}

const waitFor = async (url: string, until: (body: Record<string, any>) => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms
  for (;;) {
    const r = await call(url)
    if (until(r.body) || Date.now() > deadline) return r
    await new Promise((res) => setTimeout(res, 25))
  }
}

let dir: string
let graphs: string
let db: string
let server: Awaited<ReturnType<typeof boot>>

beforeAll(async () => {
  dir = tempDir()
  graphs = join(dir, "graphs")
  mkdirSync(join(graphs, "slow"), { recursive: true })
  for (const name of ["hello", "approval"]) {
    mkdirSync(join(graphs, name))
    for (const f of ["graph.yaml", "nodes.ts"]) {
      try {
        writeFileSync(join(graphs, name, f), readFileSync(join(ROOT, "examples", name, f)))
      } catch { /* approval has no nodes.ts */ }
    }
  }
  writeFileSync(join(graphs, "slow", "nodes.js"), "export const tick = async (s) => { await new Promise((r) => setTimeout(r, 150)); return { n: s.n + 1 } }\n")
  writeFileSync(join(graphs, "slow", "graph.yaml"), [
    "ir_version: \"1.0.0\"", "id: run:slow",
    "state_schema: { fields: { n: { type: integer, default: 0 } } }",
    "nodes:", "  - { id: a, kind: function, module: ./nodes.js, export: tick }", "  - { id: b, kind: function, module: ./nodes.js, export: tick }",
    "  - { id: c, kind: function, module: ./nodes.js, export: tick }",
    "edges: [{ from: a, to: b }, { from: b, to: c }]", ""
  ].join("\n"))
  // A node that asks twice in one step: two stops at the same step.
  mkdirSync(join(graphs, "twoq"))
  writeFileSync(join(graphs, "twoq", "nodes.js"), "export const ask = async (_s, ctx) => ({ out: `${await ctx.interrupt(\"Who approves?\")}:${await ctx.interrupt(\"Why?\")}` })\n")
  writeFileSync(join(graphs, "twoq", "graph.yaml"), [
    "ir_version: \"1.0.0\"", "id: run:twoq",
    "state_schema: { fields: { out: { type: string, default: \"\" } } }",
    "nodes:", "  - { id: first, kind: set, values: { out: x } }", "  - { id: ask, kind: function, module: ./nodes.js, export: ask }",
    "edges: [{ from: first, to: ask }]", ""
  ].join("\n"))
  db = join(dir, "serve.sqlite")
  server = await boot({ db, graphs: [graphs], auditLog: join(dir, "audit.jsonl"), scheduler: { pollIntervalMs: 50 }, maxBodyBytes: 64 * 1024 })
})

afterAll(async () => {
  await server?.close()
})

describe("stargraph serve: the tutorial flow", () => {
  it("POST /v1/runs executes the graph; GET shows done; a CLI run on the same DB is visible too", async () => {
    const health = await call(`${server.url}/healthz`)
    expect(health.body).toMatchObject({ status: "ok", graphs: 4 })
    const created = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", params: { message: "hello" }, idempotency_key: "k1" } })
    expect(created.status).toBe(202)
    expect(created.body).toMatchObject({ status: "pending", deduplicated: false })
    expect(created.body["run_id"]).toMatch(/^run-[0-9a-f-]{36}$/)
    const done = await waitFor(`${server.url}/v1/runs/${created.body["run_id"]}`, (b) => b["status"] === "done")
    expect(done.body).toMatchObject({ status: "done", graph_id: "run:hello-stargraph", steps: 5 })
    expect(done.body["graph_hash"]).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(done.body["final_state"]["summary"]).toBe("Hello, hello! after 3 rounds (4 log entries)")
    // A finished run's response is served from the cache afterwards: same JSON, same type.
    const cachedView = await call(`${server.url}/v1/runs/${created.body["run_id"]}`)
    expect(cachedView.status).toBe(200)
    expect(cachedView.headers.get("content-type")).toMatch(/^application\/json/)
    expect(cachedView.body).toEqual(done.body)
    const again = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", params: { message: "hello" }, idempotency_key: "k1" } })
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ run_id: created.body["run_id"], deduplicated: true })
    // The keys triggers and subgraphs use are theirs: a client cannot claim a webhook
    // delivery, a cron tick or a child run by creating a run with its key first.
    for (const key of ["trigger:0123abcd", "subgraph:run-1:3:child"]) {
      const claimed = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", params: { message: "x" }, idempotency_key: key } })
      expect(claimed.status).toBe(400)
      expect(claimed.body).toMatchObject({ error: { type: "InputError", details: { field: "idempotency_key" } } })
    }
    const checkpoints = await call(`${server.url}/v1/runs/${created.body["run_id"]}/checkpoints`)
    expect(checkpoints.body["checkpoints"].map((c: { node: string }) => c.node)).toEqual(["__input__", "greet", "count", "count", "count", "summarise"])
    const artifacts = await call(`${server.url}/v1/runs/${created.body["run_id"]}/artifacts`)
    // Each step's node outputs; the hello graph stores no artifacts.
    expect(artifacts.body["outputs"]).toHaveLength(5)
    expect(artifacts.body["artifacts"]).toEqual([])

    const cli = await stargraph(["run", join(graphs, "hello", "graph.yaml"), "--inputs", "message=cli", "--checkpoint", db, "--no-summary"])
    expect(cli.code).toBe(0)
    const seen = await call(`${server.url}/v1/runs/${runIdOf(cli.last)}`)
    expect(seen.body).toMatchObject({ status: "done", final_state: { message: "cli" } })
    const graphList = await call(`${server.url}/v1/graphs`)
    expect(graphList.body["graphs"].map((g: { id: string }) => g.id).sort()).toEqual(["run:approval", "run:hello-stargraph", "run:slow", "run:twoq"])
    // Where each graph was found, relative to the served folder: never the server's absolute path.
    const sources = Object.fromEntries(graphList.body["graphs"].map((g: { id: string; source: string | null }) => [g.id, g.source]))
    expect(sources).toEqual({ "run:approval": "approval/graph.yaml", "run:hello-stargraph": "hello/graph.yaml", "run:slow": "slow/graph.yaml", "run:twoq": "twoq/graph.yaml" })
    expect(JSON.stringify(graphList.body)).not.toContain(graphs)
  })

  it("pages 250 runs with a cursor, newest first, filtered by status and graph", async () => {
    const local = await boot({ db: join(tempDir(), "db.sqlite"), graphs: [join(graphs, "hello")] })
    try {
      for (let i = 0; i < 250; i += 25) {
        await Promise.all(Array.from({ length: 25 }, (_, j) =>
          call(`${local.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", params: { message: `m${i + j}` } } })))
      }
      const seen: Array<string> = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page: { body: Record<string, any> } = await call(`${local.url}/v1/runs?limit=100${cursor ? `&cursor=${cursor}` : ""}&graph_id=run:hello-stargraph`)
        seen.push(...page.body["runs"].map((r: { run_id: string }) => r.run_id))
        cursor = page.body["next_cursor"]
        pages++
      } while (cursor)
      expect(pages).toBe(3)
      expect(seen).toHaveLength(250)
      expect(new Set(seen).size).toBe(250)
      const bad = await call(`${local.url}/v1/runs?status=sleeping`)
      expect(bad.status).toBe(400)
      expect(bad.body["error"]).toMatchObject({ type: "InputError", details: { field: "status", fix: expect.stringMatching(/^use one of: pending, running, .*done/) } })
      expect(bad.body["error"]["message"]).toMatch(/^InputError: status: Expected one of "pending" \| "running" \| .*, actual "sleeping" \(fix: /)
      const inputs = await call(`${local.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", inputs: { message: "x" } } })
      expect([inputs.status, inputs.body["error"]["details"]]).toEqual([400, expect.objectContaining({ field: "inputs", fix: "send a run's initial state as \"params\": {…}" })])
      const badCursor = await call(`${local.url}/v1/runs?cursor=!!!`)
      expect(badCursor.status).toBe(400)
    } finally {
      await local.close()
    }
  })
})

describe("idempotency keys over HTTP", () => {
  /** Every run of `graph`, page by page. */
  const runsOf = async (graph: string) => {
    const ids: Array<string> = []
    for (let cursor: string | null = null, first = true; first || cursor !== null; first = false) {
      const page = await call(`${server.url}/v1/runs?graph_id=${encodeURIComponent(graph)}&limit=500${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`)
      ids.push(...page.body["runs"].map((r: { run_id: string }) => r.run_id))
      cursor = page.body["next_cursor"]
    }
    return ids
  }
  const raw = (body: string) => call(`${server.url}/v1/runs`, { method: "POST", body, headers: { "content-type": "application/json" } })

  it("20 parallel identical requests make one run; a byte-identical retry, or one with its keys reordered and other whitespace, gets it (200)", async () => {
    const key = `same-${Date.now()}`
    const body = JSON.stringify({ graph_id: "run:hello-stargraph", params: { message: "hi", rounds: 1 }, idempotency_key: key })
    const answers = await Promise.all(Array.from({ length: 20 }, () => raw(body)))
    expect(answers.map((a) => a.status).sort()).toEqual([...Array.from({ length: 19 }, () => 200), 202])
    const runId = answers.find((a) => a.status === 202)!.body["run_id"]
    expect(new Set(answers.map((a) => a.body["run_id"]))).toEqual(new Set([runId]))
    const reordered = `{\n  "idempotency_key" : "${key}",\n  "params": {"rounds": 1,   "message":"hi"},\n  "graph_id":"run:hello-stargraph"\n}`
    for (const retry of [body, reordered]) {
      const again = await raw(retry)
      expect([again.status, again.body["run_id"], again.body["deduplicated"]]).toEqual([200, runId, true])
    }
  })

  it("a used key with other params, another thread_id or other breakpoints is a 409 naming the key, the run, the field and the fix; nothing is written", async () => {
    const key = `differ-${Date.now()}`
    const created = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", params: { message: "first" }, idempotency_key: key } })
    expect(created.status).toBe(202)
    const runId = created.body["run_id"]
    const done = await waitFor(`${server.url}/v1/runs/${runId}`, (b) => b["status"] === "done")
    const before = await runsOf("run:hello-stargraph")
    const cases = [
      [{ params: { message: "second" } }, "params", /started with other params \(they differ at 'message'\)/],
      [{ params: { message: "first", rounds: 2 } }, "params", /they differ at 'rounds'/],
      [{ params: { message: "first" }, thread_id: "t-1" }, "thread_id", /started on no thread/],
      [{ params: { message: "first" }, interrupt_before: ["greet"] }, "interrupt_before", /interrupt_before: none, not greet/]
    ] as const
    for (const [fields, field, message] of cases) {
      const refused = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", idempotency_key: key, ...fields } })
      expect(refused.status, field).toBe(409)
      expect(refused.body["error"], field).toMatchObject({ type: "RunStateError", details: { reason: "idempotency-key-reused", field, runId, status: "done", operation: "enqueue" } })
      expect(refused.body["error"]["message"]).toContain(`idempotency key '${key}' already belongs to run ${runId}`)
      expect(refused.body["error"]["message"]).toMatch(message)
      expect(refused.body["error"]["details"]["fix"]).toMatch(/use a new idempotency key for this request, or resend the request run \S+ was started with/)
    }
    expect(await runsOf("run:hello-stargraph")).toEqual(before)
    const after = await call(`${server.url}/v1/runs/${runId}`)
    expect(after.body).toEqual(done.body)
    expect(after.body["inputs"]).toEqual({ message: "first" })
  })
})

describe("finished runs another process deletes", () => {
  it("a finished run served from the server's memory answers 404 once another process prunes it from the database; the others are still served", async () => {
    const own = join(tempDir(), "pruned")
    mkdirSync(own)
    writeFileSync(join(own, "graph.yaml"), ["ir_version: \"1.0.0\"", "id: run:pruned", "state_schema: { fields: { n: { type: integer, default: 0 } } }", "nodes: [{ id: a, kind: noop }]", ""].join("\n"))
    const ownDb = join(own, "pruned.sqlite")
    const other = await boot({ db: ownDb, graphs: [own], scheduler: { pollIntervalMs: 50 } })
    try {
      const finished = async () => {
        const created = await call(`${other.url}/v1/runs`, { json: { graph_id: "run:pruned" } })
        expect(created.status).toBe(202)
        const done = await waitFor(`${other.url}/v1/runs/${created.body["run_id"]}`, (b) => b["status"] === "done")
        expect(done.body["status"]).toBe("done")
        // Read again: now from the server's memory.
        expect((await call(`${other.url}/v1/runs/${created.body["run_id"]}`)).body).toEqual(done.body)
        return { id: created.body["run_id"] as string, view: done.body }
      }
      const old = await finished()
      const cut = new Date(Date.now() + 5).toISOString()
      await new Promise((r) => setTimeout(r, 20))
      const kept = await finished()
      // Another process on the same file (the CLI) deletes the older run.
      const pruned = await stargraph(["prune", "--db", ownDb, "--before", cut])
      expect(pruned.code, pruned.stderr).toBe(0)
      expect(pruned.stdout).toContain("deleted 1 run ")
      const unknown = await call(`${other.url}/v1/runs/run-unknown`)
      for (let i = 0; i < 2; i++) {
        const gone = await call(`${other.url}/v1/runs/${old.id}`)
        // The envelope of any unknown run's 404.
        expect([gone.status, gone.body["error"]?.["details"]?.["reason"]]).toEqual([404, "unknown-run"])
        expect(gone.body).toEqual(JSON.parse(unknown.text.replaceAll("run-unknown", old.id)))
      }
      const still = await call(`${other.url}/v1/runs/${kept.id}`)
      expect([still.status, still.body]).toEqual([200, kept.view])
    } finally {
      await other.close()
    }
  }, 30_000)
})

describe("run control over HTTP", () => {
  it("respond answers an awaiting-input run warm; the state rules give 409s", async () => {
    const created = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:approval", params: { request: "rotate keys" } } })
    const id = created.body["run_id"]
    const waiting = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input")
    expect(waiting.body["waiting"]).toMatchObject({ node: "review", response_field: "decision" })
    expect((await call(`${server.url}/v1/runs/${id}/pause`, { method: "POST" })).status).toBe(409)
    expect((await call(`${server.url}/v1/runs/${id}/resume`, { method: "POST" })).status).toBe(409)
    const invalid = await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: { approved: "yes" } } })
    expect(invalid.status).toBe(400)
    expect(invalid.body["error"]).toMatchObject({ type: "StateValidationError", details: { field: "decision.approved", fix: expect.stringContaining('{"response": <JSON>}') } })
    const missing = await call(`${server.url}/v1/runs/${id}/respond`, { json: {} })
    expect(missing.status).toBe(400)
    expect(missing.body["error"]).toMatchObject({ type: "InputError", details: { field: "response", fix: expect.stringContaining('{"response": <JSON>}') } })
    const unknownField = await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: { approved: true }, extra: 1 } })
    expect(unknownField.status).toBe(400)
    expect(unknownField.body["error"]).toMatchObject({ type: "InputError", details: { field: "extra" } })
    expect(unknownField.body["error"]["details"]["fix"]).toBe("remove the unknown field 'extra' (unknown fields are refused)")
    // A field close to a known one: did you mean it?
    const misnamed = await call(`${server.url}/v1/runs/${id}/respond`, { json: { answer: { approved: true } } })
    expect([misnamed.status, misnamed.body["error"]["details"]["field"], misnamed.body["error"]["details"]["fix"]]).toEqual([400, "answer", "did you mean 'response'? rename 'answer' to 'response' (unknown fields are refused)"])
    const ok = await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: { approved: true } } })
    expect(ok.status).toBe(202)
    const done = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "done")
    expect(done.body["final_state"]["outcome"]).toContain("published")
    const late = await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: { approved: true } } })
    expect(late.status).toBe(409)
    expect(late.body["error"]["type"]).toBe("RunStateError")
    // A late answer is told the question was answered (by whom, when), not given advice to resume.
    expect(late.body["error"]["message"]).toMatch(new RegExp(`^RunStateError: run ${id} was already answered by '[^']+' at \\d{4}-.*: it went on and is now done; this answer was not applied`))
    expect((await call(`${server.url}/v1/runs/${id}/cancel`, { method: "POST" })).status).toBe(409)
    expect((await call(`${server.url}/v1/runs/run-nope/cancel`, { method: "POST" })).status).toBe(404)
  })

  it("cancelling a child run its parent waits on is a 409 naming the parent; the parent still waits and its answer goes through", async () => {
    // A subgraph whose child run asks for approval (its parent waits on it), on a server of its own.
    const own = join(tempDir(), "subappr")
    mkdirSync(own)
    for (const f of ["approval-parent.yaml", "approval-child.yaml"]) writeFileSync(join(own, f), readFileSync(join(ROOT, "test", "fixtures", "subgraph", f)))
    const local = await boot({ db: join(own, "db.sqlite"), graphs: [join(own, "approval-parent.yaml")], scheduler: { pollIntervalMs: 50 } })
    try {
      const created = await call(`${local.url}/v1/runs`, { json: { graph_id: "run:approval-parent", params: { request: "deploy" } } })
      const parent = created.body["run_id"]
      const waiting = await waitFor(`${local.url}/v1/runs/${parent}`, (b) => b["status"] === "awaiting-input")
      const child = waiting.body["waiting"]["payload"]["child_run_id"]
      const refused = await call(`${local.url}/v1/runs/${child}/cancel`, { method: "POST" })
      expect(refused.status).toBe(409)
      expect(refused.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "cancel" } })
      expect(refused.body["error"]["message"]).toContain(
        `run ${child} is a subgraph's child run whose parent run ${parent} (awaiting-input) waits on it at node 'review'; ` +
          `cancelling the child alone would leave the parent waiting on a question nobody can answer. Cancel the parent (POST /v1/runs/${parent}/cancel)`
      )
      expect((await call(`${local.url}/v1/runs/${child}`)).body["status"]).toBe("awaiting-input")
      expect((await call(`${local.url}/v1/runs/${parent}/respond`, { json: { response: "approved" } })).status).toBe(202)
      const done = await waitFor(`${local.url}/v1/runs/${parent}`, (b) => b["status"] === "done")
      expect(done.body["final_state"]).toMatchObject({ decision: "approved" })
    } finally {
      await local.close()
    }
  })

  it("two answers to one wait at once: one is taken, the other gets a 409 saying it was already answered, never a silent 202", async () => {
    for (let round = 0; round < 4; round++) {
      const created = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:approval", params: { request: `race ${round}` } } })
      const id = created.body["run_id"]
      await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input")
      const answers = await Promise.all([true, false].map((approved) => call(`${server.url}/v1/runs/${id}/respond`, { json: { response: { approved } } })))
      expect(answers.map((a) => a.status).sort()).toEqual([202, 409])
      const loser = answers.find((a) => a.status === 409)!
      expect(loser.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "respond" } })
      expect(loser.body["error"]["message"]).toMatch(new RegExp(`^RunStateError: run ${id} was already answered by '[^']+' at .*; this answer was not applied`))
      expect(loser.body["error"]["message"]).not.toContain("/resume")
      const done = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "done")
      // The winner's answer is the one applied.
      const winner = answers.indexOf(answers.find((a) => a.status === 202)!) === 0
      expect(done.body["final_state"]["outcome"]).toContain(winner ? "published" : "rejected")
    }
  }, 30_000)

  it("a run a dead process left running can be resumed or cancelled over HTTP (a server that does not adopt it)", async () => {
    const own = join(dir, "orphans.sqlite")
    const quiet = await boot({ db: own, graphs: [graphs], scheduler: { pollIntervalMs: 50, pickUpPending: false } })
    try {
      const dead = `${hostname()}:999999999`
      // The first run was taken over once before, from another dead process (by the one now dead).
      const before = { from: `${hostname()}:999999998`, to: dead, reason: "owner-exited" as const, at: "2026-11-20T10:00:00.000Z" }
      const ids = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.load(join(graphs, "slow", "graph.yaml"))
        const checkpointer = yield* Checkpointer
        const ids = yield* Effect.forEach([0, 1], () =>
          Effect.flatMap(Effect.flatMap(graph.newRun({ inputs: {} }), checkpointer.createRun), ({ record }) =>
            Effect.as(checkpointer.updateRun(record.run_id, { status: "running", owner: before.from }), record.run_id)))
        expect(yield* checkpointer.takeOver(ids[0]!, { status: "running", owner: before.from }, { owner: dead, taken_over: before })).toBe(true)
        yield* checkpointer.updateRun(ids[1]!, { owner: dead })
        return ids
      }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: own }))))
      expect((await call(`${quiet.url}/v1/runs/${ids[0]}/cancel`, { method: "POST" })).body).toMatchObject({ status: "cancelled" })
      expect((await call(`${quiet.url}/v1/runs/${ids[1]}/resume`, { method: "POST" })).status).toBe(202)
      expect((await waitFor(`${quiet.url}/v1/runs/${ids[1]}`, (b) => b["status"] === "done")).body).toMatchObject({ status: "done", final_state: { n: 3 } })
      // Both take-overs are recorded, naming the dead process (the resumed run's claim found no owner left to name).
      const now = { from: dead, to: OWNER, reason: "owner-exited", at: expect.stringMatching(/^\d{4}-/) }
      for (const [i, id] of ids.entries()) {
        const view = (await call(`${quiet.url}/v1/runs/${id}`)).body
        expect([view["taken_over"], view["takeovers"]]).toEqual([now, i === 0 ? [before, now] : [now]])
      }
    } finally {
      await quiet.close()
    }
  })

  it("pause stops after the current step, resume finishes it, cancel stops a running run", async () => {
    const created = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:slow", params: {} } })
    const id = created.body["run_id"]
    await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "running")
    expect((await call(`${server.url}/v1/runs/${id}/pause`, { method: "POST" })).status).toBe(202)
    const paused = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "paused")
    expect(paused.body["status"]).toBe("paused")
    expect(paused.body["steps"]).toBeLessThan(3)
    expect((await call(`${server.url}/v1/runs/${id}/resume`, { method: "POST" })).status).toBe(202)
    const done = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "done")
    expect(done.body["final_state"]).toEqual({ n: 3 })

    const second = (await call(`${server.url}/v1/runs`, { json: { graph_id: "run:slow", params: {} } })).body["run_id"]
    await waitFor(`${server.url}/v1/runs/${second}`, (b) => b["status"] === "running")
    const cancelled = await call(`${server.url}/v1/runs/${second}/cancel`, { method: "POST" })
    expect(cancelled.body).toMatchObject({ status: "cancelled" })
    const counterfactual = await call(`${server.url}/v1/runs/${id}/counterfactual`, { json: { from_step: 1, mutation: { state_overrides: { n: 10 } } } })
    expect(counterfactual.status).toBe(201)
    expect(counterfactual.body["cf_run_id"]).toMatch(/^cf-/)
    expect(counterfactual.body).toMatchObject({ status: "done", diff: { state_deltas: { "3:c": [{ op: "replace", path: "/n", parent: 3, fork: 12 }] } } })
    // The body is RFC 8785 canonical JSON, as the CLI prints the diff.
    expect(counterfactual.text).toBe(canonicalJson(counterfactual.body))
    expect(counterfactual.headers.get("content-type")).toMatch(/^application\/json/)
    // A mutation that is not an object is told in JSON's terms, not the schema's.
    const stringMutation = await call(`${server.url}/v1/runs/${id}/counterfactual`, { json: { mutation: "{}" } })
    expect([stringMutation.status, stringMutation.body["error"]["details"]["field"], stringMutation.body["error"]["details"]["message"]]).toEqual([400, "mutation", "expected a JSON object, got a string"])
    const badOverride = await call(`${server.url}/v1/runs/${id}/counterfactual`, { json: { mutation: { node_output_overrides: { c: [1] } } } })
    expect([badOverride.body["error"]["details"]["field"], badOverride.body["error"]["details"]["message"]]).toEqual(["mutation.node_output_overrides.c", "expected a JSON object, got an array"])
    // A value that may be one of several (a fact: text or an object) is not said to be an object.
    const numberFact = await call(`${server.url}/v1/runs/${id}/counterfactual`, { json: { mutation: { facts_assert: [1] } } })
    expect([numberFact.body["error"]["details"]["field"], numberFact.body["error"]["details"]["message"]]).toEqual(["mutation.facts_assert.0", expect.stringMatching(/^Expected one of string, /)])
    const beyond = await call(`${server.url}/v1/runs/${id}/counterfactual`, { json: { from_step: 99 } })
    expect([beyond.status, beyond.body["error"]["details"]["field"]]).toEqual([400, "from_step"])
  })
})

describe("streams", () => {
  it("streams events over SSE and WebSocket, replaying past events to a late client", async () => {
    const id = (await call(`${server.url}/v1/runs`, { json: { graph_id: "run:slow", params: {} } })).body["run_id"]
    const wsEvents: Array<{ type: string; seq: number }> = []
    const wsDone = new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${server.url.replace("http", "ws")}/v1/runs/${id}/stream`)
      ws.on("message", (data: unknown) => wsEvents.push(JSON.parse(String(data))))
      ws.on("close", () => resolve())
      ws.on("error", reject)
    })
    const sse = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { accept: "text/event-stream" } })
    expect(sse.headers.get("content-type")).toContain("text/event-stream")
    const text = await sse.text()
    await wsDone
    const sseTypes = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1])
    expect(sseTypes[0]).toBe("run.started")
    expect(sseTypes[sseTypes.length - 1]).toBe("run.finished")
    expect(sseTypes.filter((t) => t === "step.completed")).toHaveLength(3)
    expect(wsEvents.map((e) => e.type)).toEqual(sseTypes)
    // A client connecting after the run finished still gets the whole story.
    const late = await (await fetch(`${server.url}/v1/runs/${id}/stream`)).text()
    expect([...late.matchAll(/^event: (.+)$/gm)].map((m) => m[1])).toEqual(["run.started", "step.completed", "step.completed", "step.completed", "run.finished"])
    // Event ids say where the run was (its last completed step; `.end` for the last event),
    // the same live and read back, so a reconnect resumes where it left off.
    const ids = (body: string) => [...body.matchAll(/^id: (.+)\nevent: (step\.completed|run\.finished)$/gm)].map((m) => `${m[2]}@${m[1]}`)
    expect(ids(late)).toEqual(["step.completed@1", "step.completed@2", "step.completed@3", "run.finished@3.end"])
    expect(ids(text)).toEqual(ids(late))
    const resumed = await (await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": "1" } })).text()
    expect([...resumed.matchAll(/^id: (.+)$/gm)].map((m) => m[1])).toEqual(["2", "3", "3.end"])
    const ended = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": "3.end" } })
    expect([ended.status, await ended.text()]).toEqual([204, ""])
  })

  it("a reconnect after a run's waiting end gets the steps it ran once answered; 204 only after its final end", async () => {
    const id = (await call(`${server.url}/v1/runs`, { json: { graph_id: "run:approval", params: { request: "rotate keys" } } })).body["run_id"]
    await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input")
    const events = (body: string) => [...body.matchAll(/^id: (.+)\nevent: (.+)$/gm)].map((m) => `${m[2]}@${m[1]}`)
    const first = events(await (await fetch(`${server.url}/v1/runs/${id}/stream`)).text())
    // A stop the run may go on from: `.end.` and which stop (here, what it waits for).
    const waitId = first[first.length - 1]!.replace(/^run\.waiting@/, "")
    expect(waitId).toMatch(/^1\.end\.w[0-9a-f]{12}$/)
    // A reconnect while the run still waits there is held open (not answered empty, to be
    // retried at once), and gets the steps once the run goes on.
    const held = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": waitId } })
    expect(held.status).toBe(200)
    const heldText = held.text()
    const early = await Promise.race([heldText.then(() => "ended"), new Promise((resolve) => setTimeout(() => resolve("open"), 1500))])
    expect(early).toBe("open")
    expect((await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: { approved: true } } })).status).toBe(202)
    const done = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "done")
    const last = done.body["steps"] as number
    const heldBody = await heldText
    expect(heldBody.startsWith(": run awaiting-input; the events follow once it goes on\n\n")).toBe(true)
    expect(events(heldBody)).toEqual([
      ...Array.from({ length: last - 1 }, (_, i) => `step.completed@${i + 2}`),
      `run.finished@${last}.end`
    ])
    // The client saw the run stop at step 1, not finish: it gets what followed, not 204.
    const again = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": waitId } })
    expect(again.status).toBe(200)
    expect(events(await again.text())).toEqual([
      ...Array.from({ length: last - 1 }, (_, i) => `step.completed@${i + 2}`),
      `run.finished@${last}.end`
    ])
    const ended = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": `${last}.end` } })
    expect([ended.status, await ended.text()]).toEqual([204, ""])
    // An end past the finished run's (an id from before a restore): nothing will follow either.
    const past = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": `${last + 90}.end` } })
    expect([past.status, await past.text()]).toEqual([204, ""])
  })

  it("a stream held on a waiting run that is then cancelled gets its run.cancelled end (same step), and a reconnect after it 204", async () => {
    const id = (await call(`${server.url}/v1/runs`, { json: { graph_id: "run:approval", params: { request: "drop table" } } })).body["run_id"]
    await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input")
    const waitId = [...(await (await fetch(`${server.url}/v1/runs/${id}/stream`)).text()).matchAll(/^id: (.+)$/gm)].map((m) => m[1]).pop()!
    const held = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": waitId } })
    const heldText = held.text()
    expect((await call(`${server.url}/v1/runs/${id}/cancel`, { method: "POST" })).status).toBe(200)
    expect([...(await heldText).matchAll(/^id: (.+)\nevent: (.+)$/gm)].map((m) => `${m[2]}@${m[1]}`)).toEqual(["run.cancelled@1.end"])
    // The wait it saw is not the end: a reconnect with it gets the cancellation; one with the end, 204.
    const before = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": waitId } })
    expect([...(await before.text()).matchAll(/^id: (.+)\nevent: (.+)$/gm)].map((m) => `${m[2]}@${m[1]}`)).toEqual(["run.cancelled@1.end"])
    const after = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": "1.end" } })
    expect([after.status, await after.text()]).toEqual([204, ""])
  })

  it("a node that asks again at the same step: each question has its own id, a held stream gets the second, and a reconnect with the first is not held", async () => {
    const id = (await call(`${server.url}/v1/runs`, { json: { graph_id: "run:twoq" } })).body["run_id"]
    await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input")
    const events = (body: string) => [...body.matchAll(/^id: (.+)\nevent: (.+)\ndata: (.+)$/gm)].map((m) => ({ id: m[1]!, type: m[2]!, data: JSON.parse(m[3]!) }))
    const first = events(await (await fetch(`${server.url}/v1/runs/${id}/stream`)).text()).pop()!
    expect([first.type, first.data.waiting.prompt]).toEqual(["run.waiting", "Who approves?"])
    const held = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": first.id } })
    const heldText = held.text()
    expect((await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: "alice" } })).status).toBe(202)
    // Still step 1, still awaiting-input: the held stream sees the run moved on to the next question.
    const second = events(await heldText)
    expect(second.map((e) => [e.type, e.data.waiting?.prompt])).toEqual([["run.waiting", "Why?"]])
    expect(second[0]!.id).toMatch(/^1\.end\.w[0-9a-f]{12}$/)
    expect(second[0]!.id).not.toBe(first.id)
    // Read back, the question has the id it had live, and the time it was asked, on every read.
    const reads = [await (await fetch(`${server.url}/v1/runs/${id}/stream`)).text(), await (await fetch(`${server.url}/v1/runs/${id}/stream`)).text()].map((t) => events(t).pop()!)
    expect(reads.map((e) => e.id)).toEqual([second[0]!.id, second[0]!.id])
    const askedAt = (await call(`${server.url}/v1/runs/${id}`)).body["waiting"]["asked_at"]
    expect(Date.parse(askedAt)).toBeGreaterThan(0)
    expect(reads.map((e) => e.data.at)).toEqual([askedAt, askedAt])
    // A client that saw only the first question gets the second at once.
    const late = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": first.id } })
    expect(events(await late.text()).map((e) => e.data.waiting?.prompt)).toEqual(["Why?"])
    // One that saw the second is held until the run goes on.
    const current = await fetch(`${server.url}/v1/runs/${id}/stream`, { headers: { "last-event-id": second[0]!.id } })
    const currentText = current.text()
    expect(await Promise.race([currentText.then(() => "ended"), new Promise((resolve) => setTimeout(() => resolve("open"), 1500))])).toBe("open")
    expect((await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: "cleanup" } })).status).toBe(202)
    const rest = events(await currentText)
    expect(rest.map((e) => `${e.type}@${e.id}`)).toEqual(["step.completed@2", "run.finished@2.end"])
    expect(rest[1]!.data.final_state.out).toBe("alice:cleanup")
  })
})

describe("answering a specific wait over HTTP (wait_id)", () => {
  it("the wait id agrees between GET and the SSE end id; a late answer naming the first question (answered, the node asked again) gets a 409 saying it was answered, naming the second, nothing changes; the right id is taken", async () => {
    const id = (await call(`${server.url}/v1/runs`, { json: { graph_id: "run:twoq" } })).body["run_id"]
    const asked = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input")
    const first = asked.body["waiting"]["wait_id"] as string
    expect(first).toMatch(/^w[0-9a-f]{12}$/)
    const endId = async () => [...(await (await fetch(`${server.url}/v1/runs/${id}/stream`)).text()).matchAll(/^id: (.+)$/gm)].pop()![1]
    expect(await endId()).toBe(`1.end.${first}`)
    expect((await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: "alice", wait_id: first } })).status).toBe(202)
    const again = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input" && b["waiting"]["prompt"] === "Why?")
    const second = again.body["waiting"]["wait_id"] as string
    expect(second).not.toBe(first)
    expect(await endId()).toBe(`1.end.${second}`)
    const checkpoints = (await call(`${server.url}/v1/runs/${id}/checkpoints`)).text
    const late = await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: "mallory", wait_id: first } })
    expect(late.status).toBe(409)
    expect(late.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "respond", waitId: second } })
    expect(late.body["error"]["message"]).toMatch(new RegExp(
      `^RunStateError: run ${id} was already answered by 'http:127\\.0\\.0\\.1' at \\d{4}-[^ ]+ through another process or request: it went on and now waits at node 'ask' for another answer; this answer was not applied`
    ))
    expect((await call(`${server.url}/v1/runs/${id}`)).body).toEqual(again.body)
    expect((await call(`${server.url}/v1/runs/${id}/checkpoints`)).text).toBe(checkpoints)
    expect((await call(`${server.url}/v1/runs/${id}/respond`, { json: { response: "cleanup", wait_id: second } })).status).toBe(202)
    const done = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "done")
    expect(done.body["final_state"]["out"]).toBe("alice:cleanup")
  })
})

/** A request with headers `fetch` may not set (Host), answered as status and body. */
const rawRequest = (url: string, method: string, headers: Record<string, string>, body?: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const target = new URL(url)
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, method, headers }, (res) => {
      let text = ""
      res.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on("error", reject)
    req.end(body)
  })

describe("requests a browser page of another site sends", () => {
  it("refuses cross-site requests (CSRF) and, on loopback, Host names other than its own (DNS rebinding); same-origin pages and other clients pass", async () => {
    const before = (await call(`${server.url}/v1/runs?limit=500`)).body["runs"].length
    const origin = new URL(server.url).host
    // A form or fetch from another site: text/plain, no preflight.
    const forged = await rawRequest(`${server.url}/v1/runs`, "POST", { "content-type": "text/plain", origin: "https://evil.example" }, JSON.stringify({ graph_id: "run:hello-stargraph", params: { message: "x" } }))
    expect(forged.status).toBe(403)
    expect(JSON.parse(forged.body)).toMatchObject({ error: { type: "ApiError", details: { reason: "forbidden" } } })
    expect(JSON.parse(forged.body).error.message).toMatch(/a request from a page of https:\/\/evil\.example is refused/)
    expect((await rawRequest(`${server.url}/v1/runs`, "GET", { "sec-fetch-site": "cross-site" })).status).toBe(403)
    expect((await rawRequest(`${server.url}/v1/runs`, "GET", { origin: "null" })).status).toBe(403)
    // After DNS rebinding the page's requests name the attacker's host.
    const rebound = await rawRequest(`${server.url}/v1/runs`, "GET", { host: `rebind.attacker.example:${new URL(server.url).port}` })
    expect(rebound.status).toBe(403)
    expect(JSON.parse(rebound.body).error.message).toMatch(/Host 'rebind\.attacker\.example:\d+' is not a name this server answers to .*--allowed-host/)
    expect((await call(`${server.url}/v1/runs?limit=500`)).body["runs"].length).toBe(before)
    // Its own pages, localhost, and clients that are not browsers.
    expect((await rawRequest(`${server.url}/v1/runs`, "GET", { origin: `http://${origin}`, "sec-fetch-site": "same-origin" })).status).toBe(200)
    expect((await rawRequest(`${server.url}/v1/runs`, "GET", { host: `localhost:${new URL(server.url).port}` })).status).toBe(200)
    expect((await rawRequest(`${server.url}/healthz`, "GET", {})).status).toBe(200)
  })

  it("on a public address without a token, answers its addresses, localhost and its own name only; with a token, any name", async () => {
    const open = await boot({ host: "0.0.0.0", db: join(tempDir(), "open.sqlite"), rateLimitPerMinute: 0 })
    try {
      const port = String(open.port)
      const url = `http://127.0.0.1:${port}/v1/runs`
      expect((await rawRequest(url, "GET", { host: `rebind.attacker.example:${port}` })).status).toBe(403)
      expect((await rawRequest(url, "GET", { host: `10.1.2.3:${port}` })).status).toBe(200)
      expect((await rawRequest(url, "GET", { host: `[::1]:${port}` })).status).toBe(200)
      expect((await rawRequest(url, "GET", { host: `${hostname()}:${port}` })).status).toBe(200)
    } finally {
      await open.close()
    }
    const guarded = await boot({ host: "0.0.0.0", db: join(tempDir(), "guarded.sqlite"), rateLimitPerMinute: 0, authToken: "t0ken" })
    try {
      const answer = await rawRequest(`http://127.0.0.1:${guarded.port}/v1/runs`, "GET", { host: `api.example.com:${guarded.port}`, authorization: "Bearer t0ken" })
      expect(answer.status).toBe(200)
    } finally {
      await guarded.close()
    }
  })

  it("answers the names given in allowedHosts (behind a proxy) besides its loopback names", async () => {
    const proxied = await boot({ db: join(tempDir(), "proxied.sqlite"), graphs: [join(graphs, "hello")], allowedHosts: ["stargraph.internal"] })
    try {
      const port = new URL(proxied.url).port
      expect((await rawRequest(`${proxied.url}/v1/runs`, "GET", { host: `stargraph.internal:${port}` })).status).toBe(200)
      expect((await rawRequest(`${proxied.url}/v1/runs`, "GET", { host: `127.0.0.1:${port}` })).status).toBe(200)
      expect((await rawRequest(`${proxied.url}/v1/runs`, "GET", { host: `other.internal:${port}` })).status).toBe(403)
    } finally {
      await proxied.close()
    }
  })
})

describe("behind a reverse proxy", () => {
  it("counts, audits and records runs under the X-Forwarded-For client of a trusted proxy only", async () => {
    const dir = tempDir()
    const proxied = await boot({ db: join(dir, "proxied.sqlite"), graphs: [join(graphs, "hello")], rateLimitPerMinute: 2, trustedProxies: ["127.0.0.0/8"], auditLog: join(dir, "audit.jsonl") })
    try {
      const get = (forwarded: string) => rawRequest(`${proxied.url}/v1/runs`, "GET", { "x-forwarded-for": forwarded })
      expect((await get("203.0.113.9")).status).toBe(200)
      expect((await get("203.0.113.9")).status).toBe(200)
      const limited = await get("203.0.113.9")
      expect([limited.status, JSON.parse(limited.body).error.message]).toEqual([429, "ApiError: more than 2 requests per minute from 203.0.113.9"])
      // Another client behind the same proxy has its own window; a spoofed leftmost entry changes nothing.
      expect((await get("198.51.100.4")).status).toBe(200)
      expect((await get("1.1.1.1, 203.0.113.9")).status).toBe(429)
      const created = await rawRequest(`${proxied.url}/v1/runs`, "POST", { "x-forwarded-for": "198.51.100.4", "content-type": "application/json" }, JSON.stringify({ graph_id: "run:hello-stargraph", params: { message: "hi" } }))
      const runId = JSON.parse(created.body).run_id as string
      const record = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: join(dir, "proxied.sqlite") }))))
      expect(record.pipe((r) => (r._tag === "Some" ? r.value.actor : undefined))).toBe("http:198.51.100.4")
    } finally {
      await proxied.close()
    }
    const lines = readFileSync(join(dir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { actor: string; event: string })
    expect(new Set(lines.filter((l) => l.event.startsWith("api.")).map((l) => l.actor))).toEqual(new Set(["http:203.0.113.9", "http:198.51.100.4"]))
  })

  it("ignores X-Forwarded-For from peers it does not trust, and refuses a bad --trusted-proxy at start", async () => {
    const direct = await boot({ db: join(tempDir(), "direct.sqlite"), rateLimitPerMinute: 1 })
    try {
      expect((await rawRequest(`${direct.url}/v1/runs`, "GET", { "x-forwarded-for": "203.0.113.9" })).status).toBe(200)
      const limited = await rawRequest(`${direct.url}/v1/runs`, "GET", { "x-forwarded-for": "198.51.100.4" })
      expect([limited.status, JSON.parse(limited.body).error.message]).toEqual([429, "ApiError: more than 1 request per minute from 127.0.0.1"])
    } finally {
      await direct.close()
    }
    const db = join(tempDir(), "never.sqlite")
    const refused = await Effect.runPromise(Effect.flip(Effect.scoped(Serve.start({ port: 0, db, trustedProxies: ["proxy.internal"] }))))
    expect([refused._tag, refused._tag === "InputError" ? refused.field : ""]).toEqual(["InputError", "trustedProxies"])
    expect(existsSync(db)).toBe(false)
  })
})

describe("bad requests get the envelope", () => {
  it("malformed JSON, unknown fields, huge bodies, unknown graphs, invalid params, unknown routes", async () => {
    const post = (body: string) => fetch(`${server.url}/v1/runs`, { method: "POST", body, headers: { "content-type": "application/json" } })
      .then(async (r) => ({ status: r.status, body: await r.json() as { error: { type: string; message: string; details: Record<string, unknown> } } }))
    const malformed = await post("{\"graph_id\":")
    expect([malformed.status, malformed.body.error.type, malformed.body.error.details["field"]]).toEqual([400, "InputError", "body"])
    // A body or field that is not an object is told in JSON's terms, not by the schema's name.
    for (const [body, kind] of [["null", "null"], ["[]", "an array"], ["\"x\"", "a string"], ["42", "a number"]] as const) {
      const notObject = await post(body)
      expect([notObject.status, notObject.body.error.details["field"], notObject.body.error.message]).toEqual([400, "body", `InputError: body: the request body must be a JSON object, got ${kind} (fix: see /openapi.json for this route's parameters and body)`])
    }
    const stringParams = await post(JSON.stringify({ graph_id: "run:hello-stargraph", params: "x" }))
    expect([stringParams.body.error.details["field"], stringParams.body.error.details["message"]]).toEqual(["params", "expected a JSON object, got a string"])
    const stringValues = await call(`${server.url}/v1/runs/run-unknown/state`, { json: { values: 1 } })
    expect([stringValues.body["error"]["details"]["field"], stringValues.body["error"]["details"]["message"]]).toEqual(["values", "expected a JSON object, got a number"])
    // A type keyword, a refinement and a literal keep their own message.
    const numberGraph = await post(JSON.stringify({ graph_id: 1 }))
    expect(numberGraph.body.error.details["message"]).toBe("Expected string, actual 1")
    const emptyKey = await post(JSON.stringify({ graph_id: "run:hello-stargraph", idempotency_key: "" }))
    expect(emptyKey.body.error.details["message"]).toBe("Expected a string at least 1 character(s) long, actual \"\"")
    const unknown = await post(JSON.stringify({ graph_id: "run:hello-stargraph", colour: "red" }))
    expect([unknown.status, unknown.body.error.details["field"]]).toEqual([400, "colour"])
    const misspelt = await post(JSON.stringify({ graph_id: "run:hello-stargraph", parmas: { message: "x" } }))
    expect([misspelt.status, misspelt.body.error.details["field"], misspelt.body.error.details["fix"]]).toEqual([400, "parmas", "did you mean 'params'? rename 'parmas' to 'params' (unknown fields are refused)"])
    const huge = await post(JSON.stringify({ graph_id: "run:hello-stargraph", params: { message: "x".repeat(100_000) } }))
    expect([huge.status, huge.body.error.type, huge.body.error.details["reason"]]).toEqual([413, "ApiError", "body-too-large"])
    expect(huge.body.error.message).toMatch(/exceeds the limit of \d+ bytes; send a smaller body, or start the server with a larger --max-body-bytes$/)
    // Chunked bodies (no Content-Length): read up to the limit; above it, a 413 on a live connection.
    const sendChunked = (parts: ReadonlyArray<string>) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, "127.0.0.1", () => {
          socket.write("POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
          for (const part of parts) socket.write(`${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`)
          socket.write("0\r\n\r\n")
        })
        let text = ""
        socket.on("data", (d: Buffer) => {
          text += d.toString()
          if (/\r\n\r\n\{.*\}$/s.test(text)) socket.destroy()
        })
        socket.on("close", () => resolve(text))
        socket.on("error", (e) => (text ? resolve(text) : reject(e)))
      })
    const small = JSON.stringify({ graph_id: "run:hello-stargraph", params: { message: "chunked" } })
    expect(await sendChunked([small.slice(0, 10), small.slice(10)])).toMatch(/^HTTP\/1\.1 202/)
    const tooBig = await sendChunked([`{"graph_id":"run:hello-stargraph","params":{"message":"`, ...Array.from({ length: 6 }, () => "x".repeat(16_000)), `"}}`])
    expect(tooBig).toMatch(/^HTTP\/1\.1 413/)
    expect(tooBig).toContain("\"reason\":\"body-too-large\"")
    const noGraph = await post(JSON.stringify({ graph_id: "run:nope" }))
    expect([noGraph.status, noGraph.body.error.type]).toEqual([404, "SchedulerError"])
    const badParams = await post(JSON.stringify({ graph_id: "run:hello-stargraph", params: { message: 42 } }))
    expect([badParams.status, badParams.body.error.type, badParams.body.error.details["field"]]).toEqual([400, "StateValidationError", "message"])
    // `curl -d` labels a JSON body form-urlencoded: it is still read as JSON.
    const curlStyle = await fetch(`${server.url}/v1/runs`, { method: "POST", body: JSON.stringify({ graph_id: "run:hello-stargraph", params: { message: "curl" } }), headers: { "content-type": "application/x-www-form-urlencoded" } })
    expect(curlStyle.status).toBe(202)
    const badLimit = await call(`${server.url}/v1/runs?limit=0`)
    expect([badLimit.status, badLimit.body["error"]["type"], badLimit.body["error"]["details"]["field"]]).toEqual([400, "InputError", "limit"])
    const noRoute = await call(`${server.url}/v2/nothing`)
    expect([noRoute.status, noRoute.body["error"]["type"]]).toEqual([404, "ApiError"])
    const noRun = await call(`${server.url}/v1/runs/run-unknown`)
    expect([noRun.status, noRun.body["error"]["type"], noRun.body["error"]["details"]["reason"]]).toEqual([404, "CheckpointError", "unknown-run"])
    expect(noRun.body["error"]["message"]).toMatch(/\(fix: GET \/v1\/runs lists this server's runs\)$/)
    // Its fix is in details.fix too, as other envelopes' are (the typed client still decodes it: "the API as a typed HttpApi").
    expect(noRun.body["error"]["details"]["fix"]).toBe("GET /v1/runs lists this server's runs")
  })

  it("limit is a whole number 1..500 in decimal digits: hex, exponents, spaces, fractions and out-of-range values answer 400 naming it", async () => {
    for (const bad of ["0x10", "1e2", "%201", "1%20", "+5", "0", "501", "1.5", "abc", ""]) {
      const r = await call(`${server.url}/v1/runs?limit=${bad}`)
      expect([bad, r.status, r.body["error"]?.["type"], r.body["error"]?.["details"]?.["field"]]).toEqual([bad, 400, "InputError", "limit"])
      expect(r.body["error"]["details"]["fix"]).toContain("whole number from 1 to 500")
    }
    for (const good of ["1", "500", "007"]) expect((await call(`${server.url}/v1/runs?limit=${good}`)).status).toBe(200)
    const doc = await call(`${server.url}/openapi.json`)
    const limit = (doc.body["paths"]["/v1/runs"]["get"]["parameters"] as Array<{ name: string; schema: Record<string, unknown> }>).find((p) => p.name === "limit")
    expect(limit?.schema).toMatchObject({ type: "integer", minimum: 1, maximum: 500 })
  })

  it("a known path asked with another method answers 405 with Allow (OPTIONS too); an unknown path stays 404", async () => {
    for (const [method, path, allow] of [
      ["DELETE", "/v1/runs", "GET, HEAD, POST"],
      ["GET", "/v1/runs/run-x/cancel", "POST"],
      ["POST", "/healthz", "GET, HEAD"],
      ["PUT", "/v1/graphs", "GET, HEAD"],
      ["OPTIONS", "/v1/runs/run-x", "GET, HEAD"],
      ["POST", "/openapi.json", "GET, HEAD"]
    ] as const) {
      const r = await call(`${server.url}${path}`, { method })
      expect([method, path, r.status, r.headers.get("allow")]).toEqual([method, path, 405, allow])
      expect(r.body["error"]).toMatchObject({ type: "ApiError", details: { reason: "method-not-allowed", status: 405 } })
      expect(r.body["error"]["message"]).toContain(`${path} does not answer ${method}: use ${allow}`)
    }
    const unknown = await call(`${server.url}/v1/nothing`, { method: "DELETE" })
    expect([unknown.status, unknown.headers.get("allow"), unknown.body["error"]["details"]["reason"]]).toEqual([404, null, "not-found"])
  })

  it("a 10,000-deep params or body answers 400 with the envelope, never a stack trace or a file path", async () => {
    const deepObject = "{\"a\":".repeat(10_000) + "1" + "}".repeat(10_000)
    const deepArray = "[".repeat(10_000) + "]".repeat(10_000)
    const post = async (path: string, body: string) => {
      const r = await fetch(`${server.url}${path}`, { method: "POST", body, headers: { "content-type": "application/json" } })
      return { status: r.status, text: await r.text() }
    }
    const answers = [
      await post("/v1/runs", `{"graph_id":"run:hello-stargraph","params":{"message":${deepObject}}}`),
      await post("/v1/runs", `{"graph_id":"run:hello-stargraph","params":${deepObject}}`),
      await post("/v1/runs", deepArray),
      await post("/v1/runs", `{"graph_id":${deepArray}}`),
      await post("/v1/runs/run-unknown/respond", `{"response":${deepObject}}`),
      await post("/v1/runs/run-unknown/counterfactual", `{"mutation":{"state_overrides":{"message":${deepArray}}}}`)
    ]
    for (const answer of answers) {
      expect(answer.status).toBe(400)
      const envelope = JSON.parse(answer.text) as { error: { type: string; message: string; details: Record<string, unknown> } }
      expect(envelope.error).toMatchObject({ type: "InputError", details: { field: "body" } })
      expect(envelope.error.message).toContain("nested more than 520 levels deep")
      expect(answer.text.length).toBeLessThan(1000)
      for (const leak of [ROOT, tmpdir(), "file://", "    at ", ".ts:"]) expect(answer.text).not.toContain(leak)
    }
    // The server is still fine, and a body inside the bound goes through.
    const ok = await post("/v1/runs", `{"graph_id":"run:hello-stargraph","params":{"message":"fine"}}`)
    expect(ok.status).toBe(202)
  })

  it("/openapi.json passes a strict OpenAPI 3.1 validator, names its server, and documents webhook headers and body", async () => {
    const local = tempDir()
    const config = join(local, "stargraph.yaml")
    writeFileSync(config, `webhooks:\n  - { id: nvd-mirror, graph: ${join(graphs, "hello", "graph.yaml")}, secret_env: NVD_SECRET }\n`)
    const s = await boot({ db: join(local, "db.sqlite"), config, env: { NVD_SECRET: "k" }, authToken: "t0ken" })
    try {
      // With a token, the document is behind it too (it names every graph and webhook).
      expect((await fetch(`${s.url}/openapi.json`)).status).toBe(401)
      const authorized = { headers: { authorization: "Bearer t0ken" } }
      for (const target of [server, s]) {
        const doc = await (await fetch(`${target.url}/openapi.json`, authorized)).json() as Record<string, any>
        const result = await new Validator().validate(doc)
        expect(result.errors ?? []).toEqual([])
        expect(result.valid).toBe(true)
        expect(doc["servers"]).toEqual([{ url: target.url, description: "this server" }])
        expect(JSON.stringify(doc)).not.toContain("\"$id\"")
      }
      const doc = await (await fetch(`${s.url}/openapi.json`, authorized)).json() as Record<string, any>
      const webhook = doc["paths"]["/v1/triggers/webhook/nvd-mirror"]["post"]
      expect(webhook["parameters"].filter((p: { in: string }) => p.in === "header").map((p: { name: string; required: boolean }) => [p.name, p.required]))
        .toEqual([["X-Stargraph-Timestamp", true], ["X-Stargraph-Nonce", true], ["X-Stargraph-Signature", true]])
      expect(webhook["requestBody"]).toMatchObject({ required: true, content: { "application/json": { schema: { type: "object" } } } })
      expect(Object.keys(webhook["responses"]).sort()).toEqual(["200", "202", "400", "401", "403", "404", "409", "413", "429", "500", "503"])
      // Its signature authenticates a delivery: the bearer token is not asked for (senders cannot add it).
      expect(webhook["security"]).toEqual([])
      expect(doc["paths"]["/v1/runs"]["post"]["security"]).toEqual([{ bearer: [] }])
    } finally {
      await s.close()
    }
  })

  it("/openapi.json declares what every route answers: the guard's refusals (on /openapi.json and trigger routes too), and the rate-limit and challenge headers", async () => {
    const local = tempDir()
    const config = join(local, "stargraph.yaml")
    writeFileSync(config, `webhooks:\n  - { id: nvd-mirror, graph: ${join(graphs, "hello", "graph.yaml")}, secret_env: NVD_SECRET }\n`)
    const s = await boot({ db: join(local, "db.sqlite"), config, env: { NVD_SECRET: "k" }, authToken: "t0ken", rateLimitPerMinute: 1000 })
    try {
      const doc = await (await fetch(`${s.url}/openapi.json`, { headers: { authorization: "Bearer t0ken" } })).json() as Record<string, any>
      const result = await new Validator().validate(doc)
      expect(result.errors ?? []).toEqual([])
      const operations = Object.entries(doc["paths"] as Record<string, Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>>)
        .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ at: `${method.toUpperCase()} ${path}`, responses: op.responses })))
      expect(operations.map((o) => o.at)).toEqual(expect.arrayContaining(["GET /openapi.json", "POST /v1/triggers/webhook/nvd-mirror", "POST /v1/runs"]))
      for (const { at, responses } of operations) {
        // The guard answers these on every route, before the route itself.
        expect([at, ["401", "403", "429", "500"].filter((status) => !(status in responses))]).toEqual([at, []])
        for (const [status, response] of Object.entries(responses)) {
          expect([at, status, Object.keys(response.headers ?? {})]).toEqual([at, status, expect.arrayContaining(["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"])])
        }
        // A webhook's 401 is a signature refusal, not a bearer challenge.
        if (at === "POST /v1/triggers/webhook/nvd-mirror") expect(Object.keys(responses["401"]!.headers ?? {})).not.toContain("WWW-Authenticate")
        else expect(Object.keys(responses["401"]!.headers ?? {})).toContain("WWW-Authenticate")
      }
      expect(Object.keys(doc["components"]["headers"]).sort()).toEqual(["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"])
      const at = (path: string, method: string) => doc["paths"][path][method]["responses"] as Record<string, Record<string, any>>
      expect(at("/v1/runs", "post")["409"]!["content"]["application/json"]).toBeDefined()
      expect(at("/openapi.json", "get")["200"]!["content"]).toHaveProperty("application/json")
    } finally {
      await s.close()
    }
    // Without a rate limit or a token, no such headers are promised.
    const plain = JSON.stringify(await (await fetch(`${server.url}/openapi.json`)).json())
    expect(plain).not.toContain("X-RateLimit")
    expect(plain).not.toContain("WWW-Authenticate")
  })

  it("shows a failed run's error without the node's stack trace or file paths (get, list, stream)", async () => {
    const local = tempDir()
    mkdirSync(join(local, "boom"))
    writeFileSync(join(local, "boom", "nodes.js"), "export const explode = () => { throw new Error(\"exploded reading /srv/secret/config.json\") }\n")
    writeFileSync(join(local, "boom", "graph.yaml"), [
      "ir_version: \"1.0.0\"", "id: run:boom", "state_schema: { fields: { n: { type: integer, default: 0 } } }",
      "nodes: [{ id: a, kind: function, module: ./nodes.js, export: explode }]", ""
    ].join("\n"))
    const s = await boot({ db: join(local, "db.sqlite"), graphs: [join(local, "boom")], scheduler: { pollIntervalMs: 50 } })
    try {
      const id = (await call(`${s.url}/v1/runs`, { json: { graph_id: "run:boom" } })).body["run_id"]
      const failed = await waitFor(`${s.url}/v1/runs/${id}`, (b) => b["status"] === "failed")
      expect(failed.body["error"]).toMatchObject({ type: "NodeExecutionError" })
      expect(failed.body["error"]["message"]).toBe("NodeExecutionError: node 'a' failed at step 1: Error: exploded reading config.json")
      const texts = [
        JSON.stringify(failed.body),
        JSON.stringify((await call(`${s.url}/v1/runs`)).body),
        await (await fetch(`${s.url}/v1/runs/${id}/stream`)).text()
      ]
      expect(texts[2]).toContain("run.failed")
      // (A run record names its graph file on purpose: `graph_source` is data, not an error.)
      for (const text of texts) for (const leak of ["/srv/secret", "    at ", "file://", "nodes.js:"]) expect(text).not.toContain(leak)
    } finally {
      await s.close()
    }
  })

  it("an unknown graph on a server with no graphs says to pass --graphs", async () => {
    const empty = await boot({ db: join(tempDir(), "db.sqlite") })
    try {
      const r = await call(`${empty.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph" } })
      expect([r.status, r.body["error"]["type"], r.body["error"]["details"]["reason"]]).toEqual([404, "SchedulerError", "unknown-graph"])
      expect(r.body["error"]["details"]["fix"]).toContain("--graphs")
      expect(r.body["error"]["details"]["fix"]).toContain("the folder serve runs from")
      // With graphs registered, the fix lists them instead.
      const known = await call(`${server.url}/v1/runs`, { json: { graph_id: "run:nope" } })
      expect(known.body["error"]["details"]["fix"]).toContain("run:hello-stargraph")
    } finally {
      await empty.close()
    }
  })

  it("documents every route in /openapi.json and writes one audit line per API action", async () => {
    const doc = await call(`${server.url}/openapi.json`)
    const paths = Object.keys(doc.body["paths"])
    for (const p of ["/healthz", "/v1/runs", "/v1/runs/{id}", "/v1/runs/{id}/checkpoints", "/v1/graphs", "/v1/runs/{id}/cancel", "/v1/runs/{id}/pause", "/v1/runs/{id}/resume", "/v1/runs/{id}/respond", "/v1/runs/{id}/counterfactual", "/v1/runs/{id}/artifacts", "/v1/runs/{id}/stream"]) {
      expect(paths).toContain(p)
    }
    const bodyRef: string = doc.body["paths"]["/v1/runs"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    const createBody = doc.body["components"]["schemas"][bodyRef.replace("#/components/schemas/", "")]
    expect(createBody["required"]).toContain("graph_id")
    expect(createBody["additionalProperties"]).toBe(false)
    // Every error status answers with the one envelope.
    expect(JSON.stringify(doc.body["paths"]["/v1/runs/{id}"]["get"]["responses"]["404"])).toContain("#/components/schemas/ErrorEnvelope")
    expect(JSON.stringify(doc.body)).not.toContain("HttpApiDecodeError")
    // A stream answers 101 (WebSocket), 200 (SSE) or 204 (a reconnect after the run's final end).
    const stream = doc.body["paths"]["/v1/runs/{id}/stream"]["get"]["responses"]
    expect(Object.keys(stream)).toEqual(expect.arrayContaining(["101", "200", "204"]))
    expect([stream["101"]["content"], stream["204"]["content"]]).toEqual([undefined, undefined])
    const lines = readFileSync(join(dir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; actor: string; status?: number; run_id?: string })
    expect(lines.some((l) => l.event === "api.runs.create" && l.actor === "http:127.0.0.1")).toBe(true)
    expect(lines.some((l) => l.event === "run.finished")).toBe(true)
    // A run's creation names the run, so the request links to the run's own lines.
    const created = lines.filter((l) => l.event === "api.runs.create" && l.status === 202)
    expect(created.length).toBeGreaterThan(0)
    for (const line of created) {
      expect(line.run_id).toMatch(/^run-/)
      expect(lines.some((l) => l.event === "run.started" && l.run_id === line.run_id)).toBe(true)
    }
  })
})

describe("the API as a typed HttpApi", () => {
  it("drives the real server from a client derived from StargraphApi", async () => {
    const out = await Effect.runPromise(Effect.gen(function*() {
      const client = yield* HttpApiClient.make(StargraphApi, { baseUrl: server.url })
      const created = yield* client.runs.create({ payload: { graph_id: "run:hello-stargraph", params: { message: "typed" } } })
      let view = yield* client.runs.get({ path: { id: created.run_id } })
      for (let i = 0; i < 200 && view.status !== "done"; i++) {
        yield* Effect.sleep("25 millis")
        view = yield* client.runs.get({ path: { id: created.run_id } })
      }
      const graphs = yield* client.graphs.list()
      // Error envelopes decode back into the typed StargraphError.
      const missing = yield* Effect.flip(client.runs.get({ path: { id: "run-unknown" } }))
      const wrongState = yield* Effect.flip(client.runs.respond({ path: { id: created.run_id }, payload: { response: 1 } }))
      // Fields with a server-side default may be left out by the client too (type-checked by tsc).
      const page = yield* client.runs.list({ urlParams: {} })
      const fork = yield* client.runs.counterfactual({ path: { id: created.run_id }, payload: {} })
      return { created, view, graphs, missing, wrongState, page, fork }
    }).pipe(Effect.provide(FetchHttpClient.layer)))
    expect(out.page.runs.length).toBeGreaterThan(0)
    expect(out.fork.cf_run_id).toMatch(/^cf-/)
    expect(out.created).toMatchObject({ status: "pending", deduplicated: false })
    expect(out.view).toMatchObject({ status: "done", final_state: { message: "typed" } })
    expect(out.graphs.graphs.map((g) => g.id)).toContain("run:hello-stargraph")
    expect(out.missing).toBeInstanceOf(CheckpointError)
    expect(out.missing).toMatchObject({ _tag: "CheckpointError", reason: "unknown-run", runId: "run-unknown" })
    // The envelope's details.fix (no CheckpointError field) is passed over.
    expect(Object.keys(out.missing)).not.toContain("fix")
    expect(out.wrongState).toBeInstanceOf(RunStateError)
    expect(out.wrongState).toMatchObject({ operation: "respond", status: "done" })
  })

  it("the derived client decodes every error a route answers: a key another graph's run holds (409), a cross-site page (403)", async () => {
    const out = await Effect.runPromise(Effect.gen(function*() {
      const client = yield* HttpApiClient.make(StargraphApi, { baseUrl: server.url })
      const key = `shared-${Date.now()}`
      yield* client.runs.create({ payload: { graph_id: "run:hello-stargraph", params: { message: "first" }, idempotency_key: key } })
      const taken = yield* Effect.flip(client.runs.create({ payload: { graph_id: "run:approval", params: { request: "second" }, idempotency_key: key } }))
      const crossSite = yield* HttpApiClient.make(StargraphApi, {
        baseUrl: server.url,
        transformClient: HttpClient.mapRequest(HttpClientRequest.setHeader("sec-fetch-site", "cross-site"))
      })
      const forbidden = yield* Effect.flip(crossSite.graphs.list())
      return { taken, forbidden }
    }).pipe(Effect.provide(FetchHttpClient.layer)))
    expect(out.taken).toBeInstanceOf(RunStateError)
    expect(out.taken).toMatchObject({ operation: "enqueue", reason: "idempotency-key-reused", field: "graph_id" })
    expect(out.forbidden).toBeInstanceOf(ApiError)
    expect(out.forbidden).toMatchObject({ reason: "forbidden", status: 403 })
  })
})

describe("auth, rate limits, webhooks, restart", () => {
  it("requires the bearer token on every route but /healthz, and rate limits per client with headers", async () => {
    const local = await boot({ db: join(tempDir(), "db.sqlite"), graphs: [join(graphs, "hello")], authToken: "t0ken", rateLimitPerMinute: 5 })
    try {
      const health = await call(`${local.url}/healthz`)
      expect(health.status).toBe(200)
      // Public: the database's name, not where it lives.
      expect(health.body["db"]).toBe("db.sqlite")
      const denied = await call(`${local.url}/v1/graphs`)
      expect([denied.status, denied.body["error"]["details"]["reason"]]).toEqual([401, "unauthorized"])
      // The refusal says which header to send.
      expect(denied.body["error"]["details"]["fix"]).toMatch(/^send the header Authorization: Bearer <token>/)
      expect(denied.body["error"]["message"]).toMatch(/^ApiError: missing or wrong bearer token \(fix: send the header Authorization: Bearer <token>/)
      // Every 401 names the scheme the token goes in (RFC 9110 §11.6.1).
      expect(denied.headers.get("www-authenticate")).toBe("Bearer realm=\"stargraph\"")
      expect((await call(`${local.url}/v1/graphs`, { headers: { authorization: "Bearer wrong" } })).headers.get("www-authenticate")).toMatch(/^Bearer /)
      // The scheme name is case-insensitive; the token is not.
      expect((await call(`${local.url}/v1/graphs`, { headers: { authorization: "bearer T0KEN" } })).status).toBe(401)
      const allowed = await call(`${local.url}/v1/graphs`, { headers: { authorization: "bearer t0ken" } })
      expect(allowed.status).toBe(200)
      expect(allowed.headers.get("x-ratelimit-limit")).toBe("5")
      expect(allowed.headers.get("x-ratelimit-remaining")).toBe("0")
      const limited = await call(`${local.url}/v1/graphs`, { headers: { authorization: "Bearer t0ken" } })
      expect([limited.status, limited.body["error"]["details"]["reason"]]).toEqual([429, "rate-limited"])
      expect(Number(limited.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000)
    } finally {
      await local.close()
    }
  })

  it("rate limits by default when bound to a non-loopback host", async () => {
    const open = await boot({ host: "0.0.0.0", db: join(tempDir(), "db.sqlite") })
    try {
      const r = await call(`http://127.0.0.1:${open.port}/healthz`)
      expect(r.headers.get("x-ratelimit-limit")).toBe(String(Serve.DEFAULT_RATE_LIMIT))
    } finally {
      await open.close()
    }
    const r = await call(`${server.url}/healthz`)
    expect(r.headers.get("x-ratelimit-limit")).toBeNull()
  })

  it("mounts signed webhooks from stargraph.yaml on the real server", async () => {
    const local = tempDir()
    const config = join(local, "stargraph.yaml")
    writeFileSync(config, `webhooks:\n  - { id: nvd-mirror, graph: ${join(graphs, "hello", "graph.yaml")}, secret_env: NVD_SECRET }\n`)
    const s = await boot({ db: join(local, "db.sqlite"), config, env: { NVD_SECRET: "k" } })
    try {
      const body = JSON.stringify({ message: "CVE-1" })
      const ok = await fetch(`${s.url}/v1/triggers/webhook/nvd-mirror`, { method: "POST", body, headers: WebhookTrigger.sign("k", body, Math.floor(Date.now() / 1000), "n1") })
      expect(ok.status).toBe(202)
      const bad = await fetch(`${s.url}/v1/triggers/webhook/nvd-mirror`, { method: "POST", body, headers: WebhookTrigger.sign("wrong", body, Math.floor(Date.now() / 1000), "n2") })
      expect(bad.status).toBe(401)
      expect((await bad.json() as { error: { type: string } }).error.type).toBe("WebhookError")
      const run = (await ok.json() as { run_id: string }).run_id
      expect((await waitFor(`${s.url}/v1/runs/${run}`, (b) => b["status"] === "done")).body["final_state"]["message"]).toBe("CVE-1")
    } finally {
      await s.close()
    }
  })

  it("a server behind a bearer token still receives signed webhook deliveries without it; every other route, the webhook's path with another method included, asks for the token", async () => {
    const local = tempDir()
    const config = join(local, "stargraph.yaml")
    writeFileSync(config, `webhooks:\n  - { id: nvd-mirror, graph: ${join(graphs, "hello", "graph.yaml")}, secret_env: NVD_SECRET }\n`)
    const s = await boot({ db: join(local, "db.sqlite"), config, env: { NVD_SECRET: "k" }, authToken: "t0ken" })
    try {
      const url = `${s.url}/v1/triggers/webhook/nvd-mirror`
      const body = JSON.stringify({ message: "CVE-9" })
      const now = Math.floor(Date.now() / 1000)
      // As GitHub or Stripe send it: signed, no Authorization header.
      const delivered = await call(url, { method: "POST", body, headers: WebhookTrigger.sign("k", body, now, "t1") })
      expect([delivered.status, delivered.body["deduplicated"]]).toEqual([202, false])
      // The signature is what authenticates it: a wrong one is the webhook's own 401, with no bearer challenge.
      const forged = await call(url, { method: "POST", body, headers: WebhookTrigger.sign("wrong", body, now, "t2") })
      expect([forged.status, forged.body["error"]["type"], forged.body["error"]["details"]["reason"], forged.headers.get("www-authenticate")]).toEqual([401, "WebhookError", "bad-signature", null])
      const unsigned = await call(url, { method: "POST", body })
      expect([unsigned.status, unsigned.body["error"]["details"]["reason"]]).toEqual([400, "missing-header"])
      // Everything else still needs the token: the run the delivery started, the API, the document, the webhook's path with GET.
      for (const [method, path] of [["GET", `/v1/runs/${delivered.body["run_id"]}`], ["GET", "/v1/runs"], ["POST", "/v1/runs"], ["GET", "/openapi.json"], ["GET", "/metrics"], ["GET", "/v1/triggers/webhook/nvd-mirror"]] as const) {
        const denied = await call(`${s.url}${path}`, { method, ...(method === "POST" ? { body: "{}" } : {}) })
        expect([method, path, denied.status, denied.body["error"]?.["type"], denied.headers.get("www-authenticate")]).toEqual([method, path, 401, "ApiError", "Bearer realm=\"stargraph\""])
      }
      const seen = await call(`${s.url}/v1/runs/${delivered.body["run_id"]}`, { headers: { authorization: "Bearer t0ken" } })
      expect([seen.status, seen.body["inputs"]["message"]]).toEqual([200, "CVE-9"])
    } finally {
      await s.close()
    }
  })

  it("deduplicates a webhook delivery, not its body: a retry answers its run as POST /v1/runs answers a known key, on any server of the database and after a restart; the same body as a new delivery starts a new run", async () => {
    const local = tempDir()
    const config = join(local, "stargraph.yaml")
    const hello = join(graphs, "hello", "graph.yaml")
    writeFileSync(config, [
      "webhooks:",
      `  - { id: chat, graph: ${hello}, secret_env: HOOK_SECRET }`,
      `  - { id: gh, graph: ${hello}, secret_env: HOOK_SECRET, delivery_id_header: X-GitHub-Delivery }`,
      ""
    ].join("\n"))
    const options = { db: join(local, "db.sqlite"), config, env: { HOOK_SECRET: "k" } }
    const a = await boot(options)
    const b = await boot(options)
    let restarted: Awaited<ReturnType<typeof boot>> | undefined
    let aOpen = true
    try {
      const post = async (target: { url: string }, id: string, body: string, headers: Record<string, string>) => {
        const r = await fetch(`${target.url}/v1/triggers/webhook/${id}`, { method: "POST", body, headers })
        return { status: r.status, body: await r.json() as Record<string, any> }
      }
      const now = Math.floor(Date.now() / 1000)
      const yes = JSON.stringify({ message: "yes" })
      const signed = WebhookTrigger.sign("k", yes, now, "c1")
      const first = await post(a, "chat", yes, signed)
      expect(first).toEqual({ status: 202, body: { run_id: expect.stringMatching(/^run-/), status: "pending", graph_id: "run:hello-stargraph", deduplicated: false } })
      const run = first.body["run_id"]
      // The sender retries the delivery (the exact signed request), to this server and to another one on the database.
      const retryHere = await post(a, "chat", yes, signed)
      const retryThere = await post(b, "chat", yes, signed)
      const viaRuns = await call(`${a.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", params: { message: "x" }, idempotency_key: "client-key-7" } })
      const viaRunsAgain = await call(`${a.url}/v1/runs`, { json: { graph_id: "run:hello-stargraph", params: { message: "x" }, idempotency_key: "client-key-7" } })
      expect([viaRuns.status, viaRunsAgain.status, viaRunsAgain.body["deduplicated"]]).toEqual([202, 200, true])
      for (const retry of [retryHere, retryThere]) {
        expect(retry.status).toBe(viaRunsAgain.status)
        expect(Object.keys(retry.body).sort()).toEqual(Object.keys(viaRunsAgain.body).sort())
        expect(retry.body).toEqual({ run_id: run, status: expect.any(String), graph_id: "run:hello-stargraph", deduplicated: true })
      }
      // The chat user says "yes" again: the same body, a new delivery (new nonce), a new run.
      const second = await post(b, "chat", yes, WebhookTrigger.sign("k", yes, now, "c2"))
      expect([second.status, second.body["deduplicated"], second.body["run_id"] === run]).toEqual([202, false, false])

      // With delivery_id_header, a retry re-signed with a new timestamp and nonce is the same delivery.
      const push = JSON.stringify({ message: "push" })
      const delivered = await post(a, "gh", push, { ...WebhookTrigger.sign("k", push, now, "g1"), "x-github-delivery": "d-1" })
      const resigned = await post(b, "gh", push, { ...WebhookTrigger.sign("k", push, now + 1, "g2"), "x-github-delivery": "d-1" })
      const nextDelivery = await post(a, "gh", push, { ...WebhookTrigger.sign("k", push, now, "g3"), "x-github-delivery": "d-2" })
      const noId = await post(a, "gh", push, WebhookTrigger.sign("k", push, now, "g4"))
      expect([delivered.status, resigned.status, resigned.body["run_id"] === delivered.body["run_id"], resigned.body["deduplicated"]]).toEqual([202, 200, true, true])
      expect([nextDelivery.status, nextDelivery.body["run_id"] === delivered.body["run_id"]]).toEqual([202, false])
      expect([noId.status, noId.body["error"]["details"]["reason"]]).toEqual([400, "missing-header"])
      expect(noId.body["error"]["details"]["fix"]).toMatch(/^send x-github-delivery with the sender's id of the delivery/)

      // After a restart (no nonce remembered), the retry still finds its run.
      await a.close()
      aOpen = false
      restarted = await boot(options)
      const afterRestart = await post(restarted, "chat", yes, signed)
      expect([afterRestart.status, afterRestart.body["run_id"], afterRestart.body["deduplicated"]]).toEqual([200, run, true])
      // Runs: the two "yes" deliveries, the two pushes, and the POST /v1/runs one.
      expect((await call(`${b.url}/v1/runs?limit=50`)).body["runs"]).toHaveLength(5)
    } finally {
      if (aOpen) await a.close()
      await b.close()
      await restarted?.close()
    }
  })

  it("a webhook's own max_body_bytes applies on its route, above or below the server's --max-body-bytes", async () => {
    const local = tempDir()
    const config = join(local, "stargraph.yaml")
    writeFileSync(config, [
      "webhooks:",
      `  - { id: big, graph: ${join(graphs, "hello", "graph.yaml")}, secret_env: S, max_body_bytes: 300000 }`,
      `  - { id: small, graph: ${join(graphs, "hello", "graph.yaml")}, secret_env: S, max_body_bytes: 100 }`
    ].join("\n") + "\n")
    const s = await boot({ db: join(local, "db.sqlite"), config, env: { S: "k" }, maxBodyBytes: 1000 })
    try {
      const post = (id: string, body: string, nonce: string) =>
        fetch(`${s.url}/v1/triggers/webhook/${id}`, { method: "POST", body, headers: WebhookTrigger.sign("k", body, Math.floor(Date.now() / 1000), nonce) })
      const large = JSON.stringify({ message: "x".repeat(200_000) })
      expect((await post("big", large, "b1")).status).toBe(202)
      const over = await post("small", JSON.stringify({ message: "x".repeat(200) }), "s1")
      expect(over.status).toBe(413)
      // The fix names the limit that applies: the webhook's own, not the server flag.
      const overMessage = ((await over.json()) as { error: { message: string } }).error.message
      expect(overMessage).toContain("raise max_body_bytes in this webhook's config")
      expect(overMessage).not.toContain("start the server with")
      // Other routes keep the server's limit.
      const api = await fetch(`${s.url}/v1/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ graph_id: "run:hello-stargraph", params: { message: "y".repeat(2000) } }) })
      expect(api.status).toBe(413)
      expect(((await api.json()) as { error: { message: string } }).error.message).toContain("start the server with a larger --max-body-bytes")
    } finally {
      await s.close()
    }
  })

  it("picks up runs left pending by a stopped server on restart", async () => {
    const file = join(tempDir(), "db.sqlite")
    const ids = await Effect.runPromise(Effect.gen(function*() {
      const g = yield* Graph.load(join(graphs, "hello", "graph.yaml"))
      const checkpointer = yield* Checkpointer
      return yield* Effect.forEach([1, 2], (i) =>
        Effect.flatMap(g.newRun({ inputs: { message: `left ${i}` }, queued: true }), (r) => Effect.map(checkpointer.createRun(r), (c) => c.record.run_id)))
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: file }))))
    const s = await boot({ db: file, graphs: [join(graphs, "hello")] })
    try {
      for (const id of ids) expect((await waitFor(`${s.url}/v1/runs/${id}`, (b) => b["status"] === "done")).body["status"]).toBe("done")
    } finally {
      await s.close()
    }
  })
})
