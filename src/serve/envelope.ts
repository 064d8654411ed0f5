/**
 * The one error envelope of the HTTP API: `{error: {type, message, details}}`, with the
 * StargraphError tag as `type` and the status code the error's kind calls for
 * (`statusOf`, `envelopeOf` in triggers/httpError, shared with trigger routes).
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { StargraphError } from "../errors.js"
import { envelopeOf, statusOf } from "../triggers/httpError.js"

/** An error as an HTTP response. */
export const errorResponse = (error: StargraphError, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(envelopeOf(error), { status: statusOf(error), headers })

/** The envelope's wire schema (the OpenAPI component every error response refers to). */
export const ErrorEnvelope = Schema.Struct({
  error: Schema.Struct({
    type: Schema.String.annotations({ description: "the StargraphError tag, e.g. CheckpointError" }),
    message: Schema.String,
    details: Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({ description: "the error's typed fields (reason, field, fix, run_id, ...)" })
  })
}).annotations({ identifier: "ErrorEnvelope" })

const isStargraphError = Schema.is(StargraphError)

const decodeError = Schema.decodeUnknownEither(StargraphError)

/**
 * The StargraphErrors answered with `status`, as the envelope on the wire. An `HttpApi`
 * declares one per status it can answer; the server's encoder picks the one whose
 * status the error calls for, and a client derived from the API decodes the envelope
 * back into the typed error (its `details` are the error's fields).
 */
export const ErrorAt = (status: number, description: string) =>
  Schema.transformOrFail(
    ErrorEnvelope,
    Schema.declare((u: unknown): u is StargraphError => isStargraphError(u) && statusOf(u) === status, {
      identifier: `StargraphError${status}`
    }),
    {
      strict: true,
      decode: (envelope, _, ast) => {
        const decoded = decodeError({ ...envelope.error.details, _tag: envelope.error.type })
        return Either.isRight(decoded)
          ? ParseResult.succeed(decoded.right)
          : ParseResult.fail(new ParseResult.Type(ast, envelope, `not the envelope of a StargraphError: ${envelope.error.message}`))
      },
      encode: (error) => ParseResult.succeed(envelopeOf(error))
    }
  ).annotations({ ...HttpApiSchema.annotations({ status }), description })
