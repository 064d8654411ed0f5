/**
 * better-sqlite3 for the nodes and tools that read SQLite files of their own (`rag`'s
 * document stores, `std.sql_query`): the copy the `@effect/sql-sqlite-node` peer brings,
 * resolved from that package, so a strict install that does not hoist it works too, and
 * the package needs no dependency of its own on it.
 */
import { createRequire } from "node:module"
import type BetterSqlite3 from "better-sqlite3"

let loaded: typeof BetterSqlite3 | undefined

/** The better-sqlite3 constructor (resolved and loaded on first use, then kept). */
export const sqliteDriver = (): typeof BetterSqlite3 => {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url)
    loaded = createRequire(require.resolve("@effect/sql-sqlite-node"))("better-sqlite3") as typeof BetterSqlite3
  }
  return loaded
}
