import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import { DEFAULT_MAX_CHECKPOINT_BYTES, maxCheckpointBytes } from "../../src/checkpoint/checkpointSize.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { CheckpointError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { statusOf } from "../../src/triggers/httpError.js"
import { stargraph, tempDir } from "../helpers/cli.js"

// Five nodes, each appending 1,000 characters to `log`: the checkpoint grows by about
// 3,000 characters a step (the state, the write and the delta each hold the new entry).
const ir = {
  ir_version: "1.0.0",
  id: "run:grows",
  state_schema: { fields: { log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
  nodes: ["a", "b", "c", "d", "e"].map((id) => ({ id, kind: "function", module: "m", export: "grow" })),
  edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }, { from: "c", to: "d" }, { from: "d", to: "e" }]
}
const modules = { m: { grow: (_s: unknown, ctx: { nodeId: string }) => ({ log: [ctx.nodeId.repeat(1000)] }) } }

const startRun = Effect.gen(function*() {
  const graph = yield* Graph.make(ir, { modules })
  const run = yield* graph.start()
  return { runId: run.runId, result: yield* Effect.either(run.start()) }
})

const resumeRun = (runId: string) =>
  Effect.gen(function*() {
    const graph = yield* Graph.make(ir, { modules })
    return yield* Effect.flatMap(graph.resume(runId), (r) => r.start())
  })

const tooLarge = (result: Either.Either<unknown, unknown>): CheckpointError => {
  if (Either.isRight(result) || !(result.left instanceof CheckpointError)) throw new Error(`expected a CheckpointError, got ${String(result)}`)
  return result.left
}

describe("checkpoint size limit", () => {
  it("resolves the limit from the option, then STARGRAPH_MAX_CHECKPOINT_BYTES, then 64 MiB", () => {
    expect(maxCheckpointBytes(10, { STARGRAPH_MAX_CHECKPOINT_BYTES: "99" })).toBe(10)
    expect(maxCheckpointBytes(undefined, { STARGRAPH_MAX_CHECKPOINT_BYTES: "99" })).toBe(99)
    expect(maxCheckpointBytes(undefined, { STARGRAPH_MAX_CHECKPOINT_BYTES: "lots" })).toBe(DEFAULT_MAX_CHECKPOINT_BYTES)
    expect(maxCheckpointBytes(undefined, {})).toBe(64 * 1024 * 1024)
  })

  it("SQLite: a step over the limit stops the run as error with its committed steps kept; resumed with a higher limit it finishes", async () => {
    const filename = join(tempDir(), "runs.sqlite")
    const provide = <A, E>(effect: Effect.Effect<A, E, Checkpointer>, limit: number) =>
      Effect.runPromise(Effect.provide(effect, SqliteCheckpointer.layer({ filename, maxCheckpointBytes: limit })))

    const { runId, result } = await provide(startRun, 6_000)
    const error = tooLarge(result)
    expect(error.reason).toBe("checkpoint-too-large")
    expect(error.limit).toBe(6_000)
    expect(error.size).toBeGreaterThan(6_000)
    expect(error.message).toMatch(/^step 3 of run run-[0-9a-f-]+ \(written by c\): its checkpoint is [\d,]+ bytes of JSON, over the limit of 6,000; largest parts: .*state\.log 3,010/)
    expect(error.message).toMatch(/STARGRAPH_MAX_CHECKPOINT_BYTES/)

    const kept = await provide(Effect.flatMap(Checkpointer, (c) => Effect.all([c.getRun(runId), c.listCheckpoints(runId)])), 6_000)
    const [record, checkpoints] = kept
    expect(Option.map(record, (r) => [r.status, r.error?.type])).toEqual(Option.some(["error", "CheckpointError"]))
    expect(checkpoints.map((c) => c.step)).toEqual([0, 1, 2])

    const finished = await provide(resumeRun(runId), 1_000_000)
    expect(finished.status).toBe("done")
    expect((finished.final_state as { log: Array<string> }).log.map((s) => s[0])).toEqual(["a", "b", "c", "d", "e"])
  })

  it("a subgraph's child over the limit stops child and parent as error; resuming the parent with a higher limit resumes the child", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "grow.mjs"), "export const grow = (_s, ctx) => ({ log: [ctx.nodeId.repeat(1000)] })\n")
    writeFileSync(join(dir, "child.yaml"), JSON.stringify({ ...ir, id: "run:child", nodes: ir.nodes.map((n) => ({ ...n, module: "./grow.mjs" })) }))
    writeFileSync(join(dir, "parent.yaml"), JSON.stringify({
      ir_version: "1.0.0",
      id: "run:parent",
      state_schema: { fields: { count: { type: "integer", default: 0 } } },
      nodes: [{ id: "inner", kind: "subgraph", spec: "./child.yaml" }]
    }))
    const filename = join(dir, "runs.sqlite")
    const provide = <A, E>(effect: Effect.Effect<A, E, Checkpointer>, limit: number) =>
      Effect.runPromise(Effect.provide(effect, SqliteCheckpointer.layer({ filename, maxCheckpointBytes: limit })))
    const parent = await Effect.runPromise(Graph.load(join(dir, "parent.yaml")))
    const first = await provide(Effect.flatMap(parent.start(), (r) => Effect.map(Effect.either(r.start()), (result) => ({ runId: r.runId, result }))), 6_000)
    expect(tooLarge(first.result).message).toMatch(/^step 3 of run run-\S+ \(written by c\)/)
    const runs = await provide(Effect.flatMap(Checkpointer, (c) => c.listRuns({})), 6_000)
    expect(runs.runs.map((r) => [r.graph_id, r.status]).sort()).toEqual([["run:child", "error"], ["run:parent", "error"]])
    const resumed = await provide(Effect.flatMap(parent.resume(first.runId), (r) => r.start()), 1_000_000)
    expect(resumed.status).toBe("done")
    const after = await provide(Effect.flatMap(Checkpointer, (c) => c.listRuns({})), 1_000_000)
    expect(after.runs.map((r) => [r.graph_id, r.status]).sort()).toEqual([["run:child", "done"], ["run:parent", "done"]])
  })

  it("memory: refuses an oversized step, and inputs too large for the step-0 checkpoint", async () => {
    const provide = <A, E>(effect: Effect.Effect<A, E, Checkpointer>, layer: Layer.Layer<Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer))
    const layer = MemoryCheckpointer.layerWith({ maxCheckpointBytes: 5_000 })
    const { runId, result } = await provide(startRun, layer)
    expect(tooLarge(result).message).toMatch(/^step 2 of run .* \(written by b\)/)
    expect(runId).toMatch(/^run-/)

    const big = await provide(
      Effect.either(Effect.flatMap(Graph.make(ir, { modules }), (g) => g.start({ inputs: { log: ["x".repeat(6_000)] } }))),
      layer
    )
    const refused = tooLarge(big)
    expect(refused.runId).toBeUndefined()
    expect(refused.message).toMatch(/^step 0 of a new run: its checkpoint is [\d,]+ bytes of JSON, over the limit of 5,000; largest parts: .*state\.log 6,004.*The run was not created/)
    // The size is in UTF-8 bytes: 2,000 CJK characters are 6,000 bytes.
    const wide = await provide(
      Effect.either(Effect.flatMap(Graph.make(ir, { modules }), (g) => g.start({ inputs: { log: ["\u4e2d".repeat(2_000)] } }))),
      layer
    )
    expect(tooLarge(wide).size).toBeGreaterThan(18_000)
    // Over HTTP, a new run over the limit is the client's to fix: 413.
    expect(statusOf(refused)).toBe(413)
    // Nothing was created for it.
    expect(await provide(Effect.flatMap(Checkpointer, (c) => c.listRuns({})), layer)).toEqual({ runs: [], next_cursor: null })
  })

  it("CLI: STARGRAPH_MAX_CHECKPOINT_BYTES stops the run with a non-zero exit and the error, and resume goes on", async () => {
    const dir = tempDir()
    const graph = join(dir, "graph.yaml")
    writeFileSync(join(dir, "grow.mjs"), "export const grow = (_s, ctx) => ({ log: [ctx.nodeId.repeat(1000)] })\n")
    writeFileSync(graph, JSON.stringify({ ...ir, nodes: ir.nodes.map((n) => ({ ...n, module: "./grow.mjs" })) }))
    const db = join(dir, "runs.sqlite")
    const first = await stargraph(["run", graph, "--db", db], { env: { STARGRAPH_MAX_CHECKPOINT_BYTES: "6000" } })
    expect(first.code).not.toBe(0)
    expect(first.stderr).toMatch(/CheckpointError\[checkpoint-too-large\]: step 3 of run /)
    const runId = /run_id=(\S+) status=error/.exec(first.stdout)?.[1]
    expect(runId).toBeDefined()
    const second = await stargraph(["resume", runId!, "--db", db])
    expect(second.stdout).toMatch(/status=done/)
    expect(second.code).toBe(0)
  })
})
