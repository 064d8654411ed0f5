/**
 * What the library imports must be installed in an app: every package `src/` imports
 * (outside `src/cli/`, which ships bundled) is a dependency or a peer; the optional peers
 * are imported statically only by the `stargraph/tracing` entry (OpenTelemetry), or else
 * only with a dynamic `import()` where a feature needs them (onnxruntime-node, for an
 * onnx `ml` node), so `import "stargraph"` works without them; and the CLI's externals
 * (what the bundle leaves to `require`/`import()`) are dependencies, peers, or optional
 * peers the library only imports dynamically.
 */
import { readdirSync, readFileSync } from "node:fs"
import { builtinModules } from "node:module"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"
import { ROOT } from "../helpers/cli.js"

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>
  peerDependencies: Record<string, string>
  peerDependenciesMeta: Record<string, { optional?: boolean }>
  exports: Record<string, string | { default: string }>
}
const optional = new Set(Object.keys(pkg.peerDependencies).filter((n) => pkg.peerDependenciesMeta[n]?.optional))
const installed = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies).filter((n) => !optional.has(n))])
/** Source files of the `./tracing` entry: the only ones that may import optional peers. */
const tracingEntry = ((): string => {
  const target = pkg.exports["./tracing"]
  const js = typeof target === "string" ? target : target!.default
  return js.replace(/^\.\/dist\//, "").replace(/\.js$/, ".ts")
})()

const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [])

const packageNames = (specifiers: ReadonlyArray<string>): Array<string> =>
  specifiers
    .filter((s) => !s.startsWith(".") && !s.startsWith("node:") && !builtinModules.includes(s))
    .map((s) => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]!))

/** Package names a file imports statically at run time (type-only imports are erased). */
const importedStatically = (file: string): Array<string> => {
  const text = readFileSync(file, "utf8")
  return packageNames([
    ...[...text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'"]*?from\s+"([^"]+)"/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*import\s+"([^"]+)"/gm)].map((m) => m[1]!)
  ])
}

/** Package names a file imports with a dynamic `import("…")`. */
const importedDynamically = (file: string): Array<string> =>
  packageNames([...readFileSync(file, "utf8").matchAll(/import\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]!))

describe("the package's dependencies", () => {
  const library = files(join(ROOT, "src")).filter((f) => !relative(ROOT, f).startsWith(join("src", "cli")))

  it("every package the library imports is a dependency or a required peer (optional peers only in the tracing entry, or imported dynamically)", () => {
    const wrong: Array<string> = []
    for (const file of library) {
      const rel = relative(ROOT, file)
      for (const name of importedStatically(file)) {
        const ok = installed.has(name) || (optional.has(name) && rel === tracingEntry)
        if (!ok) wrong.push(`${rel} imports ${name}`)
      }
      for (const name of importedDynamically(file)) {
        if (!installed.has(name) && !optional.has(name)) wrong.push(`${rel} imports ${name} (dynamically)`)
      }
    }
    expect(wrong).toEqual([])
  })

  it("the CLI bundle leaves to Node only packages an install has", () => {
    // scripts/build.mjs: the bundle's externals; everything else is inside it.
    const build = readFileSync(join(ROOT, "scripts", "build.mjs"), "utf8")
    const externals = [.../external:\s*\[([^\]]*)\]/.exec(build)![1]!.matchAll(/"([^"*]+?)(?:\/\*)?"/g)].map((m) => m[1]!)
    expect(externals.length).toBeGreaterThan(0)
    // better-sqlite3 comes with the @effect/sql-sqlite-node peer.
    const viaPeers = new Set(["better-sqlite3"])
    // An optional peer the library imports only dynamically is loaded when a feature needs it.
    const lazy = new Set(library.flatMap(importedDynamically).filter((name) => optional.has(name) && !library.some((f) => importedStatically(f).includes(name))))
    expect(externals.filter((name) => !installed.has(name) && !viaPeers.has(name) && !lazy.has(name))).toEqual([])
  })
})

describe("the README's peer table", () => {
  it("names every peer dependency with its range, and says which are optional", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8")
    const section = readme.slice(readme.indexOf("## Use it from your Effect app"))
    const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| package |")))
    for (const [name, range] of Object.entries(pkg.peerDependencies)) {
      const row = table.split("\n").find((line) => line.startsWith("|") && line.includes(`\`${name}\``))
      expect([name, row !== undefined && row.includes(`\`${range}\``)]).toEqual([name, true])
      expect([name, /optional/.test(row ?? "")]).toEqual([name, optional.has(name)])
    }
  })
})
