/**
 * Which checkpoint database a CLI command opens, and how what it prints names it. The
 * first of: `--db`, the `STARGRAPH_DB` environment variable, the graph's
 * `checkpoints.store` (`stargraph run` only), the default. A SQLite file, or a
 * PostgreSQL URL (`postgres://` or `postgresql://`), which is printed without its
 * password everywhere (hints, messages, JSON); a hint for a database that came from
 * `STARGRAPH_DB` leaves `--db` out, as the variable names it again.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { dirname, join } from "node:path"
import { isPostgresUrl, redactUrl } from "../checkpoint/databaseUrl.js"
import { InputError } from "../errors.js"
import { DEFAULT_DB } from "./options.js"

/** The environment variable that names the database when `--db` is not given. */
export const DB_ENV = "STARGRAPH_DB"

/** Where a command's database was named: its field in errors. */
export type DatabaseSource = "--db" | typeof DB_ENV | "checkpoints.store" | "default"

/** The database a command opens. */
export interface Database {
  /** A SQLite path, or a PostgreSQL URL with its password: given to the driver, never printed. */
  readonly location: string
  /** Where it was named. */
  readonly from: DatabaseSource
}

/** How messages, hints and JSON name `location`: a PostgreSQL URL without its password, a SQLite path as it is. */
export const shown = (location: string): string => (isPostgresUrl(location) ? redactUrl(location) : location)

/**
 * The `--db` value a printed command (`stargraph resume … --db X`) carries: the database
 * as {@link shown}, or undefined when `STARGRAPH_DB` named it (the command, run where the
 * variable is set, finds it without the flag; a password never shows).
 */
export const hintDb = (db: Database): string | undefined => (db.from === DB_ENV ? undefined : shown(db.location))

/** The flag or variable to name in an error about `db` (the default is changed with `--db`). */
export const fieldOf = (db: Database): string => (db.from === "default" ? "--db" : db.from)

const FORMS = "a SQLite file path, or a postgres:// or postgresql:// URL"

/**
 * Why `value` (from `field`) is not a database: empty, or a URL of another scheme
 * (`sqlite://`, `mysql://`), or the `sqlite:<path>` form of a graph's `checkpoints.store`,
 * which would otherwise be taken for a file of that name; undefined when it is one. The
 * value is not echoed (it may hold a password).
 */
const problem = (value: string, field: string): InputError | undefined => {
  const set = field === "--db" ? "pass" : `set ${field} to`
  if (value.trim() === "") {
    return new InputError({
      field,
      message: field === "--db" ? "the value is empty" : "the variable is set but empty",
      fix: field === "--db" ? `pass ${FORMS}, or leave the flag out` : `${set} ${FORMS}, or unset it (unset ${field}) to use --db or the default`
    })
  }
  if (isPostgresUrl(value)) return undefined
  if (/^sqlite:/i.test(value)) {
    return new InputError({
      field,
      message: "a SQLite database is named by its file path here, not sqlite:… (sqlite:<path> is the form of a graph's checkpoints.store)",
      fix: `${set} the file path itself, without sqlite:, or a postgres:// or postgresql:// URL`
    })
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value)?.[1]
  return scheme === undefined ? undefined : new InputError({
    field,
    message: `a ${scheme}:// URL names a database Stargraph does not open (it opens SQLite files and PostgreSQL)`,
    fix: `${set} ${FORMS}`
  })
}

/**
 * The database `--db` or `STARGRAPH_DB` names (in that order), or undefined when neither
 * is given. An empty `STARGRAPH_DB` is an `InputError` naming it, as is another scheme.
 */
export const fromFlagOrEnv = (
  flag: Option.Option<string>,
  env: { readonly [name: string]: string | undefined } = process.env
): Effect.Effect<Database | undefined, InputError> => {
  const given: Database | undefined = Option.isSome(flag)
    ? { location: flag.value, from: "--db" }
    : env[DB_ENV] !== undefined
    ? { location: env[DB_ENV], from: DB_ENV }
    : undefined
  const refused = given === undefined ? undefined : problem(given.location, given.from)
  return refused === undefined ? Effect.succeed(given) : Effect.fail(refused)
}

/**
 * The database of a command: `--db`, else `STARGRAPH_DB`, else the graph's
 * `checkpoints.store` when given (`sqlite:<path>` relative to the graph file, or a
 * PostgreSQL URL), else {@link DEFAULT_DB}.
 */
export const chooseDatabase = (
  flag: Option.Option<string>,
  graph?: { readonly store: string | undefined; readonly file: string },
  env: { readonly [name: string]: string | undefined } = process.env
): Effect.Effect<Database, InputError> =>
  Effect.map(fromFlagOrEnv(flag, env), (given): Database => {
    if (given !== undefined) return given
    const store = graph?.store
    if (graph === undefined || store === undefined) return { location: DEFAULT_DB, from: "default" }
    if (isPostgresUrl(store)) return { location: store, from: "checkpoints.store" }
    const path = store.slice("sqlite:".length)
    return { location: path.startsWith("/") ? path : join(dirname(graph.file), path), from: "checkpoints.store" }
  })
