/**
 * The `ml` node kind on real model files (test/fixtures/models, written by generate.ts),
 * real onnxruntime-node sessions, real SQLite checkpoints and the real CLI.
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { copyFileSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import type { ModelError, ModelIntegrityError, StargraphError } from "../../src/errors.js"
import { formatError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import type { State } from "../../src/ir/stateSchema.js"
import { liveCalls } from "../../src/nodes/calls.js"
import type { NodeInput } from "../../src/nodes/Executor.js"
import { nativeSessions } from "../../src/nodes/ml/nativeSession.js"
import * as OnnxRuntime from "../../src/nodes/ml/OnnxRuntime.js"
import * as Replay from "../../src/replay/Replay.js"
import { requestHash, stepRecorder } from "../../src/runtime/Cassette.js"
import { ROOT, stargraph, tempDir } from "../helpers/cli.js"
import { CLASSIFIER, LINEAR, linearExternalData, linearExternalModel } from "../fixtures/models/generate.js"

const MODELS = join(ROOT, "test", "fixtures", "models")
const ANY = { type: "any" }
const sha256Of = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

const f32 = Math.fround
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x))
const dot = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => a.reduce((s, v, i) => s + v * b[i]!, 0)

/** A runtime with its own cache that counts sessions and inference runs. */
const countingRuntime = () => {
  const counts = { sessions: 0, runs: 0 }
  const runtime = OnnxRuntime.make({
    load: async () => {
      const real = (await import("onnxruntime-node")) as unknown as OnnxRuntime.OrtModule
      return {
        Tensor: real.Tensor,
        InferenceSession: {
          create: async (bytes: Uint8Array, options?: unknown) => {
            counts.sessions++
            const session = await real.InferenceSession.create(bytes, options)
            return {
              inputNames: session.inputNames,
              outputNames: session.outputNames,
              inputMetadata: session.inputMetadata,
              outputMetadata: session.outputMetadata,
              run: (feeds, fetches) => {
                counts.runs++
                return session.run(feeds, fetches)
              }
            } satisfies OnnxRuntime.OrtSession
          }
        }
      }
    }
  })
  return { runtime, counts }
}

interface MlGraph {
  readonly fields: Record<string, unknown>
  readonly node: Record<string, unknown>
  readonly extraNodes?: ReadonlyArray<Record<string, unknown>>
}

/** An IR with one ml node (more with `extraNodes`), ending after it. */
const irOf = ({ fields, node, extraNodes = [] }: MlGraph) => ({
  ir_version: "1.0.0",
  id: "run:ml-test",
  state_schema: { fields },
  nodes: [{ id: "m", kind: "ml", ...node }, ...extraNodes],
  edges: [{ from: "m", to: extraNodes[0]?.["id"] ?? "__end__" }, ...extraNodes.map((n, i) => ({ from: n["id"], to: extraNodes[i + 1]?.["id"] ?? "__end__" }))]
})

const build = (ir: unknown, runtime: OnnxRuntime.OnnxRuntimeShape = OnnxRuntime.make(), baseDir = MODELS) =>
  Effect.runPromise(Effect.either(Graph.make(ir, { baseDir }).pipe(Effect.provideService(OnnxRuntime.OnnxRuntime, runtime))))

const built = async (ir: unknown, runtime?: OnnxRuntime.OnnxRuntimeShape, baseDir?: string) => {
  const graph = await build(ir, runtime, baseDir)
  if (Either.isLeft(graph)) throw new Error(formatError(graph.left))
  return graph.right
}

const buildError = async (ir: unknown, runtime?: OnnxRuntime.OnnxRuntimeShape, baseDir?: string) => {
  const graph = await build(ir, runtime, baseDir)
  if (Either.isRight(graph)) throw new Error("the graph was built")
  return graph.left
}

/** Run the node's executor once, outside a run (live calls). */
const execute = async (graph: Graph.Graph, state: State, nodeId = "m") => {
  const input: NodeInput = { runId: "r", nodeId, step: 1, calls: liveCalls, answers: [], graphHash: graph.graphHash }
  const outcome = await Effect.runPromise(Effect.either(graph.nodes.get(nodeId)!.execute(state, input).pipe(Effect.provide(MemoryCheckpointer.layer))))
  return Either.map(outcome, (o) => (o._tag === "Update" ? o.update : {}))
}

const updateOf = async (graph: Graph.Graph, state: State, nodeId = "m") => {
  const result = await execute(graph, state, nodeId)
  if (Either.isLeft(result)) throw new Error(formatError(result.left as StargraphError))
  return result.right
}

const linearNode = (extra: Record<string, unknown> = {}) => ({
  model_id: "risk",
  version: "1.0.0",
  runtime: "onnx",
  file_uri: "./linear.onnx",
  input_field: "features",
  output_field: "score",
  ...extra
})
const linearFields = { features: { type: "array" }, score: ANY }
const linearGraph = (extra: Record<string, unknown> = {}) => irOf({ fields: linearFields, node: linearNode(extra) })

describe("ml node: ONNX", () => {
  it("scores one feature vector (batch 1) with the values computed by hand, as float32", async () => {
    const graph = await built(linearGraph())
    const x = [1, 2, 0.5, 1]
    const update = await updateOf(graph, { features: x })
    const score = update["score"] as number
    expect(typeof score).toBe("number")
    expect(f32(score)).toBe(score)
    expect(score).toBeCloseTo(sigmoid(dot(x, LINEAR.w) + LINEAR.b), 6)
    expect(score).toBeCloseTo(0.679178699175393, 6)
  })

  it("scores a batch (an array of vectors) into an array, row by row", async () => {
    const graph = await built(linearGraph())
    const rows = [[1, 2, 0.5, 1], [0, 4, 0, 0], [0, 0, 0, 0]]
    const update = await updateOf(graph, { features: rows })
    const scores = update["score"] as Array<number>
    expect(scores).toHaveLength(3)
    rows.forEach((row, i) => expect(scores[i]).toBeCloseTo(sigmoid(dot(row, LINEAR.w) + LINEAR.b), 6))
    // A batch of one stays a batch: an array of one score.
    const one = await updateOf(graph, { features: [rows[0]!] })
    expect(one["score"]).toEqual([scores[0]])
  })

  it("writes a classifier's int64 label and maps a second output with `outputs`", async () => {
    const graph = await built(irOf({
      fields: { x: ANY, label: ANY, probs: ANY },
      node: { model_id: "cls", version: "1", runtime: "onnx", file_uri: "classifier.onnx", output_field: "label", outputs: { probs: "probabilities" } }
    }))
    const x = [1, 2, 3]
    const update = await updateOf(graph, { x })
    const p = sigmoid(dot(x, CLASSIFIER.w) + CLASSIFIER.b)
    expect(update["label"]).toBe(1)
    const probs = update["probs"] as Array<number>
    expect(probs[0]).toBeCloseTo(1 - p, 6)
    expect(probs[1]).toBeCloseTo(p, 6)
    // `output` picks which model output goes to output_field.
    const picked = await built(irOf({
      fields: { x: ANY, y: ANY },
      node: { model_id: "cls", version: "1", runtime: "onnx", file_uri: "classifier.onnx", output: "probabilities" }
    }))
    expect((await updateOf(picked, { x }))["y"]).toEqual(probs)
  })

  it("feeds int64 inputs and returns int64 outputs as JSON numbers", async () => {
    const graph = await built(irOf({ fields: { counts: ANY, total: ANY }, node: { model_id: "c", version: "1", runtime: "onnx", file_uri: "counts.onnx", input_field: "counts", output_field: "total" } }))
    expect((await updateOf(graph, { counts: [[1, 2, 3], [4, 5, 6]] }))["total"]).toEqual([6, 15])
    expect((await updateOf(graph, { counts: [1, 2, 3] }))["total"]).toBe(6)
  })

  it("opens one session per model file, shared by nodes and graphs in the process", async () => {
    const { runtime, counts } = countingRuntime()
    // Inline: under `auto`, a loaded machine can make a first inference look slow enough for
    // the worker, whose own session this counting runtime does not see.
    const ir = irOf({
      fields: linearFields,
      node: linearNode({ execution: "inline" }),
      extraNodes: [{ id: "again", kind: "ml", ...linearNode({ model_id: "risk-2", execution: "inline" }) }]
    })
    const first = await built(ir, runtime)
    const second = await built(linearGraph({ version: "2", execution: "inline" }), runtime)
    expect(counts.sessions).toBe(1)
    expect(runtime.models.size).toBe(1)
    // Another file (other bytes) is another session.
    await built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "cls", version: "1", runtime: "onnx", file_uri: "classifier.onnx" } }), runtime)
    expect(counts.sessions).toBe(2)
    const before = counts.runs
    const a = await updateOf(first, { features: [1, 2, 0.5, 1] })
    const b = await updateOf(first, { features: [1, 2, 0.5, 1] }, "again")
    const c = await updateOf(second, { features: [1, 2, 0.5, 1] })
    expect(a).toEqual(b)
    expect(a).toEqual(c)
    expect(counts.runs).toBe(before + 3)
  })

  it("reads a float16 output as numbers (onnxruntime-node hands over its raw bits), inline and in the worker", async () => {
    // 1.5, 2, -0.25, the largest half (65504), a subnormal (2^-24) and a value rounded to the nearest half (0.1 → 0.0999755859375).
    const x = [1.5, 2, -0.25, 65504, 2 ** -24, 0.1]
    for (const execution of ["inline", "worker"]) {
      const graph = await built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "half", version: "1", runtime: "onnx", file_uri: "float16_output.onnx", execution } }))
      expect(await updateOf(graph, { x }), execution).toEqual({ y: [1.5, 2, -0.25, 65504, 2 ** -24, 0.0999755859375] })
    }
  })

  it("gives the same numbers inline and in the worker thread", async () => {
    const inline = await built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "h", version: "1", runtime: "onnx", file_uri: "heavy.onnx", execution: "inline" } }))
    const worker = await built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "h", version: "1", runtime: "onnx", file_uri: "heavy.onnx", execution: "worker" } }))
    const x = [Array.from({ length: 512 }, (_, i) => Math.sin(i) / 2), Array.from({ length: 512 }, (_, i) => Math.cos(i) / 3)]
    const a = await updateOf(inline, { x })
    const b = await updateOf(worker, { x })
    expect((a["y"] as Array<Array<number>>)[0]).toHaveLength(512)
    expect(JSON.stringify(b)).toBe(JSON.stringify(a))
    const tiny = await built(linearGraph({ execution: "worker" }))
    expect(await updateOf(tiny, { features: [1, 2, 0.5, 1] })).toEqual(await updateOf(await built(linearGraph()), { features: [1, 2, 0.5, 1] }))
  })

  it("gives the same outputs and metadata on the native binding as through the public InferenceSession", async () => {
    const cases: ReadonlyArray<readonly [string, string, unknown]> = [
      ["linear.onnx", "features", [[1, 2, 0.5, 1], [-3, 0.25, 7, 1e-3]]],
      ["classifier.onnx", "x", [0.1, -2, 3.5]],
      ["counts.onnx", "counts", [[1, 2, 3]]],
      ["heavy.onnx", "x", [Array.from({ length: 512 }, (_, i) => Math.sin(i) / 2)]]
    ]
    const publicApi = OnnxRuntime.make({ native: false })
    const native = OnnxRuntime.make()
    expect(native.native()).toBeDefined()
    expect(publicApi.native()).toBeUndefined()
    for (const [file, field, x] of cases) {
      const ir = irOf({ fields: { [field]: ANY, y: ANY, p: ANY }, node: { model_id: "m", version: "1", runtime: "onnx", file_uri: file, input_field: field, output_field: "y", execution: "inline" } })
      const [a, b] = [await built(ir, publicApi), await built(ir, native)]
      expect(JSON.stringify(await updateOf(b, { [field]: x }))).toBe(JSON.stringify(await updateOf(a, { [field]: x })))
      const [ma, mb] = await Promise.all([publicApi, native].map(async (r) => Either.getOrThrow(await [...r.models.values()].at(-1)!)))
      expect(mb!.input).toEqual(ma!.input)
      expect(mb!.outputs).toEqual(ma!.outputs)
    }
    // A runtime whose package has no binding where it is expected uses the public API.
    expect(nativeSessions(join(tempDir(), "index.js"))).toBeUndefined()
    // An inference the runtime refuses fails through the handler on either path, with the runtime's message.
    const wrong = { type: "float32", data: Float32Array.of(1, 2, 3), dims: [1, 3], single: true, rows: 1 } as const
    const failures = await Promise.all([publicApi, native].map(async (r) => {
      const linear = Either.getOrThrow(await [...r.models.values()][0]!)
      return Effect.runPromise(Effect.flip(linear.run(wrong, ["score"], "inline", { done: () => Either.right("ran"), failed: (m) => m })))
    }))
    expect(failures[0]).toMatch(/features/)
    expect(failures[1]).toBe(failures[0])
    // On the binding an inline inference is synchronous: it completes inside Effect.runSync.
    const linear = Either.getOrThrow(await [...native.models.values()][0]!)
    const right = { type: "float32", data: Float32Array.of(1, 2, 0.5, 1), dims: [1, 4], single: true, rows: 1 } as const
    const score = Effect.runSync(linear.run(right, ["score"], "inline", { done: (out) => Either.right(Number(out[0]!.data[0])), failed: (m) => m }))
    expect(score).toBeCloseTo(sigmoid(dot([1, 2, 0.5, 1], LINEAR.w) + LINEAR.b), 5)
    // A model whose output type the runtime has no JavaScript type for is refused when built, on either path, alike.
    const bf16 = irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "b", version: "1", runtime: "onnx", file_uri: "bfloat16_output.onnx" } })
    const refused = await Promise.all([publicApi, native].map(async (r) => (await buildError(bf16, r)) as ModelError))
    expect(refused[0]).toMatchObject({ _tag: "ModelError", reason: "invalid-model", field: "file_uri" })
    expect(refused[0]!.message).toContain("Unsupported data type: 16")
    expect(refused[1]!.message).toBe(refused[0]!.message)
  })

  it("places inference by its measured cost: a tiny model inline, a heavy one off the event loop", async () => {
    const { runtime } = countingRuntime()
    await built(linearGraph(), runtime)
    await built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "h", version: "1", runtime: "onnx", file_uri: "heavy.onnx" } }), runtime)
    const [tiny, heavy] = await Promise.all([...runtime.models.values()].map(async (m) => Either.getOrThrow(await m)))
    expect(tiny!.input.name).toBe("features")
    expect(tiny!.msPerRow()).toBeLessThan(OnnxRuntime.INLINE_BUDGET_MS)
    expect(tiny!.placement(1, "auto")).toBe("inline")
    expect(heavy!.input.name).toBe("x")
    expect(heavy!.placement(64, "auto")).toBe("worker")
    expect(heavy!.placement(64, "inline")).toBe("inline")
  })

  it("keeps the event loop turning while a long inference runs (auto and worker), unlike inline", async () => {
    const batch = (rows: number) => Array.from({ length: rows }, (_, r) => Array.from({ length: 512 }, (_, i) => ((r + i) % 7) / 10))
    let x = batch(96)
    /** The node's run time and the longest gap between 2 ms timer ticks meanwhile. */
    const measure = async (execution: string) => {
      const graph = await built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "h", version: "1", runtime: "onnx", file_uri: "heavy.onnx", execution } }))
      await updateOf(graph, { x: x.slice(0, 2) }) // the worker (if any) is started
      let last = performance.now()
      let gap = 0
      const timer = setInterval(() => {
        const now = performance.now()
        gap = Math.max(gap, now - last)
        last = now
      }, 2)
      const started = performance.now()
      await updateOf(graph, { x })
      const took = performance.now() - started
      clearInterval(timer)
      gap = Math.max(gap, performance.now() - last)
      return { took, gap }
    }
    let inline = await measure("inline")
    // A batch long enough that a blocked loop would show, and that a pause of the main
    // thread the inference does not cause (a GC, the result's transfer: 35 ms seen on an
    // idle machine) stays well under the bound below: doubled until inline takes 150 ms
    // (a fast, idle machine runs 96 rows in under 20 ms).
    while (inline.took < 150 && x.length < 96 * 128) {
      x = batch(x.length * 2)
      inline = await measure("inline")
    }
    // The control: run inline, the loop is blocked for the whole inference.
    expect(inline.gap).toBeGreaterThan(inline.took * 0.8)
    for (const execution of ["worker", "auto"]) {
      const off = await measure(execution)
      // Long enough that a blocked loop would show.
      expect(off.took).toBeGreaterThan(20)
      // Never blocked for most of it, as inline is (> 0.8 of it): the margin leaves room for a
      // loaded machine, where the OS itself parks the main thread now and then.
      expect(off.gap).toBeLessThan(off.took * 0.6)
    }
  })

  it("works outside a run loop with liveCalls and inside one with a recorder (the cassette entry)", async () => {
    const graph = await built(linearGraph())
    const recorder = stepRecorder(1, undefined)
    const input: NodeInput = { runId: "r", nodeId: "m", step: 1, calls: recorder.forNode("m"), answers: [], graphHash: graph.graphHash }
    const outcome = await Effect.runPromise(graph.nodes.get("m")!.execute({ features: [1, 2, 0.5, 1] }, input).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(outcome._tag).toBe("Update")
    const [entry] = recorder.entries()
    expect(entry).toMatchObject({
      node: "m",
      name: "ml.risk",
      request: { version: "1.0.0", sha256: sha256Of(join(MODELS, "linear.onnx")), input: [1, 2, 0.5, 1] },
      response: { score: (outcome as { update: State }).update["score"] }
    })
    // The node hands the cassette its request's canonical text: the same hash as the generic path.
    expect(entry!.request_hash).toBe(requestHash("ml.risk", entry!.request))
    const other = stepRecorder(1, undefined)
    await Effect.runPromise(graph.nodes.get("m")!.execute({ features: [0.1, -0, 1e21, 1.5e-7] }, { ...input, calls: other.forNode("m") }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    const [awkward] = other.entries()
    expect(awkward!.request_hash).toBe(requestHash("ml.risk", awkward!.request))
  })
})

describe("ml node: ONNX external data", () => {
  const external = (extra: Record<string, unknown> = {}) => linearGraph({ file_uri: "./linear_external.onnx", ...extra })
  /** A folder with linear_external.onnx naming `location`, and (unless `data` is false) its data file there. */
  const folder = (location = "linear_external.bin", data: Buffer | false = linearExternalData()) => {
    const dir = tempDir()
    writeFileSync(join(dir, "linear_external.onnx"), linearExternalModel(location))
    if (data !== false) writeFileSync(join(dir, location), data)
    return dir
  }

  it("loads a model whose weights are in a data file beside it (not the working folder), scoring as linear.onnx inline, in the worker and on the public API", async () => {
    expect(process.cwd()).not.toBe(MODELS)
    const x = [[1, 2, 0.5, 1], [-3, 0.25, 7, 1e-3]]
    const expected = (await updateOf(await built(linearGraph({ execution: "inline" })), { features: x }))["score"]
    for (const execution of ["inline", "worker"] as const) {
      const graph = await built(external({ execution }))
      expect((await updateOf(graph, { features: x }))["score"]).toEqual(expected)
    }
    // Through InferenceSession.create (not the native binding) too.
    const { counts, runtime } = countingRuntime()
    expect((await updateOf(await built(external({ execution: "inline" }), runtime), { features: x }))["score"]).toEqual(expected)
    expect(counts.sessions).toBe(1)
    // expected_sha256 pins the .onnx file itself.
    await built(external({ expected_sha256: sha256Of(join(MODELS, "linear_external.onnx")) }))
  })

  it("folds the data file's digest into the graph hash and the cassette request: a changed data file is a changed graph and a new session", async () => {
    const dir = folder()
    const runtime = OnnxRuntime.make()
    const before = await built(external(), runtime, dir)
    const x = [1, 2, 0.5, 1]
    expect((await updateOf(before, { features: x }))["score"]).toBeCloseTo(sigmoid(dot(x, LINEAR.w) + LINEAR.b), 6)
    expect((await built(external(), runtime, dir)).graphHash).toBe(before.graphHash)
    const changed = { w: LINEAR.w, b: 1.5 }
    writeFileSync(join(dir, "linear_external.bin"), linearExternalData(changed))
    const after = await built(external(), runtime, dir)
    expect(after.graphHash).not.toBe(before.graphHash)
    // The same .onnx bytes, new data: the cached session is not reused.
    expect((await updateOf(after, { features: x }))["score"]).toBeCloseTo(sigmoid(dot(x, changed.w) + changed.b), 6)
    expect(runtime.models.size).toBe(2)
    // The request names the data file's digest; its canonical text is the generic one.
    const recorder = stepRecorder(1, undefined)
    const input: NodeInput = { runId: "r", nodeId: "m", step: 1, calls: recorder.forNode("m"), answers: [], graphHash: after.graphHash }
    await Effect.runPromise(after.nodes.get("m")!.execute({ features: x }, input).pipe(Effect.provide(MemoryCheckpointer.layer)))
    const [entry] = recorder.entries()
    expect(entry!.request).toEqual({
      version: "1.0.0",
      sha256: sha256Of(join(dir, "linear_external.onnx")),
      data: { "linear_external.bin": sha256Of(join(dir, "linear_external.bin")) },
      input: x
    })
    expect(entry!.request_hash).toBe(requestHash("ml.risk", entry!.request))
  })

  it("refuses a missing data file, naming the tensor, the resolved path and the fix", async () => {
    const dir = folder("linear_external.bin", false)
    const error = await buildError(external(), undefined, dir) as ModelError
    expect(error).toMatchObject({ _tag: "ModelError", reason: "missing-file", field: "file_uri", tensor: "W", file: join(dir, "linear_external.bin"), actual: "linear_external.bin" })
    expect(error.message).toContain(`the model's tensor 'W' keeps its data in 'linear_external.bin', and '${join(dir, "linear_external.bin")}' does not exist`)
    expect(error.fix).toContain(`put 'linear_external.bin'`)
    expect(error.fix).toContain("save_as_external_data=False")
    // A data file too short for the tensors' ranges.
    const short = folder("linear_external.bin", linearExternalData().subarray(0, 16))
    expect(await buildError(external(), undefined, short)).toMatchObject({ reason: "invalid-model", tensor: "B", actual: "linear_external.bin" })
  })

  it("refuses a data location that is absolute or leaves the model's folder, naming the tensor and the location", async () => {
    const outside = tempDir()
    writeFileSync(join(outside, "w.bin"), linearExternalData())
    for (const location of [join(outside, "w.bin"), `../${outside.split("/").pop()}/w.bin`, "sub/../../w.bin", "*/_ORT_MEM_ADDR_/*", "C:w.bin"]) {
      const dir = folder(location, false)
      const error = await buildError(external(), undefined, dir) as ModelError
      expect(error).toMatchObject({ _tag: "ModelError", reason: "invalid-model", field: "file_uri", tensor: "W", actual: location, file: join(dir, "linear_external.onnx") })
      expect(error.message).toContain(`keeps its data in '${location}'`)
      expect(error.message).toContain("external data is read only from files in the model's folder")
    }
    // A symbolic link in the model's folder to a file outside it (a model archive's data.bin -> a secret).
    const linked = folder("linear_external.bin", false)
    symlinkSync(join(outside, "w.bin"), join(linked, "linear_external.bin"))
    const viaLink = await buildError(external(), undefined, linked) as ModelError
    expect(viaLink).toMatchObject({ reason: "invalid-model", tensor: "W", actual: "linear_external.bin" })
    expect(viaLink.message).toContain(`a symbolic link to '${realpathSync(join(outside, "w.bin"))}' outside the model's folder`)
    // A subfolder of the model's folder is fine.
    const dir = tempDir()
    mkdirSync(join(dir, "weights"))
    writeFileSync(join(dir, "linear_external.onnx"), linearExternalModel("weights/linear.bin"))
    writeFileSync(join(dir, "weights", "linear.bin"), linearExternalData())
    await built(external(), undefined, dir)
  })
})

describe("ml node: XGBoost", () => {
  const xgb = (file: string, extra: Record<string, unknown> = {}) =>
    built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "xgb", version: "1", runtime: "xgboost", file_uri: file, ...extra } }))

  it("evaluates binary:logistic trees as computed by hand, missing values taking the default direction", async () => {
    const graph = await xgb("xgb_binary.json")
    // tree 0: f0 < 0.5 (missing left) ? (f2 < 2 (missing right) ? -0.3 : 0.2) : 0.4; tree 1: f1 < 1 (missing right) ? 0.1 : -0.2
    const cases: ReadonlyArray<readonly [Array<number | null>, number]> = [
      [[0, 0, 1], -0.3 + 0.1],
      [[1, 2, 3], 0.4 - 0.2],
      [[null, 0.5, 5], 0.2 + 0.1],
      [[0, null, 1], -0.3 - 0.2],
      [[0.5, 1, 2], 0.4 - 0.2]
    ]
    for (const [x, margin] of cases) {
      const y = (await updateOf(graph, { x }))["y"] as number
      expect(y).toBeCloseTo(sigmoid(margin), 6)
      expect(f32(y)).toBe(y)
    }
    const batch = (await updateOf(graph, { x: cases.map(([x]) => x) }))["y"] as Array<number>
    expect(batch).toHaveLength(cases.length)
    cases.forEach(([, margin], i) => expect(batch[i]).toBeCloseTo(sigmoid(margin), 6))
  })

  it("evaluates reg:squarederror from base_score plus the leaves", async () => {
    const graph = await xgb("xgb_regression.json")
    expect((await updateOf(graph, { x: [5, 0] }))["y"]).toBe(1.5 + 1.25 + 0.5)
    expect((await updateOf(graph, { x: [20, 1] }))["y"]).toBe(1.5 - 0.75 + 0.5)
    expect((await updateOf(graph, { x: [null, 1] }))["y"]).toBe(3.25)
  })

  it("evaluates multi:softprob into class probabilities (one tree group per class)", async () => {
    const graph = await xgb("xgb_multiclass.json")
    const softmax = (m: ReadonlyArray<number>) => m.map((v) => Math.exp(v) / m.reduce((s, w) => s + Math.exp(w), 0))
    const expectClose = (got: unknown, want: ReadonlyArray<number>) => {
      expect(got).toHaveLength(want.length)
      want.forEach((w, i) => expect((got as Array<number>)[i]).toBeCloseTo(w, 6))
    }
    expectClose((await updateOf(graph, { x: [-1, 1] }))["y"], softmax([0.5 + 1, 0.5 + 0.5, 0.5 + 0.25]))
    expectClose((await updateOf(graph, { x: [1, -1] }))["y"], softmax([0.5 - 1, 0.5 - 0.5, 0.5 + 0.25]))
    const batch = (await updateOf(graph, { x: [[-1, 1], [1, -1]] }))["y"] as Array<Array<number>>
    expect(batch).toHaveLength(2)
    expect(batch[0]!.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 6)
  })

  it("evaluates dart boosters (weight_drop), multi:softmax and count:poisson", async () => {
    const dir = tempDir()
    const base = JSON.parse(readFileSync(join(MODELS, "xgb_regression.json"), "utf8"))
    const dart = structuredClone(base)
    dart.learner.gradient_booster = { name: "dart", gbtree: base.learner.gradient_booster, weight_drop: [0.5, 2] }
    writeFileSync(join(dir, "dart.json"), JSON.stringify(dart))
    const poisson = structuredClone(base)
    poisson.learner.objective = { name: "count:poisson" }
    poisson.learner.learner_model_param.base_score = "1E0"
    writeFileSync(join(dir, "poisson.json"), JSON.stringify(poisson))
    const multi = JSON.parse(readFileSync(join(MODELS, "xgb_multiclass.json"), "utf8"))
    multi.learner.objective.name = "multi:softmax"
    writeFileSync(join(dir, "softmax.json"), JSON.stringify(multi))
    const at = (file: string) => built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "xgb", version: "1", runtime: "xgboost", file_uri: file } }), undefined, dir)
    expect((await updateOf(await at("dart.json"), { x: [5, 0] }))["y"]).toBe(1.5 + 0.5 * 1.25 + 2 * 0.5)
    expect((await updateOf(await at("poisson.json"), { x: [5, 0] }))["y"]).toBeCloseTo(Math.exp(0 + 1.25 + 0.5), 5)
    expect((await updateOf(await at("softmax.json"), { x: [-1, 1] }))["y"]).toBe(0)
    expect((await updateOf(await at("softmax.json"), { x: [1, 1] }))["y"]).toBe(1)
    // exp() of a huge margin is not JSON: a typed failure, not a corrupt state.
    const overflow = structuredClone(poisson)
    overflow.learner.gradient_booster.model.trees[1].split_conditions[0] = 1e30
    writeFileSync(join(dir, "overflow.json"), JSON.stringify(overflow))
    const failed = await execute(await at("overflow.json"), { x: [5, 0] })
    expect(Either.isLeft(failed) && failed.left).toMatchObject({ _tag: "ModelError", reason: "inference-failed" })
    expect((failed as Either.Left<ModelError, unknown>).left.message).toContain("the prediction holds Infinity")
  })
})

/** A graph in a temp folder with a copy of `model` beside it (so tests may change the file). */
const inTemp = (model: string, name = model) => {
  const dir = tempDir()
  copyFileSync(join(MODELS, model), join(dir, name))
  return dir
}

describe("ml node: bad input", () => {
  it("refuses a model file whose SHA-256 differs from expected_sha256, naming both hashes (nothing is loaded)", async () => {
    const { runtime, counts } = countingRuntime()
    const wrong = "0".repeat(64)
    const error = await buildError(linearGraph({ expected_sha256: wrong }), runtime) as ModelIntegrityError
    expect(error._tag).toBe("ModelIntegrityError")
    expect(error).toMatchObject({ nodeId: "m", modelId: "risk", expectedSha256: wrong, actualSha256: sha256Of(join(MODELS, "linear.onnx")), file: join(MODELS, "linear.onnx") })
    expect(formatError(error)).toContain(`expected sha256 ${wrong}, actual ${error.actualSha256}`)
    expect(counts.sessions).toBe(0)
    // The right digest (with or without a sha256: prefix, any case) is accepted.
    await built(linearGraph({ expected_sha256: `sha256:${sha256Of(join(MODELS, "linear.onnx")).toUpperCase()}` }))
  })

  it("refuses a missing model file, naming the path and the field", async () => {
    const error = await buildError(linearGraph({ file_uri: "./nope.onnx" })) as ModelError
    expect(error).toMatchObject({ _tag: "ModelError", reason: "missing-file", field: "file_uri", file: join(MODELS, "nope.onnx"), nodeId: "m", modelId: "risk" })
    expect(formatError(error)).toMatch(/ModelError\[missing-file\]: node 'm' \(model risk\): model file '.*nope\.onnx' does not exist \(fix: set file_uri/)
    // A file:// URI resolves too (and is checked the same way).
    const uri = pathToFileURL(join(MODELS, "missing.onnx")).href
    expect(await buildError(linearGraph({ file_uri: uri }))).toMatchObject({ reason: "missing-file", file: join(MODELS, "missing.onnx") })
    await built(linearGraph({ file_uri: pathToFileURL(join(MODELS, "linear.onnx")).href }))
  })

  it("refuses an input of the wrong shape before running, naming the input and the expected shape", async () => {
    const { runtime, counts } = countingRuntime()
    const graph = await built(linearGraph(), runtime)
    const fixed = await built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "cls", version: "1", runtime: "onnx", file_uri: "classifier.onnx" } }), runtime)
    const before = counts.runs
    const short = await execute(graph, { features: [1, 2, 0.5] })
    expect(Either.isLeft(short) && short.left).toMatchObject({
      _tag: "ModelError",
      reason: "invalid-input",
      field: "input_field",
      tensor: "features",
      expected: "float32 [N, 4]",
      actual: "a vector of 3 (one sample)",
      step: 1
    })
    expect(formatError((short as Either.Left<ModelError, unknown>).left)).toContain("input 'features' expects float32 [N, 4]; axis 1 has size 3, not 4")
    const deep = await execute(graph, { features: [[[1, 2, 3, 4]]] })
    expect(Either.isLeft(deep) && deep.left).toMatchObject({ reason: "invalid-input", tensor: "features", actual: "a 1 × 1 × 4 array" })
    const scalar = await execute(graph, { features: 3 })
    expect(Either.isLeft(scalar) && scalar.left).toMatchObject({ reason: "invalid-input", actual: "a single value" })
    const ragged = await execute(graph, { features: [[1, 2, 3, 4], [1, 2, 3]] })
    expect(Either.isLeft(ragged) && (ragged.left as ModelError).message).toContain("[1] has 3 entries where its siblings have 4")
    // A fixed batch size is checked too: classifier.onnx takes exactly one row.
    const two = await execute(fixed, { x: [[1, 2, 3], [4, 5, 6]] })
    expect(Either.isLeft(two) && two.left).toMatchObject({ reason: "invalid-input", tensor: "x", expected: "float32 [1, 3]" })
    expect((two as Either.Left<ModelError, unknown>).left.message).toContain("axis 0 has size 2, not 1")
    expect(counts.runs).toBe(before)
  })

  it("refuses an input of the wrong type, naming the input, its type and the element", async () => {
    const graph = await built(linearGraph())
    const text = await execute(graph, { features: [1, "2", 0.5, 1] })
    expect(Either.isLeft(text) && text.left).toMatchObject({ reason: "invalid-input", tensor: "features", expected: "float32 [N, 4]", actual: "string at [1]" })
    expect((text as Either.Left<ModelError, unknown>).left.message).toContain("element [1] is \"2\" (string), not a number")
    // Past float32's range a value would become Infinity, and the model would score it silently.
    const huge = await execute(graph, { features: [1e40, 0, 0, 0] })
    expect(Either.isLeft(huge) && huge.left).toMatchObject({ reason: "invalid-input", tensor: "features", expected: "float32 [N, 4]" })
    expect((huge as Either.Left<ModelError, unknown>).left.message).toContain("element [0] is 1e+40, outside float32")
    const nested = await execute(graph, { features: [[1, 2, 3, true]] })
    expect(Either.isLeft(nested) && (nested.left as ModelError).message).toContain("element [0][3] is true (boolean), not a number")
    const missing = await execute(graph, {})
    expect(Either.isLeft(missing) && missing.left).toMatchObject({ reason: "invalid-input", field: "input_field", actual: "no value" })
    expect((missing as Either.Left<ModelError, unknown>).left.message).toBe("state field 'features' has no value to score")
    const ints = await built(irOf({ fields: { counts: ANY, total: ANY }, node: { model_id: "c", version: "1", runtime: "onnx", file_uri: "counts.onnx", input_field: "counts", output_field: "total" } }))
    const fraction = await execute(ints, { counts: [1, 2.5, 3] })
    expect(Either.isLeft(fraction) && fraction.left).toMatchObject({ reason: "invalid-input", tensor: "counts", expected: "int64 [N, 3]" })
    expect((fraction as Either.Left<ModelError, unknown>).left.message).toContain("element [1] is 2.5 (number), not an integer")
    const nulls = await execute(ints, { counts: [1, null, 3] })
    expect(Either.isLeft(nulls) && (nulls.left as ModelError).message).toContain("only a float input can take")
  })

  it("fails with inference-failed when an output is not JSON (NaN from a missing float)", async () => {
    const graph = await built(linearGraph())
    const nan = await execute(graph, { features: [1, null, 0.5, 1] })
    expect(Either.isLeft(nan) && nan.left).toMatchObject({ _tag: "ModelError", reason: "inference-failed", step: 1 })
    expect((nan as Either.Left<ModelError, unknown>).left.message).toContain("output 'score' holds NaN")
  })

  it("refuses sklearn pickles: runtime sklearn, a .pkl/.joblib file, or pickle bytes, with the export-to-ONNX fix", async () => {
    const sklearn = await buildError(linearGraph({ runtime: "sklearn", file_uri: "./model.pkl", allow_unsafe_pickle: true })) as ModelError
    expect(sklearn).toMatchObject({ reason: "pickle-refused", field: "runtime" })
    expect(sklearn.fix).toContain("export the model to ONNX")
    expect(sklearn.fix).toContain("runtime: onnx")
    // Refused by name before the file is read (it does not even exist).
    expect(await buildError(linearGraph({ file_uri: "./model.joblib" }))).toMatchObject({ reason: "pickle-refused", field: "file_uri" })
    const dir = tempDir()
    writeFileSync(join(dir, "model.onnx"), Buffer.from([0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x8c]))
    expect(await buildError(linearGraph({ file_uri: "./model.onnx" }), undefined, dir)).toMatchObject({ reason: "pickle-refused", file: join(dir, "model.onnx") })
  })

  it("refuses an unknown runtime and a remote URI", async () => {
    expect(await buildError(linearGraph({ runtime: "tensorflow" }))).toMatchObject({ _tag: "ModelError", reason: "unsupported-runtime", field: "runtime" })
    expect(await buildError(linearGraph({ file_uri: "s3://bucket/model.onnx" }))).toMatchObject({ reason: "unsupported-uri", field: "file_uri" })
  })

  it("fails the inference (typed) when the worker thread cannot load the runtime", async () => {
    const runtime = OnnxRuntime.make({ modulePath: () => { throw new Error("no such module") } })
    const graph = await built(linearGraph({ execution: "worker" }), runtime)
    const result = await execute(graph, { features: [1, 2, 0.5, 1] })
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "ModelError", reason: "inference-failed", step: 1 })
    expect((result as Either.Left<ModelError, unknown>).left.message).toContain("cannot find onnxruntime-node: no such module")
  })

  it("says how to install onnxruntime-node when it cannot be imported", async () => {
    const missing = OnnxRuntime.make({ load: () => Promise.reject(new Error("Cannot find package 'onnxruntime-node' imported from stargraph")) })
    const error = await buildError(linearGraph(), missing) as ModelError
    expect(error).toMatchObject({ _tag: "ModelError", reason: "runtime-missing", field: "runtime", fix: "npm install onnxruntime-node@1.30" })
    expect(error.message).toContain("Cannot find package 'onnxruntime-node'")
    // A failed load is not cached: the next build tries again.
    expect(missing.models.size).toBe(0)
    // XGBoost never needs it.
    await built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "xgb", version: "1", runtime: "xgboost", file_uri: "xgb_binary.json" } }), missing)
  })

  it("refuses files that are not a usable model", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "garbage.onnx"), "this is not a protobuf")
    expect(await buildError(linearGraph({ file_uri: "garbage.onnx" }), undefined, dir)).toMatchObject({ reason: "invalid-model", field: "file_uri" })
    const two = await buildError(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "two", version: "1", runtime: "onnx", file_uri: "two_inputs.onnx" } })) as ModelError
    expect(two).toMatchObject({ reason: "invalid-model", expected: "one input", actual: "2 inputs (a, b)" })
    expect(await buildError(linearGraph({ output: "nope" }))).toMatchObject({ reason: "invalid-model", field: "output", tensor: "nope" })
    writeFileSync(join(dir, "bad.json"), "{\"learner\": {}}")
    const xgbBad = (file: string) => buildError(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "xgb", version: "1", runtime: "xgboost", file_uri: file } }), undefined, dir)
    expect(await xgbBad("bad.json")).toMatchObject({ reason: "invalid-model" })
    writeFileSync(join(dir, "model.ubj"), Buffer.from([0x7b, 0x4c, 0x00]))
    expect(((await xgbBad("model.ubj")) as ModelError).message).toContain("a binary file, not an XGBoost JSON model")
    // An ONNX file given to the XGBoost runtime: no raw bytes in the message.
    const onnx = ((await buildError(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "xgb", version: "1", runtime: "xgboost", file_uri: join(MODELS, "linear.onnx") } }), undefined, MODELS)) as ModelError).message
    expect(onnx).toContain("a binary file, not an XGBoost JSON model")
    // eslint-disable-next-line no-control-regex
    expect(onnx).not.toMatch(/[\u0000-\u001f]/)
    writeFileSync(join(dir, "text.json"), "learner = secret-value-1")
    const notJson = ((await xgbBad("text.json")) as ModelError).message
    expect(notJson).toContain("not JSON (Unexpected token 'l' (not valid JSON))")
    // The file's text is not quoted back (a graph pointed at a file that is not a model).
    expect(notJson).not.toContain("secret-value")
    const categorical = JSON.parse(readFileSync(join(MODELS, "xgb_binary.json"), "utf8"))
    categorical.learner.gradient_booster.model.trees[0].split_type[0] = 1
    writeFileSync(join(dir, "cat.json"), JSON.stringify(categorical))
    expect(((await xgbBad("cat.json")) as ModelError).message).toContain("categorical splits")
    const cyclic = JSON.parse(readFileSync(join(MODELS, "xgb_binary.json"), "utf8"))
    cyclic.learner.gradient_booster.model.trees[0].left_children[1] = 0
    writeFileSync(join(dir, "cycle.json"), JSON.stringify(cyclic))
    expect(((await xgbBad("cycle.json")) as ModelError).message).toContain("reached twice")
    const unknown = JSON.parse(readFileSync(join(MODELS, "xgb_binary.json"), "utf8"))
    unknown.learner.objective.name = "survival:aft"
    writeFileSync(join(dir, "aft.json"), JSON.stringify(unknown))
    expect(((await xgbBad("aft.json")) as ModelError).message).toContain("objective 'survival:aft' is not supported")
  })

  it("refuses XGBoost inputs with the wrong number of features or non-numbers", async () => {
    const graph = await built(irOf({ fields: { x: ANY, y: ANY }, node: { model_id: "xgb", version: "1", runtime: "xgboost", file_uri: "xgb_binary.json" } }))
    const short = await execute(graph, { x: [1, 2] })
    expect(Either.isLeft(short) && short.left).toMatchObject({ reason: "invalid-input", expected: "float [N, 3] (null = missing)", actual: "a vector of 2" })
    const text = await execute(graph, { x: [[1, 2, 3], [1, "a", 3]] })
    expect(Either.isLeft(text) && (text.left as ModelError).message).toContain("row [1]: element [1] is \"a\"")
  })

  it("reports config mistakes as located IR errors", async () => {
    const ir = (node: Record<string, unknown>, fields: Record<string, unknown> = linearFields) => irOf({ fields, node })
    const expectIR = async (node: Record<string, unknown>, path: string, message: RegExp, fields?: Record<string, unknown>) => {
      const error = await buildError(ir(node, fields))
      expect(error._tag).toBe("IRValidationError")
      expect(error).toMatchObject({ path })
      expect(error.message).toMatch(message)
    }
    await expectIR({ ...linearNode(), config: linearNode() }, "nodes[0].model_id", /configured twice/)
    await expectIR({ version: "1", runtime: "onnx", file_uri: "./linear.onnx", input_field: "features", output_field: "score" }, "nodes[0].model_id", /needs model_id/)
    await expectIR({ config: { ...linearNode(), file_uri: null } }, "nodes[0].config.file_uri", /no model registry/)
    await expectIR(linearNode({ expected_sha256: "abc" }), "nodes[0].expected_sha256", /not a SHA-256 digest/)
    // YAML reads an all-digit digest as a number: say to quote it.
    await expectIR(linearNode({ expected_sha256: 1.2345678901234568e+63 }), "nodes[0].expected_sha256", /read as a number \(YAML reads a digest of only digits as one/)
    await expectIR(linearNode({ input_field: "nope" }), "nodes[0].input_field", /'nope' is not a declared state field/)
    const { input_field: _omitted, ...noInput } = linearNode()
    await expectIR(noInput, "nodes[0].input_field", /'x' is not a declared state field \(the default\)/)
    await expectIR(linearNode({ outputs: { other: "score" } }), "nodes[0].outputs.other", /undeclared state field 'other'/)
    await expectIR(linearNode({ runtime: "xgboost", execution: "worker" }), "nodes[0].execution", /applies to runtime: onnx/)
    await expectIR(linearNode({ execution: "gpu" }), "nodes[0].execution", /Expected one of "auto", /)
    const unknownField = await buildError(ir({ config: { ...linearNode(), batch: 4 } }))
    expect(unknownField).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].config.batch" })
  })

  it("refuses an output field declared as a type the prediction can never be (every run would fail at the step), naming the output and its type", async () => {
    const error = async (fields: Record<string, unknown>, node: Record<string, unknown>) => {
      const e = await buildError(irOf({ fields, node }))
      expect(e._tag).toBe("IRValidationError")
      return e as unknown as { path: string; message: string; fix: string }
    }
    const scored = await error({ features: { type: "array" }, score: { type: "string" } }, linearNode())
    expect([scored.path, scored.message, scored.fix]).toEqual([
      "nodes[0].output_field",
      "the model's output 'score' (float32) gives numbers, which state field 'score' (declared string) cannot hold",
      "declare 'score' as a number (or a list, for batches), or write the prediction to another field"
    ])
    const mapped = await error({ x: ANY, label: ANY, probs: { type: "boolean" } }, { config: { model_id: "cls", version: "1", runtime: "onnx", file_uri: "classifier.onnx", output_field: "label", outputs: { probs: "probabilities" } } })
    expect([mapped.path, mapped.message]).toEqual(["nodes[0].config.outputs.probs", "the model's output 'probabilities' (float32) gives numbers, which state field 'probs' (declared boolean) cannot hold"])
    const xgb = await error({ x: ANY, y: { type: "object" } }, { model_id: "xgb", version: "1", runtime: "xgboost", file_uri: "xgb_binary.json" })
    expect([xgb.path, xgb.message]).toEqual(["nodes[0].output_field", "an XGBoost model predicts numbers, which state field 'y' (declared object) cannot hold"])
    // A number, an integer (an int64 label), a list (a batch) or an untyped field takes a prediction.
    for (const type of ["number", "integer", "array", "any"]) {
      await built(irOf({ fields: { features: { type: "array" }, score: { type } }, node: linearNode() }))
      await built(irOf({ fields: { x: ANY, y: { type } }, node: { model_id: "xgb", version: "1", runtime: "xgboost", file_uri: "xgb_binary.json" } }))
    }
  })
})

describe("ml node: runs, replays and the graph hash", () => {
  it("runs to done on SQLite, and a fork replays it bit-identically from the cassette without running the model", async () => {
    const { runtime, counts } = countingRuntime()
    const dir = inTemp("linear.onnx")
    const graph = await built(irOf({
      fields: { features: { type: "array" }, score: { type: "number" }, label: { type: "string" } },
      node: linearNode(),
      extraNodes: [{ id: "label", kind: "template", config: { template: "risk {score:.3f}", out: "label" } }]
    }), runtime, dir)
    const layer = SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") })
    const parent = await Effect.runPromise(Effect.flatMap(graph.start({ inputs: { features: [1, 2, 0.5, 1] } }), (r) => r.start()).pipe(Effect.provide(layer)))
    expect(parent.status).toBe("done")
    expect(parent.final_state["label"]).toBe("risk 0.679")
    const runsAfterParent = counts.runs
    const forked = await Effect.runPromise(Replay.fork(graph, parent.run_id, {}).pipe(Effect.provide(layer)))
    expect(forked.summary.status).toBe("done")
    expect(counts.runs).toBe(runsAfterParent)
    const checkpoints = (runId: string) => Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runId)).pipe(Effect.provide(layer)))
    const [a, b] = [await checkpoints(parent.run_id), await checkpoints(forked.cfRunId)]
    expect(b.map((c) => JSON.stringify(c.state))).toEqual(a.map((c) => JSON.stringify(c.state)))
    expect(b.map((c) => JSON.stringify(c.calls ?? []))).toEqual(a.map((c) => JSON.stringify(c.calls ?? [])))
    expect(a[1]!.calls).toHaveLength(1)
    expect(a[1]!.calls![0]).toMatchObject({ name: "ml.risk", request: { input: [1, 2, 0.5, 1] } })
    expect(forked.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    // A fork with other features asks the cassette a question it never recorded: loud.
    const diverged = await Effect.runPromise(Replay.fork(graph, parent.run_id, { mutation: { state_overrides: { features: [0, 0, 0, 0] } } }).pipe(Effect.provide(layer)))
    expect(diverged.error).toMatchObject({ _tag: "ReplayDivergenceError", call: "ml.risk", reason: "request-mismatch" })
    expect(counts.runs).toBe(runsAfterParent)
  })

  it("folds the model digest into the graph hash: a changed model file is a changed graph, and resuming against it is refused", async () => {
    const dir = inTemp("linear.onnx", "model.onnx")
    const ir = irOf({ fields: linearFields, node: linearNode({ file_uri: "./model.onnx" }) })
    const graph = await built(ir, undefined, dir)
    expect(await built(ir, undefined, dir)).toMatchObject({ graphHash: graph.graphHash })
    const layer = SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") })
    const run = await Effect.runPromise(Effect.map(graph.start({ inputs: { features: [1, 2, 0.5, 1] } }), (r) => r.runId).pipe(Effect.provide(layer)))
    copyFileSync(join(MODELS, "classifier.onnx"), join(dir, "model.onnx"))
    // The classifier takes [1, 3]: the graph still builds (the node only feeds one input), with another hash.
    const changed = await built(ir, undefined, dir)
    expect(changed.graphHash).not.toBe(graph.graphHash)
    const resumed = await Effect.runPromise(Effect.either(changed.resume(run)).pipe(Effect.provide(layer)))
    expect(Either.isLeft(resumed) && resumed.left).toMatchObject({ _tag: "CheckpointError", reason: "graph-hash-mismatch" })
  })

  it("fails a run on a bad input with a typed error on the run record, keeping the input checkpoint", async () => {
    const dir = tempDir()
    const graph = await built(linearGraph())
    const layer = SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") })
    const summary = await Effect.runPromise(Effect.flatMap(graph.start({ inputs: { features: [1, 2] } }), (r) => Effect.either(r.start())).pipe(Effect.provide(layer)))
    expect(Either.isLeft(summary) && summary.left).toMatchObject({ _tag: "ModelError", reason: "invalid-input" })
    const runs = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 10 })).pipe(Effect.provide(layer)))
    expect(runs.runs[0]).toMatchObject({ status: "failed" })
    const record = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.getRun(runs.runs[0]!.run_id)).pipe(Effect.provide(layer)))
    expect(JSON.stringify(record)).toContain("ModelError")
    const checkpoints = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runs.runs[0]!.run_id)).pipe(Effect.provide(layer)))
    expect(checkpoints.map((c) => c.step)).toEqual([0])
    expect(checkpoints[0]!.state).toEqual({ features: [1, 2] })
  })
})

describe("ml node: the CLI and the examples", () => {
  it("does not load onnxruntime-node on import of the package, only when an onnx node is built", () => {
    const ir = JSON.stringify(linearGraph())
    const script = `
      const loaded = () => Object.keys(require.cache).some((k) => k.includes("onnxruntime-node"))
      Promise.all([import("./dist/src/index.js"), import("effect")]).then(async ([sg, { Effect }]) => {
        const before = loaded()
        await Effect.runPromise(sg.Graph.make(${ir}, { baseDir: ${JSON.stringify(MODELS)} }))
        console.log(JSON.stringify({ before, after: loaded() }))
      })`
    const child = spawnSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8" })
    expect(child.stderr).toBe("")
    expect(JSON.parse(child.stdout)).toEqual({ before: false, after: true })
  })

  it("runs examples/ml/graph.yaml (ONNX) and routes on the score by rule", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const high = await stargraph(["run", "examples/ml/graph.yaml", "--inputs", "features=[1,2,0.5,1]", "--db", db])
    expect(high.code).toBe(0)
    expect(high.stdout).toContain("risk=0.6791787147521973")
    expect(high.stdout).toContain("fired r-escalate-high-risk; goto escalate")
    expect(high.last).toMatch(/status=done/)
    const low = await stargraph(["run", "examples/ml/graph.yaml", "--inputs", "features=[0,4,0,0]", "--db", db])
    expect(low.code).toBe(0)
    expect(low.stdout).toContain("fired r-approve-low-risk; goto auto_approve")
    expect(low.stdout).toContain("halt: approved automatically")
    expect(low.last).toMatch(/status=done/)
  })

  it("runs examples/ml/churn.yaml (XGBoost) and routes on the probability by rule", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const churn = await stargraph(["run", "examples/ml/churn.yaml", "--inputs", "features=[null,0.5,5]", "--db", db])
    expect(churn.code).toBe(0)
    expect(churn.stdout).toContain("churn=0.5744425058364868")
    expect(churn.stdout).toContain("goto retention_offer")
    expect(churn.last).toMatch(/status=done/)
  })

  it("runs inference in the worker thread from the CLI bundle, and the process still exits", async () => {
    const dir = inTemp("linear.onnx")
    writeFileSync(join(dir, "graph.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:ml-worker",
      "state_schema: { fields: { features: { type: array }, score: { type: number } } }",
      "nodes:",
      "  - { id: m, kind: ml, model_id: risk, version: \"1\", runtime: onnx, file_uri: linear.onnx, input_field: features, output_field: score, execution: worker }",
      "edges: [{ from: m, to: __end__ }]"
    ].join("\n"))
    const run = await stargraph(["run", join(dir, "graph.yaml"), "--inputs", "features=[1,2,0.5,1]", "--db", join(dir, "runs.sqlite")])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.stdout).toContain("score=0.6791787147521973")
    expect(run.last).toMatch(/status=done/)
  })

  it("exits non-zero from validate and run on a tampered model file, naming both hashes", async () => {
    const dir = tempDir()
    copyFileSync(join(ROOT, "examples", "ml", "graph.yaml"), join(dir, "graph.yaml"))
    const models = join(dir, "models")
    mkdirSync(models)
    copyFileSync(join(MODELS, "classifier.onnx"), join(models, "risk.onnx"))
    const validate = await stargraph(["validate", join(dir, "graph.yaml")])
    expect(validate.code).not.toBe(0)
    expect(validate.stderr).toContain("ModelIntegrityError")
    expect(validate.stderr).toContain(`expected sha256 ${sha256Of(join(ROOT, "examples", "ml", "models", "risk.onnx"))}, actual ${sha256Of(join(MODELS, "classifier.onnx"))}`)
    const run = await stargraph(["run", join(dir, "graph.yaml"), "--inputs", "features=[1,2,0.5,1]", "--db", join(dir, "runs.sqlite")])
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain("ModelIntegrityError")
  })
})
