/**
 * ONNX models on `onnxruntime-node`, an optional peer dependency: it is imported on
 * first use (when a graph with an `onnx` node is built), never by `import "stargraph"`.
 * One session per model file content (keyed by its SHA-256), shared by every node and
 * run in the process.
 *
 * Where a model runs: `onnxruntime-node` runs a session on the calling thread, so a long
 * inference blocks the event loop. `auto` (the default) runs an inference inline when the
 * model's measured cost for the batch is under {@link INLINE_BUDGET_MS} (there a worker
 * hop, ~0.1 ms, would cost more than the blocking) and in the model's worker thread
 * otherwise; `inline` and `worker` force one or the other. Both paths give the same
 * numbers: the same runtime runs the same bytes with the same session options. Inline
 * inferences call the runtime's native binding synchronously (`nativeSession.ts`), without
 * the public `run`'s argument checks and `setImmediate` hop; a package without that binding
 * is used through its public API.
 */
import { createRequire } from "node:module"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { ModelError } from "../../errors.js"
import { contentKey, type ModelFile, type ModelRef } from "./ModelFile.js"
import { isSyncSession, nativeSessions, type SyncSession } from "./nativeSession.js"
import type { OrtModule, OrtSession, OrtTensor, OrtValueMetadata } from "./ortTypes.js"
import { modelWorker, type ModelWorker, type RawOutput } from "./onnxWorker.js"
import { type PreparedInput, prepare, TENSOR_TYPES, type TensorData, type TensorSpec, type TensorType } from "./tensors.js"

export type { OrtModule, OrtSession, OrtTensor, OrtValueMetadata } from "./ortTypes.js"

/** Where an ONNX inference runs. */
export type Execution = "auto" | "inline" | "worker"

/** Inferences predicted to take less than this run on the event loop under `auto`. */
export const INLINE_BUDGET_MS = 1

/** The version the install fix names (the peer dependency's range). */
export const ONNXRUNTIME_VERSION = "1.30"

/** The options every session is opened with. CPU only, as the original: no silent GPU fallback; the worker uses the same. */
export const SESSION_OPTIONS = { executionProviders: ["cpu"], graphOptimizationLevel: "all" }

/**
 * The options a session on `file` is opened with: {@link SESSION_OPTIONS}, plus the bytes
 * of its external data files under the locations the model names them by (onnxruntime
 * would otherwise look for them beside the process's working folder).
 */
export const sessionOptions = (file: ModelFile): object =>
  file.data.length === 0 ? SESSION_OPTIONS : { ...SESSION_OPTIONS, externalData: file.data.map((d) => ({ path: d.location, data: d.bytes })) }

/** A loaded ONNX model. */
export interface OnnxModel {
  /** SHA-256 of the model file (hex). */
  readonly sha256: string
  /** The model's one input. */
  readonly input: TensorSpec
  /** Every output: tensors with their type and shape; other values (maps, sequences) by name. */
  readonly outputs: ReadonlyArray<OrtValueMetadata>
  /**
   * Run the model on an input prepared for {@link input}: `handle.done` gets the
   * `fetches` outputs in order, `handle.failed` the runtime's message when it fails.
   */
  readonly run: <A, E>(input: PreparedInput, fetches: ReadonlyArray<string>, execution: Execution, handle: RunHandler<A, E>) => Effect.Effect<A, E>
  /**
   * `run`, made at once on this thread on the runtime's native binding (synchronous): its
   * outcome; undefined (nothing run) without that binding. For a batch `runsNow` placed
   * here: the caller decides once (the placement may change with the next inference).
   */
  readonly runNow: <A, E>(input: PreparedInput, fetches: ReadonlyArray<string>, handle: RunHandler<A, E>) => Either.Either<A, E> | undefined
  /** Whether a batch of `rows` runs inline on the native binding (then `runNow` runs it). */
  readonly runsNow: (rows: number, execution: Execution) => boolean
  /** The measured cost of one row (ms), when known: what `auto` decides on. */
  readonly msPerRow: () => number | undefined
  /** Where `auto` would run a batch of `rows`. */
  readonly placement: (rows: number, execution: Execution) => "inline" | "worker"
}

/** What becomes of an inference's outputs, or of its failure. */
export interface RunHandler<A, E> {
  readonly done: (outputs: ReadonlyArray<RawOutput>) => Either.Either<A, E>
  readonly failed: (message: string) => E
}

/** The ONNX runtime a process uses: how it is loaded, and its models. */
export interface OnnxRuntimeShape {
  /** Import `onnxruntime-node` (cached by the module system). */
  readonly load: () => Promise<OrtModule>
  /** The absolute path a worker thread requires `onnxruntime-node` from. */
  readonly modulePath: () => string
  /**
   * Sessions whose inferences run synchronously on the runtime's native binding
   * (`nativeSession.ts`), or undefined to open every session with the public API.
   */
  readonly native: () => ((bytes: Uint8Array, options: unknown) => SyncSession) | undefined
  /** Models by content ({@link contentKey}: each one session, one worker when needed), or why one failed to load. */
  readonly models: Map<string, Promise<Either.Either<OnnxModel, ModelError>>>
}

const importRuntime = async (): Promise<OrtModule> => {
  const loaded = (await import("onnxruntime-node")) as unknown as OrtModule & { readonly default?: OrtModule }
  return typeof loaded.InferenceSession?.create === "function" ? loaded : loaded.default ?? loaded
}

/**
 * A runtime with its own model cache; `load` and `modulePath` default to
 * `onnxruntime-node` as installed beside Stargraph, and sessions are opened on its native
 * binding unless `load` is given (then through that module's public API) or `native` is
 * false. Tests pass a `load` that fails to see the `runtime-missing` error, or one that
 * counts sessions.
 */
export const make = (
  options: { readonly load?: () => Promise<OrtModule>; readonly modulePath?: () => string; readonly native?: boolean } = {}
): OnnxRuntimeShape => {
  const modulePath = options.modulePath ?? (() => createRequire(import.meta.url).resolve("onnxruntime-node"))
  const useNative = options.native ?? options.load === undefined
  let native: ReturnType<OnnxRuntimeShape["native"]> | null = null
  return {
    load: options.load ?? importRuntime,
    modulePath,
    native: () => {
      if (!useNative) return undefined
      if (native === null) {
        const path = Either.try(modulePath)
        native = Either.isRight(path) ? nativeSessions(path.right) : undefined
      }
      return native
    },
    models: new Map()
  }
}

/** The process's ONNX runtime (one default instance; provide another with `Effect.provideService`). */
export class OnnxRuntime extends Context.Reference<OnnxRuntime>()("stargraph/OnnxRuntime", {
  defaultValue: (): OnnxRuntimeShape => make()
}) {}

const message = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause)).split("\n")[0] ?? ""

/** The warm-up keeps nothing. */
const warmUp: RunHandler<void, string> = { done: () => Either.void, failed: (m) => m }

/** A zero input of the model's shape (open dims as 1), for the warm-up run. */
const zeroInput = (spec: TensorSpec): PreparedInput | undefined => {
  if (spec.shape.length === 0) return undefined
  const zero = spec.type === "bool" ? false : spec.type === "string" ? "" : 0
  const sample = spec.shape.slice(1).map((d) => (typeof d === "number" ? d : 1))
  let value: unknown = zero
  for (let i = sample.length - 1; i >= 0; i--) {
    const inner = value
    value = Array.from({ length: sample[i]! }, () => inner)
  }
  return Either.getOrUndefined(prepare(spec, value))
}

/** Open a session on the file's bytes, check its input, and measure what a row costs. */
const open = (runtime: OnnxRuntimeShape, ref: ModelRef, file: ModelFile): Effect.Effect<OnnxModel, ModelError> =>
  Effect.gen(function*() {
    const ort = yield* Effect.tryPromise({
      try: () => runtime.load(),
      catch: (cause) =>
        new ModelError({
          ...ref,
          reason: "runtime-missing",
          field: "runtime",
          file: file.path,
          message: `runtime: onnx needs the onnxruntime-node package, which cannot be loaded (${message(cause)})`,
          fix: `npm install onnxruntime-node@${ONNXRUNTIME_VERSION}`
        })
    })
    const native = runtime.native()
    const options = sessionOptions(file)
    const session: OrtSession | SyncSession = yield* Effect.tryPromise({
      try: () => (native !== undefined ? Promise.resolve().then(() => native(file.bytes, options)) : ort.InferenceSession.create(file.bytes, options)),
      catch: (cause) =>
        new ModelError({
          ...ref,
          reason: "invalid-model",
          field: "file_uri",
          file: file.path,
          message: `'${file.path}' is not an ONNX model onnxruntime can load: ${message(cause)}`,
          fix: "point file_uri at an .onnx file (export it with torch.onnx.export, skl2onnx or onnxmltools), or set runtime to the model's format"
        })
    })
    const inputs = session.inputMetadata
    const outputs = session.outputMetadata
    if (inputs === undefined || outputs === undefined) {
      return yield* new ModelError({
        ...ref,
        reason: "runtime-missing",
        field: "runtime",
        file: file.path,
        message: "the installed onnxruntime-node does not report input shapes (too old)",
        fix: `npm install onnxruntime-node@${ONNXRUNTIME_VERSION}`
      })
    }
    const first = inputs[0]
    if (inputs.length !== 1 || first === undefined) {
      const names = inputs.map((i) => i.name).join(", ")
      return yield* new ModelError({
        ...ref,
        reason: "invalid-model",
        field: "file_uri",
        file: file.path,
        expected: "one input",
        actual: `${inputs.length} inputs (${names})`,
        message: `the model has ${inputs.length} inputs (${names}); an ml node feeds one`,
        fix: "export the model with a single input tensor (concatenate the features into one [N, k] input)"
      })
    }
    if (!first.isTensor || !TENSOR_TYPES.has(first.type)) {
      return yield* new ModelError({
        ...ref,
        reason: "invalid-model",
        field: "file_uri",
        file: file.path,
        tensor: first.name,
        actual: first.isTensor ? first.type : "not a tensor",
        message: `the model's input '${first.name}' is ${first.isTensor ? `of type ${first.type}` : "not a tensor"}, which state cannot feed`,
        fix: "export the model with a numeric, boolean or string tensor input"
      })
    }
    const input: TensorSpec = { name: first.name, type: first.type as TensorType, shape: first.shape }
    let worker: ModelWorker | undefined
    let msPerRow: number | undefined

    /** Fold a run's cost per row into the estimate `auto` decides on. */
    const learn = (ms: number, rows: number) => {
      const perRow = ms / Math.max(rows, 1)
      msPerRow = msPerRow === undefined ? perRow : 0.8 * msPerRow + 0.2 * perRow
    }

    /** The fetched outputs of `out`, in order, handed to `handle`. */
    const outputsOf = <A, E>(out: { readonly [name: string]: OrtTensor }, fetches: ReadonlyArray<string>, handle: RunHandler<A, E>) => {
      const result: Array<RawOutput> = []
      for (const name of fetches) result.push(out[name]!)
      return handle.done(result)
    }

    /** One inference on this thread, synchronously on the native binding, timed. */
    const inferNow = (sync: SyncSession) => <A, E>(prepared: PreparedInput, fetches: ReadonlyArray<string>, handle: RunHandler<A, E>): Either.Either<A, E> => {
      const started = performance.now()
      let out: { readonly [name: string]: OrtTensor }
      try {
        out = sync.runSync({ [input.name]: new ort.Tensor(prepared.type, prepared.data, prepared.dims) }, fetches)
      } catch (cause) {
        return Either.left(handle.failed(message(cause)))
      }
      learn(performance.now() - started, prepared.rows)
      return outputsOf(out, fetches, handle)
    }
    const syncSession = isSyncSession(session) ? inferNow(session) : undefined
    const inlineSync = (now: NonNullable<typeof syncSession>) => <A, E>(prepared: PreparedInput, fetches: ReadonlyArray<string>, handle: RunHandler<A, E>) =>
      Effect.suspend((): Effect.Effect<A, E> => now(prepared, fetches, handle))

    /** One inference on this thread through the public API, timed (the outputs handled in the same callback). */
    const inlineAsync = <A, E>(prepared: PreparedInput, fetches: ReadonlyArray<string>, handle: RunHandler<A, E>) =>
      Effect.async<A, E>((resume) => {
        const started = performance.now()
        session.run({ [input.name]: new ort.Tensor(prepared.type, prepared.data, prepared.dims) }, fetches).then(
          (out) => {
            learn(performance.now() - started, prepared.rows)
            resume(outputsOf(out, fetches, handle))
          },
          (cause: unknown) => resume(Effect.fail(handle.failed(message(cause))))
        )
      })

    /** One inference in the model's worker thread (timed there). */
    const inWorker = <A, E>(prepared: PreparedInput, fetches: ReadonlyArray<string>, handle: RunHandler<A, E>) =>
      Effect.suspend(() => {
        if (worker === undefined) {
          const modulePath = Either.try(() => runtime.modulePath())
          if (Either.isLeft(modulePath)) return Effect.fail(handle.failed(`the inference worker cannot find onnxruntime-node: ${message(modulePath.left)}`))
          worker = modelWorker({ modulePath: modulePath.right, bytes: file.bytes, sessionOptions: options })
        }
        return Effect.matchEffect(worker.run(input.name, prepared, fetches), {
          onFailure: (cause) => Effect.fail(handle.failed(cause)),
          onSuccess: (reply) => {
            learn(reply.ms, prepared.rows)
            return handle.done(reply.outputs)
          }
        })
      })

    const inline = syncSession !== undefined ? inlineSync(syncSession) : inlineAsync

    const placement = (rows: number, execution: Execution): "inline" | "worker" =>
      execution !== "auto" ? execution : msPerRow !== undefined && msPerRow * Math.max(rows, 1) < INLINE_BUDGET_MS ? "inline" : "worker"

    // Warm up on zeros (the first run allocates), then take the faster of two timed runs.
    const zeros = zeroInput(input)
    if (zeros !== undefined) {
      const names = outputs.filter((o) => o.isTensor).map((o) => o.name)
      const timed: Array<number> = []
      for (let i = 0; i < 3; i++) {
        const started = performance.now()
        const run = yield* Effect.either(inline({ ...zeros, data: zeros.data.slice() as TensorData }, names, warmUp))
        if (Either.isLeft(run)) break
        if (i > 0) timed.push(performance.now() - started)
      }
      msPerRow = timed.length === 2 ? Math.min(...timed) : undefined
    }

    return {
      sha256: file.sha256,
      input,
      outputs,
      run: (prepared, fetches, execution, handle) =>
        placement(prepared.rows, execution) === "inline" ? inline(prepared, fetches, handle) : inWorker(prepared, fetches, handle),
      runNow: (prepared, fetches, handle) => syncSession?.(prepared, fetches, handle),
      runsNow: (rows, execution) => syncSession !== undefined && placement(rows, execution) === "inline",
      msPerRow: () => msPerRow,
      placement
    } satisfies OnnxModel
  })

/**
 * The model in `file`, from the runtime's cache or opened now (once per content, the
 * file's digest with its external data's: {@link contentKey}, even when several graphs
 * are built at once). Errors name the node that asked.
 */
export const model = (ref: ModelRef, file: ModelFile): Effect.Effect<OnnxModel, ModelError> =>
  Effect.flatMap(OnnxRuntime, (runtime) => {
    const key = contentKey(file)
    let loading = runtime.models.get(key)
    if (loading === undefined) {
      loading = Effect.runPromise(Effect.either(open(runtime, ref, file)))
      runtime.models.set(key, loading)
    }
    const pending = loading
    return Effect.flatMap(Effect.promise(() => pending), (loaded) => {
      if (Either.isRight(loaded)) return Effect.succeed(loaded.right)
      // A model that failed to load is tried again by the next build.
      if (runtime.models.get(key) === pending) runtime.models.delete(key)
      const error = loaded.left
      return Effect.fail(error.nodeId === ref.nodeId && error.modelId === ref.modelId ? error : new ModelError({ ...error, ...ref }))
    })
  })
