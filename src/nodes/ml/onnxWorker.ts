/**
 * A worker thread that runs one ONNX model, so a long inference does not hold the event
 * loop: `onnxruntime-node` runs a session synchronously on the thread that calls it
 * (its `run` only defers the call with `setImmediate`). The worker loads the runtime
 * from the path the main thread resolved, opens its own session on the same bytes with
 * the same options (so it computes the same numbers), and answers one message per
 * inference. It is unreferenced while idle, so it never keeps a process alive.
 */
import { Worker } from "node:worker_threads"
import * as Effect from "effect/Effect"
import type { PreparedInput } from "./tensors.js"

/** An output tensor as the worker (or the runtime) hands it back. */
export interface RawOutput {
  readonly type: string
  readonly dims: ReadonlyArray<number>
  readonly data: ArrayLike<unknown>
}

/** The answer to one inference: the fetched outputs in order, and the run's time inside the worker. */
export interface WorkerReply {
  readonly outputs: ReadonlyArray<RawOutput>
  readonly ms: number
}

// The worker's code, run with `eval` (CommonJS): nothing to resolve next to this file,
// which keeps it working from the CLI bundle too.
const SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const ort = require(workerData.modulePath)
const ready = ort.InferenceSession.create(workerData.bytes, workerData.options)
ready.catch(() => {})
parentPort.on("message", (m) => {
  ready.then(async (session) => {
    const started = performance.now()
    const out = await session.run({ [m.input]: new ort.Tensor(m.type, m.data, m.dims) }, m.fetches)
    const ms = performance.now() - started
    const outputs = m.fetches.map((name) => ({ type: out[name].type, dims: out[name].dims, data: out[name].data }))
    parentPort.postMessage({ id: m.id, ok: true, outputs, ms })
  }).catch((e) => parentPort.postMessage({ id: m.id, ok: false, message: String((e && e.message) || e) }))
})
`

/** What a worker needs to open its session. */
export interface WorkerOptions {
  /** Absolute path of `onnxruntime-node`'s entry, for `require`. */
  readonly modulePath: string
  readonly bytes: Uint8Array
  /** Session options, the same as the main thread's session. */
  readonly sessionOptions: unknown
}

interface Reply {
  readonly id: number
  readonly ok: boolean
  readonly outputs?: ReadonlyArray<RawOutput>
  readonly ms?: number
  readonly message?: string
}

/** One model's worker thread: started on first use, restarted after it dies. */
export interface ModelWorker {
  /** Run the model on `input` in the worker; fails with the runtime's message. */
  readonly run: (inputName: string, input: PreparedInput, fetches: ReadonlyArray<string>) => Effect.Effect<WorkerReply, string>
  /** Stop the thread (pending inferences fail). */
  readonly terminate: () => Promise<void>
}

/** A lazily started worker for the model in `options`. */
export const modelWorker = (options: WorkerOptions): ModelWorker => {
  let worker: Worker | undefined
  let nextId = 0
  const pending = new Map<number, (reply: Effect.Effect<WorkerReply, string>) => void>()

  const failAll = (message: string) => {
    const waiting = [...pending.values()]
    pending.clear()
    worker = undefined
    for (const resume of waiting) resume(Effect.fail(message))
  }

  const start = (): Worker => {
    const started = new Worker(SOURCE, {
      eval: true,
      workerData: { modulePath: options.modulePath, bytes: options.bytes, options: options.sessionOptions }
    })
    started.on("message", (reply: Reply) => {
      const resume = pending.get(reply.id)
      if (resume === undefined) return
      pending.delete(reply.id)
      if (pending.size === 0) started.unref()
      resume(reply.ok ? Effect.succeed({ outputs: reply.outputs ?? [], ms: reply.ms ?? 0 }) : Effect.fail(reply.message ?? "the inference failed"))
    })
    started.on("error", (error) => {
      if (worker === started) failAll(`the inference worker failed: ${error.message}`)
    })
    started.on("exit", (code) => {
      if (worker === started) failAll(`the inference worker exited (code ${code})`)
    })
    started.unref()
    return started
  }

  const run: ModelWorker["run"] = (inputName, input, fetches) =>
    Effect.async<WorkerReply, string>((resume) => {
      let target: Worker
      try {
        target = worker ??= start()
      } catch (cause) {
        resume(Effect.fail(`the inference worker cannot start: ${cause instanceof Error ? cause.message : String(cause)}`))
        return
      }
      const id = nextId++
      pending.set(id, resume)
      if (pending.size === 1) target.ref()
      // A typed buffer is moved, not copied (the node built it for this call only).
      const transfer = Array.isArray(input.data) ? [] : [input.data.buffer as ArrayBuffer]
      target.postMessage({ id, input: inputName, type: input.type, data: input.data, dims: input.dims, fetches }, transfer)
      return Effect.sync(() => {
        if (pending.delete(id) && pending.size === 0) target.unref()
      })
    })

  return {
    run,
    terminate: async () => {
      const current = worker
      worker = undefined
      if (current !== undefined) {
        failAll("the inference worker was stopped")
        await current.terminate()
      }
    }
  }
}
