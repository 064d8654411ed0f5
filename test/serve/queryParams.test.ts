/**
 * Query strings and the run list over HTTP (a real server on 127.0.0.1, ephemeral port):
 * an unknown query parameter is refused naming it and the one it was likely meant as (an
 * ignored filter would answer every run), a thread id no run can have is refused as
 * `POST /v1/runs` refuses it, and each listed run is the projection `GET /v1/runs/{id}`
 * gives (never the server's path of the graph file).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Serve from "../../src/serve/server.js"
import { ROOT, tempDir } from "../helpers/cli.js"

let dir: string
let server: { readonly url: string; readonly close: () => Promise<void> }

const call = async (url: string, json?: unknown) => {
  const response = await fetch(url, json === undefined ? {} : { method: "POST", body: JSON.stringify(json), headers: { "content-type": "application/json" } })
  const text = await response.text()
  return { status: response.status, text, body: (text ? JSON.parse(text) : {}) as Record<string, any> }
}

const settled = async (runId: string, statuses: ReadonlyArray<string>) => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const r = await call(`${server.url}/v1/runs/${runId}`)
    if (statuses.includes(r.body["status"]) || Date.now() > deadline) return r
    await new Promise((res) => setTimeout(res, 25))
  }
}

beforeAll(async () => {
  dir = tempDir()
  for (const [name, files] of [["hello", ["graph.yaml", "nodes.ts"]], ["approval", ["graph.yaml"]]] as const) {
    mkdirSync(join(dir, "graphs", name), { recursive: true })
    for (const f of files) writeFileSync(join(dir, "graphs", name, f), readFileSync(join(ROOT, "examples", name, f)))
  }
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(
    Serve.start({ port: 0, host: "127.0.0.1", db: join(dir, "http.sqlite"), graphs: [join(dir, "graphs")], scheduler: { pollIntervalMs: 50 } }).pipe(Scope.extend(scope))
  )
  server = { url: started.url, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
})

afterAll(() => server.close())

describe("query parameters", () => {
  it("an unknown query parameter answers 400 InputError naming it and the parameter it was likely meant as", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:hello-stargraph", params: { message: "q" } })
    expect(created.status).toBe(202)
    await settled(created.body["run_id"], ["done"])
    const artifact = `sha256:${"a".repeat(64)}`
    for (const [path, field, fix] of [
      // The CLI spells it --graph, --thread; over HTTP they are graph_id, thread_id.
      ["/v1/runs?graph=nope", "graph", "did you mean 'graph_id'? rename ?graph= to ?graph_id= (unknown query parameters are refused)"],
      ["/v1/runs?statuss=failed", "statuss", "did you mean 'status'? rename ?statuss= to ?status= (unknown query parameters are refused)"],
      ["/v1/runs?thread=web-1&limit=5", "thread", "did you mean 'thread_id'? rename ?thread= to ?thread_id= (unknown query parameters are refused)"],
      ["/v1/runs?graphId=run:hello-stargraph", "graphId", "did you mean 'graph_id'? rename ?graphId= to ?graph_id= (unknown query parameters are refused)"],
      ["/v1/runs?offset=50", "offset", "remove the query parameter 'offset' (unknown query parameters are refused)"],
      ["/v1/threads/web-1?limt=1", "limt", "did you mean 'limit'? rename ?limt= to ?limit= (unknown query parameters are refused)"],
      [`/v1/artifacts/${artifact}?run=run-x`, "run", "did you mean 'run_id'? rename ?run= to ?run_id= (unknown query parameters are refused)"]
    ] as const) {
      const r = await call(`${server.url}${path}`)
      expect([path, r.status, r.body["error"]?.["type"], r.body["error"]?.["details"]?.["field"], r.body["error"]?.["details"]?.["fix"]]).toEqual([path, 400, "InputError", field, fix])
    }
    const listed = await call(`${server.url}/v1/runs?graph=nope`)
    expect(listed.body["error"]["details"]["message"]).toBe("unknown query parameter 'graph': this route takes status, graph_id, thread_id, limit, cursor")
    // The parameters the routes take still work.
    expect((await call(`${server.url}/v1/runs?graph_id=nope`)).body).toEqual({ runs: [], next_cursor: null })
    expect((await call(`${server.url}/v1/runs?graph_id=run:hello-stargraph&status=done&limit=5`)).body["runs"]).toHaveLength(1)
    expect((await call(`${server.url}/v1/artifacts/${artifact}?run_id=run-x`)).status).toBe(404)
  })

  it("a thread_id no run can have (empty, over 200 characters, unprintable) answers 400 ThreadError[invalid-thread-id], as POST /v1/runs does", async () => {
    for (const threadId of ["", " ", "x".repeat(300), "tab%09here"]) {
      const r = await call(`${server.url}/v1/runs?thread_id=${threadId}`)
      expect([threadId, r.status, r.body["error"]?.["type"], r.body["error"]?.["details"]?.["reason"], r.body["error"]?.["details"]?.["field"]])
        .toEqual([threadId, 400, "ThreadError", "invalid-thread-id", "thread_id"])
      expect(r.body["error"]["details"]["fix"]).toContain("pass a thread id of 1 to 200 printable characters")
    }
    const posted = await call(`${server.url}/v1/runs`, { graph_id: "run:hello-stargraph", params: { message: "q" }, thread_id: "" })
    expect([posted.status, posted.body["error"]["details"]["reason"]]).toEqual([400, "invalid-thread-id"])
    const unprintable = await call(`${server.url}/v1/threads/tab%09here`)
    expect([unprintable.status, unprintable.body["error"]["type"], unprintable.body["error"]["details"]["reason"]]).toEqual([400, "ThreadError", "invalid-thread-id"])
    // The longest thread id POST /v1/runs takes can be read back by its path, percent-encoded too (over the router's default 100 characters).
    for (const threadId of ["t".repeat(200), "é".repeat(150)]) {
      const started = await call(`${server.url}/v1/runs`, { graph_id: "run:hello-stargraph", params: { message: "long" }, thread_id: threadId })
      expect(started.status).toBe(202)
      await settled(started.body["run_id"], ["done"])
      const thread = await call(`${server.url}/v1/threads/${encodeURIComponent(threadId)}`)
      expect([thread.status, thread.body["thread_id"], thread.body["runs"]?.length]).toEqual([200, threadId, 1])
      expect((await call(`${server.url}/v1/runs?thread_id=${encodeURIComponent(threadId)}`)).body["runs"]).toHaveLength(1)
    }
    // A path parameter past the router's limit is not a route: 404, not a 405 that says GET is not answered and to use GET.
    const tooLong = await call(`${server.url}/v1/runs/${"x".repeat(5000)}`)
    expect([tooLong.status, tooLong.body["error"]["details"]["reason"]]).toEqual([404, "not-found"])
    // A valid id no run is on: an empty page, and 404 for the thread itself.
    expect((await call(`${server.url}/v1/runs?thread_id=nobody`)).body).toEqual({ runs: [], next_cursor: null })
    expect((await call(`${server.url}/v1/threads/nobody`)).status).toBe(404)
  })
})

/** The status, text and (for a JSON answer) parsed body of `method path` (a JSON body for a POST). */
const ask = async (method: "GET" | "HEAD" | "POST", path: string, json?: unknown) => {
  const response = await fetch(`${server.url}${path}`, method === "POST" ? { method, body: JSON.stringify(json ?? {}), headers: { "content-type": "application/json" } } : { method })
  const text = await response.text()
  const isJson = (response.headers.get("content-type") ?? "").startsWith("application/json")
  return { status: response.status, text, body: (isJson && text ? JSON.parse(text) : {}) as Record<string, any> }
}

describe("routes that take no query parameters", () => {
  it("refuse one with the typed 400 the list routes give (naming it; nothing done), HEAD and POST alike", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:hello-stargraph", params: { message: "none" } })
    const id = created.body["run_id"] as string
    await settled(id, ["done"])
    const before = (await call(`${server.url}/v1/runs?limit=500`)).body["runs"].length
    for (const [method, path, json] of [
      ["GET", "/v1/graphs?graph_id=run:hello-stargraph", undefined],
      ["GET", `/v1/runs/${id}?fields=status`, undefined],
      ["GET", `/v1/runs/${id}/checkpoints?step=1`, undefined],
      ["GET", `/v1/runs/${id}/artifacts?limit=5`, undefined],
      ["GET", "/openapi.json?format=yaml", undefined],
      // A body field given as a query parameter is not read from there: refused, no run started.
      ["POST", "/v1/runs?idempotency_key=k1", { graph_id: "run:hello-stargraph", params: { message: "q" } }],
      ["POST", `/v1/runs/${id}/cancel?force=true`, undefined],
      ["POST", `/v1/runs/${id}/pause?after=1`, undefined],
      ["POST", `/v1/runs/${id}/resume?live_after_fork=true`, undefined],
      ["POST", `/v1/runs/${id}/respond?wait_id=w1`, { response: true }],
      ["POST", `/v1/runs/${id}/state?as_node=a`, { values: { message: "x" } }],
      ["POST", `/v1/runs/${id}/counterfactual?from_step=1`, { from_step: 1 }]
    ] as const) {
      const r = await ask(method, path, json)
      const name = new URL(path, server.url).searchParams.keys().next().value!
      expect([method, path, r.status, r.body["error"]?.["type"], r.body["error"]?.["details"]]).toEqual([method, path, 400, "InputError", {
        field: name,
        message: `unknown query parameter '${name}': this route takes none`,
        fix: `remove the query parameter '${name}' (unknown query parameters are refused)`
      }])
    }
    expect((await ask("HEAD", `/v1/runs/${id}?x=1`)).status).toBe(400)
    // Nothing was started, forked or changed.
    expect((await call(`${server.url}/v1/runs?limit=500`)).body["runs"]).toHaveLength(before)
    expect((await call(`${server.url}/v1/runs/${id}`)).body["status"]).toBe("done")
    // Without the query string, the same requests are answered.
    expect((await ask("GET", `/v1/runs/${id}`)).status).toBe(200)
    expect((await ask("GET", "/healthz")).status).toBe(200)
    // The liveness route ignores a probe's cache buster (a 400 would read as the server down).
    expect((await ask("GET", "/healthz?_=1700000000")).status).toBe(200)
  })

  it("the event stream takes what EventSource polyfills add: lastEventId (event-source-polyfill's reconnect) as Last-Event-ID, and ignores the rest", async () => {
    const created = await call(`${server.url}/v1/runs`, { graph_id: "run:hello-stargraph", params: { message: "sse" } })
    const id = created.body["run_id"] as string
    await settled(id, ["done"])
    const ids = (body: string) => [...body.matchAll(/^id: (.+)$/gm)].map((m) => m[1])
    const whole = await ask("GET", `/v1/runs/${id}/stream`)
    const last = ids(whole.text).at(-1)!
    expect(last).toMatch(/^\d+\.end$/)
    // A cache buster, a polyfill's own parameters: the whole stream, as without them.
    const busted = await ask("GET", `/v1/runs/${id}/stream?_=1700000000000&evs_transport=xhr`)
    expect([busted.status, ids(busted.text)]).toEqual([200, ids(whole.text)])
    // event-source-polyfill reconnects with ?lastEventId=<id> (no header): read as Last-Event-ID.
    const resumed = await ask("GET", `/v1/runs/${id}/stream?lastEventId=1`)
    // After step 1: the events of the steps after it (a live stream's step 2 events would be 1.1, 1.2, …).
    expect(ids(resumed.text)).toEqual(ids(whole.text).filter((i) => !/^(0(\.\d+)?|1)$/.test(i!)))
    const ended = await ask("GET", `/v1/runs/${id}/stream?lastEventId=${encodeURIComponent(last)}`)
    expect([ended.status, ended.text]).toEqual([204, ""])
    // The header, when sent, is what the client saw.
    const both = await fetch(`${server.url}/v1/runs/${id}/stream?lastEventId=${encodeURIComponent(last)}`, { headers: { "last-event-id": "1" } })
    expect([both.status, ids(await both.text())]).toEqual([200, ids(resumed.text)])
  })
})

describe("GET /v1/runs lists each run as GET /v1/runs/{id} shows it", () => {
  it("the same fields and values (but final_state and takeovers), plus owner_liveness; never the graph file's path on the server", async () => {
    const done = await call(`${server.url}/v1/runs`, { graph_id: "run:hello-stargraph", params: { message: "list" } })
    await settled(done.body["run_id"], ["done"])
    const fork = await call(`${server.url}/v1/runs/${done.body["run_id"]}/counterfactual`, { from_step: 1, mutation: { state_overrides: { message: "forked" } } })
    expect(fork.status).toBe(201)
    const waiting = await call(`${server.url}/v1/runs`, { graph_id: "run:approval", params: { request: "r" } })
    await settled(waiting.body["run_id"], ["awaiting-input"])

    const page = await call(`${server.url}/v1/runs?limit=500`)
    expect(page.status).toBe(200)
    const ids = [done.body["run_id"], fork.body["cf_run_id"], waiting.body["run_id"]]
    for (const id of ids) {
      const item = page.body["runs"].find((r: { run_id: string }) => r.run_id === id) as Record<string, unknown>
      const detail = (await call(`${server.url}/v1/runs/${id}`)).body
      const { final_state: _state, takeovers: _takeovers, ...shared } = detail
      const { owner_liveness, ...listed } = item
      expect(owner_liveness).toBeNull()
      expect(listed).toEqual(shared)
      for (const key of ["graph_source", "last_step"]) expect(Object.keys(item)).not.toContain(key)
    }
    // The detail says who started a run, and a fork's derived hash and mutation.
    expect((await call(`${server.url}/v1/runs/${done.body["run_id"]}`)).body).toMatchObject({ actor: "http:127.0.0.1", derived_hash: null, mutation: null })
    const forked = (await call(`${server.url}/v1/runs/${fork.body["cf_run_id"]}`)).body
    expect(forked).toMatchObject({ derived_hash: fork.body["derived_hash"], mutation: { state_overrides: { message: "forked" } } })
    const waits = page.body["runs"].find((r: { run_id: string }) => r.run_id === waiting.body["run_id"])
    expect(waits["waiting"]["wait_id"]).toMatch(/^w[0-9a-f]{12}$/)
    expect(waits["steps"]).toBe(1)
    // No answer names the folder the server found the graphs in.
    expect(page.text).not.toContain(dir)
  })
})
