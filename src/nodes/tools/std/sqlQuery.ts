/**
 * `std.sql_query@1`: the original's read-only SQL tool, its `sqlite` engine. The
 * database is a file inside the tools' filesystem root (as for the `std.file_*` tools,
 * needing `fs.read` on its real path), opened read-only with `query_only` on, so a write
 * fails in SQLite itself, and only a statement that returns rows runs (never `ATTACH`,
 * which would reach a file outside the root, nor `VACUUM INTO`). Rows come back as JSON objects (a blob as base64 text), at most
 * `max_rows` of them, read one at a time so a huge table costs no more than that. The
 * query runs in a process of its own (sqlWorker.ts), killed at `timeout_s` (default 30 s,
 * at most 300) or when the call is interrupted: a pathological query neither holds the
 * event loop nor outlives its limit.
 */
import { stat } from "node:fs/promises"
import { sqliteDriverPath } from "../../sqliteDriver.js"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"
import { READ, resolveJailed } from "./fsJail.js"
import { clampTimeoutMs } from "./pythonExec.js"
import { runQuery } from "./sqlWorker.js"

/** The most rows a call returns (a larger `max_rows` is lowered to it, as the original). */
export const MAX_ROWS = 10_000

/** A query's time limit when `timeout_s` is not given, in seconds. */
export const DEFAULT_TIMEOUT_S = 30

/** The longest `timeout_s`, in seconds (a larger one is lowered to it). */
export const MAX_SQL_TIMEOUT_S = 300

const Param = Schema.Union(Schema.String, Schema.Number, Schema.Boolean, Schema.Null)

const failed = (message: string, fix: string, argument?: string) =>
  new ToolError({ reason: "failed", ...(argument !== undefined ? { argument } : {}), message, fix })

/** `std.sql_query@1`. */
export const sqlQuery = Tool.make({
  id: "std.sql_query",
  version: "1",
  description:
    "Run a read-only SQL query against a local sqlite database file inside the tools filesystem root (needs the fs.read capability). Supports positional query parameters; rows return as JSON objects, capped at max_rows; stopped after timeout_s seconds (default 30).",
  input: Schema.Struct({
    database: Schema.String,
    query: Schema.String,
    params: Schema.optional(Schema.NullOr(Schema.Array(Param))),
    engine: Schema.optional(Schema.Literal("sqlite", "duckdb")),
    max_rows: Schema.optional(Schema.Int),
    timeout_s: Schema.optional(Schema.Finite)
  }),
  output: Schema.Struct({
    columns: Schema.Array(Schema.String),
    rows: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean, Schema.Null) })),
    row_count: Schema.Int,
    truncated: Schema.Boolean
  }),
  run: ({ database, engine, max_rows, params, query, timeout_s }) =>
    Effect.gen(function*() {
      if (engine === "duckdb") {
        return yield* new ToolError({ reason: "invalid-input", argument: "engine", message: "the duckdb engine is not part of this runtime", fix: "use engine: sqlite (the default) with a SQLite database file" })
      }
      const limit = Math.max(1, Math.min(max_rows ?? 1000, MAX_ROWS))
      const real = yield* resolveJailed(database, READ, "database")
      const isFile = yield* Effect.promise(() => stat(real).then((s) => s.isFile(), () => false))
      if (!isFile) return yield* failed(`database '${database}' does not exist`, "pass the path of a SQLite file inside the tools' filesystem root", "database")
      // SQLite binds a boolean as Python's sqlite3 does: 1 or 0.
      const bound = (params ?? []).map((p) => (typeof p === "boolean" ? (p ? 1 : 0) : p))
      const timeoutMs = clampTimeoutMs(timeout_s ?? DEFAULT_TIMEOUT_S, MAX_SQL_TIMEOUT_S)
      return yield* runQuery({ driverPath: sqliteDriverPath(), file: real, query, params: bound, limit, deadlineMs: timeoutMs + 1_000 }).pipe(
        Effect.mapError((failure) =>
          failure.kind === "open"
            ? failed(`sqlite open failed: ${failure.message}`, "pass a SQLite database file", "database")
            : failure.kind === "query"
            ? failed(`sqlite query failed: ${failure.message}`, "fix the query (it runs read-only: SELECT, WITH, read-only PRAGMAs)", "query")
            : failure.kind === "not-a-query"
            ? new ToolError({ reason: "invalid-input", argument: "query", message: "the statement returns no rows (only queries run: SELECT, WITH, VALUES, a PRAGMA that answers rows)", fix: "write a query that returns rows; std.sql_query never changes or attaches a database" })
            : failed(`sqlite query failed: ${failure.message}`, "check that better-sqlite3 loads in this Node (reinstall stargraph's dependencies)")
        ),
        Effect.timeoutFail({
          duration: timeoutMs,
          onTimeout: () =>
            new ToolError({
              reason: "timeout",
              message: `the query ran for more than ${timeoutMs / 1000} s (timeout_s) and was stopped`,
              fix: `raise timeout_s (at most ${MAX_SQL_TIMEOUT_S}), or make the query cheaper (a LIMIT, an index, a bounded recursive CTE)`
            })
        })
      )
    })
})
