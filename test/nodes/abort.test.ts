import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { describe, expect, expectTypeOf, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import type { NodeFunction } from "../../src/nodes/Executor.js"
import * as Stargraph from "../../src/index.js"
import { NodeAbortGrace } from "../../src/nodes/NodeAbortGrace.js"
import { tempDir } from "../helpers/cli.js"

/**
 * Node bodies in a module file: each writes `<event> <attempt> <ms>` lines to the file
 * `state.log` names, so the order of what the bodies did is the order of the lines.
 */
const NODES = `
import { appendFileSync } from "node:fs"
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const logger = (state, ctx) => (event, extra = "") => appendFileSync(state.log, \`\${event} \${ctx.attempt} \${Date.now()} \${extra}\\n\`)

// Attempt 1 waits for its signal, then takes 150 ms to clean up; attempt 2 returns at once.
export const listens = async (state, ctx) => {
  const log = logger(state, ctx)
  log("start")
  if (ctx.attempt > 1) return { out: "attempt " + ctx.attempt }
  await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve))
  log("aborted", ctx.signal.reason.name + ": " + ctx.signal.reason.message)
  await sleep(150)
  log("end")
  return { out: "late attempt 1" }
}

// Attempt 1 ignores its signal and runs for 1.5 s.
export const deaf = async (state, ctx) => {
  const log = logger(state, ctx)
  log("start")
  if (ctx.attempt > 1) return { out: "attempt " + ctx.attempt }
  await sleep(1500)
  log("end", String(ctx.signal.aborted))
  return { out: "late attempt 1" }
}
`

const setup = (exportName: string) => {
  const dir = tempDir()
  writeFileSync(join(dir, "nodes.js"), NODES)
  writeFileSync(join(dir, "graph.yaml"), [
    "ir_version: \"1.0.0\"",
    "id: run:abort",
    "state_schema: { fields: { log: { type: string }, out: { type: string, default: \"\" } } }",
    "nodes:",
    `  - { id: work, kind: function, module: ./nodes.js, export: ${exportName}, timeout_ms: 100, retry: { max_attempts: 2 } }`,
    ""
  ].join("\n"))
  return { dir, log: join(dir, "exec.log") }
}

/** The log's lines as [event, attempt, ms, rest]. */
const lines = (log: string) =>
  readFileSync(log, "utf8").trim().split("\n").map((l) => {
    const [event, attempt, ms, ...rest] = l.split(" ")
    return { event: event!, attempt: Number(attempt), ms: Number(ms), rest: rest.join(" ") }
  })

/** Run the graph to its end; its summary and events. */
const runGraph = (dir: string, log: string, graceMs?: number) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const graph = yield* Graph.load(join(dir, "graph.yaml"))
      const run = yield* graph.start({ inputs: { log } })
      const summary = yield* run.start()
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(run.stream()))
      return { summary, events }
    }).pipe(
      (effect) => (graceMs === undefined ? effect : Effect.provideService(effect, NodeAbortGrace, graceMs)),
      Effect.provide(SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") }))
    )
  )

describe("ctx.signal and timeout_ms", () => {
  it("a timed-out attempt's body sees its signal aborted (TimeoutError), and the retry starts only once that body returned", async () => {
    const { dir, log } = setup("listens")
    const { summary, events } = await runGraph(dir, log)
    expect(summary.status).toBe("done")
    expect(summary.final_state["out"]).toBe("attempt 2")
    const seen = lines(log)
    expect(seen.map((l) => `${l.event} ${l.attempt}`)).toEqual(["start 1", "aborted 1", "end 1", "start 2"])
    expect(seen[1]!.rest).toBe("TimeoutError: node 'work' (step 1) of run " + summary.run_id + " timed out after 100 ms (timeout_ms)")
    // Attempt 2 began after attempt 1's 150 ms clean-up, not when the timer fired.
    expect(seen[3]!.ms).toBeGreaterThanOrEqual(seen[2]!.ms)
    expect(seen[3]!.ms - seen[0]!.ms).toBeGreaterThanOrEqual(240)
    expect(events.some((e) => e.type === "node.outlived")).toBe(false)
  })

  it("a body that ignores its signal is waited for only the grace (NodeAbortGrace): then the retry goes, node.outlived says so, and its late return writes nothing", async () => {
    const { dir, log } = setup("deaf")
    const { summary, events } = await runGraph(dir, log, 200)
    expect(summary.status).toBe("done")
    expect(summary.final_state["out"]).toBe("attempt 2")
    // Attempt 2 started past the timeout plus the grace, while attempt 1's body still ran.
    const started = lines(log)
    expect(started.map((l) => `${l.event} ${l.attempt}`)).toEqual(["start 1", "start 2"])
    expect(started[1]!.ms - started[0]!.ms).toBeGreaterThanOrEqual(290)
    expect(started[1]!.ms - started[0]!.ms).toBeLessThan(1400)
    const outlived = events.filter((e) => e.type === "node.outlived")
    expect(outlived).toEqual([expect.objectContaining({
      type: "node.outlived",
      node: "work",
      step: 1,
      grace_ms: 200,
      reason: `node 'work' (step 1) of run ${summary.run_id} timed out after 100 ms (timeout_ms)`
    })])
    // The abandoned body ends later, having seen its signal aborted; what it returns goes nowhere.
    await new Promise((r) => setTimeout(r, 1500))
    expect(lines(log).map((l) => `${l.event} ${l.attempt} ${l.rest}`)).toEqual(["start 1 ", "start 2 ", "end 1 true"])
  })

  it("an Effect node is interrupted as Effect does, and its ctx.signal is aborted for the Promises it started", async () => {
    const dir = tempDir()
    const seen: Array<string> = []
    const work: NodeFunction = (_state, ctx) =>
      ctx.attempt > 1
        ? Effect.succeed({ out: `attempt ${ctx.attempt}` })
        : Effect.promise(() =>
          new Promise<void>((resolve) =>
            ctx.signal.addEventListener("abort", () => {
              seen.push(`${(ctx.signal.reason as DOMException).name}`)
              resolve()
            }))).pipe(Effect.as({ out: "late" }), Effect.onInterrupt(() => Effect.sync(() => seen.push("interrupted"))))
    const summary = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make({
        ir_version: "1.0.0",
        id: "run:effect-abort",
        state_schema: { fields: { out: { type: "string", default: "" } } },
        nodes: [{ id: "work", kind: "function", module: "m", export: "work", timeout_ms: 50, retry: { max_attempts: 2 } }]
      }, { modules: { m: { work } } })
      return yield* Effect.flatMap(graph.start({}), (r) => r.start())
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") }))))
    expect(summary.final_state["out"]).toBe("attempt 2")
    expect(seen).toEqual(["interrupted", "TimeoutError"])
  })

  it("is public: NodeContext (exported from stargraph) has signal: AbortSignal, and NodeAbortGrace is exported", () => {
    expectTypeOf<Stargraph.NodeContext["signal"]>().toEqualTypeOf<AbortSignal>()
    expect(Stargraph.NodeAbortGrace).toBe(NodeAbortGrace)
    expect(Stargraph.DEFAULT_ABORT_GRACE_MS).toBe(30_000)
  })
})
