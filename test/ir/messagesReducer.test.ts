import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as Graph from "../../src/graph/Graph.js"
import type { NodeFunction } from "../../src/nodes/Executor.js"
import { addMessages, messagesDelta } from "../../src/ir/messagesReducer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"

const u = (content: string, id?: string) => ({ role: "user", content, ...(id !== undefined ? { id } : {}) })
const a = (content: string, id?: string) => ({ role: "assistant", content, ...(id !== undefined ? { id } : {}) })
const right = (e: Either.Either<ReadonlyArray<unknown>, string>) => Either.getOrThrowWith(e, (m) => new Error(m))
const left = (e: Either.Either<ReadonlyArray<unknown>, string>) => Either.isLeft(e) ? e.left : "no error"

describe("messages reducer (LangGraph's add_messages)", () => {
  it("appends, replaces a message by id in place, removes by id, clears with __remove_all__", () => {
    const history = [u("hi", "1"), a("hello", "2")]
    expect(right(addMessages(undefined, [u("hi", "1")]))).toEqual([u("hi", "1")])
    expect(right(addMessages(history, [u("more")]))).toEqual([...history, u("more")])
    expect(right(addMessages(history, [a("hello!", "2"), u("next", "3")]))).toEqual([u("hi", "1"), a("hello!", "2"), u("next", "3")])
    expect(right(addMessages(history, [{ type: "remove", id: "1" }]))).toEqual([a("hello", "2")])
    // Removed, then written again in the same write: it stays, with the new value.
    expect(right(addMessages(history, [{ type: "remove", id: "1" }, u("hi again", "1")]))).toEqual([u("hi again", "1"), a("hello", "2")])
    expect(right(addMessages(history, [u("dropped"), { type: "remove", id: "__remove_all__" }, u("fresh", "9")]))).toEqual([u("fresh", "9")])
    // Removing what the same write added.
    expect(right(addMessages([], [u("x", "7"), { type: "remove", id: "7" }]))).toEqual([])
  })

  it("refuses, naming the problem and the fix: a single message, a string, a bad id, a remove of an unknown id or without one", () => {
    expect(left(addMessages([], u("hi")))).toContain("the write is an object, not a list of messages; write a list")
    expect(left(addMessages([], ["hi"]))).toBe(`messages reducer: item [0] is a string, not a message; write an object such as {"role": "user", "content": "hi"}`)
    expect(left(addMessages([], [{ role: "user", content: "x", id: 5 }]))).toContain("item [0] has id 5; a message id is a non-empty string")
    expect(left(addMessages([u("a", "1")], [{ type: "remove", id: "2" }]))).toContain("removes id '2', which no message has")
    expect(left(addMessages([u("a", "1")], [{ type: "remove" }]))).toContain("a remove without an id")
    expect(left(addMessages({}, [u("a")]))).toContain("the current value is not a list of messages")
  })

  it("gives the write that turns a seeded history into a child's: new and changed messages, removes; none when a changed message has no id", () => {
    const seed = [u("q", "1"), a("draft", "2")]
    expect(messagesDelta(seed, [u("q", "1"), a("final", "2"), u("thanks")])).toEqual([a("final", "2"), u("thanks")])
    expect(messagesDelta(seed, [a("draft", "2")])).toEqual([{ type: "remove", id: "1" }])
    expect(messagesDelta([u("q")], [u("changed")])).toBeUndefined()
    // Reordered: no write gives it.
    expect(messagesDelta(seed, [a("draft", "2"), u("q", "1")])).toBeUndefined()
  })

  it("in a graph: parallel nodes add to the history, one rewrites a message by id; IR validation takes `messages` only on arrays", async () => {
    const modules = {
      m: {
        greet: (() => ({ messages: [a("draft", "r1")] })) satisfies NodeFunction,
        audit: (() => ({ messages: [{ role: "tool", content: "checked" }] })) satisfies NodeFunction,
        polish: (() => ({ messages: [a("final", "r1")] })) satisfies NodeFunction
      }
    }
    const ir = {
      ir_version: "1.0.0",
      id: "run:chat",
      state_schema: { fields: { messages: { type: "array", items: { type: "object" }, default: [], reducer: "messages" } } },
      nodes: [
        { id: "start", kind: "noop" },
        { id: "greet", kind: "function", module: "m", export: "greet" },
        { id: "audit", kind: "function", module: "m", export: "audit" },
        { id: "polish", kind: "function", module: "m", export: "polish" }
      ],
      edges: [{ from: "start", to: ["greet", "audit"] }, { from: "greet", to: "polish" }]
    }
    const summary = await Effect.runPromise(Effect.flatMap(Graph.make(ir, { modules }), (g) => Effect.flatMap(g.start({ inputs: { messages: [u("hi", "u1")] } }), (r) => r.start())).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(summary.final_state["messages"]).toEqual([u("hi", "u1"), a("final", "r1"), { role: "tool", content: "checked" }])
    const wrong = await Effect.runPromise(Effect.flip(Graph.make({ ...ir, state_schema: { fields: { messages: { type: "string", reducer: "messages" } } } }, { modules })))
    expect(wrong.message).toContain("messages")
  })
})
