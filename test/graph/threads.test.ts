/** Threads: runs that continue where the thread's previous run finished (real SQLite files). */
import { join } from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import type { NewRun } from "../../src/checkpoint/models.js"
import * as Graph from "../../src/graph/Graph.js"
import { prepareThreadRun, threadRun, threadView } from "../../src/graph/threads.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"

type Message = { readonly role: string; readonly content: string }

const chatIR = (id = "chat:echo", fields: Record<string, unknown> = {}) => ({
  ir_version: "1.0.0",
  id,
  state_schema: {
    fields: {
      messages: { type: "array", default: [], reducer: "messages" },
      log: { type: "array", items: { type: "string" }, default: [], reducer: "append" },
      turns: { type: "integer", default: 0, reducer: "add" },
      mood: { type: "string", default: "calm" },
      user: { type: "string" },
      ...fields
    }
  },
  nodes: [{ id: "reply", kind: "function", module: "m", export: "reply" }],
  edges: []
})

const modules = {
  m: {
    reply: (s: { messages: ReadonlyArray<Message>; mood: string; user: string }) => {
      const last = s.messages[s.messages.length - 1]
      if (last?.content === "boom") throw new Error("the echo node was told to fail")
      return { messages: [{ role: "assistant", content: `${s.user} (${s.mood}): ${last?.content ?? ""}` }], turns: 1, log: [last?.content ?? ""] }
    }
  }
}

const chat = (id?: string, fields?: Record<string, unknown>) => Effect.runSync(Graph.make(chatIR(id, fields), { modules }))

const say = (content: string) => [{ role: "user", content }]

const db = () => join(tempDir(), "threads.sqlite")
const on = (filename: string) => SqliteCheckpointer.layer({ filename })

const run = <A, E>(filename: string, effect: Effect.Effect<A, E, Checkpointer>) =>
  Effect.runPromise(Effect.provide(effect, on(filename)) as Effect.Effect<A, E>)

const fails = <A, E>(filename: string, effect: Effect.Effect<A, E, Checkpointer>) =>
  Effect.runPromise(Effect.provide(Effect.flip(effect), on(filename)) as Effect.Effect<E>)

/** Start a run on the thread and drive it to its stop. */
const turn = (graph: Graph.Graph, threadId: string, inputs: Record<string, unknown>) =>
  Effect.flatMap(graph.start({ threadId, inputs }), (r) => r.start())

const countRuns = (filename: string) => run(filename, Effect.map(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 500 })), (p) => p.runs.length))

describe("threads", () => {
  it("a second run on a thread starts from the first's final state: messages and append fields accumulate, replace fields take the new value, add fields add", async () => {
    const filename = db()
    const graph = chat()
    const first = await run(filename, turn(graph, "t1", { user: "ada", messages: say("hello") }))
    expect(first.status).toBe("done")
    // A new layer on the same file: the thread goes on after a restart.
    const second = await run(filename, turn(graph, "t1", { messages: say("again"), mood: "cheerful" }))
    expect(second.status).toBe("done")
    expect(second.final_state).toEqual({
      messages: [...say("hello"), { role: "assistant", content: "ada (calm): hello" }, ...say("again"), { role: "assistant", content: "ada (cheerful): again" }],
      log: ["hello", "again"],
      turns: 2,
      mood: "cheerful",
      user: "ada"
    })
    const records = await run(filename, Effect.flatMap(Checkpointer, (c) => c.listRuns({ thread_id: "t1" })))
    expect(records.runs.map((r) => [r.run_id, r.thread_id, r.continued_from])).toEqual([
      [second.run_id, "t1", first.run_id],
      [first.run_id, "t1", null]
    ])
    // The run record keeps the inputs as given; step 0 keeps the carried state and what the inputs wrote.
    expect(records.runs[0]!.inputs).toEqual({ messages: say("again"), mood: "cheerful" })
    const step0 = await run(filename, Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(second.run_id)))
    expect(step0[0]!.state).toEqual({ ...first.final_state, messages: [...(first.final_state["messages"] as Array<unknown>), ...say("again")], mood: "cheerful" })
    expect(step0[0]!.writes).toEqual([{ node: "__input__", update: { messages: say("again"), mood: "cheerful" } }])
    expect(Object.keys(step0[0]!.delta).sort()).toEqual(["messages", "mood"])
    // Another thread is its own conversation.
    const other = await run(filename, turn(graph, "t2", { user: "bob", messages: say("hi") }))
    expect(other.final_state["turns"]).toBe(1)
    const view = await run(filename, threadView("t1"))
    expect(view.runs.map((r) => r.run_id)).toEqual([second.run_id, first.run_id])
    expect(view.state).toEqual(second.final_state)
    expect(view.state_run_id).toBe(second.run_id)
  })

  it("the memory Checkpointer carries a thread the same way", async () => {
    const graph = chat()
    const summary = await Effect.runPromise(Effect.gen(function*() {
      yield* turn(graph, "m", { user: "ada", messages: say("one") })
      return yield* turn(graph, "m", { messages: say("two") })
    }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(summary.final_state["turns"]).toBe(2)
    expect((summary.final_state["messages"] as Array<Message>).map((m) => m.content)).toEqual(["one", "ada (calm): one", "two", "ada (calm): two"])
  })

  it("a replay of a continued run is exact (its starting state is its step-0 checkpoint), and the fork is not on the thread", async () => {
    const filename = db()
    const graph = chat()
    await run(filename, turn(graph, "r", { user: "ada", messages: say("hello") }))
    const second = await run(filename, turn(graph, "r", { messages: say("again") }))
    const fork = await run(filename, Replay.fork(graph, second.run_id, {}))
    expect(fork.summary.status).toBe("done")
    expect(fork.summary.final_state).toEqual(second.final_state)
    expect([fork.diff.added_steps, fork.diff.removed_steps, fork.diff.state_deltas, fork.diff.outcome]).toEqual([[], [], {}, undefined])
    const record = await run(filename, Effect.flatMap(Checkpointer, (c) => c.getRun(fork.cfRunId)))
    expect(record._tag === "Some" && [record.value.thread_id, record.value.continued_from]).toEqual([null, null])
    const view = await run(filename, threadView("r"))
    expect(view.runs).toHaveLength(2)
    // The thread goes on from its own newest run, not from the fork.
    const third = await run(filename, turn(graph, "r", { messages: say("third") }))
    expect(third.final_state["turns"]).toBe(3)
  })

  it("a changed graph of the same id continues the thread; a schema the carried state no longer fits is refused, naming the field and the fix", async () => {
    const filename = db()
    const first = await run(filename, turn(chat(), "s", { user: "ada", messages: say("hello") }))
    // A new field with a default (a new prompt deployed): the thread goes on under it.
    const v2 = chat("chat:echo", { tone: { type: "string", default: "plain" } })
    const continued = await run(filename, turn(v2, "s", { messages: say("again") }))
    expect(continued.status).toBe("done")
    expect(continued.graph_hash).not.toBe(first.graph_hash)
    expect(continued.final_state["tone"]).toBe("plain")
    // `turns` is now a string: the carried integer does not fit.
    const v3 = chat("chat:echo", { tone: { type: "string", default: "plain" }, turns: { type: "string", default: "" } })
    const before = await countRuns(filename)
    const refused = await fails(filename, turn(v3, "s", { messages: say("more") }))
    expect(refused).toMatchObject({ _tag: "StateValidationError", source: "thread", field: "turns" })
    expect(refused.message).toContain(continued.run_id)
    expect("fix" in refused && refused.fix).toContain("start a new thread")
    expect(await countRuns(filename)).toBe(before)
    // A replace field the run's inputs give a fitting value is no longer a problem.
    const v4 = chat("chat:echo", { tone: { type: "string", default: "plain" }, mood: { type: "integer", default: 0 } })
    const replaced = await fails(filename, turn(v4, "s", { messages: say("more") }))
    expect(replaced).toMatchObject({ _tag: "StateValidationError", source: "thread", field: "mood" })
    expect("fix" in replaced && replaced.fix).toContain("pass 'mood' in this run's inputs")
    const fixed = await run(filename, Effect.flatMap(v4.start({ threadId: "s", inputs: { mood: 3 } }), (r) => r.start()))
    expect(fixed.final_state["mood"]).toBe(3)
  })

  it("refuses, persisting nothing: a bad thread id, a thread of another graph, an unfinished run, a failed or cancelled newest run, bad inputs", async () => {
    const filename = db()
    const graph = chat()
    const refusedWith = async <E>(effect: Effect.Effect<unknown, E, Checkpointer>) => {
      const before = await countRuns(filename)
      const error = await fails(filename, effect)
      expect(await countRuns(filename)).toBe(before)
      return error as E & { readonly _tag: string; readonly message: string }
    }
    for (const bad of ["", "   ", "a\u0000b", "line\nbreak", "x".repeat(201), "bidi\u202Eoverride"]) {
      const error = await refusedWith(graph.start({ threadId: bad, inputs: { user: "ada" } }))
      expect([bad, error]).toMatchObject([bad, { _tag: "ThreadError", reason: "invalid-thread-id", field: "threadId" }])
    }
    const longest = await run(filename, Effect.flatMap(graph.start({ threadId: "x".repeat(200), inputs: { user: "ada" } }), (r) => Effect.flatMap(Checkpointer, (c) => c.getRun(r.runId))))
    expect(longest._tag === "Some" && longest.value.thread_id).toBe("x".repeat(200))

    await run(filename, turn(graph, "g", { user: "ada", messages: say("hello") }))
    const other = await refusedWith(turn(chat("chat:other"), "g", { messages: say("hi") }))
    expect(other).toMatchObject({ _tag: "ThreadError", reason: "other-graph", graphId: "chat:other", threadGraphId: "chat:echo" })
    expect(other.message).toContain("chat:echo")
    expect(other.message).toContain("chat:other")

    // Inputs that do not fit: an undeclared field, a list reducer given a non-list.
    expect(await refusedWith(turn(graph, "g", { nope: 1 }))).toMatchObject({ _tag: "StateValidationError", source: "inputs", field: "nope" })
    expect(await refusedWith(turn(graph, "g", { log: "not a list" }))).toMatchObject({ _tag: "StateValidationError", source: "inputs", field: "log" })
    expect(await refusedWith(turn(graph, "g", { mood: 7 }))).toMatchObject({ _tag: "StateValidationError", source: "inputs", field: "mood" })

    // An unfinished run (created, not driven: pending) holds the thread.
    const pending = await run(filename, graph.start({ threadId: "g", inputs: { messages: say("wait") } }))
    const busy = await refusedWith(turn(graph, "g", { messages: say("too soon") }))
    expect(busy).toMatchObject({ _tag: "RunStateError", runId: pending.runId, status: "pending", operation: "start" })
    expect(busy.message).toContain("cancel it")
    // Cancelled: the thread does not skip back to the run before it.
    await run(filename, Effect.flatMap(Checkpointer, (c) => c.updateRun(pending.runId, { status: "cancelled" })))
    const cancelled = await refusedWith(turn(graph, "g", { messages: say("after cancel") }))
    expect(cancelled).toMatchObject({ _tag: "RunStateError", runId: pending.runId, status: "cancelled" })
    expect(cancelled.message).toContain("start a new thread")

    // Failed.
    await run(filename, turn(graph, "f", { user: "ada", messages: say("hello") }))
    const failed = await run(filename, Effect.flatMap(graph.start({ threadId: "f", inputs: { messages: say("boom") } }), (r) => Effect.as(Effect.either(r.start()), r.runId)))
    const afterFailure = await refusedWith(turn(graph, "f", { messages: say("next") }))
    expect(afterFailure).toMatchObject({ _tag: "RunStateError", runId: failed, status: "failed", operation: "start" })
    expect(afterFailure.message).toContain("start a new thread")
  })

  it("an idempotent retry of a thread's start is answered with its run, even while it is unfinished", async () => {
    const filename = db()
    const graph = chat()
    const first = await run(filename, graph.start({ threadId: "k", inputs: { user: "ada" }, idempotencyKey: "op-1" }))
    const again = await fails(filename, graph.start({ threadId: "k", inputs: { user: "ada" }, idempotencyKey: "op-1" }))
    // Graph.start refuses a taken key (the Scheduler answers with the run instead), naming that run, not the thread.
    expect(again).toMatchObject({ _tag: "RunStateError", runId: first.runId })
    expect(again.message).toContain("idempotency key 'op-1'")
    expect(again).not.toHaveProperty("reason")
    // Another request under the key says what differs (the inputs, the thread).
    const otherInputs = await fails(filename, graph.start({ threadId: "k", inputs: { user: "bob" }, idempotencyKey: "op-1" }))
    expect(otherInputs).toMatchObject({ _tag: "RunStateError", runId: first.runId, operation: "start", reason: "idempotency-key-reused", field: "params" })
    const otherThread = await fails(filename, graph.start({ threadId: "j", inputs: { user: "ada" }, idempotencyKey: "op-1" }))
    expect(otherThread).toMatchObject({ _tag: "RunStateError", reason: "idempotency-key-reused", field: "thread_id" })
    expect(otherThread.message).toContain("started on thread 'k', not 'j'")
  })

  it("two processes starting on one thread at once: one run is written, the other is refused (the database checks the thread in the write)", async () => {
    const filename = db()
    const graph = chat()
    await run(filename, turn(graph, "race", { user: "ada", messages: say("hello") }))
    const a = on(filename)
    const b = on(filename)
    // Both read the thread before either writes (the race), then both write.
    const prepare = (layer: Layer.Layer<Checkpointer, unknown>) =>
      Effect.runPromise(Effect.provide(threadRun(graph, { threadId: "race", inputs: { messages: say("mine") } }), layer) as Effect.Effect<NewRun>)
    const [pa, pb] = await Promise.all([prepare(a), prepare(b)])
    expect(pa.continued_from).toBe(pb.continued_from)
    const create = (layer: Layer.Layer<Checkpointer, unknown>, prepared: NewRun) =>
      Effect.runPromise(Effect.either(Effect.flatMap(Checkpointer, (c) => c.createRun(prepared))).pipe(Effect.provide(layer)))
    const outcomes = await Promise.all([create(a, pa), create(b, pb)])
    expect(outcomes.filter(Either.isRight)).toHaveLength(1)
    expect(outcomes.filter(Either.isLeft).map((o) => Either.isLeft(o) && o.left)).toMatchObject([{ _tag: "CheckpointError", reason: "thread-moved" }])
    expect((await run(filename, threadView("race"))).runs).toHaveLength(2)

    // Graph.start on both at once: exactly one starts, the other is told which run holds the thread.
    const starts = await Promise.all([a, b].map((layer) =>
      Effect.runPromise(Effect.either(graph.start({ threadId: "race2", inputs: { user: "ada" } })).pipe(Effect.provide(layer)))))
    expect(starts.filter(Either.isRight)).toHaveLength(1)
    expect(starts.filter(Either.isLeft).map((o) => Either.isLeft(o) && o.left._tag)).toEqual(["RunStateError"])
  })

  it("the database refuses a second unfinished run on a thread however it is written (unique index over unfinished runs)", async () => {
    const filename = db()
    const graph = chat()
    const pending = await run(filename, graph.start({ threadId: "idx", inputs: { user: "ada" } }))
    const inserted = await Effect.runPromise(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* Effect.either(sql`INSERT INTO runs_history (run_id, graph_id, graph_hash, runtime_hash, status, inputs, created_at, thread_id)
        VALUES ('run-sneaky', 'chat:echo', 'h', 'r', 'running', '{}', '2026-01-01', 'idx')`)
    }).pipe(Effect.provide(SqliteCheckpointer.layerWithClient({ filename }))))
    expect(Either.isLeft(inserted) && String(Either.isLeft(inserted) && inserted.left.cause)).toContain("UNIQUE constraint failed: runs_history.thread_id")
    // Once the run finishes, the next one may be written.
    await run(filename, Effect.flatMap(Checkpointer, (c) => c.updateRun(pending.runId, { status: "done" })))
    const next = await run(filename, Effect.flatMap(graph.start({ threadId: "idx", inputs: {} }), (r) => Effect.flatMap(Checkpointer, (c) => c.getRun(r.runId))))
    expect(next._tag === "Some" && next.value.continued_from).toBe(pending.runId)
  })

  it("a run that ends while another process starts from the thread's state before it: the late start is refused with the thread's newest run", async () => {
    const filename = db()
    const graph = chat()
    await run(filename, turn(graph, "late", { user: "ada", messages: say("hello") }))
    const stale = await run(filename, threadRun(graph, { threadId: "late", inputs: { messages: say("stale") } }))
    const winner = await run(filename, turn(graph, "late", { messages: say("winner") }))
    const refused = await fails(filename, Effect.flatMap(Checkpointer, (c) => c.createRun(stale)))
    expect(refused).toMatchObject({ _tag: "CheckpointError", reason: "thread-moved", runId: winner.run_id })
  })

  it("Graph.newRun takes no threadId (it would be ignored): a thread's run is made by start or Scheduler.enqueue", async () => {
    const graph = chat()
    // @ts-expect-error newRun builds a run on no thread; `threadId` is not one of its options (tsc checks this line).
    const built = await Effect.runPromise(graph.newRun({ threadId: "t", inputs: { user: "ada" } }))
    expect(built.thread_id).toBeUndefined()
  })

  it("GET-style view of an unknown thread is ThreadError[unknown-thread]", async () => {
    const error = await fails(db(), threadView("nobody"))
    expect(error).toMatchObject({ _tag: "ThreadError", reason: "unknown-thread", threadId: "nobody" })
  })
})

describe("threads: skipFailed", () => {
  /** Start a run on the thread that fails (its node throws on "boom"); its run id. */
  const failing = (graph: Graph.Graph, threadId: string) =>
    Effect.flatMap(graph.start({ threadId, inputs: { messages: say("boom") } }), (r) => Effect.as(Effect.either(r.start()), r.runId))
  const setStatus = (runId: string, status: "cancelled" | "error" | "failed" | "done") =>
    Effect.flatMap(Checkpointer, (c) => c.updateRun(runId, { status }))
  const record = (runId: string) => Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)), (o) => (o._tag === "Some" ? o.value : undefined))

  it("a thread whose newest run failed: refused without skipFailed; with it the run continues from the done run before (continued_from), and the thread goes on from there", async () => {
    const filename = db()
    const graph = chat()
    const first = await run(filename, turn(graph, "sf", { user: "ada", messages: say("hello") }))
    const failed = await run(filename, failing(graph, "sf"))
    expect((await run(filename, record(failed)))?.status).toBe("failed")
    const refused = await fails(filename, turn(graph, "sf", { messages: say("next") }))
    expect(refused).toMatchObject({ _tag: "RunStateError", runId: failed, status: "failed" })
    expect(refused.message).toContain("skip-failed")
    const skipped = await run(filename, Effect.flatMap(graph.start({ threadId: "sf", inputs: { messages: say("next") }, skipFailed: true }), (r) => r.start()))
    expect(skipped.status).toBe("done")
    // It starts from the done run's final state: the failed run's "boom" is not in it.
    expect((skipped.final_state["messages"] as Array<Message>).map((m) => m.content)).toEqual(["hello", "ada (calm): hello", "next", "ada (calm): next"])
    expect(skipped.final_state["turns"]).toBe(2)
    const view = await run(filename, threadView("sf"))
    expect(view.runs.map((r) => [r.run_id, r.status, r.continued_from])).toEqual([
      [skipped.run_id, "done", first.run_id],
      [failed, "failed", first.run_id],
      [first.run_id, "done", null]
    ])
    expect(view.state_run_id).toBe(skipped.run_id)
    // The next run, without skipFailed, continues the one that skipped.
    const after = await run(filename, turn(graph, "sf", { messages: say("after") }))
    expect(await run(filename, record(after.run_id))).toMatchObject({ continued_from: skipped.run_id })
    expect(after.final_state["turns"]).toBe(3)
  })

  it("passes over several failed and cancelled runs, says which (prepareThreadRun), and the Scheduler-free start on the memory Checkpointer does the same", async () => {
    const filename = db()
    const graph = chat()
    const first = await run(filename, turn(graph, "sc", { user: "ada", messages: say("hello") }))
    const failed = await run(filename, failing(graph, "sc"))
    const cancelled = await run(filename, Effect.map(graph.start({ threadId: "sc", inputs: { messages: say("never") }, skipFailed: true }), (r) => r.runId))
    await run(filename, setStatus(cancelled, "cancelled"))
    const refused = await fails(filename, turn(graph, "sc", { messages: say("next") }))
    expect(refused).toMatchObject({ _tag: "RunStateError", runId: cancelled, status: "cancelled" })
    const prepared = await run(filename, prepareThreadRun(graph, { threadId: "sc", inputs: { messages: say("next") }, skipFailed: true }))
    expect(prepared.skipped).toEqual([{ run_id: cancelled, status: "cancelled" }, { run_id: failed, status: "failed" }])
    expect([prepared.run.continued_from, prepared.run.thread_newest]).toEqual([first.run_id, cancelled])
    const summary = await run(filename, Effect.flatMap(graph.start({ threadId: "sc", inputs: { messages: say("next") }, skipFailed: true }), (r) => r.start()))
    expect(await run(filename, record(summary.run_id))).toMatchObject({ continued_from: first.run_id, status: "done" })

    const memory = await Effect.runPromise(Effect.gen(function*() {
      const a = yield* turn(graph, "m", { user: "ada", messages: say("one") })
      yield* failing(graph, "m")
      const b = yield* turn(graph, "m", { messages: say("two") }).pipe(Effect.flip)
      const c = yield* Effect.flatMap(graph.start({ threadId: "m", inputs: { messages: say("two") }, skipFailed: true }), (r) => r.start())
      return { a: a.run_id, refused: b._tag, c: c.final_state["turns"], from: (yield* record(c.run_id))?.continued_from }
    }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(memory).toEqual({ a: memory.a, refused: "RunStateError", c: 2, from: memory.a })
  })

  it("no done run on the thread: the run starts as the thread's first (from its inputs)", async () => {
    const filename = db()
    const graph = chat()
    const failed = await run(filename, Effect.flatMap(graph.start({ threadId: "fresh", inputs: { user: "ada", messages: say("boom") } }), (r) => Effect.as(Effect.either(r.start()), r.runId)))
    // Inputs a first run refuses are refused.
    const bad = await fails(filename, graph.start({ threadId: "fresh", inputs: { user: 7 }, skipFailed: true }))
    expect(bad).toMatchObject({ _tag: "StateValidationError", field: "user" })
    const summary = await run(filename, Effect.flatMap(graph.start({ threadId: "fresh", inputs: { user: "bob", messages: say("hi") }, skipFailed: true }), (r) => r.start()))
    expect(summary.final_state).toMatchObject({ user: "bob", turns: 1, messages: [...say("hi"), { role: "assistant", content: "bob (calm): hi" }] })
    expect(await run(filename, record(summary.run_id))).toMatchObject({ thread_id: "fresh", continued_from: null })
    expect((await run(filename, threadView("fresh"))).runs.map((r) => r.run_id)).toEqual([summary.run_id, failed])
  })

  it("still refused with skipFailed: an error run (resumable: resume it first), an unfinished run, a thread of another graph; skipFailed without a thread or not a boolean is an InputError", async () => {
    const filename = db()
    const graph = chat()
    const before = async () => (await run(filename, threadView("se"))).runs.length
    await run(filename, turn(graph, "se", { user: "ada", messages: say("hello") }))
    const errored = await run(filename, failing(graph, "se"))
    await run(filename, setStatus(errored, "error"))
    const n = await before()
    expect(await fails(filename, turn(graph, "se", { messages: say("next") }))).toMatchObject({ _tag: "RunStateError", runId: errored, status: "error" })
    const refused = await fails(filename, graph.start({ threadId: "se", inputs: { messages: say("next") }, skipFailed: true }))
    expect(refused).toMatchObject({ _tag: "RunStateError", runId: errored, status: "error", operation: "start" })
    expect(refused.message).toContain(`stargraph resume ${errored}`)
    expect(refused.message).toContain("skip-failed does not pass over")
    expect(await before()).toBe(n)
    // An error run behind a failed one is refused too, naming the failed run passed over.
    await run(filename, setStatus(errored, "done"))
    const behind = await run(filename, failing(graph, "se"))
    await run(filename, setStatus(errored, "error"))
    const deeper = await fails(filename, graph.start({ threadId: "se", inputs: { messages: say("next") }, skipFailed: true }))
    expect(deeper).toMatchObject({ _tag: "RunStateError", runId: errored, status: "error" })
    expect(deeper.message).toContain(behind)

    const pending = await run(filename, Effect.map(graph.start({ threadId: "sp", inputs: { user: "ada" } }), (r) => r.runId))
    expect(await fails(filename, graph.start({ threadId: "sp", inputs: {}, skipFailed: true }))).toMatchObject({ _tag: "RunStateError", runId: pending, status: "pending" })
    await run(filename, setStatus(pending, "failed"))
    expect(await fails(filename, chat("chat:other").start({ threadId: "sp", inputs: {}, skipFailed: true }))).toMatchObject({ _tag: "ThreadError", reason: "other-graph" })

    expect(await fails(filename, graph.start({ inputs: { user: "ada" }, skipFailed: true }))).toMatchObject({ _tag: "InputError", field: "skipFailed" })
    const notBoolean = await fails(filename, graph.start({ threadId: "sp", inputs: {}, skipFailed: "yes" as unknown as boolean }))
    expect(notBoolean).toMatchObject({ _tag: "InputError", field: "skipFailed" })
    // skipFailed: false on no thread is as if left out.
    expect((await run(filename, Effect.map(graph.start({ inputs: { user: "ada" }, skipFailed: false }), (r) => r.runId))).startsWith("run-")).toBe(true)
  })

  it("two processes passing over the same failed run at once: one run is written, the other is refused (the Checkpointer checks the thread's newest run, not only the run continued)", async () => {
    const filename = db()
    const graph = chat()
    const first = await run(filename, turn(graph, "skiprace", { user: "ada", messages: say("hello") }))
    const failed = await run(filename, failing(graph, "skiprace"))
    const a = on(filename)
    const b = on(filename)
    const prepare = (layer: Layer.Layer<Checkpointer, unknown>) =>
      Effect.runPromise(Effect.provide(threadRun(graph, { threadId: "skiprace", inputs: { messages: say("mine") }, skipFailed: true }), layer) as Effect.Effect<NewRun>)
    const [pa, pb] = await Promise.all([prepare(a), prepare(b)])
    expect([pa.continued_from, pa.thread_newest, pb.continued_from, pb.thread_newest]).toEqual([first.run_id, failed, first.run_id, failed])
    const create = (layer: Layer.Layer<Checkpointer, unknown>, prepared: NewRun) =>
      Effect.runPromise(Effect.either(Effect.flatMap(Checkpointer, (c) => c.createRun(prepared))).pipe(Effect.provide(layer)))
    const created = await create(a, pa)
    expect(Either.isRight(created)).toBe(true)
    // The first run is done already: only the thread's newest run tells the second that the thread moved.
    await run(filename, Effect.flatMap(Checkpointer, (c) => c.updateRun(Either.isRight(created) ? created.right.record.run_id : "", { status: "done" })))
    const second = await create(b, pb)
    expect(Either.isLeft(second) && second.left).toMatchObject({ _tag: "CheckpointError", reason: "thread-moved" })
    expect((await run(filename, threadView("skiprace"))).runs).toHaveLength(3)
    // Graph.start on both at once: one starts, the other is refused.
    const again = await run(filename, failing(graph, "skiprace"))
    const starts = await Promise.all([a, b].map((layer) =>
      Effect.runPromise(Effect.either(graph.start({ threadId: "skiprace", inputs: {}, skipFailed: true })).pipe(Effect.provide(layer)))))
    expect(starts.filter(Either.isRight)).toHaveLength(1)
    expect(starts.filter(Either.isLeft).map((o) => Either.isLeft(o) && o.left._tag)).toEqual(["RunStateError"])
    expect(again.startsWith("run-")).toBe(true)
  })
})
