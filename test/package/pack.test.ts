/**
 * The package as users get it: `npm pack`, then a fresh app that installs the tarball next
 * to its own `effect@3` with npm's real resolver (peers, dedupe, conflicts), imports it,
 * and runs `npx stargraph`. npm talks only to a registry on 127.0.0.1 (./registry.ts) that
 * serves this repository's locked packages from the npm cache `npm ci` filled.
 */
import { spawn } from "node:child_process"
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ROOT, tempDir } from "../helpers/cli.js"
import { type LocalRegistry, startRegistry } from "./registry.js"

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Asynchronous on purpose: the registry answers npm from this very process. */
const exec = (command: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...baseEnv, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** The environment without what `npm test` itself exports (npm_config_*, npm_package_*, ...). */
const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== "NODE_OPTIONS" && !k.startsWith("VITEST"))
)

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string
  exports: Record<string, unknown>
  peerDependencies: Record<string, string>
  peerDependenciesMeta: Record<string, { optional?: boolean }>
}
const effectVersion = (JSON.parse(readFileSync(join(ROOT, "node_modules", "effect", "package.json"), "utf8")) as { version: string }).version

let work = ""
let tarball = ""
let packedFiles: ReadonlyArray<string> = []
let registry: LocalRegistry
let npmFlags: ReadonlyArray<string> = []
let app = ""

/** A fresh app folder with a package.json of its own. */
const newApp = (name: string): string => {
  const dir = join(work, name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true, type: "module" }, null, 2))
  return dir
}

const npm = (cwd: string, ...args: ReadonlyArray<string>) => exec("npm", [...args, ...npmFlags], cwd)

beforeAll(async () => {
  work = tempDir("stargraph-pack-")
  // dist/ was just built by test/globalSetup.ts; `npm pack` would rebuild it through `prepare`.
  const packed = await exec("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], ROOT)
  expect(packed.code, packed.stderr).toBe(0)
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  tarball = join(work, info!.filename)
  packedFiles = info!.files.map((f) => f.path)

  // A fake effect@2 (an incompatible major) for the conflict check, packed like any package.
  const fake = newApp("fake-effect")
  writeFileSync(join(fake, "package.json"), JSON.stringify({ name: "effect", version: "2.4.19", main: "index.js" }))
  writeFileSync(join(fake, "index.js"), "module.exports = {}\n")
  const fakePacked = await exec("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], fake)
  expect(fakePacked.code, fakePacked.stderr).toBe(0)
  const fakeTgz = readFileSync(join(work, (JSON.parse(fakePacked.stdout) as Array<{ filename: string }>)[0]!.filename))

  const cache = (await exec("npm", ["config", "get", "cache"], ROOT)).stdout.trim()
  registry = await startRegistry(ROOT, cache, [{ manifest: { name: "effect", version: "2.4.19", main: "index.js" }, tarball: fakeTgz }])
  npmFlags = [
    `--registry=${registry.url}`,
    `--cache=${join(work, "npm-cache")}`,
    "--no-audit",
    "--no-fund",
    "--no-update-notifier",
    // better-sqlite3 would compile for a minute; its binary is copied from this repository below.
    "--ignore-scripts"
  ]

  app = newApp("app")
  const installed = await npm(app, "install", tarball, `effect@${effectVersion.split(".")[0]}`)
  expect(installed.code, installed.stderr).toBe(0)
  cpSync(join(ROOT, "node_modules", "better-sqlite3", "build"), join(app, "node_modules", "better-sqlite3", "build"), { recursive: true })
  cpSync(join(ROOT, "examples", "hello"), join(app, "graphs", "hello"), { recursive: true })
}, 120_000)

afterAll(async () => {
  await registry?.close()
})

describe("npm pack", () => {
  it("ships the built library, the CLI bundle and the sources its maps point to, and none of the repository's tooling", () => {
    for (const file of ["package.json", "README.md", "bin/stargraph.js", "dist/cli/stargraph.cjs", "dist/src/index.js", "dist/src/index.d.ts", "dist/src/index.js.map", "src/index.ts"]) {
      expect(packedFiles).toContain(file)
    }
    for (const target of Object.values(pkg.exports)) {
      const paths = typeof target === "string" ? [target] : Object.values(target as Record<string, string>)
      for (const path of paths) expect(packedFiles).toContain(path.replace(/^\.\//, ""))
    }
    // examples/bundles/ ships: `stargraph new` copies from it.
    const outside = packedFiles.filter((f) =>
      (/^(scratchpad|test|bench|docs|examples|scripts|node_modules|src\/cli|dist\/src\/cli)\//.test(f) && !f.startsWith("examples/bundles/")) || f.endsWith(".tsbuildinfo") || f.endsWith(".sqlite")
    )
    expect(outside).toEqual([])
    const bundles = readdirSync(join(ROOT, "examples", "bundles"))
    expect(bundles.length).toBeGreaterThanOrEqual(5)
    for (const b of bundles) for (const f of ["graph.yaml", "state.ts", "README.md"]) expect(packedFiles).toContain(`examples/bundles/${b}/${f}`)
  })
})

describe("installed into an app next to its own effect@3", () => {
  it("leaves exactly one copy of effect (npm ls reports no invalid or missing peer)", async () => {
    const ls = await npm(app, "ls", "effect", "--all", "--parseable")
    expect(ls.code, ls.stderr).toBe(0)
    const copies = ls.stdout.split("\n").filter((line) => /[\\/]node_modules[\\/]effect$/.test(line))
    expect(copies).toEqual([join(app, "node_modules", "effect")])
    const whole = await npm(app, "ls", "--all")
    expect(whole.code, whole.stdout + whole.stderr).toBe(0)
    // The non-optional peers were installed with it; the optional tracing peers were not.
    for (const [name, range] of Object.entries(pkg.peerDependencies)) {
      expect(existsSync(join(app, "node_modules", name)), `${name}@${range}`).toBe(!pkg.peerDependenciesMeta[name]?.optional)
    }
  })

  it("imports { Graph } from \"stargraph\" and runs a graph whose node returns the app's own Effect", async () => {
    writeFileSync(join(app, "check.mjs"), `
import { Effect } from "effect"
import { Graph, SqliteCheckpointer, STARGRAPH_VERSION } from "stargraph"
const bump = (state) => Effect.succeed({ n: state.n + 1 })
const ir = {
  ir_version: "1.0.0", id: "run:pack-check",
  state_schema: { fields: { n: { type: "integer", required: true } } },
  nodes: [{ id: "bump", kind: "function", module: "app", export: "bump" }],
  edges: []
}
const program = Effect.gen(function*() {
  const graph = yield* Graph.make(ir, { modules: { app: { bump } } })
  const run = yield* graph.start({ inputs: { n: 41 } })
  return yield* run.start()
})
const summary = await Effect.runPromise(program.pipe(Effect.provide(SqliteCheckpointer.layer({ filename: process.argv[2] }))))
console.log(JSON.stringify({ version: STARGRAPH_VERSION, status: summary.status, n: summary.final_state.n }))
`)
    const ran = await exec(process.execPath, ["check.mjs", join(work, "lib.sqlite")], app)
    expect(ran.stderr).toBe("")
    expect(ran.code).toBe(0)
    expect(JSON.parse(ran.stdout.trim())).toEqual({ version: pkg.version, status: "done", n: 42 })
  })

  it("typechecks an app importing the whole public API under strict settings (exactOptionalPropertyTypes too), without skipLibCheck", async () => {
    writeFileSync(join(app, "typed.ts"), `
import { Effect } from "effect"
import { Graph, LanguageModels, Replay, SqliteCheckpointer, type StargraphError } from "stargraph"
export const program = Effect.gen(function*() {
  const graph = yield* Graph.make({ ir_version: "1.0.0", id: "run:typed", state_schema: { fields: { n: { type: "integer", default: 0 } } }, nodes: [{ id: "a", kind: "noop" }], edges: [] })
  return yield* Effect.flatMap(graph.start(), (run) => run.start())
}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: "typed.sqlite" })))
export const model = LanguageModels.chatCompletions({ model: "m", apiUrl: "http://127.0.0.1:9/v1" })
export const tagOf = (e: StargraphError): string => e._tag
// Under exactOptionalPropertyTypes an app passes its own optional values through.
declare const key: string | undefined
declare const step: number | undefined
export const keyed = Effect.flatMap(Graph.make({ ir_version: "1.0.0", id: "run:k", nodes: [{ id: "a", kind: "noop" }] }), (g) =>
  Effect.flatMap(g.start({ idempotencyKey: key, actor: undefined }), (run) => run.start()))
export const forked = (g: Graph.Graph, runId: string) => Replay.fork(g, runId, { fromStep: step, liveAfterFork: undefined })
export const db = SqliteCheckpointer.layer({ filename: "x.sqlite", synchronous: undefined })
`)
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({
      compilerOptions: {
        strict: true, exactOptionalPropertyTypes: true, noEmit: true, skipLibCheck: false, module: "nodenext", moduleResolution: "nodenext", target: "es2022",
        types: ["node"], typeRoots: [join(ROOT, "node_modules", "@types")]
      },
      files: ["typed.ts"]
    }))
    const tsc = await exec(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], app)
    expect(tsc.stdout + tsc.stderr).toBe("")
    expect(tsc.code).toBe(0)
  }, 120_000)

  it("npx stargraph validate and run work, with nothing on stderr (no npm warning), and keep a compile cache", async () => {
    const env = { NODE_COMPILE_CACHE: join(work, "compile-cache"), npm_config_registry: registry.url, npm_config_update_notifier: "false" }
    const validate = await exec("npx", ["--no", "stargraph", "validate", "graphs/hello/graph.yaml"], app, env)
    expect(validate.stderr).toBe("")
    expect(validate.code).toBe(0)
    expect(validate.stdout).toMatch(/^ok run:hello-stargraph: 3 nodes, 2 edges, 0 rules, 5 state fields\ngraph_hash=sha256:[0-9a-f]{64}\nruntime_hash=sha256:[0-9a-f]{64}\n$/)

    const run = await exec("npx", ["--no", "stargraph", "run", "graphs/hello/graph.yaml", "--inputs", "message=hello", "--checkpoint", join(work, "cli.sqlite")], app, env)
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.stdout.trim().split("\n").pop()).toMatch(/^run_id=run-\S+ status=done$/)

    // The first start of each command wrote its V8 code cache; the next start reads it.
    const [dir] = readdirSync(join(work, "compile-cache"))
    expect(readdirSync(join(work, "compile-cache", dir!)).sort().map((f) => f.split(".")[0])).toEqual(["run", "validate"])
    const again = await exec("npx", ["--no", "stargraph", "validate", "graphs/hello/graph.yaml"], app, env)
    expect(again.stdout).toBe(validate.stdout)
    expect(again.stderr).toBe("")
  })

  it("npx stargraph new copies a bundle from the installed package, and the copy runs to done", async () => {
    const env = { npm_config_registry: registry.url, npm_config_update_notifier: "false" }
    const made = await exec("npx", ["--no", "stargraph", "new", "deep-research"], app, env)
    expect(made.stderr).toBe("")
    expect(made.code).toBe(0)
    expect(made.stdout).toBe("wrote deep-research/graph.yaml, deep-research/state.ts, deep-research/README.md\nnext: stargraph run deep-research/graph.yaml\n")
    const run = await exec("npx", ["--no", "stargraph", "run", "deep-research/graph.yaml", "--inputs", "question=what is replay?", "--checkpoint", join(work, "new.sqlite")], app, env)
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.stdout).toContain("halted at check by r-check-pass-halt: research complete")
  })

  it("resolves every exports entry; stargraph/tracing needs its optional peers, and works once they are installed", async () => {
    const probe = (code: string) => exec(process.execPath, ["--input-type=module", "-e", code], app)
    const testing = await probe(`const t = await import("stargraph/testing"); console.log(typeof t.checkpointerContract)`)
    expect(testing.stdout.trim(), testing.stderr).toBe("function")
    const manifest = await probe(`import { createRequire } from "node:module"; console.log(createRequire(import.meta.url)("stargraph/package.json").version)`)
    expect(manifest.stdout.trim(), manifest.stderr).toBe(pkg.version)

    const without = await probe(`await import("stargraph/tracing")`)
    expect(without.code).not.toBe(0)
    expect(without.stderr).toMatch(/Cannot find package '@(effect\/opentelemetry|opentelemetry\/[\w-]+)'/)

    const optional = Object.keys(pkg.peerDependenciesMeta).filter((name) => pkg.peerDependenciesMeta[name]?.optional)
    const added = await npm(app, "install", ...optional.map((name) => `${name}@${pkg.peerDependencies[name]}`))
    expect(added.code, added.stderr).toBe(0)
    const tracing = await probe(`const t = await import("stargraph/tracing"); console.log(typeof t.layerFromEnv, typeof t.layerWith)`)
    expect(tracing.stdout.trim(), tracing.stderr).toBe("function function")
    const ls = await npm(app, "ls", "effect", "--all", "--parseable")
    expect(ls.stdout.split("\n").filter((line) => /[\\/]node_modules[\\/]effect$/.test(line))).toHaveLength(1)
  })
})

describe("installed into an app on an incompatible effect major", () => {
  it("npm refuses with a peer conflict (ERESOLVE) instead of installing silently", async () => {
    const old = newApp("app-effect2")
    const installed = await npm(old, "install", "effect@2", tarball)
    expect(installed.code).not.toBe(0)
    expect(installed.stderr).toContain("ERESOLVE")
    // npm names the first peer in stargraph's set that wants effect@3 (stargraph's own, or @effect/*'s).
    expect(installed.stderr).toMatch(/Found: effect@2\.[\s\S]*peer effect@"\^3\.[^"]*" from [\s\S]*stargraph@/)
    expect(existsSync(join(old, "node_modules", "stargraph"))).toBe(false)
  })
})
