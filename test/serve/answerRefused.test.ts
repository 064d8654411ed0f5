/**
 * A refused `POST /v1/runs/{id}/respond` is audited: each kind of refusal (a `wait_id` the
 * run no longer waits at, the loser of two answers to one wait (`answered-first`, also when
 * it names the wait it lost: not `wait-moved`), a fork's child run answered
 * directly, a value that does not fit the waited field) writes exactly one `answer.refused`
 * record to the server's chained audit log, with the client as actor (`http:127.0.0.1`),
 * whether the handler, the scheduler or the graph refused it; the response (status, error)
 * and the run are unchanged, an accepted answer writes no such record, and `stargraph
 * verify-audit` still passes on the log.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hashJson } from "../../src/ir/hash.js"
import { ROOT, stargraph, tempDir } from "../helpers/cli.js"
import { boot, call, waitFor } from "../helpers/server.js"

const TWICE = join(ROOT, "test", "fixtures", "waitid", "ask-twice.yaml")
const APPROVAL = join(ROOT, "examples", "approval", "graph.yaml")
const APPROVAL_PARENT = join(ROOT, "test", "fixtures", "subgraph", "approval-parent.yaml")
const APPROVAL_CHILD = join(ROOT, "test", "fixtures", "subgraph", "approval-child.yaml")

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const ACTOR = "http:127.0.0.1"

let server: Awaited<ReturnType<typeof boot>>
let log: string

beforeAll(async () => {
  const dir = tempDir("stargraph-answer-refused-http-")
  log = join(dir, "audit.jsonl")
  server = await boot({
    db: join(dir, "serve.sqlite"),
    graphs: [TWICE, APPROVAL, APPROVAL_PARENT, APPROVAL_CHILD],
    auditLog: { path: log, key: join(dir, "audit.key") },
    scheduler: { pollIntervalMs: 50 }
  })
})

afterAll(() => server.close())

/** The `answer.refused` records of the server's chained log about run `runId`. */
const refusedFor = (runId: string): ReadonlyArray<Record<string, any>> =>
  readFileSync(log, "utf8").split("\n").filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { record: Record<string, any> }).record)
    .filter((r) => r["event"] === "answer.refused" && r["run_id"] === runId)

const run = (id: string) => call(`${server.url}/v1/runs/${id}`)
const respond = (id: string, body: Record<string, unknown>) => call(`${server.url}/v1/runs/${id}/respond`, body)

/** Start a run of `graphId` and wait until it waits for input: its id and record. */
const waiting = async (graphId: string, params: Record<string, unknown>) => {
  const created = await call(`${server.url}/v1/runs`, { graph_id: graphId, params })
  expect(created.status, created.text).toBe(202)
  const id = created.body["run_id"] as string
  const shown = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input")
  expect(shown.body["status"]).toBe("awaiting-input")
  return { id, record: shown.body }
}

const ended = (id: string) => waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "done" || b["status"] === "failed")

/** `stargraph verify-audit` passes on the server's log. */
const expectVerified = async () => {
  const verified = await stargraph(["verify-audit", log, "--json"])
  expect(verified.code, verified.stderr).toBe(0)
  expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, error: null })
}

describe("answer.refused audit records (HTTP respond)", () => {
  it("a wait_id the run no longer waits at: 409 as before, one record naming both waits; accepted answers write none", async () => {
    const { id, record } = await waiting("waitid:ask_twice", {})
    const first = record["waiting"]["wait_id"] as string
    expect((await respond(id, { response: 1, wait_id: first })).status).toBe(202)
    const again = await waitFor(`${server.url}/v1/runs/${id}`, (b) => b["status"] === "awaiting-input" && b["waiting"]["wait_id"] !== first)
    const second = again.body["waiting"]["wait_id"] as string
    expect(refusedFor(id)).toEqual([])
    const garbage = "w000000000000"
    const late = await respond(id, { response: 99, wait_id: garbage })
    expect(late.status).toBe(409)
    const message = `run ${id} does not wait at ${garbage}: it waits at ${second} now (node 'ask': "Pick a number"); this answer was not applied`
    expect(late.body["error"]).toMatchObject({ type: "RunStateError", message: `RunStateError: ${message}`, details: { operation: "respond", waitId: second, message } })
    // The first question, which the node asked before it asked again in the step: answered (who, when), not moved.
    const answered = await respond(id, { response: 98, wait_id: first })
    expect(answered.status).toBe(409)
    const already = answered.body["error"]["details"]["message"] as string
    expect(already).toMatch(new RegExp(`^run ${id} was already answered by '${ACTOR}' at \\d{4}-[^ ]+ through another process or request: it went on and now waits at node 'ask' for another answer; this answer was not applied`))
    expect(answered.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "respond", waitId: second } })
    expect((await run(id)).body).toEqual(again.body)
    expect(refusedFor(id)).toEqual([{
      ts: expect.stringMatching(ISO),
      actor: ACTOR,
      event: "answer.refused",
      run_id: id,
      wait_id: garbage,
      current_wait_id: second,
      reason: "wait-moved",
      error: "RunStateError",
      message,
      response_sha256: hashJson(99)
    }, {
      ts: expect.stringMatching(ISO),
      actor: ACTOR,
      event: "answer.refused",
      run_id: id,
      wait_id: first,
      current_wait_id: second,
      reason: "answered-first",
      error: "RunStateError",
      message: already,
      response_sha256: hashJson(98)
    }])
    expect((await respond(id, { response: 2, wait_id: second })).status).toBe(202)
    expect((await ended(id)).body).toMatchObject({ status: "done", final_state: { picks: "1,2" } })
    expect(refusedFor(id)).toHaveLength(2)
    await expectVerified()
  })

  it("a second answer after the first was accepted: 409 as before, one record; the first writes none", async () => {
    const { id } = await waiting("run:approval", { request: "r" })
    expect((await respond(id, { response: { approved: true } })).status).toBe(202)
    const late = await respond(id, { response: { approved: false } })
    expect(late.status).toBe(409)
    expect(late.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "respond" } })
    expect(late.body["error"]["details"]["message"]).toMatch(new RegExp(`^run ${id} was already answered by '${ACTOR}' at .*; this answer was not applied`))
    expect(refusedFor(id)).toEqual([{
      ts: expect.stringMatching(ISO),
      actor: ACTOR,
      event: "answer.refused",
      run_id: id,
      wait_id: null,
      current_wait_id: null,
      reason: "answered-first",
      error: "RunStateError",
      message: late.body["error"]["details"]["message"],
      response_sha256: hashJson({ approved: false })
    }])
    expect((await ended(id)).body).toMatchObject({ status: "done", final_state: { outcome: "published: Proposed change: r" } })
    expect(refusedFor(id)).toHaveLength(1)
    await expectVerified()
  })

  it("a second answer naming the right wait_id after the first was accepted: 409 answered-first (who, when), not wait-moved", async () => {
    const { id, record } = await waiting("run:approval", { request: "w" })
    const wait = record["waiting"]["wait_id"] as string
    expect((await respond(id, { response: { approved: true }, wait_id: wait })).status).toBe(202)
    // Refused while the run is driven with the first answer, and once it is done (the answer is then read from its step).
    const early = await respond(id, { response: { approved: false }, wait_id: wait })
    await ended(id)
    const late = await respond(id, { response: { approved: false }, wait_id: wait })
    for (const refused of [early, late]) {
      expect(refused.status, refused.text).toBe(409)
      expect(refused.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "respond" } })
      expect(refused.body["error"]["details"]["message"]).toMatch(new RegExp(`^run ${id} was already answered by '${ACTOR}' at \\d{4}-.*; this answer was not applied`))
    }
    expect(late.body["error"]["details"]["message"]).toContain("it went on and is now done")
    expect(refusedFor(id)).toEqual([early, late].map((refused) => ({
      ts: expect.stringMatching(ISO),
      actor: ACTOR,
      event: "answer.refused",
      run_id: id,
      wait_id: wait,
      current_wait_id: null,
      reason: "answered-first",
      error: "RunStateError",
      message: refused.body["error"]["details"]["message"],
      response_sha256: hashJson({ approved: false })
    })))
    expect((await run(id)).body).toMatchObject({ status: "done", final_state: { outcome: "published: Proposed change: w" } })
    await expectVerified()
  })

  it("a wait_id the run never waited at: 409 wait-moved, whether it waits or is done", async () => {
    const { id, record } = await waiting("run:approval", { request: "g" })
    const wait = record["waiting"]["wait_id"] as string
    const garbage = "w000000000000"
    const waitingNow = await respond(id, { response: { approved: false }, wait_id: garbage })
    expect(waitingNow.status).toBe(409)
    expect(waitingNow.body["error"]["details"]["message"]).toBe(`run ${id} does not wait at ${garbage}: it waits at ${wait} now (node 'review': ${JSON.stringify(record["waiting"]["prompt"])}); this answer was not applied`)
    expect((await respond(id, { response: { approved: true }, wait_id: wait })).status).toBe(202)
    await ended(id)
    const doneNow = await respond(id, { response: { approved: false }, wait_id: garbage })
    expect(doneNow.status).toBe(409)
    expect(doneNow.body["error"]["details"]["message"]).toBe(`run ${id} does not wait at ${garbage}: it is done now, waiting for no answer; this answer was not applied`)
    expect(refusedFor(id).map((r) => [r["reason"], r["wait_id"], r["current_wait_id"], r["message"]])).toEqual([
      ["wait-moved", garbage, wait, waitingNow.body["error"]["details"]["message"]],
      ["wait-moved", garbage, null, doneNow.body["error"]["details"]["message"]]
    ])
    await expectVerified()
  })

  it("an answer to a run that waits for none (cancelled while it waited): 409 not-waiting, said in the respond's terms, one record", async () => {
    const { id } = await waiting("run:approval", { request: "c" })
    expect((await call(`${server.url}/v1/runs/${id}/cancel`, {})).body).toEqual({ run_id: id, status: "cancelled" })
    const before = (await run(id)).body
    const refused = await respond(id, { response: { approved: true } })
    expect([refused.status, refused.body["error"]["type"], refused.body["error"]["details"]]).toEqual([409, "RunStateError", {
      runId: id,
      status: "cancelled",
      operation: "respond",
      message: `run ${id} is cancelled, not awaiting input`
    }])
    expect((await run(id)).body).toEqual(before)
    expect(refusedFor(id).map((r) => [r["actor"], r["reason"], r["wait_id"], r["current_wait_id"], r["message"]])).toEqual([
      [ACTOR, "not-waiting", null, null, `run ${id} is cancelled, not awaiting input`]
    ])
    await expectVerified()
  })

  it("two answers at once: one 202, one 409, and exactly one record, for the refused one", async () => {
    for (let round = 0; round < 4; round++) {
      const { id, record } = await waiting("run:approval", { request: `r${round}` })
      const wait = record["waiting"]["wait_id"] as string
      const [a, b] = await Promise.all([
        respond(id, { response: { approved: true }, wait_id: wait }),
        respond(id, { response: { approved: false }, wait_id: wait })
      ])
      expect([a.status, b.status].sort(), `round ${round}: ${a.text} | ${b.text}`).toEqual([202, 409])
      const loser = a.status === 409 ? a : b
      // The loser named the right wait: it lost to the other answer (who, when), whether the handler or the scheduler refused it.
      expect(loser.body["error"]["details"]["message"]).toMatch(new RegExp(`^run ${id} was already answered by '${ACTOR}' at .*; this answer was not applied`))
      expect(refusedFor(id)).toEqual([expect.objectContaining({
        actor: ACTOR,
        wait_id: wait,
        reason: "answered-first",
        error: "RunStateError",
        message: loser.body["error"]["details"]["message"],
        response_sha256: hashJson({ approved: a.status === 409 })
      })])
      await ended(id)
    }
    await expectVerified()
  })

  it("a fork's child run answered directly: 409 as before, one record naming the child run and its wait", async () => {
    const { id: parent } = await waiting("run:approval-parent", { request: "deploy" })
    const cf = (await call(`${server.url}/v1/runs/${parent}/counterfactual`, {})).body["cf_run_id"] as string
    const forkWaiting = await waitFor(`${server.url}/v1/runs/${cf}`, (b) => b["status"] === "awaiting-input")
    const child = forkWaiting.body["waiting"]["payload"]["child_run_id"] as string
    const before = (await run(child)).body
    const refused = await respond(child, { response: "yes" })
    expect(refused.status).toBe(409)
    expect(refused.body["error"]).toMatchObject({ type: "RunStateError", details: { operation: "respond", forkRunId: cf } })
    expect((await run(child)).body).toEqual(before)
    expect(refusedFor(child)).toEqual([{
      ts: expect.stringMatching(ISO),
      actor: ACTOR,
      event: "answer.refused",
      run_id: child,
      wait_id: null,
      current_wait_id: before["waiting"]["wait_id"],
      reason: "fork-descendant",
      error: "RunStateError",
      message: refused.body["error"]["details"]["message"],
      response_sha256: hashJson("yes")
    }])
    await expectVerified()
  })

  it("a value that does not fit the waited field: 400 as before, one record; the right value is accepted and writes none", async () => {
    const { id, record } = await waiting("run:approval", { request: "v" })
    const wait = record["waiting"]["wait_id"] as string
    const bad = await respond(id, { response: { approved: "yes" }, wait_id: wait })
    expect(bad.status).toBe(400)
    expect(bad.body["error"]).toMatchObject({ type: "StateValidationError" })
    expect((await run(id)).body).toEqual(record)
    expect(refusedFor(id)).toEqual([{
      ts: expect.stringMatching(ISO),
      actor: ACTOR,
      event: "answer.refused",
      run_id: id,
      wait_id: wait,
      current_wait_id: wait,
      reason: "invalid-value",
      error: "StateValidationError",
      message: "the response does not fit field 'decision': Expected boolean, actual \"yes\"",
      response_sha256: hashJson({ approved: "yes" })
    }])
    expect((await respond(id, { response: { approved: true }, wait_id: wait })).status).toBe(202)
    expect((await ended(id)).body["status"]).toBe("done")
    expect(refusedFor(id)).toHaveLength(1)
    await expectVerified()
  })
})
