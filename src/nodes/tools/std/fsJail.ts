/**
 * The directory the `std.file_*` tools are confined to, and the resolution of their
 * `path` arguments inside it. The root is the one a Layer gives ({@link layer}), else
 * `STARGRAPH_TOOLS_FS_ROOT` (the original's variable, read at each call), else the
 * process's working directory. A relative `path` is taken from the root; an absolute
 * one must already be inside it. Symbolic links are resolved before the check (the real
 * path of the deepest existing part), so neither `..` nor a link pointing out escapes;
 * a dangling link is refused, since writing through it would create its target.
 *
 * Within the root, the tools still need a capability: `fs.read` (`std.file_read`,
 * `std.file_list`) or `fs.write` (`std.file_write`), scoped by the resolved path, so
 * `fs.read:/srv/data/*` grants reading only under `/srv/data`.
 */
import { lstat, realpath } from "node:fs/promises"
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ToolError } from "../../../errors.js"
import * as Capabilities from "../Capabilities.js"

/** The environment variable naming the root (as in the original). */
export const ROOT_ENV = "STARGRAPH_TOOLS_FS_ROOT"
/** The capability reading a file or listing a directory needs (scoped by its real path). */
export const READ = "fs.read"
/** The capability writing a file needs (scoped by its real path). */
export const WRITE = "fs.write"

/** The root a Layer gives (undefined: `STARGRAPH_TOOLS_FS_ROOT`, else the working directory). */
export class FsRoot extends Context.Reference<FsRoot>()("stargraph/FsRoot", {
  defaultValue: (): { readonly root: string | undefined } => ({ root: undefined })
}) {}

/** A Layer confining the `std.file_*` tools to `root`. */
export const layer = (root: string): Layer.Layer<FsRoot> => Layer.succeed(FsRoot, { root })

const code = (error: unknown): string | undefined =>
  error !== null && typeof error === "object" && "code" in error ? String((error as { readonly code: unknown }).code) : undefined

const fixRoot = `pass a path inside the root, or widen the root (${ROOT_ENV}, or FsRoot.layer where the app runs graphs)`

/** The real path of the root. */
export const root: Effect.Effect<string, ToolError> = Effect.gen(function*() {
  const configured = (yield* FsRoot).root ?? (process.env[ROOT_ENV]?.trim() || undefined) ?? process.cwd()
  return yield* Effect.tryPromise({
    try: () => realpath(resolve(configured)),
    catch: () =>
      new ToolError({
        reason: "failed",
        message: `the tools' filesystem root '${configured}' does not exist`,
        fix: `create it, or set ${ROOT_ENV} to an existing directory`
      })
  })
})

/** Whether `path` is `base` or inside it (both real, absolute). */
export const within = (base: string, path: string): boolean => {
  const rel = relative(base, path)
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`))
}

/** The real path of `path`: of its deepest existing part, with the missing rest appended. */
const realOf = (path: string): Effect.Effect<string, ToolError> =>
  Effect.tryPromise({
    try: async () => {
      const missing: Array<string> = []
      let at = path
      for (;;) {
        try {
          return join(await realpath(at), ...missing.reverse())
        } catch (error) {
          if (code(error) !== "ENOENT" && code(error) !== "ENOTDIR") throw error
          // A link that points nowhere: writing through it would create its target.
          const isLink = await lstat(at).then((s) => s.isSymbolicLink(), () => false)
          if (isLink) throw Object.assign(new Error(`'${at}' is a symbolic link to nothing`), { code: "DANGLING" })
          const parent = dirname(at)
          if (parent === at) throw error
          missing.push(basename(at))
          at = parent
        }
      }
    },
    catch: (error) =>
      code(error) === "DANGLING"
        ? new ToolError({ reason: "invalid-input", argument: "path", message: (error as Error).message, fix: "point the link at a file inside the root, or pass another path" })
        : new ToolError({ reason: "failed", argument: "path", message: `cannot resolve '${path}': ${error instanceof Error ? error.message : String(error)}`, fix: "check the path and its permissions" })
  })

/**
 * `path` (the tool's `argument`) resolved to a real path inside the root, then
 * `capability:<real path>` demanded: `invalid-input` naming the argument when it
 * escapes, `capability-denied` when the grant does not cover it.
 */
export const resolveJailed = (path: string, capability: string, argument = "path"): Effect.Effect<string, ToolError> =>
  Effect.gen(function*() {
    if (path.includes("\0")) {
      return yield* new ToolError({ reason: "invalid-input", argument, message: `${argument} holds a NUL character`, fix: "pass a plain path" })
    }
    const base = yield* root
    const lexical = isAbsolute(path) ? resolve(path) : resolve(base, path)
    const real = lexical === base ? base : yield* realOf(lexical)
    if (!within(base, real)) {
      return yield* new ToolError({
        reason: "invalid-input",
        argument,
        message: `${argument} '${path}' escapes the tools' filesystem root '${base}'${real !== lexical ? ` (it resolves to '${real}')` : ""}`,
        fix: fixRoot
      })
    }
    yield* Capabilities.demand(`${capability}:${real}`)
    return real
  })
