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
import { CheckpointError } from "../errors.js"

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

/** Append-only JSONL file sink. The file (and its folder) is created if missing. */
export const jsonl = (path: string): Layer.Layer<AuditSink, CheckpointError> =>
  Layer.scoped(
    AuditSink,
    Effect.acquireRelease(
      Effect.try({
        try: () => {
          mkdirSync(dirname(path), { recursive: true })
          return openSync(path, "a")
        },
        catch: (cause) =>
          new CheckpointError({ reason: "storage-failure", filename: path, message: `cannot open audit log ${path}: ${String(cause)}` })
      }),
      (fd) => Effect.sync(() => closeSync(fd))
    ).pipe(
      Effect.map((fd): AuditSinkShape => ({
        write: (record) =>
          Effect.sync(() => {
            writeSync(fd, JSON.stringify(record) + "\n")
          })
      }))
    )
  )
