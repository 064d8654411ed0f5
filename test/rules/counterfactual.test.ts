/**
 * Counterfactuals over rules: a fork that asserts a fact takes another branch, a fork on
 * another pack version runs that version's rules, and a plain replay stays identical
 * (same derived_hash, no fact differences).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"

const graphYaml = `ir_version: "1.0.0"
id: run:cf-rules
state_schema: { risk: str }
nodes:
  - { id: classify, kind: passthrough }
  - { id: review, kind: halt }
  - { id: ship, kind: halt }
governance:
  - { id: demo.routing, version: "1.0.0" }
rules:
  - id: r-escalated
    salience: 10
    when: "(node-id (id classify)) (escalate)"
    then: [{ kind: goto, target: review }]
`

const pack = (version: string, high: string, low: string) => ({
  "manifest.yaml": `id: demo.routing\nversion: "${version}"\nrequires: { stargraph_facts_version: "1.0", api_version: "1" }\n`,
  "rules.yaml": `rules:
  - { id: p-high, when: { node: classify, risk: high }, then: [{ kind: goto, target: ${high} }] }
  - { id: p-low, when: { node: classify, risk: low }, then: [{ kind: goto, target: ${low} }] }
`
})

const project = () => {
  const dir = tempDir()
  writeFileSync(join(dir, "graph.yaml"), graphYaml)
  for (const [version, files] of [["1.0.0", pack("1.0.0", "review", "ship")], ["1.1.0", pack("1.1.0", "ship", "ship")]] as const) {
    const packDir = join(dir, "packs", "demo.routing", version)
    mkdirSync(packDir, { recursive: true })
    for (const [name, text] of Object.entries(files)) writeFileSync(join(packDir, name), text)
  }
  return join(dir, "graph.yaml")
}

const nodes = (checkpoints: ReadonlyArray<{ readonly node: string }>) => checkpoints.slice(1).map((c) => c.node)

describe("counterfactuals over rules", () => {
  it("a fork asserting a fact, one on another pack version, and a plain replay", async () => {
    const file = project()
    const result = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(file)
      const checkpointer = yield* Checkpointer
      const low = yield* Effect.flatMap(graph.start({ inputs: { risk: "low" } }), (r) => r.start())
      const high = yield* Effect.flatMap(graph.start({ inputs: { risk: "high" } }), (r) => r.start())
      const escalated = yield* Replay.fork(graph, low.run_id, { fromStep: 1, mutation: { facts_assert: ["(escalate)"] } })
      const newPolicy = yield* Replay.fork(graph, high.run_id, { fromStep: 1, mutation: { rule_pack_version: "demo.routing@1.1.0" } })
      const replayA = yield* Replay.fork(graph, high.run_id)
      const replayB = yield* Replay.fork(graph, high.run_id)
      const fromZero = yield* Replay.fork(graph, low.run_id, { fromStep: 0, mutation: { facts_assert: ["(escalate)"] } })
      const overridden = yield* Replay.fork(graph, low.run_id, { fromStep: 1, mutation: { state_overrides: { risk: "high" } } })
      const list = (id: string) => checkpointer.listCheckpoints(id)
      return {
        graph,
        low: yield* list(low.run_id),
        high: yield* list(high.run_id),
        escalated,
        escalatedSteps: yield* list(escalated.cfRunId),
        newPolicy,
        newPolicySteps: yield* list(newPolicy.cfRunId),
        replayA,
        replayB,
        fromZero,
        overridden
      }
    }).pipe(Effect.provide(MemoryCheckpointer.layer)))

    expect(nodes(result.low)).toEqual(["classify", "ship"])
    expect(nodes(result.high)).toEqual(["classify", "review"])
    expect(result.graph.rules.packs.map((p) => `${p.id}@${p.version}`)).toEqual(["demo.routing@1.0.0"])

    // The asserted fact re-routes the fork step: review instead of ship.
    expect(result.escalated.summary.status).toBe("done")
    expect(nodes(result.escalatedSteps)).toEqual(["classify", "review"])
    expect(result.escalated.diff.added_steps).toEqual([{ step: 2, node: "review" }])
    expect(result.escalated.diff.removed_steps).toEqual([{ step: 2, node: "ship" }])
    expect(result.escalated.diff.fact_deltas["1:classify"]?.asserted).toContain("(escalate)")

    // Pack 1.1.0 ships high risk: the fork runs that version's rules.
    expect(nodes(result.newPolicySteps)).toEqual(["classify", "ship"])
    expect(result.newPolicySteps[1]!.rules?.firings.map((f) => f.rule)).toEqual(["p-high"])

    // A replay without a mutation is identical: same derived_hash, empty diff.
    expect(result.replayA.derivedHash).toBe(result.replayB.derivedHash)
    expect(result.replayA.cfRunId).not.toBe(result.replayB.cfRunId)
    expect(result.replayA.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {}, fact_deltas: {} })

    // A fork from step 0: the parent's step 0 stands for a fresh working memory, so only the asserted fact differs.
    expect(result.fromZero.diff.fact_deltas["0:__input__"]).toEqual({ asserted: ["(escalate)"], retracted: [] })
    // Deltas leave out the slots that name the run or the time, in the comparison and in the text.
    const texts = Object.values(result.overridden.diff.fact_deltas).flatMap((d) => [...d.asserted, ...d.retracted])
    expect(texts.some((t) => t.startsWith("(risk (value \"high\")"))).toBe(true)
    expect(texts.filter((t) => /_run_id|_timestamp/.test(t))).toEqual([])
  })

  it("a fact that does not fit a template, an unknown pack version, or a pack version for a pack the graph does not mount, is refused before anything is written", async () => {
    const file = project()
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(file)
      const parent = yield* Effect.flatMap(graph.start({ inputs: { risk: "low" } }), (r) => r.start())
      const badFact = yield* Effect.either(Replay.fork(graph, parent.run_id, { fromStep: 1, mutation: { facts_assert: [{ template: "no-such-template", slots: {} }] } }))
      const badVersion = yield* Effect.either(Replay.fork(graph, parent.run_id, { fromStep: 1, mutation: { rule_pack_version: "9.9.9" } }))
      const badPack = yield* Effect.either(Replay.fork(graph, parent.run_id, { fromStep: 1, mutation: { rule_pack_version: "no.such.pack@1.0.0" } }))
      // A graph without packs has no version to choose.
      const plain = yield* Graph.make({ ir_version: "1.0.0", id: "run:plain", state_schema: { risk: "str" }, nodes: [{ id: "a", kind: "passthrough" }] })
      const plainParent = yield* Effect.flatMap(plain.start({ inputs: { risk: "low" } }), (r) => r.start())
      const noPacks = yield* Effect.either(Replay.fork(plain, plainParent.run_id, { fromStep: 0, mutation: { rule_pack_version: "2026.11" } }))
      const runs = yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({}))
      return { badFact, badVersion, badPack, noPacks, runs: runs.runs.length }
    }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(Either.isLeft(outcome.badFact) && outcome.badFact.left._tag).toBe("InputError")
    expect(Either.isLeft(outcome.badVersion) && outcome.badVersion.left._tag).toBe("InputError")
    expect(Either.isLeft(outcome.badVersion) && outcome.badVersion.left.message).toMatch(/has no version 9\.9\.9; found: 1\.0\.0/)
    expect(Either.isLeft(outcome.badPack) && outcome.badPack.left).toMatchObject({ _tag: "InputError", field: "mutation.rule_pack_version" })
    expect(Either.isLeft(outcome.badPack) && outcome.badPack.left.message).toMatch(/pack 'no\.such\.pack' is not mounted by the graph \(it mounts: /)
    expect(Either.isLeft(outcome.noPacks) && outcome.noPacks.left).toMatchObject({ _tag: "InputError", field: "mutation.rule_pack_version" })
    expect(Either.isLeft(outcome.noPacks) && outcome.noPacks.left.message).toMatch(/the graph mounts no governance packs/)
    expect(Either.isLeft(outcome.noPacks) && outcome.noPacks.left._tag === "InputError" && outcome.noPacks.left.fix).toMatch(/^leave out rule_pack_version/)
    expect(outcome.runs).toBe(2)
  })
})
