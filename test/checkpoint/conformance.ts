/**
 * The Checkpointer behaviour every database backend shares, run by `sqlite.test.ts` and
 * `postgres.test.ts` on their own stores: the Checkpointer contract (`stargraph/testing`),
 * migrations (once, refused when newer), listing pages, transactions (atomic, nested in
 * a caller's), a reader that finds no Stargraph schema, an application's own SQL client
 * left alone, the CLI writing next to an in-process writer, and `prune`.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import * as ArtifactStore from "../../src/checkpoint/ArtifactStore.js"
import { Checkpointer, type CheckpointerShape } from "../../src/checkpoint/Checkpointer.js"
import * as Connection from "../../src/checkpoint/connection.js"
import { SCHEMA_VERSION } from "../../src/checkpoint/migrations.js"
import { prune } from "../../src/checkpoint/prune.js"
import type { CheckpointError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { checkpointerContract, checkpointerContractCases } from "../../src/testing/index.js"
import { ROOT, tempDir } from "../helpers/cli.js"

/** One store of a backend: a database of its own. */
export interface Store {
  /** What `--db` takes for it (a file, a URL). */
  readonly db: string
  /** The Checkpointer on it (`create: false`: a reader, which never creates the schema). */
  readonly layer: (options?: { readonly create?: boolean }) => Layer.Layer<Checkpointer, CheckpointError>
  /** Its migrated SQL client. */
  readonly client: () => Layer.Layer<SqlClient.SqlClient, CheckpointError>
  /** The schema version it records. */
  readonly schemaVersion: () => Promise<number>
  /** Record another schema version (as a newer Stargraph would). */
  readonly setSchemaVersion: (version: number) => Promise<void>
}

/** A backend under test. */
export interface Backend {
  readonly name: string
  /** A new, migrated store. */
  readonly fresh: () => Promise<Store>
  /** A database without Stargraph's schema (a missing file, an empty database), and whether it is still without it. */
  readonly withoutSchema: () => Promise<{ readonly store: Store; readonly untouched: () => Promise<boolean> }>
}

const tiny = {
  ir_version: "1.0.0",
  id: "run:tiny",
  state_schema: { fields: { n: { type: "integer", default: 0, reducer: "add" } } },
  nodes: [{ id: "a", kind: "set", values: { n: 1 } }, { id: "b", kind: "set", values: { n: 1 } }],
  edges: [{ from: "a", to: "b" }]
}

/** A set node, then an interrupt. */
const interrupted = {
  ir_version: "1.0.0",
  id: "prune:g",
  state_schema: { fields: { n: { type: "integer", default: 0 }, answer: { type: "string", default: "" } } },
  nodes: [{ id: "a", kind: "set", values: { n: 1 } }, { id: "ask", kind: "interrupt", prompt: "?", response_field: "answer" }],
  edges: [{ from: "a", to: "ask" }]
}

const runMany = (layer: Layer.Layer<Checkpointer, CheckpointError>, count: number) =>
  Effect.gen(function*() {
    const graph = yield* Graph.make(tiny)
    for (let i = 0; i < count; i++) yield* Effect.flatMap(graph.start(), (r) => r.start())
    return yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 500 }))
  }).pipe(Effect.provide(layer))

const reasonOf = (result: Either.Either<unknown, unknown>): string =>
  Either.isLeft(result) ? (result.left as { readonly reason?: string }).reason ?? String(result.left) : "ok"

/** The time (ms) in a run id's version 7 UUID: its first 48 bits. */
export const idTime = (runId: string): number => parseInt(runId.replace(/^[a-z]+-/, "").replace(/-/g, "").slice(0, 12), 16)

/**
 * Two writers interleaved: the first prepares its run (its `created_at` taken then), the
 * second prepares one 40 ms later and writes it first (it got the write lock first), then
 * the first writes; then a group commit of two runs offered in the other order, and a run
 * created `running`. Each run's record and listing, newest first.
 */
export const writtenOutOfOrder = Effect.gen(function*() {
  const graph = yield* Graph.make(tiny)
  const c = yield* Checkpointer
  const base = yield* graph.newRun({})
  const at = Date.parse(base.created_at)
  const iso = (ms: number) => new Date(ms).toISOString()
  const second = yield* c.createRun({ ...base, created_at: iso(at + 40) })
  const first = yield* c.createRun({ ...base, created_at: iso(at) })
  const batch = yield* c.createRuns([{ ...base, created_at: iso(at + 80) }, { ...base, created_at: iso(at + 60) }])
  const running = yield* c.createRun({ ...base, created_at: iso(at + 70), running: { owner: "host:1:1", started_at: iso(at + 70) } })
  const listed = (yield* c.listRuns({ limit: 10 })).runs
  // A run written with a clock a day ahead does not pin the runs after it to its time.
  yield* c.createRun({ ...base, created_at: iso(at + 86_400_000) })
  const afterAhead = yield* c.createRun({ ...base, created_at: iso(at + 100), running: { owner: "host:1:1", started_at: iso(at + 100) } })
  return { at, iso, second, first, batch, running, listed, afterAhead }
})

/** What {@link writtenOutOfOrder} must show: creation times (and ids' times) in list order, each raised only as far as the run written before it. */
export const expectCreatedInListOrder = (out: Effect.Effect.Success<typeof writtenOutOfOrder>): void => {
  const { at, iso } = out
  expect(out.listed.map((r) => r.run_id)).toEqual([out.running, out.batch[1]!, out.batch[0]!, out.first, out.second].map((r) => r.record.run_id))
  // Newest first: no run is listed above one created later, by its record or by its id.
  const times = out.listed.map((r) => r.created_at)
  expect(times).toEqual([...times].sort().reverse())
  for (const r of out.listed) expect(idTime(r.run_id), r.run_id).toBe(Date.parse(r.created_at))
  // Each time as prepared, unless the run written before it was created later: then that one's.
  expect(out.listed.map((r) => r.created_at)).toEqual([iso(at + 80), iso(at + 80), iso(at + 80), iso(at + 40), iso(at + 40)])
  expect(out.running.record).toMatchObject({ created_at: iso(at + 80), started_at: iso(at + 80), status: "running", owner: "host:1:1" })
  expect(out.first.record.created_at).toBe(iso(at + 40))
  expect(out.afterAhead.record).toMatchObject({ created_at: iso(at + 100), started_at: iso(at + 100) })
  expect(idTime(out.afterAhead.record.run_id)).toBe(at + 100)
}

/** The shared suite, for `backend`. */
export const conformance = (backend: Backend): void => {
  describe(`Checkpointer conformance: ${backend.name}`, () => {
    // The contract's checks use fresh ids: they share one store.
    let shared: Promise<Store> | undefined
    const sharedStore = () => (shared ??= backend.fresh())
    checkpointerContractCases.forEach((contractCase, i) => {
      it(`contract: ${contractCase.name}`, async () => {
        const store = await sharedStore()
        const result = await Effect.runPromise(Effect.either(checkpointerContract(store.layer())[i]!.run))
        if (Either.isLeft(result)) expect.fail(`${result.left.check}: ${result.left.message}`)
      })
    })

    it("migrates once, reopens cleanly, and records the schema version", async () => {
      const store = await backend.fresh()
      await Effect.runPromise(runMany(store.layer(), 1))
      const page = await Effect.runPromise(runMany(store.layer(), 1))
      expect(page.runs.map((r) => r.status)).toEqual(["done", "done"])
      expect(await store.schemaVersion()).toBe(SCHEMA_VERSION)
    })

    it("refuses a database written by a newer Stargraph, naming both versions and the fix, and changes nothing", async () => {
      const store = await backend.fresh()
      await Effect.runPromise(runMany(store.layer(), 1))
      await store.setSchemaVersion(99)
      const result = await Effect.runPromise(Effect.either(runMany(store.layer(), 1)))
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "CheckpointError", reason: "migration-failed" })
      const message = Either.isLeft(result) ? result.left.message : ""
      expect(message).toContain("99")
      expect(message).toContain(String(SCHEMA_VERSION))
      expect(message).toMatch(/upgrade Stargraph/)
      expect(await store.schemaVersion()).toBe(99)
    })

    it("a reader (create: false) refuses a database without Stargraph's schema and creates nothing; a writer creates it", async () => {
      const { store, untouched } = await backend.withoutSchema()
      const read = await Effect.runPromise(Effect.either(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(store.layer({ create: false })))))
      expect(reasonOf(read)).toBe("not-a-database")
      expect(await untouched()).toBe(true)
      await Effect.runPromise(runMany(store.layer(), 1))
      const again = await Effect.runPromise(Effect.either(Effect.flatMap(Checkpointer, (c) => c.listRuns({})).pipe(Effect.provide(store.layer({ create: false })))))
      expect(Either.isRight(again) && again.right.runs.length).toBe(1)
    })

    it("pages runs newest first with a cursor, filtered by status", async () => {
      const store = await backend.fresh()
      await Effect.runPromise(runMany(store.layer(), 25))
      const pages = await Effect.runPromise(Effect.gen(function*() {
        const c = yield* Checkpointer
        const ids: Array<string> = []
        let cursor: string | undefined
        let pageCount = 0
        do {
          const page = yield* c.listRuns({ limit: 10, status: "done", ...(cursor ? { cursor } : {}) })
          ids.push(...page.runs.map((r) => r.run_id))
          cursor = page.next_cursor ?? undefined
          pageCount++
        } while (cursor)
        const all = yield* c.listRuns({ limit: 500 })
        const none = yield* c.listRuns({ status: "failed" })
        return { ids, pageCount, all: all.runs.map((r) => r.run_id), none: none.runs.length }
      }).pipe(Effect.provide(store.layer())))
      expect(pages.pageCount).toBe(3)
      expect(pages.ids).toEqual(pages.all)
      expect(new Set(pages.ids).size).toBe(25)
      expect(pages.none).toBe(0)
    })

    it("a run is never created earlier than the run written before it: a writer that prepared its run first but wrote it second takes that run's time (record, listing, id)", async () => {
      const store = await backend.fresh()
      expectCreatedInListOrder(await Effect.runPromise(writtenOutOfOrder.pipe(Effect.provide(store.layer()))))
    })

    it("a used idempotency key is compared with the request its run's record keeps (graph, params, thread, skip_failed, breakpoints): another request is refused and nothing written; skip_failed unknown (NULL, a row from before schema 17) is not compared", async () => {
      const store = await backend.fresh()
      const layer = Layer.mergeAll(store.layer(), store.client())
      const out = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(tiny)
        const other = yield* Graph.make({ ...tiny, id: "run:other" })
        const c = yield* Checkpointer
        const sql = yield* SqlClient.SqlClient
        const refusal = <R>(start: Effect.Effect<unknown, unknown, R>) =>
          Effect.map(Effect.flip(start), (e) => e as { readonly _tag: string; readonly reason?: string; readonly field?: string; readonly runId?: string; readonly message: string })
        const plain = (yield* graph.start({ inputs: { n: 1 }, idempotencyKey: "k-plain" })).runId
        const onThread = (yield* graph.start({ inputs: { n: 1 }, threadId: "t", idempotencyKey: "k-thread" })).runId
        const skipping = (yield* graph.start({ inputs: { n: 1 }, threadId: "u", skipFailed: true, idempotencyKey: "k-skip" })).runId
        const records = {
          plain: Option.getOrThrow(yield* c.getRun(plain)).skip_failed,
          onThread: Option.getOrThrow(yield* c.getRun(onThread)).skip_failed,
          skipping: Option.getOrThrow(yield* c.getRun(skipping)).skip_failed
        }
        const before = (yield* c.listRuns({ limit: 50 })).runs
        const refused = {
          same: yield* refusal(graph.start({ inputs: { n: 1 }, idempotencyKey: "k-plain" })),
          graph: yield* refusal(other.start({ inputs: { n: 1 }, idempotencyKey: "k-plain" })),
          params: yield* refusal(graph.start({ inputs: { n: 2 }, idempotencyKey: "k-plain" })),
          thread: yield* refusal(graph.start({ inputs: { n: 1 }, threadId: "v", idempotencyKey: "k-plain" })),
          breakpoints: yield* refusal(graph.start({ inputs: { n: 1 }, interruptBefore: ["b"], idempotencyKey: "k-plain" })),
          skipAsked: yield* refusal(graph.start({ inputs: { n: 1 }, threadId: "t", skipFailed: true, idempotencyKey: "k-thread" })),
          skipDropped: yield* refusal(graph.start({ inputs: { n: 1 }, threadId: "u", idempotencyKey: "k-skip" })),
          threadSame: yield* refusal(graph.start({ inputs: { n: 1 }, threadId: "t", idempotencyKey: "k-thread" }))
        }
        const after = (yield* c.listRuns({ limit: 50 })).runs
        // A row written before schema 17 does not know: a retry is not refused for it, either way.
        yield* sql`UPDATE runs_history SET skip_failed = NULL WHERE run_id = ${onThread}`
        const unknown = {
          record: Option.getOrThrow(yield* c.getRun(onThread)).skip_failed,
          asked: yield* refusal(graph.start({ inputs: { n: 1 }, threadId: "t", skipFailed: true, idempotencyKey: "k-thread" })),
          notAsked: yield* refusal(graph.start({ inputs: { n: 1 }, threadId: "t", idempotencyKey: "k-thread" }))
        }
        return { plain, onThread, skipping, records, refused, unknown, before, after }
      }).pipe(Effect.provide(layer)))
      expect(out.records).toEqual({ plain: null, onThread: false, skipping: true })
      // The same request: the run is there already (Graph.start says so; the Scheduler answers with it).
      for (const same of [out.refused.same, out.refused.threadSame, out.unknown.asked, out.unknown.notAsked]) {
        expect(same).toMatchObject({ _tag: "RunStateError" })
        expect(same).not.toHaveProperty("reason")
      }
      const reused = (field: string, runId: string) => ({ _tag: "RunStateError", reason: "idempotency-key-reused", field, runId, operation: "start" })
      expect(out.refused.graph).toMatchObject(reused("graph_id", out.plain))
      expect(out.refused.params).toMatchObject(reused("params", out.plain))
      expect(out.refused.thread).toMatchObject(reused("thread_id", out.plain))
      expect(out.refused.breakpoints).toMatchObject(reused("interrupt_before", out.plain))
      expect(out.refused.skipAsked).toMatchObject(reused("skip_failed", out.onThread))
      expect(out.refused.skipAsked.message).toContain(`idempotency key 'k-thread' already belongs to run ${out.onThread}, started without skip_failed, and this request passes over`)
      expect(out.refused.skipDropped).toMatchObject(reused("skip_failed", out.skipping))
      expect(out.refused.skipDropped.message).toContain("passing over the thread's failed and cancelled runs (skip_failed), and this request does not")
      expect(out.unknown.record).toBeNull()
      // Nothing written by any of them.
      expect(out.after).toEqual(out.before)
    })

    it("an old cursor never reads on into runs made after its page: valid while the run it ends at is there, refused (invalid-cursor) once a prune deleted it", async () => {
      const store = await backend.fresh()
      const layer = Layer.mergeAll(store.layer(), store.client(), ArtifactStore.memory)
      const out = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(tiny)
        const c = yield* Checkpointer
        const runOne = Effect.map(Effect.flatMap(graph.start(), (r) => r.start()), (s) => s.run_id)
        const cutoff = () => Effect.zipRight(Effect.sleep("5 millis"), Effect.map(Effect.sync(() => new Date().toISOString()), (at) => at)).pipe(Effect.zipLeft(Effect.sleep("5 millis")))
        // The oldest run ends before the first cutoff, the others after it.
        const oldest = yield* runOne
        const first = yield* cutoff()
        const kept = [yield* runOne, yield* runOne, yield* runOne, yield* runOne]
        const page1 = yield* c.listRuns({ limit: 2 })
        const cursor = page1.next_cursor!
        // A prune that deletes older runs only, then new runs: the cursor still pages on, to the older runs left.
        yield* prune(store.db, { before: first })
        const newer = yield* runOne
        const page2 = yield* c.listRuns({ limit: 2, cursor })
        // A prune that deletes every run, the cursor's too, then new runs (SQLite hands them
        // the deleted rows' rowids, below the cursor's place): the cursor is refused.
        const second = yield* cutoff()
        yield* prune(store.db, { before: second })
        const after = [yield* runOne, yield* runOne, yield* runOne, yield* runOne, yield* runOne]
        const stale = yield* Effect.either(c.listRuns({ limit: 2, cursor }))
        const staleFiltered = yield* Effect.either(c.listRuns({ limit: 2, status: "done", cursor }))
        // A cursor of an older Stargraph (the place alone) cannot be checked: refused too.
        const older = yield* Effect.either(c.listRuns({ limit: 2, cursor: Buffer.from("3").toString("base64url") }))
        // Paging from the top again reads the new runs, newest first.
        const fresh = yield* c.listRuns({ limit: 10 })
        return { oldest, kept, page1, page2, newer, after, stale, staleFiltered, older, fresh }
      }).pipe(Effect.provide(layer)))
      expect(out.page1.runs.map((r) => r.run_id)).toEqual([out.kept[3], out.kept[2]])
      expect(out.page2.runs.map((r) => r.run_id)).toEqual([out.kept[1], out.kept[0]])
      expect(out.page2.next_cursor).toBeNull()
      for (const refused of [out.stale, out.staleFiltered]) {
        // (Before cursors named their run, SQLite's answer here was two of the runs made after the prune.)
        expect(Either.isRight(refused) ? refused.right.runs.map((r) => r.run_id) : []).toEqual([])
        expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "CheckpointError", reason: "invalid-cursor", runId: out.kept[2] })
        expect(Either.isLeft(refused) ? refused.left.message : "").toContain(`continues after run ${out.kept[2]}, which was deleted since`)
      }
      expect(Either.isLeft(out.older) && out.older.left).toMatchObject({ _tag: "CheckpointError", reason: "invalid-cursor" })
      expect(Either.isLeft(out.older) ? out.older.left.message : "").toContain("older Stargraph")
      expect(out.fresh.runs.map((r) => r.run_id)).toEqual([...out.after].reverse())
    })

    it("lists one thread's runs (thread_id), with the status and graph filters and the cursor, and no other run", async () => {
      const store = await backend.fresh()
      const out = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(tiny)
        const other = yield* Graph.make({ ...tiny, id: "run:other" })
        const turn = (g: Graph.Graph, threadId?: string) => Effect.flatMap(g.start(threadId === undefined ? {} : { threadId }), (r) => r.start())
        const a = [yield* turn(graph, "t-a"), yield* turn(graph)]
        a.push(yield* turn(graph, "t-a"), yield* turn(other, "t-b"), yield* turn(graph, "t-a"))
        const c = yield* Checkpointer
        const ids: Array<string> = []
        let cursor: string | undefined
        do {
          const page = yield* c.listRuns({ thread_id: "t-a", limit: 2, ...(cursor ? { cursor } : {}) })
          ids.push(...page.runs.map((r) => r.run_id))
          cursor = page.next_cursor ?? undefined
        } while (cursor)
        return {
          ids,
          threads: a.map((r) => r.run_id),
          records: (yield* c.listRuns({ thread_id: "t-a" })).runs.map((r) => r.thread_id),
          done: (yield* c.listRuns({ thread_id: "t-a", status: "done", graph_id: "run:tiny", limit: 1 })).runs.map((r) => r.run_id),
          otherGraph: (yield* c.listRuns({ thread_id: "t-a", graph_id: "run:other" })).runs.length,
          failed: (yield* c.listRuns({ thread_id: "t-a", status: "failed" })).runs.length,
          b: (yield* c.listRuns({ thread_id: "t-b" })).runs.map((r) => r.graph_id),
          unknown: (yield* c.listRuns({ thread_id: "t-none" })).runs.length,
          all: (yield* c.listRuns({})).runs.length
        }
      }).pipe(Effect.provide(store.layer())))
      // Runs 0, 2 and 4 are on t-a (1 has no thread, 3 is another graph's thread), newest first.
      expect(out.ids).toEqual([out.threads[4], out.threads[2], out.threads[0]])
      expect(out.records).toEqual(["t-a", "t-a", "t-a"])
      expect(out.done).toEqual([out.threads[4]])
      expect([out.otherGraph, out.failed, out.unknown, out.all]).toEqual([0, 0, 0, 5])
      expect(out.b).toEqual(["run:other"])
    })

    it("write transactions roll back whole on failure and nest inside a caller's sql.withTransaction", async () => {
      const store = await backend.fresh()
      const rows = await Effect.runPromise(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (k TEXT PRIMARY KEY)`
        // A duplicate key fails the second insert: the first is rolled back with it.
        const failed = yield* Effect.either(Connection.transaction(sql, (db) =>
          Effect.zipRight(db.run("INSERT INTO t (k) VALUES (?)", ["a"]), db.run("INSERT INTO t (k) VALUES (?)", ["a"]))))
        expect(Either.isLeft(failed)).toBe(true)
        expect(yield* sql`SELECT k FROM t`).toEqual([])
        // Inside the caller's transaction: a savepoint on the caller's connection (no deadlock),
        // a failed inner write undone alone, and the caller's rollback undoing everything.
        const outer = yield* Effect.either(sql.withTransaction(Effect.gen(function*() {
          yield* Connection.runOne(sql, "INSERT INTO t (k) VALUES (?)", ["outer"])
          const inner = yield* Effect.either(Connection.transaction(sql, (db) =>
            Effect.zipRight(db.run("INSERT INTO t (k) VALUES (?)", ["inner"]), db.run("INSERT INTO t (k) VALUES (?)", ["outer"]))))
          expect(Either.isLeft(inner)).toBe(true)
          expect(yield* sql`SELECT k FROM t ORDER BY k`).toEqual([{ k: "outer" }])
          yield* Connection.transaction(sql, (db) => Effect.zipRight(db.run("INSERT INTO t (k) VALUES (?)", ["kept"]), sql`SELECT 1`))
          return yield* Effect.fail("abort" as const)
        })))
        expect(outer).toEqual(Either.left("abort"))
        expect(yield* sql`SELECT k FROM t`).toEqual([])
        const changed = yield* Connection.transaction(sql, (db) => db.run("INSERT INTO t (k) VALUES (?), (?)", ["x", "y"]))
        expect(changed.changes).toBe(2)
        return yield* sql<{ k: string }>`SELECT k FROM t ORDER BY k`
      }).pipe(Effect.provide(store.client())))
      expect(rows).toEqual([{ k: "x" }, { k: "y" }])
    })

    it("layer provides only the Checkpointer: an app's own SqlClient (another database) is not shadowed", async () => {
      const store = await backend.fresh()
      const app = join(tempDir(), "app.sqlite")
      const tables = await Effect.runPromise(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE orders (id INTEGER PRIMARY KEY)`
        const graph = yield* Graph.make(tiny)
        expect((yield* Effect.flatMap(graph.start(), (r) => r.start())).status).toBe("done")
        return (yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).map((r) => r.name)
      }).pipe(
        Effect.provide(store.layer()),
        Effect.provide(SqliteClient.layer({ filename: app }))
      ))
      expect(tables).toEqual(["orders"])
    })

    it("lets CLI processes and an in-process writer use one database at the same time", async () => {
      const store = await backend.fresh()
      await Effect.runPromise(runMany(store.layer(), 1))
      const cli = Array.from({ length: 3 }, () =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, [
            join(ROOT, "bin", "stargraph.js"),
            "run",
            join(ROOT, "examples", "hello", "graph.yaml"),
            "--inputs",
            "message=concurrent",
            "--checkpoint",
            store.db,
            "--no-summary"
          ], { stdio: "ignore" })
          child.on("exit", (code) => resolve(code))
        }))
      const inProcess = Effect.runPromise(runMany(store.layer(), 40))
      const [codes] = await Promise.all([Promise.all(cli), inProcess])
      expect(codes).toEqual([0, 0, 0])
      const page = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 500 })).pipe(Effect.provide(store.layer())))
      expect(page.runs.length).toBe(44)
      expect(page.runs.every((r) => r.status === "done")).toBe(true)
      expect(page.runs.filter((r) => r.graph_id === "run:hello-stargraph")).toHaveLength(3)
    })

    it("prune deletes ended runs, their checkpoints and take-overs in one transaction, keeps waiting ones and a fork's parent; a dry run deletes nothing", async () => {
      const store = await backend.fresh()
      const filename = store.db
      const layer = Layer.mergeAll(store.layer(), store.client(), ArtifactStore.memory)
      const out = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(interrupted)
        const answered = (value: string) =>
          Effect.flatMap(Effect.flatMap(graph.start(), (r) => r.start()), (w) => Effect.flatMap(graph.resume(w.run_id, { response: { value } }), (r) => r.start()))
        const done = yield* answered("yes")
        const parent = yield* answered("no")
        // Its take-over history goes with a pruned run.
        const took = { from: "host-a:1:1", to: "host-b:2:2", reason: "forced" as const, at: "2026-01-01T00:00:00.000Z" }
        yield* Effect.flatMap(Checkpointer, (c) => c.updateRun(done.run_id, { taken_over: took }))
        // The cutoff: after those two ended, before the fork below: the fork is too recent to
        // prune, and its parent must stay with it.
        yield* Effect.sleep("5 millis")
        const future = new Date().toISOString()
        yield* Effect.sleep("5 millis")
        const fork = yield* Replay.fork(graph, parent.run_id, { fromStep: 1, mutation: { state_overrides: { n: 2 } } })
        const waiting = yield* Effect.flatMap(graph.start(), (r) => r.start())
        const dry = yield* prune(filename, { before: future, dryRun: true })
        const afterDry = (yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 50 }))).runs.length
        const takeOversAfterDry = yield* Effect.flatMap(Checkpointer, (c) => c.listTakeOvers!(done.run_id))
        const real = yield* prune(filename, { before: future })
        const checkpointer = yield* Checkpointer
        const takeOversAfter = yield* checkpointer.listTakeOvers!(done.run_id)
        const left = (yield* checkpointer.listRuns({ limit: 50 })).runs.map((r) => r.run_id).sort()
        const doneCheckpoints = yield* checkpointer.listCheckpoints(done.run_id)
        const bad = yield* Effect.either(prune(filename, { before: future, statuses: ["error"] }))
        // A cutoff later than now (a typo in the year) would delete every ended run: refused, nothing deleted.
        const tooLate = yield* Effect.either(prune(filename, { before: "2099-01-01T00:00:00Z" }))
        const afterTooLate = (yield* checkpointer.listRuns({ limit: 50 })).runs.length
        return { done, parent, fork, waiting, dry, afterDry, real, left, doneCheckpoints, bad, tooLate, afterTooLate, takeOversAfterDry, takeOversAfter, took, gone: Option.isNone(yield* checkpointer.getRun(done.run_id)) }
      }).pipe(Effect.provide(layer)))
      expect(out.dry).toMatchObject({ runs: 1, kept: 1, run_ids: [out.done.run_id] })
      expect(out.afterDry).toBe(4)
      expect(out.real).toMatchObject({ runs: 1, kept: 1, run_ids: [out.done.run_id], artifacts: { entries: 0, blobs: 0, bytes: 0 } })
      expect(out.real.checkpoints).toBeGreaterThan(0)
      expect(out.left).toEqual([out.parent.run_id, out.fork.cfRunId, out.waiting.run_id].sort())
      expect(Either.isLeft(out.tooLate) && out.tooLate.left).toMatchObject({ _tag: "InputError", field: "before", message: expect.stringContaining("2099-01-01T00:00:00.000Z is later than now") })
      expect(out.afterTooLate).toBe(3)
      expect([out.gone, out.doneCheckpoints]).toEqual([true, []])
      expect([out.takeOversAfterDry, out.takeOversAfter]).toEqual([[out.took], []])
      expect(Either.isLeft(out.bad) && out.bad.left).toMatchObject({ _tag: "InputError", field: "statuses" })
    })

    it("prune never deletes a thread's newest run (the thread would skip back to an older one), nor its newest done run (where a start passing over failed runs goes on): it keeps them and counts them", async () => {
      const store = await backend.fresh()
      const filename = store.db
      const layer = Layer.mergeAll(store.layer(), store.client(), ArtifactStore.memory)
      const out = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(tiny)
        const checkpointer = yield* Checkpointer
        const turn = (threadId?: string) => Effect.flatMap(graph.start(threadId === undefined ? {} : { threadId }), (r) => r.start())
        // Thread c: a done run, then one cancelled before it ran (its newest).
        const cFirst = yield* turn("c")
        const cLast = yield* graph.start({ threadId: "c" })
        yield* checkpointer.updateRun(cLast.runId, { status: "cancelled", finished_at: new Date().toISOString() })
        // Thread d: two done runs. And a run on no thread.
        const dFirst = yield* turn("d")
        const dLast = yield* turn("d")
        const alone = yield* turn()
        // Thread e: two done runs, then a failed one (its newest): the second done run is its
        // newest done run, where a start passing over the failed run goes on; the first goes.
        const eFirst = yield* turn("e")
        const eDone = yield* turn("e")
        const eFailed = yield* graph.start({ threadId: "e" })
        yield* checkpointer.updateRun(eFailed.runId, { status: "failed", finished_at: new Date().toISOString() })
        yield* Effect.sleep("5 millis")
        const future = new Date().toISOString()
        // By status: the cancelled run is c's newest, so it stays (and c does not go back to its done run).
        const cancelledOnly = yield* prune(filename, { before: future, statuses: ["cancelled"] })
        const cRefused = yield* Effect.flip(graph.start({ threadId: "c" }))
        const dry = yield* prune(filename, { before: future, dryRun: true })
        const all = yield* prune(filename, { before: future })
        const left = (yield* checkpointer.listRuns({ limit: 50 })).runs.map((r) => r.run_id).sort()
        // d goes on from its newest run, which was kept; c, passing over its cancelled run, from its done run, kept too.
        const dNext = yield* graph.start({ threadId: "d" })
        const dNextRecord = Option.getOrThrow(yield* checkpointer.getRun(dNext.runId))
        const cSkip = yield* graph.start({ threadId: "c", skipFailed: true })
        const cSkipRecord = Option.getOrThrow(yield* checkpointer.getRun(cSkip.runId))
        const eSkip = yield* graph.start({ threadId: "e", skipFailed: true })
        const eSkipRecord = Option.getOrThrow(yield* checkpointer.getRun(eSkip.runId))
        return { cFirst, cLast: cLast.runId, dFirst, dLast, eFirst, eDone, eFailed: eFailed.runId, alone, cancelledOnly, cRefused, dry, all, left, dNextRecord, cSkipRecord, eSkipRecord }
      }).pipe(Effect.provide(layer)))
      expect(out.cancelledOnly).toMatchObject({ runs: 0, kept: 0, kept_newest: 1, run_ids: [] })
      expect(out.cRefused).toMatchObject({ _tag: "RunStateError", runId: out.cLast, status: "cancelled" })
      expect(out.dry).toMatchObject({ runs: 3, kept: 0, kept_newest: 5 })
      expect(out.all).toMatchObject({ runs: 3, kept: 0, kept_newest: 5 })
      expect([...out.all.run_ids].sort()).toEqual([out.dFirst.run_id, out.eFirst.run_id, out.alone.run_id].sort())
      expect(out.left).toEqual([out.cFirst.run_id, out.cLast, out.dLast.run_id, out.eDone.run_id, out.eFailed].sort())
      expect(out.dNextRecord).toMatchObject({ thread_id: "d", continued_from: out.dLast.run_id })
      expect(out.cSkipRecord).toMatchObject({ thread_id: "c", continued_from: out.cFirst.run_id })
      expect(out.eSkipRecord).toMatchObject({ thread_id: "e", continued_from: out.eDone.run_id })
    })

    it("a fork whose parent a prune deletes between reading it and writing the fork is refused and left failed, not left pointing at a deleted recording", async () => {
      const store = await backend.fresh()
      const filename = store.db
      const base = Layer.mergeAll(store.layer(), store.client(), ArtifactStore.memory)
      // The real store, with a real prune committed just before a fork is written: the
      // moment a prune by another process can come, after the fork read its parent.
      const racing = Layer.effect(
        Checkpointer,
        Effect.gen(function*() {
          const real = yield* Checkpointer
          const context = yield* Effect.context<SqlClient.SqlClient | ArtifactStore.ArtifactStore>()
          const pruneNow = Effect.provide(Effect.suspend(() => prune(filename, { before: new Date().toISOString() })), context)
          return { ...real, createRun: (run) => run.runIdPrefix === "cf" ? Effect.zipRight(Effect.orDie(pruneNow), real.createRun(run)) : real.createRun(run) } satisfies CheckpointerShape
        })
      ).pipe(Layer.provide(base))
      const parent = await Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(tiny)
        const done = yield* Effect.flatMap(graph.start(), (r) => r.start())
        yield* Effect.sleep("5 millis")
        return done
      }).pipe(Effect.provide(base)))
      const refused = await Effect.runPromise(Effect.flip(Effect.flatMap(Graph.make(tiny), (graph) => Replay.fork(graph, parent.run_id))).pipe(Effect.provide(racing)))
      const runs = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 50 })).pipe(Effect.provide(base)))
      expect(refused).toMatchObject({ _tag: "CheckpointError", reason: "unknown-run", runId: parent.run_id })
      expect(refused.message).toContain(`run ${parent.run_id} was deleted`)
      // Only the fork is left, failed with that error: nothing drives or resumes it.
      expect(runs.runs.map((r) => [r.parent_run_id, r.status, r.error?.type])).toEqual([[parent.run_id, "failed", "CheckpointError"]])
    })
  })
}
