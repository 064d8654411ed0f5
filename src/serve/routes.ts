/**
 * The HTTP API's route table: one entry per route with its method, path, summary,
 * request body schema and handler. The server is built from it, and so is
 * `/openapi.json`, so the two cannot drift apart.
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type { StargraphError } from "../errors.js"

/** What a handler gets besides the services it closes over. */
export interface RouteContext {
  readonly params: { readonly [name: string]: string | undefined }
  readonly query: URLSearchParams
  /** The decoded request body (for routes with a `body` schema). */
  readonly body: unknown
  /** `http:<client address>`, for the audit log and run records. */
  readonly actor: string
  readonly headers: { readonly [name: string]: string | undefined }
  /** The raw request (for upgrades and raw bodies). */
  readonly request: HttpServerRequest.HttpServerRequest
  /** The raw body bytes (for `raw` routes that take a body). */
  readonly rawBody: Uint8Array
}

/** One route. */
export interface Route {
  readonly method: "GET" | "POST"
  /** Path with `:param` segments. */
  readonly path: string
  /** Short name, used as the audit event (`api.<name>`) and OpenAPI operationId. */
  readonly name: string
  readonly summary: string
  /** Request body schema, decoded with unknown fields refused. */
  readonly body?: Schema.Schema.AnyNoContext
  /** Query parameters documented in OpenAPI. */
  readonly query?: ReadonlyArray<string>
  /** Documented responses: status → description. */
  readonly responses: { readonly [status: number]: string }
  /** Skip bearer-token auth (only `/healthz`). */
  readonly public?: boolean
  /** Hand the raw request to the handler (streams, webhooks): no body decoding. */
  readonly raw?: boolean
  readonly handle: (ctx: RouteContext) => Effect.Effect<HttpServerResponse.HttpServerResponse, StargraphError>
}
