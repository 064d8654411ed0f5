import { join } from "node:path"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { CheckpointError, formatError, type StateValidationError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { tempDir } from "../helpers/cli.js"

const sqlite = () => SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite") })

const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>, layer: Layer.Layer<Checkpointer, unknown> = sqlite()) =>
  Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)

const counterIR = (extra: Record<string, unknown> = {}) => ({
  ir_version: "1.0.0",
  id: "run:counter",
  state_schema: {
    fields: {
      n: { type: "integer", default: 0, reducer: "add" },
      log: { type: "array", items: { type: "string" }, default: [], reducer: "append" },
      label: { type: "string" }
    }
  },
  nodes: [
    { id: "a", kind: "function", module: "m", export: "inc" },
    { id: "b", kind: "function", module: "m", export: "inc" },
    { id: "c", kind: "function", module: "m", export: "inc" }
  ],
  edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }],
  ...extra
})

const modules = {
  m: {
    inc: (_s: unknown, ctx: { nodeId: string }) => ({ n: 1, log: [ctx.nodeId] }),
    slowInc: (_s: unknown, ctx: { nodeId: string }) =>
      new Promise((r) => setTimeout(() => r({ n: 1, log: [ctx.nodeId] }), ctx.nodeId === "left" ? 30 : 1)),
    boom: () => {
      throw new Error("kaboom")
    },
    badType: () => ({ label: 42 }),
    undeclared: () => ({ nope: 1 }),
    misspelt: () => ({ lable: "x" }),
    textToInteger: () => ({ n: "str" }),
    fractionToInteger: () => ({ label: "x", n: 2.5 }),
    setValue: () => ({ log: new Set(["x"]) }),
    changeField: (s: { n: number }) => {
      s.n = 99
      return {}
    },
    pushToList: (s: { log: Array<string> }) => {
      s.log.push("sneaky")
      return { log: ["b"] }
    },
    addField: (s: Record<string, unknown>) => {
      s["bogus"] = 1
      return {}
    },
    returnMap: () => new Map([["n", 1]]),
    appendScalar: () => ({ log: "x" }),
    medium: () => ({ level: "medium" }),
    addHalf: () => ({ n: 0.5 }),
    countLogLater: (s: { log: ReadonlyArray<string> }) => new Promise((r) => setTimeout(() => r({ n: s.log.length }), 5)),
    returnInherited: () => Object.create({ n: 5 }) as object,
    keepAndChange: (() => {
      const kept = ["b"]
      return () => {
        setTimeout(() => kept.push("late"), 0)
        return { log: kept }
      }
    })(),
    label: (_s: unknown, ctx: { nodeId: string }) => ({ label: ctx.nodeId }),
    same: () => ({ label: "same" }),
    route: (s: { n: number }) => (s.n >= 2 ? "c" : "b")
  }
}

describe("Graph / GraphRun", () => {
  it("runs a linear graph on a SQLite file with one checkpoint per step", async () => {
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR(), { modules })
      const handle = yield* graph.start({ inputs: {} })
      const summary = yield* handle.start()
      const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(handle.runId))
      return { summary, checkpoints }
    }))
    expect(result.summary.status).toBe("done")
    expect(result.summary.run_id).toMatch(/^run-[0-9a-f-]{36}$/)
    expect(result.summary.final_state).toEqual({ n: 3, log: ["a", "b", "c"] })
    expect(result.checkpoints.map((c) => [c.step, c.node])).toEqual([[0, "__input__"], [1, "a"], [2, "b"], [3, "c"]])
    expect(result.checkpoints[2]!.state).toEqual({ n: 2, log: ["a", "b"] })
    expect(result.checkpoints.every((c) => c.graph_hash === result.summary.graph_hash)).toBe(true)
  })

  it("streams typed events in order, replaying past events to a late subscriber", async () => {
    const types = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR(), { modules })
      const handle = yield* graph.start()
      const early = yield* Effect.fork(Stream.runCollect(handle.stream()))
      yield* handle.start()
      const late = yield* Stream.runCollect(handle.stream())
      const live = yield* Fiber.join(early)
      return { live: Chunk.toArray(live).map((e) => e.type), late: Chunk.toArray(late).map((e) => `${e.seq}:${e.type}`) }
    }))
    expect(types.live).toEqual([
      "run.started",
      "step.started",
      "step.completed",
      "step.started",
      "step.completed",
      "step.started",
      "step.completed",
      "run.finished"
    ])
    expect(types.late).toHaveLength(8)
    expect(types.late[0]).toBe("0:run.started")
  })

  it("runs parallel branches concurrently and merges them in declaration order", async () => {
    const ir = counterIR({
      nodes: [
        { id: "start", kind: "noop" },
        { id: "left", kind: "function", module: "m", export: "slowInc" },
        { id: "right", kind: "function", module: "m", export: "slowInc" },
        { id: "join", kind: "function", module: "m", export: "inc" }
      ],
      edges: [{ from: "start", to: ["left", "right"] }, { from: ["left", "right"], to: "join" }]
    })
    const summary = await run(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start())))
    // `left` finishes last but is declared first: its write is merged first.
    expect(summary.final_state).toEqual({ n: 3, log: ["left", "right", "join"] })
    expect(summary.steps).toBe(3)
  })

  it("refuses parallel writes to a field without a merging reducer", async () => {
    const ir = counterIR({
      nodes: [
        { id: "start", kind: "noop" },
        { id: "x", kind: "function", module: "m", export: "label" },
        { id: "y", kind: "function", module: "m", export: "label" }
      ],
      edges: [{ from: "start", to: ["x", "y"] }]
    })
    const outcome = await run(Effect.either(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start()))))
    expect(Either.isLeft(outcome) && outcome.left._tag).toBe("StateConflictError")
  })

  it("two parallel nodes writing the same value to a replace field is no conflict", async () => {
    const ir = counterIR({
      nodes: [
        { id: "start", kind: "noop" },
        { id: "x", kind: "function", module: "m", export: "same" },
        { id: "y", kind: "function", module: "m", export: "same" }
      ],
      edges: [{ from: "start", to: ["x", "y"] }]
    })
    const summary = await run(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start())))
    expect(summary.final_state["label"]).toBe("same")
  })

  it("a declared parallel block fans out at its first target and goes on at its join", async () => {
    const ir = counterIR({
      nodes: [
        { id: "start", kind: "function", module: "m", export: "inc" },
        { id: "left", kind: "function", module: "m", export: "slowInc" },
        { id: "right", kind: "function", module: "m", export: "slowInc" },
        { id: "skipped", kind: "function", module: "m", export: "inc" },
        { id: "joined", kind: "function", module: "m", export: "inc" },
        { id: "last", kind: "function", module: "m", export: "inc" }
      ],
      edges: [],
      parallel: [{ targets: ["left", "right"], join: "joined" }]
    })
    const summary = await run(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start())))
    expect(summary.final_state["log"]).toEqual(["start", "left", "right", "joined", "last"])
    expect(summary.steps).toBe(4)
  })

  it("a declared parallel block without a join ends the run after it, as in the original", async () => {
    const ir = counterIR({
      nodes: [
        { id: "start", kind: "function", module: "m", export: "inc" },
        { id: "left", kind: "function", module: "m", export: "inc" },
        { id: "right", kind: "function", module: "m", export: "inc" },
        { id: "after", kind: "function", module: "m", export: "inc" }
      ],
      edges: [],
      parallel: [{ targets: ["left", "right"], join: "" }]
    })
    const summary = await run(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start())))
    expect(summary.status).toBe("done")
    // Each branch ran once; neither went on to its next node in declaration order.
    expect(summary.final_state["log"]).toEqual(["start", "left", "right"])
    expect(summary.steps).toBe(2)
  })

  it("takes conditional and router edges", async () => {
    const ir = counterIR({
      edges: [{ from: "a", router: { module: "m", export: "route" }, targets: ["b", "c"] }, { from: "b", to: "a" }]
    })
    const summary = await run(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start())))
    expect(summary.final_state["log"]).toEqual(["a", "b", "a", "c"])
  })

  it("a router that throws undefined, or returns a value JSON cannot print, fails the run with a NodeExecutionError saying so", async () => {
    const routed = (route: () => unknown) => run(Effect.flip(Effect.flatMap(
      Graph.make(counterIR({ edges: [{ from: "a", router: { module: "r", export: "route" }, targets: ["b", "c"] }] }), { modules: { m: modules.m, r: { route } } }),
      (g) => Effect.flatMap(g.start(), (r) => r.start())
    )))
    const thrown = await routed(() => { throw undefined })
    expect(thrown).toMatchObject({ _tag: "NodeExecutionError", nodeId: "a#router", cause: "the router failed with undefined (no error value)" })
    const big = await routed(() => 10n)
    expect(big).toMatchObject({ _tag: "NodeExecutionError", nodeId: "a#router", cause: expect.stringMatching(/^router returned 10n; return a node id/) })
  })

  it("inputs that do not fit the state schema are a StateValidationError whose message names the field, as the CLI prints it (once)", async () => {
    const graph = await Effect.runPromise(Graph.make(counterIR(), { modules }))
    const refused = (inputs: Record<string, unknown>) => run(Effect.flip(graph.start({ inputs })))
    const flat = await Effect.runPromise(Graph.make({ ir_version: "1.0.0", id: "run:flat", state_schema: { label: "str" }, nodes: [{ id: "a", kind: "noop" }] }))
    const missing = await run(Effect.flip(flat.start({ inputs: {} })))
    expect(missing).toMatchObject({ _tag: "StateValidationError", field: "label" })
    expect(missing.message).toMatch(/^inputs field 'label' is missing \(state fields: label/)
    const wrong = await refused({ label: "x", n: "many" })
    expect(wrong.message).toMatch(/^inputs field 'n': Expected integer, actual "many" \(state fields: /)
    const item = await refused({ label: "x", log: [1] })
    expect(item.message).toMatch(/^inputs field 'log.0': Expected string, actual 1 /)
    const extra = await refused({ label: "x", nope: 1 })
    expect(extra.message).toMatch(/^inputs field 'nope' is unexpected, expected: /)
    const notJson = await refused({ label: "x", n: Number.NaN })
    expect(notJson.message).toMatch(/^inputs field 'n'/)
    expect(formatError(wrong as StateValidationError)).toMatch(/^StateValidationError: inputs field 'n': Expected integer, actual "many" \(state fields: .*\) \(fix: give 'n' a value of its declared type/)
  })

  const failing = (exportName: string) =>
    run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR({ nodes: [{ id: "a", kind: "function", module: "m", export: "inc" }, { id: "b", kind: "function", module: "m", export: exportName }, { id: "c", kind: "noop" }] }), { modules })
      const handle = yield* graph.start()
      const outcome = yield* Effect.either(handle.start())
      const checkpointer = yield* Checkpointer
      const record = yield* checkpointer.getRun(handle.runId)
      const checkpoints = yield* checkpointer.listCheckpoints(handle.runId)
      return { outcome, record: Option.getOrThrow(record), checkpoints }
    }))

  it("fails the run with status failed when a node throws, keeping earlier checkpoints", async () => {
    const { checkpoints, outcome, record } = await failing("boom")
    expect(Either.isLeft(outcome) && outcome.left._tag).toBe("NodeExecutionError")
    expect(record.status).toBe("failed")
    expect(record.error?.type).toBe("NodeExecutionError")
    expect(record.error?.details["nodeId"]).toBe("b")
    expect(record.error?.message).toMatch(/kaboom/)
    expect(checkpoints.map((c) => c.step)).toEqual([0, 1])
  })

  it("fails the run when a step leaves state of the wrong type", async () => {
    const { outcome, record } = await failing("badType")
    expect(Either.isLeft(outcome) && outcome.left._tag).toBe("StateValidationError")
    expect(record.status).toBe("failed")
    expect(record.error?.details["field"]).toBe("label")
    expect(record.error?.details["nodeId"]).toBe("b")
  })

  it("fails the run when a node writes an undeclared field or a Set", async () => {
    expect((await failing("undeclared")).record.error?.details["field"]).toBe("nope")
    // The error says how to fix it: write a declared field, or declare this one; and which was meant, when one is close.
    const undeclared = (await failing("undeclared")).record.error
    expect(undeclared?.message).toMatch(/'nope' is not a declared state field \(fix: write one of the declared fields \(n, log, label\), or declare 'nope' in state_schema.fields\)$/)
    expect((await failing("misspelt")).record.error?.details["fix"]).toBe("did you mean 'label'? write one of the declared fields (n, log, label), or declare 'lable' in state_schema.fields")
    const set = await failing("setValue")
    expect(set.record.error?.message).toMatch(/Set is not allowed/)
  })

  it("a node writing a non-number or a fraction to an integer field is told the field is an integer (a whole number)", async () => {
    expect((await failing("textToInteger")).record.error?.message).toMatch(/add reducer: the field is an integer and the write is a string; add whole numbers/)
    expect((await failing("fractionToInteger")).record.error?.message).toMatch(/add reducer: the field is an integer and the write adds 2.5; add whole numbers/)
    // Without a reducer, the state schema's check says it.
    const replaced = (exportName: string) =>
      run(Effect.gen(function*() {
        const ir = counterIR({ nodes: [{ id: "a", kind: "function", module: "m", export: exportName }], edges: [] })
        const graph = yield* Graph.make({ ...ir, state_schema: { fields: { n: { type: "integer", default: 0 }, label: { type: "string" } } } }, { modules })
        const handle = yield* graph.start()
        return yield* Effect.flip(handle.start())
      }))
    expect((await replaced("textToInteger")).message).toMatch(/: Expected integer, actual "str" \('n' is declared integer\)/)
    expect((await replaced("fractionToInteger")).message).toMatch(/: Expected integer \(a whole number\), actual 2.5 \('n' is declared integer\)/)
  })

  it("a node that changes the state it reads in place fails, saying to return its update; the state it saw is unchanged", async () => {
    for (const name of ["changeField", "pushToList", "addField"]) {
      const { checkpoints, outcome, record } = await failing(name)
      expect(Either.isLeft(outcome) && outcome.left._tag, name).toBe("NodeExecutionError")
      expect(record.error?.message, name).toMatch(/TypeError: Cannot .* \(fix: the state a node reads is read-only; return the fields the node changes/)
      expect(checkpoints.map((c) => c.state), name).toEqual([{ n: 0, log: [] }, { n: 1, log: ["a"] }])
    }
  })

  it("a wrong-typed write's error names the field's declared type, every enum value, the node and the fix", async () => {
    const ir = counterIR({
      state_schema: { fields: { n: { type: "integer", default: 0, reducer: "add" }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" }, level: { type: "string", enum: ["low", "high"], default: "low" } } },
      nodes: [{ id: "a", kind: "function", module: "m", export: "medium" }],
      edges: []
    })
    const outcome = await run(Effect.either(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start()))))
    expect(Either.isLeft(outcome) && outcome.left).toMatchObject({ _tag: "StateValidationError", field: "level", nodeId: "a", fix: "make node 'a' write a value of 'level''s declared type (string, one of \"low\", \"high\"), or change the field's declaration" })
    expect(Either.isLeft(outcome) && outcome.left.message).toContain("('level' is declared string, one of \"low\", \"high\")")
  })

  it("a write that does not fit its field's reducer fails naming the field and node: a single item to append, a fraction added to an integer", async () => {
    const single = await failing("appendScalar")
    expect(single.record.error).toMatchObject({ type: "StateValidationError", details: { field: "log", nodeId: "b" } })
    expect(single.record.error?.message).toContain(`append reducer: the write is a string, not a list of items to append; write a list, e.g. ["x"] for one item`)
    // Two halves would sum to a whole number: each write is checked, not only the sum.
    const halves = await run(Effect.either(Effect.flatMap(
      Graph.make(counterIR({ nodes: [{ id: "s", kind: "noop" }, { id: "a", kind: "function", module: "m", export: "addHalf" }, { id: "b", kind: "function", module: "m", export: "addHalf" }], edges: [{ from: "s", to: ["a", "b"] }] }), { modules }),
      (g) => Effect.flatMap(g.start(), (r) => r.start())
    )))
    expect(Either.isLeft(halves) && halves.left).toMatchObject({ _tag: "StateValidationError", field: "n", nodeId: "a" })
    expect(Either.isLeft(halves) && halves.left.message).toContain("add reducer: the field is an integer and the write adds 0.5; add whole numbers, or declare the field as number")
  })

  it("a node that returns a Map or an object inheriting its fields fails; the update is never dropped silently", async () => {
    expect((await failing("returnMap")).record.error?.message).toContain("node returned a Map; return an object of state updates")
    expect((await failing("returnInherited")).record.error?.message).toContain("node returned an object that inherits its fields from a prototype")
  })

  it("a value a node returned cannot change the state afterwards through the node's own reference", async () => {
    const ir = counterIR({
      state_schema: { fields: { n: { type: "integer", default: 0, reducer: "add" }, log: { type: "array", items: { type: "string" }, default: [] } } },
      nodes: [{ id: "b", kind: "function", module: "m", export: "keepAndChange" }, { id: "c", kind: "function", module: "m", export: "countLogLater" }],
      edges: [{ from: "b", to: "c" }]
    })
    const result = await run(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start())))
    // The node pushed "late" into the list it returned after returning it; the run's state kept what it returned.
    expect(result.final_state).toEqual({ n: 1, log: ["b"] })
    expect(result.steps).toBe(2)
  })

  it("stops a loop that never exits at max_steps", async () => {
    const ir = counterIR({
      max_steps: 5,
      edges: [{ from: "a", cases: [{ when: { field: "n", op: "gte", value: 0 }, to: "a" }], default: "b" }]
    })
    const outcome = await run(Effect.either(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start()))))
    expect(Either.isLeft(outcome) && outcome.left._tag).toBe("StepLimitError")
  })

  it("rejects inputs that do not match the state schema, persisting nothing", async () => {
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR(), { modules })
      const bad = yield* Effect.either(graph.start({ inputs: { n: "three" } }))
      const unknown = yield* Effect.either(graph.start({ inputs: { colour: "blue" } }))
      const page = yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({}))
      return { bad, unknown, runs: page.runs.length }
    }))
    expect(Either.isLeft(result.bad) && result.bad.left._tag).toBe("StateValidationError")
    expect(Either.isLeft(result.bad) && (result.bad.left as { field: string }).field).toBe("n")
    expect(Either.isLeft(result.unknown) && (result.unknown.left as { field: string }).field).toBe("colour")
    // Each gets the fix for its own mistake.
    expect(Either.isLeft(result.bad) && (result.bad.left as { fix?: string }).fix).toBe("give 'n' a value of its declared type (integer)")
    expect(Either.isLeft(result.unknown) && (result.unknown.left as { fix?: string }).fix).toBe("leave out 'colour' (it is not a state field), or declare it in the state schema")
    expect(result.runs).toBe(0)
  })

  it("a wrong list element's fix names the element's type, not the list's", async () => {
    const ir = counterIR({
      state_schema: {
        fields: {
          n: { type: "integer", default: 0, reducer: "add" },
          log: { type: "array", items: { type: "string" }, default: [], reducer: "append" },
          scores: { type: "array", items: { type: "number" } },
          level: { type: "object", properties: { name: { type: "string", enum: ["low", "high"] } } },
          bag: { type: "array" }
        }
      }
    })
    const fixOf = (inputs: Record<string, unknown>) => run(Effect.gen(function*() {
      const graph = yield* Graph.make(ir, { modules })
      const refused = yield* Effect.flip(graph.start({ inputs }))
      return { field: (refused as { field?: string }).field, fix: (refused as { fix?: string }).fix }
    }))
    expect(await fixOf({ log: [1] })).toEqual({ field: "log.0", fix: "give 'log.0' a value of its declared type (string)" })
    expect(await fixOf({ scores: [1, 2, "a"] })).toEqual({ field: "scores.2", fix: "give 'scores.2' a value of its declared type (number)" })
    expect(await fixOf({ level: { name: "mid" } })).toEqual({ field: "level.name", fix: "give 'level.name' a value of its declared type (string, one of \"low\", \"high\")" })
    // The list itself of the wrong type still names the list's type.
    expect(await fixOf({ log: "x" })).toEqual({ field: "log", fix: "give 'log' a value of its declared type (array)" })
  })

  it("pauses at an interrupt and resumes warm with a response, refusing the wrong state", async () => {
    const ir = {
      ...counterIR(),
      state_schema: { fields: { n: { type: "integer", default: 0, reducer: "add" }, ok: { type: "boolean" } } },
      nodes: [
        { id: "ask", kind: "interrupt", prompt: "ok?", response_field: "ok" },
        { id: "yes", kind: "set", values: { n: 10 } },
        { id: "no", kind: "set", values: { n: -10 } }
      ],
      edges: [{ from: "ask", cases: [{ when: { field: "ok", op: "eq", value: true }, to: "yes" }], default: "no" }]
    }
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(ir)
      const first = yield* Effect.flatMap(graph.start(), (r) => r.start())
      const noResponse = yield* Effect.either(graph.resume(first.run_id))
      const wrongType = yield* Effect.either(graph.resume(first.run_id, { response: { value: "yes" } }))
      const second = yield* Effect.flatMap(graph.resume(first.run_id, { response: { value: true } }), (r) => r.start())
      const again = yield* Effect.either(graph.resume(first.run_id))
      return { first, noResponse, wrongType, second, again }
    }))
    expect(result.first.status).toBe("awaiting-input")
    expect(result.first.waiting?.node).toBe("ask")
    expect(Either.isLeft(result.noResponse) && result.noResponse.left._tag).toBe("RunStateError")
    expect(Either.isLeft(result.wrongType) && result.wrongType.left._tag).toBe("StateValidationError")
    expect(result.second.status).toBe("done")
    expect(result.second.final_state).toEqual({ n: 10, ok: true })
    expect(Either.isLeft(result.again) && result.again.left._tag).toBe("RunStateError")
  })

  it("refuses to resume against an edited graph with graph-hash-mismatch", async () => {
    const layer = sqlite()
    const ir = counterIR({ nodes: [{ id: "a", kind: "interrupt", prompt: "?", response_field: "label" }, { id: "b", kind: "noop" }, { id: "c", kind: "noop" }] })
    const outcome = await run(Effect.gen(function*() {
      const original = yield* Graph.make(ir)
      const summary = yield* Effect.flatMap(original.start(), (r) => r.start())
      const edited = yield* Graph.make({ ...ir, description: "edited" })
      return { error: yield* Effect.flip(edited.resume(summary.run_id, { response: { value: "x" } })), original, edited }
    }), layer)
    expect(outcome.error._tag).toBe("CheckpointError")
    const error = outcome.error as { reason: string; expectedHash: string; actualHash: string }
    expect(error.reason).toBe("graph-hash-mismatch")
    expect(error.expectedHash).toBe(outcome.original.graphHash)
    expect(error.actualHash).toBe(outcome.edited.graphHash)
  })

  it("continues a run under a changed graph only when the operator names the hash it was started with (--accept-graph-hash)", async () => {
    const ir = counterIR({ nodes: [{ id: "a", kind: "interrupt", prompt: "?", response_field: "label" }, { id: "b", kind: "noop" }, { id: "c", kind: "noop" }] })
    const outcome = await run(Effect.gen(function*() {
      const original = yield* Graph.make(ir)
      const waiting = yield* Effect.flatMap(original.start(), (r) => r.start())
      const edited = yield* Graph.make({ ...ir, description: "edited" })
      const refused = yield* Effect.flip(edited.resume(waiting.run_id, { response: { value: "x" } }))
      const wrong = yield* Effect.flip(edited.resume(waiting.run_id, { response: { value: "x" }, acceptGraphHash: edited.graphHash }))
      const done = yield* Effect.flatMap(edited.resume(waiting.run_id, { response: { value: "x" }, acceptGraphHash: original.graphHash }), (r) => r.start())
      const record = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(waiting.run_id)))
      return { original, refused, wrong, done, record, edited }
    }))
    expect(outcome.refused.message).toContain(`the CLI's --accept-graph-hash ${outcome.original.graphHash}; in an app, resume options { acceptGraphHash: "${outcome.original.graphHash}" }`)
    expect(outcome.wrong).toMatchObject({ _tag: "CheckpointError", reason: "graph-hash-mismatch" })
    expect(outcome.done).toMatchObject({ status: "done", final_state: { label: "x" } })
    expect(outcome.record.graph_hash).toBe(outcome.edited.graphHash)
  })

  it("refuses to resume an ended run for its status before its hash, and an accepted hash it refuses is not stored", async () => {
    const ir = counterIR({ nodes: [{ id: "a", kind: "function", module: "m", export: "inc" }, { id: "b", kind: "function", module: "m", export: "boom" }, { id: "c", kind: "noop" }] })
    const asking = counterIR({ nodes: [{ id: "a", kind: "interrupt", prompt: "?", response_field: "label" }, { id: "b", kind: "noop" }, { id: "c", kind: "noop" }] })
    const outcome = await run(Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const original = yield* Graph.make(ir, { modules })
      const failed = yield* Effect.flatMap(original.start(), (r) => Effect.either(r.start()))
      const failedId = Either.isLeft(failed) ? (yield* checkpointer.listRuns({ limit: 1 })).runs[0]!.run_id : ""
      const doneGraph = yield* Graph.make(counterIR(), { modules })
      const done = yield* Effect.flatMap(doneGraph.start(), (r) => r.start())
      const waitingGraph = yield* Graph.make(asking)
      const waiting = yield* Effect.flatMap(waitingGraph.start(), (r) => r.start())
      const edited = yield* Graph.make({ ...ir, description: "edited" }, { modules })
      const editedDone = yield* Graph.make({ ...counterIR(), description: "edited" }, { modules })
      const editedWaiting = yield* Graph.make({ ...asking, description: "edited" })
      const refusals = [
        yield* Effect.flip(edited.resume(failedId)),
        yield* Effect.flip(edited.resume(failedId, { acceptGraphHash: original.graphHash })),
        yield* Effect.flip(editedDone.resume(done.run_id)),
        yield* Effect.flip(editedDone.resume(done.run_id, { acceptGraphHash: doneGraph.graphHash })),
        // Refused for another reason (no answer): the hash is not stored either.
        yield* Effect.flip(editedWaiting.resume(waiting.run_id, { acceptGraphHash: waitingGraph.graphHash }))
      ]
      const hashes = yield* Effect.forEach([failedId, done.run_id, waiting.run_id], (id) => Effect.map(checkpointer.getRun(id), (r) => Option.getOrThrow(r).graph_hash))
      return { refusals, hashes, expected: [original.graphHash, doneGraph.graphHash, waitingGraph.graphHash] }
    }))
    expect(outcome.refusals.map((e) => e._tag)).toEqual(["RunStateError", "RunStateError", "RunStateError", "RunStateError", "RunStateError"])
    expect(outcome.refusals[0]!.message).toContain("is already failed; nothing to resume")
    expect(outcome.refusals[2]!.message).toContain("is already done; nothing to resume")
    expect(outcome.hashes).toEqual(outcome.expected)
  })

  it("cancels a running run between steps", async () => {
    const summary = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR({
        nodes: [
          { id: "a", kind: "function", module: "m", export: "slowInc" },
          { id: "b", kind: "function", module: "m", export: "slowInc" },
          { id: "c", kind: "function", module: "m", export: "slowInc" }
        ]
      }), { modules: { m: { slowInc: () => new Promise((r) => setTimeout(() => r({ n: 1 }), 50)) } } })
      const handle = yield* graph.start()
      const fiber = yield* Effect.fork(handle.start())
      yield* Effect.sleep("70 millis")
      yield* handle.cancel()
      return yield* Fiber.join(fiber)
    }), MemoryCheckpointer.layer)
    expect(summary.status).toBe("cancelled")
    expect(summary.final_state["n"]).toBeLessThan(3)
  })

  it("cancels mid-step: a long node is abandoned at once, the caller gets the cancelled summary", async () => {
    const t0 = Date.now()
    const summary = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR({
        nodes: [
          { id: "a", kind: "function", module: "m", export: "inc" },
          { id: "b", kind: "function", module: "m", export: "forever" }
        ],
        edges: [{ from: "a", to: "b" }]
      }), { modules: { m: { inc: () => ({ n: 1 }), forever: () => Effect.never } } })
      const handle = yield* graph.start()
      const fiber = yield* Effect.fork(handle.start())
      yield* Effect.sleep("100 millis")
      yield* handle.cancel()
      const result = yield* Fiber.join(fiber)
      // The caller's own fiber is not interrupted: it carries on after the cancelled run.
      yield* Effect.sleep("1 millis")
      return result
    }))
    expect(summary.status).toBe("cancelled")
    expect(summary.final_state["n"]).toBe(1)
    expect(Date.now() - t0).toBeLessThan(5_000)
  })

  it("interrupting the caller of start() (a timeout) leaves the run paused, ends its stream, and another handle resumes it", async () => {
    let calls = 0
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR({
        nodes: [
          { id: "a", kind: "function", module: "m", export: "inc" },
          { id: "b", kind: "function", module: "m", export: "slow" },
          { id: "c", kind: "function", module: "m", export: "inc" }
        ]
      }), {
        modules: {
          m: {
            inc: () => ({ n: 1 }),
            // Slow the first time only: the resumed run finishes.
            slow: () => (calls++ === 0 ? Effect.as(Effect.sleep("10 seconds"), { n: 1 }) : { n: 1 })
          }
        }
      })
      const handle = yield* graph.start()
      const events = yield* Effect.fork(Stream.runCollect(handle.stream()))
      const timedOut = yield* handle.start().pipe(Effect.timeout("200 millis"), Effect.either)
      const streamed = Chunk.toReadonlyArray(yield* Fiber.join(events)).map((e) => e.type)
      const record = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(handle.runId)))
      const status = yield* handle.status
      const resumed = yield* Effect.flatMap(graph.resume(handle.runId), (h) => h.start())
      return { timedOut, streamed, record, status, resumed }
    }))
    expect(Either.isLeft(result.timedOut) && result.timedOut.left._tag).toBe("TimeoutException")
    expect(result.record).toMatchObject({ status: "paused", owner: null, last_step: 1 })
    expect(result.status).toBe("paused")
    expect(result.streamed.at(-1)).toBe("run.paused")
    expect(result.resumed).toMatchObject({ status: "done", final_state: { n: 3 } })
  })

  it("two handles resuming one paused run at once: one drives it, the other is refused and does nothing", async () => {
    const executed: Array<string> = []
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR(), {
        modules: { m: { inc: (_s: unknown, ctx: { nodeId: string }) => Effect.as(Effect.sync(() => executed.push(ctx.nodeId)), { n: 1, log: [ctx.nodeId] }) } }
      })
      const first = yield* graph.start()
      yield* first.pause()
      const paused = yield* first.start()
      // Both read the run as paused and unowned, then both start.
      const [a, b] = [yield* graph.resume(paused.run_id), yield* graph.resume(paused.run_id)]
      const outcomes = yield* Effect.all([Effect.either(a.start()), Effect.either(b.start())], { concurrency: 2 })
      const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(paused.run_id))
      const record = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(paused.run_id)))
      return { paused, outcomes, checkpoints, record }
    }))
    expect(result.paused.status).toBe("paused")
    const [won, lost] = Either.isRight(result.outcomes[0]) ? result.outcomes : [result.outcomes[1], result.outcomes[0]]
    expect(Either.isRight(won) && won.right).toMatchObject({ status: "done", final_state: { n: 3 } })
    expect(Either.isLeft(lost) && lost.left).toMatchObject({ _tag: "RunStateError", operation: "resume" })
    expect(Either.isLeft(lost) && lost.left.message).toMatch(/another process took it over first; nothing was done here/)
    // Every step ran once, and the run ends done (not error).
    expect(executed.sort()).toEqual(["a", "b", "c"])
    expect(result.checkpoints.map((c) => c.step)).toEqual([0, 1, 2, 3])
    expect(result.record.status).toBe("done")
  })

  it("a node whose own Effect ends interrupted fails the run with NodeExecutionError (nobody interrupted the run): failed, not paused", async () => {
    const selfInterrupt = () => Effect.interrupt
    const joinsInterrupted = () =>
      Effect.gen(function*() {
        const sub = yield* Effect.fork(Effect.never)
        yield* Fiber.interrupt(sub)
        return yield* Fiber.join(sub)
      })
    for (const node of ["selfInterrupt", "joinsInterrupted"]) {
      const result = await run(Effect.gen(function*() {
        const graph = yield* Graph.make(counterIR({ nodes: [{ id: "a", kind: "function", module: "m", export: "inc" }, { id: "b", kind: "function", module: "m", export: node }], edges: [{ from: "a", to: "b" }] }), {
          modules: { m: { inc: () => ({ n: 1 }), selfInterrupt, joinsInterrupted } }
        })
        const handle = yield* graph.start()
        const outcome = yield* Effect.either(handle.start())
        const record = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(handle.runId)))
        return { outcome, record }
      }))
      expect(Either.isLeft(result.outcome) && result.outcome.left).toMatchObject({ _tag: "NodeExecutionError", nodeId: "b", step: 2 })
      expect(Either.isLeft(result.outcome) && result.outcome.left._tag === "NodeExecutionError" && result.outcome.left.cause).toContain("ended interrupted, though nothing interrupted the run")
      expect(result.record).toMatchObject({ status: "failed", owner: null, last_step: 1, error: { type: "NodeExecutionError" } })
    }
  })

  it("a second handle on a run this process is driving is refused at start and does nothing", async () => {
    const executed: Array<string> = []
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR(), {
        modules: { m: { inc: (_s: unknown, ctx: { nodeId: string }) => Effect.as(Effect.zipRight(Effect.sleep("50 millis"), Effect.sync(() => executed.push(ctx.nodeId))), { n: 1 }) } }
      })
      const first = yield* graph.start()
      const driving = yield* Effect.fork(first.start())
      yield* Effect.sleep("20 millis")
      const second = yield* Effect.either(Effect.flatMap(graph.resume(first.runId), (h) => h.start()))
      const done = yield* Fiber.join(driving)
      const record = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(first.runId)))
      return { second, done, record }
    }))
    expect(Either.isLeft(result.second) && result.second.left).toMatchObject({ _tag: "RunStateError", operation: "resume" })
    expect(Either.isLeft(result.second) && result.second.left.message).toContain("is being driven in this process already")
    expect(result.done).toMatchObject({ status: "done", final_state: { n: 3 } })
    expect(executed).toEqual(["a", "b", "c"])
    expect(result.record.status).toBe("done")
  })

  it("a run whose checkpoint write failed is error, keeps its committed steps, and resumes from them", async () => {
    // The in-memory Checkpointer, failing its second step commit once (a database locked too long).
    let failures = 1
    const flaky = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (inner) => ({
      ...inner,
      commitSteps: (batch, patch) =>
        batch[0].step === 2 && failures-- > 0
          ? Effect.fail(new CheckpointError({ reason: "storage-failure", message: "database is locked" }))
          : inner.commitSteps(batch, patch)
    })))
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR(), { modules })
      const handle = yield* graph.start()
      const failed = yield* Effect.either(handle.start())
      const record = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(handle.runId)))
      const resumed = yield* Effect.flatMap(graph.resume(handle.runId), (h) => h.start())
      const steps = (yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(handle.runId))).map((c) => c.step)
      return { failed, record, resumed, steps }
    }), flaky)
    expect(Either.isLeft(result.failed) && result.failed.left).toMatchObject({ _tag: "CheckpointError", reason: "storage-failure" })
    expect(result.record).toMatchObject({ status: "error", last_step: 1 })
    expect(result.resumed).toMatchObject({ status: "done", final_state: { n: 3, log: ["a", "b", "c"] } })
    expect(result.steps).toEqual([0, 1, 2, 3])
  })

  it("a run the runtime broke under ends its event stream with run.failed (status error)", async () => {
    const broken = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (inner) => ({
      ...inner,
      commitSteps: (batch, patch) =>
        batch[0].step === 2 ? Effect.fail(new CheckpointError({ reason: "storage-failure", message: "disk I/O error" })) : inner.commitSteps(batch, patch)
    })))
    const events = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR(), { modules })
      const handle = yield* graph.start()
      const watcher = yield* Effect.fork(Stream.runCollect(handle.stream()))
      yield* Effect.either(handle.start())
      return Chunk.toArray(yield* Fiber.join(watcher).pipe(Effect.timeout("5 seconds")))
    }), broken)
    expect(events.map((e) => e.type)).toEqual(["run.started", "step.started", "step.completed", "step.started", "run.failed"])
    expect(events[events.length - 1]).toMatchObject({ status: "error", error: { type: "CheckpointError" } })
  })

  it("a timeout on start() is not held up while the run's error status cannot be written; the retries go on and mark it", async () => {
    let locked = true
    const outage = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (inner) => ({
      ...inner,
      commitSteps: (batch, patch) =>
        batch[0].step === 2 ? Effect.fail(new CheckpointError({ reason: "storage-failure", message: "database is locked" })) : inner.commitSteps(batch, patch),
      // The error status is written only while the run is still this process's: a compare-and-set.
      takeOver: (runId, expected, patch) =>
        patch.status === "error" && locked
          ? Effect.fail(new CheckpointError({ reason: "storage-failure", message: "database is locked" }))
          : inner.takeOver(runId, expected, patch)
    })))
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR(), { modules })
      const handle = yield* graph.start()
      const t0 = Date.now()
      const timedOut = yield* Effect.either(Effect.timeout(handle.start(), "300 millis"))
      const waited = Date.now() - t0
      const during = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(handle.runId))).status
      locked = false
      yield* Effect.sleep("1500 millis")
      const after = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(handle.runId)))
      return { timedOut, waited, during, after }
    }), outage)
    expect(Either.isLeft(result.timedOut) && result.timedOut.left._tag).toBe("TimeoutException")
    // Before, the caller waited for two minutes of retries.
    expect(result.waited).toBeLessThan(5_000)
    expect(result.during).toBe("running")
    expect(result.after).toMatchObject({ status: "error", owner: null })
  })

  it("a run whose error status cannot be written at once (the database still locked) is marked error once it can be, not left running", async () => {
    // Step 2's commit fails, and so do the first two writes of the run's error status.
    let statusFailures = 2
    const locked = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (inner) => ({
      ...inner,
      commitSteps: (batch, patch) =>
        batch[0].step === 2 ? Effect.fail(new CheckpointError({ reason: "storage-failure", message: "database is locked" })) : inner.commitSteps(batch, patch),
      takeOver: (runId, expected, patch) =>
        patch.status === "error" && statusFailures-- > 0
          ? Effect.fail(new CheckpointError({ reason: "storage-failure", message: "database is locked" }))
          : inner.takeOver(runId, expected, patch)
    })))
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(counterIR(), { modules })
      const handle = yield* graph.start()
      const failed = yield* Effect.either(handle.start())
      const record = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(handle.runId)))
      return { failed, record }
    }), locked)
    expect(Either.isLeft(result.failed) && result.failed.left).toMatchObject({ _tag: "CheckpointError", reason: "storage-failure" })
    expect(statusFailures).toBe(-1)
    expect(result.record).toMatchObject({ status: "error", owner: null, last_step: 1 })
  })

  it("uses the same contract with the in-memory checkpointer", async () => {
    const summary = await run(Effect.flatMap(Graph.make(counterIR(), { modules }), (g) => Effect.flatMap(g.start(), (r) => r.start())), MemoryCheckpointer.layer)
    expect(summary.final_state).toEqual({ n: 3, log: ["a", "b", "c"] })
  })
})
