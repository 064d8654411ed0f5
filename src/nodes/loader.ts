/**
 * Loads user node modules (`.ts` without a build step via tsx, or `.js`) that sit beside
 * the graph YAML, and fingerprints their bytes for the graph hash.
 */
import { existsSync, readFileSync } from "node:fs"
import { extname, isAbsolute, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import { NodeModuleError } from "../errors.js"
import { sha256 } from "../ir/hash.js"

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

const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx"])

/** Resolve a module specifier written in the IR against the YAML's directory. */
export const resolveModulePath = (baseDir: string, specifier: string): string =>
  isAbsolute(specifier) ? specifier : resolve(baseDir, specifier)

/** Import `ref.module` relative to `baseDir`. */
export const loadModule = (baseDir: string, ref: ModuleRef): Effect.Effect<LoadedModule, NodeModuleError> =>
  Effect.gen(function*() {
    const path = resolveModulePath(baseDir, ref.module)
    if (!existsSync(path)) {
      return yield* new NodeModuleError({
        ...ref,
        reason: "module-not-found",
        message: `module '${ref.module}' not found (looked for ${path})`,
        fix: `create ${path} or correct the 'module' path (it is relative to the graph YAML)`
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
          ...ref,
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
    const available = Object.keys(namespace).filter((k) => k !== "default").join(", ") || "(none)"
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
