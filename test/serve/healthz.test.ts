/**
 * `GET /healthz` reports the queue of the shared database: runs another process enqueued
 * (or took off the queue) are counted at once, not only what this server's Scheduler holds.
 * When the database fails that count it answers 503 `ApiError[unavailable]` with the fix,
 * and 200 again once the database answers.
 */
import { join } from "node:path"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Serve from "../../src/serve/server.js"
import { ROOT, tempDir } from "../helpers/cli.js"

const boot = async (options: Serve.ServeOptions) => {
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(Serve.start({ port: 0, ...options }).pipe(Scope.extend(scope)))
  return { ...started, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const health = async (url: string) => {
  const response = await fetch(`${url}/healthz`)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/** Through a Checkpointer of its own on the same file: what another process does. */
const elsewhere = <A>(db: string, effect: Effect.Effect<A, unknown, Checkpointer>) =>
  Effect.runPromise(effect.pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))

/** A graph no server here has: its queued runs stay queued. */
const other = Graph.make({ ir_version: "1.0.0", id: "run:only-elsewhere", state_schema: { a: "str" }, nodes: [{ id: "n", kind: "noop" }] })

let db: string
let first: Awaited<ReturnType<typeof boot>>
let second: Awaited<ReturnType<typeof boot>>

beforeAll(async () => {
  db = join(tempDir(), "shared.sqlite")
  const graphs = [join(ROOT, "examples", "hello")]
  first = await boot({ db, graphs, scheduler: { pollIntervalMs: 50 } })
  second = await boot({ db, graphs, scheduler: { pollIntervalMs: 50 } })
})

afterAll(async () => {
  await first?.close()
  await second?.close()
})

describe("GET /healthz on a database shared by two servers", () => {
  it("counts the database's queue: a run enqueued by another process shows at once on both servers, and leaves it when dequeued elsewhere", async () => {
    expect((await health(first.url)).body).toMatchObject({ status: "ok", queued: 0, queued_here: 0, running: 0 })
    const ids = await elsewhere(db, Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const graph = yield* other
      const created = yield* checkpointer.createRuns([1, 2].map(() => Effect.runSync(graph.newRun({ inputs: { a: "x" }, queued: true }))))
      return created.map((c) => c.record.run_id)
    }))
    for (const server of [first, second]) {
      const answer = await health(server.url)
      expect(answer.status).toBe(200)
      // The database's two, neither taken by this process.
      expect(answer.body).toMatchObject({ queued: 2, queued_here: 0, running: 0 })
    }
    // Finished elsewhere: off the queue, and no longer counted.
    await elsewhere(db, Effect.flatMap(Checkpointer, (c) => c.completePending(ids[0]!)))
    expect((await health(second.url)).body).toMatchObject({ queued: 1, queued_here: 0 })
    // A claimed row is being driven, not waiting.
    await elsewhere(db, Effect.flatMap(Checkpointer, (c) => c.claimPending(ids[1]!, "elsewhere:1", new Date().toISOString())))
    expect((await health(first.url)).body).toMatchObject({ queued: 0, queued_here: 0 })
  })

  it("a run posted to one server and finished by it is not left counted on the other", async () => {
    const posted = await fetch(`${first.url}/v1/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ graph_id: "run:hello-stargraph", params: { message: "hi" } }) })
    const runId = ((await posted.json()) as { run_id: string }).run_id
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      const run = (await (await fetch(`${second.url}/v1/runs/${runId}`)).json()) as { status: string }
      if (run.status === "done") break
      await new Promise((r) => setTimeout(r, 25))
    }
    for (const server of [first, second]) expect((await health(server.url)).body).toMatchObject({ queued: 0, queued_here: 0, running: 0 })
  })
})

describe("GET /healthz when the database fails the queue count", () => {
  it("answers 503 ApiError[unavailable] saying the fix, and 200 again once the database answers", async () => {
    const file = join(tempDir(), "failing.sqlite")
    const server = await boot({ db: file, graphs: [], scheduler: { pollIntervalMs: 50 } })
    // Another connection on the same file (what another process, or an operator, does).
    const conn = new Database(file)
    try {
      expect(await health(server.url)).toMatchObject({ status: 200, body: { status: "ok", queued: 0 } })
      // A real failure of the count: with the table renamed away, the server's prepared
      // `SELECT ... FROM pending_runs` is re-prepared on the schema change and fails with
      // "no such table: pending_runs". (An exclusive lock would not do: the database is in
      // WAL mode, where readers are not blocked by a writer, so the count would still answer.)
      conn.exec("ALTER TABLE pending_runs RENAME TO pending_runs_away")
      const failing = await health(server.url)
      expect(failing.status).toBe(503)
      expect(failing.body).toMatchObject({ error: { type: "ApiError", details: { reason: "unavailable", status: 503 } } })
      const message = (failing.body as { error: { details: { message: string } } }).error.details.message
      expect(message).toMatch(/^the database does not answer: counting the run queue: no such table: pending_runs; /)
      expect(message).toMatch(/fix: check the database .*answers 200 again once the database does$/)
      // The database answers again: so does the server, without a restart.
      conn.exec("ALTER TABLE pending_runs_away RENAME TO pending_runs")
      expect(await health(server.url)).toMatchObject({ status: 200, body: { status: "ok", queued: 0 } })
    } finally {
      conn.close()
      await server.close()
    }
  })
})
