/** Helpers to run the real `stargraph` binary in a child process, and temp folders. */
import { spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

/** Repository root. */
export const ROOT = resolve(import.meta.dirname, "..", "..")

/** A fresh temp folder. */
export const tempDir = (prefix = "stargraph-test-"): string => mkdtempSync(join(tmpdir(), prefix))

/** Result of one CLI invocation. */
export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly lines: ReadonlyArray<string>
  readonly last: string
}

/**
 * Run `stargraph ...args` (the built bin) with `cwd`. Asynchronous, so the test worker's
 * event loop keeps running (a blocked worker trips vitest's RPC timeout).
 */
export const stargraph = (args: ReadonlyArray<string>, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "stargraph.js"), ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      const lines = stdout.split("\n").filter((l) => l.length > 0)
      resolve({ code, stdout, stderr, lines, last: lines[lines.length - 1] ?? "" })
    })
  })

/** Extract the run id from a `run_id=<id> status=<s>` line. */
export const runIdOf = (line: string): string => /run_id=(\S+)/.exec(line)?.[1] ?? ""
