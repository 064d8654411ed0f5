/**
 * `std.python_exec@1`: the original's Python runner. `code` runs as `python3 -I -c code`
 * (isolated mode: no user site-packages, no `PYTHONPATH`, no working directory on
 * `sys.path`) in a fresh temporary working directory removed afterwards, with a minimal
 * environment (`PATH`, `HOME`, `LANG`, `TMPDIR`, `TERM`, `LC_*`: no API keys), under a
 * wall-clock timeout that kills its whole process group (see `subprocess.ts`). Needs the
 * `tools:std:exec` capability, as the original: it is process isolation, not a sandbox.
 * The interpreter is `python3` on `PATH`, or the one `STARGRAPH_PYTHON` names.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"
import { ExecOutput, runProcess } from "./subprocess.js"

/** The capability it needs (the original's claim: name `tools`, scope `std:exec`). */
export const EXEC_CAPABILITY = "tools:std:exec"

/** The environment variable naming the interpreter (default `python3` on `PATH`). */
export const PYTHON_ENV = "STARGRAPH_PYTHON"

/** The longest timeout, in seconds (a larger one is lowered, a smaller than 1 raised, as the original). */
export const MAX_PYTHON_TIMEOUT_S = 120

/** The interpreter the tool runs. */
export const pythonCommand = (): string => process.env[PYTHON_ENV]?.trim() || "python3"

/** A timeout in seconds clamped to [1, max], in ms. */
export const clampTimeoutMs = (seconds: number, max: number): number => Math.round(Math.max(1, Math.min(seconds, max)) * 1000)

/** `std.python_exec@1`. */
export const pythonExec = Tool.make({
  id: "std.python_exec",
  version: "1",
  description:
    "Execute Python code in an isolated subprocess (python -I, throwaway cwd, minimal env, wall-clock timeout). Requires the tools:std:exec capability; blocked by default.",
  input: Schema.Struct({ code: Schema.String, timeout_s: Schema.optional(Schema.Finite) }),
  output: ExecOutput,
  capabilities: [EXEC_CAPABILITY],
  run: ({ code, timeout_s }) =>
    Effect.suspend(() => {
      const command = pythonCommand()
      return runProcess({
        command,
        args: ["-I", "-c", code],
        timeoutMs: clampTimeoutMs(timeout_s ?? 30, MAX_PYTHON_TIMEOUT_S),
        prefix: "stargraph-python-exec-",
        missing: (error) =>
          new ToolError({
            reason: "failed",
            message: `Python is not available: '${command}' cannot be started (${error})`,
            fix: `install Python 3 so that python3 is on PATH, or set ${PYTHON_ENV} to the interpreter's path`
          })
      })
    })
})
