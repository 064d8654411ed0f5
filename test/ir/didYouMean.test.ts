import { describe, expect, it } from "vitest"
import { closestName, editDistance } from "../../src/ir/didYouMean.js"

describe("closestName", () => {
  it("counts insertions, deletions, substitutions and neighbour swaps as one edit each", () => {
    expect(editDistance("feilds", "fields")).toBe(1)
    expect(editDistance("modul", "module")).toBe(1)
    expect(editDistance("state_shema", "state_schema")).toBe(1)
    expect(editDistance("form", "from")).toBe(1)
    expect(editDistance("kitten", "sitting")).toBe(3)
    expect(editDistance("", "abc")).toBe(3)
  })

  it("suggests the closest name within two edits and under half the name's length; none for a name far from all, a known name, or a short one", () => {
    expect(closestName("requird", ["type", "required", "reducer"])).toBe("required")
    expect(closestName("Fields", ["fields", "module"])).toBe("fields")
    expect(closestName("colour", ["id", "kind", "values"])).toBeUndefined()
    expect(closestName("fields", ["fields"])).toBeUndefined()
    expect(closestName("ir", ["id"])).toBeUndefined()
    expect(closestName("ids", ["id", "kind"])).toBe("id")
  })
})
