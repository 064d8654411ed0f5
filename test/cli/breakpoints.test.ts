/**
 * `stargraph run --interrupt-before … --interrupt-after …` (the built binary): where the run
 * pauses, what `inspect` shows, `resume` continuing it (a response refused), and unknown
 * node ids refused before the database is touched.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { writeBreakpointGraph } from "../helpers/breakpointGraph.js"
import { runIdOf, stargraph, tempDir } from "../helpers/cli.js"

let work: string

beforeAll(() => {
  work = tempDir()
  writeBreakpointGraph(work)
})

describe("stargraph run --interrupt-before / --interrupt-after", () => {
  it("pauses after a, then before b (exit 3 each time, with the command that continues); inspect shows it; resume finishes the run", async () => {
    const db = join(work, "runs.sqlite")
    const first = await stargraph(["run", "graph.yaml", "--db", db, "--interrupt-before", "b", "--interrupt-after", "a", "--quiet"], { cwd: work })
    expect(first.code).toBe(3)
    expect(first.last).toMatch(/^run_id=run-\S+ status=awaiting-input$/)
    const id = runIdOf(first.last)
    expect(first.stderr).toContain("paused at a breakpoint after node 'a' (step 1, committed)")
    expect(first.stderr).toContain(`continue with: stargraph resume ${id} --db ${db}`)
    expect(first.stderr).not.toContain("--response")
    const shown = await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })
    expect(JSON.parse(shown.stdout)).toMatchObject({ status: "awaiting-input", steps: 1, waiting: { kind: "breakpoint", node: "a", when: "after", step: 1 } })
    // Answering a breakpoint is refused: it asked nothing.
    const answered = await stargraph(["respond", id, "--db", db, "--response", "true"], { cwd: work })
    expect(answered.code).toBe(2)
    expect(answered.stderr).toMatch(/^error: RunStateError: .*breakpoint after node 'a'.*resume it without a response/)
    const second = await stargraph(["resume", id, "--db", db, "--quiet"], { cwd: work })
    expect(second.code).toBe(3)
    expect(second.stderr).toContain("paused at a breakpoint before node 'b' (step 2, not run yet)")
    const timeline = await stargraph(["inspect", id, "--db", db], { cwd: work })
    expect(timeline.stdout).toMatch(/\n2\s+b\s+awaiting-input\s+-\s+breakpoint before node 'b'/)
    const third = await stargraph(["resume", id, "--db", db], { cwd: work })
    expect(third.code).toBe(0)
    expect(third.last).toBe(`run_id=${id} status=done`)
    expect(third.stdout).toContain('log: ["a","b","c"]')
    // A replay inherits none of them; given its own, it pauses there, and resume finishes it.
    const exact = await stargraph(["replay", id, "--db", db], { cwd: work })
    expect(exact.code).toBe(0)
    const fork = await stargraph(["replay", id, "--db", db, "--interrupt-before", "c"], { cwd: work })
    expect(fork.code).toBe(3)
    const cf = /cf_run_id=(\S+)/.exec(fork.stdout)?.[1] ?? ""
    const forkDone = await stargraph(["resume", cf, "--db", db, "--quiet"], { cwd: work })
    expect([forkDone.code, forkDone.last]).toEqual([0, `run_id=${cf} status=done`])
    const refused = await stargraph(["replay", id, "--db", db, "--interrupt-after", "zz"], { cwd: work })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/^error: InputError: --interrupt-after: no node 'zz' in the graph/)
  })

  it("'*' pauses before every node", async () => {
    const db = join(work, "star.sqlite")
    const first = await stargraph(["run", "graph.yaml", "--db", db, "--interrupt-before", "*", "--quiet"], { cwd: work })
    expect(first.code).toBe(3)
    expect(first.stderr).toContain("breakpoint before node 'a' (step 1, not run yet)")
    const second = await stargraph(["resume", runIdOf(first.last), "--db", db, "--quiet"], { cwd: work })
    expect(second.stderr).toContain("breakpoint before node 'b' (step 2, not run yet)")
  })

  it("an unknown node id exits 2 naming the flag, the id and the graph's nodes, before the database is created", async () => {
    const db = join(work, "never.sqlite")
    const r = await stargraph(["run", "graph.yaml", "--db", db, "--interrupt-after", "a,nope"], { cwd: work })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toMatch(/^error: InputError: --interrupt-after: no node 'nope' in the graph \(its nodes: a, b, c\) \(fix: name nodes of the graph, or "\*" for every node\)\n$/)
    expect(existsSync(db)).toBe(false)
  })
})
