/**
 * Entry point of the `stargraph` command.
 *
 * `--help`, `<command> --help` (or `-h`) and `--version` print text that scripts/build.mjs
 * rendered with @effect/cli's own renderer when it built the bundle (`renderBuiltIn` in
 * app.ts), byte for byte what the parser would print, ANSI codes stripped where colour is
 * off exactly as `app.ts` does: these never load effect or @effect/cli. Everything else
 * imports `app.ts` (a lazy part of the bundle) and runs the parser and the command.
 * Without the build (the sources run directly) every argv takes the parser.
 *
 * It turns SQLite's URI filenames on (`SQLITE_USE_URI=1`, read by better-sqlite3 when it
 * first loads SQLite, unless the environment sets it already): `list`, `inspect` and
 * `thread` then read a database they cannot write and that has no -wal in place
 * (`file:<db>?immutable=1`) instead of from a copy. Stargraph hands its own paths to SQLite
 * so that none is taken for a URI (`sqlitePaths.ts`).
 */
import { colorAllowed, quietOnClosedPipe, stripAnsi } from "./terminal.js"

process.env.SQLITE_USE_URI ??= "1"

/** Set by scripts/build.mjs: stdout of `stargraph <args>` keyed by `JSON.stringify(args)`. */
declare const __STARGRAPH_BUILT_IN_OUTPUT__: { readonly [args: string]: string } | undefined

const args = process.argv.slice(2)
const rendered = typeof __STARGRAPH_BUILT_IN_OUTPUT__ === "undefined" ? undefined : __STARGRAPH_BUILT_IN_OUTPUT__
const key = JSON.stringify(args)
const text = rendered !== undefined && args.length <= 2 && Object.hasOwn(rendered, key) ? rendered[key] : undefined

if (text !== undefined) {
  quietOnClosedPipe()
  process.stdout.write(colorAllowed() ? text : stripAnsi(text))
} else {
  void import("./app.js").then((app) => app.main(process.argv))
}
