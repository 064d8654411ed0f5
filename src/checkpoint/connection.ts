/**
 * The Checkpointer's write path: statements with constant SQL text issued on a reserved
 * `@effect/sql` connection. A `sql\`...\`` template pays, per statement, for compiling the
 * template, a span, a scope and the connection semaphore; a run commits a checkpoint
 * after every step, so those are taken once per transaction here instead (about half
 * of the client-side cost of a checkpoint write; see docs/performance.md). Reads keep
 * the template path.
 *
 * Statements are written with `?` placeholders, as SQLite takes them; on a PostgreSQL
 * client (`@effect/sql-pg`) they are numbered (`$1`, `$2`…), transactions begin with a
 * plain `BEGIN`, and one that loses a deadlock or a serialization conflict is run again.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"

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

/** Whether `sql` talks to PostgreSQL (`@effect/sql-pg`); otherwise SQLite. */
export const isPostgres = (sql: SqlClient.SqlClient): boolean => sql.onDialectOrElse({ pg: () => true, orElse: () => false })

/** Statement texts with numbered placeholders, by their `?` text (a few hundred distinct texts at most). */
const numberedTexts = new Map<string, string>()

/**
 * `text` with its `?` placeholders numbered for PostgreSQL (`$1`, `$2`…); a `?` inside a
 * quoted string or identifier is left alone.
 */
export const numbered = (text: string): string => {
  const known = numberedTexts.get(text)
  if (known !== undefined) return known
  let out = ""
  let n = 0
  let quote: string | undefined
  for (const c of text) {
    if (quote !== undefined) {
      if (c === quote) quote = undefined
      out += c
    } else if (c === "'" || c === "\"") {
      quote = c
      out += c
    } else {
      out += c === "?" ? `$${++n}` : c
    }
  }
  if (numberedTexts.size >= 1000) numberedTexts.clear()
  numberedTexts.set(text, out)
  return out
}

/** The rows a PostgreSQL write changed (`pg`'s result), as SQLite reports them. */
const pgChanges = (result: unknown): WriteResult => ({
  changes: typeof result === "object" && result !== null && "rowCount" in result && typeof result.rowCount === "number" ? result.rowCount : 0
})

const bind = (conn: Connection, pg: boolean): Statements =>
  pg
    ? {
      run: (text, params) => Effect.map(conn.executeRaw(numbered(text), params), pgChanges),
      all: <Row>(text: string, params: ReadonlyArray<Param>) =>
        conn.execute(numbered(text), params, undefined) as Effect.Effect<ReadonlyArray<Row>, SqlError>
    }
    : {
      run: (text, params) => Effect.map(conn.executeRaw(text, params), (result) => result as WriteResult),
      all: <Row>(text: string, params: ReadonlyArray<Param>) =>
        conn.execute(text, params, undefined) as Effect.Effect<ReadonlyArray<Row>, SqlError>
    }

/**
 * Run `use` on the calling fiber's transaction connection (with its depth), or on a
 * reserved one. The reservation is made uninterruptibly, as `@effect/sql`'s own
 * transactions make theirs: a pool's wait for a free connection (`@effect/sql-pg`) cannot
 * be cancelled, so a caller interrupted while it waits (a timeout, an HTTP client gone)
 * would otherwise never give back the connection the pool hands it later, and a few such
 * callers would leave the process without any. `use` itself stays interruptible.
 */
const withConnection = <A, E>(
  sql: SqlClient.SqlClient,
  use: (conn: Connection, outerDepth: number | undefined) => Effect.Effect<A, E>
): Effect.Effect<A, E | SqlError> =>
  Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
    Option.isSome(outer)
      ? use(outer.value[0], outer.value[1])
      : Effect.uninterruptibleMask((restore) => Effect.scoped(Effect.flatMap(sql.reserve, (conn) => restore(use(conn, undefined))))))

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
  /**
   * The body only reads (a dry run): SQLite begins a deferred transaction, one consistent
   * snapshot without the write lock, which a read-only connection can take too.
   */
  readonly readOnly?: boolean
}

/** Around `write` on a top-level SQLite connection: relax `synchronous` for its commit when asked. */
const syncing = <A, E>(conn: Connection, outerDepth: number | undefined, options: WriteOptions | undefined, write: Effect.Effect<A, E>) =>
  options?.deferSync === true && outerDepth === undefined
    ? Effect.acquireUseRelease(conn.executeRaw("PRAGMA synchronous = NORMAL", []), () => write, () =>
      Effect.orDie(conn.executeRaw("PRAGMA synchronous = FULL", [])))
    : write

/** One write statement, atomic on its own (the database's implicit transaction). */
export const runOne = (
  sql: SqlClient.SqlClient,
  text: string,
  params: ReadonlyArray<Param>,
  options?: WriteOptions
): Effect.Effect<WriteResult, SqlError> =>
  isPostgres(sql)
    ? retryConflicts(withConnection(sql, (conn) => bind(conn, true).run(text, params)))
    : withConnection(sql, (conn, outerDepth) => syncing(conn, outerDepth, options, bind(conn, false).run(text, params)))

/**
 * PostgreSQL's codes for a transaction it aborted so that another could go on: a
 * serialization failure and a deadlock. Run again, it sees the other's outcome.
 */
const CONFLICT_CODES: ReadonlySet<string> = new Set(["40001", "40P01"])

const isConflict = (error: unknown): boolean => {
  const cause = typeof error === "object" && error !== null && "cause" in error ? error.cause : undefined
  return typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string" && CONFLICT_CODES.has(cause.code)
}

/**
 * A PostgreSQL write that lost a conflict runs again, a few times, when it is a
 * transaction of its own; inside a caller's transaction (which the conflict aborted) the
 * caller's transaction fails with it.
 */
const retryConflicts = <A, E>(write: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
    Option.isSome(outer)
      ? write
      : Effect.retry(write, { while: isConflict, times: 8, schedule: Schedule.jittered(Schedule.exponential("5 millis")) }))

/**
 * Run `body` atomically: on a reserved connection between `BEGIN IMMEDIATE` (SQLite;
 * PostgreSQL: `BEGIN`) and `COMMIT` (rolled back when it fails), or, when the calling
 * fiber is already inside a `sql.withTransaction`, in a savepoint of that transaction.
 * `sql` templates inside `body` join the same transaction. Uninterruptible: a commit is
 * never abandoned half-way. On PostgreSQL, a top-level transaction that loses a deadlock
 * or a serialization conflict is rolled back and run again (a few times).
 */
export const transaction = <A, E>(
  sql: SqlClient.SqlClient,
  body: (statements: Statements) => Effect.Effect<A, E>,
  options?: WriteOptions
): Effect.Effect<A, E | SqlError> => {
  const pg = isPostgres(sql)
  const once = withConnection(sql, (conn, outerDepth) => {
    const bracket = outerDepth !== undefined ? savepoint : pg ? pgTopLevel : options?.readOnly === true ? readTopLevel : topLevel
    const depth = outerDepth === undefined ? 0 : outerDepth + 1
    const atomic = Effect.uninterruptible(
      Effect.zipRight(
        conn.executeRaw(bracket.begin, []),
        Effect.provideService(body(bind(conn, pg)), SqlClient.TransactionConnection, [conn, depth])
      ).pipe(
        Effect.tap(() => conn.executeRaw(bracket.commit, [])),
        Effect.tapErrorCause(() => Effect.ignore(Effect.forEach(bracket.rollback, (text) => conn.executeRaw(text, []))))
      )
    )
    return pg ? atomic : syncing(conn, outerDepth, options, atomic)
  })
  return pg ? retryConflicts(once) : once
}

/** The statements that open, commit and undo one level of transaction. */
interface Bracket {
  readonly begin: string
  readonly commit: string
  readonly rollback: ReadonlyArray<string>
}

const topLevel: Bracket = { begin: "BEGIN IMMEDIATE", commit: "COMMIT", rollback: ["ROLLBACK"] }
const readTopLevel: Bracket = { begin: "BEGIN", commit: "COMMIT", rollback: ["ROLLBACK"] }
const pgTopLevel: Bracket = { begin: "BEGIN", commit: "COMMIT", rollback: ["ROLLBACK"] }
const savepoint: Bracket = {
  begin: "SAVEPOINT stargraph_write",
  commit: "RELEASE stargraph_write",
  rollback: ["ROLLBACK TO stargraph_write", "RELEASE stargraph_write"]
}
