/**
 * The writer of a chained audit log (format: AuditChain.ts). Each append takes the log's
 * lock (`<log>.lock`, created exclusively; a holder that died or held it over 10 s is
 * stale), reads what other writers appended since, checks it, signs and appends one line,
 * and fsyncs it; so several processes may append to one log and its chain holds. A log
 * whose lines do not chain (a torn write, an edit, another key) is never extended: the
 * open and every append fail with `AuditChainError`, and nothing is written.
 *
 * The signing key is an Ed25519 private key in a PEM file (PKCS#8). A missing key file is
 * created (atomically, mode 0600) and the public key is written beside the log as
 * `<log>.pub.pem` for `stargraph verify-audit`.
 */
import { randomUUID, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto"
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs"
import { hostname } from "node:os"
import { dirname } from "node:path"
import * as Effect from "effect/Effect"
import { AuditChainError } from "../errors.js"
import { advanceScan, canonicalJson, CHAIN_FORMAT_VERSION, CHAIN_ISSUER, CHECKPOINT_RECORD_TYPE, type ChainScan, emptyScan, GENESIS_RECORD_TYPE, keyFingerprint, scanChunk, sha256Hex, signJws, tornTail } from "./AuditChain.js"

/** An Ed25519 key pair that signs a chained log; `kid` is the public key's fingerprint. */
export interface AuditSigner {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  readonly kid: string
  /** The key file it came from, for messages. */
  readonly source: string
}

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause)).split("\n")[0]!

/** A signer from an Ed25519 private key PEM (PKCS#8). */
export const signerFromPem = (pem: string | Uint8Array, source = "key"): Effect.Effect<AuditSigner, AuditChainError> =>
  Effect.try({
    try: () => {
      const privateKey = createPrivateKey(typeof pem === "string" ? pem : Buffer.from(pem))
      if (privateKey.asymmetricKeyType !== "ed25519") throw new Error(`a ${privateKey.asymmetricKeyType ?? "non-asymmetric"} key, not Ed25519`)
      const publicKey = createPublicKey(privateKey)
      return { privateKey, publicKey, kid: keyFingerprint(publicKey), source }
    },
    catch: (cause) =>
      new AuditChainError({
        reason: "key",
        path: source,
        message: `not an Ed25519 private key: ${reasonOf(cause)}`,
        fix: "give the PEM file of an Ed25519 private key (openssl genpkey -algorithm ed25519 -out audit.key), or a path where none exists yet to have one created"
      })
  })

/**
 * The signer in key file `path`, created when missing: a new Ed25519 key written to a
 * temporary file with mode 0600, fsynced, then renamed into place (never over a key).
 */
export const loadOrCreateSigner = (path: string): Effect.Effect<AuditSigner, AuditChainError> =>
  Effect.suspend(() => {
    const existing = statSync(path, { throwIfNoEntry: false })
    if (existing !== undefined) {
      return Effect.flatMap(
        Effect.try({
          try: () => readFileSync(path),
          catch: (cause) => new AuditChainError({ reason: "key", path, message: `cannot read the audit key: ${reasonOf(cause)}`, fix: "give a key file this process may read" })
        }),
        (pem) => signerFromPem(pem, path)
      )
    }
    return Effect.flatMap(
      Effect.try({
        try: () => {
          mkdirSync(dirname(path), { recursive: true })
          const { privateKey } = generateKeyPairSync("ed25519")
          const pem = String(privateKey.export({ format: "pem", type: "pkcs8" }))
          const tmp = `${path}.${process.pid}.tmp`
          const fd = openSync(tmp, "wx", 0o600)
          try {
            writeSync(fd, pem)
            fsyncSync(fd)
          } finally {
            closeSync(fd)
          }
          // Another process may have created the key meanwhile: keep theirs.
          if (statSync(path, { throwIfNoEntry: false }) !== undefined) unlinkSync(tmp)
          else renameSync(tmp, path)
          return readFileSync(path)
        },
        catch: (cause) => new AuditChainError({ reason: "key", path, message: `cannot create the audit key: ${reasonOf(cause)}`, fix: "give a key path in a folder this process may write to" })
      }),
      (pem) => signerFromPem(pem, path)
    )
  })

/** One line appended: its position and hash (the new head), and its JWS. */
export interface ChainedLine {
  readonly seq: number
  readonly sha256: string
  readonly jws: string
}

/** An open chained log. */
export interface ChainedAuditLog {
  readonly path: string
  /** The path of the public key written beside the log. */
  readonly publicKeyPath: string
  /** Sign and append one record (an object); fails, writing nothing, when the chain is broken. */
  readonly append: (record: Readonly<Record<string, unknown>>) => Effect.Effect<ChainedLine, AuditChainError>
  /**
   * Append a checkpoint record pinning the head before it; its JWS is a token to keep
   * elsewhere (`verify-audit --anchor-token`) and its line hash a head (`--expected-head`).
   */
  readonly checkpoint: () => Effect.Effect<ChainedLine, AuditChainError>
  readonly close: Effect.Effect<void>
}

/** How long an append waits for another writer's lock before failing. */
const LOCK_WAIT_MS = 10_000
/** A lock older than this is stale (a holder holds it for one append). */
const LOCK_STALE_MS = 10_000
const READ_CHUNK = 1 << 20

const sleeper = new Int32Array(new SharedArrayBuffer(4))
const sleepSync = (ms: number) => Atomics.wait(sleeper, 0, 0, ms)

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Take `<log>.lock`; returns its release. Throws `AuditChainError` (locked) after {@link LOCK_WAIT_MS}. */
const lock = (path: string): (() => void) => {
  const lockPath = `${path}.lock`
  const me = `${process.pid}@${hostname()}`
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const fd = openSync(lockPath, "wx", 0o644)
      writeSync(fd, me)
      closeSync(fd)
      return () => unlinkSync(lockPath)
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== "EEXIST") throw cause
    }
    let holder: string
    let age: number
    try {
      holder = readFileSync(lockPath, "utf8")
      age = Date.now() - statSync(lockPath).mtimeMs
    } catch {
      continue // released meanwhile
    }
    const [pid, host] = holder.split("@")
    const dead = host === hostname() && pid !== undefined && /^\d+$/.test(pid) && !alive(Number(pid))
    if (dead || age > LOCK_STALE_MS) {
      try {
        // Rename, not unlink: of several waiters that saw it stale, one takes it away.
        const aside = `${lockPath}.stale-${randomUUID()}`
        renameSync(lockPath, aside)
        unlinkSync(aside)
      } catch {
        // gone already, or another waiter moved it
      }
      continue
    }
    if (Date.now() > deadline) {
      throw new AuditChainError({
        reason: "locked",
        path,
        message: `another writer (${holder || "unknown"}) has held ${lockPath} for ${Math.round(age)} ms`,
        fix: `check that no process is stuck writing this log; a lock left by a process that died is taken over after ${LOCK_STALE_MS / 1000} s`
      })
    }
    sleepSync(2)
  }
}

/**
 * Open (or start) the chained log at `path`, signed by `signer`: creates the file and its
 * folder, checks the lines there (fails on a broken chain, or a log another key started),
 * writes `<log>.pub.pem`, and on an empty log writes the genesis line.
 */
export const openChainedAuditLog = (
  path: string,
  signer: AuditSigner,
  options: {
    /** Refuse a log that has no chain yet (empty or missing) instead of starting one (`corrupt`). */
    readonly existing?: boolean
  } = {}
): Effect.Effect<ChainedAuditLog, AuditChainError> =>
  Effect.gen(function*() {
    const publicKeyPath = `${path}.pub.pem`
    const io = (what: string) => (cause: unknown) =>
      cause instanceof AuditChainError
        ? cause
        : new AuditChainError({ reason: "io", path, message: `cannot ${what}: ${reasonOf(cause)}`, fix: "give a log path in a folder this process may write to" })
    const file = yield* Effect.try({
      try: () => {
        mkdirSync(dirname(path), { recursive: true })
        return { fd: openSync(path, "a", 0o644), ino: 0, offset: 0, scan: emptyScan(), closed: false }
      },
      catch: io("open the audit log")
    })
    file.ino = fstatSync(file.fd).ino

    /** Read and check what was appended since `offset` (all of it for a new file). */
    const catchUp = () => {
      const current = statSync(path, { throwIfNoEntry: false })
      if (current === undefined || current.ino !== file.ino) {
        // Moved or removed (a chained log is not rotated: a new file would start an unlinked chain).
        throw new AuditChainError({
          reason: "corrupt",
          path,
          message: "the path no longer names the log this process opened (moved, removed or replaced)",
          fix: "do not rotate a chained audit log; restart the process to start a new chain at the path, or give another path"
        })
      }
      const size = fstatSync(file.fd).size
      if (size < file.offset) {
        file.scan.error = `the log was truncated from ${file.offset} to ${size} bytes`
        file.scan.errorLine = file.scan.count
      }
      const reader = openSync(path, "r")
      try {
        let position = file.offset
        let rest: Uint8Array = new Uint8Array(0)
        while (file.scan.error === null && position < size) {
          const chunk = Buffer.alloc(Math.min(READ_CHUNK, size - position))
          const n = readSync(reader, chunk, 0, chunk.length, position)
          if (n === 0) break
          position += n
          const bytes = rest.length > 0 ? Buffer.concat([rest, chunk.subarray(0, n)]) : chunk.subarray(0, n)
          rest = scanChunk(file.scan, bytes)
        }
        tornTail(file.scan, rest)
        if (file.scan.error === null) file.offset = size
      } finally {
        closeSync(reader)
      }
      const scan = file.scan
      if (scan.error !== null) {
        throw new AuditChainError({
          reason: "corrupt",
          path,
          ...(scan.errorLine !== null ? { line: scan.errorLine } : {}),
          message: `refusing to extend a broken chain: ${scan.error}`,
          fix: `see what happened to the log (stargraph verify-audit ${path}); keep it as evidence and start a new log at another path`
        })
      }
      if (scan.count > 0 && scan.genesisFingerprint !== signer.kid) {
        throw new AuditChainError({
          reason: "key",
          path,
          message: `the log was started with key ${scan.genesisFingerprint}, not ${signer.kid} (${signer.source})`,
          fix: "sign with the key that started this log, or start a new log at another path"
        })
      }
    }

    const write = (record: Readonly<Record<string, unknown>>, scan: ChainScan): ChainedLine => {
      const iat = Math.floor(Date.now() / 1000)
      const seq = scan.count
      const logId = seq === 0 ? (record["log_id"] as string) : scan.logId
      const claims = { iss: CHAIN_ISSUER, iat, seq, prev_sha256: scan.head, record_sha256: sha256Hex(canonicalJson(record)), log_id: logId, v: CHAIN_FORMAT_VERSION }
      const jws = signJws(claims, signer.privateKey, signer.kid)
      const line = canonicalJson({ iat, jws, prev_sha256: scan.head, record, seq, v: CHAIN_FORMAT_VERSION })
      const bytes = Buffer.from(line + "\n")
      let written = 0
      while (written < bytes.length) written += writeSync(file.fd, bytes, written)
      fsyncSync(file.fd)
      file.offset += bytes.length
      const sha256 = sha256Hex(line)
      advanceScan(scan, sha256, record["type"] !== GENESIS_RECORD_TYPE && record["type"] !== CHECKPOINT_RECORD_TYPE)
      if (seq === 0) {
        scan.logId = logId
        scan.genesisFingerprint = signer.kid
      }
      return { seq, sha256, jws }
    }

    /** Under the lock: catch up, start the chain on an empty log, then `then`. */
    const locked = <A>(what: string, then: (scan: ChainScan) => A): Effect.Effect<A, AuditChainError> =>
      Effect.try({
        try: () => {
          if (file.closed) throw new AuditChainError({ reason: "io", path, message: "the log was closed", fix: "open it again" })
          const release = lock(path)
          try {
            catchUp()
            if (file.scan.count === 0 && options.existing === true) {
              throw new AuditChainError({ reason: "corrupt", path, message: "the log has no chain yet (it is empty)", fix: "give a chained audit log that a run has written" })
            }
            if (file.scan.count === 0) {
              writeFileSync(publicKeyPath, signer.publicKey.export({ format: "pem", type: "spki" }))
              write({ type: GENESIS_RECORD_TYPE, log_id: randomUUID().replaceAll("-", ""), key_fingerprint: signer.kid }, file.scan)
            }
            return then(file.scan)
          } finally {
            release()
          }
        },
        catch: io(what)
      })

    yield* locked("open the audit log", () => undefined)
    // The log's own key (checked above): export it, so verify-audit finds it beside the log.
    yield* Effect.try({
      try: () => {
        const pem = signer.publicKey.export({ format: "pem", type: "spki" })
        if (statSync(publicKeyPath, { throwIfNoEntry: false }) === undefined || readFileSync(publicKeyPath, "utf8") !== pem) writeFileSync(publicKeyPath, pem)
      },
      catch: io(`write ${publicKeyPath}`)
    })
    return {
      path,
      publicKeyPath,
      append: (record) => locked("append to the audit log", (scan) => write(record, scan)),
      checkpoint: () =>
        locked("append a checkpoint", (scan) => write({ type: CHECKPOINT_RECORD_TYPE, head_seq: scan.count - 1, head_sha256: scan.head }, scan)),
      close: Effect.sync(() => {
        if (file.closed) return
        file.closed = true
        closeSync(file.fd)
      })
    }
  })
