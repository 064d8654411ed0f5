/**
 * A webhook that names a `delivery_id_header` on the real server: that header is not
 * covered by the signature, so a captured signed request resent with another delivery id
 * must never start a second run, on any server of the database or after a restart, while
 * a sender's own retry of a delivery, re-signed with a new timestamp and nonce under the
 * same delivery id, still finds its run (docs/triggers.md, Webhooks).
 */
import { createHmac } from "node:crypto"
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ROOT, tempDir } from "../helpers/cli.js"
import { boot } from "../helpers/server.js"

const SECRET = "gh-secret"

/** The headers a sender following docs/triggers.md computes (real HMAC-SHA256 over "<timestamp>.<nonce>.<raw body>"), with its delivery id. */
const signed = (body: string, timestamp: number, nonce: string, deliveryId: string): Record<string, string> => ({
  "content-type": "application/json",
  "x-stargraph-timestamp": String(timestamp),
  "x-stargraph-nonce": nonce,
  "x-stargraph-signature": `sha256=${createHmac("sha256", SECRET).update(`${timestamp}.${nonce}.${body}`).digest("hex")}`,
  "x-github-delivery": deliveryId
})

type Server = Awaited<ReturnType<typeof boot>>
let options: Parameters<typeof boot>[0]
let a: Server
let b: Server

beforeAll(async () => {
  const dir = tempDir()
  mkdirSync(join(dir, "hello"))
  for (const f of ["graph.yaml", "nodes.ts"]) copyFileSync(join(ROOT, "examples", "hello", f), join(dir, "hello", f))
  const config = join(dir, "stargraph.yaml")
  writeFileSync(config, `webhooks:\n  - { id: gh, graph: ${join(dir, "hello", "graph.yaml")}, secret_env: GH_SECRET, delivery_id_header: X-GitHub-Delivery }\n`)
  options = { db: join(dir, "db.sqlite"), config, env: { GH_SECRET: SECRET } }
  // Two servers on one database, as behind a load balancer.
  a = await boot(options)
  b = await boot(options)
})

afterAll(async () => {
  await a?.close()
  await b?.close()
})

const post = async (server: Server, body: string, headers: Record<string, string>) => {
  const response = await fetch(`${server.url}/v1/triggers/webhook/gh`, { method: "POST", body, headers })
  return { status: response.status, body: await response.json() as Record<string, any> }
}

const runIds = async (server: Server): Promise<Array<string>> =>
  ((await (await fetch(`${server.url}/v1/runs?limit=500`)).json()) as { runs: Array<{ run_id: string }> }).runs.map((r) => r.run_id)

describe("webhook delivery_id_header", () => {
  it("a captured signed request resent with another delivery id answers the run it started, here, on another server and after a restart; it never starts a second run", async () => {
    const now = Math.floor(Date.now() / 1000)
    const body = JSON.stringify({ message: "push to main" })
    const before = (await runIds(a)).length
    const first = await post(a, body, signed(body, now, "n-1", "d-1"))
    expect([first.status, first.body["deduplicated"]]).toEqual([202, false])
    const run = first.body["run_id"] as string
    // The attacker resends the signed timestamp, nonce, signature and body, with delivery ids of its own.
    const elsewhere = await post(b, body, signed(body, now, "n-1", "forged-1"))
    const here = await post(a, body, signed(body, now, "n-1", "forged-2"))
    for (const replay of [elsewhere, here]) {
      expect([replay.status, replay.body["run_id"], replay.body["deduplicated"]]).toEqual([200, run, true])
    }
    // After a restart (nothing remembered in memory) too.
    await a.close()
    a = await boot(options)
    const restarted = await post(a, body, signed(body, now, "n-1", "forged-3"))
    expect([restarted.status, restarted.body["run_id"], restarted.body["deduplicated"]]).toEqual([200, run, true])
    expect((await runIds(b)).length).toBe(before + 1)
  })

  it("replays racing one another with other delivery ids, on two servers, make one run", async () => {
    const now = Math.floor(Date.now() / 1000)
    const body = JSON.stringify({ message: "tag v2" })
    const before = new Set(await runIds(a))
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => post(i % 2 === 0 ? a : b, body, signed(body, now, "n-race", `race-${i}`))))
    const made = (await runIds(a)).filter((id) => !before.has(id))
    expect(made).toHaveLength(1)
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 202])
    expect(new Set(answers.map((r) => r.body["run_id"]))).toEqual(new Set(made))
  })

  it("a sender's retry, re-signed with a new timestamp and nonce under the same delivery id, is the same delivery; a new delivery id with a new nonce is a new run", async () => {
    const now = Math.floor(Date.now() / 1000)
    const body = JSON.stringify({ message: "issue opened" })
    const first = await post(a, body, signed(body, now, "n-2", "d-2"))
    // GitHub's redelivery: the same X-GitHub-Delivery, signed anew (a relay re-signs every attempt).
    const resigned = await post(b, body, signed(body, now + 2, "n-3", "d-2"))
    expect([first.status, resigned.status, resigned.body["run_id"]]).toEqual([202, 200, first.body["run_id"]])
    // A replay of the re-signed attempt under another id is still that delivery.
    const replayed = await post(a, body, signed(body, now + 2, "n-3", "forged-4"))
    expect([replayed.status, replayed.body["run_id"]]).toEqual([200, first.body["run_id"]])
    // The same body as another delivery (a new id, a new nonce): a new run.
    const next = await post(b, body, signed(body, now, "n-4", "d-3"))
    expect([next.status, next.body["deduplicated"]]).toEqual([202, false])
    expect(next.body["run_id"]).not.toBe(first.body["run_id"])
  })
})
