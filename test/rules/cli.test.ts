/**
 * Rules from the command line: the original's graphs run to done with their firings in
 * the output, the audit log and `inspect --step`; `--inspect` dry runs, `simulate`,
 * `validate --rules`, and bad rules as one line with exit 2.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const EXAMPLES = join(ROOT, "examples", "rules")

describe("rules from the CLI", () => {
  it("runs the original's hello graph to done, showing the firings in the output, the audit log and inspect --step", async () => {
    const dir = tempDir()
    const db = join(dir, "db.sqlite")
    const audit = join(dir, "audit.jsonl")
    const r = await stargraph(["run", join(EXAMPLES, "hello.yaml"), "--inputs", "message=hello", "--db", db, "--audit-log", audit])
    expect(r.code).toBe(0)
    expect(r.last).toMatch(/^run_id=run-\S+ status=done$/)
    expect(r.stdout).toMatch(/step 1 +node_a .*fired r-advance; goto node_b \(r-advance\)/)
    expect(r.stdout).toMatch(/halted at node_b by r-halt: hello example reached node_b/)
    const events = readFileSync(audit, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; rules?: { fired: Array<string> }; halt?: unknown })
    expect(events.filter((e) => e.event === "step.completed").map((e) => e.rules?.fired)).toEqual([["r-advance"], ["r-halt"]])
    expect(events.find((e) => e.event === "run.finished")?.halt).toEqual({ rule: "r-halt", reason: "hello example reached node_b", node: "node_b" })
    const step = await stargraph(["inspect", runIdOf(r.last), "--db", db, "--step", "2"])
    expect(step.code).toBe(0)
    expect(step.stdout).toMatch(/r-halt +after node_b +facts f-\d+/)
    expect(step.stdout).toMatch(/f-\d+ +\(node-id \(id node_b\)\)/)
    expect(step.stdout).toMatch(/f-0 +\(initial-fact\)/)
    const json = JSON.parse((await stargraph(["inspect", runIdOf(r.last), "--db", db, "--step", "1", "--json"])).stdout) as { rules: { firings: Array<{ rule: string }> } }
    expect(json.rules.firings.map((f) => f.rule)).toEqual(["r-advance"])
  })

  it("runs the first-graph tutorial (state_class Schema) and the fathom-rules tutorial (a governance pack) on both branches", async () => {
    const db = join(tempDir(), "db.sqlite")
    const first = await stargraph(["run", join(EXAMPLES, "first-graph", "graph.yaml"), "--inputs", "message=hello", "--db", db])
    expect(first.last).toMatch(/status=done$/)
    for (const [risk, node] of [["high", "node_review"], ["low", "node_ship"]]) {
      const r = await stargraph(["run", join(EXAMPLES, "fathom-rules", "graph.yaml"), "--inputs", `risk_class=${risk}`, "--db", db])
      expect(r.last).toMatch(/status=done$/)
      expect(r.stdout).toContain(`halted at ${node}`)
    }
  })

  it("run --inspect stops where the run would stop for a person: an interrupt node, or a breakpoint given with the run", async () => {
    const dir = tempDir()
    const approval = join(ROOT, "examples", "approval", "graph.yaml")
    const head = [expect.stringMatching(/^graph_hash=/), "rule_firings=1", "  step=1 node=draft rule=edges-from-draft fired=True → goto review (edges-from-draft)"]
    const asks = await stargraph(["run", approval, "--inspect", "-i", "request=x"], { cwd: dir })
    expect([asks.code, asks.lines.slice(0, 3)]).toEqual([0, head])
    expect(asks.last).toMatch(/^ended=interrupt: the run would stop at node 'review' \(step 2, not run yet\), waiting for input: "Approve the draft\?/)
    const before = await stargraph(["run", approval, "--inspect", "-i", "request=x", "--interrupt-before", "review"], { cwd: dir })
    expect([before.code, before.lines]).toEqual([0, [...head, "ended=interrupt: the run would pause at a breakpoint before node 'review' (step 2, not run yet; --interrupt-before)"]])
    const after = await stargraph(["run", approval, "--inspect", "-i", "request=x", "--interrupt-after", "draft"], { cwd: dir })
    expect(after.last).toBe("ended=interrupt: the run would pause at a breakpoint after node 'draft' (step 1, committed; --interrupt-after)")
    const bundle = await stargraph(["run", join(ROOT, "examples", "bundles", "hitl_approval", "graph.yaml"), "--inspect", "-i", "request=x"], { cwd: dir })
    expect(bundle.last).toBe("ended=interrupt: the run would stop at node 'approve' (step 2, not run yet), waiting for input: \"Approve the proposed plan?\"")
  })

  it("run --inspect prints the rule trace without running anything; simulate evaluates fixtures; validate --rules prints the program", async () => {
    const dir = tempDir()
    const trace = await stargraph(["run", join(EXAMPLES, "hello.yaml"), "--inspect", "--db", join(dir, "never.sqlite")], { cwd: dir })
    expect(trace.code).toBe(0)
    expect(trace.lines).toEqual([
      expect.stringMatching(/^graph_hash=sha256:[0-9a-f]{64}$/),
      "rule_firings=2",
      "  step=1 node=node_a rule=r-advance fired=True → goto node_b (r-advance)",
      "  step=2 node=node_b rule=r-halt fired=True → halt: hello example reached node_b (r-halt)",
      "ended=halt"
    ])
    // A loop whose exit depends on what a node writes stops where it comes back, saying why;
    // a required input left out is named as `run` names it (exit 2: run would refuse it).
    const hello = join(ROOT, "examples", "hello", "graph.yaml")
    const loop = [
      expect.stringMatching(/^graph_hash=/),
      "rule_firings=2",
      "  step=1 node=greet rule=edges-from-greet fired=True → goto count (edges-from-greet)",
      "  step=2 node=count rule=edges-from-count-case-0 fired=True → goto count (edges-from-count-case-0)",
      "ended=loop: node 'count' routes back to itself and no node runs in a dry run, so its exit condition cannot change"
    ]
    const given = await stargraph(["run", hello, "--inspect", "--inputs", "message=hi"], { cwd: dir })
    expect([given.code, given.lines, given.stderr]).toEqual([0, loop, ""])
    const unnamed = await stargraph(["run", hello, "--inspect"], { cwd: dir })
    expect([unnamed.code, unnamed.lines]).toEqual([2, loop])
    expect(unnamed.stderr).toMatch(/^error: StateValidationError: inputs field 'message' is missing .*\(fix: pass it: --inputs message=<value> on the CLI/)
    expect(unnamed.stderr.trim().split("\n")).toHaveLength(1)
    const fixtures = join(dir, "fixtures.json")
    writeFileSync(fixtures, JSON.stringify([
      { node: "node_a", state: { risk_class: "high" } },
      { node: "node_a", state: { risk_class: "low" } }
    ]))
    const sim = await stargraph(["simulate", join(EXAMPLES, "fathom-rules", "graph.yaml"), "--fixtures", fixtures])
    expect(sim.code).toBe(0)
    expect(sim.lines).toEqual([
      "fixture 1 node=node_a fired=[r-route-high-risk] → goto node_review (r-route-high-risk)",
      "fixture 2 node=node_a fired=[r-route-low-risk] → goto node_ship (r-route-low-risk)"
    ])
    // The README's own fixtures file gives the same; a bad fixture is one line naming it.
    const shipped = await stargraph(["simulate", join(EXAMPLES, "fathom-rules", "graph.yaml"), "--fixtures", join(EXAMPLES, "fathom-rules", "fixtures.json")])
    expect(shipped.lines).toEqual(sim.lines)
    writeFileSync(fixtures, JSON.stringify([{ node: "nope", state: {} }]))
    const bad = await stargraph(["simulate", join(EXAMPLES, "fathom-rules", "graph.yaml"), "--fixtures", fixtures])
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/^error: InputError: --fixtures\[0\]\.node: "nope" is not a node of run:hello-governed \(fix: each fixture is \{"node": one of node_a, node_review, node_ship,/)])
    expect(bad.stderr.trim().split("\n")).toHaveLength(1)
    // An empty list evaluates nothing: said, not an empty success.
    writeFileSync(fixtures, "[]")
    const empty = await stargraph(["simulate", join(EXAMPLES, "fathom-rules", "graph.yaml"), "--fixtures", fixtures])
    expect([empty.code, empty.stdout]).toEqual([2, ""])
    expect(empty.stderr).toMatch(/^error: InputError: --fixtures: the file holds no fixtures/)
    // An undeclared field, a value of the wrong type, a fact no template takes: each names its fixture.
    const refusal = async (fixture: unknown) => {
      writeFileSync(fixtures, JSON.stringify([{ node: "node_a", state: { risk_class: "low" } }, fixture]))
      const r = await stargraph(["simulate", join(EXAMPLES, "fathom-rules", "graph.yaml"), "--fixtures", fixtures])
      expect([r.code, r.stdout]).toEqual([2, ""])
      return r.stderr.trim()
    }
    expect(await refusal({ node: "node_a", state: { nofield: 1 } })).toMatch(/^error: InputError: --fixtures\[1\]\.state\.nofield: fixture 2: 'nofield' is not a state field \(fix: use one of: /)
    expect(await refusal({ node: "node_a", state: { risk_class: 5 } })).toMatch(/^error: InputError: --fixtures\[1\]\.state\.risk_class: fixture 2: Expected "low", actual 5 \(fix: give 'risk_class' a value of its declared type\)$/)
    expect(await refusal({ node: "node_a", facts: ["(risk_class (nope 1))"] })).toMatch(/^error: RuleError\[.*fixture 2, fact \(risk_class \(nope 1\)\): /)
    // The original's form: a YAML mapping of every node to its synthetic output, walked in
    // declaration order with one working memory; the original's trace lines.
    const outputs = join(dir, "outputs.yaml")
    writeFileSync(outputs, "node_a: {}\nnode_b: { message: done }\n")
    const original = await stargraph(["simulate", join(EXAMPLES, "hello.yaml"), "--fixtures", outputs])
    expect([original.code, original.lines]).toEqual([0, [
      expect.stringMatching(/^graph_hash=sha256:[0-9a-f]{64}$/),
      "rule_firings=2",
      "  rule=r-advance fired=True matched=[node_a] actions=[goto]",
      "  rule=r-halt fired=True matched=[node_b] actions=[halt]"
    ]])
    writeFileSync(outputs, "node_a: {}\n")
    const missing = await stargraph(["simulate", join(EXAMPLES, "hello.yaml"), "--fixtures", outputs])
    expect([missing.code, missing.stderr]).toEqual([2, "error: InputError: --fixtures.node_b: no synthetic output for node 'node_b': simulate runs no node, so every node needs one (fix: add 'node_b: {}' (the fields it writes, or nothing))\n"])
    writeFileSync(outputs, "node_a: {}\nnode_b: {}\nnode_z: {}\n")
    expect((await stargraph(["simulate", join(EXAMPLES, "hello.yaml"), "--fixtures", outputs])).stderr).toMatch(/^error: InputError: --fixtures\.node_z: 'node_z' is not a node of run:hello/)
    writeFileSync(outputs, "node_a: { nofield: 1 }\nnode_b: {}\n")
    expect((await stargraph(["simulate", join(EXAMPLES, "hello.yaml"), "--fixtures", outputs])).stderr).toMatch(/^error: InputError: --fixtures\.node_a\.nofield: node node_a: 'nofield' is not a state field/)
    const rules = await stargraph(["validate", join(EXAMPLES, "fathom-rules", "graph.yaml"), "--rules"])
    expect(rules.stdout).toMatch(/packs hello\.routing@1\.0\.0/)
    expect(rules.stdout).toContain("(defrule r-route-high-risk")
    expect(rules.stdout).toContain("(deftemplate risk_class (slot value)")
  })

  it("a bad rule is one line on stderr with the file, line and fix, exit 2", async () => {
    const dir = tempDir()
    const file = join(dir, "graph.yaml")
    writeFileSync(file, readFileSync(join(EXAMPLES, "hello.yaml"), "utf8").replace("target: node_b", "target: node_c"))
    const bad = await stargraph(["validate", file])
    expect(bad.code).toBe(2)
    expect(bad.stderr.trim().split("\n")).toHaveLength(1)
    expect(bad.stderr).toMatch(/IRValidationError: .*graph\.yaml:\d+ rules\[0\]\.then\[0\]\.target: goto to unknown node 'node_c' \(fix: use one of: node_a, node_b/)
    writeFileSync(file, readFileSync(join(EXAMPLES, "hello.yaml"), "utf8").replace('when: "(initial-fact)"', 'when: "(initial-fact"'))
    const unbalanced = await stargraph(["validate", file])
    expect(unbalanced.code).toBe(2)
    expect(unbalanced.stderr).toMatch(/RuleError\[parse\]: .*graph\.yaml:\d+:\d+ defrule r-advance/)
    writeFileSync(file, [
      'ir_version: "1.0.0"', "id: run:idle-timeout", "state_schema: { message: str }",
      "nodes: [{ id: ask, kind: echo }, { id: late, kind: halt }]",
      'rules: [{ id: wait, when: { node: ask }, then: [{ kind: interrupt, prompt: "Answer", on_timeout: "goto:late" }] }]'
    ].join("\n"))
    const idle = await stargraph(["validate", file])
    expect([idle.code, idle.stderr.trim()]).toEqual([2, expect.stringMatching(/rules\[0\]\.then\[0\]\.on_timeout: on_timeout has no effect without a timeout \(fix: add timeout/)])
    // The original's way of writing "no timeout" (its soc-triage demo): timeout null, on_timeout halt.
    writeFileSync(file, readFileSync(file, "utf8").replace('on_timeout: "goto:late"', "timeout: null, on_timeout: halt"))
    const none = await stargraph(["validate", file])
    expect([none.code, none.stderr]).toEqual([0, ""])
  })
})

describe("the checkpoints policy", () => {
  it("a graph's checkpoints.store names the database when --db is not given", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "graph.yaml"), readFileSync(join(EXAMPLES, "hello.yaml"), "utf8") + 'checkpoints:\n  every: node-exit\n  store: "sqlite:./runs/here.sqlite"\n')
    const r = await stargraph(["run", "graph.yaml", "--inputs", "message=x", "--quiet"], { cwd: dir })
    expect(r.last).toMatch(/status=done$/)
    const listed = await stargraph(["list", "--db", join(dir, "runs", "here.sqlite"), "--json"])
    expect((JSON.parse(listed.stdout) as { runs: Array<{ run_id: string }> }).runs.map((x) => x.run_id)).toEqual([runIdOf(r.last)])
    const never = await stargraph(["validate", "graph.yaml"], { cwd: dir })
    expect(never.code).toBe(0)
    writeFileSync(join(dir, "graph.yaml"), readFileSync(join(dir, "graph.yaml"), "utf8").replace("every: node-exit", "every: never"))
    const refused = await stargraph(["validate", "graph.yaml"], { cwd: dir })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/checkpoints\.every/)
  })

  it("checkpoints.store takes a postgres:// or postgresql:// URL too; another scheme is an IRValidationError at checkpoints.store naming the forms, the URL not echoed", async () => {
    const dir = tempDir()
    const hello = readFileSync(join(EXAMPLES, "hello.yaml"), "utf8")
    const withStore = (store: string) => writeFileSync(join(dir, "graph.yaml"), `${hello}checkpoints:\n  store: "${store}"\n`)
    for (const store of ["postgres://me@db.example:5432/runs", "postgresql://me@db.example/runs"]) {
      withStore(store)
      expect(await stargraph(["validate", "graph.yaml"], { cwd: dir })).toMatchObject({ code: 0, stderr: "" })
    }
    for (const store of ["mysql://me:s3cret@db.example/runs", "runs.sqlite", "sqlite:"]) {
      withStore(store)
      for (const command of [["validate", "graph.yaml"], ["run", "graph.yaml", "--inputs", "message=x"]]) {
        const r = await stargraph(command, { cwd: dir })
        expect([r.code, r.stdout]).toEqual([2, ""])
        expect(r.stderr).toMatch(/^error: IRValidationError: .*graph\.yaml:\d+ checkpoints\.store: store is 'sqlite:<path>' \(relative to the graph file\) or a postgres:\/\/ or postgresql:\/\/ URL.*\(fix: write store: "sqlite:\.\/runs\.sqlite" or store: "postgres:\/\/user@host:5432\/database"/)
        expect(r.stderr).not.toContain("s3cret")
      }
    }
    // A PostgreSQL store nobody listens at: the error names checkpoints.store, without the password.
    withStore("postgres://me:s3cret@127.0.0.1:1/runs")
    const r = await stargraph(["run", "graph.yaml", "--inputs", "message=x"], { cwd: dir })
    expect([r.code, r.stdout]).toEqual([2, ""])
    expect(r.stderr).toMatch(/^error: InputError: checkpoints\.store: cannot connect to PostgreSQL at postgres:\/\/me:\*\*\*@127\.0\.0\.1:1\/runs: .*\(fix: start the PostgreSQL server .*\(checkpoints\.store\); or set checkpoints\.store to sqlite:<path>\)\n$/)
    expect(r.stderr).not.toContain("s3cret")
  })
})
