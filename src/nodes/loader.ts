/**
 * Loads user node modules that sit beside the graph YAML (`.js`/`.mjs` as they are,
 * `.ts` without a build step), and fingerprints their source bytes for the graph hash.
 *
 * A TypeScript module is compiled once with esbuild, without module hooks (tsx's
 * `tsImport` registered some: Node's hooks worker thread cost ~180 ms CPU and 25 MB per
 * process), each file of the project on its own: a TypeScript file it imports is compiled
 * the same way and imported from its output, an ES-module JavaScript file is Node's, so a
 * helper several modules import is one module (see `compile`). Package imports are left
 * to Node but resolved from the module's own folder (written as absolute `file:` URLs, so
 * `effect` is the graph folder's or app's `effect`, the same instance the app imports),
 * `import.meta.url`/`dirname`/`filename` kept as the source file's, `require` resolving
 * from it. The output goes to a cache folder (`$STARGRAPH_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/stargraph` or `~/.cache/stargraph`, under `modules/`), keyed by the
 * module's path and source hash, esbuild's and Node's versions; the entry records the hash
 * of every file it is made of (its imports', however deep), so an edited sibling is
 * recompiled too. A hit costs a few reads and hashes and an `import()`, and never loads
 * esbuild. Files older than 30 days are removed when a module is compiled. Without a
 * writable cache folder the output is imported from a `data:` URL.
 *
 * This holds on Node versions that strip types themselves too: importing the `.ts` file
 * directly there cost more at every start (Node 22.23: +40 ms CPU and +15 MB for its type
 * stripper, against a cache hit), refuses what esbuild compiles (enums, `./x.js` naming
 * `x.ts`, types imported without `import type`, ESM syntax under `"type": "commonjs"`),
 * and would make a module load on one Node and not another.
 *
 * A JavaScript module is imported by Node as it is. The hash folded into the graph hash is
 * the module's source bytes' with the hashes of the files it imports by relative path
 * folded in (read by a TypeScript module's compilation; found by esbuild's analysis of a
 * JavaScript one, cached the same way).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { createRequire, isBuiltin } from "node:module"
import { homedir } from "node:os"
import { delimiter, dirname, extname, isAbsolute, join, relative, resolve, sep } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import type * as Esbuild from "esbuild"
import { NodeModuleError } from "../errors.js"
import { sha256 } from "../ir/hash.js"
import { listSome } from "../ir/limits.js"

/** A loaded module namespace. */
export type ModuleNamespace = { readonly [name: string]: unknown }

/** The source text a value's code shows: a function's (or class's) `toString()`; an object's methods, one level down. */
const codeOf = (value: unknown): unknown => {
  if (typeof value === "function") return value.toString()
  // Any other value by its type and text (JSON cannot hold a bigint or a symbol).
  if (value === null || typeof value !== "object") return `${typeof value}:${String(value)}`
  return Object.keys(value).sort().map((key) => {
    const item = (value as { readonly [key: string]: unknown })[key]
    return [key, typeof item === "function" ? item.toString() : typeof item]
  })
}

/**
 * The content hash of a module an app gives as an object (`Graph.make(ir, {modules})`):
 * its exports' source text, so changing a node function's code changes the graph hash as
 * editing a module file does. What a function closes over is not in its text: bump the
 * node's `version` when only that changes.
 */
export const providedModuleHash = (namespace: ModuleNamespace): string =>
  sha256(JSON.stringify(Object.keys(namespace).sort().map((name) => [name, codeOf(namespace[name])])))

/** A loaded module plus the hash of its source bytes. */
export interface LoadedModule {
  readonly namespace: ModuleNamespace
  readonly hash: string
}

/** Who references the module, for error messages. */
export interface ModuleRef {
  readonly nodeId: string
  readonly module: string
  readonly exportName: string
}

/** The real path (symlinks followed), or the path itself when it cannot be resolved. */
const safeRealpath = (path: string): string => {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}

const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx"])

/** What the loader imports: TypeScript (compiled on load) and JavaScript modules. */
const MODULE_EXTENSIONS = new Set([...TS_EXTENSIONS, ".js", ".mjs", ".cjs", ".jsx"])

/** Resolve a module specifier written in the IR against the YAML's directory. */
export const resolveModulePath = (baseDir: string, specifier: string): string =>
  isAbsolute(specifier) ? specifier : resolve(baseDir, specifier)

/** The environment variable naming extra module roots for every graph loaded (see {@link envModuleRoots}). */
export const MODULE_ROOTS_ENV = "STARGRAPH_MODULE_ROOTS"

/**
 * The folders `STARGRAPH_MODULE_ROOTS` names, separated by the platform's path delimiter
 * (`:`, `;` on Windows), each resolved against the current folder: every graph loaded in
 * this process may take node, router and state-schema modules and `subgraph` specs from
 * them, besides its own folder tree and the `moduleRoots` it is loaded with.
 */
export const envModuleRoots = (env: { readonly [name: string]: string | undefined } = process.env): ReadonlyArray<string> =>
  (env[MODULE_ROOTS_ENV] ?? "").split(delimiter).filter((p) => p.trim() !== "").map((p) => resolve(p))

/** A folder as one shell word. */
const shellWord = (text: string): string => (/^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`)

/**
 * The second half of the fix for a file outside a graph's folder tree: how to allow
 * `folder`, on the command line and in the library.
 */
export const allowFolder = (folder: string): string =>
  `or allow its folder: \`--module-root ${shellWord(folder)}\` on the stargraph command (or ${MODULE_ROOTS_ENV}=${shellWord(folder)} in its environment), \`moduleRoots: [${JSON.stringify(folder)}]\` in the options of Graph.load`

/** Where a graph's modules may come from. */
export interface ModuleScope {
  /** The graph file that names the module, for error messages. */
  readonly graphFile?: string | undefined
  /**
   * Folders the module must resolve inside (after following symlinks). A graph names
   * modules relative to its own folder, so by default that folder's tree is the only root.
   */
  readonly roots?: ReadonlyArray<string> | undefined
}

const inside = (path: string, root: string): boolean => {
  const rel = relative(root, path)
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel))
}

/** A module that could not be compiled or imported: the first line of why, and how to fix it. */
class LoadFailure {
  constructor(readonly message: string, readonly fix: string) {}
}

const firstLine = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause)).split("\n")[0] ?? ""

/** Import `ref.module` relative to `baseDir`, confined to `scope.roots` when given. */
export const loadModule = (baseDir: string, ref: ModuleRef, scope: ModuleScope = {}): Effect.Effect<LoadedModule, NodeModuleError> =>
  Effect.gen(function*() {
    const path = resolveModulePath(baseDir, ref.module)
    const named = { ...ref, ...(scope.graphFile !== undefined ? { file: scope.graphFile } : {}) }
    const roots = scope.roots
    // A path as written is inside a root as written (a graph folder or package reached
    // through a symlink: a deploy's `current/`, a workspace member, pnpm); a real path
    // inside the root's real path.
    const outside = (real: string) => roots !== undefined && !roots.some((root) => inside(real, safeRealpath(root)))
    if (roots !== undefined && !roots.some((root) => inside(path, resolve(root)) || inside(path, safeRealpath(root)))) {
      return yield* new NodeModuleError({
        ...named,
        reason: "outside-root",
        message: `module '${ref.module}' resolves outside the graph's folder${roots.length > 1 ? " and its module roots" : ""} (${listSome(roots)})`,
        fix: `put the module in the graph's folder tree and name it with a relative path such as ./nodes.ts, ${allowFolder(dirname(path))}`
      })
    }
    if (!existsSync(path)) {
      return yield* new NodeModuleError({
        ...named,
        reason: "module-not-found",
        message: `module '${ref.module}' not found (looked for ${path})`,
        fix: `create ${path}, or correct the module path '${ref.module}' where the graph names it (it is relative to ${baseDir}, the folder of the file that names it)`
      })
    }
    const real = safeRealpath(path)
    if (outside(real)) {
      return yield* new NodeModuleError({
        ...named,
        reason: "outside-root",
        message: `module '${ref.module}' is a link to ${real}, outside the graph's folder`,
        fix: `copy the module into the graph's folder tree instead of linking to it, ${allowFolder(dirname(real))}`
      })
    }
    if (!MODULE_EXTENSIONS.has(extname(path))) {
      return yield* new NodeModuleError({
        ...named,
        reason: "load-failed",
        message: `module '${ref.module}' is not a JavaScript or TypeScript module`,
        fix: extname(path) === ".py"
          ? "this runtime loads JavaScript and TypeScript: port the Python code to a .ts module beside the graph (same export name)"
          : `name a .ts, .mts, .cts, .js, .mjs or .cjs file`
      })
    }
    const source = yield* Effect.try({
      try: () => readFileSync(path),
      catch: (cause) =>
        new NodeModuleError({
          ...named,
          reason: "load-failed",
          message: `module '${ref.module}' failed to load: ${firstLine(cause)}`,
          fix: `make ${path} a readable file`
        })
    })
    const hash = sha256(source)
    const { namespace, inputs } = yield* Effect.tryPromise({
      try: (): Promise<Imported> =>
        TS_EXTENSIONS.has(extname(path))
          ? importCompiled(real, hash, baseDir)
          : importPlain(real, hash, source, baseDir),
      catch: (cause) =>
        new NodeModuleError({
          ...named,
          reason: "load-failed",
          message: `module '${ref.module}' failed to load: ${cause instanceof LoadFailure ? cause.message : firstLine(cause)}`,
          fix: cause instanceof LoadFailure
            ? cause.fix
            : "fix the error in the module (run it with `npx tsx` to see the full trace)"
        })
    })
    return { namespace, hash: moduleHash(real, hash, inputs) }
  })

/** An imported module, with the files compiled into it (a TypeScript module) and their hashes. */
interface Imported {
  readonly namespace: ModuleNamespace
  readonly inputs: { readonly [path: string]: string } | undefined
}

/**
 * A module's content hash: its own file's, with the hashes of the files bundled into it (a
 * TypeScript module's relative imports, by path relative to it) folded in, so editing a
 * helper it imports changes the graph hash too. A module of one file keeps its file's hash.
 */
const moduleHash = (entry: string, hash: string, inputs: Imported["inputs"]): string => {
  const others = Object.entries(inputs ?? {})
    .filter(([file]) => file !== entry)
    .map(([file, h]) => [relative(dirname(entry), file).split(sep).join("/"), h] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return others.length === 0 ? hash : sha256(JSON.stringify([hash, others]))
}

/**
 * How the graph names an export, for the fix of a missing one: an `export:` field beside
 * `module:`, a `./module.ts:Name` reference, or a package's `stargraph.nodes` entry.
 */
export type ExportNaming = "field" | "reference" | "package"

/** Pick `ref.exportName` from a loaded module, failing loudly when it is absent. */
export const pickExport = (namespace: ModuleNamespace, ref: ModuleRef, naming: ExportNaming = "field"): Effect.Effect<unknown, NodeModuleError> => {
  // A module compiled to CommonJS somewhere (a .cts file, `module.exports = …`) has its
  // exports under `default`.
  const value = namespace[ref.exportName] ??
    (namespace["default"] as ModuleNamespace | undefined)?.[ref.exportName]
  if (value === undefined) {
    const available = listSome(Object.keys(namespace).filter((k) => k !== "default")) || "(none)"
    return Effect.fail(
      new NodeModuleError({
        ...ref,
        reason: "export-not-found",
        message: `module '${ref.module}' has no export '${ref.exportName}' (exports: ${available})`,
        fix: naming === "field"
          ? `export '${ref.exportName}' from ${ref.module}, or name one of its exports instead: ${available}`
          : naming === "reference"
          ? `export '${ref.exportName}' from ${ref.module}, or reference one of its exports as ${ref.module}:<name> (${available})`
          : `export '${ref.exportName}' from ${ref.module}, or correct the package.json "stargraph": {"nodes": …} entry that names it`
      })
    )
  }
  return Effect.succeed(value)
}

// ---------------------------------------------------------------------------------------
// TypeScript modules
// ---------------------------------------------------------------------------------------

/** Bumped when the compiled output's shape changes, so older cache entries are not used. */
const CACHE_FORMAT = 2

/** The folder compiled modules are cached in, or undefined when there is none. */
export const moduleCacheDir = (): string | undefined => {
  const env = process.env
  if (env["STARGRAPH_CACHE_DIR"]) return join(env["STARGRAPH_CACHE_DIR"], "modules")
  if (env["XDG_CACHE_HOME"]) return join(env["XDG_CACHE_HOME"], "stargraph", "modules")
  try {
    const home = homedir()
    return home ? join(home, ".cache", "stargraph", "modules") : undefined
  } catch {
    return undefined
  }
}

/** What a cache entry records: every file the module is made of (with its hash), its output's file name, and the cached outputs it imports. */
interface CacheEntry {
  readonly format: number
  readonly inputs: { readonly [path: string]: string }
  readonly output: string
  readonly outputs: ReadonlyArray<string>
}

let esbuildVersion: string | undefined

/** esbuild's version, read from its package.json (not from esbuild itself: a cache hit never loads it). */
const esbuildVersionOf = (): string => {
  if (esbuildVersion === undefined) {
    const require = createRequire(import.meta.url)
    esbuildVersion = (JSON.parse(readFileSync(require.resolve("esbuild/package.json"), "utf8")) as { version: string }).version
  }
  return esbuildVersion
}

const readJson = (path: string): unknown => {
  try {
    return JSON.parse(readFileSync(path, "utf8"))
  } catch {
    return undefined
  }
}

const fileHash = (path: string): string | undefined => {
  try {
    return sha256(readFileSync(path))
  } catch {
    return undefined
  }
}

/** Write `text` to `path` through a temporary file, so a reader never sees half of it. */
const writeAtomically = (path: string, text: string): void => {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

/** Write `text` to `dir`/`name` (made if missing), atomically; false when the folder is not writable. */
const writesTo = (dir: string, name: string, text: string): boolean => {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writeAtomically(join(dir, name), text)
    return true
  } catch {
    return false
  }
}

/** Cache files older than this are removed when another module is compiled (one still in use is compiled again). */
const CACHE_MAX_AGE_MS = 30 * 24 * 3600 * 1000

/** Remove cache files (and temporary files left by a crash) older than CACHE_MAX_AGE_MS; best effort. */
const pruneCache = (dir: string): void => {
  const oldest = Date.now() - CACHE_MAX_AGE_MS
  try {
    for (const name of readdirSync(dir)) {
      const file = join(dir, name)
      try {
        if (statSync(file).mtimeMs < oldest) rmSync(file, { force: true })
      } catch {
        // removed by another process meanwhile
      }
    }
  } catch {
    // an unreadable folder is left as it is
  }
}

/** A compiled TypeScript module: where to import it from, the files it is made of, and the cached outputs it imports (its own included). */
interface Compiled {
  readonly url: string
  readonly inputs: { readonly [path: string]: string }
  readonly outputs: ReadonlyArray<string>
}

/** Modules compiled (or found in the cache) by this process, by cache key: each file is compiled once however many modules import it. */
const compiledHere = new Map<string, Compiled>()

/** Import the TypeScript module at `path` (real, absolute), whose source hashes to `hash`, compiled; errors name files relative to `baseDir`. */
const importCompiled = async (path: string, hash: string, baseDir: string): Promise<Imported> => {
  const { url, inputs } = await compiledUrl(path, hash, baseDir, new Set())
  return { namespace: await import(url) as ModuleNamespace, inputs }
}

/** Whether every file of `inputs` still hashes as recorded (`path`, the module itself, hashes to `hash`). */
const unchanged = (inputs: { readonly [path: string]: string }, path: string, hash: string): boolean =>
  Object.entries(inputs).every(([file, h]) => (file === path ? hash : fileHash(file)) === h)

/** A day: cached outputs in use are touched at most this often, so the 30-day pruning spares them. */
const TOUCH_AFTER_MS = 24 * 3600 * 1000

/** Whether every output is still in `dir` (one pruned or removed by hand means compiling again); old ones in use are touched. */
const outputsPresent = (dir: string, outputs: ReadonlyArray<string>): boolean => {
  const now = Date.now()
  for (const name of outputs) {
    const file = join(dir, name)
    try {
      if (statSync(file).mtimeMs < now - TOUCH_AFTER_MS) utimesSync(file, new Date(now), new Date(now))
    } catch {
      return false
    }
  }
  return true
}

/** The cache key of the TypeScript file at `path` whose source hashes to `hash`. */
const cacheKey = (path: string, hash: string): string => sha256(JSON.stringify([CACHE_FORMAT, esbuildVersionOf(), process.version, path, hash])).slice(7, 39)

/**
 * The URL of the TypeScript module at `path` compiled (from the cache, or compiled now), and
 * every file it is made of. `visiting` holds the modules whose compilation led here (an
 * import cycle among them is bundled instead, see `compile`).
 */
const compiledUrl = async (path: string, hash: string, baseDir: string, visiting: ReadonlySet<string>): Promise<Compiled> => {
  try {
    esbuildVersionOf()
  } catch {
    throw new LoadFailure(
      "esbuild is not installed, and this Node cannot import TypeScript itself",
      "reinstall stargraph's dependencies (npm ci), or use Node >= 22.6, or compile the module to .mjs"
    )
  }
  const key = cacheKey(path, hash)
  const here = compiledHere.get(key)
  if (here !== undefined && unchanged(here.inputs, path, hash)) return here
  const dir = moduleCacheDir()
  if (dir !== undefined) {
    const entry = readJson(join(dir, `${key}.json`)) as CacheEntry | undefined
    if (entry?.format === CACHE_FORMAT && unchanged(entry.inputs, path, hash) && outputsPresent(dir, entry.outputs)) {
      return remember(key, { url: pathToFileURL(join(dir, entry.output)).href, inputs: entry.inputs, outputs: entry.outputs })
    }
  }
  const { code, inputs, outputs: imported } = await compile(path, baseDir, new Set([...visiting, path]))
  const output = `${sha256(code).slice(7, 39)}.mjs`
  const outputs = [output, ...imported]
  if (dir !== undefined) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      writeAtomically(join(dir, output), code)
      writeAtomically(join(dir, `${key}.json`), JSON.stringify({ format: CACHE_FORMAT, inputs, output, outputs } satisfies CacheEntry))
      pruneCache(dir)
      return remember(key, { url: pathToFileURL(join(dir, output)).href, inputs, outputs })
    } catch {
      // an unwritable cache only costs a compile per process
    }
  }
  return remember(key, { url: `data:text/javascript;base64,${Buffer.from(code).toString("base64")}`, inputs, outputs: [] })
}

const remember = (key: string, compiled: Compiled): Compiled => {
  compiledHere.set(key, compiled)
  return compiled
}

// ---------------------------------------------------------------------------------------
// JavaScript modules
// ---------------------------------------------------------------------------------------

/** A static or dynamic import, an export-from or a `require` of a relative path (`./`, `../`). */
const RELATIVE_IMPORT = /(?:\bfrom|\bimport|\brequire\s*\()\s*\(?\s*["'`]\.\.?\//

/** What a JavaScript module's cache entry records: the files it imports by relative path (itself included), with their hashes. */
interface ImportsEntry {
  readonly format: number
  readonly kind: "imports"
  readonly inputs: { readonly [path: string]: string }
}

/** Relative imports found in this process by cache key, for when there is no cache folder. */
const importsHere = new Map<string, { readonly [path: string]: string }>()

/**
 * Import the JavaScript module at `path` (real, absolute) as it is, with Node, and list the
 * files it imports by relative path, for the graph hash. A module without a relative import
 * is its own file. Otherwise the list comes from esbuild's analysis of the module (nothing
 * is compiled or written but the list), cached like a TypeScript module's entry and checked
 * against the files' hashes, so a hit never loads esbuild and an edited helper is found
 * again. When esbuild cannot read the module, Node's import decides: its error is the
 * module's; a module Node imports anyway is hashed as its own file.
 */
const importPlain = async (path: string, hash: string, source: Uint8Array, baseDir: string): Promise<Imported> => {
  const namespace = await (import(plainUrl(path, hash)) as Promise<ModuleNamespace>)
  return { namespace, inputs: await plainInputs(path, hash, source, baseDir) }
}

/** The source hash each JavaScript module had when this process first imported it. */
const firstImported = new Map<string, string>()

/**
 * The URL to import the JavaScript module at `path` from: its file's, the instance the app
 * imports too; once its source changed within this process, its file's with the new
 * hash as a query, so that the edited code runs (Node keeps a module per URL).
 */
const plainUrl = (path: string, hash: string): string => {
  const url = pathToFileURL(path).href
  const first = firstImported.get(path)
  if (first === undefined) firstImported.set(path, hash)
  return first === undefined || first === hash ? url : `${url}?v=${hash.slice(7, 23)}`
}

/**
 * The files the JavaScript module at `path` imports by relative path, with their hashes
 * (undefined: it is its own file). `visiting`: it and the modules whose compilation led here.
 */
const plainInputs = async (
  path: string,
  hash: string,
  source: Uint8Array,
  baseDir: string,
  visiting: ReadonlySet<string> = new Set([path])
): Promise<ImportsEntry["inputs"] | undefined> => {
  if (!RELATIVE_IMPORT.test(Buffer.from(source).toString("utf8"))) return undefined
  let version: string
  try {
    version = esbuildVersionOf()
  } catch {
    return undefined
  }
  const key = sha256(JSON.stringify([CACHE_FORMAT, "imports", version, path, hash])).slice(7, 39)
  const fresh = (inputs: ImportsEntry["inputs"] | undefined): boolean =>
    inputs !== undefined && Object.entries(inputs).every(([file, h]) => (file === path ? hash : fileHash(file)) === h)
  const dir = moduleCacheDir()
  const entry = dir === undefined ? undefined : readJson(join(dir, `${key}.json`)) as ImportsEntry | undefined
  const known = importsHere.get(key) ?? (entry?.format === CACHE_FORMAT && entry.kind === "imports" ? entry.inputs : undefined)
  if (fresh(known)) return known
  let inputs: Record<string, string>
  try {
    inputs = (await compile(path, baseDir, visiting)).inputs
  } catch {
    return undefined
  }
  const saved = dir !== undefined && writesTo(dir, `${key}.json`, JSON.stringify({ format: CACHE_FORMAT, kind: "imports", inputs } satisfies ImportsEntry))
  if (!saved) importsHere.set(key, inputs) // without a writable cache folder: an analysis per process
  return inputs
}

/** A bare specifier or a URL, not a path: `effect`, `@scope/pkg/sub`, `#internal`, `node:fs`, `file:///…`. */
const isBareOrUrl = (specifier: string): boolean => !specifier.startsWith(".") && !isAbsolute(specifier)

const inNodeModules = (path: string): boolean => path.split(sep).includes("node_modules")

/** This file's folder: where Stargraph's own packages resolve from. */
const OWN_DIR = dirname(fileURLToPath(import.meta.url))

/**
 * Whether `specifier` names a package Stargraph itself imports and shares with node
 * modules (`effect`, `@effect/*`, `stargraph`): one a module outside any project may take
 * from Stargraph's own install when its folder has none.
 */
const ownsPackage = (specifier: string): boolean => /^(effect|stargraph|@effect\/[^/]+)(\/|$)/.test(specifier)

/** JavaScript that Node imports as it is, as ES modules. */
const PLAIN_EXTENSIONS = new Set([".js", ".mjs"])

/** The `type` of the nearest package.json above `dir` (what Node reads a `.js` file as). */
const packageType = (dir: string): string | undefined => {
  for (let at = dir; ; at = dirname(at)) {
    const pkg = readJson(join(at, "package.json")) as { readonly type?: unknown } | undefined
    if (pkg !== undefined) return typeof pkg.type === "string" ? pkg.type : undefined
    if (dirname(at) === at) return undefined
  }
}


/**
 * Compile `path` (real, absolute) into one ES module, as described at the top of this file.
 * `visiting` holds it and the modules whose compilation led here.
 */
const compile = async (
  path: string,
  baseDir: string,
  visiting: ReadonlySet<string>
): Promise<{ code: string; inputs: Record<string, string>; outputs: ReadonlyArray<string> }> => {
  const esbuild: typeof Esbuild = await import("esbuild")
  const workDir = dirname(path)
  const RESOLVING = Symbol("stargraph-resolving")
  // The files of the modules it imports as modules of their own (see `shared`), and the
  // first of them that failed to compile.
  const imported: Record<string, string> = {}
  const outputs = new Set<string>()
  let failed: LoadFailure | undefined
  /**
   * A file of the project imported with `import`: a module of its own, which Node loads once
   * for every module that imports it (one instance of its state and classes), not a copy
   * bundled into each. A TypeScript file is compiled on its own; a JavaScript file (that
   * imports no TypeScript) is Node's as it is. Anything else (a `require`, a `.cts`/`.cjs`,
   * JSON, JSX, an import cycle back to a module being compiled) is bundled in.
   */
  const shared = async (file: string, kind: Esbuild.ImportKind): Promise<Esbuild.OnResolveResult | undefined> => {
    if ((kind !== "import-statement" && kind !== "dynamic-import") || inNodeModules(file) || visiting.has(file)) return undefined
    const ext = extname(file)
    const hash = fileHash(file)
    if (hash === undefined) return undefined
    if (ext === ".ts" || ext === ".mts" || ext === ".tsx") {
      const dep = await compiledUrl(file, hash, baseDir, visiting).catch((cause: unknown) => {
        // The imported module's own failure, not one at the import that led to it.
        if (cause instanceof LoadFailure) failed ??= cause
        throw cause
      })
      Object.assign(imported, dep.inputs)
      for (const output of dep.outputs) outputs.add(output)
      return { path: dep.url, external: true }
    }
    if (ext === ".mjs" || (ext === ".js" && packageType(dirname(file)) === "module")) {
      const inputs = await plainInputs(file, hash, readFileSync(file), baseDir, new Set([...visiting, file])) ?? { [file]: hash }
      if (Object.keys(inputs).some((f) => !PLAIN_EXTENSIONS.has(extname(f)))) return undefined
      Object.assign(imported, inputs)
      return { path: pathToFileURL(file).href, external: true }
    }
    return undefined
  }
  const plugin: Esbuild.Plugin = {
    name: "stargraph-node-module",
    setup(build) {
      // Packages stay Node's to load (one instance shared with the app), but resolved from
      // the importing file's folder, not the cache folder the output is imported from.
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === RESOLVING || args.kind === "entry-point") return undefined
        if (!isBareOrUrl(args.path)) {
          const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: RESOLVING })
          return resolved.errors.length > 0 || resolved.external || resolved.path === "" ? undefined : await shared(safeRealpath(resolved.path), args.kind)
        }
        if (isBuiltin(args.path)) return { path: args.path, external: true }
        if (/^[a-z][a-z0-9+.-]+:/i.test(args.path)) return { path: args.path, external: true } // file:, data:, …
        const found = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: RESOLVING })
        // A graph folder outside any project (`stargraph new` in an empty folder) imports
        // the `effect` (and `@effect/*`, `stargraph`) installed with Stargraph (beside its package; the CLI's bundle has its own inlined copy).
        const resolved = found.errors.length > 0 && ownsPackage(args.path)
          ? await build.resolve(args.path, { kind: args.kind, resolveDir: OWN_DIR, pluginData: RESOLVING })
          : found
        if (resolved.errors.length > 0) return { errors: found.errors }
        if (resolved.external || resolved.path === "") return { path: args.path, external: true }
        // A `#import` or tsconfig path into the project's own sources is bundled like a relative import.
        if (!inNodeModules(resolved.path)) return { path: resolved.path }
        return { path: args.kind === "require-call" ? resolved.path : pathToFileURL(resolved.path).href, external: true }
      })
      // Each file keeps its own import.meta.url, dirname and filename.
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
        const text = readFileSync(args.path, "utf8")
        const loader = (/\.([cm]?)([jt]sx?)$/.exec(args.path)?.[2] ?? "js") as "js" | "ts" | "jsx" | "tsx"
        if (!text.includes("import.meta")) return { contents: text, loader }
        const meta = `const __stargraph_import_meta = ${
          JSON.stringify({ url: pathToFileURL(args.path).href, filename: args.path, dirname: dirname(args.path) })
        };`
        // On the first line (after a #! line), so line numbers in errors stay the source's.
        const contents = text.startsWith("#!") ? text.replace(/^#!.*/, (bang) => `//${bang.slice(2)}\n${meta}`) : meta + text
        return { contents, loader }
      })
    }
  }
  let result: Esbuild.BuildResult<{ write: false; metafile: true }>
  try {
    result = await esbuild.build({
      absWorkingDir: workDir,
      entryPoints: [path],
      outfile: join(workDir, "stargraph-node-module.js"), // never written (write: false): names the map's paths
      bundle: true,
      write: false,
      metafile: true,
      format: "esm",
      platform: "node",
      target: `node${process.versions.node}`,
      // Node's own resolution: "import"/"require", "node", "default" conditions, `main` only.
      conditions: [],
      mainFields: ["main"],
      // Stack traces under --enable-source-maps point at the sources, not the cache (see below).
      sourcemap: "external",
      sourcesContent: false,
      logLevel: "silent",
      define: {
        "import.meta.url": "__stargraph_import_meta.url",
        "import.meta.filename": "__stargraph_import_meta.filename",
        "import.meta.dirname": "__stargraph_import_meta.dirname"
      },
      // `require` (and esbuild's helper for it) resolves from the module's own folder.
      banner: {
        js: `import { createRequire as __stargraph_createRequire } from "node:module"; const require = __stargraph_createRequire(${
          JSON.stringify(pathToFileURL(path).href)
        });`
      },
      plugins: [plugin]
    })
  } catch (cause) {
    if (failed !== undefined) throw failed
    const errors = (cause as { readonly errors?: ReadonlyArray<Esbuild.Message> }).errors
    const first = errors?.[0]
    if (first === undefined) throw cause
    if (first.location === null) throw new LoadFailure(first.text, "fix the module")
    // The file as the graph's author knows it: relative to the graph's folder when inside it.
    const abs = resolve(workDir, first.location.file)
    const file = inside(abs, safeRealpath(baseDir)) ? relative(safeRealpath(baseDir), abs) : abs
    // An import of a package that is not installed: the line is right, the folder is not.
    const missing = /^Could not resolve "([^"]+)"/.exec(first.text)?.[1]
    const bare = missing !== undefined && !missing.startsWith(".") && !missing.startsWith("/") && !missing.startsWith("node:")
    // The package, not the import's subpath: `effect/Schema` is in `effect`, `@a/b/c` in `@a/b`.
    const pkg = bare ? missing.split("/").slice(0, missing.startsWith("@") ? 2 : 1).join("/") : undefined
    throw new LoadFailure(
      `${file}:${first.location.line}:${first.location.column + 1}: ${first.text}`,
      pkg !== undefined
        ? `install '${pkg}' where the graph's modules can import it (npm install ${pkg} in ${safeRealpath(baseDir)} or a folder above it), or fix the import at ${file} line ${first.location.line}`
        : `fix ${file} at line ${first.location.line}`
    )
  }
  const inputs: Record<string, string> = { ...imported }
  for (const input of Object.keys(result.metafile.inputs)) {
    const file = resolve(workDir, input)
    const h = fileHash(file)
    if (h !== undefined) inputs[file] = h
  }
  const js = result.outputFiles.find((f) => f.path.endsWith(".js"))!
  const map = result.outputFiles.find((f) => f.path.endsWith(".map"))
  let code = js.text.replace(/\n\/\/# sourceMappingURL=.*\n?$/, "\n")
  if (map !== undefined) {
    // Absolute sources, so the map holds wherever the output is imported from: a POSIX path
    // (a URL path to Node, and a path to tools such as Vite), a file: URL on Windows.
    const parsed = JSON.parse(map.text) as { sources: Array<string> }
    parsed.sources = parsed.sources.map((source) => {
      const abs = resolve(dirname(map.path), source)
      return sep === "/" ? abs : pathToFileURL(abs).href
    })
    code += `//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(parsed)).toString("base64")}\n`
  }
  return { code, inputs, outputs: [...outputs] }
}
