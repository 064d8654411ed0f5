/**
 * An empty request body is no body, whatever its framing: `Content-Length: 0` and a chunked
 * body of no chunks (`Transfer-Encoding: chunked`, only its last chunk) get the same answer.
 * `/resume`, whose body is optional, takes either as no body; a route whose body is
 * required refuses either the same way. Real HTTP requests over a socket (node:http) to a
 * real server on 127.0.0.1 (ephemeral port) over a real SQLite file.
 */
import { request } from "node:http"
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

/** How an empty body is framed: `Content-Length: 0`, or chunked with no chunk before the last (`0\r\n\r\n`). */
type Framing = "content-length" | "chunked"

/** POST `path` with an empty body framed as `framing`: the status and the parsed answer. */
const postEmpty = (path: string, framing: Framing) =>
  new Promise<{ readonly status: number; readonly body: Record<string, any> }>((resolve, reject) => {
    const req = request(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(framing === "chunked" ? { "transfer-encoding": "chunked" } : { "content-length": "0" }) }
    }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (text += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) as Record<string, any> : {} }))
    })
    req.on("error", reject)
    // Node frames the end of a chunked body as the last chunk alone, and sends no body with Content-Length: 0.
    req.end()
  })

/** A run of `run:bp` stopped at its breakpoint before `b` (a `/resume` continues it). */
const atBreakpoint = async () => {
  const created = await call(`${server.url}/v1/runs`, { graph_id: "run:bp", interrupt_before: ["b"] })
  expect(created.status).toBe(202)
  const id = created.body["run_id"] as string
  await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["waiting"]?.["kind"] === "breakpoint")
  return id
}

describe("an empty body is no body, whatever its framing", () => {
  for (const framing of ["content-length", "chunked"] as const) {
    it(`POST /v1/runs/{id}/resume with an empty body (${framing}) resumes the run, as with no body`, async () => {
      const id = await atBreakpoint()
      const resumed = await postEmpty(`/v1/runs/${id}/resume`, framing)
      expect([resumed.status, resumed.body]).toEqual([202, { run_id: id, status: "running" }])
      const done = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "done")
      expect(done.body).toMatchObject({ status: "done", final_state: { n: 3, log: ["a", "b", "c"] } })
    })
  }

  it("a route whose body is required answers an empty body the same whatever its framing (the body must be a JSON object, got null)", async () => {
    const answers = await Promise.all((["content-length", "chunked"] as const).map((framing) => postEmpty("/v1/runs", framing)))
    expect(answers[1]).toEqual(answers[0])
    expect([answers[0]!.status, answers[0]!.body["error"]?.["type"], answers[0]!.body["error"]?.["details"]?.["message"]])
      .toEqual([400, "InputError", "the request body must be a JSON object, got null"])
    const id = await atBreakpoint()
    const responds = await Promise.all((["content-length", "chunked"] as const).map((framing) => postEmpty(`/v1/runs/${id}/respond`, framing)))
    expect(responds[1]).toEqual(responds[0])
    expect(responds[0]!.status).toBe(400)
  })

  it("a route that takes no body (cancel) does as asked with an empty chunked body", async () => {
    const id = await atBreakpoint()
    const cancelled = await postEmpty(`/v1/runs/${id}/cancel`, "chunked")
    expect([cancelled.status, cancelled.body]).toEqual([200, { run_id: id, status: "cancelled" }])
  })
})
