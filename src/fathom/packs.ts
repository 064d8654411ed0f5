/**
 * Governance rule packs: a folder with `manifest.yaml` (`id`, `version`, `requires`),
 * `rules.clp` (CLIPS) and/or YAML rules (`rules.yaml`, `rules/*.yaml`, in the IR's rule
 * form), optionally signed with `manifest.jwt`. A graph mounts packs with
 * `governance: [{id, version}]`; their rules join the graph's rule set and their content
 * hash is folded into the graph hash.
 *
 * Where packs are found: `packs/` beside the graph, then each folder in `packRoots` and
 * in `STARGRAPH_PACK_PATH` (`:`-separated); in each, a pack folder at any depth up to two
 * (`packs/<id>/`, `packs/<id>/<version>/`, `packs/<id>@<version>/`).
 *
 * Signatures (as the original Stargraph signs packs): `manifest.jwt` is a compact JWS,
 * header `{alg: "EdDSA", kid}` (an embedded `x5c` is refused), payload `{alg, key_id,
 * tree_hash, iat}` where `tree_hash` is BLAKE3 (or SHA-256, `alg: "SHA-256"`) over the
 * pack's files in sorted path order, each as `path NUL length(8 bytes BE) content`,
 * skipping `manifest.jwt` and `*.pub.pem`. The key must be a trusted Ed25519 key given by
 * configuration (`trustedKeys`, or `<kid>.pub.pem` files in `STARGRAPH_TRUSTED_KEYS`); the
 * pack's own sidecar key is never trusted by itself. A tampered file, an unknown key or a
 * bad signature is a `RuleError{reason:"pack"}`.
 */
import { createHash, createPrivateKey, createPublicKey, sign as signBytes, verify as verifySignature } from "node:crypto"
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as YAML from "yaml"
import { RuleError } from "../errors.js"
import { type PackMount, RuleSpec } from "../ir/rules.js"
import { blake3Hex } from "./blake3.js"
import * as Clips from "./clips/index.js"
import { firstIssue } from "../ir/parseIssue.js"

/** The fact vocabulary version and plugin API version this Stargraph provides. */
export const STARGRAPH_FACTS_VERSION = "1.0"
/** The pack API version this Stargraph provides. */
export const PACK_API_VERSION = "1"

/** `manifest.yaml` of a pack. */
export const PackManifest = Schema.Struct({
  id: Schema.String,
  version: Schema.Union(Schema.String, Schema.Number),
  description: Schema.optional(Schema.String),
  flavor: Schema.optional(Schema.String),
  requires: Schema.optional(Schema.Struct({
    stargraph_facts_version: Schema.optional(Schema.Union(Schema.String, Schema.Number)),
    api_version: Schema.optional(Schema.Union(Schema.String, Schema.Number))
  })),
  provides: Schema.optional(Schema.Array(Schema.String))
})

/** A loaded, verified pack. */
export interface LoadedPack {
  readonly id: string
  readonly version: string
  readonly dir: string
  /** `sha256:<hex>` of the pack's files (folded into the graph hash). */
  readonly hash: string
  /** The signing key id, when the pack is signed (and verified). */
  readonly signedBy: string | undefined
  /** Its CLIPS files, parsed. */
  readonly programs: ReadonlyArray<{ readonly file: string; readonly text: string; readonly program: Clips.Program }>
  /** Its YAML rules, in the IR's rule form (compiled with the graph's nodes and fields). */
  readonly rules: ReadonlyArray<{ readonly file: string; readonly rule: RuleSpec }>
}

/** Where to look for packs and which keys to trust. */
export interface PackOptions {
  /** Folders searched after `packs/` beside the graph. */
  readonly packRoots?: ReadonlyArray<string> | undefined
  /** Trusted Ed25519 public keys (PEM) by key id. */
  readonly trustedKeys?: { readonly [kid: string]: string } | undefined
  /** Refuse unsigned packs (default false). */
  readonly requireSigned?: boolean | undefined
  /** Pack versions to use instead of the mounted ones, by pack id (`*` for every pack): counterfactual forks. */
  readonly versionOverrides?: { readonly [id: string]: string } | undefined
  readonly env?: { readonly [name: string]: string | undefined } | undefined
}

const packError = (message: string, fix: string, file?: string) =>
  new RuleError({ reason: "pack", ...(file !== undefined ? { file } : {}), message, fix })

/** `1`, `1.0` and `1.0.0` are the same version. */
export const sameVersion = (a: string, b: string): boolean => {
  const norm = (v: string) => v.trim().replace(/^v/, "").split(".").map((p) => p.replace(/^0+(?=\d)/, ""))
  const x = norm(a)
  const y = norm(b)
  while (x.length < y.length) x.push("0")
  while (y.length < x.length) y.push("0")
  return x.join(".") === y.join(".")
}

const sameMajor = (a: string, b: string) => a.split(".")[0] === b.split(".")[0]

/** Every file of a pack, sorted by relative path (signing artifacts excluded when asked). */
const packFiles = (dir: string, signing: boolean): Array<string> => {
  const out: Array<string> = []
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.isFile()) out.push(relative(dir, full).split("\\").join("/"))
    }
  }
  walk(dir)
  return out.filter((f) => !signing || (f !== "manifest.jwt" && !f.endsWith(".pub.pem"))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/**
 * The first symbolic link inside a pack, relative to it, if any. Packs may not hold one:
 * its signature, and the pack hash folded into the graph hash, cover regular files only,
 * while the rules are read through links.
 */
const linkIn = (dir: string): string | undefined => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isSymbolicLink()) return entry.name
    if (entry.isDirectory()) {
      const below = linkIn(join(dir, entry.name))
      if (below !== undefined) return `${entry.name}/${below}`
    }
  }
  return undefined
}

/** Why a pack with a link is refused, and the fix. */
const linkRefused = (link: string) => ({
  message: `the pack holds a symbolic link (${link}), which neither its signature nor its hash covers`,
  fix: `replace ${link} with a copy of what it points to`
})

/** The tree hash the signature covers (`BLAKE3` or `SHA-256`), as hex. */
export const treeHash = (dir: string, alg: "BLAKE3" | "SHA-256"): string => {
  const parts: Array<Uint8Array> = []
  for (const rel of packFiles(dir, true)) {
    const content = readFileSync(join(dir, rel))
    const length = Buffer.alloc(8)
    length.writeBigUInt64BE(BigInt(content.length))
    parts.push(Buffer.from(rel, "utf8"), Buffer.from([0]), length, content)
  }
  const all = Buffer.concat(parts)
  return alg === "SHA-256" ? createHash("sha256").update(all).digest("hex") : blake3Hex(all)
}

const b64url = (text: string) => Buffer.from(text, "base64url")

const decodePart = (part: string | undefined): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(b64url(part ?? "").toString("utf8"))
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** Trusted keys: the given ones, plus `<kid>.pub.pem` files in `STARGRAPH_TRUSTED_KEYS`. */
const trustedKeys = (options: PackOptions): Map<string, string> => {
  const keys = new Map(Object.entries(options.trustedKeys ?? {}))
  const dir = (options.env ?? process.env)["STARGRAPH_TRUSTED_KEYS"]
  if (dir && existsSync(dir)) {
    for (const name of readdirSync(dir)) {
      if (name.endsWith(".pub.pem") && !keys.has(name.slice(0, -8))) keys.set(name.slice(0, -8), readFileSync(join(dir, name), "utf8"))
    }
  }
  return keys
}

/**
 * Sign a pack: write `<dir>/manifest.jwt`, the compact JWS over the pack's tree hash
 * signed with an Ed25519 private key (PEM, PKCS#8), and return its text. A key that is
 * not an Ed25519 private key, or a folder that cannot be read or written, is a
 * `RuleError` (`pack`) and writes nothing.
 */
export const signPack = (
  dir: string,
  privateKeyPem: string,
  keyId: string,
  alg: "BLAKE3" | "SHA-256" = "SHA-256",
  issuedAt: number = Math.floor(Date.now() / 1000)
): Either.Either<string, RuleError> => {
  const refuse = (message: string, fix: string) => Either.left(new RuleError({ reason: "pack", file: dir, message: `cannot sign pack ${dir}: ${message}`, fix }))
  let key: ReturnType<typeof createPrivateKey>
  try {
    key = createPrivateKey(privateKeyPem)
  } catch (cause) {
    return refuse(`the private key cannot be read (${cause instanceof Error ? cause.message : String(cause)})`, "pass an Ed25519 private key in PEM (PKCS#8), e.g. generateKeyPairSync(\"ed25519\")'s privateKey.export({type: \"pkcs8\", format: \"pem\"})")
  }
  if (key.asymmetricKeyType !== "ed25519") return refuse(`the key is ${key.asymmetricKeyType ?? "not an asymmetric key"}, not Ed25519`, "sign with an Ed25519 key: packs are signed with EdDSA")
  if (!existsSync(join(dir, "manifest.yaml"))) return refuse("it has no manifest.yaml: it is not a pack", "name the pack's own folder (the one with manifest.yaml)")
  const link = linkIn(dir)
  if (link !== undefined) {
    const { fix, message } = linkRefused(link)
    return refuse(message, fix)
  }
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
  try {
    const signed = `${part({ alg: "EdDSA", kid: keyId, typ: "JWT" })}.${part({ alg, iat: issuedAt, key_id: keyId, tree_hash: treeHash(dir, alg) })}`
    const token = `${signed}.${signBytes(null, Buffer.from(signed), key).toString("base64url")}`
    writeFileSync(join(dir, "manifest.jwt"), token)
    return Either.right(token)
  } catch (cause) {
    return refuse(cause instanceof Error ? cause.message : String(cause), "name the pack's folder (the one with manifest.yaml), readable and writable")
  }
}

/** Whether `signature` (base64url) signs `signed` with the Ed25519 key `pem`, or why it cannot tell. */
const signatureValid = (pem: string, signed: string, signature: string): boolean | string => {
  try {
    const key = createPublicKey(pem)
    if (key.asymmetricKeyType !== "ed25519") return "it is not an Ed25519 key"
    return verifySignature(null, Buffer.from(signed), key, b64url(signature))
  } catch (cause) {
    return cause instanceof Error ? cause.message : String(cause)
  }
}

/** Verify `manifest.jwt` over the pack tree; returns the key id. */
export const verifyPack = (dir: string, options: PackOptions): Either.Either<string, RuleError> => {
  const file = join(dir, "manifest.jwt")
  const token = readFileSync(file, "utf8").trim()
  const [head, body, signature, ...extra] = token.split(".")
  const header = decodePart(head)
  const payload = decodePart(body)
  if (header === undefined || payload === undefined || signature === undefined || extra.length > 0) {
    return Either.left(packError("manifest.jwt is not a compact JWS", "re-sign the pack", file))
  }
  if ("x5c" in header) return Either.left(packError("manifest.jwt embeds an x5c certificate, which is refused", "sign without embedding certificates; trust keys by configuration", file))
  if (header["alg"] !== "EdDSA") return Either.left(packError(`manifest.jwt uses alg ${JSON.stringify(header["alg"])}; only EdDSA is accepted`, "sign the pack with an Ed25519 key", file))
  const kid = header["kid"]
  if (typeof kid !== "string" || kid === "") return Either.left(packError("manifest.jwt has no kid header", "sign with a key id", file))
  const pem = trustedKeys(options).get(kid)
  if (pem === undefined) {
    return Either.left(packError(
      `pack is signed by key '${kid}', which is not trusted`,
      `add the key's PEM as trustedKeys['${kid}'] or put ${kid}.pub.pem in the STARGRAPH_TRUSTED_KEYS folder (after checking it out of band)`,
      file
    ))
  }
  const valid = signatureValid(pem, `${head}.${body}`, signature)
  if (typeof valid === "string") return Either.left(packError(`cannot verify manifest.jwt with trusted key '${kid}': ${valid}`, "trust the pack's Ed25519 public key (PEM)", file))
  if (!valid) return Either.left(packError(`the signature of manifest.jwt does not verify with key '${kid}'`, "re-sign the pack with the key it names, or trust the right key", file))
  if (payload["key_id"] !== undefined && payload["key_id"] !== kid) return Either.left(packError("manifest.jwt's key_id differs from its kid header", "re-sign the pack", file))
  const alg = payload["alg"] === "SHA-256" ? "SHA-256" : "BLAKE3"
  const expected = payload["tree_hash"]
  const actual = treeHash(dir, alg)
  if (expected !== actual) {
    return Either.left(packError(`a file of the pack changed since it was signed (${alg} tree hash ${actual}, signed ${String(expected)})`, "restore the pack's files, or review the change and re-sign the pack", file))
  }
  return Either.right(kid)
}

interface Candidate {
  readonly dir: string
  readonly id: string
  readonly version: string
  readonly manifest: typeof PackManifest.Type
}

/** Pack folders under `root` (depth 1 and 2). */
const candidates = (root: string): Array<Candidate> => {
  if (!existsSync(root) || !statSync(root).isDirectory()) return []
  const found: Array<Candidate> = []
  const visit = (dir: string, depth: number) => {
    const manifest = join(dir, "manifest.yaml")
    if (existsSync(manifest)) {
      const parsed = Schema.decodeUnknownEither(PackManifest)(YAML.parse(readFileSync(manifest, "utf8")))
      if (Either.isRight(parsed)) found.push({ dir, id: parsed.right.id, version: String(parsed.right.version), manifest: parsed.right })
      return
    }
    if (depth >= 2) return
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !entry.name.startsWith(".")) visit(join(dir, entry.name), depth + 1)
    }
  }
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.isDirectory() && !entry.name.startsWith(".")) visit(join(root, entry.name), 1)
  }
  return found
}

/** The search roots for a graph in `graphDir`. */
export const packRoots = (graphDir: string, options: PackOptions): ReadonlyArray<string> => [
  join(graphDir, "packs"),
  ...(options.packRoots ?? []).map((r) => resolve(graphDir, r)),
  ...((options.env ?? process.env)["STARGRAPH_PACK_PATH"] ?? "").split(":").filter((p) => p !== "").map((p) => resolve(p))
]

const readRules = (dir: string): Either.Either<Array<{ file: string; rule: RuleSpec }>, RuleError> => {
  const files = [join(dir, "rules.yaml"), join(dir, "rules.yml")].filter(existsSync)
  const sub = join(dir, "rules")
  if (existsSync(sub) && statSync(sub).isDirectory()) {
    files.push(...readdirSync(sub).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(sub, f)))
  }
  const out: Array<{ file: string; rule: RuleSpec }> = []
  for (const file of files) {
    let raw: unknown
    try {
      raw = YAML.parse(readFileSync(file, "utf8"))
    } catch (cause) {
      return Either.left(packError(`malformed YAML: ${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)}`, "fix the YAML of the pack's rule file", file))
    }
    const list = Array.isArray(raw) ? raw : raw !== null && typeof raw === "object" && "rules" in raw ? (raw as { rules: unknown }).rules : undefined
    if (!Array.isArray(list)) return Either.left(packError("a pack rule file holds `rules: [...]` or a list of rules", "write rules: [{id, when, then}]", file))
    for (const [i, item] of list.entries()) {
      const decoded = Schema.decodeUnknownEither(RuleSpec, { onExcessProperty: "error" })(item)
      if (Either.isLeft(decoded)) {
        const issue = firstIssue(decoded.left)
        return Either.left(packError(`rules[${i}].${(issue?.path ?? []).join(".")}: ${issue?.message ?? "invalid rule"}`, "a pack rule has id, when and then, as inline rules do", file))
      }
      out.push({ file, rule: decoded.right })
    }
  }
  return Either.right(out)
}

/** Load one pack folder (verified, parsed). */
export const loadPackDir = (candidate: Candidate, options: PackOptions): Either.Either<LoadedPack, RuleError> => {
  const { dir, manifest } = candidate
  const manifestFile = join(dir, "manifest.yaml")
  const requires = manifest.requires
  const facts = requires?.stargraph_facts_version === undefined ? undefined : String(requires.stargraph_facts_version)
  if (facts !== undefined && !sameMajor(facts, STARGRAPH_FACTS_VERSION)) {
    return Either.left(packError(`pack ${manifest.id} requires stargraph facts ${facts}; this Stargraph provides ${STARGRAPH_FACTS_VERSION}`, "use a pack version written for facts 1.x", manifestFile))
  }
  const api = requires?.api_version === undefined ? undefined : String(requires.api_version)
  if (api !== undefined && !sameMajor(api, PACK_API_VERSION)) {
    return Either.left(packError(`pack ${manifest.id} requires pack API ${api}; this Stargraph provides ${PACK_API_VERSION}`, "use a pack version written for API 1", manifestFile))
  }
  const link = linkIn(dir)
  if (link !== undefined) {
    const { fix, message } = linkRefused(link)
    return Either.left(packError(`pack ${manifest.id}: ${message}`, `${fix}, and re-sign the pack if it is signed`, join(dir, link)))
  }
  let signedBy: string | undefined
  if (existsSync(join(dir, "manifest.jwt"))) {
    const verified = verifyPack(dir, options)
    if (Either.isLeft(verified)) return Either.left(verified.left)
    signedBy = verified.right
  } else if (options.requireSigned === true) {
    return Either.left(packError(`pack ${manifest.id} is not signed`, "sign it (manifest.jwt), or allow unsigned packs", manifestFile))
  }
  const programs: Array<{ file: string; text: string; program: Clips.Program }> = []
  for (const name of packFiles(dir, true).filter((f) => f.endsWith(".clp"))) {
    const file = join(dir, name)
    const text = readFileSync(file, "utf8")
    const program = Clips.parseProgram(text, { file })
    if (Either.isLeft(program)) return Either.left(program.left)
    programs.push({ file, text, program: program.right })
  }
  const rules = readRules(dir)
  if (Either.isLeft(rules)) return Either.left(rules.left)
  if (programs.length === 0 && rules.right.length === 0) {
    return Either.left(packError(`pack ${manifest.id} has no rules`, "add rules.clp or rules.yaml", manifestFile))
  }
  const content = createHash("sha256")
  for (const rel of packFiles(dir, true)) content.update(rel).update("\0").update(readFileSync(join(dir, rel)))
  return Either.right({
    id: manifest.id,
    version: String(manifest.version),
    dir,
    hash: `sha256:${content.digest("hex")}`,
    signedBy,
    programs,
    rules: rules.right
  })
}

/** Resolve and load the packs a graph mounts. */
export const loadPacks = (
  mounts: ReadonlyArray<PackMount>,
  graphFile: string | undefined,
  options: PackOptions
): Either.Either<ReadonlyArray<LoadedPack>, RuleError> => {
  // A version override for a pack the graph does not mount would select nothing: refuse it.
  const mounted = new Set(mounts.map((m) => m.id))
  const stray = Object.keys(options.versionOverrides ?? {}).find((id) => (id === "*" ? mounts.length === 0 : !mounted.has(id)))
  if (stray !== undefined) {
    return Either.left(packError(
      mounts.length === 0
        ? "the graph mounts no governance packs, so there is no pack version to choose"
        : `pack '${stray}' is not mounted by the graph (it mounts: ${[...mounted].join(", ")})`,
      "leave out rule_pack_version, or name a pack the graph mounts under governance: (id@version, or a version for every pack)",
      graphFile
    ))
  }
  if (mounts.length === 0) return Either.right([])
  const graphDir = graphFile ? dirname(resolve(graphFile)) : process.cwd()
  const roots = packRoots(graphDir, options)
  const all = roots.flatMap(candidates)
  const loaded: Array<LoadedPack> = []
  for (const mount of mounts) {
    const wanted = options.versionOverrides?.[mount.id] ?? options.versionOverrides?.["*"] ?? mount.version
    const sameId = all.filter((c) => c.id === mount.id)
    if (sameId.length === 0) {
      // The original Stargraph's bundled reference packs are not shipped here: say so, not only where we looked.
      const bundled = mount.id.startsWith("stargraph.bosun.") ? "the original Stargraph's bundled stargraph.bosun.* packs are not shipped with this runtime (docs/fathom.md, Governance packs): copy the one you need and " : ""
      return Either.left(packError(`governance pack '${mount.id}' not found`, `${bundled}put it in ${join(graphDir, "packs", mount.id)}/ (with manifest.yaml) or add its folder to STARGRAPH_PACK_PATH; searched: ${roots.join(", ")}`, graphFile))
    }
    const match = wanted === undefined ? (sameId.length === 1 ? sameId[0] : undefined) : sameId.find((c) => sameVersion(c.version, wanted))
    if (match === undefined) {
      return Either.left(packError(
        wanted === undefined
          ? `governance pack '${mount.id}' exists in several versions (${sameId.map((c) => c.version).join(", ")})`
          : `governance pack '${mount.id}' has no version ${wanted}; found: ${sameId.map((c) => `${c.version} (${c.dir})`).join(", ")}`,
        wanted === undefined ? "give the mount a version" : "mount a version that exists, or install the one mounted",
        graphFile
      ))
    }
    const requires = mount.requires
    for (const [what, need, have] of [["stargraph_facts_version", requires?.stargraph_facts_version, STARGRAPH_FACTS_VERSION], ["api_version", requires?.api_version, PACK_API_VERSION]] as const) {
      if (need !== undefined && !sameMajor(need, have)) {
        return Either.left(packError(`governance mount '${mount.id}' requires ${what} ${need}; this Stargraph provides ${have}`, `require ${what} ${have.split(".")[0]}.x`, graphFile))
      }
    }
    const pack = loadPackDir(match, options)
    if (Either.isLeft(pack)) return Either.left(pack.left)
    loaded.push(pack.right)
  }
  return Either.right(loaded)
}
