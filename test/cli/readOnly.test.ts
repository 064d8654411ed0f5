/**
 * A database this process cannot write (a post-mortem copy, a read-only mount, `chmod 444`,
 * a folder it cannot write): the commands that only read it (`list`, `inspect`, `thread`)
 * open it read-only; the commands that write are refused with `CheckpointError[read-only]`
 * before they change anything.
 *
 * CI runs the tests as root, and root writes through `chmod` (the kernel does not check
 * permission bits for it). So the permission cases run the real CLI as the unprivileged
 * user `nobody` (uid/gid 65534, `spawnSync`'s `uid`/`gid`) when this process is root, for
 * whom `chmod 444` and `chmod 555` hold; as any other user they run it as that user. The
 * read-only mount case holds for root itself (`EROFS`): it runs in a private mount
 * namespace (`unshare -m`) with the folder bind-mounted read-only, where that can be made.
 *
 * A database without a -wal is read in place (`file:<db>?immutable=1`), never copied: the
 * reads run with a TMPDIR this user cannot write (or one on the read-only mount), where a
 * copy would fail. Only a -wal that holds writes without its -shm is read from a copy.
 */
import { spawnSync } from "node:child_process"
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import Database from "better-sqlite3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BIN, ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const asRoot = process.getuid?.() === 0

/** Folders made here, made writable again after the tests (so the suite's teardown can remove them as any user). */
const folders: Array<string> = []

/** A temp folder anyone may enter (mkdtemp makes it 0700), and write when `writable`. */
const openDir = (writable: boolean): string => {
  const dir = tempDir("stargraph-ro-")
  chmodSync(dir, writable ? 0o777 : 0o755)
  folders.push(dir)
  return dir
}

/** Private TMPDIR of the unprivileged CLI: where a reader copies a database it cannot open in place (it must be left empty). */
let tmp: string

/** A TMPDIR the unprivileged CLI cannot write: a reader that tried to copy the database there would fail. */
let noTmp: string

/** `stargraph ...args` as an unprivileged user (`nobody` when this process is root), with `TMPDIR` (default {@link tmp}). */
const unprivileged = (args: ReadonlyArray<string>, tmpDir = tmp) => {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: tmp,
    encoding: "utf8",
    env: { ...process.env, TMPDIR: tmpDir, NO_COLOR: "1" },
    ...(asRoot ? { uid: 65534, gid: 65534 } : {})
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The thread of the finished run (what `stargraph thread` is asked for). */
const THREAD = "ro-thread"

/** A database with a finished run (hello, on thread {@link THREAD}) and one awaiting input (approval), closed cleanly (no -wal, no -shm). */
const makeDatabase = async (dir: string) => {
  const db = join(dir, "runs.sqlite")
  const done = await stargraph(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=hi", "--db", db, "--thread", THREAD, "--quiet"])
  const waiting = await stargraph(["run", join(ROOT, "examples", "approval", "graph.yaml"), "--inputs", "request=ship it", "--db", db, "--quiet"])
  expect([done.code, waiting.code]).toEqual([0, 3])
  expect([existsSync(`${db}-wal`), existsSync(`${db}-shm`)]).toEqual([false, false])
  return { db, done: runIdOf(done.last), waiting: runIdOf(waiting.last) }
}

/** The run's status, read by this process. */
const statusOf = (db: string, runId: string): unknown => {
  const conn = new Database(db, { readonly: true })
  try {
    return (conn.prepare("SELECT status FROM runs_history WHERE run_id = ?").get(runId) as { status: string }).status
  } finally {
    conn.close()
  }
}

const READ_ONLY = /^error: CheckpointError\[read-only\]: \S+runs\.sqlite is read-only for this process \(.* cannot be written: E[A-Z]+\); nothing was changed\. .*stargraph list, inspect, thread.* copy it to a writable folder/

/** The reads (in place: with a TMPDIR it cannot write) and the refused writes every read-only case checks. */
const readsAndRefusesWrites = (db: string, ids: { readonly done: string; readonly waiting: string }) => {
  const beside = readdirSync(dirname(db))
  const listed = unprivileged(["list", "--db", db], noTmp)
  expect([listed.code, listed.stderr]).toEqual([0, ""])
  expect(listed.stdout).toContain(ids.done)
  expect(listed.stdout).toMatch(new RegExp(`${ids.waiting} +run:approval\\S* +awaiting-input`))
  const inspected = unprivileged(["inspect", ids.done, "--db", db], noTmp)
  expect([inspected.code, inspected.stderr]).toEqual([0, ""])
  expect(inspected.stdout).toContain(`run ${ids.done}`)
  const threaded = unprivileged(["thread", THREAD, "--db", db], noTmp)
  expect([threaded.code, threaded.stderr]).toEqual([0, ""])
  expect(threaded.stdout).toContain(`thread ${THREAD} (graph run:hello-stargraph)`)
  expect(threaded.stdout).toMatch(new RegExp(`${ids.done} +done`))
  expect(threaded.stdout).toContain(`state (after ${ids.done})`)
  // A write: refused before anything is written, exit 2, the run as it was.
  const resumed = unprivileged(["resume", ids.waiting, "--db", db, "--response", "{\"approved\":true}"])
  expect([resumed.code, resumed.stdout]).toEqual([2, ""])
  expect(resumed.stderr).toMatch(READ_ONLY)
  const cancelled = unprivileged(["cancel", ids.waiting, "--db", db])
  expect([cancelled.code, cancelled.stderr]).toEqual([2, expect.stringMatching(READ_ONLY)])
  const run = unprivileged(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=hi", "--db", db, "--quiet"])
  expect([run.code, run.stderr]).toEqual([2, expect.stringMatching(READ_ONLY)])
  // The readers made no -wal or -shm beside it (they read it in place, immutable), and no copy.
  expect(readdirSync(dirname(db))).toEqual(beside)
  expect(readdirSync(tmp)).toEqual([])
  expect(statusOf(db, ids.waiting)).toBe("awaiting-input")
}

beforeAll(() => {
  // The suite's own TMPDIR (0700) must let the unprivileged user reach the folders inside it.
  if (asRoot) chmodSync(tmpdir(), statSync(tmpdir()).mode | 0o111)
  tmp = openDir(true)
  noTmp = openDir(false)
  if (!asRoot) chmodSync(noTmp, 0o555)
})

afterAll(() => {
  for (const dir of folders) chmodSync(dir, 0o755)
})

describe("a database this process cannot write", () => {
  it("a chmod 444 file in a folder it can write: read, and writes refused with read-only", async () => {
    const dir = openDir(true)
    const made = await makeDatabase(dir)
    chmodSync(made.db, 0o444)
    readsAndRefusesWrites(made.db, made)
  })

  it("a cleanly closed database (no -wal, no -shm) in a folder it cannot write: read in place, writes refused", async () => {
    const dir = openDir(false)
    const made = await makeDatabase(dir)
    chmodSync(dir, 0o555)
    readsAndRefusesWrites(made.db, made)
  })

  it("a database with a newer schema is refused read-only too, naming its version and the fix", async () => {
    const dir = openDir(false)
    const made = await makeDatabase(dir)
    const conn = new Database(made.db)
    conn.pragma("user_version = 999")
    conn.close()
    chmodSync(made.db, 0o444)
    chmodSync(dir, 0o555)
    const listed = unprivileged(["list", "--db", made.db])
    expect(listed.code).toBe(2)
    expect(listed.stderr).toMatch(/CheckpointError\[migration-failed\]: \S+runs\.sqlite has schema version 999, newer than this Stargraph \(\d+\); upgrade Stargraph/)
    const threaded = unprivileged(["thread", THREAD, "--db", made.db])
    expect([threaded.code, threaded.stdout]).toEqual([2, ""])
    expect(threaded.stderr).toMatch(/CheckpointError\[migration-failed\]: \S+runs\.sqlite has schema version 999/)
  })
})

/** Whether this process may make a mount namespace with a read-only bind mount (root, as CI runs). */
const canMountReadOnly = (() => {
  const dir = tempDir()
  return spawnSync("unshare", ["-m", "sh", "-c", `mount --bind ${dir} ${dir} && mount -o remount,ro,bind ${dir}`]).status === 0
})()

describe("a database on a read-only mount", () => {
  // Needs a mount namespace (root): elsewhere the read-only mount cannot be made. Root's writes fail there too (EROFS).
  it.skipIf(!canMountReadOnly)("is read by list, inspect and thread (as root), and a write is refused with read-only; nothing is lost", async () => {
    const dir = join(tempDir(), "vol")
    mkdirSync(dir)
    const made = await makeDatabase(dir)
    const onMount = (args: ReadonlyArray<string>) =>
      spawnSync("unshare", ["-m", "sh", "-c", `mount --bind ${dir} ${dir} && mount -o remount,ro,bind ${dir} && exec "$@"`, "sh", process.execPath, BIN, ...args], {
        encoding: "utf8",
        // TMPDIR on the read-only mount: a copy could not be made, so the reads are in place.
        env: { ...process.env, NO_COLOR: "1", TMPDIR: dir }
      })
    const listed = onMount(["list", "--db", made.db])
    expect(readdirSync(dir)).toEqual(["runs.sqlite"])
    expect([listed.status, listed.stderr]).toEqual([0, ""])
    expect(listed.stdout).toContain(made.done)
    const inspected = onMount(["inspect", made.waiting, "--db", made.db])
    expect([inspected.status, inspected.stderr]).toEqual([0, ""])
    const threaded = onMount(["thread", THREAD, "--db", made.db])
    expect([threaded.status, threaded.stderr]).toEqual([0, ""])
    expect(threaded.stdout).toMatch(new RegExp(`${made.done} +done`))
    expect(readdirSync(dir)).toEqual(["runs.sqlite"])
    const cancelled = onMount(["cancel", made.waiting, "--db", made.db])
    expect([cancelled.status, cancelled.stderr]).toEqual([2, expect.stringMatching(/^error: CheckpointError\[read-only\]: .*cannot be written: EROFS\); nothing was changed/)])
    // Nothing was lost: read-write again, the run is there as it was.
    expect(statusOf(made.db, made.waiting)).toBe("awaiting-input")
    expect((await stargraph(["list", "--db", made.db])).stdout).toContain(made.done)
  })
})

/**
 * A database in a folder this user cannot write, with `suffixes` of a live copy (the file,
 * its -wal, its -shm) copied over it while a writer had not copied its log back: the
 * waiting run's cancellation exists only in the -wal.
 */
const walCopy = async (suffixes: ReadonlyArray<string>) => {
  const dir = openDir(false)
  const made = await makeDatabase(dir)
  const live = join(openDir(true), "live.sqlite")
  copyFileSync(made.db, live)
  const writer = new Database(live)
  writer.pragma("wal_autocheckpoint = 0")
  writer.prepare("UPDATE runs_history SET status = 'cancelled' WHERE run_id = ?").run(made.waiting)
  for (const suffix of suffixes) copyFileSync(`${live}${suffix}`, `${made.db}${suffix}`)
  writer.close()
  chmodSync(dir, 0o555)
  return { dir, made }
}

/** A post-mortem copy made while a server had the database open: its -wal holds committed runs the main file does not have yet. */
describe("a copy with its -wal and -shm, in a folder it cannot write", () => {
  it("is read with the runs its -wal holds", async () => {
    const { made } = await walCopy(["", "-wal", "-shm"])
    const listed = unprivileged(["list", "--db", made.db])
    expect([listed.code, listed.stderr]).toEqual([0, ""])
    expect(listed.stdout).toMatch(new RegExp(`${made.waiting} +run:approval\\S* +cancelled`))
  })
})

/** A -wal that holds committed writes beside a database without its -shm: SQLite must replay it, which the immutable open would skip. */
describe("a copy with its -wal but no -shm, in a folder it cannot write", () => {
  it("is read from a private copy with the runs its -wal holds; with no writable TMPDIR it is refused naming the fix", async () => {
    const { dir, made } = await walCopy(["-wal"])
    const listed = unprivileged(["list", "--db", made.db])
    expect([listed.code, listed.stderr]).toEqual([0, ""])
    expect(listed.stdout).toMatch(new RegExp(`${made.waiting} +run:approval\\S* +cancelled`))
    expect(readdirSync(dir)).toEqual(["runs.sqlite", "runs.sqlite-wal"])
    expect(readdirSync(tmp)).toEqual([])
    const refused = unprivileged(["list", "--db", made.db], noTmp)
    expect([refused.code, refused.stdout]).toEqual([2, ""])
    expect(refused.stderr).toMatch(
      /^error: CheckpointError\[read-only\]: \S+runs\.sqlite cannot be written by this process and its -wal holds writes but it has no -shm file, so it is read from a copy; copying it to \S+ to read it failed .*set TMPDIR to a writable folder/
    )
  })
})

describe("a database path beginning with file:", () => {
  it("is a file of that name, not a SQLite URI (the CLI turns URI filenames on)", async () => {
    const dir = tempDir()
    const run = await stargraph(["run", join(ROOT, "examples", "hello", "graph.yaml"), "--inputs", "message=hi", "--db", "file:runs.sqlite", "--quiet"], { cwd: dir })
    expect(run.code).toBe(0)
    expect(readdirSync(dir)).toEqual(["file:runs.sqlite"])
    const listed = await stargraph(["list", "--db", "file:runs.sqlite"], { cwd: dir })
    expect([listed.code, listed.stderr]).toEqual([0, ""])
    expect(listed.stdout).toContain(runIdOf(run.last))
  })
})
