/** An in-memory artifact store (tests, and apps that run on `MemoryCheckpointer`): gone with the process. */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type ArtifactBlob, type ArtifactEntry, type ArtifactStoreShape, entryOf, MIXED_CONTENT_TYPE, sameEntry } from "./artifactModels.js"

/** A fresh, empty in-memory store. */
export const make = (): ArtifactStoreShape => {
  const blobs = new Map<string, ArtifactBlob>()
  const runs = new Map<string, Map<string, ArtifactEntry>>()
  /** The type a blob's entries agree on; octet-stream when they disagree (see ArtifactBlob); `stored` when none has one. */
  const servedType = (artifactId: string, stored: string): string => {
    const types = new Set<string>()
    for (const entries of runs.values()) for (const e of entries.values()) if (e.artifact_id === artifactId) types.add(e.content_type)
    const [only] = types
    return types.size > 1 ? MIXED_CONTENT_TYPE : only ?? stored
  }
  return {
    put: (write) =>
      Effect.sync(() => {
        const made = entryOf(write)
        const id = made.artifact_id
        if (!blobs.has(id)) blobs.set(id, { artifact_id: id, sha256: made.sha256, size: made.size, content_type: write.content_type, bytes: write.bytes.slice() })
        const entries = runs.get(write.run_id) ?? new Map<string, ArtifactEntry>()
        runs.set(write.run_id, entries)
        const key = JSON.stringify([write.step, write.node, write.name])
        const known = entries.get(key)
        if (known !== undefined && sameEntry(known, made)) return known
        const entry: ArtifactEntry = { ...made, created_at: new Date().toISOString() }
        entries.set(key, entry)
        return entry
      }),
    list: (runId) =>
      Effect.sync(() =>
        [...(runs.get(runId)?.values() ?? [])].sort((a, b) => a.step - b.step || (a.node < b.node ? -1 : a.node > b.node ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      ),
    get: (artifactId) =>
      Effect.sync(() =>
        Option.map(Option.fromNullable(blobs.get(artifactId)), (blob) => ({ ...blob, content_type: servedType(artifactId, blob.content_type) }))
      ),
    has: (artifactId) => Effect.sync(() => blobs.has(artifactId)),
    contentType: (artifactId) => Effect.sync(() => Option.map(Option.fromNullable(blobs.get(artifactId)), (blob) => servedType(artifactId, blob.content_type))),
    deleteRuns: (runIds, options) =>
      Effect.sync(() => {
        const remaining = options?.remaining
        const dropped = [...new Set([...runIds, ...(remaining === undefined ? [] : [...runs.keys()].filter((id) => !remaining.has(id)))])].filter((id) => runs.has(id))
        const entries = dropped.reduce((n, id) => n + runs.get(id)!.size, 0)
        const kept = new Set<string>(options?.keep ?? [])
        const gone = new Set(dropped)
        for (const [id, list] of runs) if (!gone.has(id)) for (const e of list.values()) kept.add(e.artifact_id)
        const unreferenced = [...blobs.values()].filter((b) => !kept.has(b.artifact_id))
        if (options?.dryRun !== true) {
          for (const id of dropped) runs.delete(id)
          for (const b of unreferenced) blobs.delete(b.artifact_id)
        }
        return { entries, blobs: unreferenced.length, bytes: unreferenced.reduce((n, b) => n + b.size, 0) }
      }),
    location: "memory"
  }
}
