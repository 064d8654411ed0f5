/**
 * The planned session (routing without the engine) against the engine itself: random
 * graphs routed by `edges:` (static edges, fan-outs, conditional cases, routers, dead
 * ends) and by rules that match only the node that ran (with salience, every deciding
 * action kind, several per node), random step sequences, and after every step the same
 * firings, decisions, working-memory snapshot and fact list, fact ids included. Also the
 * hand-over to the engine (evidence, a counterfactual's facts), the restore from a
 * checkpoint's facts, and whole runs with and without the planned session giving the
 * same checkpoints.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as PlannedSession from "../../src/fathom/PlannedSession.js"
import type * as RuleEngine from "../../src/fathom/RuleEngine.js"
import { makeRuleEngine, RuleEngine as RuleEngineTag } from "../../src/index.js"
import * as RuleSession from "../../src/fathom/RuleSession.js"
import type { RuleProgram } from "../../src/fathom/program.js"
import * as Graph from "../../src/graph/Graph.js"
import { rng } from "./generator.js"

const route = () => "n0"

/** A random deciding action. */
const randomAction = (random: () => number, pick: () => string) => {
  const r = random()
  if (r < 0.45) return { kind: "goto", target: random() < 0.1 ? "__end__" : pick() }
  if (r < 0.6) return { kind: "halt", reason: `r${Math.floor(random() * 9)}` }
  if (r < 0.75) return { kind: "parallel", targets: [...new Set([pick(), pick()])], ...(random() < 0.5 ? { join: pick() } : {}) }
  if (r < 0.87) return { kind: "retry", target: pick(), backoff_ms: Math.floor(random() * 3) }
  return { kind: "interrupt", prompt: "ok?" }
}

/**
 * A random graph of `size` nodes routed by edges (unless `edgeless`), with a router
 * module, and rules that match only a node (on nodes with a static edge or none).
 */
const randomGraph = (random: () => number, size: number, edgeless = false) => {
  const ids = Array.from({ length: size }, (_, i) => `n${i}`)
  const pick = () => ids[Math.floor(random() * size)]!
  const edges: Array<unknown> = []
  const rules: Array<unknown> = []
  const withRules = (id: string) => {
    const count = random() < 0.5 ? 0 : 1 + Math.floor(random() * 3)
    for (let k = 0; k < count; k++) {
      rules.push({
        id: `r-${id}-${k}`,
        when: random() < 0.5 ? { node: id } : `?n <- (node-id (id ${id}))`,
        ...(random() < 0.4 ? { salience: Math.floor(random() * 3) * 10 } : {}),
        then: Array.from({ length: 1 + Math.floor(random() * 2) }, () => randomAction(random, pick))
      })
    }
  }
  for (const id of ids) {
    if (edgeless) {
      withRules(id)
      continue
    }
    const r = random()
    if (r < 0.4) withRules(id)
    if (r < 0.12) continue // a dead end: its branch ends
    if (r < 0.4) edges.push({ from: id, to: pick() })
    else if (r < 0.55) edges.push({ from: id, to: pick() }, { from: id, to: pick() })
    else if (r < 0.8) {
      const cases = Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
        when: { field: "x", op: random() < 0.5 ? "gt" : "eq", value: Math.floor(random() * 5) },
        to: random() < 0.1 ? "__end__" : pick()
      }))
      edges.push({ from: id, cases, ...(random() < 0.7 ? { default: pick() } : {}) })
      if (random() < 0.3) edges.push({ from: id, to: pick() })
    } else {
      edges.push({ from: id, router: { module: "m", export: "route" }, targets: [...new Set([pick(), pick(), pick()])] })
    }
  }
  return {
    ir_version: "1.0.0",
    id: "edges:random",
    state_schema: { fields: { x: { type: "integer", default: 0 } } },
    nodes: ids.map((id) => ({ id, kind: "noop" })),
    ...(edgeless ? {} : { edges }),
    rules
  }
}

const compileEither = (ir: unknown) => Effect.runSync(Effect.either(Effect.map(Graph.make(ir, { modules: { m: { route } } }), (g) => g.rules)))
const programOf = (ir: unknown): RuleProgram => Either.getOrThrow(compileEither(ir))

const engineSession = (program: RuleProgram, facts?: Parameters<typeof RuleSession.open>[1]) => Either.getOrThrow(RuleSession.open(program, facts))
const edgeSession = (program: RuleProgram, facts?: Parameters<typeof RuleSession.open>[1]) =>
  PlannedSession.open(program, program.routePlan!, facts, (snapshot) => RuleSession.open(program, snapshot))

describe("planned rule sessions", () => {
  it("are used when routing depends only on the node that ran, and not once facts, packs or mirrored fields take part", () => {
    const edges = { ir_version: "1.0.0", id: "e", nodes: [{ id: "a", kind: "noop" }, { id: "b", kind: "noop" }], edges: [{ from: "a", to: "b" }] }
    expect(programOf(edges).routePlan).toBeDefined()
    expect(programOf({ ...edges, rules: [{ id: "r", when: { node: "a" }, then: [{ kind: "halt" }] }] }).routePlan?.get("a")).toEqual({ _tag: "fixed" })
    // A rule that asserts a fact, or matches another fact, needs the engine.
    expect(programOf({ ...edges, rules: [{ id: "r", when: { node: "a" }, then: [{ kind: "assert", fact: "(seen a)" }] }] }).routePlan).toBeUndefined()
    expect(programOf({ ...edges, rules: [{ id: "r", when: "(node-id (id a)) (seen a)", then: [{ kind: "halt" }] }] }).routePlan).toBeUndefined()
    expect(programOf({ ...edges, rules: [{ id: "r", when: "(node-id (id ?x))", then: [{ kind: "halt" }] }] }).routePlan).toBeUndefined()
    // The original's form: no edges, and no rules (declaration order) or node-only rules.
    expect(programOf({ ir_version: "1.0.0", id: "o", nodes: [{ id: "a", kind: "noop" }] }).routePlan).toEqual(new Map())
    const flat = { ir_version: "1.0.0", id: "o", state_schema: { message: "str" }, nodes: [{ id: "a", kind: "noop" }] }
    expect(programOf({ ...flat, rules: [{ id: "r", when: { node: "a", message: "hi" }, then: [{ kind: "halt" }] }] }).routePlan).toBeUndefined()
    const mirrored = { ...edges, state_schema: { fields: { x: { type: "integer", default: 0, mirror: true } } } }
    expect(programOf(mirrored).mirrored.length).toBe(1)
    expect(programOf(mirrored).routePlan).toBeUndefined()
  })

  it("route random graphs exactly as the engine does (200 graphs, 25 steps each)", () => {
    let steps = 0
    let handOvers = 0
    let restores = 0
    let ruleFirings = 0
    let graphs = 0
    for (let seed = 1; graphs < 200; seed++) {
      const random = rng(seed)
      const ir = randomGraph(random, 2 + Math.floor(random() * 7), seed % 4 === 0)
      // Some random graphs are refused (a cycle with no exit): the next seed.
      const compiled = compileEither(ir)
      if (Either.isLeft(compiled)) continue
      graphs++
      const program = compiled.right
      expect(program.routePlan, `seed ${seed}`).toBeDefined()
      let engine = engineSession(program)
      let edges = edgeSession(program)!
      expect(edges.snapshot()).toEqual(engine.snapshot())
      for (let step = 1; step <= 25; step++) {
        const nodes = program.nodeIds.filter(() => random() < 0.35)
        if (nodes.length === 0) nodes.push(program.nodeIds[0]!)
        const routes = new Map<number, ReadonlyArray<string>>()
        for (const node of nodes) {
          const p = program.routePlan!.get(node)
          if (p?._tag !== "router") continue
          const declared = ((ir.edges ?? []).find((e) => (e as { from: string; router?: unknown }).from === node && (e as { router?: unknown }).router !== undefined) as { targets: Array<string> }).targets
          routes.set(p.edge, declared.filter(() => random() < 0.6))
        }
        const input = { runId: "r1", step, at: "2026-11-26T00:00:00.000Z", state: { x: Math.floor(random() * 6) }, nodes, routes }
        const expected = engine.route(input)
        const actual = edges.route(input)
        expect(actual, `seed ${seed} step ${step}`).toEqual(expected)
        if (Either.isRight(expected)) ruleFirings += expected.right.firings.filter((f) => f.rule.startsWith("r-")).length
        expect(edges.snapshot(), `seed ${seed} step ${step}`).toEqual(engine.snapshot())
        expect(edges.facts(), `seed ${seed} step ${step}`).toEqual(engine.facts())
        steps++
        const event = random()
        if (event < 0.1) {
          // Resume from the checkpoint's facts: both sessions restored from the snapshot.
          const facts = engine.snapshot()
          engine = engineSession(program, facts)
          const restored = edgeSession(program, facts)
          const onlyTickFacts = facts.facts.every(([, template]) => ["initial-fact", "node-id", "stargraph-route"].includes(template))
          expect(restored !== undefined, `seed ${seed}: a snapshot of tick facts (only) restores without the engine`).toBe(onlyTickFacts)
          edges = restored ?? engineSession(program, facts)
          restores++
        } else if (event < 0.14) {
          // An interrupt's evidence: the planned session hands over to an engine.
          const evidence = { runId: "r1", step, node: nodes[0]!, actor: "test", data: { ok: step } }
          expect(RuleSession.assertEvidence(edges, evidence)).toEqual(RuleSession.assertEvidence(engine, evidence))
          handOvers++
        } else if (event < 0.16) {
          expect(edges.retract("node-id")).toEqual(engine.retract("node-id"))
          handOvers++
        }
      }
    }
    expect(steps).toBe(5000)
    expect(handOvers).toBeGreaterThan(20)
    expect(restores).toBeGreaterThan(50)
    expect(ruleFirings).toBeGreaterThan(500)
  })

  it("hand a restored snapshot holding other facts to the engine", () => {
    const program = programOf({ ir_version: "1.0.0", id: "e", nodes: [{ id: "a", kind: "noop" }], edges: [{ from: "a", to: "__end__" }] })
    const engine = engineSession(program)
    Either.getOrThrow(engine.assert({ template: "stargraph.evidence", slots: { actor: "x" } }))
    expect(edgeSession(program, engine.snapshot())).toBeUndefined()
    expect(edgeSession(program, engineSession(program).snapshot())).toBeDefined()
  })

  it("give whole runs the same checkpoints as the engine (facts, firings, decisions)", async () => {
    const ir = {
      ir_version: "1.0.0",
      id: "edges:loop",
      state_schema: { fields: { x: { type: "integer", default: 0 } } },
      nodes: [{ id: "inc", kind: "function", module: "m", export: "inc" }, { id: "fan", kind: "noop" }, { id: "l", kind: "noop" }, { id: "r", kind: "noop" }, { id: "pick", kind: "noop" }],
      edges: [
        { from: "inc", cases: [{ when: { field: "x", op: "gte", value: 4 }, to: "__end__" }], default: "fan" },
        { from: "fan", to: "l" },
        { from: "fan", to: "r" },
        { from: ["l", "r"], to: "pick" },
        { from: "pick", router: { module: "m", export: "pick" }, targets: ["inc", "fan"] }
      ]
    }
    const modules = { m: { inc: (s: { x: number }) => ({ x: s.x + 1 }), pick: () => "inc" } }
    const runWith = (engine: RuleEngine.RuleEngineShape) =>
      Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.make(ir, { modules })
        const handle = yield* graph.start({ inputs: {} })
        const summary = yield* handle.start()
        const checkpoints = yield* (yield* Checkpointer).listCheckpoints(handle.runId)
        return { summary, checkpoints: checkpoints.map(({ duration_ms: _d, finished_at: _f, run_id: _r, started_at: _s, ...c }) => c) }
      }).pipe(Effect.provide(Layer.merge(MemoryCheckpointer.layer, Layer.succeed(RuleEngineTag, engine)))))
    // Through the public entry, as docs/fathom.md shows.
    const fast = await runWith(makeRuleEngine())
    const slow = await runWith(makeRuleEngine({ plannedRouting: false }))
    expect(fast.summary.status).toBe("done")
    expect(fast.checkpoints.length).toBeGreaterThan(10)
    expect(fast.checkpoints).toEqual(slow.checkpoints)
  })
})
