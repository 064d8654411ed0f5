/**
 * Node functions typed by the state's Effect Schema: `NodeFunction<E, R, S>` reads typed
 * fields and refuses (at compile time, under `tsc`) writes to unknown fields or of the
 * wrong type; the run still checks every write at run time.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import type { NodeFunction, RouterFunction } from "../../src/index.js"

const State = Schema.Struct({
  value: Schema.Int,
  trail: Schema.Array(Schema.String),
  verdict: Schema.optional(Schema.String)
})
type S = typeof State.Type

const double: NodeFunction<never, never, S> = (state) => ({ value: state.value * 2, trail: ["double"] })
const describeValue: NodeFunction<never, never, S> = async (state) => ({ verdict: `value is ${state.value}`, trail: ["describe"] })
const next: RouterFunction<S> = (state) => (state.value < 100 ? "double" : "describe")
const effectful: NodeFunction<never, never, S> = (state) => Effect.succeed({ trail: [`seen ${state.trail.length}`] })

// @ts-expect-error a field the state does not declare
export const typo: NodeFunction<never, never, S> = () => ({ valeu: 1 })
// @ts-expect-error a value of the wrong type
export const wrongType: NodeFunction<never, never, S> = () => ({ value: "forty-two" })
// @ts-expect-error reading a field the state does not declare
export const badRead: NodeFunction<never, never, S> = (state) => ({ verdict: state.verdikt })
// A function typed for the state in untyped JavaScript clothes still fails at run time (below).
const lying = (() => ({ value: "forty-two" })) as unknown as NodeFunction<never, never, S>

const ir = (exportName: string) => ({
  ir_version: "1.0.0",
  id: "run:typed",
  state_schema: { module: "state", export: "State", reducers: { trail: "append" } },
  nodes: [
    { id: "double", kind: "function", module: "app", export: exportName },
    { id: "effectful", kind: "function", module: "app", export: "effectful" },
    { id: "describe", kind: "function", module: "app", export: "describeValue" }
  ],
  edges: [{ from: "double", to: "effectful" }, { from: "effectful", router: { module: "app", export: "next" }, targets: ["double", "describe"] }, { from: "describe", to: "__end__" }]
})
const modules = { state: { State }, app: { double, describeValue, next, effectful, lying } }
const run = (exportName: string) =>
  Effect.runPromise(Effect.either(Effect.flatMap(Graph.make(ir(exportName), { modules }), (g) => Effect.flatMap(g.start({ inputs: { value: 21, trail: [] } }), (r) => r.start()))).pipe(Effect.provide(MemoryCheckpointer.layer)))

describe("typed state in node functions", () => {
  it("a graph of node functions typed by the state schema runs; a write that breaks the schema still fails at run time", async () => {
    const done = await run("double")
    expect(Either.isRight(done) && done.right).toMatchObject({
      status: "done",
      final_state: { value: 168, verdict: "value is 168", trail: ["double", "seen 1", "double", "seen 3", "double", "seen 5", "describe"] }
    })
    const refused = await run("lying")
    expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "StateValidationError", field: "value", nodeId: "double" })
  })
})
