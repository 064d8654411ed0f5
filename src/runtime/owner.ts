/** Liveness of the process that owns (drives) a run. */
import { OWNER } from "./RunLoop.js"

/** True when `owner` (`host:pid`) is a live process on this host. Other hosts count as live. */
export const ownerAlive = (owner: string): boolean => {
  const [host, pid] = owner.split(":")
  if (host !== OWNER.split(":")[0]) return true
  try {
    process.kill(Number(pid), 0)
    return true
  } catch {
    return false
  }
}
