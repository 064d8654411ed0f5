/**
 * The chained audit log through the built CLI: `run --audit-log --audit-key` writes it,
 * `verify-audit` checks it (0 valid, 1 no log or key, 2 tampered, the line named), a
 * reopened log continues its chain, several processes append to one log, and a torn tail
 * stops every later write with nothing appended.
 */
import { appendFileSync, copyFileSync, cpSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { ROOT, stargraph, startStargraph, tempDir } from "../helpers/cli.js"

let work: string

beforeAll(() => {
  work = tempDir("stargraph-verify-audit-")
  cpSync(join(ROOT, "examples", "hello"), join(work, "hello"), { recursive: true })
})

/** A chained log in a fresh folder, written by `runs` runs of hello. */
const chainedLog = async (runs = 1): Promise<{ dir: string; log: string; key: string }> => {
  const dir = tempDir("stargraph-chain-")
  const log = join(dir, "audit.jsonl")
  const key = join(dir, "audit.key")
  for (let i = 0; i < runs; i++) {
    const r = await stargraph(["run", "hello/graph.yaml", "--inputs", `message=m${i}`, "--db", join(dir, "db.sqlite"), "--audit-log", log, "--audit-key", key, "--quiet"], { cwd: work })
    expect(r.code, r.stderr).toBe(0)
  }
  return { dir, log, key }
}

const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l.length > 0)
const rewrite = (path: string, next: ReadonlyArray<string>) => writeFileSync(path, next.map((l) => l + "\n").join(""))
const verify = (args: ReadonlyArray<string>) => stargraph(["verify-audit", ...args], { cwd: work })

describe("stargraph run --audit-key + verify-audit", () => {
  it("a run writes a chained, signed log (key 0600, public key beside the log) that verifies", async () => {
    const { key, log } = await chainedLog()
    expect(statSync(key).mode & 0o777).toBe(0o600)
    expect(existsSync(`${log}.pub.pem`)).toBe(true)
    const all = lines(log).map((l) => JSON.parse(l) as { seq: number; prev_sha256: string | null; record: { type?: string; event?: string }; jws: string })
    expect(all[0]!.record.type).toBe("fathom.genesis")
    expect(all[0]!.prev_sha256).toBeNull()
    expect(all.map((l) => l.seq)).toEqual(all.map((_, i) => i))
    expect(all.map((l) => l.record.event)).toContain("run.finished")
    const r = await verify([log])
    expect(r.code, r.stderr).toBe(0)
    expect(r.last).toMatch(new RegExp(`^chain valid: ${all.length - 1} records, head_seq=${all.length - 1} head_sha256=[0-9a-f]{64}$`))
    const json = await verify([log, "--json"])
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, count: all.length - 1, error: null, anchor_ok: null })
  })

  it("one edited byte, a deleted line, two lines swapped, a wrong key: exit 2, the line named", async () => {
    const { dir, log } = await chainedLog()
    const original = lines(log)
    const at = async (mutated: ReadonlyArray<string>, line: number, pattern: RegExp) => {
      rewrite(log, mutated)
      const r = await verify([log])
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 2, stderr: expect.stringMatching(pattern) })
      expect(r.stderr).toContain(`${log}:${line}: verification failed`)
      rewrite(log, original)
    }
    // One byte of line 4's record ("run.started" → "run.startee" or its like): its signature no longer matches.
    const edited = [...original]
    const target = edited[3]!
    const i = target.indexOf("\"record\":{") + 12
    edited[3] = target.slice(0, i) + (target[i] === "a" ? "b" : "a") + target.slice(i + 1)
    await at(edited, 4, /signed claims do not match|invalid signature/)
    // Line 3 deleted: line 3 now holds seq 3.
    await at(original.filter((_, n) => n !== 2), 3, /seq 3 where 2 belongs/)
    // Lines 3 and 4 swapped.
    const swapped = [...original]
    ;[swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!]
    await at(swapped, 3, /seq 3 where 2 belongs/)
    // A line's hash link changed along with its seq still right: the link is signed, so line 6 is at fault.
    const relinked = [...original]
    relinked[5] = relinked[5]!.replace(/"prev_sha256":"[0-9a-f]{64}"/, `"prev_sha256":"${"0".repeat(64)}"`)
    await at(relinked, 6, /line 6: the signed claims do not match the line: its hash link \(prev_sha256\) not as signed/)
    // Another key's public key: line 1 (the genesis names the key that started the log).
    const other = await chainedLog()
    const r = await verify([log, "--pubkey", `${other.log}.pub.pem`])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`${log}:1: verification failed`)
    expect((await verify([log])).code).toBe(0)
    expect(dir).not.toBe(other.dir)
  })

  it("a byte-only edit of a middle line (whitespace, key order, an escape) is named at that line, not the next", async () => {
    const { log } = await chainedLog(2)
    const original = lines(log)
    const n = Math.floor(original.length / 2)
    expect(n).toBeGreaterThan(2)
    const target = original[n - 1]!
    const reordered = JSON.parse(target) as Record<string, unknown>
    for (const edit of [
      target.replace("{\"iat\":", "{\"iat\": "), // a space inside
      `${target} `, // trailing whitespace
      `{${target.slice(target.indexOf("\"jws\""), -1)},"iat":${String(reordered["iat"])}}`, // iat moved last
      target.replace("\"jws\":\"e", "\"jws\":\"\\u0065") // the same string, one letter escaped
    ]) {
      expect(edit).not.toBe(target)
      expect(JSON.parse(edit)).toEqual(reordered)
      rewrite(log, original.map((l, i) => (i === n - 1 ? edit : l)))
      const r = await verify([log])
      expect({ edit, code: r.code }).toEqual({ edit, code: 2 })
      expect(r.stderr).toContain(`${log}:${n}: verification failed: line ${n} is not in canonical form: its bytes were changed after it was written`)
      const json = JSON.parse((await verify([log, "--json"])).stdout) as { ok: boolean; error_line: number; head_seq: number }
      expect(json).toMatchObject({ ok: false, error_line: n, head_seq: n - 2 })
    }
    rewrite(log, original)
    expect((await verify([log])).code).toBe(0)
  })

  it("a byte-only edit of the last line (whitespace, key order) is found at the last line: the head it would change is refused", async () => {
    const { log } = await chainedLog()
    const original = lines(log)
    const last = original.at(-1)!
    const parsed = JSON.parse(last) as Record<string, unknown>
    const valid = JSON.parse((await verify([log, "--json"])).stdout) as { head_sha256: string }
    const seqAt = last.lastIndexOf(",\"seq\":")
    const recordAt = last.indexOf("\"record\":{") + "\"record\":{".length
    const notCanonical = new RegExp(`^line ${original.length} is not in canonical form: its bytes were changed after it was written`)
    for (const [edit, pattern] of [
      [`${last.slice(0, seqAt)}, ${last.slice(seqAt + 1)}`, notCanonical], // a space before "seq"
      [`${last}\t`, notCanonical], // trailing whitespace
      [`{"v":1,${last.slice(1, last.lastIndexOf(",\"v\":1}"))}}`, notCanonical], // v moved first
      // A space inside the record: its bytes are the signed ones (record_sha256), so the signature says it.
      [`${last.slice(0, recordAt)} ${last.slice(recordAt)}`, new RegExp(`^line ${original.length}: the signed claims do not match the line: its record not as signed`)]
    ] as const) {
      expect(JSON.parse(edit)).toEqual(parsed)
      rewrite(log, [...original.slice(0, -1), edit])
      const r = await verify([log, "--json"])
      expect({ edit, code: r.code }).toEqual({ edit, code: 2 })
      const verdict = JSON.parse(r.stdout) as { ok: boolean; error: string; error_line: number; head_sha256: string }
      expect(verdict).toMatchObject({ ok: false, error_line: original.length })
      expect(verdict.error).toMatch(pattern)
      expect(verdict.head_sha256).not.toBe(valid.head_sha256)
    }
    rewrite(log, original)
    expect(JSON.parse((await verify([log, "--json"])).stdout)).toMatchObject({ ok: true, head_sha256: valid.head_sha256 })
  })

  it("a cut tail verifies alone, and fails against the head kept before (--expected-head)", async () => {
    const { log } = await chainedLog()
    const head = (JSON.parse((await verify([log, "--json"])).stdout) as { head_sha256: string }).head_sha256
    expect((await verify([log, "--expected-head", head])).code).toBe(0)
    rewrite(log, lines(log).slice(0, -2))
    expect((await verify([log])).code).toBe(0)
    const cut = await verify([log, "--expected-head", head])
    expect(cut.code).toBe(2)
    expect(cut.stderr).toContain(`expected head ${head} is not the hash of any line`)
    const badToken = await verify([log, "--anchor-token", "a.b.c"])
    expect(badToken.code).toBe(2)
  })

  it("no log, no public key, a public key that is not one: exit 1", async () => {
    const { dir, log } = await chainedLog()
    const noLog = await verify([join(dir, "missing.jsonl")])
    expect(noLog.code).toBe(1)
    expect(noLog.stderr).toContain("no audit log at")
    const noKey = await verify([log, "--pubkey", join(dir, "missing.pem")])
    expect(noKey.code).toBe(1)
    expect(noKey.stderr).toContain("no public key at")
    const notKey = await verify([log, "--pubkey", log])
    expect(notKey.code).toBe(1)
    copyFileSync(`${log}.pub.pem`, join(dir, "kept.pem"))
    writeFileSync(`${log}.pub.pem`, "")
    expect((await verify([log])).code).toBe(1)
    expect((await verify([log, "--pubkey", join(dir, "kept.pem")])).code).toBe(0)
  })

  it("an --expected-head that is no 64-hex line hash: exit 1 naming the option; an upper-case head is the same head", async () => {
    const { log } = await chainedLog()
    const head = (JSON.parse((await verify([log, "--json"])).stdout) as { head_sha256: string }).head_sha256
    for (const bad of ["zz", head.slice(1), `sha256:${head}`, `${head}0`]) {
      const r = await verify([log, "--expected-head", bad])
      expect({ bad, code: r.code }).toEqual({ bad, code: 1 })
      expect(r.stderr).toMatch(/^error: InputError: --expected-head: .* is not a line hash \(64 hex digits\)/)
      expect(r.stderr).not.toContain("is not the hash of any line")
    }
    expect((await verify([log, "--expected-head", head.toUpperCase()])).code).toBe(0)
  })

  it("an empty or missing --expected-head (or other flag value), and an unknown flag, are bad input: exit 1 naming the flag and the fix, never 2 (a failed verification)", async () => {
    const { log } = await chainedLog()
    for (const args of [[log, "--expected-head", ""], [log, "--expected-head="]]) {
      const r = await verify(args)
      expect([r.code, r.stdout]).toEqual([1, ""])
      expect(r.stderr).toBe("error: InputError: --expected-head: the value is empty (fix: give the head to check for (64 hex digits): the expected_head=… line stargraph audit-anchor printed, or the head_sha256=… verify-audit printed, or leave the flag out; see stargraph verify-audit --help)\n")
    }
    const missing = await verify([log, "--expected-head"])
    expect([missing.code, missing.stdout]).toEqual([1, ""])
    expect(missing.stderr).toBe("error: InputError: --expected-head needs a value (fix: give the head to check for (64 hex digits): the expected_head=… line stargraph audit-anchor printed, or the head_sha256=… verify-audit printed, or leave the flag out; see stargraph verify-audit --help)\n")
    // Followed by another of its flags: that flag is not taken for the head.
    const beforeFlag = await verify([log, "--anchor-token", "--json"])
    expect([beforeFlag.code, beforeFlag.stdout]).toEqual([1, ""])
    expect(beforeFlag.stderr).toMatch(/^error: InputError: --anchor-token needs a value \(fix: give the anchor_token=… line stargraph audit-anchor printed, or leave the flag out; see stargraph verify-audit --help\)\n$/)
    const unknown = await verify([log, "--expected-haed", "x"])
    expect([unknown.code, unknown.stderr]).toEqual([1, "error: InputError: Received unknown option: '--expected-haed' (fix: did you mean '--expected-head'?; see stargraph verify-audit --help)\n"])
    // The head audit-anchor printed is the fix the message names: it verifies.
    const anchor = await stargraph(["audit-anchor", log, "--audit-key", join(log, "..", "audit.key")], { cwd: work })
    const head = /^expected_head=([0-9a-f]{64})$/m.exec(anchor.stdout)?.[1]
    expect(head, anchor.stdout + anchor.stderr).toBeDefined()
    expect((await verify([log, "--expected-head", head!])).code).toBe(0)
  })

  it("a plain log (no --audit-key) is named as one, exit 1; a plain line inside a chained log is still a failed verification", async () => {
    const dir = tempDir("stargraph-plain-")
    const plain = join(dir, "plain.jsonl")
    const run = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=p", "--db", join(dir, "db.sqlite"), "--audit-log", plain, "--quiet"], { cwd: work })
    expect(run.code, run.stderr).toBe(0)
    const { log } = await chainedLog()
    copyFileSync(`${log}.pub.pem`, `${plain}.pub.pem`)
    for (const args of [[plain], [plain, "--pubkey", join(dir, "missing.pem")]]) {
      const r = await verify(args)
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`${plain} is a plain audit log, written without --audit-key`)
      expect(r.stderr).not.toContain("malformed line")
    }
    const mixed = [...lines(log), lines(plain)[0]!]
    rewrite(log, mixed)
    const r = await verify([log])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`${log}:${mixed.length}: verification failed`)
  })

  it("a private key given as --pubkey: a warning on stderr, and the log verifies with its public half", async () => {
    const { key, log } = await chainedLog()
    const r = await verify([log, "--pubkey", key])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain(`warning: --pubkey: ${key} is a private key`)
    expect(r.last).toMatch(/^chain valid: /)
    const pub = await verify([log])
    expect([pub.code, pub.stderr]).toEqual([0, ""])
  })

  it("a second run on the same log and key continues its chain (one genesis, seq and links unbroken)", async () => {
    const { log } = await chainedLog(2)
    const all = lines(log).map((l) => JSON.parse(l) as { seq: number; record: { type?: string; event?: string } })
    expect(all.filter((l) => l.record.type === "fathom.genesis")).toHaveLength(1)
    expect(all.filter((l) => l.record.event === "run.finished")).toHaveLength(2)
    expect(all.map((l) => l.seq)).toEqual(all.map((_, i) => i))
    expect((await verify([log])).code).toBe(0)
  })

  it("several processes appending to one log at once keep one chain", async () => {
    const { dir, key, log } = await chainedLog()
    const runs = await Promise.all([0, 1, 2, 3].map((i) =>
      stargraph(["run", "hello/graph.yaml", "--inputs", `message=p${i}`, "--db", join(dir, `db${i}.sqlite`), "--audit-log", log, "--audit-key", key, "--quiet"], { cwd: work })))
    for (const r of runs) expect(r.code, r.stderr).toBe(0)
    const r = await verify([log, "--json"])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(lines(log).filter((l) => l.includes("\"event\":\"run.finished\""))).toHaveLength(5)
  })

  it("a torn last line: the next run refuses to start, naming the line, and appends nothing", async () => {
    const { dir, key, log } = await chainedLog()
    const count = lines(log).length
    appendFileSync(log, "{\"iat\":1,\"jws\":\"tor")
    const before = readFileSync(log)
    const r = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=x", "--db", join(dir, "db.sqlite"), "--audit-log", log, "--audit-key", key, "--quiet"], { cwd: work })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`AuditChainError[corrupt]: ${log}:${count + 1}: refusing to extend a broken chain`)
    expect(readFileSync(log).equals(before)).toBe(true)
    const v = await verify([log])
    expect(v.code).toBe(2)
    expect(v.stderr).toContain(`${log}:${count + 1}: verification failed`)
  })

  it("a plain log is never chained and a chained log never gets plain lines; another key is refused", async () => {
    const { dir, key, log } = await chainedLog()
    const before = readFileSync(log)
    const plain = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=x", "--db", join(dir, "db.sqlite"), "--audit-log", log, "--quiet"], { cwd: work })
    expect(plain.code).toBe(2)
    expect(plain.stderr).toContain("is a chained (signed) audit log")
    const otherKey = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=x", "--db", join(dir, "db.sqlite"), "--audit-log", log, "--audit-key", join(dir, "other.key"), "--quiet"], { cwd: work })
    expect(otherKey.code).toBe(2)
    expect(otherKey.stderr).toContain("AuditChainError[key]")
    expect(readFileSync(log).equals(before)).toBe(true)
    const plainLog = join(dir, "plain.jsonl")
    writeFileSync(plainLog, "{\"event\":\"x\"}\n")
    const chained = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=x", "--db", join(dir, "db.sqlite"), "--audit-log", plainLog, "--audit-key", key, "--quiet"], { cwd: work })
    expect(chained.code).toBe(2)
    expect(chained.stderr).toContain("is a plain JSONL audit log")
    const keyAlone = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=x", "--db", join(dir, "db.sqlite"), "--audit-key", key, "--quiet"], { cwd: work })
    expect(keyAlone.code).not.toBe(0)
    expect(keyAlone.stderr + keyAlone.stdout).toContain("give --audit-log too")
    // STARGRAPH_AUDIT_KEY stands for --audit-key.
    const env = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=y", "--db", join(dir, "db.sqlite"), "--audit-log", log, "--quiet"], { cwd: work, env: { STARGRAPH_AUDIT_KEY: key } })
    expect(env.code, env.stderr).toBe(0)
    expect((await verify([log])).code).toBe(0)
    expect(key).toBe(join(dir, "audit.key"))
  })

  it("serve --audit-log --audit-key chains its API lines while a CLI command appends to the same log", async () => {
    const { dir, key, log } = await chainedLog()
    const served = startStargraph(["serve", "--port", "0", "--db", join(dir, "serve.sqlite"), "--graphs", join(work, "hello"), "--audit-log", log, "--audit-key", key], { cwd: work })
    try {
      await served.waitForStdout(/listening on http:\/\/\S+/)
      const url = /listening on (http:\/\/\S+)/.exec(served.stdout())![1]!
      const [health, cli] = await Promise.all([
        fetch(`${url}/healthz`),
        stargraph(["run", "hello/graph.yaml", "--inputs", "message=beside", "--db", join(dir, "db.sqlite"), "--audit-log", log, "--audit-key", key, "--quiet"], { cwd: work })
      ])
      expect(health.status).toBe(200)
      expect(cli.code, cli.stderr).toBe(0)
      const listed = await fetch(`${url}/v1/runs`)
      expect(listed.status).toBe(200)
    } finally {
      served.child.kill("SIGTERM")
      await served.done
    }
    const api = lines(log).filter((l) => l.includes("\"event\":\"api."))
    expect(api.length).toBeGreaterThan(0)
    expect(lines(log).filter((l) => l.includes("\"event\":\"run.finished\""))).toHaveLength(2)
    const r = await verify([log])
    expect(r.code, r.stderr).toBe(0)
  })
})

describe("stargraph audit-anchor", () => {
  const checkpoint = (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => stargraph(["audit-anchor", ...args], { cwd: work, ...(env ? { env } : {}) })

  it("appends a signed checkpoint and prints its anchor; verify-audit takes it, and a tail cut before it fails", async () => {
    const { key, log } = await chainedLog()
    const before = lines(log)
    const r = await checkpoint([log, "--audit-key", key])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe("")
    const after = lines(log)
    expect(after.slice(0, before.length)).toEqual(before)
    expect(after).toHaveLength(before.length + 1)
    const line = JSON.parse(after.at(-1)!) as { seq: number; record: { type: string; head_seq: number; head_sha256: string } }
    expect(line.record).toMatchObject({ type: "fathom.checkpoint", head_seq: before.length - 1 })
    expect(r.stdout.split("\n")[0]).toBe(`checkpoint appended: seq=${before.length} pins head_seq=${before.length - 1}`)
    const head = /^expected_head=([0-9a-f]{64})$/m.exec(r.stdout)![1]!
    const token = /^anchor_token=(\S+)$/m.exec(r.stdout)![1]!
    // The log goes on after the checkpoint; both anchors verify.
    const more = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=later", "--db", join(log, "..", "db.sqlite"), "--audit-log", log, "--audit-key", key, "--quiet"], { cwd: work })
    expect(more.code, more.stderr).toBe(0)
    const ok = await verify([log, "--anchor-token", token, "--expected-head", head, "--json"])
    expect(ok.code, ok.stderr).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, anchor_ok: true })
    // Cut the tail from the checkpoint on: still a valid chain, but the anchors fail it.
    rewrite(log, before)
    expect((await verify([log])).code).toBe(0)
    expect((await verify([log, "--anchor-token", token])).code).toBe(2)
    expect((await verify([log, "--expected-head", head])).code).toBe(2)
  })

  it("the key from STARGRAPH_AUDIT_KEY; --json prints the anchor as one object", async () => {
    const { key, log } = await chainedLog()
    const r = await checkpoint([log, "--json"], { ...process.env, STARGRAPH_AUDIT_KEY: key })
    expect(r.code, r.stderr).toBe(0)
    const anchor = JSON.parse(r.stdout) as { seq: number; head_seq: number; line_sha256: string; anchor_token: string }
    expect(anchor.head_seq).toBe(anchor.seq - 1)
    expect(anchor.line_sha256).toMatch(/^[0-9a-f]{64}$/)
    expect((await verify([log, "--anchor-token", anchor.anchor_token])).code).toBe(0)
  })

  it("refuses, writing nothing (exit 2): no log, an empty or plain log, no key, a missing key file, another key, a broken chain", async () => {
    const { dir, key, log } = await chainedLog()
    const other = await chainedLog()
    const plain = join(dir, "plain.jsonl")
    const plainRun = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=p", "--db", join(dir, "p.sqlite"), "--audit-log", plain, "--quiet"], { cwd: work })
    expect(plainRun.code, plainRun.stderr).toBe(0)
    const empty = join(dir, "empty.jsonl")
    writeFileSync(empty, "")
    const noEnv = { ...process.env, STARGRAPH_AUDIT_KEY: "" }
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [[join(dir, "none.jsonl"), "--audit-key", key], /InputError: <log>: no audit log at .*none\.jsonl \(fix: give the path of a chained audit log/],
      [[empty, "--audit-key", key], /InputError: <log>: .*empty\.jsonl is empty/],
      [[plain, "--audit-key", key], /InputError: <log>: .*plain\.jsonl is a plain audit log/],
      [[log], /InputError: --audit-key: no signing key given \(fix: pass --audit-key/],
      [[log, "--audit-key", join(dir, "missing.key")], /InputError: --audit-key: no key file at .*missing\.key \(fix: give the Ed25519 private key the log was started with/],
      [[log, "--audit-key", other.key], /AuditChainError.*the log was started with key/]
    ]
    for (const [args, pattern] of cases) {
      const snapshot = [log, plain, empty].map((f) => readFileSync(f, "utf8"))
      const r = await checkpoint(args, noEnv)
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 2, stderr: expect.stringMatching(pattern) })
      expect([log, plain, empty].map((f) => readFileSync(f, "utf8"))).toEqual(snapshot)
      expect(existsSync(join(dir, "missing.key"))).toBe(false)
    }
    // A broken chain (one edited byte in a record): refused, the log left as evidence.
    const edited = lines(log)
    edited[2] = edited[2]!.replace("\"seq\":2", "\"seq\":9")
    rewrite(log, edited)
    const broken = readFileSync(log, "utf8")
    const r = await checkpoint([log, "--audit-key", key])
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 2, stderr: expect.stringMatching(/AuditChainError.*refusing to extend a broken chain/) })
    expect(readFileSync(log, "utf8")).toBe(broken)
  })
})
