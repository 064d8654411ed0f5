#!/usr/bin/env node
/**
 * Builds what the package ships (run by `prepare`, `npm run build` and test/globalSetup.ts):
 *
 * 1. the library: `tsc -p tsconfig.build.json` → dist/src (unbundled ESM, .d.ts, maps);
 * 2. the CLI (and the server it starts): esbuild bundles src/cli/main.ts into one file,
 *    dist/cli/stargraph.cjs, that bin/stargraph.js runs with a V8 code cache.
 *
 * Why one CommonJS file and not ESM chunks: Node 20 has no compile cache for ES modules
 * (`module.enableCompileCache` arrived in 22.1), but `vm.Script` takes V8 code-cache data
 * for a script. With it, start-up skips parsing and compiling the bundle; code a command
 * never runs is never compiled, and modules reached only through `import()` (each
 * command's heavy parts, the OpenTelemetry SDK) are bundled as lazy initialisers that run
 * only when that `import()` does. Measured on the `--help` path of the same code: ESM
 * chunks 160 ms CPU, this 110–120 ms (see docs/packaging.md).
 *
 * Kept out of the bundle: `better-sqlite3` (native addon, loaded with `require`),
 * `esbuild` (loaded only to compile a user's `.ts` node module on a cache miss; it finds
 * its platform binary from its own install) and `onnxruntime-node` (an optional peer with
 * a native addon, imported only when a graph with an onnx `ml` node is built). Dynamic
 * `import()` calls that remain (those, `node:` built-ins, users' modules by URL) are
 * rewritten to a function
 * the loader passes in, because V8 refuses `import()` inside a script compiled from a code
 * cache without a flag.
 *
 *   node scripts/build.mjs            # both
 *   node scripts/build.mjs --if-stale # both, unless dist/ was built from these very inputs (prepare)
 *   node scripts/build.mjs --cli      # the CLI bundle only
 */
import { createHash } from "node:crypto"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, relative, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Script } from "node:vm"

const ROOT = resolve(import.meta.dirname, "..")
const require = createRequire(import.meta.url)
const only = process.argv.includes("--cli") ? "cli" : process.argv.includes("--lib") ? "lib" : "all"

/** The library: unbundled ESM with declarations, as apps import it. */
const buildLibrary = () => {
  // tsc of an older tree emitted the CLI as library files; they are not part of the package.
  rmSync(join(ROOT, "dist", "src", "cli"), { recursive: true, force: true })
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json")], {
    cwd: ROOT,
    stdio: "inherit"
  })
}

/** @effect/cli imports parsers for `Options.file*` config files; the CLI uses none, so --help need not load them. */
const noConfigFileParsers = {
  name: "no-config-file-parsers",
  setup(build) {
    build.onResolve({ filter: /^(toml|ini|yaml)$/ }, (args) =>
      /[\\/]@effect[\\/]cli[\\/]/.test(args.importer) ? { path: args.path, namespace: "stargraph-stub" } : undefined)
    build.onLoad({ filter: /.*/, namespace: "stargraph-stub" }, (args) => ({
      loader: "js",
      contents: args.path === "effect/FastCheck"
        ? "export const array = () => { throw new Error(\"stargraph's CLI bundle has no fast-check (effect Arbitrary)\") }"
        : `export const parse = () => { throw new Error("stargraph's CLI reads no ${args.path} files") }`
    }))
  }
}

/**
 * effect/Schema imports effect/FastCheck (all of fast-check, ~370 KB) for `Arbitrary`
 * support and calls it only inside arbitrary builders, which no CLI path runs. The bundle
 * gets a stand-in that fails loudly if that ever changes.
 */
const noFastCheck = {
  name: "no-fast-check",
  setup(build) {
    build.onResolve({ filter: /[\\/]FastCheck\.js$/ }, (args) =>
      /[\\/]effect[\\/]dist[\\/]esm$/.test(args.resolveDir) ? { path: "effect/FastCheck", namespace: "stargraph-stub" } : undefined)
  }
}

/** Dynamic `import(` left in the output: externals and computed specifiers. */
const DYNAMIC_IMPORT = /(?<![\w$.])import\((?=["'`\w$(])/g

/**
 * The output of every argv the parser answers by itself (`--help`, `<command> --help`,
 * `-h`, `--version`), rendered by @effect/cli's own renderer on the real commands
 * (`renderBuiltIn` in src/cli/app.ts), ANSI codes included: src/cli/main.ts prints it
 * without loading effect or @effect/cli (about 60 ms CPU and 11 MB of --help were
 * @effect/printer laying the help out). Keyed by `JSON.stringify(args)`.
 */
const renderBuiltIns = async (esbuild) => {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ["src/cli/app.ts"],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    outfile: "app.mjs",
    external: ["better-sqlite3", "esbuild", "onnxruntime-node"],
    plugins: [noConfigFileParsers, noFastCheck],
    logLevel: "warning"
  })
  // Inside the repository, so the bundle's externals resolve from its node_modules.
  const tmp = join(ROOT, "dist", `.render-built-ins.${process.pid}.mjs`)
  mkdirSync(dirname(tmp), { recursive: true })
  writeFileSync(tmp, result.outputFiles[0].text)
  try {
    const app = await import(pathToFileURL(tmp).href)
    const output = {}
    for (const args of app.BUILT_IN_ARGS) output[JSON.stringify(args)] = await app.renderBuiltIn(args)
    return output
  } finally {
    rmSync(tmp, { force: true })
  }
}

/**
 * `code` with every non-ASCII character written as a `\u` escape. esbuild escapes them in
 * strings but not everywhere (a regular expression literal keeps its `✔`), and the
 * prerendered help has `…`; an escape means the same in a string, a template, a regular
 * expression, an identifier or a comment. An all-ASCII file can be read as Latin-1.
 */
const toAscii = (code) => {
  // After a backslash the escape would be read as a literal `\` and `u…`.
  if (/\\[^\x00-\x7f]/.test(code)) throw new Error("build: an escaped non-ASCII character in the CLI bundle")
  return code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
}

/** The CLI: one CommonJS file for bin/stargraph.js. */
const buildCli = async () => {
  const esbuild = await import("esbuild")
  const builtIns = await renderBuiltIns(esbuild)
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ["src/cli/main.ts"],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    write: false,
    outfile: "dist/cli/stargraph.cjs",
    // Whitespace and syntax only: identifiers stay, so a defect's stack trace stays readable.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "eof",
    external: ["better-sqlite3", "esbuild", "onnxruntime-node"],
    plugins: [noConfigFileParsers, noFastCheck],
    // An identifier, not the object: esbuild would make a JSON define a module that every
    // module's initialiser calls.
    define: { "import.meta.url": "__stargraph_import_meta_url", __STARGRAPH_BUILT_IN_OUTPUT__: "__stargraph_built_in_output" },
    banner: {
      js: `var __stargraph_import_meta_url=require("node:url").pathToFileURL(__filename).href;var __stargraph_built_in_output=${JSON.stringify(builtIns)};`
    },
    logLevel: "warning",
    logOverride: { "empty-import-meta": "error" },
    metafile: true
  })
  let code = result.outputFiles[0].text
  let rewritten = 0
  code = code.replace(DYNAMIC_IMPORT, () => {
    rewritten++
    return "__stargraph_import("
  })
  if (/(?<![\w$.])import\(/.test(code)) throw new Error("build: an import( the loader cannot serve is left in the CLI bundle")
  code = toAscii(code)
  // The file is the CommonJS wrapper function itself, so the loader hands it to vm.Script as
  // read (no second copy of a 2 MB string); check it compiles before shipping it.
  code = `(function(exports,require,module,__filename,__dirname,__stargraph_import){${code}\n})`
  new Script(code, { filename: "stargraph.cjs" })
  const id = createHash("sha256").update(code).digest("hex").slice(0, 16)
  const out = join(ROOT, "dist", "cli", "stargraph.cjs")
  mkdirSync(dirname(out), { recursive: true })
  // Atomic: another process may be running the CLI from this file while it is rebuilt.
  const tmp = `${out}.${process.pid}.tmp`
  // `ascii`: bin/stargraph.js may read it as Latin-1 (see toAscii).
  writeFileSync(tmp, `// stargraph-build:${id} ascii\n${code}`)
  renameSync(tmp, out)
  // What went into the bundle (for `esbuild --analyze`-style looks); not packed.
  writeFileSync(join(ROOT, "dist", "cli-meta.json"), JSON.stringify(result.metafile))
  return { bytes: code.length, dynamicImports: rewritten, id, builtIns: Object.keys(builtIns).length }
}

/**
 * A digest of everything the build reads from this checkout (sources, this script, the
 * package and TypeScript configuration, the lockfile): `--if-stale` skips a build whose
 * digest matches the one the last full build left in dist/.
 */
const inputsDigest = () => {
  const hash = createHash("sha256")
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = join(dir, entry.name)
      if (entry.isDirectory()) visit(full)
      else if (entry.isFile()) hash.update(relative(ROOT, full)).update("\0").update(readFileSync(full)).update("\0")
    }
  }
  visit(join(ROOT, "src"))
  for (const file of ["scripts/build.mjs", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json"]) {
    if (existsSync(join(ROOT, file))) hash.update(file).update("\0").update(readFileSync(join(ROOT, file))).update("\0")
  }
  return hash.update(process.version).digest("hex")
}

const STAMP = join(ROOT, "dist", ".build-inputs")
const ifStale = process.argv.includes("--if-stale")
const digest = ifStale || only === "all" ? inputsDigest() : undefined
// npm runs `prepare` again when `npx stargraph` installs this checkout into its cache (a
// package's own bin): a build of unchanged sources is skipped then.
if (ifStale && only === "all" && existsSync(STAMP) && readFileSync(STAMP, "utf8") === digest && existsSync(join(ROOT, "dist", "cli", "stargraph.cjs"))) {
  if (process.env["STARGRAPH_BUILD_VERBOSE"]) console.error("build: dist/ is up to date")
} else {
  const t0 = performance.now()
  // A full build takes a minute on a small machine: say what is happening (npm ci runs it as `prepare`).
  console.error(`stargraph: building dist/ (${only === "cli" ? "" : "the library with tsc"}${only === "all" ? ", " : ""}${only === "lib" ? "" : "the CLI bundle with esbuild"})…`)
  rmSync(STAMP, { force: true })
  if (only !== "cli") buildLibrary()
  if (only !== "lib") {
    const cli = await buildCli()
    if (process.env["STARGRAPH_BUILD_VERBOSE"]) console.error(`cli bundle ${cli.bytes} bytes, ${cli.dynamicImports} dynamic imports, build ${cli.id}`)
  }
  if (digest !== undefined) writeFileSync(STAMP, digest)
  console.error(`stargraph: built dist/ in ${(Math.round(performance.now() - t0) / 1000).toFixed(1)} s`)
}
