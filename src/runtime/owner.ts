/** Liveness of the process that owns (drives) a run. */
import { readFileSync } from "node:fs"
import { hostname } from "node:os"

/** The fields of `/proc/<pid>/stat` after `comm` (which may hold spaces and parentheses), or undefined where `/proc` cannot tell. */
const statFields = (pid: number): ReadonlyArray<string> | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** When process `pid` started, in clock ticks since boot (field 22 of its stat), where `/proc` tells. */
const startedAt = (pid: number): string | undefined => statFields(pid)?.[19]

/**
 * `host:pid:start` of this process, recorded as the owner of runs it drives. The start
 * time (where `/proc` gives it) tells this process from a later one that got the same pid:
 * a container restarted with the same hostname runs its server as pid 1 again.
 */
export const OWNER = [hostname(), String(process.pid), ...[startedAt(process.pid)].filter((t) => t !== undefined)].join(":")

/**
 * True when `owner` (`host:pid`, or `host:pid:start`) is a live process on this host: the
 * pid answers signals, is not a zombie (exited, not reaped: it drives nothing any more),
 * and, when the owner recorded its start, started then (else the pid was reused by another
 * process). Other hosts count as live.
 */
export const ownerAlive = (owner: string): boolean => {
  const [host, pid, started] = owner.split(":")
  if (host !== hostname()) return true
  try {
    process.kill(Number(pid), 0)
  } catch {
    return false
  }
  const fields = statFields(Number(pid))
  if (fields === undefined) return true
  if (fields[0] === "Z") return false
  return started === undefined || fields[19] === started
}

/** Whether `owner` is a process of another host (or container): its liveness cannot be checked from here. */
export const ownerElsewhere = (owner: string): boolean => owner.split(":")[0] !== hostname()

/** Who may take over a run `owner` drives: none, a dead process of this host, or (told so: `takeOver`) a process elsewhere. */
export const ownerGone = (owner: string | null, takeOver = false): boolean =>
  owner === null || !ownerAlive(owner) || (takeOver && ownerElsewhere(owner))

/**
 * Who drives a `running` run, for an operator: the owner with `(gone: …)` when it is a
 * dead process of this host (the run waits for `stargraph resume` or a server to adopt
 * it), `(another host: …)` when its liveness cannot be checked from here.
 */
export const describeOwner = (owner: string | null): string =>
  owner === null
    ? "no process"
    : !ownerAlive(owner)
    ? `${owner} (gone: \`stargraph resume\` continues the run, a server adopts it)`
    : ownerElsewhere(owner)
    ? `${owner} (another host or container: not checked from here; --take-over if it is gone)`
    : `${owner} (alive)`
