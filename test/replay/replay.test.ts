import { hostname } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import type { NodeFunction } from "../../src/nodes/Executor.js"
import * as Replay from "../../src/replay/Replay.js"
import { renderDiff } from "../../src/replay/RunDiff.js"
import { checkMutation } from "../../src/replay/checkMutation.js"
import { emptyMutation } from "../../src/runtime/Mutation.js"
import { formatError, type StateValidationError } from "../../src/errors.js"
import { OWNER } from "../../src/runtime/owner.js"
import { tempDir } from "../helpers/cli.js"

/** A tool whose every live invocation is counted: replays must not call it. */
const live = { tool: 0 }
const ask: NodeFunction = async (state, ctx) => {
  const answer = await ctx.call("llm.complete", { prompt: `classify ${state["topic"]}` }, () => {
    live.tool++
    return { label: `label-of-${state["topic"]}`, score: 0.9 }
  })
  const at = await ctx.now()
  const dice = await ctx.random()
  const extra: Array<string> = []
  for (let i = 1; i < (state["times"] as number); i++) {
    extra.push((await ctx.call("search", { q: `${state["topic"]} ${i}` }, () => {
      live.tool++
      return `hit ${i}`
    })) as string)
  }
  return { label: (answer as { label: string }).label, seen_at: at, dice, hits: extra }
}
const decide: NodeFunction = (state) => ({ verdict: state["label"] === "label-of-cves" ? "urgent" : "later" })

const ir = {
  ir_version: "1.0.0",
  id: "run:classify",
  state_schema: {
    fields: {
      topic: { type: "string", required: true },
      times: { type: "integer", default: 1 },
      label: { type: "string" },
      seen_at: { type: "number" },
      dice: { type: "number" },
      hits: { type: "array", items: { type: "string" }, default: [] },
      verdict: { type: "string" }
    }
  },
  nodes: [
    { id: "ask", kind: "function", module: "m", export: "ask" },
    { id: "decide", kind: "function", module: "m", export: "decide" }
  ],
  edges: [{ from: "ask", to: "decide" }]
}

const setup = async () => {
  const filename = join(tempDir(), "db.sqlite")
  const layer = SqliteCheckpointer.layer({ filename })
  const graph = await Effect.runPromise(Graph.make(ir, { modules: { m: { ask, decide } } }))
  const parent = await Effect.runPromise(Effect.flatMap(graph.start({ inputs: { topic: "cves" } }), (r) => r.start()).pipe(Effect.provide(layer)))
  const fork = (options: Replay.ForkOptions, id = parent.run_id) => Effect.runPromise(Effect.either(Replay.fork(graph, id, options)).pipe(Effect.provide(layer)))
  const runCount = () => Effect.runPromise(Effect.map(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 500 })), (p) => p.runs.length).pipe(Effect.provide(layer)))
  return { graph, parent, fork, runCount, layer, filename }
}

/** A SQLite Checkpointer on a new file. */
const freshLayer = () => SqliteCheckpointer.layer({ filename: join(tempDir(), "db.sqlite") })
/** An appended list of strings, the log most test graphs keep. */
const LOG_FIELD = { type: "array", items: { type: "string" }, default: [], reducer: "append" }

describe("replay and counterfactual forks", () => {
  it("an exact replay accepts writes that differ from the recording only by the run's own id (ctx.runId), and steps run under an accepted graph change", async () => {
    const layer = freshLayer()
    const ir = {
      ir_version: "1.0.0",
      id: "replay:ids",
      state_schema: { fields: { trace: { type: "string", default: "" }, answer: { type: "string", default: "" }, v: { type: "string", default: "" } } },
      nodes: [
        { id: "tag", kind: "function", module: "m", export: "tag" },
        { id: "ask", kind: "interrupt", prompt: "?", response_field: "answer" }
      ],
      edges: [{ from: "tag", to: "ask" }]
    }
    const tagWith = (v: string): NodeFunction => (_state, ctx) => ({ trace: `${ctx.runId}:${ctx.nodeId}`, v })
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const v1 = yield* Graph.make(ir, { modules: { m: { tag: tagWith("v1") } } })
      const done = yield* Effect.flatMap(v1.start(), (r) => r.start()).pipe(Effect.flatMap((w) => Effect.flatMap(v1.resume(w.run_id, { response: { value: "yes" } }), (r) => r.start())))
      const replayed = yield* Replay.fork(v1, done.run_id, {})
      // The module changed under a waiting run, which the operator lets go on with the change.
      const waiting = yield* Effect.flatMap(v1.start(), (r) => r.start())
      // A changed node bumps its version, which changes the graph hash (inline functions are not hashed).
      const v2 = yield* Graph.make({ ...ir, nodes: [{ ...ir.nodes[0]!, version: "2" }, ir.nodes[1]!] }, { modules: { m: { tag: tagWith("v2") } } })
      const accepted = yield* Effect.flatMap(v2.resume(waiting.run_id, { response: { value: "yes" }, acceptGraphHash: v1.graphHash }), (r) => r.start())
      const afterChange = yield* Replay.fork(v2, accepted.run_id, {})
      return { replayed, afterChange }
    }).pipe(Effect.provide(layer)))
    expect(outcome.replayed.summary.error ?? outcome.replayed.summary.status).toBe("done")
    expect(outcome.replayed.diff).toMatchObject({ added_steps: [], removed_steps: [] })
    // Replayed under the changed module: not an exact replay, so no write-mismatch; the diff shows the change.
    expect(outcome.afterChange.summary.error ?? outcome.afterChange.summary.status).toBe("done")
    expect(outcome.afterChange.summary.final_state["v"]).toBe("v2")
  })

  it("an exact replay of a node that reads randomness directly fails with ReplayDivergenceError[write-mismatch]; a mutation or --live-after-fork runs it anew", async () => {
    const layer = freshLayer()
    const rolls = { n: 0 }
    const roll: NodeFunction = () => ({ pick: ++rolls.n })
    const gated = {
      ir_version: "1.0.0",
      id: "replay:nondet",
      state_schema: { fields: { pick: { type: "integer", default: 0 }, seen: { type: "integer", default: 0 } } },
      nodes: [{ id: "roll", kind: "function", module: "m", export: "roll" }, { id: "after", kind: "function", module: "m", export: "after" }],
      edges: [{ from: "roll", to: "after" }]
    }
    const after: NodeFunction = (state) => ({ seen: Number(state["pick"]) * 10 })
    const graph = await Effect.runPromise(Graph.make(gated, { modules: { m: { roll, after } } }))
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const parent = yield* Effect.flatMap(graph.start(), (r) => r.start())
      const exact = yield* Replay.fork(graph, parent.run_id, {})
      // From after the nondeterministic step: every replayed step writes what it recorded.
      const later = yield* Replay.fork(graph, parent.run_id, { fromStep: 1 })
      const live = yield* Replay.fork(graph, parent.run_id, { liveAfterFork: true })
      const mutated = yield* Replay.fork(graph, parent.run_id, { mutation: { state_overrides: { seen: 5 } } })
      return { parent, exact, later, live, mutated }
    }).pipe(Effect.provide(layer)))
    expect(outcome.exact.summary).toMatchObject({ status: "failed", error: { type: "ReplayDivergenceError", details: { reason: "write-mismatch", nodeId: "roll", step: 1, field: "pick", call: "write" } } })
    expect(outcome.exact.summary.error?.message).toMatch(/node 'roll' wrote pick = 2 where the recorded run wrote 1\. .*Fix: use ctx\.now\(\), ctx\.random\(\)/)
    expect(outcome.later.diff).toMatchObject({ state_deltas: {}, added_steps: [], removed_steps: [] })
    expect(outcome.live.summary.final_state).toEqual({ pick: 3, seen: 30 })
    expect(outcome.mutated.summary.status).toBe("done")
  })

  it("replays bit-identically from the cassette: fresh cf ids, same derived_hash, empty diff, no live calls", async () => {
    const { fork, parent } = await setup()
    const before = { ...live }
    const a = await fork({})
    const b = await fork({})
    expect(live).toEqual(before)
    if (Either.isLeft(a) || Either.isLeft(b)) throw new Error("fork failed")
    expect(a.right.cfRunId).toMatch(/^cf-[0-9a-f-]{36}$/)
    expect(a.right.cfRunId).not.toBe(b.right.cfRunId)
    expect(a.right.derivedHash).toBe(b.right.derivedHash)
    expect(a.right.summary.status).toBe("done")
    expect(a.right.summary.final_state).toEqual(parent.final_state)
    expect(a.right.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {}, fact_deltas: {} })
    expect(renderDiff(a.right.diff)).toBe(renderDiff(b.right.diff))
    expect(a.right.summary).toMatchObject({ parent_run_id: parent.run_id, fork_step: 0 })
  })

  it("an Effect node's ctx.nowEffect and ctx.randomEffect are recorded as ctx.now() and ctx.random() are, and replayed", async () => {
    const sample: NodeFunction = (_state, ctx) =>
      Effect.map(Effect.all([ctx.nowEffect, ctx.randomEffect, ctx.randomEffect]), ([at, a, b]) => ({ seen_at: at, dice: a + b }))
    const layer = SqliteCheckpointer.layer({ filename: join(tempDir(), "fx.sqlite") })
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make({
        ir_version: "1.0.0",
        id: "run:effect-clock",
        state_schema: { fields: { seen_at: { type: "number" }, dice: { type: "number" } } },
        nodes: [{ id: "sample", kind: "function", module: "m", export: "sample" }]
      }, { modules: { m: { sample } } })
      const parent = yield* Effect.flatMap(graph.start(), (r) => r.start())
      const calls = (yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(parent.run_id)))[1]!.calls ?? []
      const fork = yield* Replay.fork(graph, parent.run_id, {})
      return { parent, calls, fork }
    }).pipe(Effect.provide(layer)))
    expect(out.calls.map((c) => c.name)).toEqual(["clock.now", "random", "random"])
    expect(out.parent.final_state["seen_at"]).toBe(out.calls[0]!.response)
    expect(out.fork.summary.final_state).toEqual(out.parent.final_state)
    expect(out.fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
  })

  it("applies a mutation at the fork step and shows the divergence; node output overrides replace execution", async () => {
    const { fork } = await setup()
    const mutated = await fork({ fromStep: 1, mutation: { state_overrides: { label: "label-of-memes" }, facts_assert: ["(flag raised)"] } })
    if (Either.isLeft(mutated)) throw mutated.left
    expect(mutated.right.summary.final_state["verdict"]).toBe("later")
    expect(mutated.right.diff.state_deltas["2:decide"]).toEqual([
      { op: "replace", path: "/label", parent: "label-of-cves", fork: "label-of-memes" },
      { op: "replace", path: "/verdict", parent: "urgent", fork: "later" }
    ])
    // The asserted fact stays in the fork's working memory from the fork step on.
    expect(Object.values(mutated.right.diff.fact_deltas).every((d) => d.asserted.includes("(flag raised)"))).toBe(true)
    expect(Object.keys(mutated.right.diff.fact_deltas).length).toBeGreaterThanOrEqual(2)
    const overridden = await fork({ mutation: { node_output_overrides: { decide: { verdict: "overridden" } } } })
    if (Either.isLeft(overridden)) throw overridden.left
    expect(overridden.right.summary.final_state["verdict"]).toBe("overridden")
    expect(overridden.right.derivedHash).not.toBe(mutated.right.derivedHash)
  })

  it("fails loudly with ReplayDivergenceError when a request differs from the recording, unless live_after_fork", async () => {
    const { fork } = await setup()
    const diverged = await fork({ mutation: { state_overrides: { topic: "memes" } } })
    if (Either.isLeft(diverged)) throw diverged.left
    expect(diverged.right.summary.status).toBe("failed")
    expect(diverged.right.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "request-mismatch", nodeId: "ask", step: 1, call: "llm.complete" })
    const e = diverged.right.error as { expectedHash: string; actualHash: string }
    expect(e.expectedHash).toMatch(/^sha256:/)
    expect(e.actualHash).not.toBe(e.expectedHash)
    expect(diverged.right.summary.error?.type).toBe("ReplayDivergenceError")
    // The diff says the two runs stopped differently.
    expect(diverged.right.diff.outcome).toEqual({ parent: { status: "done" }, fork: { status: "failed", error: "ReplayDivergenceError" } })
    // A replay of the diverged fork diverges the same way (the recorded call it differed from is kept with its error).
    const again = await fork({}, diverged.right.cfRunId)
    if (Either.isLeft(again)) throw again.left
    expect(again.right.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "request-mismatch", expectedHash: e.expectedHash, actualHash: e.actualHash })
    expect(again.right.diff.outcome).toBeUndefined()
    const before = live.tool
    const allowed = await fork({ mutation: { state_overrides: { topic: "memes" } }, liveAfterFork: true })
    if (Either.isLeft(allowed)) throw allowed.left
    expect(allowed.right.summary.status).toBe("done")
    expect(allowed.right.summary.final_state["label"]).toBe("label-of-memes")
    expect(live.tool).toBe(before + 1)
  })

  it("reports a cassette with a missing entry as ReplayDivergenceError missing-entry", async () => {
    const { fork } = await setup()
    // With times=1 the parent made no `search` call; times=2 makes one the cassette never recorded.
    const missing = await fork({ mutation: { state_overrides: { times: 2 } } })
    if (Either.isLeft(missing)) throw missing.left
    expect(missing.right.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "missing-entry", nodeId: "ask", step: 1, call: "search" })
    expect(missing.right.summary.status).toBe("failed")
  })

  it("forks a fork", async () => {
    const { fork } = await setup()
    const child = await fork({ fromStep: 1, mutation: { state_overrides: { label: "x" } } })
    if (Either.isLeft(child)) throw child.left
    const grandchild = await fork({ fromStep: 1 }, child.right.cfRunId)
    if (Either.isLeft(grandchild)) throw grandchild.left
    expect(grandchild.right.summary).toMatchObject({ status: "done", parent_run_id: child.right.cfRunId })
    expect(grandchild.right.summary.final_state["label"]).toBe("x")
    expect(grandchild.right.diff.state_deltas).toEqual({})
  })

  it("refuses bad input with typed errors and writes nothing", async () => {
    const { fork, runCount, parent } = await setup()
    const count = await runCount()
    const cases = await Promise.all([
      fork({}, "run-unknown"),
      fork({ fromStep: 9 }),
      fork({ mutation: { state_overrides: {}, surprise: 1 } }),
      fork({ mutation: { state_overrides: { times: "many" } } }),
      fork({ mutation: { node_output_overrides: { ghost: {} } } }),
      fork({ mutation: { state_overrides: { ghost: 1 } } }),
      fork({ mutation: { state_overrides: { tims: 1 } } }),
      fork({ mutation: { state_overrides: { times: 2.5 } } })
    ])
    const tags = cases.map((c) => (Either.isLeft(c) ? [c.left._tag, "reason" in c.left ? c.left.reason : "field" in c.left ? c.left.field : ""] : ["ok"]))
    expect(tags).toEqual([
      ["CheckpointError", "unknown-run"],
      ["InputError", "from_step"],
      ["InputError", "mutation.surprise"],
      ["StateValidationError", "times"],
      ["InputError", "mutation.node_output_overrides.ghost"],
      ["StateValidationError", "ghost"],
      ["StateValidationError", "tims"],
      ["StateValidationError", "times"]
    ])
    // The fix names the declared type, or the declared fields.
    expect(Either.isLeft(cases[3]!) && (cases[3].left as { fix?: string }).fix).toBe("give 'times' a value of its declared type (integer)")
    expect(Either.isLeft(cases[5]!) && (cases[5].left as { fix?: string }).fix).toMatch(/^override one of the declared fields \(topic, times, label, .*\), or declare 'ghost' in state_schema.fields$/)
    // A name close to a declared field's is named; an integer field says integer, and whole number for a fraction.
    expect(Either.isLeft(cases[6]!) && (cases[6].left as { fix?: string }).fix).toMatch(/^did you mean 'times'\? override one of the declared fields \(topic, times, label, .*\), or declare 'tims' in state_schema.fields$/)
    expect(Either.isLeft(cases[7]!) && cases[7].left.message).toBe("state_overrides field 'times' does not fit the state schema: Expected integer (a whole number), actual 2.5")
    // The message names the field, as the CLI prints it (once).
    expect(Either.isLeft(cases[3]!) && cases[3].left.message).toBe("state_overrides field 'times' does not fit the state schema: Expected integer, actual \"many\"")
    expect(Either.isLeft(cases[5]!) && cases[5].left.message).toMatch(/^state_overrides field 'ghost' does not fit the state schema: is unexpected, expected: /)
    expect(Either.isLeft(cases[3]!) && formatError(cases[3].left as StateValidationError)).toMatch(/^StateValidationError: state_overrides field 'times' does not fit the state schema: Expected integer, actual "many" \(fix: /)
    const other = await Effect.runPromise(Graph.make({ ...ir, description: "edited" }, { modules: { m: { ask, decide } } }))
    const mismatch = await Effect.runPromise(Effect.either(Replay.fork(other, parent.run_id, {})).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: (await setup()).filename }))))
    expect(Either.isLeft(mismatch) && mismatch.left._tag).toBe("CheckpointError")
    expect(await runCount()).toBe(count)
  })

  it("refuses a node output override that is no write its node could make, before writing anything: the node, the field and the fix", async () => {
    const { fork, runCount, layer, parent } = await setup()
    const checkpointCount = () =>
      Effect.runPromise(Effect.gen(function*() {
        const checkpointer = yield* Checkpointer
        const { runs } = yield* checkpointer.listRuns({ limit: 500 })
        let total = 0
        for (const r of runs) total += (yield* checkpointer.listCheckpoints(r.run_id)).length
        return total
      }).pipe(Effect.provide(layer)))
    const before = { runs: await runCount(), checkpoints: await checkpointCount() }
    const cases = [
      fork({ mutation: { node_output_overrides: { decide: { nofield: 1 } } } }),
      fork({ mutation: { node_output_overrides: { decide: { verdict: 3 } } } }),
      fork({ mutation: { node_output_overrides: { ask: { hits: "one" } } } }),
      fork({ fromStep: 1, mutation: { node_output_overrides: { ask: { hits: ["ok", 2] } } } })
    ]
    const errors = (await Promise.all(cases)).map((c) => (Either.isLeft(c) ? c.left : undefined) as StateValidationError | undefined)
    expect(errors.map((e) => e && { _tag: e._tag, source: e.source, nodeId: e.nodeId, field: e.field, step: e.step })).toEqual([
      { _tag: "StateValidationError", source: "mutation", nodeId: "decide", field: "nofield", step: 0 },
      { _tag: "StateValidationError", source: "mutation", nodeId: "decide", field: "verdict", step: 0 },
      { _tag: "StateValidationError", source: "mutation", nodeId: "ask", field: "hits", step: 0 },
      { _tag: "StateValidationError", source: "mutation", nodeId: "ask", field: "hits[1]", step: 1 }
    ])
    expect(errors.map((e) => e && formatError(e))).toEqual([
      "StateValidationError: node_output_overrides.decide field 'nofield' is not a state field (the state schema does not declare it) " +
      "(fix: write one of the declared fields (topic, times, label, seen_at, dice, hits, verdict), or declare 'nofield' in state_schema.fields)",
      "StateValidationError: node_output_overrides.decide field 'verdict' does not fit the state schema: Expected string, actual 3 " +
      "(fix: give 'verdict' in node_output_overrides.decide a value of its declared type (string))",
      "StateValidationError: node_output_overrides.ask field 'hits' does not fit the state schema: Expected ReadonlyArray<string>, actual \"one\" " +
      "(fix: give 'hits' in node_output_overrides.ask a value of its declared type (array))",
      "StateValidationError: node_output_overrides.ask field 'hits[1]' does not fit the state schema: Expected string, actual 2 " +
      "(fix: give 'hits[1]' in node_output_overrides.ask a value of its declared type (string))"
    ])
    expect({ runs: await runCount(), checkpoints: await checkpointCount() }).toEqual(before)
    // The same check, on the graph alone, before any run: `stargraph counterfactual`'s.
    const { graph } = await setup()
    const dry = await Effect.runPromise(Effect.either(checkMutation(graph, { ...emptyMutation, node_output_overrides: { decide: { verdict: 3 } } }, 0)))
    expect(Either.isLeft(dry) && dry.left).toMatchObject({ _tag: "StateValidationError", source: "mutation", nodeId: "decide", field: "verdict" })
    // A valid override still forks, and replaces its node's execution.
    const valid = await fork({ mutation: { node_output_overrides: { decide: { verdict: "overridden" } } } })
    if (Either.isLeft(valid)) throw valid.left
    expect(valid.right.summary).toMatchObject({ status: "done", parent_run_id: parent.run_id, final_state: { verdict: "overridden" } })
    expect(await runCount()).toBe(before.runs + 1)
  })

  it("a node output override is merged through its fields' reducers: checked against the fork step's state, and from empty fields on the graph alone", async () => {
    const layer = freshLayer()
    const g = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:merge",
      state_schema: {
        fields: {
          meta: { type: "object", reducer: "merge", properties: { a: { type: "integer", required: true }, b: { type: "integer", required: true } }, default: { a: 0, b: 0 } },
          total: { type: "integer", default: 0, reducer: "add" },
          log: LOG_FIELD
        }
      },
      nodes: [{ id: "a", kind: "set", values: { log: ["a"], total: 1 } }, { id: "b", kind: "set", values: { meta: { a: 1, b: 1 }, log: ["b"] } }]
    }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const parent = yield* Effect.flatMap(g.start({}), (r) => r.start())
      const partial = yield* Replay.fork(g, parent.run_id, { fromStep: 1, mutation: { node_output_overrides: { b: { meta: { b: 2 }, log: ["B"] } } } })
      const unexpected = yield* Effect.either(Replay.fork(g, parent.run_id, { fromStep: 1, mutation: { node_output_overrides: { b: { meta: { c: 1 } } } } }))
      const notObject = yield* Effect.either(Replay.fork(g, parent.run_id, { fromStep: 1, mutation: { node_output_overrides: { b: { meta: [1] } } } }))
      const fraction = yield* Effect.either(Replay.fork(g, parent.run_id, { fromStep: 1, mutation: { node_output_overrides: { b: { total: 0.5 } } } }))
      const runs = (yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 50 }))).runs.length
      return { partial, unexpected, notObject, fraction, runs }
    }).pipe(Effect.provide(layer)))
    // Merged into the fork step's state, a part of the object is a valid write.
    expect(out.partial.summary.final_state).toEqual({ meta: { a: 0, b: 2 }, total: 1, log: ["a", "B"] })
    expect(Either.isLeft(out.unexpected) && out.unexpected.left).toMatchObject({ _tag: "StateValidationError", source: "mutation", nodeId: "b", field: "meta.c" })
    expect(Either.isLeft(out.notObject) && out.notObject.left.message).toBe("node_output_overrides.b field 'meta' is not a write the field takes: merge reducer: expected objects, got a list to merge")
    expect(Either.isLeft(out.fraction) && out.fraction.left).toMatchObject({ _tag: "StateValidationError", nodeId: "b", field: "total", fix: "give 'total' in node_output_overrides.b a value of its declared type (integer), which its reducer (add) takes" })
    expect(out.runs).toBe(2)
    // On the graph alone what a merge makes depends on what it merges into: only its form is checked.
    const dry = (overrides: Record<string, Record<string, unknown>>) => Effect.runPromise(Effect.either(checkMutation(g, { ...emptyMutation, node_output_overrides: overrides }, 1)))
    expect(Either.isRight(await dry({ b: { meta: { b: 2 }, log: ["B"] } }))).toBe(true)
    expect(Either.isLeft(await dry({ b: { meta: [1] } }))).toBe(true)
    const item = await dry({ b: { log: [1] } })
    expect(Either.isLeft(item) && item.left).toMatchObject({ _tag: "StateValidationError", nodeId: "b", field: "log[0]" })
  })

  it("replays a run that waited for input with the recorded response", async () => {
    const layer = freshLayer()
    const approval = await Effect.runPromise(Graph.load(join(import.meta.dirname, "..", "..", "examples", "approval", "graph.yaml")))
    const done = await Effect.runPromise(Effect.gen(function*() {
      const run = yield* approval.start({ inputs: { request: "ship it" } })
      const stopped = yield* run.start()
      const resumed = yield* approval.resume(stopped.run_id, { response: { value: { approved: true } } })
      return yield* resumed.start()
    }).pipe(Effect.provide(layer)))
    expect(done.status).toBe("done")
    const replayed = await Effect.runPromise(Replay.fork(approval, done.run_id, {}).pipe(Effect.provide(layer)))
    expect(replayed.summary.status).toBe("done")
    expect(replayed.diff.state_deltas).toEqual({})
  })

  it("a rule's interrupt: a fork from the step where it fired replays the answer; a run left running at that step asks again", async () => {
    const layer = freshLayer()
    const gate = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:rule-gate",
      state_schema: { fields: { log: LOG_FIELD, answer: { type: "integer" } } },
      nodes: [{ id: "a", kind: "set", values: { log: ["a"] } }, { id: "b", kind: "set", values: { log: ["b"] } }],
      rules: [{ id: "ask", when: { node: "a" }, then: [{ kind: "interrupt", prompt: "number?", response_field: "answer" }] }]
    }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const stopped = yield* Effect.flatMap(gate.start({}), (r) => r.start())
      // The step and the wait are one write: the record says awaiting-input at step 1.
      const waiting = yield* checkpointer.getRun(stopped.run_id)
      const done = yield* Effect.flatMap(gate.resume(stopped.run_id, { response: { value: 5 } }), (r) => r.start())
      const forks = yield* Effect.forEach([0, 1, 2], (fromStep) => Replay.fork(gate, done.run_id, { fromStep }))
      // A run still waiting, forked from the step that asked: the fork waits too.
      const pending = yield* Effect.flatMap(gate.start({}), (r) => r.start())
      const pendingFork = yield* Replay.fork(gate, pending.run_id, { fromStep: 1 })
      // A run a crash left `running` at that step (as before the step and the wait were one
      // write): resumed, it asks again instead of going past the gate.
      yield* checkpointer.updateRun(pending.run_id, { status: "running", waiting: null, owner: `${hostname()}:999999999` })
      const again = yield* Effect.flatMap(gate.resume(pending.run_id), (r) => r.start())
      return { waiting, done, forks, pendingFork, again }
    }).pipe(Effect.provide(layer)))
    expect(Option.getOrThrow(out.waiting)).toMatchObject({ status: "awaiting-input", last_step: 1, waiting: { prompt: "number?", step: 2 } })
    expect(out.done.final_state).toEqual({ log: ["a", "b"], answer: 5 })
    for (const fork of out.forks) {
      expect(fork.summary.final_state).toEqual(out.done.final_state)
      expect([fork.diff.added_steps, fork.diff.removed_steps, fork.diff.state_deltas]).toEqual([[], [], {}])
    }
    expect(out.pendingFork.summary.status).toBe("awaiting-input")
    expect([out.again.status, out.again.waiting?.prompt, out.again.final_state]).toEqual(["awaiting-input", "number?", { log: ["a"] }])
  })

  it("a fork made with live_after_fork keeps it: answered later (without saying so again), it calls live where its recording runs out", async () => {
    const layer = freshLayer()
    const calls = { live: 0 }
    const work: NodeFunction = async (state, ctx) => ({ result: await ctx.call("svc", { answer: state["answer"] }, () => `live-${++calls.live}`) })
    const waiter = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:laf-wait",
      state_schema: { fields: { answer: { type: "string", default: "" }, result: { type: "string", default: "" } } },
      nodes: [{ id: "ask", kind: "interrupt", prompt: "go?", response_field: "answer" }, { id: "work", kind: "function", module: "m", export: "work" }],
      edges: [{ from: "ask", to: "work" }]
    }, { modules: { m: { work } } }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const parent = yield* Effect.flatMap(waiter.start({}), (r) => r.start())
      const live = yield* Replay.fork(waiter, parent.run_id, { liveAfterFork: true })
      const exact = yield* Replay.fork(waiter, parent.run_id, {})
      const record = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(live.cfRunId))
      const answered = yield* Effect.flatMap(waiter.resume(live.cfRunId, { response: { value: "yes" } }), (r) => r.start())
      const refused = yield* Effect.either(Effect.flatMap(waiter.resume(exact.cfRunId, { response: { value: "yes" } }), (r) => r.start()))
      const exactAfter = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(exact.cfRunId)))
      // A fork made without it, resumed with it: kept from then on.
      const later = yield* Replay.fork(waiter, parent.run_id, {})
      const resumedLive = yield* Effect.flatMap(waiter.resume(later.cfRunId, { response: { value: "yes" }, liveAfterFork: true }), (r) => r.start())
      const laterRecord = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(later.cfRunId))
      return { parent, live, exact, exactAfter, record: Option.getOrThrow(record), answered, refused, resumedLive, laterRecord: Option.getOrThrow(laterRecord) }
    }).pipe(Effect.provide(layer)))
    expect([out.parent.status, out.live.summary.status, out.exact.summary.status]).toEqual(["awaiting-input", "awaiting-input", "awaiting-input"])
    expect(out.record.live_after_fork).toBe(true)
    expect(out.answered).toMatchObject({ status: "done", final_state: { answer: "yes", result: "live-1" } })
    // One live call each: the live fork answered, and the fork resumed with live calls allowed.
    expect(calls.live).toBe(2)
    // A fork made without it takes the answer (the parent never answered), and fails at the
    // call its recording cannot answer, naming the command that answers a fork with live calls.
    expect(Either.isLeft(out.refused) && out.refused.left._tag).toBe("ReplayDivergenceError")
    const refusal = Either.isLeft(out.refused) ? out.refused.left : undefined
    expect(refusal?.message).toContain("stargraph respond <cf_run_id> --response '<json>' --live-after-fork")
    expect(out.exactAfter).toMatchObject({ status: "failed", live_after_fork: false })
    expect(out.resumedLive).toMatchObject({ status: "done", final_state: { result: "live-2" } })
    expect(out.laterRecord.live_after_fork).toBe(true)
  })

  it("several nodes asking in one step: each is asked in turn, the answers are kept, the step runs with all; a replay is exact", async () => {
    const layer = freshLayer()
    const both: NodeFunction = async (_state, ctx) => ({ [ctx.nodeId === "ask_c" ? "c" : "d"]: await ctx.interrupt(`${ctx.nodeId}?`) })
    const fields = { a: { type: "integer" }, b: { type: "integer" }, c: { type: "integer" }, d: { type: "integer" }, done: { type: "string", default: "no" } }
    const fanOut = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:fan-asks",
      state_schema: { fields },
      nodes: [
        { id: "start", kind: "noop" },
        { id: "ask_a", kind: "interrupt", prompt: "A?", response_field: "a" },
        { id: "ask_b", kind: "interrupt", prompt: "B?", response_field: "b" },
        { id: "ask_c", kind: "function", module: "m", export: "both" },
        { id: "ask_d", kind: "function", module: "m", export: "both" },
        { id: "finish", kind: "set", values: { done: "yes" } }
      ],
      edges: [{ from: "start", to: ["ask_a", "ask_b", "ask_c", "ask_d"] }, { from: ["ask_a", "ask_b", "ask_c", "ask_d"], to: "finish" }]
    }, { modules: { m: { both } } }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      let summary = yield* Effect.flatMap(fanOut.start({}), (r) => r.start())
      const prompts: Array<string | undefined> = []
      const partial: Array<{ prompt: string | undefined; others: unknown; answers: unknown }> = []
      for (let i = 1; summary.status === "awaiting-input" && i < 10; i++) {
        prompts.push(summary.waiting?.prompt)
        summary = yield* Effect.flatMap(fanOut.resume(summary.run_id, { response: { value: i } }), (r) => r.start())
        if (i === 3) {
          // Forked while it waits part-way through the step: the fork waits at the same
          // question with the answers given so far, and one answer finishes it the same way.
          const waitingFork = yield* Replay.fork(fanOut, summary.run_id, { fromStep: 1 })
          partial.push({ prompt: summary.waiting?.prompt, others: summary.waiting?.others, answers: summary.waiting?.answers })
          partial.push({ prompt: waitingFork.summary.waiting?.prompt, others: waitingFork.summary.waiting?.others, answers: waitingFork.summary.waiting?.answers })
          // (Its parent has not answered: the answer goes past the recording, so live calls are allowed.)
          const finished = yield* Effect.flatMap(fanOut.resume(waitingFork.cfRunId, { response: { value: 4 }, liveAfterFork: true }), (r) => r.start())
          partial.push({ prompt: finished.status, others: finished.final_state, answers: undefined })
        }
      }
      const fork = yield* Replay.fork(fanOut, summary.run_id, {})
      return { summary, prompts, fork, partial }
    }).pipe(Effect.provide(layer)))
    expect(out.prompts).toEqual(["A?", "B?", "ask_c?", "ask_d?"])
    expect(out.partial).toEqual([
      // The parent, and its fork: the same question, the same answers kept.
      { prompt: "ask_d?", others: { ask_a: [1], ask_b: [2], ask_c: [3] }, answers: undefined },
      { prompt: "ask_d?", others: { ask_a: [1], ask_b: [2], ask_c: [3] }, answers: undefined },
      { prompt: "done", others: { a: 1, b: 2, c: 3, d: 4, done: "yes" }, answers: undefined }
    ])
    expect(out.summary.final_state).toEqual({ a: 1, b: 2, c: 3, d: 4, done: "yes" })
    expect(out.fork.summary.final_state).toEqual(out.summary.final_state)
    expect([out.fork.diff.added_steps, out.fork.diff.removed_steps, out.fork.diff.state_deltas]).toEqual([[], [], {}])
  })

  it("a losing branch that was answered (quorum:1) is recorded, so the replay runs the step as the run did", async () => {
    const layer = freshLayer()
    const quorum = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:quorum-gate",
      state_schema: { fields: { log: LOG_FIELD, ok: { type: "integer" } } },
      nodes: [
        { id: "start", kind: "set", values: { log: ["start"] } },
        { id: "fast", kind: "set", values: { log: ["fast"] } },
        { id: "gate", kind: "interrupt", prompt: "ok?", response_field: "ok" },
        { id: "join", kind: "set", values: { log: ["join"] } }
      ],
      rules: [
        { id: "fan", when: { node: "start" }, then: [{ kind: "parallel", targets: ["fast", "gate"], join: "join", strategy: "quorum:1" }] },
        { id: "stop", when: { node: "join" }, then: [{ kind: "halt", reason: "joined" }] }
      ]
    }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const stopped = yield* Effect.flatMap(quorum.start({}), (r) => r.start())
      const done = yield* Effect.flatMap(quorum.resume(stopped.run_id, { response: { value: 1 } }), (r) => r.start())
      const fork = yield* Replay.fork(quorum, done.run_id, {})
      return { stopped, done, fork }
    }).pipe(Effect.provide(layer)))
    expect(out.stopped.status).toBe("awaiting-input")
    expect([out.done.status, out.fork.summary.status]).toEqual(["done", "done"])
    expect(out.fork.summary.final_state).toEqual(out.done.final_state)
  })

  it("a counterfactual at a step that consumed an answer keeps its evidence; one at the answer's own step keeps the route", async () => {
    const layer = freshLayer()
    const fields = { note: { type: "string", default: "" }, ok: { type: "integer" }, log: LOG_FIELD }
    const evidence = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:evidence-routing",
      state_schema: { fields },
      nodes: [
        { id: "gate", kind: "interrupt", prompt: "approve?", response_field: "ok" },
        { id: "rejected", kind: "set", values: { log: ["rejected"] } },
        { id: "approved", kind: "set", values: { log: ["approved"] } }
      ],
      rules: [
        { id: "r-approved", when: "(stargraph.evidence (node \"gate\")) (node-id (id gate))", then: [{ kind: "goto", target: "approved" }] },
        { id: "r-rejected-stops", when: { node: "rejected" }, then: [{ kind: "halt", reason: "rejected" }] }
      ]
    }))
    const ruleGate = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:rule-gate-cf",
      state_schema: { fields },
      nodes: [{ id: "a", kind: "set", values: { log: ["a"] } }, { id: "b", kind: "set", values: { log: ["b"] } }],
      rules: [{ id: "ask", when: { node: "a" }, then: [{ kind: "interrupt", prompt: "number?", response_field: "ok" }] }]
    }))
    const answered = (graph: Graph.Graph) =>
      Effect.flatMap(Effect.flatMap(graph.start({}), (r) => r.start()), (s) => Effect.flatMap(graph.resume(s.run_id, { response: { value: 5 } }), (r) => r.start()))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const first = yield* answered(evidence)
      const unrelated = yield* Replay.fork(evidence, first.run_id, { fromStep: 1, mutation: { state_overrides: { note: "changed" } } })
      const second = yield* answered(ruleGate)
      const atResponse = yield* Replay.fork(ruleGate, second.run_id, { fromStep: 2, mutation: { state_overrides: { ok: 6 } } })
      return { first, unrelated, second, atResponse }
    }).pipe(Effect.provide(layer)))
    expect(out.first.final_state["log"]).toEqual(["approved"])
    expect(out.unrelated.summary.final_state).toEqual({ ...out.first.final_state, note: "changed" })
    expect(out.second.final_state).toEqual({ note: "", ok: 5, log: ["a", "b"] })
    expect([out.atResponse.summary.status, out.atResponse.summary.steps, out.atResponse.summary.final_state]).toEqual(["done", 3, { note: "", ok: 6, log: ["a", "b"] }])
  })

  it("a fork of a fork goes on with the first fork's node overrides, from its fork step on", async () => {
    const layer = freshLayer()
    const chain = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:chain",
      state_schema: { fields: { msg: { type: "string", default: "" }, log: LOG_FIELD } },
      nodes: [{ id: "a", kind: "set", values: { log: ["a"] } }, { id: "b", kind: "set", values: { log: ["b"] } }, { id: "c", kind: "set", values: { log: ["c"] } }]
    }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const parent = yield* Effect.flatMap(chain.start({}), (r) => r.start())
      const first = yield* Replay.fork(chain, parent.run_id, { fromStep: 1, mutation: { node_output_overrides: { b: { log: ["B!"] } } } })
      const again = yield* Replay.fork(chain, first.cfRunId, {})
      const later = yield* Replay.fork(chain, first.cfRunId, { fromStep: 2, mutation: { state_overrides: { msg: "x" } } })
      const before = yield* Effect.either(Replay.fork(chain, first.cfRunId, { fromStep: 0 }))
      return { first, again, later, before }
    }).pipe(Effect.provide(layer)))
    expect(out.first.summary.final_state["log"]).toEqual(["a", "B!", "c"])
    expect(out.again.summary.final_state).toEqual(out.first.summary.final_state)
    expect([out.again.diff.added_steps, out.again.diff.removed_steps, out.again.diff.state_deltas]).toEqual([[], [], {}])
    expect(out.later.summary.final_state).toEqual({ msg: "x", log: ["a", "B!", "c"] })
    expect(Either.isLeft(out.before) && out.before.left).toMatchObject({ _tag: "InputError", field: "from_step" })
    expect(Either.isLeft(out.before) && out.before.left.message).toMatch(/is a fork of run-.* from step 1/)
  })

  it("a wait that timed out times out again in the replay: on_timeout goto (node and rule interrupts) and halt", async () => {
    const layer = freshLayer()
    const fields = { log: LOG_FIELD, ok: { type: "integer" } }
    const graphWith = (id: string, gate: Record<string, unknown>, rules: ReadonlyArray<unknown> = []) =>
      Graph.make({
        ir_version: "1.0.0",
        id,
        state_schema: { fields },
        nodes: [{ id: "a", kind: "set", values: { log: ["a"] } }, gate, { id: "b", kind: "set", values: { log: ["b"] } }, { id: "late", kind: "set", values: { log: ["late"] } }],
        edges: [{ from: "a", to: "gate" }, { from: "gate", to: "b" }],
        rules
      })
    const nodeGoto = await Effect.runPromise(graphWith("run:t-node", { id: "gate", kind: "interrupt", prompt: "ok?", response_field: "ok", timeout: 0.05, on_timeout: "goto:late" }))
    const nodeHalt = await Effect.runPromise(graphWith("run:t-halt", { id: "gate", kind: "interrupt", prompt: "ok?", response_field: "ok", timeout: 0.05 }))
    const timedOut = (graph: Graph.Graph) =>
      Effect.gen(function*() {
        const stopped = yield* Effect.flatMap(graph.start({}), (r) => r.start())
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 120)))
        const after = yield* Effect.either(Effect.flatMap(graph.resume(stopped.run_id), (r) => r.start()))
        const forks = yield* Effect.forEach([0, 1], (fromStep) => Replay.fork(graph, stopped.run_id, { fromStep }))
        // Every replayed step keeps its recorded start, the `__timeout__` step too.
        const starts = yield* Effect.forEach([stopped.run_id, ...forks.map((f) => f.cfRunId)], (id) =>
          Effect.map(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(id)), (cps) => cps.map((c) => `${c.node}@${c.started_at}`)))
        return { after, forks, starts }
      })
    const ruleGoto = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:t-rule",
      state_schema: { fields },
      nodes: [{ id: "a", kind: "set", values: { log: ["a"] } }, { id: "b", kind: "set", values: { log: ["b"] } }, { id: "late", kind: "set", values: { log: ["late"] } }],
      rules: [
        { id: "ask", when: { node: "a" }, then: [{ kind: "interrupt", prompt: "ok?", response_field: "ok", timeout: 0.05, on_timeout: "goto:late" }] },
        { id: "end", when: { node: "late" }, then: [{ kind: "halt", reason: "late" }] }
      ]
    }))
    const out = await Effect.runPromise(Effect.all([timedOut(nodeGoto), timedOut(nodeHalt), timedOut(ruleGoto)]).pipe(Effect.provide(layer)))
    const [goto, halt, rule] = out
    expect(Either.isRight(rule.after) && rule.after.right.final_state["log"]).toEqual(["a", "late"])
    for (const fork of rule.forks) {
      expect([fork.summary.status, fork.summary.final_state["log"], fork.diff.added_steps, fork.diff.removed_steps]).toEqual(["done", ["a", "late"], [], []])
    }
    expect(Either.isRight(goto.after) && goto.after.right.final_state["log"]).toEqual(["a", "late"])
    for (const { starts } of [goto, rule]) {
      expect(starts[0]!.some((s) => s.startsWith("__timeout__@"))).toBe(true)
      expect(starts.slice(1)).toEqual([starts[0], starts[0]])
    }
    for (const fork of goto.forks) {
      expect([fork.summary.status, fork.summary.final_state["log"]]).toEqual(["done", ["a", "late"]])
      expect([fork.diff.added_steps, fork.diff.removed_steps]).toEqual([[], []])
    }
    expect(Either.isLeft(halt.after) && halt.after.left._tag).toBe("InterruptTimeoutError")
    for (const fork of halt.forks) {
      expect([fork.summary.status, fork.error?._tag]).toEqual(["failed", "InterruptTimeoutError"])
      // The same error, rendered the same way.
      expect(fork.summary.error?.message).toBe(Either.isLeft(halt.after) ? formatError(halt.after.left) : "")
    }
  })

  it("a step that asked part-way sees its earlier calls again when resumed; replays of a waiting or failed run stop the same way", async () => {
    const layer = freshLayer()
    const pick: NodeFunction = async (_state, ctx) => {
      const draw = await ctx.random()
      const choice = await ctx.interrupt(`pick for ${draw}?`, { payload: { draw } })
      return { draw, choice }
    }
    const flaky: NodeFunction = async (_state, ctx) => {
      const draw = await ctx.random()
      throw new Error(`failed after drawing ${draw}`)
    }
    const make = (id: string, exportName: string) =>
      Graph.make({
        ir_version: "1.0.0",
        id,
        state_schema: { fields: { draw: { type: "number", default: 0 }, choice: { type: "string", default: "" } } },
        nodes: [{ id: "start", kind: "noop" }, { id: "n", kind: "function", module: "m", export: exportName }]
      }, { modules: { m: { pick, flaky } } })
    const asking = await Effect.runPromise(make("run:pick", "pick"))
    const failing = await Effect.runPromise(make("run:flaky", "flaky"))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const waiting = yield* Effect.flatMap(asking.start({}), (r) => r.start())
      const waitingFork = yield* Replay.fork(asking, waiting.run_id, { fromStep: 1 })
      const done = yield* Effect.flatMap(asking.resume(waiting.run_id, { response: { value: "left" } }), (r) => r.start())
      const failed = yield* Effect.either(Effect.flatMap(failing.start({}), (r) => r.start()))
      const failedId = Either.isLeft(failed) ? ((yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ graph_id: "run:flaky" }))).runs[0]!.run_id) : ""
      const failedFork = yield* Replay.fork(failing, failedId, { fromStep: 1 })
      return { waiting, waitingFork, done, failed, failedFork }
    }).pipe(Effect.provide(layer)))
    const draw = (out.waiting.waiting?.payload as { draw: number }).draw
    expect(out.waitingFork.summary.status).toBe("awaiting-input")
    expect(out.waitingFork.summary.waiting?.prompt).toBe(out.waiting.waiting?.prompt)
    // Resumed, the node drew the same number it showed with its question.
    expect(out.done.final_state).toEqual({ draw, choice: "left" })
    expect(Either.isLeft(out.failed) && out.failed.left._tag).toBe("NodeExecutionError")
    expect(out.failedFork.summary.status).toBe("failed")
    expect(out.failedFork.error?._tag).toBe("NodeExecutionError")
    expect(out.failedFork.error?.message).toBe(Either.isLeft(out.failed) ? out.failed.left.message : "")
    // Stopped alike: no outcome in either diff.
    expect([out.failedFork.diff.outcome, out.waitingFork.diff.outcome]).toEqual([undefined, undefined])
  })

  it("a step that failed after consuming answers replays them: an exact fork fails as the run did instead of asking again", async () => {
    const layer = freshLayer()
    // A node that asks, is answered on resume, then fails; and a parallel step whose
    // answered interrupt node runs beside a node that fails.
    const askThenFail: NodeFunction = async (_state, ctx) => {
      const answer = await ctx.interrupt("go?")
      throw new Error(`failed after the answer ${JSON.stringify(answer)}`)
    }
    const boom: NodeFunction = () => {
      throw new Error("boom")
    }
    const asking = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:ask-then-fail",
      state_schema: { fields: { log: LOG_FIELD } },
      nodes: [{ id: "start", kind: "noop" }, { id: "n", kind: "function", module: "m", export: "askThenFail" }]
    }, { modules: { m: { askThenFail } } }))
    const parallel = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:gate-and-boom",
      state_schema: { fields: { log: LOG_FIELD, ok: { type: "integer" } } },
      nodes: [
        { id: "start", kind: "set", values: { log: ["start"] } },
        { id: "gate", kind: "interrupt", prompt: "ok?", response_field: "ok" },
        { id: "boom", kind: "function", module: "m", export: "boom" },
        { id: "join", kind: "set", values: { log: ["join"] } }
      ],
      rules: [
        { id: "fan", when: { node: "start" }, then: [{ kind: "parallel", targets: ["boom", "gate"], join: "join", strategy: "all" }] },
        { id: "stop", when: { node: "join" }, then: [{ kind: "halt", reason: "joined" }] }
      ]
    }, { modules: { m: { boom } } }))
    const failedRun = (graph: Graph.Graph) =>
      Effect.gen(function*() {
        const stopped = yield* Effect.flatMap(graph.start({}), (r) => r.start())
        const failed = yield* Effect.either(Effect.flatMap(graph.resume(stopped.run_id, { response: { value: 1 } }), (r) => r.start()))
        const record = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(stopped.run_id)))
        const fork = yield* Replay.fork(graph, stopped.run_id, { fromStep: 1 })
        return { stopped, failed, record, fork }
      })
    const out = await Effect.runPromise(Effect.all([failedRun(asking), failedRun(parallel)]).pipe(Effect.provide(layer)))
    for (const { stopped, failed, record, fork } of out) {
      expect(stopped.status).toBe("awaiting-input")
      expect(Either.isLeft(failed)).toBe(true)
      expect(record.status).toBe("failed")
      // The failed step's answer is kept with its calls.
      expect(record.error?.attempt?.calls.some((c) => c.name === "interrupt.response" && JSON.stringify(c.response) === "1")).toBe(true)
      expect(fork.summary.status).toBe("failed")
      expect(fork.error?.message).toBe(Either.isLeft(failed) ? failed.left.message : "")
      expect(fork.diff.outcome).toBeUndefined()
    }
  })

  it("a fork whose node asks another question than the recording (its prompt reads changed state) asks it, even with live_after_fork; the same question gets the recorded answer", async () => {
    const layer = freshLayer()
    const approve: NodeFunction = async (state, ctx) => ({ approved_by: String(await ctx.interrupt(`Who approves deleting ${String(state["ticket"])}?`)) })
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:approve-delete",
      state_schema: { fields: { ticket: { type: "string", required: true }, note: { type: "string", default: "" }, approved_by: { type: "string", default: "" } } },
      nodes: [{ id: "prep", kind: "noop" }, { id: "ask", kind: "function", module: "m", export: "approve" }]
    }, { modules: { m: { approve } } }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const asked = yield* Effect.flatMap(graph.start({ inputs: { ticket: "staging-db" } }), (r) => r.start())
      const done = yield* Effect.flatMap(graph.resume(asked.run_id, { response: { value: "alice" } }), (r) => r.start())
      const exact = yield* Replay.fork(graph, done.run_id, { fromStep: 1, mutation: { state_overrides: { ticket: "PRODUCTION-db" } } })
      const changed = yield* Replay.fork(graph, done.run_id, { fromStep: 1, mutation: { state_overrides: { ticket: "PRODUCTION-db" } }, liveAfterFork: true })
      const record = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(changed.cfRunId)))
      const answered = yield* Effect.flatMap(graph.resume(changed.cfRunId, { response: { value: "bob" } }), (r) => r.start())
      const same = yield* Replay.fork(graph, done.run_id, { fromStep: 1, mutation: { state_overrides: { note: "re-checked" } }, liveAfterFork: true })
      return { done, exact, changed, record, answered, same }
    }).pipe(Effect.provide(layer)))
    expect(out.done.final_state["approved_by"]).toBe("alice")
    // Without live calls, the other question is a divergence.
    expect(out.exact.error?._tag).toBe("ReplayDivergenceError")
    // With them, the fork asks the new question: alice's answer to the old one is not reused.
    expect(out.changed.summary.status).toBe("awaiting-input")
    expect(out.record.waiting?.prompt).toBe("Who approves deleting PRODUCTION-db?")
    expect(out.record.waiting?.answers).toBeUndefined()
    expect([out.answered.status, out.answered.final_state["approved_by"]]).toEqual(["done", "bob"])
    // The same question (other state changed): the recorded answer, without asking.
    expect([out.same.summary.status, out.same.summary.final_state["approved_by"]]).toEqual(["done", "alice"])
  })

  it("a state override outside a field's enum is refused naming every allowed value, in the message and the fix", async () => {
    const layer = freshLayer()
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:enum",
      state_schema: { fields: { level: { type: "string", enum: ["low", "high"], default: "low" } } },
      nodes: [{ id: "a", kind: "noop" }]
    }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const done = yield* Effect.flatMap(graph.start({}), (r) => r.start())
      return yield* Effect.either(Replay.fork(graph, done.run_id, { mutation: { state_overrides: { level: "medium" } } }))
    }).pipe(Effect.provide(layer)))
    const error = Either.isLeft(out) ? out.left : undefined
    expect(error).toMatchObject({ _tag: "StateValidationError", source: "mutation", field: "level" })
    expect(error?.message).toContain("Expected one of \"low\", \"high\", actual \"medium\"")
    expect((error as { fix?: string } | undefined)?.fix).toBe("give 'level' a value of its declared type (string, one of \"low\", \"high\")")
  })

  it("a replayed step starts at its recorded time: rules that read a fact's _timestamp route as the run did", async () => {
    const layer = freshLayer()
    const cutoff = "2026-06-01T00:00:00.000Z"
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:business-hours",
      state_schema: { fields: { flag: { type: "string", default: "x" }, path: { type: "string", default: "" } } },
      nodes: [
        { id: "a", kind: "set", values: { flag: "y" } },
        { id: "early", kind: "set", values: { path: "early" } },
        { id: "late", kind: "set", values: { path: "late" } },
        { id: "done", kind: "halt" }
      ],
      rules: [
        { id: "r-early", when: `(node-id (id a)) (flag (value "y") (_timestamp ?t&:(< (str-compare ?t "${cutoff}") 0)))`, then: [{ kind: "goto", target: "early" }] },
        { id: "r-late", when: `(node-id (id a)) (flag (value "y") (_timestamp ?t&:(>= (str-compare ?t "${cutoff}") 0)))`, then: [{ kind: "goto", target: "late" }] },
        { id: "r-other", when: '(node-id (id a)) (flag (value "z"))', then: [{ kind: "goto", target: "late" }] },
        { id: "end", when: "(node-id (id ?n&early|late))", then: [{ kind: "goto", target: "done" }] }
      ]
    }))
    /** `effect` run with the clock at `iso`. */
    const at = (iso: string) => <A, E>(effect: Effect.Effect<A, E, Checkpointer>) =>
      Effect.runPromise(Effect.zipRight(TestClock.setTime(Date.parse(iso)), effect).pipe(Effect.provide(TestContext.TestContext), Effect.provide(layer)))
    const parent = await at("2026-05-31T12:00:00.000Z")(Effect.flatMap(graph.start({}), (r) => r.start()))
    const fork = await at("2026-07-01T12:00:00.000Z")(Replay.fork(graph, parent.run_id, {}))
    const reforked = await at("2026-08-01T12:00:00.000Z")(Replay.fork(graph, fork.cfRunId, {}))
    const checkpoints = await at("2026-08-01T12:00:00.000Z")(Effect.all([parent.run_id, fork.cfRunId, reforked.cfRunId].map((id) => Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(id)))))
    expect(parent.final_state["path"]).toBe("early")
    expect([fork.summary.final_state["path"], reforked.summary.final_state["path"]]).toEqual(["early", "early"])
    expect([fork.diff.added_steps, reforked.diff.added_steps]).toEqual([[], []])
    // Every replayed step keeps the recorded start, which its facts carry.
    const starts = checkpoints.map((cps) => cps.map((c) => c.started_at))
    expect(starts[1]).toEqual(starts[0])
    expect(starts[2]).toEqual(starts[0])
    // A step the fork runs from another frontier than the parent's is its own: it starts now;
    // so does every later one, even where the paths meet again (step 3, `done`).
    const moved = await at("2026-07-01T12:00:00.000Z")(Replay.fork(graph, parent.run_id, { fromStep: 1, mutation: { state_overrides: { flag: "z" } } }))
    const movedSteps = await at("2026-07-01T12:00:00.000Z")(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(moved.cfRunId)))
    expect(moved.summary.final_state["path"]).toBe("late")
    expect(movedSteps.map((c) => c.node)).toEqual(["__input__", "a", "late", "done"])
    expect(movedSteps.map((c) => c.started_at)).toEqual([...starts[0]!.slice(0, 2), "2026-07-01T12:00:00.000Z", "2026-07-01T12:00:00.000Z"])
  })

  it("Replay.start writes the fork running under this process (a server adopts it if the process dies before driving it), then drives it", async () => {
    const { graph, parent, layer } = await setup()
    const out = await Effect.runPromise(Effect.gen(function*() {
      const started = yield* Replay.start(graph, parent.run_id, {})
      const written = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(started.cfRunId)))
      const result = yield* Effect.flatMap(Effect.either(started.run.start()), started.finish)
      return { written, result }
    }).pipe(Effect.provide(layer)))
    expect(out.written).toMatchObject({ status: "running", owner: OWNER, parent_run_id: parent.run_id })
    expect(out.result.summary.status).toBe("done")
    expect(out.result.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
  })

  it("a fork of a run paused part-way that needs a call past its last step says the recording ends there", async () => {
    const { graph, fork, layer } = await setup()
    const paused = await Effect.runPromise(Effect.gen(function*() {
      const run = yield* graph.start({ inputs: { topic: "cves" } })
      yield* run.pause()
      return yield* run.start()
    }).pipe(Effect.provide(layer)))
    expect([paused.status, paused.steps]).toEqual(["paused", 0])
    const result = await fork({}, paused.run_id)
    const forked = Either.getOrThrow(result)
    expect(forked.summary.status).toBe("failed")
    expect(forked.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "missing-entry", step: 1, call: "llm.complete" })
    expect(forked.error?.message).toBe(
      `node 'ask' made call #0 'llm.complete' at step 1, past the end of the recording: run ${paused.run_id} stopped after step 0 (it is paused). ` +
        "Resume that run and fork it again once it went further, or fork with live_after_fork (--live-after-fork) to make the call live"
    )
  })

  it("a call that failed replays its failure: a caught one takes the same fallback, a retried one retries, a fatal one fails alike", async () => {
    const layer = freshLayer()
    let calls = 0
    const asked = new Set<string>()
    // Fails the first time a sku is asked for, then answers.
    const api = (sku: string) => () => {
      calls++
      if (!asked.has(sku)) {
        asked.add(sku)
        throw Object.assign(new TypeError("socket hang up"), { code: "ECONNRESET" })
      }
      return { price: 42 }
    }
    const guarded: NodeFunction = async (_state, ctx) => {
      try {
        return { note: `price ${(await ctx.call("prices", { sku: "a" }, api("a")) as { price: number }).price}` }
      } catch (e) {
        return { note: `fallback after ${(e as Error).name} ${(e as { code?: string }).code}` }
      }
    }
    const retried: NodeFunction = async (_state, ctx) => {
      const quote = await ctx.call("prices", { sku: "b" }, api("b")) as { price: number }
      return { note: `price ${quote.price} on attempt ${ctx.attempt}` }
    }
    const make = (id: string, node: Record<string, unknown>) =>
      Graph.make({
        ir_version: "1.0.0",
        id,
        state_schema: { fields: { note: { type: "string", default: "" }, expression: { type: "string", default: "1 / 0" }, total: { type: "number" } } },
        nodes: [{ id: "start", kind: "noop" }, node]
      }, { modules: { m: { guarded, retried } } })
    const out = await Effect.runPromise(Effect.gen(function*() {
      const forked = []
      for (const [id, node] of [
        ["run:guarded", { id: "n", kind: "function", module: "m", export: "guarded" }],
        ["run:retried", { id: "n", kind: "function", module: "m", export: "retried", retry: { max_attempts: 2 } }]
      ] as const) {
        const graph = yield* make(id, node)
        const parent = yield* Effect.flatMap(graph.start({}), (r) => r.start())
        const before = calls
        const fork = yield* Replay.fork(graph, parent.run_id, {})
        forked.push({ parent, fork, liveCalls: calls - before })
      }
      const calculator = yield* make("run:divide", { id: "n", kind: "tool", tool: "std.calculator@1", inputs: { expression: "expression" }, out: { total: "result" } })
      const failed = yield* Effect.either(Effect.flatMap(calculator.start({}), (r) => r.start()))
      const failedId = (yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ graph_id: "run:divide" }))).runs[0]!.run_id
      const failedFork = yield* Replay.fork(calculator, failedId, {})
      return { forked, failed, failedFork }
    }).pipe(Effect.provide(layer)))
    const [caught, retry] = out.forked
    expect(caught!.parent.final_state["note"]).toBe("fallback after TypeError ECONNRESET")
    expect(retry!.parent.final_state["note"]).toBe("price 42 on attempt 2")
    for (const { parent, fork, liveCalls } of out.forked) {
      expect(liveCalls).toBe(0)
      expect(fork.summary.status).toBe("done")
      expect(fork.summary.final_state).toEqual(parent.final_state)
      expect(fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    }
    // The tool's failure (division by zero) fails the replay with the same ToolError, not a divergence.
    expect(Either.isLeft(out.failed) && out.failed.left).toMatchObject({ _tag: "ToolError", nodeId: "n", step: 2 })
    expect(out.failedFork.summary.status).toBe("failed")
    expect(out.failedFork.error?._tag).toBe("ToolError")
    expect(out.failedFork.error?.message).toBe(Either.isLeft(out.failed) ? out.failed.left.message : "")
    expect(out.failedFork.diff.outcome).toBeUndefined()
  })

  it("a call its node gave up on (the attempt timed out) is recorded as abandoned: its late answer is not, and the replay times out and retries alike", async () => {
    const layer = freshLayer()
    let asked = 0
    // The first call answers after 300 ms, past its attempt's 200 ms timeout and during the
    // second attempt, whose call answers after 150 ms.
    const slow: NodeFunction = async (_state, ctx) => {
      const quote = await ctx.call("prices", { sku: "a" }, () => {
        asked++
        const ms = asked === 1 ? 300 : 150
        return new Promise<{ price: number }>((resolve) => setTimeout(() => resolve({ price: asked === 1 ? 1 : 42 }), ms))
      })
      return { note: `price ${quote.price} on attempt ${ctx.attempt}` }
    }
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make({
        ir_version: "1.0.0",
        id: "run:slow-quote",
        state_schema: { fields: { note: { type: "string", default: "" } } },
        nodes: [{ id: "start", kind: "noop" }, { id: "n", kind: "function", module: "m", export: "slow", timeout_ms: 200, retry: { max_attempts: 2 } }]
      }, { modules: { m: { slow } } })
      const parent = yield* Effect.flatMap(graph.start({}), (r) => r.start())
      const calls = (yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(parent.run_id)))[2]!.calls ?? []
      const before = asked
      const fork = yield* Replay.fork(graph, parent.run_id, {})
      const forkCalls = (yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(fork.cfRunId)))[2]!.calls ?? []
      return { parent, calls, fork, forkCalls, live: asked - before }
    }).pipe(Effect.provide(layer)))
    expect(out.parent.final_state["note"]).toBe("price 42 on attempt 2")
    expect(out.calls.map((c) => [c.seq, c.abandoned ?? false, c.response])).toEqual([[0, true, null], [1, false, { price: 42 }]])
    expect(out.live).toBe(0)
    expect(out.fork.summary.final_state).toEqual(out.parent.final_state)
    expect(out.fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    expect(out.forkCalls).toEqual(out.calls)
  })

  it("calls given up on replay alike: a race's loser, a timed-out attempt that calls on, and a failed run's pending call (live after fork)", async () => {
    const layer = freshLayer()
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    let live = 0
    const answer = <A>(ms: number, value: A) => async () => {
      live++
      await sleep(ms)
      return value
    }
    // Not awaited: `a` answers after the node returned, while its slower sibling runs (a fork
    // whose mutation changes `side` waits for both).
    let awaitBoth = false
    const raced: NodeFunction = async (s, ctx) => {
      const [a, b] = [ctx.call("a", {}, answer(100, "a")), ctx.call("b", {}, answer(5, "b"))]
      return { out: awaitBoth && s["side"] === 5 ? `${await a}${await b}` : await Promise.race([a, b]) as string }
    }
    // Attempt 1 times out, then its code goes on and calls `c2` while attempt 2 runs.
    const timed: NodeFunction = async (_s, ctx) => {
      const first = await ctx.call("c1", {}, answer(ctx.attempt === 1 ? 300 : 100, ctx.attempt))
      const second = await ctx.call("c2", { attempt: ctx.attempt }, answer(5, ctx.attempt * 10))
      return { out: `attempt ${ctx.attempt}: ${first}/${second}` }
    }
    // A call made after the node returned (from a timer): no answer, not recorded.
    const late: NodeFunction = async (_s, ctx) => {
      void sleep(50).then(() => ctx.call("late", {}, answer(1, "L")))
      return { out: "n" }
    }
    let outage = true
    const slow: NodeFunction = async (_s, ctx) => ({ out: await ctx.call("slow", {}, answer(300, "slow")) as string })
    const failing: NodeFunction = async (s) => {
      if (outage && s["side"] !== 5) throw new Error("outage")
      return { side: 2 }
    }
    const sibling: NodeFunction = async () => {
      await sleep(250)
      return { side: 1 }
    }
    const graphOf = (id: string, node: Record<string, unknown>, other: string) =>
      Graph.make({
        ir_version: "1.0.0",
        id,
        state_schema: { fields: { out: { type: "string", default: "" }, side: { type: "integer", default: 0 } } },
        nodes: [{ id: "start", kind: "noop" }, { id: "n", kind: "function", module: "m", ...node }, { id: "s", kind: "function", module: "m", export: other }],
        edges: [{ from: "start", to: ["n", "s"] }]
      }, { modules: { m: { raced, timed, late, slow, failing, sibling } } })
    const out = await Effect.runPromise(Effect.gen(function*() {
      const exact = []
      for (const [id, node] of [["run:raced", { export: "raced" }], ["run:timed", { export: "timed", timeout_ms: 200, retry: { max_attempts: 2 } }], ["run:late", { export: "late" }]] as const) {
        const graph = yield* graphOf(id, node, "sibling")
        const parent = yield* Effect.flatMap(graph.start({}), (r) => r.start())
        const calls = (yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(parent.run_id)))[2]!.calls ?? []
        const before = live
        const fork = yield* Replay.fork(graph, parent.run_id, {}).pipe(Effect.timeout("10 seconds"))
        exact.push({ parent, calls, fork, live: live - before })
      }
      const graph = yield* graphOf("run:outage", { export: "slow" }, "failing")
      const failed = yield* Effect.either(Effect.flatMap(graph.start({}), (r) => r.start()))
      const failedId = (yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ graph_id: "run:outage" }))).runs[0]!.run_id
      const attempt = Option.getOrThrow(yield* Effect.flatMap(Checkpointer, (c) => c.getRun(failedId))).error?.attempt?.calls ?? []
      outage = false
      const retried = yield* Replay.fork(graph, failedId, { liveAfterFork: true }).pipe(Effect.timeout("10 seconds"))
      // Forks that wait for a call the parent never got an answer to fail loudly (no hang):
      // the race's loser awaited after all, the failed step's cut-off call once it no longer fails.
      const racedGraph = yield* graphOf("run:raced", { export: "raced" }, "sibling")
      const racedParent = (yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ graph_id: "run:raced" }))).runs.find((r) => r.parent_run_id === null)!.run_id
      awaitBoth = true
      const awaited = yield* Replay.fork(racedGraph, racedParent, { fromStep: 1, mutation: { state_overrides: { side: 5 } } }).pipe(Effect.timeout("10 seconds"))
      outage = true
      const cut = yield* Replay.fork(graph, failedId, { fromStep: 1, mutation: { state_overrides: { side: 5 } } }).pipe(Effect.timeout("10 seconds"))
      return { exact, failed, attempt, retried, awaited, cut }
    }).pipe(Effect.provide(layer)))
    const [race, timeout, afterReturn] = out.exact
    expect(afterReturn!.calls.filter((c) => c.node === "n")).toEqual([])
    expect(race!.parent.final_state["out"]).toBe("b")
    expect(race!.calls.filter((c) => c.node === "n").map((c) => [c.name, c.abandoned ?? false])).toEqual([["a", "returned"], ["b", false]])
    expect(timeout!.parent.final_state["out"]).toBe("attempt 2: 2/20")
    // Attempt 1's late `c1` answer and its `c2` afterwards are not recorded.
    expect(timeout!.calls.filter((c) => c.node === "n").map((c) => [c.name, c.abandoned ?? false, c.response])).toEqual([["c1", true, null], ["c1", false, 2], ["c2", false, 20]])
    for (const { parent, fork, live: calledLive } of out.exact) {
      expect(calledLive).toBe(0)
      expect(fork.summary.final_state).toEqual(parent.final_state)
      expect(fork.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    }
    // The failed run's slow call was cut off by the failure: a fork that may call live calls it.
    expect(Either.isLeft(out.failed)).toBe(true)
    expect(out.attempt.filter((c) => c.node === "n").map((c) => c.abandoned ?? false)).toEqual([true])
    expect(out.retried.summary).toMatchObject({ status: "done", final_state: { out: "slow", side: 2 } })
    for (const fork of [out.awaited, out.cut]) {
      expect(fork.summary.status).toBe("failed")
      expect(fork.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "missing-entry", nodeId: "n" })
      expect(fork.error?.message).toContain("which the recorded run never got an answer to")
    }
  })

  it("a branch that lost its race leaves no calls in the step: the replay's step is the parent's", async () => {
    const layer = freshLayer()
    const slow: NodeFunction = async (_state, ctx) => {
      const price = await ctx.call("price", { item: "x" }, () => 3)
      await new Promise((r) => setTimeout(r, 200))
      return { log: [`price ${String(price)}`] }
    }
    const race = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:race-calls",
      state_schema: { fields: { log: LOG_FIELD } },
      nodes: [{ id: "start", kind: "noop" }, { id: "fast", kind: "set", values: { log: ["fast"] } }, { id: "slow", kind: "function", module: "m", export: "slow" }],
      rules: [{ id: "fan", when: { node: "start" }, then: [{ kind: "parallel", targets: ["fast", "slow"], strategy: "quorum:1" }] }]
    }, { modules: { m: { slow } } }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const parent = yield* Effect.flatMap(race.start({}), (r) => r.start())
      const fork = yield* Replay.fork(race, parent.run_id, {})
      return { parent: yield* checkpointer.listCheckpoints(parent.run_id), fork: yield* checkpointer.listCheckpoints(fork.cfRunId) }
    }).pipe(Effect.provide(layer)))
    const step2 = (cps: ReadonlyArray<{ step: number; nodes: ReadonlyArray<string>; calls?: ReadonlyArray<{ node: string }> }>) => cps.find((c) => c.step === 2)!
    expect(step2(out.parent).nodes).toEqual(["fast"])
    expect(step2(out.parent).calls?.map((c) => c.node)).toEqual(["__parallel__"])
    expect(step2(out.fork).calls).toEqual(step2(out.parent).calls)
  })

  it("an answer is kept on the record until its step is checkpointed: a process that died before then leaves it to the next resume", async () => {
    const layer = freshLayer()
    const gate = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:kept-answer",
      state_schema: { fields: { log: LOG_FIELD, ok: { type: "integer" } } },
      nodes: [{ id: "a", kind: "set", values: { log: ["a"] } }, { id: "ask", kind: "interrupt", prompt: "ok?", response_field: "ok" }, { id: "b", kind: "set", values: { log: ["b"] } }]
    }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      const stopped = yield* Effect.flatMap(gate.start({}), (r) => r.start())
      const waiting = Option.getOrThrow(yield* checkpointer.getRun(stopped.run_id)).waiting!
      // What a process that took the run over with the answer 7 and died before the step's
      // checkpoint leaves: running, a dead owner, the answer kept with the wait.
      yield* checkpointer.updateRun(stopped.run_id, { status: "running", owner: `${hostname()}:999999999`, waiting: { ...waiting, given: { value: 7, actor: "cli" } } })
      const resumed = yield* Effect.flatMap(gate.resume(stopped.run_id), (r) => r.start())
      const record = Option.getOrThrow(yield* checkpointer.getRun(stopped.run_id))
      const steps = yield* checkpointer.listCheckpoints(stopped.run_id)
      return { resumed, record, steps }
    }).pipe(Effect.provide(layer)))
    expect([out.resumed.status, out.resumed.final_state]).toEqual(["done", { log: ["a", "b"], ok: 7 }])
    expect(out.steps.find((c) => c.node === "ask")?.calls?.[0]).toMatchObject({ name: "interrupt.response", response: 7, request: { actor: "cli" } })
    // Checkpointed: the kept answer is gone from the record.
    expect(out.record.waiting).toBeNull()
  })

  it("commits replayed steps in batches (every step persisted), and live steps one by one", async () => {
    const filename = join(tempDir(), "db.sqlite")
    const batches: Array<number> = []
    // The real SQLite Checkpointer, wrapped to record how many steps each commit carries.
    const counting = Layer.effect(
      Checkpointer,
      Effect.map(Checkpointer, (inner) => ({
        ...inner,
        commitSteps: (cps: Parameters<typeof inner.commitSteps>[0], patch?: Parameters<typeof inner.commitSteps>[1]) => {
          batches.push(cps.length)
          return inner.commitSteps(cps, patch)
        }
      }))
    ).pipe(Layer.provide(SqliteCheckpointer.layer({ filename })))
    const tick: NodeFunction = async (state, ctx) => {
      const r = await ctx.call("tool", { i: state["i"], topic: state["topic"] }, () => (state["i"] as number) * 2)
      return { i: (state["i"] as number) + 1, total: (state["total"] as number) + (r as number) }
    }
    const loop = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:loop",
      max_steps: 500,
      state_schema: { fields: { topic: { type: "string", default: "a" }, i: { type: "integer", default: 0 }, total: { type: "integer", default: 0 } } },
      nodes: [{ id: "tick", kind: "function", module: "m", export: "tick" }],
      edges: [{ from: "tick", cases: [{ when: { field: "i", op: "lt", value: 150 }, to: "tick" }] }]
    }, { modules: { m: { tick } } }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const parent = yield* Effect.flatMap(loop.start({}), (r) => r.start())
      const liveBatches = batches.splice(0)
      const replayed = yield* Replay.fork(loop, parent.run_id, {})
      const replayBatches = batches.splice(0)
      const steps = (yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(replayed.cfRunId))).map((c) => c.step)
      // A changed topic changes every request: each step's call is answered live.
      const diverged = yield* Replay.fork(loop, parent.run_id, { mutation: { state_overrides: { topic: "b" } }, liveAfterFork: true })
      return { parent, liveBatches, replayed, replayBatches, steps, diverged, divergedBatches: batches.splice(0) }
    }).pipe(Effect.provide(counting)))
    expect(out.parent.steps).toBe(150)
    expect(out.liveBatches.every((n) => n === 1)).toBe(true)
    expect(out.replayed.summary).toMatchObject({ status: "done", steps: 150, final_state: out.parent.final_state })
    expect(out.replayed.diff.state_deltas).toEqual({})
    expect(out.steps).toEqual(Array.from({ length: 151 }, (_, i) => i))
    expect(out.replayBatches).toEqual([64, 64, 22])
    expect(out.diverged.summary.status).toBe("done")
    expect(out.divergedBatches.every((n) => n === 1)).toBe(true)
    expect(out.divergedBatches.reduce((a, b) => a + b, 0)).toBe(150)
  })

  it("resumes a fork stopped part-way against its parent's cassette: same final state, no live call", async () => {
    const filename = join(tempDir(), "db.sqlite")
    let liveTools = 0
    const slow: NodeFunction = async (state, ctx) => {
      const r = await ctx.call("tool", { i: state["i"] }, () => {
        liveTools++
        return (state["i"] as number) * 3
      })
      await new Promise((res) => setTimeout(res, 1))
      return { i: (state["i"] as number) + 1, total: (state["total"] as number) + (r as number) }
    }
    const loop = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:slowloop",
      max_steps: 500,
      state_schema: { fields: { i: { type: "integer", default: 0 }, total: { type: "integer", default: 0 } } },
      nodes: [{ id: "tick", kind: "function", module: "m", export: "slow" }],
      edges: [{ from: "tick", cases: [{ when: { field: "i", op: "lt", value: 120 }, to: "tick" }] }]
    }, { modules: { m: { slow } } }))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const parent = yield* Effect.flatMap(loop.start({}), (r) => r.start())
      const liveBefore = liveTools
      // Stop the fork part-way, as a killed process would: its record stays `running`.
      const forking = yield* Effect.fork(Replay.fork(loop, parent.run_id, {}))
      yield* Effect.sleep("80 millis")
      yield* Fiber.interrupt(forking)
      const checkpointer = yield* Checkpointer
      const forks = (yield* checkpointer.listRuns({ limit: 10 })).runs.filter((r) => r.parent_run_id === parent.run_id)
      const cfRunId = forks[0]!.run_id
      const stoppedAt = (yield* checkpointer.listCheckpoints(cfRunId)).length - 1
      const resumed = yield* Effect.flatMap(loop.resume(cfRunId), (r) => r.start())
      const steps = (yield* checkpointer.listCheckpoints(cfRunId)).map((c) => c.step)
      return { parent, stoppedAt, resumed, steps, liveDuringReplay: liveTools - liveBefore }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename }))))
    expect(out.stoppedAt).toBeLessThan(120)
    expect(out.resumed).toMatchObject({ status: "done", steps: 120, final_state: out.parent.final_state })
    expect(out.steps).toEqual(Array.from({ length: 121 }, (_, i) => i))
    expect(out.liveDuringReplay).toBe(0)
  })
})
