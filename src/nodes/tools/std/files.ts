/**
 * `std.file_read@1`, `std.file_write@1`, `std.file_list@1`: the original's filesystem
 * tools, with its arguments and results, confined to the tools' filesystem root and
 * gated by `fs.read` / `fs.write` (see `fsJail.ts`). Every call is recorded in the
 * step's cassette, so a replay answers from the recording and touches no file.
 */
import { constants, existsSync } from "node:fs"
import { type FileHandle, open, readdir, realpath, stat } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Capabilities from "../Capabilities.js"
import * as Tool from "../Tool.js"
import { code, makeParents, READ, resolveJailed, root, verifyOpened, within, WRITE } from "./fsJail.js"

/** The most bytes `std.file_read` returns (a larger `max_bytes` is lowered to it, as the original does). */
export const MAX_READ_BYTES = 1_000_000
/** The most entries `std.file_list` returns. */
export const MAX_LIST_ENTRIES = 500

const failed = (message: string, fix: string, argument = "path") =>
  new ToolError({ reason: "failed", argument, message, fix })

const why = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * `use` on `target` opened with `flags` (never following a last link, never blocking on
 * a FIFO), once {@link verifyOpened} has checked what was opened; the file is closed after.
 * `onOpenError` maps a failed open.
 */
const withOpened = <A>(
  target: string,
  flags: number,
  check: { readonly base: string; readonly capability: string; readonly path: string; readonly kind: "file" | "directory" },
  onOpenError: (error: unknown) => ToolError,
  use: (handle: FileHandle, real: string) => Promise<A>,
  onUseError: (error: unknown) => ToolError
): Effect.Effect<A, ToolError> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({ try: () => open(target, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644), catch: onOpenError }),
    (handle) =>
      Effect.flatMap(
        verifyOpened(handle, check.base, check.capability, { path: check.path, expected: target, kind: check.kind }),
        (real) => Effect.tryPromise({ try: () => use(handle, real), catch: onUseError })
      ),
    (handle) => Effect.promise(() => handle.close().catch(() => undefined))
  )

const notRegular = (path: string, what: string) =>
  new ToolError({ reason: "invalid-input", argument: "path", message: `path '${path}' ${what}`, fix: "pass the path of a regular file inside the root (not a directory, a link, a FIFO or a device)" })

/** `std.file_read@1`. */
export const fileRead = Tool.make({
  id: "std.file_read",
  version: "1",
  description: "Read a UTF-8 text file inside the tools' filesystem root (needs the fs.read capability).",
  input: Schema.Struct({ path: Schema.String, max_bytes: Schema.optional(Schema.Int) }),
  output: Schema.Struct({ path: Schema.String, content: Schema.String, truncated: Schema.Boolean }),
  run: ({ max_bytes, path }) =>
    Effect.gen(function*() {
      const target = yield* resolveJailed(path, READ)
      const base = yield* root
      const limit = Math.max(1, Math.min(max_bytes ?? MAX_READ_BYTES, MAX_READ_BYTES))
      const missing = failed(`file '${path}' does not exist`, "pass the path of an existing file inside the root (std.file_list shows them)")
      const read = yield* withOpened(
        target,
        constants.O_RDONLY,
        { base, capability: READ, path, kind: "file" },
        (error) =>
          code(error) === "ENOENT" || code(error) === "ENOTDIR"
            ? missing
            : code(error) === "ELOOP"
            ? notRegular(path, "became a symbolic link while it was opened")
            : failed(`cannot read '${path}': ${why(error)}`, "check the file's permissions"),
        async (handle, real) => {
          const buffer = Buffer.alloc(limit + 1)
          let size = 0
          for (;;) {
            const { bytesRead } = await handle.read(buffer, size, buffer.length - size, null)
            if (bytesRead === 0) break
            size += bytesRead
            if (size === buffer.length) break
          }
          return { real, bytes: buffer.subarray(0, Math.min(size, limit)), truncated: size > limit }
        },
        (error) => failed(`cannot read '${path}': ${why(error)}`, "check the file's permissions")
      )
      return { path: read.real, content: new TextDecoder().decode(read.bytes), truncated: read.truncated }
    })
})

/** `std.file_write@1`. */
export const fileWrite = Tool.make({
  id: "std.file_write",
  version: "1",
  description: "Write (or append) UTF-8 text to a file inside the tools' filesystem root (needs the fs.write capability); parent directories are created as needed.",
  input: Schema.Struct({ path: Schema.String, content: Schema.String, append: Schema.optional(Schema.Boolean) }),
  output: Schema.Struct({ path: Schema.String, bytes_written: Schema.Int }),
  run: ({ append, content, path }) =>
    Effect.gen(function*() {
      const target = yield* resolveJailed(path, WRITE)
      const base = yield* root
      if (target === base) return yield* notRegular(path, "names the root directory itself")
      const isDir = yield* Effect.promise(() => stat(target).then((s) => s.isDirectory(), () => false))
      if (isDir) return yield* notRegular(path, "names a directory")
      const parent = yield* makeParents(base, dirname(target), path)
      const data = new TextEncoder().encode(content)
      // No O_TRUNC: the file is emptied only once what was opened has been checked.
      const flags = constants.O_WRONLY | constants.O_CREAT | (append === true ? constants.O_APPEND : 0)
      const fail = (error: unknown) => failed(`cannot write '${path}': ${why(error)}`, "pass a path to a file (not a directory or a link) inside the root, and check its permissions")
      const real = yield* withOpened(
        join(parent, basename(target)),
        flags,
        { base, capability: WRITE, path, kind: "file" },
        (error) =>
          code(error) === "ELOOP"
            ? notRegular(path, "is a symbolic link (the last part of a written path is never followed)")
            : code(error) === "EISDIR"
            ? notRegular(path, "names a directory")
            : code(error) === "ENXIO"
            ? notRegular(path, "is a FIFO or a device, not a regular file")
            : fail(error),
        async (handle, real) => {
          if (append !== true) await handle.truncate(0)
          await handle.writeFile(data)
          return real
        },
        fail
      )
      return { path: real, bytes_written: data.byteLength }
    })
})

/** One part of a compiled glob: a literal character, `?`, `*`, or a `[...]` class. */
type GlobPart =
  | { readonly kind: "char"; readonly char: string }
  | { readonly kind: "one" }
  | { readonly kind: "star" }
  | { readonly kind: "class"; readonly negate: boolean; readonly ranges: ReadonlyArray<readonly [number, number]> }

/**
 * A glob over one name (Python's fnmatch: `*`, `?`, `[abc]`, `[a-z]`, `[!abc]`, a `]`
 * first in a class is literal, a `[` without its `]` is literal), compiled to parts, or
 * a message when a class is invalid (a range such as `z-a`).
 */
export const compileGlob = (pattern: string): ReadonlyArray<GlobPart> | string => {
  const chars = Array.from(pattern)
  const parts: Array<GlobPart> = []
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!
    if (c === "*") {
      if (parts.at(-1)?.kind !== "star") parts.push({ kind: "star" })
    } else if (c === "?") parts.push({ kind: "one" })
    else if (c === "[") {
      let j = i + 1
      const negate = chars[j] === "!"
      if (negate) j++
      const first = j
      if (chars[j] === "]") j++
      while (j < chars.length && chars[j] !== "]") j++
      if (j >= chars.length) {
        parts.push({ kind: "char", char: "[" })
        continue
      }
      const set = chars.slice(first, j)
      const ranges: Array<readonly [number, number]> = []
      for (let k = 0; k < set.length; k++) {
        const lo = set[k]!
        if (set[k + 1] === "-" && k + 2 < set.length) {
          const hi = set[k + 2]!
          if (lo.codePointAt(0)! > hi.codePointAt(0)!) return `the class '[${negate ? "!" : ""}${set.join("")}]' has the range '${lo}-${hi}', which is reversed`
          ranges.push([lo.codePointAt(0)!, hi.codePointAt(0)!])
          k += 2
        } else ranges.push([lo.codePointAt(0)!, lo.codePointAt(0)!])
      }
      parts.push({ kind: "class", negate, ranges })
      i = j
    } else parts.push({ kind: "char", char: c })
  }
  return parts
}

const partMatches = (part: GlobPart, char: string): boolean => {
  switch (part.kind) {
    case "char":
      return part.char === char
    case "one":
      return true
    case "star":
      return false
    case "class": {
      const cp = char.codePointAt(0)!
      return part.ranges.some(([lo, hi]) => cp >= lo && cp <= hi) !== part.negate
    }
  }
}

/**
 * Whether `name` matches the compiled glob: the two-pointer fnmatch, which goes back
 * only to the last `*` seen, so it takes at most (parts × characters) steps whatever
 * the pattern (a regex with `.*` per `*` backtracks exponentially on `*?*?…Z`).
 */
export const globMatches = (parts: ReadonlyArray<GlobPart>, name: string): boolean => {
  const chars = Array.from(name)
  let p = 0
  let n = 0
  let starP = -1
  let starN = 0
  while (n < chars.length) {
    const part = parts[p]
    if (part !== undefined && part.kind === "star") {
      starP = p++
      starN = n
    } else if (part !== undefined && partMatches(part, chars[n]!)) {
      p++
      n++
    } else if (starP >= 0) {
      p = starP + 1
      n = ++starN
    } else return false
  }
  while (parts[p]?.kind === "star") p++
  return p === parts.length
}

/** `std.file_list@1`. */
export const fileList = Tool.make({
  id: "std.file_list",
  version: "1",
  description: "List a directory's entries matching a glob (not recursive) inside the tools' filesystem root (needs the fs.read capability).",
  input: Schema.Struct({ path: Schema.optional(Schema.String), pattern: Schema.optional(Schema.String) }),
  output: Schema.Struct({
    path: Schema.String,
    entries: Schema.Array(Schema.Struct({ name: Schema.String, is_dir: Schema.Boolean, size: Schema.Int })),
    truncated: Schema.Boolean
  }),
  run: (input) =>
    Effect.gen(function*() {
      const path = input.path ?? "."
      const pattern = input.pattern ?? "*"
      const badPattern = (message: string) =>
        new ToolError({ reason: "invalid-input", argument: "pattern", message, fix: "match names in one directory (e.g. *.txt, [a-z]*.md); list a subdirectory by passing it as path" })
      if (pattern.includes("/") || pattern.includes("\\") || pattern === "" || pattern.startsWith("**")) {
        return yield* badPattern(`pattern '${pattern}' is not one name's glob`)
      }
      const parts = compileGlob(pattern)
      if (typeof parts === "string") return yield* badPattern(`pattern '${pattern}' is invalid: ${parts}`)
      const target = yield* resolveJailed(path, READ)
      const base = yield* root
      const grants = yield* Capabilities.granted
      const fail = (error: unknown) => failed(`cannot list '${path}': ${why(error)}`, "check the directory's permissions")
      return yield* withOpened(
        target,
        constants.O_RDONLY | constants.O_DIRECTORY,
        { base, capability: READ, path, kind: "directory" },
        (error) =>
          code(error) === "ENOENT" || code(error) === "ENOTDIR" || code(error) === "ELOOP"
            ? failed(`directory '${path}' does not exist`, "pass the path of an existing directory inside the root")
            : fail(error),
        async (handle, dir) => {
          // On Linux the entries are read through the open descriptor: the directory checked.
          const names = (await readdir(existsSync("/proc/self/fd") ? `/proc/self/fd/${handle.fd}` : dir)).filter((name) => globMatches(parts, name)).sort()
          const entries: Array<{ name: string; is_dir: boolean; size: number }> = []
          let truncated = false
          for (const name of names) {
            // A link pointing out of the root, or to what the grant does not cover, is
            // skipped (the original skips the first); so is an entry gone meanwhile.
            const real = await realpath(join(dir, name)).catch(() => undefined)
            if (real === undefined || !within(base, real) || !Capabilities.covers(grants, `${READ}:${real}`)) continue
            const s = await stat(real).catch(() => undefined)
            if (s === undefined) continue
            if (entries.length >= MAX_LIST_ENTRIES) {
              truncated = true
              break
            }
            entries.push({ name, is_dir: s.isDirectory(), size: s.isFile() ? s.size : 0 })
          }
          return { path: dir, entries, truncated }
        },
        fail
      )
    })
})
