/** Conversion of typed errors into the persisted `{type, message, details}` record. */
import type { ErrorRecord } from "../checkpoint/models.js"
import { formatError, type StargraphError } from "../errors.js"

/** The persisted form of a Stargraph error: its tag, one-line message and typed fields. */
export const toErrorRecord = (error: StargraphError): ErrorRecord => {
  const details: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(error)) {
    // A node's own error value stays in memory: the record keeps its tag and rendering.
    if (k !== "_tag" && k !== "stack" && k !== "error" && v !== undefined) details[k] = v
  }
  // `cause` is an own field that is not enumerable (the Error constructor defines it so):
  // copied by name, so a node's whole cause (every line of it) is kept, not only the
  // first line the one-line message shows.
  if ("cause" in error && Object.hasOwn(error, "cause") && typeof error.cause === "string") details["cause"] = error.cause
  return { type: error._tag, message: formatError(error), details }
}
