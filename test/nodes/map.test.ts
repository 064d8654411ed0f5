import { spawn } from "node:child_process"
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { ROOT, stargraph, tempDir } from "../helpers/cli.js"

const FIXTURES = join(ROOT, "test", "fixtures", "map")

/** A copy of the fixtures folder (tests edit or crash in it). */
const fixtures = () => {
  const dir = tempDir()
  cpSync(FIXTURES, dir, { recursive: true })
  return dir
}

const setup = (file: string, db = join(tempDir(), "runs.sqlite")) => {
  const layer = SqliteCheckpointer.layer({ filename: db })
  const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>) => Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
  const graph = Effect.runPromise(Graph.load(file))
  const runs = () => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 1000 })), (page) => page.runs))
  const checkpoints = (runId: string) => run(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runId)))
  const record = (runId: string) => run(Effect.map(Effect.flatMap(Checkpointer, (c) => c.getRun(runId)), Option.getOrThrow))
  return { db, layer, run, graph, runs, checkpoints, record }
}

const buildError = async (file: string) => {
  const result = await Effect.runPromise(Effect.either(Graph.load(file)))
  if (Either.isRight(result)) throw new Error("expected the graph to be refused")
  return result.left
}

const peak = globalThis as unknown as { __mapRunning?: number; __mapPeak?: number }

/** Documents whose children finish in reverse order: the first sleeps longest. */
const documents = (n: number, ms = 40) => Array.from({ length: n }, (_, i) => ({ text: `d${i}`, ms: (n - i) * ms }))

describe("map nodes", () => {
  it("run one linked child run per item, at most `concurrency` at once, and collect the results in item order whatever order they finished in", async () => {
    const t = setup(join(FIXTURES, "parent.yaml"))
    const graph = await t.graph
    peak.__mapPeak = 0
    const summary = await t.run(Effect.flatMap(graph.start({ inputs: { topic: "cves", documents: documents(5) } }), (r) => r.start()))
    expect(summary.status).toBe("done")
    expect(summary.final_state).toEqual({
      topic: "cves",
      documents: documents(5),
      scores: ["cves/d0!", "cves/d1!", "cves/d2!", "cves/d3!", "cves/d4!"],
      report: "cves: done"
    })
    // Two at a time (concurrency: 2), and they did overlap.
    expect(peak.__mapPeak).toBe(2)
    const children = (await t.runs()).filter((r) => r.run_id !== summary.run_id)
    expect(children).toHaveLength(5)
    for (const child of children) {
      expect(child).toMatchObject({ graph_id: "map:score_one", status: "done", parent_run_id: summary.run_id, fork_step: 2 })
      expect((await t.checkpoints(child.run_id)).map((c) => c.step)).toEqual([0, 1, 2])
    }
    // The children finished out of order (the last item first).
    const finished = [...children].sort((a, b) => String(a.finished_at).localeCompare(String(b.finished_at)))
    const itemOf = async (runId: string) => ((await t.checkpoints(runId))[0]!.state["document"] as { text: string }).text
    expect(await itemOf(finished[0]!.run_id)).not.toBe("d0")
  })
})
