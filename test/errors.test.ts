import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { RunStateError, runStateErrorWith, StargraphError } from "../src/errors.js"
import * as Stargraph from "../src/index.js"
import { ROOT } from "./helpers/cli.js"

const tags = StargraphError.members.map((m) => (m as unknown as { readonly identifier: string }).identifier)

describe("the StargraphError union", () => {
  it("every member is exported from the package entry and named in docs/engine.md's Errors section", () => {
    expect(tags.length).toBeGreaterThanOrEqual(23)
    const exported = Stargraph as unknown as Record<string, unknown>
    expect(tags.filter((tag) => typeof exported[tag] !== "function")).toEqual([])
    const engine = readFileSync(join(ROOT, "docs", "engine.md"), "utf8")
    const section = engine.slice(engine.indexOf("## Errors"), engine.indexOf("\n## ", engine.indexOf("## Errors") + 1))
    expect(tags.filter((tag) => !section.includes(`\`${tag}`))).toEqual([])
  })

  it("NodeExecutionError (the one member without a message field: its cause is text) has a one-line message, and formatError leads with its tag", () => {
    const error = new Stargraph.NodeExecutionError({ nodeId: "b", step: 1, cause: "Error: db down\n    at x (y.js:1)", attempts: 2 })
    expect(error.message).toBe("node 'b' failed at step 1: Error: db down")
    expect(String(error)).toBe("NodeExecutionError: node 'b' failed at step 1: Error: db down")
    expect(Stargraph.formatError(error)).toBe("NodeExecutionError: node 'b' failed at step 1: Error: db down")
  })
})

describe("runStateErrorWith", () => {
  it("restates a RunStateError with the fields given, keeping every other (none dropped, none added)", () => {
    const error = new RunStateError({ runId: "run-1", status: "done", operation: "resume", message: "m", waitId: "w0123456789ab", forkRunId: "run-0", fix: "f" })
    const fields = (e: RunStateError) => ({ runId: e.runId, status: e.status, operation: e.operation, message: e.message, fix: e.fix, reason: e.reason, waitId: e.waitId, forkRunId: e.forkRunId, field: e.field })
    const restated = runStateErrorWith(error, { operation: "respond", field: "live_after_fork" })
    expect(restated).toBeInstanceOf(RunStateError)
    expect(fields(restated)).toEqual({ ...fields(error), operation: "respond", field: "live_after_fork" })
    expect(restated.message).toBe("m")
    const bare = runStateErrorWith(new RunStateError({ runId: "r", status: "paused", operation: "resume", message: "m" }), { fix: "x" })
    expect(Object.keys(bare).filter((k) => k !== "_tag").sort()).toEqual(["fix", "operation", "runId", "status"])
    expect(error.operation).toBe("resume")
  })
})
