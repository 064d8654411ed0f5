/**
 * better-sqlite3 for the nodes and tools that read SQLite files of their own (`rag`'s
 * document stores, `std.sql_query`): the copy the `@effect/sql-sqlite-node` peer brings,
 * resolved from that package, so a strict install that does not hoist it works too, and
 * the package needs no dependency of its own on it.
 */
import { createRequire } from "node:module"
import type BetterSqlite3 from "better-sqlite3"

let loaded: typeof BetterSqlite3 | undefined
let resolved: string | undefined

/** The absolute path of better-sqlite3's entry (resolved on first use, then kept), for the query process to `require`. */
export const sqliteDriverPath = (): string => {
  if (resolved === undefined) {
    const require = createRequire(import.meta.url)
    resolved = createRequire(require.resolve("@effect/sql-sqlite-node")).resolve("better-sqlite3")
  }
  return resolved
}

/** The better-sqlite3 constructor (resolved and loaded on first use, then kept). */
export const sqliteDriver = (): typeof BetterSqlite3 => {
  if (loaded === undefined) loaded = createRequire(import.meta.url)(sqliteDriverPath()) as typeof BetterSqlite3
  return loaded
}
