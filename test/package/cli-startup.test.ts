/**
 * The CLI's start-up paths (docs/packaging.md, "Start-up"): `--help`, `<command> --help`,
 * `-h` and `--version` print text the build rendered with @effect/cli's own renderer, so
 * it must stay byte for byte what the parser prints, with the same colour rules.
 */
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { BUILT_IN_ARGS, renderBuiltIn } from "../../src/cli/app.js"
import { stripAnsi } from "../../src/cli/terminal.js"
import { BIN, hasAnsi, stargraph, tempDir } from "../helpers/cli.js"

const hasScript = spawnSync("script", ["--version"]).status === 0

describe("built-in output rendered at build time", () => {
  it("--help, <command> --help, -h and --version print exactly what @effect/cli renders (no ANSI in a pipe)", async () => {
    // Every subcommand the root help lists has its `--help` and `-h` rendered.
    const listed = [...stripAnsi(await renderBuiltIn(["--help"])).matchAll(/^ {2}- ([a-z-]+) /gm)].map((m) => m[1])
    expect(listed.length).toBeGreaterThan(7)
    expect(BUILT_IN_ARGS.filter((a) => a[1] === "--help").map((a) => a[0])).toEqual(listed)
    expect(BUILT_IN_ARGS.length).toBe(3 + 2 * listed.length)
    for (const args of BUILT_IN_ARGS) {
      const expected = await renderBuiltIn(args)
      const r = await stargraph(args, { cwd: tempDir() })
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" })
      expect(r.stdout, args.join(" ")).toBe(stripAnsi(expected))
      if (args.includes("--help")) expect(hasAnsi(expected), "the renderer's help has ANSI codes").toBe(true)
    }
    expect((await stargraph(["--version"], { cwd: tempDir() })).stdout).toMatch(/^\d+\.\d+\.\d+\n$/)
    // No placeholder paragraph under every option, and a subcommand's usage names the program.
    const runHelp = (await stargraph(["run", "--help"], { cwd: tempDir() })).stdout
    expect(runHelp).not.toContain("A user-defined piece of text.")
    expect(runHelp).toMatch(/^\$ stargraph run \[/m)
  })

  it("an argv that is not prerendered goes to the parser, which prints the same help", async () => {
    // `validate --help extra` is not in BUILT_IN_ARGS: app.ts and @effect/cli answer it.
    expect(BUILT_IN_ARGS.map((a) => a.join(" "))).not.toContain("validate --help extra")
    const r = await stargraph(["validate", "--help", "extra"], { cwd: tempDir() })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(stripAnsi(await renderBuiltIn(["validate", "--help"])))
  })

  it.skipIf(!hasScript)("keeps the ANSI codes on a terminal unless NO_COLOR is set", async () => {
    const onTty = (env: Record<string, string>) => {
      const r = spawnSync("script", ["-qec", `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} run --help`, "/dev/null"], {
        encoding: "utf8",
        env: { ...process.env, ...env }
      })
      return r.stdout.replace(/\r\n/g, "\n")
    }
    const expected = await renderBuiltIn(["run", "--help"])
    expect(onTty({ NO_COLOR: "" })).toBe(expected)
    expect(onTty({ NO_COLOR: "1" })).toBe(stripAnsi(expected))
  })
})
