/**
 * std.python_exec and std.shell with real child processes: output, exit codes, the
 * timeout killing a process group that ignores SIGTERM, the output cap, the stripped
 * environment, the throwaway working directory, the capability gate (through the shared
 * live path), Python missing, and a cancelled call killing its process.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { afterAll, describe, expect, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import { pythonExec } from "../../src/nodes/tools/std/pythonExec.js"
import { liveRun } from "../../src/nodes/tools/runTool.js"
import { shell } from "../../src/nodes/tools/std/shell.js"
import { MAX_OUTPUT_CHARS } from "../../src/nodes/tools/std/subprocess.js"
import { tempDir } from "../helpers/cli.js"
import { toolErr, toolOk } from "../helpers/toolCalls.js"

const scratch = mkdtempSync(join(tmpdir(), "sg-exec-test-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** Whether a process is alive. */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Wait until `f` holds (or fail after `ms`). */
const until = async (f: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error("timed out waiting")
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Python that writes its pid and its child's (which ignore SIGTERM) to `file`, then sleeps. */
const stubbornTree = (file: string) => [
  "import os, signal, subprocess, sys, time",
  "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
  "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])",
  `open(${JSON.stringify(file)}, 'w').write(f'{os.getpid()} {child.pid}')`,
  "time.sleep(60)"
].join("\n")

describe("std.python_exec", () => {
  it("runs code and reports stdout, stderr and the exit code", async () => {
    const ok = await toolOk(pythonExec, { code: "import sys; print('hi'); sys.stderr.write('warn')" })
    expect(ok).toEqual({ stdout: "hi\n", stderr: "warn", exit_code: 0, timed_out: false, truncated: false })
    const bad = await toolOk(pythonExec, { code: "import sys; sys.stderr.write('boom'); sys.exit(3)" })
    expect(bad).toMatchObject({ stderr: "boom", exit_code: 3, timed_out: false })
  })

  it("runs isolated, in a fresh working directory that is removed afterwards", async () => {
    const ok = await toolOk(pythonExec, { code: "import os, sys; print(os.getcwd()); print(sys.flags.isolated)" })
    const [cwd, isolated] = ok["stdout"].trim().split("\n")
    expect(cwd).toContain("stargraph-python-exec-")
    expect(cwd).not.toBe(process.cwd())
    expect(isolated).toBe("1")
    expect(existsSync(cwd!)).toBe(false)
  })

  it("does not pass the parent's secrets to the code", async () => {
    process.env["STARGRAPH_TEST_SECRET"] = "hunter2"
    try {
      const ok = await toolOk(pythonExec, { code: "import os; print(os.environ.get('STARGRAPH_TEST_SECRET')); print(sorted(os.environ))" })
      expect(ok["stdout"].split("\n")[0]).toBe("None")
      expect(ok["stdout"]).not.toContain("hunter2")
      expect(ok["stdout"]).toContain("'PATH'")
    } finally {
      delete process.env["STARGRAPH_TEST_SECRET"]
    }
  })

  it("kills the whole process group at the timeout, a child ignoring SIGTERM included", async () => {
    const file = join(scratch, "tree-timeout")
    const started = Date.now()
    const ok = await toolOk(pythonExec, { code: stubbornTree(file), timeout_s: 1.5 })
    expect(ok).toMatchObject({ timed_out: true, exit_code: -1 })
    expect(Date.now() - started).toBeLessThan(10_000)
    const [pid, child] = readFileSync(file, "utf8").split(" ").map(Number)
    await until(() => !alive(pid!) && !alive(child!), 3_000)
  })

  it("caps the output it keeps, however much the code prints", async () => {
    // 200 MB of output: read and dropped past the cap, so this process's buffers stay small.
    let peak = 0
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 5)
    const before = process.memoryUsage().arrayBuffers
    const ok = await toolOk(pythonExec, { code: "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 1_000_000)\nprint('done', file=sys.stderr)", timeout_s: 60 })
    clearInterval(sample)
    expect(peak - before).toBeLessThan(50_000_000)
    expect(ok["stdout"].length).toBe(MAX_OUTPUT_CHARS)
    expect(ok).toMatchObject({ truncated: true, exit_code: 0, stderr: "done\n" })
  })

  it("says how to fix a missing Python", async () => {
    process.env["STARGRAPH_PYTHON"] = "/nonexistent/python3"
    try {
      const e = await toolErr(pythonExec, { code: "print(1)" })
      expect(e).toMatchObject({ reason: "failed" })
      expect(e.message).toContain("Python is not available")
      expect(e.fix).toContain("STARGRAPH_PYTHON")
    } finally {
      delete process.env["STARGRAPH_PYTHON"]
    }
  })

  it("is refused without tools:std:exec, and runs with it (or a tools grant)", async () => {
    const run = liveRun(pythonExec, { sourceOf: () => "test" })
    const call = (grants: ReadonlyArray<string>) => Effect.runPromise(Effect.either(run({ code: "print(42)" })).pipe(Effect.provide(Capabilities.layer(grants))))
    const denied = await call([])
    expect(Either.isLeft(denied) && denied.left.reason).toBe("capability-denied")
    expect(Either.isLeft(denied) && denied.left.capability).toBe("tools:std:exec")
    // The fix names the exact grant: copying it grants exec, not every tool (shell, graph_invoke).
    const fix = Either.isLeft(denied) ? denied.left.fix ?? "" : ""
    expect(fix).toContain("STARGRAPH_CAPABILITIES=tools:std:exec in the environment")
    expect(fix).toContain(`Capabilities.layer(["tools:std:exec"])`)
    const copied = /STARGRAPH_CAPABILITIES=(\S+)/.exec(fix)![1]!
    expect(Either.isRight(await call([copied]))).toBe(true)
    const shellRun = liveRun(shell, { sourceOf: () => "test" })
    const shellDenied = await Effect.runPromise(Effect.either(shellRun({ command: "true" })).pipe(Effect.provide(Capabilities.layer([copied]))))
    expect(Either.isLeft(shellDenied) && shellDenied.left.reason).toBe("capability-denied")
    expect(Either.isLeft(await call(["tools:std:shell"]))).toBe(true)
    for (const grant of ["tools:std:exec", "tools:std:*", "tools"]) {
      const ok = await call([grant])
      expect(Either.isRight(ok) && (ok.right as { stdout: string }).stdout).toBe("42\n")
    }
  })

  it("kills the process group when the call is interrupted (the run cancelled)", async () => {
    const file = join(scratch, "tree-cancel")
    const fiber = Effect.runFork(pythonExec.run({ code: stubbornTree(file), timeout_s: 60 }))
    await until(() => existsSync(file) && readFileSync(file, "utf8").includes(" "))
    const [pid, child] = readFileSync(file, "utf8").split(" ").map(Number)
    expect(alive(pid!)).toBe(true)
    const started = Date.now()
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(alive(pid!)).toBe(false)
    await until(() => !alive(child!), 3_000)
  })

  it("cancelling the run while a tool node runs the code kills its process group", async () => {
    const file = join(scratch, "tree-run-cancel")
    const ir = {
      ir_version: "1.0.0",
      id: "run:exec-cancel",
      state_schema: { fields: { out: { type: "object" } } },
      nodes: [{ id: "py", kind: "tool", tool: "std.python_exec@1", static: { code: stubbornTree(file), timeout_s: 60 }, out: "out" }]
    }
    const layer = Layer.merge(SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite") }), Capabilities.layer(["tools:std:exec"]))
    const summary = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir)
      const handle = yield* graph.start({})
      const fiber = yield* Effect.fork(handle.start())
      yield* Effect.promise(() => until(() => existsSync(file) && readFileSync(file, "utf8").includes(" ")))
      yield* handle.cancel()
      return yield* Fiber.join(fiber)
    }).pipe(Effect.provide(layer)))
    expect(summary.status).toBe("cancelled")
    const [pid, child] = readFileSync(file, "utf8").split(" ").map(Number)
    await until(() => !alive(pid!) && !alive(child!), 3_000)
  })
})

describe("std.shell", () => {
  it("runs a command and reports its exit code", async () => {
    expect(await toolOk(shell, { command: "echo shell-ok" })).toMatchObject({ stdout: "shell-ok\n", exit_code: 0 })
    expect(await toolOk(shell, { command: "exit 9" })).toMatchObject({ exit_code: 9, timed_out: false })
  })

  it("runs in a given cwd, refuses one that is not a directory, and strips the environment", async () => {
    expect((await toolOk(shell, { command: "pwd", cwd: scratch }))["stdout"].trim()).toBe(scratch)
    const e = await toolErr(shell, { command: "true", cwd: "/definitely/not/a/dir" })
    expect(e).toMatchObject({ reason: "invalid-input", argument: "cwd" })
    process.env["STARGRAPH_TEST_SECRET"] = "hunter2"
    try {
      expect((await toolOk(shell, { command: "echo \"[$STARGRAPH_TEST_SECRET]\"" }))["stdout"]).toBe("[]\n")
    } finally {
      delete process.env["STARGRAPH_TEST_SECRET"]
    }
  })

  it("times out, killing what the command started", async () => {
    const file = join(scratch, "shell-timeout")
    const ok = await toolOk(shell, { command: `trap '' TERM; sleep 60 & echo $$ $! > ${file}; wait`, timeout_s: 1 })
    expect(ok).toMatchObject({ timed_out: true, exit_code: -1 })
    const [pid, child] = readFileSync(file, "utf8").trim().split(" ").map(Number)
    await until(() => !alive(pid!) && !alive(child!), 3_000)
  })

  it("is refused without tools:std:shell", async () => {
    const run = liveRun(shell, { sourceOf: () => "test" })
    const denied = await Effect.runPromise(Effect.either(run({ command: "true" })).pipe(Effect.provide(Capabilities.layer(["tools:std:exec"]))))
    expect(Either.isLeft(denied) && denied.left.capability).toBe("tools:std:shell")
    expect(Either.isLeft(denied) && denied.left.fix).toBe(`grant it: STARGRAPH_CAPABILITIES=tools:std:shell in the environment of stargraph run/serve, or provide Capabilities.layer(["tools:std:shell"]) where the app runs the graph`)
  })
})
