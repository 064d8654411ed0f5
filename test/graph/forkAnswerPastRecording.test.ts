/**
 * A counterfactual fork answered where its parent's recording ends (forked while the
 * parent waited: the recording holds no answer there and nothing after it), made without
 * live calls allowed: the answer is taken, and what follows runs against the recording as
 * far as it makes no call the recording cannot answer. Nodes that call nothing (a `set`
 * node, a function node that only computes) finish the fork without `liveAfterFork`; a
 * call past the recording (a tool, `ctx.now()`) fails the fork with a
 * `ReplayDivergenceError` naming `--live-after-fork`, and a fork answered with it makes the
 * call live. Real SQLite files, through the library.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"

const header = (id: string) => [
  'ir_version: "1.0.0"', `id: ${id}`, "state_schema:", "  fields:", "    n: { type: integer, default: 0 }", "    said: { type: string, default: \"\" }",
  "    doubled: { type: integer, default: 0 }", "    at: { type: number, default: 0 }", "nodes:", '  - { id: ask, kind: interrupt, prompt: "number?", response_field: n }'
]

/** Asks for a number, then only computes from it: a `set` node's template and a function node (no call). */
const QUIET = [
  ...header("run:ask-quiet"),
  '  - { id: echo, kind: set, values: { said: "got {{n}}" } }',
  "  - { id: twice, kind: function, module: ./nodes.ts, export: twice }",
  "edges:", "  - { from: ask, to: echo }", "  - { from: echo, to: twice }", ""
].join("\n")

/** Asks for a number, computes, then asks the clock (a call the recording cannot answer past its end). */
const CLOCKED = [
  ...header("run:ask-clocked"),
  '  - { id: echo, kind: set, values: { said: "got {{n}}" } }',
  "  - { id: stamp, kind: function, module: ./nodes.ts, export: stamp }",
  "edges:", "  - { from: ask, to: echo }", "  - { from: echo, to: stamp }", ""
].join("\n")

/** Asks for a number, then doubles it with a tool call. */
const TOOL = [
  ...header("run:ask-tool"),
  '  - { id: dbl, kind: tool, tool: std.calculator@1, inputs: { expression: "{{n}} * 2" }, out: { doubled: result } }',
  "edges:", "  - { from: ask, to: dbl }", ""
].join("\n")

const NODES = [
  "export const twice = (state: { n: number }) => ({ doubled: state.n * 2 })",
  "export const stamp = async (_state: unknown, ctx: { now: () => Promise<number> }) => ({ at: await ctx.now() })",
  ""
].join("\n")

const setup = async () => {
  const dir = tempDir()
  writeFileSync(join(dir, "nodes.ts"), NODES)
  for (const [name, text] of [["quiet.yaml", QUIET], ["clocked.yaml", CLOCKED], ["tool.yaml", TOOL]] as const) writeFileSync(join(dir, name), text)
  const layer = SqliteCheckpointer.layer({ filename: join(dir, "runs.sqlite") })
  const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
  const stored = (runId: string) => run(Effect.flatMap(Checkpointer, (c) => Effect.map(c.getRun(runId), Option.getOrThrow)))
  /** A run of `file` waiting at its question, and a fork of it made then (no live calls): the fork waits at the same question. */
  const waitingFork = async (file: string) => {
    const graph = await Effect.runPromise(Graph.load(join(dir, file)))
    const parent = await run(Effect.flatMap(graph.start({ inputs: {} }), (r) => r.start()))
    expect(parent.status).toBe("awaiting-input")
    const fork = await run(Replay.fork(graph, parent.run_id, {}))
    expect(fork.summary.status).toBe("awaiting-input")
    expect((await stored(fork.cfRunId)).live_after_fork).toBe(false)
    return { graph, parent, cf: fork.cfRunId }
  }
  return { run, stored, waitingFork }
}

describe("a fork answered past its parent's recording, without live calls allowed", () => {
  it("finishes when the nodes after the answer make no call; the parent is untouched", async () => {
    const t = await setup()
    const { graph, parent, cf } = await t.waitingFork("quiet.yaml")
    const done = await t.run(Effect.flatMap(graph.resume(cf, { response: { value: 7 } }), (r) => r.start()))
    expect(done).toMatchObject({ status: "done", final_state: { n: 7, said: "got 7", doubled: 14 } })
    // It asked for no live calls, and keeps none.
    expect((await t.stored(cf)).live_after_fork).toBe(false)
    expect((await t.stored(parent.run_id)).status).toBe("awaiting-input")
  })

  it("fails at the first call past the recording (a tool, ctx.now()) with a ReplayDivergenceError naming --live-after-fork; with it the call is made live", async () => {
    const t = await setup()
    for (const file of ["tool.yaml", "clocked.yaml"]) {
      const { graph, cf } = await t.waitingFork(file)
      const failed = await t.run(Effect.either(Effect.flatMap(graph.resume(cf, { response: { value: 7 } }), (r) => r.start())))
      if (Either.isRight(failed)) throw new Error(`expected ${file}'s fork to fail at its call past the recording, got ${failed.right.status}`)
      expect(failed.left).toMatchObject({ _tag: "ReplayDivergenceError", reason: "missing-entry" })
      expect(failed.left.message).toContain("past the end of the recording")
      expect(failed.left.message).toContain("fork with live_after_fork (--live-after-fork) to make the call live; a fork waiting for input is answered with them allowed by stargraph respond <cf_run_id> --response '<json>' --live-after-fork")
      const record = await t.stored(cf)
      expect(record).toMatchObject({ status: "failed", live_after_fork: false, error: { type: "ReplayDivergenceError" } })
      // The nodes before the call ran on the answer (the clocked graph's `echo` committed).
      if (file === "clocked.yaml") expect(record.last_step).toBe(2)
      // A fork answered with live calls allowed makes the call.
      const again = await t.waitingFork(file)
      const done = await t.run(Effect.flatMap(again.graph.resume(again.cf, { response: { value: 7 }, liveAfterFork: true }), (r) => r.start()))
      expect(done.status).toBe("done")
      expect(done.final_state).toMatchObject(file === "tool.yaml" ? { doubled: 14 } : { said: "got 7" })
      if (file === "clocked.yaml") expect(done.final_state["at"]).toBeGreaterThan(0)
    }
  })
})
