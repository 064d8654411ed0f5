/**
 * Scheduler benchmark (JSON lines):
 *  1. enqueue throughput: 10,000 enqueues of a no-op graph into SQLite (32 concurrent
 *     callers), workers running meanwhile; then until every run is done.
 *  2. latency: 8 graphs at per-graph concurrency 4, runs enqueued at a steady rate below
 *     saturation; p50/p99 enqueue-to-start (first node entered) latency.
 *  3. dedup: 1,000 concurrent enqueues with one idempotency key → runs created.
 *
 *   npx tsx bench/scheduler.ts [--runs 10000] [--sync FULL|NORMAL|both]
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Checkpointer } from "../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
import * as GraphRegistry from "../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../src/scheduler/Scheduler.js"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const RUNS = Number(args.get("runs") ?? 10_000)
const syncArg = args.get("sync") ?? "both"
const modes: Array<"FULL" | "NORMAL"> = syncArg === "both" ? ["FULL", "NORMAL"] : [syncArg as "FULL" | "NORMAL"]

const startedAt = new Map<string, number>()
const mark = (_state: unknown, ctx: { readonly runId: string }) => {
  startedAt.set(ctx.runId, performance.now())
  return {}
}
const graphIr = (id: string) => ({
  ir_version: "1.0.0",
  id,
  state_schema: { fields: { n: { type: "integer", default: 0 } } },
  nodes: [{ id: "mark", kind: "function", module: "b", export: "mark" }],
  edges: []
})

const q = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0

const stack = (filename: string, sync: "FULL" | "NORMAL", graphs: ReadonlyArray<Graph.Graph>) =>
  Scheduler.layer({ perGraph: 4, global: 32, pollIntervalMs: 1000 }).pipe(
    Layer.provideMerge(GraphRegistry.layer(graphs)),
    Layer.provideMerge(SqliteCheckpointer.layer({ filename, synchronous: sync }))
  )

const throughput = (sync: "FULL" | "NORMAL") =>
  Effect.gen(function*() {
    const graph = yield* Graph.make(graphIr("bench:noop"), { modules: { b: { mark } } })
    const filename = join(mkdtempSync(join(tmpdir(), "sg-sched-")), "db.sqlite")
    return yield* Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const t0 = performance.now()
      const enqueued = yield* Effect.forEach(Array.from({ length: RUNS }, (_, i) => i), (i) => scheduler.enqueue("bench:noop", { n: i }), { concurrency: 32 })
      const enqueueS = (performance.now() - t0) / 1000
      yield* Effect.forEach(enqueued, (e) => Deferred.await(e.summary), { discard: true })
      const totalS = (performance.now() - t0) / 1000
      return {
        bench: "scheduler.enqueue",
        synchronous: sync,
        runs: RUNS,
        enqueues_per_s: Math.round(RUNS / enqueueS),
        runs_completed_per_s: Math.round(RUNS / totalS),
        wall_s: +totalS.toFixed(2)
      }
    }).pipe(Effect.scoped, Effect.provide(stack(filename, sync, [graph])))
  })

const latency = (sync: "FULL" | "NORMAL") =>
  Effect.gen(function*() {
    const graphs = yield* Effect.forEach(Array.from({ length: 8 }, (_, i) => i), (i) => Graph.make(graphIr(`bench:g${i}`), { modules: { b: { mark } } }))
    const filename = join(mkdtempSync(join(tmpdir(), "sg-sched-")), "db.sqlite")
    const total = 1600
    const ratePerS = 200
    return yield* Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const enqueuedAt = new Map<string, number>()
      const pending: Array<Deferred.Deferred<unknown, unknown>> = []
      const t0 = performance.now()
      for (let i = 0; i < total; i++) {
        const due = t0 + (i * 1000) / ratePerS
        const wait = due - performance.now()
        if (wait > 0) yield* Effect.sleep(`${wait} millis`)
        const before = performance.now()
        const e = yield* scheduler.enqueue(`bench:g${i % 8}`, { n: i })
        enqueuedAt.set(e.runId, before)
        pending.push(e.summary as Deferred.Deferred<unknown, unknown>)
      }
      yield* Effect.forEach(pending, Deferred.await, { discard: true })
      const wall = (performance.now() - t0) / 1000
      const lat = [...enqueuedAt].map(([id, at]) => startedAt.get(id)! - at).sort((a, b) => a - b)
      return {
        bench: "scheduler.latency",
        synchronous: sync,
        graphs: 8,
        per_graph_concurrency: 4,
        runs: total,
        offered_runs_per_s: ratePerS,
        achieved_runs_per_s: Math.round(total / wall),
        p50_enqueue_to_start_ms: +q(lat, 0.5).toFixed(2),
        p99_enqueue_to_start_ms: +q(lat, 0.99).toFixed(2),
        max_enqueue_to_start_ms: +q(lat, 1).toFixed(2)
      }
    }).pipe(Effect.scoped, Effect.provide(stack(filename, sync, graphs)))
  })

const dedup = Effect.gen(function*() {
  const graph = yield* Graph.make(graphIr("bench:noop"), { modules: { b: { mark } } })
  const filename = join(mkdtempSync(join(tmpdir(), "sg-sched-")), "db.sqlite")
  return yield* Effect.gen(function*() {
    const scheduler = yield* Scheduler.Scheduler
    const all = yield* Effect.forEach(Array.from({ length: 1000 }, () => 0), () => scheduler.enqueue("bench:noop", {}, { idempotencyKey: "same" }), { concurrency: "unbounded" })
    yield* Deferred.await(all[0]!.summary)
    const page = yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 500 }))
    return { bench: "scheduler.dedup", concurrent_enqueues: 1000, distinct_run_ids: new Set(all.map((e) => e.runId)).size, runs_created: page.runs.length }
  }).pipe(Effect.scoped, Effect.provide(stack(filename, "FULL", [graph])))
})

for (const sync of modes) {
  console.log(JSON.stringify(await Effect.runPromise(throughput(sync))))
  console.log(JSON.stringify(await Effect.runPromise(latency(sync))))
}
console.log(JSON.stringify(await Effect.runPromise(dedup)))
