/**
 * The one error envelope of every HTTP surface (the API and trigger routes such as
 * signed webhooks): `{error: {type, message, details}}` with the StargraphError tag as
 * `type`, and the status code the error's kind calls for.
 */
import type { StargraphError } from "../errors.js"
import { toErrorRecord } from "../runtime/errorRecord.js"

/** The HTTP status for a Stargraph error. */
export const statusOf = (error: StargraphError): number => {
  switch (error._tag) {
    case "InputError":
    case "StateValidationError":
    case "IRValidationError":
      return 400
    case "CheckpointError":
      return error.reason === "unknown-run" || error.reason === "no-checkpoint"
        ? 404
        : error.reason === "invalid-cursor"
        ? 400
        : error.reason === "graph-hash-mismatch" || error.reason === "runtime-hash-mismatch"
        ? 409
        : 500
    case "SchedulerError":
      return error.reason === "unknown-graph" ? 404 : error.reason === "shutting-down" ? 503 : 500
    case "RunStateError":
      return 409
    case "WebhookError":
    case "ApiError":
      return error.status
    default:
      return 500
  }
}

/**
 * The envelope body for an error: `message` is the one-line rendering, `details` the
 * error's typed fields (its own `message` included), enough to rebuild the typed error.
 */
export const envelopeOf = (error: StargraphError) => {
  const record = toErrorRecord(error)
  return { error: { type: record.type, message: record.message, details: { ...record.details, message: error.message } } }
}
