/**
 * The Checkpointer's write path: statements with constant SQL text issued on a reserved
 * `@effect/sql` connection. A `sql\`...\`` template pays, per statement, for compiling the
 * template, a span, a scope and the connection semaphore; a run commits a checkpoint
 * after every step, so those are taken once per transaction here instead (about half
 * of the client-side cost of a checkpoint write; see docs/performance.md). Reads keep
 * the template path.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** A value a statement parameter may take. */
export type Param = string | number | null

/** What a write statement reports. */
export interface WriteResult {
  /** Rows inserted, updated or deleted. */
  readonly changes: number
}

/** Statements bound to one connection, inside one transaction. */
export interface Statements {
  /** Run a write statement. */
  readonly run: (text: string, params: ReadonlyArray<Param>) => Effect.Effect<WriteResult, SqlError>
  /** Run a query and return its rows. */
  readonly all: <Row>(text: string, params: ReadonlyArray<Param>) => Effect.Effect<ReadonlyArray<Row>, SqlError>
}

const bind = (conn: Connection): Statements => ({
  run: (text, params) => Effect.map(conn.executeRaw(text, params), (result) => result as WriteResult),
  all: <Row>(text: string, params: ReadonlyArray<Param>) =>
    conn.execute(text, params, undefined) as Effect.Effect<ReadonlyArray<Row>, SqlError>
})

/** Run `use` on the calling fiber's transaction connection (with its depth), or on a reserved one. */
const withConnection = <A, E>(
  sql: SqlClient.SqlClient,
  use: (conn: Connection, outerDepth: number | undefined) => Effect.Effect<A, E>
): Effect.Effect<A, E | SqlError> =>
  Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
    Option.isSome(outer)
      ? use(outer.value[0], outer.value[1])
      : Effect.scoped(Effect.flatMap(sql.reserve, (conn) => use(conn, undefined))))

/** How a write is committed. */
export interface WriteOptions {
  /**
   * Commit without waiting for the disk: `PRAGMA synchronous = NORMAL` for this commit
   * only, then back to `FULL` (pass it only on a connection configured `FULL`). For
   * writes that a synced commit always follows before anything depends on them: the WAL
   * is written in order, so that commit makes this one durable too, and a power loss
   * before it leaves the database as it was before this write. Ignored inside a
   * caller's transaction.
   */
  readonly deferSync?: boolean
}

/** Around `write` on a top-level connection: relax `synchronous` for its commit when asked. */
const syncing = <A, E>(conn: Connection, outerDepth: number | undefined, options: WriteOptions | undefined, write: Effect.Effect<A, E>) =>
  options?.deferSync === true && outerDepth === undefined
    ? Effect.acquireUseRelease(conn.executeRaw("PRAGMA synchronous = NORMAL", []), () => write, () =>
      Effect.orDie(conn.executeRaw("PRAGMA synchronous = FULL", [])))
    : write

/** One write statement, atomic on its own (SQLite's implicit transaction). */
export const runOne = (
  sql: SqlClient.SqlClient,
  text: string,
  params: ReadonlyArray<Param>,
  options?: WriteOptions
): Effect.Effect<WriteResult, SqlError> =>
  withConnection(sql, (conn, outerDepth) => syncing(conn, outerDepth, options, bind(conn).run(text, params)))

/**
 * Run `body` atomically: on a reserved connection between `BEGIN IMMEDIATE` and
 * `COMMIT` (rolled back when it fails), or, when the calling fiber is already inside a
 * `sql.withTransaction`, in a savepoint of that transaction. `sql` templates inside
 * `body` join the same transaction. Uninterruptible: a commit is never abandoned half-way.
 */
export const transaction = <A, E>(
  sql: SqlClient.SqlClient,
  body: (statements: Statements) => Effect.Effect<A, E>,
  options?: WriteOptions
): Effect.Effect<A, E | SqlError> =>
  withConnection(sql, (conn, outerDepth) => {
    const bracket = outerDepth === undefined ? topLevel : savepoint
    const depth = outerDepth === undefined ? 0 : outerDepth + 1
    return syncing(conn, outerDepth, options, Effect.uninterruptible(
      Effect.zipRight(
        conn.executeRaw(bracket.begin, []),
        Effect.provideService(body(bind(conn)), SqlClient.TransactionConnection, [conn, depth])
      ).pipe(
        Effect.tap(() => conn.executeRaw(bracket.commit, [])),
        Effect.tapErrorCause(() => Effect.ignore(Effect.forEach(bracket.rollback, (text) => conn.executeRaw(text, []))))
      )
    ))
  })

/** The statements that open, commit and undo one level of transaction. */
interface Bracket {
  readonly begin: string
  readonly commit: string
  readonly rollback: ReadonlyArray<string>
}

const topLevel: Bracket = { begin: "BEGIN IMMEDIATE", commit: "COMMIT", rollback: ["ROLLBACK"] }
const savepoint: Bracket = {
  begin: "SAVEPOINT stargraph_write",
  commit: "RELEASE stargraph_write",
  rollback: ["ROLLBACK TO stargraph_write", "RELEASE stargraph_write"]
}
