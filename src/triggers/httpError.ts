/**
 * The one error envelope of every HTTP surface (the API and trigger routes such as
 * signed webhooks): `{error: {type, message, details}}` with the StargraphError tag as
 * `type`, and the status code the error's kind calls for. Stack traces and server file
 * paths never go on the wire.
 */
import { homedir, tmpdir } from "node:os"
import type { StargraphError } from "../errors.js"
import { toErrorRecord } from "../runtime/errorRecord.js"

/** The HTTP status for a Stargraph error. */
export const statusOf = (error: StargraphError): number => {
  switch (error._tag) {
    case "InputError":
    case "StateValidationError":
    case "IRValidationError":
      return 400
    case "CheckpointError":
      return error.reason === "unknown-run" || error.reason === "no-checkpoint"
        ? 404
        : error.reason === "invalid-cursor"
        ? 400
        : error.reason === "graph-hash-mismatch" || error.reason === "runtime-hash-mismatch" || error.reason === "thread-moved" ||
            error.reason === "taken-over" || error.reason === "run-changed"
        ? 409
        : error.reason === "checkpoint-too-large"
        ? 413
        : 500
    case "SchedulerError":
      return error.reason === "unknown-graph" ? 404 : error.reason === "shutting-down" ? 503 : 500
    case "RunStateError":
      return 409
    case "ThreadError":
      return error.reason === "invalid-thread-id" ? 400 : error.reason === "unknown-thread" ? 404 : 409
    case "WebhookError":
    case "ApiError":
      return error.status
    // A run refused before it starts: a node needs a model the server was not given.
    case "LanguageModelError":
      return error.reason === "no-model" ? 400 : 500
    default:
      return 500
  }
}

/** Folders whose paths never appear on the wire, whatever their file names. */
const privateRoots = (): ReadonlyArray<string> =>
  [process.cwd(), tmpdir(), homedir()].filter((root) => root.length > 1).map((root) => root.replace(/\/+$/, ""))

const lastSegment = (path: string): string => path.replace(/[\\/]+$/, "").split(/[\\/]/).pop() || "<path>"

const FILE_URL = /file:\/\/[^\s'"`()<>]+/g
const WINDOWS_PATH = /\b[A-Za-z]:\\[^\s'"`()<>]+/g
// An absolute POSIX path of two or more segments (an API route such as /v1/runs/x is
// kept unless it looks like a file or lies under a private root; see `redact`).
const POSIX_PATH = /(?<![\w.:/-])\/(?:[^\s/'"`()<>:]+\/)+[^\s/'"`()<>:]*/g
const FILE_NAME = /\.[A-Za-z0-9]{1,10}$/

/**
 * `text` as it may go on the wire: cut before the first stack frame, and every server
 * file path reduced to its file name (`/srv/app/graphs/nodes.ts` → `nodes.ts`).
 */
// The first stack frame, on its own line or folded into one (`… at go (file:///…:1:2)`).
const STACK_FRAME =
  /\n\s*at\s|\s+at\s+(?:async\s+)?(?:(?:[^\s()]+\s+){0,3}\((?:[^\s()]*[./\\][^\s()]*:\d+(?::\d+)?|<anonymous>|native)\)|(?:file:\/\/|node:|\/|[A-Za-z]:\\)[^\s()]*:\d+(?::\d+)?)/

export const redact = (text: string): string => {
  const frame = text.search(STACK_FRAME)
  let out = frame === -1 ? text : text.slice(0, frame)
  out = out.replace(FILE_URL, (url) => lastSegment(url.replace(/(:\d+)+$/, "")))
  out = out.replace(WINDOWS_PATH, (path) => lastSegment(path))
  const roots = privateRoots()
  out = out.replace(POSIX_PATH, (path) =>
    FILE_NAME.test(path.replace(/(:\d+)+$/, "")) || roots.some((root) => path === root || path.startsWith(`${root}/`))
      ? lastSegment(path)
      : path)
  return out
}

const redactValue = (value: unknown, depth: number): unknown => {
  if (typeof value === "string") return redact(value)
  if (depth > 8 || typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, depth + 1)
  return out
}

/**
 * A persisted error record (a failed run's `error`) as it may go on the wire: the same
 * redaction as an envelope, so a node's stack trace stays in the database and the logs.
 */
export const redactErrorRecord = <R extends { readonly type: string; readonly message: string; readonly details: { readonly [key: string]: unknown } }>(record: R): R => ({
  ...record,
  message: redact(record.message),
  details: redactValue(record.details, 0) as R["details"]
})

/**
 * The envelope body for an error: `message` is the one-line rendering, `details` the
 * error's typed fields (its own `message` included), enough to rebuild the typed error.
 * No envelope carries a stack trace or a server file path (`redact`): those belong in
 * the server's log.
 */
export const envelopeOf = (error: StargraphError) => {
  const record = toErrorRecord(error)
  // The terminal's advice for an unknown run (stargraph list --db …) does not fit an HTTP client.
  // It goes in `details.fix` too, as other errors' fixes do (CheckpointError has no `fix`
  // field: a client rebuilding the typed error from `details` passes over it).
  const unknownRunFix = error._tag === "CheckpointError" && error.reason === "unknown-run" ? "GET /v1/runs lists this server's runs" : undefined
  const message = unknownRunFix !== undefined ? `CheckpointError[unknown-run]: ${error.message} (fix: ${unknownRunFix})` : record.message
  return {
    error: {
      type: record.type,
      message: redact(message),
      details: redactValue({ ...record.details, ...(unknownRunFix !== undefined ? { fix: unknownRunFix } : {}), message: error.message }, 0) as { readonly [key: string]: unknown }
    }
  }
}
