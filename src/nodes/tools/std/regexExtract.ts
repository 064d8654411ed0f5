/**
 * `std.regex_extract@1`: every match of a JavaScript regular expression in a text, with
 * its groups. `flags` may hold `i`, `m`, `s` and `u`; `group` (a number or a name,
 * default 0: the whole match) picks the value listed in `values` and `value`. The text
 * is capped at {@link MAX_TEXT} characters and the search at {@link TIME_LIMIT_MS} (a
 * pattern that backtracks catastrophically fails with `ToolError[timeout]` instead of
 * hanging the run).
 */
import { createContext, runInContext } from "node:vm"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"

/** Longest text searched, in characters. */
export const MAX_TEXT = 100_000
/** Longest pattern, in characters. */
export const MAX_PATTERN = 1_000
/** How long one search may take. */
export const TIME_LIMIT_MS = 1_000

const Match = Schema.Struct({
  match: Schema.String,
  index: Schema.Int,
  groups: Schema.Array(Schema.NullOr(Schema.String)),
  named: Schema.Record({ key: Schema.String, value: Schema.NullOr(Schema.String) })
})

/** Whether the pattern (its empty-text probe) declares `group`. */
const hasGroup = (probe: RegExpExecArray, group: number | string): boolean =>
  typeof group === "number" ? group <= probe.length - 1 : Object.keys(probe.groups ?? {}).includes(group)

const invalid = (argument: string, message: string, fix: string) => Effect.fail(new ToolError({ reason: "invalid-input", argument, message, fix }))

/** `std.regex_extract@1`. */
export const regexExtract = Tool.make({
  id: "std.regex_extract",
  version: "1",
  description: "Every match of a regular expression in a text (flags i, m, s, u), with its numbered and named groups; group picks the value listed.",
  input: Schema.Struct({
    text: Schema.String.pipe(Schema.maxLength(MAX_TEXT)),
    pattern: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(MAX_PATTERN)),
    flags: Schema.optional(Schema.String.pipe(Schema.pattern(/^[imsu]*$/, { message: () => "flags may only hold i, m, s and u" }))),
    group: Schema.optional(Schema.Union(Schema.Int.pipe(Schema.nonNegative()), Schema.String.pipe(Schema.pattern(/^[A-Za-z_$][\w$]*$/)))),
    max_matches: Schema.optional(Schema.Int.pipe(Schema.between(1, 1000)))
  }),
  output: Schema.Struct({
    matched: Schema.Boolean,
    count: Schema.Int,
    matches: Schema.Array(Match),
    values: Schema.Array(Schema.NullOr(Schema.String)),
    value: Schema.NullOr(Schema.String)
  }),
  run: ({ flags = "", group = 0, max_matches = 100, pattern, text }) =>
    Effect.suspend(() => {
      let regex: RegExp
      let empty: RegExp
      try {
        regex = new RegExp(pattern, `${flags}g`)
        // Matching the empty alternative lists every group the pattern declares.
        empty = new RegExp(`(?:${pattern})|`, flags)
      } catch (error) {
        return invalid(error instanceof Error && /flag/i.test(error.message) ? "flags" : "pattern", `invalid regular expression: ${error instanceof Error ? error.message : String(error)}`, "write a JavaScript regular expression, e.g. (\\d+)-(?<year>\\d{4})")
      }
      // In a VM context only for its timeout: both searches (the probe for the pattern's
      // groups can backtrack too, even on an empty text) run here, but are stopped in time.
      const searched: { probe: RegExpExecArray | null; readonly found: Array<RegExpExecArray> } = { probe: null, found: [] }
      try {
        runInContext(
          "out.probe = empty.exec(''); if (groupOk(out.probe)) { let m; while (out.found.length < max && (m = regex.exec(text)) !== null) { out.found.push(m); if (m[0] === '') regex.lastIndex++ } }",
          createContext({ regex, empty, text, out: searched, max: max_matches, groupOk: (probe: RegExpExecArray) => hasGroup(probe, group) }),
          { timeout: TIME_LIMIT_MS }
        )
      } catch (error) {
        return Effect.fail(new ToolError({
          reason: "timeout",
          message: `the search took more than ${TIME_LIMIT_MS} ms${error instanceof Error ? ` (${error.message})` : ""}`,
          fix: "simplify the pattern (avoid nested quantifiers such as (a+)+) or search a shorter text"
        }))
      }
      const probe = searched.probe!
      if (!hasGroup(probe, group)) {
        const numbered = probe.length - 1
        const names = Object.keys(probe.groups ?? {})
        return invalid("group", `the pattern has no group ${typeof group === "number" ? group : `'${group}'`} (it has ${numbered} numbered group${numbered === 1 ? "" : "s"}${names.length > 0 ? `, named: ${names.join(", ")}` : ""})`, "pick 0 (the whole match), a group number or a group name the pattern declares")
      }
      const found = searched.found
      const matches = found.map((m) => ({
        match: m[0],
        index: m.index,
        groups: m.slice(1).map((g) => g ?? null),
        named: Object.fromEntries(Object.entries(m.groups ?? {}).map(([k, v]) => [k, v ?? null]))
      }))
      const values = found.map((m) => (typeof group === "number" ? m[group] : m.groups?.[group]) ?? null)
      return Effect.succeed({ matched: matches.length > 0, count: matches.length, matches, values, value: values[0] ?? null })
    })
})
