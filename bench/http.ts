/**
 * HTTP benchmark: starts `stargraph serve` in a child process (SQLite, no-op graph) and
 * drives it from this process with autocannon, 32 concurrent keep-alive connections for
 * 10 s per phase: `GET /healthz` (the floor: no database), `POST /v1/runs` (each run
 * really executes in the server meanwhile), then `GET /v1/runs/{id}` over the newest
 * thousand runs. Prints one JSON line per phase.
 *
 *   npx tsx bench/http.ts [--seconds 10] [--clients 32] [--synchronous FULL|NORMAL]
 *                         [--phases healthz,post,get] [--url http://... (a server already running)]
 */
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import autocannon from "autocannon"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const SECONDS = Number(args.get("seconds") ?? 10)
const CLIENTS = Number(args.get("clients") ?? 32)
const SYNC = args.get("synchronous") ?? "FULL"
const PHASES = new Set((args.get("phases") ?? "healthz,post,get").split(","))

const dir = mkdtempSync(join(tmpdir(), "sg-http-"))
mkdirSync(join(dir, "graphs"))
writeFileSync(join(dir, "graphs", "noop.yaml"), [
  "ir_version: \"1.0.0\"", "id: bench:noop", "state_schema: { fields: { n: { type: integer, default: 0 } } }",
  "nodes: [{ id: a, kind: noop }]", ""
].join("\n"))

const root = resolve(import.meta.dirname, "..")
// --url drives a server started elsewhere (e.g. under --cpu-prof) that serves bench:noop.
const server = args.has("url")
  ? undefined
  : spawn(process.execPath, [join(root, "bin", "stargraph.js"), "serve", "--port", "0", "--db", join(dir, "db.sqlite"), "--graphs", join(dir, "graphs"), "--synchronous", SYNC], { stdio: ["ignore", "pipe", "inherit"] })
const url = server === undefined ? args.get("url")! : await new Promise<string>((res, rej) => {
  let out = ""
  server.stdout!.on("data", (d: Buffer) => {
    out += d.toString()
    const m = /listening on (http:\/\/\S+)/.exec(out)
    if (m) res(m[1]!)
  })
  server.on("exit", (code) => rej(new Error(`server exited ${code}`)))
})
/** One phase: CLIENTS keep-alive connections for SECONDS, with autocannon (pipelining 1). */
const phase = (route: string, options: Partial<autocannon.Options>) =>
  new Promise<Record<string, unknown>>((res, rej) => {
    autocannon({ url, connections: CLIENTS, duration: SECONDS, ...options }, (error, r) => {
      if (error) return rej(error)
      res({
        bench: "http",
        route,
        synchronous: SYNC,
        clients: CLIENTS,
        seconds: SECONDS,
        requests: r.requests.total,
        errors: r.errors + r.timeouts + r.non2xx,
        ok_responses: r["2xx"],
        requests_per_s: Math.round(r.requests.total / (r.duration || SECONDS)),
        p50_ms: r.latency.p50,
        p99_ms: r.latency.p99
      })
    })
  })

try {
  if (PHASES.has("healthz")) console.log(JSON.stringify(await phase("GET /healthz", { url: `${url}/healthz` })))
  let n = 0
  if (PHASES.has("post")) console.log(JSON.stringify(await phase("POST /v1/runs", {
    method: "POST",
    url: `${url}/v1/runs`,
    headers: { "content-type": "application/json" },
    requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ graph_id: "bench:noop", params: { n: n++ } }) }) }]
  })))
  // Ids of runs to read: the newest thousand.
  const page = await (await fetch(`${url}/v1/runs?limit=500`)).json() as { runs: Array<{ run_id: string }>; next_cursor: string | null }
  const more = page.next_cursor ? await (await fetch(`${url}/v1/runs?limit=500&cursor=${page.next_cursor}`)).json() as typeof page : { runs: [] }
  const ids = [...page.runs, ...more.runs].map((r) => r.run_id)
  let i = 0
  if (PHASES.has("get")) console.log(JSON.stringify(await phase("GET /v1/runs/{id}", {
    requests: [{ setupRequest: (req) => ({ ...req, method: "GET", path: `/v1/runs/${ids[i++ % ids.length]}` }) }]
  })))
} finally {
  server?.kill("SIGTERM")
}
