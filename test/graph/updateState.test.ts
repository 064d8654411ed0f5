/**
 * Editing a stopped run's state in place (`graph.updateState`, LangGraph's `update_state`):
 * at a breakpoint, waiting for an answer, paused; through each field's reducer; refused
 * (writing nothing) for a run that is not stopped, a bad field or value, an unknown run;
 * atomic against a resume or another edit; replayed exactly; not inherited by a
 * counterfactual fork from before it. Real SQLite files throughout.
 */
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { OWNER } from "../../src/runtime/owner.js"
import { tempDir } from "../helpers/cli.js"

const run = <A, E>(file: string, effect: Effect.Effect<A, E, Checkpointer>) =>
  Effect.runPromise(Effect.provide(effect, SqliteCheckpointer.layer({ filename: file })) as Effect.Effect<A, E>)

/** What each node saw, and the live calls made (a replay must make none). */
const effects = { seen: [] as Array<string>, calls: [] as Array<string> }

type Ctx = {
  nodeId: string
  call: <T>(name: string, request: unknown, live: () => Promise<T>) => Promise<T>
  interrupt: (prompt: string) => Promise<unknown>
}

const modules = {
  m: {
    // a: drafts a tool call's arguments.
    plan: () => ({ draft: "wrong query", n: 1, messages: [{ id: "m1", role: "ai", content: "plan" }] }),
    // b: uses the draft (what a human fixes at the breakpoint before it).
    use: (s: { draft: string }) => {
      effects.seen.push(`b:${s.draft}`)
      return { log: [`b saw ${s.draft}`], n: 1 }
    },
    // b, asking: uses the draft and an answer.
    ask: async (s: { draft: string }, ctx: Ctx) => {
      const answer = await ctx.interrupt("approve the draft?")
      effects.seen.push(`b:${s.draft}:${String(answer)}`)
      return { log: [`b saw ${s.draft}, answered ${String(answer)}`], n: 1 }
    },
    // c: a recorded call that does not depend on the draft.
    finish: async (_s: unknown, ctx: Ctx) => {
      const got = await ctx.call("tool.echo", { node: ctx.nodeId }, async () => {
        effects.calls.push(ctx.nodeId)
        return "done!"
      })
      return { log: [got], n: 1 }
    }
  }
}

const ir = (middle = "use") => ({
  ir_version: "1.0.0",
  id: "run:update-state",
  state_schema: {
    fields: {
      draft: { type: "string", default: "" },
      n: { type: "integer", default: 0, reducer: "add" },
      log: { type: "array", items: { type: "string" }, default: [], reducer: "append" },
      messages: { type: "array", items: { type: "object" }, default: [], reducer: "messages" }
    }
  },
  nodes: [
    { id: "a", kind: "function", module: "m", export: "plan" },
    { id: "b", kind: "function", module: "m", export: middle },
    { id: "c", kind: "function", module: "m", export: "finish" }
  ],
  edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }]
})

const graph = (middle?: string) => Graph.make(ir(middle), { modules })

const reset = () => {
  effects.seen.length = 0
  effects.calls.length = 0
}

const checkpointsOf = (runId: string) => Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runId))
const recordOf = (runId: string) => Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)), Option.getOrThrow)

describe("graph.updateState", () => {
  it("at a breakpoint before b: the edit is a step of its own, the run still waits there, and resumed, b sees the edited value", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const paused = yield* Effect.flatMap(g.start({ interruptBefore: ["b"] }), (r) => r.start())
      const edit = yield* g.updateState(paused.run_id, { draft: "right query" }, { actor: "alice" })
      const record = yield* recordOf(paused.run_id)
      const checkpoints = yield* checkpointsOf(paused.run_id)
      const done = yield* Effect.flatMap(g.resume(paused.run_id), (r) => r.start())
      return { paused, edit, record, checkpoints, done }
    }))
    expect(out.paused.waiting).toMatchObject({ kind: "breakpoint", node: "b", when: "before", step: 2 })
    expect(out.edit).toMatchObject({
      run_id: out.paused.run_id,
      status: "awaiting-input",
      step: 2,
      node: "__update__",
      delta: { draft: "right query" },
      state: { draft: "right query", n: 1 },
      waiting: { kind: "breakpoint", node: "b", when: "before", step: 3 }
    })
    // Still paused at the same breakpoint, now before step 3 (its prompt says so).
    expect(out.paused.waiting!.prompt).toBe("breakpoint before node 'b' (step 2, not run yet)")
    expect(out.record).toMatchObject({ status: "awaiting-input", last_step: 2, owner: null, waiting: { kind: "breakpoint", node: "b", when: "before", step: 3, prompt: "breakpoint before node 'b' (step 3, not run yet)" } })
    const edited = out.checkpoints[2]!
    expect(out.checkpoints.map((c) => c.node)).toEqual(["__input__", "a", "__update__"])
    expect(edited).toMatchObject({
      step: 2,
      nodes: ["__update__"],
      writes: [{ node: "__update__", update: { draft: "right query" } }],
      next: ["b"],
      joins: out.checkpoints[1]!.joins,
      parent_step: 1,
      calls: [{ node: "__update__", name: "state.update", request: { actor: "alice", node: "__update__" }, response: null }]
    })
    expect(edited.facts).toEqual(out.checkpoints[1]!.facts)
    // Resumed: b ran once, after the edit, with the edited draft; the breakpoint did not fire again.
    expect(out.done.status).toBe("done")
    expect(effects.seen).toEqual(["b:right query"])
    expect(out.done.final_state).toEqual({ draft: "right query", n: 3, log: ["b saw right query", "done!"], messages: [{ id: "m1", role: "ai", content: "plan" }] })
    expect(out.done.steps).toBe(4)
  })

  it("applies the values as one write through each field's reducer: messages by id, append appends, add adds, replace replaces; as_node names the writer", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const paused = yield* Effect.flatMap(g.start({ interruptAfter: ["a"] }), (r) => r.start())
      const edit = yield* g.updateState(paused.run_id, {
        messages: [{ id: "m1", role: "ai", content: "plan, fixed" }, { id: "m2", role: "human", content: "ok" }],
        log: ["note"],
        n: 10,
        draft: "replaced"
      }, { asNode: "a" })
      const second = yield* g.updateState(paused.run_id, { log: ["second"], messages: [{ type: "remove", id: "m2" }] })
      const checkpoints = yield* checkpointsOf(paused.run_id)
      const record = yield* recordOf(paused.run_id)
      return { paused, edit, second, checkpoints, record }
    }))
    expect(out.edit.state).toEqual({
      draft: "replaced",
      n: 11,
      log: ["note"],
      messages: [{ id: "m1", role: "ai", content: "plan, fixed" }, { id: "m2", role: "human", content: "ok" }]
    })
    expect(out.second.state).toMatchObject({ log: ["note", "second"], messages: [{ id: "m1", role: "ai", content: "plan, fixed" }] })
    expect(out.checkpoints.slice(2).map((c) => [c.step, c.node, c.writes[0]?.node])).toEqual([[2, "__update__", "a"], [3, "__update__", "__update__"]])
    expect(out.checkpoints[2]!.calls?.[0]?.request).toEqual({ actor: "library", node: "a" })
    // A breakpoint after a step names that step: two edits later it still does.
    expect(out.record.waiting).toMatchObject({ kind: "breakpoint", node: "a", when: "after", step: 1 })
    expect(out.record.last_step).toBe(3)
  })

  it("a run awaiting an answer keeps its question; the answer still resumes it, and the node sees the edit and the answer", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph("ask")
      const asked = yield* Effect.flatMap(g.start(), (r) => r.start())
      const edit = yield* g.updateState(asked.run_id, { draft: "edited" })
      const record = yield* recordOf(asked.run_id)
      const done = yield* Effect.flatMap(g.resume(asked.run_id, { response: { value: "yes" } }), (r) => r.start())
      return { asked, edit, record, done }
    }))
    expect(out.asked.status).toBe("awaiting-input")
    expect(out.asked.waiting).toMatchObject({ kind: "node", node: "b", prompt: "approve the draft?", step: 2 })
    const { step: _s, attempt: _a, ...question } = out.asked.waiting!
    expect(out.record.status).toBe("awaiting-input")
    expect(out.record.waiting).toMatchObject({ ...question, step: 3 })
    expect(out.edit.waiting).toEqual(out.record.waiting)
    expect(out.done.status).toBe("done")
    expect(effects.seen).toEqual(["b:edited:yes"])
    expect(out.done.final_state).toMatchObject({ draft: "edited", log: ["b saw edited, answered yes", "done!"] })
  })

  it("a sibling that finished before a node of its step asked runs again after an edit (its write was made from the old state); a replay is exact", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const fanOut = {
      ...ir("ask"),
      nodes: [...ir("ask").nodes.filter((n) => n.id !== "c"), { id: "c", kind: "function", module: "m", export: "use" }],
      edges: [{ from: "a", to: ["b", "c"] }]
    }
    const out = await run(file, Effect.gen(function*() {
      const g = yield* Graph.make(fanOut, { modules })
      const asked = yield* Effect.flatMap(g.start(), (r) => r.start())
      const before = yield* recordOf(asked.run_id)
      yield* g.updateState(asked.run_id, { draft: "edited" })
      const after = yield* recordOf(asked.run_id)
      const done = yield* Effect.flatMap(g.resume(asked.run_id, { response: { value: "yes" } }), (r) => r.start())
      const exact = yield* Replay.fork(g, asked.run_id)
      return { before, after, done, exact }
    }))
    // c finished with the old draft before b asked: its write was kept with the wait, and dropped by the edit.
    expect(out.before.waiting?.attempt?.writes).toEqual([{ node: "c", update: { log: ["b saw wrong query"], n: 1 } }])
    expect(out.after.waiting?.attempt?.writes).toBeUndefined()
    expect(out.done.status).toBe("done")
    expect(out.done.final_state["log"]).toEqual(["b saw edited, answered yes", "b saw edited"])
    expect(out.exact.summary.final_state).toEqual(out.done.final_state)
    expect(out.exact.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
  })

  it("an answer given and not consumed yet (the run paused before its step committed) is kept: resumed without one, the node gets it", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph("ask")
      const asked = yield* Effect.flatMap(g.start(), (r) => r.start())
      // Answered, and paused before the step ran (Ctrl-C at once): the answer stays on the record.
      const handle = yield* g.resume(asked.run_id, { response: { value: "later" } })
      yield* handle.pause()
      const paused = yield* handle.start()
      const before = yield* recordOf(asked.run_id)
      const edit = yield* g.updateState(asked.run_id, { draft: "edited while paused" })
      const after = yield* recordOf(asked.run_id)
      const done = yield* Effect.flatMap(g.resume(asked.run_id), (r) => r.start())
      return { paused, before, edit, after, done }
    }))
    expect(out.paused.status).toBe("paused")
    expect(out.before.waiting).toMatchObject({ node: "b", step: 2, given: { value: "later" } })
    expect(out.edit.status).toBe("paused")
    expect(out.after).toMatchObject({ status: "paused", waiting: { node: "b", step: 3, given: { value: "later" } } })
    expect(out.done.status).toBe("done")
    expect(effects.seen).toEqual(["b:edited while paused:later"])
  })

  it("refuses, writing nothing: a done run, a running run, an unknown field, a wrong type, a reducer's wrong write, an unknown node, no fields, an unknown run", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const checkpointer = yield* Checkpointer
      const done = yield* Effect.flatMap(g.start(), (r) => r.start())
      const paused = yield* Effect.flatMap(g.start({ interruptBefore: ["b"] }), (r) => r.start())
      const counts = () => Effect.all([checkpointsOf(done.run_id), checkpointsOf(paused.run_id)]).pipe(Effect.map(([a, b]) => [a.length, b.length]))
      const before = yield* counts()
      const refused = {
        done: yield* Effect.flip(g.updateState(done.run_id, { draft: "x" })),
        unknownField: yield* Effect.flip(g.updateState(paused.run_id, { draft: "x", nope: 1 })),
        wrongType: yield* Effect.flip(g.updateState(paused.run_id, { draft: 3 })),
        notAList: yield* Effect.flip(g.updateState(paused.run_id, { log: "one" })),
        badItem: yield* Effect.flip(g.updateState(paused.run_id, { log: [1] })),
        asNode: yield* Effect.flip(g.updateState(paused.run_id, { draft: "x" }, { asNode: "zz" })),
        empty: yield* Effect.flip(g.updateState(paused.run_id, {})),
        unknownRun: yield* Effect.flip(g.updateState("run-nope", { draft: "x" }))
      }
      const record = yield* recordOf(paused.run_id)
      // Driven by a live process (this one): refused, whatever its status says.
      yield* checkpointer.updateRun(paused.run_id, { status: "running", owner: OWNER })
      const running = yield* Effect.flip(g.updateState(paused.run_id, { draft: "x" }))
      const after = yield* counts()
      return { before, after, refused, running, record }
    }))
    expect(out.after).toEqual(out.before)
    expect(out.refused.done).toMatchObject({ _tag: "RunStateError", status: "done", operation: "update-state" })
    expect(out.refused.done.message).toContain("state_overrides")
    expect(out.refused.unknownField).toMatchObject({ _tag: "StateValidationError", source: "state-update", field: "nope" })
    expect(out.refused.unknownField).toMatchObject({ fix: expect.stringContaining("draft, n, log, messages") })
    expect(out.refused.wrongType).toMatchObject({ _tag: "StateValidationError", source: "state-update", field: "draft" })
    expect(out.refused.wrongType).toMatchObject({ fix: expect.stringContaining("(string)") })
    expect(out.refused.notAList).toMatchObject({ _tag: "StateValidationError", field: "log" })
    expect(out.refused.notAList.message).toContain("not a list of items to append")
    expect(out.refused.badItem).toMatchObject({ _tag: "StateValidationError", field: "log[0]" })
    expect(out.refused.asNode).toMatchObject({ _tag: "InputError", field: "asNode" })
    expect(out.refused.asNode).toMatchObject({ fix: expect.stringContaining("a, b, c") })
    expect(out.refused.empty).toMatchObject({ _tag: "InputError", field: "values" })
    expect(out.refused.unknownRun).toMatchObject({ _tag: "CheckpointError", reason: "unknown-run" })
    expect(out.running).toMatchObject({ _tag: "RunStateError", status: "running" })
    expect(out.running.message).toContain("pause it first")
    // The refused edits left the wait as it was.
    expect(out.record.waiting).toMatchObject({ node: "b", step: 2 })
  })

  it("is atomic against a resume: an edit between a resume's read and its start refuses the resume; once the run is taken, the edit is refused", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const paused = yield* Effect.flatMap(g.start({ interruptBefore: ["b"] }), (r) => r.start())
      // The resume read the run (step 1) ...
      const stale = yield* g.resume(paused.run_id)
      // ... the edit landed first (step 2) ...
      yield* g.updateState(paused.run_id, { draft: "first" })
      const refusedResume = yield* Effect.flip(stale.start())
      const afterRefusal = yield* recordOf(paused.run_id)
      // Two edits at once: never both at one step.
      const both = yield* Effect.all([
        Effect.either(g.updateState(paused.run_id, { log: ["x"] })),
        Effect.either(g.updateState(paused.run_id, { log: ["y"] }))
      ], { concurrency: "unbounded" })
      const steps = (yield* checkpointsOf(paused.run_id)).map((c) => c.step)
      // Taken by a resume: an edit while it runs is refused (b blocks until the edit was tried).
      const done = yield* Effect.flatMap(g.resume(paused.run_id), (r) => r.start())
      const late = yield* Effect.flip(g.updateState(paused.run_id, { draft: "too late" }))
      return { refusedResume, afterRefusal, both, steps, done, late }
    }))
    expect(out.refusedResume).toMatchObject({ _tag: "RunStateError", operation: "resume" })
    expect(out.refusedResume.message).toContain("its state was edited")
    // Refused, the resume changed nothing: the run still waits at the breakpoint, after the edit.
    expect(out.afterRefusal).toMatchObject({ status: "awaiting-input", owner: null, last_step: 2, waiting: { node: "b", step: 3 } })
    // Each edit that landed has a step of its own; one refused is a RunStateError.
    expect(new Set(out.steps).size).toBe(out.steps.length)
    for (const r of out.both) if (r._tag === "Left") expect(r.left).toMatchObject({ _tag: "RunStateError", operation: "update-state" })
    expect(out.steps.length).toBe(3 + out.both.filter((r) => r._tag === "Right").length)
    expect(out.done.status).toBe("done")
    expect(effects.seen).toEqual(["b:first"])
    expect(out.late).toMatchObject({ _tag: "RunStateError", status: "done" })
  })

  it("a run a live process of another host holds (its lease not lapsed) is not edited, nor one another process takes over while the edit is made; once stopped, an edit lands and a resume goes on from the edit's step", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const elsewhere = "other-host:4242:1"
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const checkpointer = yield* Checkpointer
      const paused = yield* Effect.flatMap(g.start({ interruptBefore: ["b"] }), (r) => r.start())
      const steps = () => Effect.map(checkpointsOf(paused.run_id), (list) => list.map((c) => c.step))
      // A process of another host, beating (its lease is alive), resumed the run and drives it.
      yield* checkpointer.beat!(elsewhere, 60_000)
      yield* checkpointer.updateRun(paused.run_id, { status: "running", owner: elsewhere })
      const held = yield* Effect.flip(g.updateState(paused.run_id, { draft: "x" }))
      const heldSteps = yield* steps()
      // It stopped (paused at the breakpoint again, owner cleared, as its pause writes).
      yield* checkpointer.updateRun(paused.run_id, { status: "awaiting-input", owner: null })
      // Between the edit's read and its commit, that process takes the run over again (from the step the edit read).
      const racing = yield* Effect.flip(g.updateState(paused.run_id, { draft: "y" }).pipe(
        Effect.updateService(Checkpointer, (c) => ({
          ...c,
          latestCheckpoint: (runId: string) =>
            Effect.zipRight(
              c.takeOver(runId, { status: "awaiting-input", owner: null, step: 1 }, { status: "running", owner: elsewhere }),
              c.latestCheckpoint(runId)
            )
        }))
      ))
      const racedRecord = yield* recordOf(paused.run_id)
      const racedSteps = yield* steps()
      // Stopped again: the edit lands, and a resume (which takes the run over from the edit's step) finishes it.
      yield* checkpointer.updateRun(paused.run_id, { status: "awaiting-input", owner: null })
      const stale = yield* g.resume(paused.run_id)
      const edit = yield* g.updateState(paused.run_id, { draft: "edited" })
      // A take-over from the step before the edit is refused; the resume reads the edit's step.
      const fromBefore = yield* checkpointer.takeOver(paused.run_id, { status: "awaiting-input", owner: null, step: 1 }, { status: "running", owner: elsewhere })
      const staleResume = yield* Effect.flip(stale.start())
      const done = yield* Effect.flatMap(g.resume(paused.run_id), (r) => r.start())
      return { held, heldSteps, racing, racedRecord, racedSteps, edit, fromBefore, staleResume, done }
    }))
    expect(out.held).toMatchObject({ _tag: "RunStateError", status: "running", operation: "update-state" })
    expect(out.held.message).toContain(`driven by ${elsewhere} (another host: alive, heartbeat seen`)
    expect(out.heldSteps).toEqual([0, 1])
    expect(out.racing).toMatchObject({ _tag: "RunStateError", operation: "update-state" })
    expect(out.racing.message).toContain(`running, driven by ${elsewhere} at step 1 now`)
    expect(out.racedRecord).toMatchObject({ status: "running", owner: elsewhere, last_step: 1 })
    expect(out.racedSteps).toEqual([0, 1])
    expect(out.edit).toMatchObject({ step: 2, status: "awaiting-input" })
    expect(out.fromBefore).toBe(false)
    expect(out.staleResume).toMatchObject({ _tag: "RunStateError", operation: "resume" })
    expect(out.staleResume.message).toContain("its state was edited")
    expect(out.done.status).toBe("done")
    expect(out.done.final_state).toMatchObject({ draft: "edited" })
    expect(effects.seen).toEqual(["b:edited"])
  })

  it("a run waiting at a rule's interrupt: edited, then answered, the answer is the step after the edit; a replay answers it after the edit too", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const rulesIr = {
      ir_version: "1.0.0",
      id: "run:update-state-rules",
      state_schema: { fields: { draft: { type: "string", default: "first" }, answer: { type: "object", nullable: true }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
      nodes: [{ id: "propose", kind: "noop" }, { id: "check", kind: "function", module: "m", export: "use" }, { id: "apply", kind: "halt" }],
      rules: [
        { id: "ask", when: { node: "propose" }, then: [{ kind: "interrupt", prompt: "Approve?", response_field: "answer" }, { kind: "goto", target: "check" }] },
        { id: "done", when: { node: "check" }, then: [{ kind: "goto", target: "apply" }] }
      ]
    }
    const out = await run(file, Effect.gen(function*() {
      const g = yield* Graph.make(rulesIr, { modules: { m: { use: (s: { draft: string }) => ({ log: [`check saw ${s.draft}`] }) } } })
      const asked = yield* Effect.flatMap(g.start(), (r) => r.start())
      const edit = yield* g.updateState(asked.run_id, { draft: "edited" })
      const done = yield* Effect.flatMap(g.resume(asked.run_id, { response: { value: { approved: true } } }), (r) => r.start())
      const steps = (yield* checkpointsOf(asked.run_id)).map((c) => c.node)
      const exact = yield* Replay.fork(g, asked.run_id)
      return { asked, edit, done, steps, exact }
    }))
    expect(out.asked.waiting).toMatchObject({ kind: "rule", node: "propose", step: 2 })
    expect(out.edit.waiting).toMatchObject({ kind: "rule", node: "propose", prompt: "Approve?", step: 3 })
    expect(out.done.status).toBe("done")
    expect(out.steps).toEqual(["__input__", "propose", "__update__", "__response__", "check", "apply"])
    expect(out.done.final_state).toMatchObject({ draft: "edited", answer: { approved: true }, log: ["check saw edited"] })
    expect(out.exact.summary.status).toBe("done")
    expect(out.exact.summary.final_state).toEqual(out.done.final_state)
    expect(out.exact.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
  })

  it("a replay without a mutation reproduces the edited run exactly (the edit replayed as recorded); a counterfactual fork from before the edit does not inherit it", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const paused = yield* Effect.flatMap(g.start({ interruptBefore: ["b"] }), (r) => r.start())
      yield* g.updateState(paused.run_id, { draft: "right query" }, { actor: "alice", asNode: "a" })
      const done = yield* Effect.flatMap(g.resume(paused.run_id), (r) => r.start())
      const live = { seen: [...effects.seen], calls: [...effects.calls] }
      const exact = yield* Replay.fork(g, done.run_id)
      const exactSteps = yield* checkpointsOf(exact.cfRunId)
      const parentSteps = yield* checkpointsOf(done.run_id)
      const fromEdit = yield* Replay.fork(g, done.run_id, { fromStep: 2, mutation: { state_overrides: { n: 100 } } })
      // From step 1 (before the edit), with a mutation: the edit is not carried into the fork,
      // and c's call is still answered from the recording (its step renumbered).
      const before = yield* Replay.fork(g, done.run_id, { fromStep: 1, mutation: { state_overrides: { n: 100 } } })
      const beforeSteps = yield* checkpointsOf(before.cfRunId)
      return { done, live, exact, exactSteps, parentSteps, fromEdit, before, beforeSteps }
    }))
    expect(out.done.final_state).toMatchObject({ draft: "right query", log: ["b saw right query", "done!"] })
    expect(out.exact.error).toBeUndefined()
    expect(out.exact.summary.status).toBe("done")
    expect(out.exact.summary.final_state).toEqual(out.done.final_state)
    expect(out.exact.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {}, fact_deltas: {} })
    expect(out.exactSteps.map((c) => [c.step, c.node, c.writes, c.calls])).toEqual(out.parentSteps.map((c) => [c.step, c.node, c.writes, c.calls]))
    // A fork from the edit's step carries it (its history up to there is the parent's).
    expect(out.fromEdit.summary.final_state).toMatchObject({ draft: "right query", n: 102 })
    // A fork from before it does not: b sees the draft a wrote.
    expect(out.before.error).toBeUndefined()
    expect(out.before.summary.status).toBe("done")
    expect(out.before.summary.final_state).toMatchObject({ draft: "wrong query", n: 102, log: ["b saw wrong query", "done!"] })
    expect(out.beforeSteps.map((c) => c.node)).toEqual(["__input__", "a", "b", "c"])
    expect(out.before.diff.removed_steps).toContainEqual({ step: 2, node: "__update__" })
    // Every call of every fork was answered from the recording; only the counterfactual's b saw another draft.
    expect(effects.calls).toEqual(out.live.calls)
    expect(effects.seen).toEqual([...out.live.seen, "b:right query", "b:right query", "b:wrong query"])
  })
})
