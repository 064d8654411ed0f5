import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as PyFormat from "../../src/nodes/pyFormat.js"

describe("Python format specs (the template kind's formatter)", () => {
  it("formats as Python's format() does (expected values from CPython 3)", () => {
    const cases: Array<[unknown, string, string]> = [
      [2.5, ".2f", "2.50"],
      [2.5, ">6", "   2.5"],
      [true, "d", "1"],
      [true, ">6", "     1"],
      [5, "d", "5"],
      [5, "x", "5"],
      [255, "#x", "0xff"],
      [1234567, ",", "1,234,567"],
      [0.125, ".1%", "12.5%"],
      [-3.5, "+.1f", "-3.5"],
      ["ab", "^6", "  ab  "],
      ["abc", ".2", "ab"],
      [-7, "05d", "-0007"],
      [1e21, ".2e", "1.00e+21"],
      [12.5, "010.2f", "0000012.50"],
      [1234.5, "_.1f", "1_234.5"],
      [null, "", "None"]
    ]
    for (const [value, spec, expected] of cases) expect([value, spec, PyFormat.formatValue(value, spec)]).toEqual([value, spec, Either.right(expected)])
  })

  it("refuses what Python's format() refuses, with its message, instead of coercing", () => {
    const cases: Array<[unknown, string, string]> = [
      ["hello", ".2f", "Unknown format code 'f' for object of type 'str'"],
      [2.5, "d", "Unknown format code 'd' for object of type 'float' (the value is 2.5)"],
      ["hello", ",", "Cannot specify ',' with 's'."],
      [null, ".2f", "unsupported format string passed to NoneType.__format__ (the value is None)"],
      [undefined, "d", "unsupported format string passed to NoneType.__format__ (the value is None)"],
      [5, "s", "Unknown format code 's' for object of type 'int'"],
      [[1], ">5", "unsupported format string passed to list.__format__ (the value is [1])"],
      ["x", "=5", "'=' alignment not allowed in string format specifier"],
      ["x", "+", "Sign not allowed in string format specifier"]
    ]
    for (const [value, spec, expected] of cases) expect([value, spec, PyFormat.formatValue(value, spec)]).toEqual([value, spec, Either.left(expected)])
  })

  it("render names the placeholder Python would refuse", () => {
    const pieces = Either.getOrThrow(PyFormat.parse("a={score:.2f} c={score:d}"))
    expect(PyFormat.render(pieces, { score: 2 })).toEqual(Either.right("a=2.00 c=2"))
    expect(PyFormat.render(pieces, { score: 2.5 })).toEqual(Either.left("{score:d}: Unknown format code 'd' for object of type 'float' (the value is 2.5)"))
  })
})
