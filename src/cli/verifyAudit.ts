/**
 * `stargraph verify-audit <log>`: verify a chained audit log offline (every line's hash
 * link and EdDSA signature, then the anchors given). Read-only. Exit codes, as the
 * original's: 0 the chain holds · 1 user error (no log, no public key, not a key) ·
 * 2 verification failed (the line at fault is named).
 */
import { Args, Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { readFileSync, statSync } from "node:fs"
import { formatError, InputError } from "../errors.js"
import { publicKeyFromPem, verifyAuditChain } from "../telemetry/AuditChain.js"
import { setExit } from "./exit.js"
import { json } from "./options.js"

/** Exit codes of `verify-audit` (the original's, not the other commands'). */
const VerifyExit = { valid: 0, userError: 1, invalid: 2 } as const

const userError = (field: string, message: string, fix: string) =>
  Effect.zipRight(Console.error(`error: ${formatError(new InputError({ field, message, fix }))}`), setExit(VerifyExit.userError))

const readable = (path: string): boolean => statSync(path, { throwIfNoEntry: false })?.isFile() === true

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
      if (!readable(pubkey)) {
        return yield* userError("--pubkey", `no public key at ${pubkey}`, "give the log's Ed25519 public key PEM with --pubkey (the writer puts it beside the log as <log>.pub.pem)")
      }
      const key = publicKeyFromPem(readFileSync(pubkey))
      if (key === undefined) return yield* userError("--pubkey", `${pubkey} is not an Ed25519 public key (PEM)`, "give the log's <log>.pub.pem, or export it: openssl pkey -in audit.key -pubout")
      const result = verifyAuditChain(readFileSync(o.log), key, {
        expectedHead: Option.getOrUndefined(o.expectedHead),
        anchorToken: Option.getOrUndefined(o.anchorToken)
      })
      if (o.json) yield* Console.log(JSON.stringify(result))
      else if (result.ok) {
        yield* Console.log(`chain valid: ${result.count} records, head_seq=${result.head_seq} head_sha256=${result.head_sha256}${result.anchor_ok === true ? " (anchor ok)" : ""}`)
      } else {
        yield* Console.error(`error: ${o.log}${result.error_line !== null ? `:${result.error_line}` : ""}: verification failed: ${result.error}`)
      }
      yield* setExit(result.ok ? VerifyExit.valid : VerifyExit.invalid)
    })
).pipe(
  Command.withDescription(
    "Verify a chained audit log offline: each line's hash link to the one before and its Ed25519 signature, then the anchors given (--expected-head, --anchor-token) that show a cut tail; exit 0 valid, 1 no log or key, 2 verification failed (the line named)"
  )
)
