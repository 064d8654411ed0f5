import { hostname } from "node:os"
import { join } from "node:path"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { AuditSink } from "../../src/telemetry/AuditSink.js"
import { ROOT, tempDir } from "../helpers/cli.js"

/** How many runs a graph's node saw at once, and in all. */
interface Gauge { now: number; max: number; calls: number }

/** A graph whose node records how many runs execute at once. */
const makeGraphs = (gauge: Gauge, delayMs = 0) => {
  const work = async (state: Record<string, unknown>) => {
    gauge.calls++
    gauge.now++
    gauge.max = Math.max(gauge.max, gauge.now)
    await new Promise((r) => setTimeout(r, delayMs))
    gauge.now--
    return { n: (state["n"] as number) + 1 }
  }
  const ir = (id: string) => ({
    ir_version: "1.0.0",
    id,
    state_schema: { fields: { n: { type: "integer", default: 0 }, label: { type: "string" } } },
    nodes: [{ id: "work", kind: "function", module: "m", export: "work" }],
    edges: []
  })
  return Effect.all([Graph.make(ir("g:one"), { modules: { m: { work } } }), Graph.make(ir("g:two"), { modules: { m: { work } } })])
}

const stack = (filename: string, graphs: ReadonlyArray<Graph.Graph>, options: Scheduler.SchedulerOptions = {}) =>
  Scheduler.layer({ pollIntervalMs: 50, ...options }).pipe(
    Layer.provideMerge(GraphRegistry.layer(graphs)),
    Layer.provideMerge(SqliteCheckpointer.layer({ filename }))
  )

/** Run `body` with a Scheduler over the gauge graphs and a SQLite file (`filename`, default a fresh one). */
const withScheduler = async <A>(
  body: (scheduler: Scheduler.SchedulerShape) => Effect.Effect<A, unknown, Checkpointer>,
  options: { readonly delayMs?: number; readonly scheduler?: Scheduler.SchedulerOptions; readonly filename?: string; readonly gauge?: Gauge } = {}
) => {
  const gauge = options.gauge ?? { now: 0, max: 0, calls: 0 }
  const filename = options.filename ?? join(tempDir(), "db.sqlite")
  const result = await Effect.runPromise(Effect.gen(function*() {
    const graphs = yield* makeGraphs(gauge, options.delayMs)
    return yield* Effect.flatMap(Scheduler.Scheduler, body).pipe(Effect.provide(stack(filename, graphs, options.scheduler)))
  }))
  return { result, gauge, filename }
}

describe("Scheduler", () => {
  it("persists a pending row, runs the graph and resolves the summary; the queue row is removed", async () => {
    const { result } = await withScheduler((scheduler) =>
      Effect.gen(function*() {
        const enqueued = yield* scheduler.enqueue("g:one", { n: 41 })
        expect(enqueued.runId).toMatch(/^run-[0-9a-f-]{36}$/)
        expect(enqueued.status).toBe("pending")
        const summary = yield* Deferred.await(enqueued.summary)
        const pending = yield* Effect.flatMap(Checkpointer, (c) => c.listPending(10))
        return { summary, pending }
      }))
    expect(result.summary.status).toBe("done")
    expect(result.summary.final_state["n"]).toBe(42)
    expect(result.pending).toEqual([])
  })

  it("a run that ends badly ends only itself: its graph's worker runs the next one (a node interrupting itself, a Checkpointer that dies)", async () => {
    const ir = (id: string) => ({
      ir_version: "1.0.0",
      id,
      state_schema: { fields: { mode: { type: "string", default: "ok" }, n: { type: "integer", default: 0 } } },
      nodes: [{ id: "work", kind: "function", module: "m", export: "work" }]
    })
    const work = (state: { readonly mode: string; readonly n: number }) => (state.mode === "interrupt" ? Effect.interrupt : Effect.succeed({ n: state.n + 1 }))
    // A Checkpointer that dies (a defect, not a CheckpointError) committing the steps of runs started with n = 99.
    const dying = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (inner) => ({
      ...inner,
      commitSteps: (batch, patch) => (batch.some((c) => c.state["n"] === 100) ? Effect.die(new Error("disk controller on fire")) : inner.commitSteps(batch, patch))
    })))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir("g:bad"), { modules: { m: { work } } })
      return yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        const statuses: Array<string> = []
        for (const params of [{ mode: "interrupt" }, { n: 1 }, { n: 99 }, { n: 5 }]) {
          const enqueued = yield* scheduler.enqueue("g:bad", params)
          const summary = yield* Deferred.await(enqueued.summary).pipe(Effect.timeout("10 seconds"))
          statuses.push(`${summary.status}:${summary.final_state["n"]}`)
        }
        return statuses
      }).pipe(Effect.provide(Scheduler.layer({ pollIntervalMs: 50, perGraph: 1 }).pipe(Layer.provideMerge(GraphRegistry.layer([graph])), Layer.provideMerge(dying))))
    }))
    // The run whose Checkpointer died is marked `error` (the runtime broke), not left `running`.
    expect(out).toEqual(["failed:0", "done:2", "error:99", "done:6"])
  })

  it("1,000 concurrent enqueues with one idempotency key yield exactly one run", async () => {
    const { gauge, result } = await withScheduler((scheduler) =>
      Effect.gen(function*() {
        const all = yield* Effect.forEach(
          Array.from({ length: 1000 }, () => 0),
          () => scheduler.enqueue("g:one", { n: 1 }, { idempotencyKey: "op-1234" }),
          { concurrency: "unbounded" }
        )
        yield* Deferred.await(all[0]!.summary)
        const runs = yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 500 }))
        return { ids: new Set(all.map((e) => e.runId)), fresh: all.filter((e) => !e.deduplicated).length, runs: runs.runs.length }
      }))
    expect(result.ids.size).toBe(1)
    expect(result.fresh).toBe(1)
    expect(result.runs).toBe(1)
    expect(gauge.calls).toBe(1)
  })

  it("a used idempotency key deduplicates the same request (params in any key order) and refuses another one (params, thread, breakpoints), writing nothing", async () => {
    const { gauge, result } = await withScheduler((scheduler) =>
      Effect.gen(function*() {
        const checkpointer = yield* Checkpointer
        const first = yield* scheduler.enqueue("g:one", { n: 1, label: "a" }, { idempotencyKey: "req-1" })
        yield* Deferred.await(first.summary)
        const before = Option.getOrThrow(yield* checkpointer.getRun(first.runId))
        const same = yield* scheduler.enqueue("g:one", { n: 1, label: "a" }, { idempotencyKey: "req-1" })
        const reordered = yield* scheduler.enqueue("g:one", { label: "a", n: 1 }, { idempotencyKey: "req-1" })
        const params = yield* Effect.flip(scheduler.enqueue("g:one", { n: 2, label: "a" }, { idempotencyKey: "req-1" }))
        const fewer = yield* Effect.flip(scheduler.enqueue("g:one", { n: 1 }, { idempotencyKey: "req-1" }))
        const thread = yield* Effect.flip(scheduler.enqueue("g:one", { n: 1, label: "a" }, { idempotencyKey: "req-1", threadId: "t-1" }))
        const breakpoint = yield* Effect.flip(scheduler.enqueue("g:one", { n: 1, label: "a" }, { idempotencyKey: "req-1", interruptBefore: ["work"] }))
        // A trigger's key names an event: the same graph with other params is its run again.
        const event = yield* scheduler.enqueue("g:one", { n: 7 }, { idempotencyKey: "req-1", idempotency: "event" })
        const after = Option.getOrThrow(yield* checkpointer.getRun(first.runId))
        const runs = (yield* checkpointer.listRuns({ limit: 50 })).runs.length
        return { first, same, reordered, params, fewer, thread, breakpoint, event, before, after, runs }
      }))
    expect(result.same).toMatchObject({ runId: result.first.runId, deduplicated: true })
    expect(result.reordered).toMatchObject({ runId: result.first.runId, deduplicated: true })
    expect(result.event).toMatchObject({ runId: result.first.runId, deduplicated: true })
    expect(result.params).toMatchObject({ _tag: "RunStateError", reason: "idempotency-key-reused", field: "params", operation: "enqueue", runId: result.first.runId, status: "done" })
    expect(result.params.message).toMatch(/^idempotency key 'req-1' already belongs to run \S+, started with other params \(they differ at 'n'\)/)
    expect(result.params).toMatchObject({ fix: expect.stringMatching(/use a new idempotency key .*or resend the request run \S+ was started with/) })
    expect(result.fewer).toMatchObject({ reason: "idempotency-key-reused", field: "params" })
    expect(result.fewer.message).toContain("they differ at 'label'")
    expect(result.thread).toMatchObject({ _tag: "RunStateError", reason: "idempotency-key-reused", field: "thread_id" })
    expect(result.breakpoint).toMatchObject({ _tag: "RunStateError", reason: "idempotency-key-reused", field: "interrupt_before" })
    // Nothing written: one run, untouched, and the graph ran once.
    expect(result.runs).toBe(1)
    expect(result.after).toEqual(result.before)
    expect(result.after.inputs).toEqual({ n: 1, label: "a" })
    expect(gauge.calls).toBe(1)
  })

  it("respects the per-graph concurrency limit and runs each graph FIFO", async () => {
    const { gauge, result: order } = await withScheduler((scheduler) =>
      Effect.gen(function*() {
        const enqueued = yield* Effect.forEach(Array.from({ length: 8 }, (_, i) => i), (i) => scheduler.enqueue("g:one", { n: i }))
        const summaries = yield* Effect.forEach(enqueued, (e) => Deferred.await(e.summary))
        return summaries.map((s) => s.started_at!)
      }), { delayMs: 30, scheduler: { perGraph: 2 } })
    expect(gauge.calls).toBe(8)
    expect(gauge.max).toBe(2)
    // FIFO: start times are in enqueue order.
    expect([...order].sort()).toEqual(order)
  })

  it("refuses an unknown graph id, params failing the state schema, and another graph's idempotency key, persisting nothing", async () => {
    const { gauge, result } = await withScheduler((scheduler) =>
      Effect.gen(function*() {
        const unknown = yield* Effect.either(scheduler.enqueue("g:nope", {}))
        const invalid = yield* Effect.either(scheduler.enqueue("g:one", { n: "seven" }))
        const extra = yield* Effect.either(scheduler.enqueue("g:one", { bogus: 1 }))
        const runs = yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({}))
        // A key already used by another graph's run: refused, not that run returned.
        const first = yield* scheduler.enqueue("g:one", { n: 1 }, { idempotencyKey: "k-1" })
        yield* Deferred.await(first.summary)
        const otherGraph = yield* Effect.either(scheduler.enqueue("g:two", { n: 1 }, { idempotencyKey: "k-1" }))
        const sameGraph = yield* scheduler.enqueue("g:one", { n: 1 }, { idempotencyKey: "k-1" })
        return { unknown, invalid, extra, runs: runs.runs.length, first, otherGraph, sameGraph }
      }))
    expect(Either.isLeft(result.otherGraph) && result.otherGraph.left).toMatchObject({ _tag: "RunStateError", operation: "enqueue", runId: result.first.runId })
    expect(Either.isLeft(result.otherGraph) && result.otherGraph.left.message).toMatch(/already belongs to run \S+ of graph g:one, not g:two/)
    expect(result.sameGraph).toMatchObject({ runId: result.first.runId, deduplicated: true })
    expect(Either.isLeft(result.unknown) && result.unknown.left).toMatchObject({ _tag: "SchedulerError", reason: "unknown-graph", graphId: "g:nope" })
    expect(Either.isLeft(result.unknown) && result.unknown.left.message).toContain("g:nope")
    expect(Either.isLeft(result.invalid) && result.invalid.left).toMatchObject({ _tag: "StateValidationError", field: "n" })
    expect(Either.isLeft(result.extra) && result.extra.left).toMatchObject({ _tag: "StateValidationError", field: "bogus" })
    expect(result.runs).toBe(0)
    expect(gauge.calls).toBe(1)
  })

  it("picks up pending rows left by a stopped process after a restart", async () => {
    const gauge = { now: 0, max: 0, calls: 0 }
    const filename = join(tempDir(), "db.sqlite")
    // Process 1: queue three runs, but let no worker run them (global limit 0 is not allowed,
    // so write the queue rows directly, as a process that died right after enqueue would).
    const queued = await Effect.runPromise(Effect.gen(function*() {
      const [one] = yield* makeGraphs(gauge)
      const checkpointer = yield* Checkpointer
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const created = yield* checkpointer.createRun(yield* one.newRun({ inputs: { n: i }, queued: true }))
        ids.push(created.record.run_id)
      }
      return ids
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    // Process 2: a new scheduler on the same file finds and finishes them.
    const { result: summaries } = await withScheduler((scheduler) => Effect.forEach(queued, (id) => scheduler.await(id)), { filename, gauge })
    expect(summaries.map((s) => s.status)).toEqual(["done", "done", "done"])
    expect(summaries.map((s) => s.final_state["n"])).toEqual([1, 2, 3])
  })

  it("a run picked up later (queued by a process that died) names who started it in its audit lines, not the scheduler", async () => {
    const gauge = { now: 0, max: 0, calls: 0 }
    const filename = join(tempDir(), "db.sqlite")
    const runId = await Effect.runPromise(Effect.gen(function*() {
      const [one] = yield* makeGraphs(gauge)
      return (yield* (yield* Checkpointer).createRun(yield* one.newRun({ inputs: { n: 1 }, queued: true, actor: "http:10.0.0.7" }))).record.run_id
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    const events: Array<Record<string, unknown>> = []
    const audit = Layer.succeed(AuditSink, { write: (record) => Effect.sync(() => void events.push(record)) })
    const record = await Effect.runPromise(Effect.gen(function*() {
      const graphs = yield* makeGraphs(gauge)
      return yield* Effect.gen(function*() {
        yield* Effect.flatMap(Scheduler.Scheduler, (s) => s.await(runId))
        return yield* Effect.flatMap(Checkpointer, (c) => c.getRun(runId))
      }).pipe(Effect.provide(stack(filename, graphs).pipe(Layer.provideMerge(audit))))
    }))
    expect(Option.map(record, (r) => r.actor)).toEqual(Option.some("http:10.0.0.7"))
    const lines = events.filter((e) => e["run_id"] === runId)
    expect(lines.map((e) => e["event"])).toContain("run.finished")
    expect(new Set(lines.map((e) => e["actor"]))).toEqual(new Set(["http:10.0.0.7"]))
  })

  it("picks up a queued run of its graphs behind any number of rows it cannot run (another server's graphs)", async () => {
    const gauge = { now: 0, max: 0, calls: 0 }
    const filename = join(tempDir(), "db.sqlite")
    const queued = await Effect.runPromise(Effect.gen(function*() {
      const [one] = yield* makeGraphs(gauge)
      const checkpointer = yield* Checkpointer
      // 600 rows of a graph this server does not register, queued first.
      const foreign = yield* one.newRun({ inputs: { n: 0 }, queued: true })
      for (let i = 0; i < 600; i++) yield* checkpointer.createRun({ ...foreign, graph_id: "g:elsewhere" })
      return (yield* checkpointer.createRun(yield* one.newRun({ inputs: { n: 7 }, queued: true }))).record.run_id
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    const { result: summary } = await withScheduler((scheduler) => Effect.timeout(scheduler.await(queued), "10 seconds"), { filename, gauge })
    expect(summary).toMatchObject({ status: "done", final_state: { n: 8 } })
  })

  it("a queued run of another version of the graph (another hash) is left paused for that version, not failed", async () => {
    const gauge = { now: 0, max: 0, calls: 0 }
    const filename = join(tempDir(), "db.sqlite")
    const runId = await Effect.runPromise(Effect.gen(function*() {
      const [one] = yield* makeGraphs(gauge)
      const created = yield* (yield* Checkpointer).createRun({ ...(yield* one.newRun({ inputs: { n: 5 }, queued: true })), graph_hash: "sha256:an-edited-copy" })
      return created.record.run_id
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    const { result } = await withScheduler((scheduler) => scheduler.await(runId), { filename, gauge })
    expect(result).toMatchObject({ status: "paused", error: null })
    expect(gauge.calls).toBe(0)
    const pending = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listPending(10)).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(pending).toEqual([])
  })

  it("adopts runs a dead process of this host left running outside the queue (a run it resumed, a fork, a child answered directly); not a running parent's child, nor another graph version's run", async () => {
    const gauge = { now: 0, max: 0, calls: 0 }
    const filename = join(tempDir(), "db.sqlite")
    const dead = `${hostname()}:999999999`
    const orphans = await Effect.runPromise(Effect.gen(function*() {
      const [one] = yield* makeGraphs(gauge)
      const checkpointer = yield* Checkpointer
      // Runs with no queue row, `running` under a process that is gone (as a server killed -9 leaves a run it resumed).
      const ids: Array<string> = []
      for (const n of [10, 20]) {
        const created = yield* checkpointer.createRun(yield* one.newRun({ inputs: { n } }))
        yield* checkpointer.updateRun(created.record.run_id, { status: "running", owner: dead })
        ids.push(created.record.run_id)
      }
      // A child run of a running parent (driven by a live process): its parent's subgraph node resumes it, not the poll.
      const liveParent = yield* checkpointer.createRun(yield* one.newRun({ inputs: { n: 40 } }))
      yield* checkpointer.updateRun(liveParent.record.run_id, { status: "running", owner: `${hostname()}:${process.pid}` })
      const child = yield* checkpointer.createRun({ ...(yield* one.newRun({ inputs: { n: 99 } })), parent_run_id: liveParent.record.run_id, running: { owner: dead, started_at: new Date().toISOString() } })
      // A child whose parent waits (the child was answered directly): nothing else would drive it.
      const waitingParent = yield* checkpointer.createRun(yield* one.newRun({ inputs: { n: 50 } }))
      yield* checkpointer.updateRun(waitingParent.record.run_id, { status: "awaiting-input" })
      const answeredChild = yield* checkpointer.createRun({ ...(yield* one.newRun({ inputs: { n: 60 } })), parent_run_id: waitingParent.record.run_id, running: { owner: dead, started_at: new Date().toISOString() } })
      // A run of another version of the graph (another hash): left to whoever runs that version.
      const other = yield* checkpointer.createRun({ ...(yield* one.newRun({ inputs: { n: 70 } })), graph_hash: "sha256:another-version", running: { owner: dead, started_at: new Date().toISOString() } })
      return { ids, child: child.record.run_id, answeredChild: answeredChild.record.run_id, other: other.record.run_id }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    const { result } = await withScheduler((scheduler) =>
      Effect.gen(function*() {
        const summaries = yield* Effect.forEach([...orphans.ids, orphans.answeredChild], (id) => scheduler.await(id))
        const child = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(orphans.child))
        const other = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(orphans.other))
        return { summaries, child: Option.getOrThrow(child), other: Option.getOrThrow(other) }
      }), { filename, gauge })
    expect(result.summaries.map((s) => [s.status, s.final_state["n"]])).toEqual([["done", 11], ["done", 21], ["done", 61]])
    expect(result.child).toMatchObject({ status: "running", owner: dead })
    expect(result.other).toMatchObject({ status: "running", owner: dead })
  })

  it("drains on shutdown: an in-flight run finishes before the scope closes", async () => {
    const { filename, result: runId } = await withScheduler((scheduler) =>
      Effect.gen(function*() {
        const enqueued = yield* scheduler.enqueue("g:one", { n: 0 })
        yield* Effect.sleep("100 millis")
        return enqueued.runId
      }), { delayMs: 300 })
    const status = await Effect.runPromise(
      Effect.flatMap(Checkpointer, (c) => c.getRun(runId)).pipe(Effect.provide(SqliteCheckpointer.layer({ filename })))
    )
    expect(status._tag === "Some" && status.value.status).toBe("done")
  })

  it("a drain interrupts its stuck runs at once: their bodies get one abort grace in all, not one each", async () => {
    const t0 = Date.now()
    const { result: runIds } = await withScheduler((scheduler) =>
      Effect.gen(function*() {
        const a = yield* scheduler.enqueue("g:one", { n: 0 })
        const b = yield* scheduler.enqueue("g:one", { n: 1 })
        yield* Effect.sleep("200 millis")
        return [a.runId, b.runId]
      }), { delayMs: 20_000, scheduler: { drainTimeoutMs: 50, abortGraceMs: 3000, global: 4, perGraph: 4 } })
    // Drain wait (50 ms), then one grace of 3 s for both bodies (which ignore ctx.signal).
    expect(Date.now() - t0).toBeLessThan(5500)
    expect(runIds).toHaveLength(2)
  })

  it("a run still going when the drain times out goes back on the queue, and the next process resumes it", async () => {
    const gauge = { now: 0, max: 0, calls: 0 }
    const { filename, result: runId } = await withScheduler((scheduler) =>
      Effect.gen(function*() {
        const enqueued = yield* scheduler.enqueue("g:one", { n: 0 })
        yield* Effect.sleep("100 millis")
        return enqueued.runId
      }), { delayMs: 4000, gauge, scheduler: { drainTimeoutMs: 50 } })
    const after = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      return { run: Option.getOrThrow(yield* c.getRun(runId)), queue: yield* c.listPending(10) }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(after.run).toMatchObject({ status: "pending", owner: null })
    expect(after.queue.map((r) => [r.run_id, r.claimed_by])).toEqual([[runId, null]])
    // The next process: picks it up from the queue (its poll) and finishes it.
    const { result: record } = await withScheduler(() =>
      Effect.flatMap(Checkpointer, (c) =>
        c.getRun(runId).pipe(
          Effect.map(Option.getOrThrow),
          Effect.repeat({ until: (r) => r.status === "done", schedule: Schedule.spaced("50 millis") }),
          Effect.timeout("10 seconds"),
          Effect.zipRight(Effect.map(c.getRun(runId), Option.getOrThrow))
        )), { filename })
    expect(record).toMatchObject({ status: "done" })
    const last = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.latestCheckpoint(runId)).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(Option.getOrThrow(last)).toMatchObject({ step: 1, state: { n: 1 } })
  }, 20_000)
})

describe("GraphRegistry", () => {
  it("loads a folder and a file inside it once, skips non-graph YAML, and refuses two graphs with one id", async () => {
    const hello = join(import.meta.dirname, "..", "..", "examples", "hello")
    const registry = await Effect.runPromise(GraphRegistry.load([hello, join(hello, "graph.yaml"), join(import.meta.dirname, "..", "..", "examples", "triggers")]))
    expect(registry.list().map((g) => g.id)).toEqual(["run:hello-stargraph"])
    // Shown relative to the folder it was found under (first found), or by its name when given as a file.
    expect(registry.shownSource(registry.list()[0]!)).toBe("graph.yaml")
    const examples = join(import.meta.dirname, "..", "..", "examples")
    const fromFolder = await Effect.runPromise(GraphRegistry.load([examples]))
    const helloGraph = fromFolder.list().find((g) => g.id === "run:hello-stargraph")!
    expect(fromFolder.shownSource(helloGraph)).toBe("hello/graph.yaml")
    const dir = tempDir()
    const { copyFileSync, mkdirSync } = await import("node:fs")
    for (const sub of ["a", "b"]) {
      mkdirSync(join(dir, sub))
      copyFileSync(join(hello, "graph.yaml"), join(dir, sub, "graph.yaml"))
      copyFileSync(join(hello, "nodes.ts"), join(dir, sub, "nodes.ts"))
    }
    const dup = await Effect.runPromise(Effect.either(GraphRegistry.load([dir])))
    expect(Either.isLeft(dup) && dup.left).toMatchObject({ _tag: "SchedulerError", reason: "duplicate-graph", graphId: "run:hello-stargraph" })
    // A path that names nothing is named; dist/ and node_modules/ are not searched.
    const missing = await Effect.runPromise(Effect.either(GraphRegistry.load([hello, join(dir, "nothere")])))
    expect(Either.isLeft(missing) && missing.left).toMatchObject({ _tag: "IRValidationError", file: join(dir, "nothere"), message: expect.stringMatching(/^cannot read graphs at .*nothere: ENOENT/) })
    const built = tempDir()
    for (const sub of ["src", "dist", "node_modules"]) {
      mkdirSync(join(built, sub))
      copyFileSync(join(hello, "graph.yaml"), join(built, sub, "graph.yaml"))
    }
    expect(GraphRegistry.findGraphFiles(built)).toEqual([join(built, "src", "graph.yaml")])
  })

  it("skips a YAML file with a top-level state: or routes: but no nodes mapping (a settings file), and still refuses a broken authoring graph", async () => {
    const { writeFileSync } = await import("node:fs")
    const dir = tempDir()
    writeFileSync(join(dir, "g.yaml"), "id: g\nstate: {q: str}\nnodes:\n  a: {kind: noop}\n")
    writeFileSync(join(dir, "settings.yaml"), "state: enabled\nretries: 3\n")
    writeFileSync(join(dir, "routing.yaml"), "routes:\n  - {from: a, to: b}\n")
    writeFileSync(join(dir, "list.yaml"), "nodes:\n  - web\n  - db\n")
    expect(GraphRegistry.findGraphFiles(dir)).toEqual([join(dir, "g.yaml")])
    const registry = await Effect.runPromise(GraphRegistry.load([dir]))
    expect(registry.list().map((g) => g.id)).toEqual(["graph:g"])
    // A file with a nodes mapping is a graph: broken, it is an error, at its key.
    writeFileSync(join(dir, "broken.yaml"), "nodes:\n  a: {kind: noop}\nretries: 3\n")
    const broken = await Effect.runPromise(Effect.either(GraphRegistry.load([dir])))
    expect(Either.isLeft(broken) && broken.left).toMatchObject({ _tag: "IRValidationError", file: join(dir, "broken.yaml"), path: "retries" })
  })
})

describe("run records through the Scheduler", () => {
  it("a run that stops awaiting input reports its real step count, and a fresh run says resumed:false", async () => {
    const events: Array<Record<string, unknown>> = []
    const audit = Layer.succeed(AuditSink, { write: (record) => Effect.sync(() => void events.push(record)) })
    const filename = join(tempDir(), "records.sqlite")
    const result = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(join(ROOT, "examples", "approval", "graph.yaml"))
      return yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        const enqueued = yield* scheduler.enqueue(graph.id, { request: "rotate keys" })
        const waiting = yield* Deferred.await(enqueued.summary)
        const record = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(enqueued.runId))
        const resumed = yield* scheduler.resume(enqueued.runId, { response: { value: { approved: true } } })
        const done = yield* Deferred.await(resumed.summary)
        return { waiting, record, done }
      }).pipe(Effect.provide(stack(filename, [graph]).pipe(Layer.provideMerge(audit))))
    }))
    expect(result.waiting.status).toBe("awaiting-input")
    expect(result.waiting.steps).toBe(1)
    expect(Option.map(result.record, (r) => r.last_step)).toEqual(Option.some(1))
    expect(result.done.status).toBe("done")
    expect(result.done.steps).toBe(3)
    const started = events.filter((e) => e["event"] === "run.started")
    expect(started.map((e) => e["resumed"])).toEqual([false, true])
  })
})

describe("answers and resumes through the Scheduler are durable before it returns", () => {
  it("an answer (or a resume) waiting for a free slot survives the server stopping: the next process resumes the run with it; a second answer meanwhile is refused", async () => {
    const filename = join(tempDir(), "durable.sqlite")
    const gauge: Gauge = { now: 0, max: 0, calls: 0 }
    const first = await Effect.runPromise(Effect.gen(function*() {
      const approval = yield* Graph.load(join(ROOT, "examples", "approval", "graph.yaml"))
      const [busy] = yield* makeGraphs(gauge, 1500)
      return yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        const checkpointer = yield* Checkpointer
        const asked = yield* scheduler.enqueue(approval.id, { request: "rotate keys" })
        expect((yield* Deferred.await(asked.summary)).status).toBe("awaiting-input")
        // One slot, taken by a slow run: the answer waits for it.
        yield* scheduler.enqueue(busy!.id, { n: 0 })
        yield* Effect.sleep("200 millis")
        yield* scheduler.resume(asked.runId, { response: { value: { approved: true } }, actor: "alice" })
        const record = Option.getOrThrow(yield* checkpointer.getRun(asked.runId))
        const pending = (yield* checkpointer.listPending(10)).map((p) => p.run_id)
        const second = yield* Effect.either(scheduler.resume(asked.runId, { response: { value: { approved: false } } }))
        return { runId: asked.runId, record, pending, second }
      }).pipe(Effect.provide(stack(filename, [approval, busy!], { global: 1, drainTimeoutMs: 100 })))
    }))
    expect(first.record).toMatchObject({ status: "pending", owner: null, waiting: { node: "review", given: { value: { approved: true }, actor: "alice" } } })
    expect(first.pending).toContain(first.runId)
    expect(Either.isLeft(first.second) && first.second.left).toMatchObject({ _tag: "RunStateError" })
    // The server stopped before the answer's turn; the next one resumes the run with it.
    const done = await Effect.runPromise(Effect.gen(function*() {
      const approval = yield* Graph.load(join(ROOT, "examples", "approval", "graph.yaml"))
      const [busy] = yield* makeGraphs(gauge)
      return yield* Effect.flatMap(Checkpointer, (c) =>
        c.getRun(first.runId).pipe(
          Effect.map(Option.getOrThrow),
          Effect.repeat({ until: (r) => r.status === "done", schedule: Schedule.spaced("50 millis") }),
          Effect.timeout("10 seconds"),
          Effect.zipRight(c.latestCheckpoint(first.runId))
        )).pipe(Effect.provide(stack(filename, [approval, busy!])))
    }))
    expect(Option.getOrThrow(done).state).toMatchObject({ decision: { approved: true }, outcome: "published: Proposed change: rotate keys" })
  })
})

describe("interrupt timeouts in a server", () => {
  it("a run waiting past its interrupt's deadline is resumed by the Scheduler and follows on_timeout", async () => {
    const filename = join(tempDir(), "timeouts.sqlite")
    const result = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make({
        ir_version: "1.0.0",
        id: "run:timeout",
        state_schema: { message: "str" },
        nodes: [{ id: "ask", kind: "echo" }, { id: "late", kind: "halt" }, { id: "answered", kind: "halt" }],
        rules: [{ id: "wait", when: { node: "ask" }, then: [{ kind: "interrupt", prompt: "Quick!", timeout: 0.1, on_timeout: "goto:late" }] }]
      })
      return yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler.Scheduler
        const enqueued = yield* scheduler.enqueue(graph.id, { message: "x" })
        const waiting = yield* Deferred.await(enqueued.summary)
        yield* Effect.sleep("400 millis")
        const after = yield* scheduler.await(enqueued.runId)
        const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(enqueued.runId))
        return { waiting, after, nodes: checkpoints.map((c) => c.node) }
      }).pipe(Effect.provide(stack(filename, [graph], { pollIntervalMs: 50 })))
    }))
    expect(result.waiting.status).toBe("awaiting-input")
    expect(result.after.status).toBe("done")
    expect(result.nodes).toEqual(["__input__", "ask", "__timeout__", "late"])
  })

  it("finds a timed-out wait behind any number of newer waiting runs (a page per poll)", async () => {
    const filename = join(tempDir(), "many-waiting.sqlite")
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:many-waiting",
      state_schema: { message: "str" },
      nodes: [{ id: "ask", kind: "echo" }, { id: "late", kind: "halt" }],
      rules: [{ id: "wait", when: { node: "ask" }, then: [{ kind: "interrupt", prompt: "Quick!", timeout: 0.1, on_timeout: "goto:late" }] }]
    }))
    // The oldest waiting run's deadline has passed; 600 newer ones wait without one.
    const oldest = await Effect.runPromise(Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const waiting = { node: "ask", prompt: "Quick!", step: 1, response_field: "", kind: "rule" as const }
      const make = (deadline?: string) =>
        Effect.gen(function*() {
          const created = yield* checkpointer.createRun(yield* graph.newRun({ inputs: { message: "x" } }))
          yield* checkpointer.updateRun(created.record.run_id, { status: "awaiting-input", waiting: { ...waiting, ...(deadline ? { deadline, on_timeout: "goto:late" } : {}) } })
          return created.record.run_id
        })
      const first = yield* make(new Date(Date.now() - 60_000).toISOString())
      for (let i = 0; i < 600; i++) yield* make()
      return first
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    const after = await Effect.runPromise(Effect.gen(function*() {
      yield* Scheduler.Scheduler
      const read = Effect.flatMap(Checkpointer, (c) => Effect.map(c.getRun(oldest), Option.getOrThrow))
      yield* read.pipe(Effect.repeat({ until: (r) => r.status === "done", schedule: Schedule.spaced("50 millis") }), Effect.timeout("10 seconds"), Effect.ignore)
      return yield* read
    }).pipe(Effect.provide(stack(filename, [graph], { pollIntervalMs: 50 }))))
    expect(after.status).toBe("done")
  })
})
