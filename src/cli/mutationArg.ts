/**
 * The text of a counterfactual mutation given on the command line (`replay --mutation`,
 * `counterfactual --mutate`): the value itself when it starts with `{`, else the file it
 * names, with or without a leading `@`; a value that is no file and reads as JSON but not
 * an object (`[1,2]`, `42`) is refused as such. Each command parses the text itself.
 */
import { readFileSync } from "node:fs"
import * as Effect from "effect/Effect"
import { InputError } from "../errors.js"

/** The mutation's text, where it came from (for messages), and whether it was given inline. */
export interface MutationText {
  readonly text: string
  readonly source: string
  readonly inline: boolean
}

/** Read `value` of flag `flag`; `forms` (how to give a mutation) ends each error's fix. */
export const mutationText = (value: string, flag: string, forms: string): Effect.Effect<MutationText, InputError> => {
  if (value.trimStart().startsWith("{")) return Effect.succeed({ text: value, source: "the inline mutation", inline: true })
  const path = value.startsWith("@") ? value.slice(1) : value
  if (path === "") return Effect.fail(new InputError({ field: flag, message: "'@' names no file", fix: `pass ${forms}` }))
  return Effect.flatMap(Effect.promise(() => import("./inputs.js")), ({ unreadable }) =>
    Effect.try({
      try: () => ({ text: readFileSync(path, "utf8"), source: `the file ${path}`, inline: false }),
      catch: (cause) =>
        // JSON that is not an object (`[1,2]`, `"x"`, `42`) was meant as the mutation, not a file's name.
        looksLikeJson(value)
          ? new InputError({
            field: flag,
            message: `${value} is not a JSON object: a mutation must be a JSON object, or the path of a file holding one (there is no file ${path})`,
            fix: `pass ${forms}`
          })
          : new InputError({
            field: flag,
            message: `${unreadable(path, cause)} (a ${flag} value not starting with '{' is a file's path)`,
            fix: `pass the path of a readable YAML or JSON file (relative to ${process.cwd()}), or ${forms}`
          })
    }))
}

/** Whether `value` reads as JSON (`[1,2]`, `42`, `"x"`, `null`) or begins as an array or a string does. */
const looksLikeJson = (value: string): boolean => {
  if (/^\s*[["]/.test(value)) return true
  try {
    JSON.parse(value)
    return true
  } catch {
    return false
  }
}
