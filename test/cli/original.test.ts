/**
 * Scripts and tutorials written for the original Stargraph's CLI: what they pass here
 * either works or is refused with a fix a CLI user can act on (`respond --response
 * @file`, a subgraph outside the graph's folder, the original's default database path,
 * `inspect --diff N M`, `simulate`'s trace lines).
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { ROOT, runIdOf, startStargraph, stargraph, tempDir } from "../helpers/cli.js"

let work: string
beforeAll(() => {
  work = tempDir()
  for (const name of ["hello", "approval"]) {
    mkdirSync(join(work, name), { recursive: true })
    for (const file of ["graph.yaml", "nodes.ts"]) {
      const from = join(ROOT, "examples", name, file)
      if (existsSync(from)) copyFileSync(from, join(work, name, file))
    }
  }
})

describe("respond --response @file", () => {
  it("reads the answer from the file; a bad file is an InputError naming the flag and the path; a bare path to a file is refused with the @ spelling", async () => {
    const db = join(work, "respond.sqlite")
    const waiting = async () => runIdOf((await stargraph(["run", "approval/graph.yaml", "--inputs", "request=r", "--db", db, "--quiet"], { cwd: work })).last)
    writeFileSync(join(work, "approve.json"), "{\"approved\": true, \"comment\": \"ok\"}\n")
    writeFileSync(join(work, "broken.json"), "{\"approved\": tru\n")

    const run = await waiting()
    // The original's tutorial, verbatim: `--response @approve.json --actor analyst-jane`.
    const answered = await stargraph(["respond", run, "--db", db, "--response", "@approve.json", "--actor", "analyst-jane", "--quiet"], { cwd: work })
    expect([answered.code, answered.stderr, answered.last]).toEqual([0, "", `run_id=${run} status=done`])
    const summary = JSON.parse((await stargraph(["inspect", run, "--db", db, "--json"], { cwd: work })).stdout) as { final_state: { outcome: string; decision: unknown } }
    expect(summary.final_state).toMatchObject({ decision: { approved: true, comment: "ok" }, outcome: "published: Proposed change: r" })

    // resume takes the same form.
    const other = await waiting()
    const resumed = await stargraph(["resume", other, "--db", db, "--response", `@${join(work, "approve.json")}`, "--quiet"], { cwd: work })
    expect([resumed.code, resumed.last]).toEqual([0, `run_id=${other} status=done`])

    const open = await waiting()
    const refused = async (value: string) => {
      const r = await stargraph(["respond", open, "--db", db, "--response", value], { cwd: work })
      expect([r.code, r.stdout]).toEqual([2, ""])
      return r.stderr
    }
    expect(await refused("@missing.json")).toBe(
      `error: InputError: --response: there is no file missing.json (--response @missing.json reads the answer from that file) (fix: pass --response @<path of a readable JSON file> (relative to ${work}), or the answer itself as JSON, e.g. --response '{"approved":true}')\n`
    )
    expect(await refused("@broken.json")).toMatch(
      /^error: InputError: --response: broken\.json \(given as --response @broken\.json\) is not valid JSON: .+ \(fix: write the answer in broken\.json as one JSON value of the answer's type, e\.g\. \{"approved": true\} or "approve"\)\n$/
    )
    expect(await refused("@approval")).toMatch(/^error: InputError: --response: approval is a folder, not a file /)
    expect(await refused("@")).toMatch(/^error: InputError: --response: '@' names no file \(fix: pass --response @path\/to\/answer\.json/)
    // The original's bare path: not reinterpreted, but the fix says how to pass the file.
    expect(await refused("approve.json")).toBe(
      "error: InputError: --response: 'approve.json' is not JSON; --response takes the answer as JSON text, and a file only with @ (fix: to answer with the JSON in the file approve.json, pass --response @approve.json)\n"
    )
    // Not JSON and not a file: the usual JSON refusal, which names the @ form too.
    expect(await refused("yes please")).toMatch(/^error: InputError: --response: not valid JSON: .+ or @file to read it from a JSON file, --response @answer\.json\)\n$/)
    // Nothing was answered: the run still waits.
    const still = JSON.parse((await stargraph(["inspect", open, "--db", db, "--json"], { cwd: work })).stdout) as { status: string }
    expect(still.status).toBe("awaiting-input")
  })
})

describe("simulate prints the original's trace", () => {
  it("fired=True for a rule that fired and fired=False for one that did not, as the original prints its Python bool", async () => {
    const dir = join(work, "simulate")
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "graph.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: \"graph:simulate-trace\"",
      "state_schema:",
      "  message: str",
      "nodes:",
      "  - { id: node_a, kind: echo }",
      "  - { id: node_b, kind: echo }",
      "rules:",
      "  - id: r-advance",
      "    when: \"?n <- (node-id (id node_a))\"",
      "    then: [{ kind: goto, target: node_b }]",
      "  - id: r-never",
      "    when: \"?n <- (node-id (id node_z))\"",
      "    then: [{ kind: halt, reason: never }]",
      ""
    ].join("\n"))
    writeFileSync(join(dir, "fixtures.yaml"), "node_a: {}\nnode_b: {}\n")
    const r = await stargraph(["simulate", "graph.yaml", "--fixtures", "fixtures.yaml"], { cwd: dir })
    expect([r.code, r.stderr]).toEqual([0, ""])
    expect(r.lines.slice(1)).toEqual([
      "rule_firings=2",
      "  rule=r-advance fired=True matched=[node_a] actions=[goto]",
      "  rule=r-never fired=False matched=[-] actions=[halt]"
    ])
    const dry = await stargraph(["run", "--inspect", "graph.yaml"], { cwd: dir })
    expect(dry.lines).toContain("  step=1 node=node_a rule=r-advance fired=True → goto node_b (r-advance)")
  })
})

describe("a subgraph spec outside the graph's folder", () => {
  const write = (file: string, lines: ReadonlyArray<string>) => {
    mkdirSync(join(file, ".."), { recursive: true })
    writeFileSync(file, [...lines, ""].join("\n"))
  }
  beforeAll(() => {
    write(join(work, "roots", "shared", "child.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: \"graph:child\"",
      "state_schema:",
      "  message: str",
      "nodes:",
      "  - { id: shout, kind: set, values: { message: \"child saw {{message}}\" } }"
    ])
    write(join(work, "roots", "shared", "nodes.ts"), ["export const shout = (state: { message: string }) => ({ message: `${state.message}!` })"])
    write(join(work, "roots", "app", "graph.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: \"graph:parent\"",
      "state_schema:",
      "  message: str",
      "nodes:",
      "  - { id: child, kind: subgraph, spec: ../shared/child.yaml }"
    ])
    write(join(work, "roots", "app", "module.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: \"graph:module\"",
      "state_schema:",
      "  message: str",
      "nodes:",
      "  - { id: shout, kind: function, module: ../shared/nodes.ts, export: shout }"
    ])
  })

  it("is refused with a fix naming --module-root, STARGRAPH_MODULE_ROOTS and moduleRoots for its folder; each of them lets it load", async () => {
    const cwd = join(work, "roots")
    const shared = join(cwd, "shared")
    const db = join(cwd, "runs.sqlite")
    const allow = `or allow its folder: \`--module-root ${shared}\` on the stargraph command (or STARGRAPH_MODULE_ROOTS=${shared} in its environment), \`moduleRoots: ["${shared}"]\` in the options of Graph.load)`
    const refused = await stargraph(["run", "app/graph.yaml", "--inputs", "message=hi", "--db", db], { cwd })
    expect([refused.code, refused.stdout]).toEqual([2, ""])
    expect(refused.stderr).toBe(
      `error: IRValidationError: app/graph.yaml:6 nodes[0].spec: subgraph '../shared/child.yaml' resolves outside the graph's folder (${join(shared, "child.yaml")}) (fix: put the child graph in this graph's folder tree and name it with a relative path such as ./child.yaml, ${allow}\n`
    )
    // A module outside the folder: the same two ways.
    const module = await stargraph(["validate", "app/module.yaml"], { cwd })
    expect(module.code).toBe(2)
    expect(module.stderr).toMatch(/^error: NodeModuleError: node 'shout' module '\.\.\/shared\/nodes\.ts' resolves outside the graph's folder/)
    expect(module.stderr).toContain(`(fix: put the module in the graph's folder tree and name it with a relative path such as ./nodes.ts, ${allow}\n`)

    // --module-root (relative to the current folder) on run; the run can be resumed, replayed and inspected with it.
    const ran = await stargraph(["run", "app/graph.yaml", "--inputs", "message=hi", "--db", db, "--module-root", "shared", "--no-summary"], { cwd })
    expect([ran.code, ran.stderr]).toEqual([0, ""])
    const runId = runIdOf(ran.last)
    const state = JSON.parse((await stargraph(["inspect", runId, "--db", db, "--json", "--module-root", "shared"], { cwd })).stdout) as { final_state: { message: string } }
    expect(state.final_state.message).toBe("child saw hi")
    const replayed = await stargraph(["replay", runId, "--db", db, "--module-root", shared], { cwd })
    expect(replayed.code).toBe(0)
    expect((await stargraph(["replay", runId, "--db", db], { cwd })).stderr).toContain("--module-root")
    expect((await stargraph(["validate", "app/module.yaml", "--module-root", "shared"], { cwd })).code).toBe(0)
    writeFileSync(join(cwd, "fixtures.yaml"), "child: {}\n")
    expect((await stargraph(["simulate", "app/graph.yaml", "--fixtures", "fixtures.yaml", "--module-root", "shared"], { cwd })).lines).toEqual([expect.stringMatching(/^graph_hash=/), "rule_firings=0"])

    // STARGRAPH_MODULE_ROOTS: folders separated by the path delimiter, for every graph loaded.
    const env = await stargraph(["validate", "app/graph.yaml"], { cwd, env: { STARGRAPH_MODULE_ROOTS: `${join(cwd, "elsewhere")}:shared` } })
    expect([env.code, env.lines[0]]).toEqual([0, "ok graph:parent: 1 node, 0 edges, 0 rules, 1 state field"])
    // A root that does not hold the child is named in the refusal.
    const other = await stargraph(["validate", "app/graph.yaml"], { cwd, env: { STARGRAPH_MODULE_ROOTS: join(cwd, "app") } })
    expect(other.stderr).toContain(`subgraph '../shared/child.yaml' resolves to ${join(shared, "child.yaml")}, outside the graph's folder and its module roots (${join(cwd, "app")})`)

    // A --module-root that is not a folder.
    const missing = await stargraph(["validate", "app/graph.yaml", "--module-root", "nope"], { cwd })
    expect([missing.code, missing.stderr]).toEqual([2, "error: InputError: --module-root: nope is not an existing folder (fix: pass the folder that holds the child graph or module the graph names)\n"])

    // serve takes it too: without it the start fails on the graph, with it the server listens.
    const serveRefused = await stargraph(["serve", "--port", "0", "--graphs", "app/graph.yaml", "--db", join(cwd, "serve.sqlite")], { cwd })
    expect([serveRefused.code, serveRefused.stderr]).toEqual([2, expect.stringContaining(allow)])
    const server = startStargraph(["serve", "--port", "0", "--graphs", "app/graph.yaml", "--db", join(cwd, "serve.sqlite"), "--module-root", "shared"], { cwd })
    await server.waitForStdout(/stargraph serve listening on /)
    server.child.kill("SIGTERM")
    expect((await server.done).code).toBe(0)
  })
})

describe("the original's first-graph tutorial: inspect with its database path, --log-file and --diff", () => {
  it("names the SQLite files beside a --db path with no file, refuses inspect --log-file with the equivalent, and prints the fact diff of --diff N M", async () => {
    const dir = join(work, "tutorial")
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "graph.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: \"run:hello\"",
      "nodes:",
      "  - { id: node_a, kind: echo }",
      "  - { id: node_b, kind: halt }",
      "state_schema:",
      "  message: str",
      "rules:",
      "  - { id: r-advance, when: \"(initial-fact)\", then: [{ kind: goto, target: node_b }] }",
      "  - { id: r-halt, when: { node: node_b }, then: [{ kind: halt, reason: done }] }",
      ""
    ].join("\n"))
    // The tutorial's step 5, verbatim: no --db, --log-file for the audit log.
    const ran = await stargraph(["run", "graph.yaml", "--inputs", "message=hello", "--log-file", "./.stargraph/audit.jsonl", "--no-summary"], { cwd: dir })
    expect(ran.code).toBe(0)
    const runId = runIdOf(ran.last)

    // Step 6 names the original's default database: the refusal names ours beside it.
    const wrongDb = await stargraph(["inspect", runId, "--db", "./.stargraph/run.sqlite"], { cwd: dir })
    expect([wrongDb.code, wrongDb.stdout, wrongDb.stderr]).toEqual([2, "",
      "error: CheckpointError[not-a-database]: there is no database at ./.stargraph/run.sqlite; pass the path of a Stargraph SQLite file, such as the one in that folder: .stargraph/stargraph.sqlite (nothing was created or changed)\n"])
    expect(existsSync(join(dir, ".stargraph", "run.sqlite"))).toBe(false)
    // Only *.sqlite and *.db files, a few at most.
    for (const name of ["b.sqlite", "a.db", "z.sqlite", "notes.txt", "audit.db.txt"]) writeFileSync(join(dir, ".stargraph", name), "")
    mkdirSync(join(dir, ".stargraph", "folder.sqlite"))
    const many = await stargraph(["list", "--db", ".stargraph/run.sqlite"], { cwd: dir })
    expect(many.stderr).toBe("error: CheckpointError[not-a-database]: there is no database at .stargraph/run.sqlite; pass the path of a Stargraph SQLite file, such as one of those in that folder: .stargraph/a.db, .stargraph/b.sqlite, .stargraph/stargraph.sqlite (and 1 more) (nothing was created or changed)\n")
    // No SQLite file beside it: the message as before.
    expect((await stargraph(["list", "--db", "elsewhere/run.sqlite"], { cwd: dir })).stderr).toBe(
      "error: CheckpointError[not-a-database]: there is no database at elsewhere/run.sqlite; pass the path of a Stargraph SQLite file (nothing was created or changed)\n"
    )

    // --log-file is --audit-log's alias on every command that takes it; inspect takes neither,
    // and says how to read the run's events from the log.
    const pruned = await stargraph(["prune", "--before", "1d", "--dry-run", "--log-file", join(dir, "prune.jsonl")], { cwd: dir })
    expect(pruned.code).toBe(0)
    const stream = await stargraph(["inspect", runId, "--log-file", "./.stargraph/audit.jsonl"], { cwd: dir })
    expect([stream.code, stream.stdout, stream.stderr]).toEqual([2, "",
      "error: InputError: Received unknown option: '--log-file': inspect reads the run from its checkpoint database (--db), not from an audit log (the original's --log-file stream mode) (fix: the audit log holds one JSON event a line, each with its run_id: grep -F '\"run_id\":\"<run_id>\"' ./.stargraph/audit.jsonl prints the run's events; see stargraph inspect --help)\n"])
    const respondServer = await stargraph(["respond", runId, "--response", "1", "--server", "http://localhost:8000"], { cwd: dir })
    expect(respondServer.stderr).toMatch(/^error: InputError: Received unknown option: '--server': respond answers the run in this process, on its checkpoint database \(--db\)/)

    // --diff N M: the facts added and removed between two steps, as the original prints them.
    const diff = await stargraph(["inspect", runId, "--diff", "1", "2"], { cwd: dir })
    expect([diff.code, diff.stderr]).toEqual([0, ""])
    expect(JSON.parse(diff.stdout)).toEqual({ added: ["(node-id (id node_b))"], removed: ["(node-id (id node_a))"] })
    expect(diff.stdout).toBe("{\n  \"added\": [\n    \"(node-id (id node_b))\"\n  ],\n  \"removed\": [\n    \"(node-id (id node_a))\"\n  ]\n}\n")
    // Before the run's id, and the other way round.
    expect(JSON.parse((await stargraph(["inspect", "--diff", "2", "1", runId], { cwd: dir })).stdout)).toEqual({ added: ["(node-id (id node_a))"], removed: ["(node-id (id node_b))"] })
    expect(JSON.parse((await stargraph(["inspect", runId, "--diff", "2", "2"], { cwd: dir })).stdout)).toEqual({ added: [], removed: [] })
    const refused = async (args: ReadonlyArray<string>) => {
      const r = await stargraph(["inspect", runId, ...args], { cwd: dir })
      expect([r.code, r.stdout]).toEqual([2, ""])
      return r.stderr
    }
    expect(await refused(["--diff", "1", "7"])).toBe(`error: InputError: --diff: run ${runId} has steps 0..2, not 7 (fix: pass two of those steps, e.g. --diff 0 2)\n`)
    expect(await refused(["--diff", "1"])).toBe("error: InputError: --diff: --diff takes two step numbers, not '1' (fix: pass --diff N M, e.g. --diff 1 3 (the facts added and removed from step 1 to step 3))\n")
    expect(await refused(["--diff", "1", "2", "--step", "1"])).toMatch(/^error: InputError: --diff: --step and --diff ask for different views/)
    // No step, or a word that is not a step: an InputError at --diff naming it, never ignored.
    const fix = "(fix: pass --diff N M, e.g. --diff 1 3 (the facts added and removed from step 1 to step 3))"
    expect(await refused(["--diff"])).toBe(`error: InputError: --diff: --diff takes two step numbers, and none was given ${fix}\n`)
    expect(await refused(["--diff", "--json"])).toBe(`error: InputError: --diff: --diff takes two step numbers, and none was given ${fix}\n`)
    expect(await refused(["--diff", "a", "b"])).toBe(`error: InputError: --diff: 'a' is not a step number (--diff takes two: N M) ${fix}\n`)
    expect(await refused(["--diff", "1", "b"])).toBe(`error: InputError: --diff: 'b' is not a step number (--diff takes two: N M) ${fix}\n`)
  })
})

describe("inspect --diff N M over mirrored state facts", () => {
  it("a state fact kept from N to M is in neither list, though each step mirrors it again with its own _step and _timestamp", async () => {
    const db = join(work, "diff-kept.sqlite")
    const ran = await stargraph(["run", join(ROOT, "examples", "rules", "fathom-rules", "graph.yaml"), "--inputs", "risk_class=high", "--db", db, "--no-summary"], { cwd: work })
    expect(ran.code).toBe(0)
    const diff = await stargraph(["inspect", runIdOf(ran.last), "--db", db, "--diff", "1", "2"], { cwd: work })
    expect([diff.code, diff.stderr]).toEqual([0, ""])
    expect(JSON.parse(diff.stdout)).toEqual({ added: ["(node-id (id node_review))"], removed: ["(node-id (id node_a))"] })
    // The fact is there at both steps: kept, not missing.
    const step = await stargraph(["inspect", runIdOf(ran.last), "--db", db, "--step", "2"], { cwd: work })
    expect(step.stdout).toMatch(/\(risk_class \(value "high"\)/)
  })
})
