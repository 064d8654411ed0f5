import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

describe("examples/map", () => {
  it("runs as docs/nodes.md shows, and inspect shows each item's child run under the map step, in item order", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const ran = await stargraph(["run", join(ROOT, "examples", "map", "graph.yaml"), "--db", db, "--inputs", "topic=replay", "--inputs", "documents=[\"replay is exact\",\"a replay of a replay\",\"no mention\"]"])
    expect(ran.stderr).toBe("")
    expect(ran.last).toMatch(/^run_id=run-\S+ status=done$/)
    expect(ran.stdout).toContain(`report: "3 mentions in 3 documents: 1, 2, 0"`)
    const shown = await stargraph(["inspect", runIdOf(ran.last), "--db", db])
    const at = shown.lines.findIndex((l) => l.includes("↳ child run"))
    expect(shown.lines[at - 1]).toMatch(/^1 +score_all +completed/)
    const children = shown.lines.filter((l) => l.includes("↳ child run"))
    expect(children).toHaveLength(3)
    for (const line of children) expect(line).toMatch(/graph run:score-one {2}status done$/)
    const inputs = shown.lines.filter((l) => /^ {8}0 +__input__ +child/.test(l))
    expect(inputs.map((l) => /document="([^"]*)"/.exec(l)?.[1])).toEqual(["replay is exact", "a replay of a replay", "no mention"])
  })
})
