import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import type { NodeFunction } from "../../src/nodes/Executor.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"

/** Live model calls of the drafting node: a fork past its recording makes them with --live-after-fork. */
const live = { calls: 0 }
/** Writes the next draft through a (recorded) model call. */
const write: NodeFunction = async (state, ctx) => {
  const text = await ctx.call("llm.complete", { prompt: `revise draft ${state["draft"]}` }, () => {
    live.calls++
    return `draft ${Number(state["draft"]) + 1}`
  })
  return { draft: Number(state["draft"]) + 1, text: text as string }
}
/** The judge: passes the draft once it is good enough (`pass_at`), else sends it back. */
const judge: NodeFunction = (state) => ({ verdict: Number(state["draft"]) >= Number(state["pass_at"]) ? "pass" : "fail" })

/** write → judge → (fail: write again | pass: publish). The graph's own max_steps is 40. */
const ir = {
  ir_version: "1.0.0",
  id: "replay:budget",
  max_steps: 40,
  state_schema: {
    fields: {
      draft: { type: "integer", default: 0 },
      text: { type: "string", default: "" },
      verdict: { type: "string", default: "" },
      pass_at: { type: "integer", default: 2 },
      published: { type: "boolean", default: false }
    }
  },
  nodes: [
    { id: "write", kind: "function", module: "m", export: "write" },
    { id: "judge", kind: "function", module: "m", export: "judge" },
    { id: "publish", kind: "set", values: { published: true } }
  ],
  edges: [
    { from: "write", to: "judge" },
    { from: "judge", cases: [{ when: { field: "verdict", op: "eq", value: "fail" }, to: "write" }], default: "publish" }
  ]
}

/** The judge overridden to fail: the loop never exits. */
const FAIL = { node_output_overrides: { judge: { verdict: "fail" } } }

const setup = async () => {
  const layer = SqliteCheckpointer.layer({ filename: join(tempDir(), "db.sqlite") })
  const graph = await Effect.runPromise(Graph.make(ir, { modules: { m: { write, judge } } }))
  const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(effect.pipe(Effect.provide(layer)))
  // write(1) judge(2: fail) write(3) judge(4: pass) publish(5).
  const parent = await run(Effect.flatMap(graph.start(), (r) => r.start()))
  const fork = (options: Replay.ForkOptions) => run(Effect.either(Replay.fork(graph, parent.run_id, options)))
  const record = (runId: string) => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)), Option.getOrThrow))
  const steps = (runId: string) => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runId)), (cps) => cps.map((c) => c.step)))
  const runCount = () => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 500 })), (p) => p.runs.length))
  return { graph, parent, fork, record, steps, runCount, run }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe("a fork's step budget (maxSteps)", () => {
  it("stops a fork whose override keeps a loop going after exactly maxSteps steps past its fork step, with StepLimitError and its steps kept", async () => {
    const { fork, parent, record, steps } = await setup()
    expect([parent.status, parent.steps, parent.final_state["published"]]).toEqual(["done", 5, true])
    live.calls = 0
    const forked = await fork({ mutation: FAIL, liveAfterFork: true, maxSteps: 7 })
    if (Either.isLeft(forked)) throw new Error(`the fork was refused: ${forked.left.message}`)
    const result = forked.right
    expect(result.error?._tag).toBe("StepLimitError")
    expect(result.error).toMatchObject({ maxSteps: 7 })
    expect(result.error?.message).toContain(`fork ${result.cfRunId} used its step budget: max_steps 7 after its fork step 0 (its steps 1..7 are kept)`)
    // How to raise it, on every interface.
    expect(result.error?.message).toMatch(/--max-steps on stargraph replay, "max_steps" in the POST \/v1\/runs\/\{id\}\/counterfactual body, maxSteps in Replay\.fork's options/)
    expect(result.summary.status).toBe("failed")
    expect(await steps(result.cfRunId)).toEqual(range(0, 7))
    const stored = await record(result.cfRunId)
    expect([stored.status, stored.error?.type, stored.fork_max_steps, stored.last_step]).toEqual(["failed", "StepLimitError", 7, 7])
    // Steps 1 and 3 were the parent's (replayed), 5 and 7 went past its recording: two live calls, not thousands.
    expect(live.calls).toBe(2)
    expect(result.diff.outcome).toEqual({ parent: { status: "done" }, fork: { status: "failed", error: "StepLimitError" } })

    // From a later step the budget counts from there.
    const later = await fork({ mutation: FAIL, fromStep: 2, liveAfterFork: true, maxSteps: 3 })
    if (Either.isLeft(later)) throw new Error(later.left.message)
    expect(later.right.error?.message).toContain("max_steps 3 after its fork step 2 (its steps 3..5 are kept)")
    expect(await steps(later.right.cfRunId)).toEqual(range(0, 5))
  })

  it("a budget the fork does not reach changes nothing; without one the graph's max_steps stops it; the derived hash is the same either way", async () => {
    const { fork } = await setup()
    const exact = await fork({ maxSteps: 5 })
    const exactPlain = await fork({})
    if (Either.isLeft(exact) || Either.isLeft(exactPlain)) throw new Error("an exact replay was refused")
    // The parent's 5 steps after step 0 fit a budget of 5.
    expect([exact.right.summary.status, exact.right.summary.steps, exact.right.error]).toEqual(["done", 5, undefined])
    expect(exact.right.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    expect(exact.right.derivedHash).toBe(exactPlain.right.derivedHash)

    const budgeted = await fork({ mutation: FAIL, liveAfterFork: true, maxSteps: 4 })
    const unbounded = await fork({ mutation: FAIL, liveAfterFork: true })
    if (Either.isLeft(budgeted) || Either.isLeft(unbounded)) throw new Error("a fork was refused")
    expect(budgeted.right.derivedHash).toBe(unbounded.right.derivedHash)
    expect(budgeted.right.derivedHash).toMatch(/^sha256:/)
    // Without a budget: the graph's max_steps (40), with its own message.
    expect(unbounded.right.error?._tag).toBe("StepLimitError")
    expect(unbounded.right.error?.message).toMatch(/^the run exceeded max_steps \(40\)/)
    expect(unbounded.right.summary.steps).toBe(40)
    expect(budgeted.right.summary.steps).toBe(4)
  })

  it("a fork of a fork given no budget takes its parent fork's, counted from its own fork step; one given a budget keeps its own", async () => {
    const { graph, fork, record, steps, run } = await setup()
    const first = await fork({ mutation: FAIL, liveAfterFork: true, maxSteps: 3 })
    if (Either.isLeft(first)) throw new Error(first.left.message)
    const parentFork = first.right.cfRunId
    expect(await steps(parentFork)).toEqual(range(0, 3))
    const forkOf = (options: Replay.ForkOptions) => run(Effect.either(Replay.fork(graph, parentFork, options)))

    // No budget of its own: its parent fork's 3, after its own fork step 2 (steps 3..5).
    const inherited = await forkOf({ fromStep: 2, liveAfterFork: true })
    if (Either.isLeft(inherited)) throw new Error(inherited.left.message)
    expect(inherited.right.error?._tag).toBe("StepLimitError")
    expect(inherited.right.error?.message).toContain(`fork ${inherited.right.cfRunId} used its step budget: max_steps 3 after its fork step 2 (its steps 3..5 are kept)`)
    expect(await steps(inherited.right.cfRunId)).toEqual(range(0, 5))
    expect((await record(inherited.right.cfRunId)).fork_max_steps).toBe(3)

    // Its own budget, larger or smaller, wins.
    for (const own of [6, 1]) {
      const kept = await forkOf({ fromStep: 2, liveAfterFork: true, maxSteps: own })
      if (Either.isLeft(kept)) throw new Error(kept.left.message)
      expect(kept.right.error?.message).toContain(`max_steps ${own} after its fork step 2 (its steps 3..${2 + own} are kept)`)
      expect(await steps(kept.right.cfRunId)).toEqual(range(0, 2 + own))
      expect((await record(kept.right.cfRunId)).fork_max_steps).toBe(own)
    }

    // A fork of a fork without a budget has none to pass on: the graph's max_steps (40) stops it.
    const unbounded = await fork({ mutation: FAIL, liveAfterFork: true, })
    if (Either.isLeft(unbounded)) throw new Error(unbounded.left.message)
    const again = await run(Effect.either(Replay.fork(graph, unbounded.right.cfRunId, { fromStep: 30, liveAfterFork: true })))
    if (Either.isLeft(again)) throw new Error(again.left.message)
    expect(again.right.error?.message).toMatch(/^the run exceeded max_steps \(40\)/)
    expect((await record(again.right.cfRunId)).fork_max_steps).toBeNull()
  })

  it.each([
    ["zero", 0, "0"],
    ["a negative number", -3, "-3"],
    ["a fraction", 2.5, "2.5"],
    ["a string", "5", "\"5\""],
    ["NaN", Number.NaN, "NaN"]
  ])("refuses %s as maxSteps with an InputError naming the field, writing nothing", async (_what, value, shown) => {
    const { fork, runCount } = await setup()
    const before = await runCount()
    const outcome = await fork({ mutation: FAIL, maxSteps: value as number })
    expect(Either.isLeft(outcome) && outcome.left).toMatchObject({
      _tag: "InputError",
      field: "max_steps",
      message: `${shown} is not a whole number ≥ 1`,
      fix: expect.stringContaining("give max_steps a whole number ≥ 1: the most steps the fork may take after its fork step")
    })
    expect(await runCount()).toBe(before)
  })

  it("a fork stopped part-way (awaiting input at a breakpoint, paused) keeps its budget when resumed", async () => {
    const { graph, parent, record, steps, run } = await setup()
    // Pauses after every judge step: 2, 4, 6; the budget stops it before step 8.
    // (The fork's run is driven while its store is open: in the effect that wrote it.)
    const { cfRunId, first } = await run(Effect.flatMap(
      Replay.start(graph, parent.run_id, { mutation: FAIL, liveAfterFork: true, maxSteps: 7, interruptAfter: ["judge"] }),
      (started) => Effect.map(started.run.start(), (first) => ({ cfRunId: started.cfRunId, first }))
    ))
    expect([first.status, first.steps]).toEqual(["awaiting-input", 2])
    const seen: Array<string> = []
    let outcome = Either.right(first) as Either.Either<typeof first, { readonly _tag: string; readonly message: string }>
    // Each resume reads the fork's record again (as `stargraph resume` and a server adopting it do).
    for (let i = 0; i < 10 && Either.isRight(outcome) && outcome.right.status === "awaiting-input"; i++) {
      outcome = await run(Effect.either(Effect.flatMap(graph.resume(cfRunId), (r) => r.start())))
      seen.push(Either.isRight(outcome) ? `${outcome.right.status}@${outcome.right.steps}` : outcome.left._tag)
    }
    expect(seen).toEqual(["awaiting-input@4", "awaiting-input@6", "StepLimitError"])
    expect(Either.isLeft(outcome) && outcome.left.message).toContain("max_steps 7 after its fork step 0")
    expect(await steps(cfRunId)).toEqual(range(0, 7))

    // Paused (Ctrl-C's pause) and resumed: the same.
    const again = await run(Effect.gen(function*() {
      const started = yield* Replay.start(graph, parent.run_id, { mutation: FAIL, liveAfterFork: true, maxSteps: 3 })
      yield* started.run.pause()
      return { cfRunId: started.cfRunId, summary: yield* started.run.start() }
    }))
    const paused = again.summary
    expect(paused.status).toBe("paused")
    expect((await record(again.cfRunId)).fork_max_steps).toBe(3)
    const resumed = await run(Effect.either(Effect.flatMap(graph.resume(again.cfRunId), (r) => r.start())))
    expect(Either.isLeft(resumed) && resumed.left._tag).toBe("StepLimitError")
    expect(await steps(again.cfRunId)).toEqual(range(0, 3))
  })
})
