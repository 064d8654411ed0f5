import { spawn } from "node:child_process"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const GRAPH = join(ROOT, "test", "fixtures", "slow", "graph.yaml")

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const readRun = (db: string) => {
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  try {
    const run = conn.prepare("SELECT run_id, status FROM runs_history").get() as { run_id: string; status: string } | undefined
    const steps = run
      ? (conn.prepare("SELECT step FROM checkpoints WHERE run_id = ? ORDER BY step").all(run.run_id) as Array<{ step: number }>).map((r) => r.step)
      : []
    return { run, steps }
  } finally {
    conn.close()
  }
}

describe("crash safety", () => {
  it("resumes a kill -9'd run from its last checkpoint to the same final state, no step lost or repeated", async () => {
    const dir = tempDir()
    const crashedDb = join(dir, "crashed.sqlite")
    const child = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), "run", GRAPH, "--checkpoint", crashedDb, "--no-summary"], {
      stdio: "ignore"
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)))
    // Wait until a few steps are durable, then kill mid-run.
    let seen: ReturnType<typeof readRun> = { run: undefined, steps: [] }
    for (let i = 0; i < 200 && seen.steps.length < 4; i++) {
      await sleep(50)
      try {
        seen = readRun(crashedDb)
      } catch {
        // the file may not exist yet
      }
    }
    child.kill("SIGKILL")
    expect(await exited).toBe("SIGKILL")
    const before = readRun(crashedDb)
    expect(before.run?.status).toBe("running")
    expect(before.steps.length).toBeGreaterThanOrEqual(4)
    expect(before.steps.length).toBeLessThan(11)
    // An operator sees that nobody drives it any more.
    const listed = await stargraph(["list", "--db", crashedDb])
    expect(listed.stdout).toMatch(new RegExp(`^${before.run!.run_id}\\s+\\S+\\s+running \\(owner gone\\)`, "m"))
    const shown = await stargraph(["inspect", before.run!.run_id, "--db", crashedDb])
    expect(shown.stdout).toMatch(/^driven by \S+ \(gone: `stargraph resume` continues the run, a server adopts it\)$/m)

    const resumed = await stargraph(["resume", before.run!.run_id, "--db", crashedDb, "--no-summary"], { env: { SLOW_NODE_MS: "5" } })
    expect(resumed.stderr).toBe("")
    expect(resumed.last).toBe(`run_id=${before.run!.run_id} status=done`)
    const after = readRun(crashedDb)
    expect(after.steps).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])

    const cleanDb = join(dir, "clean.sqlite")
    const clean = await stargraph(["run", GRAPH, "--checkpoint", cleanDb, "--no-summary"], { env: { SLOW_NODE_MS: "5" } })
    const finalState = async (db: string, id: string) =>
      (JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"])).stdout) as { final_state: unknown }).final_state
    const expected = await finalState(cleanDb, runIdOf(clean.last))
    expect(await finalState(crashedDb, before.run!.run_id)).toEqual(expected)
    expect(expected).toEqual({
      count: 10,
      log: ["n0@0", "n1@1", "n2@2", "n3@3", "n4@4", "n5@5", "n6@6", "n7@7", "n8@8", "n9@9"]
    })
  })
})

describe("idempotency after a crash", () => {
  it("re-running `run --idempotency-key K` after the first process was kill -9'd finishes that run instead of hanging", async () => {
    const db = join(tempDir(), "idem.sqlite")
    const args = ["run", GRAPH, "--checkpoint", db, "--no-summary", "--idempotency-key", "nightly-42"]
    const child = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), ...args], { stdio: "ignore" })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)))
    let seen: ReturnType<typeof readRun> = { run: undefined, steps: [] }
    for (let i = 0; i < 200 && seen.steps.length < 3; i++) {
      await sleep(50)
      try {
        seen = readRun(db)
      } catch {
        // not created yet
      }
    }
    child.kill("SIGKILL")
    expect(await exited).toBe("SIGKILL")
    const crashed = readRun(db)
    expect(crashed.run?.status).toBe("running")

    const again = await stargraph(args, { env: { SLOW_NODE_MS: "5" } })
    expect(again.stderr).toBe("")
    expect(again.last).toBe(`run_id=${crashed.run!.run_id} status=done`)
    expect(readRun(db).steps).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  })
})
