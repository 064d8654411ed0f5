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
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
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
  source = readFileSync(bundle, "utf8")
} catch {
  process.stderr.write(`error: ${bundle} is missing (fix: run \`npm run build\` in the stargraph package)\n`)
  process.exit(1)
}

const buildId = /^\/\/ stargraph-build:(\w+)/.exec(source)?.[1] ?? "dev"
const command = /^-{0,2}[a-z][a-z-]{0,30}$/.test(process.argv[2] ?? "") ? process.argv[2].replace(/^-+/, "") : "default"

const cacheDir = process.env.NODE_DISABLE_COMPILE_CACHE
  ? undefined
  : join(
    process.env.NODE_COMPILE_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "stargraph"),
    `cli-${fnv1a(bundle)}`
  )
const cacheName = `${command}.${buildId}.${process.version}.${process.arch}.v8cache`
const cacheFile = cacheDir && join(cacheDir, cacheName)

let cachedData
if (cacheFile && existsSync(cacheFile)) {
  try {
    cachedData = readFileSync(cacheFile)
  } catch {
    cachedData = undefined
  }
}

const script = new Script(
  `(function(exports,require,module,__filename,__dirname,__stargraph_import){${source}\n})`,
  { filename: bundle, cachedData }
)

if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
  // Written at exit, so the code this command compiled while it ran is in the cache too.
  process.once("exit", () => {
    try {
      mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
      const tmp = `${cacheFile}.${process.pid}.tmp`
      writeFileSync(tmp, script.createCachedData())
      renameSync(tmp, cacheFile)
      // Caches of this command for older builds or other Node versions are dead weight.
      for (const name of readdirSync(cacheDir)) {
        if (name.startsWith(`${command}.`) && name !== cacheName && !name.endsWith(".tmp")) rmSync(join(cacheDir, name), { force: true })
      }
    } catch {
      // A cache that cannot be written only costs start-up time.
    }
  })
}

const module = { exports: {} }
script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle), (specifier) => import(specifier))
