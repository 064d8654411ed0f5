/**
 * JSON state values to and from tensors: a feature vector (batch 1) or a batch of them
 * becomes the typed buffer and dims of a model input, checked against the input's
 * declared type and shape first; a model output becomes plain JSON numbers (arrays).
 * No runtime is involved, so the same code serves inference on the event loop and in a
 * worker thread.
 */
import * as Either from "effect/Either"

/** Element types a model input or output may have. */
export type TensorType =
  | "float32"
  | "float64"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "bool"
  | "string"

/** The element types the node reads and writes. */
export const TENSOR_TYPES: ReadonlySet<string> = new Set<TensorType>([
  "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string"
])

/** A typed buffer of one of {@link TensorType}s (`bool` as bytes, `string` as an array). */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Array<string>

/** A model input or output as the model declares it. */
export interface TensorSpec {
  readonly name: string
  readonly type: TensorType
  /** Sizes, or symbolic names (`N`) for dims of any size; empty when the model leaves it open. */
  readonly shape: ReadonlyArray<number | string>
}

/** An input ready to feed. */
export interface PreparedInput {
  readonly type: TensorType
  readonly data: TensorData
  readonly dims: ReadonlyArray<number>
  /** The state held one sample (the batch axis was added): outputs drop it again. */
  readonly single: boolean
  /** Rows in the batch (1 for a single sample). */
  readonly rows: number
}

/** Why a value does not fit an input. */
export interface TensorProblem {
  readonly expected: string
  readonly actual: string
  readonly message: string
}

/** `float32 [N, 4]`. */
export const describeSpec = (spec: { readonly type: string; readonly shape: ReadonlyArray<number | string> }): string =>
  `${spec.type} [${spec.shape.length === 0 ? "any shape" : spec.shape.join(", ")}]`

const describeDims = (dims: ReadonlyArray<number>): string =>
  dims.length === 0 ? "a single value" : dims.length === 1 ? `a vector of ${dims[0]}` : `a ${dims.join(" × ")} array`

const describeValue = (value: unknown): string =>
  value === null ? "null" : typeof value === "string" ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : String(value)

const kindOf = (value: unknown): string => (value === null ? "null" : Array.isArray(value) ? "array" : typeof value)

const INT_RANGES: { readonly [type: string]: readonly [number, number] } = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  uint64: [0, Number.MAX_SAFE_INTEGER]
}

const allocate = (type: TensorType, size: number): TensorData => {
  switch (type) {
    case "float32":
      return new Float32Array(size)
    case "float64":
      return new Float64Array(size)
    case "int8":
      return new Int8Array(size)
    case "int16":
      return new Int16Array(size)
    case "int32":
      return new Int32Array(size)
    case "int64":
      return new BigInt64Array(size)
    case "uint8":
    case "bool":
      return new Uint8Array(size)
    case "uint16":
      return new Uint16Array(size)
    case "uint32":
      return new Uint32Array(size)
    case "uint64":
      return new BigUint64Array(size)
    case "string":
      return new Array<string>(size).fill("")
  }
}

/** The nested array's dims, taken along its first elements. */
const dimsOf = (value: unknown): Array<number> => {
  const dims: Array<number> = []
  let current = value
  while (Array.isArray(current)) {
    dims.push(current.length)
    if (current.length === 0) break
    current = current[0]
  }
  return dims
}

const indexText = (index: ReadonlyArray<number>): string => index.map((i) => `[${i}]`).join("")

/** The largest finite float32, as a double (`Math.fround` of anything above it is Infinity, up to rounding). */
const FLOAT32_MAX = 3.4028234663852886e38

/** Whether a float32 holds `value` (a larger magnitude would become Infinity). */
const fitsFloat32 = (value: number): boolean => Math.abs(value) <= FLOAT32_MAX

/**
 * Write one element; a string saying what is wrong when it does not fit `type` (`null`
 * is a missing value: NaN in a float input).
 */
const setElement = (type: TensorType, data: TensorData, at: number, value: unknown): string | undefined => {
  switch (type) {
    case "float32":
    case "float64":
      if (typeof value === "number") {
        if (type === "float32" && !fitsFloat32(value)) return `is ${value}, outside float32 (-${FLOAT32_MAX} to ${FLOAT32_MAX})`
        ;(data as Float32Array)[at] = value
      } else if (value === null) (data as Float32Array)[at] = Number.NaN
      else return `is ${describeValue(value)} (${kindOf(value)}), not a number`
      return undefined
    case "bool":
      if (typeof value !== "boolean") return `is ${describeValue(value)} (${kindOf(value)}), not a boolean`
      ;(data as Uint8Array)[at] = value ? 1 : 0
      return undefined
    case "string":
      if (typeof value !== "string") return `is ${describeValue(value)} (${kindOf(value)}), not a string`
      ;(data as Array<string>)[at] = value
      return undefined
    default: {
      if (typeof value !== "number" || !Number.isInteger(value)) {
        return value === null
          ? `is null (a missing value), which only a float input can take`
          : `is ${describeValue(value)} (${kindOf(value)}), not an integer`
      }
      const [min, max] = INT_RANGES[type]!
      if (value < min || value > max) return `is ${value}, outside ${type} (${min} to ${max})`
      if (type === "int64" || type === "uint64") (data as BigInt64Array)[at] = BigInt(value)
      else (data as Int32Array)[at] = value
      return undefined
    }
  }
}

/** Depth-first copy of a nested array into `data`, checking each level's length (ragged arrays are refused). */
const fill = (spec: TensorSpec, valueDims: ReadonlyArray<number>, data: TensorData, value: unknown): TensorProblem | undefined => {
  let at = 0
  const index: Array<number> = []
  const walk = (node: unknown, depth: number): TensorProblem | undefined => {
    if (depth === valueDims.length) {
      if (Array.isArray(node)) {
        return problemOf(spec, "a ragged array", `element ${indexText(index)} is an array where a ${spec.type} value belongs (the rows differ in depth)`)
      }
      const problem = setElement(spec.type, data, at++, node)
      return problem === undefined ? undefined : problemOf(spec, `${kindOf(node)} at ${indexText(index) || "the top"}`, `element ${indexText(index) || "(the value)"} ${problem}`)
    }
    if (!Array.isArray(node) || node.length !== valueDims[depth]) {
      return problemOf(spec, "a ragged array", `${indexText(index) || "the value"} has ${Array.isArray(node) ? `${node.length} entries` : `no entries (${kindOf(node)})`} where its siblings have ${valueDims[depth]}`)
    }
    for (let i = 0; i < node.length; i++) {
      index.push(i)
      const problem = walk(node[i], depth + 1)
      index.pop()
      if (problem) return problem
    }
    return undefined
  }
  return walk(value, 0)
}

const problemOf = (spec: TensorSpec, actual: string, detail: string): TensorProblem => {
  const expected = describeSpec(spec)
  return { expected, actual, message: `input '${spec.name}' expects ${expected}; ${detail}` }
}

/** The common case without the general walk: a flat vector of numbers, one sample of a [N, k] float input. */
const oneFloatSample = (spec: TensorSpec, value: unknown): PreparedInput | undefined => {
  if (!Array.isArray(value) || spec.shape.length !== 2 || (spec.type !== "float32" && spec.type !== "float64")) return undefined
  const n = value.length
  const [batch, width] = spec.shape
  if ((typeof batch === "number" && batch !== 1) || (typeof width === "number" && width !== n)) return undefined
  const data = spec.type === "float32" ? new Float32Array(n) : new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const v: unknown = value[i]
    // Anything else (null, a nested array, a string, a number past float32) takes the general path and its checks.
    if (typeof v !== "number" || (spec.type === "float32" && !fitsFloat32(v))) return undefined
    data[i] = v
  }
  return { type: spec.type, data, dims: [1, n], single: true, rows: 1 }
}

/**
 * Fit a state value to a model input: a value one rank below the input's is one sample
 * (the batch axis of 1 is added); a value of the input's rank is a batch. Every declared
 * size must match and every element must fit the element type.
 */
export const prepare = (spec: TensorSpec, value: unknown): Either.Either<PreparedInput, TensorProblem> => {
  const fast = oneFloatSample(spec, value)
  if (fast !== undefined) return Either.right(fast)
  const valueDims = dimsOf(value)
  const rank = spec.shape.length
  const single = rank > 0 && valueDims.length === rank - 1
  if (rank > 0 && !single && valueDims.length !== rank) {
    const expected = describeSpec(spec)
    return Either.left({
      expected,
      actual: describeDims(valueDims),
      message: `input '${spec.name}' expects ${expected}: one sample [${spec.shape.slice(1).join(", ")}] or a batch [${spec.shape.join(", ")}]; got ${describeDims(valueDims)}`
    })
  }
  const dims = single ? [1, ...valueDims] : valueDims
  for (let axis = 0; axis < rank; axis++) {
    const size = spec.shape[axis]
    if (typeof size === "number" && dims[axis] !== size) {
      const given = `${describeDims(valueDims)}${single ? " (one sample)" : ""}`
      return Either.left(problemOf(spec, given, `axis ${axis} has size ${dims[axis]}, not ${size} (given ${describeDims(valueDims)}${single ? " as one sample" : ""})`))
    }
  }
  let size = 1
  for (const d of dims) size *= d
  const data = allocate(spec.type, size)
  const problem = fill(spec, valueDims, data, value)
  if (problem) return Either.left(problem)
  return Either.right({ type: spec.type, data, dims, single, rows: single ? 1 : dims[0] ?? 1 })
}

/** The element types a model output may have (the input types, and float16, read as numbers). */
export const OUTPUT_TYPES: ReadonlySet<string> = new Set([...TENSOR_TYPES, "float16"])

/** An IEEE 754 half-precision value from its 16 bits (how onnxruntime-node hands float16 tensors over). */
export const halfToNumber = (bits: number): number => {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >> 10) & 0x1f
  const fraction = bits & 0x3ff
  if (exponent === 0) return sign * fraction * 2 ** -24
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15)
}

/**
 * A model output as JSON: nested arrays along `dims`; with `single`, the leading batch
 * axis of 1 is dropped (a [1] output is a number, a [1, k] output a vector of k). Fails
 * with a message for what state cannot hold (NaN, an int64 beyond 2^53).
 */
export const toJson = (name: string, type: string, dims: ReadonlyArray<number>, data: ArrayLike<unknown>, single: boolean): Either.Either<unknown, string> => {
  const drop = single && dims.length > 0 && dims[0] === 1 ? 1 : 0
  const rank = dims.length - drop
  // Plain float outputs of rank 0 or 1 (a score, a row of probabilities): no walk.
  if (rank <= 1 && (type === "float32" || type === "float64")) {
    const floats = data as Float32Array
    if (rank === 0) {
      const v = floats[0]!
      return Number.isFinite(v) ? Either.right(v) : Either.left(notJson(name, `${v} at element 0, which is not a JSON number`))
    }
    const n = dims[drop]!
    const out = new Array<number>(n)
    for (let i = 0; i < n; i++) {
      const v = floats[i]!
      if (!Number.isFinite(v)) return Either.left(notJson(name, `${v} at element ${i}, which is not a JSON number`))
      out[i] = v
    }
    return Either.right(out)
  }
  const shape = dims.slice(drop)
  let fault: string | undefined
  // float16 arrives as its raw bits (a Uint16Array): each element is decoded.
  const half = type === "float16" && data instanceof Uint16Array
  const element = (i: number): unknown => {
    const v = half ? halfToNumber(data[i] as number) : data[i]
    if (typeof v === "bigint") {
      if (v <= MAX_SAFE && v >= MIN_SAFE) return Number(v)
      fault ??= `${v} at element ${i}, which does not fit a JSON number exactly (beyond 2^53)`
      return null
    }
    if (type === "bool") return v !== 0
    if (typeof v === "number" && !Number.isFinite(v)) {
      fault ??= `${v} at element ${i}, which is not a JSON number`
      return null
    }
    return v
  }
  let at = 0
  const build = (depth: number): Array<unknown> => {
    const n = shape[depth]!
    const out = new Array<unknown>(n)
    for (let i = 0; i < n; i++) out[i] = depth === shape.length - 1 ? element(at++) : build(depth + 1)
    return out
  }
  const value = shape.length === 0 ? element(0) : build(0)
  return fault === undefined ? Either.right(value) : Either.left(notJson(name, fault))
}

const notJson = (name: string, fault: string): string => `output '${name}' holds ${fault}; state holds JSON only`

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER)
