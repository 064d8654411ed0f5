// Per-statement cost: sql`...` template vs a reserved Connection's execute (scratch).
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
const N = 10000
const filename = join(mkdtempSync(join(tmpdir(), "rc-")), "db.sqlite")
await Effect.runPromise(Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`PRAGMA synchronous = NORMAL`
  yield* sql`CREATE TABLE t (a TEXT, b INTEGER, c TEXT, d TEXT, e TEXT, f TEXT, g TEXT, h TEXT)`
  const row = (i: number) => ["run-x", i, "node", "[\"a\"]", JSON.stringify({ n: i }), "[]", "{}", "[]"]
  for (let round = 0; round < 2; round++) {
    let t = performance.now()
    for (let i = 0; i < N; i++) {
      const [a, b, c, d, e, f, g, h] = row(i)
      yield* sql`INSERT INTO t (a, b, c, d, e, f, g, h) VALUES (${a}, ${b}, ${c}, ${d}, ${e}, ${f}, ${g}, ${h})`
    }
    console.log("sql template", Math.round(N / ((performance.now() - t) / 1000)), "stmts/s")
    t = performance.now()
    const text = "INSERT INTO t (a, b, c, d, e, f, g, h) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    for (let i = 0; i < N; i++) {
      yield* Effect.scoped(Effect.flatMap(sql.reserve, (conn) => conn.executeRaw(text, row(i))))
    }
    console.log("reserve per stmt", Math.round(N / ((performance.now() - t) / 1000)), "stmts/s")
    t = performance.now()
    yield* Effect.scoped(Effect.gen(function*() {
      const conn = yield* sql.reserve
      for (let i = 0; i < N; i++) yield* conn.executeRaw(text, row(i))
    }))
    console.log("reserved once", Math.round(N / ((performance.now() - t) / 1000)), "stmts/s")
  }
}).pipe(Effect.provide(SqliteClient.layer({ filename }))))
