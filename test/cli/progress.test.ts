/** `stargraph run` / `resume` talk while they work: one line per committed step. */
import { spawn, spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { BIN, hasAnsi, ROOT, runIdOf, startStargraph, stargraph, tempDir } from "../helpers/cli.js"

let work: string
beforeAll(() => {
  work = tempDir()
  for (const [name, from] of [["hello", join(ROOT, "examples", "hello")], ["slow", join(ROOT, "test", "fixtures", "slow")]] as const) {
    mkdirSync(join(work, name), { recursive: true })
    for (const file of ["graph.yaml", "nodes.ts"]) copyFileSync(join(from, file), join(work, name, file))
  }
})

const STEP = /^step (\d+)\s+(\S+)\s+[\d.]+ (ms|s)\s+(.*)$/

describe("per-step progress", () => {
  it("prints each committed step as one plain line on a pipe, before the summary, with no escape codes", async () => {
    const r = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=hello", "--db", join(work, "a.sqlite")], { cwd: work })
    expect(r.code).toBe(0)
    expect(hasAnsi(r.stdout)).toBe(false)
    const steps = r.lines.filter((l) => STEP.test(l))
    expect(steps.map((l) => STEP.exec(l)!.slice(1, 3))).toEqual([["1", "greet"], ["2", "count"], ["3", "count"], ["4", "count"], ["5", "summarise"]])
    expect(steps[0]).toContain("greeting=\"Hello, hello!\"")
    expect(r.lines.indexOf(steps[4]!)).toBeLessThan(r.lines.indexOf("final state:"))
    expect(r.last).toMatch(/^run_id=run-\S+ status=done$/)
  })

  it("prints the lines as the steps complete, not at the end", async () => {
    const cli = startStargraph(["run", "slow/graph.yaml", "--db", join(work, "slow.sqlite"), "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "250" } })
    await cli.waitForStdout(/^step 2 /m)
    expect(cli.stdout()).not.toMatch(/run_id=/)
    const r = await cli.done
    expect(r.code).toBe(0)
    expect(r.lines.filter((l) => STEP.test(l))).toHaveLength(10)
  })

  it("--quiet prints only the final line; --no-summary drops the summary block but keeps the step lines", async () => {
    const db = join(work, "b.sqlite")
    const quiet = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=q", "--db", db, "--quiet"], { cwd: work })
    expect(quiet.code).toBe(0)
    expect(quiet.lines).toEqual([expect.stringMatching(/^run_id=run-\S+ status=done$/)])
    const brief = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=b", "--db", db, "--no-summary"], { cwd: work })
    expect(brief.lines).toHaveLength(6)
    expect(brief.lines.slice(0, 5).every((l) => STEP.test(l))).toBe(true)
    expect(brief.stdout).not.toContain("final state:")
    expect(brief.last).toMatch(/status=done$/)
  })

  it("resume prints only the steps it runs", async () => {
    const db = join(work, "c.sqlite")
    const cli = startStargraph(["run", "slow/graph.yaml", "--db", db, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "300" } })
    await cli.waitForStdout(/^step 1 /m)
    cli.child.kill("SIGINT")
    const stopped = await cli.done
    expect(stopped.last).toMatch(/status=paused$/)
    const id = runIdOf(stopped.last)
    const before = stopped.lines.filter((l) => STEP.test(l)).map((l) => Number(STEP.exec(l)![1]))
    const resumed = await stargraph(["resume", id, "--db", db, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "5" } })
    expect(resumed.code).toBe(0)
    const after = resumed.lines.filter((l) => STEP.test(l)).map((l) => Number(STEP.exec(l)![1]))
    expect([...before, ...after]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  })

  const hasScript = spawnSync("script", ["--version"]).status === 0
  it.skipIf(!hasScript)("draws a live line per step on a TTY, in colour unless NO_COLOR is set", async () => {
    const onTty = (env: NodeJS.ProcessEnv) =>
      new Promise<string>((resolve) => {
        const command = `${process.execPath} ${BIN} run slow/graph.yaml --db ${join(work, "tty.sqlite")} --no-summary`
        const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: work, env: { ...process.env, SLOW_NODE_MS: "120", COLUMNS: "120", ...env } })
        let out = ""
        child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
        child.on("close", () => resolve(out))
      })
    const ESC = "\u001b"
    const colour = await onTty({ NO_COLOR: "" })
    expect(colour).toMatch(new RegExp(`\r${ESC}\\[2K.*step 1 {2}n0 .*running`))
    expect(colour).toContain(`${ESC}[32m✔${ESC}[0m step 10  n9 `)
    const plain = await onTty({ NO_COLOR: "1" })
    expect(plain).toMatch(/✔ step 10 {2}n9 /)
    expect(plain).not.toMatch(new RegExp(`${ESC}\\[\\d+m`))
  })

  it("ends quietly, with the run finished, when its reader closes stdout", async () => {
    const db = join(work, "pipe.sqlite")
    const cli = startStargraph(["run", "slow/graph.yaml", "--db", db], { cwd: work, env: { SLOW_NODE_MS: "50" } })
    await cli.waitForStdout(/^step 1 /m)
    cli.child.stdout!.destroy()
    const r = await cli.done
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const listed = JSON.parse((await stargraph(["list", "--db", db, "--json"], { cwd: work })).stdout) as { runs: Array<{ status: string }> }
    expect(listed.runs.map((run) => run.status)).toEqual(["done"])
  })
})
