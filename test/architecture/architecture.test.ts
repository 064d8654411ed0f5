/**
 * The house rules, checked by maintained tools: folders import downward only with no
 * cycles (dependency-cruiser, `.dependency-cruiser.cjs`), the code passes ESLint
 * with the TypeScript rules (`eslint.config.js`), and everything type-checks (`tsc`),
 * tests included: some tests assert types (a derived client may leave a field out).
 */
import { execFile } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ROOT } from "../helpers/cli.js"

const run = (bin: string, args: ReadonlyArray<string>) =>
  new Promise<{ code: number; output: string }>((resolve) => {
    execFile(process.execPath, [join(ROOT, "node_modules", ".bin", bin), ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, output: `${stdout}${stderr}` })
    })
  })

describe("architecture", () => {
  it("src/ folders import downward only, with no import cycles (dependency-cruiser)", async () => {
    const { code, output } = await run("depcruise", ["src", "--config", ".dependency-cruiser.cjs", "--output-type", "err"])
    expect(output, output).not.toMatch(/error /)
    expect(code, output).toBe(0)
  })

  it("passes ESLint with the TypeScript rules", async () => {
    const { code, output } = await run("eslint", ["src", "test", "bench", "examples", "--max-warnings", "0"])
    expect(code, output).toBe(0)
  }, 180_000)

  it("type-checks: src, test, bench and examples (tsc --noEmit)", async () => {
    const { code, output } = await run("tsc", ["-p", "tsconfig.json", "--noEmit"])
    expect(code, output).toBe(0)
  }, 180_000)
})
