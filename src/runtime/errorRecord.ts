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
  return { type: error._tag, message: formatError(error), details }
}
