/**
 * `std.shell@1`: the original's shell command runner. `command` runs as `/bin/sh -c
 * command` in `cwd` (an existing directory), or in a fresh temporary directory removed
 * afterwards, under a wall-clock timeout that kills its whole process group (see
 * `subprocess.ts`). Needs the `tools:std:shell` capability, as the original. Unlike the
 * original, which hands the command the parent's whole environment, it gets the same
 * minimal environment as `std.python_exec` (`PATH`, `HOME`, `LANG`, `TMPDIR`, `TERM`,
 * `LC_*`): the server's secrets stay out of a command a model may have written.
 */
import { stat } from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"
import { clampTimeoutMs } from "./pythonExec.js"
import { ExecOutput, runProcess } from "./subprocess.js"

/** The capability it needs (the original's claim: name `tools`, scope `std:shell`). */
export const SHELL_CAPABILITY = "tools:std:shell"

/** The longest timeout, in seconds (the original's). */
export const MAX_SHELL_TIMEOUT_S = 300

/** `std.shell@1`. */
export const shell = Tool.make({
  id: "std.shell",
  version: "1",
  description:
    "Run a shell command (/bin/sh -c) with a minimal environment and a wall-clock timeout. Requires the tools:std:shell capability; blocked by default.",
  input: Schema.Struct({ command: Schema.String, timeout_s: Schema.optional(Schema.Finite), cwd: Schema.optional(Schema.NullOr(Schema.String)) }),
  output: ExecOutput,
  capabilities: [SHELL_CAPABILITY],
  run: ({ command, cwd, timeout_s }) =>
    Effect.gen(function*() {
      if (cwd !== undefined && cwd !== null) {
        const isDir = yield* Effect.promise(() => stat(cwd).then((s) => s.isDirectory(), () => false))
        if (!isDir) {
          return yield* new ToolError({ reason: "invalid-input", argument: "cwd", message: `cwd '${cwd}' is not a directory`, fix: "pass an existing directory, or leave cwd out to run in a fresh temporary one" })
        }
      }
      return yield* runProcess({
        command: "/bin/sh",
        args: ["-c", command],
        timeoutMs: clampTimeoutMs(timeout_s ?? 60, MAX_SHELL_TIMEOUT_S),
        cwd: cwd ?? undefined,
        prefix: "stargraph-shell-",
        missing: (error) => new ToolError({ reason: "failed", message: `/bin/sh cannot be started (${error})`, fix: "run on a machine with a POSIX shell at /bin/sh" })
      })
    })
})
