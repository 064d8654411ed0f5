import { spawn } from "node:child_process"
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import Database from "better-sqlite3"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import { MIGRATIONS, type MigrationNotice, SCHEMA_VERSION } from "../../src/checkpoint/migrations.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { ROOT, tempDir } from "../helpers/cli.js"
import { conformance, type Store } from "./conformance.js"

const ir = {
  ir_version: "1.0.0",
  id: "run:tiny",
  state_schema: { fields: { n: { type: "integer", default: 0, reducer: "add" } } },
  nodes: [{ id: "a", kind: "set", values: { n: 1 } }, { id: "b", kind: "set", values: { n: 1 } }],
  edges: [{ from: "a", to: "b" }]
}

const runMany = (filename: string, count: number) =>
  Effect.gen(function*() {
    const graph = yield* Graph.make(ir)
    for (let i = 0; i < count; i++) yield* Effect.flatMap(graph.start(), (r) => r.start())
    return yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 500 }))
  }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename })))

/** A SQLite file as a conformance store (created by the first layer built on it). */
const sqliteStore = (filename: string): Store => {
  const withDb = <A>(use: (db: Database.Database) => A): A => {
    const db = new Database(filename)
    try {
      return use(db)
    } finally {
      db.close()
    }
  }
  return {
    db: filename,
    layer: (options = {}) => SqliteCheckpointer.layer({ filename, ...options }),
    client: () => SqliteCheckpointer.layerClient({ filename }),
    schemaVersion: async () => withDb((db) => db.pragma("user_version", { simple: true }) as number),
    setSchemaVersion: async (version) => withDb((db) => void db.pragma(`user_version = ${version}`))
  }
}

conformance({
  name: "SQLite",
  fresh: async () => sqliteStore(join(tempDir(), "db.sqlite")),
  withoutSchema: async () => {
    // A mistyped path: a reader creates neither the file nor its folder.
    const filename = join(tempDir(), "typo", "runs.sqlite")
    return { store: sqliteStore(filename), untouched: async () => !existsSync(filename) && !existsSync(dirname(filename)) }
  }
})

describe("SQLite Checkpointer", () => {
  it("leaves another application's SQLite file untouched, and (readers) an empty file; an empty database is taken by a writer", async () => {
    const dir = tempDir()
    const listWith = (filename: string, create: boolean) =>
      Effect.runPromise(Effect.either(
        Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename, create })))
      ))
    const reason = (result: Awaited<ReturnType<typeof listWith>>) => Either.isLeft(result) && result.left._tag === "CheckpointError" ? result.left.reason : "ok"
    const foreign = join(dir, "other.sqlite")
    const db = new Database(foreign)
    db.exec("CREATE TABLE foo (x)")
    db.close()
    const before = readFileSync(foreign)
    for (const create of [false, true]) {
      const result = await listWith(foreign, create)
      expect(reason(result)).toBe("not-a-database")
      expect(Either.isLeft(result) && result.left.message).toMatch(/without Stargraph's schema/)
    }
    expect(readFileSync(foreign).equals(before)).toBe(true)
    expect(existsSync(`${foreign}-wal`)).toBe(false)
    // An app that wants its checkpoints in its own database says so.
    const shared = await Effect.runPromise(Effect.either(
      Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: foreign, shareFile: true })))
    ))
    expect(reason(shared)).toBe("ok")
    const check = new Database(foreign, { readonly: true })
    expect(check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('foo', 'checkpoints')").get()).toEqual({ n: 2 })
    check.close()
    // A 0-byte file: refused by a reader (nothing written), taken by a writer.
    const zero = join(dir, "zero.sqlite")
    writeFileSync(zero, "")
    expect(reason(await listWith(zero, false))).toBe("not-a-database")
    expect(statSync(zero).size).toBe(0)
    expect(reason(await listWith(zero, true))).toBe("ok")
    // Once a writer has given it Stargraph's schema, readers take it.
    expect(reason(await listWith(zero, false))).toBe("ok")
  })

  it("without shareFile, another application's database with its own user_version is refused before anything is migrated", async () => {
    const dir = tempDir()
    for (const appVersion of [2, 50]) {
      const filename = join(dir, `foreign-${appVersion}.sqlite`)
      const app = new Database(filename)
      app.exec("CREATE TABLE users (id INTEGER PRIMARY KEY)")
      app.pragma(`user_version = ${appVersion}`)
      app.close()
      const result = await Effect.runPromise(Effect.either(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename })))))
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "CheckpointError", reason: "not-a-database", message: expect.stringContaining(`its user_version is ${appVersion}`) })
      const check = new Database(filename, { readonly: true })
      expect(check.pragma("user_version", { simple: true })).toBe(appVersion)
      expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all()).toEqual([{ name: "users" }])
      check.close()
    }
    expect(readdirSync(dir).filter((f) => f.includes(".bak"))).toEqual([])
  })

  it("shareFile keeps the application's user_version: Stargraph's schema version lives in stargraph_schema, whatever the app's version is", async () => {
    const dir = tempDir()
    for (const appVersion of [0, 2, 50]) {
      const filename = join(dir, `app-${appVersion}.sqlite`)
      const app = new Database(filename)
      app.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL); INSERT INTO orders (total) VALUES (9.5)")
      app.pragma(`user_version = ${appVersion}`)
      app.close()
      const notices: Array<MigrationNotice> = []
      const layer = SqliteCheckpointer.layer({ filename, shareFile: true, onMigrate: (n) => Effect.sync(() => notices.push(n)) })
      for (let i = 0; i < 2; i++) {
        const runs = await Effect.runPromise(Effect.gen(function*() {
          const graph = yield* Graph.make(ir)
          yield* Effect.flatMap(graph.start(), (r) => r.start())
          return (yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({}))).runs.length
        }).pipe(Effect.provide(layer)))
        expect(runs).toBe(i + 1)
      }
      // A new file for Stargraph: nothing to announce or back up.
      expect(notices).toEqual([])
      expect(readdirSync(dir).filter((f) => f.includes(".bak"))).toEqual([])
      const check = new Database(filename, { readonly: true })
      expect(check.pragma("user_version", { simple: true })).toBe(appVersion)
      expect(check.prepare("SELECT version FROM stargraph_schema").all()).toEqual([{ version: SCHEMA_VERSION }])
      expect(check.prepare("SELECT total FROM orders").all()).toEqual([{ total: 9.5 }])
      check.close()
    }
    // A file shared before Stargraph kept its version in the table (its user_version was Stargraph's):
    // it moves to the table without migrating again, and the app may then use user_version.
    const legacy = join(dir, "legacy.sqlite")
    await Effect.runPromise(runMany(legacy, 1))
    await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: legacy, shareFile: true }))))
    const moved = new Database(legacy)
    expect(moved.prepare("SELECT version FROM stargraph_schema").all()).toEqual([{ version: SCHEMA_VERSION }])
    moved.pragma("user_version = 1")
    moved.close()
    const listed = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: legacy, shareFile: true }))))
    expect(listed.runs).toHaveLength(1)
  })

  it("says a copy made without its -wal file (while a process had the database open) is likely that, not another application's", async () => {
    const dir = tempDir()
    const live = join(dir, "live.sqlite")
    const writer = new Database(live)
    writer.pragma("journal_mode = WAL")
    for (const m of MIGRATIONS) for (const st of m.statements) writer.exec(st)
    writer.pragma(`user_version = ${SCHEMA_VERSION}`)
    // The open connection keeps every commit in live.sqlite-wal; `cp` of the main file alone misses them.
    const copy = join(dir, "copy.sqlite")
    copyFileSync(live, copy)
    writer.close()
    const result = await Effect.runPromise(Effect.either(
      Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: copy, create: false })))
    ))
    expect(Either.isLeft(result) && result.left._tag === "CheckpointError" && result.left.reason).toBe("not-a-database")
    const message = Either.isLeft(result) ? result.left.message : ""
    expect(message).not.toMatch(/another application/)
    expect(message).toMatch(/copied without its -wal file/)
    expect(message).toContain(`sqlite3 <db> ".backup ${copy}"`)
  })

  it("keeps the schema version in user_version, runs in WAL mode, and holds only Stargraph's tables", async () => {
    const filename = join(tempDir(), "db.sqlite")
    await Effect.runPromise(runMany(filename, 1))
    const conn = new Database(filename, { readonly: true })
    expect(conn.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION)
    expect(conn.pragma("journal_mode", { simple: true })).toBe("wal")
    const tables = (conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((t) => t.name)
    expect(tables).toEqual(["checkpoints", "pending_runs", "process_heartbeats", "run_takeovers", "runs_history", "trigger_cursors"])
    conn.close()
  })

  it("migrates a version-4 database with queued runs to the leaner queue (nothing lost)", async () => {
    const filename = join(tempDir(), "db.sqlite")
    const old = new Database(filename)
    old.pragma("journal_mode = WAL")
    for (const m of MIGRATIONS.filter((m) => m.version <= 4)) for (const st of m.statements) old.exec(st)
    old.pragma("user_version = 4")
    old.prepare("INSERT INTO pending_runs (run_id, graph_id, params, idempotency_key, enqueued_at, claimed_by) VALUES (?, ?, ?, ?, ?, ?)")
      .run("run-queued", "g", "{}", "k-1", "2026-11-25T00:00:00.000Z", "host:1")
    old.close()
    const pending = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listPending(10)).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(pending).toEqual([{ run_id: "run-queued", graph_id: "g", enqueued_at: "2026-11-25T00:00:00.000Z", claimed_by: "host:1", claimed_at: null }])
    const conn = new Database(filename, { readonly: true })
    expect(conn.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION)
    const indexes = (conn.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'pending_runs'").all() as Array<{ name: string }>).map((i) => i.name)
    expect(indexes).toEqual(["sqlite_autoindex_pending_runs_1"])
    const parent = conn.prepare("SELECT sql FROM sqlite_master WHERE name = 'runs_history_parent'").get() as { sql: string }
    expect(parent.sql).toContain("WHERE parent_run_id IS NOT NULL")
    conn.close()
  })

  it("readOnly reads an older schema as it is; a writer backs it up and says so before migrating; a new database gets neither", async () => {
    const dir = tempDir()
    const filename = join(dir, "db.sqlite")
    await Effect.runPromise(runMany(filename, 2))
    // Make it a schema-5 database: drop the tables, columns and indexes migrations 6 to 17 added (11's table is created only if missing).
    const old = new Database(filename)
    for (const st of ["ALTER TABLE runs_history DROP COLUMN skip_failed", "ALTER TABLE runs_history DROP COLUMN fork_max_steps", "ALTER TABLE runs_history DROP COLUMN default_model", "DROP TABLE run_takeovers", "ALTER TABLE runs_history DROP COLUMN taken_over", "DROP INDEX runs_history_cancel_requested", "ALTER TABLE runs_history DROP COLUMN cancel_requested_of", "DROP INDEX runs_history_thread_active", "DROP INDEX runs_history_thread", "ALTER TABLE runs_history DROP COLUMN continued_from",
      "ALTER TABLE runs_history DROP COLUMN thread_id", "ALTER TABLE runs_history DROP COLUMN breakpoints", "ALTER TABLE runs_history DROP COLUMN actor", "ALTER TABLE runs_history DROP COLUMN live_after_fork",
      "ALTER TABLE checkpoints DROP COLUMN facts", "ALTER TABLE checkpoints DROP COLUMN rules", "ALTER TABLE checkpoints DROP COLUMN groups"]) old.exec(st)
    old.pragma("user_version = 5")
    old.close()
    const versionOf = (file: string) => {
      const conn = new Database(file, { readonly: true })
      try {
        return conn.pragma("user_version", { simple: true })
      } finally {
        conn.close()
      }
    }
    const notices: Array<MigrationNotice> = []
    const onMigrate = (notice: MigrationNotice) => Effect.sync(() => void notices.push(notice))
    const read = (options: Partial<SqliteCheckpointer.SqliteCheckpointerOptions>) =>
      Effect.gen(function*() {
        const checkpointer = yield* Checkpointer
        const page = yield* checkpointer.listRuns({ limit: 1 })
        const more = yield* checkpointer.listRuns({ limit: 1, cursor: page.next_cursor ?? undefined })
        const checkpoints = yield* checkpointer.listCheckpoints(page.runs[0]!.run_id)
        return { runs: [...page.runs, ...more.runs], checkpoints }
      }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename, create: false, onMigrate, ...options })), Effect.runPromise)
    const asIs = await read({ readOnly: true })
    expect(asIs.runs.map((r) => [r.status, r.actor, r.live_after_fork, r.breakpoints, r.fork_max_steps])).toEqual([["done", null, false, null, null], ["done", null, false, null, null]])
    expect(asIs.checkpoints.map((c) => c.step)).toEqual([0, 1, 2])
    expect(versionOf(filename)).toBe(5)
    expect(notices).toEqual([])
    expect(existsSync(`${filename}.schema-5.bak`)).toBe(false)
    // A writer: the backup first, then the notice, then the migration.
    const migrated = await read({})
    expect(migrated.runs).toEqual(asIs.runs)
    expect(versionOf(filename)).toBe(SCHEMA_VERSION)
    expect(notices).toHaveLength(1)
    expect(notices[0]).toMatchObject({ filename, from: 5, to: SCHEMA_VERSION, backup: `${filename}.schema-5.bak` })
    expect(notices[0]!.message).toContain(`from schema 5 to ${SCHEMA_VERSION}`)
    expect(notices[0]!.message).toContain(`replace ${filename} with that copy`)
    const backup = new Database(`${filename}.schema-5.bak`, { readonly: true })
    expect(backup.pragma("user_version", { simple: true })).toBe(5)
    expect(backup.prepare("SELECT count(*) AS n FROM runs_history").get()).toEqual({ n: 2 })
    backup.close()
    // Up to date: nothing more to tell. A brand-new database: no notice, no backup.
    await read({})
    const fresh = join(dir, "fresh.sqlite")
    await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: fresh, onMigrate }))))
    expect(versionOf(fresh)).toBe(SCHEMA_VERSION)
    expect(notices).toHaveLength(1)
    expect(readdirSync(dir).filter((f) => f.endsWith(".bak"))).toEqual(["db.sqlite.schema-5.bak"])
  })

  it("migrates a schema-13 database to 14: each run's last take-over (taken_over) is the first of its history; readOnly reads it so without migrating", async () => {
    const filename = join(tempDir(), "db.sqlite")
    await Effect.runPromise(runMany(filename, 2))
    const taken = { from: "host-a:41:1700000000000", to: "host-b:42:1700000000001", reason: "lease-lapsed", at: "2026-11-20T10:00:00.000Z" }
    // A schema-13 database: no history table, one run taken over once.
    const old = new Database(filename)
    const [runA, runB] = (old.prepare("SELECT run_id FROM runs_history ORDER BY rowid").all() as Array<{ run_id: string }>).map((r) => r.run_id)
    old.exec("DROP TABLE run_takeovers")
    old.exec("ALTER TABLE runs_history DROP COLUMN skip_failed")
    old.exec("ALTER TABLE runs_history DROP COLUMN fork_max_steps")
    old.exec("ALTER TABLE runs_history DROP COLUMN default_model")
    old.prepare("UPDATE runs_history SET taken_over = ? WHERE run_id = ?").run(JSON.stringify(taken), runA)
    old.pragma("user_version = 13")
    old.close()
    const historyOf = (options: Partial<SqliteCheckpointer.SqliteCheckpointerOptions>) =>
      Effect.gen(function*() {
        const c = yield* Checkpointer
        return { a: yield* c.listTakeOvers!(runA!), b: yield* c.listTakeOvers!(runB!), record: Option.getOrThrow(yield* c.getRun(runA!)).taken_over }
      }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename, create: false, backupBeforeMigrate: false, ...options })), Effect.runPromise)
    const version = () => {
      const conn = new Database(filename, { readonly: true })
      try {
        return conn.pragma("user_version", { simple: true })
      } finally {
        conn.close()
      }
    }
    expect(await historyOf({ readOnly: true })).toEqual({ a: [taken], b: [], record: taken })
    expect(version()).toBe(13)
    expect(await historyOf({})).toEqual({ a: [taken], b: [], record: taken })
    expect(version()).toBe(SCHEMA_VERSION)
    const conn = new Database(filename, { readonly: true })
    expect(conn.prepare("SELECT run_id, seq, from_owner, to_owner, reason, at FROM run_takeovers").all())
      .toEqual([{ run_id: runA, seq: 1, from_owner: taken.from, to_owner: taken.to, reason: taken.reason, at: taken.at }])
    conn.close()
    // The next take-over comes after it.
    const next = { from: taken.to, to: "host-c:43:1700000000002", reason: "forced" as const, at: "2026-11-21T10:00:00.000Z" }
    const after = await Effect.gen(function*() {
      const c = yield* Checkpointer
      yield* c.updateRun(runA!, { status: "running", owner: taken.to })
      expect(yield* c.takeOver(runA!, { status: "running", owner: taken.to }, { owner: next.to, taken_over: next })).toBe(true)
      return yield* c.listTakeOvers!(runA!)
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename })), Effect.runPromise)
    expect(after).toEqual([taken, next])
  })

  it("commits a run's start without its own fsync under FULL and leaves the connection at its configured mode", async () => {
    const modes = await Promise.all((["FULL", "NORMAL"] as const).map((synchronous) =>
      Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(ir)
        const summary = yield* Effect.flatMap(graph.start(), (r) => r.start())
        expect(summary.status).toBe("done")
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
        return rows[0]?.synchronous
      }).pipe(Effect.provide(SqliteCheckpointer.layerWithClient({ filename: join(tempDir(), "sync.sqlite"), synchronous }))))))
    // 2 = FULL, 1 = NORMAL: the start's relaxed commit restored FULL afterwards.
    expect(modes).toEqual([2, 1])
  })

  it("a write through SQLite's read-only open fails with CheckpointError[read-only], naming the file and the fix; nothing is written", async () => {
    const filename = join(tempDir(), "ro.sqlite")
    const [run] = (await Effect.runPromise(runMany(filename, 1))).runs
    // SQLite's read-only flag holds for root too (unlike chmod): the connection a reader opens on a file it cannot write.
    const readOnly = Layer.provide(
      Layer.effect(Checkpointer, SqliteCheckpointer.make(filename)),
      SqliteClient.layer({ filename, readonly: true, disableWAL: true })
    )
    const writes = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      const cursor = yield* Effect.either(c.setCursor("k", "v"))
      const cancel = yield* Effect.either(c.updateRun(run!.run_id, { status: "cancelled" }))
      const read = yield* c.getRun(run!.run_id)
      return { cursor, cancel, status: Option.map(read, (r) => r.status) }
    }).pipe(Effect.provide(readOnly)))
    for (const attempt of [writes.cursor, writes.cancel]) {
      expect(Either.isLeft(attempt) && attempt.left).toMatchObject({
        _tag: "CheckpointError",
        reason: "read-only",
        filename,
        message: expect.stringMatching(/is read-only here \(attempt to write a readonly database\); nothing was written\. Copy it to a writable folder/)
      })
    }
    expect(writes.status).toEqual(Option.some("done"))
  })
})

describe("several processes opening one SQLite file at once", () => {
  /** A process that opens `file` (the built library) when the clock reaches `at`, then exits; its output kept. */
  const opener = (file: string, at: number) =>
    new Promise<{ readonly code: number | null; readonly output: string }>((resolve) => {
      const script = `
        const Effect = await import("effect/Effect")
        const Layer = await import("effect/Layer")
        const { layer } = await import(${JSON.stringify(join(ROOT, "dist", "src", "checkpoint", "SqliteCheckpointer.js"))})
        while (Date.now() < ${at}) {}
        await Effect.runPromise(Effect.scoped(Layer.build(layer({ filename: ${JSON.stringify(file)} }))))
      `
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
      let output = ""
      child.stdout.on("data", (d: Buffer) => (output += d.toString()))
      child.stderr.on("data", (d: Buffer) => (output += d.toString()))
      child.on("exit", (code) => resolve({ code, output }))
    })

  it("migrates it once, silently: no warning, no backup, every process opens it, the version is the current one", async () => {
    for (let round = 0; round < 8; round++) {
      const dir = tempDir()
      const file = join(dir, "new.sqlite")
      const at = Date.now() + 1500
      const results = await Promise.all(Array.from({ length: 4 }, () => opener(file, at)))
      expect(results.map((r) => r.code), results.map((r) => r.output).join("\n")).toEqual([0, 0, 0, 0])
      expect(results.map((r) => r.output).join(""), `round ${round}`).not.toMatch(/migrating|WARN|schema-\d+\.bak/)
      expect(readdirSync(dir).filter((f) => f.endsWith(".bak")), `round ${round}`).toEqual([])
      const db = new Database(file, { readonly: true })
      try {
        expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION)
      } finally {
        db.close()
      }
    }
  }, 120_000)

  it("an older file is migrated once: one process writes the backup and tells it, the others say nothing and leave no copy", async () => {
    for (let round = 0; round < 4; round++) {
      const dir = tempDir()
      const file = join(dir, "old.sqlite")
      const old = new Database(file)
      old.pragma("journal_mode = WAL")
      for (const m of MIGRATIONS.filter((m) => m.version <= 13)) for (const st of m.statements) old.exec(st)
      old.pragma("user_version = 13")
      old.close()
      const at = Date.now() + 1500
      const results = await Promise.all(Array.from({ length: 4 }, () => opener(file, at)))
      const output = results.map((r) => r.output).join("\n")
      expect(results.map((r) => r.code), output).toEqual([0, 0, 0, 0])
      expect(output.match(/migrating \S+ from schema 13/g), `round ${round}: ${output}`).toHaveLength(1)
      expect(readdirSync(dir).filter((f) => /\.(bak|partial)$/.test(f)), `round ${round}`).toEqual(["old.sqlite.schema-13.bak"])
      const db = new Database(file, { readonly: true })
      try {
        expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION)
      } finally {
        db.close()
      }
    }
  }, 120_000)
})
