/**
 * A chunked request body (no Content-Length), read into memory before the API sees it, so
 * that an oversize one still gets its 413 (the platform's own limit drops the connection).
 * The request made from it reads its body as one off the socket does: an empty body is
 * no body (JSON `null`), as with `Content-Length: 0`.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** A request whose body comes without a Content-Length. */
export const isChunked = (request: HttpServerRequest.HttpServerRequest): boolean =>
  request.method !== "GET" && request.method !== "HEAD" && request.headers["content-length"] === undefined &&
  request.headers["transfer-encoding"] !== undefined

/**
 * `request` with its JSON read as a request off the socket reads it: an empty body is JSON
 * `null` (no body), not a syntax error. A request made from a web `Request` (as a buffered
 * body is) parses the empty text, so a chunked body of no chunks would answer "malformed
 * JSON" where the same empty body with `Content-Length: 0` is no body. The rest (its text,
 * bytes, headers) is `request`'s own; a modified copy keeps the rule.
 */
const emptyBodyIsNull = (request: HttpServerRequest.HttpServerRequest): HttpServerRequest.HttpServerRequest =>
  new Proxy(request, {
    get: (target, key): unknown =>
      key === "json"
        ? Effect.flatMap(target.text, (text) => (text === "" ? Effect.succeed(null) : target.json))
        : key === "modify"
        ? (options: Parameters<HttpServerRequest.HttpServerRequest["modify"]>[0]) => emptyBodyIsNull(target.modify(options))
        : Reflect.get(target, key, target)
  })

/**
 * Read a chunked body up to `limit` bytes and return the request with that body in
 * memory (Content-Length set; an empty body reads as no body), or null when it is larger
 * (the rest is drained, not kept, so the connection can still carry the 413).
 */
export const readChunked = (request: HttpServerRequest.HttpServerRequest, limit: number) =>
  Effect.async<HttpServerRequest.HttpServerRequest | null>((resume) => {
    const incoming = NodeHttpServerRequest.toIncomingMessage(request)
    const parts: Array<Buffer> = []
    let size = 0
    let over = false
    incoming.on("data", (chunk: Buffer) => {
      if (over) return
      size += chunk.length
      if (size > limit) {
        over = true
        resume(Effect.succeed(null))
      } else {
        parts.push(chunk)
      }
    })
    incoming.on("error", () => {
      if (!over) resume(Effect.succeed(null))
      over = true
    })
    incoming.on("end", () => {
      if (over) return
      const body = Buffer.concat(parts)
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(request.headers)) if (k !== "transfer-encoding") headers[k] = v
      headers["content-length"] = String(body.byteLength)
      const web = new Request(`http://localhost${request.url}`, { method: request.method, headers, body })
      resume(Effect.succeed(emptyBodyIsNull(HttpServerRequest.fromWeb(web).modify({
        url: request.url,
        ...(Option.isSome(request.remoteAddress) ? { remoteAddress: request.remoteAddress.value } : {})
      }))))
    })
  })
