import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"

// A child that asks for a number, then doubles it with a recorded tool call; a parent that runs it.
const CHILD = [
  'ir_version: "1.0.0"', "id: run:ask-double", "state_schema:", "  fields:", "    n: { type: integer, default: 0 }", "    doubled: { type: integer, default: 0 }",
  "nodes:", '  - { id: ask, kind: interrupt, prompt: "number?", response_field: n }',
  '  - { id: dbl, kind: tool, tool: std.calculator@1, inputs: { expression: "{{n}} * 2" }, out: { doubled: result } }', "edges:", "  - { from: ask, to: dbl }", ""
].join("\n")
const PARENT = [
  'ir_version: "1.0.0"', "id: run:sub-double", "state_schema:", "  fields:", "    n: { type: integer, default: 0 }", "    doubled: { type: integer, default: 0 }",
  "nodes:", "  - { id: sub, kind: subgraph, spec: ./child.yaml }", ""
].join("\n")

const setup = async () => {
  const dir = tempDir()
  writeFileSync(join(dir, "child.yaml"), CHILD)
  writeFileSync(join(dir, "parent.yaml"), PARENT)
  const layer = SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") })
  const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
  const parent = await Effect.runPromise(Graph.load(join(dir, "parent.yaml")))
  const child = await Effect.runPromise(Graph.load(join(dir, "child.yaml")))
  const record = (runId: string) => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)), Option.getOrThrow))
  const checkpoints = (runId: string) => run(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runId)))
  // The parent waits inside its child; a fork of it (no live calls) waits in its own child.
  const first = await run(Effect.flatMap(parent.start({ inputs: {} }), (r) => r.start()))
  expect(first.status).toBe("awaiting-input")
  const fork = await run(Replay.fork(parent, first.run_id, {}))
  expect(fork.summary.status).toBe("awaiting-input")
  const forkChild = String(fork.summary.waiting?.payload?.["child_run_id"])
  expect(await record(forkChild)).toMatchObject({ status: "awaiting-input", parent_run_id: fork.cfRunId, derived_hash: null })
  return { run, parent, child, record, checkpoints, first, cf: fork.cfRunId, forkChild }
}

describe("a counterfactual fork's child run", () => {
  it("is refused an answer or a resume given to it directly (no replay source: it would call live), naming the fork; answered through the fork, it goes on", async () => {
    const t = await setup()
    const before = await t.checkpoints(t.forkChild)
    const answered = await t.run(Effect.either(t.child.resume(t.forkChild, { response: { value: 7 } })))
    if (Either.isRight(answered)) throw new Error("expected the direct answer to be refused")
    expect(answered.left).toMatchObject({ _tag: "RunStateError", runId: t.forkChild, forkRunId: t.cf })
    expect(answered.left.message).toContain(`is a child run of fork ${t.cf}`)
    // The parent's recording ends at the question: the fork is answered with live calls allowed.
    const fix = (answered.left as { fix?: string }).fix ?? ""
    expect(fix).toContain(`stargraph respond ${t.cf} --response '<json>' --live-after-fork`)
    expect(fix).toContain(`POST /v1/runs/${t.cf}/respond with {"response": <JSON>, "live_after_fork": true}`)
    // Resumed without an answer: refused the same way.
    const resumed = await t.run(Effect.either(t.child.resume(t.forkChild)))
    expect(Either.isLeft(resumed) && resumed.left).toMatchObject({ _tag: "RunStateError", forkRunId: t.cf })
    // Nothing changed: the child and the fork still wait.
    expect(await t.record(t.forkChild)).toMatchObject({ status: "awaiting-input" })
    expect(await t.record(t.cf)).toMatchObject({ status: "awaiting-input" })
    expect(await t.checkpoints(t.forkChild)).toEqual(before)
    // A fork's child stopped part-way (paused, as its fork is) is not resumed on its own either: the fork is.
    const waiting = (await t.record(t.forkChild)).waiting
    const forkWaiting = (await t.record(t.cf)).waiting
    await t.run(Effect.flatMap(Checkpointer, (c) =>
      Effect.zipRight(c.updateRun(t.forkChild, { status: "paused", waiting: null }), c.updateRun(t.cf, { status: "paused", waiting: null }))))
    const paused = await t.run(Effect.either(t.child.resume(t.forkChild)))
    if (Either.isRight(paused)) throw new Error("expected the direct resume to be refused")
    expect(paused.left).toMatchObject({ _tag: "RunStateError", forkRunId: t.cf })
    expect((paused.left as { fix?: string }).fix).toContain(`stargraph resume ${t.cf} on the CLI`)
    await t.run(Effect.flatMap(Checkpointer, (c) =>
      Effect.zipRight(c.updateRun(t.forkChild, { status: "awaiting-input", waiting }), c.updateRun(t.cf, { status: "awaiting-input", waiting: forkWaiting }))))
    // Answered through the fork (live calls allowed: the recording ends at the question), the answer reaches its child.
    const done = await t.run(Effect.flatMap(t.parent.resume(t.cf, { response: { value: 7 }, liveAfterFork: true }), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { n: 7, doubled: 14 } })
    expect(await t.record(t.forkChild)).toMatchObject({ status: "done" })
  })

  it("answered directly with live calls after a fork allowed, gets the same refusal naming the fork (whose answer carries the option), not one saying it is no fork", async () => {
    const t = await setup()
    const before = { child: await t.record(t.forkChild), fork: await t.record(t.cf), checkpoints: await t.checkpoints(t.forkChild) }
    const answered = await t.run(Effect.either(t.child.resume(t.forkChild, { response: { value: 7 }, liveAfterFork: true })))
    if (Either.isRight(answered)) throw new Error("expected the direct answer to be refused")
    expect(answered.left).toMatchObject({ _tag: "RunStateError", runId: t.forkChild, forkRunId: t.cf })
    expect(answered.left.message).toContain(`is a child run of fork ${t.cf}`)
    expect((answered.left as { field?: string }).field).toBeUndefined()
    expect((answered.left as { fix?: string }).fix).toContain(`stargraph respond ${t.cf} --response '<json>' --live-after-fork`)
    expect({ child: await t.record(t.forkChild), fork: await t.record(t.cf), checkpoints: await t.checkpoints(t.forkChild) }).toEqual(before)
  })

  it("is refused an edit of its state (update-state), naming the fork to fork again with the state wanted; nothing is written, and the fork still finishes", async () => {
    const t = await setup()
    const before = { child: await t.record(t.forkChild), fork: await t.record(t.cf), checkpoints: await t.checkpoints(t.forkChild), forkCheckpoints: await t.checkpoints(t.cf) }
    const edited = await t.run(Effect.either(t.child.updateState(t.forkChild, { n: 5 })))
    if (Either.isRight(edited)) throw new Error("expected the edit to be refused")
    expect(edited.left).toMatchObject({ _tag: "RunStateError", runId: t.forkChild, operation: "update-state", forkRunId: t.cf })
    expect(edited.left.message).toContain(`run ${t.forkChild} is a child run of fork ${t.cf}`)
    expect(edited.left.message).toContain("nothing was written")
    const fix = (edited.left as { fix?: string }).fix ?? ""
    const forkLast = before.fork.last_step
    expect(fix).toContain(`stargraph replay ${t.cf} --from-step ${forkLast} --mutation '{"state_overrides": {…}}' --live-after-fork on the CLI`)
    expect(fix).toContain(`POST /v1/runs/${t.cf}/counterfactual with {"from_step": ${forkLast}, "mutation": {"state_overrides": {…}}, "live_after_fork": true} over HTTP`)
    expect({ child: await t.record(t.forkChild), fork: await t.record(t.cf), checkpoints: await t.checkpoints(t.forkChild), forkCheckpoints: await t.checkpoints(t.cf) }).toEqual(before)
    // Paused part-way (as its fork is), it is refused the same way.
    await t.run(Effect.flatMap(Checkpointer, (c) => Effect.zipRight(c.updateRun(t.forkChild, { status: "paused", waiting: null }), c.updateRun(t.cf, { status: "paused", waiting: null }))))
    const paused = await t.run(Effect.either(t.child.updateState(t.forkChild, { n: 5 })))
    expect(Either.isLeft(paused) && paused.left).toMatchObject({ _tag: "RunStateError", operation: "update-state", forkRunId: t.cf })
    expect(await t.checkpoints(t.forkChild)).toEqual(before.checkpoints)
    await t.run(Effect.flatMap(Checkpointer, (c) =>
      Effect.zipRight(c.updateRun(t.forkChild, { status: "awaiting-input", waiting: before.child.waiting }), c.updateRun(t.cf, { status: "awaiting-input", waiting: before.fork.waiting }))))
    // The fix: forked again from its last step with the state wanted (live calls allowed), its node starts a new child run from that state.
    const again = await t.run(Replay.fork(t.parent, t.cf, { fromStep: forkLast, mutation: { state_overrides: { n: 5 } }, liveAfterFork: true }))
    expect([again.summary.status, again.summary.error]).toEqual(["awaiting-input", null])
    const newChild = String(again.summary.waiting?.payload?.["child_run_id"])
    expect(newChild).not.toBe(t.forkChild)
    expect((await t.checkpoints(newChild))[0]?.state).toMatchObject({ n: 5 })
    // The fork, answered, still finishes from where it stopped.
    const done = await t.run(Effect.flatMap(t.parent.resume(t.cf, { response: { value: 7 }, liveAfterFork: true }), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { n: 7, doubled: 14 } })
    // A child of a run that is not a fork is edited as before.
    const plainChild = String((await t.record(t.first.run_id)).waiting?.payload?.["child_run_id"])
    const plain = await t.run(t.child.updateState(plainChild, { n: 5 }))
    expect(plain).toMatchObject({ run_id: plainChild, status: "awaiting-input", delta: { n: 5 } })
  })

  it("answered through its fork after the recording went on, replays the recorded child's calls: another answer diverges instead of calling live", async () => {
    const t = await setup()
    // The parent is answered: its recording now holds its child's tool call for 3.
    const second = await t.run(Effect.flatMap(t.parent.resume(t.first.run_id, { response: { value: 3 } }), (r) => r.start()))
    expect(second).toMatchObject({ status: "done", final_state: { n: 3, doubled: 6 } })
    // The fork may not call live: 5 asks the tool for what the recording never did.
    const diverged = await t.run(Effect.either(Effect.flatMap(t.parent.resume(t.cf, { response: { value: 5 } }), (r) => r.start())))
    const outcome = Either.isRight(diverged) ? diverged.right : undefined
    expect(outcome?.status).not.toBe("done")
    expect(JSON.stringify(Either.isLeft(diverged) ? diverged.left : outcome?.error)).toContain("ReplayDivergenceError")
    expect((await t.checkpoints(t.forkChild)).some((c) => c.nodes.includes("dbl"))).toBe(false)
  })

  it("answered through its fork with the recorded answer, finishes from the recording", async () => {
    const t = await setup()
    await t.run(Effect.flatMap(t.parent.resume(t.first.run_id, { response: { value: 3 } }), (r) => r.start()))
    const done = await t.run(Effect.flatMap(t.parent.resume(t.cf, { response: { value: 3 } }), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { n: 3, doubled: 6 } })
  })
})
