import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { describe, expect, it } from "vitest"
import * as Serve from "../../src/serve/server.js"
import * as ProjectConfig from "../../src/triggers/ProjectConfig.js"
import { tempDir } from "../helpers/cli.js"

/**
 * A node body in a module file: it writes `start`/`aborted`/`end` lines (tag, ms) to the
 * file `state.log` names. `listen`: it stops when its signal aborts, after a 300 ms
 * clean-up; otherwise it runs its `ms` out.
 */
const NODES = `
import { appendFileSync } from "node:fs"
export const work = async (state, ctx) => {
  const log = (event, extra = "") => appendFileSync(state.log, \`\${event} \${state.tag} \${Date.now()} \${extra}\\n\`)
  log("start")
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, state.ms)
    if (state.listen) ctx.signal.addEventListener("abort", () => {
      clearTimeout(timer)
      log("aborted", ctx.signal.reason.name + ": " + ctx.signal.reason.message)
      setTimeout(resolve, 300)
    })
  })
  log("end", String(ctx.signal.aborted))
  return { done: true }
}
`

/** A server over one graph, `per_graph: 1`, with `abort_grace_ms`. */
const boot = async (graceMs: number) => {
  const dir = tempDir()
  mkdirSync(join(dir, "g"))
  writeFileSync(join(dir, "g", "nodes.js"), NODES)
  writeFileSync(join(dir, "g", "slow.yaml"), [
    "ir_version: \"1.0.0\"",
    "id: run:slow",
    "state_schema:",
    "  fields:",
    "    ms: { type: integer, default: 2000 }",
    "    tag: { type: string, default: \"\" }",
    "    log: { type: string }",
    "    listen: { type: boolean, default: true }",
    "    done: { type: boolean, default: false }",
    "nodes:",
    "  - { id: work, kind: function, module: ./nodes.js, export: work }",
    ""
  ].join("\n"))
  writeFileSync(join(dir, "stargraph.yaml"), `graphs: [./g]\nscheduler: { per_graph: 1, abort_grace_ms: ${graceMs} }\n`)
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(
    Serve.start({ port: 0, db: join(dir, "db.sqlite"), config: join(dir, "stargraph.yaml"), auditLog: join(dir, "audit.jsonl"), scheduler: { pollIntervalMs: 50 } })
      .pipe(Scope.extend(scope))
  )
  return { ...started, dir, log: join(dir, "exec.log"), close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const post = async (url: string, json?: unknown) => {
  const response = await fetch(url, { method: "POST", ...(json !== undefined ? { body: JSON.stringify(json), headers: { "content-type": "application/json" } } : {}) })
  return { status: response.status, body: await response.json() as Record<string, any> }
}

const until = async (check: () => boolean | Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting")
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The log's lines as {event, tag, ms, rest}, in the order the bodies wrote them. */
const lines = (log: string) => {
  let text: string
  try {
    text = readFileSync(log, "utf8")
  } catch {
    return []
  }
  return text.trim().split("\n").filter((l) => l !== "").map((l) => {
    const [event, tag, ms, ...rest] = l.split(" ")
    return { event: event!, tag: tag!, ms: Number(ms), rest: rest.join(" ") }
  })
}

const runOf = async (url: string, id: string) => (await (await fetch(`${url}/v1/runs/${id}`)).json()) as Record<string, any>

describe("cancelling a running run with per_graph: 1", () => {
  it("keeps the slot until the cancelled body observed its signal and returned: the queued run's node starts after it, never beside it", async () => {
    const server = await boot(5000)
    try {
      const a = (await post(`${server.url}/v1/runs`, { graph_id: "run:slow", params: { ms: 10_000, tag: "A", log: server.log } })).body["run_id"] as string
      const b = (await post(`${server.url}/v1/runs`, { graph_id: "run:slow", params: { ms: 50, tag: "B", log: server.log } })).body["run_id"] as string
      await until(() => lines(server.log).some((l) => l.event === "start" && l.tag === "A"))
      const cancelled = await post(`${server.url}/v1/runs/${a}/cancel`)
      expect(cancelled).toEqual({ status: 200, body: { run_id: a, status: "cancelled" } })
      await until(async () => (await runOf(server.url, b))["status"] === "done")
      const seen = lines(server.log)
      expect(seen.map((l) => `${l.event} ${l.tag}`)).toEqual(["start A", "aborted A", "end A", "start B", "end B"])
      expect(seen[1]!.rest).toBe(`AbortError: node 'work' (step 1) of run ${a} was cancelled: its run was cancelled`)
      // B's node began after A's 300 ms clean-up, not when the cancel was asked.
      expect(seen[3]!.ms).toBeGreaterThanOrEqual(seen[2]!.ms)
      expect(seen[3]!.ms - seen[1]!.ms).toBeGreaterThanOrEqual(290)
      // What the cancelled body returned was not recorded.
      const run = await runOf(server.url, a)
      expect(run).toMatchObject({ status: "cancelled", steps: 0, final_state: { done: false } })
    } finally {
      await server.close()
    }
  })

  it("a body that ignores its signal holds the slot only for abort_grace_ms; node.outlived is audited, and its late return writes nothing", async () => {
    const server = await boot(200)
    try {
      const a = (await post(`${server.url}/v1/runs`, { graph_id: "run:slow", params: { ms: 1500, tag: "A", log: server.log, listen: false } })).body["run_id"] as string
      const b = (await post(`${server.url}/v1/runs`, { graph_id: "run:slow", params: { ms: 50, tag: "B", log: server.log } })).body["run_id"] as string
      await until(() => lines(server.log).some((l) => l.event === "start" && l.tag === "A"))
      const asked = Date.now()
      expect((await post(`${server.url}/v1/runs/${a}/cancel`)).body).toEqual({ run_id: a, status: "cancelled" })
      await until(async () => (await runOf(server.url, b))["status"] === "done")
      const seen = lines(server.log)
      expect(seen.map((l) => `${l.event} ${l.tag}`)).toEqual(["start A", "start B", "end B"])
      expect(seen[1]!.ms - asked).toBeGreaterThanOrEqual(190)
      const audit = readFileSync(join(server.dir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(audit.filter((e) => e["event"] === "node.outlived")).toEqual([expect.objectContaining({
        run_id: a,
        node: "work",
        step: 1,
        grace_ms: 200,
        reason: `node 'work' (step 1) of run ${a} was cancelled: its run was cancelled`
      })])
      // The body ends later, having seen its signal aborted; nothing of what it returned is written.
      await until(() => lines(server.log).some((l) => l.event === "end" && l.tag === "A"))
      expect(lines(server.log).find((l) => l.event === "end" && l.tag === "A")!.rest).toBe("true")
      await new Promise((r) => setTimeout(r, 100))
      expect(await runOf(server.url, a)).toMatchObject({ status: "cancelled", steps: 0, final_state: { done: false } })
    } finally {
      await server.close()
    }
  })

  it("takes abort_grace_ms from stargraph.yaml, and refuses one that is not a whole number of ms, naming the field", async () => {
    const good = await Effect.runPromise(ProjectConfig.decode({ scheduler: { abort_grace_ms: 500 } }, "stargraph.yaml"))
    expect(good.config.scheduler?.abort_grace_ms).toBe(500)
    const bad = await Effect.runPromise(Effect.either(ProjectConfig.decode({ scheduler: { abort_grace_ms: -5 } }, "stargraph.yaml")))
    expect(Either.isLeft(bad) && bad.left).toMatchObject({ reason: "invalid-config", triggerId: "scheduler.abort_grace_ms" })
    expect(Either.isLeft(bad) && bad.left.message).toContain("-5")
  })
})
