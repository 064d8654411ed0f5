/**
 * A signed webhook's X-Stargraph-Timestamp on the real server: only canonical Unix seconds
 * are accepted, and the signature covers the header's exact text, so a sender that signs
 * what it sends, as docs/triggers.md says, is never told its signature is wrong because of
 * how it spelt the timestamp.
 */
import { createHmac } from "node:crypto"
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as WebhookTrigger from "../../src/triggers/WebhookTrigger.js"
import { ROOT, tempDir } from "../helpers/cli.js"
import { boot } from "../helpers/server.js"

const SECRET = "k"

/** The headers of a delivery signed over `timestamp` exactly as sent (real HMAC-SHA256, as a sender following the docs computes it). */
const signedAsSent = (body: string, timestamp: string, nonce: string): Record<string, string> => ({
  "x-stargraph-timestamp": timestamp,
  "x-stargraph-nonce": nonce,
  "x-stargraph-signature": `sha256=${createHmac("sha256", SECRET).update(`${timestamp}.${nonce}.${body}`).digest("hex")}`
})

let server: Awaited<ReturnType<typeof boot>>
let url: string

beforeAll(async () => {
  const dir = tempDir()
  mkdirSync(join(dir, "hello"))
  for (const f of ["graph.yaml", "nodes.ts"]) copyFileSync(join(ROOT, "examples", "hello", f), join(dir, "hello", f))
  const config = join(dir, "stargraph.yaml")
  writeFileSync(config, `webhooks:\n  - { id: feed, graph: ${join(dir, "hello", "graph.yaml")}, secret_env: FEED_SECRET }\n`)
  server = await boot({ db: join(dir, "db.sqlite"), config, env: { FEED_SECRET: SECRET } })
  url = `${server.url}/v1/triggers/webhook/feed`
})

afterAll(async () => {
  await server?.close()
})

const post = async (body: string, headers: Record<string, string>) => {
  const response = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } })
  const answer = await response.json() as Record<string, any>
  return { status: response.status, body: answer }
}

const runCount = async () => ((await (await fetch(`${server.url}/v1/runs?limit=500`)).json()) as { runs: Array<unknown> }).runs.length

describe("webhook timestamp header", () => {
  it("refuses every spelling of a timestamp but canonical Unix seconds with 400 bad-timestamp, signed as sent or canonically, before its nonce is taken", async () => {
    const now = Math.floor(Date.now() / 1000)
    const body = JSON.stringify({ message: "CVE-7" })
    const before = await runCount()
    const malformed = [
      `0${now}`,
      `+${now}`,
      `-${now}`,
      `${now}.0`,
      `0x${now.toString(16)}`,
      "1e9",
      `${now}e0`,
      "abc",
      "",
      "9".repeat(400),
      String(now * 1000) // milliseconds
    ]
    // A sender that signs the header text it sends, as the docs say: each one the same nonce,
    // which a refused delivery must leave untaken.
    for (const timestamp of malformed) {
      const r = await post(body, signedAsSent(body, timestamp, "m1"))
      expect([timestamp, r.status, r.body["error"]["type"], r.body["error"]["details"]["reason"]]).toEqual([timestamp, 400, "WebhookError", "bad-timestamp"])
      expect(r.body["error"]["details"]["message"]).toMatch(/^x-stargraph-timestamp ".*" .+: expected Unix time in whole seconds as plain decimal digits$/)
      expect(r.body["error"]["details"]["fix"]).toMatch(
        /^send the current Unix time in whole seconds as decimal digits with no sign, leading zero, fraction or exponent in x-stargraph-timestamp \(this server's is \d+\), and sign over exactly that text$/
      )
    }
    // A sender that signs the canonical value and sends another spelling of it: refused too (it used to verify).
    for (const timestamp of [`${now}.0`, `0x${now.toString(16)}`, `0${now}`]) {
      const r = await post(body, { ...WebhookTrigger.sign(SECRET, body, now, "m1"), "x-stargraph-timestamp": timestamp })
      expect([timestamp, r.status, r.body["error"]["details"]["reason"]]).toEqual([timestamp, 400, "bad-timestamp"])
    }
    // What each message says is wrong.
    const messageOf = async (timestamp: string) => (await post(body, signedAsSent(body, timestamp, "m1"))).body["error"]["details"]["message"] as string
    expect(await messageOf(`0${now}`)).toBe(`x-stargraph-timestamp "0${now}" has a leading zero: expected Unix time in whole seconds as plain decimal digits`)
    expect(await messageOf(`+${now}`)).toContain("has a sign")
    expect(await messageOf(`${now}.0`)).toContain("has \".\", which is not a decimal digit (no fraction, exponent, hex or spaces)")
    expect(await messageOf("")).toBe("x-stargraph-timestamp \"\" is empty: expected Unix time in whole seconds as plain decimal digits")
    expect(await messageOf("9".repeat(400))).toBe(`x-stargraph-timestamp "${"9".repeat(24)}…" has 400 digits, more than Unix seconds' 11: expected Unix time in whole seconds as plain decimal digits`)
    expect(await messageOf(String(now * 1000))).toContain("has 13 digits, more than Unix seconds' 11 (milliseconds?)")
    expect(await runCount()).toBe(before)

    // Canonical, signed as sent (or by WebhookTrigger.sign, the same bytes): accepted with the nonce the refusals left free.
    const ok = await post(body, signedAsSent(body, String(now), "m1"))
    expect([ok.status, ok.body["deduplicated"]]).toEqual([202, false])
    expect(WebhookTrigger.sign(SECRET, body, now, "m1")).toEqual(signedAsSent(body, String(now), "m1"))
    // Dedup is unchanged: the same request again answers its run; the nonce with another body is refused.
    const retried = await post(body, WebhookTrigger.sign(SECRET, body, now, "m1"))
    expect([retried.status, retried.body["run_id"], retried.body["deduplicated"]]).toEqual([200, ok.body["run_id"], true])
    const other = JSON.stringify({ message: "CVE-8" })
    const replayed = await post(other, signedAsSent(other, String(now), "m1"))
    expect([replayed.status, replayed.body["error"]["details"]["reason"]]).toEqual([409, "replayed-nonce"])
    // A canonical timestamp outside the window is still stale.
    const stale = await post(body, signedAsSent(body, String(now - 301), "m2"))
    expect([stale.status, stale.body["error"]["details"]["reason"]]).toEqual([401, "stale-timestamp"])
    expect(await runCount()).toBe(before + 1)
  })

  it("still calls a delivery without the timestamp header missing-header, and names only the headers left out", async () => {
    const body = JSON.stringify({ message: "CVE-9" })
    const { "x-stargraph-timestamp": _, ...rest } = WebhookTrigger.sign(SECRET, body, Math.floor(Date.now() / 1000), "m3")
    const r = await post(body, rest)
    expect([r.status, r.body["error"]["details"]["reason"], r.body["error"]["details"]["message"]]).toEqual([400, "missing-header", "the delivery has no x-stargraph-timestamp header"])
    // An empty timestamp is there (and malformed): only the header really left out is named.
    const { "x-stargraph-nonce": __, ...noNonce } = signedAsSent(body, "", "m3")
    const empty = await post(body, noNonce)
    expect([empty.status, empty.body["error"]["details"]["reason"], empty.body["error"]["details"]["message"]]).toEqual([400, "missing-header", "the delivery has no x-stargraph-nonce header"])
  })

  it("documents the one accepted form in /openapi.json", async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json() as Record<string, any>
    const header = (doc["paths"]["/v1/triggers/webhook/feed"]["post"]["parameters"] as Array<{ name: string; schema: { pattern: string } }>)
      .find((p) => p.name === "X-Stargraph-Timestamp")!
    const pattern = new RegExp(header.schema.pattern)
    expect(["0", "1771234567", "99999999999"].filter((t) => pattern.test(t))).toEqual(["0", "1771234567", "99999999999"])
    expect(["01771234567", "+1771234567", "1771234567.0", "1e9", "", "999999999999"].filter((t) => pattern.test(t))).toEqual([])
  })
})
