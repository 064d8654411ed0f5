/**
 * The chained audit-log format (format version 1), shared with the original Stargraph
 * and its rule runtime so a log written by either verifies with the other. One JSON line
 * per record, keys sorted, no spaces, non-ASCII escaped (`\uXXXX`):
 *
 *     {"iat":…,"jws":"<EdDSA compact JWS>","prev_sha256":…,"record":{…},"seq":N,"v":1}
 *
 * `prev_sha256` is the SHA-256 (hex) of the previous line's bytes without its newline
 * (`null` on line 1); `seq` counts lines from 0. Line 1 is a genesis record
 * `{"type":"fathom.genesis","log_id":<uuid hex>,"key_fingerprint":<kid>}`. The JWS
 * (header `{"alg":"EdDSA","kid":<kid>,"typ":"JWT"}`, `kid` the SHA-256 hex of the raw
 * 32-byte public key) signs `{iss:"fathom-chain",iat,seq,prev_sha256,record_sha256,log_id,v}`,
 * `record_sha256` hashing the record's canonical JSON. A line must be exactly its canonical
 * serialization (the record's bytes as written, since the signature hashes them): an edit
 * of its bytes alone, spaces or key order, is refused at that line. An edit, a deleted or
 * reordered line breaks the hash links; without the private key nobody can re-sign a
 * consistent chain.
 * A truncated tail is only seen against a head mirrored elsewhere (`expectedHead`) or a
 * checkpoint token (`anchorToken`).
 *
 * Pure: bytes and keys in, a verdict out; no file is read here.
 */
import { createHash, createPublicKey, type KeyObject, sign, verify } from "node:crypto"

/** Format version written and accepted. */
export const CHAIN_FORMAT_VERSION = 1
/** The JWS `iss` of every chained line. */
export const CHAIN_ISSUER = "fathom-chain"
/** Record type of line 1. */
export const GENESIS_RECORD_TYPE = "fathom.genesis"
/** Record type of a checkpoint (its JWS is a portable anchor token). */
export const CHECKPOINT_RECORD_TYPE = "fathom.checkpoint"

const LINE_FIELDS = ["iat", "jws", "prev_sha256", "record", "seq", "v"] as const

/** SHA-256 hex of bytes or a string's UTF-8. */
export const sha256Hex = (data: Uint8Array | string): string => createHash("sha256").update(data).digest("hex")

/** The `kid` of a public key: SHA-256 hex of its raw 32 bytes. */
export const keyFingerprint = (publicKey: KeyObject): string => {
  const x = publicKey.export({ format: "jwk" }).x
  return sha256Hex(Buffer.from(x ?? "", "base64url"))
}

/** Compare strings by code point (Python's `sort_keys` order, not UTF-16 units). */
const byCodePoint = (a: string, b: string): number => {
  const ai = a[Symbol.iterator]()
  const bi = b[Symbol.iterator]()
  for (;;) {
    const x = ai.next()
    const y = bi.next()
    if (x.done === true) return y.done === true ? 0 : -1
    if (y.done === true) return 1
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!
    if (d !== 0) return d
  }
}

/** A number as Python's `json.dumps` writes it (`1e-05`, not `0.00001`; `1e-07`, not `1e-7`). */
const pythonNumber = (n: number): string => {
  if (!Number.isFinite(n)) return "null"
  if (Number.isInteger(n) || Math.abs(n) >= 1e-4) return JSON.stringify(n)
  const [mantissa, exponent] = n.toExponential().split("e") as [string, string]
  const e = Number(exponent)
  return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`
}

const asciiString = (s: string): string =>
  JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

const canonicalValue = (value: unknown): string => {
  if (value === null || typeof value === "boolean") return String(value)
  if (typeof value === "number") return pythonNumber(value)
  if (typeof value === "string") return asciiString(value)
  if (Array.isArray(value)) return `[${value.map(canonicalValue).join(",")}]`
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => byCodePoint(a, b))
  return `{${entries.map(([k, v]) => `${asciiString(k)}:${canonicalValue(v)}`).join(",")}}`
}

/**
 * Canonical JSON as the original computes it (Python `json.dumps(sort_keys=True,
 * separators=(",", ":"))`): keys sorted by code point, no spaces, non-ASCII as `\uXXXX`,
 * floats in Python's notation. The value goes through `JSON.stringify` first, so dates,
 * `undefined` fields and `toJSON` behave as they do in a plain JSONL line.
 */
export const canonicalJson = (value: unknown): string => {
  const plain: unknown = JSON.parse(JSON.stringify(value) ?? "null")
  return canonicalValue(plain)
}

/** The JSON text of top-level field `key` of object text `text`, as written (undefined if absent). */
export const rawField = (text: string, key: string): string | undefined => {
  let i = 0
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++
  }
  const skipString = () => {
    i++
    while (i < text.length && text[i] !== "\"") i += text[i] === "\\" ? 2 : 1
    i++
  }
  const skipValue = () => {
    const c = text[i]
    if (c === "\"") return skipString()
    if (c === "{" || c === "[") {
      let depth = 0
      do {
        const d = text[i]
        if (d === "\"") {
          skipString()
          continue
        }
        if (d === "{" || d === "[") depth++
        else if (d === "}" || d === "]") depth--
        i++
      } while (depth > 0 && i < text.length)
      return
    }
    while (i < text.length && !",}] \t\r\n".includes(text[i]!)) i++
  }
  ws()
  if (text[i] !== "{") return undefined
  i++
  for (;;) {
    ws()
    if (text[i] !== "\"") return undefined
    const keyStart = i
    skipString()
    const name: unknown = JSON.parse(text.slice(keyStart, i))
    ws()
    i++ // ':'
    ws()
    const start = i
    skipValue()
    if (name === key) return text.slice(start, i)
    ws()
    if (text[i] !== ",") return undefined
    i++
  }
}

/** Sign `claims` as a compact EdDSA JWS with header `{"alg":"EdDSA","kid":…,"typ":"JWT"}`. */
export const signJws = (claims: Record<string, unknown>, privateKey: KeyObject, kid: string): string => {
  const header = Buffer.from(JSON.stringify({ alg: "EdDSA", kid, typ: "JWT" })).toString("base64url")
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url")
  const signature = sign(null, Buffer.from(`${header}.${payload}`), privateKey).toString("base64url")
  return `${header}.${payload}.${signature}`
}

/** A verified JWS: its header and claims; or why it is not one. */
export type JwsCheck =
  | { readonly ok: true; readonly header: Record<string, unknown>; readonly claims: Record<string, unknown> }
  | { readonly ok: false; readonly reason: string }

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/** Verify a compact EdDSA JWS under `publicKey`. */
export const verifyJws = (token: string, publicKey: KeyObject): JwsCheck => {
  const parts = token.split(".")
  if (parts.length !== 3) return { ok: false, reason: "not a compact JWS (three dot-separated parts)" }
  const [h, p, s] = parts as [string, string, string]
  let header: unknown
  let claims: unknown
  try {
    header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"))
    claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"))
  } catch {
    return { ok: false, reason: "header or payload is not base64url JSON" }
  }
  if (!isObject(header) || header["alg"] !== "EdDSA") return { ok: false, reason: "algorithm is not EdDSA" }
  if (!isObject(claims)) return { ok: false, reason: "payload is not a JSON object" }
  const valid = (() => {
    try {
      return verify(null, Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, "base64url"))
    } catch {
      return false
    }
  })()
  if (!valid) return { ok: false, reason: "signature verification failed" }
  if ("iat" in claims && !Number.isInteger(claims["iat"])) return { ok: false, reason: "iat is not an integer" }
  return { ok: true, header, claims }
}

/** An Ed25519 public key from PEM (SPKI); undefined when it is not one. */
export const publicKeyFromPem = (pem: string | Uint8Array): KeyObject | undefined => {
  try {
    const key = createPublicKey(typeof pem === "string" ? pem : Buffer.from(pem))
    return key.asymmetricKeyType === "ed25519" ? key : undefined
  } catch {
    return undefined
  }
}

/** What a scan of a chained log found so far (mutable; one per scan). */
export interface ChainScan {
  /** Lines accepted (the next line's `seq`). */
  count: number
  /** Records accepted, genesis and checkpoints excepted. */
  records: number
  /** SHA-256 of the last accepted line (the head); null before line 1. */
  head: string | null
  logId: string | null
  genesisFingerprint: string | null
  error: string | null
  /** 1-based line of `error`. */
  errorLine: number | null
  /** The head before the last accepted line, and whether that line counted in `records`: to take it back. */
  previous: { readonly head: string | null; readonly record: boolean } | null
}

/** An empty scan, before line 1. */
export const emptyScan = (): ChainScan => ({ count: 0, records: 0, head: null, logId: null, genesisFingerprint: null, error: null, errorLine: null, previous: null })

/** Accept a line whose hash is `sha256` as the scan's new head (`record`: a record, not the genesis or a checkpoint). */
export const advanceScan = (scan: ChainScan, sha256: string, record: boolean): void => {
  scan.previous = { head: scan.head, record }
  scan.head = sha256
  scan.count++
  if (record) scan.records++
}

/** Take back the last accepted line (it turned out to be the one at fault). */
const retreatScan = (scan: ChainScan): void => {
  if (scan.previous === null) return
  scan.head = scan.previous.head
  scan.count--
  if (scan.previous.record) scan.records--
  scan.previous = null
}

/**
 * The canonical bytes of a chained line whose fields are `obj` and whose record is the
 * text `recordText` as written: the envelope as the writer serializes it (keys sorted, no
 * spaces, non-ASCII escaped), around the record's own bytes (those are pinned by the
 * signature's `record_sha256`, and kept as written so a record the original serialized,
 * Python floats like `1.0` included, stays as it is).
 */
const canonicalLine = (obj: Readonly<Record<string, unknown>>, recordText: string): string =>
  `{${LINE_FIELDS.map((f) => `${JSON.stringify(f)}:${f === "record" ? recordText : canonicalJson(obj[f])}`).join(",")}}`

/** The 1-based position of the first byte where `a` and `b` differ (both differ in length at least). */
const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i + 1
  return n + 1
}

/** What {@link checkLine} also checks and collects when verifying. */
export interface LineVerifier {
  readonly key: KeyObject
  readonly kid: string
  readonly hashes: Set<string>
  readonly tokens: Set<string>
}

/** What each signed claim of a line stands for, in messages. */
const CLAIM_NAMES: Readonly<Record<string, string>> = {
  iss: "its issuer (iss)",
  iat: "its time (iat)",
  seq: "its position (seq)",
  prev_sha256: "its hash link (prev_sha256)",
  record_sha256: "its record",
  log_id: "its log (log_id)",
  v: "its format version (v)"
}

const fail = (scan: ChainScan, lineno: number, error: string): false => {
  scan.error = error
  scan.errorLine = lineno
  return false
}

/**
 * Check line `count + 1` (its bytes without the newline) against the scan: shape, version,
 * `seq`, `prev_sha256`, the genesis record on line 1, and with `verifier` its JWS (`kid`,
 * signature, claims exactly). Advances the scan, or records the error and returns false.
 */
export const checkLine = (scan: ChainScan, line: Uint8Array, verifier?: LineVerifier): boolean => {
  const lineno = scan.count + 1
  const text = Buffer.from(line).toString("utf8")
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return fail(scan, lineno, `malformed line ${lineno}: not JSON (a torn write?)`)
  }
  if (!isObject(parsed) || !LINE_FIELDS.every((f) => f in parsed)) return fail(scan, lineno, `malformed line ${lineno}: not a chained line (needs ${LINE_FIELDS.join(", ")})`)
  const obj = parsed
  if (obj["v"] !== CHAIN_FORMAT_VERSION) return fail(scan, lineno, `line ${lineno}: format version ${JSON.stringify(obj["v"])}, this reader knows ${CHAIN_FORMAT_VERSION}`)
  // The line's bytes must be exactly what the writer wrote: a change that keeps every value
  // (spaces, key order, escapes, a duplicate key) would change the line's hash, the next
  // line's link and the head, yet leave the signed content as it was.
  const recordText = rawField(text, "record")
  const canonical = recordText === undefined ? undefined : Buffer.from(canonicalLine(obj, recordText), "utf8")
  if (canonical === undefined || !canonical.equals(line)) {
    const at = canonical === undefined ? "" : ` (byte ${firstDifference(canonical, line)} differs from the writer's serialization)`
    return fail(scan, lineno, `line ${lineno} is not in canonical form: its bytes were changed after it was written${at}`)
  }
  if (obj["seq"] !== scan.count) return fail(scan, lineno, `line ${lineno}: seq ${JSON.stringify(obj["seq"])} where ${scan.count} belongs (a line deleted or moved)`)
  const linked = obj["prev_sha256"] === scan.head
  const link = `prev_sha256 ${JSON.stringify(obj["prev_sha256"])}, not the hash of line ${lineno - 1} (${JSON.stringify(scan.head)})`
  if (!linked && (verifier === undefined || lineno === 1)) {
    // Unsigned (or on line 1, which links to nothing): the link alone cannot tell which line changed.
    return fail(
      scan,
      lineno,
      lineno === 1
        ? `broken chain at line 1: the first line links to nothing, yet has prev_sha256 ${JSON.stringify(obj["prev_sha256"])}`
        : `broken chain at line ${lineno}: ${link}: either line ${lineno - 1}'s bytes changed after line ${lineno} was written, or line ${lineno}'s prev_sha256 was changed (verify its signature to tell which: stargraph verify-audit)`
    )
  }
  const record = obj["record"]
  if (scan.count === 0) {
    if (!isObject(record) || record["type"] !== GENESIS_RECORD_TYPE || typeof record["log_id"] !== "string" || typeof record["key_fingerprint"] !== "string") {
      return fail(scan, 1, `malformed line 1: not a genesis record (${GENESIS_RECORD_TYPE})`)
    }
    scan.logId = record["log_id"]
    scan.genesisFingerprint = record["key_fingerprint"]
    if (verifier !== undefined && scan.genesisFingerprint !== verifier.kid) return fail(scan, 1, `line 1: the log was started with key ${scan.genesisFingerprint}, not this public key (${verifier.kid})`)
  }
  if (verifier !== undefined) {
    const jws = obj["jws"]
    const checked = typeof jws === "string" ? verifyJws(jws, verifier.key) : { ok: false as const, reason: "jws is not a string" }
    if (!checked.ok) return fail(scan, lineno, `invalid signature at line ${lineno}: ${checked.reason}`)
    if (checked.header["kid"] !== verifier.kid) return fail(scan, lineno, `line ${lineno}: signed with kid ${JSON.stringify(checked.header["kid"])}, expected ${verifier.kid}`)
    const expected: Record<string, unknown> = {
      iss: CHAIN_ISSUER,
      iat: obj["iat"],
      seq: obj["seq"],
      prev_sha256: obj["prev_sha256"],
      record_sha256: sha256Hex(recordText ?? "null"),
      log_id: scan.logId,
      v: CHAIN_FORMAT_VERSION
    }
    const claims = checked.claims
    const differ = [...new Set([...Object.keys(claims), ...Object.keys(expected)])].filter((k) => claims[k] !== expected[k])
    if (differ.length > 0) {
      const what = differ.map((k) => CLAIM_NAMES[k] ?? `claim ${k}`).join(", ")
      return fail(scan, lineno, `line ${lineno}: the signed claims do not match the line: ${what} not as signed (the line was changed after it was signed, or comes from another log)`)
    }
    if (!linked) {
      // Line `lineno` is authentic, its prev_sha256 included: the line before it is not the one it was chained to.
      retreatScan(scan)
      return fail(
        scan,
        lineno - 1,
        `line ${lineno - 1}'s bytes changed after line ${lineno} was written: line ${lineno} is signed with ${link}`
      )
    }
    verifier.tokens.add(jws as string)
  }
  const sha256 = sha256Hex(line)
  advanceScan(scan, sha256, !(isObject(record) && (record["type"] === GENESIS_RECORD_TYPE || record["type"] === CHECKPOINT_RECORD_TYPE)))
  verifier?.hashes.add(sha256)
  return true
}

/**
 * Feed `bytes` (a chunk of the log) to the scan, line by line; returns the bytes after the
 * last newline (a line still being read, or a torn tail) for the next chunk. Stops at the
 * first bad line.
 */
export const scanChunk = (scan: ChainScan, bytes: Uint8Array, verifier?: LineVerifier): Uint8Array => {
  let start = 0
  for (;;) {
    if (scan.error !== null) return new Uint8Array(0)
    const end = bytes.indexOf(0x0a, start)
    if (end < 0) return bytes.subarray(start)
    checkLine(scan, bytes.subarray(start, end), verifier)
    start = end + 1
  }
}

/** Record a torn tail (bytes after the last newline) as the scan's error. */
export const tornTail = (scan: ChainScan, rest: Uint8Array): void => {
  if (scan.error === null && rest.length > 0) fail(scan, scan.count + 1, `malformed line ${scan.count + 1}: no newline at its end (a torn write)`)
}

/** The verdict of {@link verifyAuditChain}; snake_case, as `verify-audit --json` prints it. */
export interface AuditChainVerification {
  readonly ok: boolean
  /** Records verified (the genesis and checkpoint records not counted). */
  readonly count: number
  readonly head_seq: number | null
  readonly head_sha256: string | null
  readonly error: string | null
  /** 1-based line of the first bad line. */
  readonly error_line: number | null
  /** Whether the anchors given hold; null when none was given. */
  readonly anchor_ok: boolean | null
  readonly log_id: string | null
}

/** Options of {@link verifyAuditChain}. */
export interface VerifyAuditChainOptions {
  /** A line hash mirrored elsewhere earlier: it must still be in the log (else its tail was cut). */
  readonly expectedHead?: string | undefined
  /** A checkpoint record's JWS: valid under the key, and still in the log. */
  readonly anchorToken?: string | undefined
}

/**
 * Verify a whole chained log offline: every line's shape, link and signature under
 * `publicKey` (an Ed25519 key or its PEM), then the anchors given. Never throws on the
 * log's content; an unusable key is a verdict with `error` and no line.
 */
export const verifyAuditChain = (log: Uint8Array, publicKey: KeyObject | string | Uint8Array, options: VerifyAuditChainOptions = {}): AuditChainVerification => {
  const key = typeof publicKey === "string" || publicKey instanceof Uint8Array ? publicKeyFromPem(publicKey) : publicKey
  const scan = emptyScan()
  const verdict = (error: string | null, anchorOk: boolean | null): AuditChainVerification => ({
    ok: error === null,
    count: scan.records,
    head_seq: scan.count > 0 ? scan.count - 1 : null,
    head_sha256: scan.head,
    error,
    error_line: scan.errorLine,
    anchor_ok: anchorOk,
    log_id: scan.logId
  })
  if (key === undefined || key.asymmetricKeyType !== "ed25519") return verdict("the public key is not an Ed25519 key (PEM, SubjectPublicKeyInfo)", null)
  const verifier: LineVerifier = { key, kid: keyFingerprint(key), hashes: new Set(), tokens: new Set() }
  tornTail(scan, scanChunk(scan, log, verifier))
  if (scan.error !== null) return verdict(scan.error, null)
  if (scan.count === 0) {
    scan.errorLine = 1
    return verdict("the log is empty: a chained log starts with its genesis line", null)
  }
  const anchored = options.anchorToken !== undefined || options.expectedHead !== undefined
  let anchorError: string | null = null
  if (options.anchorToken !== undefined) {
    const checked = verifyJws(options.anchorToken, key)
    if (!checked.ok) anchorError = `the anchor token does not verify: ${checked.reason}`
    else if (!verifier.tokens.has(options.anchorToken)) anchorError = "the anchor token's checkpoint line is not in the log (its tail was cut?)"
  }
  if (anchorError === null && options.expectedHead !== undefined && !verifier.hashes.has(options.expectedHead)) {
    anchorError = `expected head ${options.expectedHead} is not the hash of any line (the tail after line ${scan.count} was cut?)`
  }
  return verdict(anchorError, anchored ? anchorError === null : null)
}
