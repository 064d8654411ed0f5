/**
 * The differential suite: every program under `programs/` plus a few hundred seeded
 * random programs run through the real CLIPS 6.30 binary and through our engine; the
 * full `(watch facts)(watch rules)` trace, printout output and final `(facts)` listing
 * must be identical. All cases share one CLIPS process. Every case also runs on engines
 * instantiated from a compiled program.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { beforeAll, describe, expect, it } from "vitest"
import { generateCase } from "./generator.js"
import { CLIPS_BINARY, clipsAvailable, diffText, runClips, runOurs, splitFixture, type Case } from "./harness.js"

const PROGRAMS = fileURLToPath(new URL("./programs", import.meta.url))
const RANDOM_SEEDS = 400
const HEAVY_SEEDS = 100

const fixtures: Array<Case> = readdirSync(PROGRAMS)
  .filter((f) => f.endsWith(".clp"))
  .sort()
  .map((f) => splitFixture(f.replace(/\.clp$/, ""), readFileSync(join(PROGRAMS, f), "utf8")))
const randoms: Array<Case> = [
  ...Array.from({ length: RANDOM_SEEDS }, (_, i) => generateCase(i + 1)),
  ...Array.from({ length: HEAVY_SEEDS }, (_, i) => ({ ...generateCase(i + 1, { heavy: true }), name: `heavy-${i + 1}` }))
]

const available = clipsAvailable()
if (!available) console.warn(`differential tests skipped: ${CLIPS_BINARY} not found (install the Debian package "clips")`)

describe.skipIf(!available)("differential: our engine vs CLIPS 6.30", () => {
  let oracle = new Map<string, string>()
  beforeAll(() => {
    oracle = runClips([...fixtures, ...randoms])
  })

  const check = (c: Case, via: "load" | "compile" = "load"): void => {
    const expected = oracle.get(c.name)
    expect(expected, `CLIPS produced no output for ${c.name}`).toBeDefined()
    const actual = runOurs(c, undefined, via)
    if (actual !== expected) {
      expect.fail(`${c.name} differs from CLIPS\n${diffText(expected!, actual)}\n\nprogram:\n${c.constructs}\n;;; script\n${c.script}`)
    }
  }

  it("has at least 40 fixture programs", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(40)
  })

  describe("fixture programs", () => {
    for (const c of fixtures) it(c.name, () => check(c))
  })

  describe(`random programs (seeds 1..${RANDOM_SEEDS}, heavy 1..${HEAVY_SEEDS})`, () => {
    for (const c of randoms) it(c.name, () => check(c))
  })

  // The same cases on engines instantiated from one compiled program (shared network, own state).
  describe("through compile().instantiate()", () => {
    it("fixture programs", () => {
      for (const c of fixtures) check(c, "compile")
    })
    it("random programs", () => {
      for (const c of randoms) check(c, "compile")
    })
  })
})
