/**
 * What the terminal can take: whether stdout is a TTY, whether colour is allowed
 * (`NO_COLOR` set to anything non-empty, or a non-TTY stdout, turns it off), and
 * stripping of ANSI codes for pipes. Also makes a closed stdout (`stargraph … | head -1`)
 * end quietly instead of with an EPIPE stack.
 */

/** True when stdout is a terminal. */
export const stdoutIsTty = (): boolean => process.stdout.isTTY === true

/** True when output to `stream` may carry ANSI colour codes. */
export const colorAllowed = (stream: { readonly isTTY?: boolean } = process.stdout): boolean =>
  stream.isTTY === true && (process.env["NO_COLOR"] ?? "") === ""

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g

/** `text` without ANSI escape sequences. */
export const stripAnsi = (text: string): string => text.replace(ANSI, "")

/** Wrap `text` in an SGR colour code when colour is allowed. */
export const paint = (enabled: boolean, code: string, text: string): string =>
  enabled ? `\u001b[${code}m${text}\u001b[0m` : text

/** Terminal width (columns), or `fallback` for a pipe. */
export const columns = (fallback = 100): number => process.stdout.columns || fallback

let stdoutClosed = false
let quieted = false

/** True once stdout's reader went away (EPIPE): further output is dropped. */
export const isStdoutClosed = (): boolean => stdoutClosed

/**
 * Swallow EPIPE (and the writes after it) on stdout and stderr: a reader that went away
 * (`| head -1`) is not an error. The command itself carries on (a run is real work and
 * finishes) and exits with its own code. Idempotent.
 */
export const quietOnClosedPipe = (): void => {
  if (quieted) return
  quieted = true
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") {
        if (stream === process.stdout) stdoutClosed = true
        return
      }
      throw error
    })
  }
}

/** Write to stdout unless its reader has gone. */
export const writeOut = (text: string): void => {
  if (!stdoutClosed) process.stdout.write(text)
}
