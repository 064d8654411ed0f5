/**
 * Which artifacts a run refers to, and which of them its artifact store does not hold:
 * the store lives beside the database (`<db>.artifacts/`), not in it, so a database
 * copied or restored without that folder still names artifacts whose bytes are elsewhere.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { ArtifactStoreError } from "../errors.js"
import { ARTIFACT_ID, type ArtifactEntry, type ArtifactStoreShape } from "./artifactModels.js"
import type { Checkpoint } from "./models.js"

/** An artifact a run refers to that its store does not hold. */
export const MissingArtifact = Schema.Struct({
  artifact_id: Schema.String,
  /** The first step that referred to it. */
  step: Schema.Int,
  /** The node that wrote it, or whose output or call named it. */
  node: Schema.String,
  /** Its name, when the reference or the index entry gives one. */
  name: Schema.NullOr(Schema.String)
}).annotations({ identifier: "MissingArtifact" })
/** An artifact a run refers to that its store does not hold. */
export type MissingArtifact = typeof MissingArtifact.Type

/** What the run's records say about its artifacts, and which of them the store lacks. */
export interface ArtifactCheck {
  /** Referred to by the run (its checkpoints' writes and recorded calls, its index entries) but not in the store. */
  readonly missing: ReadonlyArray<MissingArtifact>
  /**
   * Stored by the run's own `write_artifact` nodes (their recorded `artifact.write`
   * calls) but not in the run's index, though the store holds the bytes: the index
   * (`runs/<run id>/`) was not copied with the blobs. Empty for a fork, whose replayed
   * writes are its parent's.
   */
  readonly unindexed: ReadonlyArray<MissingArtifact>
  /** Where the store was looked in (`ArtifactStoreShape.location`), when it says. */
  readonly location: string | undefined
}

/** Every `artifact_id` (a `sha256:` id) anywhere inside `value`. */
const idsIn = (value: unknown, found: (id: string, name: string | null) => void, depth = 0): void => {
  if (depth > 64 || value === null || typeof value !== "object") return
  if (Array.isArray(value)) {
    for (const item of value) idsIn(item, found, depth + 1)
    return
  }
  const record = value as Record<string, unknown>
  const id = record["artifact_id"]
  if (typeof id === "string" && ARTIFACT_ID.test(id)) found(id, typeof record["name"] === "string" ? record["name"] : null)
  for (const key of Object.keys(record)) idsIn(record[key], found, depth + 1)
}

/** The artifacts a run refers to, each once, where first: its index entries, then what its steps wrote or their calls answered. */
export const referencedArtifacts = (
  checkpoints: ReadonlyArray<Checkpoint>,
  entries: ReadonlyArray<ArtifactEntry> = []
): ReadonlyArray<MissingArtifact> => {
  const refs = new Map<string, MissingArtifact>()
  for (const e of entries) if (!refs.has(e.artifact_id)) refs.set(e.artifact_id, { artifact_id: e.artifact_id, step: e.step, node: e.node, name: e.name })
  for (const cp of checkpoints) {
    for (const w of cp.writes) idsIn(w.update, (id, name) => void (refs.has(id) || refs.set(id, { artifact_id: id, step: cp.step, node: w.node, name })))
    for (const c of cp.calls ?? []) idsIn(c.response, (id, name) => void (refs.has(id) || refs.set(id, { artifact_id: id, step: cp.step, node: c.node, name })))
  }
  return [...refs.values()]
}

/** The artifacts the run's own `artifact.write` calls stored (answered, not failed or given up) that `entries` does not list. */
export const unindexedArtifacts = (checkpoints: ReadonlyArray<Checkpoint>, entries: ReadonlyArray<ArtifactEntry>): ReadonlyArray<MissingArtifact> => {
  const key = (step: number, node: string, name: string) => `${step}\u0000${node}\u0000${name}`
  const indexed = new Set(entries.map((e) => key(e.step, e.node, e.name)))
  const out: Array<MissingArtifact> = []
  for (const cp of checkpoints) {
    for (const c of cp.calls ?? []) {
      if (c.name !== "artifact.write" || c.error !== undefined || c.abandoned !== undefined) continue
      const ref = c.response as { readonly artifact_id?: unknown; readonly name?: unknown } | null
      if (ref === null || typeof ref !== "object" || typeof ref.artifact_id !== "string" || typeof ref.name !== "string") continue
      if (!indexed.has(key(cp.step, c.node, ref.name))) out.push({ artifact_id: ref.artifact_id, step: cp.step, node: c.node, name: ref.name })
    }
  }
  return out
}

/**
 * The artifacts the run refers to that `store` does not hold, where it looked, and (for
 * a run that is not a fork: `fork` false) those its own writes stored that its index
 * does not list while the store holds their bytes.
 */
export const checkArtifacts = (
  store: ArtifactStoreShape,
  checkpoints: ReadonlyArray<Checkpoint>,
  entries: ReadonlyArray<ArtifactEntry>,
  fork = false
): Effect.Effect<ArtifactCheck, ArtifactStoreError> =>
  Effect.map(
    Effect.filter(referencedArtifacts(checkpoints, entries), (ref) =>
      Effect.map(store.has !== undefined ? store.has(ref.artifact_id) : Effect.map(store.get(ref.artifact_id), Option.isSome), (held) => !held)),
    (missing) => {
      const lacking = new Set(missing.map((m) => m.artifact_id))
      const unindexed = fork ? [] : unindexedArtifacts(checkpoints, entries).filter((u) => !lacking.has(u.artifact_id))
      return { missing, unindexed, location: store.location }
    }
  )

/**
 * One sentence for an operator: how many artifacts are missing (their ids), where the
 * store was looked in, the likely cause and the fix. Undefined when none is missing.
 */
export const missingMessage = (runId: string, check: ArtifactCheck): string | undefined => {
  const where = check.location === undefined ? "the artifact store" : `the artifact store ${check.location}`
  const target = check.location ?? "this database's <db>.artifacts/"
  const parts: Array<string> = []
  if (check.missing.length > 0) {
    const ids = check.missing.map((m) => m.artifact_id).join(", ")
    parts.push(
      `${check.missing.length} artifact${check.missing.length === 1 ? "" : "s"} that run ${runId} refers to ${check.missing.length === 1 ? "is" : "are"} missing from ${where}: ${ids}. ` +
        "The store is a folder beside the database (<db>.artifacts/, or $STARGRAPH_ARTIFACTS_DIR), not inside it: " +
        `if this database was copied or restored, copy the original database's <db>.artifacts/ folder to ${target}`
    )
  }
  if (check.unindexed.length > 0) {
    const ids = check.unindexed.map((m) => `${m.name ?? m.artifact_id} (step ${m.step})`).join(", ")
    parts.push(
      `${check.unindexed.length} artifact${check.unindexed.length === 1 ? "" : "s"} that run ${runId} stored ${check.unindexed.length === 1 ? "is" : "are"} not in its index in ${where}, though the bytes are there: ${ids}. ` +
        `The run's index is the folder runs/${encodeURIComponent(runId)}/ of the store: copy it from the original database's <db>.artifacts/ folder to ${target} (copy the whole folder, blobs/ and runs/)`
    )
  }
  return parts.length === 0 ? undefined : parts.join(" ")
}
