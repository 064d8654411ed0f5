/**
 * The std HTTP tools against hostile servers, with real servers on 127.0.0.1:
 * `std.fetch_page` reduces a hostile page in linear time and reads a bounded number of
 * bytes; credentials are not sent on to a redirect target of another origin (two servers,
 * two ports, two origins), and a redirect that turns a POST into a GET drops its body and
 * body headers; failure messages leave out userinfo and query values; several Set-Cookie
 * headers are all answered.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ToolError } from "../../src/errors.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import { fetchPage } from "../../src/nodes/tools/std/fetchPage.js"
import { httpFetch } from "../../src/nodes/tools/std/httpFetch.js"
import { httpRequest } from "../../src/nodes/tools/std/httpRequest.js"
import type * as Tool from "../../src/nodes/tools/Tool.js"
import { toolErr } from "../helpers/toolCalls.js"

/** The grant these tests run with: the test servers' host, named (a bare `net.fetch` reaches public addresses only). */
const LOCAL = "net.fetch:http://127.0.0.1:*"

const call = (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string> = [LOCAL]) =>
  Effect.runPromise(Effect.either(tool.run(input)).pipe(Effect.provide(Capabilities.layer(grants))))

const ok = async (tool: Tool.Tool, input: unknown) => {
  const r = await call(tool, input)
  if (Either.isLeft(r)) throw new Error(`expected success, got ${r.left.message} (${r.left.fix})`)
  return r.right as Record<string, any>
}

const err = async (tool: Tool.Tool, input: unknown, grants?: ReadonlyArray<string>): Promise<ToolError> => {
  const r = await call(tool, input, grants)
  if (Either.isRight(r)) throw new Error(`expected a ToolError, got ${JSON.stringify(r.right)}`)
  return r.left
}

/** A server on 127.0.0.1 (an ephemeral port) and its base URL. */
const serve = async (handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) => {
  const server = createServer((req, res) => {
    let body = ""
    req.on("data", (c: Buffer) => (body += c.toString()))
    req.on("end", () => handler(req, res, body))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()))

/** What an echo endpoint saw. */
const echo = (req: IncomingMessage, res: ServerResponse, body: string) =>
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ method: req.method, url: req.url, body, headers: req.headers }))

describe("std.fetch_page on a hostile page", () => {
  const SIZE = 2 * 1024 * 1024
  const pages: Record<string, string> = {
    "/lt": "<html><body>" + "<".repeat(SIZE),
    "/p": "<html><body>" + "<p".repeat(SIZE / 2),
    "/cr": "<html><body>a" + "\r".repeat(SIZE) + "b",
    "/title": "<html><head>" + "<title".repeat(SIZE / 6),
    "/script": "<html><body>" + "<script>".repeat(SIZE / 8),
    // The text after 5 MB of markup: past the bytes fetch_page reads.
    "/long": "<html><body>" + "<i></i>".repeat(750_000) + "TAIL"
  }
  let server: Server
  let base: string
  beforeAll(async () => {
    ;({ server, base } = await serve((req, res) => {
      const page = pages[req.url ?? ""]
      if (page === undefined) return res.writeHead(404).end()
      res.writeHead(200, { "content-type": "text/html" }).end(page)
    }))
  })
  afterAll(() => close(server))

  it("answers 2 MB of `<`, `<p`, `\\r`, `<title` and `<script>` in well under 2 s each (the regexes took hours)", async () => {
    const texts: Record<string, string> = {}
    for (const path of ["/lt", "/p", "/cr", "/title", "/script"]) {
      const started = Date.now()
      const got = await ok(fetchPage, { url: `${base}${path}`, max_chars: 100_000 })
      const took = Date.now() - started
      expect(got["status_code"], path).toBe(200)
      expect(took, `${path} took ${took} ms`).toBeLessThan(2_000)
      texts[path] = got["text"] as string
    }
    // What a scanner must still get right on these pages: a `<` with no `>` is text.
    expect(texts["/lt"]).toBe("<".repeat(100_000))
    expect(texts["/p"]).toBe("<p".repeat(50_000))
    expect(texts["/cr"]).toBe("a" + "\r".repeat(99_999))
    expect(texts["/script"]).toBe("")
  })

  it("reads at most a bounded number of bytes, in proportion to max_chars, and says the page was cut", async () => {
    const got = await ok(fetchPage, { url: `${base}/long` })
    expect(got["text"]).not.toContain("TAIL")
    expect(got["truncated"]).toBe(true)
  })
})

describe("std.fetch_page's text, by the linear scanner", () => {
  let server: Server
  let base: string
  const pages: Record<string, string> = {
    "/a": "<HTML><Head><TITLE class=x>A &amp; <b>B</b></TITLE><link rel=x></Head><BODY class='y'><!-- a > b --><Script type=x>if (a<b) {}</SCRIPT><pre>keep</pre>x<br/>y<P>one</p>\n  \n<li>two</li><table><tr><td>c1</td><td>c2</td></tr></table>a <> b &#65;&#x42;</BODY>",
    "/nobody": "<html><head><title>T</title><style>.a{}</style></head><div>shown</div><!-- unclosed comment",
    "/unclosed": "<body><script>never closed <b>bold</b> 1 < 2",
    "/cut-close": "<body><script>a <b> c </script"
  }
  beforeAll(async () => {
    ;({ server, base } = await serve((req, res) => res.writeHead(200, { "content-type": "text/html" }).end(pages[req.url ?? ""] ?? "")))
  })
  afterAll(() => close(server))

  it("drops scripts, styles, comments and the head; block tags are newlines; entities decoded; the first title", async () => {
    expect(await ok(fetchPage, { url: `${base}/a` })).toMatchObject({ title: "A & B", text: "keep x\ny\none\ntwo\nc1 c2\na <> b AB", truncated: false })
    expect(await ok(fetchPage, { url: `${base}/nobody` })).toMatchObject({ title: "T", text: "shown" })
    expect(await ok(fetchPage, { url: `${base}/unclosed` })).toMatchObject({ title: "", text: "never closed bold 1 < 2" })
    // A `</script` with no `>` closes nothing: the tags before it are still tags.
    expect(await ok(fetchPage, { url: `${base}/cut-close` })).toMatchObject({ text: "a c </script" })
  })
})

describe("redirects and credentials", () => {
  let a: { server: Server; base: string }
  let b: { server: Server; base: string }
  const seen: Array<{ server: string; url: string | undefined; headers: IncomingMessage["headers"] }> = []
  beforeAll(async () => {
    b = await serve((req, res, body) => {
      seen.push({ server: "b", url: req.url, headers: req.headers })
      if (req.url === "/back") return res.writeHead(302, { location: `${a.base}/echo` }).end()
      echo(req, res, body)
    })
    a = await serve((req, res, body) => {
      seen.push({ server: "a", url: req.url, headers: req.headers })
      if (req.url === "/to-b") return res.writeHead(302, { location: `${b.base}/echo` }).end()
      if (req.url === "/to-b-and-back") return res.writeHead(307, { location: `${b.base}/back` }).end()
      if (req.url === "/same") return res.writeHead(301, { location: "/echo" }).end()
      if (req.url === "/see-other") return res.writeHead(303, { location: "/echo" }).end()
      if (req.url === "/found") return res.writeHead(302, { location: "/echo" }).end()
      if (req.url === "/keep") return res.writeHead(307, { location: "/echo" }).end()
      if (req.url === "/cookies") {
        res.setHeader("set-cookie", ["a=1; Path=/", "b=2; HttpOnly"])
        return res.writeHead(200, { "content-type": "text/plain" }).end("ok")
      }
      echo(req, res, body)
    })
  })
  afterAll(async () => {
    await close(a.server)
    await close(b.server)
  })

  const secrets = { Authorization: "Bearer s3cret", Cookie: "session=s3cret", "Proxy-Authorization": "Basic s3cret", "x-keep": "yes" }

  it("a redirect to another origin does not carry authorization, cookie or proxy-authorization (http_fetch, http_request)", async () => {
    for (const [tool, input] of [[httpFetch, { url: `${a.base}/to-b`, headers: secrets }], [httpRequest, { url: `${a.base}/to-b`, headers: secrets }]] as const) {
      seen.length = 0
      const got = await ok(tool, input)
      const body = JSON.parse((got["body"] ?? got["text"]) as string)
      expect(body.url).toBe("/echo")
      expect(seen.map((s) => s.server)).toEqual(["a", "b"])
      expect(seen[0]!.headers).toMatchObject({ authorization: "Bearer s3cret", cookie: "session=s3cret", "proxy-authorization": "Basic s3cret" })
      expect(seen[1]!.headers["authorization"]).toBeUndefined()
      expect(seen[1]!.headers["cookie"]).toBeUndefined()
      expect(seen[1]!.headers["proxy-authorization"]).toBeUndefined()
      expect(seen[1]!.headers["x-keep"]).toBe("yes")
    }
    // Dropped for good: back on the first origin, they stay dropped (as fetch does).
    seen.length = 0
    await ok(httpFetch, { url: `${a.base}/to-b-and-back`, headers: secrets })
    expect(seen.map((s) => `${s.server}${s.url}`)).toEqual(["a/to-b-and-back", "b/back", "a/echo"])
    expect(seen[2]!.headers["authorization"]).toBeUndefined()
  })

  it("a redirect on the same origin keeps them", async () => {
    seen.length = 0
    const got = await ok(httpFetch, { url: `${a.base}/same`, headers: secrets })
    expect(JSON.parse(got["body"] as string).headers).toMatchObject({ authorization: "Bearer s3cret", cookie: "session=s3cret", "proxy-authorization": "Basic s3cret" })
  })

  it("a 303, or a 302 after a POST, turns into a GET without the body or its headers; a 307 keeps both", async () => {
    for (const path of ["/see-other", "/found"]) {
      const got = JSON.parse((await ok(httpRequest, { url: `${a.base}${path}`, method: "POST", json_body: { n: 1 }, headers: secrets }))["text"] as string)
      expect(got, path).toMatchObject({ method: "GET", url: "/echo", body: "" })
      expect(got.headers["content-type"], path).toBeUndefined()
      expect(got.headers["content-length"], path).toBeUndefined()
      expect(got.headers["authorization"], path).toBe("Bearer s3cret")
    }
    const kept = JSON.parse((await ok(httpFetch, { url: `${a.base}/keep`, method: "POST", body: "ping", headers: { "content-type": "text/plain" } }))["body"] as string)
    expect(kept).toMatchObject({ method: "POST", body: "ping", headers: { "content-type": "text/plain", "content-length": "4" } })
  })

  it("answers every Set-Cookie header, joined as httpx joins them", async () => {
    expect((await ok(httpFetch, { url: `${a.base}/cookies` }))["headers"]["set-cookie"]).toBe("a=1; Path=/, b=2; HttpOnly")
    expect((await ok(httpRequest, { url: `${a.base}/cookies` }))["headers"]["set-cookie"]).toBe("a=1; Path=/, b=2; HttpOnly")
  })
})

describe("failure messages", () => {
  it("name the URL without its userinfo or query values", async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await close(closed)
    for (const url of [`http://127.0.0.1:${port}/path?token=s3cret&x=1`, `http://user:s3cret@127.0.0.1:${port}/path?token=s3cret`]) {
      // A URL with userinfo is covered only by a grant that spells it (a glob's host part never crosses `@`).
      const e = await err(httpFetch, { url }, [LOCAL, "net.fetch:http://user:s3cret@127.0.0.1:*"])
      expect(e.reason).toBe("failed")
      expect(e.message).toContain(`http://127.0.0.1:${port}/path?token=`)
      expect(e.message).not.toContain("s3cret")
      expect(e.message).not.toContain("user")
    }
  })

  it("a refused capability names the URL without its secrets too (the refusal is recorded in the cassette); a grant still matches the whole URL", async () => {
    const url = "http://user:s3cret@127.0.0.1:9/path?token=s3cret"
    const denied = await toolErr(httpFetch, { url }, ["net.fetch:https://example.com/*"])
    expect(denied.reason).toBe("capability-denied")
    expect(denied.capability).toBe("net.fetch:http://127.0.0.1:9/path?token=…")
    expect(JSON.stringify(denied)).not.toContain("s3cret")
    // Matching is unchanged: a grant naming the query still covers it (the call then fails on the closed port, not on the grant).
    expect((await toolErr(httpFetch, { url: "http://127.0.0.1:9/path?token=s3cret" }, ["net.fetch:http://127.0.0.1:9/path?token=s3cret"])).reason).toBe("failed")
  })
})
