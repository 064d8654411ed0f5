/**
 * `std.file_read@1`, `std.file_write@1`, `std.file_list@1`: the original's filesystem
 * tools, with its arguments and results, confined to the tools' filesystem root and
 * gated by `fs.read` / `fs.write` (see `fsJail.ts`). Every call is recorded in the
 * step's cassette, so a replay answers from the recording and touches no file.
 */
import { constants } from "node:fs"
import { mkdir, open, readdir, realpath, stat } from "node:fs/promises"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"
import { READ, resolveJailed, root, within, WRITE } from "./fsJail.js"

/** The most bytes `std.file_read` returns (a larger `max_bytes` is lowered to it, as the original does). */
export const MAX_READ_BYTES = 1_000_000
/** The most entries `std.file_list` returns. */
export const MAX_LIST_ENTRIES = 500

const failed = (message: string, fix: string, argument = "path") =>
  new ToolError({ reason: "failed", argument, message, fix })

const why = (error: unknown): string => (error instanceof Error ? error.message : String(error))

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
      const limit = Math.max(1, Math.min(max_bytes ?? MAX_READ_BYTES, MAX_READ_BYTES))
      const read = yield* Effect.tryPromise({
        try: async () => {
          const info = await stat(target).catch(() => undefined)
          if (info === undefined || !info.isFile()) return undefined
          const handle = await open(target, constants.O_RDONLY)
          try {
            const buffer = Buffer.alloc(limit + 1)
            let size = 0
            for (;;) {
              const { bytesRead } = await handle.read(buffer, size, buffer.length - size, null)
              if (bytesRead === 0) break
              size += bytesRead
              if (size === buffer.length) break
            }
            return { bytes: buffer.subarray(0, Math.min(size, limit)), truncated: size > limit }
          } finally {
            await handle.close()
          }
        },
        catch: (error) => failed(`cannot read '${path}': ${why(error)}`, "check the file's permissions")
      })
      if (read === undefined) return yield* failed(`file '${path}' does not exist`, "pass the path of an existing file inside the root (std.file_list shows them)")
      return { path: target, content: new TextDecoder().decode(read.bytes), truncated: read.truncated }
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
      const data = new TextEncoder().encode(content)
      yield* Effect.tryPromise({
        try: async () => {
          const parent = join(target, "..")
          await mkdir(parent, { recursive: true })
          // A link swapped in since the check must not lead out: the parent is checked
          // again, and the file itself is never followed if it is a link.
          if (!within(base, await realpath(parent))) throw new Error(`'${path}' left the root while it was written`)
          const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (append === true ? constants.O_APPEND : constants.O_TRUNC)
          const handle = await open(target, flags, 0o644)
          try {
            await handle.writeFile(data)
          } finally {
            await handle.close()
          }
        },
        catch: (error) => failed(`cannot write '${path}': ${why(error)}`, "pass a path to a file (not a directory or a link) inside the root, and check its permissions")
      })
      return { path: target, bytes_written: data.byteLength }
    })
})

/** A glob over one name as a regex: `*`, `?`, `[abc]`, `[!abc]` (Python's fnmatch). */
const globRegex = (pattern: string): RegExp => {
  let source = ""
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === "*") source += ".*"
    else if (c === "?") source += "."
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 2)
      if (close < 0) source += "\\["
      else {
        let set = pattern.slice(i + 1, close)
        const negate = set.startsWith("!")
        if (negate) set = set.slice(1)
        source += `[${negate ? "^" : ""}${set.replace(/[\\\]^]/g, (x) => `\\${x}`)}]`
        i = close
      }
    } else source += c.replace(/[.+^${}()|[\]\\]/g, (x) => `\\${x}`)
  }
  return new RegExp(`^${source}$`, "s")
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
      if (pattern.includes("/") || pattern.includes("\\") || pattern === "" || pattern.startsWith("**")) {
        return yield* new ToolError({
          reason: "invalid-input",
          argument: "pattern",
          message: `pattern '${pattern}' is not one name's glob`,
          fix: "match names in one directory (e.g. *.txt); list a subdirectory by passing it as path"
        })
      }
      const target = yield* resolveJailed(path, READ)
      const base = yield* root
      const matcher = globRegex(pattern)
      return yield* Effect.tryPromise({
        try: async () => {
          const info = await stat(target).catch(() => undefined)
          if (info === undefined || !info.isDirectory()) return undefined
          const names = (await readdir(target)).filter((name) => matcher.test(name)).sort()
          const entries: Array<{ name: string; is_dir: boolean; size: number }> = []
          let truncated = false
          for (const name of names) {
            const child = join(target, name)
            // A link pointing out of the root is skipped, as the original does.
            const real = await realpath(child).catch(() => undefined)
            if (real === undefined || !within(base, real)) continue
            if (entries.length >= MAX_LIST_ENTRIES) {
              truncated = true
              break
            }
            const s = await stat(real)
            entries.push({ name, is_dir: s.isDirectory(), size: s.isFile() ? s.size : 0 })
          }
          return { path: target, entries, truncated }
        },
        catch: (error) => failed(`cannot list '${path}': ${why(error)}`, "check the directory's permissions")
      }).pipe(Effect.flatMap((listed) =>
        listed === undefined
          ? Effect.fail(failed(`directory '${path}' does not exist`, "pass the path of an existing directory inside the root"))
          : Effect.succeed(listed)
      ))
    })
})
