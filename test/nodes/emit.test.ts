/** `ctx.emit`: data a node publishes while it runs, as `node.custom` run events (LangGraph's custom stream writer). */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import type { NodeFunction } from "../../src/nodes/Executor.js"
import * as AuditSink from "../../src/telemetry/AuditSink.js"
import { tempDir } from "../helpers/cli.js"

const work: NodeFunction = async (_state, ctx) => {
  const progress = { done: 0, of: 3 }
  for (let i = 1; i <= 3; i++) {
    progress.done = i
    ctx.emit(progress) // copied when published: changing the object afterwards changes nothing
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return { out: "ok" }
}
const notJson: NodeFunction = (_state, ctx) => {
  const caught: Array<string> = []
  for (const data of [{ at: Number.NaN }, undefined]) {
    try {
      ctx.emit(data)
    } catch (error) {
      caught.push(error instanceof TypeError ? error.message : "not a TypeError")
    }
  }
  return { out: caught.join("\n") }
}
const late: NodeFunction = (_state, ctx) => {
  ctx.emit({ during: true })
  setTimeout(() => ctx.emit({ late: true }), 5)
  return { out: "returned" }
}
const pause: NodeFunction = async () => {
  await new Promise((resolve) => setTimeout(resolve, 60))
  return {}
}
const ir = (exportName: string) => ({
  ir_version: "1.0.0",
  id: "run:emit",
  state_schema: { fields: { out: { type: "string", default: "" } } },
  nodes: [{ id: "work", kind: "function", module: "m", export: exportName }]
})

describe("ctx.emit", () => {
  it("publishes JSON data as node.custom events while the node runs, in order, copied; not audited", async () => {
    const dir = tempDir()
    const auditFile = join(dir, "audit.jsonl")
    const layer = Layer.merge(SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") }), AuditSink.jsonl(auditFile))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir("work"), { modules: { m: { work } } })
      const handle = yield* graph.start()
      const watching = yield* Effect.fork(Stream.runCollect(handle.stream()))
      const summary = yield* handle.start()
      return { summary, events: Chunk.toArray(yield* Fiber.join(watching)) }
    }).pipe(Effect.provide(layer)))
    expect(out.summary.status).toBe("done")
    const custom = out.events.flatMap((e) => (e.type === "node.custom" ? [e] : []))
    expect(custom.map((e) => [e.node, e.step, e.data])).toEqual([
      ["work", 1, { done: 1, of: 3 }],
      ["work", 1, { done: 2, of: 3 }],
      ["work", 1, { done: 3, of: 3 }]
    ])
    const types = out.events.map((e) => e.type)
    expect(types.indexOf("step.started")).toBeLessThan(types.indexOf("node.custom"))
    expect(types.lastIndexOf("node.custom")).toBeLessThan(types.indexOf("step.completed"))
    const audited = readFileSync(auditFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string })
    expect(audited.some((r) => r.event === "step.completed")).toBe(true)
    expect(audited.some((r) => r.event === "node.custom")).toBe(false)
  })

  it("data that is not JSON (or nothing) throws a TypeError at the call, naming where; nothing is published", async () => {
    const layer = SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite") })
    const out = await Effect.runPromise(Effect.either(Effect.gen(function*() {
      const graph = yield* Graph.make(ir("notJson"), { modules: { m: { notJson } } })
      const handle = yield* graph.start()
      const watching = yield* Effect.fork(Stream.runCollect(handle.stream()))
      const summary = yield* handle.start()
      return { summary, events: Chunk.toArray(yield* Fiber.join(watching)) }
    })).pipe(Effect.provide(layer)))
    expect(Either.isRight(out)).toBe(true)
    if (Either.isLeft(out)) return
    const [nan, nothing] = String(out.right.summary.final_state["out"]).split("\n")
    expect(nan).toMatch(/^ctx\.emit: data\.at: .*NaN/)
    expect(nothing).toBe("ctx.emit: data is undefined (nothing to publish); pass a JSON value, e.g. ctx.emit({ done: 3, of: 10 })")
    expect(out.right.events.some((e) => e.type === "node.custom")).toBe(false)
  })

  it("publishes nothing once the node returned (a timer it left): its step is over", async () => {
    const layer = SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite") })
    const events = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make({ ...ir("late"), nodes: [{ id: "work", kind: "function", module: "m", export: "late" }, { id: "pause", kind: "function", module: "m", export: "pause" }], edges: [{ from: "work", to: "pause" }] }, { modules: { m: { late, pause } } })
      const handle = yield* graph.start()
      const watching = yield* Effect.fork(Stream.runCollect(handle.stream()))
      yield* handle.start()
      return Chunk.toArray(yield* Fiber.join(watching))
    }).pipe(Effect.provide(layer)))
    expect(events.flatMap((e) => (e.type === "node.custom" ? [e.data] : []))).toEqual([{ during: true }])
  })
})
