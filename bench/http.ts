/**
 * HTTP benchmark: starts `stargraph serve` in a child process (SQLite, no-op graph) and
 * drives it from this process with 32 concurrent keep-alive clients for 10 s per
 * phase: `POST /v1/runs`, then `GET /v1/runs/{id}`. Prints one JSON line per phase.
 *
 *   npx tsx bench/http.ts [--seconds 10] [--clients 32] [--synchronous FULL|NORMAL]
 */
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { Agent, request } from "node:http"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const SECONDS = Number(args.get("seconds") ?? 10)
const CLIENTS = Number(args.get("clients") ?? 32)
const SYNC = args.get("synchronous") ?? "FULL"

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
const { hostname, port } = new URL(url)
const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS })

const send = (method: string, path: string, body?: string) =>
  new Promise<{ status: number; text: string }>((res, rej) => {
    const req = request({ agent, hostname, port, method, path, headers: body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {} }, (r) => {
      let text = ""
      r.setEncoding("utf8")
      r.on("data", (c: string) => (text += c))
      r.on("end", () => res({ status: r.statusCode ?? 0, text }))
    })
    req.on("error", rej)
    req.end(body)
  })

const phase = async (name: string, make: (i: number) => Promise<{ status: number; text: string }>, ok: number) => {
  const latencies: Array<number> = []
  let errors = 0
  let n = 0
  const end = performance.now() + SECONDS * 1000
  const t0 = performance.now()
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < end) {
      const s = performance.now()
      const r = await make(n++)
      latencies.push(performance.now() - s)
      if (r.status !== ok) errors++
    }
  }))
  const wall = (performance.now() - t0) / 1000
  latencies.sort((a, b) => a - b)
  const q = (p: number) => +(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(2)
  return { bench: "http", route: name, synchronous: SYNC, clients: CLIENTS, seconds: +wall.toFixed(1), requests: latencies.length, errors, requests_per_s: Math.round(latencies.length / wall), p50_ms: q(0.5), p99_ms: q(0.99) }
}

try {
  const ids: Array<string> = []
  console.log(JSON.stringify(await phase("POST /v1/runs", async (i) => {
    const r = await send("POST", "/v1/runs", JSON.stringify({ graph_id: "bench:noop", params: { n: i } }))
    if (ids.length < 1000) ids.push((JSON.parse(r.text) as { run_id: string }).run_id)
    return r
  }, 202)))
  console.log(JSON.stringify(await phase("GET /v1/runs/{id}", (i) => send("GET", `/v1/runs/${ids[i % ids.length]}`), 200)))
} finally {
  server?.kill("SIGTERM")
}
