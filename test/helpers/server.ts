/**
 * A real Stargraph server for HTTP tests (127.0.0.1, an ephemeral port) and small fetch
 * helpers around it.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Serve from "../../src/serve/server.js"

/** Start a server in a scope of its own; `close` stops it (drains, closes the database). */
export const boot = async (options: Serve.ServeOptions) => {
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(Serve.start({ port: 0, host: "127.0.0.1", ...options }).pipe(Scope.extend(scope)))
  return { ...started, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** GET `url`, or POST `json` to it: the status, the raw text and the parsed body (`{}` when empty). */
export const call = async (url: string, json?: unknown) => {
  const response = await fetch(url, json === undefined ? {} : { method: "POST", body: JSON.stringify(json), headers: { "content-type": "application/json" } })
  const text = await response.text()
  return { status: response.status, text, body: text ? JSON.parse(text) as Record<string, any> : {} }
}

/** GET `url` until `until` holds for its body (or `ms` have passed: the last answer then). */
export const waitFor = async (url: string, until: (body: Record<string, any>) => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms
  for (;;) {
    const r = await call(url)
    if (until(r.body) || Date.now() > deadline) return r
    await new Promise((res) => setTimeout(res, 25))
  }
}
