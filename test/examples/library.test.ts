import { spawnSync } from "node:child_process"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { program } from "../../examples/library/main.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { ROOT, tempDir } from "../helpers/cli.js"

describe("examples/library", () => {
  it("runs inside a user's Effect program with the SQLite layer and streams events", async () => {
    const filename = join(tempDir(), "lib.sqlite")
    const { eventTypes, summary } = await Effect.runPromise(program.pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(summary.status).toBe("done")
    expect(summary.final_state).toEqual({ value: 84, trail: ["double", "double", "describe"], verdict: "value is 84" })
    expect(eventTypes[0]).toBe("run.started")
    expect(eventTypes[eventTypes.length - 1]).toBe("run.finished")
    expect(eventTypes.filter((t) => t === "step.completed")).toHaveLength(3)
  })

  it("runs as a script with tsx, as the README shows", () => {
    const filename = join(tempDir(), "lib.sqlite")
    const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "examples", "library", "main.ts"), filename], { encoding: "utf8", cwd: ROOT })
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/run_id=run-\S+ status=done verdict=value is 84/)
  })
})
