/**
 * `stargraph audit-anchor <log> --audit-key <key>`: append a checkpoint record to a
 * chained audit log (the head it pins, signed with the log's key) and print its anchor:
 * the record's JWS (for `verify-audit --anchor-token`) and its line hash (for
 * `--expected-head`). Kept outside the log's machine, either shows a later cut of the
 * tail. Appends under the log's lock, so it may run while a writer has the log open.
 */
import { Args, Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { readFileSync } from "node:fs"
import { InputError } from "../errors.js"
import { openChainedAuditLog, signerFromPem } from "../telemetry/ChainedAuditLog.js"
import { firstLine, isPlainAuditLine, readable } from "./auditLogFile.js"
import { reportError } from "./exit.js"
import { json } from "./options.js"

const refuse = (field: string, message: string, fix: string) => reportError(new InputError({ field, message, fix }))

/** The `audit-anchor` command. */
export const auditAnchor = Command.make(
  "audit-anchor",
  {
    log: Args.text({ name: "log" }).pipe(Args.withDescription("the chained audit log (written with --audit-log and --audit-key)")),
    key: Options.text("audit-key").pipe(
      Options.optional,
      Options.withDescription("the Ed25519 private key (PEM) the log was started with (default: $STARGRAPH_AUDIT_KEY)")
    ),
    json: json("the anchor (seq, head_seq, line_sha256, anchor_token)")
  },
  (o) =>
    Effect.gen(function*() {
      const keyPath = Option.getOrElse(o.key, () => process.env["STARGRAPH_AUDIT_KEY"] ?? "")
      if (!readable(o.log)) {
        return yield* refuse("<log>", `no audit log at ${o.log}`, "give the path of a chained audit log (a checkpoint never starts a new one)")
      }
      const first = firstLine(o.log)
      if (first === undefined || first === "") return yield* refuse("<log>", `${o.log} is empty`, "give a chained audit log that a run has written")
      if (isPlainAuditLine(first)) {
        return yield* refuse(
          "<log>",
          `${o.log} is a plain audit log, written without --audit-key: it has no chain to pin`,
          "give a chained audit log (written with --audit-log and --audit-key)"
        )
      }
      if (keyPath === "") return yield* refuse("--audit-key", "no signing key given", "pass --audit-key <the key the log was started with>, or set STARGRAPH_AUDIT_KEY")
      if (!readable(keyPath)) {
        return yield* refuse("--audit-key", `no key file at ${keyPath}`, "give the Ed25519 private key the log was started with (a checkpoint never creates a key)")
      }
      const pem = yield* Effect.either(Effect.try({
        try: () => readFileSync(keyPath),
        catch: (e) =>
          new InputError({ field: "--audit-key", message: `cannot read the key file ${keyPath}: ${e instanceof Error ? e.message : String(e)}`, fix: "give a key file this user may read" })
      }))
      if (pem._tag === "Left") return yield* reportError(pem.left)
      const outcome = yield* Effect.either(
        Effect.flatMap(signerFromPem(pem.right, keyPath), (signer) =>
          Effect.acquireUseRelease(openChainedAuditLog(o.log, signer, { existing: true }), (log) => log.checkpoint(), (log) => log.close))
      )
      if (outcome._tag === "Left") return yield* reportError(outcome.left)
      const line = outcome.right
      const anchor = { seq: line.seq, head_seq: line.seq - 1, line_sha256: line.sha256, anchor_token: line.jws }
      if (o.json) return yield* Console.log(JSON.stringify(anchor))
      yield* Console.log(`checkpoint appended: seq=${line.seq} pins head_seq=${line.seq - 1}`)
      yield* Console.log(`expected_head=${line.sha256}`)
      yield* Console.log(`anchor_token=${line.jws}`)
    })
).pipe(
  Command.withDescription(
    "Append a signed checkpoint record to a chained audit log and print its anchor (the line's hash for verify-audit --expected-head, its JWS for --anchor-token); keep them off the machine to detect a later cut of the log's tail"
  )
)
