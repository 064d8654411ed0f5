/**
 * The built `stargraph` binary refusing, exit 2 and nothing changed: `respond`/`resume
 * --live-after-fork` for a run that is not a counterfactual fork (the option means nothing
 * there), and, for a fork's child run, `update-state` (naming the fork to fork again) and a
 * direct `respond --live-after-fork` (naming the fork to answer with it).
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { runIdOf, stargraph, tempDir } from "../helpers/cli.js"

let work: string

beforeAll(() => {
  work = tempDir()
  // Asks for a number, then doubles it with a recorded tool call; a parent that runs it as a subgraph.
  writeFileSync(join(work, "child.yaml"), [
    'ir_version: "1.0.0"', "id: cli:ask-double", "state_schema:", "  fields:", "    n: { type: integer, default: 0 }", "    doubled: { type: integer, default: 0 }",
    "nodes:", '  - { id: ask, kind: interrupt, prompt: "number?", response_field: n }',
    '  - { id: dbl, kind: tool, tool: std.calculator@1, inputs: { expression: "{{n}} * 2" }, out: { doubled: result } }', "edges:", "  - { from: ask, to: dbl }", ""
  ].join("\n"))
  writeFileSync(join(work, "parent.yaml"), [
    'ir_version: "1.0.0"', "id: cli:sub-ask-double", "state_schema:", "  fields:", "    n: { type: integer, default: 0 }", "    doubled: { type: integer, default: 0 }",
    "nodes:", "  - { id: sub, kind: subgraph, spec: ./child.yaml }", ""
  ].join("\n"))
})

/** Everything `inspect --json` shows of a run (its record's summary, checkpoints, children). */
const shown = async (id: string, db: string) => {
  const r = await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout) as { status: string; waiting?: { payload?: Record<string, unknown> } | null; checkpoints: ReadonlyArray<unknown> }
}

describe("stargraph respond/resume --live-after-fork on a run that is not a fork", () => {
  it("is refused with exit 2, naming the flag, that the run is not a fork and the command without it; nothing changes; without it the run finishes", async () => {
    const db = join(work, "plain.sqlite")
    const first = await stargraph(["run", "child.yaml", "--db", db, "--quiet"], { cwd: work })
    expect(first.code).toBe(3)
    const id = runIdOf(first.last)
    const before = await shown(id, db)
    expect(before.status).toBe("awaiting-input")
    const refused = await stargraph(["respond", id, "--db", db, "--response", "7", "--live-after-fork"], { cwd: work })
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 2, stdout: "" })
    expect(refused.stderr.trim()).toBe(
      `error: RunStateError: run ${id} is not a counterfactual fork (it was not made by forking another run), so live calls after a fork ` +
        "(--live-after-fork on the CLI, live_after_fork over HTTP, liveAfterFork in an app) do not apply to it: it has no parent's recording " +
        "to answer its calls from and makes them live anyway. It was not answered (nothing was changed) " +
        `(fix: answer it without the option: stargraph respond ${id} --response '<json>' on the CLI, POST /v1/runs/${id}/respond with {"response": <JSON>} over HTTP, ` +
        "resume options { response } without liveAfterFork in an app)"
    )
    expect(await shown(id, db)).toEqual(before)
    const done = await stargraph(["respond", id, "--db", db, "--response", "7", "--quiet"], { cwd: work })
    expect([done.code, done.last]).toEqual([0, `run_id=${id} status=done`])
  })

  it("resume --live-after-fork of a run paused at a breakpoint is refused the same way (exit 2, nothing changed)", async () => {
    const db = join(work, "breakpoint.sqlite")
    const first = await stargraph(["run", "child.yaml", "--db", db, "--interrupt-before", "ask", "--quiet"], { cwd: work })
    expect(first.code).toBe(3)
    const id = runIdOf(first.last)
    const before = await shown(id, db)
    const refused = await stargraph(["resume", id, "--db", db, "--live-after-fork"], { cwd: work })
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 2, stdout: "" })
    expect(refused.stderr).toMatch(new RegExp(`^error: RunStateError: run ${id} is not a counterfactual fork .* It was not resumed \\(nothing was changed\\) \\(fix: resume it without the option: stargraph resume ${id} on the CLI`))
    expect(await shown(id, db)).toEqual(before)
  })
})

describe("a counterfactual fork's child run on the CLI", () => {
  it("update-state and respond --live-after-fork on it are refused with exit 2 naming the fork; nothing changes; the fork answered with the flag finishes", async () => {
    const db = join(work, "fork.sqlite")
    const parent = runIdOf((await stargraph(["run", "parent.yaml", "--db", db, "--quiet"], { cwd: work })).last)
    const forked = await stargraph(["replay", parent, "--db", db, "--quiet"], { cwd: work })
    expect(forked.code).toBe(3)
    const cf = runIdOf(forked.last)
    const forkBefore = await shown(cf, db)
    const child = String(forkBefore.waiting?.payload?.["child_run_id"])
    const childBefore = await shown(child, db)
    expect(childBefore.status).toBe("awaiting-input")
    const edited = await stargraph(["update-state", child, "--db", db, "--set", "n=5"], { cwd: work })
    expect({ code: edited.code, stdout: edited.stdout }).toEqual({ code: 2, stdout: "" })
    expect(edited.stderr).toMatch(new RegExp(`^error: RunStateError: run ${child} is a child run of fork ${cf}, .*so its state was not edited \\(nothing was written\\) ` +
      `\\(fix: fork ${cf} again from its last step with the state you want instead, with live calls allowed .*: stargraph replay ${cf} --from-step \\d+ --mutation`))
    const answered = await stargraph(["respond", child, "--db", db, "--response", "7", "--live-after-fork"], { cwd: work })
    expect({ code: answered.code, stdout: answered.stdout }).toEqual({ code: 2, stdout: "" })
    expect(answered.stderr).toMatch(new RegExp(`^error: RunStateError: run ${child} is a child run of fork ${cf}, .*\\(fix: answer the fork instead, .*stargraph respond ${cf} --response '<json>' --live-after-fork on the CLI`))
    expect(await shown(child, db)).toEqual(childBefore)
    expect(await shown(cf, db)).toEqual(forkBefore)
    const done = await stargraph(["respond", cf, "--db", db, "--response", "7", "--live-after-fork", "--quiet"], { cwd: work })
    expect([done.code, done.last]).toEqual([0, `run_id=${cf} status=done`])
  })
})
