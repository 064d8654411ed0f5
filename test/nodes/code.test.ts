/**
 * `code` nodes (the original's generate-then-run kind) against a real OpenAI-compatible
 * server on 127.0.0.1 and a real python3: the model's script runs through std.python_exec
 * behind the tools:std:exec grant, both calls land in the cassette, and a replay with the
 * server stopped and no grant gives the same state without running the script again (it
 * appends to a marker file the test reads). Non-zero exits, the refused capability, empty
 * scripts, stubs and the config checks.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import { IRValidationError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { stripCodeFences } from "../../src/nodes/kinds/code.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import * as Replay from "../../src/replay/Replay.js"
import { tempDir } from "../helpers/cli.js"
import { dbLayer, runGraph } from "../helpers/graphRun.js"
import { scriptedServers } from "../helpers/scriptedServers.js"

const str = { type: "string" }
const fields = { task: str, code: str, run_result: { type: "object" }, verdict: str }

const irOf = (config: Record<string, unknown>, stateFields: Record<string, unknown> = fields) => ({
  ir_version: "1.0.0",
  id: "run:code",
  state_schema: { fields: stateFields },
  nodes: [{ id: "coder", kind: "code", config: { model: "test-model", ...config } }]
})

const exec = Capabilities.layer(["tools:std:exec"])


/** A chain-of-thought reply carrying `code`. */
const reply = (code: string) => JSON.stringify({ reasoning: "Compute it and print it.", code })

const { serve } = scriptedServers()

describe("code nodes write Python and run it", () => {
  it("runs the model's script through std.python_exec, records both calls; a replay with the server stopped runs nothing", async () => {
    const marker = join(tempDir(), "runs.txt")
    const script = `open(${JSON.stringify(marker)}, "a").write("ran\\n")\nprint(6 * 7)`
    const server = await serve(reply("```python\n" + script + "\n```"))
    const layer = dbLayer()
    const live = await runGraph(irOf({ api_base: server.url }), { task: "Print six times seven." }, { layer, provide: exec })
    expect(live.error).toBeUndefined()
    expect(live.summary?.status).toBe("done")
    expect(live.summary?.final_state).toEqual({
      task: "Print six times seven.",
      code: script,
      run_result: { stdout: "42\n", stderr: "", exit_code: 0, timed_out: false, truncated: false },
      verdict: "pass"
    })
    expect(readFileSync(marker, "utf8")).toBe("ran\n")
    const sent = server.requests[0]!.body["messages"] as Array<{ role: string; content: string }>
    expect(sent[0]!.content).toContain("Write a complete, self-contained Python script")
    expect(sent[1]!.content).toContain("## task\nPrint six times seven.")

    const calls = live.checkpoints.flatMap((c) => c.calls ?? [])
    expect(calls.map((c) => c.name)).toEqual(["lm.code", "tool.std.python_exec"])
    expect(calls[0]).toMatchObject({ node: "coder", request: { model: "test-model", signature: "task -> code" } })
    expect(calls[1]).toMatchObject({ node: "coder", request: { tool: "std.python_exec@1", args: { code: script, timeout_s: 30 } }, response: { stdout: "42\n", exit_code: 0 } })

    await server.close()
    // No grant in the replay: the recorded call is answered, the tool never runs.
    const fork = await Effect.runPromise(Replay.fork(live.graph, live.runId, {}).pipe(Effect.provide(layer)))
    expect(fork.error).toBeUndefined()
    expect(fork.summary.final_state).toEqual(live.summary?.final_state)
    expect(readFileSync(marker, "utf8")).toBe("ran\n")
    expect(server.requests).toHaveLength(1)
  })

  it("a script that exits non-zero is verdict fail", async () => {
    const server = await serve(reply("import sys\nprint('nope', file=sys.stderr)\nsys.exit(3)"))
    const r = await runGraph(irOf({ api_base: server.url, timeout_s: 5 }), { task: "fail" }, { provide: exec })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toMatchObject({ verdict: "fail", run_result: { exit_code: 3, stderr: "nope\n", timed_out: false } })
    const calls = r.checkpoints.flatMap((c) => c.calls ?? [])
    expect(calls[1]).toMatchObject({ request: { args: { timeout_s: 5 } } })
  })

  it("without tools:std:exec the node fails with capability-denied before asking the model, and the script does not run", async () => {
    const marker = join(tempDir(), "denied.txt")
    const server = await serve(reply(`open(${JSON.stringify(marker)}, "w").write("ran")`))
    const r = await runGraph(irOf({ api_base: server.url }), { task: "t" }, { provide: Capabilities.layer([]) })
    expect(r.error).toMatchObject({ _tag: "ToolError", reason: "capability-denied", capability: "tools:std:exec", tool: "std.python_exec@1", nodeId: "coder" })
    // No (paid) model call for a script that could not run.
    expect(server.requests).toHaveLength(0)
    expect(existsSync(marker)).toBe(false)
    // The fix names the exact grant, not every tool.
    expect((r.error as { fix?: string }).fix).toContain(`STARGRAPH_CAPABILITIES=tools:std:exec in the environment`)
    expect((r.error as { fix?: string }).fix).toContain(`Capabilities.layer(["tools:std:exec"])`)
  })

  it("an empty script is a ModelOutputError, retried with a repair turn", async () => {
    const server = await serve(reply("```python\n```"), reply("print('ok')"))
    const r = await runGraph({ ...irOf({ api_base: server.url }), nodes: [{ id: "coder", kind: "code", retry: { max_attempts: 2 }, config: { model: "test-model", api_base: server.url } }] }, { task: "t" }, { provide: exec })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toMatchObject({ code: "print('ok')", verdict: "pass" })
    expect(server.requests).toHaveLength(2)
    const once = await serve(reply("   "))
    const bad = await runGraph(irOf({ api_base: once.url }), { task: "t" }, { provide: exec })
    expect(bad.error).toMatchObject({ _tag: "ModelOutputError", field: "code" })
  })

  it("stub: true answers offline, with no model and no process", async () => {
    const r = await runGraph(irOf({ stub: true }), { task: "anything" }, { provide: Capabilities.layer([]) })
    expect(r.error).toBeUndefined()
    expect(r.summary?.final_state).toMatchObject({ code: "print('stub')", verdict: "pass", run_result: { exit_code: 0 } })
    expect(r.checkpoints.flatMap((c) => c.calls ?? [])).toEqual([])
  })

  it("checks its reads and writes, and its config, when the graph is built", async () => {
    const refused = async (ir: unknown) => {
      const exit = await Effect.runPromiseExit(Graph.make(ir))
      if (Exit.isSuccess(exit)) throw new Error("expected the graph to be refused")
      const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      expect(error).toBeInstanceOf(IRValidationError)
      return error as IRValidationError
    }
    expect((await refused(irOf({}, { question: str, code: str, run_result: { type: "object" }, verdict: str }))).message).toContain("code reads state field 'task' by default")
    expect((await refused(irOf({}, { task: str, code: str, verdict: str }))).message).toContain("run_result")
    expect((await refused(irOf({ timeout_s: 0 }))).message).toContain("timeout_s")
    expect(JSON.stringify(await refused(irOf({ bogus: 1 })))).toContain("bogus")
    // Its outputs are fixed: the fix says how to declare the field, not to change a signature it does not have.
    const wrongType = await refused(irOf({}, { ...fields, run_result: str }))
    expect(wrongType.message).toContain("writes a dict to state field 'run_result', declared string")
    expect(wrongType.fix).toBe("declare 'run_result' with a type that holds a dict (this kind's outputs are fixed)")
    expect((await refused(irOf({}, { task: str, run_result: { type: "object" }, verdict: str }))).fix).toBe("declare 'code' in the state schema (this kind always writes it)")
  })

  it("strips one markdown fence, as the original", () => {
    expect(stripCodeFences("```python\nprint(1)\n```")).toBe("print(1)")
    expect(stripCodeFences("```\nx = 1\ny = 2\n```  ")).toBe("x = 1\ny = 2")
    expect(stripCodeFences("  print(2)  ")).toBe("print(2)")
  })
})
