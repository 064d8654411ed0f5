/**
 * The audit sink: one JSON line per run event (and, later, per API action) with a
 * timestamp and an actor. The default sink discards; `AuditSink.jsonl(path)` appends
 * synchronously with `O_APPEND`, so no line is lost when the process stops.
 */
import { closeSync, fstatSync, mkdirSync, openSync, statSync, writeSync } from "node:fs"
import { dirname } from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { InputError } from "../errors.js"

/** One audit line. `event` names what happened; the rest is the event's own fields. */
export interface AuditRecord {
  readonly ts: string
  readonly actor: string
  readonly event: string
  readonly [field: string]: unknown
}

/** Where audit records go. */
export interface AuditSinkShape {
  readonly write: (record: AuditRecord) => Effect.Effect<void>
}

/** The sink that discards every record (the default). Emitters skip building records for it. */
export const discard: AuditSinkShape = { write: () => Effect.void }

/** The audit sink service; defaults to {@link discard}. */
export class AuditSink extends Context.Reference<AuditSink>()("stargraph/AuditSink", {
  defaultValue: (): AuditSinkShape => discard
}) {}

/** How often the sink checks that its path still names the file it writes (log rotation). */
const ROTATION_CHECK_MS = 1_000

/** The message of a file-system error without its stack (`ENOSPC: no space left on device, write`). */
const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause)).split("\n")[0]!

/**
 * Append-only JSONL file sink. The file (and its folder) is created if missing; one that
 * cannot be opened is an `InputError` at `field` (default `path`; the CLI names its
 * `--audit-log`). A line that cannot be written (a full disk) is lost, not the run: the
 * failure is logged once, and again when lines go through once more.
 */
export const jsonl = (path: string, field = "path"): Layer.Layer<AuditSink, InputError> =>
  Layer.scoped(
    AuditSink,
    Effect.acquireRelease(
      Effect.try({
        try: () => {
          mkdirSync(dirname(path), { recursive: true })
          // The file written now: another one once the path was rotated (see `follow`).
          return { fd: openSync(path, "a") }
        },
        catch: (cause) =>
          new InputError({
            field,
            message: `cannot open the audit log ${path}: ${reasonOf(cause)}`,
            fix: "pass the path of a file (created if missing) in a folder this process may write to"
          })
      }),
      (file) => Effect.sync(() => closeSync(file.fd))
    ).pipe(
      Effect.map((file): AuditSinkShape => {
        let failing = false
        let checkedAt = Date.now()
        /**
         * Follow the path when the file was renamed or removed (logrotate's default moves it
         * away): at most once a second, the path is compared with the open file, and a new
         * file is opened at the path when they differ.
         */
        const follow = () => {
          const now = Date.now()
          if (now - checkedAt < ROTATION_CHECK_MS) return
          checkedAt = now
          const current = statSync(path, { throwIfNoEntry: false })
          const open = fstatSync(file.fd)
          if (current !== undefined && current.ino === open.ino && current.dev === open.dev) return
          const next = openSync(path, "a")
          closeSync(file.fd)
          file.fd = next
        }
        return {
          write: (record) =>
            Effect.suspend(() => {
              try {
                follow()
                writeSync(file.fd, JSON.stringify(record) + "\n")
              } catch (cause) {
                if (failing) return Effect.void
                failing = true
                return Effect.logError(`audit log ${path}: a line could not be written (${reasonOf(cause)}); audit lines are lost until it can be written again, the runs go on`)
              }
              if (!failing) return Effect.void
              failing = false
              return Effect.logWarning(`audit log ${path}: lines are written again`)
            })
        }
      })
    )
  )
