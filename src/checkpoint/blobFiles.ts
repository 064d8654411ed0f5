/**
 * The files of one blob in the filesystem artifact store, beside its bytes
 * (`blobs/<hex[0..2]>/<hex>`), and how they are written:
 *
 *   <hex>.json        {content_type, size, created_at}: made once, by the first write
 *   <hex>.mixed.json  there when the index entries that refer to the blob record
 *                     different content types (the blob is then served as
 *                     `application/octet-stream`)
 *
 * A write only ever adds `.mixed.json` (never removes it), so two writes of the same
 * bytes with different types cannot undo each other. Retention (`artifactSweep.ts`), which
 * reads every index entry, sets `<hex>.json` to the one type the remaining entries agree
 * on and removes `.mixed.json` (see {@link relabel}).
 */
import { randomUUID } from "node:crypto"
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs"
import { join } from "node:path"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { MIXED_CONTENT_TYPE } from "./artifactModels.js"

/** A blob's sidecar: the first write's content type, the size and when it was written. */
const BlobMeta = Schema.parseJson(Schema.Struct({ content_type: Schema.String, size: Schema.Int, created_at: Schema.String }))
/** A blob's sidecar. */
export type BlobMeta = Schema.Schema.Type<typeof BlobMeta>
const decodeMeta = Schema.decodeUnknownEither(BlobMeta)

/** The sidecar of the blob at `blob`. */
export const metaPath = (blob: string): string => `${blob}.json`
/** The marker that the entries referring to the blob at `blob` record different content types. */
export const mixedPath = (blob: string): string => `${blob}.mixed.json`
/** The names of the files of blob `hex` in its shard folder (the bytes first). */
export const blobFileNames = (hex: string): ReadonlyArray<string> => [hex, `${hex}.json`, `${hex}.mixed.json`]

/** A temporary name beside `path`, for this process. */
const tempOf = (path: string): string => `${path}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`

/** Write `data` to a new temporary file beside `path`, flushed to disk; its name. */
const writeTemp = (path: string, data: Uint8Array | string): string => {
  const temp = tempOf(path)
  const fd = openSync(temp, "wx")
  try {
    const buffer = typeof data === "string" ? Buffer.from(data, "utf8") : data
    let at = 0
    while (at < buffer.byteLength) at += writeSync(fd, buffer, at, buffer.byteLength - at)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return temp
}

/** Write `data` to `path` atomically and durably: a temp file, fsync, rename (replacing what is there). */
export const writeAtomic = (path: string, data: Uint8Array | string): void => {
  const temp = writeTemp(path, data)
  try {
    renameSync(temp, path)
  } catch (error) {
    rmSync(temp, { force: true })
    throw error
  }
}

/**
 * Give the file at `source` the name `target` too, unless a file already has that name (a
 * hard link never replaces one; rename would). A file system without hard links falls back
 * to rename when the name is free. `source` stays: the caller removes it.
 */
export const linkUnlessTaken = (source: string, target: string): void => {
  try {
    linkSync(source, target)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "EEXIST") return
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw error
    if (!existsSync(target)) renameSync(source, target)
  }
}

/**
 * Write `data` to `path` atomically unless a file is there: of two writers at once, exactly
 * one file wins and neither replaces the other's (a hard link fails when the name is taken).
 * A file system without hard links falls back to rename when the name is free.
 */
export const writeOnce = (path: string, data: string): void => {
  if (existsSync(path)) return
  const temp = writeTemp(path, data)
  try {
    linkUnlessTaken(temp, path)
  } finally {
    rmSync(temp, { force: true })
  }
}

/** The sidecar of the blob at `blob`, if it is there and readable as one. */
export const readMeta = (blob: string): BlobMeta | undefined => {
  const at = metaPath(blob)
  if (!existsSync(at)) return undefined
  const decoded = decodeMeta(readFileSync(at, "utf8"))
  return Either.isRight(decoded) ? decoded.right : undefined
}

/**
 * After a write of the blob at `blob` with `contentType`, whose index entry is written:
 * the sidecar made if missing, and, when it records another type (or cannot be read), the
 * blob marked as written with different types.
 */
export const recordType = (blob: string, contentType: string, size: number, createdAt: string): void => {
  writeOnce(metaPath(blob), JSON.stringify({ content_type: contentType, size, created_at: createdAt }))
  if (readMeta(blob)?.content_type !== contentType) markMixed(blob)
}

/** Mark the blob at `blob` as referred to with different content types (idempotent). */
export const markMixed = (blob: string): void => {
  if (!existsSync(mixedPath(blob))) writeAtomic(mixedPath(blob), JSON.stringify({ content_types_differ: true }))
}

/**
 * The content type to serve the blob at `blob` with: the one its writers agree on,
 * `application/octet-stream` when they disagree or the sidecar is missing or damaged.
 */
export const servedType = (blob: string): string => {
  if (existsSync(mixedPath(blob))) return MIXED_CONTENT_TYPE
  return readMeta(blob)?.content_type ?? MIXED_CONTENT_TYPE
}

/**
 * The content types the index entries referring to each blob record (hex digest → types),
 * or `null` for a blob some index file refers to that is not a readable entry (its type is
 * unknown).
 */
export type EntryTypes = ReadonlyMap<string, ReadonlySet<string> | null>

/**
 * Retention's part (a sweep, after reading every remaining index entry into `types`): each
 * blob in `blobs` (the store's `blobs/` folder) that its entries agree on one type for
 * gets that type in its sidecar and loses its `.mixed.json`; one they disagree on is
 * marked. Blobs no readable entry refers to are left as they are. Whether it removed any
 * marker: then the caller reads the index again and calls {@link markDisagreements}, so a
 * write that came meanwhile is not served with the wrong type.
 */
export const relabel = (blobs: string, types: EntryTypes): boolean => {
  let removed = false
  for (const [hex, set] of types) {
    if (set === null) continue
    const blob = join(blobs, hex.slice(0, 2), hex)
    if (!existsSync(blob)) continue
    if (set.size > 1) {
      markMixed(blob)
      continue
    }
    const [only] = set
    if (only === undefined) continue
    const meta = readMeta(blob)
    if (meta !== undefined && meta.content_type !== only) writeAtomic(metaPath(blob), JSON.stringify({ ...meta, content_type: only }))
    if (meta !== undefined && existsSync(mixedPath(blob))) {
      rmSync(mixedPath(blob), { force: true })
      removed = true
    }
  }
  return removed
}

/**
 * After {@link relabel} and a second read of the index (`types`): every blob whose entries
 * now disagree, with each other or with its sidecar, marked again (an entry written
 * between the two reads; a file that is not a readable entry yet, a writer's temporary
 * file, is checked by its writer after it is renamed into place).
 */
export const markDisagreements = (blobs: string, types: EntryTypes): void => {
  for (const [hex, set] of types) {
    const blob = join(blobs, hex.slice(0, 2), hex)
    if (!existsSync(blob)) continue
    const recorded = readMeta(blob)?.content_type
    if (set !== null && (set.size > 1 || [...set].some((t) => t !== recorded))) markMixed(blob)
  }
}
