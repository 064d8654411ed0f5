/**
 * Run-time breakpoints (`interruptBefore` / `interruptAfter`, LangGraph's `interrupt_before`
 * / `interrupt_after`): where a run pauses, what it has done there, how it continues, and
 * that it survives a restart, the queue and a replay. Real SQLite files throughout.
 */
import { join } from "node:path"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import type { RunSummary, WaitingInfo } from "../../src/checkpoint/models.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { tempDir } from "../helpers/cli.js"

/** A fresh Checkpointer layer on `file`: each call is a new connection, as a restarted process has. */
const on = (file: string) => SqliteCheckpointer.layer({ filename: file })

const run = <A, E>(file: string, effect: Effect.Effect<A, E, Checkpointer>) =>
  Effect.runPromise(Effect.provide(effect, on(file)) as Effect.Effect<A, E>)

/** Side effects each node had, and the live calls it made (what a breakpoint before it must prevent). */
const effects = { ran: [] as Array<string>, calls: [] as Array<string> }

const modules = {
  m: {
    step: async (_s: unknown, ctx: { nodeId: string; call: <T>(name: string, request: unknown, live: () => Promise<T>) => Promise<T> }) => {
      effects.ran.push(ctx.nodeId)
      const got = await ctx.call("tool.echo", { node: ctx.nodeId }, async () => {
        effects.calls.push(ctx.nodeId)
        return `${ctx.nodeId}!`
      })
      return { n: 1, log: [got] }
    },
    ask: async (_s: unknown, ctx: { nodeId: string; interrupt: (prompt: string) => Promise<unknown> }) => {
      effects.ran.push(ctx.nodeId)
      const answer = await ctx.interrupt("which label?")
      return { n: 1, log: [`${ctx.nodeId}:${String(answer)}`] }
    }
  }
}

const ir = (middle = "step") => ({
  ir_version: "1.0.0",
  id: "run:breakpoints",
  state_schema: {
    fields: {
      n: { type: "integer", default: 0, reducer: "add" },
      log: { type: "array", items: { type: "string" }, default: [], reducer: "append" }
    }
  },
  nodes: [
    { id: "a", kind: "function", module: "m", export: "step" },
    { id: "b", kind: "function", module: "m", export: middle },
    { id: "c", kind: "function", module: "m", export: "step" }
  ],
  edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }]
})

const FINAL = { n: 3, log: ["a!", "b!", "c!"] }

const graph = (middle?: string) => Graph.make(ir(middle), { modules })

const reset = () => {
  effects.ran.length = 0
  effects.calls.length = 0
}

/** Resume `runId` (no response) until it stops other than at a breakpoint; the waits it stopped at, in order. */
const resumeThroughBreakpoints = (g: Graph.Graph, first: RunSummary) =>
  Effect.gen(function*() {
    const waits: Array<WaitingInfo> = []
    let summary = first
    // (Bounded: a breakpoint that fired again where the run was resumed would loop forever.)
    while (summary.status === "awaiting-input" && summary.waiting?.kind === "breakpoint" && waits.length < 20) {
      waits.push(summary.waiting)
      summary = yield* Effect.flatMap(g.resume(summary.run_id), (r) => r.start())
    }
    return { summary, waits }
  })

describe("breakpoints", () => {
  it("interruptBefore pauses before the node runs (no side effect, no call, no checkpoint); resume continues to the same final state", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const handle = yield* g.start({ interruptBefore: ["b"] })
      const events = yield* Effect.fork(Stream.runCollect(handle.stream()))
      const paused = yield* handle.start()
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(events))
      const checkpointer = yield* Checkpointer
      const record = Option.getOrThrow(yield* checkpointer.getRun(paused.run_id))
      const steps = (yield* checkpointer.listCheckpoints(paused.run_id)).map((c) => c.node)
      const ranBefore = [...effects.ran]
      const callsBefore = [...effects.calls]
      const done = yield* Effect.flatMap(g.resume(paused.run_id), (r) => r.start())
      return { paused, seen, record, steps, ranBefore, callsBefore, done }
    }))
    expect(out.paused.status).toBe("awaiting-input")
    expect(out.paused.waiting).toMatchObject({ kind: "breakpoint", node: "b", when: "before", step: 2, response_field: "" })
    expect(out.paused.steps).toBe(1)
    expect(out.steps).toEqual(["__input__", "a"])
    expect(out.ranBefore).toEqual(["a"])
    expect(out.callsBefore).toEqual(["a"])
    expect(out.record.breakpoints).toEqual({ before: ["b"], after: [] })
    expect(out.seen.at(-1)).toMatchObject({ type: "run.waiting", waiting: { kind: "breakpoint", node: "b", when: "before" } })
    expect(out.done.status).toBe("done")
    expect(out.done.final_state).toEqual(FINAL)
    expect(effects.ran).toEqual(["a", "b", "c"])
  })

  it("interruptAfter pauses once the node's step is committed; the run then goes on from the next step", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const paused = yield* Effect.flatMap(g.start({ interruptAfter: ["b"] }), (r) => r.start())
      const checkpointer = yield* Checkpointer
      const latest = Option.getOrThrow(yield* checkpointer.latestCheckpoint(paused.run_id))
      const ranBefore = [...effects.ran]
      const done = yield* Effect.flatMap(g.resume(paused.run_id), (r) => r.start())
      return { paused, latest, ranBefore, done }
    }))
    expect(out.paused.status).toBe("awaiting-input")
    expect(out.paused.waiting).toMatchObject({ kind: "breakpoint", node: "b", when: "after", step: 2 })
    // b's write is in the step's checkpoint, which is committed before the pause.
    expect(out.latest).toMatchObject({ step: 2, node: "b", state: { n: 2, log: ["a!", "b!"] }, next: ["c"] })
    expect(out.paused.final_state).toEqual({ n: 2, log: ["a!", "b!"] })
    expect(out.ranBefore).toEqual(["a", "b"])
    expect(out.done.final_state).toEqual(FINAL)
    expect(effects.ran).toEqual(["a", "b", "c"])
  })

  it("\"*\" pauses before and after every node, each once; the final state is a run's without breakpoints", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const plain = yield* Effect.flatMap(g.start(), (r) => r.start())
      const first = yield* Effect.flatMap(g.start({ interruptBefore: "*", interruptAfter: ["*"] }), (r) => r.start())
      const through = yield* resumeThroughBreakpoints(g, first)
      const checkpointer = yield* Checkpointer
      const nodes = (id: string) => Effect.map(checkpointer.listCheckpoints(id), (cps) => cps.map((c) => [c.step, c.node, c.state]))
      return { plain, ...through, plainSteps: yield* nodes(plain.run_id), steps: yield* nodes(first.run_id) }
    }))
    // Before a, after a, before b, after b, before c; after c the run is done (nothing to pause for).
    expect(out.waits.map((w) => `${w.when} ${w.node} @${w.step}`)).toEqual(["before a @1", "after a @1", "before b @2", "after b @2", "before c @3"])
    expect(out.summary.status).toBe("done")
    expect(out.summary.final_state).toEqual(out.plain.final_state)
    expect(out.steps).toEqual(out.plainSteps)
    expect(effects.ran).toEqual(["a", "b", "c", "a", "b", "c"])
  })

  it("the breakpoints are kept with the run: after a restart (a new Checkpointer on the same file) the resumed run pauses at the next one", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const first = await run(file, Effect.flatMap(graph(), (g) => Effect.flatMap(g.start({ interruptBefore: ["b", "c"] }), (r) => r.start())))
    expect(first.waiting).toMatchObject({ kind: "breakpoint", node: "b", when: "before" })
    // Another "process": a new layer and a newly built graph.
    const second = await run(file, Effect.flatMap(graph(), (g) => Effect.flatMap(g.resume(first.run_id), (r) => r.start())))
    expect(second.status).toBe("awaiting-input")
    expect(second.waiting).toMatchObject({ kind: "breakpoint", node: "c", when: "before", step: 3 })
    const third = await run(file, Effect.flatMap(graph(), (g) => Effect.flatMap(g.resume(first.run_id), (r) => r.start())))
    expect(third.status).toBe("done")
    expect(third.final_state).toEqual(FINAL)
    expect(effects.ran).toEqual(["a", "b", "c"])
  })

  it("does not fire twice for the same step: resumed, then paused (or asked by the node) before the step commits, it goes on past the breakpoint", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph("ask")
      const atBreakpoint = yield* Effect.flatMap(g.start({ interruptBefore: ["b"] }), (r) => r.start())
      // Resumed, and paused before its step ran (Ctrl-C at once): the breakpoint is kept as passed.
      const handle = yield* g.resume(atBreakpoint.run_id)
      yield* handle.pause()
      const paused = yield* handle.start()
      const checkpointer = yield* Checkpointer
      const pausedRecord = Option.getOrThrow(yield* checkpointer.getRun(paused.run_id))
      // Resumed again: b runs (no second pause before it) and asks through ctx.interrupt.
      const asked = yield* Effect.flatMap(g.resume(paused.run_id), (r) => r.start())
      // Answered: b's step runs again with the answer, still without pausing at the breakpoint.
      const done = yield* Effect.flatMap(g.resume(paused.run_id, { response: { value: "x" } }), (r) => r.start())
      return { atBreakpoint, paused, pausedRecord, asked, done }
    }))
    expect(out.atBreakpoint.waiting).toMatchObject({ kind: "breakpoint", node: "b", when: "before", step: 2 })
    expect(out.paused.status).toBe("paused")
    expect(out.pausedRecord.waiting).toMatchObject({ kind: "breakpoint", node: "b", given: { value: null } })
    expect(out.asked.status).toBe("awaiting-input")
    expect(out.asked.waiting).toMatchObject({ kind: "node", node: "b", prompt: "which label?", step: 2, breakpoint_passed: true })
    expect(out.done.status).toBe("done")
    expect(out.done.final_state).toEqual({ n: 3, log: ["a!", "b:x", "c!"] })
    // b ran twice (asked, then answered); the breakpoint paused the run once.
    expect(effects.ran).toEqual(["a", "b", "b", "c"])
  })

  it("a run at a breakpoint refuses an answer (it asked nothing): RunStateError, and it stays where it is", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const paused = yield* Effect.flatMap(g.start({ interruptAfter: ["a"] }), (r) => r.start())
      const refused = yield* Effect.flip(g.resume(paused.run_id, { response: { value: 1 } }))
      const record = Option.getOrThrow(yield* (yield* Checkpointer).getRun(paused.run_id))
      return { refused, record }
    }))
    expect(out.refused).toMatchObject({ _tag: "RunStateError", operation: "resume" })
    expect(out.refused.message).toContain("breakpoint after node 'a'")
    expect(out.refused.message).toContain("resume it without a response")
    expect(out.record.status).toBe("awaiting-input")
  })

  it("an unknown node id is an InputError naming the option, the id and the graph's nodes, and nothing is written", async () => {
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const before = yield* Effect.flip(g.start({ interruptBefore: ["a", "nope"] }))
      const after = yield* Effect.flip(g.start({ interruptAfter: ["b", "*x"] }))
      // From JavaScript, anything may come: a lone id is not read as a list.
      const notList = yield* Effect.flip(g.start({ interruptBefore: "b" as unknown as ReadonlyArray<string> }))
      const notId = yield* Effect.flip(g.start({ interruptAfter: ["a", 3] as unknown as ReadonlyArray<string> }))
      const runs = yield* (yield* Checkpointer).listRuns({})
      return { before, after, notList, notId, runs }
    }))
    expect(out.before).toMatchObject({ _tag: "InputError", field: "interruptBefore" })
    expect(out.before.message).toContain("'nope'")
    expect(out.before.message).toContain("a, b, c")
    expect(out.after).toMatchObject({ _tag: "InputError", field: "interruptAfter" })
    expect(out.after.message).toContain("'*x'")
    expect(out.notList).toMatchObject({ _tag: "InputError", field: "interruptBefore", message: "\"b\" is not a list of node ids or \"*\"" })
    expect(out.notId).toMatchObject({ _tag: "InputError", field: "interruptAfter[1]", message: "3 is not a node id" })
    expect(out.runs.runs).toEqual([])
  })

  it("a queued run claimed by the Scheduler honours them, and Scheduler.resume continues it past the breakpoint once", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await Effect.runPromise(Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const enqueued = yield* scheduler.enqueue("run:breakpoints", {}, { interruptBefore: ["b"], interruptAfter: ["c"] })
      const paused = yield* enqueued.summary
      const resumed = yield* scheduler.resume(paused.run_id)
      const done = yield* resumed.summary
      const refused = yield* Effect.flip(scheduler.enqueue("run:breakpoints", {}, { interruptAfter: ["zz"] }))
      return { paused, done, refused }
    }).pipe(
      Effect.scoped,
      Effect.provide(Scheduler.layer({ pollIntervalMs: 50 })),
      Effect.provide(Layer.unwrapEffect(Effect.map(graph(), (g) => GraphRegistry.layer([g])))),
      Effect.provide(on(file))
    ))
    expect(out.paused.waiting).toMatchObject({ kind: "breakpoint", node: "b", when: "before" })
    // After c the run is done: no pause there.
    expect(out.done.status).toBe("done")
    expect(out.done.final_state).toEqual(FINAL)
    expect(effects.ran).toEqual(["a", "b", "c"])
    expect(out.refused).toMatchObject({ _tag: "InputError", field: "interrupt_after" })
  })

  it("a replay of a run that paused at breakpoints replays it exactly; a fork has no breakpoints unless it is given its own", async () => {
    reset()
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const g = yield* graph()
      const first = yield* Effect.flatMap(g.start({ interruptBefore: "*", interruptAfter: "*" }), (r) => r.start())
      const { summary } = yield* resumeThroughBreakpoints(g, first)
      const callsLive = [...effects.calls]
      const exact = yield* Replay.fork(g, summary.run_id)
      const checkpointer = yield* Checkpointer
      const forkRecord = Option.getOrThrow(yield* checkpointer.getRun(exact.cfRunId))
      // A fork of its own breakpoints: it pauses there, and resumed it replays on to the end.
      const own = yield* Replay.fork(g, summary.run_id, { interruptBefore: ["c"] })
      const ownDone = yield* Effect.flatMap(g.resume(own.cfRunId), (r) => r.start())
      const refused = yield* Effect.flip(Replay.fork(g, summary.run_id, { interruptBefore: ["nope"] }))
      const runs = (yield* checkpointer.listRuns({})).runs.length
      return { summary, callsLive, exact, forkRecord, own, ownDone, refused, runs }
    }))
    expect(out.summary.final_state).toEqual(FINAL)
    expect(out.exact.summary.status).toBe("done")
    expect(out.exact.summary.final_state).toEqual(FINAL)
    expect(out.exact.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    expect(out.exact.diff.outcome).toBeUndefined()
    expect(out.forkRecord.breakpoints).toBeNull()
    expect(out.own.summary.status).toBe("awaiting-input")
    expect(out.own.summary.waiting).toMatchObject({ kind: "breakpoint", node: "c", when: "before", step: 3 })
    expect(out.ownDone.status).toBe("done")
    expect(out.ownDone.final_state).toEqual(FINAL)
    // Every call of the forks was answered from the recording.
    expect(effects.calls).toEqual(out.callsLive)
    expect(out.refused).toMatchObject({ _tag: "InputError", field: "interrupt_before" })
    // The run and its two forks; the refused fork wrote nothing.
    expect(out.runs).toBe(3)
  })

  it("a fork's breakpoint after a step whose rule interrupt the recording answers pauses once the answer is applied; resumed it replays on to the parent's end", async () => {
    const approve = (onTimeout?: string) => ({
      ir_version: "1.0.0",
      id: "run:approve",
      state_schema: { fields: { request: { type: "string", default: "rotate keys" }, answer: { type: "object", nullable: true } } },
      nodes: [{ id: "propose", kind: "noop" }, { id: "check", kind: "noop" }, { id: "apply", kind: "halt" }],
      rules: [
        {
          id: "ask",
          when: { node: "propose" },
          then: [{ kind: "interrupt", prompt: "Approve?", response_field: "answer", ...(onTimeout !== undefined ? { timeout: 0.01, on_timeout: onTimeout } : {}) }, { kind: "goto", target: "check" }]
        },
        { id: "go", when: { node: "check" }, then: [{ kind: "goto", target: "apply" }] }
      ]
    })
    const file = join(tempDir(), "runs.sqlite")
    const out = await run(file, Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const steps = (runId: string) => Effect.map(checkpointer.listCheckpoints(runId), (cps) => cps.map((c) => ({ step: c.step, node: c.node, writes: c.writes, next: c.next })))
      // Answered: the parent waits after propose, is answered, and ends.
      const g = yield* Graph.make(approve())
      const asked = yield* Effect.flatMap(g.start(), (r) => r.start())
      const parent = yield* Effect.flatMap(g.resume(asked.run_id, { response: { value: { approved: true } }, actor: "alice" }), (r) => r.start())
      const fork = yield* Replay.fork(g, parent.run_id, { interruptAfter: ["propose"] })
      const atPause = yield* steps(fork.cfRunId)
      const forkDone = yield* Effect.flatMap(g.resume(fork.cfRunId), (r) => r.start())
      // Timed out: the parent's wait ran out (on_timeout: goto:check), and a fork times out again.
      const t = yield* Graph.make(approve("goto:check"))
      const waiting = yield* Effect.flatMap(t.start(), (r) => r.start())
      yield* Effect.sleep("30 millis")
      const timedOut = yield* Effect.flatMap(t.resume(waiting.run_id), (r) => r.start())
      const tFork = yield* Replay.fork(t, timedOut.run_id, { interruptAfter: ["propose"] })
      const tDone = yield* Effect.flatMap(t.resume(tFork.cfRunId), (r) => r.start())
      return {
        parent,
        parentSteps: yield* steps(parent.run_id),
        fork,
        atPause,
        forkDone,
        forkSteps: yield* steps(fork.cfRunId),
        timedOut,
        timedOutSteps: yield* steps(timedOut.run_id),
        tFork,
        tDone,
        tForkSteps: yield* steps(tFork.cfRunId)
      }
    }))
    expect(out.parent.status).toBe("done")
    expect(out.parentSteps.map((s) => s.node)).toEqual(["__input__", "propose", "__response__", "check", "apply"])
    // The fork pauses after propose, past the recorded answer (step 2): where a live run stands once answered.
    expect(out.fork.summary.status).toBe("awaiting-input")
    expect(out.fork.summary.waiting).toMatchObject({ kind: "breakpoint", node: "propose", when: "after", step: 1 })
    expect(out.fork.summary.waiting?.prompt).toBe("breakpoint after node 'propose' (step 1, committed; its rule's interrupt replayed from the recording at step 2)")
    expect(out.atPause.map((s) => s.node)).toEqual(["__input__", "propose", "__response__"])
    // Resumed, it goes on as the recording did (check, then apply), each step writing what the parent's did.
    expect(out.forkDone.status).toBe("done")
    expect(out.forkDone.final_state).toEqual(out.parent.final_state)
    expect(out.forkDone.final_state).toMatchObject({ answer: { approved: true } })
    expect(out.forkSteps.slice(1)).toEqual(out.parentSteps.slice(1))
    // The same after the parent's wait timed out: the fork pauses once the timeout is replayed.
    expect(out.timedOutSteps.map((s) => s.node)).toEqual(["__input__", "propose", "__timeout__", "check", "apply"])
    expect(out.tFork.summary.waiting).toMatchObject({ kind: "breakpoint", node: "propose", when: "after", step: 1 })
    expect(out.tFork.summary.steps).toBe(2)
    expect(out.tDone.status).toBe("done")
    expect(out.tDone.final_state).toEqual(out.timedOut.final_state)
    expect(out.tForkSteps.slice(1)).toEqual(out.timedOutSteps.slice(1))
  })
})
