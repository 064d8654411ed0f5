/**
 * A run the runtime broke under (a step's commit failed) ends `error`: `stargraph serve`
 * says so on stderr with the fix, and `POST /v1/runs/{id}/resume` continues it once the
 * cause is gone, as `stargraph resume` does.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { startStargraph, tempDir } from "../helpers/cli.js"

const call = async (url: string, json?: unknown) => {
  const response = await fetch(url, json === undefined ? {} : { method: "POST", body: JSON.stringify(json), headers: { "content-type": "application/json" } })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) as Record<string, any> : {} }
}

const settled = async (url: string, ms = 20_000) => {
  const deadline = Date.now() + ms
  for (;;) {
    const r = await call(url)
    if (["done", "failed", "error"].includes(r.body["status"]) || Date.now() > deadline) return r
    await new Promise((res) => setTimeout(res, 50))
  }
}

describe("a run that ends error under stargraph serve", () => {
  it("is named on stderr with the fix, and POST /v1/runs/{id}/resume continues it to done", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "big"))
    const marker = join(dir, "too-big")
    // Step b writes more than the checkpoint size limit while the marker file exists: its commit fails.
    writeFileSync(join(dir, "big", "nodes.js"), [
      "import { existsSync } from \"node:fs\"",
      "export const a = async (s) => ({ n: s.n + 1 })",
      `export const b = async (s) => ({ n: s.n + 1, blob: existsSync(${JSON.stringify(marker)}) ? "x".repeat(50000) : "small" })`,
      ""
    ].join("\n"))
    writeFileSync(join(dir, "big", "graph.yaml"), [
      "ir_version: \"1.0.0\"", "id: run:big",
      "state_schema: { fields: { n: { type: integer, default: 0 }, blob: { type: string, default: \"\" } } }",
      "nodes:", "  - { id: a, kind: function, module: ./nodes.js, export: a }", "  - { id: b, kind: function, module: ./nodes.js, export: b }",
      "edges: [{ from: a, to: b }]", ""
    ].join("\n"))
    writeFileSync(marker, "")
    const cli = startStargraph(["serve", "--port", "0", "--db", join(dir, "serve.sqlite"), "--graphs", join(dir, "big")], {
      cwd: dir,
      env: { STARGRAPH_MAX_CHECKPOINT_BYTES: "20000" }
    })
    try {
      await cli.waitForStdout(/listening on http:\/\/\S+/)
      const url = /listening on (http:\/\/\S+)/.exec(cli.stdout())![1]!
      const started = await call(`${url}/v1/runs`, { graph_id: "run:big", params: {} })
      expect(started.status, JSON.stringify(started.body)).toBe(202)
      const runId = started.body["run_id"] as string
      const broken = await settled(`${url}/v1/runs/${runId}`)
      expect(broken.body).toMatchObject({ status: "error", error: { type: "CheckpointError", details: { reason: "checkpoint-too-large" } } })
      // One line on the server's stderr: the run, its step, the cause and the fix.
      await cli.waitForStderr(new RegExp(`^run ${runId} .*ended error after step 1: .*checkpoint.*; once the cause is fixed, resume it from there: POST /v1/runs/${runId}/resume or stargraph resume ${runId}$`, "m"), 10_000)
      // The cause fixed: the run goes on from its committed step.
      rmSync(marker)
      expect(existsSync(marker)).toBe(false)
      const resumed = await call(`${url}/v1/runs/${runId}/resume`, {})
      expect(resumed.status, JSON.stringify(resumed.body)).toBe(202)
      const done = await settled(`${url}/v1/runs/${runId}`)
      expect(done.body).toMatchObject({ status: "done", error: null, final_state: { n: 2, blob: "small" } })
      // A done run is not resumed again.
      expect((await call(`${url}/v1/runs/${runId}/resume`, {})).status).toBe(409)
    } finally {
      cli.child.kill("SIGTERM")
      await cli.done
    }
  }, 60_000)
})
