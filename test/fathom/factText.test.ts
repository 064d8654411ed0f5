/**
 * The CLIPS text Stargraph prints for a fact (`inspect --step`, `inspect --diff`, a
 * RunDiff's `fact_deltas`) reads back: a string slot with quotes and a backslash is
 * printed escaped, and the printed text, given as a mutation's `facts_retract`, matches
 * the fact.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { factDelta } from "../../src/fathom/facts.js"
import * as RuleSession from "../../src/fathom/RuleSession.js"
import * as Graph from "../../src/graph/Graph.js"

const ir = {
  ir_version: "1.0.0",
  id: "facts:text",
  state_schema: { fields: { x: { type: "integer", default: 0 } } },
  nodes: [{ id: "a", kind: "noop" }],
  rules: [{ id: "r", when: { node: "a" }, then: [{ kind: "goto", target: "__end__" }] }]
}

const DATA = "{\"approved\":true} C:\\dir \\\" end"

describe("printed facts", () => {
  it("escape quotes and backslashes in strings, so the text retracts the fact it names", () => {
    const program = Effect.runSync(Graph.make(ir)).rules
    const session = Either.getOrThrow(RuleSession.open(program))
    Either.getOrThrow(RuleSession.assertEvidence(session, { runId: "run-1", step: 2, node: "ask", actor: "cli", data: DATA }))
    const live = session.facts().find((f) => f.text.startsWith("(stargraph.evidence"))!.text
    expect(live).toContain(`(data "{\\"approved\\":true} C:\\\\dir \\\\\\" end")`)
    // The stored form (a checkpoint's facts, a RunDiff's fact_deltas) prints the same.
    const stored = factDelta(undefined, session.snapshot(), program.templates).asserted.find((t) => t.startsWith("(stargraph.evidence"))!
    expect(stored).toContain(`(data "{\\"approved\\":true} C:\\\\dir \\\\\\" end")`)
    // Pasted into a mutation's facts_retract: it names the fact.
    expect(session.retract(live)).toEqual(Either.right(1))
    expect(session.facts().some((f) => f.text.startsWith("(stargraph.evidence"))).toBe(false)
    Either.getOrThrow(RuleSession.assertEvidence(session, { runId: "run-1", step: 2, node: "ask", actor: "cli", data: DATA }))
    expect(session.retract(stored)).toEqual(Either.right(1))
  })
})
