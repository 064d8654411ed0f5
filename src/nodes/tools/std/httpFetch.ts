/**
 * `std.http_fetch@1`: one HTTP request, refused with `ToolError[capability-denied]`
 * unless the run is granted `net.fetch` (any URL on a public address) or
 * `net.fetch:<url glob>` (see `Capabilities`; a non-public address needs a grant naming
 * its host, see below). Redirects are followed (at most {@link MAX_REDIRECTS}), each hop
 * checked against the grant; the whole call has a time limit (`timeout_ms`) and the body
 * read is capped (`max_bytes`, the rest dropped and `truncated` set). The body is
 * decoded as UTF-8 text.
 *
 * A redirect to another origin (scheme, host or port) drops the `authorization`,
 * `cookie` and `proxy-authorization` headers, as `fetch` and httpx do; a redirect that
 * turns the request into a GET drops its body and body headers. Failure messages name
 * the URL without its userinfo and query values.
 *
 * Every hop's host is resolved ({@link NetResolver}) and the request connects to the
 * addresses checked, never to a second lookup's. A `net.fetch` grant reaches public
 * addresses only: when the host is a metadata name or any address it resolves to is
 * not public (loopback, private, link-local, CGNAT, unspecified, multicast, reserved,
 * cloud metadata, or one of these inside IPv6, see `netAddress.ts`), the hop is refused
 * with `ToolError[capability-denied]` unless a grant that names the host literally
 * (`net.fetch:http://127.0.0.1:*`, no wildcard in the host) covers the URL.
 *
 * Its arguments and response are recorded in the step's cassette like every tool call
 * (a replay makes no request): keep secrets out of `headers`, or wrap the call in a tool
 * of your own that reads them from its environment.
 */
import { isIP, type LookupFunction } from "node:net"
import type * as Undici from "@effect/platform-node/Undici"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Capabilities from "../Capabilities.js"
import * as Tool from "../Tool.js"
import { type AddressClass, classify, isMetadataHost } from "./netAddress.js"
import * as NetResolver from "./NetResolver.js"

/** The capability this tool needs (scoped by the URL). */
export const CAPABILITY = "net.fetch"
/** Redirects followed before the call fails. */
export const MAX_REDIRECTS = 5
/** Default and largest `timeout_ms`. */
export const DEFAULT_TIMEOUT_MS = 10_000
const MAX_TIMEOUT_MS = 60_000
/** Default and largest `max_bytes`. */
export const DEFAULT_MAX_BYTES = 1024 * 1024
const MAX_MAX_BYTES = 10 * 1024 * 1024

const Method = Schema.Literal("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

const failed = (reason: ToolError["reason"], message: string, fix: string, argument?: string) =>
  new ToolError({ reason, message, fix, ...(argument !== undefined ? { argument } : {}) })

/** Headers that carry credentials: not sent on to a redirect target of another origin. */
export const CREDENTIAL_HEADERS: ReadonlyArray<string> = ["authorization", "cookie", "proxy-authorization"]
/** Headers that describe a body: dropped with it when a redirect turns the request into a GET. */
const BODY_HEADERS: ReadonlyArray<string> = ["content-type", "content-length", "content-encoding", "content-language", "content-location"]

/** `headers` without the names in `drop` (any case). */
const without = (headers: Readonly<Record<string, string>>, drop: ReadonlyArray<string>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !drop.includes(name.toLowerCase())))

/** A URL as failure messages name it: scheme, host and path, no userinfo, query values elided. */
export const redact = (url: URL): string => {
  const query = Array.from(url.searchParams.keys(), (name) => `${encodeURIComponent(name)}=…`).join("&")
  return `${url.protocol}//${url.host}${url.pathname}${query === "" ? "" : `?${query}`}`
}

/** `text` (an error's message) with `url` in it {@link redact}ed. */
const scrub = (text: string, url: URL): string => text.split(url.href).join(redact(url))

/** Parse an http(s) URL, or fail naming the argument. */
const parseUrl = (url: string, base?: string): Effect.Effect<URL, ToolError> =>
  Effect.suspend(() => {
    let parsed: URL
    try {
      parsed = new URL(url, base)
    } catch {
      return Effect.fail(failed("invalid-input", `'${url}' is not a URL`, "pass an absolute http:// or https:// URL", "url"))
    }
    return parsed.protocol === "http:" || parsed.protocol === "https:"
      ? Effect.succeed(parsed)
      : Effect.fail(failed("invalid-input", `'${redact(parsed)}' uses ${parsed.protocol}; only http and https are fetched`, "pass an http:// or https:// URL", "url"))
  })

/** The part of a fetch response read here (the global `Response` and undici's alike). */
interface FetchedResponse {
  readonly status: number
  readonly headers: Headers
  readonly body: ReadableStream<Uint8Array> | null
}

/** Read at most `limit` bytes of a body. */
const readCapped = async (response: FetchedResponse, limit: number): Promise<{ readonly bytes: Uint8Array; readonly truncated: boolean }> => {
  if (response.body === null) return { bytes: new Uint8Array(0), truncated: false }
  const reader = response.body.getReader()
  const parts: Array<Uint8Array> = []
  let size = 0
  let truncated = false
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (size + value.byteLength > limit) {
      parts.push(value.subarray(0, limit - size))
      size = limit
      truncated = true
      await reader.cancel()
      break
    }
    parts.push(value)
    size += value.byteLength
  }
  const bytes = new Uint8Array(size)
  let at = 0
  for (const part of parts) {
    bytes.set(part, at)
    at += part.byteLength
  }
  return { bytes, truncated }
}

type UndiciModule = typeof Undici
let undiciModule: Promise<UndiciModule> | undefined

/** undici, loaded on the first request (its `fetch` takes the pinning dispatcher). */
const loadUndici = Effect.tryPromise({
  try: () => (undiciModule ??= import("@effect/platform-node/Undici")),
  catch: (error) => failed("failed", `the HTTP client could not be loaded: ${error instanceof Error ? error.message : String(error)}`, "reinstall stargraph's dependencies")
})

/** Host names checked on this call, and the addresses each may connect to. */
type Pins = Map<string, ReadonlyArray<NetResolver.ResolvedAddress>>

/**
 * A `lookup` for the connection that answers only the addresses checked for a host
 * ({@link Pins}): a name that resolves elsewhere by connect time (DNS rebinding) is not
 * asked again, and a host that was not checked does not connect.
 */
const pinnedLookup = (pins: Pins): LookupFunction => (hostname, options, callback) => {
  const family = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : options.family
  const answers = (pins.get(hostname) ?? []).filter((a) => family === undefined || family === 0 || a.family === family)
  const first = answers[0]
  if (first === undefined) {
    const error: NodeJS.ErrnoException = new Error(`${hostname} was not checked before connecting`)
    error.code = "ENOTFOUND"
    callback(error, "", 0)
  } else if (options.all === true) {
    callback(null, answers.map((a) => ({ address: a.address, family: a.family })))
  } else {
    callback(null, first.address, first.family)
  }
}

/**
 * The addresses `url`'s host stands for: itself when it is an IP address, else what the
 * context's {@link NetResolver} answers (every address).
 */
const addressesOf = (url: URL, method: string, unresolvedFix: string): Effect.Effect<ReadonlyArray<NetResolver.ResolvedAddress>, ToolError> => {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
  const family = isIP(host)
  if (family !== 0) return Effect.succeed([{ address: host, family }])
  return Effect.flatMap(
    Effect.mapError(NetResolver.resolve(host), (error) =>
      failed("failed", `${method} ${redact(url)} failed: ${host} did not resolve (${error instanceof Error ? error.message : String(error)})`, unresolvedFix)),
    (addresses) =>
      addresses.length === 0
        ? Effect.fail(failed("failed", `${method} ${redact(url)} failed: ${host} resolved to no address`, unresolvedFix))
        : Effect.succeed(addresses)
  )
}

/**
 * Why `url` may not be reached under a grant that does not name its host: its host is a
 * metadata name, or one of `addresses` (all of them checked, `undefined` before they are
 * resolved) is not public. Undefined when it may.
 */
const nonPublic = (url: URL, addresses: ReadonlyArray<NetResolver.ResolvedAddress> | undefined): { readonly address: string; readonly cls: AddressClass } | undefined => {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
  if (isMetadataHost(host)) return { address: host, cls: "cloud metadata" }
  for (const a of addresses ?? []) {
    const cls = classify(a.address)
    if (cls !== undefined) return { address: a.address, cls }
  }
  return undefined
}

/** The refusal of `url`, which is or resolves to `address`, of class `cls`: names the grant that would allow it. */
const refusal = (url: URL, address: string, cls: AddressClass): ToolError => {
  const shown = redact(url)
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
  const kind = `${/^[aeiou]/.test(cls) ? "an" : "a"} ${cls} address`
  const what = address === host ? `is ${kind}` : `resolves to ${address}, ${kind}`
  const grant = `${CAPABILITY}:${url.protocol}//${url.host}/*`
  return new ToolError({
    reason: "capability-denied",
    capability: `${CAPABILITY}:${shown}`,
    message: `'${shown}' ${what}: a net.fetch grant that does not name this host reaches public addresses only`,
    fix: `if the run should reach it, grant its host by name: ${Capabilities.ENV_VAR}=${grant} in the environment of stargraph run/serve, or Capabilities.layer(["${grant}"]) where the app runs the graph`
  })
}

/**
 * A refusal of `url` for want of any grant, when its host is by itself a non-public
 * address (an IP literal such as 127.0.0.1, a metadata name): the bare `net.fetch` the
 * refusal would name cannot reach it either, so its fix names the grant that does.
 */
const namingHost = (error: ToolError, url: URL): ToolError => {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
  const family = isIP(host)
  const why = nonPublic(url, family === 0 ? undefined : [{ address: host, family }])
  if (why === undefined) return error
  const grant = `${CAPABILITY}:${url.protocol}//${url.host}/*`
  return new ToolError({
    reason: error.reason,
    ...(error.capability !== undefined ? { capability: error.capability } : {}),
    message: `${error.message}; ${host} is ${/^[aeiou]/.test(why.cls) ? "an" : "a"} ${why.cls} address, which a bare net.fetch grant does not reach`,
    fix: `grant its host by name: ${Capabilities.ENV_VAR}=${grant} in the environment of stargraph run/serve, or Capabilities.layer(["${grant}"]) where the app runs the graph`
  })
}

/**
 * The addresses one hop may connect to: `url`'s host resolved, and refused when it is
 * not public ({@link nonPublic}) unless a grant naming the host literally covers `url`.
 * A metadata name is refused before it is resolved.
 */
const checkedAddresses = (url: URL, method: string, unresolvedFix: string): Effect.Effect<ReadonlyArray<NetResolver.ResolvedAddress>, ToolError> =>
  Effect.gen(function*() {
    const named = Capabilities.coversNamingHost(yield* Capabilities.granted, `${CAPABILITY}:${url.href}`, url.hostname)
    const byName = named ? undefined : nonPublic(url, undefined)
    if (byName !== undefined) return yield* refusal(url, byName.address, byName.cls)
    const addresses = yield* addressesOf(url, method, unresolvedFix)
    const byAddress = named ? undefined : nonPublic(url, addresses)
    if (byAddress !== undefined) return yield* refusal(url, byAddress.address, byAddress.cls)
    return addresses
  })

/** What {@link request} sends. */
export interface HttpRequest {
  readonly url: string
  readonly method: string
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: string | undefined
  readonly timeoutMs: number
  readonly maxBytes: number
  /** How to raise the time limit, in a timeout's fix (e.g. `raise timeout_ms (at most 60000)`), followed by ` or fetch a faster endpoint` / ` or read less`. */
  readonly timeoutFix: string
  /** The fix when a host does not resolve (default: check the URL's host name), for a caller whose URL the user did not choose. */
  readonly unresolvedFix?: string | undefined
}

/** What {@link request} answers: the last hop's status, URL and headers, and the body read. */
export interface HttpResponse {
  readonly status: number
  readonly url: string
  readonly headers: Record<string, string>
  readonly contentType: string
  readonly bytes: Uint8Array
  readonly truncated: boolean
}

/**
 * One HTTP request as the `std` network tools make it: `net.fetch:<url>` demanded for
 * every hop, redirects followed (at most {@link MAX_REDIRECTS}; 303, and 301/302 after a
 * POST, turn into a GET without a body or body headers; a hop to another origin drops
 * {@link CREDENTIAL_HEADERS}), one deadline for the whole call, the body read capped at
 * `maxBytes`. Messages name URLs {@link redact}ed.
 */
export const request = (req: HttpRequest): Effect.Effect<HttpResponse, ToolError> =>
  Effect.scoped(Effect.gen(function*() {
    const timeout = req.timeoutMs
    let method = req.method
    let body = req.body
    let headers: Record<string, string> = { ...(req.headers ?? {}) }
    if (body !== undefined && (method === "GET" || method === "HEAD")) {
      return yield* failed("invalid-input", `a ${method} request has no body`, "drop body, or use method POST, PUT or PATCH", "body")
    }
    let url = yield* parseUrl(req.url)
    const undici = yield* loadUndici
    // The connection's addresses: only those checked below, for the host they were checked for.
    const pins: Pins = new Map()
    const dispatcher = yield* Effect.acquireRelease(
      Effect.sync(() => new undici.Agent({ connect: { lookup: pinnedLookup(pins) } })),
      (agent) => Effect.ignore(Effect.tryPromise(() => agent.destroy()))
    )
    // One deadline for the whole call: every hop and the body read.
    const deadline = AbortSignal.timeout(timeout)
    for (let hop = 0; ; hop++) {
      // Matched on the whole URL; named, in the refusal the cassette records, without userinfo or query values.
      yield* Capabilities.demand(`${CAPABILITY}:${url.href}`, `${CAPABILITY}:${redact(url)}`).pipe(Effect.mapError((e) => namingHost(e, url)))
      pins.set(url.hostname, yield* checkedAddresses(url, method, req.unresolvedFix ?? "check the URL's host name"))
      const target = url
      const response = yield* Effect.tryPromise({
        try: (signal) =>
          undici.fetch(target, {
            method,
            redirect: "manual",
            signal: AbortSignal.any([signal, deadline]),
            headers,
            dispatcher,
            ...(body !== undefined ? { body } : {})
          }),
        catch: (error) =>
          error instanceof Error && error.name === "TimeoutError"
            ? failed("timeout", `${method} ${redact(target)} took more than ${timeout} ms`, `${req.timeoutFix} or fetch a faster endpoint`)
            : failed("failed", `${method} ${redact(target)} failed: ${scrub(error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error), target)}`, "check the URL and that the server is reachable")
      })
      const location = response.headers.get("location")
      if (response.status >= 300 && response.status < 400 && location !== null) {
        yield* Effect.ignore(Effect.tryPromise(() => response.body?.cancel() ?? Promise.resolve()))
        if (hop >= MAX_REDIRECTS) {
          return yield* failed("failed", `more than ${MAX_REDIRECTS} redirects from ${redact(target)}`, "fetch the final URL directly")
        }
        url = yield* parseUrl(location, target.href)
        // Credentials go to the origin they were given for only (and stay dropped after).
        if (url.origin !== target.origin) headers = without(headers, CREDENTIAL_HEADERS)
        if ((response.status === 303 && method !== "HEAD") || ((response.status === 301 || response.status === 302) && method === "POST")) {
          method = "GET"
          body = undefined
          headers = without(headers, BODY_HEADERS)
        }
        continue
      }
      const read = yield* Effect.tryPromise({
        try: () => readCapped(response, req.maxBytes),
        catch: (error) =>
          error instanceof Error && error.name === "TimeoutError"
            ? failed("timeout", `reading ${redact(target)} took more than ${timeout} ms`, `${req.timeoutFix} or read less`)
            : failed("failed", `reading ${redact(target)} failed: ${scrub(error instanceof Error ? error.message : String(error), target)}`, "retry, or check the server")
      })
      const answered: Record<string, string> = {}
      response.headers.forEach((value, name) => {
        answered[name] = value
      })
      // Each Set-Cookie is its own entry above (the last would win): join them, as httpx does.
      const cookies = response.headers.getSetCookie()
      if (cookies.length > 0) answered["set-cookie"] = cookies.join(", ")
      return {
        status: response.status,
        url: target.href,
        headers: answered,
        contentType: response.headers.get("content-type") ?? "",
        bytes: read.bytes,
        truncated: read.truncated
      }
    }
  }))

/** `std.http_fetch@1`. */
export const httpFetch = Tool.make({
  id: "std.http_fetch",
  version: "1",
  description: "One HTTP request (needs the net.fetch capability): status, headers and the body as text, with a time limit and a size cap.",
  input: Schema.Struct({
    url: Schema.String,
    method: Schema.optional(Method),
    headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
    body: Schema.optional(Schema.String),
    timeout_ms: Schema.optional(Schema.Int.pipe(Schema.between(1, MAX_TIMEOUT_MS))),
    max_bytes: Schema.optional(Schema.Int.pipe(Schema.between(1, MAX_MAX_BYTES)))
  }),
  output: Schema.Struct({
    status: Schema.Int,
    url: Schema.String,
    headers: Schema.Record({ key: Schema.String, value: Schema.String }),
    content_type: Schema.String,
    body: Schema.String,
    size: Schema.Int,
    truncated: Schema.Boolean
  }),
  run: (input) =>
    Effect.map(
      request({
        url: input.url,
        method: input.method ?? "GET",
        headers: input.headers,
        body: input.body,
        timeoutMs: input.timeout_ms ?? DEFAULT_TIMEOUT_MS,
        maxBytes: input.max_bytes ?? DEFAULT_MAX_BYTES,
        timeoutFix: "raise timeout_ms (at most 60000)"
      }),
      (response) => ({
        status: response.status,
        url: response.url,
        headers: response.headers,
        content_type: response.contentType,
        body: new TextDecoder().decode(response.bytes),
        size: response.bytes.byteLength,
        truncated: response.truncated
      })
    )
})
