/** An in-memory artifact store (tests, and apps that run on `MemoryCheckpointer`): gone with the process. */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ArtifactBlob, ArtifactEntry, ArtifactStoreShape } from "./artifactModels.js"

/** A fresh, empty in-memory store. */
export const make = (): ArtifactStoreShape => {
  const blobs = new Map<string, ArtifactBlob>()
  const runs = new Map<string, Map<string, ArtifactEntry>>()
  return {
    put: (write) =>
      Effect.sync(() => {
        const hex = createHash("sha256").update(write.bytes).digest("hex")
        const id = `sha256:${hex}`
        if (!blobs.has(id)) blobs.set(id, { artifact_id: id, sha256: hex, size: write.bytes.byteLength, content_type: write.content_type, bytes: write.bytes.slice() })
        const entries = runs.get(write.run_id) ?? new Map<string, ArtifactEntry>()
        runs.set(write.run_id, entries)
        const key = JSON.stringify([write.step, write.node, write.name])
        const known = entries.get(key)
        if (known !== undefined && known.artifact_id === id && known.content_type === write.content_type && JSON.stringify(known.metadata) === JSON.stringify(write.metadata)) return known
        const entry: ArtifactEntry = {
          artifact_id: id,
          run_id: write.run_id,
          step: write.step,
          node: write.node,
          name: write.name,
          content_type: write.content_type,
          size: write.bytes.byteLength,
          sha256: hex,
          metadata: write.metadata,
          created_at: new Date().toISOString()
        }
        entries.set(key, entry)
        return entry
      }),
    list: (runId) =>
      Effect.sync(() =>
        [...(runs.get(runId)?.values() ?? [])].sort((a, b) => a.step - b.step || (a.node < b.node ? -1 : a.node > b.node ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      ),
    get: (artifactId) => Effect.sync(() => Option.fromNullable(blobs.get(artifactId)))
  }
}
