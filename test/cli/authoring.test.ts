import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as YAML from "yaml"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"
import * as OpenAi from "../helpers/openaiServer.js"

/** An authoring-format loop: `work` routes back to itself on `refine` until it says `sufficient`. */
const LOOP = `id: authored-loop
state:
  rounds: int
  message: str
  verdict: {type: str, route: true}
nodes:
  work: {kind: function, module: ./nodes.ts, export: work}
  finish: {kind: function, module: ./nodes.ts, export: finish}
routes:
  work: {refine: work, sufficient: finish}
  finish: done
`

const NODES = `export const work = (s: { rounds: number }) => ({ rounds: s.rounds + 1, verdict: s.rounds + 1 >= 2 ? "sufficient" : "refine" })
export const finish = (s: { rounds: number }) => ({ message: \`finished after \${s.rounds} rounds\` })
`

let work: string
let server: OpenAi.OpenAiServer
beforeAll(async () => {
  server = await OpenAi.start({ respond: () => "{\"reasoning\": \"because\", \"answer\": \"42\"}" })
  work = tempDir()
  writeFileSync(join(work, "loop.yaml"), LOOP)
  writeFileSync(join(work, "nodes.ts"), NODES)
})

afterAll(async () => {
  await server.close()
})

describe("graphs in the authoring format (no ir_version)", () => {
  it("examples/authoring/graph.yaml runs offline to done, halted by the judge's pass route", async () => {
    const r = await stargraph(["run", join(ROOT, "examples", "authoring", "graph.yaml"), "--inputs", "question=what routes a run?", "--db", join(work, "example.sqlite")])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("halted at judge by r-judge-pass: judge: verdict pass")
    expect(r.last).toMatch(/status=done$/)
  })

  it("runs with its routes firing live: work loops until its verdict is sufficient, then finish halts", async () => {
    const r = await stargraph(["run", "loop.yaml", "--db", join(work, "loop.sqlite")], { cwd: work })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("[fired r-work-refine; goto work (r-work-refine)]")
    expect(r.stdout).toContain("message: \"finished after 2 rounds\"")
    expect(r.stdout).toContain("halted at finish by r-finish: finish complete")
    expect(r.last).toMatch(/status=done$/)
  })

  it("runs as the spec of a subgraph node", async () => {
    writeFileSync(join(work, "parent.yaml"), "ir_version: \"1.0.0\"\nid: run:parent\nstate_schema: {rounds: int, message: str}\nnodes:\n  - {id: child, kind: subgraph, spec: ./loop.yaml}\n")
    const r = await stargraph(["run", "parent.yaml", "--inputs", "{\"rounds\": 0, \"message\": \"\"}", "--db", join(work, "parent.sqlite")], { cwd: work })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("message: \"finished after 2 rounds\"")
  })

  it("compile prints the lowered IR, which is the same graph (same graph_hash), and --show-clips each rule's CLIPS", async () => {
    const r = await stargraph(["compile", "loop.yaml", "--show-clips"], { cwd: work })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const ir = YAML.parse(r.stdout) as Record<string, unknown>
    expect([ir["ir_version"], ir["id"]]).toEqual(["1.0.0", "graph:authored-loop"])
    expect(r.lines).toContain("#   r-work-refine: (node-id (id work)) (verdict (value \"refine\")) => goto work")
    expect(r.lines).toContain("#   r-finish: (node-id (id finish)) => halt (finish complete)")
    writeFileSync(join(work, "lowered.yaml"), r.stdout)
    const hashOf = async (file: string) => (await stargraph(["validate", file], { cwd: work })).lines.find((l) => l.startsWith("graph_hash="))
    const authored = await hashOf("loop.yaml")
    expect(authored).toMatch(/^graph_hash=sha256:/)
    expect(await hashOf("lowered.yaml")).toBe(authored)
  })

  it("compile reports a shape error at the key written, exit 2", async () => {
    mkdirSync(join(work, "bad"), { recursive: true })
    writeFileSync(join(work, "bad", "graph.yaml"), "nodes:\n  n: {kind: echo}\nroutes:\n  ghost: done\n")
    const r = await stargraph(["compile", "bad/graph.yaml"], { cwd: work })
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe("error: IRValidationError: bad/graph.yaml:4 routes.ghost: authoring: route source 'ghost' is not a declared node (fix: route from one of: n)")
  })

  it("compile prints an IR document as written, with a note", async () => {
    const r = await stargraph(["compile", join(ROOT, "examples", "rules", "hello.yaml")])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain("it is IR already")
    expect((YAML.parse(r.stdout) as Record<string, unknown>)["id"]).toBe("run:hello")
  })

  it("an lm block attaches the run to the model server it names on this machine; with --lm-url too, refused", async () => {
    const port = new URL(server.url).port
    writeFileSync(join(work, "lm.yaml"), `id: lm-graph
state:
  question: str
  answer: str
  rationale: str
nodes:
  ask: {kind: reason, input: question}
lm: {provider: sglang, model: graph-model, port: ${port}}
`)
    const before = server.requests.length
    const r = await stargraph(["run", "lm.yaml", "--inputs", "question=why?", "--db", join(work, "lm.sqlite")], { cwd: work })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("answer: \"42\"")
    expect(server.requests.slice(before).map((q) => [q.path, q.body["model"]])).toEqual([["/v1/chat/completions", "graph-model"]])
    const both = await stargraph(["run", "lm.yaml", "--db", join(work, "lm.sqlite"), "--lm-url", server.url, "--lm-model", "other"], { cwd: work })
    expect(both.code).toBe(2)
    expect(both.stderr).toMatch(/^error: InputError: --lm-url: the graph's lm block names its model server \(graph-model at http:\/\/127\.0\.0\.1:\d+\/v1\), and --lm-url names another/)
    expect(server.requests.length).toBe(before + 1)
    // A resumed run gets the graph's model too.
    const paused = await stargraph(["run", "lm.yaml", "--inputs", "question=why?", "--db", join(work, "lm.sqlite"), "--interrupt-before", "ask"], { cwd: work })
    expect(paused.code).toBe(3)
    const resumed = await stargraph(["resume", runIdOf(paused.last), "--db", join(work, "lm.sqlite")], { cwd: work })
    expect(resumed.stderr).toBe("")
    expect([resumed.code, resumed.last]).toEqual([0, expect.stringMatching(/status=done$/)])
    expect(server.requests.slice(before + 1).map((q) => q.body["model"])).toEqual(["graph-model"])
  })

  it("a run on an lm block started with --lm-key-env resumes with that key; one started with --lm-key asks for it again", async () => {
    const port = new URL(server.url).port
    writeFileSync(join(work, "lm-key.yaml"), `id: lm-key
state:
  question: str
  answer: str
  rationale: str
nodes:
  ask: {kind: reason, input: question}
lm: {model: graph-model, port: ${port}}
`)
    const db = join(work, "lm-key.sqlite")
    const env = { LM_TEST_KEY: "sekrit-123" }
    const paused = await stargraph(["run", "lm-key.yaml", "-i", "question=why?", "--db", db, "--interrupt-before", "ask", "--lm-key-env", "LM_TEST_KEY"], { cwd: work, env })
    expect(paused.code).toBe(3)
    const before = server.requests.length
    const resumed = await stargraph(["resume", runIdOf(paused.last), "--db", db], { cwd: work, env })
    expect(resumed.stderr).toBe("")
    expect([resumed.code, resumed.last]).toEqual([0, expect.stringMatching(/status=done$/)])
    expect(server.requests.slice(before).map((q) => [q.body["model"], q.headers["authorization"]])).toEqual([["graph-model", "Bearer sekrit-123"]])
    // Started with the key itself: resuming without it is refused before anything runs.
    const literal = await stargraph(["run", "lm-key.yaml", "-i", "question=why?", "--db", db, "--interrupt-before", "ask", "--lm-key", "sekrit-456"], { cwd: work })
    expect(literal.code).toBe(3)
    const refused = await stargraph(["resume", runIdOf(literal.last), "--db", db], { cwd: work })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain("was started with --lm-key for its default model (graph-model at http://127.0.0.1:")
    expect(server.requests.length).toBe(before + 1)
  })
})
