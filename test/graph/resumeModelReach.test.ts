/**
 * The model check of a resume covers every node the resumed run can still reach, not only
 * the nodes it runs next: a live language-model node without a model (none where the run
 * is resumed, none on its record) after the question it waits at, one it can come round to
 * again (a loop back, a rule's `goto`), a child graph's node of a `subgraph` node it reaches
 * later, is refused before anything changes (`LanguageModelError[no-model]`,
 * `refusedAt: "resume"`); a node it cannot reach any more (it ran before, and nothing leads
 * back) is not. A rule that decides its target as the run goes makes every node count.
 * Real graph files, a real SQLite file, through the library.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { tempDir } from "../helpers/cli.js"

const fields = "state_schema: { fields: { question: { type: string, default: \"why?\" }, answer: { type: string, default: \"\" }, reply: { type: string, default: \"\" }, done: { type: string, default: \"\" } } }"
const ASK = "  - { id: ask, kind: dspy, config: { signature: \"question -> answer\" } }"
const WAIT = "  - { id: wait, kind: interrupt, prompt: \"Go?\", response_field: reply }"
const FIN = "  - { id: fin, kind: set, values: { done: \"yes\" } }"

/** The graphs, by file name: what the run waits at, and which nodes follow. */
const GRAPHS: Record<string, ReadonlyArray<string>> = {
  // Waits first; the language-model node follows the answer.
  "after.yaml": [WAIT, ASK, "edges: [{ from: wait, to: ask }]"],
  // The language-model node ran before the wait; nothing leads back to it.
  "past.yaml": [ASK, WAIT, FIN, "edges: [{ from: ask, to: wait }, { from: wait, to: fin }]"],
  // ... but an answer "again" loops back to it.
  "loop.yaml": [
    ASK, WAIT, FIN,
    "edges:", "  - { from: ask, to: wait }", "  - { from: wait, cases: [{ when: { field: reply, op: eq, value: again }, to: ask }], default: fin }"
  ],
  // ... or a rule sends the run back to it.
  "rule.yaml": [
    ASK, WAIT, FIN, "edges: [{ from: ask, to: wait }, { from: wait, to: fin }]",
    "rules:", "  - { id: again, when: { node: wait, reply: again }, then: [{ kind: goto, target: ask }] }"
  ],
  // ... or a rule asserts a routing action itself (its target is decided as the run goes).
  "asserted.yaml": [
    ASK, WAIT, FIN, "edges: [{ from: ask, to: wait }, { from: wait, to: fin }]",
    "rules:",
    "  - { id: again, when: { node: wait, reply: again }, then: [{ kind: assert, fact: stargraph_action, slots: { kind: goto, target: ask, rule_id: again } }] }"
  ],
  // Routed by rules (no edges): a node no rule routes continues with the next declared.
  "declared.yaml": [WAIT, FIN, ASK],
  // Routed by rules: a halt node between the wait and the language-model node ends the run there.
  "halted.yaml": [WAIT, "  - { id: stop, kind: halt, config: { reason: enough } }", ASK],
  // A subgraph node after the wait, whose child graph has the language-model node.
  "sub.yaml": [WAIT, "  - { id: sub, kind: subgraph, spec: ./child.yaml }", "edges: [{ from: wait, to: sub }]"],
  "child.yaml": [ASK],
  // The wait is the child run's: the parent waits on it; the language-model node follows it in the child.
  "nested.yaml": ["  - { id: inner, kind: subgraph, spec: ./child_waits.yaml }"],
  "child_waits.yaml": [WAIT, ASK, "edges: [{ from: wait, to: ask }]"],
  // ... or ran before it in the child: nothing leads back.
  "nested_past.yaml": ["  - { id: inner, kind: subgraph, spec: ./child_past.yaml }"],
  "child_past.yaml": [ASK, WAIT, FIN, "edges: [{ from: ask, to: wait }, { from: wait, to: fin }]"]
}

const setup = () => {
  const dir = tempDir()
  for (const [name, lines] of Object.entries(GRAPHS)) {
    writeFileSync(join(dir, name), ["ir_version: \"1.0.0\"", `id: ${name.replace(".yaml", "")}`, fields, "nodes:", ...lines, ""].join("\n"))
  }
  const layer = SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") })
  return { dir, layer }
}

/** An app's LanguageModel (the layer is not data: a run started under it keeps no default model). */
const app = Effect.runSync(LanguageModel.make({
  generateText: () => Effect.succeed([{ type: "text", text: "{\"answer\": \"42\"}" }, { type: "finish", reason: "stop", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }] as never),
  streamText: () => Stream.die("not streamed")
}))

/** Start `file` under the app's model until it waits; then answer it "yes" where no model is given. */
const waitThenAnswer = async (t: ReturnType<typeof setup>, file: string, waitsAt = "wait") => {
  const first = await Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.load(join(t.dir, file))
    return yield* Effect.flatMap(graph.start({ inputs: {} }), (r) => r.start())
  }).pipe(Effect.provideService(LanguageModel.LanguageModel, app), Effect.provide(t.layer)))
  expect(first).toMatchObject({ status: "awaiting-input", waiting: { node: waitsAt } })
  const stored = () =>
    Effect.runPromise(Effect.gen(function*() {
      const checkpointer = yield* Checkpointer
      return { run: Option.getOrThrow(yield* checkpointer.getRun(first.run_id)), checkpoints: yield* checkpointer.listCheckpoints(first.run_id) }
    }).pipe(Effect.provide(t.layer)))
  const before = await stored()
  expect(before.run.default_model).toBeNull()
  const outcome = await Effect.runPromise(Effect.either(Effect.gen(function*() {
    const graph = yield* Graph.load(join(t.dir, file))
    return yield* Effect.flatMap(graph.resume(first.run_id, { response: { value: "yes" } }), (r) => r.start())
  }).pipe(Effect.provide(t.layer))))
  return { outcome, before, after: await stored() }
}

describe("the model check of a resume", () => {
  it("refuses a language-model node the run reaches after the nodes it runs next, before anything changes", async () => {
    const t = setup()
    for (const [file, node] of [["after.yaml", "ask"], ["loop.yaml", "ask"], ["rule.yaml", "ask"], ["declared.yaml", "ask"], ["sub.yaml", "sub/ask"]] as const) {
      const { outcome, before, after } = await waitThenAnswer(t, file)
      if (Either.isRight(outcome)) throw new Error(`${file}: expected the resume to be refused, got ${outcome.right.status}`)
      expect(outcome.left, file).toMatchObject({ _tag: "LanguageModelError", reason: "no-model", nodeId: node, attempts: 0, refusedAt: "resume" })
      expect(outcome.left.message, file).toContain("may reach it after the nodes it runs next, so it was not resumed (nothing was changed)")
      expect(after, file).toEqual(before)
    }
  })

  it("says so when a rule decides where the run goes as it runs: every node counts", async () => {
    const t = setup()
    const { outcome, before, after } = await waitThenAnswer(t, "asserted.yaml")
    if (Either.isRight(outcome)) throw new Error(`expected the resume to be refused, got ${outcome.right.status}`)
    expect(outcome.left).toMatchObject({ _tag: "LanguageModelError", reason: "no-model", nodeId: "ask", refusedAt: "resume" })
    expect(outcome.left.message).toContain("may reach it (its rules choose where it goes as it runs)")
    expect(after).toEqual(before)
  })

  it("does not refuse a run past its language-model node with nothing leading back: it is done", async () => {
    const t = setup()
    const { outcome } = await waitThenAnswer(t, "past.yaml")
    expect(Either.getOrUndefined(outcome)).toMatchObject({ status: "done", final_state: { answer: "42", reply: "yes", done: "yes" } })
  })

  it("counts the nodes the child run it waits on can still reach, not those it ran", async () => {
    const t = setup()
    const nested = await waitThenAnswer(t, "nested.yaml", "inner")
    if (Either.isRight(nested.outcome)) throw new Error(`expected the resume to be refused, got ${nested.outcome.right.status}`)
    expect(nested.outcome.left).toMatchObject({ _tag: "LanguageModelError", reason: "no-model", nodeId: "inner/ask", refusedAt: "resume" })
    expect(nested.after).toEqual(nested.before)
    const past = await waitThenAnswer(t, "nested_past.yaml", "inner")
    expect(Either.getOrUndefined(past.outcome)).toMatchObject({ status: "done" })
  })

  it("does not count the node declared after a halt node (the run stops at the halt)", async () => {
    const t = setup()
    const { outcome } = await waitThenAnswer(t, "halted.yaml")
    expect(Either.getOrUndefined(outcome)).toMatchObject({ status: "done", final_state: { answer: "", reply: "yes" } })
  })
})
