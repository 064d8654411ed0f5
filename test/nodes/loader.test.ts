/**
 * TypeScript node modules without tsx (src/nodes/loader.ts): compiled once with esbuild
 * (on a Node that does not strip types itself) into the module cache, each file of the
 * project on its own (one instance of a shared helper), packages resolved from the
 * module's folder and shared with the app, errors
 * typed with the file and line, and a second load served from the cache.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { formatError, type NodeModuleError } from "../../src/errors.js"
import { sha256 } from "../../src/ir/hash.js"
import { loadModule, type ModuleNamespace, moduleCacheDir, pickExport, providedModuleHash } from "../../src/nodes/loader.js"
import { ROOT, tempDir } from "../helpers/cli.js"

let cache: string
const saved = process.env["STARGRAPH_CACHE_DIR"]
beforeAll(() => {
  cache = tempDir("stargraph-module-cache-")
  process.env["STARGRAPH_CACHE_DIR"] = cache
})
afterAll(() => {
  if (saved === undefined) delete process.env["STARGRAPH_CACHE_DIR"]
  else process.env["STARGRAPH_CACHE_DIR"] = saved
})

/** A graph folder with `files`, and `node_modules/effect` linked to this repository's. */
const graphFolder = (files: Record<string, string>): string => {
  const dir = tempDir()
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  mkdirSync(join(dir, "node_modules"), { recursive: true })
  symlinkSync(join(ROOT, "node_modules", "effect"), join(dir, "node_modules", "effect"))
  return dir
}

const load = (dir: string, module = "./nodes.ts") =>
  Effect.runPromise(Effect.either(loadModule(dir, { nodeId: "n", module, exportName: "f" }, { roots: [dir] })))

const loaded = async (dir: string, module = "./nodes.ts"): Promise<ModuleNamespace> => {
  const r = await load(dir, module)
  if (Either.isLeft(r)) throw new Error(formatError(r.left))
  return r.right.namespace
}

/** `f()` of `dir`'s nodes.ts, loaded in a new process by the built library with `STARGRAPH_CACHE_DIR=cacheDir`. */
const probeIn = (dir: string, cacheDir: string): string =>
  execFileSync(process.execPath, [
    "--input-type=module",
    "-e",
    `import * as Effect from "effect/Effect"
const { loadModule } = await import(${JSON.stringify(pathToFileURL(join(ROOT, "dist", "src", "nodes", "loader.js")).href)})
const m = await Effect.runPromise(loadModule(${JSON.stringify(dir)}, { nodeId: "n", module: "./nodes.ts", exportName: "f" }))
console.log(JSON.stringify(m.namespace.f()))`
  ], { cwd: ROOT, encoding: "utf8", env: { ...process.env, STARGRAPH_CACHE_DIR: cacheDir } }).trim()

const cacheFiles = () => readdirSync(join(cache, "modules")).sort()

describe("TypeScript node modules", () => {
  it("import a sibling .ts file and a package: the package is the app's own instance, resolved from the graph's folder", async () => {
    const dir = graphFolder({
      "nodes.ts": [
        `import { Effect } from "effect"`,
        `import { bump, type Counter } from "./lib/bump.js"`,
        `import { twice } from "./lib/twice.ts"`,
        `import { which } from "local-only"`,
        `export const f = (s: Counter) => Effect.succeed({ n: twice(bump(s.n)) })`,
        `export const EffectNs = Effect`,
        `export const url: string = import.meta.url`,
        `export const local = which`,
        ``
      ].join("\n"),
      "lib/bump.ts": `export interface Counter { readonly n: number }\nexport const bump = (n: number): number => n + 1\nexport const url = import.meta.url\n`,
      "lib/twice.ts": `export const twice = (n: number): number => n * 2\n`,
      // A package only the graph's folder has, with an ESM and a CommonJS side: Node's
      // `import` resolution picks the ESM one.
      "node_modules/local-only/package.json": JSON.stringify({ name: "local-only", exports: { import: "./esm.mjs", require: "./cjs.cjs" } }),
      "node_modules/local-only/esm.mjs": `export const which = "esm"\n`,
      "node_modules/local-only/cjs.cjs": `exports.which = "cjs"\n`
    })
    const ns = await loaded(dir)
    const f = ns["f"] as (s: { n: number }) => Effect.Effect<{ n: number }>
    expect(Effect.runSync(f({ n: 1 }))).toEqual({ n: 4 })
    // The same module instance the app (this test) imports, not a copy.
    expect(ns["EffectNs"]).toBe(Effect)
    expect(ns["local"]).toBe("esm")
    // import.meta is the source file's, not the cache's.
    expect(ns["url"]).toBe(pathToFileURL(join(dir, "nodes.ts")).href)
  })

  it("a default export is picked through `default`", async () => {
    const dir = graphFolder({ "nodes.ts": `const f = (): { n: number } => ({ n: 7 })\nexport default { f }\n` })
    const ns = await loaded(dir)
    const f = Effect.runSync(pickExport(ns, { nodeId: "n", module: "./nodes.ts", exportName: "f" })) as () => unknown
    expect(f()).toEqual({ n: 7 })
  })

  it("a syntax error is a typed load-failed error naming the file and line", async () => {
    const dir = graphFolder({
      "nodes.ts": `import { g } from "./lib/helper.ts"\nexport const f = () => g()\n`,
      "lib/helper.ts": `export const g = () => {\n  return { n: 1 ]\n}\n`
    })
    const r = await load(dir)
    expect(Either.isLeft(r)).toBe(true)
    const error = (r as Either.Left<NodeModuleError, unknown>).left
    expect(error._tag).toBe("NodeModuleError")
    expect(error.reason).toBe("load-failed")
    expect(error.message).toMatch(/^module '\.\/nodes\.ts' failed to load: lib\/helper\.ts:2:\d+: /)
    expect(error.fix).toBe("fix lib/helper.ts at line 2")
    expect(formatError(error)).not.toMatch(/\n/)
  })

  it("an import of a package that is not installed says to install it, not to edit the line", async () => {
    const dir = graphFolder({ "nodes.ts": `import { nothing } from "no-such-package-anywhere"\nexport const f = () => nothing\n` })
    const r = await load(dir)
    const error = (r as Either.Left<NodeModuleError, unknown>).left
    expect(error.reason).toBe("load-failed")
    expect(error.message).toMatch(/Could not resolve "no-such-package-anywhere"/)
    expect(error.fix).toMatch(/^install 'no-such-package-anywhere' where the graph's modules can import it \(npm install no-such-package-anywhere in .+\), or fix the import at nodes\.ts line 1$/)
    // A subpath import names its package: what npm installs.
    for (const [specifier, pkg] of [["no-such-pkg/Schema", "no-such-pkg"], ["@no-such/scope/deep/path", "@no-such/scope"]]) {
      const sub = await load(graphFolder({ "nodes.ts": `import { nothing } from "${specifier}"\nexport const f = () => nothing\n` }))
      expect((sub as Either.Left<NodeModuleError, unknown>).left.fix).toMatch(new RegExp(`^install '${pkg}' where .*\\(npm install ${pkg} in `))
    }
  })

  it("outside any project (no node_modules above it), effect and stargraph are Stargraph's own", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "nodes.ts"), [
      `import { Effect } from "effect"`,
      `import * as Schema from "effect/Schema"`,
      `import * as Stargraph from "stargraph"`,
      `export const f = () => ({ n: Schema.decodeUnknownSync(Schema.NumberFromString)("5") })`,
      `export const EffectNs = Effect`,
      `export const loadGraph = typeof Stargraph.Graph.load`,
      ``
    ].join("\n"))
    expect(existsSync(join(dir, "node_modules"))).toBe(false)
    const ns = await loaded(dir)
    expect((ns["f"] as () => unknown)()).toEqual({ n: 5 })
    // The copy this process runs (Stargraph's own), not a second one.
    expect(ns["EffectNs"]).toBe(Effect)
    expect(ns["loadGraph"]).toBe("function")
  })

  it("an error thrown while the module runs is load-failed with its first line", async () => {
    const dir = graphFolder({ "nodes.ts": `throw new Error("no config\\nsecond line")\nexport const f = () => ({})\n` })
    const error = (await load(dir) as Either.Left<NodeModuleError, unknown>).left
    expect(error.reason).toBe("load-failed")
    expect(error.message).toBe("module './nodes.ts' failed to load: no config")
  })

  it("are compiled once: a second process imports the cached output; an edited sibling is compiled again", async () => {
    const dir = graphFolder({
      "nodes.ts": `import { value } from "./value.ts"\nexport const f = () => ({ n: value })\n`,
      "value.ts": `export const value: number = 1\n`
    })
    const before = new Set(readdirSync(join(cache, "modules")))
    expect((await loaded(dir))["f"]).toBeTypeOf("function")
    // Each TypeScript file is compiled on its own: an entry and an output each.
    const added = cacheFiles().filter((name) => !before.has(name))
    expect(added.map((name) => name.replace(/^[0-9a-f]+/, "")).sort()).toEqual([".json", ".json", ".mjs", ".mjs"])
    const entries = added.filter((name) => name.endsWith(".json")).map((name) =>
      JSON.parse(readFileSync(join(cache, "modules", name), "utf8")) as { inputs: Record<string, string>; output: string }
    )
    const nodes = entries.find((e) => join(dir, "nodes.ts") in e.inputs)!
    const value = entries.find((e) => e !== nodes)!
    expect(Object.keys(nodes.inputs).sort()).toEqual([join(dir, "nodes.ts"), join(dir, "value.ts")].sort())
    expect(nodes.inputs[join(dir, "nodes.ts")]).toBe(sha256(readFileSync(join(dir, "nodes.ts"))))
    expect(Object.keys(value.inputs)).toEqual([join(dir, "value.ts")])
    // The importer imports the helper's own output.
    expect(readFileSync(join(cache, "modules", nodes.output), "utf8")).toContain(value.output)

    // Tamper with the helper's cached output: a process that reuses it (no recompile) sees the change.
    const output = join(cache, "modules", value.output)
    writeFileSync(output, readFileSync(output, "utf8").replace("var value = 1", "var value = 42"))
    const probe = () => probeIn(dir, cache)
    expect(probe()).toBe(`{"n":42}`)
    expect(cacheFiles()).toEqual([...before, ...added].sort())

    // The entries record the sibling's hash: editing it compiles both again (the helper
    // under a new entry), into new outputs.
    writeFileSync(join(dir, "value.ts"), `export const value: number = 2\n`)
    expect(probe()).toBe(`{"n":2}`)
    expect(cacheFiles().length).toBe(before.size + 7)
    // A removed output is compiled again.
    for (const name of cacheFiles().filter((n) => n.endsWith(".mjs") && !before.has(n))) rmSync(join(cache, "modules", name))
    expect(probe()).toBe(`{"n":2}`)
  })

  it("a helper imported by several modules is one module: its state and classes are shared; an import cycle still loads", async () => {
    const dir = graphFolder({
      "package.json": JSON.stringify({ type: "module" }),
      "a.ts": `import { store, Oops } from "./lib/store.ts"\nimport { seen } from "./lib/plain.js"\nexport const f = () => { store.n++; seen.push("a"); return new Oops() }\n`,
      "b.ts": `import { store, Oops } from "./lib/store.js"\nimport { seen } from "./lib/plain.js"\nexport const f = (e: unknown) => ({ n: store.n, same: e instanceof Oops, seen: [...seen] })\n`,
      "c.mjs": `import { seen } from "./lib/plain.js"\nexport const f = () => seen.length\n`,
      "lib/store.ts": `export const store = { n: 0 }\nexport class Oops extends Error {}\n`,
      "lib/plain.js": `export const seen = []\n`,
      "x.ts": `import { y } from "./y.ts"\nexport const x = 1\nexport const f = () => x + y()\n`,
      "y.ts": `import { x } from "./x.ts"\nexport const y = () => x + 1\n`
    })
    const a = (await loaded(dir, "./a.ts"))["f"] as () => unknown
    const b = (await loaded(dir, "./b.ts"))["f"] as (e: unknown) => unknown
    const c = (await loaded(dir, "./c.mjs"))["f"] as () => number
    const oops = a()
    expect(b(oops)).toEqual({ n: 1, same: true, seen: ["a"] })
    expect(c()).toBe(1)
    expect(((await loaded(dir, "./x.ts"))["f"] as () => number)()).toBe(3)
  })

  it("an import cycle between JavaScript files loads, as a node module or behind a TypeScript one, and is hashed", async () => {
    const dir = graphFolder({
      "a.mjs": `import { b } from "./b.mjs"\nexport const a = () => 1\nexport const f = () => b()\n`,
      "b.mjs": `import { a } from "./a.mjs"\nexport const b = () => a() + 1\n`,
      "t.ts": `import { b } from "./b.mjs"\nexport const f = (): number => b() * 10\n`
    })
    expect(((await loaded(dir, "./a.mjs"))["f"] as () => number)()).toBe(2)
    expect(((await loaded(dir, "./t.ts"))["f"] as () => number)()).toBe(20)
    const before = await load(dir, "./t.ts")
    writeFileSync(join(dir, "a.mjs"), `import { b } from "./b.mjs"\nexport const a = () => 5\nexport const f = () => b()\n`)
    const after = await load(dir, "./t.ts")
    expect(Either.isRight(before) && Either.isRight(after) && before.right.hash !== after.right.hash).toBe(true)
  })

  it("a helper's output pruned from the cache (or removed) is compiled again when a module that imports it is loaded", async () => {
    const dir = graphFolder({
      "nodes.ts": `import { b } from "./b.ts"\nexport const f = () => ({ n: b() })\n`,
      "b.ts": `export const b = (): number => 4\n`
    })
    const own = join(tempDir(), "cache")
    expect(probeIn(dir, own)).toBe(`{"n":4}`)
    // Everything 40 days old, then the module edited: its compile prunes what is old, and
    // the helper, unchanged, is found again (touched when used, or compiled again).
    const longAgo = new Date(Date.now() - 40 * 24 * 3600 * 1000)
    for (const name of readdirSync(join(own, "modules"))) utimesSync(join(own, "modules", name), longAgo, longAgo)
    writeFileSync(join(dir, "nodes.ts"), `import { b } from "./b.ts"\nexport const f = () => ({ n: b() + 1 })\n`)
    expect(probeIn(dir, own)).toBe(`{"n":5}`)
    for (const name of readdirSync(join(own, "modules")).filter((n) => n.endsWith(".mjs"))) rmSync(join(own, "modules", name))
    expect(probeIn(dir, own)).toBe(`{"n":5}`)
  })

  it("without a cache folder a helper several modules import is compiled once and is one module", () => {
    const dir = graphFolder({
      "nodes.ts": `import { left } from "./left.ts"\nimport { right } from "./right.ts"\nexport const f = () => ({ same: left() === right() })\n`,
      "left.ts": `import { shared } from "./shared.ts"\nexport const left = () => shared\n`,
      "right.ts": `import { shared } from "./shared.ts"\nexport const right = () => shared\n`,
      "shared.ts": `export const shared = { id: Math.random() }\n`
    })
    const notADir = join(tempDir(), "file")
    writeFileSync(notADir, "")
    expect(probeIn(dir, notADir)).toBe(`{"same":true}`)
  })

  it("the cache folder is $STARGRAPH_CACHE_DIR/modules; an edited module is imported afresh in the same process; old files are pruned", async () => {
    expect(moduleCacheDir()).toBe(join(cache, "modules"))
    const dir = graphFolder({ "nodes.ts": `export const f = () => ({ n: 1 })\n` })
    expect(((await loaded(dir))["f"] as () => unknown)()).toEqual({ n: 1 })
    // A compile removes cache files older than 30 days.
    const stale = join(cache, "modules", "0123456789abcdef0123456789abcdef.mjs")
    writeFileSync(stale, "export {}\n")
    const longAgo = new Date(Date.now() - 31 * 24 * 3600 * 1000)
    utimesSync(stale, longAgo, longAgo)
    writeFileSync(join(dir, "nodes.ts"), `export const f = () => ({ n: 2 })\n`)
    expect(((await loaded(dir))["f"] as () => unknown)()).toEqual({ n: 2 })
    expect(existsSync(stale)).toBe(false)
  })

  it("without a usable cache folder the module still loads (imported from a data: URL)", () => {
    const dir = graphFolder({
      "nodes.ts": `import { Effect } from "effect"\nimport { two } from "./two.ts"\nexport const f = () => Effect.runSync(Effect.succeed({ n: two }))\n`,
      "two.ts": `export const two: number = 2\n`
    })
    const notADir = join(tempDir(), "file")
    writeFileSync(notADir, "")
    expect(probeIn(dir, notADir)).toBe(`{"n":2}`)
  })

  it("a module linked from outside the graph's folder is still refused, and the hash is the source's", async () => {
    const outside = graphFolder({ "evil.ts": `export const f = () => ({})\n` })
    const dir = graphFolder({})
    symlinkSync(join(outside, "evil.ts"), join(dir, "nodes.ts"))
    const error = (await load(dir) as Either.Left<NodeModuleError, unknown>).left
    expect(error.reason).toBe("outside-root")

    const ok = graphFolder({ "nodes.ts": `export const f = (): number => 1\n` })
    const r = await load(ok)
    expect(Either.isRight(r) && r.right.hash).toBe(sha256(readFileSync(join(ok, "nodes.ts"))))
  })

  it("the hash covers the files bundled into the module: editing a helper it imports changes it", async () => {
    const dir = graphFolder({
      "nodes.ts": `import { step } from "./lib/step.ts"\nexport const f = (): number => step(1)\n`,
      "lib/step.ts": `export const step = (n: number): number => n + 1\n`
    })
    const hashOf = async () => {
      const r = await load(dir)
      if (Either.isLeft(r)) throw new Error(formatError(r.left))
      return r.right.hash
    }
    const first = await hashOf()
    expect(first).not.toBe(sha256(readFileSync(join(dir, "nodes.ts"))))
    // Loaded again (from the cache): the same hash.
    expect(await hashOf()).toBe(first)
    writeFileSync(join(dir, "lib", "step.ts"), `export const step = (n: number): number => n + 2\n`)
    const edited = await hashOf()
    expect(edited).not.toBe(first)
    expect((await loaded(dir))["f"] as () => number).toBeTypeOf("function")
    // The same folder copied elsewhere: the same hash (paths are relative to the module).
    const copy = graphFolder({
      "nodes.ts": readFileSync(join(dir, "nodes.ts"), "utf8"),
      "lib/step.ts": readFileSync(join(dir, "lib", "step.ts"), "utf8")
    })
    const moved = await load(copy)
    expect(Either.isRight(moved) && moved.right.hash).toBe(edited)
  })
})

describe("JavaScript node modules", () => {
  const hashOf = async (dir: string, module: string) => {
    const r = await load(dir, module)
    if (Either.isLeft(r)) throw new Error(formatError(r.left))
    return r.right.hash
  }

  it("the hash covers the files an .mjs module imports by relative path: editing a helper changes it", async () => {
    const dir = graphFolder({
      "nodes.mjs": `import { step } from "./lib/step.mjs"\nexport const f = () => step(1)\n`,
      "lib/step.mjs": `import { inc } from "../util/inc.mjs"\nexport const step = (n) => inc(n)\n`,
      "util/inc.mjs": `export const inc = (n) => n + 1\n`
    })
    const first = await hashOf(dir, "./nodes.mjs")
    expect(first).not.toBe(sha256(readFileSync(join(dir, "nodes.mjs"))))
    // Loaded again (from the cache entry): the same hash.
    expect(await hashOf(dir, "./nodes.mjs")).toBe(first)
    // A helper two imports down, edited: a new hash.
    writeFileSync(join(dir, "util", "inc.mjs"), `export const inc = (n) => n + 2\n`)
    const edited = await hashOf(dir, "./nodes.mjs")
    expect(edited).not.toBe(first)
    // The same folder elsewhere: the same hash (paths are relative to the module).
    const copy = graphFolder({
      "nodes.mjs": readFileSync(join(dir, "nodes.mjs"), "utf8"),
      "lib/step.mjs": readFileSync(join(dir, "lib", "step.mjs"), "utf8"),
      "util/inc.mjs": readFileSync(join(dir, "util", "inc.mjs"), "utf8")
    })
    expect(await hashOf(copy, "./nodes.mjs")).toBe(edited)
  })

  it("are Node's own modules: a helper's state is the one the app imports", async () => {
    const dir = graphFolder({
      "nodes.mjs": `import { counter } from "./state.mjs"\nexport const f = () => ++counter.n\n`,
      "state.mjs": `export const counter = { n: 0 }\n`
    })
    const f = (await loaded(dir, "./nodes.mjs"))["f"] as () => number
    const state = await import(pathToFileURL(join(dir, "state.mjs")).href) as { counter: { n: number } }
    state.counter.n = 41
    expect(f()).toBe(42)
  })

  it("a module edited within the process runs its new code (and an unchanged one stays the app's instance)", () => {
    const dir = graphFolder({ "nodes.mjs": `export const f = () => 1\n` })
    // In a plain Node process (the test runner has its own module loader), with the built library.
    const out = execFileSync(process.execPath, [
      "--input-type=module",
      "-e",
      `import * as Effect from "effect/Effect"
import { writeFileSync } from "node:fs"
import { pathToFileURL } from "node:url"
const { loadModule } = await import(${JSON.stringify(pathToFileURL(join(ROOT, "dist", "src", "nodes", "loader.js")).href)})
const load = () => Effect.runPromise(loadModule(${JSON.stringify(dir)}, { nodeId: "n", module: "./nodes.mjs", exportName: "f" }))
const first = await load()
const app = await import(${JSON.stringify(pathToFileURL(join(dir, "nodes.mjs")).href)})
writeFileSync(${JSON.stringify(join(dir, "nodes.mjs"))}, "export const f = () => 51\\n")
const edited = await load()
console.log(JSON.stringify([first.namespace.f === app.f, first.namespace.f(), edited.namespace.f(), first.hash !== edited.hash]))`
    ], { cwd: ROOT, encoding: "utf8", env: { ...process.env, STARGRAPH_CACHE_DIR: cache } }).trim()
    expect(out).toBe("[true,1,51,true]")
  })

  it("a .cjs module's relative require is hashed too; a module without relative imports is its own file", async () => {
    const dir = graphFolder({
      "nodes.cjs": `const { g } = require("./helper.cjs")\nexports.f = () => g()\n`,
      "helper.cjs": `exports.g = () => 1\n`,
      "alone.mjs": `import { readFileSync } from "node:fs"\nexport const f = () => typeof readFileSync\n`
    })
    const first = await hashOf(dir, "./nodes.cjs")
    expect(first).not.toBe(sha256(readFileSync(join(dir, "nodes.cjs"))))
    writeFileSync(join(dir, "helper.cjs"), `exports.g = () => 2\n`)
    expect(await hashOf(dir, "./nodes.cjs")).not.toBe(first)
    expect(await hashOf(dir, "./alone.mjs")).toBe(sha256(readFileSync(join(dir, "alone.mjs"))))
  })
})

describe("modules an app gives as objects", () => {
  it("are hashed from their exports' source text, whatever the exports are (a bigint or a symbol too)", () => {
    const a = providedModuleHash({ f: (n: number) => n + 1, big: 10n, tag: Symbol("t"), name: "x", nothing: undefined })
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(providedModuleHash({ f: (n: number) => n + 1, big: 10n, tag: Symbol("t"), name: "x", nothing: undefined })).toBe(a)
    expect(providedModuleHash({ f: (n: number) => n + 2, big: 10n, tag: Symbol("t"), name: "x", nothing: undefined })).not.toBe(a)
    expect(providedModuleHash({ f: (n: number) => n + 1, big: 11n, tag: Symbol("t"), name: "x", nothing: undefined })).not.toBe(a)
  })
})
