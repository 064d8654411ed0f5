/** Liveness of the process that owns (drives) a run. */
import { readFileSync } from "node:fs"
import { hostname } from "node:os"

/** `host:pid` of this process, recorded as the owner of runs it drives. */
export const OWNER = `${hostname()}:${process.pid}`

/**
 * Whether process `pid` has exited but not been reaped yet (a zombie, state `Z` in
 * `/proc/<pid>/stat` on Linux): it answers signals, but it drives nothing any more.
 * False where `/proc` cannot tell.
 */
const isZombie = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // `pid (comm) state …`: comm may hold spaces and parentheses, so read after the last ')'.
    return stat[stat.lastIndexOf(")") + 2] === "Z"
  } catch {
    return false
  }
}

/** True when `owner` (`host:pid`) is a live process on this host. Other hosts count as live. */
export const ownerAlive = (owner: string): boolean => {
  const [host, pid] = owner.split(":")
  if (host !== OWNER.split(":")[0]) return true
  try {
    process.kill(Number(pid), 0)
  } catch {
    return false
  }
  return !isZombie(Number(pid))
}
