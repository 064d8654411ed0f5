/**
 * Schedules and webhooks of a graph whose live language-model node names no model, where
 * no default model or app `LanguageModel` is given: refused when registered (a server's
 * start from stargraph.yaml fails with `LanguageModelError[no-model]` naming the trigger,
 * the node and the fix; a cron or webhook trigger an app registers in code fails its
 * `init`, a `DispatchResult{success: false}`), and a tick or delivery for a graph that
 * became unrunnable creates no run (the tick's audit line and the delivery's 400 say why).
 * Real SQLite files, the TestClock for the schedule, real HMAC signatures.
 */
import { it as effectIt } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { describe, expect } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { SchedulerError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import * as DefaultModel from "../../src/nodes/lm/DefaultModel.js"
import { GraphRegistry, type GraphRegistryShape } from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { AuditSink, type AuditRecord } from "../../src/telemetry/AuditSink.js"
import * as CronTrigger from "../../src/triggers/CronTrigger.js"
import * as ProjectConfig from "../../src/triggers/ProjectConfig.js"
import { ExtraTriggers } from "../../src/triggers/Trigger.js"
import * as TriggerHost from "../../src/triggers/TriggerHost.js"
import * as WebhookTrigger from "../../src/triggers/WebhookTrigger.js"
import { join } from "node:path"
import { tempDir } from "../helpers/cli.js"

/** Graph `g:lm`: one dspy node, offline (`stub: true`) or naming no model. */
const lmGraph = (stub: boolean) =>
  Graph.make({
    ir_version: "1.0.0",
    id: "g:lm",
    state_schema: { fields: { message: { type: "string", default: "" }, answer: { type: "string", default: "" } } },
    nodes: [{ id: "ask", kind: "dspy", config: { signature: "message -> answer", ...(stub ? { stub: true } : {}) } }],
    edges: []
  })

/** A registry whose one graph can be swapped (a graph that became unrunnable), a Scheduler over it and a SQLite file. */
const stack = (filename: string, current: { graph: Graph.Graph }) => {
  const registry: GraphRegistryShape = {
    get: (id) => (id === current.graph.id ? Effect.succeed(current.graph) : Effect.fail(new SchedulerError({ reason: "unknown-graph", graphId: id, message: `no graph '${id}'`, fix: "-" }))),
    list: () => [current.graph],
    shownSource: () => null
  }
  return Scheduler.layer({ pollIntervalMs: 60_000 }).pipe(
    Layer.provideMerge(Layer.succeed(GraphRegistry, registry)),
    Layer.provideMerge(SqliteCheckpointer.layer({ filename }))
  )
}

const runs = Effect.flatMap(Checkpointer, (c) => Effect.map(c.listRuns({ limit: 100 }), (p) => p.runs))
const schedule = { id: "nightly", graph: "g:lm", cron: "0 * * * *", timezone: "UTC", catch_up: "none" as const }
const hook = { id: "hook", graph: "g:lm", secret_env: "S" }

describe("registering a schedule or webhook of a graph that needs a model", () => {
  effectIt.scoped("from stargraph.yaml: the start fails with LanguageModelError[no-model] naming the trigger and the node; a default model lets it start", () =>
    Effect.gen(function*() {
      const current = { graph: yield* lmGraph(false) }
      const filename = join(tempDir(), "db.sqlite")
      const startWith = (raw: unknown) =>
        Effect.flatMap(ProjectConfig.decode(raw, undefined), (config) => Effect.either(Effect.scoped(TriggerHost.start({ config, env: { S: "k" } }))))
      for (const [raw, trigger] of [[{ schedules: [schedule] }, "schedule 'nightly' (schedules[0] in stargraph.yaml)"], [{ webhooks: [hook] }, "webhook 'hook' (webhooks[0] in stargraph.yaml)"]] as const) {
        const refused = yield* startWith(raw).pipe(Effect.provide(stack(filename, current)))
        const error = Either.getLeft(refused)
        expect(error._tag === "Some" && error.value).toMatchObject({ _tag: "LanguageModelError", reason: "no-model", nodeId: "ask", attempts: 0 })
        expect(error._tag === "Some" && error.value.message).toContain(`${trigger} starts graph 'g:lm', whose every run would fail when it reached 'ask', so the trigger was not registered`)
        expect(error._tag === "Some" && error.value.fix).toContain("config.stub: true")
        const given = yield* startWith(raw).pipe(Effect.provide(stack(filename, current)), Effect.provide(DefaultModel.layer({ apiBase: "http://127.0.0.1:9/v1", model: "m" })))
        expect(Either.isRight(given)).toBe(true)
      }
      expect(yield* runs.pipe(Effect.provide(SqliteCheckpointer.layer({ filename })))).toEqual([])
    }))

  effectIt.scoped("in code (ExtraTriggers): the cron and webhook triggers' init fail, each a DispatchResult{success: false} naming the node", () =>
    Effect.gen(function*() {
      const current = { graph: yield* lmGraph(false) }
      const triggers = [yield* CronTrigger.make([schedule]), yield* WebhookTrigger.make([hook as unknown as WebhookTrigger.WebhookSpec], { S: "k" })]
      const started = yield* TriggerHost.start({}).pipe(
        Effect.provideService(ExtraTriggers, triggers),
        Effect.provide(stack(join(tempDir(), "db.sqlite"), current))
      )
      const failed = started.init.filter((r) => !r.success)
      expect(failed.map((r) => r.pluginName)).toEqual(["cron", "webhook"])
      for (const r of failed) {
        expect(r.error).toMatchObject({ _tag: "TriggerError", reason: "lifecycle-failed" })
        expect(r.error!.message).toMatch(/LanguageModelError: .*'ask'/)
      }
      // Not started: no webhook route is mounted.
      expect(started.routes).toEqual([])
    }))
})

describe("a tick or delivery for a graph that became unrunnable", () => {
  effectIt.scoped("the tick enqueues nothing and its audit line names the LanguageModelError; the delivery answers 400 with it; no run is created", () =>
    Effect.gen(function*() {
      const filename = join(tempDir(), "db.sqlite")
      const current = { graph: yield* lmGraph(true) }
      yield* TestClock.setTime(Date.parse("2026-11-25T00:30:00Z"))
      const lines: Array<AuditRecord> = []
      const collect = Layer.succeed(AuditSink, { write: (record) => Effect.sync(() => void lines.push(record)) })
      const out = yield* Effect.scoped(Effect.gen(function*() {
        const config = yield* ProjectConfig.decode({ schedules: [schedule], webhooks: [hook] }, undefined)
        const started = yield* TriggerHost.start({ config, env: { S: "k" } })
        yield* TestClock.adjust("1 hour")
        const first = (yield* runs).length
        // The graph is swapped for one whose node names no model (and none is given).
        current.graph = yield* lmGraph(false)
        yield* TestClock.adjust("1 hour")
        const route = started.routes.find((r) => r.path === "/v1/triggers/webhook/hook")!
        const body = JSON.stringify({ message: "hi" })
        const delivered = yield* route.handle({ headers: WebhookTrigger.sign("k", body, Math.floor((yield* Clock.currentTimeMillis) / 1000), "n1"), body: Buffer.from(body), params: {} })
        return { first, delivered, after: (yield* runs).length }
      })).pipe(Effect.provide(stack(filename, current)), Effect.provide(collect))
      expect(out.first).toBe(1)
      expect(out.after).toBe(1)
      const ticks = lines.filter((l) => l.event === "trigger.cron.tick")
      expect(ticks.map((t) => (t["error"] as { type?: string } | undefined)?.type ?? "ok")).toEqual(["ok", "LanguageModelError"])
      expect(out.delivered.status).toBe(400)
      expect(out.delivered.body).toMatchObject({ error: { type: "LanguageModelError" } })
    }))
})
