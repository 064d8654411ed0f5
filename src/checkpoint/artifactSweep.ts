/**
 * Retention for the filesystem artifact store: drop the index folders of deleted runs
 * (`runs/<run>/`), then the blobs no remaining index entry refers to.
 *
 * A blob is shared by content, so another run may start referring to it while the sweep
 * runs. The sweep moves each unreferenced blob into a trash folder first, reads the
 * index again, puts back every blob an entry now refers to, and only then deletes the
 * rest. A `put` checks, after writing its entry, that its blob is still in place and
 * writes it again if not (it holds the bytes). Either the entry was written before the
 * second read (the blob is put back), or the check runs after the blob was moved away
 * (it is written again): no entry is left without its blob. A sweep that stops half-way
 * (a killed process) leaves its trash folder; the next one puts back what it holds first
 * (not while the sweep that made it still runs).
 *
 * The sweep also sets each remaining blob's content type to the one its remaining index
 * entries agree on (`relabel` in `blobFiles.ts`: a type only a deleted run wrote is gone
 * with it), by the same two reads: a write between them with another type is marked
 * again after the second, and one after it compares its type with the sidecar the sweep
 * left.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { join } from "node:path"
import type { ArtifactSweep } from "./artifactModels.js"
import { blobFileNames, type EntryTypes, linkUnlessTaken, markDisagreements, relabel } from "./blobFiles.js"

/** A blob's file name: its SHA-256 in hex. */
const BLOB = /^[0-9a-f]{64}$/
/** Any SHA-256 hex digest inside an index file. */
const DIGEST = /[0-9a-f]{64}/g
const TRASH_PREFIX = ".trash-"

/** The folders under `dir` (none when it does not exist). */
const folders = (dir: string): ReadonlyArray<string> =>
  existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name) : []

/** What the index files say: every digest they name, and the content types their entries record per blob. */
interface IndexRead {
  readonly refs: ReadonlySet<string>
  readonly types: EntryTypes
}

/** The blob digest and content type of an index file's text, when it is a readable entry. */
const entryType = (text: string): { readonly hex: string; readonly contentType: string } | undefined => {
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed === null || typeof parsed !== "object") return undefined
    const { sha256, content_type } = parsed as { readonly sha256?: unknown; readonly content_type?: unknown }
    return typeof sha256 === "string" && BLOB.test(sha256) && typeof content_type === "string" ? { hex: sha256, contentType: content_type } : undefined
  } catch {
    return undefined
  }
}

/**
 * Every digest the index files refer to, leaving out the run folders in `skip`, and the
 * content types their entries record. The files are read as text and every
 * 64-hex-digit string counts (a damaged entry or one being written keeps whatever it
 * might name), so nothing referred to is ever taken; the digests of a file that is not
 * a readable entry have an unknown type (`null`).
 */
const referenced = (root: string, skip: ReadonlySet<string>): IndexRead => {
  const refs = new Set<string>()
  const types = new Map<string, Set<string> | null>()
  const runs = join(root, "runs")
  for (const folder of folders(runs)) {
    if (skip.has(folder)) continue
    const dir = join(runs, folder)
    try {
      for (const file of readdirSync(dir)) {
        let text: string
        try {
          text = readFileSync(join(dir, file), "utf8")
        } catch (error) {
          // A writer's temporary file, renamed into place since the listing: its entry is
          // read in the next listing, or its writer finds its blob gone and writes it again.
          if (vanished(error)) continue
          throw error
        }
        for (const digest of text.match(DIGEST) ?? []) refs.add(digest)
        const entry = entryType(text)
        if (entry === undefined) {
          for (const digest of text.match(DIGEST) ?? []) types.set(digest, null)
        } else {
          const known = types.get(entry.hex)
          if (known === undefined) types.set(entry.hex, new Set([entry.contentType]))
          else known?.add(entry.contentType)
        }
      }
    } catch (error) {
      if (!vanished(error)) throw error
    }
  }
  return { refs, types }
}

/**
 * Move the blob `hex` (and its metadata files) from `from` to `to` (both shard folders); a
 * missing file is skipped, and one already at `to` is kept (a write that made the blob
 * again meanwhile: the same bytes, and a sidecar that write compared its type with).
 */
const move = (from: string, to: string, hex: string): void => {
  for (const name of blobFileNames(hex)) {
    const source = join(from, name)
    const target = join(to, name)
    if (!existsSync(source)) continue
    linkUnlessTaken(source, target)
    rmSync(source, { force: true })
  }
}

/** A trash folder's name: the host and process of its sweep, so another sweep can tell whether it still runs. */
const trashName = (): string => `${TRASH_PREFIX}${encodeURIComponent(hostname())}-${process.pid}-${randomUUID().slice(0, 8)}`

/** How old a trash folder of another host must be before a sweep takes it for abandoned (a sweep takes seconds). */
const FOREIGN_TRASH_AGE_MS = 10 * 60_000

/**
 * Whether the sweep that made trash folder `name` (in `dir`) is gone: a process of this
 * host that no longer exists, or, for another host's, a folder older than
 * {@link FOREIGN_TRASH_AGE_MS}. A running sweep's trash is left alone.
 */
const abandoned = (dir: string, name: string): boolean => {
  const m = /^\.trash-(.+)-(\d+)-[0-9a-f]{8}$/.exec(name)
  if (m === null || decodeURIComponent(m[1]!) !== hostname()) return Date.now() - statSync(join(dir, name)).mtimeMs > FOREIGN_TRASH_AGE_MS
  const pid = Number(m[2])
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    // EPERM: the process exists (another user's).
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

/** Put back what a sweep that stopped half-way left in its trash folder, where no blob took its place. */
const recoverTrash = (blobs: string): void => {
  for (const trash of folders(blobs).filter((f) => f.startsWith(TRASH_PREFIX) && abandoned(blobs, f))) {
    const dir = join(blobs, trash)
    for (const name of readdirSync(dir)) {
      if (!BLOB.test(name)) continue
      const shard = join(blobs, name.slice(0, 2))
      mkdirSync(shard, { recursive: true })
      if (!existsSync(join(shard, name))) move(dir, shard, name)
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

/** What else a sweep keeps or drops besides the index (see {@link sweep}). */
export interface SweepOptions {
  readonly dryRun?: boolean | undefined
  /** Digests (hex) the caller knows are still referred to (a remaining run's checkpoints): kept whatever the index says. */
  readonly keep?: ReadonlySet<string> | undefined
  /**
   * Run folders to keep: with it, every other folder under `runs/` untouched for a minute is
   * dropped too (the index of runs no longer in the store's one database, e.g. left by a
   * prune killed after its commit). Only for a store that belongs to one database.
   */
  readonly known?: ((runFolder: string) => boolean) | undefined
  /** Runs between the first read of the index and relabeling the blobs' content types (tests write meanwhile). */
  readonly afterRead?: (() => void) | undefined
  /** Runs between moving the unreferenced blobs away and reading the index again (tests write meanwhile). */
  readonly afterMove?: (() => void) | undefined
}

/**
 * How long an index folder of a run the database does not have must have been left alone
 * before it counts as left over: a run created after the caller read its run ids writes its
 * first entry (making its folder) only after that, so its folder is always newer.
 */
const ORPHAN_AGE_MS = 60_000

/** Whether `path` was last changed more than `ms` ago (false when it is gone). */
const untouchedFor = (path: string, ms: number): boolean => {
  try {
    return Date.now() - statSync(path).mtimeMs > ms
  } catch {
    return false
  }
}

/** Whether `error` says a file or folder is not there (any more): a writer renamed or removed it meanwhile. */
const vanished = (error: unknown): boolean => {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return code === "ENOENT" || code === "ENOTDIR"
}

/**
 * Drop the index folders `runFolders` under `root` (and, with `known`, those of runs the
 * database no longer has), then the blobs nothing else refers to (see the module comment).
 * With `dryRun`, count them and change nothing. Throws what the file system throws (the
 * caller reports it), after putting back the blobs it had moved aside.
 */
export const sweep = (root: string, runFolders: ReadonlyArray<string>, options: SweepOptions = {}): ArtifactSweep => {
  const runs = join(root, "runs")
  const blobs = join(root, "blobs")
  const known = options.known
  const dropped = new Set([
    ...runFolders.filter((folder) => existsSync(join(runs, folder))),
    ...(known === undefined ? [] : folders(runs).filter((folder) => !known(folder) && untouchedFor(join(runs, folder), ORPHAN_AGE_MS)))
  ])
  let entries = 0
  for (const folder of dropped) entries += readdirSync(join(runs, folder)).filter((f) => f.endsWith(".json")).length
  if (options.dryRun !== true) {
    recoverTrash(blobs)
    for (const folder of dropped) rmSync(join(runs, folder), { recursive: true, force: true })
  }
  const keep = options.keep ?? new Set<string>()
  const { refs, types } = referenced(root, dropped)
  const unreferenced: Array<{ readonly shard: string; readonly hex: string; readonly size: number }> = []
  for (const shard of folders(blobs)) {
    if (shard.startsWith(TRASH_PREFIX)) continue
    for (const name of readdirSync(join(blobs, shard))) {
      if (!BLOB.test(name) || refs.has(name) || keep.has(name)) continue
      try {
        unreferenced.push({ shard, hex: name, size: statSync(join(blobs, shard, name)).size })
      } catch (error) {
        if (!vanished(error)) throw error
      }
    }
  }
  if (options.dryRun === true) {
    return { entries, blobs: unreferenced.length, bytes: unreferenced.reduce((n, b) => n + b.size, 0) }
  }
  options.afterRead?.()
  // Each remaining blob gets the content type its remaining entries agree on (see blobFiles.ts).
  const relabeled = relabel(blobs, types)
  if (unreferenced.length === 0) {
    // A write between the two reads whose type differs is marked again.
    if (relabeled) markDisagreements(blobs, referenced(root, new Set()).types)
    return { entries, blobs: 0, bytes: 0 }
  }
  const trash = join(blobs, trashName())
  mkdirSync(trash)
  try {
    for (const b of unreferenced) move(join(blobs, b.shard), trash, b.hex)
    options.afterMove?.()
    // Entries written since the first read keep their blobs.
    const now = referenced(root, new Set())
    let count = 0
    let bytes = 0
    for (const b of unreferenced) {
      if (now.refs.has(b.hex)) move(trash, join(blobs, b.shard), b.hex)
      else {
        count++
        bytes += b.size
      }
    }
    if (relabeled || count < unreferenced.length) markDisagreements(blobs, now.types)
    rmSync(trash, { recursive: true, force: true })
    return { entries, blobs: count, bytes }
  } catch (error) {
    // Nothing moved aside stays there: every blob goes back where no other took its place.
    for (const b of unreferenced) {
      try {
        if (!existsSync(join(blobs, b.shard, b.hex))) move(trash, join(blobs, b.shard), b.hex)
      } catch {
        // the next sweep puts back what is left (its trash is abandoned once this process ends)
      }
    }
    rmSync(trash, { recursive: true, force: true })
    throw error
  }
}
