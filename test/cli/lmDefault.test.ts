/**
 * The run-wide default model (`--lm-url`, `--lm-model`, `--lm-key-env`/`--lm-key`,
 * `--lm-timeout`), through the built CLI against a real OpenAI-compatible server on
 * 127.0.0.1: a language-model node that names no model calls it, a node that names its
 * own keeps it, the graph hash is the same with or without it, a replay answers from the
 * cassette without calling it, and bad values are refused naming the flag.
 */
import Database from "better-sqlite3"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runIdOf, startStargraph, stargraph, tempDir } from "../helpers/cli.js"
import * as OpenAi from "../helpers/openaiServer.js"

let server: OpenAi.OpenAiServer
let slow: OpenAi.OpenAiServer

beforeAll(async () => {
  server = await OpenAi.start({ respond: (r) => (r.body["model"] === "own-model" ? "{\"second\": \"s\"}" : "{\"answer\": \"42\", \"third\": \"t\"}") })
  slow = await OpenAi.start({ latencyMs: 3000 })
})
afterAll(async () => {
  await server.close()
  await slow.close()
})

/**
 * A graph: `ask` names no model; with `ownApiBase`, `own` names its model and server, and
 * `base` names its server but no model.
 */
const graphIn = (dir: string, ownApiBase?: string): string => {
  const file = join(dir, "graph.yaml")
  writeFileSync(file, [
    "ir_version: \"1.0.0\"", "id: lm:default",
    "state_schema: { fields: { question: { type: string, default: \"why?\" }, answer: { type: string }, second: { type: string }, third: { type: string } } }",
    "nodes:",
    "  - { id: ask, kind: dspy, config: { signature: \"question -> answer\" } }",
    ...(ownApiBase !== undefined
      ? [
        `  - { id: own, kind: dspy, config: { signature: "question -> second: str", model: own-model, api_base: "${ownApiBase}" } }`,
        `  - { id: base, kind: dspy, config: { signature: "question -> third: str", api_base: "${ownApiBase}" } }`
      ]
      : []),
    ownApiBase !== undefined ? "edges: [{ from: ask, to: own }, { from: own, to: base }]" : "edges: []",
    ""
  ].join("\n"))
  return file
}

const inspectJson = async (runId: string, db: string, cwd: string) =>
  JSON.parse((await stargraph(["inspect", runId, "--db", db, "--json"], { cwd })).stdout) as { status: string; graph_hash: string; final_state?: Record<string, unknown> }

describe("--lm-url / --lm-model: the run's default model", () => {
  it("answers a node that names no model; a node's own model wins; the graph hash is unchanged; a replay calls nothing", async () => {
    const dir = tempDir()
    const graph = graphIn(dir, server.url)
    const db = join(dir, "runs.sqlite")
    const before = server.requests.length
    const run = await stargraph(["run", graph, "--db", db, "--lm-url", server.url, "--lm-model", "default-model", "--lm-key-env", "LM_TEST_KEY", "--lm-timeout", "30"], {
      cwd: dir,
      env: { ...process.env, LM_TEST_KEY: "sk-test-key-1234" }
    })
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.last).toMatch(/status=done/)
    const sent = server.requests.slice(before)
    expect(sent.map((r) => [r.path, r.body["model"]])).toEqual([["/v1/chat/completions", "default-model"], ["/v1/chat/completions", "own-model"], ["/v1/chat/completions", "default-model"]])
    // The key goes to the default model's server only, never to a node's own server
    // (the test server stands for both: the URL is the same, the node's api_base is its own).
    expect(sent.map((r) => r.headers["authorization"])).toEqual(["Bearer sk-test-key-1234", undefined, undefined])
    const runId = runIdOf(run.last)

    // Without the flags the same graph (same hash) has no model for `ask`: refused before it starts.
    const bare = await stargraph(["run", graph, "--db", db], { cwd: dir })
    expect(bare.code).toBe(2)
    expect(bare.stderr).toContain("no-model")
    expect(bare.stderr).toContain("--lm-url")
    const withDefault = await inspectJson(runId, db, dir)
    expect(withDefault.status).toBe("done")
    expect(withDefault.final_state).toMatchObject({ answer: "42", second: "s", third: "t" })
    const validated = await stargraph(["validate", graph], { cwd: dir })
    expect(validated.stdout).toContain(`graph_hash=${withDefault.graph_hash}`)

    // A replay, with or without the flags, answers from the cassette: no request.
    const afterRun = server.requests.length
    const replay = await stargraph(["replay", runId, "--db", db], { cwd: dir })
    expect(replay.code).toBe(0)
    expect(replay.last).toMatch(/status=done/)
    const replayFlags = await stargraph(["replay", runId, "--db", db, "--lm-url", server.url, "--lm-model", "other-model", "--live-after-fork"], { cwd: dir })
    expect(replayFlags.code).toBe(0)
    expect(replayFlags.last).toMatch(/status=done/)
    expect(server.requests.length).toBe(afterRun)
  }, 120_000)

  it("--lm-timeout bounds a call to the default model", async () => {
    const dir = tempDir()
    const graph = graphIn(dir)
    const run = await stargraph(["run", graph, "--db", join(dir, "runs.sqlite"), "--lm-url", slow.url, "--lm-model", "m", "--lm-timeout", "300ms"], { cwd: dir })
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain("no completion within 300 ms (--lm-timeout)")
  }, 60_000)

  it("a call that gets no answer names where the URL was given: --lm-url for the default model, config.api_base for a node's own", async () => {
    const dir = tempDir()
    const byFlag = await stargraph(["run", graphIn(dir), "--db", join(dir, "flag.sqlite"), "--lm-url", "http://127.0.0.1:2/v1", "--lm-model", "x"], { cwd: dir })
    expect(byFlag.code).not.toBe(0)
    expect(byFlag.stderr).toMatch(/no answer from http:\/\/127\.0\.0\.1:2\/v1.*\(fix: check that the server is running and the --lm-url URL is right;/)
    expect(byFlag.stderr).not.toContain("config.api_base")
    // `ask` is answered by the default model; `own` names its own server, which is down.
    const own = await stargraph(["run", graphIn(dir, "http://127.0.0.1:2/v1"), "--db", join(dir, "own.sqlite"), "--lm-url", server.url, "--lm-model", "default-model"], { cwd: dir })
    expect(own.code).not.toBe(0)
    expect(own.stderr).toMatch(/node 'own'.*\(fix: check that the server is running and config\.api_base is right;/s)
  }, 60_000)

  it("--lm-key is taken, with a warning that the process list shows it", async () => {
    const dir = tempDir()
    const before = server.requests.length
    const run = await stargraph(["run", graphIn(dir), "--db", join(dir, "runs.sqlite"), "--lm-url", server.url, "--lm-model", "m", "--lm-key", "sk-visible-5678"], { cwd: dir })
    expect(run.code).toBe(0)
    expect(run.stderr).toMatch(/warning: --lm-key .*process list.*--lm-key-env/)
    expect(server.requests.slice(before).map((r) => r.headers["authorization"])).toEqual(["Bearer sk-visible-5678"])
  }, 60_000)

  it("resume gives the default model to the rest of a run started without it", async () => {
    const dir = tempDir()
    const graph = graphIn(dir)
    const db = join(dir, "runs.sqlite")
    const paused = await stargraph(["run", graph, "--db", db, "--interrupt-before", "ask"], { cwd: dir })
    expect(paused.code).toBe(3)
    const before = server.requests.length
    const resumed = await stargraph(["resume", runIdOf(paused.stdout + paused.stderr), "--db", db, "--lm-url", server.url, "--lm-model", "resume-model"], { cwd: dir })
    expect(resumed.code).toBe(0)
    expect(resumed.last).toMatch(/status=done/)
    expect(server.requests.slice(before).map((r) => r.body["model"])).toEqual(["resume-model"])
  }, 60_000)

  it("serve gives the default model to the runs it drives", async () => {
    const dir = tempDir()
    graphIn(dir)
    const before = server.requests.length
    const served = startStargraph(["serve", "--port", "0", "--db", join(dir, "runs.sqlite"), "--graphs", dir, "--lm-url", server.url, "--lm-model", "serve-model"], { cwd: dir })
    try {
      await served.waitForStdout(/listening on http:\/\/\S+/)
      const url = /listening on (http:\/\/\S+)/.exec(served.stdout())![1]!
      const created = await fetch(`${url}/v1/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ graph_id: "lm:default", params: {} }) })
      expect(created.status).toBe(202)
      const id = ((await created.json()) as { run_id: string }).run_id
      let status = ""
      for (let i = 0; i < 400 && status !== "done" && status !== "failed"; i++) {
        status = ((await (await fetch(`${url}/v1/runs/${id}`)).json()) as { status: string }).status
        if (status !== "done" && status !== "failed") await new Promise((r) => setTimeout(r, 25))
      }
      expect(status).toBe("done")
      expect(server.requests.slice(before).map((r) => r.body["model"])).toEqual(["serve-model"])
    } finally {
      served.child.kill("SIGTERM")
      await served.done
    }
  }, 60_000)

  const bad: ReadonlyArray<readonly [string, ReadonlyArray<string>, string, RegExp]> = [
    ["a URL that is not http(s)", ["--lm-url", "ftp://127.0.0.1/v1", "--lm-model", "m"], "--lm-url", /'ftp:\/\/127\.0\.0\.1\/v1' is not an http\(s\) URL .*fix: write the server's base URL/],
    ["not a URL", ["--lm-url", "localhost:11434", "--lm-model", "m"], "--lm-url", /is not an http\(s\) URL/],
    ["a URL with credentials", ["--lm-url", "http://user:s3cret@127.0.0.1:1/v1", "--lm-model", "m"], "--lm-url", /carries credentials \(user:password@\).*fix: write the server's base URL alone, and pass the key with --lm-key-env/],
    ["a URL with a query", ["--lm-url", "https://x.example/v1?api-key=s3cret", "--lm-model", "m"], "--lm-url", /carries a query string or fragment/],
    ["a blank model", ["--lm-url", "http://127.0.0.1:1/v1", "--lm-model", "  "], "--lm-model", /the model name is empty .*fix: add --lm-model <name>/],
    ["--lm-url without --lm-model", ["--lm-url", "http://127.0.0.1:1/v1"], "--lm-model", /--lm-url needs the model/],
    ["--lm-model without --lm-url", ["--lm-model", "m"], "--lm-url", /--lm-model needs the server/],
    ["a variable that is not set", ["--lm-url", "http://127.0.0.1:1/v1", "--lm-model", "m", "--lm-key-env", "STARGRAPH_TEST_NO_SUCH_VAR"], "--lm-key-env", /environment variable STARGRAPH_TEST_NO_SUCH_VAR is not set .*fix: export STARGRAPH_TEST_NO_SUCH_VAR=/],
    ["a key where the variable's name goes", ["--lm-url", "http://127.0.0.1:1/v1", "--lm-model", "m", "--lm-key-env", "sk-abc-123"], "--lm-key-env", /'sk-…' is not an environment variable name/],
    ["a bad duration", ["--lm-url", "http://127.0.0.1:1/v1", "--lm-model", "m", "--lm-timeout", "soon"], "--lm-timeout", /'soon' is not a duration .*fix: write seconds/],
    ["a zero duration", ["--lm-url", "http://127.0.0.1:1/v1", "--lm-model", "m", "--lm-timeout", "0"], "--lm-timeout", /from 1ms to 24h/],
    ["a key flag without a model", ["--lm-key-env", "HOME"], "--lm-key-env", /none is given/]
  ]

  it.each(bad)("run refuses %s, naming the flag", async (_name, flags, field, message) => {
    const dir = tempDir()
    const db = join(dir, "runs.sqlite")
    const run = await stargraph(["run", graphIn(dir), "--db", db, ...flags], { cwd: dir, env: { ...process.env, STARGRAPH_TEST_NO_SUCH_VAR: undefined } })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("InputError")
    expect(run.stderr).toContain(field)
    expect(run.stderr).toMatch(message)
    // A secret in the URL is not echoed back.
    expect(run.stderr).not.toContain("s3cret")
  }, 30_000)

  it.each([
    ["resume", ["resume", "run-none"]],
    ["respond", ["respond", "run-none", "--response", "{}"]],
    ["replay", ["replay", "run-none", "--live-after-fork"]],
    ["serve", ["serve", "--port", "0"]]
  ])("%s takes the flags and checks them before anything else", async (_name, args) => {
    const dir = tempDir()
    const run = await stargraph([...args, "--db", join(dir, "none.sqlite"), "--lm-url", "ftp://x/v1", "--lm-model", "m"], { cwd: dir })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/InputError: .*'ftp:\/\/x\/v1' is not an http\(s\) URL/)
  }, 30_000)
})

describe("a live language-model node with no model is refused before the run starts", () => {
  /** `first` (a set node), then `ask`, which names no model (`stub`/`model` change that). */
  const twoSteps = (dir: string, config = "", name = "graph.yaml"): string => {
    const file = join(dir, name)
    writeFileSync(file, [
      "ir_version: \"1.0.0\"", "id: lm:check",
      "state_schema: { fields: { question: { type: string, default: \"why?\" }, answer: { type: string }, seen: { type: string } } }",
      "nodes:",
      "  - { id: first, kind: set, values: { seen: \"yes\" } }",
      `  - { id: ask, kind: dspy, config: { signature: "question -> answer"${config} } }`,
      "edges: [{ from: first, to: ask }]",
      ""
    ].join("\n"))
    return file
  }
  const runsIn = (db: string): number => {
    const sqlite = new Database(db, { readonly: true })
    try {
      return (sqlite.prepare("SELECT count(*) AS n FROM runs_history").get() as { n: number }).n +
        (sqlite.prepare("SELECT count(*) AS n FROM pending_runs").get() as { n: number }).n
    } finally {
      sqlite.close()
    }
  }

  it("run exits 2 naming the node and the flags, with no run created (no step of it ran); with a model, a stub or --interrupt-before it runs", async () => {
    const dir = tempDir()
    const graph = twoSteps(dir)
    const fresh = join(dir, "fresh.sqlite")
    const refused = await stargraph(["run", graph, "--db", fresh], { cwd: dir })
    expect(refused.code).toBe(2)
    expect(refused.stdout).toBe("")
    expect(refused.stderr).toMatch(/^error: LanguageModelError\[no-model\]: node 'ask' before the run started: .*\(fix: pass --lm-url <base url> --lm-model <name>.*config\.stub: true/)
    expect(existsSync(fresh)).toBe(false)
    // An lm: block is the authoring format's: this graph (ir_version) refuses one, so the fix does not offer it plainly.
    expect(refused.stderr).toContain("an authoring-format graph, one without ir_version, may name it in an lm: {model: <name>, port: <port>} block instead")
    const withBlock = join(dir, "with-lm.yaml")
    writeFileSync(withBlock, `${readFileSync(graph, "utf8")}lm: { model: m, port: 8000 }\n`)
    const blocked = await stargraph(["validate", withBlock], { cwd: dir })
    expect([blocked.code, blocked.stderr]).toEqual([2, expect.stringContaining("lm: a graph cannot launch its model server here")])

    // A database with a run in it gets no second one.
    const db = join(dir, "runs.sqlite")
    const before = server.requests.length
    const ok = await stargraph(["run", graph, "--db", db, "--lm-url", server.url, "--lm-model", "check-model"], { cwd: dir })
    expect(ok.stderr).toBe("")
    expect(ok.last).toMatch(/status=done/)
    expect(server.requests.slice(before).map((r) => r.body["model"])).toEqual(["check-model"])
    expect(runsIn(db)).toBe(1)
    const again = await stargraph(["run", graph, "--db", db], { cwd: dir })
    expect(again.code).toBe(2)
    expect(again.stderr).toContain("node 'ask'")
    expect(runsIn(db)).toBe(1)

    // The node's own model, or a stub, needs no default.
    const own = await stargraph(["run", twoSteps(dir, `, model: node-model, api_base: "${server.url}"`, "own.yaml"), "--db", db], { cwd: dir })
    expect(own.stderr).toBe("")
    expect(own.last).toMatch(/status=done/)
    const stub = await stargraph(["run", twoSteps(dir, ", stub: true", "stub.yaml"), "--db", db], { cwd: dir })
    expect(stub.stderr).toBe("")
    expect(stub.last).toMatch(/status=done/)
    // A run that pauses before the node can be given the model on resume.
    const paused = await stargraph(["run", graph, "--db", db, "--interrupt-before", "ask"], { cwd: dir })
    expect(paused.code).toBe(3)
    expect(runsIn(db)).toBe(4)
  }, 120_000)

  it("validate warns (exit 0) naming the node; not for a stub or a node with its own model", async () => {
    const dir = tempDir()
    const warned = await stargraph(["validate", twoSteps(dir)], { cwd: dir })
    expect(warned.code).toBe(0)
    expect(warned.stdout).toMatch(/graph_hash=sha256:/)
    expect(warned.stderr).toContain("warning: 'ask' calls a language model and names no model: stargraph run refuses to start the graph without --lm-url")
    const stub = await stargraph(["validate", twoSteps(dir, ", stub: true", "stub.yaml")], { cwd: dir })
    expect(stub.stderr).toBe("")
    const own = await stargraph(["validate", twoSteps(dir, ", model: m", "own.yaml")], { cwd: dir })
    expect(own.stderr).toBe("")
  }, 60_000)
})
