/**
 * ONNX external data: tensors whose bytes are in another file beside the `.onnx` file
 * (what `torch.onnx.export` writes for models over 2 GB, and `onnx.save(...,
 * save_as_external_data=True)`). The model's protobuf is walked just far enough to find
 * them (every TensorProto with `data_location: EXTERNAL` in the graph's initializers,
 * its nodes' tensor attributes, subgraphs and functions); each file they name is resolved
 * against the model's folder (an absolute location, or one outside that folder, is
 * refused), read and hashed like the model itself. The session gets those bytes, so what
 * runs is what was hashed, wherever the process runs from.
 */
import { createHash } from "node:crypto"
import { constants } from "node:buffer"
import { closeSync, fstatSync, openSync, readSync, realpathSync } from "node:fs"
import { basename, dirname, isAbsolute, posix, relative, resolve, sep, win32 } from "node:path"
import * as Effect from "effect/Effect"
import { ModelError } from "../../errors.js"
import type { DataFile, ModelFile, ModelRef } from "./ModelFile.js"

/** A tensor whose data is in another file, as the model names it. */
export interface ExternalReference {
  /** The tensor's name. */
  readonly tensor: string
  /** `external_data["location"]`: the file, relative to the model's folder (undefined: none given). */
  readonly location: string | undefined
  /** `external_data["offset"]` and `["length"]`, when given and numeric. */
  readonly offset: number | undefined
  readonly length: number | undefined
}

/** A protobuf field: a varint's value, or a length-delimited field's byte range. */
type Field =
  | { readonly field: number; readonly wire: 0; readonly value: number }
  | { readonly field: number; readonly wire: 2; readonly start: number; readonly end: number }

/** The fields of the message in `bytes[start, end)`; undefined when it is not a well-formed message. */
const fieldsOf = (bytes: Uint8Array, start: number, end: number): ReadonlyArray<Field> | undefined => {
  const fields: Array<Field> = []
  let at = start
  const varint = (): number | undefined => {
    let value = 0
    let scale = 1
    for (let i = 0; i < 10; i++) {
      if (at >= end) return undefined
      const byte = bytes[at++]!
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
      scale *= 0x80
    }
    return undefined
  }
  while (at < end) {
    const key = varint()
    if (key === undefined) return undefined
    const field = Math.floor(key / 8)
    const wire = key % 8
    if (wire === 0) {
      const value = varint()
      if (value === undefined) return undefined
      fields.push({ field, wire, value })
    } else if (wire === 2) {
      const length = varint()
      if (length === undefined || at + length > end) return undefined
      fields.push({ field, wire, start: at, end: at + length })
      at += length
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4
      if (at > end) return undefined
    } else {
      return undefined
    }
  }
  return fields
}

const text = new TextDecoder()

/** The message kinds walked, with the fields that lead to tensors (onnx.proto3 field numbers). */
type Kind = "model" | "graph" | "node" | "attribute" | "function" | "sparse" | "tensor" | "training"

const CHILDREN: { readonly [K in Exclude<Kind, "tensor">]: { readonly [field: number]: Kind } } = {
  // ModelProto: graph = 7, training_info = 20, functions = 25.
  model: { 7: "graph", 20: "training", 25: "function" },
  // GraphProto: node = 1, initializer = 5, sparse_initializer = 15.
  graph: { 1: "node", 5: "tensor", 15: "sparse" },
  // NodeProto: attribute = 5.
  node: { 5: "attribute" },
  // AttributeProto: t = 5, g = 6, tensors = 10, graphs = 11, sparse_tensor = 22, sparse_tensors = 23.
  attribute: { 5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse" },
  // FunctionProto: node = 7.
  function: { 7: "node" },
  // SparseTensorProto: values = 1, indices = 2.
  sparse: { 1: "tensor", 2: "tensor" },
  // TrainingInfoProto: initialization = 1, algorithm = 2.
  training: { 1: "graph", 2: "graph" }
}

/** Nesting deeper than this (subgraphs of subgraphs …) is not a model anyone exported. */
const MAX_DEPTH = 64

/** TensorProto.DataLocation EXTERNAL. */
const EXTERNAL = 1

/**
 * The tensors of the ONNX model in `bytes` stored as external data, in file order; undefined
 * when the bytes are not a well-formed ModelProto (onnxruntime then says why it cannot load
 * them).
 */
export const externalReferences = (bytes: Uint8Array): ReadonlyArray<ExternalReference> | undefined => {
  const found: Array<ExternalReference> = []
  const walk = (kind: Kind, start: number, end: number, depth: number): boolean => {
    if (depth > MAX_DEPTH) return false
    const fields = fieldsOf(bytes, start, end)
    if (fields === undefined) return false
    if (kind === "tensor") {
      // TensorProto: name = 8, external_data = 13 (StringStringEntryProto key = 1, value = 2), data_location = 14.
      let name = ""
      let external = false
      const entries = new Map<string, string>()
      for (const f of fields) {
        if (f.field === 8 && f.wire === 2) name = text.decode(bytes.subarray(f.start, f.end))
        else if (f.field === 14 && f.wire === 0) external = f.value === EXTERNAL
        else if (f.field === 13 && f.wire === 2) {
          const entry = fieldsOf(bytes, f.start, f.end)
          if (entry === undefined) return false
          let k = ""
          let v = ""
          for (const e of entry) {
            if (e.wire !== 2) continue
            if (e.field === 1) k = text.decode(bytes.subarray(e.start, e.end))
            else if (e.field === 2) v = text.decode(bytes.subarray(e.start, e.end))
          }
          entries.set(k, v)
        }
      }
      if (external) {
        const number = (key: string) => {
          const value = entries.get(key)
          return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined
        }
        found.push({ tensor: name, location: entries.get("location"), offset: number("offset"), length: number("length") })
      }
      return true
    }
    const children = CHILDREN[kind]
    for (const f of fields) {
      const child = children[f.field]
      if (child !== undefined && f.wire === 2 && !walk(child, f.start, f.end, depth + 1)) return false
    }
    return true
  }
  return walk("model", 0, bytes.length, 0) ? found : undefined
}

/** A data file larger than one buffer can hold. */
class TooLarge extends Error {
  constructor(readonly size: number) {
    super(`${size} bytes`)
  }
}

/** Reads and hashes in pieces of this size (`readFileSync` stops at 2 GiB). */
const CHUNK = 1 << 30

/** The whole file at `path`, in one buffer (up to `buffer.constants.MAX_LENGTH` bytes). */
const readWhole = (path: string): Uint8Array => {
  const fd = openSync(path, "r")
  try {
    const size = fstatSync(fd).size
    if (size > constants.MAX_LENGTH) throw new TooLarge(size)
    const bytes = Buffer.allocUnsafe(size)
    let at = 0
    while (at < size) {
      const read = readSync(fd, bytes, at, Math.min(CHUNK, size - at), at)
      if (read === 0) break
      at += read
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, at)
  } finally {
    closeSync(fd)
  }
}

/** SHA-256 of `bytes`, lowercase hex. */
const sha256Of = (bytes: Uint8Array): string => {
  const hash = createHash("sha256")
  for (let at = 0; at < bytes.byteLength; at += CHUNK) hash.update(bytes.subarray(at, at + CHUNK))
  return hash.digest("hex")
}

/** onnxruntime's location for data at a memory address: never a file. */
const MEMORY_ADDRESS_TAG = "*/_ORT_MEM_ADDR_/*"

/** The fix for a model whose external data cannot be used: keep every tensor inside the .onnx file. */
export const INLINE_FIX =
  "re-save the model with every tensor inside the .onnx file: onnx.save(onnx.load(path, load_external_data=True), path, save_as_external_data=False) (possible below 2 GB)"

/** Whether a path relative to a folder names no file inside it (the folder itself, above it, or another drive). */
const notInside = (rel: string): boolean => rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)

/**
 * Where `path` really is, when a symbolic link on the way takes it out of `folder` (a model
 * archive's `data.bin -> ~/.ssh/id_rsa` would hand that file to the model, which could
 * give its bytes back as outputs); undefined when it stays inside, or cannot be resolved
 * (a missing file is reported as such when it is read).
 */
const linkedOutside = (path: string, folder: string): string | undefined => {
  try {
    const real = realpathSync(path)
    return notInside(relative(realpathSync(folder), real)) ? real : undefined
  } catch {
    return undefined
  }
}

/** Why `location` may not be read, or undefined when it names a file inside `folder`. */
const outside = (location: string, folder: string): string | undefined => {
  if (location === MEMORY_ADDRESS_TAG) return "onnxruntime's in-memory tag, not a file"
  if (posix.isAbsolute(location) || win32.isAbsolute(location)) return "an absolute path"
  if (/^[A-Za-z]:/.test(location)) return "a path with a drive letter"
  const segments = location.split(/[\\/]/)
  if (segments.includes("..")) return "a path that leaves the model's folder ('..')"
  if (notInside(relative(folder, resolve(folder, location)))) return "not a file in the model's folder"
  return undefined
}

/**
 * `file` with the external data its tensors name (read and hashed), or a `ModelError`:
 * `invalid-model` for a tensor with no location, an absolute location or one outside the
 * model's folder, or a range past the file's end; `missing-file` for a data file that
 * cannot be read. Each file is read once, however many tensors it holds.
 */
export const attach = (ref: ModelRef, file: ModelFile): Effect.Effect<ModelFile, ModelError> =>
  Effect.gen(function*() {
    const references = externalReferences(file.bytes)
    if (references === undefined || references.length === 0) return file
    const folder = dirname(file.path)
    const files = new Map<string, DataFile>()
    for (const reference of references) {
      const invalid = (message: string, fix: string, actual?: string) =>
        new ModelError({
          ...ref,
          reason: "invalid-model",
          field: "file_uri",
          file: file.path,
          tensor: reference.tensor,
          ...(actual !== undefined ? { actual } : {}),
          message,
          fix
        })
      const location = reference.location
      if (location === undefined || location === "") {
        return yield* invalid(`the model's tensor '${reference.tensor}' is stored as external data but names no location (external_data["location"])`, INLINE_FIX)
      }
      const why = outside(location, folder)
      if (why !== undefined) {
        return yield* invalid(
          `the model's tensor '${reference.tensor}' keeps its data in '${location}', ${why}; external data is read only from files in the model's folder (${folder})`,
          `save the model with its data beside it (onnx.save(model, path, save_as_external_data=True, location="${basename(file.path)}.data") writes a relative location), or ${INLINE_FIX}`,
          location
        )
      }
      let data = files.get(location)
      if (data === undefined) {
        const path = resolve(folder, location)
        const real = linkedOutside(path, folder)
        if (real !== undefined) {
          return yield* invalid(
            `the model's tensor '${reference.tensor}' keeps its data in '${location}', a symbolic link to '${real}' outside the model's folder; external data is read only from files in the model's folder (${folder})`,
            `put the data file itself in the model's folder (not a link out of it), or ${INLINE_FIX}`,
            location
          )
        }
        const bytes = yield* Effect.try({
          try: () => readWhole(path),
          catch: (cause) => {
            const code = (cause as { readonly code?: unknown }).code
            const unread = (message: string, fix: string) =>
              new ModelError({ ...ref, reason: "missing-file", field: "file_uri", file: path, tensor: reference.tensor, actual: location, message, fix })
            const keeps = `the model's tensor '${reference.tensor}' keeps its data in '${location}', and '${path}'`
            if (cause instanceof TooLarge) {
              return unread(
                `${keeps} (${cause.size} bytes) is larger than the ${constants.MAX_LENGTH} bytes Node.js can hold in one buffer`,
                "save the model's data as one file per tensor: onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=False)"
              )
            }
            return unread(
              code === "ENOENT" || code === "ENOTDIR"
                ? `${keeps} does not exist`
                : `${keeps} cannot be read: ${cause instanceof Error ? cause.message : String(cause)}`,
              `put '${location}' (written with the model by onnx.save or torch.onnx.export) in the model's folder ${folder}, or ${INLINE_FIX}`
            )
          }
        })
        data = { location, path, bytes, sha256: sha256Of(bytes) }
        files.set(location, data)
      }
      const offset = reference.offset ?? 0
      const end = reference.length !== undefined ? offset + reference.length : offset
      if (end > data.bytes.byteLength) {
        return yield* invalid(
          `the model's tensor '${reference.tensor}' reads bytes ${offset}–${end} of '${location}', which has ${data.bytes.byteLength}`,
          `restore the '${location}' saved with the model, or ${INLINE_FIX}`,
          location
        )
      }
    }
    return { ...file, data: [...files.values()] }
  })
