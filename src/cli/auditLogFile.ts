/**
 * What the audit commands (`verify-audit`, `audit-anchor`) read of an audit log file
 * before opening it: whether it exists, its first line, and whether that line is a plain
 * (unchained) audit line.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs"

/** Whether `path` names a file. */
export const readable = (path: string): boolean => statSync(path, { throwIfNoEntry: false })?.isFile() === true

/** The log's first line (up to 64 KiB), or undefined when it cannot be read. */
export const firstLine = (path: string): string | undefined => {
  try {
    const fd = openSync(path, "r")
    try {
      const head = Buffer.alloc(65536)
      const n = readSync(fd, head, 0, head.length, 0)
      return head.subarray(0, n).toString("utf8").split("\n")[0]
    } catch {
      return undefined
    } finally {
      closeSync(fd)
    }
  } catch {
    return undefined
  }
}

/**
 * Whether `line` is a plain audit line, as `AuditSink.jsonl` writes one (`ts`, `actor` and
 * `event` strings, no `jws`): the log was written without `--audit-key`.
 */
export const isPlainAuditLine = (line: string): boolean => {
  try {
    const parsed: unknown = JSON.parse(line)
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return false
    const obj = parsed as Record<string, unknown>
    return typeof obj["ts"] === "string" && typeof obj["actor"] === "string" && typeof obj["event"] === "string" && !("jws" in obj)
  } catch {
    return false
  }
}
