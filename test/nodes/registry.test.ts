import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { renderKindsTable, tableIn } from "../../scripts/kinds-table.js"
import { builtinKinds } from "../../src/nodes/kinds/index.js"
import { KIND_NAME } from "../../src/nodes/NodeKind.js"

describe("node kind registry", () => {
  it("docs/nodes.md shows exactly the registered kinds (run `npx tsx scripts/kinds-table.ts` to update)", () => {
    const docs = readFileSync(new URL("../../docs/nodes.md", import.meta.url), "utf8")
    expect(tableIn(docs)).toBe(renderKindsTable(builtinKinds))
  })

  it("every kind has a unique, well-formed name, a summary and a decoder", () => {
    const names = builtinKinds.map((k) => k.name)
    expect(new Set(names).size).toBe(names.length)
    for (const kind of builtinKinds) {
      expect(kind.name).toMatch(KIND_NAME)
      expect(kind.summary.length).toBeGreaterThan(10)
      expect(typeof kind.decode).toBe("function")
    }
  })
})
