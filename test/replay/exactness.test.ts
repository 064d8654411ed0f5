/**
 * Exact replay over random graphs (seeded): linear stages of single nodes and fan-outs
 * with joins, made of `set` nodes, nodes drawing `ctx.random`, nodes asking with
 * `ctx.interrupt`, nodes whose live call fails at random (caught, or retried), `interrupt`
 * nodes, and (in rule-routed graphs) rules' `interrupt` actions. Each graph is run on SQLite, every question answered, then forked from every
 * step without a mutation: each fork must stop as the run did, with the same final state
 * and an empty RunDiff.
 */
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import type { NodeFunction } from "../../src/nodes/Executor.js"
import * as Replay from "../../src/replay/Replay.js"
import { rng as seededRng } from "../fathom/generator.js"
import { tempDir } from "../helpers/cli.js"

type Rng = () => number
const pick = <A>(rng: Rng, xs: ReadonlyArray<A>): A => xs[Math.floor(rng() * xs.length)]!

const draw: NodeFunction = async (_state, ctx) => ({ log: [`${ctx.nodeId}:${(await ctx.random()).toFixed(6)}`] })
const ask: NodeFunction = async (_state, ctx) => {
  const r = await ctx.random()
  const answer = await ctx.interrupt(`${ctx.nodeId} (${r.toFixed(3)})?`)
  return { log: [`${ctx.nodeId}:${String(answer)}:${r.toFixed(6)}`] }
}
/** A live call that fails half the time, with a code; caught by `flaky`, retried by `retried`. */
const api = () => {
  if (Math.random() < 0.5) throw Object.assign(new Error("upstream down"), { code: Math.random() < 0.5 ? "ECONNRESET" : "ETIMEDOUT" })
  return Math.random().toFixed(6)
}
const flaky: NodeFunction = async (_state, ctx) => {
  try {
    return { log: [`${ctx.nodeId}:ok:${await ctx.call("api", { node: ctx.nodeId }, api)}`] }
  } catch (e) {
    return { log: [`${ctx.nodeId}:fallback:${(e as { code?: string }).code}`] }
  }
}
const retried: NodeFunction = async (_state, ctx) => ({ log: [`${ctx.nodeId}:${await ctx.call("api", { node: ctx.nodeId }, api)}@${ctx.attempt}`] })
const modules = { m: { draw, ask, flaky, retried } }

type Kind = "set" | "draw" | "ask" | "interrupt" | "flaky" | "retried"

/** A random graph: `stages` of one node or a fan-out of two joined at the next stage. */
const randomGraph = (seed: number) => {
  const rng = seededRng(seed)
  const ruled = rng() < 0.35
  const fields: Record<string, unknown> = { log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } }
  const nodes: Array<Record<string, unknown>> = [{ id: "start", kind: "noop" }]
  const stages: Array<ReadonlyArray<string>> = [["start"]]
  const node = (id: string, kind: Kind): Record<string, unknown> => {
    switch (kind) {
      case "set":
        return { id, kind: "set", values: { log: [id] } }
      case "draw":
        return { id, kind: "function", module: "m", export: "draw" }
      case "ask":
        return { id, kind: "function", module: "m", export: "ask" }
      case "flaky":
        return { id, kind: "function", module: "m", export: "flaky" }
      case "retried":
        return { id, kind: "function", module: "m", export: "retried", retry: { max_attempts: 20 } }
      case "interrupt":
        fields[`a_${id}`] = { type: "integer", nullable: true, default: null }
        return { id, kind: "interrupt", prompt: `${id}?`, response_field: `a_${id}` }
    }
  }
  const count = 2 + Math.floor(rng() * 4)
  for (let s = 1; s <= count; s++) {
    const fan = !ruled && rng() < 0.35
    const ids = fan ? [`s${s}a`, `s${s}b`] : [`s${s}`]
    for (const id of ids) nodes.push(node(id, pick(rng, ruled ? ["set", "draw", "ask", "flaky", "retried"] as const : ["set", "draw", "ask", "interrupt", "flaky", "retried"] as const)))
    stages.push(ids)
  }
  nodes.push({ id: "end", kind: "set", values: { log: ["end"] } })
  stages.push(["end"])
  const ir: Record<string, unknown> = { ir_version: "1.1.0", id: `run:exact-${seed}`, state_schema: { fields }, nodes }
  if (ruled) {
    // Rule-routed: a goto per stage, and a rule's interrupt after some of them.
    const rules: Array<Record<string, unknown>> = stages.slice(0, -1).flatMap(([from], i) => {
      const to = stages[i + 1]![0]!
      const gate = rng() < 0.4
      fields[`r_${from}`] = { type: "integer", nullable: true, default: null }
      return [{
        id: `go-${from}`,
        when: { node: from },
        then: gate ? [{ kind: "interrupt", prompt: `after ${from}?`, response_field: `r_${from}` }, { kind: "goto", target: to }] : [{ kind: "goto", target: to }]
      }]
    })
    ir["rules"] = [...rules, { id: "stop", when: { node: "end" }, then: [{ kind: "halt", reason: "end" }] }]
  } else {
    ir["edges"] = stages.slice(0, -1).map((from, i) => {
      const to = stages[i + 1]!
      return { from: from.length === 1 ? from[0] : from, to: to.length === 1 ? to[0] : to }
    })
  }
  return ir
}

describe("exact replay over random graphs", () => {
  it("every fork without a mutation, from every step, stops as the run did with an empty diff", async () => {
    const layer = SqliteCheckpointer.layer({ filename: join(tempDir(), "exact.sqlite") })
    let forks = 0
    for (let seed = 1; seed <= 30; seed++) {
      const graph = await Effect.runPromise(Graph.make(randomGraph(seed), { modules }))
      const result = await Effect.runPromise(Effect.gen(function*() {
        let summary = yield* Effect.flatMap(graph.start({}), (r) => r.start())
        for (let answer = 1; summary.status === "awaiting-input" && answer < 40; answer++) {
          summary = yield* Effect.flatMap(graph.resume(summary.run_id, { response: { value: answer } }), (r) => r.start())
        }
        const replays = []
        for (let fromStep = 0; fromStep <= summary.steps; fromStep++) replays.push(yield* Replay.fork(graph, summary.run_id, { fromStep }))
        return { summary, replays }
      }).pipe(Effect.provide(layer)))
      expect([seed, result.summary.status]).toEqual([seed, "done"])
      for (const [fromStep, fork] of result.replays.entries()) {
        forks++
        const where = `seed ${seed}, from step ${fromStep}`
        expect([where, fork.summary.status, fork.summary.final_state]).toEqual([where, "done", result.summary.final_state])
        expect([where, fork.diff.added_steps, fork.diff.removed_steps, fork.diff.state_deltas, fork.diff.outcome]).toEqual([where, [], [], {}, undefined])
      }
    }
    expect(forks).toBeGreaterThan(100)
  }, 120_000)
})
