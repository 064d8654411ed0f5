/**
 * The chained audit log as a library: byte compatibility with the original's format (a
 * log its rule runtime wrote, in fixtures/, verifies here and our writer continues it;
 * canonical JSON as Python writes it), and fail-closed appends when the chain breaks
 * under an open log.
 */
import { appendFileSync, copyFileSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { canonicalJson, verifyAuditChain } from "../../src/telemetry/AuditChain.js"
import { AuditSink, chained } from "../../src/telemetry/AuditSink.js"
import { loadOrCreateSigner, openChainedAuditLog } from "../../src/telemetry/ChainedAuditLog.js"
import { tempDir } from "../helpers/cli.js"

const FIXTURES = join(import.meta.dirname, "fixtures")
const fixture = (name: string) => join(FIXTURES, name)

/** A copy of the original's log (genesis, two records, a checkpoint, one more record) and its key. */
const originalCopy = () => {
  const dir = tempDir("stargraph-chain-lib-")
  const log = join(dir, "audit.jsonl")
  copyFileSync(fixture("original-chain.jsonl"), log)
  copyFileSync(fixture("original-chain.jsonl.pub.pem"), `${log}.pub.pem`)
  copyFileSync(fixture("original-chain.key"), join(dir, "audit.key"))
  return { dir, log, key: join(dir, "audit.key") }
}

const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l.length > 0)

describe("the original's chained format", () => {
  it("a log the original wrote (Python floats like 1.0, escaped non-ASCII, a checkpoint) verifies, with its anchor token and head", () => {
    const log = readFileSync(fixture("original-chain.jsonl"))
    const pem = readFileSync(fixture("original-chain.jsonl.pub.pem"), "utf8")
    const anchorToken = readFileSync(fixture("original-chain.anchor"), "utf8").trim()
    const result = verifyAuditChain(log, pem, { anchorToken, expectedHead: "b56341d643325eb5e23bddd4f66a3e6e4ce03fcfa7f76a0cd49b25867d5961fd" })
    expect(result).toMatchObject({ ok: true, count: 3, head_seq: 4, anchor_ok: true, error: null })
    // Cut after the checkpoint's line: the head and the token no longer hold.
    const cut = Buffer.from(lines(fixture("original-chain.jsonl")).slice(0, 3).map((l) => l + "\n").join(""))
    expect(verifyAuditChain(cut, pem, { anchorToken })).toMatchObject({ ok: false, anchor_ok: false })
  })

  it("canonical JSON is byte for byte what the original's Python writes", () => {
    // Printed by the original's _canonical (json.dumps(sort_keys=True, separators=(",", ":"))).
    const python = "{\"a\":\"h\\u00e9llo \\u2603 \\ud83d\\ude00\\u007f\\u2028\\n\",\"b\":[1,2.5,{\"a\":true,\"z\":null}],\"big\":1e+21,\"n\":-0.0001,\"small\":1e-05,\"tiny\":1.5e-07,\"\\u00e9\":1}"
    expect(canonicalJson({ b: [1, 2.5, { z: null, a: true }], a: "héllo ☃ 😀\u007f\u2028\n", small: 1e-5, tiny: 1.5e-7, big: 1e21, n: -0.0001, é: 1 })).toBe(python)
  })

  it("our writer continues a log the original started (its key): one chain that still verifies", async () => {
    const { key, log } = originalCopy()
    await Effect.runPromise(Effect.gen(function*() {
      const chain = yield* openChainedAuditLog(log, yield* loadOrCreateSigner(key))
      yield* chain.append({ event: "from.stargraph-ts", ratio: 0.5 })
      yield* chain.close
    }))
    expect(lines(log)).toHaveLength(6)
    expect(verifyAuditChain(readFileSync(log), readFileSync(`${log}.pub.pem`))).toMatchObject({ ok: true, count: 4, head_seq: 5 })
  })
})

describe("fail closed", () => {
  it("opened as an existing log, an empty file is refused (no genesis written), and a chained one goes on", async () => {
    const dir = tempDir()
    const log = join(dir, "audit.jsonl")
    writeFileSync(log, "")
    const signer = await Effect.runPromise(loadOrCreateSigner(join(dir, "audit.key")))
    const refused = await Effect.runPromise(Effect.either(openChainedAuditLog(log, signer, { existing: true })))
    expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "AuditChainError", reason: "corrupt", message: "the log has no chain yet (it is empty)" })
    expect(readFileSync(log, "utf8")).toBe("")
    const { key, log: chainedLog } = originalCopy()
    const line = await Effect.runPromise(Effect.gen(function*() {
      const chain = yield* openChainedAuditLog(chainedLog, yield* loadOrCreateSigner(key), { existing: true })
      return yield* chain.checkpoint()
    }))
    expect(line.seq).toBeGreaterThan(0)
  })

  it("a line torn under an open log: every later append fails with AuditChainError naming the line, nothing appended", async () => {
    const { key, log } = originalCopy()
    const results = await Effect.runPromise(Effect.gen(function*() {
      const chain = yield* openChainedAuditLog(log, yield* loadOrCreateSigner(key))
      yield* chain.append({ event: "first" })
      appendFileSync(log, "{\"iat\":17")
      const torn = readFileSync(log)
      const second = yield* Effect.either(chain.append({ event: "second" }))
      const third = yield* Effect.either(chain.append({ event: "third" }))
      return { second, third, unchanged: readFileSync(log).equals(torn) }
    }))
    for (const r of [results.second, results.third]) {
      expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "AuditChainError", reason: "corrupt", line: 7 })
    }
    expect(results.unchanged).toBe(true)
  })

  it("the AuditSink layer fails on a broken chain at open; a write to a chain broken later is refused and logged, the caller goes on", async () => {
    const { key, log } = originalCopy()
    const signer = await Effect.runPromise(loadOrCreateSigner(key))
    const edited = lines(log)
    edited[2] = edited[2]!.replace("\"seq\":2", "\"seq\":9")
    const broken = join(tempDir(), "broken.jsonl")
    appendFileSync(broken, edited.map((l) => l + "\n").join(""))
    const open = await Effect.runPromise(Effect.either(Effect.asVoid(AuditSink).pipe(Effect.provide(chained(broken, signer)))))
    expect(Either.isLeft(open) && open.left).toMatchObject({ _tag: "AuditChainError", reason: "corrupt", line: 3 })

    const written = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const sink = yield* AuditSink
      yield* sink.write({ ts: "t", actor: "test", event: "ok" })
      appendFileSync(log, "not json\n")
      yield* sink.write({ ts: "t", actor: "test", event: "refused" })
      return lines(log)
    })).pipe(Effect.provide(chained(log, signer))))
    expect(written.filter((l) => l.includes("\"event\":\"ok\""))).toHaveLength(1)
    expect(written.some((l) => l.includes("refused"))).toBe(false)
  })
})
