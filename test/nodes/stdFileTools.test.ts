/**
 * The std file tools' defences: a hostile `pattern` does not backtrack, an invalid class
 * is `invalid-input`; a FIFO is refused (not waited on); directories are created one
 * checked level at a time; an opened file is checked again by its descriptor; no root,
 * or `/`, is refused; `fs.*` grants are paths (`dir/*` covers `dir`, no `*` elsewhere);
 * a listing hides what the grant does not cover; a write naming a directory is refused.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { open } from "node:fs/promises"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import { fileList, fileRead, fileWrite } from "../../src/nodes/tools/std/files.js"
import * as FsJail from "../../src/nodes/tools/std/fsJail.js"
import { tempDir } from "../helpers/cli.js"
import { toolErr, toolOk } from "../helpers/toolCalls.js"

const ok = toolOk
const err = toolErr

const RW = ["fs.read", "fs.write"]

const setup = () => {
  const outer = tempDir("stargraph-fs-")
  const root = join(outer, "root")
  mkdirSync(join(root, "sub"), { recursive: true })
  writeFileSync(join(root, "a.txt"), "hello file")
  writeFileSync(join(outer, "secret.txt"), "outside")
  symlinkSync(outer, join(root, "dir-out"))
  return { outer, root }
}

describe("std.file_list's pattern", () => {
  it("a pattern that makes a regex backtrack exponentially matches in linear steps", async () => {
    const { root } = setup()
    for (const c of ["a", "b", "c"]) writeFileSync(join(root, c.repeat(48)), "x")
    const hostile = "*?".repeat(12) + "Z"
    const started = performance.now()
    expect((await ok(fileList, { pattern: hostile }, RW, root))["entries"]).toEqual([])
    expect(performance.now() - started).toBeLessThan(500)
    // The matcher still matches what fnmatch does.
    expect((await ok(fileList, { pattern: "*?*?" + "b".repeat(40) + "*" }, RW, root))["entries"]).toEqual([{ name: "b".repeat(48), is_dir: false, size: 1 }])
    writeFileSync(join(root, "]x"), "")
    writeFileSync(join(root, "[y"), "")
    expect((await ok(fileList, { pattern: "[]]*" }, RW, root))["entries"].map((e: { name: string }) => e.name)).toEqual(["]x"])
    expect((await ok(fileList, { pattern: "[y" }, RW, root))["entries"].map((e: { name: string }) => e.name)).toEqual(["[y"])
    // dir-out links out of the root: skipped.
    expect((await ok(fileList, { pattern: "[!a-b]*" }, RW, root))["entries"].map((e: { name: string }) => e.name)).toEqual(["[y", "]x", "c".repeat(48), "sub"])
  })

  it("an invalid class is invalid-input naming pattern", async () => {
    const { root } = setup()
    const e = await err(fileList, { pattern: "[z-a]*" }, RW, root)
    expect(e).toMatchObject({ _tag: "ToolError", reason: "invalid-input", argument: "pattern" })
    expect(e.message).toContain("z-a")
  })
})

describe("the file tools check what they opened", () => {
  it("a FIFO inside the root is refused for reading and writing, without waiting on it", async () => {
    const { root } = setup()
    execFileSync("mkfifo", [join(root, "pipe")])
    expect(await err(fileRead, { path: "pipe" }, RW, root)).toMatchObject({ reason: "invalid-input", argument: "path" })
    expect(await err(fileWrite, { path: "pipe", content: "x" }, RW, root)).toMatchObject({ reason: "invalid-input", argument: "path" })
  }, 5_000)

  it("parent directories are made one checked level at a time: a parent linking out is refused, nothing made outside", async () => {
    const { outer, root } = setup()
    const base = await Effect.runPromise(FsJail.root.pipe(Effect.provide(FsJail.layer(root))))
    const e = await Effect.runPromise(Effect.flip(FsJail.makeParents(base, join(base, "dir-out", "made", "deeper"), "dir-out/made/deeper/x.txt")))
    expect(e).toMatchObject({ reason: "invalid-input", argument: "path" })
    expect(e.message).toContain("escapes the tools' filesystem root")
    expect(existsSync(join(outer, "made"))).toBe(false)
    // Inside the root, the levels are made.
    expect(await Effect.runPromise(FsJail.makeParents(base, join(base, "n1", "n2"), "n1/n2/x"))).toBe(join(base, "n1", "n2"))
    expect(existsSync(join(root, "n1", "n2"))).toBe(true)
  })

  it("a descriptor whose file is outside the root is refused by the check after the open", async () => {
    const { outer, root } = setup()
    const base = await Effect.runPromise(FsJail.root.pipe(Effect.provide(FsJail.layer(root))))
    const handle = await open(join(outer, "secret.txt"), "r")
    try {
      // The path checked before the open was inside; the file opened is not.
      const e = await Effect.runPromise(Effect.flip(
        FsJail.verifyOpened(handle, base, "fs.read", { path: "a.txt", expected: join(base, "a.txt"), kind: "file" }).pipe(Effect.provide(Capabilities.layer(RW)))
      ))
      expect(e).toMatchObject({ reason: "invalid-input", argument: "path" })
      expect(e.message).toContain(join(outer, "secret.txt"))
    } finally {
      await handle.close()
    }
    const inside = await open(join(root, "a.txt"), "r")
    try {
      expect(await Effect.runPromise(
        FsJail.verifyOpened(inside, base, "fs.read", { path: "a.txt", expected: join(base, "a.txt"), kind: "file" }).pipe(Effect.provide(Capabilities.layer(RW)))
      )).toBe(join(base, "a.txt"))
    } finally {
      await inside.close()
    }
  })
})

describe("the file tools' root", () => {
  it("is refused unless set explicitly, and refused when it is /", async () => {
    const saved = process.env["STARGRAPH_TOOLS_FS_ROOT"]
    delete process.env["STARGRAPH_TOOLS_FS_ROOT"]
    try {
      for (const [tool, input] of [[fileRead, { path: "package.json" }], [fileWrite, { path: "x.txt", content: "x" }], [fileList, {}]] as const) {
        const e = await err(tool, input, RW)
        expect(e).toMatchObject({ reason: "failed" })
        expect(e.message).toContain("no filesystem root set")
        expect(e.fix).toContain("STARGRAPH_TOOLS_FS_ROOT=")
        expect(e.fix).toContain("FsRoot.layer(")
      }
      expect(existsSync("x.txt")).toBe(false)
      const e = await err(fileRead, { path: "etc/hostname" }, RW, "/")
      expect(e).toMatchObject({ reason: "failed" })
      expect(e.message).toContain("whole filesystem")
      process.env["STARGRAPH_TOOLS_FS_ROOT"] = "/"
      expect((await err(fileList, {}, RW)).message).toContain("whole filesystem")
    } finally {
      if (saved === undefined) delete process.env["STARGRAPH_TOOLS_FS_ROOT"]
      else process.env["STARGRAPH_TOOLS_FS_ROOT"] = saved
    }
  })
})

describe("fs capability grants are paths", () => {
  it("dir/* covers dir and beneath it, a * elsewhere covers nothing and is named, net.fetch globs unchanged", async () => {
    expect(Capabilities.covers(["fs.read:/srv/data*"], "fs.read:/srv/database/secret")).toBe(false)
    expect(Capabilities.covers(["fs.read:/srv/data*"], "fs.read:/srv/data")).toBe(false)
    expect(Capabilities.invalidGrant("fs.read:/srv/data*")).toContain("whole last segment")
    expect(Capabilities.invalidGrant("fs.write:/srv/*/x")).toBeDefined()
    expect(Capabilities.invalidGrant("fs.read:/srv/dat?/x")).toBeDefined()
    expect(Capabilities.invalidGrant("fs.read:srv/data/*")).toContain("absolute")
    expect(Capabilities.invalidGrant("fs.read:/srv/data/*")).toBeUndefined()
    expect(Capabilities.invalidGrant("net.fetch:http://*.example.com/*")).toBeUndefined()
    expect(Capabilities.covers(["fs.read:/srv/data/*"], "fs.read:/srv/data")).toBe(true)
    expect(Capabilities.covers(["fs.read:/srv/data/*"], "fs.read:/srv/data/a/b.txt")).toBe(true)
    expect(Capabilities.covers(["fs.read:/srv/data/*"], "fs.read:/srv/database")).toBe(false)
    expect(Capabilities.covers(["fs.read:/srv/data"], "fs.read:/srv/data")).toBe(true)
    expect(Capabilities.covers(["fs.read:/srv/data"], "fs.read:/srv/data/x")).toBe(false)
    expect(Capabilities.covers(["fs.read:*"], "fs.read:/anything")).toBe(true)
    expect(Capabilities.covers(["net.fetch:http://127.0.0.1:*"], "net.fetch:http://127.0.0.1:8080/a/b")).toBe(true)
    expect(Capabilities.covers(["net.fetch:https://api.example.com/v1*"], "net.fetch:https://api.example.com/v1/x/y")).toBe(true)
    const denied = await Effect.runPromise(Effect.flip(Capabilities.demand("fs.read:/srv/database/secret").pipe(Effect.provide(Capabilities.layer(["fs.read:/srv/data*"])))))
    expect(denied.message).toContain("'fs.read:/srv/data*' is ignored")
  })

  it("a grant of dir/* lists dir itself; a listing hides entries linking inside the root but outside the grant", async () => {
    const { root } = setup()
    mkdirSync(join(root, "pub"))
    writeFileSync(join(root, "pub", "open.txt"), "ok")
    symlinkSync(join(root, "a.txt"), join(root, "pub", "peek"))
    const listed = await ok(fileList, { path: "pub" }, [`fs.read:${root}/pub/*`], root)
    expect(listed["entries"]).toEqual([{ name: "open.txt", is_dir: false, size: 2 }])
    expect((await ok(fileList, { path: "pub" }, RW, root))["entries"].map((e: { name: string }) => e.name)).toEqual(["open.txt", "peek"])
  })
})

describe("std.file_write naming a directory", () => {
  it("the root itself or a directory is invalid-input, saying so", async () => {
    const { root } = setup()
    const dot = await err(fileWrite, { path: ".", content: "x" }, RW, root)
    expect(dot).toMatchObject({ reason: "invalid-input", argument: "path" })
    expect(dot.message).toContain("root directory")
    const sub = await err(fileWrite, { path: "sub", content: "x" }, RW, root)
    expect(sub).toMatchObject({ reason: "invalid-input", argument: "path" })
    expect(sub.message).toContain("directory")
    expect(readFileSync(join(root, "a.txt"), "utf8")).toBe("hello file")
  })
})
