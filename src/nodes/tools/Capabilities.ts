/**
 * Capabilities: what a run may do beyond computing (reach the network, touch a system).
 * A tool that needs one is refused with `ToolError[capability-denied]` unless it is
 * granted, by a Layer ({@link layer}) where the app runs graphs, or by the
 * `STARGRAPH_CAPABILITIES` environment variable (comma- or space-separated, read at
 * each call) for the CLI and the server.
 *
 * A capability is `name` or `name:scope`. A grant of `name` covers every scope of that
 * name; a grant of `name:<glob>` covers the scopes its glob matches (`*` any run of
 * characters, `?` one; in a URL glob's scheme and authority they never cross into the path,
 * see {@link covers}). `net.fetch` lets `std.http_fetch` reach any URL on a public address;
 * a non-public one (loopback, private, link-local, metadata, …) needs a grant that names
 * its host ({@link coversNamingHost}): `net.fetch:http://127.0.0.1:*` reaches local ones. The `std.file_*` tools ask for
 * `fs.read:<real path>` or `fs.write:<real path>`; an `fs.*` grant's scope is a path, not a
 * free glob (see {@link invalidGrant}): `/srv/data` covers that path alone, `/srv/data/*`
 * covers `/srv/data` itself and everything beneath it, and any other `*` or `?` makes
 * the grant cover nothing (the denial names it).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ToolError } from "../../errors.js"

/** The capabilities granted to the runs of this context. */
export interface CapabilitiesShape {
  readonly granted: ReadonlyArray<string>
}

/** Granted capabilities (default: none besides `STARGRAPH_CAPABILITIES`). */
export class Capabilities extends Context.Reference<Capabilities>()("stargraph/Capabilities", {
  defaultValue: (): CapabilitiesShape => ({ granted: [] })
}) {}

/** The environment variable read at each check. */
export const ENV_VAR = "STARGRAPH_CAPABILITIES"

/** A Layer granting `capabilities` besides the ones already granted. */
export const layer = (capabilities: Iterable<string>): Layer.Layer<Capabilities> =>
  Layer.effect(Capabilities, Effect.map(Capabilities, (current) => ({ granted: [...current.granted, ...capabilities] })))

/** The grants in `STARGRAPH_CAPABILITIES` (comma- or space-separated). */
export const fromEnv = (env: { readonly [name: string]: string | undefined } = process.env): ReadonlyArray<string> =>
  (env[ENV_VAR] ?? "").split(/[\s,]+/).filter((c) => c !== "")

/** A glob as regex source: `*` is `star`, `?` is `one`, everything else literal. */
const globSource = (glob: string, star: string, one: string): string =>
  glob.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === "*" ? star : c === "?" ? one : `\\${c}`))

/**
 * A scope glob as a regex. A URL glob (`scheme://…`) is matched part by part: in its
 * scheme and authority, `*` and `?` stay within the authority (never `/`, `?`, `#` or
 * `@`), so `http://*.example.com/*` cannot be steered to another host by a path such as
 * `http://10.0.0.1/.example.com/`; its path part, when it has one, matches any text, and
 * without one every path of that origin is covered.
 */
const globRegex = (glob: string): RegExp => {
  const scheme = glob.indexOf("://")
  if (scheme < 0) return new RegExp(`^${globSource(glob, ".*", ".")}$`, "s")
  const pathAt = glob.indexOf("/", scheme + 3)
  const origin = globSource(pathAt < 0 ? glob : glob.slice(0, pathAt), "[^/?#@]*", "[^/?#@]")
  const path = pathAt < 0 ? "(?:[/?#].*)?" : globSource(glob.slice(pathAt), ".*", ".")
  return new RegExp(`^${origin}${path}$`, "s")
}

/** Whether a capability name is a filesystem one (`fs.read`, `fs.write`, …), whose scopes are paths. */
const isPathName = (name: string): boolean => name.startsWith("fs.")

/**
 * Why `grant` can never be honoured, or undefined when it is well formed. Only path
 * grants (`fs.*:<scope>`) are checked: their scope is `*`, or an absolute path with no
 * `*` or `?` except one whole trailing `/*` segment. `fs.read:/srv/data*` would
 * otherwise also cover `/srv/database`, and `*` would cross `/`.
 */
export const invalidGrant = (grant: string): string | undefined => {
  const at = grant.indexOf(":")
  if (at < 0 || !isPathName(grant.slice(0, at))) return undefined
  const scope = grant.slice(at + 1)
  if (scope === "*") return undefined
  if (!scope.startsWith("/")) return `its scope '${scope}' is not an absolute path`
  const body = scope.endsWith("/*") ? scope.slice(0, -2) : scope
  if (/[*?]/.test(body)) return `in a path grant '*' may only be a whole last segment ('/dir/*'), and '?' is not allowed`
  return undefined
}

/** Whether the path grant `scope` (well formed) covers the real path `path`. */
const coversPath = (scope: string, path: string): boolean => {
  if (scope === "*") return true
  const strip = (p: string) => (p.length > 1 && p.endsWith("/") ? p.replace(/\/+$/, "") || "/" : p)
  if (!scope.endsWith("/*")) return strip(scope) === path
  const dir = strip(scope.slice(0, -2) || "/")
  return path === dir || path.startsWith(dir === "/" ? "/" : `${dir}/`)
}

/** Whether `granted` covers `required` (`name` or `name:scope`). */
export const covers = (granted: ReadonlyArray<string>, required: string): boolean => {
  const colon = required.indexOf(":")
  const name = colon < 0 ? required : required.slice(0, colon)
  const scope = colon < 0 ? undefined : required.slice(colon + 1)
  return granted.some((grant) => {
    const at = grant.indexOf(":")
    if (at < 0) return grant === name
    if (grant.slice(0, at) !== name || scope === undefined) return false
    if (isPathName(name)) return invalidGrant(grant) === undefined && coversPath(grant.slice(at + 1), scope)
    return globRegex(grant.slice(at + 1)).test(scope)
  })
}

/**
 * The host a URL glob names literally (as a URL's `hostname`: lower case, IPv6 in
 * brackets, a numeric IPv4 spelling normalised), or undefined when the glob is not a URL
 * glob or its host has a `*` or `?`. `http://127.0.0.1:*` names `127.0.0.1`;
 * `http://*.example.com/*` and `*` name none.
 */
export const globHost = (glob: string): string | undefined => {
  const scheme = glob.indexOf("://")
  if (scheme < 0) return undefined
  const rest = glob.slice(scheme + 3)
  const end = rest.search(/[/?#]/)
  const authority = (end < 0 ? rest : rest.slice(0, end)).replace(/^.*@/s, "")
  const host = authority.startsWith("[") ? authority.slice(0, authority.indexOf("]") + 1) : authority.split(":")[0]!
  if (host === "" || /[*?]/.test(host)) return undefined
  try {
    return new URL(`http://${host}/`).hostname
  } catch {
    return undefined
  }
}

/**
 * Whether a grant of `required`'s name that names `hostname` literally ({@link globHost})
 * covers `required`: what `net.fetch` asks before reaching a non-public address.
 */
export const coversNamingHost = (granted: ReadonlyArray<string>, required: string, hostname: string): boolean =>
  granted.some((grant) => {
    const at = grant.indexOf(":")
    return at >= 0 && globHost(grant.slice(at + 1)) === hostname && covers([grant], required)
  })

/** Everything granted here: the context's grants and `STARGRAPH_CAPABILITIES`. */
export const granted: Effect.Effect<ReadonlyArray<string>> = Effect.map(Capabilities, (c) => [...c.granted, ...fromEnv()])

/**
 * The grant a refusal of `capability` tells the user to give: the capability itself
 * (`tools:std:exec`, not `tools`, which would grant every tool of that name; `fs.read:<path>`),
 * except a URL scope, whose refusal names the bare `net.fetch` (a grant per URL, query
 * included, is of no use; a non-public host's refusal names its host, see httpFetch).
 */
export const grantFor = (capability: string): string => {
  const at = capability.indexOf(":")
  return at >= 0 && capability.slice(at + 1).includes("://") ? capability.slice(0, at) : capability
}

/** `word` as one shell word: as it is when plain, else single-quoted. */
const shellWord = (word: string): string => (/^[\w.:/@+=-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`)

/**
 * Succeed when `capability` is granted, else fail with `ToolError[capability-denied]`
 * saying how to grant it. Tools call it before doing what needs it. `shown` is how the
 * refusal names it (default: as matched), e.g. a URL without its secrets: the refusal is
 * recorded in the run's cassette.
 */
export const demand = (capability: string, shown: string = capability): Effect.Effect<void, ToolError> =>
  Effect.flatMap(granted, (all) => {
    if (covers(all, capability)) return Effect.void
    const grant = grantFor(capability)
    const ignored = all.flatMap((grant) => {
      const why = invalidGrant(grant)
      return why === undefined ? [] : [`'${grant}' is ignored: ${why}`]
    })
    return Effect.fail(new ToolError({
      reason: "capability-denied",
      capability: shown,
      message: `'${shown}' is not granted${all.length > 0 ? ` (granted: ${all.join(", ")})` : " (nothing is granted)"}${ignored.length > 0 ? `; ${ignored.join("; ")}` : ""}`,
      fix: `grant it: ${ENV_VAR}=${shellWord(grant)} in the environment of stargraph run/serve, or provide Capabilities.layer([${JSON.stringify(grant)}]) where the app runs the graph`
    }))
  })
