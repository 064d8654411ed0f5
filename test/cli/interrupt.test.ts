/** Ctrl-C during `run`, `resume` and `replay`: the run is left paused (twice: cancelled), never lost. */
import { copyFileSync, existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { beforeAll, describe, expect, it } from "vitest"
import { ROOT, runIdOf, startStargraph, stargraph, tempDir } from "../helpers/cli.js"

let work: string
let db: string
beforeAll(() => {
  work = tempDir()
  db = join(work, "runs.sqlite")
  mkdirSync(join(work, "slow"))
  for (const file of ["graph.yaml", "nodes.ts"]) copyFileSync(join(ROOT, "test", "fixtures", "slow", file), join(work, "slow", file))
})

const inspectList = async () =>
  (JSON.parse((await stargraph(["list", "--db", db, "--json"], { cwd: work })).stdout) as { runs: Array<{ run_id: string; status: string }> }).runs

const inspect = async (id: string) =>
  JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })).stdout) as {
    status: string
    steps: number
    final_state: { count: number; log: Array<string> }
  }

/** Start the slow graph and send SIGINT `presses` times once its first step is printed. */
const interruptRun = async (presses: number) => {
  const cli = startStargraph(["run", "slow/graph.yaml", "--db", db, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "400" } })
  await cli.waitForStdout(/^step 1 /m)
  for (let i = 0; i < presses; i++) {
    cli.child.kill("SIGINT")
    await new Promise((r) => setTimeout(r, 50))
  }
  return cli.done
}

describe("Ctrl-C", () => {
  it("pauses run after the step in flight, prints the run id, its state and the resume command, exits 130; that command finishes it", async () => {
    const r = await interruptRun(1)
    expect(r.code).toBe(130)
    expect(r.last).toMatch(/^run_id=run-\S+ status=paused$/)
    const id = runIdOf(r.last)
    expect(r.stderr).toContain(`run ${id} paused after step`)
    const command = /continue with: (stargraph resume .*)$/m.exec(r.stderr)?.[1]
    expect(command).toBe(`stargraph resume ${id} --db ${db}`)
    const paused = await inspect(id)
    expect(paused.status).toBe("paused")
    expect(paused.steps).toBeGreaterThanOrEqual(1)
    expect(paused.steps).toBeLessThan(10)

    const resumed = await stargraph(command!.split(" ").slice(1), { cwd: work, env: { SLOW_NODE_MS: "5" } })
    expect(resumed.code).toBe(0)
    expect(resumed.last).toBe(`run_id=${id} status=done`)
    const done = await inspect(id)
    // Every step ran exactly once across the two processes.
    expect(done.final_state.count).toBe(10)
    expect(done.final_state.log).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}@${i}`))
  })

  it("SIGTERM pauses the run like a first Ctrl-C: every step line, the final line, the resume command; a second SIGTERM changes nothing", async () => {
    const cli = startStargraph(["run", "slow/graph.yaml", "--db", db], { cwd: work, env: { SLOW_NODE_MS: "400" } })
    await cli.waitForStdout(/^step 1 /m)
    cli.child.kill("SIGTERM")
    await new Promise((r) => setTimeout(r, 50))
    cli.child.kill("SIGTERM")
    const r = await cli.done
    expect(r.code).toBe(130)
    expect(r.last).toMatch(/^run_id=run-\S+ status=paused$/)
    const id = runIdOf(r.last)
    expect(r.stderr).toContain(`SIGTERM: pausing run ${id} after the step in flight`)
    expect(r.stderr).toContain(`continue with: stargraph resume ${id} --db ${db}`)
    const paused = await inspect(id)
    expect(paused.status).toBe("paused")
    // Every committed step was printed, once.
    const lines = r.stdout.split("\n").filter((l) => /^step \d+ /.test(l)).map((l) => Number(/^step (\d+)/.exec(l)![1]))
    expect(lines).toEqual(Array.from({ length: paused.steps }, (_, i) => i + 1))
  })

  it("a second Ctrl-C cancels the run: the step in flight is interrupted, exit 130, and resume refuses it", async () => {
    const r = await interruptRun(2)
    expect(r.code).toBe(130)
    expect(r.last).toMatch(/status=cancelled$/)
    const id = runIdOf(r.last)
    expect(r.stderr).toContain(`run ${id} cancelled at step`)
    expect(r.stderr).toContain(`stargraph replay ${id} --db ${db}`)
    const cancelled = await inspect(id)
    expect(cancelled.status).toBe("cancelled")
    expect(cancelled.steps).toBeLessThan(10)
    const again = await stargraph(["resume", id, "--db", db], { cwd: work })
    expect(again.code).toBe(2)
  })

  it("a second Ctrl-C exits at once even when the interrupted node was in the middle of a long wait (its timer does not keep the command alive)", async () => {
    const slowDb = join(work, "very-slow.sqlite")
    const cli = startStargraph(["run", "slow/graph.yaml", "--db", slowDb, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "30000" } })
    // Wait until the run is running its first step (nothing prints before the step ends).
    for (let i = 0; i < 200; i++) {
      const running = existsSync(slowDb) && (() => {
        const conn = new Database(slowDb, { readonly: true, fileMustExist: true })
        try {
          return conn.prepare("SELECT count(*) AS n FROM runs_history WHERE status = 'running'").get() as { n: number }
        } catch {
          return { n: 0 }
        } finally {
          conn.close()
        }
      })()
      if (running !== false && running.n > 0) break
      await new Promise((r) => setTimeout(r, 50))
    }
    cli.child.kill("SIGINT")
    await new Promise((r) => setTimeout(r, 100))
    cli.child.kill("SIGINT")
    const t0 = Date.now()
    const r = await cli.done
    // Before, it waited out the node's 30 s timer.
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect([r.code, r.signal]).toEqual([130, null])
    expect(r.last).toMatch(/status=cancelled$/)
  })

  it("pauses resume the same way", async () => {
    const first = await interruptRun(1)
    const id = runIdOf(first.last)
    const cli = startStargraph(["resume", id, "--db", db, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "400" } })
    await cli.waitForStdout(/^step \d+ /m)
    cli.child.kill("SIGINT")
    const r = await cli.done
    expect(r.code).toBe(130)
    expect(r.last).toBe(`run_id=${id} status=paused`)
    expect(r.stderr).toContain(`stargraph resume ${id} --db ${db}`)
    expect((await inspect(id)).status).toBe("paused")
  })

  it("a replay prints each of the fork's steps as it completes (a long fork is never silent), then its final line; --quiet prints no step lines", async () => {
    const parent = await stargraph(["run", "slow/graph.yaml", "--db", db, "--quiet"], { cwd: work, env: { SLOW_NODE_MS: "1" } })
    const parentId = runIdOf(parent.last)
    const cli = startStargraph(["replay", parentId, "--db", db], { cwd: work, env: { SLOW_NODE_MS: "300" } })
    let exited = false
    void cli.done.then(() => (exited = true))
    await cli.waitForStdout(/^step 1 /m)
    // Printed while the fork still runs (its ten steps take three seconds).
    expect(exited).toBe(false)
    const r = await cli.done
    const cf = /^cf_run_id=(cf-\S+)$/m.exec(r.stdout)![1]!
    expect(r.code).toBe(0)
    expect(r.lines.filter((l) => /^step \d+ /.test(l)).map((l) => Number(l.split(" ")[1]))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
    expect(r.last).toBe(`run_id=${cf} status=done`)
    const quiet = await stargraph(["replay", parentId, "--db", db, "--from-step", "8", "--quiet"], { cwd: work, env: { SLOW_NODE_MS: "1" } })
    expect([quiet.code, quiet.lines]).toEqual([0, [expect.stringMatching(/^cf_run_id=cf-/), expect.stringMatching(/^run_id=cf-\S+ status=done$/)]])
    // A fork from step 8 prints its own steps only (those up to 8 are its parent's).
    const late = await stargraph(["replay", parentId, "--db", db, "--from-step", "8"], { cwd: work, env: { SLOW_NODE_MS: "1" } })
    expect(late.lines.filter((l) => /^step \d+ /.test(l)).map((l) => Number(l.split(" ")[1]))).toEqual([9, 10])
  })

  it("pauses a replay's fork the same way: its id is printed first, exit 130 with the resume command, which finishes it as its parent finished", async () => {
    const parent = await stargraph(["run", "slow/graph.yaml", "--db", db, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "1" } })
    const parentId = runIdOf(parent.last)
    const cli = startStargraph(["replay", parentId, "--db", db], { cwd: work, env: { SLOW_NODE_MS: "400" } })
    await cli.waitForStdout(/^cf_run_id=cf-\S+$/m)
    await new Promise((r) => setTimeout(r, 100))
    cli.child.kill("SIGINT")
    const r = await cli.done
    expect(r.code).toBe(130)
    const cf = /^cf_run_id=(cf-\S+)$/m.exec(r.stdout)![1]!
    expect(r.stderr).toContain(`^C pausing run ${cf} after the step in flight`)
    expect(r.stderr).toContain(`continue with: stargraph resume ${cf} --db ${db}`)
    const paused = await inspect(cf)
    expect(paused.status).toBe("paused")
    expect(paused.steps).toBeLessThan(10)
    const resumed = await stargraph(["resume", cf, "--db", db, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "1" } })
    expect([resumed.code, resumed.last]).toEqual([0, `run_id=${cf} status=done`])
    expect((await inspect(cf)).final_state).toEqual((await inspect(parentId)).final_state)
    // Twice: the fork is cancelled, and the hint replays its parent again (the fork's recording ends there).
    const twice = startStargraph(["replay", parentId, "--db", db, "--from-step", "1"], { cwd: work, env: { SLOW_NODE_MS: "400" } })
    await twice.waitForStdout(/^cf_run_id=cf-\S+$/m)
    await new Promise((r) => setTimeout(r, 100))
    twice.child.kill("SIGINT")
    await new Promise((r) => setTimeout(r, 50))
    twice.child.kill("SIGINT")
    const cancelled = await twice.done
    const cf2 = /^cf_run_id=(cf-\S+)$/m.exec(cancelled.stdout)![1]!
    expect(cancelled.code).toBe(130)
    expect(cancelled.stderr).toContain(`interrupted: fork ${cf2} cancelled at step`)
    expect(cancelled.stderr).toContain(`replay its parent again with: stargraph replay ${parentId} --db ${db} --from-step 1`)
    expect((await inspect(cf2)).status).toBe("cancelled")
  })

  it("a run left running by a process on another host or container: resume and cancel refuse it, and say how to take it over; --take-over does", async () => {
    const cli = startStargraph(["run", "slow/graph.yaml", "--db", db, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "400" } })
    await cli.waitForStdout(/^step 2 /m)
    cli.child.kill("SIGKILL")
    await cli.done
    const id = (await inspectList()).find((r) => r.status === "running")!.run_id
    // The owner as a container's server would leave it: another hostname, not checkable here.
    const conn = new Database(db)
    conn.prepare("UPDATE runs_history SET owner = 'gone-container:1:4242' WHERE run_id = ?").run(id)
    conn.close()
    const refused = await stargraph(["resume", id, "--db", db], { cwd: work })
    expect(refused.code).toBe(2)
    // It has no heartbeat (as an older Stargraph's): never taken over without being told.
    expect(refused.stderr).toContain("on another host or container, whose heartbeat has not been seen to lapse (it has none")
    expect(refused.stderr).toContain("stargraph resume --take-over")
    const cancelRefused = await stargraph(["cancel", id, "--db", db], { cwd: work })
    expect([cancelRefused.code, cancelRefused.stderr]).toEqual([2, expect.stringContaining("cancel with --take-over")])
    const taken = await stargraph(["resume", id, "--db", db, "--take-over", "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "1" } })
    expect([taken.code, taken.last]).toEqual([0, `run_id=${id} status=done`])
    expect((await inspect(id)).final_state.count).toBe(10)
  })

  it("while following a run another live process drives (same idempotency key), stops following and leaves that run alone", async () => {
    const owner = startStargraph(["run", "slow/graph.yaml", "--db", db, "--idempotency-key", "shared", "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "800" } })
    await owner.waitForStdout(/^step 1 /m)
    const follower = startStargraph(["run", "slow/graph.yaml", "--db", db, "--idempotency-key", "shared", "--no-summary"], { cwd: work })
    await follower.waitForStderr(/idempotency key 'shared' already belongs to run \S+, running in process \S+: following it/)
    follower.child.kill("SIGINT")
    const r = await follower.done
    expect(r.code).toBe(130)
    const id = runIdOf(r.last)
    expect(r.stderr).toContain(`interrupted: run ${id} is running in another process; this one stopped following it`)
    expect((await inspect(id)).status).toBe("running")
    owner.child.kill("SIGINT")
    const stopped = await owner.done
    expect([stopped.code, stopped.last]).toEqual([130, `run_id=${id} status=paused`])
  })
})
