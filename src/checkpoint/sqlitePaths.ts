/**
 * How a SQLite database path is handed to SQLite. A process that turns URI filenames on
 * (`SQLITE_USE_URI=1` before its first SQLite open, as the `stargraph` command does) lets
 * a reader open a database with `immutable=1`; there a name beginning with `file:` would
 * be taken as a URI, so a path is always handed over in a form SQLite takes as a path.
 */
import { resolve } from "node:path"

/**
 * `filename` as SQLite reads it as a path whether or not URI filenames are on: a relative
 * path beginning with `file:` (the only form SQLite would take as a URI) gets a leading `./`.
 */
export const literalPath = (filename: string): string => (filename.startsWith("file:") ? `./${filename}` : filename)

/**
 * The URI that opens `filename` read-only in place without locks and without its -wal
 * and -shm (`immutable=1`): SQLite takes it as a URI only when URI filenames are on
 * (else it names a file that is not there, and the open fails).
 */
export const immutableUri = (filename: string): string =>
  `file:${resolve(filename).replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}?immutable=1`
