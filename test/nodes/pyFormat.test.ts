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

  it("rounds, switches to exponents and prints floats digit for digit as CPython 3 does (values from CPython)", () => {
    // Exact values round half to even (0.125 → 0.12, 2.5 → 2); floats below 1e-4 print with
    // an exponent of at least two digits; whole numbers past 2^53 are floats' values.
    const cases: Array<[unknown, string, string]> = [
      [1e-05, "", "1e-05"],
      [1e-05, ".10g", "1e-05"],
      [1e-05, ".20", "1.0000000000000000818e-05"],
      [1e-07, "", "1e-07"],
      [1e-07, ".10g", "1e-07"],
      [1e-07, ".20", "9.9999999999999995475e-08"],
      [0.125, ".2f", "0.12"],
      [2.5, ".1g", "2"],
      [3.5, ".1", "4e+00"],
      [1.5, ".1", "2e+00"],
      [1e+22, ".0f", "10000000000000000000000"],
      [1e+22, "%", "999999999999999983222784.000000%"],
      [1e+22, "+.2f", "+10000000000000000000000.00"],
      [123.456, "#.3g", "123."],
      [99.9, ".1g", "1e+02"],
      [1234.5, ".3g", "1.23e+03"],
      [1234.5, ".1", "1e+03"],
      [12, ".1g", "1e+01"],
      [0.3333333333333333, "g", "0.333333"],
      [0.6666666666666666, ".20", "0.66666666666666662966"],
      [10000000000000000, ".3g", "1e+16"],
      [10000000000000000, ".3", "1e+16"],
      [10000000000000000, "G", "1E+16"],
      [123456789, ".1g", "1e+08"],
      [5e-324, "g", "4.94066e-324"],
      [5e-324, ".3", "4.94e-324"],
      [1.7976931348623157e+308, ".2f", "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368.00"],
      [1.7976931348623157e+308, "g", "1.79769e+308"],
      [1.7976931348623157e+308, "#.3g", "1.80e+308"],
      [1.7976931348623157e+308, "%", "inf%"],
      [1.7976931348623157e+308, "+.2f", "+179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368.00"],
      [255, ".1g", "3e+02"],
      [-0.5, ".0f", "-0"],
      [1000000, ".3g", "1e+06"],
      [1000000, ".3G", "1E+06"],
      [12345.6789, "#.3g", "1.23e+04"],
      [12345.6789, "G", "12345.7"],
    ]
    for (const [value, spec, expected] of cases) expect([value, spec, PyFormat.formatValue(value, spec)]).toEqual([value, spec, Either.right(expected)])
    expect(PyFormat.formatValue(3, ".2")).toEqual(Either.left("Precision not allowed in integer format specifier"))
  })

  it("pads, groups, prefixes and refuses as CPython 3 does: zero padding, # with padding, _ by four in hex, c, n, !a, characters past UTF-16 (values from CPython)", () => {
    const cases: Array<[unknown, string, string]> = [
      [5000000, "c", "ERR: %c arg not in range(0x110000)"],
      [-5, "c", "ERR: %c arg not in range(0x110000)"],
      [65, "+c", "ERR: Sign not allowed with integer format specifier 'c'"],
      [65, "#c", "ERR: Alternate form (#) not allowed with integer format specifier 'c'"],
      [65, ",x", "ERR: Cannot specify ',' with 'x'."],
      [65, ",c", "ERR: Cannot specify ',' with 'c'."],
      [3735928559, "_x", "dead_beef"],
      [3735928559, "#_x", "0xdead_beef"],
      [255, "#010x", "0x000000ff"],
      [1234, "08,", "0,001,234"],
      [1234, "08_", "0_001_234"],
      [-1234, "08,", "-001,234"],
      [5, "^010", "0000500000"],
      [2.5, "=08.2f", "00002.50"],
      [-2.5, "=08.2f", "-0002.50"],
      [1234.5, "010,.1f", "0,001,234.5"],
      [0.8778775, "n", "0.877877"],
      [3, ".2n", "ERR: Precision not allowed in integer format specifier"],
      [1234, "n", "1234"],
      [1234567, "_b", "1_0010_1101_0110_1000_0111"],
      [65, ">5c", "    A"],
      [12345.678, "_.2f", "12_345.68"],
      [9007199254740992.0, "", "9007199254740992.0"],
      [9007199254740994.0, ",", "9,007,199,254,740,994.0"],
      [1e+100, "_", "1e+100"],
      [1234, "=+10,", "+    1,234"],
      [1234, "*^12,", "***1,234****"],
      ["\u00e9t\u00e9 \ud83d\ude00", "!a", "'\\xe9t\\xe9 \\U0001f600'"],
      ["a'b", "!a", "\"a'b\""],
      ["\ud83d\ude00a", ".2", "\ud83d\ude00a"],
      ["\ud83d\ude00", ">3", "  \ud83d\ude00"],
    ]
    for (const [value, spec, expected] of cases) {
      const got = spec === "!a" ? PyFormat.pyRepr(value, true) : Either.match(PyFormat.formatValue(value, spec), { onLeft: (e) => `ERR: ${e}`, onRight: (r) => r })
      expect([value, spec, got]).toEqual([value, spec, expected])
    }
  })

  it("repr of a string picks its quotes and escapes what Python escapes", () => {
    const cases: Array<[string, string]> = [
      ["it's", "\"it's\""],
      ["say \"hi\"", "'say \"hi\"'"],
      ["both ' and \"", "'both \\' and \"'"],
      ["a\tb\nc\r", "'a\\tb\\nc\\r'"],
      ["\u0000\u007f\u0085", "'\\x00\\x7f\\x85'"],
      ["\u2028x", "'\\u2028x'"],
      ["\ud83d\ude00", "'\ud83d\ude00'"],
      ["caf\u00e9", "'caf\u00e9'"],
      ["\u200b", "'\\u200b'"],
    ]
    for (const [value, expected] of cases) expect([value, PyFormat.pyRepr(value)]).toEqual([value, expected])
    expect(PyFormat.pyStr([1.5, 1e-7, 0.00001])).toBe("[1.5, 1e-07, 1e-05]")
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

  it("takes a number as the declared type says: a float field prints as a float, an int field as an int (values from CPython 3)", () => {
    const cases: Array<[number, string, PyFormat.NumberType, string]> = [
      [1, "", "float", "1.0"],
      [1, ">6", "float", "   1.0"],
      [-1, "+", "float", "-1.0"],
      [1e16, "", "float", "1e+16"],
      [1e22, "", "float", "1e+22"],
      [2, ".2", "float", "2.0"],
      [2, "g", "float", "2"],
      [1, "n", "float", "1"],
      [3, "%", "float", "300.000000%"],
      [1234567, ",", "float", "1,234,567.0"],
      [0.5, "", "float", "0.5"],
      [1e22, "", "int", "10000000000000000000000"],
      [1e22, ",", "int", "10,000,000,000,000,000,000,000"],
      [1e22, "d", "int", "10000000000000000000000"],
      [3, ".2f", "int", "3.00"],
      // Undeclared: whole numbers within ±2^53 are ints, larger ones floats (unchanged).
      [1, "", undefined, "1"],
      [1e22, "", undefined, "1e+22"]
    ]
    for (const [value, spec, as, expected] of cases) expect([value, spec, as, PyFormat.formatValue(value, spec, as)]).toEqual([value, spec, as, Either.right(expected)])
    expect([PyFormat.pyStr(1, "float"), PyFormat.pyRepr(1, false, "float"), PyFormat.pyRepr(1, true, "float"), PyFormat.pyStr(1)]).toEqual(["1.0", "1.0", "1.0", "1"])
    // The declared type applies to the value itself, not to numbers inside a list.
    expect(PyFormat.pyRepr([1, 1.5], false, "float")).toBe("[1, 1.5]")
    for (const code of ["d", "x", "b", "c"]) {
      expect(PyFormat.formatValue(1, code, "float")).toEqual(Either.left(`Unknown format code '${code}' for object of type 'float' (the value is 1.0)`))
    }
    expect(PyFormat.formatValue(1, "s", "float")).toEqual(Either.left("Unknown format code 's' for object of type 'float'"))
    expect(PyFormat.formatValue(1, ".2", "int")).toEqual(Either.left("Precision not allowed in integer format specifier"))
  })

  it("render takes each field's declared type", () => {
    const pieces = Either.getOrThrow(PyFormat.parse("{score} {score!r} {n} {v}"))
    const types = new Map<string, PyFormat.NumberType>([["score", "float"], ["n", "int"], ["v", undefined]])
    expect(PyFormat.render(pieces, { score: 1, n: 1, v: 1 }, types)).toEqual(Either.right("1.0 1.0 1 1"))
    expect(PyFormat.render(Either.getOrThrow(PyFormat.parse("{score:d}")), { score: 1 }, types))
      .toEqual(Either.left({ field: "score", message: "{score:d}: Unknown format code 'd' for object of type 'float' (the value is 1.0)" }))
  })

  it("render names the placeholder Python would refuse", () => {
    const pieces = Either.getOrThrow(PyFormat.parse("a={score:.2f} c={score:d}"))
    expect(PyFormat.render(pieces, { score: 2 })).toEqual(Either.right("a=2.00 c=2"))
    expect(PyFormat.render(pieces, { score: 2.5 })).toEqual(Either.left({ field: "score", message: "{score:d}: Unknown format code 'd' for object of type 'float' (the value is 2.5)" }))
  })
})
