/**
 * Rules route transitions: graphs in the original Stargraph's IR form (no edges; rules over
 * mirrored facts decide where the run goes), every action kind, and the facts a run keeps.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import type { Checkpoint } from "../../src/checkpoint/models.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import type { IRValidationError, RuleError, StargraphError } from "../../src/errors.js"
import * as FathomAdapter from "../../src/fathom/FathomAdapter.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"

const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, MemoryCheckpointer.layer))

/** Run `ir` with `inputs` to a stop; the summary, the checkpoints and the error (if it failed). */
const drive = (ir: unknown, inputs: Record<string, unknown> = {}, modules: Graph.MakeOptions["modules"] = {}) =>
  run(Effect.gen(function*() {
    const graph = yield* Graph.make(ir, { modules })
    const handle = yield* graph.start({ inputs })
    const outcome = yield* Effect.either(handle.start())
    const checkpointer = yield* Checkpointer
    const checkpoints = yield* checkpointer.listCheckpoints(handle.runId)
    const record = yield* checkpointer.getRun(handle.runId)
    return { outcome, checkpoints, record, graph }
  }))

const nodesOf = (checkpoints: ReadonlyArray<Checkpoint>) => checkpoints.slice(1).map((c) => c.node)

const irError = (ir: unknown) => {
  const result = Effect.runSync(Effect.either(Graph.make(ir)))
  if (Either.isRight(result)) throw new Error("expected the graph to be refused")
  return result.left
}

/** The original's hello graph, as its examples/hello.yaml writes it. */
const hello = {
  ir_version: "1.0.0",
  id: "run:hello",
  nodes: [{ id: "node_a", kind: "echo" }, { id: "node_b", kind: "halt" }],
  state_schema: { message: "str" },
  rules: [
    { id: "r-advance", when: "(initial-fact)", then: [{ kind: "goto", target: "node_b" }] },
    { id: "r-halt", when: { node: "node_b" }, then: [{ kind: "halt", reason: "hello example reached node_b" }] }
  ]
}

describe("rules route transitions", () => {
  it("runs the original's hello graph: (initial-fact) routes node_a to node_b, the mapping sugar halts there", async () => {
    const { checkpoints, outcome, record } = await drive(hello, { message: "hello" })
    expect(Either.isRight(outcome) && outcome.right.status).toBe("done")
    expect(nodesOf(checkpoints)).toEqual(["node_a", "node_b"])
    expect(checkpoints[1]!.rules?.firings.map((f) => f.rule)).toEqual(["r-advance"])
    expect(checkpoints[1]!.rules?.decisions["node_a"]).toEqual({ _tag: "goto", target: "node_b", rule: "r-advance" })
    expect(checkpoints[2]!.rules?.decisions["node_b"]).toEqual({ _tag: "halt", reason: "hello example reached node_b", rule: "r-halt" })
    expect(record._tag === "Some" && record.value.last_step).toBe(2)
  })

  it("mirrors the scalar fields rules match (or that ask for it) as typed facts with their provenance, and keeps working memory in each checkpoint", async () => {
    const { checkpoints } = await drive({
      ...hello,
      state_schema: {
        message: "str",
        count: "int",
        score: "float",
        ok: "bool",
        tags: "list",
        quiet: { type: "str", mirror: false, default: "" },
        unseen: { type: "str", default: "" },
        shown: { type: "str", default: "", mirror: true }
      },
      rules: [...hello.rules, { id: "watch", when: "(message (value ?m)) (count (value ?c)) (score (value ?s)) (ok (value ?o))", then: [] }]
    }, { message: "hi", count: 3, score: 0.5, ok: true, tags: ["a"] })
    const facts = checkpoints[1]!.facts!.facts
    const byTemplate = new Map(facts.map((f) => [f[1], f[2]]))
    expect(byTemplate.get("node-id")).toEqual([{ symbol: "node_a" }])
    expect(byTemplate.get("message")?.slice(0, 4)).toEqual(["hi", "state", "mirror", checkpoints[1]!.run_id])
    expect(byTemplate.get("count")?.[0]).toBe(3)
    expect(byTemplate.get("score")?.[0]).toBe(0.5)
    expect(byTemplate.get("ok")?.[0]).toEqual({ symbol: "TRUE" })
    expect(byTemplate.has("tags")).toBe(false)
    expect(byTemplate.has("quiet")).toBe(false)
    expect(byTemplate.has("unseen")).toBe(false)
    expect(byTemplate.get("shown")?.[0]).toBe("")
    expect(byTemplate.get("count")?.[4]).toBe(1) // _step
    expect(byTemplate.get("initial-fact")).toEqual([])
  })

  it("without a rule the run continues to the next node in declaration order, and is done past the last", async () => {
    const { checkpoints, outcome } = await drive({
      ir_version: "1.0.0",
      id: "run:linear",
      state_schema: { message: "str" },
      nodes: [{ id: "a", kind: "echo" }, { id: "b", kind: "passthrough" }, { id: "c", kind: "echo" }]
    }, { message: "x" })
    expect(Either.isRight(outcome) && outcome.right.status).toBe("done")
    expect(nodesOf(checkpoints)).toEqual(["a", "b", "c"])
  })

  it("as in the original, a rule may leave out when (an empty left-hand side: fires once, at the first routing) and then (it only fires)", async () => {
    const { checkpoints, outcome } = await drive({
      ir_version: "1.0.0",
      id: "run:defaults",
      state_schema: { message: "str" },
      nodes: [{ id: "a", kind: "echo" }, { id: "x", kind: "echo" }, { id: "b", kind: "echo" }, { id: "c", kind: "echo" }],
      rules: [
        { id: "always", then: [{ kind: "goto", target: "b" }] },
        { id: "blank", when: "", then: [] },
        { id: "observe", when: { node: "b" } }
      ]
    }, { message: "x" })
    expect(Either.isRight(outcome) && outcome.right.status).toBe("done")
    expect(nodesOf(checkpoints)).toEqual(["a", "b", "c"])
    expect(checkpoints[1]!.rules?.firings.map((f) => f.rule).sort()).toEqual(["always", "blank"])
    expect(checkpoints[2]!.rules?.firings.map((f) => f.rule)).toEqual(["observe"])
  })

  it("a halt node stops the run when no rule routes away from it", async () => {
    const { checkpoints, outcome } = await drive({
      ir_version: "1.0.0",
      id: "run:halt-node",
      state_schema: { message: "str" },
      nodes: [{ id: "a", kind: "echo" }, { id: "stop", kind: "halt", config: { reason: "enough" } }, { id: "never", kind: "echo" }]
    }, { message: "x" })
    expect(Either.isRight(outcome) && outcome.right.status).toBe("done")
    expect(nodesOf(checkpoints)).toEqual(["a", "stop"])
    // Its checkpoint says it halted, and why, as a rule's halt is recorded (inspect and the summary read it).
    expect(checkpoints[2]!.rules?.decisions["stop"]).toEqual({ _tag: "halt", rule: "", reason: "enough" })
  })

  it("routes on a mirrored field with the mapping sugar (strings, integers, booleans) and with raw CLIPS patterns", async () => {
    const ir = {
      ir_version: "1.0.0",
      id: "run:triage",
      state_schema: { verdict: "str", level: "int", urgent: "bool" },
      nodes: [{ id: "classify", kind: "passthrough" }, { id: "fast", kind: "halt" }, { id: "slow", kind: "halt" }, { id: "deep", kind: "halt" }],
      rules: [
        { id: "r-urgent", when: { node: "classify", verdict: "urgent", urgent: true }, then: [{ kind: "goto", target: "fast" }] },
        { id: "r-level", when: "(node-id (id classify)) (level (value ?l&:(>= ?l 3)))", then: [{ kind: "goto", target: "deep" }] },
        { id: "r-routine", when: { node: "classify", verdict: "routine" }, then: [{ kind: "goto", target: "slow" }] }
      ]
    }
    const urgent = await drive(ir, { verdict: "urgent", level: 1, urgent: true })
    expect(nodesOf(urgent.checkpoints)).toEqual(["classify", "fast"])
    const deep = await drive(ir, { verdict: "routine", level: 5, urgent: false })
    // Both r-level and r-routine fire: the first goto asserted wins (r-level: its activation is newer).
    expect(deep.checkpoints[1]!.rules?.firings.map((f) => f.rule).sort()).toEqual(["r-level", "r-routine"])
    expect(nodesOf(deep.checkpoints)).toHaveLength(2)
    const routine = await drive(ir, { verdict: "routine", level: 1, urgent: false })
    expect(nodesOf(routine.checkpoints)).toEqual(["classify", "slow"])
  })

  it("picks one action by priority: interrupt > halt > goto > parallel > continue", async () => {
    const { checkpoints, outcome } = await drive({
      ir_version: "1.0.0",
      id: "run:priority",
      state_schema: { message: "str" },
      nodes: [{ id: "a", kind: "echo" }, { id: "b", kind: "echo" }, { id: "c", kind: "echo" }],
      rules: [
        { id: "r-par", when: { node: "a" }, then: [{ kind: "parallel", targets: ["b", "c"] }] },
        { id: "r-goto", when: { node: "a" }, then: [{ kind: "goto", target: "c" }] },
        { id: "r-halt", when: { node: "c" }, then: [{ kind: "halt", reason: "done at c" }, { kind: "goto", target: "a" }] }
      ]
    }, { message: "x" })
    expect(Either.isRight(outcome) && outcome.right.status).toBe("done")
    expect(nodesOf(checkpoints)).toEqual(["a", "c"])
  })

  it("parallel with a join runs the targets in one step, then the join; merges are deterministic", async () => {
    const { checkpoints } = await drive({
      ir_version: "1.0.0",
      id: "run:fanout",
      state_schema: { fields: { log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
      nodes: [
        { id: "start", kind: "noop" },
        { id: "left", kind: "function", module: "m", export: "mark" },
        { id: "right", kind: "function", module: "m", export: "mark" },
        { id: "join", kind: "function", module: "m", export: "mark" },
        { id: "end", kind: "halt" }
      ],
      rules: [
        { id: "fan", when: { node: "start" }, then: [{ kind: "parallel", targets: ["left", "right"], join: "join" }] },
        { id: "finish", when: { node: "join" }, then: [{ kind: "halt" }] }
      ]
    }, {}, { m: { mark: (_s: unknown, ctx: { nodeId: string }) => new Promise((r) => setTimeout(() => r({ log: [ctx.nodeId] }), ctx.nodeId === "left" ? 15 : 1)) } })
    expect(checkpoints.map((c) => c.node)).toEqual(["__input__", "start", "left,right", "join"])
    expect(checkpoints[3]!.state["log"]).toEqual(["left", "right", "join"])
    expect(checkpoints[1]!.groups).toEqual([{ id: "1:start", targets: ["left", "right"], join: "join", strategy: "all" }])
  })

  for (const [strategy, winners] of [["race", ["fast"]], ["any", ["slow"]], ["quorum:2", ["fast", "slow"]]] as const) {
    it(`parallel strategy ${strategy} keeps ${winners.join(", ")} and records the winners in the cassette`, async () => {
      const delays: Record<string, number> = { fast: 1, slow: 40, slower: 400 }
      const { checkpoints } = await drive({
        ir_version: "1.0.0",
        id: `run:${strategy}`,
        state_schema: { fields: { log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
        nodes: [
          { id: "start", kind: "noop" },
          { id: "fast", kind: "function", module: "m", export: strategy === "any" ? "failFast" : "mark" },
          { id: "slow", kind: "function", module: "m", export: "mark" },
          { id: "slower", kind: "function", module: "m", export: "mark" },
          { id: "join", kind: "halt" }
        ],
        rules: [{ id: "fan", when: { node: "start" }, then: [{ kind: "parallel", targets: ["fast", "slow", "slower"], join: "join", strategy }] }]
      }, {}, {
        m: {
          mark: (_s: unknown, ctx: { nodeId: string }) => new Promise((r) => setTimeout(() => r({ log: [ctx.nodeId] }), delays[ctx.nodeId])),
          failFast: () => Promise.reject(new Error("fast but wrong"))
        }
      })
      const step = checkpoints[2]!
      expect(step.nodes).toEqual(winners)
      expect(step.state["log"]).toEqual(winners)
      expect(step.calls?.find((c) => c.name === "parallel.1:start")?.response).toEqual(winners)
      expect(checkpoints[3]!.node).toBe("join")
    })
  }

  it("retry runs the target again after its backoff", async () => {
    let attempts = 0
    const t0 = Date.now()
    const { checkpoints, outcome } = await drive({
      ir_version: "1.0.0",
      id: "run:retry",
      state_schema: { fields: { ok: { type: "boolean", default: false } } },
      nodes: [{ id: "flaky", kind: "function", module: "m", export: "flaky" }, { id: "done", kind: "halt" }],
      rules: [{ id: "again", when: { node: "flaky", ok: false }, then: [{ kind: "retry", target: "flaky", backoff_ms: 30 }] }]
    }, {}, { m: { flaky: () => ({ ok: ++attempts >= 3 }) } })
    expect(Either.isRight(outcome) && outcome.right.status).toBe("done")
    expect(nodesOf(checkpoints)).toEqual(["flaky", "flaky", "flaky", "done"])
    expect(Date.now() - t0).toBeGreaterThanOrEqual(60)
  })

  it("assert and retract actions change working memory, and later rules route on the asserted fact", async () => {
    const { checkpoints } = await drive({
      ir_version: "1.0.0",
      id: "run:facts",
      state_schema: { message: "str" },
      nodes: [{ id: "a", kind: "echo" }, { id: "b", kind: "echo" }, { id: "flagged", kind: "halt" }, { id: "clean", kind: "halt" }],
      rules: [
        { id: "flag", when: { node: "a" }, then: [{ kind: "assert", fact: "(flagged by-a)" }, { kind: "goto", target: "b" }] },
        { id: "route-flagged", when: "(node-id (id b)) (flagged ?)", then: [{ kind: "retract", pattern: "(flagged by-a)" }, { kind: "goto", target: "flagged" }] },
        { id: "route-clean", when: "(node-id (id b)) (not (flagged ?))", then: [{ kind: "goto", target: "clean" }] }
      ]
    }, { message: "x" })
    expect(nodesOf(checkpoints)).toEqual(["a", "b", "flagged"])
    expect(checkpoints[1]!.rules?.effects).toEqual([{ kind: "assert", rule: "flag", fact: "(flagged by-a)" }])
    expect(checkpoints[1]!.facts!.facts.some((f) => f[1] === "flagged")).toBe(true)
    expect(checkpoints[2]!.rules?.effects.map((e) => [e.kind, e.count])).toEqual([["retract", 1]])
    expect(checkpoints[2]!.facts!.facts.some((f) => f[1] === "flagged")).toBe(false)
  })

  it("an assert action in mapping form writes a string to a slot that takes symbols as the symbol (stargraph_action's kind routes); a slot the fact refuses names the rule", async () => {
    const { checkpoints } = await drive({
      ir_version: "1.0.0",
      id: "run:mapped",
      state_schema: { message: "str" },
      nodes: [{ id: "a", kind: "echo" }, { id: "b", kind: "echo" }, { id: "c", kind: "echo" }],
      rules: [{ id: "r-dyn", when: { node: "a" }, then: [{ kind: "assert", fact: "stargraph_action", slots: { kind: "goto", target: "c", rule_id: "r-dyn" } }] }]
    }, { message: "x" })
    expect(nodesOf(checkpoints)).toEqual(["a", "c"])
    const refused = await Effect.runPromise(Effect.either(Effect.flatMap(Graph.make({
      ir_version: "1.0.0",
      id: "run:mapped-bad",
      state_schema: { message: "str" },
      nodes: [{ id: "a", kind: "echo" }, { id: "b", kind: "echo" }],
      rules: [{ id: "r-bad", when: { node: "a" }, then: [{ kind: "assert", fact: "stargraph_action", slots: { kind: "go to", target: "b" } }] }]
    }), (g) => Effect.flatMap(g.start({ inputs: { message: "x" } }), (r) => r.start()))).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "RuleError", construct: "defrule r-bad" })
    expect(Either.isLeft(refused) && refused.left.message).toMatch(/^rule r-bad's assert action \(stargraph_action \(kind "go to"\) \(target "b"\)\): slot kind/)
  })

  it("an interrupt action stops the run for input; the answer is written, asserted as stargraph.evidence, and rules route on it", async () => {
    const ir = {
      ir_version: "1.0.0",
      id: "run:approve",
      state_schema: { fields: { request: { type: "string", default: "rotate keys" }, answer: { type: "object", nullable: true } } },
      nodes: [{ id: "propose", kind: "noop" }, { id: "check", kind: "noop" }, { id: "apply", kind: "halt" }, { id: "reject", kind: "halt" }],
      rules: [
        { id: "ask", when: { node: "propose" }, then: [{ kind: "interrupt", prompt: "Approve?", interrupt_payload: { risk: "high" }, requested_capability: "deploy:approve", response_field: "answer" }, { kind: "goto", target: "check" }] },
        { id: "yes", when: "(node-id (id check)) (stargraph.evidence (actor \"alice\") (data ?d&:(fathom-matches ?d \"approved.:true\")))", then: [{ kind: "goto", target: "apply" }] },
        { id: "no", when: "(node-id (id check)) (not (stargraph.evidence (data ?d&:(fathom-matches ?d \"approved.:true\"))))", then: [{ kind: "goto", target: "reject" }] }
      ]
    }
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(ir)
      const first = yield* Effect.flatMap(graph.start(), (h) => h.start())
      const resumed = yield* Effect.flatMap(graph.resume(first.run_id, { response: { value: { approved: true } }, actor: "alice" }), (h) => h.start())
      const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(first.run_id))
      return { first, resumed, checkpoints }
    }))
    expect(result.first.status).toBe("awaiting-input")
    expect(result.first.waiting).toMatchObject({ node: "propose", prompt: "Approve?", kind: "rule", rule: "ask", payload: { risk: "high" }, requested_capability: "deploy:approve", response_field: "answer" })
    expect(result.resumed.status).toBe("done")
    expect(result.checkpoints.map((c) => c.node)).toEqual(["__input__", "propose", "__response__", "check", "apply"])
    expect(result.checkpoints[2]!.state["answer"]).toEqual({ approved: true })
    const evidence = result.checkpoints[2]!.facts!.facts.find((f) => f[1] === "stargraph.evidence")
    expect(evidence?.[2]).toEqual([result.first.run_id, 2, "propose", "alice", "{\"approved\":true}", "{\"approved\":true}"])
  })

  it("an interrupt's timeout: on_timeout goto continues there, halt fails the run with InterruptTimeoutError", async () => {
    const ir = (onTimeout: string) => ({
      ir_version: "1.0.0",
      id: "run:timeout",
      state_schema: { message: "str" },
      nodes: [{ id: "ask", kind: "echo" }, { id: "late", kind: "halt" }, { id: "next", kind: "halt" }],
      rules: [{ id: "wait", when: { node: "ask" }, then: [{ kind: "interrupt", prompt: "Answer soon", timeout: 0.01, on_timeout: onTimeout }] }]
    })
    const outcome = (onTimeout: string) =>
      run(Effect.gen(function*() {
        const graph = yield* Graph.make(ir(onTimeout))
        const first = yield* Effect.flatMap(graph.start({ inputs: { message: "x" } }), (h) => h.start())
        yield* Effect.sleep("30 millis")
        // A late answer is refused, and changes nothing.
        const late = yield* Effect.either(graph.resume(first.run_id, { response: { value: "too late" } }))
        const waiting = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(first.run_id))
        const resumed = yield* Effect.either(Effect.flatMap(graph.resume(first.run_id), (h) => h.start()))
        const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(first.run_id))
        return { first, late, waiting, resumed, checkpoints }
      }))
    const goto = await outcome("goto:late")
    expect(goto.first.waiting?.deadline).toBeDefined()
    expect(Either.isLeft(goto.late) && goto.late.left).toMatchObject({ _tag: "RunStateError", operation: "resume" })
    expect(Either.isLeft(goto.late) && goto.late.left.message).toContain("a late answer is refused (resume it without a response to apply on_timeout: goto:late)")
    expect(Option.getOrThrow(goto.waiting).status).toBe("awaiting-input")
    expect(Either.isRight(goto.resumed) && goto.resumed.right.status).toBe("done")
    expect(nodesOf(goto.checkpoints)).toEqual(["ask", "__timeout__", "late"])
    const halt = await outcome("halt")
    expect(Either.isLeft(halt.resumed) && halt.resumed.left._tag).toBe("InterruptTimeoutError")
  })

  it("a resumed run restores its working memory: rules that fired before do not fire again", async () => {
    const result = await run(Effect.gen(function*() {
      const graph = yield* Graph.make({
        ...hello,
        nodes: [{ id: "node_a", kind: "echo" }, { id: "pause_here", kind: "interrupt", prompt: "go on?", response_field: "message" }, { id: "node_b", kind: "halt" }],
        rules: [
          { id: "r-start", when: "(initial-fact)", then: [{ kind: "goto", target: "pause_here" }] },
          { id: "r-next", when: { node: "pause_here" }, then: [{ kind: "goto", target: "node_b" }] }
        ]
      })
      const first = yield* Effect.flatMap(graph.start({ inputs: { message: "x" } }), (h) => h.start())
      const done = yield* Effect.flatMap(graph.resume(first.run_id, { response: { value: "y" } }), (h) => h.start())
      const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(first.run_id))
      return { first, done, checkpoints }
    }))
    expect(result.first.status).toBe("awaiting-input")
    expect(result.done.status).toBe("done")
    expect(nodesOf(result.checkpoints)).toEqual(["node_a", "pause_here", "node_b"])
    expect(result.checkpoints[2]!.rules?.firings.map((f) => f.rule)).toEqual(["r-next"])
  })

  it("a rule loop that never halts stops at max_steps, naming the rules in the cycle", async () => {
    const loopIR = {
      ir_version: "1.0.0",
      id: "run:loop",
      max_steps: 12,
      state_schema: { message: "str" },
      nodes: [{ id: "ping", kind: "echo" }, { id: "pong", kind: "echo" }],
      rules: [
        { id: "to-pong", when: { node: "ping" }, then: [{ kind: "goto", target: "pong" }] },
        { id: "to-ping", when: { node: "pong" }, then: [{ kind: "goto", target: "ping" }] }
      ]
    }
    const { outcome } = await drive(loopIR, { message: "x" })
    const error = Either.isLeft(outcome) ? (outcome.left as StargraphError) : undefined
    expect(error?._tag).toBe("StepLimitError")
    expect(error?.message).toMatch(/to-pong → to-ping → to-pong/)
    // A fork from a late step hits the limit after two steps of its own: the same message.
    const fork = await run(Effect.gen(function*() {
      const graph = yield* Graph.make(loopIR)
      const parent = yield* Effect.flatMap(graph.start({ inputs: { message: "x" } }), (r) => Effect.either(r.start()))
      const runs = yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ graph_id: "run:loop" }))
      return { parent, fork: yield* Replay.fork(graph, runs.runs[0]!.run_id, { fromStep: 10 }) }
    }))
    expect(Either.isLeft(fork.parent) && fork.fork.error?.message).toBe(Either.isLeft(fork.parent) ? fork.parent.left.message : "")
  })

  it("edges compile to rules: the same run, and the compiled rules in the trace", async () => {
    const { checkpoints, graph } = await drive({
      ir_version: "1.0.0",
      id: "run:edges",
      state_schema: { fields: { n: { type: "integer", default: 0, reducer: "add" } } },
      nodes: [{ id: "inc", kind: "set", values: { n: 1 } }, { id: "end", kind: "noop" }],
      edges: [{ from: "inc", cases: [{ when: { field: "n", op: "lt", value: 3 }, to: "inc" }], default: "end" }]
    })
    expect(nodesOf(checkpoints)).toEqual(["inc", "inc", "inc", "end"])
    expect(checkpoints[1]!.rules?.firings.map((f) => f.rule)).toEqual(["edges-from-inc-case-0"])
    expect(checkpoints[3]!.rules?.firings.map((f) => f.rule)).toEqual(["edges-from-inc-default"])
    expect(graph.rules.text).toContain("(defrule edges-from-inc-case-0")
  })
})

describe("bad rules are typed errors with the file, path and fix", () => {
  const base = { ir_version: "1.0.0", id: "run:bad", state_schema: { message: "str" }, nodes: [{ id: "a", kind: "echo" }, { id: "b", kind: "halt" }] }

  it("an unbalanced when pattern is a RuleError with the line and column", () => {
    const error = irError({ ...base, rules: [{ id: "r1", when: "(node-id (id a)", then: [{ kind: "goto", target: "b" }] }] }) as RuleError
    expect(error._tag).toBe("RuleError")
    expect(error.reason).toBe("parse")
    expect(error.line).toBeGreaterThan(0)
  })

  it("a when that is not conditions only (a ')' too many, '=>' and actions, a bare word) is refused at the when, not spliced into the rule", () => {
    const refused = (when: string) => {
      const error = irError({ ...base, rules: [{ id: "r1", when, then: [{ kind: "goto", target: "b" }] }] })
      expect([error._tag, (error as { path?: string }).path]).toEqual(["IRValidationError", "rules[0].when"])
      return error.message
    }
    expect(refused("(node-id (id a)) => (halt)) (defrule r2 (node-id (id a))")).toMatch(/unbalanced parentheses: unexpected '\)'/)
    expect(refused("(node-id (id a)) => (printout t hi crlf)")).toMatch(/when holds the rule's conditions only, and this one has '=>'/)
    expect(refused("(node-id (id a)) high")).toMatch(/'high' is not one/)
    // A fact address bound to its pattern is a condition.
    for (const when of ["?f <- (node-id (id a))", "?f<-(node-id (id a))"]) {
      expect([when, Either.isRight(Effect.runSync(Effect.either(Graph.make({ ...base, rules: [{ id: "r1", when, then: [{ kind: "goto", target: "b" }] }] }))))]).toEqual([when, true])
    }
  })

  it("a rule condition that cannot be evaluated fails the step loudly (CLIPS prints it and takes the condition as false)", async () => {
    const graph = Effect.runSync(Graph.make({
      ...base,
      state_schema: { label: "str" },
      nodes: [{ id: "a", kind: "echo", config: { field: "label" } }, { id: "b", kind: "halt" }, { id: "review", kind: "halt" }],
      rules: [{ id: "r-escalate", when: "(node-id (id a)) (label (value ?l)) (test (> ?l 1))", then: [{ kind: "goto", target: "review" }] }]
    }))
    const outcome = await run(Effect.either(Effect.flatMap(graph.start({ inputs: { label: "x" } }), (r) => r.start())))
    expect(Either.isLeft(outcome) && outcome.left).toMatchObject({ _tag: "RuleError", reason: "runtime", construct: "defrule r-escalate" })
    expect(Either.isLeft(outcome) && outcome.left.message).toMatch(/a condition of defrule r-escalate could not be evaluated: function > expected argument #1 to be of type integer or float/)
  })

  it("a pattern on an unknown template is a RuleError naming it", () => {
    const error = irError({ ...base, rules: [{ id: "r1", when: "(risk (level high))", then: [{ kind: "halt" }] }] }) as RuleError
    expect(error._tag).toBe("RuleError")
    expect(error.reason).toBe("unknown-template")
    expect(error.message).toContain("risk")
    // Not near any state field: the compiler's own fix.
    expect(error.fix).toBe("define (deftemplate risk ...) before the rule, or check the spelling")
    // A misspelt state field (slot syntax, as fields are matched): the fix names the field.
    const misspelt = irError({ ...base, rules: [{ id: "r1", when: '(mesage (value "hello"))', then: [{ kind: "halt" }] }] }) as RuleError
    expect([misspelt.reason, misspelt.message]).toEqual(["unknown-template", "unknown template mesage"])
    expect(misspelt.fix).toBe("the state has a field 'message': match it as its own template, (message (value ...)); or define (deftemplate mesage ...) before the rule, or check the spelling")
    // A field the rules cannot match (an array, not mirrored) is not offered.
    const unmirrored = irError({ ...base, state_schema: { fields: { message: { type: "string" }, tags: { type: "array", items: { type: "string" }, default: [] } } }, rules: [{ id: "r1", when: '(tagz (value "x"))', then: [{ kind: "halt" }] }] }) as RuleError
    expect(unmirrored.fix).toBe("define (deftemplate tagz ...) before the rule, or check the spelling")
  })

  it("a literal that can never match a mirrored field's type is a RuleError with the literal to write (the original mirrored values as text)", () => {
    const typed = { ...base, state_schema: { message: "str", rounds: "int", score: "float", ok: "bool", level: { type: "str", default: "" } } }
    const refused = (when: string) => {
      const error = irError({ ...typed, rules: [{ id: "r1", when: `(node-id (id a)) ${when}`, then: [{ kind: "goto", target: "b" }] }] }) as RuleError
      expect([error._tag, error.reason, error.construct]).toEqual(["RuleError", "type", "defrule r1"])
      return `${error.message} | ${error.fix}`
    }
    expect(refused('(rounds (value "1"))')).toBe(
      "(rounds (value \"1\")) can never match: state field 'rounds' is mirrored as an integer (INTEGER) | compare with an integer (INTEGER): (rounds (value 1)), or declare the field with that type"
    )
    expect(refused("(level (value high))")).toMatch(/state field 'level' is mirrored as a string \(STRING\) \| .*\(level \(value "high"\)\)/)
    expect(refused("(score (value 1))")).toMatch(/\(score \(value 1\.0\)\)/)
    expect(refused('(ok (value "true"))')).toMatch(/\(ok \(value TRUE\)\)/)
    expect(refused('(rounds (value 2|"3"))')).toMatch(/value "3"/)
    // A literal of the field's type that is none of its enum values can never match either.
    const enumerated = irError({ ...base, state_schema: { fields: { message: { type: "string", default: "" }, level: { type: "string", enum: ["low", "medium"], default: "low" } } }, rules: [{ id: "r1", when: { node: "a", level: "medum" }, then: [{ kind: "goto", target: "b" }] }] }) as RuleError
    expect([enumerated._tag, enumerated.reason, enumerated.message, enumerated.fix]).toEqual([
      "RuleError",
      "type",
      "(level (value \"medum\")) can never match: state field 'level' takes only \"low\", \"medium\" (its enum)",
      "compare with one of \"low\", \"medium\", or add \"medum\" to the field's enum"
    ])
    // Literals of the field's type, nil, a negation, a variable with a predicate: accepted.
    for (const when of ['(rounds (value 1|2))', '(level (value "high"))', "(score (value 0.5))", "(ok (value TRUE))", "(level (value nil))", '(rounds (value ~"1"))', "(rounds (value ?r&:(> ?r 1)))"]) {
      const graph = Effect.runSync(Effect.either(Graph.make({ ...typed, rules: [{ id: "r1", when: `(node-id (id a)) ${when}`, then: [{ kind: "goto", target: "b" }] }] })))
      expect([when, Either.isRight(graph)]).toEqual([when, true])
    }
  })

  it("the same check holds for a module schema's fields, typed from their Schema", () => {
    const ir = (when: string) => ({
      ...base,
      state_schema: { module: "s", export: "S" },
      rules: [{ id: "r1", when: `(node-id (id a)) ${when}`, then: [{ kind: "goto", target: "b" }] }]
    })
    const modules = { s: { S: Schema.Struct({ message: Schema.String, rounds: Schema.Int, mode: Schema.Literal("fast", "slow") }) } }
    const made = (when: string) => Effect.runSync(Effect.either(Graph.make(ir(when), { modules })))
    const bad = made('(rounds (value "1"))')
    expect(Either.isLeft(bad) && bad.left._tag === "RuleError" && bad.left.fix).toBe("compare with a number (INTEGER or FLOAT): (rounds (value 1)), or declare the field with that type")
    const symbol = made("(mode (value fast))")
    expect(Either.isLeft(symbol) && symbol.left.message).toMatch(/'mode' is mirrored as a string/)
    expect(Either.isRight(made('(rounds (value 1)) (mode (value "fast"))'))).toBe(true)
    // A Schema.Literal field's values are its enum: a rule and an edge case outside them are refused.
    const outside = made('(mode (value "medium"))')
    expect(Either.isLeft(outside) && outside.left.message).toMatch(/'mode' takes only "fast", "slow" \(its enum\)/)
    const edge = (when: Record<string, unknown>) =>
      Effect.runSync(Effect.either(Graph.make({ ...base, state_schema: { module: "s", export: "S" }, edges: [{ from: "a", cases: [{ when, to: "b" }], default: "__end__" }] }, { modules })))
    const typo = edge({ field: "mode", op: "eq", value: "medium" })
    expect(Either.isLeft(typo) && typo.left).toMatchObject({ _tag: "IRValidationError", path: "edges[0].cases[0].when.value" })
    const wrongType = edge({ field: "rounds", op: "lt", value: "3" })
    expect(Either.isLeft(wrongType) && wrongType.left.message).toContain("the condition compares number field 'rounds' with \"3\" (a string): it can never match")
    expect(Either.isRight(edge({ field: "mode", op: "eq", value: "slow" }))).toBe(true)
    expect(Either.isRight(edge({ field: "rounds", op: "lt", value: 2.5 }))).toBe(true)
  })

  it("the original tutorials' (state (field value)) pattern gets the form to write instead", () => {
    const error = irError({ ...base, state_schema: { message: "str", risk_class: "str" }, rules: [{ id: "r1", when: "(node-id (id a)) (state (risk_class high))", then: [{ kind: "goto", target: "b" }] }] }) as RuleError
    expect([error._tag, error.reason]).toEqual(["RuleError", "unknown-template"])
    expect(error.fix).toBe('match each mirrored field as its own template: write (state (risk_class high)) as (risk_class (value "high"))')
  })

  it("a pattern on an ordered fact nothing asserts is valid CLIPS, and a warning naming the rule", () => {
    const warningsOf = (rules: ReadonlyArray<unknown>) => Effect.runSync(Effect.map(Graph.make({ ...base, rules }), (g) => g.rules.warnings))
    expect(warningsOf([{ id: "r-typo", when: "(initail-fact) (node-id (id a))", then: [{ kind: "halt" }] }])).toEqual([
      "rule r-typo matches (initail-fact), an ordered fact nothing in the graph asserts: a misspelt name? (fine if your app or a fork's facts_assert asserts it)"
    ])
    // Asserted by another rule (an action, or a raw assert in a pack's .clp): no warning.
    expect(warningsOf([
      { id: "r-esc", when: "(escalate) (node-id (id a))", then: [{ kind: "goto", target: "b" }] },
      { id: "r-set", when: { node: "b" }, then: [{ kind: "assert", fact: "(escalate)" }] }
    ])).toEqual([])
    expect(warningsOf([{ id: "r1", when: "(initial-fact)", then: [{ kind: "goto", target: "b" }] }])).toEqual([])
  })

  it("goto to an unknown node is an IRValidationError at the action's target", () => {
    const error = irError({ ...base, rules: [{ id: "r1", when: { node: "a" }, then: [{ kind: "goto", target: "nowhere" }] }] }) as IRValidationError
    expect(error._tag).toBe("IRValidationError")
    expect(error.path).toBe("rules[0].then[0].target")
    expect(error.fix).toMatch(/a, b/)
  })

  it("an unknown action kind is an IRValidationError", () => {
    const error = irError({ ...base, rules: [{ id: "r1", when: { node: "a" }, then: [{ kind: "teleport", target: "b" }] }] }) as IRValidationError
    expect(error._tag).toBe("IRValidationError")
    expect(error.path).toMatch(/^rules\[0\]\.then\[0\]/)
  })

  it("a when mapping naming an unknown node or field is an IRValidationError", () => {
    expect((irError({ ...base, rules: [{ id: "r1", when: { node: "zz" }, then: [{ kind: "halt" }] }] }) as IRValidationError).path).toBe("rules[0].when.node")
    expect((irError({ ...base, rules: [{ id: "r1", when: { colour: "red" }, then: [{ kind: "halt" }] }] }) as IRValidationError).path).toBe("rules[0].when.colour")
  })

  it("a Python state_class is refused with the fix", () => {
    const error = irError({ ...base, state_schema: undefined, state_class: "stargraph.bundles.hitl:ApprovalState" }) as IRValidationError
    expect(error.path).toBe("state_class")
    expect(error.fix).toMatch(/export an Effect Schema/)
  })

  it("an unbound variable in a raw rule is a RuleError", () => {
    const raw = irError({ ...base, rules: [{ id: "r3", when: "(node-id (id a)) (test (> ?nope 1))", then: [{ kind: "halt" }] }] }) as RuleError
    expect(raw._tag).toBe("RuleError")
    expect(raw.reason).toBe("unbound-variable")
  })
})

describe("FathomAdapter", () => {
  it("drives a graph's rules outside a run: assert facts with provenance, evaluate after a node, read the facts", async () => {
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const graph = yield* Graph.make({
        ir_version: "1.0.0",
        id: "run:adapter",
        state_schema: { verdict: "str" },
        nodes: [{ id: "classify", kind: "passthrough" }, { id: "urgent", kind: "halt" }, { id: "routine", kind: "halt" }],
        rules: [
          { id: "r-urgent", when: "(node-id (id classify)) (verdict (value \"urgent\"))", then: [{ kind: "goto", target: "urgent" }] },
          { id: "r-audited", salience: 5, when: "(node-id (id classify)) (verdict (value ?v) (_origin \"analyst\"))", then: [{ kind: "goto", target: "routine" }] }
        ]
      })
      const adapter = yield* FathomAdapter.make(graph)
      const plain = yield* adapter.evaluate({ node: "classify", state: { verdict: "urgent" } })
      yield* adapter.assertWithProvenance("verdict", { value: "routine" }, { origin: "analyst", source: "review", runId: "r", step: 1, timestamp: "2026-01-01T00:00:00Z" })
      const facts = yield* adapter.facts
      return { plain, facts }
    })))
    expect(result.plain.decisions["classify"]).toEqual({ _tag: "goto", target: "urgent", rule: "r-urgent" })
    expect(result.facts.some((f) => f.text.includes("(verdict (value \"routine\") (_origin \"analyst\")"))).toBe(true)
  })
})
