/**
 * The filesystem artifact store. Under its root folder:
 *
 *   blobs/<hex[0..2]>/<hex>        the bytes, written once (temp file, fsync, rename)
 *   blobs/<hex[0..2]>/<hex>.json   {content_type, size, created_at} of the first write
 *                                  (retention sets the type the remaining entries agree on)
 *   blobs/<hex[0..2]>/<hex>.mixed.json  there when entries record different content types
 *   runs/<run id>/<key>.json       one index entry per (step, node, name)
 *
 * Every file is written to a temporary name and renamed into place, so a reader never
 * sees half a file and a crash leaves at most a stray temporary file. `deleteRuns`
 * (retention, `stargraph prune`) is in `artifactSweep.ts`; it moves blobs through a
 * `blobs/.trash-*` folder while it runs.
 */
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, resolve } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { ArtifactStoreError } from "../errors.js"
import { sweep } from "./artifactSweep.js"
import { readMeta, recordType, servedType, writeAtomic } from "./blobFiles.js"
import { ARTIFACT_ID, ArtifactEntry, type ArtifactStoreShape, type ArtifactWrite, entryOf, sameEntry } from "./artifactModels.js"

const decodeEntry = Schema.decodeUnknownEither(Schema.parseJson(ArtifactEntry))

/** A run id as one folder name (run ids are `run-<uuid>`/`cf-<uuid>`; anything else is escaped). */
const runFolder = (runId: string): string => {
  const safe = encodeURIComponent(runId)
  return safe === "." || safe === ".." ? `%2E${safe.slice(1)}` : safe
}

/** The run id a folder under runs/ stands for ({@link runFolder} undone). */
const runIdOf = (folder: string): string => {
  try {
    return decodeURIComponent(folder)
  } catch {
    return folder
  }
}

/** The index file name of `(step, node, name)`. */
const entryFile = (step: number, node: string, name: string): string =>
  `${String(step).padStart(6, "0")}-${createHash("sha256").update(`${step}\u0000${node}\u0000${name}`).digest("hex").slice(0, 32)}.json`

const storageFailure = (path: string, cause: unknown, runId?: string) =>
  new ArtifactStoreError({
    reason: "storage-failure",
    path,
    ...(runId !== undefined ? { runId } : {}),
    message: `cannot use ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
    fix: "check that the artifact folder exists, is writable and has free space (set STARGRAPH_ARTIFACTS_DIR to move it)"
  })

/** A filesystem store rooted at `root` (created on the first write; a relative root is taken from the current folder). */
export const make = (root: string): ArtifactStoreShape => {
  const blobPath = (hex: string) => join(root, "blobs", hex.slice(0, 2), hex)
  const runPath = (runId: string) => join(root, "runs", runFolder(runId))

  const put: ArtifactStoreShape["put"] = (write: ArtifactWrite) =>
    Effect.suspend(() => {
      const entry = entryOf(write)
      const hex = entry.sha256
      const blob = blobPath(hex)
      const createdAt = new Date().toISOString()
      const entryPath = join(runPath(write.run_id), entryFile(write.step, write.node, write.name))
      let at = blob
      /**
       * The blob and its sidecar, each written unless there, and the blob marked as written
       * with different types when the sidecar records another (see blobFiles.ts).
       */
      const storeBlob = () => {
        at = blob
        if (!existsSync(blob)) {
          mkdirSync(join(root, "blobs", hex.slice(0, 2)), { recursive: true })
          writeAtomic(blob, write.bytes)
        }
        at = `${blob}.json`
        recordType(blob, write.content_type, entry.size, createdAt)
      }
      try {
        storeBlob()
        at = entryPath
        if (existsSync(entryPath)) {
          const known = decodeEntry(readFileSync(entryPath, "utf8"))
          if (Either.isRight(known) && sameEntry(known.right, entry)) return Effect.succeed(known.right)
        }
        mkdirSync(runPath(write.run_id), { recursive: true })
        const written: ArtifactEntry = { ...entry, created_at: createdAt }
        writeAtomic(entryPath, JSON.stringify(written))
        // A sweep (deleteRuns) may have moved the blob away before this entry was there to keep it.
        storeBlob()
        return Effect.succeed(written)
      } catch (cause) {
        return Effect.fail(storageFailure(at, cause, write.run_id))
      }
    })

  const list: ArtifactStoreShape["list"] = (runId) =>
    Effect.suspend(() => {
      const folder = runPath(runId)
      let files: Array<string>
      try {
        if (!existsSync(folder)) return Effect.succeed([])
        files = readdirSync(folder).filter((f) => f.endsWith(".json"))
      } catch (cause) {
        return Effect.fail(storageFailure(folder, cause, runId))
      }
      const entries: Array<ArtifactEntry> = []
      for (const file of files) {
        const path = join(folder, file)
        let text: string
        try {
          text = readFileSync(path, "utf8")
        } catch (cause) {
          return Effect.fail(storageFailure(path, cause, runId))
        }
        const decoded = decodeEntry(text)
        if (Either.isLeft(decoded)) {
          return Effect.fail(new ArtifactStoreError({ reason: "corrupt-index", runId, path, message: `the index entry ${path} is not an artifact entry`, fix: "restore it from a backup or delete it (the blob stays)" }))
        }
        entries.push(decoded.right)
      }
      return Effect.succeed(entries.sort((a, b) => a.step - b.step || (a.node < b.node ? -1 : a.node > b.node ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
    })

  const get: ArtifactStoreShape["get"] = (artifactId) =>
    Effect.suspend(() => {
      if (!ARTIFACT_ID.test(artifactId)) return Effect.succeed(Option.none())
      const hex = artifactId.slice("sha256:".length)
      const blob = blobPath(hex)
      try {
        if (!existsSync(blob)) return Effect.succeed(Option.none())
        const bytes = readFileSync(blob)
        // Content-addressed: bytes that do not hash to their id are damaged, never served as the artifact.
        if (createHash("sha256").update(bytes).digest("hex") !== hex) {
          return Effect.fail(new ArtifactStoreError({
            reason: "corrupt-blob",
            path: blob,
            message: `the stored bytes of ${artifactId} (${bytes.byteLength} bytes at ${blob}) do not hash to it: the file is damaged (an interrupted copy, a full disk)`,
            fix: "restore that file from a backup or from the store the database was copied from"
          }))
        }
        return Effect.succeed(Option.some({ artifact_id: artifactId, sha256: hex, size: bytes.byteLength, content_type: servedType(blob), bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) }))
      } catch (cause) {
        return Effect.fail(storageFailure(blob, cause))
      }
    })

  const has: ArtifactStoreShape["has"] = (artifactId) =>
    Effect.suspend(() => {
      if (!ARTIFACT_ID.test(artifactId)) return Effect.succeed(false)
      const blob = blobPath(artifactId.slice("sha256:".length))
      try {
        if (!existsSync(blob)) return Effect.succeed(false)
        // A file shorter or longer than it was written (its metadata says) is not the artifact.
        const meta = readMeta(blob)
        return Effect.succeed(meta === undefined || meta.size === statSync(blob).size)
      } catch (cause) {
        return Effect.fail(storageFailure(blob, cause))
      }
    })

  const contentType: ArtifactStoreShape["contentType"] = (artifactId) =>
    Effect.suspend(() => {
      if (!ARTIFACT_ID.test(artifactId)) return Effect.succeed(Option.none())
      const blob = blobPath(artifactId.slice("sha256:".length))
      try {
        return Effect.succeed(existsSync(blob) ? Option.some(servedType(blob)) : Option.none())
      } catch (cause) {
        return Effect.fail(storageFailure(blob, cause))
      }
    })

  const deleteRuns: ArtifactStoreShape["deleteRuns"] = (runIds, options) =>
    Effect.try({
      try: () => {
        const remaining = options?.remaining
        return sweep(root, runIds.map(runFolder), {
          dryRun: options?.dryRun,
          keep: new Set([...(options?.keep ?? [])].map((id) => id.slice("sha256:".length))),
          known: remaining === undefined ? undefined : (folder) => remaining.has(runIdOf(folder))
        })
      },
      catch: (cause) =>
        new ArtifactStoreError({
          reason: "storage-failure",
          path: resolve(root),
          message: `cannot clean up the artifacts of ${runIds.length} deleted run${runIds.length === 1 ? "" : "s"} in ${resolve(root)}: ${cause instanceof Error ? cause.message : String(cause)}`,
          fix: "check that this process may write the artifact folder; what is left only takes space: the runs/<run id>/ folders of the deleted runs (safe to delete by hand) and blobs nothing refers to (the next prune deletes them)"
        })
    })

  return { put, list, get, has, contentType, deleteRuns, location: resolve(root) }
}
