/**
 * Process leases: a run driven by a process of another host (here: a real `stargraph`
 * process whose owner's host is set by STARGRAPH_HOST) is handed over once that process's
 * heartbeat stands still past its lease, and only then; a process that wakes up after its
 * run was handed over writes nothing more.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Heartbeat from "../../src/runtime/Heartbeat.js"
import { askOwnerToCancel } from "../../src/runtime/askCancel.js"
import * as AuditSink from "../../src/telemetry/AuditSink.js"
import { leaseGraceMs, leaseState, observeHeartbeats } from "../../src/runtime/leases.js"
import { describeOwner, hostProblem, OWNER, runsLiveness, THIS_HOST } from "../../src/runtime/owner.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import * as Serve from "../../src/serve/server.js"
import { BAD_HOUR_DURATIONS, ROOT, runIdOf, stargraph, startStargraph, tempDir } from "../helpers/cli.js"
import { heartbeatChecks, ownerGuardChecks } from "../helpers/leaseChecks.js"

const GRAPH = join(ROOT, "test", "fixtures", "slow", "graph.yaml")

/** What the slow graph's run ends with, every node once, in order. */
const FINAL = { count: 10, log: ["n0@0", "n1@1", "n2@2", "n3@3", "n4@4", "n5@5", "n6@6", "n7@7", "n8@8", "n9@9"] }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Poll `read` until `done` holds (or fail after `ms`). */
const until = async <A>(read: () => A | Promise<A>, done: (a: A) => boolean, ms = 30_000): Promise<A> => {
  const deadline = Date.now() + ms
  let last: A | undefined
  while (Date.now() < deadline) {
    try {
      last = await read()
      if (done(last)) return last
    } catch {
      // the file may not exist yet
    }
    await sleep(50)
  }
  throw new Error(`timed out; last seen: ${JSON.stringify(last)}`)
}

interface Seen {
  readonly run: { readonly run_id: string; readonly status: string; readonly owner: string | null } | undefined
  readonly steps: ReadonlyArray<{ readonly step: number; readonly finished_at: string }>
  readonly state: unknown
  readonly heartbeats: ReadonlyArray<{ readonly owner: string; readonly beat: number; readonly lease_ms: number }>
}

/** The one run of a SQLite file: its record, its steps, its latest state, and the heartbeats. */
const readRun = (db: string): Seen => {
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  try {
    const run = conn.prepare("SELECT run_id, status, owner FROM runs_history").get() as Seen["run"]
    const steps = run === undefined ? [] : conn.prepare("SELECT step, finished_at FROM checkpoints WHERE run_id = ? ORDER BY step").all(run.run_id) as Seen["steps"]
    const last = run === undefined ? undefined : conn.prepare("SELECT state FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1").get(run.run_id) as { state: string } | undefined
    const heartbeats = conn.prepare("SELECT owner, beat, lease_ms FROM process_heartbeats ORDER BY owner").all() as Seen["heartbeats"]
    return { run, steps, state: last === undefined ? undefined : JSON.parse(last.state), heartbeats }
  } finally {
    conn.close()
  }
}

/** An in-process server's parts on `checkpointer`: the slow graph, a Scheduler polling every 100 ms, a heartbeat; audit lines to `auditLog`. */
const server = (checkpointer: Layer.Layer<Checkpointer, unknown>, auditLog?: string) =>
  Layer.unwrapEffect(Effect.map(Graph.load(GRAPH), (graph) =>
    Scheduler.layer({ pollIntervalMs: 100 }).pipe(
      Layer.provideMerge(GraphRegistry.layer([graph])),
      Layer.provideMerge(Heartbeat.layer({ leaseMs: 2000 })),
      Layer.provideMerge(auditLog === undefined ? Layer.empty : AuditSink.jsonl(auditLog)),
      Layer.provideMerge(checkpointer)
    )))

/** Run `body` with an in-process server on the SQLite file `db`. */
/**
 * Stop `child` between two of its write transactions: a SQLite writer stopped inside one
 * keeps the file's write lock and every other process waits for it (the documented limit
 * of leases on SQLite). After SIGSTOP, take the write lock ourselves without waiting: if
 * it is held, let the process go on a moment and stop it again.
 */
const stopBetweenWrites = async (child: { kill: (signal: NodeJS.Signals) => boolean }, db: string): Promise<void> => {
  for (let attempt = 0; attempt < 100; attempt++) {
    child.kill("SIGSTOP")
    const conn = new Database(db, { fileMustExist: true, timeout: 0 })
    try {
      conn.exec("BEGIN IMMEDIATE")
      conn.exec("ROLLBACK")
      return
    } catch {
      child.kill("SIGCONT")
      await sleep(20)
    } finally {
      conn.close()
    }
  }
  throw new Error("the process held the write lock every time it was stopped")
}

const withServer = <A>(db: string, body: (scheduler: Scheduler.SchedulerShape) => Effect.Effect<A, unknown, Checkpointer>, auditLog?: string) =>
  Effect.runPromise(Effect.flatMap(Scheduler.Scheduler, body).pipe(Effect.provide(server(SqliteCheckpointer.layer({ filename: db }), auditLog))))

// The slow graph's node reads SLOW_NODE_MS when it runs: in this process, the adopting server's.
let slowBefore: string | undefined
beforeEach(() => {
  slowBefore = process.env["SLOW_NODE_MS"]
})
afterEach(() => {
  if (slowBefore === undefined) delete process.env["SLOW_NODE_MS"]
  else process.env["SLOW_NODE_MS"] = slowBefore
})

describe("the lease rule", () => {
  it("an owner lapses once its beat stands still past its lease and a third, by the reader's clock; a beat that moves restarts it; no row: unknown", () => {
    const owner = `lease-rule-${Math.random()}:1:1`
    const row = (beat: number) => ({ owner, beat, lease_ms: 300, beat_at: new Date().toISOString(), age_ms: 0 })
    expect(leaseState(owner)._tag).toBe("Unknown")
    observeHeartbeats([owner], [row(1)], 1000)
    expect(leaseState(owner, 1000 + 300 + leaseGraceMs(300))._tag).toBe("Alive")
    // Read again, unchanged: the lease still counts from when the beat was first seen.
    observeHeartbeats([owner], [row(1)], 1200)
    expect(leaseState(owner, 1000 + 300 + leaseGraceMs(300) + 1)).toMatchObject({ _tag: "Lapsed", leaseMs: 300 })
    // It beat: alive again, for another lease from when that was seen.
    observeHeartbeats([owner], [row(2)], 1500)
    expect(leaseState(owner, 1500 + 300)._tag).toBe("Alive")
    // Its row is gone (it stopped, or never beat): not judged by a lease at all.
    observeHeartbeats([owner], [], 1600)
    expect(leaseState(owner, 99_999)._tag).toBe("Unknown")
  })

  it("describes an owner of another host by its heartbeat: alive, lapsed (by the database's clock), none", () => {
    const owner = `describe-${Math.random()}:7:7`
    const beat = (age_ms: number) => ({ owner, beat: 3, lease_ms: 3000, beat_at: new Date().toISOString(), age_ms })
    expect(describeOwner(owner, beat(1200))).toBe(`${owner} (another host: alive, heartbeat seen 1.2 s ago, lease 3 s)`)
    expect(describeOwner(owner, beat(46_000))).toBe(`${owner} (another host: lease lapsed 42 s ago: a server on the database adopts the run, \`stargraph resume\` continues it)`)
    expect(describeOwner(owner, null)).toMatch(/\(another host: no heartbeat \(an older Stargraph, or a process that does not beat\): not checked from here; --take-over if it is gone\)$/)
    expect(describeOwner(owner)).toMatch(/\(another host or container: not checked from here; --take-over if it is gone\)$/)
    expect(describeOwner(OWNER)).toBe(`${OWNER} (alive)`)
  })

  it("STARGRAPH_HOST must be a name an owner can hold", () => {
    expect(hostProblem(undefined)).toBeUndefined()
    expect(hostProblem("pod-7.workers")).toBeUndefined()
    for (const bad of ["", "a:b", "two words"]) expect(hostProblem(bad)).toMatchObject({ _tag: "InputError", field: "STARGRAPH_HOST" })
  })
})

const tinyGraph = Graph.make({
  ir_version: "1.0.0",
  id: "lease:tiny",
  state_schema: { fields: { n: { type: "integer", default: 0 } } },
  nodes: [{ id: "work", kind: "function", module: "m", export: "work" }],
  edges: []
}, { modules: { m: { work: (s: { n: number }) => ({ n: s.n + 1 }) } } })

describe("heartbeats and owner-guarded writes in the Checkpointer", () => {
  for (const [name, layer] of [
    ["SQLite", () => SqliteCheckpointer.layer({ filename: join(tempDir(), "guard.sqlite") })],
    ["memory", () => MemoryCheckpointer.layer]
  ] as const) {
    it(`${name}: heartbeats count, keep their lease and age, and go; a write of a run taken over is refused, nothing written`, async () => {
      await Effect.runPromise(Effect.gen(function*() {
        const c = yield* Checkpointer
        yield* heartbeatChecks(c)
        yield* ownerGuardChecks(c, yield* tinyGraph)
      }).pipe(Effect.provide(layer())))
    })
  }
})

describe("an older database read as it is", () => {
  it("has no heartbeats (schema 10: no table), and gets none written", async () => {
    const filename = join(tempDir(), "older.sqlite")
    await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    const conn = new Database(filename)
    conn.exec("DROP TABLE process_heartbeats")
    conn.pragma("user_version = 10")
    conn.close()
    const read = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.heartbeats!(["host-x:1:1"])).pipe(Effect.provide(SqliteCheckpointer.layer({ filename, readOnly: true }))))
    expect(read).toEqual([])
    const after = new Database(filename, { readonly: true })
    expect([after.pragma("user_version", { simple: true }), after.prepare("SELECT name FROM sqlite_master WHERE name = 'process_heartbeats'").all()]).toEqual([10, []])
    after.close()
  })
})

describe("runs of a process on another host are handed over once its lease lapses", () => {
  it("a CLI run on 'another host', killed mid-run, is adopted by a server once its lease lapses and finished from its last checkpoint", async () => {
    const db = join(tempDir(), "lapsed.sqlite")
    const cli = startStargraph(["run", GRAPH, "--db", db, "--lease", "500ms", "--no-summary"], { env: { STARGRAPH_HOST: "host-a", SLOW_NODE_MS: "250" } })
    await until(() => readRun(db), (r) => r.steps.length >= 4)
    cli.child.kill("SIGKILL")
    expect((await cli.done).signal).toBe("SIGKILL")
    const before = readRun(db)
    const runId = before.run!.run_id
    expect(before.run).toMatchObject({ status: "running", owner: expect.stringMatching(/^host-a:\d+:\d+$/) })
    expect(before.steps.length).toBeLessThan(11)
    // It beat while it ran, and (killed) left its heartbeat behind.
    expect(before.heartbeats).toEqual([{ owner: before.run!.owner, beat: expect.any(Number), lease_ms: 500 }])
    // An operator sees the lease lapse (by the database's clock).
    const shown = await until(() => stargraph(["inspect", runId, "--db", db]), (r) => /lease lapsed/.test(r.stdout))
    expect(shown.stdout).toMatch(new RegExp(`^driven by host-a:\\d+:\\d+ \\(another host: lease lapsed [\\d.]+ s ago: a server on the database adopts the run, \`stargraph resume\` continues it\\)$`, "m"))

    process.env["SLOW_NODE_MS"] = "5"
    const auditLog = join(tempDir(), "audit.jsonl")
    const summary = await withServer(db, (scheduler) => Effect.timeout(scheduler.await(runId), "30 seconds"), auditLog)
    expect(summary).toMatchObject({ status: "done", final_state: FINAL })
    // The take-over left its trace: who held the run (A), who took it (this server, B), why and when.
    const previous = before.run!.owner!
    const takenOver = { from: previous, to: OWNER, reason: "lease-lapsed", at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }
    const audit = readFileSync(auditLog, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(audit.filter((l) => l["event"] === "run.started")).toEqual([expect.objectContaining({ run_id: runId, resumed: true, taken_over: takenOver })])
    const shownAfter = await stargraph(["inspect", runId, "--db", db])
    expect(shownAfter.stdout).toMatch(new RegExp(`^taken over from ${previous} by ${OWNER} \\(lease-lapsed\\) at \\d{4}-\\d\\d-\\d\\dT\\S+$`, "m"))
    const json = JSON.parse((await stargraph(["inspect", runId, "--db", db, "--json"])).stdout) as { taken_over: unknown }
    expect(json.taken_over).toEqual(takenOver)
    const after = readRun(db)
    expect(after.steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    // The steps the killed process committed are as it left them: the server went on from the last one.
    expect(after.steps.slice(0, before.steps.length)).toEqual(before.steps)
    expect(after.run).toMatchObject({ status: "done", owner: null })
    expect(after.state).toEqual(FINAL)
  })

  it("a queued run claimed by a process of another host whose lease lapses is claimed again by a server: the claim records the take-over (record, audit line, inspect), after the one before", async () => {
    const db = join(tempDir(), "claimed.sqlite")
    const auditLog = join(tempDir(), "audit.jsonl")
    const first = "host-p:4141:1"
    const holder = "host-q:4242:1"
    const earlier = { from: first, to: holder, reason: "lease-lapsed" as const, at: "2026-11-20T10:00:00.000Z" }
    const runId = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      const graph = yield* Graph.load(GRAPH)
      const created = yield* c.createRun(yield* graph.newRun({ inputs: {}, queued: true }))
      // Owner A held it and was gone: A's claim took it over from there (recorded), then A
      // beat once and is gone too.
      yield* c.updateRun(created.record.run_id, { status: "running", owner: first })
      expect(yield* c.claimPending(created.record.run_id, holder, new Date().toISOString(), { owner: first }, earlier)).toBe(true)
      yield* c.beat!(holder, 300)
      return created.record.run_id
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    process.env["SLOW_NODE_MS"] = "5"
    const { summary, record } = await withServer(db, (scheduler) =>
      Effect.gen(function*() {
        const summary = yield* Effect.timeout(scheduler.await(runId), "30 seconds")
        const record = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(runId))
        return { summary, record: Option.getOrThrow(record) }
      }), auditLog)
    expect(summary).toMatchObject({ status: "done", final_state: FINAL })
    const takenOver = { from: holder, to: OWNER, reason: "lease-lapsed", at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }
    expect(record.taken_over).toEqual(takenOver)
    const audit = readFileSync(auditLog, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(audit.filter((l) => l["event"] === "run.started")).toEqual([expect.objectContaining({ run_id: runId, taken_over: takenOver })])
    // Both take-overs, oldest first: inspect's lines, --json's takeovers (taken_over the last).
    expect((await stargraph(["inspect", runId, "--db", db])).stdout).toContain(
      `taken over from ${first} by ${holder} (lease-lapsed) at ${earlier.at}\ntaken over from ${holder} by ${OWNER} (lease-lapsed) at ${record.taken_over!.at}\n`
    )
    const json = JSON.parse((await stargraph(["inspect", runId, "--db", db, "--json"])).stdout) as { taken_over: unknown; takeovers: unknown }
    expect([json.taken_over, json.takeovers]).toEqual([record.taken_over, [earlier, record.taken_over]])
    // And over HTTP: the run's view and the listing.
    const scope = Effect.runSync(Scope.make())
    try {
      const started = await Effect.runPromise(Serve.start({ port: 0, db, graphs: [GRAPH], scheduler: { pickUpPending: false } }).pipe(Scope.extend(scope)))
      const view = (await (await fetch(`${started.url}/v1/runs/${runId}`)).json()) as { taken_over: unknown; takeovers: unknown }
      expect([view.taken_over, view.takeovers]).toEqual([record.taken_over, [earlier, record.taken_over]])
      const listed = (await (await fetch(`${started.url}/v1/runs`)).json()) as { runs: Array<{ run_id: string; taken_over: unknown }> }
      expect(listed.runs.find((r) => r.run_id === runId)?.taken_over).toEqual(record.taken_over)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })

  it("a live, beating process of another host keeps its run: the server never takes it over, and inspect says it is alive", async () => {
    const db = join(tempDir(), "alive.sqlite")
    const cli = startStargraph(["run", GRAPH, "--db", db, "--lease", "2s", "--no-summary"], { env: { STARGRAPH_HOST: "host-b", SLOW_NODE_MS: "300" } })
    await until(() => readRun(db), (r) => r.steps.length >= 2)
    const runId = readRun(db).run!.run_id
    const { ended, shown } = await withServer(db, () =>
      Effect.promise(async () => {
        const shown = await stargraph(["inspect", runId, "--db", db])
        return { shown, ended: await cli.done }
      }))
    expect(shown.stdout).toMatch(/^driven by host-b:\d+:\d+ \(another host: alive, heartbeat seen [\d.]+ s ago, lease 2 s\)$/m)
    // Had the server taken the run over, the CLI's next commit would have been refused.
    expect(ended.stderr).toBe("")
    expect(ended.last).toBe(`run_id=${runId} status=done`)
    expect(ended.code).toBe(0)
    const after = readRun(db)
    expect(after.steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(after.state).toEqual(FINAL)
    // It stopped cleanly: its heartbeat is gone (the server's own is removed when it stops).
    expect(after.heartbeats).toEqual([])
  })

  it("a process paused past its lease, its run handed over, wakes up and writes nothing more: it stops with CheckpointError[taken-over]", async () => {
    const db = join(tempDir(), "stalled.sqlite")
    const cli = startStargraph(["run", GRAPH, "--db", db, "--lease", "500ms", "--no-summary"], { env: { STARGRAPH_HOST: "host-c", SLOW_NODE_MS: "300" } })
    await until(() => readRun(db), (r) => r.steps.length >= 3)
    await stopBetweenWrites(cli.child, db)
    try {
      process.env["SLOW_NODE_MS"] = "300"
      const outcome = await withServer(db, (scheduler) =>
        Effect.gen(function*() {
          const stalled = readRun(db)
          // The server takes the run over and commits a step of its own; then the stalled process wakes up.
          yield* Effect.promise(() => until(() => readRun(db), (r) => r.run?.owner === OWNER && r.steps.length > stalled.steps.length))
          cli.child.kill("SIGCONT")
          const woke = yield* Effect.promise(() => cli.done)
          const summary = yield* Effect.timeout(scheduler.await(stalled.run!.run_id), "30 seconds")
          return { woke, summary, stalled }
        }))
      // Its next write was refused, and it said why.
      expect(outcome.woke.stderr).toMatch(/CheckpointError|is no longer driven by this process/)
      expect(outcome.woke.stderr).toContain(`driven by ${OWNER}`)
      expect(outcome.woke.code).toBe(1)
      expect(outcome.summary).toMatchObject({ status: "done", final_state: FINAL })
      const after = readRun(db)
      // Every step once, and every node once in the state: nothing written twice, nothing lost.
      expect(after.steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      expect(after.state).toEqual(FINAL)
    } finally {
      cli.child.kill("SIGCONT")
    }
  })

  it("an owner of another host with no heartbeat (an older Stargraph) is never taken over; one whose beat stands still is", async () => {
    const db = join(tempDir(), "silent.sqlite")
    const silent = "host-silent:4242:1"
    const stalled = "host-stalled:4343:1"
    const ids = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(GRAPH)
      const c = yield* Checkpointer
      const make = (owner: string) =>
        Effect.map(Effect.flatMap(graph.newRun({ inputs: {} }), (run) => c.createRun({ ...run, running: { owner, started_at: new Date().toISOString() } })), (r) => r.record.run_id)
      // One beat, long ago by its counter: it never moves again.
      yield* c.beat!(stalled, 300)
      return { silent: yield* make(silent), stalled: yield* make(stalled) }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    process.env["SLOW_NODE_MS"] = "5"
    const { adopted, left } = await withServer(db, (scheduler) =>
      Effect.gen(function*() {
        // The server had as long to adopt the silent one as the stalled one.
        const adopted = yield* Effect.timeout(scheduler.await(ids.stalled), "30 seconds")
        const left = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(ids.silent)))
        return { adopted, left }
      }))
    expect(adopted).toMatchObject({ status: "done", final_state: FINAL })
    expect(left).toMatchObject({ status: "running", owner: silent, last_step: 0 })
    // resume without --take-over refuses it, saying why; with --take-over it continues it.
    const refused = await stargraph(["resume", ids.silent, "--db", db, "--graph", GRAPH, "--no-summary"])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/RunStateError: run \S+ is being driven by process host-silent:4242:1 on another host or container, whose heartbeat has not been seen to lapse \(it has none/)
    const taken = await stargraph(["resume", ids.silent, "--db", db, "--graph", GRAPH, "--no-summary", "--take-over"], { env: { SLOW_NODE_MS: "5" } })
    expect(taken.last).toBe(`run_id=${ids.silent} status=done`)
    // Taken over without a lapse seen: recorded as forced, naming the silent owner.
    const json = JSON.parse((await stargraph(["inspect", ids.silent, "--db", db, "--json"])).stdout) as { taken_over: unknown }
    expect(json.taken_over).toEqual({ from: silent, to: expect.any(String), reason: "forced", at: expect.stringMatching(/^\d{4}-/) })
  })

  it("stargraph resume takes over a killed run of another host once it has watched its lease lapse", async () => {
    const db = join(tempDir(), "resume.sqlite")
    const cli = startStargraph(["run", GRAPH, "--db", db, "--lease", "400ms", "--no-summary"], { env: { STARGRAPH_HOST: "host-d", SLOW_NODE_MS: "250" } })
    await until(() => readRun(db), (r) => r.steps.length >= 3)
    cli.child.kill("SIGKILL")
    await cli.done
    const runId = readRun(db).run!.run_id
    const resumed = await stargraph(["resume", runId, "--db", db, "--no-summary"], { env: { SLOW_NODE_MS: "5" } })
    expect(resumed.stderr).toMatch(/^run \S+ is driven by host-d:\d+:\d+ on another host: watching its heartbeat \(up to its lease and a third\)\nits lease lapsed: taking the run over\n$/)
    expect(resumed.last).toBe(`run_id=${runId} status=done`)
    expect(readRun(db).state).toEqual(FINAL)
    expect(runIdOf(resumed.last)).toBe(runId)
  })
})

describe("--lease and STARGRAPH_HOST", () => {
  it("a bad --lease is an InputError naming the flag, before anything is written; so is a STARGRAPH_HOST an owner cannot hold", async () => {
    const dir = tempDir()
    const db = join(dir, "never.sqlite")
    for (const [value, why] of [
      ["30", /'30' is not a duration with a unit/],
      ["abc", /'abc' is not a duration with a unit/],
      ["-5s", /'-5s' is not a duration with a unit/],
      ["50ms", /'50ms': a lease of 50 ms is not a whole number of milliseconds from 100 ms to one day/],
      ["1.5ms", /a lease of 1\.5 ms/],
      ["2d", /'2d' is not a duration with a unit/]
    ] as const) {
      const r = await stargraph(["run", GRAPH, "--db", db, "--lease", value])
      expect({ value, code: r.code }).toEqual({ value, code: 2 })
      expect(r.stderr).toMatch(/^error: InputError: --lease: /)
      expect(r.stderr).toMatch(why)
    }
    const serve = await stargraph(["serve", "--port", "0", "--db", db, "--lease", "0s"], { cwd: dir })
    expect(serve.code).toBe(2)
    expect(serve.stderr).toMatch(/^error: InputError: --lease: '0s': a lease of 0 ms/)
    const resume = await stargraph(["resume", "run-x", "--db", db, "--lease", "forever"])
    expect(resume.stderr).toMatch(/^error: InputError: --lease: 'forever' is not a duration with a unit/)
    const host = await stargraph(["run", GRAPH, "--db", db], { env: { STARGRAPH_HOST: "a:b" } })
    expect(host.code).toBe(2)
    expect(host.stderr).toMatch(/^error: InputError: STARGRAPH_HOST: STARGRAPH_HOST is 'a:b': the host recorded as a run's owner must be/)
    expect(() => readRun(db)).toThrow()
  })
})

/** Move the beats of `owners` back by `ms` (by the database's clock: as if they last beat that long ago). */
const backdate = (db: string, owners: ReadonlyArray<string>, ms: number): void => {
  const conn = new Database(db, { fileMustExist: true })
  try {
    for (const owner of owners) conn.prepare("UPDATE process_heartbeats SET beat_at = beat_at - ? WHERE owner = ?").run(ms, owner)
  } finally {
    conn.close()
  }
}

/** The heartbeats of a SQLite file, by owner. */
const heartbeatOwners = (db: string): ReadonlyArray<string> => {
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  try {
    return (conn.prepare("SELECT owner FROM process_heartbeats ORDER BY owner").all() as Array<{ owner: string }>).map((r) => r.owner)
  } finally {
    conn.close()
  }
}

/** A run of the slow graph in `db`, left `running` under `owner` (at step 0). */
const runningUnder = (owner: string) =>
  Effect.gen(function*() {
    const graph = yield* Graph.load(GRAPH)
    const c = yield* Checkpointer
    return (yield* c.createRun({ ...(yield* graph.newRun({ inputs: {} })), running: { owner, started_at: new Date().toISOString() } })).record.run_id
  })

const DAY = 86_400_000

describe("heartbeats of processes killed long ago are removed, never those of an owner with a running run", () => {
  /**
   * A database with four heartbeats two days old: `gone` (killed, nothing running), `busy`
   * (killed, still owning a running run), `claiming` (killed, holding a queue claim) and
   * `patient` (a lease of a day: 100 leases are 100 days); `fresh` beat just now.
   */
  const seeded = async () => {
    const db = join(tempDir(), "stale.sqlite")
    const owners = { gone: "host-gone:11:1", busy: "host-busy:12:1", claiming: "host-claiming:13:1", patient: "host-patient:14:1", fresh: "host-fresh:15:1" }
    await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      yield* runningUnder(owners.busy)
      const graph = yield* Graph.load(GRAPH)
      const queued = (yield* c.createRun({ ...(yield* graph.newRun({ inputs: {} })), queued: true })).record.run_id
      yield* c.claimPending(queued, owners.claiming, new Date().toISOString())
      yield* c.updateRun(queued, { owner: null })
      for (const owner of [owners.gone, owners.busy, owners.claiming, owners.fresh]) yield* c.beat!(owner, 30_000)
      yield* c.beat!(owners.patient, DAY)
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    backdate(db, [owners.gone, owners.busy, owners.claiming, owners.patient], 2 * DAY)
    return { db, owners }
  }

  it("stargraph prune removes them (--dry-run only counts them), keeping the owner of a running run or a queue claim, a long lease, and a fresh one", async () => {
    const { db, owners } = await seeded()
    const all = [owners.busy, owners.claiming, owners.fresh, owners.gone, owners.patient].sort()
    const dry = await stargraph(["prune", "--before", "30d", "--db", db, "--dry-run", "--json"])
    expect(dry.code).toBe(0)
    expect(JSON.parse(dry.stdout)).toMatchObject({ runs: 0, heartbeats: 1, heartbeat_owners: [owners.gone], dry_run: true })
    expect(heartbeatOwners(db)).toEqual(all)
    const pruned = await stargraph(["prune", "--before", "30d", "--db", db])
    expect(pruned.code).toBe(0)
    expect(pruned.stdout).toContain("removed 1 heartbeat of processes gone for over a day (killed: their beat stood still for longer than a day and 100 leases, and they own no running run)")
    expect(heartbeatOwners(db)).toEqual(all.filter((o) => o !== owners.gone))
    // Nothing stale left: nothing said.
    const again = await stargraph(["prune", "--before", "30d", "--db", db])
    expect(again.stdout).not.toContain("heartbeat")
  })

  it("a server removes them when it starts (and hourly), with the same rule", async () => {
    const { db, owners } = await seeded()
    const scope = Effect.runSync(Scope.make())
    try {
      await Effect.runPromise(Serve.start({ port: 0, db, graphs: [GRAPH], scheduler: { pickUpPending: false } }).pipe(Scope.extend(scope)))
      await until(() => heartbeatOwners(db), (o) => !o.includes(owners.gone), 10_000)
      expect(heartbeatOwners(db)).toEqual([owners.busy, owners.claiming, owners.fresh, owners.patient, OWNER].sort())
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })

  it("a sweep interval under a second is an InputError naming it", async () => {
    const result = await Effect.runPromise(Effect.either(Effect.scoped(Heartbeat.make({ sweepEveryMs: 10 }))).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(result._tag === "Left" && result.left).toMatchObject({ _tag: "InputError", field: "sweepEveryMs" })
  })
})

describe("stargraph list and GET /v1/runs say how the owner of each running run stands", () => {
  it("alive (this host or another), gone, lease lapsed, no heartbeat: in the table, --json and the HTTP listing; one heartbeat read per page", async () => {
    const db = join(tempDir(), "list.sqlite")
    const owners = {
      here: OWNER,
      dead: `${THIS_HOST}:999999999:1`,
      alive: "host-alive:21:1",
      lapsed: "host-lapsed:22:1",
      silent: "host-silent:23:1"
    }
    const ids = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      yield* c.beat!(owners.alive, 60_000)
      yield* c.beat!(owners.lapsed, 1000)
      const ids: Record<string, string> = {}
      for (const [name, owner] of Object.entries(owners)) ids[name] = yield* runningUnder(owner)
      const graph = yield* Graph.load(GRAPH)
      ids["queued"] = (yield* c.createRun({ ...(yield* graph.newRun({ inputs: {} })), queued: true })).record.run_id
      return ids as Record<keyof typeof owners | "queued", string>
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    backdate(db, [owners.lapsed], 60_000)

    const table = await stargraph(["list", "--db", db])
    expect(table.code).toBe(0)
    const statusOf = (runId: string) => table.lines.find((l) => l.startsWith(runId))?.split(/\s{2,}/)[2]
    expect({
      here: statusOf(ids.here),
      dead: statusOf(ids.dead),
      alive: statusOf(ids.alive),
      lapsed: statusOf(ids.lapsed),
      silent: statusOf(ids.silent)
    }).toEqual({
      here: "running",
      dead: "running (owner gone)",
      alive: "running (another host: alive)",
      lapsed: "running (another host: lease lapsed)",
      silent: "running (another host: no heartbeat)"
    })

    const expected = {
      [ids.here]: { owner: owners.here, state: "alive", another_host: false, lease_ms: null, heartbeat_age_ms: null },
      [ids.dead]: { owner: owners.dead, state: "gone", another_host: false, lease_ms: null, heartbeat_age_ms: null },
      [ids.alive]: { owner: owners.alive, state: "alive", another_host: true, lease_ms: 60_000, heartbeat_age_ms: expect.any(Number) },
      [ids.lapsed]: { owner: owners.lapsed, state: "lapsed", another_host: true, lease_ms: 1000, heartbeat_age_ms: expect.any(Number) },
      [ids.silent]: { owner: owners.silent, state: "no-heartbeat", another_host: true, lease_ms: null, heartbeat_age_ms: null },
      [ids.queued]: null
    }
    type Listed = { runs: Array<{ run_id: string; status: string; owner_liveness: { heartbeat_age_ms: number | null } | null }> }
    const json = JSON.parse((await stargraph(["list", "--db", db, "--json"])).stdout) as Listed
    expect(Object.fromEntries(json.runs.map((r) => [r.run_id, r.owner_liveness]))).toEqual(expected)
    expect(json.runs.find((r) => r.run_id === ids.lapsed)!.owner_liveness!.heartbeat_age_ms).toBeGreaterThanOrEqual(60_000)

    // The HTTP listing (a server that adopts nothing here, so the runs stay as they are).
    const scope = Effect.runSync(Scope.make())
    try {
      const started = await Effect.runPromise(Serve.start({ port: 0, db, graphs: [GRAPH], scheduler: { pickUpPending: false } }).pipe(Scope.extend(scope)))
      const listed = await (await fetch(`${started.url}/v1/runs`)).json() as Listed
      expect(Object.fromEntries(listed.runs.map((r) => [r.run_id, r.owner_liveness]))).toEqual(expected)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }

    // However many runs and owners on the page: one read of the heartbeats.
    const reads: Array<ReadonlyArray<string>> = []
    const liveness = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      const counting = { ...c, heartbeats: (asked: ReadonlyArray<string>) => Effect.zipRight(Effect.sync(() => reads.push(asked)), c.heartbeats!(asked)) }
      for (let i = 0; i < 20; i++) yield* runningUnder(`host-many-${i % 4}:3${i % 4}:1`)
      return yield* runsLiveness(counting, (yield* c.listRuns({ limit: 500 })).runs)
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(liveness.size).toBe(25)
    expect(liveness.has(ids.queued)).toBe(false)
    expect(reads.map((owners) => [...owners].sort())).toEqual([[owners.alive, owners.lapsed, owners.silent, "host-many-0:30:1", "host-many-1:31:1", "host-many-2:32:1", "host-many-3:33:1"].sort()])
  })
})

describe("cancelling a run that executes in another process", () => {
  it("stargraph cancel asks a live process of another host through the run's record: it cancels its run itself", async () => {
    const db = join(tempDir(), "cancel-live.sqlite")
    const cli = startStargraph(["run", GRAPH, "--db", db, "--lease", "2s", "--no-summary"], { env: { STARGRAPH_HOST: "host-e", SLOW_NODE_MS: "1000" } })
    // Ten seconds of steps: the cancel comes long before the run could finish.
    await until(() => readRun(db), (r) => r.steps.length >= 2)
    const runId = readRun(db).run!.run_id
    const cancelled = await stargraph(["cancel", runId, "--db", db])
    expect(cancelled.stderr).toMatch(new RegExp(`^run ${runId} is executing in process host-e:\\d+:\\d+ on another host: asked it to cancel the run through its record; waiting for it to stop`))
    expect([cancelled.code, cancelled.last]).toEqual([0, `run_id=${runId} status=cancelled`])
    // The process that drove it recorded the cancellation, ended so, and said why on stderr.
    const ended = await cli.done
    expect(ended.last).toBe(`run_id=${runId} status=cancelled`)
    expect(ended.stderr).toContain(`heartbeat: cancelling run ${runId}, as asked through its record`)
    const after = readRun(db)
    expect(after.run).toMatchObject({ status: "cancelled", owner: null })
    expect(after.steps.length).toBeLessThan(11)
    expect(after.heartbeats).toEqual([])
  })

  it("stargraph cancel takes over the run of a process of another host whose lease lapses while it waits, and cancels it", async () => {
    const db = join(tempDir(), "cancel-lapsed.sqlite")
    const cli = startStargraph(["run", GRAPH, "--db", db, "--lease", "500ms", "--no-summary"], { env: { STARGRAPH_HOST: "host-f", SLOW_NODE_MS: "250" } })
    await until(() => readRun(db), (r) => r.steps.length >= 3)
    cli.child.kill("SIGKILL")
    await cli.done
    const before = readRun(db)
    const runId = before.run!.run_id
    const cancelled = await stargraph(["cancel", runId, "--db", db])
    expect(cancelled.stderr).toMatch(/asked it to cancel the run through its record; waiting for it to stop \(or for its lease to lapse: then the run is taken over here\)\nits lease lapsed: taking the run over\n$/)
    expect([cancelled.code, cancelled.last]).toEqual([0, `run_id=${runId} status=cancelled`])
    const after = readRun(db)
    expect(after.run).toMatchObject({ status: "cancelled", owner: null })
    // No step was run again: cancelled from where the killed process left it.
    expect(after.steps).toEqual(before.steps)
    // The take-over to cancel it is recorded, as any take-over is.
    const json = JSON.parse((await stargraph(["inspect", runId, "--db", db, "--json"])).stdout) as { taken_over: unknown }
    expect(json.taken_over).toEqual({ from: before.run!.owner, to: expect.any(String), reason: "lease-lapsed", at: expect.stringMatching(/^\d{4}-/) })
  })

  it("a process that cannot be asked is refused, saying why (no heartbeat; a subgraph's child run); one that does not stop the run in time: the server answers cancelling", async () => {
    const db = join(tempDir(), "cancel-refused.sqlite")
    const silent = "host-mute:31:1"
    const beating = "host-slowpoke:32:1"
    const ids = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      yield* c.beat!(beating, 60_000)
      const asked = yield* runningUnder(beating)
      const graph = yield* Graph.load(GRAPH)
      const child = (yield* c.createRun({ ...(yield* graph.newRun({ inputs: {} })), parent_run_id: asked, running: { owner: beating, started_at: new Date().toISOString() } })).record.run_id
      return { silent: yield* runningUnder(silent), asked, child }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    const mute = await stargraph(["cancel", ids.silent, "--db", db])
    expect([mute.code, mute.stderr]).toEqual([2, expect.stringMatching(
      /^error: RunStateError: run \S+ is executing in process host-mute:31:1 on another host or container, which cannot be checked from here \(it has no heartbeat: .*cancel with --take-over\n$/
    )])
    const child = await stargraph(["cancel", ids.child, "--db", db])
    expect([child.code, child.stderr]).toEqual([2, expect.stringMatching(
      new RegExp(`^error: RunStateError: run ${ids.child} is a subgraph's child run, executing in process host-slowpoke:32:1 as a step of its parent run ${ids.asked}; cancel the parent \\(stargraph cancel ${ids.asked}\\)`)
    )])
    const scope = Effect.runSync(Scope.make())
    try {
      const started = await Effect.runPromise(Serve.start({ port: 0, db, graphs: [GRAPH], scheduler: { pickUpPending: false } }).pipe(Scope.extend(scope)))
      const cancel = async (runId: string) => {
        const response = await fetch(`${started.url}/v1/runs/${runId}/cancel`, { method: "POST" })
        return [response.status, await response.json() as { error?: { message: string } }] as const
      }
      const [status, body] = await cancel(ids.silent)
      expect([status, body.error?.message]).toEqual([409, expect.stringMatching(/is executing in process host-mute:31:1, which has no heartbeat/)])
      // Asked, it never stops the run (nothing reads the request here): the server answers once it has waited.
      expect(await cancel(ids.asked)).toEqual([200, { run_id: ids.asked, status: "cancelling" }])
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
    const conn = new Database(db, { readonly: true })
    try {
      expect(conn.prepare("SELECT status, owner, cancel_requested_of FROM runs_history WHERE run_id = ?").get(ids.asked)).toEqual({ status: "running", owner: beating, cancel_requested_of: beating })
      expect(conn.prepare("SELECT cancel_requested_of FROM runs_history WHERE run_id = ?").get(ids.silent)).toEqual({ cancel_requested_of: null })
    } finally {
      conn.close()
    }
  })

  it("stargraph cancel --wait: an owner that never stops the run (one of another host, one of this host) is waited for that long, then refused naming the run, the owner and the fix; nothing is lost, the request stands", async () => {
    const db = join(tempDir(), "cancel-wait.sqlite")
    // Two owners that beat and stay alive but never read their requests: one of another
    // host (lease of a minute: it cannot lapse while we wait), and this very test process.
    const elsewhere = "host-sleepy:34:1"
    const ids = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      yield* c.beat!(elsewhere, 60_000)
      yield* c.beat!(OWNER, 60_000)
      return { elsewhere: yield* runningUnder(elsewhere), here: yield* runningUnder(OWNER) }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    const snapshot = () => {
      const conn = new Database(db, { readonly: true })
      try {
        return {
          runs: conn.prepare("SELECT run_id, status, owner, cancel_requested_of, last_step FROM runs_history ORDER BY run_id").all(),
          checkpoints: conn.prepare("SELECT run_id, step, state FROM checkpoints ORDER BY run_id, step").all()
        }
      } finally {
        conn.close()
      }
    }
    const before = snapshot()
    // A bad --wait is refused naming the flag, before the database is read.
    for (const [value, why] of BAD_HOUR_DURATIONS) {
      const bad = await stargraph(["cancel", ids.here, "--db", join(tempDir(), "never.sqlite"), "--wait", value])
      expect([value, bad.code]).toEqual([value, 2])
      expect(bad.stderr).toMatch(/^error: InputError: --wait: /)
      expect(bad.stderr).toMatch(why)
    }
    for (const [runId, owner, fix] of [
      [ids.elsewhere, elsewhere, `if that host or container is gone for good, stargraph cancel ${ids.elsewhere} --take-over`],
      [ids.here, OWNER, `or stop process ${process.pid} and cancel again`]
    ] as const) {
      const started = Date.now()
      const refused = await stargraph(["cancel", runId, "--db", db, "--wait", "300ms"])
      // Not 60 s: the wait it was told, and the CLI's start.
      expect(Date.now() - started).toBeLessThan(15_000)
      expect(refused.code).toBe(2)
      expect(refused.stdout).toBe("")
      expect(refused.stderr).toContain(`error: RunStateError: run ${runId} was asked to cancel, but process ${owner} has not stopped it within 0.3 s`)
      expect(refused.stderr).toContain("the request stands: the process cancels the run when it reads it, and nothing of the run was changed here")
      expect(refused.stderr).toContain(`Fix: read the run again later (stargraph inspect ${runId}), wait longer (stargraph cancel ${runId} --wait 5m)`)
      expect(refused.stderr).toContain(fix)
    }
    // Both still running under their owners, each with its request standing; no checkpoint touched.
    const after = snapshot()
    expect(after.checkpoints).toEqual(before.checkpoints)
    expect(after.runs).toEqual((before.runs as Array<{ run_id: string }>).map((r) => ({ ...r, cancel_requested_of: r.run_id === ids.here ? OWNER : elsewhere })))
  })

  it("POST /v1/runs/{id}/cancel asks the live process of another host that drives the run, and answers once it cancelled", async () => {
    const db = join(tempDir(), "cancel-http.sqlite")
    const cli = startStargraph(["run", GRAPH, "--db", db, "--lease", "2s", "--no-summary"], { env: { STARGRAPH_HOST: "host-g", SLOW_NODE_MS: "1000" } })
    // Ten seconds of steps: the cancel comes long before the run could finish.
    await until(() => readRun(db), (r) => r.steps.length >= 2)
    const runId = readRun(db).run!.run_id
    const scope = Effect.runSync(Scope.make())
    try {
      const started = await Effect.runPromise(Serve.start({ port: 0, db, graphs: [GRAPH] }).pipe(Scope.extend(scope)))
      const response = await fetch(`${started.url}/v1/runs/${runId}/cancel`, { method: "POST" })
      expect([response.status, await response.json()]).toEqual([200, { run_id: runId, status: "cancelled" }])
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
    expect((await cli.done).last).toBe(`run_id=${runId} status=cancelled`)
    expect(readRun(db).run).toMatchObject({ status: "cancelled", owner: null })
  })
})

describe("how long a cancel waits for the live process it asked (serve --cancel-wait, Serve.start's cancelWaitMs, askOwnerToCancel's waitMs)", () => {
  const post = async (url: string) => {
    const response = await fetch(url, { method: "POST" })
    return [response.status, await response.json()] as const
  }

  it("serve --cancel-wait: a live process that does not answer (stopped) gets that long, not 10 s: the answer is cancelling; once it goes on, it cancels the run", async () => {
    const db = join(tempDir(), "cancel-wait-serve.sqlite")
    const cli = startStargraph(["run", GRAPH, "--db", db, "--lease", "60s", "--no-summary"], { env: { SLOW_NODE_MS: "1000" } })
    // Past its first step: executing (not still starting) when it is stopped.
    await until(() => readRun(db), (r) => r.steps.length >= 2)
    await stopBetweenWrites(cli.child, db)
    const { run_id: runId, status, owner } = readRun(db).run!
    expect([status, owner]).toEqual(["running", expect.stringMatching(new RegExp(`:${cli.child.pid}:`))])
    const serve = startStargraph(["serve", "--port", "0", "--graphs", GRAPH, "--db", db, "--cancel-wait", "700ms"])
    try {
      await serve.waitForStdout(/listening on http:\/\/\S+/)
      const url = /listening on (http:\/\/\S+)/.exec(serve.stdout())![1]!
      const asked = Date.now()
      expect(await post(`${url}/v1/runs/${runId}/cancel`)).toEqual([200, { run_id: runId, status: "cancelling" }])
      const waited = Date.now() - asked
      expect(waited).toBeGreaterThanOrEqual(650)
      expect(waited).toBeLessThan(5000)
      // The request stands: the process reads it once it goes on, and cancels its run itself.
      cli.child.kill("SIGCONT")
      expect((await cli.done).last).toBe(`run_id=${runId} status=cancelled`)
      expect(readRun(db).run).toMatchObject({ status: "cancelled", owner: null })
    } finally {
      cli.child.kill("SIGCONT")
      serve.child.kill("SIGTERM")
      await serve.done
    }
  })

  it("serve --cancel-wait refuses a bad duration naming the flag, before the database is opened (exit 2)", async () => {
    const db = join(tempDir(), "never.sqlite")
    for (const [value, why] of BAD_HOUR_DURATIONS) {
      const r = await stargraph(["serve", "--port", "0", "--graphs", GRAPH, "--db", db, "--cancel-wait", value])
      expect({ value, code: r.code }).toEqual({ value, code: 2 })
      expect(r.stderr).toMatch(/^error: InputError: --cancel-wait: /)
      expect(r.stderr).toMatch(why)
      expect(r.stderr).toContain("(fix: ")
    }
    expect(existsSync(db)).toBe(false)
  })

  it("Serve.start's cancelWaitMs and askOwnerToCancel's waitMs: an owner that beats but never reads its request is waited for that long, then cancelling; bad waits are refused naming the option", async () => {
    const db = join(tempDir(), "cancel-wait-lib.sqlite")
    const beating = "host-dozing:35:1"
    const ids = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      yield* c.beat!(beating, 60_000)
      return { http: yield* runningUnder(beating), lib: yield* runningUnder(beating) }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    for (const cancelWaitMs of [-1, 1.5, 3_600_001]) {
      const bad = await Effect.runPromise(Effect.scoped(Effect.flip(Serve.start({ port: 0, db, graphs: [GRAPH], cancelWaitMs }))))
      expect(bad).toMatchObject({ _tag: "InputError", field: "cancelWaitMs", fix: expect.stringContaining("from 0 to 3600000") })
    }
    const scope = Effect.runSync(Scope.make())
    try {
      const started = await Effect.runPromise(Serve.start({ port: 0, db, graphs: [GRAPH], cancelWaitMs: 300, scheduler: { pickUpPending: false } }).pipe(Scope.extend(scope)))
      const asked = Date.now()
      expect(await post(`${started.url}/v1/runs/${ids.http}/cancel`)).toEqual([200, { run_id: ids.http, status: "cancelling" }])
      expect(Date.now() - asked).toBeGreaterThanOrEqual(280)
      expect(Date.now() - asked).toBeLessThan(3000)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
    const lib = await Effect.runPromise(Effect.gen(function*() {
      const bad = []
      for (const waitMs of [-1, 0.5, 7_200_000]) bad.push(yield* Effect.flip(askOwnerToCancel(ids.lib, { waitMs })))
      const asked = Date.now()
      const outcome = yield* askOwnerToCancel(ids.lib, { waitMs: 300 })
      return { bad, outcome, waited: Date.now() - asked }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(lib.bad.map((e) => [e._tag, e._tag === "InputError" ? e.field : ""])).toEqual([["InputError", "waitMs"], ["InputError", "waitMs"], ["InputError", "waitMs"]])
    expect(lib.bad[0]!.message).toContain("negative")
    expect(lib.outcome).toEqual({ run_id: ids.lib, owner: beating, status: "cancelling" })
    expect(lib.waited).toBeGreaterThanOrEqual(280)
    expect(lib.waited).toBeLessThan(3000)
    const conn = new Database(db, { readonly: true })
    try {
      for (const id of [ids.http, ids.lib]) {
        expect(conn.prepare("SELECT status, owner, cancel_requested_of FROM runs_history WHERE run_id = ?").get(id)).toEqual({ status: "running", owner: beating, cancel_requested_of: beating })
      }
    } finally {
      conn.close()
    }
  })

  it("askOwnerToCancel asks a live process through the run's record and returns once it cancelled; a run no live process executes is refused saying how to cancel it", async () => {
    const db = join(tempDir(), "cancel-wait-ask.sqlite")
    const cli = startStargraph(["run", GRAPH, "--db", db, "--lease", "2s", "--no-summary"], { env: { STARGRAPH_HOST: "host-h", SLOW_NODE_MS: "1000" } })
    await until(() => readRun(db), (r) => r.steps.length >= 2)
    const runId = readRun(db).run!.run_id
    const outcome = await Effect.runPromise(askOwnerToCancel(runId, { waitMs: 20_000 }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(outcome).toEqual({ run_id: runId, owner: expect.stringMatching(/^host-h:/), status: "cancelled" })
    expect((await cli.done).last).toBe(`run_id=${runId} status=cancelled`)
    const again = await Effect.runPromise(Effect.flip(askOwnerToCancel(runId)).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(again).toMatchObject({ _tag: "RunStateError", runId, status: "cancelled", message: expect.stringContaining("already cancelled") })
    const paused = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(GRAPH)
      const c = yield* Checkpointer
      const id = (yield* c.createRun(yield* graph.newRun({ inputs: {} }))).record.run_id
      return yield* Effect.flip(askOwnerToCancel(id))
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(paused).toMatchObject({ _tag: "RunStateError", message: expect.stringMatching(/no live process executes it to ask; cancel it here: graph\.resume/) })
  })
})
