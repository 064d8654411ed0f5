/**
 * The Checkpointer contract through its public entry (`stargraph/testing`): over the
 * memory store and SQLite under `synchronous = NORMAL` here; SQLite (FULL) and PostgreSQL
 * run it in their conformance suites (test/checkpoint/conformance.ts).
 */
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { checkpointerContract } from "../../src/testing/index.js"
import { tempDir } from "../helpers/cli.js"

const backends: ReadonlyArray<readonly [string, Layer.Layer<Checkpointer, unknown>]> = [
  ["memory", MemoryCheckpointer.layer],
  ["sqlite (NORMAL)", SqliteCheckpointer.layer({ filename: join(tempDir(), "contract-normal.sqlite"), synchronous: "NORMAL" })]
]

for (const [name, layer] of backends) {
  describe(`Checkpointer contract: ${name}`, () => {
    for (const check of checkpointerContract(layer)) {
      it(check.name, () => Effect.runPromise(check.run))
    }
  })
}

describe("the contract itself", () => {
  it("catches a backend that breaks it (a memory store whose listRuns ignores the cursor)", async () => {
    const broken = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (c) => ({
      ...c,
      listRuns: (query: Parameters<typeof c.listRuns>[0]) => c.listRuns({ ...query, cursor: undefined })
    })))
    const failures = await Promise.all(checkpointerContract(broken).map((check) => Effect.runPromise(Effect.either(check.run))))
    const failed = failures.filter((r) => r._tag === "Left").map((r) => (r._tag === "Left" ? r.left.check : ""))
    expect(failed.some((name) => name.startsWith("listRuns"))).toBe(true)
  })
})
