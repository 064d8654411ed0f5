/**
 * A model file as an `ml` node names it: where `file_uri` points (a `file://` URI or a
 * path relative to the graph's folder), its bytes and their SHA-256, checked against
 * `expected_sha256` before anything parses them. Pickles are refused by name and by
 * content: there is no safe pickle loader in Node.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { extname, isAbsolute, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import { ModelError, ModelIntegrityError } from "../../errors.js"

/** Which node and model a file belongs to (for errors). */
export interface ModelRef {
  readonly nodeId: string
  readonly modelId: string
}

/** A model file read and hashed. */
export interface ModelFile {
  /** Absolute path. */
  readonly path: string
  readonly bytes: Uint8Array
  /** SHA-256 of the bytes, lowercase hex. */
  readonly sha256: string
  /** The external data files an ONNX model's tensors name (`externalData.ts`), each once; empty for most models. */
  readonly data: ReadonlyArray<DataFile>
}

/** An ONNX external data file, read and hashed: part of the model. */
export interface DataFile {
  /** The location as the model names it (relative to the model's folder). */
  readonly location: string
  /** Absolute path. */
  readonly path: string
  readonly bytes: Uint8Array
  /** SHA-256 of the bytes, lowercase hex. */
  readonly sha256: string
}

/**
 * What identifies the model's content: the file's SHA-256, then each external data
 * file's location and SHA-256 (a model without external data: its file's digest alone).
 */
export const contentKey = (file: ModelFile): string =>
  [file.sha256, ...file.data.map((d) => `${d.location}=${d.sha256}`)].join("\n")

/** The fix for every pickle: export to ONNX. */
export const PICKLE_FIX = "export the model to ONNX (skl2onnx: to_onnx(model, X[:1])) and use runtime: onnx"

const PICKLE_EXTENSIONS: ReadonlySet<string> = new Set([".pkl", ".pickle", ".joblib", ".sav"])

/** `expected_sha256` as lowercase hex (a `sha256:` prefix is allowed). */
export const normalizeSha256 = (value: string): string => value.trim().replace(/^sha256:/i, "").toLowerCase()

/** Whether `value` is a SHA-256 digest (64 hex digits, optionally `sha256:`-prefixed). */
export const isSha256 = (value: string): boolean => /^[0-9a-f]{64}$/.test(normalizeSha256(value))

/** The absolute path `file_uri` names, relative paths against `baseDir`. */
export const resolvePath = (ref: ModelRef, fileUri: string, baseDir: string): Effect.Effect<string, ModelError> => {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(fileUri)?.[1]
  if (scheme === undefined) return Effect.succeed(isAbsolute(fileUri) ? fileUri : resolve(baseDir, fileUri))
  if (scheme.toLowerCase() !== "file") {
    return Effect.fail(new ModelError({
      ...ref,
      reason: "unsupported-uri",
      field: "file_uri",
      message: `file_uri '${fileUri}' uses the ${scheme}:// scheme; only local files are read`,
      fix: "download the model and set file_uri to a file:// URI or a path relative to the graph file"
    }))
  }
  return Effect.try({
    try: () => fileURLToPath(fileUri),
    catch: (cause) =>
      new ModelError({
        ...ref,
        reason: "unsupported-uri",
        field: "file_uri",
        message: `file_uri '${fileUri}' is not a valid file:// URI: ${cause instanceof Error ? cause.message : String(cause)}`,
        fix: "write file:///absolute/path/model.onnx, or a path relative to the graph file"
      })
  })
}

/** Refuse a pickle by its file name (before reading it). */
export const refusePickleName = (ref: ModelRef, path: string): Effect.Effect<void, ModelError> =>
  PICKLE_EXTENSIONS.has(extname(path).toLowerCase())
    ? Effect.fail(new ModelError({
      ...ref,
      reason: "pickle-refused",
      field: "file_uri",
      file: path,
      message: `'${path}' is a Python pickle; pickles run arbitrary code when loaded and are never loaded`,
      fix: PICKLE_FIX
    }))
    : Effect.void

/** A pickle stream starts with the PROTO opcode (0x80) and a protocol number 2–5. */
const looksLikePickle = (bytes: Uint8Array): boolean => bytes.length > 2 && bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5

/**
 * Read the file and hash its bytes; a pinned `expected` digest must match (before the
 * bytes go anywhere), and pickle bytes are refused whatever the file is called.
 */
export const read = (ref: ModelRef, path: string, expected: string | undefined): Effect.Effect<ModelFile, ModelError | ModelIntegrityError> =>
  Effect.gen(function*() {
    yield* refusePickleName(ref, path)
    const bytes = yield* Effect.try({
      try: () => readFileSync(path),
      catch: (cause) => {
        const code = (cause as { readonly code?: unknown }).code
        return new ModelError({
          ...ref,
          reason: "missing-file",
          field: "file_uri",
          file: path,
          message: code === "ENOENT" || code === "ENOTDIR"
            ? `model file '${path}' does not exist`
            : `model file '${path}' cannot be read: ${cause instanceof Error ? cause.message : String(cause)}`,
          fix: "set file_uri to the model file (a file:// URI, or a path relative to the graph file)"
        })
      }
    })
    const sha256 = createHash("sha256").update(bytes).digest("hex")
    if (expected !== undefined && normalizeSha256(expected) !== sha256) {
      return yield* new ModelIntegrityError({
        ...ref,
        file: path,
        expectedSha256: normalizeSha256(expected),
        actualSha256: sha256,
        message: `model file '${path}' does not have the pinned SHA-256; it was not loaded`,
        fix: "restore the model file the graph was written for, or (if the new file is trusted) set expected_sha256 to its digest"
      })
    }
    if (looksLikePickle(bytes)) {
      return yield* new ModelError({
        ...ref,
        reason: "pickle-refused",
        field: "file_uri",
        file: path,
        message: `'${path}' holds a Python pickle; pickles run arbitrary code when loaded and are never loaded`,
        fix: PICKLE_FIX
      })
    }
    return { path, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), sha256, data: [] }
  })
