import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

describe("examples/subgraph", () => {
  it("runs as the README shows, and inspect shows the child run under the step that ran it", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const ran = await stargraph(["run", join(ROOT, "examples", "subgraph", "graph.yaml"), "--db", db, "--inputs", "version=2.1", "--inputs", "changes=[\"faster replay\",\"subgraphs\"]"])
    expect(ran.stderr).toBe("")
    expect(ran.last).toMatch(/^run_id=run-\S+ status=done$/)
    expect(ran.stdout).toContain(`summary: "Release 2.1: ['faster replay', 'subgraphs'] (drafted by a child run)"`)
    const shown = await stargraph(["inspect", runIdOf(ran.last), "--db", db])
    const at = shown.lines.findIndex((l) => l.includes("↳ child run"))
    expect(shown.lines[at - 1]).toMatch(/^1 +draft +completed/)
    expect(shown.lines[at]).toMatch(/graph run:draft-notes {2}status done$/)
    expect(shown.lines.slice(at + 1, at + 5).map((l) => l.trim().split(/ +/)[1])).toEqual(["node", "__input__", "list", "wrap"])
  })
})
