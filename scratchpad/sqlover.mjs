// Per-statement overhead of @effect/sql-sqlite-node vs bare better-sqlite3 (in-memory DB, one Effect loop).
import * as Effect from "effect/Effect"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import Database from "better-sqlite3"
const N = 30000
const ddl = "CREATE TABLE t (run_id TEXT, step INTEGER, node TEXT, nodes TEXT, state TEXT, writes TEXT, delta TEXT, next TEXT, joins TEXT, graph_hash TEXT, runtime_hash TEXT, parent_run_id TEXT, parent_step INTEGER, started_at TEXT, finished_at TEXT, duration_ms REAL, calls TEXT, PRIMARY KEY (run_id, step))"
const row = (i) => ["r", i, "a", "[\"a\"]", JSON.stringify({ n: i }), "[]", "{}", "[]", "{}", "sha256:x", "sha256:y", null, null, "t", "t", 0, "[]"]
{
  const db = new Database(":memory:"); db.exec(ddl)
  const st = db.prepare("INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
  for (let k = 0; k < 2; k++) { const t0 = performance.now(); for (let i = 0; i < N; i++) st.run(...row(i + k * N)); console.log("bare", ((performance.now() - t0) * 1000 / N).toFixed(1), "us/stmt") }
}
const mode = process.argv[2] ?? "on"
await Effect.runPromise(Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(ddl)
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now()
    for (let i = 0; i < N; i++) {
      const [a, b, c, d, e, f, g, h, j, l, m, n, o, p, q, r, s] = row(i + k * N)
      yield* sql`INSERT INTO t (run_id, step, node, nodes, state, writes, delta, next, joins, graph_hash, runtime_hash, parent_run_id, parent_step, started_at, finished_at, duration_ms, calls) VALUES (${a}, ${b}, ${c}, ${d}, ${e}, ${f}, ${g}, ${h}, ${j}, ${l}, ${m}, ${n}, ${o}, ${p}, ${q}, ${r}, ${s})`
    }
    console.log("effect-sql", mode, ((performance.now() - t0) * 1000 / N).toFixed(1), "us/stmt")
  }
}).pipe((e) => mode === "off" ? Effect.withTracerEnabled(e, false) : e, Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))
// Reserved connection per statement, constant SQL text.
await Effect.runPromise(Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(ddl)
  const text = "INSERT INTO t (run_id, step, node, nodes, state, writes, delta, next, joins, graph_hash, runtime_hash, parent_run_id, parent_step, started_at, finished_at, duration_ms, calls) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now()
    for (let i = 0; i < N; i++) yield* Effect.scoped(Effect.flatMap(sql.reserve, (c) => c.executeRaw(text, row(i + k * N))))
    console.log("reserve", mode, ((performance.now() - t0) * 1000 / N).toFixed(1), "us/stmt")
  }
}).pipe((e) => mode === "off" ? Effect.withTracerEnabled(e, false) : e, Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))
