/**
 * `std.sql_query@1`: the original's read-only SQL tool, its `sqlite` engine. The
 * database is a file inside the tools' filesystem root (as for the `std.file_*` tools,
 * needing `fs.read` on its real path), opened read-only with `query_only` on, so a write
 * fails in SQLite itself, and only a statement that returns rows runs (never `ATTACH`,
 * which would reach a file outside the root, nor `VACUUM INTO`). Rows come back as JSON objects (a blob as base64 text), at most
 * `max_rows` of them, read one at a time so a huge table costs no more than that.
 */
import { stat } from "node:fs/promises"
import { sqliteDriver } from "../../sqliteDriver.js"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"
import { READ, resolveJailed } from "./fsJail.js"

/** The most rows a call returns (a larger `max_rows` is lowered to it, as the original). */
export const MAX_ROWS = 10_000

/** A column's value as JSON: SQLite's integers, reals, text and null as they are, a blob as base64, a bigint as text. */
const jsonValue = (value: unknown): string | number | boolean | null =>
  value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean"
    ? value
    : Buffer.isBuffer(value)
    ? value.toString("base64")
    : String(value)

const Param = Schema.Union(Schema.String, Schema.Number, Schema.Boolean, Schema.Null)


/** What a statement that returns no rows gets instead of running. */
const NOT_A_QUERY = Symbol("not-a-query")

const failed = (message: string, fix: string, argument?: string) =>
  new ToolError({ reason: "failed", ...(argument !== undefined ? { argument } : {}), message, fix })

const why = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** `std.sql_query@1`. */
export const sqlQuery = Tool.make({
  id: "std.sql_query",
  version: "1",
  description:
    "Run a read-only SQL query against a local sqlite database file inside the tools filesystem root (needs the fs.read capability). Supports positional query parameters; rows return as JSON objects, capped at max_rows.",
  input: Schema.Struct({
    database: Schema.String,
    query: Schema.String,
    params: Schema.optional(Schema.NullOr(Schema.Array(Param))),
    engine: Schema.optional(Schema.Literal("sqlite", "duckdb")),
    max_rows: Schema.optional(Schema.Int)
  }),
  output: Schema.Struct({
    columns: Schema.Array(Schema.String),
    rows: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean, Schema.Null) })),
    row_count: Schema.Int,
    truncated: Schema.Boolean
  }),
  run: ({ database, engine, max_rows, params, query }) =>
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
      return yield* Effect.acquireUseRelease(
        Effect.try({
          try: () => {
            const Database = sqliteDriver()
            const db = new Database(real, { readonly: true, fileMustExist: true })
            db.pragma("query_only = ON")
            return db
          },
          catch: (error) => failed(`sqlite open failed: ${why(error)}`, "pass a SQLite database file", "database")
        }),
        (db) =>
          Effect.flatMap(Effect.try({
            try: () => {
              const statement = db.prepare(query)
              // Never run what returns no rows: ATTACH would read a file outside the root, VACUUM INTO write one.
              if (!statement.reader) return NOT_A_QUERY
              const columns = statement.columns().map((c) => c.name)
              const rows: Array<{ [column: string]: string | number | boolean | null }> = []
              let truncated = false
              for (const row of statement.raw(true).iterate(...bound) as Iterable<ReadonlyArray<unknown>>) {
                if (rows.length === limit) {
                  truncated = true
                  break
                }
                rows.push(Object.fromEntries(columns.map((c, i) => [c, jsonValue(row[i])])))
              }
              return { columns, rows, row_count: rows.length, truncated }
            },
            catch: (error) => failed(`sqlite query failed: ${why(error)}`, "fix the query (it runs read-only: SELECT, WITH, read-only PRAGMAs)", "query")
          }), (result) =>
            result === NOT_A_QUERY
              ? Effect.fail(new ToolError({ reason: "invalid-input", argument: "query", message: "the statement returns no rows (only queries run: SELECT, WITH, VALUES, a PRAGMA that answers rows)", fix: "write a query that returns rows; std.sql_query never changes or attaches a database" }))
              : Effect.succeed(result)),
        (db) => Effect.sync(() => db.close())
      )
    })
})
