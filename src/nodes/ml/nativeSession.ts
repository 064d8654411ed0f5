/**
 * Sessions on `onnxruntime-node`'s native binding, called directly. The package's
 * `InferenceSession.run` checks its arguments, then hands the call to the binding from a
 * `setImmediate` callback, on the same thread; for a model that runs in a few µs that
 * wrapper costs as much as the inference. A node checks its input itself (at compile
 * time and per call), so its inline inferences call the binding synchronously: the same
 * runtime, the same bytes, the same session options, the same numbers.
 *
 * The binding is the package's own `dist/binding.js` (what its `InferenceSession` uses).
 * When an installed version lays it out differently, {@link nativeSessions} answers
 * undefined and the public API is used instead, unchanged.
 */
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import type { OrtSession, OrtTensor, OrtValueMetadata } from "./ortTypes.js"

/** An input's or output's metadata as the binding reports it (types as ONNX enum values). */
interface RawMetadata {
  readonly name: string
  readonly isTensor: boolean
  readonly type: number
  readonly shape: ReadonlyArray<number>
  readonly symbolicDimensions: ReadonlyArray<string>
}

/** The binding's session. */
interface BindingSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: unknown): void
  readonly inputMetadata: ReadonlyArray<RawMetadata>
  readonly outputMetadata: ReadonlyArray<RawMetadata>
  run(feeds: { readonly [name: string]: OrtTensor }, fetches: { readonly [name: string]: null }, options: object): { readonly [name: string]: OrtTensor }
}

/** What `dist/binding.js` exports. */
interface BindingModule {
  readonly binding: { readonly InferenceSession: new () => BindingSession }
  readonly initOrt: () => void
}

/** A session whose inferences can also run synchronously. */
export interface SyncSession extends OrtSession {
  /** One inference on the calling thread; throws what the runtime throws. */
  readonly runSync: (feeds: { readonly [name: string]: OrtTensor }, fetches: ReadonlyArray<string>) => { readonly [name: string]: OrtTensor }
}

/** Whether `session` can run synchronously. */
export const isSyncSession = (session: OrtSession): session is SyncSession => typeof (session as Partial<SyncSession>).runSync === "function"

/** ONNX element types by enum value, as the runtime's own JS names them. */
const TYPES: ReadonlyArray<string | undefined> = [
  undefined, "float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "string", "bool", "float16", "float64", "uint32", "uint64",
  undefined, undefined, undefined, undefined, undefined, undefined, undefined, "uint4", "int4"
]

/**
 * The binding's metadata in the public API's form. Throws, as the public API does when it
 * opens the session, on an element type it has no name for (bfloat16, float8) and on a
 * negative dimension other than -1 (symbolic).
 */
const metadataOf = (raw: ReadonlyArray<RawMetadata>): ReadonlyArray<OrtValueMetadata> =>
  raw.map((m): OrtValueMetadata => {
    if (!m.isTensor) return { name: m.name, isTensor: false }
    const type = TYPES[m.type]
    if (type === undefined) throw new Error(`Unsupported data type: ${m.type}`)
    const shape = m.shape.map((d, i) => {
      if (d === -1) return m.symbolicDimensions[i] ?? ""
      if (d < 0) throw new Error(`Invalid dimension: ${d}`)
      return d
    })
    return { name: m.name, isTensor: true, type, shape }
  })

const NO_OPTIONS = Object.freeze({})

/** A session on `bytes` through the binding. */
const open = (module: BindingModule, bytes: Uint8Array, options: unknown): SyncSession => {
  module.initOrt()
  const session = new module.binding.InferenceSession()
  session.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, options)
  const inputMetadata = metadataOf(session.inputMetadata)
  const outputMetadata = metadataOf(session.outputMetadata)
  const runSync = (feeds: { readonly [name: string]: OrtTensor }, fetches: ReadonlyArray<string>) => {
    const wanted: Record<string, null> = {}
    for (const name of fetches) wanted[name] = null
    return session.run(feeds, wanted, NO_OPTIONS)
  }
  return {
    inputNames: inputMetadata.map((m) => m.name),
    outputNames: outputMetadata.map((m) => m.name),
    inputMetadata,
    outputMetadata,
    runSync,
    run: (feeds, fetches) =>
      new Promise((resolve, reject) => {
        try {
          resolve(runSync(feeds, fetches))
        } catch (cause) {
          reject(cause)
        }
      })
  }
}

/**
 * A session factory on the binding of the `onnxruntime-node` whose entry is at
 * `modulePath`, or undefined when that package has no binding laid out as expected.
 */
export const nativeSessions = (modulePath: string): ((bytes: Uint8Array, options: unknown) => SyncSession) | undefined => {
  let module: Partial<BindingModule>
  try {
    module = createRequire(modulePath)(join(dirname(modulePath), "binding.js")) as Partial<BindingModule>
  } catch {
    return undefined
  }
  if (typeof module.initOrt !== "function" || typeof module.binding?.InferenceSession !== "function") return undefined
  const found = module as BindingModule
  return (bytes, options) => open(found, bytes, options)
}
