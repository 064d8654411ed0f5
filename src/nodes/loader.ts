/**
 * Loads user node modules (`.ts` without a build step via tsx, or `.js`) that sit beside
 * the graph YAML, and fingerprints their bytes for the graph hash.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs"
import { extname, isAbsolute, relative, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import { NodeModuleError } from "../errors.js"
import { sha256 } from "../ir/hash.js"
import { listSome } from "../ir/limits.js"

/** A loaded module namespace. */
export type ModuleNamespace = { readonly [name: string]: unknown }

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

/** Resolve a module specifier written in the IR against the YAML's directory. */
export const resolveModulePath = (baseDir: string, specifier: string): string =>
  isAbsolute(specifier) ? specifier : resolve(baseDir, specifier)

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

/** Import `ref.module` relative to `baseDir`, confined to `scope.roots` when given. */
export const loadModule = (baseDir: string, ref: ModuleRef, scope: ModuleScope = {}): Effect.Effect<LoadedModule, NodeModuleError> =>
  Effect.gen(function*() {
    const path = resolveModulePath(baseDir, ref.module)
    const named = { ...ref, ...(scope.graphFile !== undefined ? { file: scope.graphFile } : {}) }
    const roots = scope.roots
    const outside = (real: string) => roots !== undefined && !roots.some((root) => inside(real, safeRealpath(root)))
    if (outside(path)) {
      return yield* new NodeModuleError({
        ...named,
        reason: "outside-root",
        message: `module '${ref.module}' resolves outside the graph's folder (${listSome(roots ?? [])})`,
        fix: "put the module in the graph's folder tree and name it with a relative path such as ./nodes.ts (or add its folder to moduleRoots)"
      })
    }
    if (!existsSync(path)) {
      return yield* new NodeModuleError({
        ...named,
        reason: "module-not-found",
        message: `module '${ref.module}' not found (looked for ${path})`,
        fix: `create ${path} or correct the 'module' path (it is relative to the graph YAML)`
      })
    }
    if (outside(safeRealpath(path))) {
      return yield* new NodeModuleError({
        ...named,
        reason: "outside-root",
        message: `module '${ref.module}' is a link to ${safeRealpath(path)}, outside the graph's folder`,
        fix: "copy the module into the graph's folder tree instead of linking to it (or add its folder to moduleRoots)"
      })
    }
    const hash = sha256(readFileSync(path))
    const url = pathToFileURL(path).href
    const namespace = yield* Effect.tryPromise({
      try: async (): Promise<ModuleNamespace> => {
        if (TS_EXTENSIONS.has(extname(path))) {
          const { tsImport } = await import("tsx/esm/api")
          return (await tsImport(url, import.meta.url)) as ModuleNamespace
        }
        return (await import(url)) as ModuleNamespace
      },
      catch: (cause) =>
        new NodeModuleError({
          ...named,
          reason: "load-failed",
          message: `module '${ref.module}' failed to load: ${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)}`,
          fix: "fix the error in the module (run it with `npx tsx` to see the full trace)"
        })
    })
    return { namespace, hash }
  })

/** Pick `ref.exportName` from a loaded module, failing loudly when it is absent. */
export const pickExport = (namespace: ModuleNamespace, ref: ModuleRef): Effect.Effect<unknown, NodeModuleError> => {
  const value = namespace[ref.exportName] ??
    (namespace["default"] as ModuleNamespace | undefined)?.[ref.exportName]
  if (value === undefined) {
    const available = listSome(Object.keys(namespace).filter((k) => k !== "default")) || "(none)"
    return Effect.fail(
      new NodeModuleError({
        ...ref,
        reason: "export-not-found",
        message: `module '${ref.module}' has no export '${ref.exportName}' (exports: ${available})`,
        fix: `export '${ref.exportName}' from ${ref.module} or set 'export' to one of: ${available}`
      })
    )
  }
  return Effect.succeed(value)
}
