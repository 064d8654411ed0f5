/**
 * `stepChildren` (src/runtime/stepChildren.ts) finds a map step's item children by their
 * keys even when an earlier item's child was never made (its start still on its way when
 * the process stopped): a gap does not hide the items after it.
 */
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { childRunKey, itemOfKey, startedBy } from "../../src/nodes/ChildGraph.js"
import { stepChildren } from "../../src/runtime/stepChildren.js"
import { ROOT } from "../helpers/cli.js"

describe("stepChildren", () => {
  it("finds the item children after a gap (item 0 and 2 never made), and none past 64 missing in a row", async () => {
    const found = await Effect.runPromise(Effect.gen(function*() {
      const child = yield* Graph.load(join(ROOT, "test", "fixtures", "map", "score_one.yaml"))
      const checkpointer = yield* Checkpointer
      const at = { parentRunId: "run-parent", parentStep: 2, nodeId: "score_all" }
      for (const index of [1, 3, 70]) {
        const run = yield* child.newRun({ inputs: { document: { text: `d${index}` } }, idempotencyKey: childRunKey({ ...at, index }) })
        yield* checkpointer.createRun(run)
      }
      const runs = yield* stepChildren(checkpointer, at)
      return yield* Effect.forEach(runs, (run) => Effect.map(checkpointer.latestCheckpoint(run.run_id), (cp) => (cp._tag === "Some" ? cp.value.state["document"] : undefined)))
    }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    // Item 70 is 66 items past item 3: no map has that many children on their way at once.
    expect(found).toEqual([{ text: "d1" }, { text: "d3" }])
  })

  it("names a map item's retries: #<index>@<attempt> from the second attempt, read back as the item (and its attempt)", () => {
    const at = { parentRunId: "run-p", parentStep: 2, nodeId: "score_all" }
    expect([childRunKey(at), childRunKey({ ...at, index: 1 }), childRunKey({ ...at, index: 1, attempt: 1 }), childRunKey({ ...at, index: 1, attempt: 3 })]).toEqual([
      "subgraph:run-p:2:score_all",
      "subgraph:run-p:2:score_all#1",
      "subgraph:run-p:2:score_all#1",
      "subgraph:run-p:2:score_all#1@3"
    ])
    expect([itemOfKey("subgraph:run-p:2:score_all#1@3"), itemOfKey("subgraph:run-p:2:score_all#4"), itemOfKey("subgraph:run-p:2:score_all"), itemOfKey("trigger:x#1@2")]).toEqual([1, 4, undefined, undefined])
    expect([startedBy("subgraph:run-p:2:score_all#1@3", "run-p", 2), startedBy("subgraph:run-p:2:score_all#1", "run-p", 2), startedBy("subgraph:run-p:2:sub", "run-p", 2)]).toEqual([
      "map node 'score_all', item 1, attempt 3",
      "map node 'score_all', item 1",
      "subgraph node 'sub'"
    ])
  })
})
