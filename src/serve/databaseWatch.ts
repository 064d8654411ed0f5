/**
 * Whether the SQLite file a server opened is still the file at its path. Removed (or
 * replaced by another file) under a running server, its connection goes on writing to the
 * old file, which no other process, and no restart, will ever see: every run the server
 * accepts from then on is lost. The server reports it (`GET /healthz` answers 503) and
 * `stargraph serve` stops on it (see `watchDatabase`).
 */
import { statSync } from "node:fs"
import { basename } from "node:path"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { isPostgresUrl } from "../checkpoint/databaseUrl.js"
import { CheckpointError } from "../errors.js"

/** The file at `path` (device and inode), or undefined when there is none (or `path` is a PostgreSQL URL). */
export const fileIdentity = (path: string): string | undefined => {
  if (isPostgresUrl(path)) return undefined
  try {
    const st = statSync(path)
    return `${st.dev}:${st.ino}`
  } catch {
    return undefined
  }
}

/** What a server whose database file was removed or replaced says. */
export const databaseReplaced = (path: string): CheckpointError =>
  new CheckpointError({
    reason: "database-replaced",
    filename: path,
    message: `the database file ${basename(path)} was removed or replaced while the server runs: what it writes now goes to a file nobody else sees. ` +
      "Fix: restart the server (it opens the file now at that path; runs written only to the removed file are gone)"
  })

/**
 * Fails with `CheckpointError[database-replaced]` once the file at `path` is no longer the
 * one there now (`opened`, read when the server opened it), checking every `everyMs`; never
 * for a PostgreSQL URL or a file that was not there to begin with.
 */
export const watchDatabase = (path: string, opened: string | undefined = fileIdentity(path), everyMs = 1000): Effect.Effect<never, CheckpointError> =>
  opened === undefined
    ? Effect.never
    : Effect.suspend(() => (fileIdentity(path) === opened ? Effect.void : Effect.fail(databaseReplaced(path)))).pipe(
      Effect.repeat(Schedule.spaced(`${everyMs} millis`)),
      Effect.zipRight(Effect.never)
    )
