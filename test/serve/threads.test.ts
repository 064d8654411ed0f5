/** Threads over HTTP (a real server on 127.0.0.1, ephemeral port) and the built CLI, on examples/chat. */
import { copyFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Serve from "../../src/serve/server.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

let dir: string
let server: { readonly url: string; readonly close: () => Promise<void> }

const copyChat = (to: string) => {
  mkdirSync(join(to, "chat"), { recursive: true })
  for (const f of ["graph.yaml", "nodes.ts"]) copyFileSync(join(ROOT, "examples", "chat", f), join(to, "chat", f))
}

const call = async (url: string, json?: unknown) => {
  const response = await fetch(url, json === undefined ? {} : { method: "POST", body: JSON.stringify(json), headers: { "content-type": "application/json" } })
  const text = await response.text()
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, any> }
}

const waitDone = async (runId: string) => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const r = await call(`${server.url}/v1/runs/${runId}`)
    if (["done", "failed", "error"].includes(r.body["status"]) || Date.now() > deadline) return r
    await new Promise((res) => setTimeout(res, 25))
  }
}

beforeAll(async () => {
  dir = tempDir()
  copyChat(dir)
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(
    Serve.start({ port: 0, host: "127.0.0.1", db: join(dir, "http.sqlite"), graphs: [join(dir, "chat")], scheduler: { pollIntervalMs: 50 } }).pipe(Scope.extend(scope))
  )
  server = { url: started.url, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
})

afterAll(() => server.close())

describe("threads over HTTP", () => {
  it("POST /v1/runs with thread_id continues the thread; GET /v1/threads/{id} and GET /v1/runs/{id} show it; refusals are typed", async () => {
    const first = await call(`${server.url}/v1/runs`, { graph_id: "chat:echo", params: { say: "hello" }, thread_id: "web-1" })
    expect(first.status).toBe(202)
    expect((await waitDone(first.body["run_id"])).body["status"]).toBe("done")
    const second = await call(`${server.url}/v1/runs`, { graph_id: "chat:echo", params: { say: "again" }, thread_id: "web-1" })
    expect(second.status).toBe(202)
    const done = await waitDone(second.body["run_id"])
    expect(done.body).toMatchObject({ status: "done", thread_id: "web-1", continued_from: first.body["run_id"], inputs: { say: "again" } })
    expect(done.body["final_state"]["turns"]).toBe(2)
    expect(done.body["final_state"]["messages"].map((m: { content: string }) => m.content)).toEqual([
      "hello", "You said \"hello\" (turn 1). This is the start of our conversation.", "again", "You said \"again\" (turn 2). Earlier you said \"hello\"."
    ])

    const thread = await call(`${server.url}/v1/threads/web-1`)
    expect(thread.status).toBe(200)
    expect(thread.body["thread_id"]).toBe("web-1")
    expect(thread.body["runs"].map((r: { run_id: string }) => r.run_id)).toEqual([second.body["run_id"], first.body["run_id"]])
    expect(thread.body["state"]).toEqual(done.body["final_state"])
    const listed = await call(`${server.url}/v1/runs?thread_id=web-1`)
    expect(listed.body["runs"]).toHaveLength(2)

    const unknown = await call(`${server.url}/v1/threads/nobody`)
    expect(unknown.status).toBe(404)
    expect(unknown.body["error"]).toMatchObject({ type: "ThreadError", details: { reason: "unknown-thread" } })
    const bad = await call(`${server.url}/v1/runs`, { graph_id: "chat:echo", params: { say: "x" }, thread_id: "tab\there" })
    expect(bad.status).toBe(400)
    expect(bad.body["error"]).toMatchObject({ type: "ThreadError", details: { reason: "invalid-thread-id", field: "thread_id" } })
    const undeclared = await call(`${server.url}/v1/runs`, { graph_id: "chat:echo", params: { nope: 1 }, thread_id: "web-1" })
    expect(undeclared.status).toBe(400)
    expect(undeclared.body["error"]).toMatchObject({ type: "StateValidationError", details: { source: "inputs", field: "nope" } })
    expect((await call(`${server.url}/v1/threads/web-1`)).body["runs"]).toHaveLength(2)
  })
})

describe("threads with the built CLI", () => {
  it("stargraph run --thread twice accumulates; stargraph thread prints the thread; an unknown thread exits non-zero", async () => {
    const work = tempDir()
    copyChat(work)
    const db = join(work, "cli.sqlite")
    const one = await stargraph(["run", "chat/graph.yaml", "--thread", "demo", "--inputs", "say=hello", "--db", db], { cwd: work })
    expect([one.code, one.stderr]).toEqual([0, ""])
    const two = await stargraph(["run", "chat/graph.yaml", "--thread", "demo", "--inputs", "say=and again", "--db", db], { cwd: work })
    expect([two.code, two.stderr]).toEqual([0, ""])
    expect(two.stdout).toContain("Earlier you said \\\"hello\\\"")
    const shown = await stargraph(["thread", "demo", "--db", db, "--json"], { cwd: work })
    expect(shown.code).toBe(0)
    const view = JSON.parse(shown.stdout) as { runs: Array<{ run_id: string; continued_from: string | null }>; state: { turns: number } }
    expect(view.runs.map((r) => [r.run_id, r.continued_from])).toEqual([[runIdOf(two.last), runIdOf(one.last)], [runIdOf(one.last), null]])
    expect(view.state.turns).toBe(2)
    const table = await stargraph(["thread", "demo", "--db", db], { cwd: work })
    expect(table.stdout).toContain(runIdOf(one.last))
    const inspected = await stargraph(["inspect", runIdOf(two.last), "--db", db], { cwd: work })
    expect(inspected.stdout).toContain(`thread demo  continued from ${runIdOf(one.last)}`)
    const unknown = await stargraph(["thread", "nobody", "--db", db], { cwd: work })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("ThreadError[unknown-thread]")
    const bad = await stargraph(["run", "chat/graph.yaml", "--thread", "x".repeat(201), "--inputs", "say=x", "--db", db], { cwd: work })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("ThreadError[invalid-thread-id]: --thread")
  }, 60_000)
})
