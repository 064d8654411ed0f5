/**
 * `stargraph serve` names the triggers it runs: each schedule with its next tick, each
 * webhook with its route, the other triggers that started; one that failed is not listed
 * as running (its failure is logged instead).
 */
import { cpSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ROOT, startStargraph, tempDir } from "../helpers/cli.js"

describe("stargraph serve lists its triggers", () => {
  it("a schedule with its time zone, graph, thread and next tick; a webhook with its URL; a failed plugin only as a failure", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "graphs"))
    cpSync(join(ROOT, "examples", "hello"), join(dir, "graphs", "hello"), { recursive: true })
    writeFileSync(join(dir, "broken.mjs"), "throw new Error(\"top-level boom\")\n")
    writeFileSync(
      join(dir, "stargraph.yaml"),
      [
        "graphs: [./graphs/hello]",
        "schedules:",
        "  - { id: nightly, graph: ./graphs/hello/graph.yaml, cron: \"30 2 * * *\", timezone: UTC, params: { message: hi }, thread_id: night }",
        "webhooks:",
        "  - { id: inbound, graph: run:hello-stargraph, secret_env: HOOK_SECRET }",
        "plugins:",
        "  - { name: broken, module: ./broken.mjs }",
        ""
      ].join("\n")
    )
    const before = Date.now()
    const cli = startStargraph(["serve", "--port", "0", "--db", join(dir, "serve.sqlite")], { cwd: dir, env: { HOOK_SECRET: "s3cret" } })
    try {
      // Two pipes: stdout's line may come in after stderr's.
      await Promise.all([cli.waitForStderr(/^trigger manual: started$/m), cli.waitForStdout(/listening on http:\/\/\S+/)])
      const url = /listening on (http:\/\/\S+)/.exec(cli.stdout())![1]!
      const err = cli.stderr()
      const schedule = /^schedule nightly: "30 2 \* \* \*" \(UTC\) starts graphs\/hello\/graph\.yaml on thread night; next tick (\S+)$/m.exec(err)
      expect(schedule, err).not.toBeNull()
      const next = new Date(schedule![1]!)
      // The first 02:30 UTC after the start.
      expect([next.getUTCHours(), next.getUTCMinutes(), next.getUTCSeconds()]).toEqual([2, 30, 0])
      expect(next.getTime()).toBeGreaterThan(before)
      expect(next.getTime() - before).toBeLessThanOrEqual(24 * 3_600_000)
      expect(err).toMatch(new RegExp(`^webhook inbound: POST ${url}/v1/triggers/webhook/inbound starts run:hello-stargraph \\(signed with HOOK_SECRET\\)$`, "m"))
      expect(err).toMatch(/^trigger manual: started$/m)
      expect(err).toMatch(/trigger project:broken: load failed: .*top-level boom/)
      expect(err).not.toMatch(/^trigger project:broken: started$/m)
    } finally {
      cli.child.kill("SIGTERM")
      await cli.done
    }
  })
})
