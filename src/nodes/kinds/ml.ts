/**
 * `ml` (the spec's `MLNode`): scores a state field with a classical-ML model and writes
 * the prediction to another. `runtime: onnx` runs the model on `onnxruntime-node` (an
 * optional peer dependency, imported when such a node is built); `runtime: xgboost`
 * evaluates an XGBoost JSON model in TypeScript; sklearn pickles are refused (export them
 * to ONNX). Written in the original's form (`config: {model_id, …}`) or flat on the node.
 *
 * When the graph is built the model file is read, its SHA-256 checked against
 * `expected_sha256` (when pinned) before anything parses it, and the digest folded into
 * the graph hash, so a changed model file is a changed graph; an ONNX model's external
 * data files (`externalData.ts`) are read and hashed with it. Every inference goes
 * through the step's cassette (`ml.<model_id>`, the request holds the model digest and
 * the input): replays and forks get the recorded outputs back, bit for bit, without
 * running the model.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { ModelError } from "../../errors.js"
import { canonicalPlainJson } from "../../ir/hash.js"
import type { State } from "../../ir/stateSchema.js"
import type { CallOptions } from "../calls.js"
import type { NodeInput, NodeOutcome } from "../Executor.js"
import * as ExternalData from "../ml/externalData.js"
import * as ModelFile from "../ml/ModelFile.js"
import * as OnnxRuntime from "../ml/OnnxRuntime.js"
import type { RawOutput } from "../ml/onnxWorker.js"
import { OUTPUT_TYPES, prepare, toJson } from "../ml/tensors.js"
import * as XGBoost from "../ml/XGBoost.js"
import * as NodeKind from "../NodeKind.js"

const FieldMap = Schema.Record({ key: Schema.String, value: Schema.String })
const Execution = Schema.Literal("auto", "inline", "worker")

/** The options besides the required four, in both forms. */
const options = {
  /** SHA-256 the model file must have (hex, `sha256:` prefix allowed). */
  /** A number only to say to quote it: YAML reads an all-digit digest as a number. */
  expected_sha256: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Number))),
  /** State field read as the model input (default `x`, as the original). */
  input_field: Schema.optional(Schema.String),
  /** State field the prediction is written to (default `y`). */
  output_field: Schema.optional(Schema.String),
  /** The original's opt-in to unpickling; accepted, but pickles are never loaded. */
  allow_unsafe_pickle: Schema.optional(Schema.Boolean),
  /** ONNX: the model output written to output_field (default: the first output). */
  output: Schema.optional(Schema.String),
  /** ONNX: more outputs, state field → model output name. */
  outputs: Schema.optional(FieldMap),
  /** ONNX: where inference runs (default auto). */
  execution: Schema.optional(Execution)
}

const required = {
  model_id: Schema.String,
  version: Schema.String,
  runtime: Schema.String,
  /** A `file://` URI or a path relative to the graph file (`null`: none given). */
  file_uri: Schema.NullOr(Schema.String)
}

/** The node's settings as the original writes them, under `config`. */
const MlConfig = Schema.Struct({ ...required, ...options })

/** The node's settings, whichever form they were written in. */
type MlSpec = typeof MlConfig.Type

const REQUIRED = ["model_id", "version", "runtime", "file_uri"] as const
const FLAT = [...REQUIRED, ...Object.keys(options)]

type Decoded = NodeKind.NodeOf<typeof fields>

/** The settings, from `config` or from the node itself. */
const specOf = (node: Decoded): MlSpec => (node.config ?? node) as MlSpec

const fields = {
  model_id: Schema.optional(Schema.String),
  version: Schema.optional(Schema.String),
  runtime: Schema.optional(Schema.String),
  file_uri: Schema.optional(Schema.NullOr(Schema.String)),
  ...options,
  config: Schema.optional(MlConfig)
}

/** What JSON an output tensor of `type` becomes in state: a string, a boolean or a number (each, or nested arrays of them). */
const jsonOf = (type: string): "string" | "boolean" | "number" => (type === "string" ? "string" : type === "bool" ? "boolean" : "number")

/**
 * A problem when `field`, declared `declared`, can never hold a prediction of `kind`
 * (one sample gives a value, a batch a list: a list field may hold either, as `any` does).
 */
const cannotHold = (kind: "string" | "boolean" | "number", field: string, declared: string | undefined, what: string, path: ReadonlyArray<PropertyKey>): NodeKind.NodeProblem | undefined => {
  if (declared === undefined || declared === "any" || declared === "array") return undefined
  if (declared === kind || (kind === "number" && declared === "integer")) return undefined
  return {
    path,
    message: `${what} ${kind === "number" ? "numbers" : `${kind}s`}, which state field '${field}' (declared ${declared}) cannot hold`,
    fix: `declare '${field}' as ${kind === "number" ? "a number" : `a ${kind}`} (or a list, for batches), or write the prediction to another field`
  }
}

/** The `ml` kind. */
export const MlKind = NodeKind.make({
  name: "ml",
  summary: "Scores input_field with an ONNX (onnxruntime-node) or XGBoost JSON model pinned by SHA-256 and writes the prediction to output_field; recorded for replay.",
  fields,
  check: (node, ctx) => {
    const flat = FLAT.filter((k) => (node as Record<string, unknown>)[k] !== undefined)
    if (node.config !== undefined && flat.length > 0) {
      return { path: [flat[0]!], message: "the ml node is configured twice (on the node and under config)", fix: "keep one form: every setting under config (the original's), or every setting on the node" }
    }
    const spec = specOf(node)
    const at = (field: string): ReadonlyArray<PropertyKey> => (node.config !== undefined ? ["config", field] : [field])
    for (const key of REQUIRED) {
      if ((spec as unknown as Record<string, unknown>)[key] === undefined) {
        return { path: at(key), message: `an ml node needs ${key}`, fix: `add ${key}: … (model_id, version, runtime and file_uri are required)` }
      }
    }
    if (spec.file_uri === null || spec.file_uri.trim() === "") {
      return { path: at("file_uri"), message: "file_uri is empty; this runtime has no model registry to look the model up in", fix: "set file_uri to the model file: a file:// URI or a path relative to the graph file" }
    }
    if (typeof spec.expected_sha256 === "number") {
      return { path: at("expected_sha256"), message: "expected_sha256 was read as a number (YAML reads a digest of only digits as one, losing digits)", fix: "quote it: expected_sha256: \"<the 64 hex digits>\"" }
    }
    if (spec.expected_sha256 !== undefined && spec.expected_sha256 !== null && !ModelFile.isSha256(spec.expected_sha256)) {
      return { path: at("expected_sha256"), message: `expected_sha256 '${spec.expected_sha256}' is not a SHA-256 digest`, fix: "write the 64 hex digits `sha256sum model.onnx` prints (a sha256: prefix is allowed)" }
    }
    const input = spec.input_field ?? "x"
    if (!ctx.fields.has(input)) {
      return { path: at("input_field"), message: `input_field '${input}' is not a declared state field${spec.input_field === undefined ? " (the default)" : ""}`, fix: `set input_field to one of: ${ctx.declared}` }
    }
    const output = spec.output_field ?? "y"
    if (!ctx.fields.has(output)) {
      return { path: at("output_field"), message: `output_field '${output}' is not a declared state field${spec.output_field === undefined ? " (the default)" : ""}`, fix: `set output_field to one of: ${ctx.declared}` }
    }
    for (const field of Object.keys(spec.outputs ?? {})) {
      if (!ctx.fields.has(field)) {
        return { path: [...at("outputs"), field], message: `outputs writes undeclared state field '${field}'`, fix: `declare it, or write to one of: ${ctx.declared}` }
      }
    }
    if (spec.runtime === "xgboost") {
      const onnxOnly = (["output", "outputs", "execution"] as const).find((k) => spec[k] !== undefined)
      if (onnxOnly !== undefined) {
        return { path: at(onnxOnly), message: `${onnxOnly} applies to runtime: onnx; an XGBoost model has one output`, fix: `remove ${onnxOnly}` }
      }
      // An XGBoost model predicts numbers. (An ONNX model's output types are checked once it is loaded.)
      return cannotHold("number", output, ctx.fields.get(output)?.type, "an XGBoost model predicts", at("output_field"))
    }
    return undefined
  },
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const spec = specOf(node)
      const ref = { nodeId: node.id, modelId: spec.model_id }
      const inputField = spec.input_field ?? "x"
      const outputField = spec.output_field ?? "y"
      if (spec.runtime === "sklearn") {
        return yield* new ModelError({
          ...ref,
          reason: "pickle-refused",
          field: "runtime",
          message: "runtime: sklearn loads a pickle, which runs arbitrary code; there is no safe pickle loader in Node" +
            (spec.allow_unsafe_pickle === true ? " (allow_unsafe_pickle does not change this)" : ""),
          fix: ModelFile.PICKLE_FIX
        })
      }
      if (spec.runtime !== "onnx" && spec.runtime !== "xgboost") {
        return yield* new ModelError({
          ...ref,
          reason: "unsupported-runtime",
          field: "runtime",
          message: `runtime '${spec.runtime}' is not one of onnx, xgboost`,
          fix: "set runtime: onnx (export the model to ONNX: torch.onnx.export, skl2onnx, onnxmltools) or runtime: xgboost (save_model(\"model.json\"))"
        })
      }
      const path = yield* ModelFile.resolvePath(ref, spec.file_uri ?? "", ctx.baseDir)
      const read = yield* ModelFile.read(ref, path, typeof spec.expected_sha256 === "string" ? spec.expected_sha256 : undefined)
      // An ONNX model's external data files are part of the model: read and hashed with it.
      const file = spec.runtime === "onnx" ? yield* ExternalData.attach(ref, read) : read
      const hashes: Record<string, string> = { model: `sha256:${file.sha256}` }
      for (const data of file.data) hashes[`model_data:${data.location}`] = `sha256:${data.sha256}`
      // The request names the external data files' digests too (by location), when there are any.
      const data = file.data.length === 0 ? undefined : Object.fromEntries(file.data.map((d) => [d.location, d.sha256]))
      const callName = `ml.${spec.model_id}`
      // The request's canonical text around its input (keys in order: data, input, sha256, version).
      const head = data === undefined ? `{"input":` : `{"data":${canonicalPlainJson(data)},"input":`
      const tail = `,"sha256":${canonicalPlainJson(file.sha256)},"version":${canonicalPlainJson(spec.version)}}`
      /** The call's request for an input. */
      const requestOf = (value: unknown) =>
        data === undefined ? { version: spec.version, sha256: file.sha256, input: value } : { version: spec.version, sha256: file.sha256, data, input: value }
      /** With the request's canonical text for a numeric input (built only when the recorder hashes it). */
      const optionsOf = (value: unknown): CallOptions =>
        // The response is built from the model's outputs by `recorded`, which refuses what is not JSON.
        ({ canonical: () => (numeric(value, 0) ? `${head}${JSON.stringify(value)}${tail}` : undefined), jsonResponse: true })
      /** The call for `input`. */
      const callOf = <A, E, R>(input: NodeInput, value: unknown, live: Effect.Effect<A, E, R>) => input.calls.callEffect(callName, requestOf(value), live, optionsOf(value))
      const invalidInput = (step: number, problem: { readonly expected: string; readonly actual: string; readonly message: string }, tensor: string | undefined) =>
        new ModelError({
          ...ref,
          reason: "invalid-input",
          field: "input_field",
          step,
          ...(tensor !== undefined ? { tensor } : {}),
          expected: problem.expected,
          actual: problem.actual,
          message: `state field '${inputField}': ${problem.message}`,
          fix: `write ${inputField} as the model expects: ${problem.expected}`
        })
      const unset = (step: number) =>
        new ModelError({
          ...ref,
          reason: "invalid-input",
          field: "input_field",
          step,
          actual: "no value",
          message: `state field '${inputField}' has no value to score`,
          fix: `set ${inputField} before this node runs (in the run's inputs, or from an earlier node)`
        })
      const failed = (step: number, message: string) =>
        new ModelError({ ...ref, reason: "inference-failed", file: path, step, message, fix: "check the model and the input it was given" })

      if (spec.runtime === "xgboost") {
        const model = XGBoost.load(new TextDecoder().decode(file.bytes))
        if (Either.isLeft(model)) {
          return yield* new ModelError({
            ...ref,
            reason: "invalid-model",
            field: "file_uri",
            file: path,
            message: `'${path}' is not an XGBoost model this node can evaluate: ${model.left}`,
            fix: "save the model as JSON with booster.save_model(\"model.json\") (the .ubj and legacy binary formats are not read), or export it to ONNX"
          })
        }
        const xgb = model.right
        return {
          hashes,
          execute: (state, input) => {
            const value = state[inputField]
            if (value === undefined) return Effect.fail(unset(input.step))
            const rows = xgbRows(value, xgb.numFeature)
            if (Either.isLeft(rows)) return Effect.fail(invalidInput(input.step, rows.left, undefined))
            const live = Effect.suspend(() => {
              const prediction = rows.right.single ? xgb.predictRow(rows.right.rows[0]!) : rows.right.rows.map((row) => xgb.predictRow(row))
              const bad = firstNonFinite(prediction)
              return bad === undefined
                ? Effect.succeed(prediction)
                : Effect.fail(failed(input.step, `the prediction holds ${bad} (the ${xgb.objective} transform overflowed); state holds JSON only`))
            })
            return Effect.map(callOf(input, value, live), (prediction): NodeOutcome => ({ _tag: "Update", update: { [outputField]: prediction } }))
          }
        }
      }

      const model = yield* OnnxRuntime.model(ref, file)
      const names = model.outputs.map((o) => o.name)
      const pick = (name: string, field: string) => {
        const meta = model.outputs.find((o) => o.name === name)
        const invalid = (message: string, fix: string) =>
          Effect.fail(new ModelError({ ...ref, reason: "invalid-model", field, file: path, tensor: name, message, fix }))
        if (meta === undefined) {
          return invalid(`the model has no output '${name}' (its outputs: ${names.join(", ")})`, `name one of the model's outputs: ${names.join(", ")}`)
        }
        if (!meta.isTensor) {
          return invalid(
            `the model's output '${name}' is not a tensor (a map or sequence, e.g. skl2onnx's ZipMap)`,
            "export the classifier with zipmap=False (skl2onnx: options={id(model): {'zipmap': False}}), or pick another output"
          )
        }
        if (!OUTPUT_TYPES.has(meta.type)) {
          return invalid(`the model's output '${name}' is of type ${meta.type}, which state cannot hold`, "export the model with a float32, float64, float16, integer, boolean or string output, or pick another output")
        }
        return Effect.succeed(name)
      }
      const main = yield* pick(spec.output ?? names[0] ?? "", "output")
      const extra = yield* Effect.forEach(Object.entries(spec.outputs ?? {}), ([field, name]) => Effect.map(pick(name, `outputs.${field}`), (n) => [field, n] as const))
      // Each output's element type against the field it is written to.
      const at = (field: string): ReadonlyArray<PropertyKey> => (node.config !== undefined ? ["config", field] : [field])
      for (const [field, name, path] of [[outputField, main, at("output_field")] as const, ...extra.map(([f, n]) => [f, n, [...at("outputs"), f]] as const)]) {
        const meta = model.outputs.find((o) => o.name === name)
        const type = meta !== undefined && meta.isTensor ? meta.type : ""
        const problem = cannotHold(jsonOf(type), field, ctx.fields.get(field)?.type, `the model's output '${name}' (${type}) gives`, path)
        if (problem !== undefined) return yield* ctx.invalid(problem.path, problem.message, problem.fix)
      }
      // What the node fetches, each once, and which state fields each one fills.
      const fetches = [...new Set([main, ...extra.map(([, n]) => n)])]
      const targets: ReadonlyArray<readonly [string, string]> = [[outputField, main], ...extra]
      /** The node's outcome: the fetched outputs written to their state fields. */
      const updateOf = (response: State): NodeOutcome => {
        const update: Record<string, unknown> = {}
        for (const [field, name] of targets) update[field] = response[name]
        return { _tag: "Update", update }
      }
      const execution = spec.execution ?? "auto"
      return {
        hashes,
        execute: (state, input) => {
          const value = state[inputField]
          if (value === undefined) return Effect.fail(unset(input.step))
          const prepared = prepare(model.input, value)
          if (Either.isLeft(prepared)) return Effect.fail(invalidInput(input.step, prepared.left, model.input.name))
          const { single } = prepared.right
          const handle: OnnxRuntime.RunHandler<State, ModelError> = {
            done: (raw) => recorded(raw, fetches, single, input.step, failed),
            failed: (message) => failed(input.step, `onnxruntime failed: ${message}`)
          }
          const callNow = input.calls.callNow
          if (callNow !== undefined && model.runsNow(prepared.right.rows, execution)) {
            // An inference on this thread gives its outcome at once: recorded without stepping through Effects.
            return Effect.suspend(() => {
              const outcome = callNow(callName, requestOf(value), () => exitOf(model.runNow(prepared.right, fetches, handle)), optionsOf(value))
              return mapNow(outcome, updateOf)
            })
          }
          return Effect.map(callOf(input, value, model.run(prepared.right, fetches, execution, handle)), updateOf)
        }
      }
    })
})

/**
 * Whether `value` is a number or (nested) array of finite numbers, whose `JSON.stringify`
 * text is its canonical JSON (RFC 8785 writes numbers as JavaScript does).
 */
const numeric = (value: unknown, depth: number): boolean => {
  if (typeof value === "number") return Number.isFinite(value)
  if (!Array.isArray(value) || depth > 8) return false
  for (let i = 0; i < value.length; i++) if (!numeric(value[i], depth + 1)) return false
  return true
}

/** `Effect.map`, applied at once to an outcome already known (an Exit: what a call made now gives). */
const mapNow = <A, E, B>(effect: Effect.Effect<A, E>, f: (a: A) => B): Effect.Effect<B, E> =>
  // An Effect that is an Exit has the Exit's own type parameters.
  Exit.isExit(effect) ? Exit.map(effect as Exit.Exit<A, E>, f) : Effect.map(effect, f)

/** An inference's outcome as an Exit. */
const exitOf = <A, E>(outcome: Either.Either<A, E> | undefined): Exit.Exit<A, E> =>
  outcome === undefined ? Exit.die(new Error("the model was to run on this thread, and did not")) : Either.isRight(outcome) ? Exit.succeed(outcome.right) : Exit.fail(outcome.left)

/** The outputs as the cassette records them: output name → JSON value. */
const recorded = (
  raw: ReadonlyArray<RawOutput>,
  fetches: ReadonlyArray<string>,
  single: boolean,
  step: number,
  failed: (step: number, message: string) => ModelError
): Either.Either<State, ModelError> => {
  const response: Record<string, unknown> = {}
  for (let i = 0; i < fetches.length; i++) {
    const out = raw[i]!
    const json = toJson(fetches[i]!, out.type, out.dims, out.data, single)
    if (Either.isLeft(json)) return Either.left(failed(step, json.left))
    response[fetches[i]!] = json.right
  }
  return Either.right(response)
}

/** The first number in a prediction that is not finite (not JSON), if any. */
const firstNonFinite = (prediction: number | ReadonlyArray<unknown>): number | undefined => {
  if (typeof prediction === "number") return Number.isFinite(prediction) ? undefined : prediction
  for (const p of prediction) {
    const bad = firstNonFinite(p as number | ReadonlyArray<unknown>)
    if (bad !== undefined) return bad
  }
  return undefined
}

/** An XGBoost input: one row of numFeature numbers (null = missing), or a batch of rows. */
const xgbRows = (
  value: unknown,
  numFeature: number
): Either.Either<{ readonly rows: ReadonlyArray<ReadonlyArray<number | null>>; readonly single: boolean }, { readonly expected: string; readonly actual: string; readonly message: string }> => {
  const expected = `float [N, ${numFeature}] (null = missing)`
  const single = Array.isArray(value) && (value.length === 0 || !Array.isArray(value[0]))
  const rows = single ? [value as ReadonlyArray<unknown>] : Array.isArray(value) ? (value as ReadonlyArray<unknown>) : undefined
  if (rows === undefined) {
    return Either.left({ expected, actual: value === null ? "null" : typeof value, message: `the model expects a feature vector of ${numFeature} numbers or a batch of them; got ${value === null ? "null" : `a ${typeof value}`}` })
  }
  for (const [r, row] of rows.entries()) {
    const at = single ? "" : `row [${r}]: `
    if (!Array.isArray(row)) return Either.left({ expected, actual: `${typeof row} at [${r}]`, message: `${at}expected a vector of ${numFeature} numbers, got a ${row === null ? "null" : typeof row}` })
    if (row.length !== numFeature) return Either.left({ expected, actual: `a vector of ${row.length}`, message: `${at}the model has ${numFeature} features; got a vector of ${row.length}` })
    const bad = row.findIndex((x) => x !== null && typeof x !== "number")
    if (bad !== -1) return Either.left({ expected, actual: `${typeof row[bad]} at [${bad}]`, message: `${at}element [${bad}] is ${JSON.stringify(row[bad])}, not a number (or null for a missing value)` })
  }
  return Either.right({ rows: rows as ReadonlyArray<ReadonlyArray<number | null>>, single })
}
