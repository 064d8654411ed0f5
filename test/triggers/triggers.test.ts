import { mkdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it as effectIt } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as GraphRegistry from "../../src/scheduler/GraphRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import * as CronTrigger from "../../src/triggers/CronTrigger.js"
import { AuditSink, type AuditRecord } from "../../src/telemetry/AuditSink.js"
import { disabledMetrics, Metrics } from "../../src/telemetry/Metrics.js"
import { NodeModuleError, SchedulerError, StargraphRuntimeError } from "../../src/errors.js"
import { describeFailure, dispatchTriggerLifecycle } from "../../src/triggers/Dispatcher.js"
import { envelopeOf, redact } from "../../src/triggers/httpError.js"
import { MAX_BODY_DEPTH, nestsDeeperThan } from "../../src/triggers/jsonDepth.js"
import { makePluginDeps } from "../../src/triggers/PluginDeps.js"
import * as ProjectConfig from "../../src/triggers/ProjectConfig.js"
import { ExtraTriggers, type Trigger, type TriggerDeps } from "../../src/triggers/Trigger.js"
import { decodeTriggerEvent, idempotencyKeyOf, pluginKey } from "../../src/triggers/TriggerEvent.js"
import * as TriggerHost from "../../src/triggers/TriggerHost.js"
import * as WebhookTrigger from "../../src/triggers/WebhookTrigger.js"
import { ROOT, tempDir } from "../helpers/cli.js"

const ir = {
  ir_version: "1.0.0",
  id: "g:echo",
  state_schema: { fields: { message: { type: "string", default: "" }, seen: { type: "boolean", default: false } } },
  nodes: [{ id: "mark", kind: "set", values: { seen: true } }],
  edges: []
}

const stack = (filename: string, graphIr: typeof ir = ir, modules?: Graph.MakeOptions["modules"]) =>
  Layer.unwrapEffect(Effect.map(Graph.make(graphIr, modules === undefined ? {} : { modules }), (g) =>
    Scheduler.layer({ pollIntervalMs: 60_000 }).pipe(
      Layer.provideMerge(GraphRegistry.layer([g])),
      Layer.provideMerge(SqliteCheckpointer.layer({ filename }))
    )))

const countRuns = Effect.flatMap(Checkpointer, (c) => Effect.map(c.listRuns({ limit: 500 }), (p) => p.runs))

describe("trigger dispatcher", () => {
  it("isolates a trigger whose init throws and one whose start dies; the good ones still run", async () => {
    const calls: Array<string> = []
    const good = (name: string): Trigger => ({
      name,
      init: () => void calls.push(`${name}.init`),
      start: () => Promise.resolve(void calls.push(`${name}.start`)),
      stop: () => Effect.sync(() => void calls.push(`${name}.stop`)),
      routes: () => []
    })
    const throwsInInit: Trigger = { ...good("bad-init"), init: () => { throw new Error("no config") } }
    const diesInStart: Trigger = { ...good("bad-start"), start: () => Effect.die("boom") }
    const triggers = [good("one"), throwsInInit, diesInStart, good("two")]
    const deps = {} as TriggerDeps
    const [init, start] = await Effect.runPromise(Effect.all([
      dispatchTriggerLifecycle("init", triggers, deps),
      dispatchTriggerLifecycle("start", triggers, deps)
    ]))
    expect(init.map((r) => [r.pluginName, r.success])).toEqual([["one", true], ["bad-init", false], ["bad-start", true], ["two", true]])
    expect(init[1]!.error).toMatchObject({ _tag: "TriggerError", reason: "lifecycle-failed", triggerId: "bad-init" })
    expect(init[1]!.error!.message).toContain("no config")
    expect(start.map((r) => r.success)).toEqual([true, true, false, true])
    expect(start[2]!.error!.message).toContain("boom")
    expect(calls).toEqual(["one.init", "bad-start.init", "two.init", "one.start", "bad-init.start", "two.start"])
  })

  it("a hook that never settles (a start that is its own poll loop) is reported failed after the timeout; the triggers after it still start", async () => {
    let polling = false
    const looping: Trigger = {
      name: "looping",
      init: () => undefined,
      start: async () => {
        polling = true
        while (polling) await new Promise((r) => setTimeout(r, 20))
      },
      stop: () => void (polling = false),
      routes: () => []
    }
    const started: Array<string> = []
    const after: Trigger = { ...looping, name: "after", start: () => void started.push("after") }
    const results = await Effect.runPromise(dispatchTriggerLifecycle("start", [looping, after], {} as TriggerDeps, 150))
    expect(results.map((r) => [r.pluginName, r.success])).toEqual([["looping", false], ["after", true]])
    expect(results[0]!.error).toMatchObject({ _tag: "TriggerError", reason: "lifecycle-failed", triggerId: "looping", message: "start did not finish within 150 ms" })
    expect(results[0]!.error!.fix).toContain("start a poll loop without awaiting it")
    expect(started).toEqual(["after"])
    // Its stop still ends the loop it started.
    const stopped = await Effect.runPromise(dispatchTriggerLifecycle("stop", [looping], {} as TriggerDeps, 150))
    expect(stopped[0]!.success).toBe(true)
    expect(polling).toBe(false)
  })
})

describe("TriggerEvent", () => {
  it("rejects unknown fields and accepts a well-formed event", async () => {
    const bad = await Effect.runPromise(Effect.either(decodeTriggerEvent({
      trigger_id: "cron:x", scheduled_fire: "2026-01-01T00:00:00Z", idempotency_key: "k", payload: {}, extra: 1
    })))
    expect(Either.isLeft(bad) && bad.left).toMatchObject({ _tag: "InputError", field: "extra" })
    const good = await Effect.runPromise(decodeTriggerEvent({
      trigger_id: "cron:x", scheduled_fire: "2026-01-01T00:00:00Z", idempotency_key: "k", payload: { a: 1 }
    }))
    expect(good.payload).toEqual({ a: 1 })
  })
})

describe("cron trigger", () => {
  const spec = (over: Partial<Record<string, unknown>> = {}) =>
    ({ id: "nightly", graph: "g:echo", cron: "0 2 * * *", timezone: "Europe/Berlin", params: { message: "tick" }, catch_up: "latest", ...over }) as CronTrigger.CronSpec

  it("refuses an invalid expression, a six-field one, one that never fires, an unknown time zone and duplicate ids", async () => {
    const results = await Effect.runPromise(Effect.all([
      Effect.either(CronTrigger.make([spec({ cron: "61 * * * *" })])),
      Effect.either(CronTrigger.make([spec({ cron: "* * * * * *" })])),
      Effect.either(CronTrigger.make([spec({ cron: "0 0 31 2 *" })])),
      Effect.either(CronTrigger.make([spec({ timezone: "Mars/Olympus" })])),
      Effect.either(CronTrigger.make([spec(), spec()])),
      Effect.either(CronTrigger.make([spec({ catch_up: "every" })]))
    ]))
    expect(results.map((r) => Either.isLeft(r) && r.left.reason)).toEqual(["invalid-cron", "invalid-cron", "invalid-cron", "unknown-timezone", "duplicate-trigger", "invalid-config"])
    expect(results.map((r) => Either.isLeft(r) && r.left.triggerId)).toEqual(["cron:nightly", "cron:nightly", "cron:nightly", "cron:nightly", "cron:nightly", "cron:nightly"])
    expect(results.map((r) => Either.isLeft(r) && r.left.message).slice(1, 3)).toEqual([
      "invalid cron expression '* * * * * *': 6 fields, not five",
      "invalid cron expression '0 0 31 2 *': it never fires (no date matches it)"
    ])
  })

  it("says an empty expression is empty, and counts a one-field one as one field", async () => {
    const results = await Effect.runPromise(Effect.all([
      Effect.either(CronTrigger.make([spec({ cron: "" })])),
      Effect.either(CronTrigger.make([spec({ cron: "   " })])),
      Effect.either(CronTrigger.make([spec({ cron: "@daily" })]))
    ]))
    expect(results.map((r) => Either.isLeft(r) && r.left.message)).toEqual([
      "invalid cron expression '': the expression is empty",
      "invalid cron expression '   ': the expression is empty",
      "invalid cron expression '@daily': 1 field, not five"
    ])
  })

  effectIt.scoped("enqueues exactly one run per tick, with key sha256(trigger_id || scheduled_fire), and never twice across restarts", () =>
    Effect.gen(function*() {
      const filename = join(tempDir(), "db.sqlite")
      // 2026-11-25 00:00 UTC; ticks at 02:00 Berlin = 01:00 UTC.
      yield* TestClock.setTime(Date.parse("2026-11-25T00:00:00Z"))
      const everyTick = [spec({ cron: "0 * * * *", timezone: "UTC" })]
      const session = (hours: number) =>
        Effect.scoped(Effect.gen(function*() {
          yield* TriggerHost.start({ config: { config: yield* decodeConfig(everyTick), graphPaths: [], plugins: [], file: undefined } })
          yield* TestClock.adjust(`${hours} hours`)
          return yield* countRuns
        })).pipe(Effect.provide(stack(filename)))
      const first = yield* session(3)
      expect(first).toHaveLength(3)
      const keys = first.map((r) => r.idempotency_key).sort()
      const expected = ["01", "02", "03"].map((h) => idempotencyKeyOf("cron:nightly", `2026-11-25T${h}:00:00.000Z`)).sort()
      expect(keys).toEqual(expected)
      // Two "processes" on one DB with the same schedule: each tick still runs once.
      const both = yield* Effect.scoped(Effect.gen(function*() {
        const config = { config: yield* decodeConfig(everyTick), graphPaths: [], plugins: [], file: undefined }
        yield* TriggerHost.start({ config })
        yield* TriggerHost.start({ config }).pipe(Effect.provide(stack(filename)))
        yield* TestClock.adjust("2 hours")
        return yield* countRuns
      })).pipe(Effect.provide(stack(filename)))
      expect(both).toHaveLength(5)
    }))

  effectIt.scoped("writes one audit line per tick, naming its run; a tick another process already enqueued says deduplicated (and is counted so); one that failed, its error", () =>
    Effect.gen(function*() {
      const filename = join(tempDir(), "db.sqlite")
      yield* TestClock.setTime(Date.parse("2026-11-25T00:00:00Z"))
      const lines: Array<AuditRecord> = []
      const collect = Layer.succeed(AuditSink, { write: (record) => Effect.sync(() => void lines.push(record)) })
      // The dispatches both processes count (as /metrics would show them), by outcome.
      const dispatches: Array<string> = []
      const counted = Layer.succeed(Metrics, { ...disabledMetrics, triggerDispatched: (id, kind, outcome) => void dispatches.push(`${id} ${kind} ${outcome}`) })
      const config = { config: yield* decodeConfig([spec({ cron: "0 * * * *", timezone: "UTC" })]), graphPaths: [], plugins: [], file: undefined }
      const runs = yield* Effect.scoped(Effect.gen(function*() {
        yield* TriggerHost.start({ config })
        // A second process on the same database, with its own Scheduler for the whole scope.
        yield* TriggerHost.start({ config }).pipe(Effect.provide(yield* Layer.build(stack(filename))))
        yield* TestClock.adjust("2 hours")
        return yield* countRuns
      })).pipe(Effect.provide(stack(filename)), Effect.provide(collect), Effect.provide(counted))
      const ticks = lines.filter((l) => l.event === "trigger.cron.tick")
      expect(ticks).toHaveLength(4)
      // Each tick's run once as a success over both processes: the other process found it.
      expect(dispatches.sort()).toEqual(["cron:nightly cron deduplicated", "cron:nightly cron deduplicated", "cron:nightly cron success", "cron:nightly cron success"])
      for (const hour of ["01", "02"]) {
        const scheduled = `2026-11-25T${hour}:00:00.000Z`
        const run = runs.find((r) => r.idempotency_key === idempotencyKeyOf("cron:nightly", scheduled))!
        const mine = ticks.filter((t) => t["scheduled_for"] === scheduled)
        expect(mine.map((t) => ({ actor: t.actor, graph_id: t["graph_id"], run_id: t["run_id"], ts: t.ts }))).toEqual([0, 1].map(() => ({ actor: "cron:nightly", graph_id: "g:echo", run_id: run.run_id, ts: scheduled })))
        expect(mine.map((t) => t["deduplicated"]).sort()).toEqual([false, true])
      }
      // A schedule whose Scheduler has shut down (its layer is released once the start returns): the tick's line says why no run.
      lines.length = 0
      yield* Effect.scoped(Effect.zipRight(TriggerHost.start({ config }).pipe(Effect.provide(stack(filename))), TestClock.adjust("1 hour"))).pipe(Effect.provide(collect))
      expect(lines.filter((l) => l.event === "trigger.cron.tick")).toEqual([{
        ts: "2026-11-25T03:00:00.000Z",
        actor: "cron:nightly",
        event: "trigger.cron.tick",
        graph_id: "g:echo",
        scheduled_for: "2026-11-25T03:00:00.000Z",
        error: { type: "SchedulerError", message: "the scheduler is shutting down" }
      }])
    }))

  effectIt.scoped("catches up only the latest tick missed while down (default policy)", () =>
    Effect.gen(function*() {
      const filename = join(tempDir(), "db.sqlite")
      yield* TestClock.setTime(Date.parse("2026-11-25T00:30:00Z"))
      const hourly = [spec({ cron: "0 * * * *", timezone: "UTC" })]
      const config = { config: yield* decodeConfig(hourly), graphPaths: [], plugins: [], file: undefined }
      // First start records the cursor; nothing is due yet.
      yield* Effect.scoped(Effect.zipRight(TriggerHost.start({ config }), TestClock.adjust("1 second"))).pipe(Effect.provide(stack(filename)))
      // Down for 5 hours (the clock moves with no trigger running), then restart.
      yield* TestClock.setTime(Date.parse("2026-11-25T05:30:00Z"))
      const runs = yield* Effect.scoped(Effect.gen(function*() {
        yield* TriggerHost.start({ config })
        yield* TestClock.adjust("1 second") // let the schedule's fiber run its catch-up
        return yield* countRuns
      })).pipe(Effect.provide(stack(filename)))
      expect(runs).toHaveLength(1)
      expect(runs[0]!.idempotency_key).toBe(idempotencyKeyOf("cron:nightly", "2026-11-25T05:00:00.000Z"))
    }))
})

const decodeConfig = (schedules: ReadonlyArray<CronTrigger.CronSpec>) =>
  Effect.map(ProjectConfig.decode({ schedules }, undefined), (r) => r.config)

describe("webhook trigger", () => {
  const SECRET = "s3cret"
  const specs = [{ id: "nvd-mirror", graph: "g:echo", secret_env: "NVD_SECRET", window_s: 300, max_body_bytes: 4096, params: {} }] as unknown as ReadonlyArray<WebhookTrigger.WebhookSpec>

  it("refuses a spec whose secret is not set", async () => {
    const result = await Effect.runPromise(Effect.either(WebhookTrigger.make(specs, {})))
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "TriggerError", reason: "missing-secret", triggerId: "webhook:nvd-mirror" })
    expect(Either.isLeft(result) && result.left.fix).toContain("NVD_SECRET")
  })

  it("accepts only signed, fresh JSON whose nonce no other delivery used; every refusal is distinct and enqueues nothing", async () => {
    const filename = join(tempDir(), "db.sqlite")
    const out = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const started = yield* TriggerHost.start({
        config: yield* ProjectConfig.decode({ webhooks: specs }, undefined),
        env: { NVD_SECRET: SECRET }
      })
      const route = started.routes.find((r) => r.path === "/v1/triggers/webhook/nvd-mirror")!
      const now = Math.floor(Date.now() / 1000)
      const call = (body: string, headers: Record<string, string>) =>
        route.handle({ headers, body: Buffer.from(body), params: {} })
      const body = JSON.stringify({ message: "CVE-2026-0001" })
      const ok = yield* call(body, WebhookTrigger.sign(SECRET, body, now, "n1"))
      // The sender retries the same delivery: the exact request again.
      const retried = yield* call(body, WebhookTrigger.sign(SECRET, body, now, "n1"))
      // The same body as a new delivery (a chat user's second "yes"): a new nonce.
      const fresh = yield* call(body, WebhookTrigger.sign(SECRET, body, now, "n2"))
      // A nonce another delivery used, with another body or timestamp: refused.
      const otherBody = JSON.stringify({ message: "CVE-2026-0009" })
      const replayed = yield* call(otherBody, WebhookTrigger.sign(SECRET, otherBody, now, "n1"))
      const replayedLater = yield* call(body, WebhookTrigger.sign(SECRET, body, now + 1, "n1"))
      const badSig = yield* call(body, WebhookTrigger.sign("wrong", body, now, "n3"))
      const signed = WebhookTrigger.sign(SECRET, body, now, "n9")
      const noPrefix = yield* call(body, { ...signed, "x-stargraph-signature": signed["x-stargraph-signature"]!.slice("sha256=".length) })
      const stale = yield* call(body, WebhookTrigger.sign(SECRET, body, now - 301, "n4"))
      const huge = "{\"message\":\"" + "x".repeat(5000) + "\"}"
      const tooLarge = yield* call(huge, WebhookTrigger.sign(SECRET, huge, now, "n5"))
      const notJson = yield* call("not json", WebhookTrigger.sign(SECRET, "not json", now, "n6"))
      const noHeaders = yield* call(body, {})
      const deep = `{"message":${"[".repeat(600)}${"]".repeat(600)}}`
      const tooDeep = yield* call(deep, WebhookTrigger.sign(SECRET, deep, now, "n8"))
      const other = JSON.stringify({ message: "CVE-2026-0002" })
      const second = yield* call(other, WebhookTrigger.sign(SECRET, other, now, "n7"))
      const runs = yield* countRuns
      return { ok, retried, fresh, replayed, replayedLater, badSig, noPrefix, stale, tooLarge, notJson, noHeaders, tooDeep, second, runs }
    })).pipe(Effect.provide(stack(filename))))
    expect(out.ok.status).toBe(202)
    const okBody = out.ok.body as { run_id: string; deduplicated: boolean }
    expect(okBody.deduplicated).toBe(false)
    // A retried delivery is answered as POST /v1/runs answers a known idempotency key: 200 with the existing run.
    expect([out.ok.body, out.retried.status, out.retried.body]).toEqual([
      { run_id: okBody.run_id, status: "pending", graph_id: "g:echo", deduplicated: false },
      200,
      { run_id: okBody.run_id, status: expect.any(String), graph_id: "g:echo", deduplicated: true }
    ])
    // The same body as a new delivery starts a run of its own.
    expect([out.fresh.status, (out.fresh.body as { run_id: string }).run_id === okBody.run_id]).toEqual([202, false])
    const reasonOf = (r: { status: number; body: unknown }) => [r.status, (r.body as { error: { type: string; details: { reason: string } } }).error.details.reason]
    expect(reasonOf(out.replayed)).toEqual([409, "replayed-nonce"])
    expect(reasonOf(out.replayedLater)).toEqual([409, "replayed-nonce"])
    expect(reasonOf(out.badSig)).toEqual([401, "bad-signature"])
    expect(reasonOf(out.stale)).toEqual([401, "stale-timestamp"])
    expect(reasonOf(out.tooLarge)).toEqual([413, "body-too-large"])
    const fixOf = (r: { body: unknown }) => (r.body as { error: { details: { fix: string } } }).error.details.fix
    expect((out.tooLarge.body as { error: { message: string } }).error.message).toMatch(/ \(fix: send a smaller body, or raise max_body_bytes in the webhook's config\)$/)
    // Every refusal says what the sender should change.
    expect(fixOf(out.badSig)).toBe("sign the exact bytes sent, as \"<timestamp>.<nonce>.<raw body>\" (the same timestamp and nonce as the headers), with HMAC-SHA256 and the secret in NVD_SECRET")
    expect(fixOf(out.noPrefix)).toMatch(/^prefix the hex digest with 'sha256=' \(x-stargraph-signature: sha256=[0-9a-f]{8}…\)$/)
    expect((out.noPrefix.body as { error: { message: string } }).error.message).toMatch(/^WebhookError\[bad-signature\] webhook:nvd-mirror: signature does not match/)
    expect(fixOf(out.stale)).toMatch(/^send the current Unix time in whole seconds in x-stargraph-timestamp \(this server's is \d+\); check the sender's clock$/)
    expect(fixOf(out.replayed)).toMatch(/^send a new random nonce with every delivery/)
    expect(fixOf(out.noHeaders)).toMatch(/^send x-stargraph-timestamp \(Unix seconds, plain decimal digits\), x-stargraph-nonce/)
    expect((out.noHeaders.body as { error: { details: { message: string } } }).error.details.message).toBe("the delivery has no x-stargraph-timestamp, no x-stargraph-nonce, no x-stargraph-signature header")
    expect(fixOf(out.notJson)).toBe("send a JSON object as the body (Content-Type: application/json)")
    expect(reasonOf(out.notJson)).toEqual([400, "not-json"])
    expect(reasonOf(out.noHeaders)).toEqual([400, "missing-header"])
    expect(reasonOf(out.tooDeep)).toEqual([400, "not-json"])
    expect(JSON.stringify(out.tooDeep.body)).toContain("nests deeper than 520 levels")
    expect((out.badSig.body as { error: { type: string } }).error.type).toBe("WebhookError")
    expect(out.second.status).toBe(202)
    expect(out.runs).toHaveLength(3)
    expect(out.runs.map((r) => r.inputs["message"]).sort()).toEqual(["CVE-2026-0001", "CVE-2026-0001", "CVE-2026-0002"])
  })

  effectIt.scoped("with delivery_id_header: the signed timestamp and nonce are claimed in the database for the first delivery id, and the claim is dropped once no request with them can be accepted", () =>
    Effect.gen(function*() {
      const filename = join(tempDir(), "db.sqlite")
      const hook = [{ id: "gh", graph: "g:echo", secret_env: "S", window_s: 10, delivery_id_header: "X-GitHub-Delivery" }]
      const start = Date.parse("2026-11-25T10:00:00Z")
      yield* TestClock.setTime(start)
      const out = yield* Effect.gen(function*() {
        const started = yield* TriggerHost.start({ config: yield* ProjectConfig.decode({ webhooks: hook }, undefined), env: { S: SECRET } })
        const route = started.routes.find((r) => r.path === "/v1/triggers/webhook/gh")!
        const checkpointer = yield* Checkpointer
        const body = JSON.stringify({ message: "push" })
        const deliver = (seconds: number, nonce: string, id: string) =>
          route.handle({ headers: { ...WebhookTrigger.sign(SECRET, body, seconds, nonce), "x-github-delivery": id }, body: Buffer.from(body), params: {} })
        const t0 = start / 1000
        const first = yield* deliver(t0, "n1", "d-1")
        const forged = yield* deliver(t0, "n1", "forged")
        const claim = WebhookTrigger.claimKeyOf("webhook:gh", t0, "n1")
        const held = yield* checkpointer.getCursor(claim)
        // Past the claim's life (twice the window, and a minute): the next delivery's claim drops it.
        yield* TestClock.adjust(`${2 * 10 + 60 + 1} seconds`)
        const t1 = t0 + 81
        const later = yield* deliver(t1, "n2", "d-2")
        return {
          first,
          forged,
          held,
          later,
          dropped: yield* checkpointer.getCursor(claim),
          kept: yield* checkpointer.getCursor(WebhookTrigger.claimKeyOf("webhook:gh", t1, "n2")),
          runs: (yield* countRuns).length
        }
      }).pipe(Effect.provide(stack(filename)))
      const run = (out.first.body as { run_id: string }).run_id
      expect([out.first.status, out.forged.status, (out.forged.body as { run_id: string }).run_id]).toEqual([202, 200, run])
      expect(out.held).toEqual(Option.some(WebhookTrigger.deliveryKeyOf("webhook:gh", { id: "d-1" })))
      expect(out.later.status).toBe(202)
      expect([out.dropped, out.kept]).toEqual([Option.none(), Option.some(WebhookTrigger.deliveryKeyOf("webhook:gh", { id: "d-2" }))])
      expect(out.runs).toBe(2)
    }))
})

/** Wait (real time, up to 10 s) until every run in the database has finished. */
const allFinished = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) {
    const runs = yield* countRuns
    if (runs.every((r) => r.status === "done" || r.status === "failed")) return runs
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
  }
  return yield* Effect.die(new Error("runs did not finish within 10 s"))
})

describe("webhook trigger with thread_from", () => {
  // The body's keys are the run's params: the conversation is a field of the graph too.
  const chatIr = { ...ir, state_schema: { fields: { ...ir.state_schema.fields, conversation: { type: "any", default: null } } } } as unknown as typeof ir
  it("starts each delivery's run on the thread its body names (a string, or an integer's digits); a body without a usable id is refused, enqueues nothing, and keeps its nonce usable", async () => {
    const specs = [{ id: "chat", graph: "g:echo", secret_env: "S", window_s: 300, max_body_bytes: 4096, params: {}, thread_from: "conversation.id" }]
    const filename = join(tempDir(), "db.sqlite")
    const out = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const started = yield* TriggerHost.start({ config: yield* ProjectConfig.decode({ webhooks: specs }, undefined), env: { S: "k" } })
      const route = started.routes.find((r) => r.path === "/v1/triggers/webhook/chat")!
      const now = Math.floor(Date.now() / 1000)
      const deliver = (body: unknown, nonce: string) => {
        const text = JSON.stringify(body)
        return route.handle({ headers: WebhookTrigger.sign("k", text, now, nonce), body: Buffer.from(text), params: {} })
      }
      const first = yield* deliver({ conversation: { id: "c-1" }, message: "hello" }, "n1")
      yield* allFinished
      const second = yield* deliver({ conversation: { id: "c-1" }, message: "again" }, "n2")
      const numbered = yield* deliver({ conversation: { id: 42 }, message: "other" }, "n3")
      yield* allFinished
      const refused = [
        yield* deliver({ message: "no conversation" }, "b1"),
        yield* deliver({ conversation: { id: true }, message: "x" }, "b2"),
        yield* deliver({ conversation: { id: 1.5 }, message: "x" }, "b3"),
        yield* deliver({ conversation: "c-1", message: "x" }, "b4")
      ]
      const runsAfterRefusals = (yield* countRuns).length
      // The sender fixes its body and sends it with a nonce a refused delivery used: accepted.
      const fixed = yield* deliver({ conversation: { id: "c-2" }, message: "fixed" }, "b1")
      // An id the thread rules refuse (empty): the run's own check answers, and nothing is enqueued.
      const empty = yield* deliver({ conversation: { id: "" }, message: "x" }, "e1")
      yield* allFinished
      return { first, second, numbered, refused, runsAfterRefusals, fixed, empty, runs: yield* countRuns }
    })).pipe(Effect.provide(stack(filename, chatIr))))
    const runOf = (answer: { body: unknown }) => out.runs.find((r) => r.run_id === (answer.body as { run_id: string }).run_id)!
    expect([out.first.status, out.second.status, out.numbered.status, out.fixed.status]).toEqual([202, 202, 202, 202])
    expect(runOf(out.first)).toMatchObject({ thread_id: "c-1", continued_from: null, status: "done" })
    expect(runOf(out.second)).toMatchObject({ thread_id: "c-1", continued_from: runOf(out.first).run_id, status: "done" })
    expect(runOf(out.numbered)).toMatchObject({ thread_id: "42", status: "done" })
    expect(runOf(out.fixed)).toMatchObject({ thread_id: "c-2", status: "done" })
    for (const answer of out.refused) {
      expect(answer.status).toBe(400)
      expect((answer.body as { error: { details: { reason: string } } }).error.details.reason).toBe("bad-thread")
    }
    const messages = out.refused.map((a) => (a.body as { error: { message: string } }).error.message)
    expect(messages[0]).toContain("the body has nothing there")
    expect(messages[1]).toContain("the body has a boolean there")
    expect(messages[2]).toContain("the body has the number 1.5 there")
    expect(messages[3]).toContain("the body has nothing there")
    expect(messages[0]).toContain("'conversation.id' (thread_from)")
    expect(out.runsAfterRefusals).toBe(3)
    expect([out.empty.status, (out.empty.body as { error: { type: string } }).error.type]).toEqual([400, "ThreadError"])
    expect(out.runs).toHaveLength(4)
  })

  it("refuses a thread_from that is no dotted path at start", async () => {
    for (const thread_from of ["", "a..b", ".a"]) {
      const result = await Effect.runPromise(Effect.either(ProjectConfig.decode({ webhooks: [{ id: "w", graph: "g:echo", secret_env: "S", thread_from }] }, undefined)))
      expect(Either.isLeft(result) && result.left.message).toMatch(/thread_from/)
    }
  })
})

describe("cron trigger with thread_id", () => {
  const spec = (over: Partial<Record<string, unknown>> = {}) =>
    ({ id: "digest", graph: "g:echo", cron: "0 * * * *", timezone: "UTC", params: { message: "tick" }, catch_up: "latest", ...over }) as CronTrigger.CronSpec

  it("refuses a thread_id the thread rules refuse, naming the field", async () => {
    const result = await Effect.runPromise(Effect.either(CronTrigger.make([spec({ thread_id: " " })])))
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "TriggerError", reason: "invalid-config", triggerId: "cron:digest" })
    expect(Either.isLeft(result) && result.left.message).toMatch(/^schedule 'digest': thread_id: the thread id is empty/)
  })

  effectIt.scoped("starts every tick's run on the schedule's thread: each continues the previous tick's run", () =>
    Effect.gen(function*() {
      const filename = join(tempDir(), "db.sqlite")
      yield* TestClock.setTime(Date.parse("2026-11-25T00:30:00Z"))
      const runs = yield* Effect.scoped(Effect.gen(function*() {
        yield* TriggerHost.start({ config: { config: yield* decodeConfig([spec({ thread_id: "daily-digest" })]), graphPaths: [], plugins: [], file: undefined } })
        yield* TestClock.adjust("1 hour")
        yield* allFinished
        yield* TestClock.adjust("1 hour")
        return yield* allFinished
      })).pipe(Effect.provide(stack(filename)))
      expect(runs).toHaveLength(2)
      const [older, newer] = [...runs].sort((a, b) => a.created_at.localeCompare(b.created_at))
      expect(older).toMatchObject({ thread_id: "daily-digest", continued_from: null, status: "done" })
      expect(newer).toMatchObject({ thread_id: "daily-digest", continued_from: older!.run_id, status: "done" })
    }))
})

/**
 * A graph whose node fails on the `fail` call of `calls` (counted from 1) or when told
 * `message: "fail"`, and adds 1 to `count` otherwise: a thread of it accumulates `count`.
 */
const flaky = (failOn: ReadonlySet<number>) => {
  let calls = 0
  const graphIr = {
    ir_version: "1.0.0",
    id: "g:echo",
    state_schema: { fields: { message: { type: "string", default: "" }, count: { type: "integer", default: 0, reducer: "add" }, conversation: { type: "any", default: null } } },
    nodes: [{ id: "tick", kind: "function", module: "m", export: "tick" }],
    edges: []
  } as unknown as typeof ir
  const modules = {
    m: {
      tick: (s: { message: string }) => {
        calls++
        if (failOn.has(calls) || s.message === "fail") throw new Error(`told to fail (call ${calls})`)
        return { count: 1 }
      }
    }
  }
  return { graphIr, modules }
}

describe("thread_skip_failed", () => {
  const spec = (over: Partial<Record<string, unknown>> = {}) =>
    ({ id: "digest", graph: "g:echo", cron: "0 * * * *", timezone: "UTC", params: { message: "tick" }, catch_up: "latest", thread_id: "daily", ...over }) as CronTrigger.CronSpec

  /** Four hourly ticks of a threaded schedule whose second run fails: the runs (oldest first) and the ticks' audit lines. */
  const fourTicks = (skip: boolean) =>
    Effect.gen(function*() {
      const filename = join(tempDir(), "db.sqlite")
      yield* TestClock.setTime(Date.parse("2026-11-25T00:30:00Z"))
      const lines: Array<AuditRecord> = []
      const collect = Layer.succeed(AuditSink, { write: (record) => Effect.sync(() => void lines.push(record)) })
      const { graphIr, modules } = flaky(new Set([2]))
      const runs = yield* Effect.scoped(Effect.gen(function*() {
        yield* TriggerHost.start({ config: { config: yield* decodeConfig([spec(skip ? { thread_skip_failed: true } : {})]), graphPaths: [], plugins: [], file: undefined } })
        for (let i = 0; i < 4; i++) {
          yield* TestClock.adjust("1 hour")
          yield* allFinished
        }
        return yield* countRuns
      })).pipe(Effect.provide(stack(filename, graphIr, modules)), Effect.provide(collect))
      return { filename, runs: [...runs].sort((a, b) => a.created_at.localeCompare(b.created_at)), ticks: lines.filter((l) => l.event === "trigger.cron.tick") }
    })

  effectIt.scoped("without it, a threaded schedule's thread refuses every tick after a failing run (each tick's audit line says why)", () =>
    Effect.gen(function*() {
      const { runs, ticks } = yield* fourTicks(false)
      expect(runs.map((r) => r.status)).toEqual(["done", "failed"])
      expect(ticks.map((t) => (t["error"] as { type: string } | undefined)?.type ?? "ok")).toEqual(["ok", "ok", "RunStateError", "RunStateError"])
    }))

  effectIt.scoped("with thread_skip_failed: true, a threaded schedule keeps ticking after a failing run: the next tick continues from the last done run, and its audit line names the run passed over", () =>
    Effect.gen(function*() {
      const { filename, runs, ticks } = yield* fourTicks(true)
      expect(runs.map((r) => r.status)).toEqual(["done", "failed", "done", "done"])
      const [first, failed, third, fourth] = runs
      expect(runs.map((r) => r.continued_from)).toEqual([null, first!.run_id, first!.run_id, third!.run_id])
      expect(ticks.map((t) => [t["run_id"], t["skipped_runs"], t["error"]])).toEqual([
        [first!.run_id, undefined, undefined],
        [failed!.run_id, undefined, undefined],
        [third!.run_id, [failed!.run_id], undefined],
        [fourth!.run_id, undefined, undefined]
      ])
      // Each done run added 1 to the thread's count; the failed run's state is not carried.
      const final = yield* Effect.flatMap(Checkpointer, (c) => c.latestCheckpoint(fourth!.run_id)).pipe(Effect.provide(SqliteCheckpointer.layer({ filename })))
      expect(final._tag === "Some" && final.value.state["count"]).toBe(3)
    }))

  it("is refused without a thread (naming the field and the fix), or when not a boolean", async () => {
    const cron = await Effect.runPromise(Effect.either(CronTrigger.make([spec({ thread_id: undefined, thread_skip_failed: true })])))
    expect(Either.isLeft(cron) && cron.left).toMatchObject({ _tag: "TriggerError", reason: "invalid-config", triggerId: "cron:digest" })
    expect(Either.isLeft(cron) && cron.left.message).toMatch(/^schedule 'digest': thread_skip_failed: .*no thread_id/)
    expect(Either.isLeft(cron) && cron.left.fix).toContain("thread_id")
    // false without a thread is as if left out.
    expect(Either.isRight(await Effect.runPromise(Effect.either(CronTrigger.make([spec({ thread_id: undefined, thread_skip_failed: false })]))))).toBe(true)
    const notBoolean = await Effect.runPromise(Effect.either(ProjectConfig.decode({ schedules: [spec({ thread_skip_failed: "yes" })] }, undefined)))
    expect(Either.isLeft(notBoolean) && notBoolean.left.message).toMatch(/schedules\[0\]\.thread_skip_failed/)
    const hook = { id: "w", graph: "g:echo", secret_env: "S", thread_skip_failed: true }
    const webhook = await Effect.runPromise(Effect.either(WebhookTrigger.make([hook as unknown as WebhookTrigger.WebhookSpec], { S: "k" })))
    expect(Either.isLeft(webhook) && webhook.left).toMatchObject({ _tag: "TriggerError", reason: "invalid-config", triggerId: "webhook:w" })
    expect(Either.isLeft(webhook) && webhook.left.message).toMatch(/^webhook 'w': thread_skip_failed: .*no thread_from/)
    expect(Either.isLeft(webhook) && webhook.left.fix).toContain("thread_from")
    const hookNotBoolean = await Effect.runPromise(Effect.either(ProjectConfig.decode({ webhooks: [{ ...hook, thread_from: "conversation.id", thread_skip_failed: 1 }] }, undefined)))
    expect(Either.isLeft(hookNotBoolean) && hookNotBoolean.left.message).toMatch(/webhooks\[0\]\.thread_skip_failed/)
  })

  it("a webhook with thread_from and thread_skip_failed: a delivery after a failed run on its thread continues from the done run before it", async () => {
    const { graphIr, modules } = flaky(new Set())
    const run = (skip: boolean) =>
      Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const specs = [{ id: "chat", graph: "g:echo", secret_env: "S", params: {}, thread_from: "conversation.id", ...(skip ? { thread_skip_failed: true } : {}) }]
        const started = yield* TriggerHost.start({ config: yield* ProjectConfig.decode({ webhooks: specs }, undefined), env: { S: "k" } })
        const route = started.routes.find((r) => r.path === "/v1/triggers/webhook/chat")!
        const now = Math.floor(Date.now() / 1000)
        const deliver = (message: string, nonce: string) => {
          const text = JSON.stringify({ conversation: { id: "c-1" }, message })
          return route.handle({ headers: WebhookTrigger.sign("k", text, now, nonce), body: Buffer.from(text), params: {} })
        }
        const answers = []
        for (const [i, message] of ["hello", "fail", "again"].entries()) {
          answers.push(yield* deliver(message, `n${i}`))
          yield* allFinished
        }
        return { answers, runs: [...(yield* countRuns)].sort((a, b) => a.created_at.localeCompare(b.created_at)) }
      })).pipe(Effect.provide(stack(join(tempDir(), "db.sqlite"), graphIr, modules))))
    const plain = await run(false)
    expect(plain.answers.map((a) => a.status)).toEqual([202, 202, 409])
    expect((plain.answers[2]!.body as { error: { type: string } }).error.type).toBe("RunStateError")
    const skipping = await run(true)
    expect(skipping.answers.map((a) => a.status)).toEqual([202, 202, 202])
    const [first, failed, third] = skipping.runs
    expect([first!.status, failed!.status, third!.status]).toEqual(["done", "failed", "done"])
    expect(third).toMatchObject({ thread_id: "c-1", continued_from: first!.run_id })
    expect((skipping.answers[2]!.body as { run_id: string }).run_id).toBe(third!.run_id)
  })
})

describe("webhook trigger, a delivery that is not accepted", () => {
  it("releases its nonce: the sender's retry with the same nonce is not refused as a replay", async () => {
    const specs = [{ id: "strict", graph: "g:echo", secret_env: "S", window_s: 300, max_body_bytes: 4096, params: {} }] as unknown as ReadonlyArray<WebhookTrigger.WebhookSpec>
    const out = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const started = yield* TriggerHost.start({ config: yield* ProjectConfig.decode({ webhooks: specs }, undefined), env: { S: "k" } })
      const route = started.routes.find((r) => r.path === "/v1/triggers/webhook/strict")!
      // A field the graph does not declare: the enqueue is refused.
      const body = JSON.stringify({ colour: "blue" })
      const headers = WebhookTrigger.sign("k", body, Math.floor(Date.now() / 1000), "same")
      const first = yield* route.handle({ headers, body: Buffer.from(body), params: {} })
      const retry = yield* route.handle({ headers, body: Buffer.from(body), params: {} })
      return { first, retry, runs: yield* countRuns }
    })).pipe(Effect.provide(stack(join(tempDir(), "db.sqlite")))))
    const typeOf = (r: { status: number; body: unknown }) => [r.status, (r.body as { error: { type: string } }).error.type]
    expect(typeOf(out.first)).toEqual([400, "StateValidationError"])
    expect(typeOf(out.retry)).toEqual([400, "StateValidationError"])
    expect(out.runs).toHaveLength(0)
  })

  it("a body the state schema refuses gets a fix about the webhook's body and its params, never --inputs or POST /v1/runs", async () => {
    const graphIr = { ...ir, state_schema: { fields: { ...ir.state_schema.fields, order: { type: "string", required: true }, payload: { type: "object" } } } } as typeof ir
    const specs = [
      { id: "keys", graph: "g:echo", secret_env: "S", window_s: 300, max_body_bytes: 4096, params: {} },
      { id: "whole", graph: "g:echo", secret_env: "S", window_s: 300, max_body_bytes: 4096, params: {}, payload_field: "payload" },
      { id: "text", graph: "g:echo", secret_env: "S", window_s: 300, max_body_bytes: 4096, params: { order: "o" }, payload_field: "message" }
    ] as unknown as ReadonlyArray<WebhookTrigger.WebhookSpec>
    const fixes = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const started = yield* TriggerHost.start({ config: yield* ProjectConfig.decode({ webhooks: specs }, undefined), env: { S: "k" } })
      const deliver = (id: string, payload: unknown, nonce: string) => {
        const body = JSON.stringify(payload)
        const route = started.routes.find((r) => r.path === `/v1/triggers/webhook/${id}`)!
        return Effect.map(
          route.handle({ headers: WebhookTrigger.sign("k", body, Math.floor(Date.now() / 1000), nonce), body: Buffer.from(body), params: {} }),
          (r) => [r.status, (r.body as { error: { details: { fix?: string } } }).error.details.fix]
        )
      }
      return [
        yield* deliver("keys", { message: "hi" }, "n1"),
        yield* deliver("keys", { order: 5 }, "n2"),
        yield* deliver("keys", { order: "o", colour: "blue" }, "n3"),
        yield* deliver("whole", { any: "thing" }, "n4"),
        yield* deliver("text", { any: "thing" }, "n5")
      ]
    })).pipe(Effect.provide(stack(join(tempDir(), "db.sqlite"), graphIr))))
    const keys = "(the body's keys are the run's params, over the webhook's params)"
    expect(fixes).toEqual([
      [400, `send 'order' in the webhook's JSON body, or set params.order of webhook 'keys' in stargraph.yaml ${keys}`],
      [400, `give 'order' a value of its declared type (string) in the webhook's body, or in params.order of webhook 'keys' in stargraph.yaml ${keys}`],
      [400, `leave 'colour' out of the webhook's body and its params in stargraph.yaml, or declare it in the state schema ${keys}`],
      // The body goes into `payload`: `order` can only come from the webhook's params.
      [400, "set params.order of webhook 'whole' in stargraph.yaml, or give 'order' a default in the state schema (the whole body goes into 'payload', over the webhook's params)"],
      // The body goes into a string field: the declaration or payload_field is at fault.
      [400, "'message' takes the webhook's whole JSON body (an object): declare it in the state schema as an object that body fits (or type any), or name another field in the webhook's payload_field"]
    ])
  })
})

describe("trigger configuration is checked at start", () => {
  const startWith = (raw: unknown) =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      return yield* Effect.either(TriggerHost.start({ config: yield* ProjectConfig.decode(raw, undefined), env: { S: "k" } }))
    })).pipe(Effect.provide(stack(join(tempDir(), "db.sqlite")))))
  const cron = { id: "nightly", cron: "0 2 * * *", timezone: "UTC", catch_up: "none" }

  it("a schedule or webhook naming an unregistered graph, or params the graph does not take, stops the start", async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ schedules: [{ ...cron, graph: "run:nope", params: {} }] }, "cron:nightly", /^schedules\[0\]\.graph: graph 'run:nope' is not registered$/],
      [{ schedules: [{ ...cron, graph: "g:echo", params: { nope: "x" } }] }, "cron:nightly", /params names 'nope', which graph 'g:echo' does not declare/],
      [{ schedules: [{ ...cron, graph: "g:echo", params: { message: 3 } }] }, "cron:nightly", /params do not fit graph 'g:echo': field 'message'/],
      [{ webhooks: [{ id: "w", graph: "g:echo", secret_env: "S", params: { nope: 1 } }] }, "webhook:w", /params names 'nope'/],
      [{ webhooks: [{ id: "w", graph: "g:missing", secret_env: "S" }] }, "webhook:w", /^webhooks\[0\]\.graph: graph 'g:missing' is not registered$/],
      [{ schedules: [{ ...cron, graph: "g:echo", params: {} }, { ...cron, id: "s", graph: "g:ecko", params: {} }] }, "cron:s", /^schedules\[1\]\.graph: graph 'g:ecko' is not registered$/]
    ]
    for (const [raw, triggerId, message] of cases) {
      const result = await startWith(raw)
      expect(Either.isLeft(result) && result.left, JSON.stringify(raw)).toMatchObject({ _tag: "TriggerError", reason: "invalid-config", triggerId })
      expect(Either.isLeft(result) && result.left.message).toMatch(message)
    }
    // A misspelt graph id: the registered one it most likely meant.
    const misspelt = await startWith({ schedules: [{ ...cron, graph: "g:ecko", params: {} }] })
    expect(Either.isLeft(misspelt) && misspelt.left.fix).toMatch(/^did you mean 'g:echo'\? name a registered graph \(g:echo\)/)
    const far = await startWith({ schedules: [{ ...cron, graph: "run:nope", params: {} }] })
    expect(Either.isLeft(far) && far.left.fix).toMatch(/^name a registered graph \(g:echo\)/)
    // The fix is where the mistake is: the schedule in stargraph.yaml, not --inputs or POST /v1/runs.
    const typed = await startWith({ schedules: [{ ...cron, graph: "g:echo", params: { message: 3 } }] })
    expect(Either.isLeft(typed) && typed.left.fix).toBe("set params.message of cron:nightly in stargraph.yaml to a value of its declared type")
    const ok = await startWith({ schedules: [{ ...cron, graph: "g:echo", params: { message: "tick" } }] })
    expect(Either.isRight(ok)).toBe(true)
    // `payload_field: null`, as docs/triggers.md's example writes it: the body's keys are the params.
    const nullPayload = await Effect.runPromise(Effect.either(ProjectConfig.decode({ webhooks: [{ id: "w", graph: "g:echo", secret_env: "S", payload_field: null }] }, undefined)))
    expect(Either.isRight(nullPayload) && nullPayload.right.config.webhooks[0]).toMatchObject({ id: "w" })
    expect(Either.isRight(nullPayload) && "payload_field" in nullPayload.right.config.webhooks[0]!).toBe(false)
  })

  it("a webhook whose thread_from reads a body field the graph does not take (no payload_field) stops the start, naming the trigger, the field and the fix", async () => {
    const hook = { id: "chat", graph: "g:echo", secret_env: "S", thread_from: "conversation.id" }
    const undeclared = await startWith({ webhooks: [hook] })
    expect(Either.isLeft(undeclared) && undeclared.left).toMatchObject({ _tag: "TriggerError", reason: "invalid-config", triggerId: "webhook:chat" })
    expect(Either.isLeft(undeclared) && undeclared.left.message).toBe(
      "thread_from 'conversation.id' reads the body's 'conversation', and without payload_field the body's keys are the run's params: graph 'g:echo' does not declare 'conversation', so every delivery carrying a thread id would be refused (StateValidationError)"
    )
    expect(Either.isLeft(undeclared) && undeclared.left.fix).toMatch(/^declare 'conversation' in the graph's state_schema \(its fields: message, seen\), or set payload_field/)
    // A misspelt field is named; a field declared as a scalar cannot hold the object the id is in.
    const misspelt = await startWith({ webhooks: [{ ...hook, thread_from: "mesage.id" }] })
    expect(Either.isLeft(misspelt) && misspelt.left.fix).toMatch(/^did you mean thread_from: message\.id\?/)
    const scalar = await startWith({ webhooks: [{ ...hook, thread_from: "message.id" }] })
    expect(Either.isLeft(scalar) && scalar.left.message).toMatch(/declares 'message' as string, and the thread id is inside it/)
    // Fine: the id is a declared field itself, or the body lands in payload_field.
    expect(Either.isRight(await startWith({ webhooks: [{ ...hook, thread_from: "message" }] }))).toBe(true)
    expect(Either.isRight(await startWith({ webhooks: [{ ...hook, payload_field: "message" }] }))).toBe(true)
  })
})

describe("plugins and project config", () => {
  it("loads a trigger declared in a package's package.json and traces plugin.register", async () => {
    const root = tempDir()
    const pkg = join(root, "node_modules", "my-triggers")
    mkdirSync(pkg, { recursive: true })
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "my-triggers", type: "module", stargraph: { triggers: { ping: "./index.js#ping" } } }))
    writeFileSync(join(pkg, "index.js"), `export const ping = () => ({ name: "ping", init() {}, start() { globalThis.__pingStarted = true }, stop() {}, routes() { return [] } })`)
    const lines: Array<string> = []
    const write = process.stderr.write.bind(process.stderr)
    process.env["STARGRAPH_TRACE_PLUGINS"] = "1"
    process.stderr.write = ((chunk: string) => lines.push(String(chunk)) > 0) as typeof process.stderr.write
    try {
      const started = await Effect.runPromise(Effect.scoped(TriggerHost.start({ pluginRoot: root })).pipe(Effect.provide(stack(join(root, "db.sqlite")))))
      expect(started.triggers.map((t) => t.name)).toEqual(["manual", "ping"])
      expect(started.start.every((r) => r.success)).toBe(true)
    } finally {
      process.stderr.write = write
      delete process.env["STARGRAPH_TRACE_PLUGINS"]
    }
    expect((globalThis as { __pingStarted?: boolean }).__pingStarted).toBe(true)
    const event = lines.map((l) => JSON.parse(l) as { event: string; plugin: string }).find((e) => e.event === "plugin.register")
    expect(event?.plugin).toBe("my-triggers:stargraph.triggers:ping")
  })

  it("finds trigger packages where Node would: hoisted to a workspace root above the serving folder, each package once", async () => {
    const root = tempDir()
    writeFileSync(join(root, "package.json"), JSON.stringify({ name: "workspace", private: true }))
    const pkg = join(root, "node_modules", "hoisted-triggers")
    mkdirSync(pkg, { recursive: true })
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "hoisted-triggers", type: "module", stargraph: { triggers: { pong: "./index.js#pong" } } }))
    writeFileSync(join(pkg, "index.js"), "export const pong = () => ({ name: \"pong\", init() {}, start() {}, stop() {}, routes() { return [] } })")
    const app = join(root, "apps", "server")
    mkdirSync(join(app, "node_modules", "hoisted-triggers"), { recursive: true })
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "server", private: true }))
    // A nearer copy of the same package wins; the root's is not loaded twice.
    writeFileSync(join(app, "node_modules", "hoisted-triggers", "package.json"), JSON.stringify({ name: "hoisted-triggers", type: "module", stargraph: { triggers: { pong: "./index.js#pong" } } }))
    writeFileSync(join(app, "node_modules", "hoisted-triggers", "index.js"), "export const pong = () => ({ name: \"pong-near\", init() {}, start() {}, stop() {}, routes() { return [] } })")
    const started = await Effect.runPromise(Effect.scoped(TriggerHost.start({ pluginRoot: app })).pipe(Effect.provide(stack(join(root, "db.sqlite")))))
    expect(started.triggers.map((t) => t.name)).toEqual(["manual", "pong-near"])
    const other = join(root, "apps", "other")
    mkdirSync(other, { recursive: true })
    const fromRoot = await Effect.runPromise(Effect.scoped(TriggerHost.start({ pluginRoot: other })).pipe(Effect.provide(stack(join(root, "db2.sqlite")))))
    expect(fromRoot.triggers.map((t) => t.name)).toEqual(["manual", "pong"])
  })

  it("starts triggers an application provides in code through ExtraTriggers", async () => {
    const root = tempDir()
    const started: Array<string> = []
    const mine: Trigger = { name: "mine", init: () => undefined, start: () => void started.push("mine"), stop: () => undefined, routes: () => [] }
    // timezone, params and catch_up keep their defaults (UTC, {}, latest), as in stargraph.yaml.
    const cron = await Effect.runPromise(CronTrigger.make([{ id: "in-code", graph: "g:echo", cron: "0 2 * * *" }]))
    const host = await Effect.runPromise(
      Effect.scoped(TriggerHost.start()).pipe(Effect.provide(Layer.succeed(ExtraTriggers, [mine, cron])), Effect.provide(stack(join(root, "db.sqlite"))))
    )
    expect(host.triggers.map((t) => t.name)).toEqual(["manual", "mine", "cron"])
    expect(host.start.every((r) => r.success)).toBe(true)
    expect(started).toEqual(["mine"])
  })

  it("refuses a plugin module that does not exist, and unknown config fields, naming the culprit", async () => {
    const root = tempDir()
    const missing = await Effect.runPromise(Effect.either(Effect.scoped(Effect.gen(function*() {
      const config = yield* ProjectConfig.decode({ plugins: [{ name: "ghost", module: "./nope.ts" }] }, join(root, "stargraph.yaml"))
      return yield* TriggerHost.start({ config })
    })).pipe(Effect.provide(stack(join(root, "db.sqlite"))))))
    expect(Either.isLeft(missing) && missing.left).toMatchObject({ _tag: "TriggerError", reason: "plugin-not-found", triggerId: "project:ghost" })
    const unknown = await Effect.runPromise(Effect.either(ProjectConfig.decode({ schedules: [{ id: "x", graph: "g", cron: "* * * * *", color: "red" }] }, "stargraph.yaml")))
    expect(Either.isLeft(unknown) && unknown.left).toMatchObject({ reason: "invalid-config", triggerId: "schedules[0].color" })
    // A value outside a set of choices names every choice.
    const catchUp = await Effect.runPromise(Effect.either(ProjectConfig.decode({ schedules: [{ id: "x", graph: "g", cron: "* * * * *", catch_up: "every" }] }, "stargraph.yaml")))
    expect(Either.isLeft(catchUp) && catchUp.left).toMatchObject({
      reason: "invalid-config",
      triggerId: "schedules[0].catch_up",
      message: "stargraph.yaml: schedules[0].catch_up: expected one of \"latest\", \"all\", \"none\", got \"every\"",
      fix: "use one of: latest, all, none"
    })
  })

  it("refuses config for a package trigger nobody declares, and a plugin entry with both or neither of module and package", async () => {
    const root = tempDir()
    const config = await Effect.runPromise(ProjectConfig.decode({ plugins: [{ name: "ping", package: "my-triggers", config: { a: 1 } }] }, join(root, "stargraph.yaml")))
    expect(config.packagePlugins).toEqual([{ package: "my-triggers", trigger: "ping", config: { config_dir: root, a: 1 } }])
    expect(config.plugins).toEqual([])
    const missing = await Effect.runPromise(Effect.either(Effect.scoped(TriggerHost.start({ config, pluginRoot: root })).pipe(Effect.provide(stack(join(root, "db.sqlite"))))))
    expect(Either.isLeft(missing) && missing.left).toMatchObject({
      _tag: "TriggerError",
      reason: "plugin-not-found",
      triggerId: "my-triggers:stargraph.triggers:ping",
      fix: expect.stringContaining("npm install my-triggers")
    })
    for (const entry of [{ name: "x" }, { name: "x", module: "./x.js", package: "p" }]) {
      const bad = await Effect.runPromise(Effect.either(ProjectConfig.decode({ plugins: [entry] }, "stargraph.yaml")))
      expect(Either.isLeft(bad) && bad.left.message).toContain("give exactly one of module (a project plugin) or package (a package's trigger)")
    }
  })

  it("runs the fswatch example: one run per new file, never twice", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "inbox"))
    writeFileSync(join(dir, "inbox", "a.txt"), "a")
    const config = await Effect.runPromise(ProjectConfig.decode({
      plugins: [{ name: "fswatch", module: join(ROOT, "examples/triggers/fswatch/fswatch.ts"), export: "FilesystemWatchTrigger", config: { path: "./inbox", graph: "g:echo", interval_ms: 50 } }]
    }, join(dir, "stargraph.yaml")))
    const runs = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      yield* TriggerHost.start({ config })
      yield* Effect.sleep("150 millis")
      writeFileSync(join(dir, "inbox", "b.txt"), "b")
      yield* Effect.sleep("300 millis")
      return yield* countRuns
    })).pipe(Effect.provide(stack(join(dir, "db.sqlite")))))
    expect(runs.map((r) => r.inputs["message"]).sort()).toEqual([join(dir, "inbox", "a.txt"), join(dir, "inbox", "b.txt")])
  })
})

describe("wire safety", () => {
  it("measures JSON nesting in one pass, ignoring brackets inside strings", () => {
    const nested = (n: number) => "[".repeat(n) + "]".repeat(n)
    expect(nestsDeeperThan(nested(MAX_BODY_DEPTH))).toBe(false)
    expect(nestsDeeperThan(nested(MAX_BODY_DEPTH + 1))).toBe(true)
    expect(nestsDeeperThan(Buffer.from(nested(10_000)))).toBe(true)
    expect(nestsDeeperThan(`{"a":"${"[".repeat(2000)}","b":"\\"[[[[["}`, 2)).toBe(false)
    expect(nestsDeeperThan(`{"a":[{"b":[1]}]}`, 3)).toBe(true)
  })

  it("puts no stack trace and no server file path in an envelope", () => {
    const internal = envelopeOf(new StargraphRuntimeError({
      message: `internal error: RangeError: Maximum call stack size exceeded\n    at go (file://${ROOT}/node_modules/effect/src/Inspectable.ts:100:14)`
    }))
    expect(internal.error.message).toBe("StargraphRuntimeError: internal error: RangeError: Maximum call stack size exceeded")
    expect(internal.error.details["message"]).toBe("internal error: RangeError: Maximum call stack size exceeded")
    const module = envelopeOf(new NodeModuleError({
      nodeId: "greet",
      module: "./nodes.ts",
      exportName: "greet",
      reason: "module-not-found",
      message: "module './nodes.ts' not found (looked for /srv/app/graphs/nodes.ts)",
      fix: `create ${join(tmpdir(), "graphs", "nodes.ts")} or correct the 'module' path`
    }))
    expect(module.error.details["message"]).toBe("module './nodes.ts' not found (looked for nodes.ts)")
    expect(module.error.details["fix"]).toBe("create nodes.ts or correct the 'module' path")
    // Frames folded onto one line are cut too; API routes and ordinary words are not paths or frames.
    expect(redact("Error: boom at Object.handle (/srv/plugins/echo.js:16:29) at next (node:internal/x:1:2)")).toBe("Error: boom")
    expect(redact("Error: boom at /srv/app/src/x.ts:108:28")).toBe("Error: boom")
    for (const kept of ["no route GET /v2/nothing; see /v1/runs/run-1/cancel", "look at /v1/runs for details", "meet at noon (12:30)", "failed at step 3"]) {
      expect(redact(kept)).toBe(kept)
    }
  })

  it("describes any failure in one line, keeping the message of errors that have none of their own", () => {
    const tagged = Object.assign(new Error(""), { _tag: "ServeError", cause: new Error("listen EADDRINUSE :::9") })
    expect(describeFailure(tagged)).toBe("ServeError: listen EADDRINUSE :::9")
    expect(describeFailure(new Error("could not start", { cause: new Error("EACCES") }))).toBe("could not start: EACCES")
    expect(describeFailure(new Error("first line\n    at somewhere (x.js:1:1)"))).toBe("first line")
    expect(describeFailure("busy")).toBe("busy")
    expect(describeFailure({ code: "ECONNREFUSED" })).toBe("ECONNREFUSED")
    expect(describeFailure(undefined)).toBe("undefined")
    // A tagged error with a message says its tag too (a Schema.TaggedError's default message is only its fields).
    class QueueUnavailable extends Schema.TaggedError<QueueUnavailable>()("QueueUnavailable", { queue: Schema.String }) {}
    expect(describeFailure(new QueueUnavailable({ queue: "jobs" }))).toMatch(/^QueueUnavailable: .*"queue": "jobs"/)
    expect(describeFailure(Object.assign(new Error("QueueUnavailable: jobs is down"), { _tag: "QueueUnavailable" }))).toBe("QueueUnavailable: jobs is down")
    // One whose properties cannot be read is still described, never thrown.
    const unreadable = { get message(): string { throw new Error("getter") } }
    expect(describeFailure(unreadable)).toBe("a failure whose properties cannot be read")
    const revoked = Proxy.revocable({}, {})
    revoked.revoke()
    expect(describeFailure(revoked.proxy)).toBe("a failure whose properties cannot be read")
  })

  it("isolates a trigger whose failure cannot even be read: the others still get their DispatchResult", async () => {
    const unreadable = { get message(): string { throw new Error("getter") } }
    const bad: Trigger = { name: "bad", init: () => Effect.fail(unreadable), start: () => undefined, stop: () => undefined, routes: () => [] }
    const good: Trigger = { name: "good", init: () => Effect.void, start: () => undefined, stop: () => undefined, routes: () => [] }
    const results = await Effect.runPromise(dispatchTriggerLifecycle("init", [bad, good], {} as TriggerDeps))
    expect(results.map((r) => [r.pluginName, r.success])).toEqual([["bad", false], ["good", true]])
    expect(results[0]!.error?.message).toBe("init failed: a failure whose properties cannot be read")
  })
})

describe("plugin deps", () => {
  it("are Promise-facing: calls run at once, results resolve, failures reject with the typed error", async () => {
    const filename = join(tempDir(), "db.sqlite")
    const out = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const deps: TriggerDeps = { scheduler: yield* Scheduler.Scheduler, registry: yield* GraphRegistry.GraphRegistry, checkpointer: yield* Checkpointer, config: { a: 1 } }
      const plugin = makePluginDeps(deps, yield* Effect.runtime<never>(), "test-plugin")
      return yield* Effect.promise(async () => {
        const enqueued = await plugin.scheduler.enqueue("g:echo", { message: "hi" }, { idempotencyKey: "k-1" })
        const again = await plugin.scheduler.enqueue("g:echo", { message: "hi" }, { idempotencyKey: "k-1" })
        const missing = await plugin.scheduler.enqueue("g:nope", {}).then(() => undefined, (e: unknown) => e)
        const before = await plugin.checkpointer.getCursor("c")
        await plugin.checkpointer.setCursor("c", "v1")
        const after = await plugin.checkpointer.getCursor("c")
        const record = await plugin.checkpointer.findByIdempotencyKey("k-1")
        const threaded = await plugin.scheduler.enqueue("g:echo", { message: "on a thread" }, { threadId: "inbox-7" })
        const threadedRun = await plugin.checkpointer.getRun(threaded.runId)
        return { enqueued, again, missing, before, after, record, threadedRun, ids: plugin.registry.ids(), config: plugin.config, effect: plugin.effect === deps }
      })
    })).pipe(Effect.provide(stack(filename))))
    expect(out.enqueued).toMatchObject({ graphId: "g:echo", deduplicated: false })
    expect(out.again).toMatchObject({ runId: out.enqueued.runId, deduplicated: true })
    expect(out.missing).toBeInstanceOf(SchedulerError)
    expect(out.missing).toMatchObject({ reason: "unknown-graph", graphId: "g:nope" })
    expect([out.before, out.after]).toEqual([undefined, "v1"])
    // A plugin's keys live in its own part of the trigger namespace, which API clients may not use.
    expect(out.record).toMatchObject({ run_id: out.enqueued.runId, owner: null, idempotency_key: "trigger:test-plugin:k-1" })
    // Even a key that looks like another trigger's stays the plugin's own.
    expect(pluginKey("test-plugin", idempotencyKeyOf("cron:nightly", "2026-11-25T05:00:00.000Z"))).toMatch(/^trigger:test-plugin:trigger:[0-9a-f]{64}$/)
    expect(out.record?.inputs).toEqual({ message: "hi" })
    expect(out.threadedRun).toMatchObject({ thread_id: "inbox-7", inputs: { message: "on a thread" } })
    expect(out.ids).toEqual(["g:echo"])
    expect(out.config).toEqual({ a: 1 })
    expect(out.effect).toBe(true)
  })

  it("pass skipFailed: a run on a thread whose newest run failed passes over it (and says so); skipFailed without threadId rejects with an InputError", async () => {
    const { graphIr, modules } = flaky(new Set())
    const out = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const deps: TriggerDeps = { scheduler: yield* Scheduler.Scheduler, registry: yield* GraphRegistry.GraphRegistry, checkpointer: yield* Checkpointer, config: {} }
      const plugin = makePluginDeps(deps, yield* Effect.runtime<never>(), "test-plugin")
      return yield* Effect.promise(async () => {
        const failed = await plugin.scheduler.enqueue("g:echo", { message: "fail" }, { threadId: "inbox-8" })
        const summary = await plugin.scheduler.await(failed.runId)
        const refused = await plugin.scheduler.enqueue("g:echo", { message: "next" }, { threadId: "inbox-8" }).then(() => undefined, (e: unknown) => e)
        const next = await plugin.scheduler.enqueue("g:echo", { message: "next" }, { threadId: "inbox-8", skipFailed: true })
        const record = await plugin.checkpointer.getRun(next.runId)
        const alone = await plugin.scheduler.enqueue("g:echo", {}, { skipFailed: true }).then(() => undefined, (e: unknown) => e)
        return { failed, status: summary.status, refused, next, record, alone }
      })
    })).pipe(Effect.provide(stack(join(tempDir(), "db.sqlite"), graphIr, modules))))
    expect(out.status).toBe("failed")
    expect(out.refused).toMatchObject({ _tag: "RunStateError", runId: out.failed.runId })
    expect(out.next.skipped).toEqual([{ run_id: out.failed.runId, status: "failed" }])
    expect(out.record).toMatchObject({ thread_id: "inbox-8", continued_from: null })
    expect(out.alone).toMatchObject({ _tag: "InputError", field: "skipFailed" })
  })
})
