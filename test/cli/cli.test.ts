import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { beforeAll, describe, expect, it } from "vitest"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

/** A private copy of the examples so edits and DBs stay in a temp folder. */
let work: string
let db: string
const copyExample = (name: string) => {
  mkdirSync(join(work, name), { recursive: true })
  for (const file of ["graph.yaml", "nodes.ts"]) {
    const from = join(ROOT, "examples", name, file)
    if (existsSync(from)) copyFileSync(from, join(work, name, file))
  }
}

beforeAll(() => {
  work = tempDir()
  db = join(work, ".stargraph", "serve.sqlite")
  copyExample("hello")
  copyExample("approval")
})

describe("stargraph run / inspect / validate", () => {
  it("runs hello, prints a summary and ends with run_id=<id> status=done", async () => {
    const log = join(work, ".stargraph", "audit.jsonl")
    const r = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=hello", "--checkpoint", db, "--log-file", log], { cwd: work })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.last).toMatch(/^run_id=run-[0-9a-f-]{36} status=done$/)
    expect(r.stdout).toContain("summarise")
    expect(r.stdout).toContain("final state:")
    const events = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; actor: string; run_id: string })
    expect(events[0]!.event).toBe("run.started")
    expect(events[events.length - 1]!.event).toBe("run.finished")
    expect(events.every((e) => e.actor === "cli" && e.run_id === runIdOf(r.last))).toBe(true)
  })

  it("the timeline's columns stay apart when a node id is as long as its column, or longer", async () => {
    const dir = join(work, "long-ids")
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "graph.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:long-ids",
      "state_schema: { fields: { x: { type: integer, default: 0 } } }",
      "nodes:",
      "  - { id: node_rev, kind: noop }",
      "  - { id: node_review, kind: noop }",
      "  - { id: summarise_everything, kind: noop }",
      "edges: [{ from: node_rev, to: node_review }, { from: node_review, to: summarise_everything }]",
      ""
    ].join("\n"))
    const r = await stargraph(["run", "long-ids/graph.yaml", "--checkpoint", join(work, "long-ids.sqlite")], { cwd: work })
    expect(r.code).toBe(0)
    const table = r.lines.slice(r.lines.findIndex((l) => /^step +node/.test(l)), r.lines.indexOf("final state:"))
    const column = table[0]!.indexOf("status")
    expect(table.map((l) => l.split(/ +/)[1])).toEqual(["node", "__input__", "node_rev", "node_review", "summarise_everything"])
    // Every row's status starts under the heading, at least two spaces after the node.
    for (const line of table) expect([line.slice(column - 2, column), line[column] !== " "], line).toEqual(["  ", true])
    expect(r.stdout).toMatch(/\n3 +summarise_everything {2}completed +/)
    const inspect = await stargraph(["inspect", runIdOf(r.last), "--db", join(work, "long-ids.sqlite")], { cwd: work })
    expect(inspect.stdout).toMatch(/\n2 +node_review {2,}completed +/)
  })

  it("--idempotency-key with other --inputs, another --thread or other breakpoints is refused (exit 2), writing nothing; the same inputs in any key order get the run", async () => {
    const local = join(work, "idem-differ.sqlite")
    const base = ["run", "hello/graph.yaml", "--checkpoint", local, "--no-summary", "--idempotency-key", "op-77"]
    const first = await stargraph([...base, "--inputs", "message=once", "--inputs", "rounds=1"], { cwd: work })
    expect(first.code).toBe(0)
    const reordered = await stargraph([...base, "--inputs", "{\"rounds\": 1, \"message\": \"once\"}"], { cwd: work })
    expect([reordered.code, runIdOf(reordered.last)]).toEqual([0, runIdOf(first.last)])
    const count = () => {
      const conn = new Database(local, { readonly: true })
      const out = { runs: conn.prepare("SELECT count(*) AS n FROM runs_history").get(), checkpoints: conn.prepare("SELECT count(*) AS n FROM checkpoints").get(), inputs: conn.prepare("SELECT inputs FROM runs_history").all() }
      conn.close()
      return out
    }
    const before = count()
    for (const [extra, field] of [[["--inputs", "message=twice", "--inputs", "rounds=1"], "params"], [["--inputs", "message=once", "--inputs", "rounds=1", "--thread", "chat-1"], "thread_id"], [["--inputs", "message=once", "--inputs", "rounds=1", "--interrupt-after", "greet"], "interrupt_after"]] as const) {
      const refused = await stargraph([...base, ...extra], { cwd: work })
      expect(refused.code, field).toBe(2)
      expect(refused.stdout, field).toBe("")
      expect(refused.stderr, field).toMatch(new RegExp(`^error: RunStateError\\[idempotency-key-reused\\]: idempotency key 'op-77' already belongs to run ${runIdOf(first.last)}, started .*\\(${field} differs\\); nothing was written \\(fix: use a new idempotency key for this request, or resend the request run \\S+ was started with`))
    }
    expect(count()).toEqual(before)
    expect(before.inputs).toEqual([{ inputs: JSON.stringify({ message: "once", rounds: 1 }) }])
  })

  it("--idempotency-key on a thread: a retry of the thread's first run gets that run, after the thread has it", async () => {
    const local = join(work, "idem-thread.sqlite")
    // A flat state_schema: run gives its fields without a default their zero value, which the thread's later runs do not get.
    mkdirSync(join(work, "flat"), { recursive: true })
    writeFileSync(join(work, "flat", "graph.yaml"), "ir_version: \"1.0.0\"\nid: run:flat\nstate_schema: {say: str, turns: int}\nnodes:\n  - {id: n, kind: noop}\n")
    const args = ["run", "flat/graph.yaml", "--checkpoint", local, "--no-summary", "--thread", "chat-9", "--inputs", "say=hi", "--idempotency-key", "turn-1"]
    const first = await stargraph(args, { cwd: work })
    expect(first.code, first.stderr).toBe(0)
    const again = await stargraph(args, { cwd: work })
    expect([again.code, runIdOf(again.last)], again.stderr).toEqual([0, runIdOf(first.last)])
    const later = await stargraph([...args.slice(0, -1), "turn-2"], { cwd: work })
    expect(later.code, later.stderr).toBe(0)
    expect(runIdOf(later.last)).not.toBe(runIdOf(first.last))
    const laterAgain = await stargraph([...args.slice(0, -1), "turn-2"], { cwd: work })
    expect([laterAgain.code, runIdOf(laterAgain.last)], laterAgain.stderr).toEqual([0, runIdOf(later.last)])
  })

  it("--idempotency-key twice returns the same run id and runs the graph once", async () => {
    const local = join(work, "idem.sqlite")
    const args = ["run", "hello/graph.yaml", "--inputs", "message=once", "--checkpoint", local, "--no-summary", "--idempotency-key", "op-1234"]
    const first = await stargraph(args, { cwd: work })
    const second = await stargraph(args, { cwd: work })
    expect(first.code).toBe(0)
    expect(second.code).toBe(0)
    expect(runIdOf(second.last)).toBe(runIdOf(first.last))
    expect(second.stderr).toContain("idempotency key 'op-1234' already belongs to run")
    // --quiet keeps stdout to the final line; the note that nothing new started stays on stderr.
    const quiet = await stargraph([...args, "--quiet"], { cwd: work })
    expect([quiet.code, quiet.lines.length, runIdOf(quiet.last)]).toEqual([0, 1, runIdOf(first.last)])
    expect(quiet.stderr).toMatch(/^idempotency key 'op-1234' already belongs to run \S+ \(done\): no new run was started\n$/)
    const conn = new Database(local, { readonly: true })
    expect(conn.prepare("SELECT count(*) AS n FROM runs_history").get()).toEqual({ n: 1 })
    expect(conn.prepare("SELECT count(*) AS n FROM checkpoints").get()).toEqual({ n: 6 })
    expect(conn.prepare("SELECT count(*) AS n FROM pending_runs").get()).toEqual({ n: 0 })
    conn.close()
    // A blank key (an unset $KEY) would make every later run the first one.
    const blank = await stargraph([...args.slice(0, -1), ""], { cwd: work })
    expect(blank.code).toBe(2)
    expect(blank.stderr).toMatch(/^error: InputError: --idempotency-key: the value is empty \(fix: pass a value, or leave the flag out/)
    const reserved = await stargraph([...args.slice(0, -1), "trigger:abc"], { cwd: work })
    expect(reserved.code).not.toBe(0)
    expect(reserved.stderr).toMatch(/InputError: --idempotency-key: idempotency key 'trigger:abc' starts with 'trigger:', which is reserved/)
    const after = new Database(local, { readonly: true })
    expect(after.prepare("SELECT count(*) AS n FROM runs_history").get()).toEqual({ n: 1 })
    after.close()
  })

  it("prints only the final line with --quiet, and inspect shows the timeline and JSON", async () => {
    const r = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=hi", "--checkpoint", db, "--quiet"], { cwd: work })
    expect(r.lines).toHaveLength(1)
    const id = runIdOf(r.last)
    const text = await stargraph(["inspect", id, "--db", db], { cwd: work })
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/step\s+node\s+status\s+duration\s+delta/)
    expect(text.stdout).toMatch(/1\s+greet\s+completed/)
    expect(text.stdout).toContain("RunSummary:")
    const json = JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })).stdout) as Record<string, unknown>
    expect(json["run_id"]).toBe(id)
    expect(json["status"]).toBe("done")
    expect(json["graph_hash"]).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(typeof json["started_at"]).toBe("string")
    expect(typeof json["finished_at"]).toBe("string")
    expect((json["checkpoints"] as Array<unknown>).length).toBe(6)
  })

  it("validate prints both hashes, or a located error with a fix", async () => {
    const ok = await stargraph(["validate", "hello/graph.yaml"], { cwd: work })
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/graph_hash=sha256:[0-9a-f]{64}/)
    expect(ok.stdout).toMatch(/runtime_hash=sha256:[0-9a-f]{64}/)
    expect(ok.stdout).toMatch(/^ok run:hello-stargraph: 3 nodes, 2 edges, 0 rules, 5 state fields\n/)
    // One of a thing is singular.
    writeFileSync(join(work, "one-edge.yaml"), "ir_version: \"1.0.0\"\nid: run:one\nstate_schema: { fields: { x: { type: integer, default: 0 } } }\nnodes: [{ id: a, kind: noop }, { id: b, kind: noop }]\nedges: [{ from: a, to: b }]\n")
    expect((await stargraph(["validate", "one-edge.yaml"], { cwd: work })).stdout).toMatch(/^ok run:one: 2 nodes, 1 edge, 0 rules, 1 state field\n/)
    writeFileSync(join(work, "bad.yaml"), readFileSync(join(work, "hello", "graph.yaml"), "utf8").replace("to: summarise", "to: sumarise").replace("default: summarise", "default: sumarise"))
    const bad = await stargraph(["validate", "bad.yaml"], { cwd: work })
    expect(bad.code).toBe(2)
    expect(bad.stderr.trim().split("\n")).toHaveLength(1)
    expect(bad.stderr).toMatch(/IRValidationError: bad\.yaml:\d+ edges\[1\]\.default: edge refers to unknown node 'sumarise' \(fix: use one of: greet, count, summarise/)
    // A misspelt required key is named as the unknown field it is, not only as the missing one.
    writeFileSync(join(work, "kinds.yaml"), readFileSync(join(work, "hello", "graph.yaml"), "utf8").replace("    kind: set\n", "    kinds: set\n"))
    const kinds = await stargraph(["validate", "kinds.yaml"], { cwd: work })
    expect([kinds.code, kinds.stderr]).toEqual([2,
      "error: IRValidationError: kinds.yaml:15 nodes[0].kinds: unknown field 'kinds': did you mean 'kind'? (the required field 'kind' is missing) (fix: rename 'kinds' to 'kind')\n"])
    // An unknown node kind close to a known one: did you mean it.
    writeFileSync(join(work, "sett.yaml"), readFileSync(join(work, "hello", "graph.yaml"), "utf8").replace("    kind: set\n", "    kind: sett\n"))
    const sett = await stargraph(["validate", "sett.yaml"], { cwd: work })
    expect([sett.code, sett.stderr]).toEqual([2, expect.stringMatching(/^error: IRValidationError: sett\.yaml:15 nodes\[0\]\.kind: unknown node kind 'sett' \(fix: did you mean 'set'\? use one of: set, function,/)])
  })

  it("has --help for every command", async () => {
    for (const cmd of ["run", "resume", "respond", "inspect", "list", "cancel", "validate", "replay", "serve"]) {
      const r = await stargraph([cmd, "--help"])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(cmd)
    }
  })
})

describe("interrupt and cold resume", () => {
  it("stops awaiting-input, then resumes in a new process to done", async () => {
    const first = await stargraph(["run", "approval/graph.yaml", "--inputs", "request=ship it", "--checkpoint", db, "--no-summary"], { cwd: work })
    expect(first.last).toMatch(/status=awaiting-input$/)
    expect(first.code).toBe(3)
    const id = runIdOf(first.last)
    // Without the summary block, the question and how to answer it still show, on stderr.
    expect(first.stderr).toMatch(/waiting at 'review': .+\n {2}answer with: stargraph respond run-\S+ (--db \S+ )?--wait-id w[0-9a-f]{12} --response/)
    // With it, the state of a run that stopped is the state so far, not a final one.
    const shown = await stargraph(["run", "approval/graph.yaml", "--inputs", "request=ship it", "--checkpoint", db], { cwd: work })
    expect([shown.code, shown.lines.includes("state so far:"), shown.lines.includes("final state:")]).toEqual([3, true, false])
    // An answer that is not JSON (a bare word) is refused with how to write each type, nothing written.
    const bare = await stargraph(["resume", id, "--db", db, "--response", "approve"], { cwd: work })
    expect(bare.code).toBe(2)
    expect(bare.stderr).toContain("InputError: --response")
    expect(bare.stderr).toContain("a string quoted, --response '\"approve\"'")
    const resumed = await stargraph(["resume", id, "--db", db, "--response", "{\"approved\":true}"], { cwd: work })
    expect(resumed.code).toBe(0)
    expect(resumed.last).toBe(`run_id=${id} status=done`)
    expect(resumed.stdout).toContain("published: Proposed change: ship it")
  })

  it("refuses resume against an edited graph with graph-hash-mismatch and both hashes", async () => {
    const first = await stargraph(["run", "approval/graph.yaml", "--inputs", "request=x", "--checkpoint", db, "--no-summary"], { cwd: work })
    const id = runIdOf(first.last)
    const file = join(work, "approval", "graph.yaml")
    const original = readFileSync(file, "utf8")
    writeFileSync(file, original.replace("published: {{draft}}", "shipped: {{draft}}"))
    try {
      const r = await stargraph(["resume", id, "--db", db, "--response", "{\"approved\":true}"], { cwd: work })
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/CheckpointError\[graph-hash-mismatch\].*\(expected sha256:[0-9a-f]{64}, actual sha256:[0-9a-f]{64}\)/)
      const json = JSON.parse((await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })).stdout) as { status: string }
      expect(json.status).toBe("awaiting-input")
    } finally {
      writeFileSync(file, original)
    }
  })

  it("refuses to resume a failed or done run for its status, not its hash, and a refused --accept-graph-hash stores nothing", async () => {
    const dir = join(work, "ended")
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "graph.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:ended",
      "state_schema: { fields: { message: { type: string }, out: { type: string } } }",
      "nodes:",
      "  - { id: work, kind: function, module: ./nodes.ts, export: work }",
      "edges: []",
      ""
    ].join("\n"))
    const nodes = "export const work = (s: { message: string }) => {\n  if (s.message === \"fail\") throw new Error(\"boom\")\n  return { out: s.message }\n}\n"
    writeFileSync(join(dir, "nodes.ts"), nodes)
    const local = join(work, "ended.sqlite")
    const failed = await stargraph(["run", "ended/graph.yaml", "--inputs", "message=fail", "--checkpoint", local, "--no-summary"], { cwd: work })
    const done = await stargraph(["run", "ended/graph.yaml", "--inputs", "message=ok", "--checkpoint", local, "--no-summary"], { cwd: work })
    const runs = [{ id: runIdOf(failed.last), status: "failed" }, { id: runIdOf(done.last), status: "done" }]
    const hashOf = async (id: string) =>
      (JSON.parse((await stargraph(["inspect", id, "--db", local, "--json"], { cwd: work })).stdout) as { graph_hash: string }).graph_hash
    const before = await Promise.all(runs.map((r) => hashOf(r.id)))
    // The node module changes: so does the graph's hash.
    writeFileSync(join(dir, "nodes.ts"), `${nodes}// edited\n`)
    for (const [i, run] of runs.entries()) {
      const plain = await stargraph(["resume", run.id, "--db", local], { cwd: work })
      expect([plain.code, plain.stderr]).toEqual([2, expect.stringMatching(new RegExp(`^error: RunStateError: run \\S+ is already ${run.status}; nothing to resume`))])
      const accepting = await stargraph(["resume", run.id, "--db", local, "--accept-graph-hash", before[i]!], { cwd: work })
      expect([accepting.code, accepting.stderr]).toEqual([2, expect.stringMatching(new RegExp(`^error: RunStateError: run \\S+ is already ${run.status}; nothing to resume`))])
      expect(await hashOf(run.id)).toBe(before[i])
    }
    // The original graph still replays them.
    writeFileSync(join(dir, "nodes.ts"), nodes)
    for (const run of runs) {
      const replay = await stargraph(["replay", run.id, "--db", local], { cwd: work })
      expect(replay.stderr).not.toContain("graph-hash-mismatch")
      expect([replay.code, replay.lines[0], replay.last]).toEqual([run.status === "done" ? 0 : 1, expect.stringMatching(/^cf_run_id=cf-/), expect.stringMatching(new RegExp(`^run_id=cf-\\S+ status=${run.status}$`))])
    }
  })

  it("resuming with another graph's file says it is a different graph and points --graph at the run's own, not at --accept-graph-hash", async () => {
    const local = join(work, "other-graph.sqlite")
    const paused = await stargraph(["run", "hello/graph.yaml", "-i", "message=x", "--interrupt-before", "count", "--db", local, "-q"], { cwd: work })
    const id = runIdOf(paused.last)
    expect(paused.last).toMatch(/status=awaiting-input$/)
    const hash = (JSON.parse((await stargraph(["inspect", id, "--db", local, "--json"], { cwd: work })).stdout) as { graph_hash: string }).graph_hash
    for (const extra of [[], ["--accept-graph-hash", hash]]) {
      const r = await stargraph(["resume", id, "--db", local, "--graph", "approval/graph.yaml", ...extra], { cwd: work })
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(`run ${id} ran graph 'run:hello-stargraph', but the graph given is a different graph, 'run:approval'`)
      expect(r.stderr).toContain("resume it with the run's own graph (the CLI's --graph <the graph.yaml of 'run:hello-stargraph'>, recorded as ")
      expect(r.stderr).not.toContain("--accept-graph-hash")
    }
    // The run's own graph file resumes it (to the breakpoint before count's next round).
    const own = await stargraph(["resume", id, "--db", local, "--graph", "hello/graph.yaml", "-q"], { cwd: work })
    expect([own.code, own.last]).toEqual([3, `run_id=${id} status=awaiting-input`])
    expect(own.stderr).not.toContain("error:")
  })

  it("refuses an unknown run id and a finished run", async () => {
    const unknown = await stargraph(["resume", "run-nope", "--db", db], { cwd: work })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/CheckpointError\[unknown-run\]/)
    expect(unknown.stderr).toContain(`(fix: list the runs of this database (stargraph list --db ${db}; in an app, Checkpointer.listRuns), or use the database the run was written to (the CLI's --db))`)
    const done = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=a", "--checkpoint", db, "--no-summary"], { cwd: work })
    const again = await stargraph(["resume", runIdOf(done.last), "--db", db], { cwd: work })
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/RunStateError: .* is already done/)
  })
})

describe("the original's CLI conventions", () => {
  it("a flat state_schema's fields not given start at zero values; -i, boolean words and --dry-run", async () => {
    const dir = join(work, "flat")
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "graph.yaml"), [
      "ir_version: \"1.1.0\"",
      "id: run:flat",
      "nodes:",
      "  - {id: a, kind: echo}",
      "  - {id: b, kind: halt}",
      "state_schema:",
      "  message: str",
      "  count: int",
      "  ratio: float",
      "  flag: bool",
      "  items: list",
      "  meta: dict",
      "  named: {type: str, default: preset}",
      ""
    ].join("\n"))
    const finalOf = async (args: ReadonlyArray<string>) => {
      const r = await stargraph(["run", "flat/graph.yaml", ...args, "--checkpoint", db, "--quiet"], { cwd: work })
      expect([r.code, r.stderr]).toEqual([0, ""])
      const shown = await stargraph(["inspect", runIdOf(r.last), "--db", db, "--json"], { cwd: work })
      return (JSON.parse(shown.stdout) as { final_state: Record<string, unknown> }).final_state
    }
    expect(await finalOf([])).toEqual({ message: "", count: 0, ratio: 0, flag: false, items: [], meta: {}, named: "preset" })
    expect(await finalOf(["-i", "message=hi", "-i", "flag=yes", "-i", "count=3"])).toMatchObject({ message: "hi", flag: true, count: 3 })
    expect(await finalOf(["-i", "flag=N"])).toMatchObject({ flag: false })
    expect(await finalOf(["-i", "flag=1"])).toMatchObject({ flag: true })
    const bad = await stargraph(["run", "flat/graph.yaml", "-i", "flag=maybe", "--checkpoint", db], { cwd: work })
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("InputError: --inputs flag: not valid JSON")])
    const dry = await stargraph(["run", "flat/graph.yaml", "--dry-run"], { cwd: work })
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(/ended=halt/)
  })
})

describe("bad input through the CLI", () => {
  it("rejects --inputs that do not match the state schema", async () => {
    const unknown = await stargraph(["run", "hello/graph.yaml", "--inputs", "colour=blue", "--checkpoint", db], { cwd: work })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/InputError: --inputs colour: 'colour' is not a state field \(fix: use one of: message/)
    const twice = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=a", "--inputs", "message=b", "--checkpoint", db], { cwd: work })
    expect([twice.code, twice.stderr]).toEqual([2, expect.stringMatching(/^error: InputError: --inputs message: 'message' is given more than once \(fix: give 'message' once/)])
    const mixed = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=a", "--inputs", '{"message":"b"}', "--checkpoint", db], { cwd: work })
    expect([mixed.code, mixed.stderr]).toEqual([2, expect.stringContaining("'message' is given more than once")])
    const typed = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=hi", "--inputs", "rounds=many", "--checkpoint", db], { cwd: work })
    expect(typed.code).toBe(2)
    expect(typed.stderr).toMatch(/InputError: --inputs rounds: not valid JSON/)
    const missing = await stargraph(["run", "hello/graph.yaml", "--checkpoint", db], { cwd: work })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/StateValidationError: inputs field 'message'/)
  })

  it("refuses a DB file that is not SQLite and leaves it untouched", async () => {
    const file = join(work, "notes.txt")
    writeFileSync(file, "these are my notes, not a database\n")
    const r = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=hi", "--checkpoint", file], { cwd: work })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/CheckpointError\[not-a-database\]/)
    expect(readFileSync(file, "utf8")).toBe("these are my notes, not a database\n")
  })

  it("reports a failing node with status failed, exit 1 and the error persisted", async () => {
    mkdirSync(join(work, "broken"), { recursive: true })
    writeFileSync(join(work, "broken", "nodes.ts"), "export const explode = () => { throw new Error(\"disk on fire\") }\n")
    writeFileSync(join(work, "broken", "graph.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:broken",
      "state_schema: { fields: { x: { type: integer, default: 0 } } }",
      "nodes:",
      "  - { id: ok, kind: set, values: { x: 1 } }",
      "  - { id: explode, kind: function, module: ./nodes.ts, export: explode }",
      "edges: [ { from: ok, to: explode } ]"
    ].join("\n"))
    const r = await stargraph(["run", "broken/graph.yaml", "--checkpoint", db, "--no-summary"], { cwd: work })
    expect(r.code).toBe(1)
    expect(r.last).toMatch(/status=failed$/)
    expect(r.stderr).toMatch(/NodeExecutionError: node 'explode' failed at step 2: Error: disk on fire/)
    const json = JSON.parse((await stargraph(["inspect", runIdOf(r.last), "--db", db, "--json"], { cwd: work })).stdout) as {
      status: string
      error: { type: string }
      checkpoints: Array<unknown>
    }
    expect(json.status).toBe("failed")
    expect(json.error.type).toBe("NodeExecutionError")
    expect(json.checkpoints).toHaveLength(2)
  })

  it("inputs of the wrong type are refused before the database is created, the fix naming a list element's own type", async () => {
    const db = join(work, "wrong-type", "y2.sqlite")
    const r = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=x", "--inputs", "log=[1]", "--db", db], { cwd: work })
    expect([r.code, r.stdout]).toEqual([2, ""])
    expect(r.stderr).toMatch(/^error: StateValidationError: inputs field 'log\.0': Expected string, actual 1 .*\(fix: give 'log\.0' a value of its declared type \(string\)\)\n$/)
    expect(existsSync(db)).toBe(false)
    expect(existsSync(join(work, "wrong-type"))).toBe(false)
  })

  it("a folder given as the graph names the graph file in it as the fix", async () => {
    const folder = await stargraph(["run", "hello", "--inputs", "message=x", "--db", join(work, "never.sqlite")], { cwd: work })
    expect([folder.code, folder.stdout, folder.stderr]).toEqual([2, "", "error: IRValidationError: hello <document>: hello is a folder, not a graph file (fix: pass the graph file in it: hello/graph.yaml)\n"])
    expect(existsSync(join(work, "never.sqlite"))).toBe(false)
    // No graph.yaml: its one YAML graph (a YAML file without ir_version is not one), or the several it holds.
    mkdirSync(join(work, "named", "more"), { recursive: true })
    writeFileSync(join(work, "named", "notes.yaml"), "title: not a graph\n")
    writeFileSync(join(work, "named", "flow.yaml"), readFileSync(join(work, "hello", "graph.yaml"), "utf8"))
    expect((await stargraph(["validate", "named"], { cwd: work })).stderr).toContain("(fix: pass the graph file in it: named/flow.yaml)")
    writeFileSync(join(work, "named", "other.yml"), readFileSync(join(work, "hello", "graph.yaml"), "utf8"))
    expect((await stargraph(["validate", "named"], { cwd: work })).stderr).toContain("(fix: pass one of the graph files in it: named/flow.yaml, named/other.yml)")
    expect((await stargraph(["validate", "named/more"], { cwd: work })).stderr).toContain("named/more is a folder, not a graph file (fix: pass the path of a graph file (a YAML file with ir_version)")
  })

  it("reports a missing node module", async () => {
    writeFileSync(join(work, "nomod.yaml"), readFileSync(join(work, "hello", "graph.yaml"), "utf8").replaceAll("./nodes.ts", "./missing.ts"))
    const r = await stargraph(["validate", "nomod.yaml"], { cwd: work })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/NodeModuleError: node 'count' module '.\/missing.ts' not found/)
  })
})

describe("stargraph replay", () => {
  it("forks with cf_run_id first, prints the canonical diff, and inspect walks the fork", async () => {
    const local = join(work, "replay.sqlite")
    const parent = runIdOf((await stargraph(["run", "hello/graph.yaml", "--inputs", "message=hello", "--checkpoint", local, "--no-summary"], { cwd: work })).last)
    const a = await stargraph(["replay", parent, "--db", local, "--diff"], { cwd: work })
    const b = await stargraph(["replay", parent, "--db", local, "--diff"], { cwd: work })
    expect(a.code).toBe(0)
    // Its id first, each step as `run` prints it, the RunDiff, and the final line last.
    const [aId, aDiff] = [a.lines[0], a.lines.at(-2)]
    const [bId, bDiff] = [b.lines[0], b.lines.at(-2)]
    expect(aId).toMatch(/^cf_run_id=cf-[0-9a-f-]{36}$/)
    expect(aId).not.toBe(bId)
    expect(a.lines.slice(1, -2).map((l) => /^step (\d+) +(\S+)/.exec(l)?.slice(1).join(" "))).toEqual(["1 greet", "2 count", "3 count", "4 count", "5 summarise"])
    expect(a.last).toBe(`run_id=${aId!.slice("cf_run_id=".length)} status=done`)
    expect(aDiff).toBe(bDiff)
    expect(JSON.parse(aDiff!)).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    writeFileSync(join(work, "mutation.json"), JSON.stringify({ state_overrides: { message: "mutated" }, facts_assert: [], facts_retract: [] }))
    const m = await stargraph(["replay", parent, "--db", local, "--mutation", "mutation.json", "--from-step", "0", "--diff"], { cwd: work })
    const diff = JSON.parse(m.lines.at(-2)!) as { state_deltas: Record<string, unknown>; derived_hash: string }
    expect(diff.state_deltas["1:greet"]).toContainEqual({ op: "replace", path: "/greeting", parent: "Hello, hello!", fork: "Hello, mutated!" })
    expect(diff.derived_hash).not.toBe((JSON.parse(aDiff!) as { derived_hash: string }).derived_hash)
    // The same mutation inline, as @file, and as a YAML file: the same fork (derived_hash) as the file's.
    writeFileSync(join(work, "mutation.yaml"), "state_overrides:\n  message: mutated\n")
    for (const value of [JSON.stringify({ state_overrides: { message: "mutated" } }), "@mutation.json", "mutation.yaml"]) {
      const same = await stargraph(["replay", parent, "--db", local, "--mutation", value, "--from-step", "0", "--diff"], { cwd: work })
      expect([same.code, same.stderr]).toEqual([0, ""])
      expect((JSON.parse(same.lines.at(-2)!) as { derived_hash: string }).derived_hash, value).toBe(diff.derived_hash)
    }
    const cf = m.stdout.split("\n")[0]!.split("=")[1]!
    const inspect = await stargraph(["inspect", cf, "--db", local], { cwd: work })
    expect(inspect.stdout).toContain(`forked from ${parent} at step 0`)
    expect(inspect.stdout).toContain("Hello, mutated!")
  })

  it("a fork that stops for input says so as run does: its final line, the question and the command that answers it; --quiet keeps only its id and final line", async () => {
    const local = join(work, "replay-waits.sqlite")
    const parent = runIdOf((await stargraph(["run", "approval/graph.yaml", "--inputs", "request=x", "--db", local, "--quiet"], { cwd: work })).last)
    expect((await stargraph(["cancel", parent, "--db", local], { cwd: work })).code).toBe(0)
    const fork = await stargraph(["replay", parent, "--db", local], { cwd: work })
    const cf = /^cf_run_id=(cf-\S+)$/m.exec(fork.stdout)![1]!
    expect(fork.code).toBe(3)
    expect(fork.lines).toEqual([`cf_run_id=${cf}`, expect.stringMatching(/^step 1 +draft +.*draft="Proposed change: x"$/), `run_id=${cf} status=awaiting-input`])
    expect(fork.stderr.trim().split("\n")).toEqual([
      `waiting at 'review': Approve the draft? Answer {"approved": true|false, "comment": "..."}`,
      // A fork waiting where its parent's recording ends: what follows the answer is live (docs/replay.md).
      `  answer with: stargraph respond ${cf} --db ${local} --response '<json>' --live-after-fork`
    ])
    const quiet = await stargraph(["replay", parent, "--db", local, "--quiet"], { cwd: work })
    expect([quiet.code, quiet.lines]).toEqual([3, [expect.stringMatching(/^cf_run_id=cf-/), expect.stringMatching(/^run_id=cf-\S+ status=awaiting-input$/)]])
    expect(quiet.stderr).toContain("answer with: stargraph respond cf-")
    const answered = await stargraph(["resume", cf, "--db", local, "--response", '{"approved": true}', "--live-after-fork", "--quiet"], { cwd: work })
    expect([answered.code, answered.last]).toEqual([0, `run_id=${cf} status=done`])
  })

  it("refuses an unknown run, a step beyond the parent, and a mutation with unknown fields, writing nothing", async () => {
    const local = join(work, "replay-bad.sqlite")
    const parent = runIdOf((await stargraph(["run", "hello/graph.yaml", "--inputs", "message=x", "--checkpoint", local, "--no-summary"], { cwd: work })).last)
    const unknown = await stargraph(["replay", "run-nope", "--db", local], { cwd: work })
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringContaining("CheckpointError[unknown-run]")])
    const beyond = await stargraph(["replay", parent, "--db", local, "--from-step", "42"], { cwd: work })
    expect([beyond.code, beyond.stderr]).toEqual([2, expect.stringMatching(/InputError: --from-step: .*there is no step 42.*pass a --from-step from 0 to/)])
    writeFileSync(join(work, "bad.json"), JSON.stringify({ state_overides: {} }))
    const bad = await stargraph(["replay", parent, "--db", local, "--mutation", "bad.json"], { cwd: work })
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("mutation.state_overides")])
    expect(bad.stderr).toContain("fix: a mutation has only state_overrides, facts_assert")
    // A fact in a shape the mutation does not take: the fix shows the two that it does.
    writeFileSync(join(work, "badfact.json"), JSON.stringify({ facts_assert: [{ type: "cve", id: "CVE-2026-1" }] }))
    const badFact = await stargraph(["replay", parent, "--db", local, "--mutation", "badfact.json"], { cwd: work })
    expect([badFact.code, badFact.stderr]).toEqual([2, expect.stringMatching(/mutation\.facts_assert\.0.*fix: write each fact as CLIPS text, "\(risk \(level high\)\)", or as \{"template"/)])
    writeFileSync(join(work, "notjson.json"), "{")
    expect((await stargraph(["replay", parent, "--db", local, "--mutation", "notjson.json"], { cwd: work })).stderr).toMatch(/^error: InputError: --mutation: the file notjson\.json is not valid YAML or JSON: .*\(fix: pass the CounterfactualMutation as inline JSON, --mutation '\{/)
    // Inline JSON that does not parse, a file that is not there, '@' alone: each names --mutation.
    const refused = async (value: string) => {
      const r = await stargraph(["replay", parent, "--db", local, "--mutation", value], { cwd: work })
      expect([r.code, r.stdout]).toEqual([2, ""])
      return r.stderr
    }
    expect(await refused("{\"state_overrides\": ")).toMatch(/^error: InputError: --mutation: the inline mutation is not valid JSON: /)
    expect(await refused("nothere.json")).toMatch(/^error: InputError: --mutation: there is no file nothere\.json \(a --mutation value not starting with '\{' is a file's path\) \(fix: pass the path of a readable YAML or JSON file/)
    expect(await refused("@nothere.json")).toContain("there is no file nothere.json")
    // JSON that is not an object was meant as the mutation, not as a file's name: said so.
    for (const json of ["[1,2]", "42", "\"x\"", "null", "[1,"]) {
      expect(await refused(json)).toBe(
        `error: InputError: --mutation: ${json} is not a JSON object: a mutation must be a JSON object, or the path of a file holding one (there is no file ${json}) ` +
          `(fix: pass the CounterfactualMutation as inline JSON, --mutation '{"state_overrides":{"risk":"high"}}', or a YAML or JSON file holding it, --mutation mutation.yaml (or @mutation.yaml))\n`
      )
    }
    expect(await refused("@")).toMatch(/^error: InputError: --mutation: '@' names no file/)
    const conn = new Database(local, { readonly: true })
    expect(conn.prepare("SELECT count(*) AS n FROM runs_history").get()).toEqual({ n: 1 })
    conn.close()
  })
})
