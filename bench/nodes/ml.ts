/**
 * `ml` node overhead: the node's executor (compiled through a graph) against a bare
 * `InferenceSession.run` on the same model at batch 1, as interleaved rounds in one
 * process (each round runs every arm once). Every call is timed on its own; figures are
 * per-call medians over all rounds, in microseconds.
 *
 * Arms, on test/fixtures/models/linear.onnx (4 features → 1 score, ~15 µs a run):
 * - `bare`: `await session.run({features: new Tensor("float32", Float32Array.from(x), [1, 4])})`
 *   and reading the score, as a user would without the node (the goal's baseline);
 * - `bare_native`: the same inference on the runtime's native binding, called
 *   synchronously: what the node itself calls for an inline inference
 *   (`src/nodes/ml/nativeSession.ts`), so the node's own overhead is measured against it;
 * - `bare_effect`: the same call wrapped in `Effect.async` inside an Effect program (what
 *   any Effect code calling the runtime pays: a fiber suspends and resumes);
 * - `node_unrecorded`: the executor with `liveCalls` (outside a run: no cassette);
 * - `node_recorded`: the executor with a fresh live step recorder per call, as in a run (the
 *   cassette hashes the request `{version, sha256, input}` and checks and keeps the
 *   response); the recorder is made before the clock starts, since the run loop makes one
 *   per step whatever the node. Serializing the entry into the step's checkpoint, at the
 *   commit, is not timed.
 * On heavy.onnx (512 features, ~2 ms a row): `bare` against the node under `auto` (which
 * runs it in the worker thread, keeping the event loop free) and under `inline`.
 * XGBoost (xgb_binary.json) per-call time is reported on its own (batch 1 and 100).
 *
 *   npx tsx bench/nodes/ml.ts [--rounds 15] [--calls 2000] [--build]
 *
 * `--build` runs the compiled library (`dist/`, what an installed package runs; `npm run
 * build` first) instead of the sources through tsx, whose per-closure name wrappers weigh
 * on a call of a few microseconds.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import type * as MemoryCheckpointerModule from "../../src/checkpoint/MemoryCheckpointer.js"
import type * as GraphModule from "../../src/graph/Graph.js"
import type { State } from "../../src/ir/stateSchema.js"
import type * as CallsModule from "../../src/nodes/calls.js"
import type { Executor, NodeInput } from "../../src/nodes/Executor.js"
import type * as OnnxRuntimeModule from "../../src/nodes/ml/OnnxRuntime.js"
import type { OrtModule, OrtSession } from "../../src/nodes/ml/OnnxRuntime.js"
import type { SyncSession } from "../../src/nodes/ml/nativeSession.js"
import type * as CassetteModule from "../../src/runtime/Cassette.js"

/** The library's modules: the sources through tsx, or the compiled build (`--build`: what an installed package runs). */
const library = async (build: boolean) => {
  const root = build ? "../../dist/src/" : "../../src/"
  return {
    MemoryCheckpointer: (await import(`${root}checkpoint/MemoryCheckpointer.js`)) as typeof MemoryCheckpointerModule,
    Graph: (await import(`${root}graph/Graph.js`)) as typeof GraphModule,
    OnnxRuntime: (await import(`${root}nodes/ml/OnnxRuntime.js`)) as typeof OnnxRuntimeModule,
    liveCalls: ((await import(`${root}nodes/calls.js`)) as typeof CallsModule).liveCalls,
    stepRecorder: ((await import(`${root}runtime/Cassette.js`)) as typeof CassetteModule).stepRecorder
  }
}
let { MemoryCheckpointer, Graph, OnnxRuntime, liveCalls, stepRecorder } = await library(false)

const MODELS = join(import.meta.dirname, "..", "..", "test", "fixtures", "models")

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}
const round2 = (x: number) => Math.round(x * 100) / 100
const pct = (arm: number, base: number) => round2(((arm - base) / base) * 100)

const nodeOf = (file: string, runtime: string, extra: Record<string, unknown> = {}) =>
  Effect.runPromise(Effect.map(Graph.make({
    ir_version: "1.0.0",
    id: "bench:ml",
    state_schema: { fields: { x: { type: "any" }, y: { type: "any" } } },
    nodes: [{ id: "m", kind: "ml", model_id: "bench", version: "1", runtime, file_uri: file, ...extra }],
    edges: [{ from: "m", to: "__end__" }]
  }, { baseDir: MODELS }), (graph) => ({ graph, execute: graph.nodes.get("m")!.execute })))

/** `n` executor calls in one fiber, each timed (µs) into `out`; `calls()` gives a call's recorder. */
const timeNode = (execute: Executor, state: State, n: number, graphHash: string, calls: () => NodeInput["calls"], out: Array<number>) =>
  Effect.runPromise(Effect.gen(function*() {
    for (let i = 0; i < n; i++) {
      const input: NodeInput = { runId: "bench", nodeId: "m", step: i + 1, calls: calls(), answers: [], graphHash }
      const t0 = performance.now()
      yield* execute(state, input)
      out.push((performance.now() - t0) * 1000)
    }
  }).pipe(Effect.provide(MemoryCheckpointer.layer)))

/** `n` bare runs, each timed (µs) into `out`. */
const timeBare = async (ort: OrtModule, session: OrtSession, name: string, dims: ReadonlyArray<number>, x: ReadonlyArray<number>, n: number, out: Array<number>) => {
  let sink = 0
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    const result = await session.run({ [name]: new ort.Tensor("float32", Float32Array.from(x), dims) }, session.outputNames)
    sink += result[session.outputNames[0]!]!.data[0] as number
    out.push((performance.now() - t0) * 1000)
  }
  return sink
}

/** `n` bare runs on the native binding (synchronous), each timed (µs) into `out`. */
const timeBareNative = (ort: OrtModule, session: SyncSession, x: ReadonlyArray<number>, n: number, out: Array<number>) => {
  let sink = 0
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    const result = session.runSync({ features: new ort.Tensor("float32", Float32Array.from(x), [1, 4]) }, ["score"])
    sink += result["score"]!.data[0] as number
    out.push((performance.now() - t0) * 1000)
  }
  return sink
}

/** The same bare run inside an Effect program (`Effect.async` around the Promise). */
const timeBareEffect = (ort: OrtModule, session: OrtSession, x: ReadonlyArray<number>, n: number, out: Array<number>) =>
  Effect.runPromise(Effect.gen(function*() {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      yield* Effect.async<unknown>((resume) => {
        session.run({ features: new ort.Tensor("float32", Float32Array.from(x), [1, 4]) }, ["score"]).then(
          (r) => resume(Effect.succeed(r["score"]!.data[0])),
          (e: unknown) => resume(Effect.die(e))
        )
      })
      out.push((performance.now() - t0) * 1000)
    }
  }))

/** Run the benchmark and return its figures. */
export const run = async (options: { readonly rounds?: number; readonly calls?: number; readonly build?: boolean } = {}): Promise<Record<string, unknown>> => {
  if (options.build === true) ({ MemoryCheckpointer, Graph, OnnxRuntime, liveCalls, stepRecorder } = await library(true))
  const rounds = options.rounds ?? 15
  const n = options.calls ?? 2000
  const ort = (await import("onnxruntime-node")) as unknown as OrtModule

  // Tiny model, batch 1.
  const x = [1, 2, 0.5, 1]
  const linearBytes = readFileSync(join(MODELS, "linear.onnx"))
  const bareSession = await ort.InferenceSession.create(linearBytes, OnnxRuntime.SESSION_OPTIONS)
  const opener = OnnxRuntime.make().native()
  if (opener === undefined) throw new Error("onnxruntime-node's native binding is not where the node expects it")
  const nativeSession = opener(linearBytes, OnnxRuntime.SESSION_OPTIONS)
  const { graph, execute } = await nodeOf("linear.onnx", "onnx")
  const recorded = () => stepRecorder(1, undefined).forNode("m")
  const tiny = { bare: [] as Array<number>, bare_native: [] as Array<number>, bare_effect: [] as Array<number>, node_unrecorded: [] as Array<number>, node_recorded: [] as Array<number> }
  // Warm-up: JIT and allocations for every arm.
  await timeBare(ort, bareSession, "features", [1, 4], x, n, [])
  timeBareNative(ort, nativeSession, x, n, [])
  await timeBareEffect(ort, bareSession, x, n, [])
  await timeNode(execute, { x }, n, graph.graphHash, () => liveCalls, [])
  await timeNode(execute, { x }, n, graph.graphHash, recorded, [])
  for (let r = 0; r < rounds; r++) {
    await timeBare(ort, bareSession, "features", [1, 4], x, n, tiny.bare)
    timeBareNative(ort, nativeSession, x, n, tiny.bare_native)
    await timeBareEffect(ort, bareSession, x, n, tiny.bare_effect)
    await timeNode(execute, { x }, n, graph.graphHash, () => liveCalls, tiny.node_unrecorded)
    await timeNode(execute, { x }, n, graph.graphHash, recorded, tiny.node_recorded)
  }
  const us = {
    bare: round2(median(tiny.bare)),
    bare_native: round2(median(tiny.bare_native)),
    bare_effect: round2(median(tiny.bare_effect)),
    node_unrecorded: round2(median(tiny.node_unrecorded)),
    node_recorded: round2(median(tiny.node_recorded))
  }

  // Heavy model, batch 1: where the worker thread matters.
  const heavyRounds = Math.max(3, Math.round(rounds / 3))
  const heavyCalls = Math.max(20, Math.round(n / 40))
  const hx = Array.from({ length: 512 }, (_, i) => Math.sin(i) / 2)
  const heavyBare = await ort.InferenceSession.create(readFileSync(join(MODELS, "heavy.onnx")), OnnxRuntime.SESSION_OPTIONS)
  const auto = await nodeOf("heavy.onnx", "onnx")
  const inline = await nodeOf("heavy.onnx", "onnx", { execution: "inline" })
  const heavy = { bare: [] as Array<number>, node_auto_worker: [] as Array<number>, node_inline: [] as Array<number> }
  await timeNode(auto.execute, { x: hx }, 5, auto.graph.graphHash, () => liveCalls, [])
  for (let r = 0; r < heavyRounds; r++) {
    await timeBare(ort, heavyBare, "x", [1, 512], hx, heavyCalls, heavy.bare)
    await timeNode(auto.execute, { x: hx }, heavyCalls, auto.graph.graphHash, () => liveCalls, heavy.node_auto_worker)
    await timeNode(inline.execute, { x: hx }, heavyCalls, inline.graph.graphHash, () => liveCalls, heavy.node_inline)
  }
  const heavyUs = { bare: round2(median(heavy.bare)), node_auto_worker: round2(median(heavy.node_auto_worker)), node_inline: round2(median(heavy.node_inline)) }

  // XGBoost, batch 1 and 100.
  const xgb = await nodeOf("xgb_binary.json", "xgboost")
  const xgbOne: Array<number> = []
  const xgbBatch: Array<number> = []
  const batch = Array.from({ length: 100 }, (_, i) => [i % 2, i % 3, i % 5])
  for (let r = 0; r < rounds; r++) {
    await timeNode(xgb.execute, { x: [1, 2, 3] }, n, xgb.graph.graphHash, () => liveCalls, xgbOne)
    await timeNode(xgb.execute, { x: batch }, Math.round(n / 10), xgb.graph.graphHash, () => liveCalls, xgbBatch)
  }

  return {
    bench: "nodes/ml",
    library: options.build === true ? "dist (compiled)" : "src (tsx)",
    rounds,
    calls_per_round: n,
    linear_onnx_batch1_us: us,
    overhead_vs_bare_pct: { node_unrecorded: pct(us.node_unrecorded, us.bare), node_recorded: pct(us.node_recorded, us.bare), bare_effect: pct(us.bare_effect, us.bare) },
    // The node's own overhead: against the native call it makes itself.
    overhead_vs_bare_native_pct: { node_unrecorded: pct(us.node_unrecorded, us.bare_native), node_recorded: pct(us.node_recorded, us.bare_native) },
    overhead_vs_bare_effect_pct: { node_unrecorded: pct(us.node_unrecorded, us.bare_effect), node_recorded: pct(us.node_recorded, us.bare_effect) },
    // The model cost at which the node's fixed cost would be 10% of a bare run.
    model_us_for_10pct: { node_unrecorded: round2((us.node_unrecorded - us.bare) * 10), node_recorded: round2((us.node_recorded - us.bare) * 10) },
    heavy_onnx_batch1_us: heavyUs,
    heavy_overhead_vs_bare_pct: { node_auto_worker: pct(heavyUs.node_auto_worker, heavyUs.bare), node_inline: pct(heavyUs.node_inline, heavyUs.bare) },
    xgboost_us: { batch1: round2(median(xgbOne)), batch100: round2(median(xgbBatch)) }
  }
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const argv = process.argv.slice(2).filter((a) => a !== "--build")
  const args = new Map<string, string>()
  for (let i = 0; i < argv.length; i += 2) args.set(argv[i]!.replace(/^--/, ""), argv[i + 1] ?? "")
  const figures = await run({ rounds: Number(args.get("rounds") ?? 15), calls: Number(args.get("calls") ?? 2000), build: process.argv.includes("--build") })
  console.log(JSON.stringify(figures, null, 2))
  process.exit(0)
}
