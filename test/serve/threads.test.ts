/** Threads over HTTP (a real server on 127.0.0.1, ephemeral port) and the built CLI, on examples/chat. */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Serve from "../../src/serve/server.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

let dir: string
let server: { readonly url: string; readonly close: () => Promise<void> }

/** examples/chat, whose `answer` node throws when told "boom" (a thread's failed run). */
const copyChat = (to: string) => {
  mkdirSync(join(to, "chat"), { recursive: true })
  copyFileSync(join(ROOT, "examples", "chat", "graph.yaml"), join(to, "chat", "graph.yaml"))
  const nodes = readFileSync(join(ROOT, "examples", "chat", "nodes.ts"), "utf8")
  const head = "export const answer = (state: ChatState) => {\n"
  expect(nodes).toContain(head)
  writeFileSync(join(to, "chat", "nodes.ts"), nodes.replace(head, `${head}  if (state.say === "boom") throw new Error("told to fail")\n`))
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

describe("skip_failed over HTTP", () => {
  it("a thread whose newest run failed: 409 without skip_failed; with it the run continues from the done run before; a cancelled run likewise; bad skip_failed is a 400 InputError", async () => {
    const start = (body: Record<string, unknown>) => call(`${server.url}/v1/runs`, { graph_id: "chat:echo", ...body })
    const first = await start({ params: { say: "hello" }, thread_id: "web-sf" })
    expect((await waitDone(first.body["run_id"])).body["status"]).toBe("done")
    const boom = await start({ params: { say: "boom" }, thread_id: "web-sf" })
    expect((await waitDone(boom.body["run_id"])).body["status"]).toBe("failed")
    const refused = await start({ params: { say: "next" }, thread_id: "web-sf" })
    expect(refused.status).toBe(409)
    expect(refused.body["error"]).toMatchObject({ type: "RunStateError", details: { runId: boom.body["run_id"], status: "failed" } })
    expect(refused.body["error"]["message"]).toContain("skip_failed")

    const skipped = await start({ params: { say: "next" }, thread_id: "web-sf", skip_failed: true })
    expect(skipped.status).toBe(202)
    const done = await waitDone(skipped.body["run_id"])
    expect(done.body).toMatchObject({ status: "done", thread_id: "web-sf", continued_from: first.body["run_id"], skip_failed: true })
    expect(done.body["final_state"]["turns"]).toBe(2)
    expect(done.body["final_state"]["messages"].map((m: { content: string }) => m.content)).not.toContain("boom")

    // A cancelled newest run: paused at a breakpoint, cancelled, passed over.
    const paused = await start({ params: { say: "wait" }, thread_id: "web-sf", interrupt_before: "*" })
    const waiting = await waitDone(paused.body["run_id"])
    expect(waiting.body["status"]).toBe("awaiting-input")
    expect((await call(`${server.url}/v1/runs/${paused.body["run_id"]}/cancel`, {})).body["status"]).toBe("cancelled")
    expect((await start({ params: { say: "again" }, thread_id: "web-sf" })).status).toBe(409)
    // The run view says how each thread run was started.
    expect((await call(`${server.url}/v1/runs/${paused.body["run_id"]}`)).body["skip_failed"]).toBe(false)
    const afterCancel = await start({ params: { say: "again" }, thread_id: "web-sf", skip_failed: true })
    expect(afterCancel.status).toBe(202)
    expect((await waitDone(afterCancel.body["run_id"])).body).toMatchObject({ status: "done", continued_from: skipped.body["run_id"] })

    const thread = await call(`${server.url}/v1/threads/web-sf`)
    expect(thread.body["runs"].map((r: { run_id: string; status: string; continued_from: string | null }) => [r.run_id, r.status, r.continued_from])).toEqual([
      [afterCancel.body["run_id"], "done", skipped.body["run_id"]],
      [paused.body["run_id"], "cancelled", skipped.body["run_id"]],
      [skipped.body["run_id"], "done", first.body["run_id"]],
      [boom.body["run_id"], "failed", first.body["run_id"]],
      [first.body["run_id"], "done", null]
    ])

    const runs = (await call(`${server.url}/v1/runs?limit=500`)).body["runs"].length
    const noThread = await start({ params: { say: "x" }, skip_failed: true })
    expect(noThread.status).toBe(400)
    expect(noThread.body["error"]).toMatchObject({ type: "InputError", details: { field: "skip_failed" } })
    expect(noThread.body["error"]["details"]["fix"]).toContain("thread_id")
    const notBoolean = await start({ params: { say: "x" }, thread_id: "web-sf", skip_failed: "yes" })
    expect(notBoolean.status).toBe(400)
    expect(notBoolean.body["error"]).toMatchObject({ type: "InputError", details: { field: "skip_failed" } })
    expect(notBoolean.body["error"]["details"]["fix"]).toContain("\"skip_failed\": true")
    expect((await call(`${server.url}/v1/runs?limit=500`)).body["runs"]).toHaveLength(runs)
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

  it("stargraph run --thread --skip-failed passes over a failed run, saying so; --skip-failed without --thread is refused naming it", async () => {
    const work = tempDir()
    copyChat(work)
    const db = join(work, "cli.sqlite")
    const turn = (say: string, ...flags: Array<string>) => stargraph(["run", "chat/graph.yaml", "--thread", "sf", "--inputs", `say=${say}`, "--db", db, ...flags], { cwd: work })
    const one = await turn("hello")
    expect(one.code).toBe(0)
    const boom = await turn("boom")
    expect(boom.last).toMatch(/status=failed$/)
    const refused = await turn("next")
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringContaining(`RunStateError`)])
    expect(refused.stderr).toContain("--skip-failed")
    const skipped = await turn("next", "--skip-failed")
    expect(skipped.code).toBe(0)
    expect(skipped.stderr).toBe(`thread sf: passed over ${runIdOf(boom.last)} (failed); continuing from ${runIdOf(one.last)}\n`)
    expect(skipped.stdout).toContain("Earlier you said \\\"hello\\\"")
    expect(skipped.stdout).not.toContain("boom")
    const view = JSON.parse((await stargraph(["thread", "sf", "--db", db, "--json"], { cwd: work })).stdout) as { runs: Array<{ run_id: string; continued_from: string | null }> }
    expect(view.runs.map((r) => r.continued_from)).toEqual([runIdOf(one.last), runIdOf(one.last), null])
    const alone = await stargraph(["run", "chat/graph.yaml", "--skip-failed", "--inputs", "say=x", "--db", db], { cwd: work })
    expect([alone.code, alone.stdout]).toEqual([2, ""])
    expect(alone.stderr).toMatch(/InputError.*--skip-failed/)
    expect(alone.stderr).toContain("--thread")
  }, 60_000)
})
