/**
 * Where `std.sql_query` runs its query: a Node child process of its own, so that a slow
 * query (a recursive CTE counting to 1e9) neither holds the event loop (better-sqlite3 runs
 * a statement synchronously on the thread that calls it) nor outlives its time limit: the
 * process is killed when the call times out or is interrupted, which stops SQLite
 * mid-statement. (A worker thread cannot be stopped so: `Worker.terminate` waits for the
 * native statement to return, which for such a query is minutes, and better-sqlite3 has no
 * `sqlite3_interrupt`.) Inside the process the query runs on a worker thread, so that the
 * process's own thread can kill it when this process dies first or the deadline passes.
 * The process loads better-sqlite3 from the path this one resolved
 * (`sqliteDriverPath`), opens the file read-only with `query_only` on, and answers once
 * over IPC. Its code is passed with `-e` (CommonJS), as the ONNX worker's is run with
 * `eval`: nothing to resolve next to this file, which keeps it working from the CLI bundle.
 */
import { spawn } from "node:child_process"
import * as Effect from "effect/Effect"

/** A row's values as JSON: SQLite's integers, reals, text and null as they are, a blob as base64, a bigint as text. */
export type SqlRow = { [column: string]: string | number | boolean | null }

/** What the query answered: its columns, at most `limit` rows, and whether there were more. */
export interface SqlResult {
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<SqlRow>
  readonly row_count: number
  readonly truncated: boolean
}

/** Why the worker gave no rows: the file did not open, the query failed, or the statement returns no rows. */
export interface SqlFailure {
  readonly kind: "open" | "query" | "not-a-query" | "worker"
  readonly message: string
}

/** One query for {@link runQuery}. */
export interface SqlJob {
  /** Absolute path of better-sqlite3's entry, for `require`. */
  readonly driverPath: string
  /** The database file (already resolved inside the root and checked). */
  readonly file: string
  readonly query: string
  readonly params: ReadonlyArray<string | number | null>
  /** The most rows to return. */
  readonly limit: number
  /** How long the query process may live, in ms (it kills itself then, even if this process is gone). */
  readonly deadlineMs: number
}

/**
 * The query itself, in a worker thread of the query process: the process's own thread stays
 * free to notice that its parent is gone (the IPC channel closes: a crash, a `kill -9`) or
 * that the deadline passed, and to kill the process then, so that no query outlives the
 * process that asked for it or its time limit.
 */
const QUERY = `
const { parentPort, workerData: job } = require("node:worker_threads")
const answer = (reply) => parentPort.postMessage(reply)
const value = (v) => v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? v : Buffer.isBuffer(v) ? v.toString("base64") : String(v)
const message = (e) => String((e && e.message) || e)
let db
try {
  const Database = require(job.driverPath)
  db = new Database(job.file, { readonly: true, fileMustExist: true })
  db.pragma("query_only = ON")
} catch (e) {
  answer({ ok: false, kind: "open", message: message(e) })
  db = undefined
}
if (db !== undefined) {
  try {
    const statement = db.prepare(job.query)
    // Never run what returns no rows: ATTACH would read a file outside the root, VACUUM INTO write one.
    if (!statement.reader) {
      answer({ ok: false, kind: "not-a-query", message: "the statement returns no rows" })
    } else {
      const columns = statement.columns().map((c) => c.name)
      const rows = []
      let truncated = false
      for (const row of statement.raw(true).iterate(...job.params)) {
        if (rows.length === job.limit) {
          truncated = true
          break
        }
        const out = {}
        columns.forEach((c, i) => { out[c] = value(row[i]) })
        rows.push(out)
      }
      answer({ ok: true, result: { columns, rows, row_count: rows.length, truncated } })
    }
  } catch (e) {
    answer({ ok: false, kind: "query", message: message(e) })
  } finally {
    db.close()
  }
}
`

/** The query process: runs {@link QUERY} on a worker thread, answers once, dies with its parent or at the deadline. */
const SOURCE = `
const { Worker } = require("node:worker_threads")
const die = () => process.kill(process.pid, "SIGKILL")
process.once("disconnect", die)
process.once("message", (job) => {
  setTimeout(die, job.deadlineMs).unref()
  const worker = new Worker(${JSON.stringify(QUERY)}, { eval: true, workerData: job })
  worker.once("message", (reply) => process.send(reply, () => process.disconnect()))
  worker.once("error", (e) => process.send({ ok: false, kind: "worker", message: String((e && e.message) || e) }, () => process.disconnect()))
})
`

type Reply = { readonly ok: true; readonly result: SqlResult } | { readonly ok: false; readonly kind: SqlFailure["kind"]; readonly message: string }

/** The most stderr kept from the query process (for its error message). */
const MAX_STDERR = 4_000

/**
 * Run `job` in a new Node process and answer its result. Interrupting this Effect (a
 * timeout, a cancelled run) kills the process, which stops the query where it is.
 */
export const runQuery = (job: SqlJob): Effect.Effect<SqlResult, SqlFailure> =>
  Effect.async<SqlResult, SqlFailure>((resume) => {
    let done = false
    let stderr = ""
    const finish = (result: Effect.Effect<SqlResult, SqlFailure>) => {
      if (done) return
      done = true
      resume(result)
    }
    // `advanced` serialization: values cross as they are (a REAL of Infinity stays Infinity,
    // for the cassette to refuse loudly), not as JSON would turn them (null). No environment:
    // the process runs only this code.
    const child = spawn(process.execPath, ["-e", SOURCE], { stdio: ["ignore", "ignore", "pipe", "ipc"], serialization: "advanced", env: {}, windowsHide: true })
    child.stderr?.setEncoding("utf8").on("data", (text: string) => {
      if (stderr.length < MAX_STDERR) stderr += text.slice(0, MAX_STDERR - stderr.length)
    })
    child.on("message", (reply: Reply) => finish(reply.ok ? Effect.succeed(reply.result) : Effect.fail({ kind: reply.kind, message: reply.message })))
    child.on("error", (error) => finish(Effect.fail({ kind: "worker", message: `the query process cannot run: ${error.message}` })))
    child.on("exit", (code, signal) =>
      finish(Effect.fail({ kind: "worker", message: `the query process exited (${signal ?? `code ${code}`}) before answering${stderr.trim() !== "" ? `: ${stderr.trim()}` : ""}` })))
    child.send(job, (error) => {
      if (error !== null) finish(Effect.fail({ kind: "worker", message: `the query could not be handed to its process: ${error.message}` }))
    })
    return Effect.sync(() => {
      done = true
      child.kill("SIGKILL")
    })
  })
