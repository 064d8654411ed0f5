import { copyFileSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

let work: string

beforeAll(() => {
  work = tempDir()
  mkdirSync(join(work, "hello"), { recursive: true })
  for (const file of ["graph.yaml", "nodes.ts"]) copyFileSync(join(ROOT, "examples", "hello", file), join(work, "hello", file))
})

const hashesOf = (lines: ReadonlyArray<string>) => Object.fromEntries(lines.filter((l) => l.includes("=")).map((l) => l.split("=", 2) as [string, string]))

describe("stargraph counterfactual", () => {
  it("prints the derived hash that a fork of a run of the graph from that step with that mutation carries", async () => {
    writeFileSync(join(work, "mutation.yaml"), "state_overrides:\n  message: mutated\n")
    const dry = await stargraph(["counterfactual", "hello/graph.yaml", "--step", "1", "--mutate", "mutation.yaml"], { cwd: work })
    expect([dry.code, dry.stderr]).toEqual([0, ""])
    const printed = hashesOf(dry.lines)
    expect(Object.keys(printed)).toEqual(["original_graph_hash", "cf_step", "derived_graph_hash"])
    expect(printed.cf_step).toBe("1")

    // A real run and a real fork with the same mutation carry exactly those hashes.
    const db = join(work, "runs.sqlite")
    const run = await stargraph(["run", "hello/graph.yaml", "-i", "message=hi", "--db", db, "-q"], { cwd: work })
    expect(run.code).toBe(0)
    const id = runIdOf(run.last)
    const fork = await stargraph(["replay", id, "--db", db, "--from-step", "1", "--mutation", '{"state_overrides": {"message": "mutated"}}', "-q"], { cwd: work })
    expect(fork.code).toBe(0)
    const cf = runIdOf(fork.last)
    const listed = JSON.parse((await stargraph(["list", "--db", db, "--json"], { cwd: work })).stdout) as { runs: ReadonlyArray<{ run_id: string; derived_hash: string | null; graph_hash: string; fork_step: number | null }> }
    const record = listed.runs.find((r) => r.run_id === cf)
    expect(record).toMatchObject({ derived_hash: printed.derived_graph_hash, graph_hash: printed.original_graph_hash, fork_step: 1 })

    // Another step or another mutation gives another hash; JSON inline gives the same as YAML.
    // --mutation, as replay spells it, is the same option as --mutate.
    const aliased = await stargraph(["counterfactual", "hello/graph.yaml", "--step", "1", "--mutation", "mutation.yaml"], { cwd: work })
    expect([aliased.code, aliased.stderr]).toEqual([0, ""])
    expect(hashesOf(aliased.lines)).toEqual(printed)
    const step2 = hashesOf((await stargraph(["counterfactual", "hello/graph.yaml", "--step", "2", "--mutate", "mutation.yaml"], { cwd: work })).lines)
    expect(step2.derived_graph_hash).not.toBe(printed.derived_graph_hash)
    const inline = await stargraph(["counterfactual", "hello/graph.yaml", "--step", "1", "--mutate", '{"state_overrides": {"message": "mutated"}}', "--json"], { cwd: work })
    expect(JSON.parse(inline.stdout)).toMatchObject({ derived_graph_hash: printed.derived_graph_hash, cf_step: 1, fork_graph_hash: printed.original_graph_hash })
  })

  it.each([
    ["an unknown mutation field", "state_overide:\n  message: x\n", /--mutate|mutation\.state_overide.*unknown field|state_overide/],
    ["an undeclared state field", "state_overrides:\n  mesage: x\n", /StateValidationError: .*'mesage'.*not declare/],
    ["a field of the wrong type", "state_overrides:\n  rounds: many\n", /StateValidationError: state_overrides field 'rounds' does not fit the state schema: Expected/],
    ["an override of a node the graph lacks", "node_output_overrides:\n  nope: { greeting: x }\n", /no node 'nope' in graph run:hello-stargraph/],
    ["a node output override of an undeclared field", "node_output_overrides:\n  count: { nofield: 1 }\n", /^error: StateValidationError: node_output_overrides\.count field 'nofield' is not a state field \(the state schema does not declare it\) \(fix: write one of the declared fields \(message, greeting, rounds, log, summary\), or declare 'nofield' in state_schema\.fields\)\n$/],
    ["a node output override of the wrong type", "node_output_overrides:\n  greet: { greeting: 3 }\n", /^error: StateValidationError: node_output_overrides\.greet field 'greeting' does not fit the state schema: Expected string, actual 3 \(fix: give 'greeting' in node_output_overrides\.greet a value of its declared type \(string\)\)\n$/],
    ["a node output override its field's reducer refuses", "node_output_overrides:\n  count: { log: again }\n", /^error: StateValidationError: node_output_overrides\.count field 'log' is not a write the field takes: append reducer: the write is a string, not a list .*\(fix: give 'log' in node_output_overrides\.count a value of its declared type \(array\), which its reducer \(append\) takes\)\n$/],
    ["a node output override with an item of the wrong type", "node_output_overrides:\n  count: { log: [1] }\n", /node_output_overrides\.count field 'log\[0\]' does not fit the state schema: Expected string, actual 1 \(fix: give 'log\[0\]' in node_output_overrides\.count a value of its declared type \(string\)\)/],
    ["a list instead of a mapping", "- state_overrides: {}\n", /holds a list, not a mapping/],
    ["YAML that does not parse", "state_overrides: {message: [\n", /is not valid YAML or JSON/]
  ])("refuses %s with a typed error and exit 2", async (_what, text, expected) => {
    const file = join(work, `bad-${Math.random().toString(36).slice(2)}.yaml`)
    writeFileSync(file, text)
    const r = await stargraph(["counterfactual", "hello/graph.yaml", "--step", "0", "--mutate", file], { cwd: work })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toMatch(/^error: /)
    expect(r.stderr).toMatch(expected)
  })

  it("a replay refuses a node output override that does not fit the state schema before writing anything (exit 2, no fork); a valid one forks", async () => {
    const db = join(work, "overrides.sqlite")
    const run = await stargraph(["run", "hello/graph.yaml", "-i", "message=hi", "--db", db, "-q"], { cwd: work })
    expect(run.code).toBe(0)
    const id = runIdOf(run.last)
    const runs = async () => (JSON.parse((await stargraph(["list", "--db", db, "--json"], { cwd: work })).stdout) as { runs: ReadonlyArray<{ run_id: string }> }).runs.map((r) => r.run_id)
    const steps = async () => (JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })).stdout) as { steps: number }).steps
    const before = { runs: await runs(), steps: await steps() }
    expect(before.runs).toEqual([id])
    const refusals: ReadonlyArray<[unknown, RegExp]> = [
      [{ count: { nofield: 1 } }, /^error: StateValidationError: node_output_overrides\.count field 'nofield' is not a state field .*\(fix: write one of the declared fields \(message, greeting, rounds, log, summary\), or declare 'nofield' in state_schema\.fields\)\n$/],
      [{ count: { rounds: "many" } }, /^error: StateValidationError: node_output_overrides\.count field 'rounds' is not a write the field takes: add reducer: .*\(fix: give 'rounds' in node_output_overrides\.count a value of its declared type \(integer\), which its reducer \(add\) takes\)\n$/],
      [{ summarise: { summary: ["not", "a", "string"] } }, /^error: StateValidationError: node_output_overrides\.summarise field 'summary' does not fit the state schema: Expected string, actual \["not","a","string"\] \(fix: give 'summary' in node_output_overrides\.summarise a value of its declared type \(string\)\)\n$/]
    ]
    for (const [overrides, expected] of refusals) {
      const r = await stargraph(["replay", id, "--db", db, "--from-step", "1", "--mutation", JSON.stringify({ node_output_overrides: overrides })], { cwd: work })
      expect([r.code, r.stdout]).toEqual([2, ""])
      expect(r.stderr).toMatch(expected)
    }
    expect({ runs: await runs(), steps: await steps() }).toEqual(before)
    const valid = await stargraph(["replay", id, "--db", db, "--from-step", "1", "--mutation", JSON.stringify({ node_output_overrides: { summarise: { summary: "overridden" } } }), "-q"], { cwd: work })
    expect([valid.code, valid.stderr]).toEqual([0, ""])
    const cf = runIdOf(valid.last)
    expect(cf).toMatch(/^cf-/)
    expect(valid.last).toBe(`run_id=${cf} status=done`)
    expect((await runs()).sort()).toEqual([id, cf].sort())
  })

  it("refuses a missing mutation file, a negative step and a fact of no template", async () => {
    const missing = await stargraph(["counterfactual", "hello/graph.yaml", "--step", "0", "--mutate", "nope.yaml"], { cwd: work })
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining("there is no file nope.yaml")])
    const negative = await stargraph(["counterfactual", "hello/graph.yaml", "--step", "-1", "--mutate", "{}"], { cwd: work })
    expect([negative.code, negative.stderr]).toEqual([2, expect.stringContaining("--step -1 is negative")])
    const fact = await stargraph(["counterfactual", "hello/graph.yaml", "--step", "0", "--mutate", '{"facts_assert": ["(risk (level"]}'], { cwd: work })
    expect([fact.code, fact.stderr]).toEqual([2, expect.stringContaining("mutation.facts_assert[0]")])
  })
})

describe("answering a fork of a waiting run", () => {
  it("the hint names --live-after-fork; answered without it, the fork runs on until a call past the recording fails it (ReplayDivergenceError naming the flag); with it the fork finishes", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "child.yaml"), [
      'ir_version: "1.0.0"', "id: run:ichild", "state_schema:", "  fields:", "    q: { type: string, required: true }", "    ans: { type: integer, nullable: true }",
      "nodes:", '  - { id: ask, kind: interrupt, prompt: "number?", response_field: ans }', ""
    ].join("\n"))
    writeFileSync(join(dir, "graph.yaml"), [
      'ir_version: "1.0.0"', "id: run:iparent", "state_schema:", "  fields:", "    q: { type: string, required: true }", "    got: { type: integer, default: 0 }",
      "    doubled: { type: integer, default: 0 }", "nodes:", "  - id: sub", "    kind: subgraph", "    spec: ./child.yaml", "    config: { inputs: { q: q }, outputs: { got: ans } }",
      '  - { id: dbl, kind: tool, tool: std.calculator@1, inputs: { expression: "{{got}} * 2" }, out: { doubled: result } }', "edges:", "  - { from: sub, to: dbl }", ""
    ].join("\n"))
    const db = join(dir, "w.sqlite")
    const run = await stargraph(["run", "graph.yaml", "--db", db, "--inputs", "q=w", "-q"], { cwd: dir })
    expect(run.code).toBe(3)
    const fork = await stargraph(["replay", runIdOf(run.last), "--db", db], { cwd: dir })
    expect(fork.code).toBe(3)
    const cf = runIdOf(fork.last)
    expect(fork.stderr).toContain(`answer with: stargraph respond ${cf} --db ${db} --response '<json>' --live-after-fork`)
    // The answer is taken (the child and `sub` need no call); `dbl`'s tool call is past the recording.
    const failed = await stargraph(["respond", cf, "--db", db, "--response", "7"], { cwd: dir })
    expect(failed.code).toBe(1)
    expect(failed.stderr).toMatch(/ReplayDivergenceError: node 'dbl' made call #0 'tool\.std\.calculator' at step 2, past the end of the recording: .*--live-after-fork/)
    expect(failed.stderr).toContain("stargraph respond <cf_run_id> --response '<json>' --live-after-fork")
    const failedRecord = JSON.parse((await stargraph(["inspect", cf, "--db", db, "--json"], { cwd: dir })).stdout) as { status: string; final_state: unknown }
    expect(failedRecord.status).toBe("failed")
    expect(failedRecord.final_state).toMatchObject({ got: 7, doubled: 0 })
    // A fork answered with the flag makes the call live and finishes.
    const second = runIdOf((await stargraph(["replay", runIdOf(run.last), "--db", db, "-q"], { cwd: dir })).last)
    const answered = await stargraph(["respond", second, "--db", db, "--response", "7", "--live-after-fork", "-q"], { cwd: dir })
    expect([answered.code, answered.last]).toEqual([0, `run_id=${second} status=done`])
    const summary = JSON.parse((await stargraph(["inspect", second, "--db", db, "--json"], { cwd: dir })).stdout) as { final_state: unknown }
    expect(summary.final_state).toMatchObject({ got: 7, doubled: 14 })
    // A fork made with live calls allowed keeps them: its hint has no flag to add.
    const live = await stargraph(["replay", runIdOf(run.last), "--db", db, "--live-after-fork"], { cwd: dir })
    expect(live.code).toBe(3)
    expect(live.stderr).toMatch(new RegExp(`answer with: stargraph respond ${runIdOf(live.last)} --db ${db} --wait-id w[0-9a-f]{12} --response '<json>'\n`))
    expect(live.stderr).not.toContain("--live-after-fork")
  })

  it("answered without --live-after-fork, a fork whose nodes after the answer make no call finishes (stargraph replay, then respond)", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "graph.yaml"), [
      'ir_version: "1.0.0"', "id: run:iquiet", "state_schema:", "  fields:", "    n: { type: integer, default: 0 }", "    said: { type: string, default: \"\" }",
      "nodes:", '  - { id: ask, kind: interrupt, prompt: "number?", response_field: n }', '  - { id: echo, kind: set, values: { said: "got {{n}}" } }',
      "edges:", "  - { from: ask, to: echo }", ""
    ].join("\n"))
    const db = join(dir, "q.sqlite")
    const run = await stargraph(["run", "graph.yaml", "--db", db, "-q"], { cwd: dir })
    expect(run.code).toBe(3)
    const cf = runIdOf((await stargraph(["replay", runIdOf(run.last), "--db", db, "-q"], { cwd: dir })).last)
    const answered = await stargraph(["respond", cf, "--db", db, "--response", "5", "-q"], { cwd: dir })
    expect([answered.code, answered.stderr, answered.last]).toEqual([0, "", `run_id=${cf} status=done`])
    const summary = JSON.parse((await stargraph(["inspect", cf, "--db", db, "--json"], { cwd: dir })).stdout) as { final_state: unknown; live_after_fork?: boolean }
    expect(summary.final_state).toEqual({ n: 5, said: "got 5" })
    // The parent still waits, unanswered.
    expect(JSON.parse((await stargraph(["inspect", runIdOf(run.last), "--db", db, "--json"], { cwd: dir })).stdout)).toMatchObject({ status: "awaiting-input" })
  })
})
