/**
 * The original Stargraph's bundles (examples/bundles): each runs to `done` from the CLI
 * with its stubbed model (hitl_approval after a resume), and the evaluator-optimizer loop
 * runs on a live model (a real OpenAI-compatible server on 127.0.0.1), then replays from
 * its cassette with the server stopped, and forks live with --live-after-fork.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { copyFileSync, existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as YAML from "yaml"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"
import * as OpenAiServer from "../helpers/openaiServer.js"

const BUNDLES = join(ROOT, "examples", "bundles")
const graphOf = (name: string) => join(BUNDLES, name, "graph.yaml")

const inspect = async (id: string, db: string) =>
  JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"])).stdout) as { status: string; final_state: Record<string, unknown> }

describe("the original's bundles", () => {
  it("each runs to done in the library, routing on its stubbed model's fields", async () => {
    const layer = SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite") })
    const run = (name: string, inputs: Record<string, unknown>, response?: unknown) =>
      Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.load(graphOf(name))
        const first = yield* Effect.flatMap(graph.start({ inputs }), (r) => r.start())
        if (first.status !== "awaiting-input") return [first.status, first.final_state] as const
        const done = yield* Effect.flatMap(graph.resume(first.run_id, { response: { value: response } }), (r) => r.start())
        return [`${first.status} → ${done.status}`, done.final_state] as const
      }).pipe(Effect.provide(layer)))
    expect(await run("hitl_approval", { request: "rotate the keys" }, "approved")).toEqual([
      "awaiting-input → done",
      { request: "rotate the keys", answer: "stub-answer", rationale: "stub-rationale", approved_plan: "APPROVED:\nstub-answer" }
    ])
    const triage = (item: string) => run("triage_router", { item })
    expect(await triage("URGENT: the payments API is down")).toEqual(["done", { item: "URGENT: the payments API is down", verdict: "urgent", confidence: "1.0", answer: "stub-answer", summary: "", rationale: "stub-rationale" }])
    expect((await triage("the routine weekly report"))[1]).toMatchObject({ verdict: "routine", summary: "stub-summary", answer: "" })
    expect((await triage("an irrelevant newsletter"))[1]).toMatchObject({ verdict: "irrelevant", summary: "", answer: "" })
    const refined = await run("evaluator_optimizer", { task: "write a haiku about replay" })
    expect(refined[0]).toBe("done")
    expect(refined[1]).toMatchObject({ answer: "stub-answer", verdict: "pass", score: "1.0" })
    expect(await run("deep_research", { question: "what is exact replay?" })).toEqual(["done", {
      question: "what is exact replay?",
      brief: "what is exact replay?\n\nGaps identified by the completeness check (empty on the first pass):\n",
      answer: "stub-answer",
      tool_trace: [],
      verdict: "pass",
      score: "1.0",
      rationale: "stub-rationale"
    }])
    const orchestrated = await run("orchestrator_workers", { task: "compare graph runtimes" })
    expect(orchestrated[0]).toBe("done")
    expect(orchestrated[1]).toMatchObject({ tasks: ["stub-task"], answer: "stub-answer", tool_trace: [], summary: "stub-summary" })
    expect(orchestrated[1]["brief"]).toMatch(/^compare graph runtimes\n\nWork through these subtasks in order.*\n.*stub-task/)
    expect(orchestrated[1]["synth_input"]).toBe("Task:\ncompare graph runtimes\n\nWorker findings:\nstub-answer")
    const coded = await run("coding_agent", { task: "print the first ten primes" })
    expect(coded[0]).toBe("done")
    expect(coded[1]).toMatchObject({ tasks: ["stub-task"], code: "print('stub')", run_result: { exit_code: 0, stdout: "stub\n" }, verdict: "pass", score: "1.0" })
    expect(coded[1]["brief"]).toBe("print the first ten primes\n\nPlan:\n['stub-task']\n\nReviewer feedback from the previous attempt (empty on the first attempt):\n")
    expect(coded[1]["review_input"]).toMatch(/^Task:\nprint the first ten primes\n\nGenerated code:\nprint\('stub'\)\n\nExecution result:\n\{'stdout': 'stub\\n', .*'exit_code': 0/)
  })

  it("each runs to done from the CLI; hitl_approval stops in awaiting-input and resume finishes it", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const triage = await stargraph(["run", graphOf("triage_router"), "--inputs", "item=the routine weekly report", "--db", db])
    expect(triage.code).toBe(0)
    expect(triage.last).toMatch(/^run_id=run-\S+ status=done$/)
    expect(triage.stdout).toMatch(/halted at routine-path by r-routine-done: routine path handled/)
    const refine = await stargraph(["run", graphOf("evaluator_optimizer"), "--inputs", "task=write a haiku", "--db", db])
    expect(refine.code).toBe(0)
    expect(refine.stdout).toMatch(/halted at evaluate by r-evaluate-pass-halt: draft accepted by evaluator/)
    const research = await stargraph(["run", graphOf("deep_research"), "--inputs", "question=what is exact replay?", "--db", db])
    expect(research.code).toBe(0)
    expect(research.last).toMatch(/^run_id=run-\S+ status=done$/)
    expect(research.stdout).toMatch(/halted at check by r-check-pass-halt: research complete/)
    const orchestrated = await stargraph(["run", graphOf("orchestrator_workers"), "--inputs", "task=compare graph runtimes", "--db", db])
    expect(orchestrated.code).toBe(0)
    expect(orchestrated.last).toMatch(/^run_id=run-\S+ status=done$/)
    expect(orchestrated.stdout).toMatch(/halted at synthesize by r-synthesize-halt: orchestration complete/)
    expect((await inspect(runIdOf(orchestrated.last), db)).final_state["summary"]).toBe("stub-summary")
    // Stubbed, its code node runs no script: no grant needed.
    const coded = await stargraph(["run", graphOf("coding_agent"), "--inputs", "task=print the first ten primes", "--db", db])
    expect(coded.code).toBe(0)
    expect(coded.last).toMatch(/^run_id=run-\S+ status=done$/)
    expect(coded.stdout).toMatch(/halted at review by r-review-pass-halt: code approved by reviewer/)
    const asked = await stargraph(["run", graphOf("hitl_approval"), "--inputs", "request=rotate the keys", "--db", db])
    expect(asked.code).toBe(3)
    expect(asked.last).toMatch(/status=awaiting-input$/)
    expect(asked.stdout).toContain("waiting at 'approve': Approve the proposed plan?")
    const id = runIdOf(asked.last)
    const resumed = await stargraph(["resume", id, "--response", "\"approved\"", "--db", db])
    expect(resumed.code).toBe(0)
    expect(resumed.last).toBe(`run_id=${id} status=done`)
    expect((await inspect(id, db)).final_state["approved_plan"]).toBe("APPROVED:\nstub-answer")
  })

  it("evaluator_optimizer on a live model: the judge's rationale feeds the next draft; the CLI replays it with the server stopped", async () => {
    let drafts = 0
    const server = await OpenAiServer.start({
      respond: (r) => {
        const [system, user] = r.body["messages"] as Array<{ content: string }>
        if (system!.content.includes("Judge the content")) {
          return JSON.stringify(user!.content.includes("second")
            ? { reasoning: "it names replay now", verdict: "pass", score: 0.9 }
            : { reasoning: "it never mentions replay", verdict: "fail", score: 0.2 })
        }
        drafts++
        return JSON.stringify({ reasoning: "draft", answer: drafts === 1 ? "first draft" : "second draft, about replay" })
      }
    })
    // The bundle with its stubs swapped for the server, beside its state module.
    const dir = tempDir()
    const doc = YAML.parse(readFileSync(graphOf("evaluator_optimizer"), "utf8")) as { nodes: Array<{ config: Record<string, unknown> }> }
    for (const node of doc.nodes) {
      if (node.config["stub"] === true) {
        delete node.config["stub"]
        Object.assign(node.config, { model: "test-model", api_base: server.url })
      }
    }
    writeFileSync(join(dir, "graph.yaml"), YAML.stringify(doc))
    copyFileSync(join(BUNDLES, "evaluator_optimizer", "state.ts"), join(dir, "state.ts"))
    // state.ts imports effect: resolve it from the repository's packages.
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"))
    const db = join(dir, "runs.sqlite")

    const live = await stargraph(["run", join(dir, "graph.yaml"), "--inputs", "task=write a haiku about replay", "--db", db])
    expect(live.code).toBe(0)
    const id = runIdOf(live.last)
    const recorded = await inspect(id, db)
    expect(recorded.final_state).toMatchObject({ answer: "second draft, about replay", verdict: "pass", score: "0.9", rationale: "it names replay now" })
    // The second brief carried the judge's objection to the drafter.
    const second = server.requests.filter((r) => !String(r.body["messages"][0].content).includes("Judge the content"))[1]!
    expect(second.body["messages"][1].content).toContain("it never mentions replay")
    expect(server.requests).toHaveLength(4)
    const url = server.url
    await server.close()

    const replayed = await stargraph(["replay", id, "--db", db, "--diff"])
    expect(replayed.code).toBe(0)
    const cf = /cf_run_id=(\S+)/.exec(replayed.stdout)![1]!
    expect((await inspect(cf, db)).final_state).toEqual(recorded.final_state)
    expect(JSON.parse(replayed.lines.at(-2)!)).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    expect(replayed.last).toBe(`run_id=${cf} status=done`)

    // A changed task is a divergence, unless the fork may call the model (which is gone: a typed error).
    const mutation = join(dir, "mutation.json")
    writeFileSync(mutation, JSON.stringify({ state_overrides: { task: "write a limerick" } }))
    const diverged = await stargraph(["replay", id, "--db", db, "--mutation", mutation])
    expect(diverged.code).toBe(1)
    expect(diverged.stderr).toMatch(/error: ReplayDivergenceError: .*node 'draft' call #0 'lm\.reason'/)
    const offline = await stargraph(["replay", id, "--db", db, "--mutation", mutation, "--live-after-fork"])
    expect(offline.code).toBe(1)
    expect(offline.stderr).toContain(`error: LanguageModelError[request-failed]: node 'draft' step 2: no answer from ${url}`)
    // The server back on its port: the fork calls it where the cassette cannot answer.
    const back = await OpenAiServer.start({ port: Number(new URL(url).port), respond: () => JSON.stringify({ reasoning: "ok", answer: "a limerick", verdict: "pass", score: 1 }) })
    try {
      const relive = await stargraph(["replay", id, "--db", db, "--mutation", mutation, "--live-after-fork"])
      expect(relive.code).toBe(0)
      const fork = /cf_run_id=(\S+)/.exec(relive.stdout)![1]!
      expect((await inspect(fork, db)).final_state).toMatchObject({ task: "write a limerick", answer: "a limerick", verdict: "pass", score: "1.0" })
      expect(back.requests).toHaveLength(2)
    } finally {
      await back.close()
    }
  })

  it("deep_research on a live model: the agent searches and reads a page, the judge's gaps feed the next pass; replayed with the servers stopped", async () => {
    // A SearXNG-format search engine and a page on 127.0.0.1.
    const searches: Array<string> = []
    const web = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1")
      if (url.pathname === "/search") {
        searches.push(url.searchParams.get("q") ?? "")
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ query: url.searchParams.get("q"), results: [{ url: `${base}/replay`, title: "Exact replay", content: "how a cassette answers a run" }] }))
      } else {
        res.writeHead(200, { "content-type": "text/html" })
        res.end("<html><head><title>Exact replay</title></head><body><p>A replay answers every call from the cassette.</p></body></html>")
      }
    })
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve))
    const base = `http://127.0.0.1:${(web.address() as AddressInfo).port}`
    const agentTurns = [
      { next_thought: "search first", next_tool_name: "std_web_search", next_tool_args: { query: "exact replay" } },
      { next_thought: "read the hit", next_tool_name: "std_fetch_page", next_tool_args: { url: `${base}/replay` } },
      { next_thought: "done", next_tool_name: "finish", next_tool_args: {}, answer: "replay re-runs a graph" },
      { next_thought: "the gap: the cassette", next_tool_name: "std_web_search", next_tool_args: { query: "replay cassette" } },
      { next_thought: "done", next_tool_name: "finish", next_tool_args: {}, answer: "replay answers every call from the cassette" }
    ]
    let turn = 0
    const server = await OpenAiServer.start({
      respond: (r) => {
        const [system, user] = r.body["messages"] as Array<{ content: string }>
        if (system!.content.includes("Judge the content")) {
          return JSON.stringify(user!.content.includes("cassette")
            ? { reasoning: "complete and sourced", verdict: "pass", score: 0.9 }
            : { reasoning: "it never says where the answers come from", verdict: "fail", score: 0.3 })
        }
        return JSON.stringify(agentTurns[turn++])
      }
    })
    const dir = tempDir()
    const doc = YAML.parse(readFileSync(graphOf("deep_research"), "utf8")) as { nodes: Array<{ config: Record<string, unknown> }> }
    for (const node of doc.nodes) delete node.config["stub"]
    writeFileSync(join(dir, "graph.yaml"), YAML.stringify(doc))
    copyFileSync(join(BUNDLES, "deep_research", "state.ts"), join(dir, "state.ts"))
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"))
    const db = join(dir, "runs.sqlite")

    // As the README runs it: the run's model from --lm-url/--lm-model, search and net.fetch from the environment.
    const live = await stargraph(
      ["run", join(dir, "graph.yaml"), "--inputs", "question=what is exact replay?", "--db", db, "--lm-url", server.url, "--lm-model", "test-model"],
      { env: { STARGRAPH_SEARCH_URL: base, STARGRAPH_CAPABILITIES: "net.fetch:http://127.0.0.1:*" } }
    )
    await server.close()
    await new Promise((resolve) => web.close(resolve))
    expect(live.stderr).toBe("")
    expect(live.code).toBe(0)
    expect(live.stdout).toMatch(/halted at check by r-check-pass-halt: research complete/)
    const id = runIdOf(live.last)
    const recorded = await inspect(id, db)
    expect(recorded.final_state).toMatchObject({
      answer: "replay answers every call from the cassette",
      verdict: "pass",
      score: "0.9",
      rationale: "complete and sourced",
      tool_trace: [{ tool: "std_web_search", args: { query: "replay cassette" } }]
    })
    expect(searches).toEqual(["exact replay", "replay cassette"])
    expect(turn).toBe(5)
    // The first pass read the page; the second brief carried the judge's gaps.
    const agentRequests = server.requests.filter((r) => !String(r.body["messages"][0].content).includes("Judge the content"))
    expect(JSON.stringify(agentRequests[2]!.body["messages"])).toContain("A replay answers every call from the cassette.")
    expect(agentRequests[3]!.body["messages"][1].content).toContain("it never says where the answers come from")
    expect(server.requests).toHaveLength(7)

    // Replayed with neither server, nor the model flags, nor a grant: the same final state.
    const replayed = await stargraph(["replay", id, "--db", db, "--diff"])
    expect(replayed.stderr).toBe("")
    expect(replayed.code).toBe(0)
    const cf = /cf_run_id=(\S+)/.exec(replayed.stdout)![1]!
    expect((await inspect(cf, db)).final_state).toEqual(recorded.final_state)
    expect(JSON.parse(replayed.lines.at(-2)!)).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    expect(replayed.last).toBe(`run_id=${cf} status=done`)
  })

  it("coding_agent on a live model: the script really runs under tools:std:exec, the reviewer's rationale feeds the retry; replayed with the server stopped, running nothing", async () => {
    const dir = tempDir()
    const marker = join(dir, "ran.txt")
    const trace = `open(${JSON.stringify(marker)}, "a").write("ran\\n")\n`
    const first = `${trace}print(sum(range(100)))`
    const second = `${trace}print(sum(range(101)))`
    const server = await OpenAiServer.start({
      respond: (r) => {
        const [system, user] = r.body["messages"] as Array<{ content: string }>
        if (system!.content.includes("Judge the content")) {
          return JSON.stringify(user!.content.includes("'stdout': '5050\\n'") && user!.content.includes("'exit_code': 0")
            ? { reasoning: "it prints 5050", verdict: "pass", score: 0.95 }
            : { reasoning: "it stops at 99: the sum must include 100", verdict: "fail", score: 0.1 })
        }
        if (system!.content.includes("ordered list of concrete tasks")) {
          return JSON.stringify({ reasoning: "two steps", tasks: ["add the numbers 1 to 100", "print the sum"] })
        }
        // The coder: the reviewer's objection, once it is in the brief, fixes the script.
        return JSON.stringify({ reasoning: "sum it", code: "```python\n" + (user!.content.includes("must include 100") ? second : first) + "\n```" })
      }
    })
    const doc = YAML.parse(readFileSync(graphOf("coding_agent"), "utf8")) as { nodes: Array<{ config: Record<string, unknown> }> }
    for (const node of doc.nodes) delete node.config["stub"]
    writeFileSync(join(dir, "graph.yaml"), YAML.stringify(doc))
    copyFileSync(join(BUNDLES, "coding_agent", "state.ts"), join(dir, "state.ts"))
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"))
    const db = join(dir, "runs.sqlite")
    const args = ["run", join(dir, "graph.yaml"), "--inputs", "task=print the sum of 1 to 100", "--db", db, "--lm-url", server.url, "--lm-model", "test-model"]

    // Without the grant the script never runs: the code node fails with capability-denied.
    const denied = await stargraph(args)
    expect(denied.code).toBe(1)
    expect(denied.stderr).toMatch(/ToolError\[capability-denied\].*tools:std:exec/)
    expect(existsSync(marker)).toBe(false)

    const live = await stargraph(args, { env: { STARGRAPH_CAPABILITIES: "tools:std:exec" } })
    await server.close()
    expect(live.stderr).toBe("")
    expect(live.code).toBe(0)
    expect(live.stdout).toMatch(/halted at review by r-review-pass-halt: code approved by reviewer/)
    const id = runIdOf(live.last)
    const recorded = await inspect(id, db)
    expect(recorded.final_state).toMatchObject({
      tasks: ["add the numbers 1 to 100", "print the sum"],
      code: second,
      run_result: { stdout: "5050\n", exit_code: 0, timed_out: false },
      verdict: "pass",
      score: "0.95",
      rationale: "it prints 5050"
    })
    expect(String(recorded.final_state["brief"])).toContain("Plan:\n['add the numbers 1 to 100', 'print the sum']")
    expect(String(recorded.final_state["brief"])).toContain("it stops at 99: the sum must include 100")
    // Both scripts really ran.
    expect(readFileSync(marker, "utf8")).toBe("ran\nran\n")

    // Replayed with no server and no grant: the same final state, and no script ran again.
    const replayed = await stargraph(["replay", id, "--db", db, "--diff"])
    expect(replayed.stderr).toBe("")
    expect(replayed.code).toBe(0)
    const cf = /cf_run_id=(\S+)/.exec(replayed.stdout)![1]!
    expect((await inspect(cf, db)).final_state).toEqual(recorded.final_state)
    expect(JSON.parse(replayed.lines.at(-2)!)).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    expect(replayed.last).toBe(`run_id=${cf} status=done`)
    expect(readFileSync(marker, "utf8")).toBe("ran\nran\n")
  })
})

it("rag_qa runs to done offline (stub: true) from kb.db; its retrieval is in the cassette, so the CLI replays it from an emptied store", async () => {
  const dir = tempDir()
  for (const file of ["graph.yaml", "state.ts", "kb.db"]) copyFileSync(join(BUNDLES, "rag_qa", file), join(dir, file))
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"))
  const db = join(dir, "runs.sqlite")
  const run = await stargraph(["run", join(dir, "graph.yaml"), "--inputs", "question=How does a replay answer a model call?", "--db", db])
  expect(run.code).toBe(0)
  expect(run.stdout).toMatch(/halted at check by r-check-pass-halt: answer grounded in citations/)
  const id = runIdOf(run.last)
  const recorded = await inspect(id, db)
  expect(recorded.status).toBe("done")
  expect(recorded.final_state).toMatchObject({ answer: "stub-answer", verdict: "pass", score: "1.0" })
  expect((recorded.final_state["citations"] as Array<string>)[0]).toBe("doc-replay")
  expect(recorded.final_state["review_input"]).toContain("Cited documents:\n['doc-replay', ")
  // The store emptied (the graph still builds): the replay reads the retrieval from the cassette.
  writeFileSync(join(dir, "kb.db"), "")
  const Database = (await import("better-sqlite3")).default
  const empty = new Database(join(dir, "kb.db"))
  empty.exec("CREATE TABLE documents (doc_id TEXT PRIMARY KEY, content BLOB NOT NULL, is_text INTEGER NOT NULL, metadata BLOB NOT NULL, created_at TEXT NOT NULL)")
  empty.close()
  const replayed = await stargraph(["replay", id, "--db", db, "--diff"])
  expect(replayed.code).toBe(0)
  const cf = /cf_run_id=(\S+)/.exec(replayed.stdout)![1]!
  expect((await inspect(cf, db)).final_state).toEqual(recorded.final_state)
})
