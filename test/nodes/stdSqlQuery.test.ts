/**
 * std.sql_query against real SQLite files in a temp root: rows and columns, positional
 * parameters, the row cap, writes refused by SQLite (read-only, query_only), ATTACH and
 * VACUUM INTO never run, the filesystem root and the fs.read grant; a query that runs
 * too long is stopped at timeout_s (its process killed) while the event loop keeps going.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import Database from "better-sqlite3"
import { beforeAll, describe, expect, it } from "vitest"
import { sqliteDriverPath } from "../../src/nodes/sqliteDriver.js"
import { sqlQuery } from "../../src/nodes/tools/std/sqlQuery.js"
import { runQuery } from "../../src/nodes/tools/std/sqlWorker.js"
import { ROOT, tempDir } from "../helpers/cli.js"
import { toolErr, toolOk } from "../helpers/toolCalls.js"

let root: string
let outside: string
const read = () => [`fs.read:${root}/*`]

beforeAll(() => {
  root = tempDir()
  outside = tempDir()
  const db = new Database(join(root, "shop.db"))
  db.exec("create table items(id integer primary key, name text, price real, data blob)")
  const insert = db.prepare("insert into items(name, price, data) values (?, ?, ?)")
  for (let i = 1; i <= 50; i++) insert.run(`item-${i}`, i * 1.5, i === 1 ? Buffer.from("hi") : null)
  db.close()
  const other = new Database(join(outside, "secret.db"))
  other.exec("create table s(v text); insert into s values ('secret')")
  other.close()
  mkdirSync(join(root, "dir"))
  writeFileSync(join(root, "not.db"), "not a database at all, just text that is long enough")
})

/** The pids of `pid`'s query processes (pgrep exits 1 when there is none; any other failure fails the test). */
const childrenOf = (pid: number): Array<number> => {
  try {
    return execFileSync("pgrep", ["-P", String(pid), "-f", "job.driverPath"], { encoding: "utf8" }).trim().split("\n").filter((l) => l !== "").map(Number)
  } catch (e) {
    if ((e as { status?: number }).status === 1) return []
    throw e
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const LONG_QUERY = "with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000000000) select count(*) as n from c"

describe("std.sql_query", () => {
  it("answers columns and rows, with positional parameters", async () => {
    const r = await toolOk(sqlQuery, { database: "shop.db", query: "select id, name, price, data from items where id <= ? order by id", params: [2] }, read(), root)
    expect(r).toEqual({
      columns: ["id", "name", "price", "data"],
      rows: [{ id: 1, name: "item-1", price: 1.5, data: Buffer.from("hi").toString("base64") }, { id: 2, name: "item-2", price: 3, data: null }],
      row_count: 2,
      truncated: false
    })
  })

  it("caps the rows at max_rows (default 1000, at most 10,000)", async () => {
    const r = await toolOk(sqlQuery, { database: "shop.db", query: "select id from items order by id", max_rows: 10 }, read(), root)
    expect(r).toMatchObject({ row_count: 10, truncated: true })
    expect(r["rows"].at(-1)).toEqual({ id: 10 })
    expect(await toolOk(sqlQuery, { database: "shop.db", query: "select id from items" }, read(), root)).toMatchObject({ row_count: 50, truncated: false })
  })

  it("never writes: writes fail in SQLite, and ATTACH and VACUUM INTO do not run", async () => {
    const write = await toolErr(sqlQuery, { database: "shop.db", query: "insert into items(name) values ('x') returning id" }, read(), root)
    expect(write).toMatchObject({ reason: "failed", argument: "query" })
    expect(write.message).toContain("readonly")
    const attach = await toolErr(sqlQuery, { database: "shop.db", query: `attach database '${join(outside, "secret.db")}' as o` }, read(), root)
    expect(attach).toMatchObject({ reason: "invalid-input", argument: "query" })
    const copy = join(outside, "copy.db")
    expect(await toolErr(sqlQuery, { database: "shop.db", query: `vacuum into '${copy}'` }, read(), root)).toMatchObject({ reason: "invalid-input" })
    expect(existsSync(copy)).toBe(false)
    expect(await toolOk(sqlQuery, { database: "shop.db", query: "select count(*) as n from items" }, read(), root)).toMatchObject({ rows: [{ n: 50 }] })
  })

  it("stays in the root, needs fs.read, and refuses what is not a database file", async () => {
    expect(await toolErr(sqlQuery, { database: join(outside, "secret.db"), query: "select * from s" }, ["fs.read"], root)).toMatchObject({ reason: "invalid-input", argument: "database" })
    expect(await toolErr(sqlQuery, { database: "shop.db", query: "select 1" }, [], root)).toMatchObject({ reason: "capability-denied" })
    expect(await toolErr(sqlQuery, { database: "missing.db", query: "select 1" }, read(), root)).toMatchObject({ reason: "failed", argument: "database" })
    expect(await toolErr(sqlQuery, { database: "dir", query: "select 1" }, read(), root)).toMatchObject({ reason: "failed", argument: "database" })
    expect(await toolErr(sqlQuery, { database: "not.db", query: "select 1 from x" }, read(), root)).toMatchObject({ reason: "failed" })
    expect(await toolErr(sqlQuery, { database: "shop.db", query: "select 1", engine: "duckdb" }, read(), root)).toMatchObject({ reason: "invalid-input", argument: "engine" })
  })

  it("stops a query that runs past timeout_s with ToolError[timeout], and the event loop keeps ticking meanwhile", async () => {
    let ticks = 0
    const timer = setInterval(() => ticks++, 50)
    const started = Date.now()
    try {
      const e = await toolErr(sqlQuery, {
        database: "shop.db",
        query: "with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000000000) select count(*) as n from c",
        timeout_s: 1
      }, read(), root)
      const elapsed = Date.now() - started
      expect(e).toMatchObject({ _tag: "ToolError", reason: "timeout" })
      expect(e.message).toBe("the query ran for more than 1 s (timeout_s) and was stopped")
      expect(e.fix).toContain("raise timeout_s (at most 300)")
      expect(elapsed).toBeGreaterThanOrEqual(950)
      expect(elapsed).toBeLessThan(3000)
      // A query on the main thread would have held the loop: no tick until it ended.
      expect(ticks).toBeGreaterThanOrEqual(10)
    } finally {
      clearInterval(timer)
    }
    if (process.platform === "linux") {
      // The query's process is gone (killed), not left counting on a core.
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(childrenOf(process.pid)).toEqual([])
    }
    // The next query answers as before.
    expect(await toolOk(sqlQuery, { database: "shop.db", query: "select count(*) as n from items", timeout_s: 5 }, read(), root)).toMatchObject({ rows: [{ n: 50 }] })
  })

  it("values cross from the query process as they are: a REAL of Infinity is not turned into null", async () => {
    const result = await Effect.runPromise(runQuery({ driverPath: sqliteDriverPath(), file: join(root, "shop.db"), query: "select 1e999 as inf, -1e999 as ninf", params: [], limit: 10, deadlineMs: 10_000 }))
    expect(result.rows).toEqual([{ inf: Number.POSITIVE_INFINITY, ninf: Number.NEGATIVE_INFINITY }])
  })

  it.runIf(process.platform === "linux")("a query process dies with the process that asked for it (kill -9), and at its deadline", { timeout: 30_000 }, async () => {
    const worker = pathToFileURL(join(ROOT, "dist", "src", "nodes", "tools", "std", "sqlWorker.js")).href
    const driver = pathToFileURL(join(ROOT, "dist", "src", "nodes", "sqliteDriver.js")).href
    const script = (deadlineMs: number) => `import * as Effect from "effect/Effect"
const { runQuery } = await import(${JSON.stringify(worker)})
const { sqliteDriverPath } = await import(${JSON.stringify(driver)})
await Effect.runPromise(runQuery({ driverPath: sqliteDriverPath(), file: ${JSON.stringify(join(root, "shop.db"))}, query: ${JSON.stringify(LONG_QUERY)}, params: [], limit: 1, deadlineMs: ${deadlineMs} }))`
    const waitFor = async (what: () => boolean, ms: number): Promise<boolean> => {
      const until = Date.now() + ms
      while (Date.now() < until) {
        if (what()) return true
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      return what()
    }
    // The asking process is killed: its query process notices the closed channel and dies.
    const parent = spawn(process.execPath, ["--input-type=module", "-e", script(600_000)], { cwd: ROOT, stdio: "ignore" })
    let query: Array<number> = []
    expect(await waitFor(() => (query = childrenOf(parent.pid!)).length === 1, 10_000)).toBe(true)
    parent.kill("SIGKILL")
    expect(await waitFor(() => !alive(query[0]!), 5_000)).toBe(true)
    // The asking process lives on (it would wait for ever): the query process dies at its deadline.
    const waiting = spawn(process.execPath, ["--input-type=module", "-e", script(1_500)], { cwd: ROOT, stdio: "ignore" })
    try {
      expect(await waitFor(() => (query = childrenOf(waiting.pid!)).length === 1, 10_000)).toBe(true)
      expect(await waitFor(() => !alive(query[0]!), 6_000)).toBe(true)
    } finally {
      waiting.kill("SIGKILL")
    }
  })
})
