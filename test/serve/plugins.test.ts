/**
 * Trigger plugins as the custom-trigger how-to writes them, loaded by a real server:
 * real modules in a temp folder (a class, a factory, a plain object, a package's
 * trigger, and ones that throw at every stage), a real `Serve.start` on 127.0.0.1:0.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Serve from "../../src/serve/server.js"
import { ROOT, tempDir } from "../helpers/cli.js"

const GRAPH = [
  "ir_version: \"1.0.0\"",
  "id: g:echo",
  "state_schema: { fields: { message: { type: string, default: \"\" }, seen: { type: boolean, default: false } } }",
  "nodes: [{ id: mark, kind: set, values: { seen: true } }]",
  "edges: []",
  ""
].join("\n")

/** The modules, as a plugin author writes them (plain JS, no Stargraph import). */
const MODULES: Record<string, string> = {
  // The how-to's shape: a class, state on `this`, hooks on the prototype, Promise deps.
  "pinger.js": `
export class Pinger {
  constructor(config) { this.fromConstructor = config.greeting }
  init(deps) {
    if (deps.scheduler === undefined) throw new Error("Pinger.init requires deps.scheduler")
    this.deps = deps
    this.greeting = deps.config.greeting
  }
  async start() {
    await this.deps.checkpointer.setCursor("pinger", "c1")
    const cursor = await this.deps.checkpointer.getCursor("pinger")
    // As the how-to does it: not awaited. Its rejection (unknown graph) must not crash anything.
    this.deps.scheduler.enqueue("g:missing", {})
    const run = await this.deps.scheduler.enqueue("g:echo", { message: this.greeting + ":" + this.fromConstructor + ":" + cursor }, { idempotencyKey: "pinger-1" })
    this.runId = run.runId
    this.hasEffectDeps = typeof this.deps.effect.scheduler.enqueue === "function"
  }
  stop() { throw new Error("stop is allowed to fail too") }
  routes() {
    return [{ method: "GET", path: "/v1/triggers/pinger", handle: () => ({ status: 200, body: { run_id: this.runId, effect: this.hasEffectDeps } }) }]
  }
}
`,
  // A factory whose route answers with a Promise.
  "echo.js": `
export const makeEcho = (config) => {
  let deps
  return {
    name: "echo",
    init(d) { deps = d },
    start() {},
    stop() {},
    routes: async () => [{
      method: "POST",
      path: "/v1/triggers/echo",
      handle: async (request) => ({ status: 200, body: { got: JSON.parse(Buffer.from(request.body).toString("utf8")), graphs: deps.registry.ids(), prefix: config.prefix } })
    }, {
      method: "POST",
      path: "/v1/triggers/echo/boom",
      handle: () => { throw new Error("route failed in " + ${JSON.stringify(ROOT)} + "/secret/plugin.js") }
    }]
  }
}
`,
  // A plain object as the default export of a .ts module.
  "plain.ts": `
const started: Array<string> = []
export default { name: "plain", init() {}, start() { started.push("yes") }, stop() {}, routes() { return [] } }
`,
  "throws-at-top.js": `throw new Error("top-level boom")\n`,
  "throws-in-constructor.js": `export class Broken { constructor() { throw new Error("constructor boom") } init() {} start() {} stop() {} routes() { return [] } }\n`,
  "throws-in-factory.js": `export const make = async () => { throw new Error("factory boom") }\n`,
  // Rejects in start the way Effect's platform errors look: a tag, no message, a cause.
  "rejects-in-start.js": `
export default {
  name: "rejects-in-start",
  init() {},
  start: () => Promise.reject(Object.assign(new Error(""), { _tag: "ServeError", cause: new Error("listen EADDRINUSE: address already in use 127.0.0.1:9") })),
  stop() {},
  routes() { return [] }
}
`,
  "throws-in-routes.js": `export default { name: "throws-in-routes", init() {}, start() {}, stop() {}, routes() { throw new Error("routes boom") } }\n`
}

const PLUGINS = [
  "  - { name: pinger, module: ./plugins/pinger.js, export: Pinger, config: { greeting: hello } }",
  "  - { name: echo, module: ./plugins/echo.js, export: makeEcho, config: { prefix: p- } }",
  "  - { name: plain, module: ./plugins/plain.ts }",
  "  - { name: top, module: ./plugins/throws-at-top.js }",
  "  - { name: ctor, module: ./plugins/throws-in-constructor.js, export: Broken }",
  "  - { name: factory, module: ./plugins/throws-in-factory.js, export: make }",
  "  - { name: rejects, module: ./plugins/rejects-in-start.js }",
  "  - { name: routes, module: ./plugins/throws-in-routes.js }",
  // Configuration for a trigger a package declares in its package.json.
  "  - { name: ping, package: my-triggers, config: { target: g:echo } }"
]

let dir: string
let server: Serve.Started & { close: () => Promise<void> }

beforeAll(async () => {
  dir = tempDir()
  mkdirSync(join(dir, "plugins"))
  mkdirSync(join(dir, "graphs"))
  writeFileSync(join(dir, "graphs", "graph.yaml"), GRAPH)
  for (const [file, source] of Object.entries(MODULES)) writeFileSync(join(dir, "plugins", file), source)
  const pkg = join(dir, "node_modules", "my-triggers")
  mkdirSync(pkg, { recursive: true })
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "my-triggers", type: "module", stargraph: { triggers: { ping: "./index.js#Ping" } } }))
  writeFileSync(join(pkg, "index.js"), `
export class Ping {
  init(deps) { this.deps = deps }
  async start() { await this.deps.scheduler.enqueue(this.deps.config.target, { message: "from ping" }, { idempotencyKey: "ping-1" }) }
  stop() {}
  routes() { return [] }
}
`)
  writeFileSync(join(dir, "stargraph.yaml"), ["graphs: [./graphs]", "plugins:", ...PLUGINS, ""].join("\n"))
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(
    Serve.start({ host: "127.0.0.1", port: 0, db: join(dir, "db.sqlite"), config: join(dir, "stargraph.yaml"), pluginRoot: dir, scheduler: { pollIntervalMs: 50 } }).pipe(Scope.extend(scope))
  )
  server = { ...started, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
})

afterAll(async () => {
  await server?.close()
})

const byName = (results: ReadonlyArray<{ pluginName: string; success: boolean; error?: { message: string } | undefined }>) =>
  Object.fromEntries(results.map((r) => [r.pluginName, r.success ? "ok" : r.error?.message ?? "?"]))

const waitForRun = async (key: string) => {
  for (let i = 0; i < 200; i++) {
    const page = await (await fetch(`${server.url}/v1/runs?graph_id=g:echo`)).json() as { runs: Array<{ run_id: string; idempotency_key: string | null; inputs: Record<string, unknown>; status: string }> }
    // A plugin's keys are kept in the trigger namespace: `trigger:<plugin>:<key>`.
    const run = page.runs.find((r) => r.idempotency_key?.startsWith("trigger:") === true && r.idempotency_key.endsWith(`:${key}`))
    if (run?.status === "done") return run
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`no finished run with key ${key}`)
}

describe("trigger plugins written as the how-to says, on a real server", () => {
  it("reports every throwing plugin as a DispatchResult and keeps serving", async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    const load = byName(server.triggers.load)
    expect(load["project:pinger"]).toBe("ok")
    expect(load["project:echo"]).toBe("ok")
    expect(load["project:plain"]).toBe("ok")
    expect(load["my-triggers:stargraph.triggers:ping"]).toBe("ok")
    expect(load["project:top"]).toMatch(/^load failed: .*top-level boom/)
    expect(load["project:ctor"]).toMatch(/^load failed: new Broken\(config\) threw: constructor boom/)
    expect(load["project:factory"]).toMatch(/^load failed: make\(config\) threw: factory boom/)
    for (const failed of server.triggers.load.filter((r) => !r.success)) {
      expect(failed.error).toMatchObject({ _tag: "TriggerError", reason: "lifecycle-failed", triggerId: failed.pluginName })
    }
    const init = byName(server.triggers.init)
    expect(Object.values(init).every((v) => v === "ok")).toBe(true)
    // A class instance keeps its prototype methods (a name-less class gets the plugin's name).
    expect(Object.keys(init)).toEqual(expect.arrayContaining(["project:pinger", "echo", "plain", "rejects-in-start", "throws-in-routes"]))
    const start = byName(server.triggers.start)
    expect(start["project:pinger"]).toBe("ok")
    // The original error survives: a tagged error without a message reports its tag and cause.
    expect(start["rejects-in-start"]).toBe("start failed: ServeError: listen EADDRINUSE: address already in use 127.0.0.1:9")
    expect(byName(server.triggers.routes)["throws-in-routes"]).toBe("routes failed: routes boom")
  })

  it("gives a plain-JS trigger Promise-facing deps and its stargraph.yaml config (constructor and deps.config)", async () => {
    const run = await waitForRun("pinger-1")
    expect(run.idempotency_key).toBe("trigger:project:pinger:pinger-1")
    expect(run.inputs["message"]).toBe("hello:hello:c1")
    const answer = await (await fetch(`${server.url}/v1/triggers/pinger`)).json()
    expect(answer).toEqual({ run_id: run.run_id, effect: true })
  })

  it("passes stargraph.yaml config to a trigger a package declares", async () => {
    const run = await waitForRun("ping-1")
    expect(run.inputs["message"]).toBe("from ping")
  })

  it("mounts a factory plugin's Promise-returning routes; a route that throws answers 500 with no stack or path", async () => {
    const echo = await fetch(`${server.url}/v1/triggers/echo`, { method: "POST", body: JSON.stringify({ a: 1 }), headers: { "content-type": "application/json" } })
    expect(echo.status).toBe(200)
    expect(await echo.json()).toEqual({ got: { a: 1 }, graphs: ["g:echo"], prefix: "p-" })
    const boom = await fetch(`${server.url}/v1/triggers/echo/boom`, { method: "POST", body: "{}" })
    const text = await boom.text()
    expect(boom.status).toBe(500)
    expect(JSON.parse(text)).toMatchObject({ error: { type: "StargraphRuntimeError" } })
    expect(JSON.parse(text).error.message).toMatch(/internal error \(incident [0-9a-f-]{36}; the details are in the server log\)/)
    for (const leak of [ROOT, tmpdir(), "file://", "    at ", "route failed"]) expect(text).not.toContain(leak)
  })
})
