/**
 * The network tools' address guard: a `net.fetch` grant that does not name the host reaches
 * public addresses only. Loopback, private, link-local, CGNAT, unspecified, multicast,
 * reserved and cloud metadata addresses (and IPv4 ones inside IPv6) are refused unless a
 * grant names the host; the check is on the addresses the host resolves to (a test
 * resolver, NetResolver.layer, plays DNS), every redirect hop is checked, and the
 * connection goes to the addresses checked (a name that resolves elsewhere the second time
 * does not reach there). A real server on `::` (both 127.0.0.1 and ::1) answers.
 */
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ToolError } from "../../src/errors.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import { fetchPage } from "../../src/nodes/tools/std/fetchPage.js"
import { httpFetch } from "../../src/nodes/tools/std/httpFetch.js"
import { httpRequest } from "../../src/nodes/tools/std/httpRequest.js"
import { classify } from "../../src/nodes/tools/std/netAddress.js"
import * as NetResolver from "../../src/nodes/tools/std/NetResolver.js"
import type * as Tool from "../../src/nodes/tools/Tool.js"

/** A resolver from a table: each name's answers in turn (the last one repeated), and every question asked. */
const tableResolver = (table: Record<string, ReadonlyArray<ReadonlyArray<string>>>) => {
  const asked: Array<string> = []
  const resolver: NetResolver.NetResolverShape = {
    resolve: (hostname) => {
      asked.push(hostname)
      const answers = table[hostname]
      if (answers === undefined) return Promise.reject(new Error(`getaddrinfo ENOTFOUND ${hostname}`))
      const n = asked.filter((h) => h === hostname).length - 1
      const answer = answers[Math.min(n, answers.length - 1)]!
      return Promise.resolve(answer.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })))
    }
  }
  return { asked, layer: NetResolver.layer(resolver) }
}

const call = (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string>, resolver: Layer.Layer<never> = Layer.empty) =>
  Effect.runPromise(Effect.either(tool.run(input)).pipe(Effect.provide(Capabilities.layer(grants)), Effect.provide(resolver)))

const ok = async (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string>, resolver?: Layer.Layer<never>) => {
  const r = await call(tool, input, grants, resolver)
  if (Either.isLeft(r)) throw new Error(`expected success, got ${r.left.message} (${r.left.fix})`)
  return r.right as Record<string, any>
}

const err = async (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string>, resolver?: Layer.Layer<never>): Promise<ToolError> => {
  const r = await call(tool, input, grants, resolver)
  if (Either.isRight(r)) throw new Error(`expected a ToolError, got ${JSON.stringify(r.right)}`)
  return r.left
}

let server: Server
let port: number
const seen: Array<{ readonly url: string; readonly host: string }> = []

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    seen.push({ url: req.url ?? "", host: req.headers.host ?? "" })
    const to = /^\/to\?(.*)$/.exec(req.url ?? "")
    if (to !== null) return res.writeHead(302, { location: decodeURIComponent(to[1]!) }).end()
    res.writeHead(200, { "content-type": "text/plain" }).end(`secret at ${req.url}`)
  })
  // `::` takes 127.0.0.1, ::1, ::ffff:127.0.0.1 and 0.0.0.0 alike.
  await new Promise<void>((resolve) => server.listen(0, "::", resolve))
  port = (server.address() as AddressInfo).port
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

/** Requests the server saw since `mark` (an index into `seen`). */
const since = (mark: number) => seen.slice(mark).map((s) => s.url)

describe("classify", () => {
  it("names each class of non-public address, IPv4 inside IPv6 included, and passes public ones", () => {
    const table: Record<string, string | undefined> = {
      "127.0.0.1": "loopback",
      "127.255.0.9": "loopback",
      "::1": "loopback",
      "::ffff:127.0.0.1": "loopback",
      "::ffff:7f00:1": "loopback",
      "64:ff9b::7f00:1": "loopback",
      "2002:7f00:1::1": "loopback",
      "10.0.0.5": "private",
      "172.16.0.1": "private",
      "172.31.255.255": "private",
      "192.168.1.1": "private",
      "fc00::1": "private",
      "fd12:3456::1": "private",
      "::ffff:10.1.2.3": "private",
      "169.254.1.1": "link-local",
      "fe80::1": "link-local",
      "fe80::1%eth0": "link-local",
      "169.254.169.254": "cloud metadata",
      "::ffff:169.254.169.254": "cloud metadata",
      "fd00:ec2::254": "cloud metadata",
      "100.100.100.200": "cloud metadata",
      "100.64.0.1": "shared (CGNAT)",
      "100.127.255.255": "shared (CGNAT)",
      "0.0.0.0": "unspecified",
      "::": "unspecified",
      "224.0.0.1": "multicast",
      "239.255.255.250": "multicast",
      "ff02::1": "multicast",
      "255.255.255.255": "broadcast",
      "240.0.0.1": "reserved",
      "192.0.2.1": "reserved",
      "2001:db8::1": "reserved",
      "not an address": "reserved",
      "8.8.8.8": undefined,
      "1.1.1.1": undefined,
      "172.32.0.1": undefined,
      "100.128.0.1": undefined,
      "169.253.255.255": undefined,
      "2606:4700:4700::1111": undefined,
      "::ffff:8.8.8.8": undefined
    }
    expect(Object.fromEntries(Object.keys(table).map((a) => [a, classify(a)]))).toEqual(table)
  })
})

describe("a bare net.fetch grant", () => {
  it("refuses each class of non-public address, naming the class and the grant to write; an explicit grant reaches it", async () => {
    const cases: ReadonlyArray<readonly [url: string, cls: string, explicit: string]> = [
      ["http://10.0.0.5/admin", "private", "net.fetch:http://10.0.0.5/*"],
      ["http://172.16.1.1/", "private", "net.fetch:http://172.16.1.1/*"],
      ["http://192.168.1.1/", "private", "net.fetch:http://192.168.1.1/*"],
      ["http://[fd12::1]/", "private", "net.fetch:http://[fd12::1]/*"],
      ["http://169.254.1.1/", "link-local", "net.fetch:http://169.254.1.1/*"],
      ["http://[fe80::1]/", "link-local", "net.fetch:http://[fe80::1]/*"],
      ["http://169.254.169.254/latest/meta-data/", "cloud metadata", "net.fetch:http://169.254.169.254/*"],
      ["http://[fd00:ec2::254]/latest/", "cloud metadata", "net.fetch:http://[fd00:ec2::254]/*"],
      ["http://100.64.0.1/", "shared (CGNAT)", "net.fetch:http://100.64.0.1/*"],
      ["http://224.0.0.1/", "multicast", "net.fetch:http://224.0.0.1/*"],
      ["http://[ff02::1]/", "multicast", "net.fetch:http://[ff02::1]/*"],
      ["http://[::ffff:10.0.0.5]/", "private", "net.fetch:http://[::ffff:a00:5]/*"]
    ]
    for (const [url, cls, explicit] of cases) {
      const denied = await err(httpFetch, { url, timeout_ms: 300 }, ["net.fetch"])
      expect(denied, url).toMatchObject({ reason: "capability-denied" })
      expect(denied.message, url).toContain(`a ${cls} address`)
      expect(denied.fix, url).toContain(`STARGRAPH_CAPABILITIES=net.fetch:${new URL(url).protocol}//${new URL(url).host}/*`)
      // A wildcard host does not name it either.
      expect(await err(httpFetch, { url, timeout_ms: 300 }, ["net.fetch:http://*"]), url).toMatchObject({ reason: "capability-denied" })
      // Named, it is let through: the call then fails on the network (nothing listens there), not on the grant.
      const through = await call(httpFetch, { url, timeout_ms: 300 }, ["net.fetch", explicit])
      if (Either.isLeft(through)) expect([url, through.left.reason]).not.toEqual([url, "capability-denied"])
    }
  })

  it("refuses loopback in every spelling: dotted, decimal, octal, hex, short, [::1], [::ffff:127.0.0.1], 0.0.0.0, localhost; the named host reaches it", async () => {
    const mark = seen.length
    const loopback = [
      `http://127.0.0.1:${port}/a`,
      `http://2130706433:${port}/b`,
      `http://0x7f.1:${port}/c`,
      `http://0x7f000001:${port}/d`,
      `http://017700000001:${port}/e`,
      `http://0177.0.0.1:${port}/f`,
      `http://127.1:${port}/g`,
      `http://[::1]:${port}/h`,
      `http://[::ffff:127.0.0.1]:${port}/i`,
      `http://[0:0:0:0:0:ffff:7f00:1]:${port}/j`,
      `http://localhost:${port}/k`
    ]
    for (const url of loopback) {
      const denied = await err(httpFetch, { url }, ["net.fetch"])
      expect(denied, url).toMatchObject({ reason: "capability-denied" })
      expect(denied.message, url).toContain("a loopback address")
    }
    const zero = await err(httpFetch, { url: `http://0.0.0.0:${port}/z` }, ["net.fetch"])
    expect(zero.message).toContain("an unspecified address")
    const v6zero = await err(httpFetch, { url: `http://[::]:${port}/z` }, ["net.fetch"])
    expect(v6zero.message).toContain("an unspecified address")
    expect(since(mark)).toEqual([])
    // Every IPv4 spelling is 127.0.0.1 once parsed: a grant naming 127.0.0.1 reaches them all.
    for (const url of loopback.slice(0, 7)) {
      expect(await ok(httpFetch, { url }, ["net.fetch:http://127.0.0.1:*"]), url).toMatchObject({ status: 200 })
    }
    expect(await ok(httpFetch, { url: `http://[::1]:${port}/h` }, ["net.fetch:http://[::1]:*"])).toMatchObject({ status: 200, body: "secret at /h" })
    expect(await ok(httpFetch, { url: `http://[::ffff:127.0.0.1]:${port}/i` }, ["net.fetch:http://[::ffff:7f00:1]:*"])).toMatchObject({ status: 200 })
    expect(await ok(httpFetch, { url: `http://localhost:${port}/k` }, ["net.fetch:http://localhost:*"])).toMatchObject({ status: 200 })
    expect(await ok(httpFetch, { url: `http://0.0.0.0:${port}/z` }, ["net.fetch:http://0.0.0.0:*"])).toMatchObject({ status: 200 })
  })

  it("refuses a name that resolves to a non-public address (any of its addresses), and a metadata name before resolving it", async () => {
    const dns = tableResolver({
      "intranet.test": [["10.1.2.3"]],
      "mixed.test": [["8.8.8.8", "127.0.0.1"]],
      "loop.test": [["127.0.0.1"]]
    })
    const mark = seen.length
    const intranet = await err(httpFetch, { url: "http://intranet.test/wiki?token=s3cret" }, ["net.fetch"], dns.layer)
    expect(intranet).toMatchObject({ reason: "capability-denied", capability: "net.fetch:http://intranet.test/wiki?token=…" })
    expect(intranet.message).toContain("resolves to 10.1.2.3, a private address")
    expect(JSON.stringify(intranet)).not.toContain("s3cret")
    expect((await err(httpFetch, { url: `http://mixed.test:${port}/` }, ["net.fetch"], dns.layer)).message).toContain("resolves to 127.0.0.1, a loopback address")
    const meta = await err(httpFetch, { url: "http://metadata.google.internal/computeMetadata/v1/" }, ["net.fetch"], dns.layer)
    expect(meta.message).toContain("a cloud metadata address")
    expect(dns.asked).not.toContain("metadata.google.internal")
    // A wildcard host names no host; a grant naming it reaches it, through the checked address.
    expect(await err(httpFetch, { url: `http://loop.test:${port}/` }, ["net.fetch:http://*.test:*"], dns.layer)).toMatchObject({ reason: "capability-denied" })
    expect(await ok(httpFetch, { url: `http://loop.test:${port}/named` }, ["net.fetch:http://loop.test:*"], dns.layer)).toMatchObject({ status: 200, body: "secret at /named" })
    expect(seen.slice(mark)).toEqual([{ url: "/named", host: `loop.test:${port}` }])
  })

  it("checks every redirect hop: a named host redirecting to 127.0.0.1, [::1] or a name resolving to loopback is refused there", async () => {
    const dns = tableResolver({ "public.test": [["127.0.0.1"]], "sneaky.test": [["127.0.0.1"]] })
    // The first hop's host is named (an operator's grant); the redirect targets are reached through the bare grant only.
    const grants = ["net.fetch", "net.fetch:http://public.test:*"]
    for (const target of [`http://127.0.0.1:${port}/secret`, `http://[::1]:${port}/secret`, `http://sneaky.test:${port}/secret`, `http://2130706433:${port}/secret`]) {
      const mark = seen.length
      const url = `http://public.test:${port}/to?${encodeURIComponent(target)}`
      for (const tool of [httpFetch, httpRequest, fetchPage]) {
        const denied = await err(tool, { url }, grants, dns.layer)
        expect(denied, `${tool.id} ${target}`).toMatchObject({ reason: "capability-denied" })
        expect(denied.message).toContain("a loopback address")
      }
      expect(since(mark).filter((u) => u === "/secret"), target).toEqual([])
    }
    // A redirect on the named host is followed.
    const same = `http://public.test:${port}/to?${encodeURIComponent(`http://public.test:${port}/fine`)}`
    expect(await ok(httpFetch, { url: same }, grants, dns.layer)).toMatchObject({ status: 200, body: "secret at /fine" })
  })

  it("connects to the address it checked: a name resolving public, then loopback (DNS rebinding), never reaches the loopback server", async () => {
    // 192.88.99.1 is public (the retired 6to4 relay anycast prefix) and nothing answers on this port there.
    const dns = tableResolver({ "rebind.test": [["192.88.99.1"], ["127.0.0.1"]] })
    const mark = seen.length
    const r = await call(httpFetch, { url: `http://rebind.test:${port}/secret`, timeout_ms: 1000 }, ["net.fetch"], dns.layer)
    expect(since(mark)).toEqual([])
    expect(dns.asked).toEqual(["rebind.test"])
    expect(Either.isLeft(r) ? r.left.reason : "answered").toMatch(/^(failed|timeout)$/)
  })
})

describe("the grant that names a host", () => {
  it("is a URL glob whose host has no wildcard; the host compares as a URL prints it", () => {
    expect(Capabilities.globHost("http://127.0.0.1:*")).toBe("127.0.0.1")
    expect(Capabilities.globHost("https://user:pw@Intranet.Corp:8443/api/*")).toBe("intranet.corp")
    expect(Capabilities.globHost("http://[::1]:*")).toBe("[::1]")
    expect(Capabilities.globHost("http://2130706433/*")).toBe("127.0.0.1")
    expect(Capabilities.globHost("http://*.corp/*")).toBeUndefined()
    expect(Capabilities.globHost("http://10.0.0.*/*")).toBeUndefined()
    expect(Capabilities.globHost("http://127.0.0.1*")).toBeUndefined()
    expect(Capabilities.globHost("*")).toBeUndefined()
    expect(Capabilities.coversNamingHost(["net.fetch"], "net.fetch:http://127.0.0.1:80/", "127.0.0.1")).toBe(false)
    expect(Capabilities.coversNamingHost(["net.fetch:http://127.0.0.1:*"], "net.fetch:http://127.0.0.1:80/", "127.0.0.1")).toBe(true)
    expect(Capabilities.coversNamingHost(["net.fetch:http://127.0.0.1:9/*"], "net.fetch:http://127.0.0.1:80/", "127.0.0.1")).toBe(false)
    expect(Capabilities.coversNamingHost(["net.fetch:http://10.0.0.5/*"], "net.fetch:http://127.0.0.1/", "127.0.0.1")).toBe(false)
  })
})
