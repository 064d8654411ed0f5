/**
 * `stargraph update-state` (the built binary): a run paused at a breakpoint has its state
 * edited in place, `inspect` shows the edit step, the audit log has its line, `resume`
 * finishes the run with the edited value and `replay` reproduces it; refused edits exit 2
 * and write nothing.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { runIdOf, stargraph, tempDir } from "../helpers/cli.js"

let work: string

beforeAll(() => {
  work = tempDir()
  writeFileSync(join(work, "nodes.js"), [
    "export const plan = () => ({ draft: 'wrong query', n: 1 })",
    "export const use = (s) => ({ log: [`b saw ${s.draft}`], n: 1 })",
    "export const finish = () => ({ log: ['done'], n: 1 })", ""
  ].join("\n"))
  writeFileSync(join(work, "graph.yaml"), [
    "ir_version: \"1.0.0\"", "id: cli:update-state",
    "state_schema: { fields: { draft: { type: string, default: \"\" }, n: { type: integer, default: 0, reducer: add }, log: { type: array, items: { type: string }, default: [], reducer: append } } }",
    "nodes:",
    "  - { id: a, kind: function, module: ./nodes.js, export: plan }",
    "  - { id: b, kind: function, module: ./nodes.js, export: use }",
    "  - { id: c, kind: function, module: ./nodes.js, export: finish }",
    "edges: [{ from: a, to: b }, { from: b, to: c }]", ""
  ].join("\n"))
})

/** The run's checkpoints, as `inspect --json` shows them. */
const checkpoints = async (id: string, db: string) =>
  (JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })).stdout) as { checkpoints: Array<{ step: number; node: string; writes: unknown }> }).checkpoints

describe("stargraph update-state", () => {
  it("edits a run paused at a breakpoint (exit 0); inspect shows the edit step; resume finishes with the edited value; replay reproduces it", async () => {
    const db = join(work, "runs.sqlite")
    const log = join(work, "audit.jsonl")
    const first = await stargraph(["run", "graph.yaml", "--db", db, "--interrupt-before", "b", "--quiet"], { cwd: work })
    expect(first.code).toBe(3)
    const id = runIdOf(first.last)
    const edit = await stargraph(["update-state", id, "--db", db, "--audit-log", log, "--set", "draft=right query", "--values", "{\"log\": [\"human note\"]}", "--actor", "alice", "--as-node", "a"], { cwd: work })
    expect(edit.stderr).toContain(`continue with: stargraph resume ${id} --db ${db}`)
    // The prompt names the step the breakpoint moved to (the edit took step 2).
    expect(edit.stderr).toContain("paused at a breakpoint before node 'b' (step 3, not run yet)")
    expect(edit.code).toBe(0)
    expect(edit.lines[0]).toBe("step 2  __update__ (as a)  draft=\"right query\" log=[\"human note\"]")
    expect(edit.last).toBe(`run_id=${id} status=awaiting-input`)
    const audit = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(audit).toContainEqual(expect.objectContaining({ event: "state.updated", actor: "alice", run_id: id, step: 2, node: "a", delta: { draft: "right query", log: ["human note"] } }))
    const shown = await stargraph(["inspect", id, "--db", db], { cwd: work })
    expect(shown.stdout).toMatch(/\n2\s+__update__\s+state edited\s+0\.0 ms\s+draft="right query" log=\["human note"\]\s+\[edited by alice as a\]\n/)
    expect(shown.stdout).toMatch(/\n3\s+b\s+awaiting-input\s+-\s+breakpoint before node 'b' \(step 3, not run yet\)\n/)
    const json = await stargraph(["update-state", id, "--db", db, "--set", "n=10", "--json"], { cwd: work })
    expect(JSON.parse(json.stdout)).toMatchObject({
      run_id: id, status: "awaiting-input", step: 3, node: "__update__", delta: { n: 11 },
      waiting: { kind: "breakpoint", node: "b", step: 4, prompt: "breakpoint before node 'b' (step 4, not run yet)" }
    })
    expect((await stargraph(["inspect", id, "--db", db], { cwd: work })).stdout).toMatch(/\n4\s+b\s+awaiting-input\s+-\s+breakpoint before node 'b' \(step 4, not run yet\)\n/)
    const done = await stargraph(["resume", id, "--db", db], { cwd: work })
    expect(done.code).toBe(0)
    expect(done.last).toBe(`run_id=${id} status=done`)
    expect(done.stdout).toContain("log: [\"human note\",\"b saw right query\",\"done\"]")
    expect((await checkpoints(id, db)).map((c) => c.node)).toEqual(["__input__", "a", "__update__", "__update__", "b", "c"])
    const replayed = await stargraph(["replay", id, "--db", db, "--diff"], { cwd: work })
    expect(replayed.code).toBe(0)
    expect(replayed.stdout).toContain("\"added_steps\":[]")
    expect(replayed.stdout).toContain("\"state_deltas\":{}")
  })

  it("refuses, exit 2 and nothing written: a finished run, an undeclared field, a wrong type, no field, an unknown run", async () => {
    const db = join(work, "refused.sqlite")
    const finished = runIdOf((await stargraph(["run", "graph.yaml", "--db", db, "--quiet"], { cwd: work })).last)
    const paused = runIdOf((await stargraph(["run", "graph.yaml", "--db", db, "--interrupt-after", "a", "--quiet"], { cwd: work })).last)
    const before = [(await checkpoints(finished, db)).length, (await checkpoints(paused, db)).length]
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [[finished, "--set", "draft=x"], /^error: RunStateError: run \S+ is done; only a stopped run \(paused, or awaiting input\) can have its state edited: fork it/],
      [[paused, "--set", "nope=1"], /^error: InputError: --set nope: 'nope' is not a state field \(fix: use one of: draft, n, log\)/],
      [[paused, "--values", "{\"nope\": 1}"], /^error: StateValidationError: state-update field 'nope': 'nope' is not a declared state field \(fix: write one of the declared fields \(draft, n, log\), or declare 'nope' in state_schema.fields\)/],
      [[paused, "--values", "{\"drat\": 1}"], /^error: StateValidationError: state-update field 'drat': 'drat' is not a declared state field \(fix: did you mean 'draft'\? write one of the declared fields \(draft, n, log\), or declare 'drat' in state_schema.fields\)/],
      [[paused, "--set", "drat=x"], /^error: InputError: --set drat: 'drat' is not a state field \(fix: did you mean 'draft'\? use one of: draft, n, log\)/],
      [[paused, "--values", "{\"n\": \"two\"}"], /^error: StateValidationError: state-update field 'n': add reducer: the field is an integer and the write is a string; add whole numbers/],
      [[paused, "--values", "{\"draft\": 3}"], /^error: StateValidationError: state-update field 'draft': the state after the edit does not match the state schema: .*\(fix: give 'draft' a value of its declared type \(string\)/],
      [[paused, "--set", "n=1.5"], /^error: StateValidationError: state-update field 'n': add reducer: the field is an integer/],
      [[paused, "--values", "[1]"], /^error: InputError: --values: takes a JSON object/],
      [[paused], /^error: InputError: --set: names no field to write/],
      [[paused, "--set", "draft=x", "--as-node", "zz"], /^error: InputError: --as-node: 'zz' is not a node of graph cli:update-state \(fix: name the node .*a, b, c/],
      [["run-nope", "--set", "draft=x"], /^error: CheckpointError\[unknown-run\]: no run 'run-nope'/]
    ]
    for (const [args, stderr] of cases) {
      const r = await stargraph(["update-state", ...args, "--db", db], { cwd: work })
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: "" })
      expect(r.stderr, args.join(" ")).toMatch(stderr)
    }
    expect([(await checkpoints(finished, db)).length, (await checkpoints(paused, db)).length]).toEqual(before)
  })
})
