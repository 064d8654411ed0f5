/**
 * The original's std tools shipped here: std.http_request and std.fetch_page against a
 * real local server, std.file_read/file_write/file_list in real temp dirs (escapes by
 * `..`, absolute paths and symbolic links, and the fs capability), and a replay answering from the cassette without the
 * network or the files.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import { fetchPage } from "../../src/nodes/tools/std/fetchPage.js"
import { fileList, fileRead, fileWrite } from "../../src/nodes/tools/std/files.js"
import * as FsJail from "../../src/nodes/tools/std/fsJail.js"
import { httpRequest } from "../../src/nodes/tools/std/httpRequest.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"
import { toolErr, toolOk } from "../helpers/toolCalls.js"

const ok = toolOk
const err = toolErr

describe("std.http_request and std.fetch_page", () => {
  let server: Server
  let base: string
  let hits = 0
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++
      let body = ""
      req.on("data", (c: Buffer) => (body += c.toString()))
      req.on("end", () => {
        if (req.url?.startsWith("/echo")) {
          return res.writeHead(200, { "content-type": "application/json", "x-server": "local" }).end(
            JSON.stringify({ method: req.method, url: req.url, body, type: req.headers["content-type"] ?? null, h: req.headers["x-test"] ?? null })
          )
        }
        if (req.url === "/moved") return res.writeHead(302, { location: "/echo?moved=1" }).end()
        if (req.url === "/big") return res.writeHead(200, { "content-type": "text/plain" }).end("é".repeat(300_000))
        if (req.url === "/page") {
          return res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(
            "<html><head><title>The &amp; Title</title><style>p{}</style></head><body><script>var x = 1</script><h1>Head</h1><p>First &lt;para&gt;</p><div>Second</div></body></html>"
          )
        }
        if (req.url === "/plain") return res.writeHead(200, { "content-type": "text/plain" }).end("just <b>text</b>")
        res.writeHead(404).end("no")
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it("http_request is refused without net.fetch, and makes no request", async () => {
    const before = hits
    const e = await err(httpRequest, { url: `${base}/echo` })
    expect(e).toMatchObject({ _tag: "ToolError", reason: "capability-denied", capability: `net.fetch:${base}/echo` })
    expect(await err(httpRequest, { url: `${base}/echo` }, ["net.fetch:https://example.com/*"])).toMatchObject({ reason: "capability-denied" })
    expect(hits).toBe(before)
  })

  it("http_request takes the original's arguments and answers its shape", async () => {
    const got = await ok(httpRequest, { url: `${base}/echo?a=1`, params: { b: "two words" }, headers: { "x-test": "yes" } }, ["net.fetch:http://127.0.0.1:*"])
    expect(got).toMatchObject({ status_code: 200, url: `${base}/echo?a=1&b=two+words`, truncated: false })
    expect(got["headers"]["x-server"]).toBe("local")
    expect(JSON.parse(got["text"])).toEqual({ method: "GET", url: "/echo?a=1&b=two+words", body: "", type: null, h: "yes" })
    const posted = JSON.parse((await ok(httpRequest, { url: `${base}/echo`, method: "post", json_body: { n: 1, list: [true] } }, ["net.fetch:http://127.0.0.1:*"]))["text"])
    expect(posted).toMatchObject({ method: "POST", body: "{\"n\":1,\"list\":[true]}", type: "application/json" })
    const raw = JSON.parse((await ok(httpRequest, { url: `${base}/echo`, method: "PUT", body: "plain", headers: { "Content-Type": "text/csv" } }, ["net.fetch:http://127.0.0.1:*"]))["text"])
    expect(raw).toMatchObject({ method: "PUT", body: "plain", type: "text/csv" })
    expect((await ok(httpRequest, { url: `${base}/echo`, method: "OPTIONS" }, ["net.fetch:http://127.0.0.1:*"]))["status_code"]).toBe(200)
    expect(await ok(httpRequest, { url: `${base}/moved` }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ status_code: 200, url: `${base}/echo?moved=1` })
    const big = await ok(httpRequest, { url: `${base}/big` }, ["net.fetch:http://127.0.0.1:*"])
    expect(big["truncated"]).toBe(true)
    expect(Array.from(big["text"] as string).length).toBe(262_144)
  })

  it("http_request refuses a bad method, body with json_body, a non-http URL, naming the argument", async () => {
    expect(await err(httpRequest, { url: `${base}/echo`, method: "BREW" }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ reason: "invalid-input", argument: "method" })
    expect(await err(httpRequest, { url: `${base}/echo`, method: "POST", body: "x", json_body: {} }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ reason: "invalid-input", argument: "json_body" })
    expect(await err(httpRequest, { url: "file:///etc/passwd" }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ reason: "invalid-input", argument: "url" })
  })

  it("fetch_page answers an HTML page's title and text, any other body verbatim, cut at max_chars; refused without net.fetch", async () => {
    expect(await err(fetchPage, { url: `${base}/page` })).toMatchObject({ reason: "capability-denied" })
    expect(await ok(fetchPage, { url: `${base}/page` }, ["net.fetch:http://127.0.0.1:*"])).toEqual({
      url: `${base}/page`,
      status_code: 200,
      title: "The & Title",
      text: "Head\nFirst <para>\nSecond",
      truncated: false
    })
    expect(await ok(fetchPage, { url: `${base}/plain` }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ title: "", text: "just <b>text</b>" })
    expect(await ok(fetchPage, { url: `${base}/plain`, max_chars: 4 }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ text: "just", truncated: true })
  })
})

describe("std.file_read, std.file_write, std.file_list", () => {
  const setup = () => {
    const outer = tempDir("stargraph-fs-")
    const root = join(outer, "root")
    mkdirSync(join(root, "sub"), { recursive: true })
    writeFileSync(join(root, "a.txt"), "hello file")
    writeFileSync(join(root, "sub", "b.md"), "# b")
    writeFileSync(join(outer, "secret.txt"), "outside")
    symlinkSync(join(outer, "secret.txt"), join(root, "link-out"))
    symlinkSync(outer, join(root, "dir-out"))
    symlinkSync(join(outer, "nowhere.txt"), join(root, "dangling"))
    symlinkSync(join(root, "a.txt"), join(root, "link-in"))
    return { outer, root }
  }
  const RW = ["fs.read", "fs.write"]

  it("are refused without the fs capability, touching nothing", async () => {
    const { root } = setup()
    const e = await err(fileRead, { path: "a.txt" }, [], root)
    expect(e).toMatchObject({ _tag: "ToolError", reason: "capability-denied", capability: `fs.read:${join(root, "a.txt")}` })
    expect(e.fix).toContain(`STARGRAPH_CAPABILITIES=${e.capability} in`)
    expect(e.fix).toContain(`Capabilities.layer(["${e.capability}"])`)
    expect(await err(fileList, {}, ["net.fetch"], root)).toMatchObject({ reason: "capability-denied" })
    // fs.read does not grant writing.
    expect(await err(fileWrite, { path: "new.txt", content: "x" }, ["fs.read"], root)).toMatchObject({ reason: "capability-denied", capability: `fs.write:${join(root, "new.txt")}` })
    expect(existsSync(join(root, "new.txt"))).toBe(false)
    // A scoped grant covers only what its glob matches.
    expect((await ok(fileRead, { path: "sub/b.md" }, [`fs.read:${root}/sub/*`], root))["content"]).toBe("# b")
    expect(await err(fileRead, { path: "a.txt" }, [`fs.read:${root}/sub/*`], root)).toMatchObject({ reason: "capability-denied" })
  })

  it("read, write (creating parents, or appending) and list inside the root, with the original's results", async () => {
    const { root } = setup()
    expect(await ok(fileRead, { path: "a.txt" }, RW, root)).toEqual({ path: join(root, "a.txt"), content: "hello file", truncated: false })
    expect(await ok(fileRead, { path: join(root, "a.txt"), max_bytes: 5 }, RW, root)).toMatchObject({ content: "hello", truncated: true })
    expect(await ok(fileRead, { path: "link-in" }, RW, root)).toMatchObject({ path: join(root, "a.txt"), content: "hello file" })
    expect(await ok(fileWrite, { path: "deep/er/c.txt", content: "één" }, RW, root)).toEqual({ path: join(root, "deep", "er", "c.txt"), bytes_written: 5 })
    await ok(fileWrite, { path: "deep/er/c.txt", content: "!", append: true }, RW, root)
    expect(readFileSync(join(root, "deep", "er", "c.txt"), "utf8")).toBe("één!")
    await ok(fileWrite, { path: "deep/er/c.txt", content: "new" }, RW, root)
    expect(readFileSync(join(root, "deep", "er", "c.txt"), "utf8")).toBe("new")
    const listed = await ok(fileList, {}, RW, root)
    expect(listed).toMatchObject({ path: root, truncated: false })
    // The links pointing out of the root (and the dangling one) are skipped.
    expect(listed["entries"]).toEqual([
      { name: "a.txt", is_dir: false, size: 10 },
      { name: "deep", is_dir: true, size: 0 },
      { name: "link-in", is_dir: false, size: 10 },
      { name: "sub", is_dir: true, size: 0 }
    ])
    expect((await ok(fileList, { path: "sub", pattern: "*.md" }, RW, root))["entries"]).toEqual([{ name: "b.md", is_dir: false, size: 3 }])
    expect((await ok(fileList, { pattern: "[ab]*.t?t" }, RW, root))["entries"]).toEqual([{ name: "a.txt", is_dir: false, size: 10 }])
    expect(await err(fileRead, { path: "missing.txt" }, RW, root)).toMatchObject({ reason: "failed", argument: "path" })
    expect(await err(fileList, { path: "a.txt" }, RW, root)).toMatchObject({ reason: "failed", argument: "path" })
    expect(await err(fileList, { pattern: "../*" }, RW, root)).toMatchObject({ reason: "invalid-input", argument: "pattern" })
  })

  it("refuse every escape: .., an absolute path outside, a link to a file or a directory outside, a dangling link", async () => {
    const { outer, root } = setup()
    const escapes = ["../secret.txt", "sub/../../secret.txt", join(outer, "secret.txt"), "link-out", "dir-out/secret.txt", "/etc/passwd"]
    for (const path of escapes) {
      const e = await err(fileRead, { path }, RW, root)
      expect(e, path).toMatchObject({ reason: "invalid-input", argument: "path" })
      expect(e.message).toContain("escapes the tools' filesystem root")
      expect(e.fix).toContain("STARGRAPH_TOOLS_FS_ROOT")
    }
    for (const path of ["../new.txt", "dir-out/new.txt", "link-out"]) {
      expect(await err(fileWrite, { path, content: "pwned" }, RW, root), path).toMatchObject({ reason: "invalid-input", argument: "path" })
    }
    expect(readFileSync(join(outer, "secret.txt"), "utf8")).toBe("outside")
    expect(existsSync(join(outer, "new.txt"))).toBe(false)
    // Writing through a link that points nowhere would create its target outside.
    expect(await err(fileWrite, { path: "dangling", content: "pwned" }, RW, root)).toMatchObject({ reason: "invalid-input", argument: "path" })
    expect(existsSync(join(outer, "nowhere.txt"))).toBe(false)
    expect(await err(fileList, { path: "dir-out" }, RW, root)).toMatchObject({ reason: "invalid-input", argument: "path" })
    expect(await err(fileList, { path: ".." }, RW, root)).toMatchObject({ reason: "invalid-input", argument: "path" })
  })

  it("take the root from STARGRAPH_TOOLS_FS_ROOT when no Layer gives one", async () => {
    const { root } = setup()
    const saved = process.env["STARGRAPH_TOOLS_FS_ROOT"]
    process.env["STARGRAPH_TOOLS_FS_ROOT"] = root
    try {
      expect((await ok(fileRead, { path: "a.txt" }, RW))["content"]).toBe("hello file")
      expect(await err(fileRead, { path: "../secret.txt" }, RW)).toMatchObject({ reason: "invalid-input", argument: "path" })
    } finally {
      if (saved === undefined) delete process.env["STARGRAPH_TOOLS_FS_ROOT"]
      else process.env["STARGRAPH_TOOLS_FS_ROOT"] = saved
    }
  })
})

describe("the new std tools in the cassette", () => {
  it("a replay answers std.file_read, std.file_write and std.http_request from the recording: no grant, no file, no server", async () => {
    const { root } = (() => {
      const r = join(tempDir("stargraph-fs-"), "root")
      mkdirSync(r, { recursive: true })
      writeFileSync(join(r, "in.txt"), "recorded")
      return { root: r }
    })()
    let hits = 0
    const server = createServer((_req, res) => {
      hits++
      res.writeHead(200, { "content-type": "text/plain" }).end("from the server")
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`
    const ir = {
      ir_version: "1.0.0",
      id: "run:fs-net",
      state_schema: { fields: { path: { type: "string" }, url: { type: "string" }, file: { type: "object" }, wrote: { type: "object" }, page: { type: "object" } } },
      nodes: [
        { id: "read", kind: "tool", tool: "std.file_read@1", inputs: { path: "path" }, out: "file" },
        { id: "write", kind: "tool", tool: "std.file_write@1", inputs: { path: "path" }, static: { content: "rewritten", append: true }, out: "wrote" },
        { id: "get", kind: "tool", tool: "std.http_request@1", inputs: { url: "url" }, out: "page" }
      ],
      edges: [{ from: "read", to: "write" }, { from: "write", to: "get" }]
    }
    const filename = join(tempDir(), "tools.sqlite")
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir)
      const parent = yield* Effect.flatMap(graph.start({ inputs: { path: "in.txt", url } }), (r) => r.start()).pipe(
        Effect.provide(Capabilities.layer(["fs.read", "fs.write", "net.fetch:http://127.0.0.1:*"])),
        Effect.provide(FsJail.layer(root))
      )
      // Nothing the tools touched is left, and nothing is granted.
      yield* Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      rmSync(root, { recursive: true, force: true })
      const hitsBefore = hits
      const replayed = yield* Replay.fork(graph, parent.run_id, {})
      return { parent, replayed, hitsBefore }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(out.parent.final_state).toMatchObject({
      file: { path: join(root, "in.txt"), content: "recorded", truncated: false },
      wrote: { path: join(root, "in.txt"), bytes_written: 9 },
      page: { status_code: 200, text: "from the server", url }
    })
    expect(out.replayed.summary).toMatchObject({ status: "done", final_state: out.parent.final_state })
    expect(hits).toBe(out.hitsBefore)
    expect(existsSync(root)).toBe(false)
  })
})
