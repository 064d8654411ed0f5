/**
 * `stargraph verify-audit <log>`: verify a chained audit log offline (every line's bytes,
 * hash link and EdDSA signature, then the anchors given; the line named is the one that
 * changed). Read-only. Exit codes, as the
 * original's: 0 the chain holds · 1 user error (no log, a plain log, no public key, not
 * a key, an `--expected-head` that is no SHA-256 hex, and every argument error: an empty
 * or missing value, an unknown flag) · 2 verification failed (the line at fault is named).
 */
import { Args, Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { createPrivateKey } from "node:crypto"
import { readFileSync } from "node:fs"
import { formatError, InputError } from "../errors.js"
import { publicKeyFromPem, verifyAuditChain } from "../telemetry/AuditChain.js"
import { isPlainAuditLine, firstLine, readable } from "./auditLogFile.js"
import { setExit } from "./exit.js"
import { json } from "./options.js"
import { counted } from "./counted.js"

/**
 * Exit codes of `verify-audit` (the original's, not the other commands'): every bad input,
 * argument errors from the parser included (see `app.ts`), is `userError`, so `invalid`
 * always means the log failed verification.
 */
export const VerifyExit = { valid: 0, userError: 1, invalid: 2 } as const

const userError = (field: string, message: string, fix: string) =>
  Effect.zipRight(Console.error(`error: ${formatError(new InputError({ field, message, fix }))}`), setExit(VerifyExit.userError))

/** A line hash as `head_sha256` prints it: 64 hex digits (read case-insensitively). */
const SHA256_HEX = /^[0-9a-fA-F]{64}$/

/** Whether the PEM holds a private key (a public key's PEM does not parse as one). */
const isPrivateKeyPem = (pem: Uint8Array): boolean => {
  try {
    createPrivateKey(Buffer.from(pem))
    return true
  } catch {
    return false
  }
}

/** The `verify-audit` command. */
export const verifyAudit = Command.make(
  "verify-audit",
  {
    log: Args.text({ name: "log" }).pipe(Args.withDescription("the chained audit log (written with --audit-log and --audit-key)")),
    pubkey: Options.text("pubkey").pipe(
      Options.optional,
      Options.withDescription("the Ed25519 public key (PEM) the log must be signed with (default: <log>.pub.pem beside the log)")
    ),
    expectedHead: Options.text("expected-head").pipe(
      Options.optional,
      Options.withDescription("a line hash (head_sha256) kept elsewhere earlier: fails if no line has it, i.e. the tail was cut (default: none)")
    ),
    anchorToken: Options.text("anchor-token").pipe(
      Options.optional,
      Options.withDescription("a checkpoint record's JWS kept elsewhere: fails unless it verifies and its line is in the log (default: none)")
    ),
    json: json("the verdict (ok, count, head_seq, head_sha256, error, error_line, anchor_ok, log_id)")
  },
  (o) =>
    Effect.gen(function*() {
      const pubkey = Option.getOrElse(o.pubkey, () => `${o.log}.pub.pem`)
      if (!readable(o.log)) return yield* userError("<log>", `no audit log at ${o.log}`, "give the path of a chained audit log")
      const first = firstLine(o.log)
      if (first !== undefined && isPlainAuditLine(first)) {
        return yield* userError(
          "<log>",
          `${o.log} is a plain audit log, written without --audit-key: its lines are not chained or signed, there is no chain to verify`,
          "give a chained audit log (written with --audit-log and --audit-key); to make one, start a new log at another path with --audit-key"
        )
      }
      const expectedHead = Option.getOrUndefined(o.expectedHead)
      if (expectedHead !== undefined && !SHA256_HEX.test(expectedHead)) {
        return yield* userError(
          "--expected-head",
          `${JSON.stringify(expectedHead)} is not a line hash (64 hex digits)`,
          "pass a head_sha256 that verify-audit printed earlier (64 hex digits, no prefix)"
        )
      }
      if (!readable(pubkey)) {
        return yield* userError("--pubkey", `no public key at ${pubkey}`, "give the log's Ed25519 public key PEM with --pubkey (the writer puts it beside the log as <log>.pub.pem)")
      }
      const pem = readFileSync(pubkey)
      const key = publicKeyFromPem(pem)
      if (key === undefined) return yield* userError("--pubkey", `${pubkey} is not an Ed25519 public key (PEM)`, "give the log's <log>.pub.pem, or export it: openssl pkey -in audit.key -pubout")
      if (isPrivateKeyPem(pem)) {
        yield* Console.error(
          `warning: --pubkey: ${pubkey} is a private key (verifying with its public half): whoever can read it can re-sign a forged chain; keep it away from verifiers and give them its public key (openssl pkey -in ${pubkey} -pubout)`
        )
      }
      const result = verifyAuditChain(readFileSync(o.log), key, {
        expectedHead: expectedHead?.toLowerCase(),
        anchorToken: Option.getOrUndefined(o.anchorToken)
      })
      if (o.json) yield* Console.log(JSON.stringify(result))
      else if (result.ok) {
        yield* Console.log(`chain valid: ${counted(result.count, "record")}, head_seq=${result.head_seq} head_sha256=${result.head_sha256}${result.anchor_ok === true ? " (anchor ok)" : ""}`)
      } else {
        yield* Console.error(`error: ${o.log}${result.error_line !== null ? `:${result.error_line}` : ""}: verification failed: ${result.error}`)
      }
      yield* setExit(result.ok ? VerifyExit.valid : VerifyExit.invalid)
    })
).pipe(
  Command.withDescription(
    "Verify a chained audit log offline: each line's bytes (as the writer serializes it), its hash link to the one before and its Ed25519 signature, then the anchors given (--expected-head, --anchor-token) that show a cut tail; exit 0 valid, 1 bad input (no log or key, a plain log, a bad or missing flag value), 2 verification failed (the line named)"
  )
)
