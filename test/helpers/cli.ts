/** Helpers to run the real `stargraph` binary in a child process, and temp folders. */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

/** Repository root. */
export const ROOT = resolve(import.meta.dirname, "..", "..")

/** The CLI entry users run (`STARGRAPH_BIN` points the CLI tests at another build). */
export const BIN = process.env["STARGRAPH_BIN"] ?? join(ROOT, "bin", "stargraph.js")

/** A fresh temp folder. */
export const tempDir = (prefix = "stargraph-test-"): string => mkdtempSync(join(tmpdir(), prefix))

/** Result of one CLI invocation. */
export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly lines: ReadonlyArray<string>
  readonly last: string
}

/** Options of a CLI invocation. */
export interface CliOptions {
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** Node flags before the bin (e.g. `--import` a hook). */
  readonly nodeArgs?: ReadonlyArray<string>
}

/** A CLI process still running: its output so far, and its end. */
export interface RunningCli {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves once stdout matches `pattern` (rejects if the process ends first or after `ms`). */
  readonly waitForStdout: (pattern: RegExp, ms?: number) => Promise<void>
  /** The same for stderr. */
  readonly waitForStderr: (pattern: RegExp, ms?: number) => Promise<void>
  readonly done: Promise<CliResult>
}

const resultOf = (code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): CliResult => {
  const lines = stdout.split("\n").filter((l) => l.length > 0)
  return { code, signal, stdout, stderr, lines, last: lines[lines.length - 1] ?? "" }
}

/** Start `stargraph ...args` without waiting for it. */
export const startStargraph = (args: ReadonlyArray<string>, options: CliOptions = {}): RunningCli => {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const watchers = new Set<() => void>()
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d
    for (const w of watchers) w()
  })
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d
    for (const w of watchers) w()
  })
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      for (const w of watchers) w()
      resolve(resultOf(code, signal, stdout, stderr))
    })
  })
  const waitFor = (output: () => string, pattern: RegExp, ms = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(output())) {
          watchers.delete(check)
          clearTimeout(limit)
          resolve()
        } else if (child.exitCode !== null || child.signalCode !== null) {
          watchers.delete(check)
          clearTimeout(limit)
          reject(new Error(`stargraph ended before printing ${pattern}: ${stdout}\n${stderr}`))
        }
      }
      const limit = setTimeout(() => {
        watchers.delete(check)
        reject(new Error(`no ${pattern} within ${ms} ms: ${stdout}\n${stderr}`))
      }, ms)
      watchers.add(check)
      check()
    })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStdout: (pattern, ms) => waitFor(() => stdout, pattern, ms),
    waitForStderr: (pattern, ms) => waitFor(() => stderr, pattern, ms),
    done
  }
}

/**
 * Run `stargraph ...args` (the built bin) with `cwd`. Asynchronous, so the test worker's
 * event loop keeps running (a blocked worker trips vitest's RPC timeout).
 */
export const stargraph = (args: ReadonlyArray<string>, options: CliOptions = {}): Promise<CliResult> =>
  startStargraph(args, options).done

/** Extract the run id from a `run_id=<id> status=<s>` line. */
export const runIdOf = (line: string): string => /run_id=(\S+)/.exec(line)?.[1] ?? ""

/** True when `text` has an ANSI escape sequence. */
export const hasAnsi = (text: string): boolean => text.includes("\u001b[")

/** Values every up-to-an-hour duration flag (`--drain-timeout`, `--cancel-wait`, `cancel --wait`) refuses, each with the message it gets. */
export const BAD_HOUR_DURATIONS = [
  ["10", /'10' is not a duration with a unit/],
  ["-1s", /'-1s' is not a duration with a unit/],
  ["soon", /'soon' is not a duration with a unit/],
  ["2h", /'2h' is longer than an hour/],
  ["0.5ms", /'0\.5ms' is not a whole number of milliseconds/]
] as const
