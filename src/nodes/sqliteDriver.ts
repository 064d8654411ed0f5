/**
 * better-sqlite3 for the nodes and tools that read SQLite files of their own (`rag`'s
 * document stores, `std.sql_query`): the copy the `@effect/sql-sqlite-node` peer brings,
 * resolved from that package, so a strict install that does not hoist it works too, and
 * the package needs no dependency of its own on it.
 */
import { createRequire } from "node:module"
import type BetterSqlite3 from "better-sqlite3"

/** The better-sqlite3 constructor (loaded on first use). */
export const sqliteDriver = (): typeof BetterSqlite3 => {
  const require = createRequire(import.meta.url)
  return createRequire(require.resolve("@effect/sql-sqlite-node"))("better-sqlite3") as typeof BetterSqlite3
}
