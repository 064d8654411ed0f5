import { spawn } from "node:child_process"
import { describe, expect, it } from "vitest"
import { OWNER } from "../../src/runtime/RunLoop.js"
import { ownerAlive } from "../../src/runtime/owner.js"

const host = OWNER.split(":")[0]!

describe("ownerAlive", () => {
  it("is true for a live process on this host and for another host, false for a dead one and for a zombie", async () => {
    expect(ownerAlive(OWNER)).toBe(true)
    expect(ownerAlive("another-host:1")).toBe(true)
    // `sleep 100` whose parent (after exec, `sleep 5`) never reaps it: killed, it stays a zombie.
    const shell = spawn("sh", ["-c", "sleep 100 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] })
    const pid = await new Promise<number>((resolve) => shell.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))))
    try {
      expect(ownerAlive(`${host}:${pid}`)).toBe(true)
      process.kill(pid, "SIGKILL")
      await new Promise((r) => setTimeout(r, 200))
      // It still answers signal 0 (not reaped), but drives nothing.
      expect(() => process.kill(pid, 0)).not.toThrow()
      expect(ownerAlive(`${host}:${pid}`)).toBe(false)
    } finally {
      shell.kill("SIGKILL")
    }
    expect(ownerAlive(`${host}:999999999`)).toBe(false)
  })
})
