/**
 * What the artifact store holds: content-addressed blobs (`sha256:<hex>` ids, written
 * once however many runs write the same bytes) and an index of which run, step and node
 * wrote which blob under which name, with its content type and metadata.
 */
import { createHash } from "node:crypto"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { ArtifactStoreError } from "../errors.js"

/** A blob's id: `sha256:` and the hex SHA-256 of its bytes. */
export const ARTIFACT_ID = /^sha256:[0-9a-f]{64}$/

/** One index entry: a blob a run's node wrote at a step, under a name. */
export const ArtifactEntry = Schema.Struct({
  /** `sha256:<hex>` of the bytes. */
  artifact_id: Schema.String,
  run_id: Schema.String,
  step: Schema.Int,
  node: Schema.String,
  name: Schema.String,
  content_type: Schema.String,
  /** Bytes. */
  size: Schema.Int,
  /** Hex SHA-256 of the bytes. */
  sha256: Schema.String,
  metadata: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** When the entry was first written (ISO 8601). */
  created_at: Schema.String
}).annotations({ identifier: "ArtifactEntry" })
/** One index entry. */
export type ArtifactEntry = typeof ArtifactEntry.Type

/**
 * What a `write_artifact` node writes to its `output_field` (and records in its cassette).
 * Its fields include the original Stargraph's `ArtifactRef` (`content_hash`, `run_id`,
 * `step`, `created_at`), so rules and templates written for it read the same names.
 */
export const ArtifactRef = Schema.Struct({
  artifact_id: Schema.String,
  sha256: Schema.String,
  /** The full digest, as the original names it: the hex SHA-256 here (`sha256`). */
  content_hash: Schema.String,
  size: Schema.Int,
  name: Schema.String,
  content_type: Schema.String,
  /** The run and step whose node wrote it (a replay answers with the recorded reference: the recorded run's). */
  run_id: Schema.String,
  step: Schema.Int,
  /** When it was first written (ISO 8601). */
  created_at: Schema.String
}).annotations({ identifier: "ArtifactRef" })
/** What a `write_artifact` node writes to state. */
export type ArtifactRef = typeof ArtifactRef.Type

/** A write: the bytes and where they come from. */
export interface ArtifactWrite {
  readonly run_id: string
  readonly step: number
  readonly node: string
  readonly name: string
  readonly content_type: string
  readonly metadata: { readonly [key: string]: unknown }
  readonly bytes: Uint8Array
}

/** The index entry a write makes, but its creation time: its content address, size and the write's fields. */
export const entryOf = (write: ArtifactWrite): Omit<ArtifactEntry, "created_at"> => {
  const hex = createHash("sha256").update(write.bytes).digest("hex")
  return {
    artifact_id: `sha256:${hex}`,
    run_id: write.run_id,
    step: write.step,
    node: write.node,
    name: write.name,
    content_type: write.content_type,
    size: write.bytes.byteLength,
    sha256: hex,
    metadata: write.metadata
  }
}

/** Whether a stored entry records the same write (so writing it again, e.g. in a replay, changes nothing). */
export const sameEntry = (a: ArtifactEntry, b: Omit<ArtifactEntry, "created_at">): boolean =>
  a.artifact_id === b.artifact_id && a.content_type === b.content_type && a.node === b.node && a.name === b.name &&
  a.step === b.step && JSON.stringify(a.metadata) === JSON.stringify(b.metadata)

/** The content type of a blob whose index entries record different ones. */
export const MIXED_CONTENT_TYPE = "application/octet-stream"

/**
 * A blob as read back. One blob may be written by several entries with different content
 * types (the same bytes as `text/plain` in one run, `application/json` in another):
 * `content_type` is the one its index entries agree on, `application/octet-stream` when
 * they disagree (never one writer's type served for another's entry).
 */
export interface ArtifactBlob {
  readonly artifact_id: string
  readonly sha256: string
  readonly size: number
  /** The content type the blob's entries agree on, else `application/octet-stream`. */
  readonly content_type: string
  readonly bytes: Uint8Array
}

/** The operations of an artifact store. */
export interface ArtifactStoreShape {
  /**
   * Store the bytes (once per content) and index them under `(run_id, step, node, name)`.
   * Idempotent: writing the same again changes nothing and returns the first entry;
   * other bytes under the same key replace the entry (a step re-run after a crash).
   */
  readonly put: (write: ArtifactWrite) => Effect.Effect<ArtifactEntry, ArtifactStoreError>
  /** A run's entries, by step, node and name (none for an unknown run). */
  readonly list: (runId: string) => Effect.Effect<ReadonlyArray<ArtifactEntry>, ArtifactStoreError>
  /**
   * The blob with this id, if stored, with the content type its index entries agree on
   * (`application/octet-stream` when they disagree; once retention deleted the runs that
   * disagreed, the remaining entries' type).
   */
  readonly get: (artifactId: string) => Effect.Effect<Option.Option<ArtifactBlob>, ArtifactStoreError>
  /** Whether the blob with this id is stored, without reading it (a store without it is asked `get`). */
  readonly has?: ((artifactId: string) => Effect.Effect<boolean, ArtifactStoreError>) | undefined
  /**
   * The content type `get` would give the blob, without reading its bytes (none when it is
   * not stored): how the server answers a client's revalidation (304) without reading and
   * hashing the bytes. Optional: a store without it is asked `get`.
   */
  readonly contentType?: ((artifactId: string) => Effect.Effect<Option.Option<string>, ArtifactStoreError>) | undefined
  /** Where the store keeps its data, for messages (the filesystem store: its folder, absolute). */
  readonly location?: string | undefined
  /**
   * Retention (`stargraph prune`): drop the index entries of these runs (deleted from
   * their database), then the blobs that no remaining entry refers to. Safe while other
   * runs write: a blob a concurrent `put` refers to is kept or written again. With
   * `dryRun`, count without deleting. A store without it keeps everything.
   */
  readonly deleteRuns?: ((runIds: ReadonlyArray<string>, options?: DeleteRunsOptions) => Effect.Effect<ArtifactSweep, ArtifactStoreError>) | undefined
}

/** How {@link ArtifactStoreShape.deleteRuns} decides what else stays or goes. */
export interface DeleteRunsOptions {
  /** Count, delete nothing. */
  readonly dryRun?: boolean | undefined
  /** Artifact ids (`sha256:<hex>`) remaining runs refer to in their records: kept whatever the index says. */
  readonly keep?: ReadonlySet<string> | undefined
  /**
   * The run ids the store's one database still has: entries of any other run are dropped
   * too (left by a prune that stopped after its commit). Only when the store belongs to
   * that database alone (not a `$STARGRAPH_ARTIFACTS_DIR` several share).
   */
  readonly remaining?: ReadonlySet<string> | undefined
}

/** What {@link ArtifactStoreShape.deleteRuns} deleted (or, dry, would delete). */
export interface ArtifactSweep {
  /** Index entries of the deleted runs. */
  readonly entries: number
  /** Blobs no remaining entry refers to, and their size in bytes. */
  readonly blobs: number
  readonly bytes: number
}

/** The reference to an entry. */
export const refOf = (entry: ArtifactEntry): ArtifactRef => ({
  artifact_id: entry.artifact_id,
  sha256: entry.sha256,
  content_hash: entry.sha256,
  size: entry.size,
  name: entry.name,
  content_type: entry.content_type,
  run_id: entry.run_id,
  step: entry.step,
  created_at: entry.created_at
})

/** Longest artifact name, in characters (Unicode code points, not UTF-16 code units or bytes). */
export const MAX_NAME = 255

/** A UTF-16 surrogate without its pair: text with one has no UTF-8 form. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** The characters that make a name display other than it is (bidirectional formatting), by code point. */
const BIDI: ReadonlyMap<number, string> = new Map([
  [0x061c, "ARABIC LETTER MARK"],
  [0x200e, "LEFT-TO-RIGHT MARK"],
  [0x200f, "RIGHT-TO-LEFT MARK"],
  [0x202a, "LEFT-TO-RIGHT EMBEDDING"],
  [0x202b, "RIGHT-TO-LEFT EMBEDDING"],
  [0x202c, "POP DIRECTIONAL FORMATTING"],
  [0x202d, "LEFT-TO-RIGHT OVERRIDE"],
  [0x202e, "RIGHT-TO-LEFT OVERRIDE"],
  [0x2066, "LEFT-TO-RIGHT ISOLATE"],
  [0x2067, "RIGHT-TO-LEFT ISOLATE"],
  [0x2068, "FIRST STRONG ISOLATE"],
  [0x2069, "POP DIRECTIONAL ISOLATE"]
])

/** `U+XXXX`. */
const codePoint = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, "0")}`

/** What a code point a name may not hold is (control, bidirectional formatting, line separator), or undefined. */
const refusedCharacter = (c: number): string | undefined => {
  if (c < 0x20 || c === 0x7f) return "a control character"
  if (c >= 0x80 && c <= 0x9f) return "a C1 control character"
  if (c === 0x2028) return "a line separator"
  if (c === 0x2029) return "a paragraph separator"
  const bidi = BIDI.get(c)
  return bidi === undefined ? undefined : `the bidirectional formatting character ${bidi}, which makes a name display other than it is`
}

/** What is wrong with an artifact name, and the fix. */
export interface NameProblem {
  readonly problem: string
  readonly fix: string
}

/**
 * What is wrong with an artifact name, if anything (the one check, for static names when
 * a graph is built and for names made from state when the node runs). A name is one file
 * name: not empty, at most {@link MAX_NAME} characters (code points), no `/` or `\`, no
 * `..`, not `.`, no control character (C0 U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F),
 * no bidirectional formatting character (U+061C, U+200E, U+200F, U+202A–U+202E,
 * U+2066–U+2069: they make a name display other than it is), no line or paragraph
 * separator (U+2028, U+2029) and no lone UTF-16 surrogate. There is no byte limit: names
 * are never used as file names on disk (the filesystem store names index files by a hash).
 */
export const nameProblem = (name: string): NameProblem | undefined => {
  const one = "give one file name such as report.md"
  if (name.length === 0) return { problem: "the name is empty", fix: one }
  const lone = name.search(LONE_SURROGATE)
  if (lone >= 0) {
    return {
      problem: `the name holds a lone UTF-16 surrogate ${codePoint(name.charCodeAt(lone))} (at index ${lone}), which has no UTF-8 form`,
      fix: "write well-formed text (a string cut in the middle of a character pair, e.g. by slice, is the usual cause)"
    }
  }
  const chars = [...name]
  if (chars.length > MAX_NAME) return { problem: `the name is ${chars.length} characters long, longer than ${MAX_NAME}`, fix: `shorten it to at most ${MAX_NAME} characters` }
  // Characters first: the messages below quote the name.
  for (const [at, char] of chars.entries()) {
    const c = char.codePointAt(0)!
    const kind = refusedCharacter(c)
    if (kind !== undefined) {
      return { problem: `the name holds ${codePoint(c)}, ${kind} (character ${at + 1} of ${chars.length})`, fix: `remove ${codePoint(c)} from the name (no control, bidirectional formatting or line separator characters)` }
    }
  }
  if (/[/\\]/.test(name)) return { problem: `'${name}' holds a path separator`, fix: `${one}, without '/' or '\\'` }
  if (name.includes("..")) return { problem: `'${name}' holds '..'`, fix: `${one}, without '..'` }
  if (name === ".") return { problem: "'.' is not a name", fix: one }
  return undefined
}

/** Content types: `type/subtype` with optional parameters (`text/plain; charset=utf-8`). */
export const CONTENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[^"\r\n]*"|[A-Za-z0-9!#$&^_.+-]+))*$/
