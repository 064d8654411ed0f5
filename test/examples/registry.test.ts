import { join } from "node:path"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import { ROOT } from "../helpers/cli.js"

describe("examples/", () => {
  it("every example graph loads into one registry (as `stargraph serve --graphs ./examples` does): no two share an id", async () => {
    const registry = await Effect.runPromise(GraphRegistry.load([join(ROOT, "examples")]))
    const ids = registry.list().map((g) => g.id)
    expect(ids.length).toBeGreaterThanOrEqual(13)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toEqual(expect.arrayContaining(["run:hello-stargraph", "run:first-graph"]))
  })
})
