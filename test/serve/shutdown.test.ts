import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ProjectConfig from "../../src/triggers/ProjectConfig.js"
import { BAD_HOUR_DURATIONS, ROOT, stargraph, tempDir } from "../helpers/cli.js"

/** Start `stargraph serve` as a real process; resolves with its URL and the child. */
const serve = (args: ReadonlyArray<string>) =>
  new Promise<{ url: string; child: ReturnType<typeof spawn>; stderr: () => string }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), "serve", "--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()))
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve({ url: m[1]!, child, stderr: () => err })
    })
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${err}`)))
  })

/**
 * Follow a run's Server-Sent Events at `url` until the server ends the response or goes
 * away: `seen` gives the events' data so far, `ended` all of them (it never rejects: a
 * dropped connection ends it too).
 */
const follow = (url: string) => {
  let text = ""
  // The whole frames so far (each ends with a blank line).
  const events = () => text.slice(0, Math.max(0, text.lastIndexOf("\n\n"))).split("\n\n")
    .flatMap((frame) => frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>))
  const ended = (async () => {
    try {
      const response = await fetch(url, { headers: { accept: "text/event-stream" } })
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        text += decoder.decode(value, { stream: true })
      }
    } catch {
      // The server went away mid-stream: what arrived before counts.
    }
    return events()
  })()
  return { seen: events, ended }
}

/** A one-node no-op graph (`g:noop`) in `<dir>/g`. */
const noopGraphIn = (dir: string) => {
  mkdirSync(join(dir, "g"))
  writeFileSync(join(dir, "g", "graph.yaml"), "ir_version: \"1.0.0\"\nid: g:noop\nstate_schema: { fields: {} }\nnodes: [{ id: a, kind: noop }]\n")
}

describe("stargraph serve as a process", () => {
  it("once its database file is removed, /healthz turns 503 and the server stops within a second, exit 2 (writes would go to a file nobody sees)", async () => {
    const dir = tempDir()
    noopGraphIn(dir)
    const db = join(dir, "data", "serve.sqlite")
    const s = await serve(["--graphs", join(dir, "g"), "--db", db])
    const exited = new Promise<number | null>((resolve) => s.child.on("exit", (code) => resolve(code)))
    try {
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
      rmSync(join(dir, "data"), { recursive: true, force: true })
      // Until it stops (it checks every second), /healthz says why.
      const gone = await fetch(`${s.url}/healthz`)
      const body = await gone.json() as { error: { type: string; message: string; details: { reason: string } } }
      expect([gone.status, body.error.type, body.error.details.reason]).toEqual([503, "ApiError", "unavailable"])
      expect(body.error.message).toMatch(/the database file .*serve\.sqlite was removed or replaced while the server runs: .*restart the server/)
      const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve("still running after 10 s"), 10_000))])
      expect(code).toBe(2)
      expect(s.stderr()).toMatch(/error: CheckpointError\[database-replaced\]: the database file serve\.sqlite was removed or replaced while the server runs: .*Fix: restart the server/)
    } finally {
      s.child.kill("SIGKILL")
    }
  })

  it("follows its audit log when logrotate moves it away, and SIGHUP does not stop it", async () => {
    const dir = tempDir()
    noopGraphIn(dir)
    const log = join(dir, "audit.jsonl")
    const s = await serve(["--graphs", join(dir, "g"), "--db", join(dir, "serve.sqlite"), "--audit-log", log])
    try {
      expect((await fetch(`${s.url}/v1/graphs`)).status).toBe(200)
      renameSync(log, `${log}.1`)
      s.child.kill("SIGHUP")
      await new Promise((r) => setTimeout(r, 1_200))
      expect((await fetch(`${s.url}/v1/runs`)).status).toBe(200)
      expect(s.child.exitCode).toBeNull()
      const events = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { event: string }).event)
      expect(events(`${log}.1`)).toContain("api.graphs.list")
      expect(events(log)).toEqual(["api.runs.list"])
      expect(s.stderr()).toContain("SIGHUP: nothing to reopen")
    } finally {
      s.child.kill("SIGKILL")
    }
  })

  it("says loudly when it uses a temporary database", async () => {
    const dir = tempDir()
    noopGraphIn(dir)
    const s = await serve(["--graphs", join(dir, "g")])
    const file = /using a temporary database at (\S+serve\.sqlite)/.exec(s.stderr())?.[1]
    try {
      expect(s.stderr()).toMatch(/warning: no --db given: using a temporary database at .*serve\.sqlite, removed when the server stops/)
      expect(file !== undefined && existsSync(file)).toBe(true)
    } finally {
      const exited = new Promise<number | null>((r) => s.child.on("exit", r))
      s.child.kill("SIGTERM")
      // SIGTERM: it says it is draining, then exits 0.
      expect(await exited).toBe(0)
      expect(s.stderr()).toContain("stopping: new runs are refused; in-flight runs stop after their current step and go back on the queue for the next server (up to 10 s; ")
    }
    // Its folder goes with it.
    expect(existsSync(join(file!, ".."))).toBe(false)
  })

  it("serves with a class plugin (the how-to's form) beside one that throws at load", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "g"))
    writeFileSync(join(dir, "g", "graph.yaml"), "ir_version: \"1.0.0\"\nid: g:noop\nstate_schema: { fields: { message: { type: string, default: \"\" } } }\nnodes: [{ id: a, kind: noop }]\n")
    writeFileSync(join(dir, "tick.js"), [
      "export class Tick {",
      "  init(deps) { this.deps = deps }",
      "  async start() { await this.deps.scheduler.enqueue('g:noop', { message: 'tick' }, { idempotencyKey: 'tick-1' }) }",
      "  stop() {}",
      "  routes() { return [] }",
      "}", ""
    ].join("\n"))
    writeFileSync(join(dir, "broken.js"), "throw new Error('broken at load')\n")
    writeFileSync(join(dir, "stargraph.yaml"), [
      "graphs: [./g]",
      "plugins:",
      "  - { name: tick, module: ./tick.js, export: Tick }",
      "  - { name: broken, module: ./broken.js }", ""
    ].join("\n"))
    const s = await serve(["--config", join(dir, "stargraph.yaml"), "--db", join(dir, "db.sqlite")])
    try {
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
      let runs: Array<{ idempotency_key: string | null }> = []
      for (let i = 0; i < 100 && runs.length === 0; i++) {
        runs = (await (await fetch(`${s.url}/v1/runs`)).json() as { runs: typeof runs }).runs
        if (runs.length === 0) await new Promise((r) => setTimeout(r, 50))
      }
      expect(runs.map((r) => r.idempotency_key)).toEqual(["trigger:project:tick:tick-1"])
    } finally {
      s.child.kill("SIGTERM")
    }
  })

  it("drains on SIGTERM: stops accepting, lets the in-flight run finish, keeps queued runs, exits 0", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "g"))
    writeFileSync(join(dir, "g", "nodes.js"), "export const slow = async () => { await new Promise((r) => setTimeout(r, 700)); return { done: true } }\n")
    writeFileSync(join(dir, "g", "graph.yaml"), [
      "ir_version: \"1.0.0\"", "id: g:slow", "state_schema: { fields: { done: { type: boolean, default: false } } }",
      "nodes: [{ id: a, kind: function, module: ./nodes.js, export: slow }]", ""
    ].join("\n"))
    const db = join(dir, "db.sqlite")
    const s = await serve(["--graphs", join(dir, "g"), "--db", db, "--audit-log", join(dir, "audit.jsonl")])
    // per-graph concurrency 4: six runs → four in flight, two queued
    const ids: Array<string> = []
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${s.url}/v1/runs`, { method: "POST", body: JSON.stringify({ graph_id: "g:slow" }) })
      ids.push((await r.json() as { run_id: string }).run_id)
    }
    await new Promise((r) => setTimeout(r, 200))
    const exited = new Promise<number | null>((resolve) => s.child.on("exit", (code) => resolve(code)))
    s.child.kill("SIGTERM")
    expect(await exited).toBe(0)
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow()
    const conn = new Database(db, { readonly: true })
    const statuses = ids.map((id) => (conn.prepare("SELECT status FROM runs_history WHERE run_id = ?").get(id) as { status: string }).status)
    const pending = (conn.prepare("SELECT count(*) AS n FROM pending_runs").get() as { n: number }).n
    conn.close()
    expect(statuses.filter((st) => st === "done")).toHaveLength(4)
    expect(statuses.filter((st) => st === "pending")).toHaveLength(2)
    expect(pending).toBe(2)
    expect(s.stderr()).toContain("drained: 4 in-flight runs finished, 0 requeued after their current step, 0 interrupted mid-step")
  })

  it("on SIGTERM a run mid-step commits that step, starts no next one, goes back on the queue; the next server runs the rest, each step once", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "g"))
    const log = join(dir, "steps.log")
    // Each step's body ignores ctx.signal and logs its start and end (its side effects).
    writeFileSync(join(dir, "g", "nodes.js"), [
      "import { appendFileSync } from 'node:fs'",
      `const log = ${JSON.stringify(log)}`,
      "export const step = async (_state, ctx) => {",
      "  appendFileSync(log, `start ${ctx.nodeId}\\n`)",
      "  await new Promise((r) => setTimeout(r, 1500))",
      "  appendFileSync(log, `end ${ctx.nodeId}\\n`)",
      "  return {}",
      "}", ""
    ].join("\n"))
    writeFileSync(join(dir, "g", "graph.yaml"), [
      "ir_version: \"1.0.0\"", "id: g:three", "state_schema: { fields: {} }",
      "nodes:",
      ...["a", "b", "c"].map((id) => `  - { id: ${id}, kind: function, module: ./nodes.js, export: step }`),
      "edges: [{ from: a, to: b }, { from: b, to: c }]", ""
    ].join("\n"))
    const db = join(dir, "db.sqlite")
    const lines = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [])
    const first = await serve(["--graphs", join(dir, "g"), "--db", db, "--audit-log", join(dir, "audit.jsonl")])
    const runId = (await (await fetch(`${first.url}/v1/runs`, { method: "POST", body: JSON.stringify({ graph_id: "g:three" }) })).json() as { run_id: string }).run_id
    // A client follows the run's event stream (SSE) until the server closes it.
    const followed = follow(`${first.url}/v1/runs/${runId}/stream`)
    // Step a under way, and the follower connected (it got the run's first event).
    for (let i = 0; i < 400 && !(lines().includes("start a") && followed.seen().length > 0); i++) await new Promise((r) => setTimeout(r, 25))
    expect(followed.seen()[0]).toMatchObject({ type: "run.started", run_id: runId })
    const exited = new Promise<number | null>((resolve) => first.child.on("exit", (code) => resolve(code)))
    first.child.kill("SIGTERM")
    expect(await exited).toBe(0)
    // Step a committed; b never started.
    expect(lines()).toEqual(["start a", "end a"])
    // The follower saw the drain: run.paused, requeued, at the step committed; then its stream ended.
    const seen = await followed.ended
    expect(seen.map((e) => e.type)).toContain("run.paused")
    expect(seen.find((e) => e.type === "run.paused")).toMatchObject({ type: "run.paused", run_id: runId, step: 1, requeued: true })
    expect(first.stderr()).toContain("drained: 0 in-flight runs finished, 1 requeued after their current step, 0 interrupted mid-step (that step runs again on the next server)")
    const conn = new Database(db, { readonly: true })
    const run = conn.prepare("SELECT status, owner, (SELECT MAX(step) FROM checkpoints WHERE run_id = ?) AS step FROM runs_history WHERE run_id = ?").get(runId, runId)
    const queued = conn.prepare("SELECT run_id, claimed_by FROM pending_runs").all()
    conn.close()
    expect(run).toEqual({ status: "pending", owner: null, step: 1 })
    expect(queued).toEqual([{ run_id: runId, claimed_by: null }])
    // The audit log says it was requeued, not merely paused.
    const paused = readFileSync(join(dir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e["event"] === "run.paused")
    expect(paused).toMatchObject([{ run_id: runId, step: 1, requeued: true }])
    // The next server goes on from step b.
    const second = await serve(["--graphs", join(dir, "g"), "--db", db])
    try {
      let status = ""
      for (let i = 0; i < 400 && status !== "done"; i++) {
        status = (await (await fetch(`${second.url}/v1/runs/${runId}`)).json() as { status: string }).status
        if (status !== "done") await new Promise((r) => setTimeout(r, 50))
      }
      expect(status).toBe("done")
      expect(lines()).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"])
    } finally {
      second.child.kill("SIGKILL")
    }
  }, 40_000)

  it("a step that outlasts --drain-timeout is interrupted: the drained line counts it, the run is back on the queue, and the next server on the database finishes it", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "g"))
    const log = join(dir, "steps.log")
    // The first attempt at the step outlasts the drain (it stops when its signal aborts);
    // the attempt after that returns at once.
    writeFileSync(join(dir, "g", "nodes.js"), [
      "import { appendFileSync, existsSync } from 'node:fs'",
      `const log = ${JSON.stringify(log)}`,
      "export const step = async (_state, ctx) => {",
      "  const again = existsSync(log)",
      "  appendFileSync(log, `start ${ctx.nodeId}\\n`)",
      "  if (!again) await new Promise((r) => { const t = setTimeout(r, 20000); ctx.signal.addEventListener('abort', () => { clearTimeout(t); r() }) })",
      "  appendFileSync(log, `${ctx.signal.aborted ? 'aborted' : 'end'} ${ctx.nodeId}\\n`)",
      "  return { done: true }",
      "}", ""
    ].join("\n"))
    writeFileSync(join(dir, "g", "graph.yaml"), [
      "ir_version: \"1.0.0\"", "id: g:stuck", "state_schema: { fields: { done: { type: boolean, default: false } } }",
      "nodes: [{ id: a, kind: function, module: ./nodes.js, export: step }]", ""
    ].join("\n"))
    const db = join(dir, "db.sqlite")
    const lines = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [])
    const first = await serve(["--graphs", join(dir, "g"), "--db", db, "--drain-timeout", "200ms"])
    const runId = (await (await fetch(`${first.url}/v1/runs`, { method: "POST", body: JSON.stringify({ graph_id: "g:stuck" }) })).json() as { run_id: string }).run_id
    for (let i = 0; i < 200 && !lines().includes("start a"); i++) await new Promise((r) => setTimeout(r, 25))
    const exited = new Promise<number | null>((resolve) => first.child.on("exit", (code) => resolve(code)))
    const stopping = Date.now()
    first.child.kill("SIGTERM")
    expect(await exited).toBe(0)
    // Not the step's 20 s: the drain timeout, then the interruption.
    expect(Date.now() - stopping).toBeLessThan(10_000)
    expect(first.stderr()).toContain("up to 0.2 s")
    expect(first.stderr()).toContain("drained: 0 in-flight runs finished, 0 requeued after their current step, 1 interrupted mid-step (that step runs again on the next server)")
    // The step was not committed: the run is pending at step 0, on the queue, unclaimed.
    const conn = new Database(db, { readonly: true })
    const run = conn.prepare("SELECT status, owner, last_step FROM runs_history WHERE run_id = ?").get(runId)
    const committed = (conn.prepare("SELECT count(*) AS n FROM checkpoints WHERE run_id = ? AND step > 0").get(runId) as { n: number }).n
    const queued = conn.prepare("SELECT run_id, claimed_by FROM pending_runs").all()
    conn.close()
    expect(run).toEqual({ status: "pending", owner: null, last_step: 0 })
    expect(committed).toBe(0)
    expect(queued).toEqual([{ run_id: runId, claimed_by: null }])
    // The next server runs the step again, and the run ends done.
    const second = await serve(["--graphs", join(dir, "g"), "--db", db])
    try {
      let body = { status: "" } as { status: string; final_state?: { done?: boolean } }
      for (let i = 0; i < 400 && body.status !== "done"; i++) {
        body = await (await fetch(`${second.url}/v1/runs/${runId}`)).json() as typeof body
        if (body.status !== "done") await new Promise((r) => setTimeout(r, 50))
      }
      expect(body.status).toBe("done")
      expect(lines()).toEqual(["start a", "aborted a", "start a", "end a"])
    } finally {
      second.child.kill("SIGKILL")
    }
  }, 40_000)

  it("--drain-timeout takes a duration (over stargraph.yaml's scheduler.drain_timeout_ms), and refuses a bad one naming the flag, before anything is opened", async () => {
    const dir = tempDir()
    noopGraphIn(dir)
    const db = join(dir, "never.sqlite")
    for (const [value, why] of BAD_HOUR_DURATIONS) {
      const r = await stargraph(["serve", "--port", "0", "--graphs", join(dir, "g"), "--db", db, "--drain-timeout", value], { cwd: dir })
      expect({ value, code: r.code }).toEqual({ value, code: 2 })
      expect(r.stderr).toMatch(/^error: InputError: --drain-timeout: /)
      expect(r.stderr).toMatch(why)
      expect(r.stderr).toContain("(fix: ")
    }
    expect(existsSync(db)).toBe(false)
    // stargraph.yaml's value, then the flag's, as the stopping line says.
    writeFileSync(join(dir, "stargraph.yaml"), "graphs: [./g]\nscheduler: { drain_timeout_ms: 2500 }\n")
    for (const [args, said] of [[[], "up to 2.5 s"], [["--drain-timeout", "300ms"], "up to 0.3 s"]] as const) {
      const s = await serve(["--config", join(dir, "stargraph.yaml"), "--db", join(dir, "db.sqlite"), ...args])
      const exited = new Promise<number | null>((r) => s.child.on("exit", r))
      s.child.kill("SIGTERM")
      expect(await exited).toBe(0)
      expect(s.stderr()).toContain(said)
    }
  }, 40_000)

  it("stargraph.yaml's scheduler.drain_timeout_ms is a whole number of ms; anything else is refused naming the field", async () => {
    const good = await Effect.runPromise(ProjectConfig.decode({ scheduler: { drain_timeout_ms: 2500 } }, "stargraph.yaml"))
    expect(good.config.scheduler?.drain_timeout_ms).toBe(2500)
    for (const value of [-5, 1.5, "10s"]) {
      const bad = await Effect.runPromise(Effect.either(ProjectConfig.decode({ scheduler: { drain_timeout_ms: value } }, "stargraph.yaml")))
      expect(Either.isLeft(bad) && bad.left).toMatchObject({ _tag: "TriggerError", reason: "invalid-config", triggerId: "scheduler.drain_timeout_ms" })
      expect(Either.isLeft(bad) && bad.left.message).toMatch(/^stargraph\.yaml: scheduler\.drain_timeout_ms: /)
    }
  })
})
