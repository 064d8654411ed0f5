/**
 * A refused answer is audited: each kind of refusal (a wait id the run no longer waits at,
 * the loser of two answers to one wait (`answered-first`, also when it names that wait), a fork's child run answered directly, a value that
 * does not fit the waited field) writes exactly one `answer.refused` record to the run's
 * audit log (chained and signed here: `verify-audit` still passes), naming who answered,
 * the wait it named and the one the run is at, why (a tag, the error and its message) and
 * when, with the answer's hash, never its value. The refusal itself (exit code, stderr) and
 * the run are unchanged; an accepted answer writes no such record. Through the built CLI,
 * and the library for the loser that is refused at the take-over.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { describe, expect, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { hashJson } from "../../src/ir/hash.js"
import { chained } from "../../src/telemetry/AuditSink.js"
import { loadOrCreateSigner } from "../../src/telemetry/ChainedAuditLog.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const TWICE = join(ROOT, "test", "fixtures", "waitid", "ask-twice.yaml")
const APPROVAL = join(ROOT, "examples", "approval", "graph.yaml")
const APPROVAL_PARENT = join(ROOT, "test", "fixtures", "subgraph", "approval-parent.yaml")

/** A database, a chained audit log and its key in a fresh folder; the CLI flags that write the log. */
const setup = () => {
  const dir = tempDir("stargraph-answer-refused-")
  const db = join(dir, "runs.sqlite")
  const log = join(dir, "audit.jsonl")
  const key = join(dir, "audit.key")
  return { dir, db, log, key, audit: ["--audit-log", log, "--audit-key", key] }
}

/** The records of a chained log (its lines' `record`). */
const records = (log: string): ReadonlyArray<Record<string, any>> =>
  readFileSync(log, "utf8").split("\n").filter((l) => l.length > 0).map((l) => (JSON.parse(l) as { record: Record<string, any> }).record)

/** The `answer.refused` records of `log`. */
const refusedIn = (log: string) => records(log).filter((r) => r["event"] === "answer.refused")

const inspect = async (id: string, db: string) => JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"])).stdout) as Record<string, any>

/** `verify-audit` passes on the log. */
const expectVerified = async (log: string) => {
  const verified = await stargraph(["verify-audit", log, "--json"])
  expect(verified.code, verified.stderr).toBe(0)
  expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, error: null })
}

/** The message of a one-line `error: <Tag>: <message>[ (fix: …)]` on stderr. */
const messageOf = (stderr: string, tag: string) => {
  expect(stderr.startsWith(`error: ${tag}: `), stderr).toBe(true)
  return stderr.slice(`error: ${tag}: `.length).replace(/\n$/, "")
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

describe("answer.refused audit records (CLI)", () => {
  it("a wait id the run no longer waits at: one record naming both waits; the refusal and the run unchanged; accepted answers write none", async () => {
    const t = setup()
    const started = await stargraph(["run", TWICE, "--db", t.db, ...t.audit, "--quiet"])
    expect(started.code).toBe(3)
    const id = runIdOf(started.last)
    const first = (await inspect(id, t.db))["waiting"]["wait_id"] as string
    const answered = await stargraph(["respond", id, "--db", t.db, "--wait-id", first, "--response", "1", ...t.audit, "--quiet"])
    expect([answered.code, answered.last]).toEqual([3, `run_id=${id} status=awaiting-input`])
    expect(refusedIn(t.log)).toEqual([])
    const before = await inspect(id, t.db)
    const second = before["waiting"]["wait_id"] as string
    const garbage = "w000000000000"
    const late = await stargraph(["respond", id, "--db", t.db, "--wait-id", garbage, "--response", "99", "--actor", "alice", ...t.audit, "--quiet"])
    expect(late.code).toBe(2)
    expect(late.stdout).toBe("")
    const message = `run ${id} does not wait at ${garbage}: it waits at ${second} now (node 'ask': "Pick a number"); this answer was not applied`
    // The way out (read the question it waits at now, answer that one) follows as the error's fix.
    expect(messageOf(late.stderr, "RunStateError").replace(/ \(fix: .*\)$/, "")).toBe(message)
    expect(late.stderr).toContain(`answer that one with --wait-id ${second}`)
    expect(await inspect(id, t.db)).toEqual(before)
    const refused = refusedIn(t.log)
    expect(refused).toEqual([{
      ts: expect.stringMatching(ISO),
      actor: "alice",
      event: "answer.refused",
      run_id: id,
      wait_id: garbage,
      current_wait_id: second,
      reason: "wait-moved",
      error: "RunStateError",
      message,
      response_sha256: hashJson(99)
    }])
    // The value itself is nowhere in the record.
    expect(Object.values(refused[0]!)).not.toContain(99)
    // The right wait id is accepted and writes no refused record.
    const done = await stargraph(["respond", id, "--db", t.db, "--wait-id", second, "--response", "2", ...t.audit, "--quiet"])
    expect([done.code, done.last]).toEqual([0, `run_id=${id} status=done`])
    expect(refusedIn(t.log)).toHaveLength(1)
    await expectVerified(t.log)
  })

  it("a node that asked again in the same step: a late answer to its first question is answered-first (who, when), not wait-moved, while it waits at the second and once it ended", async () => {
    const t = setup()
    const id = runIdOf((await stargraph(["run", TWICE, "--db", t.db, ...t.audit, "--quiet"])).last)
    const first = (await inspect(id, t.db))["waiting"]["wait_id"] as string
    const answered = await stargraph(["respond", id, "--db", t.db, "--wait-id", first, "--response", "1", "--actor", "alice", ...t.audit, "--quiet"])
    expect(answered.code).toBe(3)
    const before = await inspect(id, t.db)
    const second = before["waiting"]["wait_id"] as string
    const bob = await stargraph(["respond", id, "--db", t.db, "--wait-id", first, "--response", "99", "--actor", "bob", ...t.audit, "--quiet"])
    expect(bob.code).toBe(2)
    expect(bob.stdout).toBe("")
    const message = messageOf(bob.stderr, "RunStateError")
    expect(message).toMatch(new RegExp(
      `^run ${id} was already answered by 'alice' at \\d{4}-[^ ]+ through another process or request: it went on and now waits at node 'ask' for another answer; this answer was not applied`
    ))
    expect(await inspect(id, t.db)).toEqual(before)
    const done = await stargraph(["respond", id, "--db", t.db, "--wait-id", second, "--response", "2", "--actor", "carol", ...t.audit, "--quiet"])
    expect(done.code).toBe(0)
    const dave = await stargraph(["respond", id, "--db", t.db, "--wait-id", first, "--response", "98", "--actor", "dave", ...t.audit, "--quiet"])
    expect(dave.code).toBe(2)
    const ended = messageOf(dave.stderr, "RunStateError")
    // Still alice, at the same time, read from the committed step's record of her answer.
    expect(ended).toBe(message.replace("it went on and now waits at node 'ask' for another answer", "it went on and is now done"))
    expect(refusedIn(t.log)).toEqual([
      { ts: expect.stringMatching(ISO), actor: "bob", event: "answer.refused", run_id: id, wait_id: first, current_wait_id: second, reason: "answered-first", error: "RunStateError", message, response_sha256: hashJson(99) },
      { ts: expect.stringMatching(ISO), actor: "dave", event: "answer.refused", run_id: id, wait_id: first, current_wait_id: null, reason: "answered-first", error: "RunStateError", message: ended, response_sha256: hashJson(98) }
    ])
    // The committed step records each answer with its wait and who gave it.
    const calls = (await inspect(id, t.db))["checkpoints"].flatMap((c: Record<string, any>) => c["calls"] ?? []).filter((c: Record<string, any>) => c["name"] === "interrupt.response")
    expect(calls.map((c: Record<string, any>) => [c["request"]["actor"], c["meta"]["wait_id"], c["response"]])).toEqual([["alice", first, 1], ["carol", second, 2]])
    await expectVerified(t.log)
  })

  it("the loser of two answers (a second answer after the first was applied): one record naming the loser; the winner writes none", async () => {
    const t = setup()
    const started = await stargraph(["run", APPROVAL, "--inputs", "request=r", "--db", t.db, ...t.audit, "--quiet"])
    const id = runIdOf(started.last)
    const alice = await stargraph(["respond", id, "--db", t.db, "--response", '{"approved":true}', "--actor", "alice", ...t.audit, "--quiet"])
    expect([alice.code, alice.last]).toEqual([0, `run_id=${id} status=done`])
    expect(refusedIn(t.log)).toEqual([])
    const before = await inspect(id, t.db)
    const bob = await stargraph(["respond", id, "--db", t.db, "--response", '{"approved":false}', "--actor", "bob", ...t.audit, "--quiet"])
    expect(bob.code).toBe(2)
    expect(bob.stdout).toBe("")
    const message = messageOf(bob.stderr, "RunStateError")
    expect(message).toMatch(new RegExp(`^run ${id} was already answered by 'alice' at .*; this answer was not applied`))
    expect(await inspect(id, t.db)).toEqual(before)
    expect(refusedIn(t.log)).toEqual([{
      ts: expect.stringMatching(ISO),
      actor: "bob",
      event: "answer.refused",
      run_id: id,
      wait_id: null,
      current_wait_id: null,
      reason: "answered-first",
      error: "RunStateError",
      message,
      response_sha256: hashJson({ approved: false })
    }])
    await expectVerified(t.log)
  })

  it("a second answer naming the right --wait-id after the first was applied: answered-first naming who answered and when, not wait-moved; a wait id never waited at stays wait-moved", async () => {
    const t = setup()
    const started = await stargraph(["run", APPROVAL, "--inputs", "request=r", "--db", t.db, ...t.audit, "--quiet"])
    const id = runIdOf(started.last)
    const wait = (await inspect(id, t.db))["waiting"]["wait_id"] as string
    const alice = await stargraph(["respond", id, "--db", t.db, "--wait-id", wait, "--response", '{"approved":true}', "--actor", "alice", ...t.audit, "--quiet"])
    expect([alice.code, alice.last]).toEqual([0, `run_id=${id} status=done`])
    const before = await inspect(id, t.db)
    const bob = await stargraph(["respond", id, "--db", t.db, "--wait-id", wait, "--response", '{"approved":false}', "--actor", "bob", ...t.audit, "--quiet"])
    expect(bob.code).toBe(2)
    expect(bob.stdout).toBe("")
    const message = messageOf(bob.stderr, "RunStateError")
    expect(message).toMatch(new RegExp(`^run ${id} was already answered by 'alice' at \\d{4}-.*: it went on and is now done; this answer was not applied`))
    const garbage = "w000000000000"
    const carol = await stargraph(["respond", id, "--db", t.db, "--wait-id", garbage, "--response", '{"approved":false}', "--actor", "carol", ...t.audit, "--quiet"])
    expect(carol.code).toBe(2)
    const moved = messageOf(carol.stderr, "RunStateError").replace(/ \(fix: .*\)$/, "")
    expect(moved).toBe(`run ${id} does not wait at ${garbage}: it is done now, waiting for no answer; this answer was not applied`)
    expect(await inspect(id, t.db)).toEqual(before)
    expect(refusedIn(t.log)).toEqual([
      { ts: expect.stringMatching(ISO), actor: "bob", event: "answer.refused", run_id: id, wait_id: wait, current_wait_id: null, reason: "answered-first", error: "RunStateError", message, response_sha256: hashJson({ approved: false }) },
      { ts: expect.stringMatching(ISO), actor: "carol", event: "answer.refused", run_id: id, wait_id: garbage, current_wait_id: null, reason: "wait-moved", error: "RunStateError", message: moved, response_sha256: hashJson({ approved: false }) }
    ])
    await expectVerified(t.log)
  })

  it("two respond processes at once naming the wait: the loser is answered-first, one record; the chain holds", async () => {
    const t = setup()
    for (let round = 0; round < 3; round++) {
      const started = await stargraph(["run", APPROVAL, "--inputs", `request=r${round}`, "--db", t.db, ...t.audit, "--quiet"])
      const id = runIdOf(started.last)
      const wait = (await inspect(id, t.db))["waiting"]["wait_id"] as string
      const [alice, bob] = await Promise.all([
        stargraph(["respond", id, "--db", t.db, "--wait-id", wait, "--response", '{"approved":true}', "--actor", "alice", ...t.audit, "--quiet"]),
        stargraph(["respond", id, "--db", t.db, "--wait-id", wait, "--response", '{"approved":false}', "--actor", "bob", ...t.audit, "--quiet"])
      ])
      expect([alice.code, bob.code].sort(), `round ${round}: ${alice.stderr} | ${bob.stderr}`).toEqual([0, 2])
      const [loser, loserName, winnerName] = alice.code === 0 ? [bob, "bob", "alice"] : [alice, "alice", "bob"]
      const message = messageOf(loser.stderr, "RunStateError")
      expect(message).toMatch(new RegExp(`^run ${id} was already answered by '${winnerName}' at .*; this answer was not applied`))
      expect(refusedIn(t.log).filter((r) => r["run_id"] === id)).toEqual([expect.objectContaining({ actor: loserName, wait_id: wait, reason: "answered-first", message })])
    }
    await expectVerified(t.log)
  }, 120_000)

  it("two respond processes at once: the one refused writes exactly one record, naming itself; the chain holds", async () => {
    const t = setup()
    for (let round = 0; round < 3; round++) {
      const started = await stargraph(["run", APPROVAL, "--inputs", `request=r${round}`, "--db", t.db, ...t.audit, "--quiet"])
      const id = runIdOf(started.last)
      const [alice, bob] = await Promise.all([
        stargraph(["respond", id, "--db", t.db, "--response", '{"approved":true}', "--actor", "alice", ...t.audit, "--quiet"]),
        stargraph(["respond", id, "--db", t.db, "--response", '{"approved":false}', "--actor", "bob", ...t.audit, "--quiet"])
      ])
      expect([alice.code, bob.code].sort(), `round ${round}: ${alice.stderr} | ${bob.stderr}`).toEqual([0, 2])
      const [loser, loserName] = alice.code === 0 ? [bob, "bob"] : [alice, "alice"]
      const refused = refusedIn(t.log).filter((r) => r["run_id"] === id)
      expect(refused).toEqual([expect.objectContaining({ actor: loserName, reason: "answered-first", error: "RunStateError", message: messageOf(loser.stderr, "RunStateError") })])
    }
    expect(refusedIn(t.log)).toHaveLength(3)
    await expectVerified(t.log)
  }, 120_000)

  it("a fork's child run answered directly: one record naming the child run and its wait; the refusal and the runs unchanged", async () => {
    const t = setup()
    const started = await stargraph(["run", APPROVAL_PARENT, "--inputs", "request=deploy", "--db", t.db, ...t.audit, "--quiet"])
    const parent = runIdOf(started.last)
    const forked = await stargraph(["replay", parent, "--db", t.db, ...t.audit, "--quiet"])
    expect(forked.code).toBe(3)
    const cf = runIdOf(forked.last)
    const listed = JSON.parse((await stargraph(["list", "--db", t.db, "--json"])).stdout)["runs"] as ReadonlyArray<{ run_id: string; parent_run_id: string | null }>
    const child = listed.find((r) => r.parent_run_id === cf)!.run_id
    const before = await inspect(child, t.db)
    const forkBefore = await inspect(cf, t.db)
    expect(refusedIn(t.log)).toEqual([])
    const refused = await stargraph(["respond", child, "--db", t.db, "--response", '"yes"', ...t.audit, "--quiet"])
    expect(refused.code).toBe(2)
    expect(refused.stdout).toBe("")
    const message = messageOf(refused.stderr, "RunStateError").replace(/ \(fix: .*\)$/, "")
    expect(message).toContain(`run ${child} is a child run of fork ${cf}`)
    expect(await inspect(child, t.db)).toEqual(before)
    expect(await inspect(cf, t.db)).toEqual(forkBefore)
    expect(refusedIn(t.log)).toEqual([{
      ts: expect.stringMatching(ISO),
      actor: "cli",
      event: "answer.refused",
      run_id: child,
      wait_id: null,
      current_wait_id: before["waiting"]["wait_id"],
      reason: "fork-descendant",
      error: "RunStateError",
      message,
      response_sha256: hashJson("yes")
    }])
    await expectVerified(t.log)
  })

  it("a value that does not fit the waited field: one record with the StateValidationError's message; then an accepted answer writes none", async () => {
    const t = setup()
    const started = await stargraph(["run", APPROVAL, "--inputs", "request=r", "--db", t.db, ...t.audit, "--quiet"])
    const id = runIdOf(started.last)
    const before = await inspect(id, t.db)
    const wait = before["waiting"]["wait_id"] as string
    const bad = await stargraph(["respond", id, "--db", t.db, "--wait-id", wait, "--response", '{"approved":"yes"}', ...t.audit, "--quiet"])
    expect(bad.code).toBe(2)
    expect(bad.stdout).toBe("")
    expect(bad.stderr).toMatch(/^error: StateValidationError: response field 'decision\.approved' \(node 'review', step \d+\): the response does not fit field 'decision': Expected boolean, actual "yes" \(fix: /)
    expect(await inspect(id, t.db)).toEqual(before)
    expect(refusedIn(t.log)).toEqual([{
      ts: expect.stringMatching(ISO),
      actor: "cli",
      event: "answer.refused",
      run_id: id,
      wait_id: wait,
      current_wait_id: wait,
      reason: "invalid-value",
      error: "StateValidationError",
      message: "the response does not fit field 'decision': Expected boolean, actual \"yes\"",
      response_sha256: hashJson({ approved: "yes" })
    }])
    const good = await stargraph(["respond", id, "--db", t.db, "--wait-id", wait, "--response", '{"approved":true}', ...t.audit, "--quiet"])
    expect([good.code, good.last]).toEqual([0, `run_id=${id} status=done`])
    expect(refusedIn(t.log)).toHaveLength(1)
    await expectVerified(t.log)
  })
})

describe("answer.refused audit records (library)", () => {
  it("of two handles resumed with answers naming the same wait, the loser is answered-first at its take-over; graph.resume naming it after the run ended too", async () => {
    const t = setup()
    const sink = Layer.unwrapEffect(Effect.map(loadOrCreateSigner(t.key), (signer) => chained(t.log, signer)))
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(APPROVAL)
      const first = yield* Effect.flatMap(graph.start({ inputs: { request: "r" } }), (run) => run.start())
      const wait = first.waiting!.wait_id!
      // Both read the run while it waited, so both pass the checks; only one takes the wait over.
      const alice = yield* graph.resume(first.run_id, { response: { value: { approved: true } }, waitId: wait, actor: "alice" })
      const bob = yield* graph.resume(first.run_id, { response: { value: { approved: false } }, waitId: wait, actor: "bob" })
      const won = yield* alice.start()
      const lost = yield* Effect.either(bob.start())
      // Read after it ended: refused by graph.resume itself.
      const late = yield* Effect.either(graph.resume(first.run_id, { response: { value: { approved: false } }, waitId: wait, actor: "carol" }))
      return { won, lost, late, wait }
    }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename: t.db }), sink))))
    expect(outcome.won.status).toBe("done")
    if (Either.isRight(outcome.lost) || Either.isRight(outcome.late)) throw new Error("expected the later answers to be refused")
    const id = outcome.won.run_id
    for (const refused of [outcome.lost.left, outcome.late.left]) {
      expect(refused).toMatchObject({ _tag: "RunStateError" })
      expect(refused.message).toMatch(new RegExp(`^run ${id} was already answered by 'alice' at \\d{4}-.*; this answer was not applied`))
    }
    expect(refusedIn(t.log).map((r) => [r["actor"], r["wait_id"], r["reason"], r["message"]])).toEqual([
      ["bob", outcome.wait, "answered-first", outcome.lost.left.message],
      ["carol", outcome.wait, "answered-first", outcome.late.left.message]
    ])
    await expectVerified(t.log)
  })

  it("of two handles resumed with answers to one wait, the one refused at its take-over writes one record through the app's sink; the chain verifies", async () => {
    const t = setup()
    const sink = Layer.unwrapEffect(Effect.map(loadOrCreateSigner(t.key), (signer) => chained(t.log, signer)))
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(APPROVAL)
      const first = yield* Effect.flatMap(graph.start({ inputs: { request: "r" } }), (run) => run.start())
      const wait = first.waiting!.wait_id!
      // Both read the run while it waited, so both pass the checks; only one takes the wait over.
      const alice = yield* graph.resume(first.run_id, { response: { value: { approved: true } }, waitId: wait, actor: "alice" })
      const bob = yield* graph.resume(first.run_id, { response: { value: { approved: false } }, actor: "bob" })
      const won = yield* alice.start()
      const lost = yield* Effect.either(bob.start())
      return { won, lost, wait }
    }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename: t.db }), sink))))
    expect(outcome.won.status).toBe("done")
    if (Either.isRight(outcome.lost)) throw new Error("expected the second answer to be refused")
    expect(outcome.lost.left).toMatchObject({ _tag: "RunStateError", operation: "resume" })
    expect(refusedIn(t.log)).toEqual([{
      ts: expect.stringMatching(ISO),
      actor: "bob",
      event: "answer.refused",
      run_id: outcome.won.run_id,
      wait_id: null,
      current_wait_id: null,
      reason: "answered-first",
      error: "RunStateError",
      message: outcome.lost.left.message,
      response_sha256: hashJson({ approved: false })
    }])
    await expectVerified(t.log)
  })
})
