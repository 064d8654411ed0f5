import { spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { OWNER } from "../../src/runtime/RunLoop.js"
import { ownerAlive } from "../../src/runtime/owner.js"

const host = OWNER.split(":")[0]!

describe("ownerAlive", () => {
  it("is true for a live process on this host and for another host, false for a dead one and for a zombie", async () => {
    expect(ownerAlive(OWNER)).toBe(true)
    expect(ownerAlive("another-host:1")).toBe(true)
    // `sleep 100` whose parent (after exec, `sleep 5`) never reaps it: killed, it stays a
    // zombie. On a loaded machine it is sometimes reaped all the same (its parent gone
    // first): then another one is made, until one is seen in state Z.
    const zombie = async (): Promise<{ pid: number; parent: ReturnType<typeof spawn> } | undefined> => {
      const shell = spawn("sh", ["-c", "sleep 100 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] })
      const pid = await new Promise<number>((resolve) => shell.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))))
      expect(ownerAlive(`${host}:${pid}`)).toBe(true)
      process.kill(pid, "SIGKILL")
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 20))
        const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : ""
        if (/\) Z /.test(stat)) return { pid, parent: shell }
        if (stat === "") break
      }
      shell.kill("SIGKILL")
      return undefined
    }
    let made: Awaited<ReturnType<typeof zombie>>
    for (let attempt = 0; attempt < 5 && made === undefined; attempt++) made = await zombie()
    expect(made).toBeDefined()
    try {
      // It still answers signal 0 (not reaped), but drives nothing.
      expect(() => process.kill(made!.pid, 0)).not.toThrow()
      expect(ownerAlive(`${host}:${made!.pid}`)).toBe(false)
    } finally {
      made!.parent.kill("SIGKILL")
    }
    expect(ownerAlive(`${host}:999999999`)).toBe(false)
  })

  it("tells a live process from a later one that got the same pid: the owner records when it started", async () => {
    expect(OWNER.split(":")).toHaveLength(3)
    const child = spawn("sleep", ["5"], { stdio: "ignore" })
    try {
      await new Promise((r) => setTimeout(r, 50))
      const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8")
      const started = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!
      expect(ownerAlive(`${host}:${child.pid}:${started}`)).toBe(true)
      // The same pid with another start: the recorded owner died and its pid went to this process.
      expect(ownerAlive(`${host}:${child.pid}:${Number(started) - 1}`)).toBe(false)
      // An owner recorded before starts were recorded: the pid alone.
      expect(ownerAlive(`${host}:${child.pid}`)).toBe(true)
    } finally {
      child.kill("SIGKILL")
    }
  })
})
