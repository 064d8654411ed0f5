/**
 * The nesting depth of a JSON text, measured by one pass over its bytes (no parse, no
 * recursion), so that an HTTP body is refused before anything recursive (schema
 * decoding, error formatting, hashing) ever sees a hostile 10,000-deep document.
 */
import { MAX_JSON_DEPTH } from "../ir/json.js"

/**
 * Deepest nesting accepted in a request body: run state nests at most `MAX_JSON_DEPTH`
 * levels, and a body wraps it in a few more (`{"params": {"field": …}}`,
 * `{"mutation": {"state_overrides": {…}}}`).
 */
export const MAX_BODY_DEPTH = MAX_JSON_DEPTH + 8

const OPEN_OBJECT = 0x7b
const OPEN_ARRAY = 0x5b
const CLOSE_OBJECT = 0x7d
const CLOSE_ARRAY = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * True when `text` (JSON as UTF-8 bytes or a string) nests arrays and objects deeper than
 * `max` levels. Brackets inside strings do not count; malformed JSON is measured as far
 * as it goes (the parser refuses it afterwards).
 */
export const nestsDeeperThan = (text: Uint8Array | string, max: number = MAX_BODY_DEPTH): boolean => {
  const at = typeof text === "string" ? (i: number) => text.charCodeAt(i) : (i: number) => text[i]!
  const length = text.length
  let depth = 0
  let inString = false
  for (let i = 0; i < length; i++) {
    const c = at(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--
    }
  }
  return false
}
