#!/usr/bin/env node
/**
 * The `stargraph` command: runs the bundled CLI, dist/cli/stargraph.cjs (built by
 * scripts/build.mjs, which `prepare` runs, so `npm ci` leaves it ready).
 *
 * It compiles the bundle with `vm.Script` and a V8 code cache kept per command under
 * $NODE_COMPILE_CACHE or ~/.cache/stargraph (XDG_CACHE_HOME respected): from the second
 * start of a command on, V8 reuses the compiled code instead of parsing the bundle.
 * NODE_DISABLE_COMPILE_CACHE=1 turns the cache off. A cache that V8 refuses (another Node
 * version, other flags) is simply rewritten; any failure to read or write it is ignored.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { homedir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Script } from "node:vm"

/** A short stable name for this install's bundle path (FNV-1a), so two installs keep separate caches. */
const fnv1a = (text) => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h.toString(16).padStart(8, "0")
}

const bundle = fileURLToPath(new URL("../dist/cli/stargraph.cjs", import.meta.url))
let source
try {
  // A bundle marked `ascii` by the build is read as Latin-1: the same string as UTF-8
  // decoding gives, without decoding 2 MB of UTF-8 (about 5 ms CPU).
  source = readFileSync(bundle, "latin1")
  if (!/^\/\/ stargraph-build:\w+ ascii\n/.test(source.slice(0, 100))) source = readFileSync(bundle, "utf8")
} catch {
  process.stderr.write(`error: ${bundle} is missing (fix: run \`npm run build\` in the stargraph package)\n`)
  process.exit(1)
}

const buildId = /^\/\/ stargraph-build:(\w+)/.exec(source)?.[1] ?? "dev"
// One cache per command; every `--help`/`-h` shares one ("help"): it runs other code than
// the command it names, and a cache is written only once per build.
const command = process.argv.slice(2).some((a) => a === "--help" || a === "-h")
  ? "help"
  : /^-{0,2}[a-z][a-z-]{0,30}$/.test(process.argv[2] ?? "")
  ? process.argv[2].replace(/^-+/, "")
  : "default"

const cacheRoot = () => {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return undefined
  if (process.env.NODE_COMPILE_CACHE) return process.env.NODE_COMPILE_CACHE
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, "stargraph")
  try {
    const home = homedir()
    return home ? join(home, ".cache", "stargraph") : undefined
  } catch {
    return undefined // no home directory: no cache
  }
}
const root = cacheRoot()
const cacheDir = root && join(root, `cli-${fnv1a(bundle)}`)
const cacheName = `${command}.${buildId}.${process.version}.${process.arch}.v8cache`
const MAX_CACHES = 16
const cacheFile = cacheDir && join(cacheDir, cacheName)

let cachedData
try {
  cachedData = cacheFile ? readFileSync(cacheFile) : undefined
} catch {
  cachedData = undefined // first start of this command (or an unreadable cache)
}

// The file is one function expression, `(function(exports, require, module, __filename,
// __dirname, __stargraph_import) {...})`: the CommonJS wrapper plus the import() it needs.
const WRAPPER = "(function(exports,require,module,__filename,__dirname,__stargraph_import){"
// (A bundle from an older build is the body alone.)
if (!source.slice(0, 200).includes(WRAPPER)) source = `${WRAPPER}${source}\n})`
const script = new Script(source, { filename: bundle, cachedData })

if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
  // Written at exit, so the code this command compiled while it ran is in the cache too.
  process.once("exit", () => {
    try {
      mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
      // Caches of older builds or other Node versions are dead weight; a typo'd command
      // gets a cache too, so at most MAX_CACHES are kept per build.
      const current = `.${buildId}.${process.version}.${process.arch}.v8cache`
      let kept = 0
      for (const name of readdirSync(cacheDir)) {
        if (!name.endsWith(current) && !name.endsWith(".tmp")) rmSync(join(cacheDir, name), { force: true })
        else if (name.endsWith(current)) kept++
      }
      if (kept >= MAX_CACHES) return
      const tmp = `${cacheFile}.${process.pid}.tmp`
      writeFileSync(tmp, script.createCachedData())
      renameSync(tmp, cacheFile)
    } catch {
      // A cache that cannot be written only costs start-up time.
    }
  })
}

const module = { exports: {} }
script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle), (specifier) => import(specifier))
