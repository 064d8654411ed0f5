// Old-space growth per run (and what stays after a full GC) for a full run and for stubbed pieces
// of one (compiled dist; MemoryCheckpointer, or SQLite in memory with SQL=1). node --expose-gc promo3.mjs
import v8 from "node:v8"
import * as Effect from "effect/Effect"
import * as Graph from "../dist/src/graph/Graph.js"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
import { RunLoop } from "../dist/src/runtime/RunLoop.js"
import { toSummary } from "../dist/src/checkpoint/models.js"
const N = Number(process.env.NODES ?? 10)
const ir = { ir_version: "1.0.0", id: "bench:linear", state_schema: { fields: { counter: { type: "integer", default: 0 }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "function", module: "bench", export: "step" })), edges: Array.from({ length: N - 1 }, (_, i) => ({ from: `n${i}`, to: `n${i + 1}` })) }
const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })
const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.make(ir, { modules: { bench: { step } } })
  const variants = {
    full: Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start()),
    startOnly: graph.start({ inputs: { counter: 0 } }),
    forkOnly: Effect.flatMap(Effect.fork(Effect.succeed(1)), (f) => f.await),
    trivialLoop: Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start()).pipe(Effect.provideService(RunLoop, { drive: (input) => Effect.succeed(toSummary(input.run, input.checkpoint.state)) })),
    forEachOnly: Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start()).pipe(Effect.provideService(RunLoop, { drive: (input) => Effect.zipRight(Effect.forEach(Array.from({ length: 22 }, (_, i) => i), (i) => Effect.sync(() => ({ i })), { discard: true }), Effect.succeed(toSummary(input.run, input.checkpoint.state))) })),
    localEvents: Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start()).pipe(Effect.provideService(RunLoop, { drive: (input) => { const log = []; return Effect.zipRight(Effect.forEach(Array.from({ length: 22 }, (_, i) => i), (i) => Effect.suspend(() => { log.push({ type: "step.started", step: i, nodes: ["a"], run_id: "r", seq: log.length, at: new Date().toISOString() }); return Effect.void }), { discard: true }), Effect.succeed(toSummary(input.run, input.checkpoint.state))) } })),
    emitsOnly: Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start()).pipe(Effect.provideService(RunLoop, { drive: (input) => Effect.zipRight(Effect.forEach(Array.from({ length: 22 }, (_, i) => i), (i) => input.emit({ type: "step.started", step: i, nodes: ["a"] }), { discard: true }), Effect.succeed(toSummary(input.run, input.checkpoint.state))) }))
  }
  for (const [name, eff] of Object.entries(variants)) {
    for (let i = 0; i < 200; i++) yield* eff
    global.gc()
    const before = old()
    const R = 400
    for (let i = 0; i < R; i++) yield* eff
    const grown = old() - before
    global.gc()
    console.log(name, "old-space growth per iteration", Math.round(grown / R), "bytes; after a full GC", Math.round((old() - before) / R))
  }
}).pipe(Effect.provide(process.env.SQL ? SqliteCheckpointer.layer({ filename: ":memory:" }) : MemoryCheckpointer.layer)))
