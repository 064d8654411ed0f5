/**
 * One child process for the execution tools (`std.python_exec`, `std.shell`): spawned in
 * a process group of its own, with a minimal environment, in a fresh temporary working
 * directory (removed afterwards) unless the caller names one. Its output is kept up to a
 * cap per stream (the rest is read and dropped, so a child that prints gigabytes costs no
 * memory), and the whole group is killed with SIGKILL when the wall-clock timeout passes,
 * when the calling fiber is interrupted (the run is cancelled), and when the child exits
 * (anything it left running in its group goes with it).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { constants as osConstants, tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"

/** The most characters of stdout, and of stderr, a result holds (the original's cap). */
export const MAX_OUTPUT_CHARS = 65_536

/** Bytes kept per stream: enough for {@link MAX_OUTPUT_CHARS} characters of UTF-8. */
const MAX_OUTPUT_BYTES = MAX_OUTPUT_CHARS * 4

/** The parent's environment variables a child gets (and every `LC_*`): no secrets. */
export const SAFE_ENV_KEYS: ReadonlyArray<string> = ["PATH", "HOME", "LANG", "TMPDIR", "TERM"]

/** The result of an execution tool (the original's envelope). */
export interface ExecResult {
  readonly stdout: string
  readonly stderr: string
  /** The child's exit status; `-signal` when a signal ended it; -1 when it timed out. */
  readonly exit_code: number
  readonly timed_out: boolean
  /** Whether stdout or stderr was cut at {@link MAX_OUTPUT_CHARS}. */
  readonly truncated: boolean
}

/** {@link ExecResult} as a Schema: the execution tools' output. */
export const ExecOutput = Schema.Struct({
  stdout: Schema.String,
  stderr: Schema.String,
  exit_code: Schema.Int,
  timed_out: Schema.Boolean,
  truncated: Schema.Boolean
})

/** What to run. */
export interface ExecSpec {
  /** The executable (looked up on the child's `PATH`) and its arguments. */
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Wall-clock limit, in ms. */
  readonly timeoutMs: number
  /** The working directory; a fresh temporary one (removed afterwards) when undefined. */
  readonly cwd?: string | undefined
  /** The temporary directory's name prefix. */
  readonly prefix: string
  /** A `ToolError` for a command that cannot be started because it is missing. */
  readonly missing: (error: string) => ToolError
}

/** The parent's environment reduced to {@link SAFE_ENV_KEYS} and `LC_*`. */
export const safeEnv = (env: NodeJS.ProcessEnv = process.env): { [name: string]: string } => {
  const out: { [name: string]: string } = {}
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (SAFE_ENV_KEYS.includes(name) || name.startsWith("LC_"))) out[name] = value
  }
  return out
}

/** Output of one stream: chunks kept up to the byte cap, the rest counted and dropped. */
class Capture {
  private readonly chunks: Array<Buffer> = []
  private kept = 0
  dropped = false
  add(chunk: Buffer): void {
    const room = MAX_OUTPUT_BYTES - this.kept
    if (room <= 0) {
      this.dropped = true
      return
    }
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room)
    if (part.length < chunk.length) this.dropped = true
    this.chunks.push(part)
    this.kept += part.length
  }
  text(): { readonly text: string; readonly truncated: boolean } {
    const text = Buffer.concat(this.chunks).toString("utf8")
    return text.length > MAX_OUTPUT_CHARS || this.dropped
      ? { text: text.slice(0, MAX_OUTPUT_CHARS), truncated: true }
      : { text, truncated: false }
  }
}

/** Kill the child's whole process group (gone already: nothing to do). */
const killGroup = (child: ChildProcess): void => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, "SIGKILL")
  } catch {
    // ESRCH: the group is empty.
  }
}

/** How long to wait for the pipes to close after the group is killed, before giving up on them. */
const CLOSE_GRACE_MS = 2_000

/** The exit status as the original reports it: the code, or `-signal` for a signal. */
const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code !== null ? code : signal !== null ? -(osConstants.signals[signal] ?? 1) : -1

/** Spawn and wait for the child in `cwd`; interruption kills its group and waits for it to go. */
const runIn = (spec: ExecSpec, cwd: string): Effect.Effect<ExecResult, ToolError> =>
  Effect.async<ExecResult, ToolError>((resume) => {
    const out = new Capture()
    const err = new Capture()
    let timedOut = false
    let done = false
    let exited: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined
    const timers: Array<ReturnType<typeof setTimeout>> = []
    const child = spawn(spec.command, [...spec.args], {
      cwd,
      env: safeEnv(),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const finish = (result: Effect.Effect<ExecResult, ToolError>) => {
      if (done) return
      done = true
      for (const t of timers) clearTimeout(t)
      resume(result)
    }
    const settle = () => {
      const o = out.text()
      const e = err.text()
      finish(Effect.succeed({
        stdout: o.text,
        stderr: e.text,
        exit_code: timedOut ? -1 : exitCodeOf(exited?.code ?? null, exited?.signal ?? null),
        timed_out: timedOut,
        truncated: o.truncated || e.truncated
      }))
    }
    /** Settle even when something outside the group keeps a pipe open. */
    const closeSoon = () => {
      timers.push(setTimeout(() => {
        child.stdout?.destroy()
        child.stderr?.destroy()
        settle()
      }, CLOSE_GRACE_MS))
    }
    child.stdout?.on("data", (chunk: Buffer) => out.add(chunk))
    child.stderr?.on("data", (chunk: Buffer) => err.add(chunk))
    child.on("error", (error: NodeJS.ErrnoException) => {
      killGroup(child)
      finish(Effect.fail(
        error.code === "ENOENT"
          ? spec.missing(error.message)
          : new ToolError({ reason: "failed", message: `cannot start ${spec.command}: ${error.message}`, fix: error.code === "E2BIG" ? "pass a shorter program" : "check the command and the machine's limits" })
      ))
    })
    child.on("exit", (code, signal) => {
      exited = { code, signal }
      // What the child left running in its group goes with it.
      killGroup(child)
      closeSoon()
    })
    child.on("close", (code, signal) => {
      exited ??= { code, signal }
      settle()
    })
    timers.push(setTimeout(() => {
      // Exited in time (its group already killed): only its pipes are still closing.
      if (exited !== undefined) return
      timedOut = true
      killGroup(child)
      closeSoon()
    }, spec.timeoutMs))
    // Interrupted (the run is cancelled): kill the group and wait for its pipes to close.
    return Effect.async<void>((resumeCleanup) => {
      if (done) return resumeCleanup(Effect.void)
      done = true
      for (const t of timers) clearTimeout(t)
      // Once it has exited its pid may be reused: its group was killed then.
      if (exited === undefined) killGroup(child)
      const wait = setTimeout(() => resumeCleanup(Effect.void), CLOSE_GRACE_MS)
      child.once("close", () => {
        clearTimeout(wait)
        resumeCleanup(Effect.void)
      })
    })
  })

/** Run `spec`: in its `cwd`, or in a fresh temporary directory removed afterwards. */
export const runProcess = (spec: ExecSpec): Effect.Effect<ExecResult, ToolError> =>
  spec.cwd !== undefined
    ? runIn(spec, spec.cwd)
    : Effect.acquireUseRelease(
      Effect.tryPromise({
        try: () => mkdtemp(join(tmpdir(), spec.prefix)),
        catch: (error) => new ToolError({ reason: "failed", message: `cannot make a temporary working directory: ${error instanceof Error ? error.message : String(error)}`, fix: "check that the temporary directory (TMPDIR) is writable" })
      }),
      (dir) => runIn(spec, dir),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }).catch(() => undefined))
    )
