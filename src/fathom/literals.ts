/** CLIPS source literals for values the compiler writes into rule text. */

/** A CLIPS string literal: `"a \"quoted\" \\ text"`. */
export const clipsString = (text: string): string => `"${text.replaceAll("\\", "\\\\").replaceAll("\"", "\\\"")}"`

/** True when `text` can be written as a bare CLIPS symbol (no delimiters, not a number or variable). */
export const isSymbolText = (text: string): boolean =>
  /^[A-Za-z_][A-Za-z0-9_.:\-+*/=!%^#@<>]*$/.test(text) && !text.includes("::")
