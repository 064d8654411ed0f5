/**
 * Dry runs (`run --inspect`): no node runs, so the state never changes; a walk that comes
 * back to a step it already took (the same nodes and working memory) stops there, and
 * nothing else is collapsed.
 */
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as Graph from "../../src/graph/Graph.js"
import { dryRun, fixtureState } from "../../src/runtime/dryRun.js"

const walk = (ir: unknown, inputs: Record<string, unknown> = {}, breakpoints: { before: Array<string>; after: Array<string> } | null = null) =>
  Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.make(ir)
    return yield* dryRun(graph, fixtureState(graph, inputs), undefined, breakpoints)
  }))

const nodesOf = (trace: { readonly steps: ReadonlyArray<{ readonly nodes: ReadonlyArray<string> }> }) => trace.steps.map((s) => s.nodes.join(","))

describe("dry runs", () => {
  it("a loop whose exit depends on node output stops where it comes back to the same node, not at the step limit", async () => {
    const trace = await walk({
      ir_version: "1.0.0",
      id: "run:count",
      state_schema: { fields: { n: { type: "integer", default: 0, reducer: "add" } } },
      nodes: [{ id: "start", kind: "noop" }, { id: "inc", kind: "set", values: { n: 1 } }, { id: "end", kind: "noop" }],
      edges: [{ from: "start", to: "inc" }, { from: "inc", cases: [{ when: { field: "n", op: "lt", value: 3 }, to: "inc" }], default: "end" }]
    })
    expect(trace.ended).toBe("loop")
    expect(nodesOf(trace)).toEqual(["start", "inc"])
    expect(trace.loop).toEqual({ step: 2, path: [["inc"]] })
  })

  it("a cycle through several nodes routed by rules over mirrored state stops after one turn", async () => {
    const trace = await walk({
      ir_version: "1.0.0",
      id: "run:cycle",
      state_schema: { n: "int" },
      nodes: [{ id: "a", kind: "noop" }, { id: "b", kind: "noop" }, { id: "c", kind: "noop" }, { id: "d", kind: "halt" }],
      rules: [
        { id: "r-a", when: "(node-id (id a)) (n (value ?n&:(< ?n 5)))", then: [{ kind: "goto", target: "b" }] },
        { id: "r-b", when: { node: "b" }, then: [{ kind: "goto", target: "c" }] },
        { id: "r-c", when: { node: "c" }, then: [{ kind: "goto", target: "a" }] },
        { id: "r-d", when: { node: "d" }, then: [{ kind: "halt", reason: "done" }] }
      ]
    }, { n: 0 })
    expect(trace.ended).toBe("loop")
    expect(nodesOf(trace)).toEqual(["a", "b", "c"])
    expect(trace.loop).toEqual({ step: 1, path: [["a"], ["b"], ["c"]] })
  })

  it("a walk whose rules can still change (they read the step, or assert facts) is not collapsed", async () => {
    const base = {
      ir_version: "1.0.0",
      state_schema: { n: "int" },
      nodes: [{ id: "a", kind: "noop" }, { id: "b", kind: "halt" }]
    }
    // A rule that reads the step number: the walk goes on until the rules end it.
    const byStep = await walk({
      ...base,
      id: "run:by-step",
      rules: [
        { id: "r-stay", when: "(node-id (id a)) (n (_step ?s&:(< ?s 5)))", then: [{ kind: "goto", target: "a" }] },
        { id: "r-leave", when: "(node-id (id a)) (n (_step ?s&:(>= ?s 5)))", then: [{ kind: "goto", target: "b" }] },
        { id: "r-halt", when: { node: "b" }, then: [{ kind: "halt", reason: "left" }] }
      ]
    }, { n: 1 })
    expect(byStep.ended).toBe("halt")
    expect(nodesOf(byStep)).toEqual(["a", "a", "a", "a", "a", "b"])
    // A rule that asserts a fact: the same node with another working memory is another step.
    const marked = await walk({
      ...base,
      id: "run:marked",
      rules: [
        { id: "r-mark", when: "(node-id (id a)) (not (visited a))", then: [{ kind: "assert", fact: "(visited a)" }, { kind: "goto", target: "a" }] },
        { id: "r-leave", when: "(node-id (id a)) (visited a)", then: [{ kind: "goto", target: "b" }] },
        { id: "r-halt", when: { node: "b" }, then: [{ kind: "halt", reason: "left" }] }
      ]
    }, { n: 1 })
    expect([marked.ended, nodesOf(marked)]).toEqual(["halt", ["a", "a", "b"]])
  })

  it("a graph that ends is walked to its end as before", async () => {
    const trace = await walk({
      ir_version: "1.0.0",
      id: "run:hello",
      state_schema: { message: "str" },
      nodes: [{ id: "node_a", kind: "echo" }, { id: "node_b", kind: "halt" }],
      rules: [
        { id: "r-advance", when: "(initial-fact)", then: [{ kind: "goto", target: "node_b" }] },
        { id: "r-halt", when: { node: "node_b" }, then: [{ kind: "halt", reason: "reached node_b" }] }
      ]
    })
    expect([trace.ended, nodesOf(trace), trace.loop]).toEqual(["halt", ["node_a", "node_b"], undefined])
  })

  describe("stops where the run would stop for a person", () => {
    const approval = {
      ir_version: "1.0.0",
      id: "run:approval",
      state_schema: { fields: { ok: { type: "boolean" }, out: { type: "string" } } },
      nodes: [
        { id: "draft", kind: "noop" },
        { id: "review", kind: "interrupt", prompt: "Approve?", response_field: "ok" },
        { id: "publish", kind: "set", values: { out: "yes" } },
        { id: "reject", kind: "set", values: { out: "no" } }
      ],
      edges: [
        { from: "draft", to: "review" },
        { from: "review", cases: [{ when: { field: "ok", op: "eq", value: true }, to: "publish" }], default: "reject" }
      ]
    }

    it("before an interrupt node, which is not walked past", async () => {
      const trace = await walk(approval)
      expect([trace.ended, nodesOf(trace), trace.stop]).toEqual(["interrupt", ["draft"], { node: "review", step: 2, why: "waits-for-input", prompt: "Approve?" }])
    })

    it("at a breakpoint before or after a node (a breakpoint before wins over the interrupt node's wait)", async () => {
      const before = await walk(approval, {}, { before: ["review"], after: [] })
      expect([before.ended, nodesOf(before), before.stop]).toEqual(["interrupt", ["draft"], { node: "review", step: 2, why: "breakpoint-before" }])
      const after = await walk(approval, {}, { before: [], after: ["draft"] })
      expect([after.ended, nodesOf(after), after.stop]).toEqual(["interrupt", ["draft"], { node: "draft", step: 1, why: "breakpoint-after" }])
      const every = await walk(approval, {}, { before: ["*"], after: [] })
      expect([every.ended, nodesOf(every), every.stop?.node]).toEqual(["interrupt", [], "draft"])
      // Not after the step that ends the run.
      const last = await walk({ ...approval, id: "run:plain", nodes: [{ id: "a", kind: "noop" }], edges: [] }, {}, { before: [], after: ["a"] })
      expect([last.ended, last.stop]).toEqual(["done", undefined])
    })

    it("after a rule's interrupt, naming the rule and its prompt", async () => {
      const trace = await walk({
        ir_version: "1.0.0",
        id: "run:rule-asks",
        state_schema: { n: "int" },
        nodes: [{ id: "a", kind: "noop" }, { id: "b", kind: "noop" }],
        rules: [{ id: "r-ask", when: { node: "a" }, then: [{ kind: "interrupt", prompt: "Go on?" }, { kind: "goto", target: "b" }] }]
      })
      expect([trace.ended, nodesOf(trace), trace.stop]).toEqual(["interrupt", ["a"], { node: "a", step: 1, why: "rule", prompt: "Go on?", rule: "r-ask" }])
    })
  })
})
