/**
 * The artifact store (filesystem and memory) and the `write_artifact` kind: blobs written
 * once by content, an idempotent per-run index, runs through SQLite replayed and forked
 * without writing twice, bad names and content refused, and the CLI (`run` on the
 * example graph, `inspect`, `replay`) using the store beside the database.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join, relative } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import * as ArtifactStore from "../../src/checkpoint/ArtifactStore.js"
import { type ArtifactStoreShape, nameProblem } from "../../src/checkpoint/artifactModels.js"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import { sweep } from "../../src/checkpoint/artifactSweep.js"
import * as FilesystemArtifactStore from "../../src/checkpoint/FilesystemArtifactStore.js"
import * as MemoryArtifactStore from "../../src/checkpoint/MemoryArtifactStore.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { ArtifactStoreError, IRValidationError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { canonicalJson } from "../../src/ir/hash.js"
import * as Replay from "../../src/replay/Replay.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const bytes = (text: string) => new TextEncoder().encode(text)

/** A process id no process of this machine has. */
const deadPid = (): number => {
  for (let pid = 4_000_000; ; pid--) {
    try {
      process.kill(pid, 0)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") return pid
    }
  }
}
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

/** Every file under `dir`, relative, sorted. */
const filesUnder = (dir: string): ReadonlyArray<string> => {
  if (!existsSync(dir)) return []
  const out: Array<string> = []
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(d, entry.name))
      else out.push(relative(dir, join(d, entry.name)))
    }
  }
  walk(dir)
  return out.sort()
}
const blobs = (root: string) => filesUnder(root).filter((f) => f.startsWith("blobs/") && !f.endsWith(".json"))
const entries = (root: string) => filesUnder(root).filter((f) => f.startsWith("runs/"))

const write = (run_id: string, content: string, extra: Partial<{ step: number; node: string; name: string; content_type: string; metadata: Record<string, unknown> }> = {}) => ({
  run_id,
  step: extra.step ?? 1,
  node: extra.node ?? "store",
  name: extra.name ?? "report.md",
  content_type: extra.content_type ?? "text/markdown",
  metadata: extra.metadata ?? {},
  bytes: bytes(content)
})

describe.each([
  ["filesystem", () => FilesystemArtifactStore.make(join(tempDir(), "artifacts"))],
  ["memory", () => MemoryArtifactStore.make()]
] as const)("the %s artifact store", (_name, makeStore: () => ArtifactStoreShape) => {
  it("stores content by its SHA-256 and reads it back with its content type", async () => {
    const store = makeStore()
    const entry = await run(store.put(write("run-a", "# hello\n", { metadata: { k: 1 } })))
    expect(entry).toMatchObject({
      run_id: "run-a",
      step: 1,
      node: "store",
      name: "report.md",
      content_type: "text/markdown",
      size: 8,
      metadata: { k: 1 }
    })
    expect(entry.artifact_id).toBe(`sha256:${entry.sha256}`)
    expect(entry.sha256).toMatch(/^[0-9a-f]{64}$/)
    const blob = Option.getOrThrow(await run(store.get(entry.artifact_id)))
    expect([text(blob.bytes), blob.content_type, blob.size]).toEqual(["# hello\n", "text/markdown", 8])
    expect(Option.isNone(await run(store.get(`sha256:${"0".repeat(64)}`)))).toBe(true)
    expect(Option.isNone(await run(store.get("../../etc/passwd")))).toBe(true)
    expect(await run(store.list("run-unknown"))).toEqual([])
  })

  it("is idempotent per (run, step, node, name): the same write again changes nothing; other bytes replace the entry", async () => {
    const store = makeStore()
    const first = await run(store.put(write("run-a", "v1")))
    await new Promise((r) => setTimeout(r, 5))
    const again = await run(store.put(write("run-a", "v1")))
    expect(again).toEqual(first)
    expect(await run(store.list("run-a"))).toEqual([first])
    const replaced = await run(store.put(write("run-a", "v2")))
    expect(replaced.artifact_id).not.toBe(first.artifact_id)
    expect(await run(store.list("run-a"))).toEqual([replaced])
    // The first blob stays readable by its id.
    expect(Option.isSome(await run(store.get(first.artifact_id)))).toBe(true)
  })

  it("lists a run's entries by step, node and name; the same bytes in two runs are one blob", async () => {
    const store = makeStore()
    await run(store.put(write("run-a", "x", { step: 3, node: "b", name: "z.txt" })))
    await run(store.put(write("run-a", "y", { step: 1, node: "b", name: "y.txt" })))
    await run(store.put(write("run-a", "x", { step: 3, node: "a", name: "z.txt" })))
    await run(store.put(write("run-b", "x", { step: 1 })))
    const listed = await run(store.list("run-a"))
    expect(listed.map((e) => [e.step, e.node, e.name])).toEqual([[1, "b", "y.txt"], [3, "a", "z.txt"], [3, "b", "z.txt"]])
    const [b] = await run(store.list("run-b"))
    expect(b!.artifact_id).toBe(listed[1]!.artifact_id)
  })

  it("deleteRuns drops the runs' entries and the blobs no remaining run refers to (a shared blob stays); dry, it only counts", async () => {
    const store = makeStore()
    const own = await run(store.put(write("run-a", "only a", { name: "a.txt" })))
    const shared = await run(store.put(write("run-a", "shared", { name: "s.txt" })))
    await run(store.put(write("run-b", "shared", { name: "s.txt" })))
    const dry = await run(store.deleteRuns!(["run-a"], { dryRun: true }))
    expect(dry).toEqual({ entries: 2, blobs: 1, bytes: 6 })
    expect(await run(store.list("run-a"))).toHaveLength(2)
    const real = await run(store.deleteRuns!(["run-a", "run-unknown"]))
    expect(real).toEqual(dry)
    expect(await run(store.list("run-a"))).toEqual([])
    expect(Option.isNone(await run(store.get(own.artifact_id)))).toBe(true)
    expect(Option.isSome(await run(store.get(shared.artifact_id)))).toBe(true)
    expect(await run(store.list("run-b"))).toHaveLength(1)
    // Nothing left to delete: a second sweep is a no-op.
    expect(await run(store.deleteRuns!(["run-a"]))).toEqual({ entries: 0, blobs: 0, bytes: 0 })
  })

  it("serves bytes written with different content types as application/octet-stream, never one writer's type for another's; the remaining type once the others are deleted", async () => {
    const store = makeStore()
    const typeOf = async (id: string) => Option.getOrThrow(await run(store.get(id))).content_type
    const a = await run(store.put(write("run-a", "{\"score\":0.9}", { content_type: "text/plain" })))
    expect(await typeOf(a.artifact_id)).toBe("text/plain")
    // The same bytes as JSON in run B: one blob, and the writers disagree.
    const b = await run(store.put(write("run-b", "{\"score\":0.9}", { content_type: "application/json" })))
    expect(b.artifact_id).toBe(a.artifact_id)
    expect(b.content_type).toBe("application/json")
    expect(await typeOf(a.artifact_id)).toBe("application/octet-stream")
    // Run A (the first writer) deleted: B's type is the blob's.
    await run(store.deleteRuns!(["run-a"]))
    expect(await typeOf(a.artifact_id)).toBe("application/json")
    // The inverse: first text/html, then text/plain: never served as HTML, even once the HTML writer is gone.
    const html = await run(store.put(write("run-h", "<script>alert(1)</script>", { content_type: "text/html" })))
    await run(store.put(write("run-p", "<script>alert(1)</script>", { content_type: "text/plain" })))
    expect(await typeOf(html.artifact_id)).toBe("application/octet-stream")
    await run(store.deleteRuns!(["run-h"]))
    expect(await typeOf(html.artifact_id)).toBe("text/plain")
    // Writers that agree (two runs, the same type) keep it.
    const same = await run(store.put(write("run-x", "same", { content_type: "text/csv" })))
    await run(store.put(write("run-y", "same", { content_type: "text/csv" })))
    expect(await typeOf(same.artifact_id)).toBe("text/csv")
  })
})

describe("the filesystem store's files", () => {
  it("a sweep keeps a blob that a run starts referring to while it runs, and puts back what an interrupted sweep left in its trash", async () => {
    const root = join(tempDir(), "artifacts")
    const store = FilesystemArtifactStore.make(root)
    const old = await run(store.put(write("run-old", "reused")))
    // While the sweep has the (then unreferenced) blob in its trash, another run writes the same bytes.
    const place = join(root, "blobs", old.sha256.slice(0, 2), old.sha256)
    const swept = sweep(root, ["run-old"], { afterMove: () => {
      expect(existsSync(place)).toBe(false)
      Effect.runSync(store.put(write("run-new", "reused")))
    } })
    expect(swept).toEqual({ entries: 1, blobs: 0, bytes: 0 })
    expect(text(Option.getOrThrow(await run(store.get(old.artifact_id))).bytes)).toBe("reused")
    expect(filesUnder(root).filter((f) => f.includes(".trash-"))).toEqual([])
    // A sweep still running (this process) keeps its trash folder; one whose process is gone
    // (killed after moving a blob that got referenced meanwhile) has it put back by the next.
    const shard = join(root, "blobs", old.sha256.slice(0, 2))
    const running = join(root, "blobs", `.trash-${encodeURIComponent(hostname())}-${process.pid}-0000beef`)
    mkdirSync(running)
    const trash = join(root, "blobs", `.trash-${encodeURIComponent(hostname())}-${deadPid()}-0000dead`)
    mkdirSync(trash)
    renameSync(join(shard, old.sha256), join(trash, old.sha256))
    expect(await run(store.deleteRuns!([]))).toEqual({ entries: 0, blobs: 0, bytes: 0 })
    expect(blobs(root)).toEqual([`blobs/${old.sha256.slice(0, 2)}/${old.sha256}`])
    expect([existsSync(trash), existsSync(running)]).toEqual([false, true])
    // An index file that cannot be decoded still keeps every digest it names.
    writeFileSync(join(root, "runs", "run-new", "broken.json"), `{"sha256":"${old.sha256}", trunc`)
    rmSync(join(root, "runs", "run-new", readdirSync(join(root, "runs", "run-new")).find((f) => f !== "broken.json")!))
    expect(await run(store.deleteRuns!([]))).toEqual({ entries: 0, blobs: 0, bytes: 0 })
    expect(blobs(root)).toHaveLength(1)
  })

  it("a sweep relabels a blob whose writers disagree by what the remaining entries record, and a write with another type during the sweep is not lost", async () => {
    const root = join(tempDir(), "artifacts")
    const store = FilesystemArtifactStore.make(root)
    const typeOf = async (id: string) => Option.getOrThrow(await run(store.get(id))).content_type
    const a = await run(store.put(write("run-a", "shared", { content_type: "text/plain" })))
    await run(store.put(write("run-b", "shared", { content_type: "application/json" })))
    await run(store.put(write("run-a", "only a", { name: "a.txt" })))
    const blob = join(root, "blobs", a.sha256.slice(0, 2), a.sha256)
    expect([JSON.parse(readFileSync(`${blob}.json`, "utf8")).content_type, existsSync(`${blob}.mixed.json`)]).toEqual(["text/plain", true])
    // Between the sweep's first read (run B alone: application/json) and its relabeling, run C
    // writes the bytes as text/html: the second read marks them again.
    const swept = sweep(root, ["run-a"], {
      afterRead: () => Effect.runSync(store.put(write("run-c", "shared", { content_type: "text/html" }))),
      afterMove: () => expect(existsSync(`${blob}.mixed.json`)).toBe(false)
    })
    expect(swept).toEqual({ entries: 2, blobs: 1, bytes: 6 })
    expect(await typeOf(a.artifact_id)).toBe("application/octet-stream")
    // After the move (relabeled to B's type), run D writes them as text/markdown: its own check marks them.
    await run(store.deleteRuns!(["run-c"]))
    expect(await typeOf(a.artifact_id)).toBe("application/json")
    await run(store.put(write("run-d", "shared", { content_type: "text/markdown" })))
    expect(await typeOf(a.artifact_id)).toBe("application/octet-stream")
    // A store written before blobs were marked (a sidecar with the first type, no marker) is
    // corrected by the next sweep, whatever it deletes.
    rmSync(`${blob}.mixed.json`)
    expect(await typeOf(a.artifact_id)).toBe("application/json")
    await run(store.deleteRuns!([]))
    expect(await typeOf(a.artifact_id)).toBe("application/octet-stream")
    expect(filesUnder(root).some((f) => f.includes(".tmp-") || f.includes(".trash-"))).toBe(false)
  })

  it("a sweep that fails after moving blobs aside puts them back before it reports the error", () => {
    const root = join(tempDir(), "artifacts")
    const store = FilesystemArtifactStore.make(root)
    Effect.runSync(store.put(write("run-a", "unshared")))
    const before = blobs(root)
    expect(() => sweep(root, ["run-a"], { afterMove: () => { throw new Error("disk went away") } })).toThrow("disk went away")
    expect(blobs(root)).toEqual(before)
  })

  it("deleteRuns on a folder it may not write is an ArtifactStoreError naming the folder", async () => {
    const root = join(tempDir(), "artifacts")
    const store = FilesystemArtifactStore.make(root)
    await run(store.put(write("run-b", "x")))
    // A file where a run's index folder should be makes the sweep fail, as a folder it may not read would.
    writeFileSync(join(root, "runs", "run-a"), "not a folder")
    const failed = await run(Effect.either(store.deleteRuns!(["run-a"])))
    expect(Either.isLeft(failed) && failed.left).toMatchObject({ _tag: "ArtifactStoreError", reason: "storage-failure", path: root })
  })

  it("writes each blob once, atomically (no temporary file left), and one index file per entry", async () => {
    const root = join(tempDir(), "artifacts")
    const store = FilesystemArtifactStore.make(root)
    const a = await run(store.put(write("run-a", "same")))
    await run(store.put(write("run-b", "same")))
    await run(store.put(write("run-b", "same")))
    expect(blobs(root)).toEqual([`blobs/${a.sha256.slice(0, 2)}/${a.sha256}`])
    expect(readFileSync(join(root, "blobs", a.sha256.slice(0, 2), a.sha256), "utf8")).toBe("same")
    expect(entries(root)).toHaveLength(2)
    expect(filesUnder(root).some((f) => f.includes(".tmp-"))).toBe(false)
    // A hostile run id stays one folder under runs/.
    await run(store.put(write("../../escape", "x")))
    expect(entries(root).filter((f) => f.includes("escape"))).toHaveLength(1)
    expect(existsSync(join(root, "..", "escape"))).toBe(false)
  })

  it("fails with ArtifactStoreError on a corrupt index entry or an unusable folder", async () => {
    const root = join(tempDir(), "artifacts")
    const store = FilesystemArtifactStore.make(root)
    await run(store.put(write("run-a", "x")))
    const [file] = entries(root)
    writeFileSync(join(root, file!), "{not json")
    const corrupt = await run(Effect.either(store.list("run-a")))
    expect(Either.isLeft(corrupt) && corrupt.left).toMatchObject({ _tag: "ArtifactStoreError", reason: "corrupt-index", runId: "run-a" })
    const blocked = join(tempDir(), "a-file")
    writeFileSync(blocked, "")
    const failed = await run(Effect.either(FilesystemArtifactStore.make(blocked).put(write("run-a", "x"))))
    expect(Either.isLeft(failed) && failed.left).toMatchObject({ _tag: "ArtifactStoreError", reason: "storage-failure" })
    expect(Either.isLeft(failed) && failed.left.fix).toContain("STARGRAPH_ARTIFACTS_DIR")
  })

  it("lives beside the database, or where STARGRAPH_ARTIFACTS_DIR says", () => {
    expect(ArtifactStore.besideDatabase("/data/runs.sqlite", {})).toBe("/data/runs.sqlite.artifacts")
    expect(ArtifactStore.besideDatabase("/data/runs.sqlite", { STARGRAPH_ARTIFACTS_DIR: "/blobs" })).toBe("/blobs")
  })
})

describe("artifact names", () => {
  it("are one file name", () => {
    expect(nameProblem("report.md")).toBeUndefined()
    expect(nameProblem("order A-1 (final).json")).toBeUndefined()
    for (const bad of ["", "../x", "..", "a/b", "/etc/passwd", "a\\b", "a\u0000b", "a\nb", ".", "x".repeat(256), "a..b"]) {
      expect(nameProblem(bad), JSON.stringify(bad)).toBeDefined()
    }
  })

  it("count characters (code points), not UTF-16 code units, and have no byte limit", () => {
    // 200 emoji are 200 characters (400 UTF-16 code units, 800 UTF-8 bytes).
    expect(nameProblem("\u{1F600}".repeat(200))).toBeUndefined()
    expect(nameProblem("\u{1F600}".repeat(255))).toBeUndefined()
    expect(nameProblem("\u{1F600}".repeat(256))).toEqual({ problem: "the name is 256 characters long, longer than 255", fix: "shorten it to at most 255 characters" })
    expect(nameProblem("\u00e9".repeat(255))).toBeUndefined()
    expect(nameProblem("\u00e9".repeat(256))?.problem).toBe("the name is 256 characters long, longer than 255")
  })

  it("refuse C0, DEL and C1 control characters, bidirectional formatting characters and line separators, naming the code point", () => {
    const refused: ReadonlyArray<readonly [string, string]> = [
      ["a\u0000b", "U+0000, a control character"],
      ["a\u001fb", "U+001F, a control character"],
      ["a\u007fb", "U+007F, a control character"],
      ["report\u0085\u009b2J.txt", "U+0085, a C1 control character (character 7 of 14)"],
      ["a\u0080b", "U+0080, a C1 control character"],
      ["a\u009fb", "U+009F, a C1 control character"],
      ["invoice\u202etxt.exe", "U+202E, the bidirectional formatting character RIGHT-TO-LEFT OVERRIDE"],
      ["a\u202ab", "U+202A, the bidirectional formatting character LEFT-TO-RIGHT EMBEDDING"],
      ["a\u202db", "U+202D, the bidirectional formatting character LEFT-TO-RIGHT OVERRIDE"],
      ["a\u2066b", "U+2066, the bidirectional formatting character LEFT-TO-RIGHT ISOLATE"],
      ["a\u2069b", "U+2069, the bidirectional formatting character POP DIRECTIONAL ISOLATE"],
      ["a\u200eb", "U+200E, the bidirectional formatting character LEFT-TO-RIGHT MARK"],
      ["a\u200fb", "U+200F, the bidirectional formatting character RIGHT-TO-LEFT MARK"],
      ["a\u061cb", "U+061C, the bidirectional formatting character ARABIC LETTER MARK"],
      ["a\u2028b", "U+2028, a line separator"],
      ["a\u2029b", "U+2029, a paragraph separator"],
      // Checked before the name is quoted in a message: a separator does not hide the override.
      ["a/\u202eb", "U+202E"]
    ]
    for (const [name, says] of refused) {
      const problem = nameProblem(name)
      expect(problem?.problem, JSON.stringify(name)).toContain(`the name holds ${says}`)
      expect(problem?.fix).toContain("remove U+")
    }
    // A lone surrogate has no UTF-8 form.
    expect(nameProblem("a\ud800b.txt")?.problem).toBe("the name holds a lone UTF-16 surrogate U+D800 (at index 1), which has no UTF-8 form")
    expect(nameProblem("a\udc00b.txt")?.problem).toContain("U+DC00")
    // Letters, marks and symbols outside those are names: Arabic, Hebrew, accents, emoji, U+00A0.
    for (const ok of ["تقرير.txt", "דוח.md", "e\u0301te.md", "\u{1F600}.json", "a\u00a0b.txt", "\u00ff.txt", "a\u2030b"]) {
      expect(nameProblem(ok), JSON.stringify(ok)).toBeUndefined()
    }
  })
})

const fields = {
  report: { type: "string" },
  data: { type: "object" },
  title: { type: "string", default: "summary" },
  report_ref: { type: "object" },
  data_ref: { type: "object" },
  artifact_ref: { type: "object" }
}

/** A graph writing `report` (flat form) then `data` (the original's config form). */
const writerIr = {
  ir_version: "1.0.0",
  id: "run:writer",
  state_schema: { fields },
  nodes: [
    { id: "store_report", kind: "write_artifact", content_field: "report", name: "{{title}}.md", content_type: "text/markdown", metadata: { team: "ops" }, output_field: "report_ref" },
    { id: "store_data", kind: "write_artifact", config: { content_field: "data", name: "data.json", output_field: "data_ref", replay_policy: "must_stub" } }
  ],
  edges: [{ from: "store_report", to: "store_data" }]
}

const node = (extra: Record<string, unknown>) => ({ ...writerIr, nodes: [{ id: "w", kind: "write_artifact", ...extra }], edges: [] })

const buildError = async (ir: unknown): Promise<IRValidationError> => {
  const exit = await Effect.runPromiseExit(Graph.make(ir))
  const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
  expect(error).toBeInstanceOf(IRValidationError)
  return error as IRValidationError
}

describe("the write_artifact kind", () => {
  it("stores a string as UTF-8 and an object as canonical JSON, writes the reference, and indexes it under the run", async () => {
    const root = join(tempDir(), "artifacts")
    const filename = join(tempDir(), "runs.sqlite")
    const data = { z: 1, a: [true, null], é: "ü" }
    const out = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(writerIr)
      const summary = yield* Effect.flatMap(graph.start({ inputs: { report: "# Ops\n", data } }), (r) => r.start())
      const store = yield* ArtifactStore.ArtifactStore
      const listed = yield* store.list(summary.run_id)
      const blob = Option.getOrThrow(yield* store.get(listed[1]!.artifact_id))
      const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(summary.run_id))
      return { summary, listed, blob, checkpoints }
    }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename }), ArtifactStore.filesystem(root)))))
    const reportRef = out.summary.final_state["report_ref"] as Record<string, unknown>
    const first = out.listed[0]!
    // The original's ArtifactRef fields too (content_hash, run_id, step, created_at): rules written for it read them.
    expect(reportRef).toEqual({
      artifact_id: first.artifact_id, sha256: first.sha256, content_hash: first.sha256, size: 6, name: "summary.md", content_type: "text/markdown",
      run_id: out.summary.run_id, step: 1, created_at: first.created_at
    })
    expect(out.summary.final_state["data_ref"]).toMatchObject({ name: "data.json", content_type: "application/json" })
    expect(out.listed.map((e) => [e.step, e.node, e.name, e.metadata])).toEqual([[1, "store_report", "summary.md", { team: "ops" }], [2, "store_data", "data.json", {}]])
    expect(text(out.blob.bytes)).toBe(canonicalJson(data))
    expect(out.blob.content_type).toBe("application/json")
    expect(out.checkpoints[1]!.calls).toEqual([expect.objectContaining({
      node: "store_report",
      name: "artifact.write",
      request: { name: "summary.md", content_type: "text/markdown", sha256: out.listed[0]!.sha256, size: 6, metadata: { team: "ops" } },
      response: reportRef
    })])
  })

  it("a replay or fork writes nothing (no blob, no index entry); a fork that diverges with live_after_fork writes its own", async () => {
    const root = join(tempDir(), "artifacts")
    const filename = join(tempDir(), "runs.sqlite")
    const out = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(writerIr)
      const store = yield* ArtifactStore.ArtifactStore
      const parent = yield* Effect.flatMap(graph.start({ inputs: { report: "# Ops\n", data: { n: 1 } } }), (r) => r.start())
      const afterParent = { blobs: blobs(root), entries: entries(root) }
      const replayed = yield* Replay.fork(graph, parent.run_id, {})
      const fromMiddle = yield* Replay.fork(graph, parent.run_id, { fromStep: 1 })
      const afterReplays = { blobs: blobs(root), entries: entries(root) }
      const diverged = yield* Replay.fork(graph, parent.run_id, { mutation: { state_overrides: { report: "# Changed\n" } } })
      const escaped = yield* Replay.fork(graph, parent.run_id, { mutation: { state_overrides: { report: "# Changed\n" } }, liveAfterFork: true })
      return {
        parent,
        replayed,
        fromMiddle,
        diverged,
        escaped,
        afterParent,
        afterReplays,
        afterEscaped: { blobs: blobs(root), entries: entries(root) },
        listings: {
          parent: yield* store.list(parent.run_id),
          replayed: yield* store.list(replayed.cfRunId),
          escaped: yield* store.list(escaped.cfRunId)
        }
      }
    }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename }), ArtifactStore.filesystem(root)))))
    expect(out.afterParent.blobs).toHaveLength(2)
    expect(out.afterParent.entries).toHaveLength(2)
    expect(out.afterReplays).toEqual(out.afterParent)
    expect(out.replayed.summary).toMatchObject({ status: "done", final_state: out.parent.final_state })
    expect(out.fromMiddle.summary.final_state).toEqual(out.parent.final_state)
    expect(out.listings.parent).toHaveLength(2)
    expect(out.listings.replayed).toEqual([])
    // Other content is another request: a loud divergence, and nothing written.
    expect(out.diverged.error).toMatchObject({ _tag: "ReplayDivergenceError", call: "artifact.write", nodeId: "store_report" })
    // Allowed live: the fork stores the new report under its own id; the unchanged data replays.
    expect(out.listings.escaped.map((e) => e.node)).toEqual(["store_report"])
    expect(out.afterEscaped.blobs).toHaveLength(3)
    expect(out.afterEscaped.entries).toHaveLength(3)
    expect(out.escaped.summary.final_state["report_ref"]).toMatchObject({ artifact_id: out.listings.escaped[0]!.artifact_id })
  })

  it("refuses a static name with '..', a leading '/', a separator or a NUL when the graph is built", async () => {
    for (const name of ["../secret.txt", "/etc/passwd", "a/b.txt", "a\\b.txt", "a\u0000b", "..", ""]) {
      const e = await buildError(node({ content_field: "report", name }))
      expect(e.path, name).toBe("nodes[0].name")
      expect(e.message).toContain("invalid artifact name")
    }
    // C1 controls and bidirectional formatting characters too, named by code point.
    for (const [name, says] of [["report\u0085.txt", "U+0085, a C1 control character"], ["invoice\u202etxt.exe", "U+202E, the bidirectional formatting character RIGHT-TO-LEFT OVERRIDE"]] as const) {
      const e = await buildError(node({ content_field: "report", name }))
      expect([e.path, e.message, e.fix]).toEqual(["nodes[0].name", expect.stringContaining(`invalid artifact name: the name holds ${says}`), expect.stringContaining("remove U+")])
    }
    const underConfig = await buildError(node({ config: { content_field: "report", name: "../x" } }))
    expect(underConfig.path).toBe("nodes[0].config.name")
  })

  it("refuses an output_field declared as a type that cannot hold the reference (it would fail the step after writing the blob), when the graph is built", async () => {
    const typed = (type: string, output?: string) => ({
      ...writerIr,
      state_schema: { fields: { report: { type: "string" }, ref: { type }, artifact_ref: { type } } },
      nodes: [{ id: "w", kind: "write_artifact", content_field: "report", name: "r.txt", ...(output !== undefined ? { output_field: output } : {}) }],
      edges: []
    })
    const named = await buildError(typed("string", "ref"))
    expect([named.path, named.message, named.fix]).toEqual([
      "nodes[0].output_field",
      "the reference ({artifact_id, sha256, size, name, …}) goes to state field 'ref', declared string, which cannot hold it",
      "declare 'ref' as an object (type: object, or dict), or set output_field to an object field"
    ])
    const byDefault = await buildError(typed("array"))
    expect([byDefault.path, byDefault.message]).toEqual(["nodes[0].content_field", "the reference ({artifact_id, sha256, size, name, …}) goes to state field 'artifact_ref' (output_field's default), declared array, which cannot hold it"])
    for (const type of ["object", "any"]) expect((await Effect.runPromiseExit(Graph.make(typed(type, "ref"))))._tag).toBe("Success")
  })

  it("refuses a templated name that renders to a path, or reads an unset field, at run time, writing nothing", async () => {
    const root = join(tempDir(), "artifacts")
    const r = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(node({ content_field: "report", name: "{{title}}.md" }))
      return yield* Effect.either(Effect.flatMap(graph.start({ inputs: { report: "x", title: "../../etc/passwd" } }), (h) => h.start()))
    }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename: join(tempDir(), "r.sqlite") }), ArtifactStore.filesystem(root)))))
    expect(Either.isLeft(r) && r.left).toBeInstanceOf(ArtifactStoreError)
    expect(Either.isLeft(r) && r.left).toMatchObject({ reason: "invalid-name", nodeId: "w", step: 1, name: "../../etc/passwd.md" })
    expect(filesUnder(root)).toEqual([])
    // A name made from an unset field is refused too (not stored as ".md").
    const unset = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(node({ content_field: "report", name: "{{data}}.md" }))
      return yield* Effect.either(Effect.flatMap(graph.start({ inputs: { report: "x" } }), (h) => h.start()))
    }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename: join(tempDir(), "r.sqlite") }), ArtifactStore.filesystem(root)))))
    expect(Either.isLeft(unset) && unset.left).toMatchObject({ reason: "invalid-name", message: "the name template {{data}}.md reads 'data', which is not set" })
    expect(filesUnder(root)).toEqual([])
    // Names from state go through the same check: C1 controls, bidi overrides and lone surrogates
    // are refused, 200 emoji (200 characters) are stored.
    const named = (title: string) =>
      run(Effect.gen(function*() {
        const graph = yield* Graph.make(node({ content_field: "report", name: "{{title}}" }))
        return yield* Effect.either(Effect.flatMap(graph.start({ inputs: { report: "x", title } }), (h) => h.start()))
      }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename: join(tempDir(), "r.sqlite") }), ArtifactStore.filesystem(root)))))
    for (const [title, says] of [
      ["report\u0085\u009b2J.txt", "U+0085, a C1 control character"],
      ["invoice\u202etxt.exe", "U+202E, the bidirectional formatting character RIGHT-TO-LEFT OVERRIDE"],
      ["a\u2066b.txt", "U+2066"],
      ["a\ud800.txt", "a lone UTF-16 surrogate U+D800"]
    ] as const) {
      const refused = await named(title)
      expect(Either.isLeft(refused) && refused.left, JSON.stringify(title)).toMatchObject({
        _tag: "ArtifactStoreError",
        reason: "invalid-name",
        name: title,
        message: expect.stringContaining(`the name template {{title}} gave an invalid name: the name holds ${says}`),
        fix: expect.stringContaining(says.includes("surrogate") ? "well-formed text" : "remove U+")
      })
    }
    expect(filesUnder(root)).toEqual([])
    const emoji = await named("\u{1F600}".repeat(200))
    expect(Either.isRight(emoji) && emoji.right.final_state["artifact_ref"]).toMatchObject({ name: "\u{1F600}".repeat(200) })
  })

  it("refuses empty content at run time, and bad settings at build", async () => {
    const empty = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(node({ content_field: "report", name: "r.md" }))
      return yield* Effect.either(Effect.flatMap(graph.start({}), (h) => h.start()))
    }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename: join(tempDir(), "r.sqlite") }), ArtifactStore.memory))))
    expect(Either.isLeft(empty) && empty.left).toMatchObject({ _tag: "ArtifactStoreError", reason: "invalid-content" })
    // Text with a lone surrogate has no UTF-8 form: refused, not stored with U+FFFD in its place.
    const lone = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(node({ content_field: "report", name: "r.md" }))
      return yield* Effect.either(Effect.flatMap(graph.start({ inputs: { report: "ab\ud800cd" } }), (h) => h.start()))
    }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename: join(tempDir(), "r.sqlite") }), ArtifactStore.memory))))
    expect(Either.isLeft(lone) && lone.left).toMatchObject({ _tag: "ArtifactStoreError", reason: "invalid-content" })
    expect(Either.isLeft(lone) ? lone.left.message : "").toContain("lone UTF-16 surrogate (at index 2)")
    expect((await buildError(node({ content_field: "report", name: "r.md", content_type: "markdown" }))).path).toBe("nodes[0].content_type")
    expect((await buildError(node({ content_field: "nope", name: "r.md" }))).path).toBe("nodes[0].content_field")
    expect((await buildError(node({ content_field: "report", name: "r.md", output_field: "nope" }))).path).toBe("nodes[0].output_field")
    const noOutput = await buildError({ ...node({ content_field: "report", name: "r.md" }), state_schema: { fields: { report: { type: "string" } } } })
    expect(noOutput.message).toContain("'artifact_ref' (output_field's default)")
    expect((await buildError(node({ name: "r.md" }))).message).toContain("needs 'content_field'")
    expect(await buildError(node({ content_field: "report" }))).toMatchObject({ path: "nodes[0].name", message: "a write_artifact node needs 'name'" })
    expect((await buildError(node({}))).path).toBe("nodes[0].content_field")
    expect((await buildError(node({ config: { content_field: "report" } }))).path).toBe("nodes[0].config.name")
    expect((await buildError(node({ content_field: "report", name: "r.md", config: { content_field: "report", name: "r.md" } }))).message).toContain("both beside and under config")
    expect((await buildError(node({ content_field: "report", name: "{{nope}}.md" }))).message).toContain("'{{nope}}'")
    expect((await buildError(node({ content_field: "report", name: "r.md", replay_policy: "fail_loud" }))).path).toBe("nodes[0].replay_policy")
  })
})

describe("the CLI and the store beside its database", () => {
  it("`stargraph run` on the example writes <db>.artifacts/, `inspect` lists it, `replay` writes nothing more", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "tools"))
    writeFileSync(join(dir, "tools", "graph.yaml"), readFileSync(join(ROOT, "examples", "tools", "graph.yaml")))
    const db = join(dir, "runs.sqlite")
    const ran = await stargraph(["run", join(dir, "tools", "graph.yaml"), "--db", db, "--no-summary"])
    expect(ran.code, ran.stderr).toBe(0)
    expect(ran.last).toMatch(/status=done/)
    const runId = runIdOf(ran.last)
    const root = `${db}.artifacts`
    expect(blobs(root)).toHaveLength(1)
    expect(entries(root)).toEqual([expect.stringContaining(`runs/${runId}/000004-`)])
    const blob = blobs(root)[0]!
    expect(readFileSync(join(root, blob), "utf8")).toBe("# Order A-1042\n\nSKUs: [\"KB-01\",\"MS-07\"]\n\nTotal with tax: 148.8\n")
    const inspected = await stargraph(["inspect", runId, "--db", db])
    expect(inspected.code).toBe(0)
    expect(inspected.stdout).toMatch(/artifacts \(1\):\n {2}step 4 {2}store {2}order-A-1042\.md {2}text\/markdown {2}63 bytes {2}sha256:[0-9a-f]{64}/)
    const json = await stargraph(["inspect", runId, "--db", db, "--json"])
    expect(JSON.parse(json.stdout)["artifacts"]).toMatchObject([{ run_id: runId, step: 4, node: "store", name: "order-A-1042.md", size: 63, metadata: { kind: "order-report" } }])
    const replayed = await stargraph(["replay", runId, "--db", db])
    expect(replayed.code, replayed.stderr).toBe(0)
    expect(blobs(root)).toHaveLength(1)
    expect(entries(root)).toHaveLength(1)
  })
})
