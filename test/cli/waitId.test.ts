/**
 * Answering a specific wait: every wait has an id (`waiting.wait_id`), shown by the
 * waiting hint and `inspect --json`; an answer naming one (`respond --wait-id`, library
 * `waitId`) is applied only while the run still waits there, checked in the write that
 * takes the run over, and otherwise refused (RunStateError naming where the run waits
 * now) with nothing changed. A parent waiting on its child's question has the child's id.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const TWICE = join(ROOT, "test", "fixtures", "waitid", "ask-twice.yaml")
const PARENT = join(ROOT, "test", "fixtures", "waitid", "ask-twice-parent.yaml")
const MAP_PARENT = join(ROOT, "test", "fixtures", "map", "ask_typed_parent.yaml")

const inspect = async (id: string, db: string) => JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"])).stdout) as Record<string, any>

describe("answering a specific wait (--wait-id)", () => {
  it("CLI: an answer to the first question given after it was answered is refused naming the second, nothing changes; the right id works", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const audit = join(tempDir(), "audit.jsonl")
    const started = await stargraph(["run", TWICE, "--db", db, "--audit-log", audit])
    expect(started.code).toBe(3)
    const id = runIdOf(started.last)
    const first = (await inspect(id, db))["waiting"]["wait_id"] as string
    expect(first).toMatch(/^w[0-9a-f]{12}$/)
    // The hint names the wait; the run.waiting audit record carries it too.
    expect(started.stdout).toContain(`  answer with: stargraph respond ${id} --db ${db} --wait-id ${first} --response '<json>'\n`)
    const waitingRecords = () => readFileSync(audit, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((r) => r.event === "run.waiting")
    expect(waitingRecords().map((r) => r.waiting.wait_id)).toEqual([first])
    const answered = await stargraph(["respond", id, "--db", db, "--wait-id", first, "--response", "1", "--audit-log", audit, "--quiet"])
    expect([answered.code, answered.last]).toEqual([3, `run_id=${id} status=awaiting-input`])
    const before = await inspect(id, db)
    const second = before["waiting"]["wait_id"] as string
    expect(second).toMatch(/^w[0-9a-f]{12}$/)
    expect(second).not.toBe(first)
    expect(before["waiting"]["prompt"]).toBe("Pick a number")
    expect(waitingRecords().map((r) => r.waiting.wait_id)).toEqual([first, second])
    // The late answer for the first question (same node, prompt, status and step as the
    // second): that question was answered (by 'cli', when), in a step not committed yet.
    const late = await stargraph(["respond", id, "--db", db, "--wait-id", first, "--response", "99", "--audit-log", audit, "--quiet"])
    expect(late.code).toBe(2)
    expect(late.stdout).toBe("")
    const at = before["waiting"]["attempt"]["calls"][0]["meta"]["at"] as string
    expect(at).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(late.stderr).toBe(
      `error: RunStateError: run ${id} was already answered by 'cli' at ${at} through another process or request: it went on and now waits at node 'ask' for another answer; ` +
        "this answer was not applied (read the run to see its outcome)\n"
    )
    // A wait id the run never had: refused naming where it waits now, with the way out
    // (read the question it waits at now, or answer without --wait-id).
    const fix = `(fix: run stargraph inspect ${id} --db ${db} to read the question it waits at now, and answer that one with --wait-id ${second}; or leave out --wait-id to answer whatever it waits at)`
    const bogus = await stargraph(["respond", id, "--db", db, "--wait-id", "wbogus", "--response", "99", "--quiet"])
    expect([bogus.code, bogus.stdout, bogus.stderr]).toEqual([
      2,
      "",
      `error: RunStateError: run ${id} does not wait at wbogus: it waits at ${second} now (node 'ask': "Pick a number"); this answer was not applied ${fix}\n`
    ])
    expect(await inspect(id, db)).toEqual(before)
    expect(waitingRecords()).toHaveLength(2)
    const done = await stargraph(["respond", id, "--db", db, "--wait-id", second, "--response", "2", "--quiet"])
    expect([done.code, done.last]).toEqual([0, `run_id=${id} status=done`])
    expect((await inspect(id, db))["final_state"]).toEqual({ picks: "1,2" })
    // Once it ended, the wait it answered last is refused as answered (who, when); an id it never waited at, as a wait it is not at.
    const ended = await stargraph(["respond", id, "--db", db, "--wait-id", second, "--response", "3", "--quiet"])
    expect(ended.code).toBe(2)
    expect(ended.stderr).toMatch(new RegExp(`^error: RunStateError: run ${id} was already answered by 'cli' at \\d{4}-.*: it went on and is now done; this answer was not applied \\(read the run to see its outcome\\)\n$`))
    // The first question too, answered by the step that committed since (its answer's record keeps who and when).
    const firstEnded = await stargraph(["respond", id, "--db", db, "--wait-id", first, "--response", "3", "--quiet"])
    expect(firstEnded.code).toBe(2)
    expect(firstEnded.stderr).toBe(`error: RunStateError: run ${id} was already answered by 'cli' at ${at} through another process or request: it went on and is now done; this answer was not applied (read the run to see its outcome)\n`)
    const never = await stargraph(["respond", id, "--db", db, "--wait-id", "w000000000000", "--response", "3", "--quiet"])
    expect(never.code).toBe(2)
    expect(never.stderr).toMatch(new RegExp(`^error: RunStateError: run ${id} does not wait at w000000000000: it is done now, waiting for no answer; this answer was not applied \\(fix: stargraph inspect ${id} --db ${db} shows where the run is; it waits for no answer now\\)\n$`))
  })

  it("library: an answer naming the first wait that loses to an answer of it is refused (answered-first) when it starts, even though the run waits again at the same status, owner and step", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(TWICE)
      const asked = yield* Effect.flatMap(graph.start({}), (run) => run.start())
      const first = asked.waiting!.wait_id!
      // Both read the run while it waited at the first question, so both pass the checks.
      const alice = yield* graph.resume(asked.run_id, { response: { value: 1 }, waitId: first, actor: "alice" })
      const bob = yield* graph.resume(asked.run_id, { response: { value: 7 }, waitId: first, actor: "bob" })
      const again = yield* alice.start()
      const lost = yield* Effect.either(bob.start())
      const checkpointer = yield* Checkpointer
      const after = yield* checkpointer.getRun(asked.run_id)
      return { first, again, lost, after }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(outcome.again).toMatchObject({ status: "awaiting-input", waiting: { step: 1, answers: [1] } })
    const second = outcome.again.waiting!.wait_id!
    expect(second).not.toBe(outcome.first)
    expect(Either.isLeft(outcome.lost) && outcome.lost.left).toMatchObject({ _tag: "RunStateError", waitId: second })
    // Refused as the loser of two answers to that question (alice's was applied first), not as a moved wait.
    expect(Either.isLeft(outcome.lost) && outcome.lost.left.message).toMatch(new RegExp(
      `^run ${outcome.again.run_id} was already answered by 'alice' at \\d{4}-[^ ]+ through another process or request: it went on and now waits at node 'ask' for another answer; this answer was not applied`
    ))
    // Bob's 7 was not taken as the second answer: the run still waits there, unanswered.
    expect(outcome.after._tag === "Some" && outcome.after.value).toMatchObject({ status: "awaiting-input", owner: null, waiting: { wait_id: second, answers: [1] } })
    expect(outcome.after._tag === "Some" && outcome.after.value.waiting?.given).toBeUndefined()
  })

  it("a parent waiting on its child's question has the child's wait id; answering the parent with it works; a stale one is refused as answered, naming who answered it and when, before and after the parent's step commits", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const audit = join(tempDir(), "audit.jsonl")
    const started = await stargraph(["run", PARENT, "--db", db, "--quiet"])
    expect(started.code).toBe(3)
    const parent = runIdOf(started.last)
    const shown = await inspect(parent, db)
    const child = shown["waiting"]["payload"]["child_run_id"] as string
    const first = shown["waiting"]["wait_id"] as string
    expect((await inspect(child, db))["waiting"]["wait_id"]).toBe(first)
    const answered = await stargraph(["respond", parent, "--db", db, "--wait-id", first, "--response", "1", "--actor", "alice", "--quiet"])
    expect(answered.code).toBe(3)
    const [parentNow, childNow] = [await inspect(parent, db), await inspect(child, db)]
    const second = childNow["waiting"]["wait_id"] as string
    expect(second).not.toBe(first)
    expect(parentNow["waiting"]["wait_id"]).toBe(second)
    // The parent's wait keeps the child's earlier question it took an answer to: which, who, when.
    expect(parentNow["waiting"]["answered_waits"]).toEqual([{ wait_id: first, node: "sub", actor: "alice", at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }])
    const at = parentNow["waiting"]["answered_waits"][0]["at"] as string
    // The first question, answered through the parent: refused as answered by alice, when she did,
    // as the child refuses it (naming the parent, its answerer).
    const already = (now: string) =>
      `error: RunStateError: run ${parent} was already answered by 'alice' at ${at} through another process or request: ${now}; this answer was not applied (read the run to see its outcome)\n`
    const stale = await stargraph(["respond", parent, "--db", db, "--wait-id", first, "--response", "9", "--actor", "mallory", "--audit-log", audit, "--quiet"])
    expect([stale.code, stale.stderr]).toEqual([2, already("it went on and now waits at node 'sub' for another answer")])
    const direct = await stargraph(["respond", child, "--db", db, "--wait-id", first, "--response", "9", "--quiet"])
    expect(direct.code).toBe(2)
    expect(direct.stderr).toContain(`run ${child} was already answered by 'subgraph:${parent}' at `)
    // A wait id neither ever had: refused naming where it waits now.
    const never = await stargraph(["respond", parent, "--db", db, "--wait-id", "w000000000000", "--response", "9", "--quiet"])
    expect(never.stderr).toContain(`does not wait at w000000000000: it waits at ${second} now`)
    expect(await inspect(parent, db)).toEqual(parentNow)
    expect(await inspect(child, db)).toEqual(childNow)
    const done = await stargraph(["respond", parent, "--db", db, "--wait-id", second, "--response", "2", "--actor", "bob", "--quiet"])
    expect([done.code, done.last]).toEqual([0, `run_id=${parent} status=done`])
    expect((await inspect(parent, db))["final_state"]).toEqual({ picks: "1,2" })
    // Once the parent's step committed, the first question is still known as alice's (not a moved wait).
    const late = await stargraph(["respond", parent, "--db", db, "--wait-id", first, "--response", "9", "--actor", "mallory", "--audit-log", audit, "--quiet"])
    expect([late.code, late.stderr]).toEqual([2, already("it went on and is now done")])
    const refused = readFileSync(audit, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((r) => r.event === "answer.refused")
    expect(refused.map((r) => [r.actor, r.wait_id, r.current_wait_id, r.reason])).toEqual([["mallory", first, second, "answered-first"], ["mallory", first, null, "answered-first"]])
    // The parent's committed step records bob's answer to the second question, crediting alice with the first.
    const calls = await Effect.runPromise(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(parent)).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    const responses = calls.flatMap((cp) => (cp.calls ?? []).filter((c) => c.name === "interrupt.response"))
    expect(responses.map((c) => [c.node, c.request, c.response, c.meta])).toEqual([[
      "sub",
      { prompt: "", node: "sub", actor: "bob" },
      2,
      { wait_id: second, answered_waits: [{ wait_id: first, node: "sub", actor: "alice", at }] }
    ]])
  })

  it("library: a parent answered at its child's first question and asked again refuses a late answer to it as answered by whoever answered it, while it waits and once its step committed", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(PARENT)
      const asked = yield* Effect.flatMap(graph.start({}), (run) => run.start())
      const first = asked.waiting!.wait_id!
      const again = yield* Effect.flatMap(graph.resume(asked.run_id, { response: { value: 1 }, waitId: first, actor: "alice" }), (run) => run.start())
      const waiting = yield* Effect.either(graph.resume(asked.run_id, { response: { value: 9 }, waitId: first, actor: "mallory" }))
      const done = yield* Effect.flatMap(graph.resume(asked.run_id, { response: { value: 2 }, waitId: again.waiting!.wait_id!, actor: "bob" }), (run) => run.start())
      const ended = yield* Effect.either(graph.resume(asked.run_id, { response: { value: 9 }, waitId: first, actor: "mallory" }))
      return { id: asked.run_id, again, waiting, done, ended }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    const at = out.again.waiting?.answered_waits?.[0]?.at
    expect(at).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(out.done.status).toBe("done")
    const refusal = (now: string) => `run ${out.id} was already answered by 'alice' at ${at} through another process or request: ${now}; this answer was not applied (read the run to see its outcome)`
    expect(Either.isLeft(out.waiting) && out.waiting.left).toMatchObject({ _tag: "RunStateError", waitId: out.again.waiting!.wait_id!, message: refusal("it went on and now waits at node 'sub' for another answer") })
    expect(Either.isLeft(out.ended) && out.ended.left).toMatchObject({ _tag: "RunStateError", message: refusal("it went on and is now done") })
  })

  it("a map whose item 0's question was answered through it, its item 1 asking now: a late answer to item 0's question is refused as answered by whoever answered it, before and after the map's step commits", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const started = await stargraph(["run", MAP_PARENT, "--inputs", "{\"documents\":[\"a\",\"b\"]}", "--db", db, "--quiet"])
    expect(started.code).toBe(3)
    const parent = runIdOf(started.last)
    const item0 = (await inspect(parent, db))["waiting"]["wait_id"] as string
    expect((await stargraph(["respond", parent, "--db", db, "--wait-id", item0, "--response", "\"yes\"", "--actor", "alice", "--quiet"])).code).toBe(3)
    const waiting = (await inspect(parent, db))["waiting"]
    expect(waiting["payload"]["item"]).toBe(1)
    expect(waiting["answered_waits"]).toEqual([{ wait_id: item0, node: "score_all", actor: "alice", at: expect.stringMatching(/^\d{4}-/) }])
    const already = (now: string) =>
      `error: RunStateError: run ${parent} was already answered by 'alice' at ${waiting["answered_waits"][0]["at"]} through another process or request: ${now}; this answer was not applied (read the run to see its outcome)\n`
    const stale = await stargraph(["respond", parent, "--db", db, "--wait-id", item0, "--response", "\"no\"", "--quiet"])
    expect([stale.code, stale.stderr]).toEqual([2, already("it went on and now waits at node 'score_all' for another answer")])
    const done = await stargraph(["respond", parent, "--db", db, "--wait-id", waiting["wait_id"], "--response", "\"maybe\"", "--actor", "bob", "--quiet"])
    expect([done.code, done.last]).toEqual([0, `run_id=${parent} status=done`])
    const late = await stargraph(["respond", parent, "--db", db, "--wait-id", item0, "--response", "\"no\"", "--quiet"])
    expect([late.code, late.stderr]).toEqual([2, already("it went on and is now done")])
  })

  it("library: a step asking two nodes in turn keeps who answered the first (answered_waits): a late answer to it is refused as theirs, and the step's records credit each answer to whoever gave it", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make({
        ir_version: "1.0.0",
        id: "waitid:two-asks",
        state_schema: { fields: { a: { type: "integer" }, b: { type: "integer" } } },
        nodes: [
          { id: "start", kind: "noop" },
          { id: "ask_a", kind: "interrupt", prompt: "A?", response_field: "a" },
          { id: "ask_b", kind: "interrupt", prompt: "B?", response_field: "b" }
        ],
        edges: [{ from: "start", to: ["ask_a", "ask_b"] }]
      })
      const asked = yield* Effect.flatMap(graph.start({}), (run) => run.start())
      const first = asked.waiting!.wait_id!
      const again = yield* Effect.flatMap(graph.resume(asked.run_id, { response: { value: 1 }, waitId: first, actor: "alice" }), (run) => run.start())
      const stale = yield* Effect.either(graph.resume(asked.run_id, { response: { value: 9 }, waitId: first, actor: "mallory" }))
      const done = yield* Effect.flatMap(graph.resume(asked.run_id, { response: { value: 2 }, waitId: again.waiting!.wait_id!, actor: "bob" }), (run) => run.start())
      const ended = yield* Effect.either(graph.resume(asked.run_id, { response: { value: 9 }, waitId: first, actor: "mallory" }))
      const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(asked.run_id))
      return { id: asked.run_id, first, again, stale, done, ended, checkpoints }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(out.again.waiting).toMatchObject({ node: "ask_b", others: { ask_a: [1] }, answered_waits: [{ wait_id: out.first, node: "ask_a", actor: "alice" }] })
    const at = out.again.waiting!.answered_waits![0]!.at!
    expect(at).toMatch(/^\d{4}-\d\d-\d\dT/)
    const refusal = (now: string) => `run ${out.id} was already answered by 'alice' at ${at} through another process or request: ${now}; this answer was not applied (read the run to see its outcome)`
    expect(Either.isLeft(out.stale) && out.stale.left).toMatchObject({ _tag: "RunStateError", message: refusal("it went on and now waits at node 'ask_b' for another answer") })
    expect(out.done).toMatchObject({ status: "done", final_state: { a: 1, b: 2 } })
    expect(Either.isLeft(out.ended) && out.ended.left).toMatchObject({ _tag: "RunStateError", message: refusal("it went on and is now done") })
    // Each answer's record names its wait and who gave it (alice's, given with an earlier resume of the step, when).
    const responses = out.checkpoints.flatMap((cp) => (cp.calls ?? []).filter((c) => c.name === "interrupt.response"))
    expect(responses.map((c) => [c.node, c.request, c.response, c.meta])).toEqual([
      ["ask_a", { prompt: "A?", node: "ask_a", actor: "alice" }, 1, { wait_id: out.first, at }],
      ["ask_b", { prompt: "B?", node: "ask_b", actor: "bob" }, 2, { wait_id: out.again.waiting!.wait_id! }]
    ])
  })

  it("a parent's record written before it kept its step's answered waits reads as before: the child's record says when, nothing says who; once committed, the late answer is a moved wait", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const parent = runIdOf((await stargraph(["run", PARENT, "--db", db, "--quiet"])).last)
    const first = (await inspect(parent, db))["waiting"]["wait_id"] as string
    expect((await stargraph(["respond", parent, "--db", db, "--wait-id", first, "--response", "1", "--actor", "alice", "--quiet"])).code).toBe(3)
    // As an older Stargraph wrote it: no answered_waits on the wait.
    const file = new Database(db)
    file.prepare("UPDATE runs_history SET waiting = json_remove(waiting, '$.answered_waits') WHERE run_id = ?").run(parent)
    file.close()
    const before = await inspect(parent, db)
    expect(before["waiting"]["answered_waits"]).toBeUndefined()
    const second = before["waiting"]["wait_id"] as string
    const stale = await stargraph(["respond", parent, "--db", db, "--wait-id", first, "--response", "9", "--quiet"])
    expect(stale.stderr).toMatch(new RegExp(`^error: RunStateError: run ${parent} was already answered at \\d{4}-[^ ]+ through another process or request: it went on and now waits at node 'sub' for another answer;`))
    expect((await stargraph(["respond", parent, "--db", db, "--wait-id", second, "--response", "2", "--quiet"])).code).toBe(0)
    const late = await stargraph(["respond", parent, "--db", db, "--wait-id", first, "--response", "9", "--quiet"])
    expect(late.stderr).toContain(`run ${parent} does not wait at ${first}: it is done now, waiting for no answer; this answer was not applied`)
  })

  it("--wait-id without --response is bad input (exit 2), nothing changes", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const id = runIdOf((await stargraph(["run", TWICE, "--db", db, "--quiet"])).last)
    const before = await inspect(id, db)
    const bare = await stargraph(["resume", id, "--db", db, "--wait-id", before["waiting"]["wait_id"]])
    expect(bare.code).toBe(2)
    expect(bare.stderr).toMatch(/^error: InputError: --wait-id: it names the wait an answer is for, and no --response was given \(fix: pass the answer too/)
    expect(await inspect(id, db)).toEqual(before)
  })
})
