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

describe("which line is at fault", () => {
  /** The original's log forked: copies `a` and `b` of it, each continued by our writer with its own records. */
  const forked = async () => {
    const a = originalCopy()
    const b = originalCopy()
    await Effect.runPromise(Effect.gen(function*() {
      const signer = yield* loadOrCreateSigner(a.key)
      const left = yield* openChainedAuditLog(a.log, signer)
      yield* left.append({ event: "a.first", n: 1 })
      yield* left.append({ event: "a.second", n: 2 })
      yield* left.close
      const right = yield* openChainedAuditLog(b.log, signer)
      yield* right.append({ event: "b.first", n: 1 })
      yield* right.close
    }))
    return { a, b }
  }

  it("a signed line whose link misses the line before: the line before is named (its bytes changed after the signed line was written)", async () => {
    const { a, b } = await forked()
    // Line 6 is b's (signed, in canonical form, in place), line 7 is a's: its signed prev_sha256 is the hash of a's line 6.
    const spliced = [...lines(a.log).slice(0, 5), lines(b.log)[5]!, lines(a.log)[6]!]
    writeFileSync(a.log, spliced.map((l) => l + "\n").join(""))
    const result = verifyAuditChain(readFileSync(a.log), readFileSync(`${a.log}.pub.pem`))
    expect(result).toMatchObject({ ok: false, error_line: 6, head_seq: 4, count: 3 })
    expect(result.error).toMatch(/^line 6's bytes changed after line 7 was written: line 7 is signed with prev_sha256 "[0-9a-f]{64}", not the hash of line 6 \("[0-9a-f]{64}"\)$/)
    // The writer checks no signature: it cannot tell which of the two changed, and says so.
    const signer = await Effect.runPromise(loadOrCreateSigner(a.key))
    const refused = await Effect.runPromise(Effect.either(openChainedAuditLog(a.log, signer)))
    expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "AuditChainError", reason: "corrupt", line: 7 })
    expect(Either.isLeft(refused) && refused.left.message).toContain("broken chain at line 7: prev_sha256 ")
    expect(Either.isLeft(refused) && refused.left.message).toContain("either line 6's bytes changed after line 7 was written, or line 7's prev_sha256 was changed")
    // The fork the line came from verifies alone.
    expect(verifyAuditChain(readFileSync(b.log), readFileSync(`${b.log}.pub.pem`))).toMatchObject({ ok: true, head_seq: 5 })
  })

  it("a whitespace edit of a middle line is named at that line by the verifier and by the writer", async () => {
    const { key, log } = originalCopy()
    const edited = lines(log)
    edited[2] = edited[2]!.replace("\"prev_sha256\":", "\"prev_sha256\" :")
    writeFileSync(log, edited.map((l) => l + "\n").join(""))
    const result = verifyAuditChain(readFileSync(log), readFileSync(`${log}.pub.pem`))
    expect(result).toMatchObject({ ok: false, error_line: 3, head_seq: 1 })
    expect(result.error).toMatch(/^line 3 is not in canonical form: its bytes were changed after it was written \(byte \d+ differs/)
    const refused = await Effect.runPromise(Effect.either(Effect.flatMap(loadOrCreateSigner(key), (signer) => openChainedAuditLog(log, signer))))
    expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "AuditChainError", reason: "corrupt", line: 3 })
    expect(Either.isLeft(refused) && refused.left.message).toContain("line 3 is not in canonical form")
  })

  it("every line our writer writes is in canonical form: genesis, records of every JSON shape, checkpoints", async () => {
    const dir = tempDir("stargraph-chain-canonical-")
    const log = join(dir, "audit.jsonl")
    await Effect.runPromise(Effect.gen(function*() {
      const chain = yield* openChainedAuditLog(log, yield* loadOrCreateSigner(join(dir, "audit.key")))
      yield* chain.append({ z: 1, a: "héllo ☃ 😀 \u2028\n\"", nested: { b: [1, 2.5, -0, 1e-7, 1e21, null, true], a: {} }, skipped: undefined, at: new Date(0), "é": "k" })
      yield* chain.checkpoint()
      yield* chain.append({ event: "answer.refused", response_sha256: `sha256:${"0".repeat(64)}`, small: 0.0001, tiny: 1e-5 })
      yield* chain.close
    }))
    expect(lines(log)).toHaveLength(4)
    expect(verifyAuditChain(readFileSync(log), readFileSync(`${log}.pub.pem`))).toMatchObject({ ok: true, count: 2, head_seq: 3 })
  })
})
