/**
 * The missing-model check on the paths past `stargraph run` and `POST /v1/runs`: the
 * library's `graph.start` (refused before `createRun`: no run row), `Graph.resume`, the
 * CLI's `resume`/`respond` and `POST /v1/runs/{id}/resume|respond` (refused before the run
 * changes: its record and checkpoints as they were; exit 2, HTTP 400 with the
 * `LanguageModelError` envelope). A default model given where it resumes, or kept on the
 * run's record, lets it through; a node the run still pauses before is not concerned. Real
 * graph files, a real SQLite file, the built CLI, a real server on 127.0.0.1 and a real
 * OpenAI-compatible server.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { afterEach, describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Stream from "effect/Stream"
import * as DefaultModel from "../../src/nodes/lm/DefaultModel.js"
import * as Serve from "../../src/serve/server.js"
import { stargraph, tempDir } from "../helpers/cli.js"
import * as OpenAi from "../helpers/openaiServer.js"
import { call, waitFor } from "../helpers/server.js"

const header = ["ir_version: \"1.0.0\"", "state_schema: { fields: { question: { type: string, default: \"why?\" }, answer: { type: string, default: \"\" }, reply: { type: string, default: \"\" } } }", "nodes:"]

/** `waits.yaml`: an interrupt, then a modelless dspy node; `paused.yaml`: a set node, then the dspy node. */
const writeGraphs = (dir: string) => {
  writeFileSync(join(dir, "waits.yaml"), [
    ...header.slice(0, 1), "id: waits", ...header.slice(1),
    "  - { id: wait, kind: interrupt, prompt: \"Go?\", response_field: reply }",
    "  - { id: ask, kind: dspy, config: { signature: \"question -> answer\" } }",
    "edges: [{ from: wait, to: ask }]", ""
  ].join("\n"))
  writeFileSync(join(dir, "paused.yaml"), [
    ...header.slice(0, 1), "id: paused", ...header.slice(1),
    "  - { id: first, kind: set, values: { reply: \"-\" } }",
    "  - { id: ask, kind: dspy, config: { signature: \"question -> answer\" } }",
    "edges: [{ from: first, to: ask }]", ""
  ].join("\n"))
  return { waits: join(dir, "waits.yaml"), paused: join(dir, "paused.yaml") }
}

/**
 * A run of `file` driven until it stops, made as a Scheduler makes the runs it queued
 * (`newRun` and `open`: no model check at its start), without a default model on its record.
 */
const stoppedRun = (file: string, db: string, breakpoints?: { readonly before: ReadonlyArray<string>; readonly after: ReadonlyArray<string> }) =>
  Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.load(file)
    const checkpointer = yield* Checkpointer
    const prepared = yield* graph.newRun({ inputs: {}, breakpoints })
    const { record } = yield* checkpointer.createRun(prepared)
    const handle = yield* graph.open(record, { ...prepared.initial, run_id: record.run_id })
    const summary = yield* handle.start()
    return { runId: record.run_id, status: summary.status }
  }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))

/** The run's record and checkpoints as stored (what a refused resume must leave as it was). */
const stored = (db: string, runId: string) =>
  Effect.runPromise(Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    return { run: Option.getOrThrow(yield* checkpointer.getRun(runId)), checkpoints: (yield* checkpointer.listCheckpoints(runId)).length }
  }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => undefined)
})

describe("the library: graph.start and Graph.resume", () => {
  it("graph.start fails with LanguageModelError[no-model] before createRun (no run row); a node it pauses before, or a default model, lets it start", async () => {
    const dir = tempDir()
    const { paused } = writeGraphs(dir)
    const db = join(dir, "runs.sqlite")
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(paused)
      expect(graph.needsModel).toEqual(["ask"])
      const refused = yield* Effect.flip(graph.start({ idempotencyKey: "k1" }))
      const after = (yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 10 }))).runs.length
      const before = yield* graph.start({ interruptBefore: ["ask"] })
      const given = yield* graph.start().pipe(Effect.provide(DefaultModel.layer({ apiBase: "http://127.0.0.1:9/v1", model: "m" })))
      return { refused, after, started: [before.runId, given.runId] }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(out.refused).toMatchObject({ _tag: "LanguageModelError", reason: "no-model", nodeId: "ask", attempts: 0 })
    expect(out.refused._tag === "LanguageModelError" && out.refused.fix).toContain("DefaultModel layer")
    expect(out.after).toBe(0)
    expect(out.started).toHaveLength(2)
  })

  it("Graph.resume of a run stopped before the node refuses before anything changes; with a default model it is done", async () => {
    const model = await OpenAi.start({ respond: () => "{\"answer\": \"42\"}" })
    closers.push(() => model.close())
    const dir = tempDir()
    const { paused, waits } = writeGraphs(dir)
    const db = join(dir, "runs.sqlite")
    // Paused at a breakpoint before 'ask': resuming runs 'ask' next.
    const atBreakpoint = await stoppedRun(paused, db, { before: ["ask"], after: [] })
    expect(atBreakpoint.status).toBe("awaiting-input")
    const waiting = await stoppedRun(waits, db)
    expect(waiting.status).toBe("awaiting-input")
    const before = [await stored(db, atBreakpoint.runId), await stored(db, waiting.runId)]
    const resumeWith = (file: string, runId: string, options: Graph.ResumeOptions, provide = false) =>
      Effect.runPromise(Effect.either(Effect.gen(function*() {
        const graph = yield* Graph.load(file)
        const handle = yield* graph.resume(runId, options)
        return yield* handle.start()
      }).pipe(
        (e) => (provide ? Effect.provide(e, DefaultModel.layer({ apiBase: model.url, model: "default-model" })) : e),
        Effect.provide(SqliteCheckpointer.layer({ filename: db }))
      )))
    const refused = await resumeWith(paused, atBreakpoint.runId, {})
    expect(Either.getLeft(refused).pipe(Option.getOrUndefined)).toMatchObject({ _tag: "LanguageModelError", reason: "no-model", nodeId: "ask", attempts: 0 })
    expect(Either.getLeft(refused).pipe(Option.getOrThrow).message).toContain("so it was not resumed (nothing was changed)")
    expect(Either.getLeft(refused).pipe(Option.getOrThrow)).toMatchObject({ refusedAt: "resume" })
    expect([await stored(db, atBreakpoint.runId), await stored(db, waiting.runId)]).toEqual(before)
    // Given a default model where it resumes: it goes on and is done.
    const done = await resumeWith(waits, waiting.runId, { response: { value: "go" } }, true)
    expect(Either.getOrUndefined(done)).toMatchObject({ status: "done", final_state: { answer: "42", reply: "go" } })
  })
})

/** A server on 127.0.0.1 over `db`, without a default model unless given one. */
const bootWith = async (options: Serve.ServeOptions, defaultModel?: Parameters<typeof DefaultModel.layer>[0]) => {
  const scope = Effect.runSync(Scope.make())
  const start = Serve.start({ port: 0, host: "127.0.0.1", ...options })
  const started = await Effect.runPromise((defaultModel === undefined ? start : start.pipe(Effect.provide(DefaultModel.layer(defaultModel)))).pipe(Scope.extend(scope)))
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  closers.push(close)
  return started
}

describe("Graph.resume of a run past its language-model node", () => {
  it("is not refused when the node is not among the nodes it runs next (a run started under an app LanguageModel keeps no default model)", async () => {
    const dir = tempDir()
    const file = join(dir, "after.yaml")
    writeFileSync(file, [
      ...header.slice(0, 1), "id: after", ...header.slice(1),
      "  - { id: ask, kind: dspy, config: { signature: \"question -> answer\" } }",
      "  - { id: wait, kind: interrupt, prompt: \"Ok?\", response_field: reply }",
      "edges: [{ from: ask, to: wait }]", ""
    ].join("\n"))
    const db = join(dir, "runs.sqlite")
    // Started under an app's LanguageModel ('ask' calls it), then waiting at 'wait': no default model on its record.
    const app = await Effect.runPromise(LanguageModel.make({
      generateText: () => Effect.succeed([{ type: "text", text: "{\"answer\": \"42\"}" }, { type: "finish", reason: "stop", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }] as never),
      streamText: () => Stream.die("not streamed")
    }))
    const first = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(file)
      return yield* Effect.flatMap(graph.start({ inputs: {} }), (r) => r.start())
    }).pipe(Effect.provideService(LanguageModel.LanguageModel, app), Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(first.status).toBe("awaiting-input")
    expect(await stored(db, first.run_id)).toMatchObject({ run: { default_model: null } })
    const done = await Effect.runPromise(Effect.either(Effect.gen(function*() {
      const graph = yield* Graph.load(file)
      return yield* Effect.flatMap(graph.resume(first.run_id, { response: { value: "yes" } }), (r) => r.start())
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db })))))
    expect(Either.getOrUndefined(done)).toMatchObject({ status: "done", final_state: { answer: "42", reply: "yes" } })
  })
})

describe("POST /v1/runs/{id}/resume and /respond", () => {
  it("answer 400 with the LanguageModelError envelope and leave the run as it was; a server given a default model drives it to done", async () => {
    const dir = tempDir()
    const { paused, waits } = writeGraphs(dir)
    const db = join(dir, "runs.sqlite")
    const atBreakpoint = await stoppedRun(paused, db, { before: ["ask"], after: [] })
    const waiting = await stoppedRun(waits, db)
    const before = [await stored(db, atBreakpoint.runId), await stored(db, waiting.runId)]
    const server = await bootWith({ db, graphs: [dir], scheduler: { pollIntervalMs: 50 } })
    const resumed = await call(`${server.url}/v1/runs/${atBreakpoint.runId}/resume`, {})
    expect(resumed.status).toBe(400)
    expect(resumed.body["error"]).toMatchObject({ type: "LanguageModelError" })
    expect(JSON.stringify(resumed.body)).toContain("--lm-url")
    // Nothing changed (a poll of the server's queue included).
    await new Promise((r) => setTimeout(r, 200))
    expect([await stored(db, atBreakpoint.runId), await stored(db, waiting.runId)]).toEqual(before)
    await closers.pop()!()
    const model = await OpenAi.start({ respond: () => "{\"answer\": \"42\"}" })
    closers.push(() => model.close())
    const given = await bootWith({ db, graphs: [dir], scheduler: { pollIntervalMs: 50 } }, { apiBase: model.url, model: "default-model" })
    expect((await call(`${given.url}/v1/runs/${waiting.runId}/respond`, { response: "go" })).status).toBe(202)
    const done = await waitFor(`${given.url}/v1/runs/${waiting.runId}`, (b) => b["status"] === "done" || b["status"] === "failed")
    expect(done.body).toMatchObject({ status: "done", final_state: { answer: "42" } })
  })
})

describe("stargraph resume and respond", () => {
  it("refuse with exit 2 and LanguageModelError[no-model] before the run changes; --lm-url/--lm-model let it through", async () => {
    const dir = tempDir()
    const { paused, waits } = writeGraphs(dir)
    const db = join(dir, "runs.sqlite")
    const atBreakpoint = await stoppedRun(paused, db, { before: ["ask"], after: [] })
    const waiting = await stoppedRun(waits, db)
    const before = [await stored(db, atBreakpoint.runId), await stored(db, waiting.runId)]
    const resumed = await stargraph(["resume", atBreakpoint.runId, "--db", db], { cwd: dir })
    expect(resumed.code).toBe(2)
    expect(resumed.stderr).toMatch(/^error: LanguageModelError\[no-model\]: node 'ask' before the run was resumed: .*not resumed \(nothing was changed\) \(fix: pass --lm-url/m)
    expect([await stored(db, atBreakpoint.runId), await stored(db, waiting.runId)]).toEqual(before)
    const model = await OpenAi.start({ respond: () => "{\"answer\": \"42\"}" })
    closers.push(() => model.close())
    const given = await stargraph(["resume", atBreakpoint.runId, "--db", db, "--lm-url", model.url, "--lm-model", "default-model", "--quiet"], { cwd: dir })
    expect(given.code).toBe(0)
    expect(given.stdout).toContain("status=done")
  })
})
