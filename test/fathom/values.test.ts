import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { factAddress, float, formatFloat, fromJs, fromJson, int, multifield, NIL, renderValue, str, sym, toJson, TRUE, FALSE, type Value } from "../../src/fathom/clips/index.js"

describe("values", () => {
  const samples: Array<[Value, unknown]> = [
    [str("text"), "text"],
    [int(3), 3],
    [float(2.5), 2.5],
    [float(2), { float: 2 }],
    [sym("x"), { symbol: "x" }],
    [multifield([int(1), str("a"), sym("b")]), [1, "a", { symbol: "b" }]],
    [factAddress(3), { fact: 3 }],
    [multifield([]), []]
  ]

  it.each(samples)("toJson(%o) is lossless", (v, json) => {
    expect(toJson(v)).toEqual(json)
    expect(Either.getOrThrow(fromJson(JSON.parse(JSON.stringify(json))))).toEqual(v)
  })

  it("keeps integral floats distinct from integers through JSON", () => {
    const back = Either.getOrThrow(fromJson(JSON.parse(JSON.stringify(toJson(float(4))))))
    expect(back).toEqual({ type: "FLOAT", value: 4 })
  })

  it("rejects non-values", () => {
    for (const bad of [null, true, { a: 1 }, [[1]], { symbol: 3 }, Infinity]) {
      const r = fromJson(bad)
      expect(Either.isLeft(r)).toBe(true)
      if (Either.isLeft(r)) expect(r.left.reason).toBe("type")
    }
  })

  it("converts plain JSON state values with fromJs", () => {
    expect(fromJs("s")).toEqual(str("s"))
    expect(fromJs(4)).toEqual(int(4))
    expect(fromJs(4.5)).toEqual(float(4.5))
    expect(fromJs(true)).toBe(TRUE)
    expect(fromJs(false)).toBe(FALSE)
    expect(fromJs(null)).toBe(NIL)
    expect(fromJs(["a", 1, false])).toEqual(multifield([str("a"), int(1), FALSE]))
    expect(fromJs({ b: 1, a: [1, 2] })).toEqual(str('{"a":[1,2],"b":1}'))
    expect(fromJs([{ x: 1 }])).toEqual(str('[{"x":1}]'))
  })

  it("prints floats like CLIPS (%.15g, .0 for integral values)", () => {
    const cases: Array<[number, string]> = [
      [2, "2.0"],
      [1 / 3, "0.333333333333333"],
      [2 / 3, "0.666666666666667"],
      [0.1 + 0.2, "0.3"],
      [1e20, "1e+20"],
      [1.5e-7, "1.5e-07"],
      [100000, "100000.0"],
      [1e15, "1e+15"],
      [123456789012345.0, "123456789012345.0"],
      [-0, "-0.0"],
      [Math.SQRT2, "1.4142135623731"],
      [2.5e-5, "2.5e-05"],
      [1.234567890123456e18, "1.23456789012346e+18"]
    ]
    for (const [x, s] of cases) expect(formatFloat(x)).toBe(s)
  })

  it("renders values as they appear in facts", () => {
    expect(renderValue(str('a"b'))).toBe('"a"b"')
    expect(renderValue(sym("x"))).toBe("x")
    expect(renderValue(multifield([int(1), float(2), str("s")]))).toBe('(1 2.0 "s")')
    expect(renderValue(factAddress(7))).toBe("<Fact-7>")
  })
})
