/** Helpers to run the real `stargraph` binary in a child process, and temp folders. */
import { spawnSync } from "node:child_process"
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

/** Run `stargraph ...args` (the built bin) with `cwd`. */
export const stargraph = (args: ReadonlyArray<string>, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult => {
  const result = spawnSync(process.execPath, [join(ROOT, "bin", "stargraph.js"), ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    encoding: "utf8",
    timeout: 60_000
  })
  const lines = result.stdout.split("\n").filter((l) => l.length > 0)
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, lines, last: lines[lines.length - 1] ?? "" }
}

/** Extract the run id from a `run_id=<id> status=<s>` line. */
export const runIdOf = (line: string): string => /run_id=(\S+)/.exec(line)?.[1] ?? ""
