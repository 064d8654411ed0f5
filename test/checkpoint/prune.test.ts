/**
 * Retention: `prune` deletes runs that ended before a cutoff, keeping what remaining runs
 * depend on. The library's prune runs on every database in the conformance suite.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { prunable } from "../../src/checkpoint/prune.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const old = "2026-01-01T00:00:00.000Z"
const row = (run_id: string, over: Partial<{ parent_run_id: string | null; derived_hash: string | null; status: string; finished_at: string | null; thread_newest: number }> = {}) =>
  ({ run_id, parent_run_id: null, derived_hash: null, status: "done", finished_at: old, thread_newest: 0, ...over })

describe("prunable", () => {
  it("deletes old ended runs with their subgraph children; keeps a fork's parent while the fork stays, and a child while its parent stays", () => {
    const rows = [
      row("a"),
      row("a-child", { parent_run_id: "a" }),
      row("b"),
      row("b-fork", { parent_run_id: "b", derived_hash: "sha256:x", status: "awaiting-input", finished_at: null }),
      row("c", { status: "paused", finished_at: null }),
      row("c-child", { parent_run_id: "c" }),
      row("d", { status: "error" }),
      row("e", { finished_at: "2026-12-01T00:00:00.000Z" }),
      row("f"),
      row("f-fork", { parent_run_id: "f", derived_hash: "sha256:y" })
    ]
    const { ids, kept } = prunable(rows, "2026-06-01T00:00:00.000Z", ["done", "failed", "cancelled"])
    expect([...ids].sort()).toEqual(["a", "a-child", "f", "f-fork"])
    // b (its fork waits) and c-child (its parent is paused) were old enough.
    expect(kept).toBe(2)
  })

  it("keeps a thread's newest run whatever its status, and what it keeps (its subgraph children); older runs of the thread go", () => {
    const rows = [
      row("t1"),
      row("t2", { status: "failed", thread_newest: 1 }),
      row("t2-child", { parent_run_id: "t2" }),
      row("u1", { status: "cancelled", thread_newest: 1 }),
      row("v1", { thread_newest: 1, finished_at: "2026-12-01T00:00:00.000Z" })
    ]
    const all = prunable(rows, "2026-06-01T00:00:00.000Z", ["done", "failed", "cancelled"])
    expect([...all.ids]).toEqual(["t1"])
    // t2 and u1 are their threads' newest; t2-child stays with its parent. v1 is too recent to count.
    expect([all.kept_newest, all.kept]).toEqual([2, 1])
    const failedOnly = prunable(rows, "2026-06-01T00:00:00.000Z", ["failed"])
    expect([[...failedOnly.ids], failedOnly.kept_newest, failedOnly.kept]).toEqual([[], 1, 0])
  })
})

describe("stargraph prune on SQLite (the library's prune: test/checkpoint/conformance.ts)", () => {
  it("stargraph prune --before: an age or a date; --dry-run and --json; a bad cutoff is an InputError (exit 2)", async () => {
    const dir = tempDir()
    const db = join(dir, "cli.sqlite")
    const first = await stargraph(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=hi", "--db", db, "--quiet"], { cwd: dir })
    const id = runIdOf(first.stdout)
    const bad = await stargraph(["prune", "--db", db, "--before", "last week"], { cwd: dir })
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("InputError: --before: 'last week' is neither an age nor a date")])
    // A cutoff in the future (a typo in the year) would delete every ended run: refused, nothing deleted.
    const future = await stargraph(["prune", "--db", db, "--before", "2099-01-01"], { cwd: dir })
    expect([future.code, future.stdout, future.stderr]).toEqual([2, "", expect.stringContaining("InputError: --before: 2099-01-01T00:00:00.000Z is later than now")])
    expect(future.stderr).toContain("pass a date in the past, or an age such as 30d")
    const none = await stargraph(["prune", "--db", db, "--before", "2020-01-01"], { cwd: dir })
    expect(none.stdout).toBe("deleted 0 runs that finished before 2020-01-01T00:00:00.000Z (0 checkpoints)\n")
    const dry = await stargraph(["prune", "--db", db, "--before", "0m", "--dry-run", "--json"], { cwd: dir })
    expect(JSON.parse(dry.stdout)).toMatchObject({ runs: 1, run_ids: [id], dry_run: true })
    const real = await stargraph(["prune", "--db", db, "--before", "0m"], { cwd: dir })
    expect(real.stdout).toMatch(/^deleted 1 run that finished before .* \(\d+ checkpoints\)\n$/)
    expect((await stargraph(["inspect", id, "--db", db], { cwd: dir })).code).toBe(2)
    // A run that failed at its first node has one checkpoint (its inputs): said in the singular.
    writeFileSync(join(dir, "nodes.js"), "export const boom = () => { throw new Error(\"boom\") }\n")
    writeFileSync(join(dir, "fails.yaml"), "ir_version: \"1.0.0\"\nid: run:fails\nstate_schema: { fields: { n: { type: integer, default: 0 } } }\nnodes:\n  - { id: a, kind: function, module: ./nodes.js, export: boom }\nedges: []\n")
    expect((await stargraph(["run", "fails.yaml", "--db", db, "--quiet"], { cwd: dir })).code).toBe(1)
    const one = await stargraph(["prune", "--db", db, "--before", "0m"], { cwd: dir })
    expect(one.stdout).toMatch(/^deleted 1 run that finished before .* \(1 checkpoint\)\n$/)
  })

  it("stargraph prune keeps a thread's newest run and says so; the thread then goes on from it", async () => {
    const dir = tempDir()
    const db = join(dir, "thread.sqlite")
    const graph = join(ROOT, "examples", "hello", "graph.yaml")
    const turn = async () => runIdOf((await stargraph(["run", graph, "--inputs", "message=hi", "--thread", "demo", "--db", db, "--quiet"], { cwd: dir })).stdout)
    const first = await turn()
    const second = await turn()
    const pruned = await stargraph(["prune", "--db", db, "--before", "0m"], { cwd: dir })
    expect([pruned.code, pruned.stdout]).toEqual([
      0,
      expect.stringMatching(/^deleted 1 run that finished before .* \(\d+ checkpoints\)\nkept 1 as old that is its thread's newest run or newest done run \(a thread goes on from its newest run, or past failed runs from its newest done one, never from an older one\)\n$/)
    ])
    const json = await stargraph(["prune", "--db", db, "--before", "0m", "--dry-run", "--json"], { cwd: dir })
    expect(JSON.parse(json.stdout)).toMatchObject({ runs: 0, kept: 0, kept_newest: 1, run_ids: [] })
    expect((await stargraph(["inspect", first, "--db", db], { cwd: dir })).code).toBe(2)
    const third = await stargraph(["inspect", await turn(), "--db", db, "--json"], { cwd: dir })
    expect(JSON.parse(third.stdout)).toMatchObject({ thread_id: "demo", continued_from: second })
  })

  it("stargraph prune deletes the runs' artifact entries and the blobs no remaining run refers to, and writes one audit line", async () => {
    const dir = tempDir()
    const db = join(dir, "art.sqlite")
    const example = join(ROOT, "examples", "tools", "graph.yaml")
    const ids: Array<string> = []
    for (const tax of ["0.2", "0.1"]) ids.push(runIdOf((await stargraph(["run", example, "--inputs", `tax_rate=${tax}`, "--db", db, "--quiet"], { cwd: dir })).stdout))
    const cutoff = new Date().toISOString()
    await new Promise((resolve) => setTimeout(resolve, 20))
    // A later run whose report is the first run's, byte for byte: one blob, two entries.
    const kept = runIdOf((await stargraph(["run", example, "--db", db, "--quiet"], { cwd: dir })).stdout)
    const store = `${db}.artifacts`
    const blobFiles = () => readdirSync(join(store, "blobs"), { recursive: true, encoding: "utf8" }).filter((f) => /[0-9a-f]{64}$/.test(f)).sort()
    const before = blobFiles()
    expect(before).toHaveLength(2)
    // An audit log it cannot open is refused before anything is deleted.
    const refused = await stargraph(["prune", "--db", db, "--before", cutoff, "--audit-log", dir], { cwd: dir })
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringContaining("InputError: --audit-log")])
    expect(blobFiles()).toEqual(before)
    const log = join(dir, "audit.jsonl")
    const pruned = await stargraph(["prune", "--db", db, "--before", cutoff, "--audit-log", log, "--json"], { cwd: dir })
    expect(pruned.code).toBe(0)
    const result = JSON.parse(pruned.stdout) as { readonly run_ids: ReadonlyArray<string>; readonly artifacts: { readonly entries: number; readonly blobs: number; readonly bytes: number } }
    expect([...result.run_ids].sort()).toEqual([...ids].sort())
    expect(result.artifacts).toEqual({ entries: 2, blobs: 1, bytes: expect.any(Number) })
    expect(result.artifacts.bytes).toBeGreaterThan(0)
    expect(readdirSync(join(store, "runs"))).toEqual([kept])
    const left = blobFiles()
    expect(left).toHaveLength(1)
    // The remaining run's artifact is whole: inspect finds nothing missing.
    const inspected = JSON.parse((await stargraph(["inspect", kept, "--db", db, "--json"], { cwd: dir })).stdout) as { readonly artifacts: ReadonlyArray<{ readonly sha256: string }>; readonly missing_artifacts: ReadonlyArray<unknown> }
    expect(inspected.missing_artifacts).toEqual([])
    expect(left[0]!.endsWith(inspected.artifacts[0]!.sha256)).toBe(true)
    // One line once the deletion is committed, one for the artifacts after.
    const lines = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toEqual([
      expect.objectContaining({ event: "runs.pruned", actor: "cli", before: cutoff, runs: 2, run_ids: result.run_ids }),
      expect.objectContaining({ event: "artifacts.pruned", actor: "cli", before: cutoff, run_ids: result.run_ids, artifacts: result.artifacts })
    ])
  })

  it("stargraph prune keeps the bytes a remaining run's records name though its index is gone, and drops index folders of runs the database no longer has", async () => {
    const dir = tempDir()
    const db = join(dir, "keep.sqlite")
    const id = runIdOf((await stargraph(["run", join(ROOT, "examples", "tools", "graph.yaml"), "--db", db, "--quiet"], { cwd: dir })).stdout)
    const store = `${db}.artifacts`
    const blobFiles = () => readdirSync(join(store, "blobs"), { recursive: true, encoding: "utf8" }).filter((f) => /[0-9a-f]{64}$/.test(f)).sort()
    const before = blobFiles()
    // Only the blobs are there (a copy made without runs/): the run's checkpoints still name its artifact.
    rmSync(join(store, "runs", id), { recursive: true })
    // An index folder of a run this database does not have (a prune stopped after its commit), with a blob only it names.
    mkdirSync(join(store, "runs", "run-gone"))
    writeFileSync(join(store, "runs", "run-gone", "000001-x.json"), JSON.stringify({ sha256: "ab".repeat(32) }))
    // One left alone a while (a run created since the prune read its ids writes a new folder: it stays).
    const hourAgo = new Date(Date.now() - 3_600_000)
    utimesSync(join(store, "runs", "run-gone"), hourAgo, hourAgo)
    mkdirSync(join(store, "runs", "run-just-created"))
    mkdirSync(join(store, "blobs", "ab"), { recursive: true })
    writeFileSync(join(store, "blobs", "ab", "ab".repeat(32)), "orphan")
    const pruned = await stargraph(["prune", "--db", db, "--before", "30d", "--json"], { cwd: dir })
    expect(pruned.code, pruned.stderr).toBe(0)
    expect(JSON.parse(pruned.stdout)).toMatchObject({ runs: 0, artifacts: { entries: 1, blobs: 1, bytes: 6 } })
    expect(blobFiles()).toEqual(before)
    expect([existsSync(join(store, "runs", "run-gone")), existsSync(join(store, "runs", "run-just-created"))]).toEqual([false, true])
    const inspected = JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"], { cwd: dir })).stdout) as { readonly missing_artifacts: ReadonlyArray<unknown> }
    expect(inspected.missing_artifacts).toEqual([])
  })
})
