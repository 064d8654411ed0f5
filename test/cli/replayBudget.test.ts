import { copyFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

let work: string
let db: string
let parent: string

/** `count` overridden to add no round: hello's counting loop never reaches its exit. */
const LOOP = '{"node_output_overrides": {"count": {"rounds": 0, "log": ["again"]}}}'

const runIds = async () => (JSON.parse((await stargraph(["list", "--db", db, "--json"], { cwd: work })).stdout) as { runs: ReadonlyArray<{ run_id: string }> }).runs.map((r) => r.run_id).sort()
const stepsOf = async (runId: string) =>
  (JSON.parse((await stargraph(["inspect", runId, "--db", db, "--json"], { cwd: work })).stdout) as { checkpoints: ReadonlyArray<{ step: number }> }).checkpoints.map((c) => c.step)

beforeAll(async () => {
  work = tempDir()
  mkdirSync(join(work, "hello"), { recursive: true })
  for (const file of ["graph.yaml", "nodes.ts"]) copyFileSync(join(ROOT, "examples", "hello", file), join(work, "hello", file))
  db = join(work, "runs.sqlite")
  // greet(1) count(2, 3, 4) summarise(5).
  const run = await stargraph(["run", "hello/graph.yaml", "-i", "message=hi", "--db", db, "-q"], { cwd: work })
  expect(run.code).toBe(0)
  parent = runIdOf(run.last)
})

describe("stargraph replay --max-steps", () => {
  it("stops a fork whose override keeps a loop going after that many steps past its fork step: StepLimitError, exit 1, its steps kept", async () => {
    const r = await stargraph(["replay", parent, "--db", db, "--from-step", "1", "--mutation", LOOP, "--max-steps", "4", "-q"], { cwd: work })
    expect(r.code).toBe(1)
    const cf = runIdOf(r.last)
    expect(r.last).toBe(`run_id=${cf} status=failed`)
    expect(r.stderr).toContain(`error: StepLimitError: fork ${cf} used its step budget: max_steps 4 after its fork step 1 (its steps 2..5 are kept)`)
    expect(r.stderr).toContain("--max-steps on stargraph replay")
    expect(await stepsOf(cf)).toEqual([0, 1, 2, 3, 4, 5])
  })

  it("a fork of a fork without --max-steps takes its parent fork's budget, counted from its own fork step; inspect shows it", async () => {
    const first = await stargraph(["replay", parent, "--db", db, "--from-step", "1", "--mutation", LOOP, "--max-steps", "3", "-q"], { cwd: work })
    const cf = runIdOf(first.last)
    const inspected = await stargraph(["inspect", cf, "--db", db], { cwd: work })
    expect(inspected.stdout).toContain("step budget 3 after its fork step (steps 2..4 at most)\n")
    expect((JSON.parse((await stargraph(["inspect", cf, "--db", db, "--json"], { cwd: work })).stdout) as { fork_max_steps: unknown }).fork_max_steps).toBe(3)
    // The parent run has none: null, and no budget line.
    const plain = await stargraph(["inspect", parent, "--db", db], { cwd: work })
    expect(plain.stdout).not.toContain("step budget")
    expect((JSON.parse((await stargraph(["inspect", parent, "--db", db, "--json"], { cwd: work })).stdout) as { fork_max_steps: unknown }).fork_max_steps).toBeNull()

    const again = await stargraph(["replay", cf, "--db", db, "--from-step", "2", "-q"], { cwd: work })
    expect(again.code).toBe(1)
    const second = runIdOf(again.last)
    expect(again.stderr).toContain(`error: StepLimitError: fork ${second} used its step budget: max_steps 3 after its fork step 2 (its steps 3..5 are kept)`)
    expect(await stepsOf(second)).toEqual([0, 1, 2, 3, 4, 5])
    expect((await stargraph(["inspect", second, "--db", db], { cwd: work })).stdout).toContain("step budget 3 after its fork step (steps 3..5 at most)")
    const own = await stargraph(["replay", cf, "--db", db, "--from-step", "2", "--max-steps", "1", "-q"], { cwd: work })
    expect(own.stderr).toContain("max_steps 1 after its fork step 2 (its steps 3..3 are kept)")
    expect((JSON.parse((await stargraph(["inspect", runIdOf(own.last), "--db", db, "--json"], { cwd: work })).stdout) as { fork_max_steps: unknown }).fork_max_steps).toBe(1)
  })

  it.each([
    ["0", "InputError: --max-steps: 0 is not a whole number ≥ 1 (fix: give --max-steps a whole number ≥ 1"],
    ["-2", "InputError: --max-steps: -2 is not a whole number ≥ 1 (fix: give --max-steps a whole number ≥ 1"],
    ["1.5", "InputError: --max-steps: '1.5' is not a whole number written in decimal digits"],
    ["many", "InputError: --max-steps: 'many' is not a whole number written in decimal digits"]
  ])("refuses --max-steps %s with exit 2, creating nothing", async (value, expected) => {
    const before = await runIds()
    const r = await stargraph(["replay", parent, "--db", db, "--mutation", LOOP, "--max-steps", value], { cwd: work })
    expect([r.code, r.stdout]).toEqual([2, ""])
    expect(r.stderr).toContain(`error: ${expected}`)
    expect(await runIds()).toEqual(before)
  })

  it("a fork stopped at a breakpoint keeps its budget through `stargraph resume`", async () => {
    const r = await stargraph(["replay", parent, "--db", db, "--from-step", "1", "--mutation", LOOP, "--max-steps", "3", "--interrupt-after", "count", "-q"], { cwd: work })
    expect(r.code).toBe(3)
    const cf = runIdOf(r.last)
    const codes: Array<number | null> = []
    let last = ""
    for (let i = 0; i < 6; i++) {
      const resumed = await stargraph(["resume", cf, "--db", db, "-q"], { cwd: work })
      codes.push(resumed.code)
      last = resumed.stderr
      if (resumed.code !== 3) break
    }
    // Paused after steps 2, 3 and 4; the next resume is refused step 5.
    expect(codes).toEqual([3, 3, 1])
    expect(last).toContain(`error: StepLimitError: fork ${cf} used its step budget: max_steps 3 after its fork step 1 (its steps 2..4 are kept)`)
    expect(await stepsOf(cf)).toEqual([0, 1, 2, 3, 4])
  })
})
