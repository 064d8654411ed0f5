/**
 * The cursor `listRuns` hands out for the page after one (`next_cursor`): the place of the
 * page's last run in insertion order (SQLite's rowid, PostgreSQL's `seq`) and that run's
 * id, as opaque base64url text. The next page is the runs before that place, read only
 * while that run is still there, in the same statement: SQLite gives a deleted row's rowid
 * to the next row inserted when no row after it is left (a prune that deleted the newest
 * runs), so a place whose run is gone may now be held by a run made after the page; such a
 * cursor is refused (`CheckpointError[invalid-cursor]`, list again from the first page),
 * never read on into newer runs. A cursor of an older Stargraph (the place alone) is
 * refused the same way: it cannot be checked.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { CheckpointError } from "../errors.js"

/** Where a page ended: the place of its last run, and that run. */
export interface RunCursor {
  readonly seq: number
  readonly runId: string
}

/** The cursor after a page whose last run is `runId`, at `seq`. */
export const encodeRunCursor = (seq: number, runId: string): string => Buffer.from(`${seq}.${runId}`).toString("base64url")

const SHAPE = /^([1-9][0-9]{0,18})\.([A-Za-z][A-Za-z0-9-]{0,199})$/

/** The place and run a cursor names, or why it cannot be read: made up, or made by an older Stargraph. */
export const decodeRunCursor = (cursor: string): Either.Either<RunCursor, "invalid" | "older"> => {
  const text = Buffer.from(cursor, "base64url").toString()
  const found = SHAPE.exec(text)
  if (found !== null) {
    const seq = Number(found[1])
    return Number.isSafeInteger(seq) ? Either.right({ seq, runId: found[2]! }) : Either.left("invalid")
  }
  return Either.left(/^[1-9][0-9]*$/.test(text) ? "older" : "invalid")
}

/** `CheckpointError[invalid-cursor]` for `cursor`: `why` it cannot be read, `older`, or its run `gone`. */
export const invalidCursor = (cursor: string, why: "invalid" | "older" | "gone", filename: string, runId?: string): CheckpointError =>
  new CheckpointError({
    reason: "invalid-cursor",
    filename,
    ...(runId !== undefined ? { runId } : {}),
    message: why === "invalid"
      ? `invalid cursor '${cursor}'`
      : why === "older"
      ? `cursor '${cursor}' was handed out by an older Stargraph and cannot be checked; list again from the first page (no cursor)`
      : `cursor '${cursor}' continues after run ${runId}, which was deleted since (a prune): the runs after it can no longer be told from newer ones; list again from the first page (no cursor)`
  })
