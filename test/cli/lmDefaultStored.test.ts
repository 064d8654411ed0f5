/**
 * The run-wide default model is kept with the run (`RunRecord.default_model`, never a key),
 * through the built CLI, real SQLite files and a real OpenAI-compatible server on
 * 127.0.0.1: a run started with `--lm-url`/`--lm-model` and stopped part-way goes on with
 * the same model on `resume`/`respond` without the flags; flags given override it, with a
 * notice; a key given with `--lm-key` is not stored and must be given again; `inspect`
 * shows it; each live call the default answered records its model outside the hashed
 * request, so a recording made before (without it) still replays.
 */
import Database from "better-sqlite3"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { requestHash } from "../../src/runtime/Cassette.js"
import { runIdOf, stargraph, startStargraph, tempDir } from "../helpers/cli.js"
import * as OpenAi from "../helpers/openaiServer.js"

let server: OpenAi.OpenAiServer
let other: OpenAi.OpenAiServer
let slow: OpenAi.OpenAiServer

beforeAll(async () => {
  server = await OpenAi.start({ respond: () => "{\"answer\": \"42\", \"later\": \"l\"}" })
  other = await OpenAi.start({ respond: () => "{\"answer\": \"43\", \"later\": \"m\"}" })
  slow = await OpenAi.start({ respond: () => "{\"answer\": \"44\", \"later\": \"n\"}", latencyMs: 1500 })
})
afterAll(async () => {
  await server.close()
  await other.close()
  await slow.close()
})

/** `ask`, then `later` (a run paused before it with --interrupt-before stops between them); neither names a model. */
const graphIn = (dir: string): string => {
  const file = join(dir, "graph.yaml")
  writeFileSync(file, [
    "ir_version: \"1.0.0\"", "id: lm:stored",
    "state_schema: { fields: { question: { type: string, default: \"why?\" }, answer: { type: string }, later: { type: string } } }",
    "nodes:",
    "  - { id: ask, kind: dspy, config: { signature: \"question -> answer\" } }",
    "  - { id: later, kind: dspy, config: { signature: \"answer -> later: str\" } }",
    "edges: [{ from: ask, to: later }]",
    ""
  ].join("\n"))
  return file
}

interface Inspected {
  readonly status: string
  readonly final_state?: Record<string, unknown>
  readonly default_model?: unknown
}

const inspectJson = async (runId: string, db: string, cwd: string): Promise<Inspected> =>
  JSON.parse((await stargraph(["inspect", runId, "--db", db, "--json"], { cwd })).stdout) as Inspected

interface StoredCall {
  readonly node: string
  readonly name: string
  readonly request_hash: string
  readonly request: { readonly model: unknown }
  readonly meta?: Record<string, unknown>
}

/** The recorded calls of each step of `runId`, read from the SQLite file. */
const callsOf = (db: string, runId: string): Array<{ step: number; calls: Array<StoredCall> }> => {
  const sqlite = new Database(db, { readonly: true })
  try {
    const rows = sqlite.prepare("SELECT step, calls FROM checkpoints WHERE run_id = ? ORDER BY step").all(runId) as Array<{ step: number; calls: string | null }>
    return rows.map((r) => ({ step: r.step, calls: r.calls === null ? [] : JSON.parse(r.calls) as Array<StoredCall> }))
  } finally {
    sqlite.close()
  }
}

/** A run of `graph` started with the default model `flags`, paused before `later`. */
const pausedRun = async (dir: string, db: string, flags: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) => {
  const graph = graphIn(dir)
  const paused = await stargraph(["run", graph, "--db", db, "--interrupt-before", "later", ...flags], { cwd: dir, env })
  expect(paused.code).toBe(3)
  expect(paused.last).toMatch(/status=awaiting-input/)
  return runIdOf(paused.last)
}

describe("the default model is kept with the run", () => {
  it("resume without the flags calls the same server with the same model and key; inspect shows it; the call records its model", async () => {
    const dir = tempDir()
    const db = join(dir, "runs.sqlite")
    const env = { ...process.env, LM_STORED_KEY: "sk-stored-5678" }
    const before = server.requests.length
    const runId = await pausedRun(dir, db, ["--lm-url", `${server.url}/`, "--lm-model", "stored-model", "--lm-key-env", "LM_STORED_KEY", "--lm-timeout", "30"], env)
    expect(server.requests.slice(before).map((r) => r.body["model"])).toEqual(["stored-model"])

    const expected = { api_base: server.url, model: "stored-model", api_key_env: "LM_STORED_KEY", api_key_given: false, timeout_ms: 30_000 }
    expect((await inspectJson(runId, db, dir)).default_model).toEqual(expected)
    const text = await stargraph(["inspect", runId, "--db", db], { cwd: dir })
    expect(text.stdout).toContain(`default model stored-model at ${server.url}  key from $LM_STORED_KEY  timeout 30000 ms`)

    // The key variable the run was started with must be set where it is resumed.
    const unset = await stargraph(["resume", runId, "--db", db], { cwd: dir, env: { ...process.env, LM_STORED_KEY: undefined } })
    expect(unset.code).toBe(2)
    expect(unset.stderr).toMatch(/InputError\[--lm-key-env\]|InputError.*--lm-key-env/)
    expect(unset.stderr).toContain("reads its key from LM_STORED_KEY, which is not set")
    expect(server.requests.length - before).toBe(1)
    expect((await inspectJson(runId, db, dir)).status).toBe("awaiting-input")

    const resumed = await stargraph(["resume", runId, "--db", db], { cwd: dir, env })
    expect(resumed.stderr).toBe("")
    expect(resumed.code).toBe(0)
    expect(resumed.last).toMatch(/status=done/)
    const sent = server.requests.slice(before)
    expect(sent.map((r) => r.body["model"])).toEqual(["stored-model", "stored-model"])
    expect(sent.map((r) => r.headers["authorization"])).toEqual(["Bearer sk-stored-5678", "Bearer sk-stored-5678"])
    expect((await inspectJson(runId, db, dir)).final_state).toMatchObject({ answer: "42", later: "l" })

    // Each call the default answered names its model on its record; the hashed request still says model null.
    const lmCalls = callsOf(db, runId).flatMap((s) => s.calls).filter((c) => c.name.startsWith("lm."))
    expect(lmCalls.map((c) => [c.node, c.meta])).toEqual([["ask", { model: "stored-model", default_model: true, reply_parser: 2 }], ["later", { model: "stored-model", default_model: true, reply_parser: 2 }]])
    for (const call of lmCalls) {
      expect(call.request.model).toBeNull()
      expect(call.request_hash).toBe(requestHash(call.name, call.request))
    }
    // Never a key in the database.
    expect(readFileSync(db).includes("sk-stored-5678")).toBe(false)
  })

  it("a run whose process was killed mid-call resumes without the flags against the same server and model", async () => {
    const dir = tempDir()
    const db = join(dir, "runs.sqlite")
    const graph = graphIn(dir)
    const before = slow.requests.length
    const running = startStargraph(["run", graph, "--db", db, "--lm-url", slow.url, "--lm-model", "slow-model"], { cwd: dir })
    const deadline = Date.now() + 20_000
    while (slow.requests.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(slow.requests.length).toBe(before + 1)
    running.child.kill("SIGKILL")
    await running.done
    const listed = JSON.parse((await stargraph(["list", "--db", db, "--json"], { cwd: dir })).stdout) as { runs: Array<{ run_id: string; status: string }> }
    const runId = listed.runs[0]!.run_id
    expect(listed.runs[0]!.status).toBe("running")
    const resumed = await stargraph(["resume", runId, "--db", db], { cwd: dir })
    expect(resumed.code).toBe(0)
    expect(resumed.last).toMatch(/status=done/)
    expect(slow.requests.slice(before).map((r) => r.body["model"])).toEqual(["slow-model", "slow-model", "slow-model"])
    expect((await inspectJson(runId, db, dir)).final_state).toMatchObject({ answer: "44", later: "n" })
  }, 60_000)

  it("respond without the flags continues a run that asked for input with its stored model", async () => {
    const dir = tempDir()
    const db = join(dir, "runs.sqlite")
    const file = join(dir, "graph.yaml")
    writeFileSync(file, [
      "ir_version: \"1.0.0\"", "id: lm:respond",
      "state_schema: { fields: { question: { type: string, default: \"why?\" }, approved: { type: string }, later: { type: string } } }",
      "nodes:",
      "  - { id: gate, kind: interrupt, prompt: \"Approve?\", response_field: approved }",
      "  - { id: later, kind: dspy, config: { signature: \"approved -> later: str\" } }",
      "edges: [{ from: gate, to: later }]",
      ""
    ].join("\n"))
    const asked = await stargraph(["run", file, "--db", db, "--lm-url", server.url, "--lm-model", "respond-model"], { cwd: dir })
    expect(asked.last).toMatch(/status=awaiting-input/)
    const runId = runIdOf(asked.last)
    const before = server.requests.length
    const answered = await stargraph(["respond", runId, "--db", db, "--response", "\"yes\""], { cwd: dir })
    expect(answered.stderr).toBe("")
    expect(answered.last).toMatch(/status=done/)
    expect(server.requests.slice(before).map((r) => r.body["model"])).toEqual(["respond-model"])
  })

  it("a subgraph's child run inherits its parent's default model, and goes on with it when the parent is answered without the flags", async () => {
    const dir = tempDir()
    const db = join(dir, "runs.sqlite")
    const fields = "state_schema: { fields: { question: { type: string, default: \"why?\" }, approved: { type: string }, later: { type: string } } }"
    writeFileSync(join(dir, "child.yaml"), [
      "ir_version: \"1.0.0\"", "id: lm:child", fields,
      "nodes:",
      "  - { id: gate, kind: interrupt, prompt: \"Approve?\", response_field: approved }",
      "  - { id: later, kind: dspy, config: { signature: \"approved -> later: str\" } }",
      "edges: [{ from: gate, to: later }]",
      ""
    ].join("\n"))
    const parent = join(dir, "parent.yaml")
    writeFileSync(parent, ["ir_version: \"1.0.0\"", "id: lm:parent", fields, "nodes:", "  - { id: sub, kind: subgraph, spec: ./child.yaml }", ""].join("\n"))
    const asked = await stargraph(["run", parent, "--db", db, "--lm-url", server.url, "--lm-model", "parent-model"], { cwd: dir })
    expect(asked.last).toMatch(/status=awaiting-input/)
    const runId = runIdOf(asked.last)
    const sqlite = new Database(db, { readonly: true })
    const children = sqlite.prepare("SELECT run_id, default_model FROM runs_history WHERE parent_run_id = ?").all(runId) as Array<{ run_id: string; default_model: string | null }>
    sqlite.close()
    expect(children.length).toBe(1)
    expect(JSON.parse(children[0]!.default_model ?? "null")).toMatchObject({ api_base: server.url, model: "parent-model" })
    const before = server.requests.length
    const answered = await stargraph(["respond", runId, "--db", db, "--response", "\"yes\""], { cwd: dir })
    expect(answered.stderr).toBe("")
    expect(answered.last).toMatch(/status=done/)
    expect(server.requests.slice(before).map((r) => r.body["model"])).toEqual(["parent-model"])
  })

  it("flags given to resume override the stored model, said on stderr; the record keeps the first", async () => {
    const dir = tempDir()
    const db = join(dir, "runs.sqlite")
    const runId = await pausedRun(dir, db, ["--lm-url", server.url, "--lm-model", "first-model"])
    const [serverBefore, otherBefore] = [server.requests.length, other.requests.length]
    const resumed = await stargraph(["resume", runId, "--db", db, "--lm-url", other.url, "--lm-model", "second-model"], { cwd: dir })
    expect(resumed.stderr).toContain(`note: run ${runId} was started with default model first-model at ${server.url}; this resume uses second-model at ${other.url}`)
    expect(resumed.last).toMatch(/status=done/)
    expect(server.requests.length).toBe(serverBefore)
    expect(other.requests.slice(otherBefore).map((r) => r.body["model"])).toEqual(["second-model"])
    const calls = callsOf(db, runId).flatMap((s) => s.calls).filter((c) => c.name.startsWith("lm."))
    expect(calls.map((c) => c.meta?.["model"])).toEqual(["first-model", "second-model"])
    expect(((await inspectJson(runId, db, dir)).default_model as { model: string }).model).toBe("first-model")
  })

  it("a key given with --lm-key is not stored: resume without it is refused naming the flag; with it, the run goes on", async () => {
    const dir = tempDir()
    const db = join(dir, "runs.sqlite")
    const runId = await pausedRun(dir, db, ["--lm-url", server.url, "--lm-model", "literal-model", "--lm-key", "sk-literal-9999"])
    expect((await inspectJson(runId, db, dir)).default_model).toEqual({ api_base: server.url, model: "literal-model", api_key_env: null, api_key_given: true, timeout_ms: null })
    expect((await stargraph(["inspect", runId, "--db", db], { cwd: dir })).stdout).toContain("key given with --lm-key (not stored)")
    expect(readFileSync(db).includes("sk-literal-9999")).toBe(false)

    const before = server.requests.length
    const refused = await stargraph(["resume", runId, "--db", db], { cwd: dir })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain("InputError")
    expect(refused.stderr).toContain("--lm-key")
    expect(refused.stderr).toContain("the key is not stored")
    expect(server.requests.length).toBe(before)
    expect((await inspectJson(runId, db, dir)).status).toBe("awaiting-input")

    const resumed = await stargraph(["resume", runId, "--db", db, "--lm-key", "sk-literal-9999"], { cwd: dir })
    expect(resumed.last).toMatch(/status=done/)
    expect(server.requests.slice(before).map((r) => [r.body["model"], r.headers["authorization"]])).toEqual([["literal-model", "Bearer sk-literal-9999"]])
  })

  it("a recording made before the model was recorded (no meta) still replays, and a replay keeps a recorded meta", async () => {
    const dir = tempDir()
    const db = join(dir, "runs.sqlite")
    const graph = graphIn(dir)
    const run = await stargraph(["run", graph, "--db", db, "--lm-url", server.url, "--lm-model", "old-model"], { cwd: dir })
    expect(run.last).toMatch(/status=done/)
    const runId = runIdOf(run.last)

    // A copy of the run as the code before this change wrote it: no `meta` on its calls.
    const oldDb = join(dir, "old.sqlite")
    writeFileSync(oldDb, readFileSync(db))
    const sqlite = new Database(oldDb)
    for (const { step, calls } of callsOf(oldDb, runId)) {
      if (calls.length === 0) continue
      const stripped = calls.map(({ meta: _meta, ...call }) => call)
      sqlite.prepare("UPDATE checkpoints SET calls = ? WHERE run_id = ? AND step = ?").run(JSON.stringify(stripped), runId, step)
    }
    sqlite.close()
    expect(callsOf(oldDb, runId).flatMap((s) => s.calls).some((c) => c.meta !== undefined)).toBe(false)

    const before = server.requests.length
    for (const file of [oldDb, db]) {
      const replayed = await stargraph(["replay", runId, "--db", file, "--from-step", "0"], { cwd: dir })
      expect(replayed.stderr).toBe("")
      expect(replayed.code).toBe(0)
      const forkId = runIdOf(replayed.stdout)
      expect(forkId).not.toBe("")
      const fork = await inspectJson(forkId, file, dir)
      expect(fork.status).toBe("done")
      expect(fork.final_state).toMatchObject({ answer: "42", later: "l" })
      const metas = callsOf(file, forkId).flatMap((s) => s.calls).filter((c) => c.name.startsWith("lm.")).map((c) => c.meta)
      expect(metas).toEqual(file === db ? [{ model: "old-model", default_model: true, reply_parser: 2 }, { model: "old-model", default_model: true, reply_parser: 2 }] : [undefined, undefined])
    }
    expect(server.requests.length).toBe(before)
  })
})
