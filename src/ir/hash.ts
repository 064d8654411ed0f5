/**
 * Canonical JSON (RFC 8785 JCS) and the two identity hashes pinned on every Graph and
 * carried by every checkpoint: `graph_hash` (what the graph means) and `runtime_hash`
 * (what executes it).
 */
import * as crypto from "node:crypto"
import canonicalize from "canonicalize"
import { STARGRAPH_VERSION } from "../version.js"

/** RFC 8785 canonical JSON text of a JSON value. */
export const canonicalJson = (value: unknown): string => canonicalize(value) ?? "null"

/**
 * The same canonical JSON for values already known to be plain JSON (acyclic, finite
 * numbers, no `toJSON`, no `undefined` in arrays), such as every request the cassette
 * records (checked by `checkJson` first): native `JSON.stringify` for every scalar and
 * no per-character scan, several times faster than `canonicalJson` on long strings. A
 * lone surrogate is escaped (`\udc00`) instead of refused.
 */
export const canonicalPlainJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) {
    let out = "["
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonicalPlainJson(value[i])
    return out + "]"
  }
  const record = value as { readonly [key: string]: unknown }
  const keys = Object.keys(record).sort()
  let out = "{"
  let first = true
  for (const key of keys) {
    const item = record[key]
    if (item === undefined) continue
    out += (first ? "" : ",") + JSON.stringify(key) + ":" + canonicalPlainJson(item)
    first = false
  }
  return out + "}"
}

/** `crypto.hash` (Node 20.12+, 21.7+): one call, no Hash object; else undefined. */
const oneShot = (crypto as { readonly hash?: (algorithm: string, data: string | Uint8Array, encoding: "hex") => string }).hash

/** `sha256:<hex>` of a string (as UTF-8) or bytes. */
export const sha256 = (data: string | Uint8Array): string =>
  `sha256:${oneShot !== undefined ? oneShot("sha256", data, "hex") : crypto.createHash("sha256").update(data).digest("hex")}`

/** `sha256:<hex>` of the JCS canonical form of a JSON value. */
export const hashJson = (value: unknown): string => sha256(canonicalJson(value))

/**
 * `graph_hash`: sha256 of the JCS-canonical IR with the compiled state schema (as JSON
 * Schema), the content hashes of referenced node modules and of mounted governance
 * packs folded in.
 */
export const graphHash = (
  ir: unknown,
  stateJsonSchema: unknown,
  moduleHashes: { readonly [module: string]: string },
  packHashes: { readonly [pack: string]: string } = {}
): string =>
  hashJson({ ir, state_schema: stateJsonSchema, modules: moduleHashes, ...(Object.keys(packHashes).length > 0 ? { packs: packHashes } : {}) })

/** `runtime_hash`: sha256 of the Node.js version and the Stargraph version. */
export const runtimeHash = (): string => sha256(`node ${process.version}\nstargraph ${STARGRAPH_VERSION}`)
