/**
 * A node's error of several lines is kept whole: the terminal shows its first line, the
 * database (`stargraph inspect`, text and `--json`), the audit log and the HTTP run view
 * every line of it (the HTTP view without stack frames).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { runIdOf, startStargraph, stargraph, tempDir } from "../helpers/cli.js"

describe("a node's error of several lines", () => {
  it("is kept whole in the run record, inspect, the audit log and GET /v1/runs/{id}", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "g"))
    writeFileSync(join(dir, "g", "nodes.js"), "export const x = () => { throw new Error(\"first line\\nsecond line\") }\n")
    writeFileSync(join(dir, "g", "graph.yaml"), [
      "ir_version: \"1.0.0\"", "id: run:multiline",
      "state_schema: { fields: { n: { type: integer, default: 0 } } }",
      "nodes:", "  - { id: x, kind: function, module: ./nodes.js, export: x }",
      "edges: []", ""
    ].join("\n"))
    const db = join(dir, "x.sqlite")
    const audit = join(dir, "audit.jsonl")
    const run = await stargraph(["run", "g/graph.yaml", "--db", db, "--audit-log", audit], { cwd: dir })
    expect(run.code).not.toBe(0)
    // The terminal's one line: the first line of the cause.
    expect(run.stderr).toContain("NodeExecutionError: node 'x' failed at step 1: Error: first line")
    const runId = runIdOf(run.stdout + run.stderr)
    expect(runId).not.toBe("")

    // The SQLite file itself holds the second line.
    expect(readFileSync(db).includes("second line")).toBe(true)

    const json = await stargraph(["inspect", runId, "--db", db, "--json"], { cwd: dir })
    const summary = JSON.parse(json.stdout) as { error: { message: string; details: { cause: string; errorTag?: string } } }
    expect(summary.error.message).toBe("NodeExecutionError: node 'x' failed at step 1: Error: first line")
    expect(summary.error.details.cause).toMatch(/^Error: first line\nsecond line/)

    const text = await stargraph(["inspect", runId, "--db", db], { cwd: dir })
    expect(text.stdout).toMatch(/\nerror cause:\n {2}Error: first line\n {2}second line\n/)

    const line = readFileSync(audit, "utf8").split("\n").filter((l) => l.includes("\"run.failed\""))
    expect(line).toHaveLength(1)
    expect((JSON.parse(line[0]!) as { error: { details: { cause: string } } }).error.details.cause).toMatch(/^Error: first line\nsecond line/)

    const server = startStargraph(["serve", "--port", "0", "--db", db, "--graphs", join(dir, "g")], { cwd: dir })
    try {
      await server.waitForStdout(/listening on http:\/\/\S+/)
      const url = /listening on (http:\/\/\S+)/.exec(server.stdout())![1]!
      const view = await (await fetch(`${url}/v1/runs/${runId}`)).json() as { error: { details: { cause: string } } }
      // No stack frame on the wire, but every line of the message.
      expect(view.error.details.cause).toBe("Error: first line\nsecond line")
    } finally {
      server.child.kill("SIGTERM")
      await server.done
    }
  }, 60_000)
})
