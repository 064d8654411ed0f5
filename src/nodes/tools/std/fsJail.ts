/**
 * The directory the `std.file_*` tools are confined to, and the resolution of their
 * `path` arguments inside it. The root is the one a Layer gives ({@link layer}), else
 * `STARGRAPH_TOOLS_FS_ROOT` (the original's variable, read at each call); with neither
 * the tools refuse to run (the original falls back to the working directory, which
 * usually holds the project's code and database), and a root of `/` is refused. A
 * relative `path` is taken from the root; an absolute one must already be inside it.
 * Symbolic links are resolved before the check (the real path of the deepest existing
 * part), so neither `..` nor a link pointing out escapes; a dangling link is refused,
 * since writing through it would create its target.
 *
 * The check is made again after the file is opened ({@link verifyOpened}): a link swapped
 * into the path between the check and the open cannot lead out of the root.
 *
 * Within the root, the tools still need a capability: `fs.read` (`std.file_read`,
 * `std.file_list`) or `fs.write` (`std.file_write`), scoped by the resolved path, so
 * `fs.read:/srv/data/*` grants reading only under `/srv/data`.
 */
import { existsSync } from "node:fs"
import { type FileHandle, lstat, mkdir, realpath } from "node:fs/promises"
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

/** The root a Layer gives (undefined: `STARGRAPH_TOOLS_FS_ROOT`, else none: the tools refuse to run). */
export class FsRoot extends Context.Reference<FsRoot>()("stargraph/FsRoot", {
  defaultValue: (): { readonly root: string | undefined } => ({ root: undefined })
}) {}

/** A Layer confining the `std.file_*` tools to `root`. */
export const layer = (root: string): Layer.Layer<FsRoot> => Layer.succeed(FsRoot, { root })

/** A Node filesystem error's code (`ENOENT`, `ELOOP`, …), if it has one. */
export const code = (error: unknown): string | undefined =>
  error !== null && typeof error === "object" && "code" in error ? String((error as { readonly code: unknown }).code) : undefined

const fixRoot = `pass a path inside the root, or widen the root (${ROOT_ENV}, or FsRoot.layer where the app runs graphs)`

const fixUnset = `set it explicitly: ${ROOT_ENV}=/path/to/dir in the environment of stargraph run/serve, or provide FsRoot.layer("/path/to/dir") where the app runs graphs (a directory holding only what the tools may touch)`

/** The real path of the root; fails when none is set, or when it is `/`. */
export const root: Effect.Effect<string, ToolError> = Effect.gen(function*() {
  const configured = (yield* FsRoot).root ?? (process.env[ROOT_ENV]?.trim() || undefined)
  if (configured === undefined || configured.trim() === "") {
    return yield* new ToolError({ reason: "failed", message: "the file tools have no filesystem root set (they do not default to the working directory)", fix: fixUnset })
  }
  const real = yield* Effect.tryPromise({
    try: () => realpath(resolve(configured)),
    catch: () =>
      new ToolError({
        reason: "failed",
        message: `the tools' filesystem root '${configured}' does not exist`,
        fix: `create it, or set ${ROOT_ENV} to an existing directory`
      })
  })
  if (dirname(real) === real) {
    return yield* new ToolError({ reason: "failed", message: `the tools' filesystem root '${configured}' is the whole filesystem ('${real}')`, fix: fixUnset })
  }
  return real
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
 * `capability:<real path>` demanded (none when `capability` is undefined: a tool whose
 * own capability is checked before it runs): `invalid-input` naming the argument when it
 * escapes, `capability-denied` when the grant does not cover it.
 */
export const resolveJailed = (path: string, capability: string | undefined, argument = "path"): Effect.Effect<string, ToolError> =>
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
    if (capability !== undefined) yield* Capabilities.demand(`${capability}:${real}`)
    return real
  })

const escapes = (argument: string, path: string, base: string, real: string) =>
  new ToolError({ reason: "invalid-input", argument, message: `${argument} '${path}' escapes the tools' filesystem root '${base}' (it resolves to '${real}')`, fix: fixRoot })

/**
 * The check made again on an open file: its real path (read from `/proc/self/fd` on
 * Linux, so it is the file actually opened, whatever was swapped into the path since
 * the first check) must be inside `base` and covered by `capability`, and it must be a
 * regular file (or a directory, for `kind: "directory"`): a FIFO or a device could block
 * forever. Answers the real path. Where `/proc` is unavailable (not Linux) the real path
 * cannot be read from the descriptor: `expected` (the path checked before the open,
 * opened without following a last link) is taken instead, and a link swapped into a
 * parent directory between the check and the open is not caught there.
 */
export const verifyOpened = (
  handle: FileHandle,
  base: string,
  capability: string,
  options: { readonly path: string; readonly expected: string; readonly kind: "file" | "directory"; readonly argument?: string }
): Effect.Effect<string, ToolError> =>
  Effect.gen(function*() {
    const argument = options.argument ?? "path"
    const proc = `/proc/self/fd/${handle.fd}`
    const [real, info] = yield* Effect.tryPromise({
      try: async () => [existsSync("/proc/self/fd") ? await realpath(proc) : options.expected, await handle.stat()] as const,
      catch: (error) => new ToolError({ reason: "failed", argument, message: `cannot check '${options.path}': ${error instanceof Error ? error.message : String(error)}`, fix: "check the path and its permissions" })
    })
    if (!within(base, real)) return yield* escapes(argument, options.path, base, real)
    yield* Capabilities.demand(`${capability}:${real}`)
    const fits = options.kind === "file" ? info.isFile() : info.isDirectory()
    if (!fits) {
      const what = info.isDirectory() ? "a directory" : info.isFile() ? "a regular file" : info.isFIFO() ? "a FIFO" : info.isSocket() ? "a socket" : "a device or special file"
      return yield* new ToolError({
        reason: "invalid-input",
        argument,
        message: `${argument} '${options.path}' is ${what}, not ${options.kind === "file" ? "a regular file" : "a directory"}`,
        fix: options.kind === "file" ? "pass the path of a regular file inside the root" : "pass the path of a directory inside the root"
      })
    }
    return real
  })

/**
 * Create the missing directories of `dir` (a path inside `base`) one level at a time,
 * checking each level's real path is inside `base` before going down into it, so a
 * link swapped into a parent cannot make directories outside. Answers `dir`'s real path.
 */
export const makeParents = (base: string, dir: string, path: string, argument = "path"): Effect.Effect<string, ToolError> =>
  Effect.tryPromise({
    try: async () => {
      const rel = relative(base, dir)
      if (rel === "") return base
      if (isAbsolute(rel) || rel === ".." || rel.startsWith(`..${sep}`)) throw Object.assign(new Error(dir), { code: "ESCAPE", real: dir })
      let at = base
      for (const part of rel.split(sep)) {
        const next = join(at, part)
        await mkdir(next).catch((error: unknown) => {
          if (code(error) !== "EEXIST") throw error
        })
        const real = await realpath(next)
        if (!within(base, real)) throw Object.assign(new Error(real), { code: "ESCAPE", real })
        at = real
      }
      return at
    },
    catch: (error) =>
      code(error) === "ESCAPE"
        ? escapes(argument, path, base, String((error as { readonly real: unknown }).real))
        : new ToolError({ reason: "failed", argument, message: `cannot create the directories of '${path}': ${error instanceof Error ? error.message : String(error)}`, fix: "check the path and its permissions" })
  })
