/**
 * The audit sink: one JSON line per run event (and, later, per API action) with a
 * timestamp and an actor. The default sink discards; `AuditSink.jsonl(path)` appends
 * synchronously with `O_APPEND`, so no line is lost when the process stops.
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs"
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

/** The message of a file-system error without its stack (`ENOSPC: no space left on device, write`). */
const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause)).split("\n")[0]!

/**
 * Append-only JSONL file sink. The file (and its folder) is created if missing; one that
 * cannot be opened is an `InputError` at `--audit-log`. A line that cannot be written (a
 * full disk) is lost, not the run: the failure is logged once, and again when lines go
 * through once more.
 */
export const jsonl = (path: string): Layer.Layer<AuditSink, InputError> =>
  Layer.scoped(
    AuditSink,
    Effect.acquireRelease(
      Effect.try({
        try: () => {
          mkdirSync(dirname(path), { recursive: true })
          return openSync(path, "a")
        },
        catch: (cause) =>
          new InputError({
            field: "--audit-log",
            message: `cannot open the audit log ${path}: ${reasonOf(cause)}`,
            fix: "pass the path of a file (created if missing) in a folder this process may write to"
          })
      }),
      (fd) => Effect.sync(() => closeSync(fd))
    ).pipe(
      Effect.map((fd): AuditSinkShape => {
        let failing = false
        return {
          write: (record) =>
            Effect.suspend(() => {
              try {
                writeSync(fd, JSON.stringify(record) + "\n")
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
