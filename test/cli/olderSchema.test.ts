/**
 * A SQLite database written by an older Stargraph, through the built CLI: a command that
 * is refused (an unknown run, a step out of range, a bad mutation or answer, a run in the
 * wrong state, an idempotency key of another request) or that only looks (`prune
 * --dry-run`, a `run --idempotency-key` retry that finds its run already there) leaves the
 * file exactly as it was: the same bytes, its schema version, no backup, no note. A
 * command that writes migrates it just before its first write, with the note and the backup.
 *
 * The older files are made here: runs written by this build, then taken back to an older
 * schema by dropping what later migrations added (the columns and tables of 14 to 17 for
 * schema 13, and of 10 to 17 for schema 9), as an older Stargraph left them.
 */
import Database from "better-sqlite3"
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { SCHEMA_VERSION } from "../../src/checkpoint/migrations.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

/** What migrations 14 to 17 added, dropped: a schema-13 file. */
const TO_13 = ["ALTER TABLE runs_history DROP COLUMN skip_failed", "ALTER TABLE runs_history DROP COLUMN fork_max_steps", "ALTER TABLE runs_history DROP COLUMN default_model", "DROP TABLE run_takeovers"]
/** And what 10 to 13 added: a schema-9 file (no heartbeats table, no threads). */
const TO_9 = [
  ...TO_13,
  "ALTER TABLE runs_history DROP COLUMN taken_over",
  "DROP INDEX runs_history_cancel_requested",
  "ALTER TABLE runs_history DROP COLUMN cancel_requested_of",
  "DROP TABLE process_heartbeats",
  "DROP INDEX runs_history_thread_active",
  "DROP INDEX runs_history_thread",
  "ALTER TABLE runs_history DROP COLUMN continued_from",
  "ALTER TABLE runs_history DROP COLUMN thread_id"
]

let work: string
let done: string
let waiting: string
/** A run started with an idempotency key, and one on a thread (not passing over failed runs). */
let keyed: string
let threaded: string
/** The older files, by schema version: copied for each command. */
const originals = new Map<number, string>()

/** The schema version in the file's header (`user_version`, offset 60), read without opening it as a database. */
const headerVersion = (file: string) => readFileSync(file).readUInt32BE(60)

beforeAll(async () => {
  work = tempDir()
  const db = join(work, "current.sqlite")
  const hello = await stargraph(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=old", "--db", db, "--quiet"], { cwd: work })
  expect(hello.code, hello.stderr).toBe(0)
  done = runIdOf(hello.last)
  const approval = await stargraph(["run", join(ROOT, "examples", "approval", "graph.yaml"), "--inputs", "request=ship it", "--db", db, "--quiet"], { cwd: work })
  expect(approval.code, approval.stderr).toBe(3)
  waiting = runIdOf(approval.last)
  const withKey = await stargraph(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=keyed", "--idempotency-key", "op-1", "--db", db, "--quiet"], { cwd: work })
  expect(withKey.code, withKey.stderr).toBe(0)
  keyed = runIdOf(withKey.last)
  const onThread = await stargraph(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=t", "--thread", "t-1", "--idempotency-key", "op-t", "--db", db, "--quiet"], { cwd: work })
  expect(onThread.code, onThread.stderr).toBe(0)
  threaded = runIdOf(onThread.last)
  for (const [version, drops] of [[13, TO_13], [9, TO_9]] as const) {
    const dir = join(work, `schema-${version}`)
    mkdirSync(dir)
    const file = join(dir, "original.sqlite")
    copyFileSync(db, file)
    const conn = new Database(file)
    for (const statement of drops) conn.exec(statement)
    conn.pragma(`user_version = ${version}`)
    conn.close()
    expect(existsSync(`${file}-wal`)).toBe(false)
    expect(headerVersion(file)).toBe(version)
    originals.set(version, file)
  }
}, 60_000)

let copies = 0
/** A fresh copy of the schema-`version` file, alone in a new folder. */
const olderCopy = (version: number) => {
  const dir = join(work, `copy-${++copies}`)
  mkdirSync(dir)
  const file = join(dir, "runs.sqlite")
  copyFileSync(originals.get(version)!, file)
  return { dir, file, bytes: readFileSync(file) }
}

describe.each([13, 9])("a schema-%i database", (version) => {
  // The done runs a prune deletes: all three, but from schema 10 (threads) the thread's run is its thread's newest, kept.
  const prunable = version >= 10 ? 2 : 3
  const refusals: ReadonlyArray<{ readonly name: string; readonly args: () => ReadonlyArray<string>; readonly code: number; readonly says: RegExp }> = [
    { name: "replay of an unknown run", args: () => ["replay", "run-nope"], code: 2, says: /error: CheckpointError\[unknown-run\]: no run 'run-nope'/ },
    { name: "replay from a step the run does not have", args: () => ["replay", done, "--from-step", "99"], code: 2, says: /error: InputError: --from-step: run \S+ has steps 0\.\.5; there is no step 99/ },
    { name: "replay with a mutation the schema refuses", args: () => ["replay", done, "--mutation", "{\"x\":1}"], code: 2, says: /error: InputError: mutation\.x: is unexpected/ },
    { name: "cancel of a run that ended", args: () => ["cancel", done], code: 2, says: /error: RunStateError: run \S+ is already done; nothing to cancel/ },
    { name: "update-state of a run that ended", args: () => ["update-state", done, "--set", "message=x"], code: 2, says: /error: RunStateError: run \S+ is done; only a stopped run/ },
    { name: "update-state of a field the state does not have", args: () => ["update-state", waiting, "--set", "nope=1"], code: 2, says: /error: InputError: --set nope: 'nope' is not a state field/ },
    { name: "respond to a run that ended", args: () => ["respond", done, "--response", "{}"], code: 2, says: /error: RunStateError: run \S+ is already done; nothing to resume/ },
    { name: "resume of a run that ended", args: () => ["resume", done], code: 2, says: /error: RunStateError: run \S+ is already done; nothing to resume/ },
    { name: "respond with an answer the field refuses", args: () => ["respond", waiting, "--response", "{\"nope\":1}"], code: 2, says: /error: StateValidationError: response field 'decision\.nope'/ },
    { name: "respond naming a wait the run is not at", args: () => ["respond", waiting, "--response", "{\"approved\":true}", "--wait-id", "w-nope"], code: 2, says: /error: RunStateError: run \S+ does not wait at w-nope/ },
    { name: "prune --dry-run", args: () => ["prune", "--before", "0m", "--dry-run"], code: 0, says: new RegExp(`^would delete ${prunable} runs that finished before \\S+ \\(${prunable * 6} checkpoints\\)$`, "m") },
    {
      name: "run --idempotency-key retried with the same request (it finds its run, done, and starts nothing)",
      args: () => ["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=keyed", "--idempotency-key", "op-1", "--quiet"],
      code: 0,
      says: /idempotency key 'op-1' already belongs to run \S+ \(done\): no new run was started/
    },
    {
      name: "run --idempotency-key with another request under the key",
      args: () => ["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=other", "--idempotency-key", "op-1"],
      code: 2,
      says: /error: RunStateError\[idempotency-key-reused\]: idempotency key 'op-1' already belongs to run \S+, started with other params/
    }
  ]

  it.each(refusals)("$name leaves it as it was: the same bytes and schema, no backup, no note", async ({ args, code, says }) => {
    const { dir, file, bytes } = olderCopy(version)
    const r = await stargraph([...args(), "--db", file], { cwd: work })
    expect(r.code, r.stderr).toBe(code)
    expect(`${r.stdout}${r.stderr}`).toMatch(says)
    expect(r.stderr).not.toContain("note: migrating")
    expect(readFileSync(file).equals(bytes)).toBe(true)
    expect(headerVersion(file)).toBe(version)
    expect(readdirSync(dir).filter((f) => f.endsWith(".bak") || f.endsWith(".partial"))).toEqual([])
  })

  it("a retry finds its run through the older schema: the run it returns is the keyed run; a thread's run, whose record does not know skip_failed, is not refused for it", async () => {
    const { file, bytes } = olderCopy(version)
    const retry = await stargraph(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=keyed", "--idempotency-key", "op-1", "--db", file, "--quiet"], { cwd: work })
    expect([retry.code, retry.last], retry.stderr).toEqual([0, `run_id=${keyed} status=done`])
    if (version >= 10) {
      // Threads came with schema 10; skip_failed with 17: an older record does not know it, so --skip-failed is not a difference.
      const again = await stargraph(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=t", "--thread", "t-1", "--skip-failed", "--idempotency-key", "op-t", "--db", file, "--quiet"], { cwd: work })
      expect([again.code, again.last], again.stderr).toEqual([0, `run_id=${threaded} status=done`])
      expect(again.stderr).toContain(`idempotency key 'op-t' already belongs to run ${threaded} (done): no new run was started`)
    }
    expect(readFileSync(file).equals(bytes)).toBe(true)
    expect(headerVersion(file)).toBe(version)
  })

  it("a command that writes migrates it just before its first write: the note, the backup, then the write (respond, update-state, replay, prune)", async () => {
    const migrated = (r: { readonly code: number | null; readonly stderr: string }, file: string, expectedCode: number) => {
      expect(r.code, r.stderr).toBe(expectedCode)
      const backup = `${file}.schema-${version}.bak`
      expect(r.stderr).toContain(`note: migrating ${file} from schema ${version} to ${SCHEMA_VERSION}`)
      expect(r.stderr).toContain(`A copy as it was is at ${backup}`)
      expect(r.stderr.match(/note: migrating/g)).toHaveLength(1)
      expect(headerVersion(backup)).toBe(version)
      const conn = new Database(file, { readonly: true })
      try {
        expect(conn.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION)
      } finally {
        conn.close()
      }
    }
    // The answer is checked against the old file, then the file is migrated and the run goes on.
    const answered = olderCopy(version)
    const respond = await stargraph(["respond", waiting, "--response", "{\"approved\":true}", "--db", answered.file, "--quiet"], { cwd: work })
    migrated(respond, answered.file, 0)
    expect(respond.last).toBe(`run_id=${waiting} status=done`)
    const edited = olderCopy(version)
    const edit = await stargraph(["update-state", waiting, "--set", "draft=edited", "--db", edited.file], { cwd: work })
    migrated(edit, edited.file, 0)
    expect(edit.lines[0]).toMatch(/^step 2 {2}__update__ {2}draft="edited"$/)
    const forked = olderCopy(version)
    const replay = await stargraph(["replay", done, "--db", forked.file, "--quiet"], { cwd: work })
    migrated(replay, forked.file, 0)
    expect(replay.last).toMatch(/^run_id=cf-\S+ status=done$/)
    const pruned = olderCopy(version)
    const prune = await stargraph(["prune", "--before", "0m", "--db", pruned.file], { cwd: work })
    migrated(prune, pruned.file, 0)
    expect(prune.stdout).toMatch(new RegExp(`^deleted ${prunable} runs that finished before`))
    // A key's first use starts a run: migrated just before it is written.
    const firstUse = olderCopy(version)
    const fresh = await stargraph(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=keyed", "--idempotency-key", "op-2", "--db", firstUse.file, "--quiet"], { cwd: work })
    migrated(fresh, firstUse.file, 0)
    expect(fresh.last).toMatch(/^run_id=run-\S+ status=done$/)
    expect(fresh.last).not.toContain(keyed)
    // Once migrated, nothing more is said.
    const again = await stargraph(["list", "--db", answered.file], { cwd: work })
    expect([again.code, again.stderr]).toEqual([0, ""])
  }, 60_000)
})
