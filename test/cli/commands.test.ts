/**
 * The command surface: parser errors, help, start-up loading, one flag vocabulary,
 * `list`, `cancel`, and `serve`'s profile and default graphs.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { beforeAll, describe, expect, it } from "vitest"
import { hasAnsi, ROOT, runIdOf, startStargraph, stargraph, tempDir } from "../helpers/cli.js"

let work: string
const copy = (name: string, from: string) => {
  mkdirSync(join(work, name), { recursive: true })
  for (const file of ["graph.yaml", "nodes.ts"]) if (existsSync(join(from, file))) copyFileSync(join(from, file), join(work, name, file))
}
beforeAll(() => {
  work = tempDir()
  copy("hello", join(ROOT, "examples", "hello"))
  copy("approval", join(ROOT, "examples", "approval"))
  copy("slow", join(ROOT, "test", "fixtures", "slow"))
})

const COMMANDS = ["run", "resume", "respond", "update-state", "inspect", "list", "cancel", "prune", "validate", "replay", "serve"]

describe("arguments and help", () => {
  it("an unknown flag, a missing argument, a bad value or an unknown command is one line on stderr, exit 2, nothing on stdout", async () => {
    const cases = [
      ["run", "hello/graph.yaml", "--no-such-flag"],
      ["inspect"],
      ["list", "--limit", "many"],
      ["list", "--status", "sleeping"],
      ["frobnicate"]
    ]
    for (const args of cases) {
      const r = await stargraph(args, { cwd: work })
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: "" })
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1)
      expect(r.stderr).toMatch(/^error: InputError: .+ \(fix: (.+; )?see stargraph .*--help\)\n$/)
      expect(hasAnsi(r.stderr)).toBe(false)
    }
    // A value outside a flag's choices names the flag, the value and the choices.
    expect((await stargraph(["list", "--status", "finished"], { cwd: work })).stderr).toBe(
      "error: InputError: --status: 'finished' is not a run status (fix: use one of: pending, running, paused, awaiting-input, done, cancelled, error, failed; see stargraph list --help)\n"
    )
    expect((await stargraph(["prune", "--before", "1d", "--status", "done", "--status", "error"], { cwd: work })).stderr).toBe(
      "error: InputError: --status: 'error' is not a status prune deletes (fix: use one of: done, failed, cancelled; see stargraph prune --help)\n"
    )
    // Two refusals at once (a missing flag and a bad value): one line, the fixes at its end.
    expect((await stargraph(["prune", "--status", "finished"], { cwd: work })).stderr).toBe(
      "error: InputError: Expected to find option: '--before' --status: 'finished' is not a status prune deletes (fix: use one of: done, failed, cancelled; see stargraph prune --help)\n"
    )
    expect((await stargraph(["serve", "--synchronous", "OFF"], { cwd: work })).stderr).toBe(
      "error: InputError: --synchronous: 'OFF' is not a SQLite synchronous mode (fix: use one of: FULL, NORMAL; see stargraph serve --help)\n"
    )
  })

  it("serve --auth-token-env naming a variable that is set but empty says it is empty; one not set, that it is not set", async () => {
    const empty = await stargraph(["serve", "--port", "0", "--auth-token-env", "SG_TEST_EMPTY_TOKEN"], { cwd: work, env: { SG_TEST_EMPTY_TOKEN: "" } })
    expect([empty.code, empty.stdout]).toEqual([2, ""])
    expect(empty.stderr).toContain("InputError: --auth-token-env: environment variable SG_TEST_EMPTY_TOKEN is empty (fix: export SG_TEST_EMPTY_TOKEN=<token>")
    const unset = await stargraph(["serve", "--port", "0", "--auth-token-env", "SG_TEST_UNSET_TOKEN"], { cwd: work, env: { SG_TEST_UNSET_TOKEN: undefined } })
    expect([unset.code, unset.stdout]).toEqual([2, ""])
    expect(unset.stderr).toContain("InputError: --auth-token-env: environment variable SG_TEST_UNSET_TOKEN is not set")
  })

  it("an empty value is refused naming its flag, not dropped (`--trusted-proxy \"$UNSET\"` would mean no proxy)", async () => {
    for (const [args, flag] of [[["serve", "--trusted-proxy", ""], "--trusted-proxy"], [["list", "--db="], "--db"], [["run", ""], "argument"]] as const) {
      const r = await stargraph([...args], { cwd: work })
      expect([r.code, r.stdout]).toEqual([2, ""])
      expect(r.stderr).toBe(`error: InputError: ${flag}: the value is empty (fix: pass a value, or leave ${flag === "argument" ? "it" : "the flag"} out; see stargraph ${args[0]} --help)\n`)
    }
  })

  it("a flag given without its value says it needs one, with what to put after it, on any command: exit 2, nothing run", async () => {
    for (const [args, expected] of [
      [["list", "--db"], "--db needs a value (fix: put its value right after it (--db <text>), or leave the flag out; see stargraph list --help)"],
      [["list", "--limit", "--json"], "--limit needs a value (fix: put its value right after it (--limit <integer>), or leave the flag out; see stargraph list --help)"],
      [["list", "--status"], "--status needs a value (fix: put one of pending, running, paused, awaiting-input, done, cancelled, error, failed right after it (--status pending), or leave the flag out; see stargraph list --help)"],
      [["replay", "run-x", "--max-steps"], "--max-steps needs a value (fix: put its value right after it (--max-steps <integer>), or leave the flag out; see stargraph replay --help)"],
      [["run", "hello/graph.yaml", "-i"], "-i needs a value (fix: put its value right after it (-i <text>), or leave the flag out; see stargraph run --help)"],
      // A flag the command requires: no "leave it out".
      [["prune", "--before"], "--before needs a value (fix: put its value right after it (--before <text>); see stargraph prune --help)"]
    ] as const) {
      const r = await stargraph([...args], { cwd: work })
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ args, code: 2, stdout: "", stderr: `error: InputError: ${expected}\n` })
    }
    // `list --db --json` would have opened a database named `--json`.
    expect(existsSync(join(work, "--json"))).toBe(false)
    // A value that merely starts with a dash (not one of the command's flags) is still a value.
    const r = await stargraph(["run", "--inputs", "-x=1", "--no-such-flag", "hello/graph.yaml"], { cwd: work })
    expect(r.stderr).toContain("unknown option: '--no-such-flag'")
  })

  it("an integer flag takes decimal digits only: hex, exponents and fractions are refused naming the flag", async () => {
    for (const [args, flag, value] of [[["list", "--limit", "0x10"], "--limit", "0x10"], [["inspect", "run-x", "--step", "1e1"], "--step", "1e1"], [["serve", "--port", "80.0"], "--port", "80.0"], [["serve", "--port", "-0"], "--port", "-0"]] as const) {
      const r = await stargraph([...args], { cwd: work })
      expect([r.code, r.stdout, r.stderr]).toEqual([2, "", `error: InputError: ${flag}: '${value}' is not a whole number written in decimal digits (fix: write it in decimal digits, e.g. 10; see stargraph ${args[0]} --help)\n`])
    }
  })

  it("names an unknown flag wherever it stands, not the argument after it", async () => {
    for (const args of [["run", "--no-such-flag", "hello/graph.yaml"], ["run", "--db=x.sqlite", "--no-such-flag=1", "hello/graph.yaml"], ["run", "-z", "hello/graph.yaml"]]) {
      const r = await stargraph(args, { cwd: work })
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({
        args,
        code: 2,
        stderr: `error: InputError: Received unknown option: '${args[args.length - 2]!.split("=")[0]}' (fix: see stargraph run --help)\n`
      })
    }
    // A misspelt flag of the command: did you mean it?
    for (const [args, meant] of [[["run", "--inptus", "x=1", "hello/graph.yaml"], "--inputs"], [["run", "hello/graph.yaml", "--inptus", "x=1"], "--inputs"], [["list", "--limt", "3"], "--limit"]] as const) {
      const r = await stargraph([...args], { cwd: work })
      expect([r.code, r.stderr]).toEqual([2, `error: InputError: Received unknown option: '${args.find((a) => a.startsWith("--"))}' (fix: did you mean '${meant}'?; see stargraph ${args[0]} --help)\n`])
    }
    // A value that looks like a flag, after a flag that takes one, is not blamed.
    const r = await stargraph(["run", "--inputs", "-x=1", "--no-such-flag", "hello/graph.yaml"], { cwd: work })
    expect(r.stderr).toContain("unknown option: '--no-such-flag'")
    expect(existsSync(join(work, "x.sqlite"))).toBe(false)
  })

  it("--help describes every option with its default, with no ANSI codes in a pipe or under NO_COLOR", async () => {
    for (const command of COMMANDS) {
      const r = await stargraph([command, "--help"], { cwd: work, env: { NO_COLOR: "1" } })
      expect(r.code).toBe(0)
      expect(hasAnsi(r.stdout)).toBe(false)
      if (command === "validate") continue // no options of its own
      const options = r.stdout.split("OPTIONS")[1] ?? ""
      // Each option is a heading line (`--name …` or `(--name, --alias …)`) and its indented description.
      const blocks = options.split(/\n(?=\(?--?[a-z])/).filter((b) => /^\(?--?[a-z]/.test(b.trim()))
      expect(blocks.length, command).toBeGreaterThan(0)
      for (const block of blocks) expect(block, `${command}: ${block.split("\n")[0]}`).toMatch(/default/)
    }
    const root = await stargraph(["--help"], { cwd: work })
    expect(hasAnsi(root.stdout)).toBe(false)
    for (const command of COMMANDS) expect(root.stdout).toContain(`- ${command} `)
  })

  it("--help fits an 80-column terminal: one summary line per command, one title, no placeholder paragraphs", async () => {
    const root = await stargraph(["--help"], { cwd: work })
    const width = (text: string) => Math.max(...text.split("\n").map((l) => [...l].length))
    expect(width(root.stdout)).toBeLessThanOrEqual(80)
    expect(root.stdout.startsWith("stargraph 0.1.0\n\nUSAGE\n")).toBe(true)
    const listed = root.stdout.split("\n").filter((l) => l.startsWith("  - "))
    expect(listed.map((l) => l.split(/ +/)[2])).toEqual(expect.arrayContaining([...COMMANDS, "thread", "simulate"]))
    expect(listed.find((l) => l.includes(" run ")), "a summary, not the usage").toMatch(/^ {2}- run +start a run/)
    // Summaries in one column, at least two spaces after the longest name; one line each.
    const listing = root.stdout.slice(root.stdout.indexOf("COMMANDS\n\n") + 10, root.stdout.indexOf("\n\nRun `stargraph"))
    expect(listing.split("\n").every((l) => l.startsWith("  - ")), "no summary wraps").toBe(true)
    const column = 4 + Math.max(...listed.map((l) => l.split(/ +/)[2]!.length)) + 2
    for (const line of listed) expect(line.slice(0, column).endsWith("  ") && line[column] !== " ", line).toBe(true)
    for (const command of [...COMMANDS, "thread", "simulate"]) {
      const r = await stargraph([command, "--help"], { cwd: work })
      expect(width(r.stdout), command).toBeLessThanOrEqual(80)
      expect(r.stdout, command).toMatch(/^stargraph \d+\.\d+\.\d+\n\nUSAGE\n\n\$ stargraph /)
      for (const placeholder of ["This setting is optional.", "A true or false value.", "One of the following:"]) expect(r.stdout, command).not.toContain(placeholder)
    }
    // A boolean flag and its negation: one heading, a real description.
    const replay = (await stargraph(["replay", "--help"], { cwd: work })).stdout
    expect(replay).toMatch(/\n--diff \| --no-diff\n\n {2}--diff: after the fork's id, print the parent-vs-fork RunDiff/)
    expect(replay).not.toMatch(/^--no-diff$/m)
    // What it prints by default: the fork's id; the RunDiff only with --diff.
    const flat = replay.replace(/\s+/g, " ")
    expect(flat).toContain("print the fork's id (cf_run_id=…), and with --diff the RunDiff against its parent")
    expect(flat).toContain("--no-diff: print only the fork's id (default: --no-diff)")
  })

  it("docs/cli.md lists every command with its --help summary, and each usage line there has the flags its --help has", async () => {
    const doc = readFileSync(join(ROOT, "docs", "cli.md"), "utf8")
    const rows = [...doc.matchAll(/^\| \[`([a-z-]+)[^`]*`\]\(#\1\) \| (.+) \|$/gm)].map((m) => [m[1]!, m[2]!])
    const root = (await stargraph(["--help"], { cwd: work })).stdout
    const listed = root.split("\n").filter((l) => l.startsWith("  - ")).map((l) => /^ {2}- (\S+) +(.*)$/.exec(l)!.slice(1))
    // The table says a little more for respond (what the original calls it); the rest word for word.
    expect(rows.map(([name, what]) => [name, name === "respond" ? what.replace(/ \(the original's name for `resume --response`\)$/, "") : what])).toEqual(listed)
    const flags = (text: string) => new Set([...text.matchAll(/(?<![\w-])--[a-z][\w-]*/g)].map((m) => m[0]))
    const section = (name: string) => doc.split(/^## /m).find((s) => s.startsWith(`${name}\n`))!
    // Aliases are in each option table, not in the usage lines.
    const aliases = (name: string) => new Set(["--log-file", ...(name === "run" ? ["--checkpoint", "--dry-run"] : name === "new" ? ["--dest"] : name === "counterfactual" ? ["--mutation"] : [])])
    for (const [name] of listed) {
      const usage = /```\n(stargraph [\s\S]*?)```/.exec(section(name!))![1]!
      // respond takes "… the options of resume".
      const documented = flags(name === "respond" ? `${usage} ${/```\n(stargraph [\s\S]*?)```/.exec(section("resume"))![1]!}` : usage)
      const help = (await stargraph([name!, "--help"], { cwd: work })).stdout
      const shown = [...flags(/USAGE\n\n([\s\S]*?)\n\n/.exec(help)![1]!)].filter((f) => !aliases(name!).has(f))
      expect({ name, flags: [...documented].sort() }).toEqual({ name, flags: shown.sort() })
    }
  })

  it("--help and an argument error load neither SQLite nor the graph, scheduler, server or replay modules", async () => {
    for (const args of [["--help"], ["run", "--help"], ["inspect"]]) {
      const trace = join(tempDir(), "trace.txt")
      await stargraph(args, {
        cwd: work,
        nodeArgs: ["--import", join(ROOT, "test", "cli", "fixtures", "trace-imports.mjs")],
        env: { STARGRAPH_TRACE_IMPORTS: trace }
      })
      const loaded = readFileSync(trace, "utf8").split("\n")
      expect(loaded.length).toBeGreaterThan(1)
      const heavy = loaded.filter((m) =>
        /better-sqlite3|@effect\/sql|\/src\/(graph|scheduler|serve|replay|triggers|runtime|nodes)\/|SqliteCheckpointer/.test(m))
      expect({ args, heavy }).toEqual({ args, heavy: [] })
    }
  })
})

describe("one flag vocabulary", () => {
  it("--db and --audit-log on run, resume, replay and cancel; --checkpoint and --log-file stay as aliases", async () => {
    const db = join(work, "vocab.sqlite")
    const log = join(work, "vocab.jsonl")
    const run = await stargraph(["run", "approval/graph.yaml", "--inputs", "request=x", "--db", db, "--audit-log", log, "--quiet"], { cwd: work })
    expect(run.last).toMatch(/status=awaiting-input$/)
    const id = runIdOf(run.last)
    const resumed = await stargraph(["resume", id, "--db", db, "--audit-log", log, "--response", "{\"approved\":true}", "--quiet"], { cwd: work })
    expect(resumed.last).toBe(`run_id=${id} status=done`)
    const replayed = await stargraph(["replay", id, "--db", db, "--audit-log", log], { cwd: work })
    expect(replayed.code).toBe(0)
    const aliased = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=a", "--checkpoint", db, "--log-file", log, "--quiet"], { cwd: work })
    expect(aliased.code).toBe(0)
    const events = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { run_id: string; event: string })
    expect(events.filter((e) => e.run_id === id).map((e) => e.event)).toContain("run.finished")
    expect(events.some((e) => e.run_id === runIdOf(aliased.last))).toBe(true)
    expect(events.some((e) => e.run_id === runIdOf(replayed.last))).toBe(true)
  })

  it("an audit log that cannot be opened is an InputError at --audit-log; one that cannot be written loses its lines, not the run", async () => {
    const db = join(work, "audit-fail.sqlite")
    const folder = join(work, "a-folder.jsonl")
    mkdirSync(folder, { recursive: true })
    const refused = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=a", "--db", db, "--audit-log", folder, "--quiet"], { cwd: work })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/^error: InputError: --audit-log: cannot open the audit log .*a-folder\.jsonl: EISDIR.* \(fix: pass the path of a file/m)
    expect(refused.stderr).not.toMatch(/\n\s+at /)
    // A full disk (Linux's /dev/full refuses every write): the run finishes, the failure is said once.
    const full = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=a", "--db", db, "--audit-log", "/dev/full", "--quiet"], { cwd: work })
    expect(full.last).toMatch(/status=done$/)
    expect(full.code).toBe(0)
    expect(full.stderr.match(/a line could not be written \(ENOSPC/g)).toHaveLength(1)
    // For a log collector: one JSON object a line.
    const json = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=a", "--db", db, "--audit-log", "/dev/full", "--quiet"], { cwd: work, env: { STARGRAPH_LOG_FORMAT: "json" } })
    expect(json.code).toBe(0)
    const logged = json.stderr.trim().split("\n").map((l) => JSON.parse(l) as { logLevel: string; message: string })
    expect(logged).toEqual([expect.objectContaining({ logLevel: "ERROR", message: expect.stringMatching(/^audit log \/dev\/full: a line could not be written/) })])
  })

  it("inspect, list, resume and cancel refuse a database that does not exist, and create nothing", async () => {
    const missing = join(work, "nowhere", "typo.sqlite")
    for (const args of [["inspect", "run-x", "--db", missing], ["list", "--db", missing], ["resume", "run-x", "--db", missing], ["cancel", "run-x", "--db", missing]]) {
      const r = await stargraph(args, { cwd: work })
      expect({ args, code: r.code }).toEqual({ args, code: 2 })
      expect(r.stderr).toMatch(/^error: CheckpointError\[not-a-database\]: there is no database at .*typo\.sqlite/)
    }
    expect(existsSync(join(work, "nowhere"))).toBe(false)
  })
})

describe("stargraph list", () => {
  it("lists runs newest first as a table, filters by status and graph, pages with --cursor, and prints {runs, next_cursor} with --json", async () => {
    const db = join(work, "list.sqlite")
    const ids: Array<string> = []
    for (const message of ["a", "b", "c"]) {
      ids.push(runIdOf((await stargraph(["run", "hello/graph.yaml", "--inputs", `message=${message}`, "--db", db, "--quiet"], { cwd: work })).last))
    }
    const waiting = runIdOf((await stargraph(["run", "approval/graph.yaml", "--inputs", "request=r", "--db", db, "--quiet"], { cwd: work })).last)
    const table = await stargraph(["list", "--db", db], { cwd: work })
    expect(table.code).toBe(0)
    expect(table.lines[0]).toMatch(/^RUN_ID\s+GRAPH\s+STATUS\s+STEPS\s+CREATED\s+FINISHED$/)
    expect(table.lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([waiting, ...ids.reverse()])
    expect(table.lines[1]).toMatch(/run:approval\s+awaiting-input\s+1\s/)

    const json = async (...args: Array<string>) =>
      JSON.parse((await stargraph(["list", "--db", db, "--json", ...args], { cwd: work })).stdout) as {
        runs: Array<{ run_id: string; status: string; graph_id: string }>
        next_cursor: string | null
      }
    expect((await json("--status", "awaiting-input")).runs.map((r) => r.run_id)).toEqual([waiting])
    expect((await json("--graph", "run:hello-stargraph")).runs.map((r) => r.run_id)).toEqual(ids)
    const first = await json("--limit", "2")
    expect(first.runs.map((r) => r.run_id)).toEqual([waiting, ids[0]])
    expect(first.next_cursor).toEqual(expect.any(String))
    const second = await json("--limit", "2", "--cursor", first.next_cursor!)
    expect(second.runs.map((r) => r.run_id)).toEqual(ids.slice(1))
    expect(second.next_cursor).toBeNull()

    const paged = await stargraph(["list", "--db", db, "--limit", "2"], { cwd: work })
    expect(paged.stderr).toContain(`--cursor ${first.next_cursor}`)
    const bad = await stargraph(["list", "--db", db, "--cursor", "not-a-cursor"], { cwd: work })
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/^error: InputError: --cursor: /)])
    const zero = await stargraph(["list", "--db", db, "--limit", "0"], { cwd: work })
    expect([zero.code, zero.stderr]).toEqual([2, expect.stringMatching(/^error: InputError: --limit: /)])
  })
})

describe("stargraph list --thread", () => {
  it("lists one thread's runs (with --status, --graph and the page hint), refuses a thread id that cannot be one, and says when none match", async () => {
    const db = join(work, "threads.sqlite")
    const turn = async (...args: Array<string>) => runIdOf((await stargraph(["run", "hello/graph.yaml", "--inputs", "message=t", "--db", db, "--quiet", ...args], { cwd: work })).last)
    const a1 = await turn("--thread", "chat a")
    const lone = await turn()
    const b1 = await turn("--thread", "chat-b")
    const a2 = await turn("--thread", "chat a")
    const ids = async (...args: Array<string>) =>
      (JSON.parse((await stargraph(["list", "--db", db, "--json", ...args], { cwd: work })).stdout) as { runs: Array<{ run_id: string }> }).runs.map((r) => r.run_id)
    expect(await ids()).toEqual([a2, b1, lone, a1])
    expect(await ids("--thread", "chat a")).toEqual([a2, a1])
    expect(await ids("--thread", "chat-b", "--status", "done", "--graph", "run:hello-stargraph")).toEqual([b1])
    expect(await ids("--thread", "chat-b", "--graph", "run:approval")).toEqual([])
    const table = await stargraph(["list", "--db", db, "--thread", "chat a", "--limit", "1"], { cwd: work })
    expect(table.lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([a2])
    expect(table.stderr).toMatch(new RegExp(`^more: stargraph list --db \\S+ --thread 'chat a' --limit 1 --cursor \\S+\n$`))
    const next = /--cursor (\S+)/.exec(table.stderr)![1]!
    expect(await ids("--thread", "chat a", "--cursor", next)).toEqual([a1])
    const none = await stargraph(["list", "--db", db, "--thread", "chat-c"], { cwd: work })
    expect([none.code, none.stdout, none.stderr]).toEqual([0, "", "no runs match\n"])
    const bad = await stargraph(["list", "--db", db, "--thread", "a\tb"], { cwd: work })
    expect([bad.code, bad.stdout, bad.stderr]).toEqual([2, "", expect.stringMatching(/^error: ThreadError\[invalid-thread-id\]: .*--thread.*not printable/)])
  })
})

describe("the database from STARGRAPH_DB", () => {
  it("names the database when --db is not given, for every command that opens one and serve; --db wins over it, and it over a graph's checkpoints.store", async () => {
    const dir = tempDir()
    const db = join(dir, "env.sqlite")
    const env = { STARGRAPH_DB: db }
    // A graph whose checkpoints.store names another file.
    mkdirSync(join(dir, "stored"))
    copyFileSync(join(work, "hello", "nodes.ts"), join(dir, "stored", "nodes.ts"))
    writeFileSync(join(dir, "stored", "graph.yaml"), readFileSync(join(work, "hello", "graph.yaml"), "utf8") + 'checkpoints:\n  store: "sqlite:./store.sqlite"\n')
    const ran = await stargraph(["run", join(dir, "stored", "graph.yaml"), "--inputs", "message=env", "--thread", "t-env", "--summary-json"], { cwd: dir, env })
    expect([ran.code, ran.stderr]).toEqual([0, ""])
    expect(JSON.parse(ran.lines[ran.lines.length - 2]!)).toMatchObject({ status: "done", checkpoint: db })
    expect(existsSync(join(dir, "stored", "store.sqlite"))).toBe(false)
    const done = runIdOf(ran.last)
    // A waiting run's hints leave --db out: run where the variable is set, they find it again.
    const waiting = await stargraph(["run", join(work, "approval", "graph.yaml"), "--inputs", "request=x"], { cwd: dir, env })
    const asking = runIdOf(waiting.last)
    expect(waiting.stdout).toMatch(new RegExp(`  answer with: stargraph respond ${asking} --wait-id w[0-9a-f]{12} --response '<json>'\n`))
    const other = runIdOf((await stargraph(["run", join(work, "approval", "graph.yaml"), "--inputs", "request=y", "--quiet"], { cwd: dir, env })).last)
    const listed = await stargraph(["list", "--json"], { cwd: dir, env })
    expect((JSON.parse(listed.stdout) as { runs: Array<{ run_id: string }> }).runs.map((r) => r.run_id)).toEqual([other, asking, done])
    expect((await stargraph(["inspect", done], { cwd: dir, env })).stdout).toContain("Hello, env!")
    expect((await stargraph(["thread", "t-env", "--json"], { cwd: dir, env })).stdout).toContain(done)
    // A thread id no thread can have is refused as that, naming the argument (not "no run is on thread").
    const badThread = await stargraph(["thread", "t\u0007x"], { cwd: dir, env })
    expect([badThread.code, badThread.stderr]).toEqual([2, expect.stringMatching(/^error: ThreadError\[invalid-thread-id\]: .*not printable \(U\+0007 at 1\)/)])
    expect(badThread.stderr).toContain("<thread_id>")
    expect((await stargraph(["resume", asking, "--response", "{\"approved\":true}", "--quiet"], { cwd: dir, env })).last).toBe(`run_id=${asking} status=done`)
    expect((await stargraph(["cancel", other], { cwd: dir, env })).last).toBe(`run_id=${other} status=cancelled`)
    expect((await stargraph(["replay", done], { cwd: dir, env })).stdout).toMatch(/^cf_run_id=cf-/)
    // Four runs ended; the one on thread t-env is its thread's newest, which prune keeps.
    const pruned = (await stargraph(["prune", "--before", "0m", "--dry-run"], { cwd: dir, env })).stdout
    expect(pruned).toMatch(/^would delete 3 runs/)
    expect(pruned).toContain("kept 1 as old that is its thread's newest run")
    // --db wins over the variable (this file is not there: refused, nothing created).
    const flag = await stargraph(["list", "--db", join(dir, "flag.sqlite")], { cwd: dir, env })
    expect([flag.code, flag.stderr]).toEqual([2, expect.stringMatching(/^error: CheckpointError\[not-a-database\]: there is no database at .*flag\.sqlite/)])
    // Without the variable, the graph's store names it.
    expect((await stargraph(["run", join(dir, "stored", "graph.yaml"), "--inputs", "message=store", "--quiet"], { cwd: dir })).code).toBe(0)
    expect(existsSync(join(dir, "stored", "store.sqlite"))).toBe(true)
    const serving = startStargraph(["serve", "--port", "0", "--graphs", join(work, "hello")], { cwd: dir, env })
    try {
      await serving.waitForStdout(/listening on http:\/\/\S+/)
      expect(serving.stdout()).toContain(`(db ${db},`)
      expect(serving.stderr()).not.toContain("temporary database")
    } finally {
      serving.child.kill("SIGTERM")
      await serving.done
    }
    expect(existsSync(join(dir, ".stargraph"))).toBe(false)
  })

  it("an empty STARGRAPH_DB is an InputError naming it for every command, not the default; another scheme in it or in --db is refused without echoing the URL", async () => {
    const dir = tempDir()
    const empty = "error: InputError: STARGRAPH_DB: the variable is set but empty (fix: set STARGRAPH_DB to a SQLite file path, or a postgres:// or postgresql:// URL, or unset it (unset STARGRAPH_DB) to use --db or the default)\n"
    const commands = [
      ["run", join(work, "hello", "graph.yaml"), "--inputs", "message=x"],
      ["resume", "run-x"],
      ["respond", "run-x", "--response", "{}"],
      ["inspect", "run-x"],
      ["list"],
      ["thread", "t"],
      ["cancel", "run-x"],
      ["replay", "run-x"],
      ["prune", "--before", "30d"],
      ["serve", "--port", "0", "--graphs", join(work, "hello")]
    ]
    for (const args of commands) {
      for (const value of ["", "  "]) {
        const r = await stargraph(args, { cwd: dir, env: { STARGRAPH_DB: value } })
        expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ args, code: 2, stdout: "", stderr: empty })
      }
    }
    expect(readdirSync(dir)).toEqual([])
    for (const [args, env, field, text] of [
      [["list"], { STARGRAPH_DB: "mysql://me:s3cret@db.example/runs" }, "STARGRAPH_DB", "a mysql:// URL names a database Stargraph does not open"],
      [["list", "--db", "file:///runs.db"], {}, "--db", "a file:// URL names a database Stargraph does not open"],
      [["list", "--db", "sqlite:///runs.db"], {}, "--db", "a SQLite database is named by its file path here, not sqlite:…"],
      [["run", join(work, "hello", "graph.yaml"), "--inputs", "message=x"], { STARGRAPH_DB: "sqlite:./runs.sqlite" }, "STARGRAPH_DB", "a SQLite database is named by its file path here, not sqlite:…"]
    ] as const) {
      const r = await stargraph(args, { cwd: dir, env })
      expect([r.code, r.stdout, r.stderr]).toEqual([2, "", expect.stringContaining(`error: InputError: ${field}: ${text}`)])
      expect(r.stderr).not.toMatch(/s3cret|runs\.db|runs\.sqlite/)
    }
    expect(readdirSync(dir)).toEqual([])
  })
})

describe("a database written by an older Stargraph", () => {
  it("list and inspect read it as it is (no migration, no note); run backs it up and says so on stderr, then migrates", async () => {
    const db = join(work, "older.sqlite")
    const id = runIdOf((await stargraph(["run", "hello/graph.yaml", "--inputs", "message=old", "--db", db, "--quiet"], { cwd: work })).last)
    // Eight schemas back: what the newest migrations (10, threads; 11, process heartbeats; 12, cancel requests; 13, take-overs; 14, the take-over history; 15, the run's default model; 16, a fork's step budget; 17, skip_failed) added is not there yet.
    const version = (file: string, set?: number) => {
      const conn = new Database(file)
      try {
        if (set !== undefined) {
          for (const st of ["ALTER TABLE runs_history DROP COLUMN skip_failed", "ALTER TABLE runs_history DROP COLUMN fork_max_steps", "ALTER TABLE runs_history DROP COLUMN default_model", "DROP TABLE run_takeovers", "ALTER TABLE runs_history DROP COLUMN taken_over", "DROP INDEX runs_history_cancel_requested", "ALTER TABLE runs_history DROP COLUMN cancel_requested_of",
            "DROP TABLE process_heartbeats", "DROP INDEX runs_history_thread_active", "DROP INDEX runs_history_thread",
            "ALTER TABLE runs_history DROP COLUMN continued_from", "ALTER TABLE runs_history DROP COLUMN thread_id"]) conn.exec(st)
          conn.pragma(`user_version = ${set}`)
        }
        return conn.pragma("user_version", { simple: true }) as number
      } finally {
        conn.close()
      }
    }
    const current = version(db)
    expect(version(db, current - 8)).toBe(current - 8)
    const list = await stargraph(["list", "--db", db], { cwd: work })
    expect([list.code, list.stderr]).toEqual([0, ""])
    expect(list.lines[1]).toMatch(new RegExp(`^${id}\\s+run:hello-stargraph\\s+done`))
    const inspect = await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })
    expect([inspect.code, inspect.stderr]).toEqual([0, ""])
    expect((JSON.parse(inspect.stdout) as { status: string }).status).toBe("done")
    expect(version(db)).toBe(current - 8)
    expect(existsSync(`${db}.schema-${current - 8}.bak`)).toBe(false)

    const run = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=new", "--db", db, "--quiet"], { cwd: work })
    expect(run.code).toBe(0)
    const backup = `${db}.schema-${current - 8}.bak`
    expect(run.stderr).toContain(`note: migrating ${db} from schema ${current - 8} to ${current}`)
    expect(run.stderr).toContain(`A copy as it was is at ${backup}; to roll back`)
    expect(version(db)).toBe(current)
    expect(version(backup)).toBe(current - 8)
    // Once migrated, nothing more is said.
    expect((await stargraph(["run", "hello/graph.yaml", "--inputs", "message=again", "--db", db, "--quiet"], { cwd: work })).stderr).toBe("")
  })
})

describe("a copy of the database without its artifact store", () => {
  it("inspect names the artifacts the run refers to that the store beside the copy lacks, where it looked and the fix", async () => {
    const db = join(work, "with-artifacts.sqlite")
    const run = await stargraph(["run", join(ROOT, "examples", "tools", "graph.yaml"), "--db", db, "--quiet"], { cwd: work })
    expect(run.code, run.stderr).toBe(0)
    const id = runIdOf(run.last)
    const original = await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })
    const stored = JSON.parse(original.stdout) as { artifacts: Array<{ artifact_id: string }>; missing_artifacts: Array<unknown> }
    expect([original.stderr, stored.artifacts.length, stored.missing_artifacts]).toEqual(["", 1, []])
    const artifactId = stored.artifacts[0]!.artifact_id

    mkdirSync(join(work, "restored"))
    const copy = join(work, "restored", "copy.sqlite")
    const source = new Database(db)
    await source.backup(copy)
    source.close()
    const json = await stargraph(["inspect", id, "--db", copy, "--json"], { cwd: work })
    expect(json.code).toBe(0)
    const copied = JSON.parse(json.stdout) as { artifacts: Array<unknown>; missing_artifacts: Array<Record<string, unknown>> }
    expect(copied.artifacts).toEqual([])
    expect(copied.missing_artifacts).toEqual([{ artifact_id: artifactId, step: 4, node: "store", name: "order-A-1042.md" }])
    expect(json.stderr).toContain(`warning: 1 artifact that run ${id} refers to is missing from the artifact store ${copy}.artifacts: ${artifactId}`)
    expect(json.stderr).toContain(`copy the original database's <db>.artifacts/ folder to ${copy}.artifacts`)
    const text = await stargraph(["inspect", id, "--db", copy], { cwd: work })
    expect(text.stdout).toContain(`artifacts missing from the store ${copy}.artifacts (1):`)
    expect(text.stdout).toMatch(new RegExp(`step 4\\s+store\\s+order-A-1042\\.md\\s+${artifactId}`))
    expect(text.stderr).toContain("is missing from the artifact store")
    // With the folder copied too, nothing is missing.
    cpSync(`${db}.artifacts`, `${copy}.artifacts`, { recursive: true })
    const whole = await stargraph(["inspect", id, "--db", copy, "--json"], { cwd: work })
    expect([whole.stderr, (JSON.parse(whole.stdout) as { missing_artifacts: Array<unknown> }).missing_artifacts]).toEqual(["", []])
  })

  it("inspect names the artifacts whose bytes were copied without the run's index (runs/<id>/), and a fork that wrote none is not warned about", async () => {
    const db = join(work, "index-less.sqlite")
    const run = await stargraph(["run", join(ROOT, "examples", "tools", "graph.yaml"), "--db", db, "--quiet"], { cwd: work })
    expect(run.code, run.stderr).toBe(0)
    const id = runIdOf(run.last)
    const replayed = await stargraph(["replay", id, "--db", db], { cwd: work })
    expect(replayed.code, replayed.stderr).toBe(0)
    const forkId = /cf_run_id=(\S+)/.exec(replayed.stdout)![1]!
    // Only the blobs were copied: the run's index folder is gone.
    rmSync(join(`${db}.artifacts`, "runs", id), { recursive: true })
    const json = await stargraph(["inspect", id, "--db", db, "--json"], { cwd: work })
    const seen = JSON.parse(json.stdout) as { artifacts: Array<unknown>; missing_artifacts: Array<unknown>; unindexed_artifacts: Array<Record<string, unknown>> }
    expect([seen.artifacts, seen.missing_artifacts]).toEqual([[], []])
    expect(seen.unindexed_artifacts).toEqual([{ artifact_id: expect.stringMatching(/^sha256:/), step: 4, node: "store", name: "order-A-1042.md" }])
    expect(json.stderr).toContain(`warning: 1 artifact that run ${id} stored is not in its index in the artifact store ${db}.artifacts, though the bytes are there: order-A-1042.md (step 4)`)
    expect(json.stderr).toContain(`copy it from the original database's <db>.artifacts/ folder`)
    const text = await stargraph(["inspect", id, "--db", db], { cwd: work })
    expect(text.stdout).toContain(`artifacts stored but not in the run's index in ${db}.artifacts (1):`)
    const fork = await stargraph(["inspect", forkId, "--db", db, "--json"], { cwd: work })
    expect([fork.stderr, (JSON.parse(fork.stdout) as { unindexed_artifacts: Array<unknown> }).unindexed_artifacts]).toEqual(["", []])
  })
})

describe("the original CLI's flags and respond command", () => {
  it("run --non-interactive --summary-json --verbose, respond --actor, replay --no-diff; --quiet with --verbose is refused", async () => {
    const db = join(work, "original-flags.sqlite")
    const ran = await stargraph(["run", "hello/graph.yaml", "--inputs", "message=hi", "--db", db, "--non-interactive", "--summary-json", "--verbose"], { cwd: work })
    expect(ran.code).toBe(0)
    const lines = ran.stdout.trim().split("\n")
    // Each step's whole delta under its line; the summary as one JSON object; the final line last.
    expect(lines).toContain("    summary = \"Hello, hi! after 3 rounds (4 log entries)\"")
    const summary = JSON.parse(lines[lines.length - 2]!) as { run_id: string; status: string; final_state: { rounds: number }; checkpoint: string }
    expect(summary).toMatchObject({ status: "done", final_state: { rounds: 3 }, checkpoint: db })
    expect(lines[lines.length - 1]).toBe(`run_id=${summary.run_id} status=done`)
    const noDiff = await stargraph(["replay", summary.run_id, "--db", db, "--no-diff"], { cwd: work })
    expect([noDiff.code, noDiff.lines[0], noDiff.last]).toEqual([0, expect.stringMatching(/^cf_run_id=cf-/), expect.stringMatching(/^run_id=cf-\S+ status=done$/)])
    expect(noDiff.lines.slice(1, -1).every((l) => /^step \d+ /.test(l))).toBe(true)

    const waiting = runIdOf((await stargraph(["run", "approval/graph.yaml", "--inputs", "request=r", "--db", db, "--quiet", "--non-interactive"], { cwd: work })).last)
    const answered = await stargraph(["respond", waiting, "--db", db, "--response", "{\"approved\": true}", "--actor", "analyst", "--quiet"], { cwd: work })
    expect([answered.code, answered.last]).toEqual([0, `run_id=${waiting} status=done`])
    const steps = JSON.parse((await stargraph(["inspect", waiting, "--db", db, "--json"], { cwd: work })).stdout) as { checkpoints: Array<{ calls?: Array<{ name: string; request: { actor?: string } }> }> }
    const response = steps.checkpoints.flatMap((c) => c.calls ?? []).find((c) => c.name === "interrupt.response")
    expect(response?.request.actor).toBe("analyst")
    const noAnswer = await stargraph(["respond", waiting, "--db", db], { cwd: work })
    expect([noAnswer.code, noAnswer.stdout]).toEqual([2, ""])

    const both = await stargraph(["run", "hello/graph.yaml", "--db", db, "-q", "-v"], { cwd: work })
    expect([both.code, both.stderr]).toEqual([2, "error: InputError: --verbose: --quiet and --verbose ask for opposite output (fix: pass one of them)\n"])
    // The JSON summary with a flag that leaves the summary out: refused, not dropped.
    for (const other of ["--quiet", "--no-summary"]) {
      const dropped = await stargraph(["run", "hello/graph.yaml", "--db", db, "--summary-json", other], { cwd: work })
      expect([dropped.code, dropped.stdout]).toEqual([2, ""])
      expect(dropped.stderr).toMatch(new RegExp(`^error: InputError: --summary-json: --summary-json asks for the summary, which ${other} leaves out`))
    }
  })
})

describe("stargraph cancel", () => {
  it("cancels a run awaiting input on its record (with the child run it waits for), and a paused run through the run loop", async () => {
    const db = join(work, "cancel.sqlite")
    const log = join(work, "cancel.jsonl")
    const waiting = runIdOf((await stargraph(["run", "approval/graph.yaml", "--inputs", "request=r", "--db", db, "--quiet"], { cwd: work })).last)
    // A graph named with --graph that cannot be loaded is an error, and nothing is cancelled.
    const typo = await stargraph(["cancel", waiting, "--db", db, "--graph", "nope.yaml"], { cwd: work })
    expect(typo.code).toBe(2)
    expect(typo.stderr).toMatch(/^error: IRValidationError/)
    const r = await stargraph(["cancel", waiting, "--db", db, "--audit-log", log], { cwd: work })
    expect([r.code, r.stderr, r.last]).toEqual([0, "", `run_id=${waiting} status=cancelled`])
    const events = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; actor: string; run_id: string; at?: string })
    expect(events.map((e) => [e.event, e.run_id, e.actor])).toEqual([["run.cancelled", waiting, "cli"]])
    expect(events[0]?.at).toMatch(/^\d{4}-\d\d-\d\dT/)
    // Cancelled, it waits for nothing any more.
    const shown = JSON.parse((await stargraph(["inspect", waiting, "--db", db, "--json"], { cwd: work })).stdout) as { status: string; waiting: unknown }
    expect([shown.status, shown.waiting]).toEqual(["cancelled", null])

    // A response field with no value yet (a boolean without a default) is no obstacle; a
    // parent waiting for its child's question cancels the child with it.
    const nested = tempDir()
    writeFileSync(join(nested, "child.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:ask-child",
      "state_schema: { fields: { approved: { type: boolean } } }",
      "nodes:",
      "  - { id: ask, kind: interrupt, prompt: \"Approve?\", response_field: approved }"
    ].join("\n"))
    writeFileSync(join(nested, "parent.yaml"), [
      "ir_version: \"1.0.0\"",
      "id: run:ask-parent",
      "state_schema: { fields: { approved: { type: boolean } } }",
      "nodes:",
      "  - { id: review, kind: subgraph, spec: ./child.yaml }"
    ].join("\n"))
    const parent = runIdOf((await stargraph(["run", "parent.yaml", "--db", db, "--quiet"], { cwd: nested })).last)
    const nestedLog = join(nested, "cancel.jsonl")
    const n = await stargraph(["cancel", parent, "--db", db, "--audit-log", nestedLog], { cwd: nested })
    expect([n.code, n.stderr, n.last]).toEqual([0, "", `run_id=${parent} status=cancelled`])
    const runs = JSON.parse((await stargraph(["list", "--db", db, "--json"], { cwd: nested })).stdout) as { runs: Array<{ run_id: string; graph_id: string; status: string }> }
    const child = runs.runs.find((x) => x.graph_id === "run:ask-child")!
    expect([child.status, runs.runs.find((x) => x.run_id === parent)!.status]).toEqual(["cancelled", "cancelled"])
    expect(readFileSync(nestedLog, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { run_id: string }).run_id)).toEqual([parent, child.run_id])

    const cli = startStargraph(["run", "slow/graph.yaml", "--db", db, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "300" } })
    await cli.waitForStdout(/^step 1 /m)
    cli.child.kill("SIGINT")
    const paused = runIdOf((await cli.done).last)
    const c = await stargraph(["cancel", paused, "--db", db], { cwd: work })
    expect([c.code, c.last]).toEqual([0, `run_id=${paused} status=cancelled`])
    const json = JSON.parse((await stargraph(["inspect", paused, "--db", db, "--json"], { cwd: work })).stdout) as { status: string; finished_at: string | null }
    expect(json.status).toBe("cancelled")
    expect(json.finished_at).toEqual(expect.any(String))

    // A run whose graph changed since it started is still cancelled (directly; the audit log says so).
    const dir = tempDir()
    cpSync(join(work, "approval"), join(dir, "approval"), { recursive: true })
    const stale = runIdOf((await stargraph(["run", "approval/graph.yaml", "--inputs", "request=r", "--db", db, "--quiet"], { cwd: dir })).last)
    writeFileSync(join(dir, "approval", "graph.yaml"), readFileSync(join(dir, "approval", "graph.yaml"), "utf8").replace("description: Draft a change", "description: Draft another change"))
    expect((await stargraph(["validate", "approval/graph.yaml"], { cwd: dir })).code).toBe(0)
    const staleLog = join(dir, "stale.jsonl")
    const s = await stargraph(["cancel", stale, "--db", db, "--audit-log", staleLog], { cwd: dir })
    expect([s.code, s.stderr, s.last]).toEqual([0, "", `run_id=${stale} status=cancelled`])
    expect(readFileSync(staleLog, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(["run.cancelled"])
  })

  it("refuses a finished run and an unknown run (exit 2); a run executing in a live process is cancelled by that process, asked through the run's record", async () => {
    const db = join(work, "cancel-refuse.sqlite")
    const done = runIdOf((await stargraph(["run", "hello/graph.yaml", "--inputs", "message=x", "--db", db, "--quiet"], { cwd: work })).last)
    const finished = await stargraph(["cancel", done, "--db", db], { cwd: work })
    expect([finished.code, finished.stderr]).toEqual([2, expect.stringMatching(/^error: RunStateError: run \S+ is already done; nothing to cancel\n$/)])
    const unknown = await stargraph(["cancel", "run-nope", "--db", db], { cwd: work })
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringMatching(/^error: CheckpointError\[unknown-run\]/)])

    const cli = startStargraph(["run", "slow/graph.yaml", "--db", db, "--no-summary"], { cwd: work, env: { SLOW_NODE_MS: "1000" } })
    try {
      await cli.waitForStdout(/^step 1 /m)
      const listed = JSON.parse((await stargraph(["list", "--db", db, "--status", "running", "--json"], { cwd: work })).stdout) as { runs: Array<{ run_id: string }> }
      const running = listed.runs[0]!.run_id
      const live = await stargraph(["cancel", running, "--db", db], { cwd: work })
      expect(live.stderr).toMatch(/^run \S+ is executing in process \S+:\d+(:\d+)?: asked it to cancel the run through its record; waiting for it to stop\n$/)
      expect([live.code, live.last]).toEqual([0, `run_id=${running} status=cancelled`])
      // The process that ran it cancelled it (its run loop recorded it) and ended so.
      expect((await cli.done).last).toBe(`run_id=${running} status=cancelled`)
    } finally {
      cli.child.kill("SIGINT")
      await cli.done
    }
  })
})

describe("stargraph serve", () => {
  const serve = async (args: ReadonlyArray<string>, cwd: string) => {
    const cli = startStargraph(["serve", "--port", "0", ...args], { cwd })
    await cli.waitForStdout(/listening on http:\/\/\S+/)
    return { cli, url: /listening on (http:\/\/\S+)/.exec(cli.stdout())![1]! }
  }

  it("accepts --profile oss-default and refuses an unknown profile naming the allowed ones, a bad port and a port in use", async () => {
    const bad = await stargraph(["serve", "--profile", "locked-down", "--graphs", "hello"], { cwd: work })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toBe("error: InputError: --profile: unknown profile 'locked-down' (fix: use one of: oss-default)\n")
    const { cli, url } = await serve(["--profile", "oss-default", "--graphs", "hello", "--db", join(work, "serve.sqlite")], work)
    try {
      expect((await fetch(`${url}/healthz`)).status).toBe(200)
      // A port that is not one, or one already taken, is one line naming --port and the fix.
      const range = await stargraph(["serve", "--port", "99999", "--graphs", "hello"], { cwd: work })
      expect([range.code, range.stderr]).toEqual([2, "error: InputError: --port: port 99999 is not a TCP port (fix: use 1–65535, or 0 to pick a free one)\n"])
      // A negative rate limit or a body limit below one byte would refuse every request: refused at start.
      const db = join(work, "limits.sqlite")
      const rate = await stargraph(["serve", "--port", "0", "--rate-limit", "-1", "--graphs", "hello", "--db", db], { cwd: work })
      expect([rate.code, rate.stderr]).toEqual([2, expect.stringMatching(/^error: InputError: --rate-limit: .*\(fix: use a whole number of requests per client per minute, or 0 for no limit\)\n$/)])
      const body = await stargraph(["serve", "--port", "0", "--max-body-bytes", "-5", "--graphs", "hello", "--db", db], { cwd: work })
      expect([body.code, body.stderr]).toEqual([2, expect.stringMatching(/^error: InputError: --max-body-bytes: .*\(fix: use a positive number of bytes/)])
      expect(existsSync(db)).toBe(false)
      const taken = await stargraph(["serve", "--port", new URL(url).port, "--graphs", "hello", "--db", join(work, "serve2.sqlite")], { cwd: work })
      expect(taken.code).toBe(2)
      expect(taken.stderr).toMatch(/^error: InputError: --port: 127\.0\.0\.1:\d+ is already in use \(fix: stop what holds it or pick another port/)
    } finally {
      cli.child.kill("SIGTERM")
      await cli.done
    }
  })

  it("logs a trigger plugin that fails to load on stderr; stdout keeps only the listening line", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "broken.mjs"), "throw new Error(\"top-level boom\")\n")
    writeFileSync(join(dir, "stargraph.yaml"), "graphs: []\nplugins:\n  - { name: broken, module: ./broken.mjs }\n")
    const { cli } = await serve(["--config", join(dir, "stargraph.yaml"), "--db", join(dir, "serve.sqlite")], dir)
    try {
      await new Promise((r) => setTimeout(r, 200))
      expect(cli.stderr()).toMatch(/trigger project:broken: load failed: .*top-level boom/)
      expect(cli.stdout()).not.toMatch(/broken|ERROR/)
    } finally {
      cli.child.kill("SIGTERM")
      await cli.done
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a graph path that names nothing is refused naming where it came from: --graphs, or the config file and its field", async () => {
    const missing = await stargraph(["serve", "--port", "0", "--graphs", "nothere", "--db", join(work, "never.sqlite")], { cwd: work })
    expect([missing.code, missing.stdout, missing.stderr]).toEqual([2, "", `error: InputError: --graphs: there is no file or folder nothere (relative to ${work}) (fix: pass a graph file, or a folder holding graph files (searched recursively))\n`])
    const dir = tempDir()
    mkdirSync(join(dir, "hello"))
    copyFileSync(join(work, "hello", "graph.yaml"), join(dir, "hello", "graph.yaml"))
    const config = join(dir, "stargraph.yaml")
    writeFileSync(config, "schedules:\n  - { id: nightly, cron: \"0 3 * * *\", graph: hello/grap.yaml }\n")
    const schedule = await stargraph(["serve", "--port", "0", "--db", join(dir, "never.sqlite")], { cwd: dir })
    expect([schedule.code, schedule.stdout]).toEqual([2, ""])
    expect(schedule.stderr).toBe(`error: TriggerError[invalid-config] schedules[0].graph: ${config}: schedules[0].graph: there is no file or folder ${join(dir, "hello", "grap.yaml")} ('hello/grap.yaml' is relative to the config's folder) (fix: correct the path (relative to ${dir}) to a graph file, or give a registered graph's id)\n`)
    writeFileSync(config, "graphs: [hello, graphs/missing]\n")
    const listed = await stargraph(["serve", "--port", "0", "--db", join(dir, "never.sqlite")], { cwd: dir })
    expect([listed.code, listed.stderr]).toEqual([2, expect.stringContaining(`${config}: graphs[1]: there is no file or folder ${join(dir, "graphs", "missing")}`)])
    expect(existsSync(join(dir, "never.sqlite"))).toBe(false)
    rmSync(dir, { recursive: true, force: true })
  })

  it("a folder scan skips node_modules, dist and hidden folders; a broken graph stops the start, its fix saying how to serve only some graphs", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "good", "hello"), { recursive: true })
    for (const file of ["graph.yaml", "nodes.ts"]) copyFileSync(join(work, "hello", file), join(dir, "good", "hello", file))
    const broken = "ir_version: \"1.0.0\"\nid: run:broken\nnodes:\n  - { id: a, kind: nosuchkind }\n"
    for (const skipped of ["dist", join("node_modules", "pkg"), ".cache"]) {
      mkdirSync(join(dir, skipped), { recursive: true })
      writeFileSync(join(dir, skipped, "graph.yaml"), broken)
    }
    const { cli, url } = await serve(["--db", join(dir, "serve.sqlite")], dir)
    try {
      const graphs = (await (await fetch(`${url}/v1/graphs`)).json()) as { graphs: Array<{ id: string }> }
      expect(graphs.graphs.map((g) => g.id)).toEqual(["run:hello-stargraph"])
      expect(cli.stderr()).toMatch(/^registered 1 graph from .* \(no --graphs given\)$/m)
    } finally {
      cli.child.kill("SIGTERM")
      await cli.done
    }
    // Not skipped: a broken graph anywhere else stops the start, with or without --graphs.
    mkdirSync(join(dir, "wip"))
    writeFileSync(join(dir, "wip", "graph.yaml"), broken)
    const stopped = await stargraph(["serve", "--port", "0", "--db", join(dir, "serve.sqlite")], { cwd: dir })
    expect([stopped.code, stopped.stdout]).toEqual([2, ""])
    expect(stopped.stderr).toMatch(/^error: IRValidationError: \S*wip\/graph\.yaml.*nosuchkind.*; without --graphs, serve loads every graph under the current folder: to serve only some, name them: --graphs <folder or file> \(repeatable\), e.g\. --graphs good\)\n$/)
    const given = await stargraph(["serve", "--port", "0", "--db", join(dir, "serve.sqlite"), "--graphs", "."], { cwd: dir })
    expect(given.stderr).toMatch(/; to serve only some of the graphs under \., name them: --graphs <folder or file> \(repeatable\), e.g\. --graphs good\)\n$/)
    rmSync(dir, { recursive: true, force: true })
  })

  it("without --graphs registers the graphs under the current folder and says how many on stderr", async () => {
    const dir = tempDir()
    for (const name of ["hello", "approval"]) {
      mkdirSync(join(dir, "graphs", name), { recursive: true })
      for (const file of ["graph.yaml", "nodes.ts"]) if (existsSync(join(work, name, file))) copyFileSync(join(work, name, file), join(dir, "graphs", name, file))
    }
    const { cli, url } = await serve(["--db", join(dir, "serve.sqlite")], dir)
    try {
      const graphs = (await (await fetch(`${url}/v1/graphs`)).json()) as { graphs: Array<{ id: string }> }
      expect(graphs.graphs.map((g) => g.id).sort()).toEqual(["run:approval", "run:hello-stargraph"])
      expect(cli.stderr()).toMatch(/^registered 2 graphs from .* \(no --graphs given\)$/m)
    } finally {
      cli.child.kill("SIGTERM")
      await cli.done
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
