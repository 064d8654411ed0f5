/**
 * `stargraph new <name> [--dir path]` with the built CLI: each shipped bundle is copied
 * from the package's examples/bundles/ into a new folder and the copy runs to `done`
 * (stubbed); an existing target is refused and left untouched; an unknown name gets the
 * list and a did-you-mean. All of the original's bundles ship (coding-agent too).
 */
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"
import * as OpenAiServer from "../helpers/openaiServer.js"

const NAMES = "coding-agent, deep-research, evaluator-optimizer, hitl-approval, orchestrator-workers, rag-qa, triage-router"

/** A project folder whose modules resolve `effect` (as one that installed stargraph and its peers). */
const project = (): string => {
  const dir = tempDir()
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"))
  return dir
}

/** Every file under `dir` (but node_modules) with its content. */
const snapshot = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && !join(e.parentPath, e.name).includes("node_modules"))
      .map((e) => [join(e.parentPath, e.name).slice(dir.length + 1), readFileSync(join(e.parentPath, e.name), "utf8")])
  )

const BUNDLES = [
  { name: "coding-agent", folder: "coding_agent", input: "task=print the first ten primes", halt: "halted at review by r-review-pass-halt: code approved by reviewer" },
  { name: "deep-research", folder: "deep_research", input: "question=what is replay?", halt: "halted at check by r-check-pass-halt: research complete" },
  { name: "evaluator-optimizer", folder: "evaluator_optimizer", input: "task=write a haiku", halt: "halted at evaluate by r-evaluate-pass-halt" },
  { name: "hitl-approval", folder: "hitl_approval", input: "request=rotate the keys", halt: undefined },
  { name: "orchestrator-workers", folder: "orchestrator_workers", input: "task=compare runtimes", halt: "halted at synthesize by r-synthesize-halt: orchestration complete" },
  { name: "rag-qa", folder: "rag_qa", input: "question=How does a replay answer a model call?", halt: "halted at check by r-check-pass-halt: answer grounded in citations", extra: ["kb.db", "build-kb.ts"] },
  { name: "triage-router", folder: "triage_router", input: "item=the routine weekly report", halt: "halted at routine-path by r-routine-done" }
] as const

describe("stargraph new", () => {
  it("copies each shipped bundle into ./<name>/, and the copy runs to done", async () => {
    const cwd = project()
    const db = join(cwd, "runs.sqlite")
    for (const bundle of BUNDLES) {
      const made = await stargraph(["new", bundle.name], { cwd })
      expect(made.stderr, bundle.name).toBe("")
      expect(made.code, bundle.name).toBe(0)
      const files = ["graph.yaml", "state.ts", "README.md", ...("extra" in bundle ? bundle.extra : [])]
      expect(made.lines).toEqual([
        `wrote ${files.map((f) => `${bundle.name}/${f}`).join(", ")}`,
        `next: stargraph run ${bundle.name}/graph.yaml`
      ])
      expect(snapshot(join(cwd, bundle.name))).toEqual(snapshot(join(ROOT, "examples", "bundles", bundle.folder)))
      const ran = await stargraph(["run", `${bundle.name}/graph.yaml`, "--inputs", bundle.input, "--db", db], { cwd })
      expect(ran.stderr, bundle.name).toBe("")
      if (bundle.halt === undefined) {
        // hitl-approval stops for its approval; the answer finishes it.
        expect(ran.code).toBe(3)
        const resumed = await stargraph(["resume", runIdOf(ran.last), "--response", "\"approved\"", "--db", db], { cwd })
        expect(resumed.last).toBe(`run_id=${runIdOf(ran.last)} status=done`)
      } else {
        expect(ran.code, bundle.name).toBe(0)
        expect(ran.stdout).toContain(bundle.halt)
        expect(ran.last).toMatch(/^run_id=run-\S+ status=done$/)
      }
    }
  })

  it("a copy made in an empty folder, outside any project, runs: its modules import Stargraph's own effect", async () => {
    const cwd = tempDir()
    expect((await stargraph(["new", "triage-router"], { cwd })).code).toBe(0)
    const ran = await stargraph(["run", "triage-router/graph.yaml", "--inputs", "item=the routine weekly report", "--db", join(cwd, "runs.sqlite")], { cwd })
    expect(ran.stderr).toBe("")
    expect(ran.code).toBe(0)
    expect(ran.stdout).toContain("halted at routine-path by r-routine-done")
  })

  it("takes the folder names too, and --dir (or the original's --dest) as the folder to create", async () => {
    const cwd = project()
    const made = await stargraph(["new", "orchestrator_workers", "--dir", "graphs/orch"], { cwd })
    expect(made.stderr).toBe("")
    expect(made.code).toBe(0)
    expect(made.lines[1]).toBe("next: stargraph run graphs/orch/graph.yaml")
    expect(snapshot(join(cwd, "graphs", "orch"))).toEqual(snapshot(join(ROOT, "examples", "bundles", "orchestrator_workers")))
    const dest = await stargraph(["new", "triage_router", "--dest", "tri"], { cwd })
    expect(dest.code).toBe(0)
    expect(readdirSync(join(cwd, "tri")).sort()).toEqual(["README.md", "graph.yaml", "state.ts"])
    const ran = await stargraph(["run", "graphs/orch/graph.yaml", "--inputs", "task=t", "--db", join(cwd, "r.sqlite")], { cwd })
    expect(ran.last).toMatch(/status=done$/)
  })

  it("never writes over an existing target: an InputError naming the path, exit 2, the target untouched", async () => {
    const cwd = project()
    mkdirSync(join(cwd, "deep-research"))
    writeFileSync(join(cwd, "deep-research", "graph.yaml"), "mine\n")
    writeFileSync(join(cwd, "taken"), "a file\n")
    const before = snapshot(cwd)
    const folder = await stargraph(["new", "deep-research"], { cwd })
    expect(folder.code).toBe(2)
    expect(folder.stdout).toBe("")
    expect(folder.stderr).toBe("error: InputError: name: deep-research already exists; nothing was written (fix: choose a new folder with --dir <path>, or move the existing one away)\n")
    const file = await stargraph(["new", "hitl-approval", "--dir", "taken"], { cwd })
    expect(file.code).toBe(2)
    expect(file.stderr).toMatch(/^error: InputError: --dir: taken already exists; nothing was written/)
    // An empty folder is a target too.
    mkdirSync(join(cwd, "empty"))
    const empty = await stargraph(["new", "hitl-approval", "--dir", "empty"], { cwd })
    expect(empty.code).toBe(2)
    expect(readdirSync(join(cwd, "empty"))).toEqual([])
    expect(snapshot(cwd)).toEqual(before)
  })

  it("an unknown name is an InputError with the names that ship and the closest one; nothing is written", async () => {
    const cwd = project()
    const typo = await stargraph(["new", "deep-reserch"], { cwd })
    expect(typo.code).toBe(2)
    expect(typo.stderr).toBe(`error: InputError: name: unknown bundle 'deep-reserch' (did you mean 'deep-research'?) (fix: use one of: research-bot (the authoring template), ${NAMES})\n`)
    const folderTypo = await stargraph(["new", "triage_ruoter"], { cwd })
    expect(folderTypo.stderr).toContain("(did you mean 'triage-router'?)")
    const botTypo = await stargraph(["new", "reserch-bot"], { cwd })
    expect(botTypo.stderr).toContain("(did you mean 'research-bot'?)")
    expect(readdirSync(cwd)).toEqual(["node_modules"])
  })

  it("research-bot writes the original's authoring template, which compiles and runs on a model to done; never over an existing file", async () => {
    const cwd = project()
    const made = await stargraph(["new", "research-bot"], { cwd })
    expect([made.code, made.stderr, made.lines[0]]).toEqual([0, "", "wrote research-bot.yaml"])
    expect(made.lines[1]).toMatch(/^next: .*stargraph run research-bot\.yaml --lm-url <url> --lm-model <model>/)
    const text = readFileSync(join(cwd, "research-bot.yaml"), "utf8")
    expect(text).not.toContain("ir_version")
    const compiled = await stargraph(["compile", "research-bot.yaml"], { cwd })
    expect(compiled.code).toBe(0)
    expect(compiled.stdout).toContain("std.web_search@1")
    // A model that answers without tools, then a judge that passes: done at the judge.
    const server = await OpenAiServer.start({
      respond: (r) => {
        const [system] = r.body["messages"] as Array<{ content: string }>
        return system!.content.includes("next_tool_name")
          ? JSON.stringify({ next_thought: "I know it", next_tool_name: "finish", next_tool_args: {}, answer: "checkpoints and calls" })
          : JSON.stringify({ reasoning: "complete", verdict: "pass", score: 0.9 })
      }
    })
    try {
      const ran = await stargraph(["run", "research-bot.yaml", "--inputs", "question=what is recorded?", "--lm-url", server.url, "--lm-model", "test-model", "--db", join(cwd, "runs.sqlite")], { cwd })
      expect(ran.stderr).toBe("")
      expect([ran.code, ran.last]).toEqual([0, expect.stringMatching(/status=done$/)])
      expect(ran.stdout).toContain("halted at judge")
      expect(server.requests).toHaveLength(2)
    } finally {
      await server.close()
    }
    // Written again: refused, the file untouched; --dir names another file.
    writeFileSync(join(cwd, "research-bot.yaml"), "mine\n")
    const again = await stargraph(["new", "research-bot"], { cwd })
    expect([again.code, again.stderr]).toEqual([2, "error: InputError: name: research-bot.yaml already exists; nothing was written (fix: choose a new file with --dir <path>, or move the existing one away)\n"])
    expect(readFileSync(join(cwd, "research-bot.yaml"), "utf8")).toBe("mine\n")
    const elsewhere = await stargraph(["new", "research-bot", "--dir", "agents/bot.yaml"], { cwd })
    expect([elsewhere.code, elsewhere.lines[0]]).toEqual([0, "wrote agents/bot.yaml"])
    expect(readFileSync(join(cwd, "agents", "bot.yaml"), "utf8")).toBe(text)
  })

  it("the original's coding-agent bundle ships: its folder name too", async () => {
    const cwd = project()
    const made = await stargraph(["new", "coding_agent"], { cwd })
    expect([made.code, made.stderr, made.lines[1]]).toEqual([0, "", "next: stargraph run coding_agent/graph.yaml"])
    expect(snapshot(join(cwd, "coding_agent"))).toEqual(snapshot(join(ROOT, "examples", "bundles", "coding_agent")))
    const typo = await stargraph(["new", "coding-agnet"], { cwd })
    expect([typo.code, typo.stderr]).toEqual([2, expect.stringContaining("(did you mean 'coding-agent'?)")])
    expect(readdirSync(cwd).sort()).toEqual(["coding_agent", "node_modules"])
  })
})
