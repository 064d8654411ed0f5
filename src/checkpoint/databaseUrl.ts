/**
 * What a `--db` names: a SQLite file, or a PostgreSQL server (`postgres://` or
 * `postgresql://` URL). The URL is shown without its password wherever Stargraph prints it.
 */

/** Whether `db` is a PostgreSQL URL (`postgres://…` or `postgresql://…`) rather than a SQLite path. */
export const isPostgresUrl = (db: string): boolean => /^postgres(?:ql)?:\/\//i.test(db)

/**
 * `url` with its password replaced by `***` (in the user part, and a `password=` query
 * parameter): how messages, logs and the server's banner name the database. A URL
 * without a password is shown as it is.
 */
export const redactUrl = (url: string): string =>
  url
    // Up to the last `@`: a malformed URL's password may hold `/`, `#` or `@` unencoded.
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*):.*@/i, "$1:***@")
    .replace(/([?&](?:ssl)?password=)[^&#]*/gi, "$1***")

/** The database name a PostgreSQL URL names (its path), or undefined when it names none (the user's, by default). */
export const databaseName = (url: string): string | undefined => {
  try {
    const name = decodeURIComponent(new URL(url).pathname.slice(1))
    return name === "" ? undefined : name
  } catch {
    return undefined
  }
}

/**
 * Why `url` is not a usable PostgreSQL URL, or undefined when it is: the scheme, and
 * whether it parses at all (a password with `@`, `/` or `#` in it must be percent-encoded).
 */
export const urlProblem = (url: string): string | undefined => {
  if (!isPostgresUrl(url)) return `'${redactUrl(url)}' is not a postgres:// or postgresql:// URL`
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return `'${redactUrl(url)}' is not a valid URL (percent-encode @, /, : and # in the user name and password)`
  }
  if (parsed.port !== "" && !(Number(parsed.port) > 0)) return `'${redactUrl(url)}' has port ${parsed.port}`
  return undefined
}
