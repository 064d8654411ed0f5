/**
 * The audit sink: one JSON line per run event (and, later, per API action) with a
 * timestamp and an actor. The default sink discards; `AuditSink.jsonl(path)` appends
 * synchronously with `O_APPEND`, so no line is lost when the process stops;
 * `AuditSink.chained(path, signer)` writes a tamper-evident log (ChainedAuditLog.ts).
 */
import { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync, writeSync } from "node:fs"
import { dirname } from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type AuditChainError, formatError, InputError } from "../errors.js"
import { type AuditSigner, loadOrCreateSigner, openChainedAuditLog } from "./ChainedAuditLog.js"

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

/**
 * Tamper-evident audit sink: each record is a line of the chained log at `path` (hash
 * linked, signed by `signer`; see ChainedAuditLog.ts), appended under the log's lock and
 * fsynced. A log that cannot be opened or whose chain is broken fails the Layer with
 * `AuditChainError`. A record that cannot be appended later (the chain broke meanwhile, a
 * full disk) is logged as an error, each time, and the run goes on: nothing is appended
 * to a broken chain.
 */
export const chained = (path: string, signer: AuditSigner): Layer.Layer<AuditSink, AuditChainError> =>
  Layer.scoped(
    AuditSink,
    Effect.map(
      Effect.acquireRelease(openChainedAuditLog(path, signer), (log) => log.close),
      (log): AuditSinkShape => ({
        write: (record) =>
          log.append(record).pipe(
            Effect.asVoid,
            Effect.catchAll((error) => Effect.logError(`audit log ${path}: a line was not written: ${formatError(error)}`))
          )
      })
    )
  )

/** Where the CLI's audit log goes: a file, chained and signed when `key` names a key file. */
export interface AuditLogSpec {
  readonly path: string
  /** Ed25519 private key PEM (created, 0600, when missing): the log is chained. */
  readonly key?: string | undefined
}

/** The first line of `path` when it is a chained line (`jws` and `record` fields). */
const startsChained = (path: string): boolean => {
  try {
    const fd = openSync(path, "r")
    try {
      const head = Buffer.alloc(4096)
      const n = readSync(fd, head, 0, head.length, 0)
      const first = head.subarray(0, n).toString("utf8").split("\n")[0]!
      return /^\{"iat":\d+,"jws":"/.test(first)
    } finally {
      closeSync(fd)
    }
  } catch {
    return false
  }
}

/**
 * The CLI's audit log: {@link chained} with the key in `spec.key`, else {@link jsonl}.
 * Either refuses a file of the other kind: plain lines after chained ones would break the
 * chain, chained lines after plain ones would leave a file no verifier accepts.
 */
export const fromSpec = (spec: AuditLogSpec, field = "--audit-log"): Layer.Layer<AuditSink, InputError | AuditChainError> =>
  Layer.unwrapEffect(Effect.sync(() => chooseSink(spec, field)))

const chooseSink = (spec: AuditLogSpec, field: string): Layer.Layer<AuditSink, InputError | AuditChainError> => {
  const size = statSync(spec.path, { throwIfNoEntry: false })?.size ?? 0
  const isChained = size > 0 && startsChained(spec.path)
  if (spec.key === undefined) {
    return isChained
      ? Layer.fail(new InputError({ field, message: `${spec.path} is a chained (signed) audit log: plain lines would break its chain`, fix: "pass its signing key (--audit-key, or STARGRAPH_AUDIT_KEY), or another path" }))
      : jsonl(spec.path, field)
  }
  if (size > 0 && !isChained) {
    return Layer.fail(new InputError({ field, message: `${spec.path} is a plain JSONL audit log: a chain cannot start in the middle of it`, fix: "give a new path for the chained log (keep the plain one as it is), or drop --audit-key" }))
  }
  const key = spec.key
  return Layer.unwrapEffect(Effect.map(loadOrCreateSigner(key), (signer) => chained(spec.path, signer)))
}
