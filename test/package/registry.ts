/**
 * A throwaway npm registry on 127.0.0.1 for the packaging test: npm resolves versions,
 * peers and conflicts for real against it, with no request leaving the machine.
 *
 * It serves every package of this repository's package-lock.json: the manifest from the
 * installed `node_modules/<name>/package.json` (the lock's own fields for optional
 * platform packages that are not installed here) and the tarball from npm's local cache,
 * where `npm ci` left it (looked up by the lock's integrity); a package missing from the
 * cache is packed from its installed folder instead. `extra` adds packages that exist only
 * for the test (a fake `effect@2`), and `stargraph` is served from the tarball under test.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

interface LockEntry {
  readonly version?: string
  readonly integrity?: string
  readonly link?: boolean
  readonly [field: string]: unknown
}

interface Served {
  readonly manifest: Record<string, unknown>
  readonly tarball: () => Buffer
  readonly integrity: string
}

/** A tarball given as bytes, with the manifest it carries. */
export interface ExtraPackage {
  readonly manifest: Record<string, unknown> & { name: string; version: string }
  readonly tarball: Buffer
}

export interface LocalRegistry {
  readonly url: string
  /** Packages whose tarball had to be packed from node_modules (not found in the npm cache). */
  readonly packedFromDisk: ReadonlyArray<string>
  readonly close: () => Promise<void>
}

const sri = (bytes: Buffer): string => `sha512-${createHash("sha512").update(bytes).digest("base64")}`

/** Where cacache keeps content addressed by `integrity`. */
const cachePath = (cacheDir: string, integrity: string): string => {
  const [algorithm, digest] = integrity.split("-", 2) as [string, string]
  const hex = Buffer.from(digest, "base64").toString("hex")
  return join(cacheDir, "_cacache", "content-v2", algorithm, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4))
}

/** `npm pack` a folder into bytes (only for packages absent from the cache). */
const packFolder = (dir: string): Buffer => {
  const out = mkdtempSync(join(tmpdir(), "stargraph-regpack-"))
  execFileSync("npm", ["pack", dir, "--ignore-scripts", "--pack-destination", out, "--silent"], { stdio: "ignore" })
  const file = readdirSync(out).find((f) => f.endsWith(".tgz"))
  if (file === undefined) throw new Error(`npm pack ${dir} produced nothing`)
  return readFileSync(join(out, file))
}

/** Start the registry for the repository at `root`. */
export const startRegistry = async (
  root: string,
  npmCache: string,
  extra: ReadonlyArray<ExtraPackage>
): Promise<LocalRegistry> => {
  const lock = (JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> }).packages
  const packages = new Map<string, Map<string, Served>>()
  const packedFromDisk: Array<string> = []
  const add = (name: string, version: string, served: Served) => {
    const versions = packages.get(name) ?? new Map<string, Served>()
    if (!versions.has(version)) versions.set(version, served)
    packages.set(name, versions)
  }

  for (const [path, entry] of Object.entries(lock)) {
    if (path === "" || entry.link || entry.version === undefined || !path.includes("node_modules/")) continue
    const name = path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)
    const dir = join(root, path)
    const installed = existsSync(join(dir, "package.json"))
    const manifest = installed
      ? (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown>)
      : { ...entry, name } // an optional package for another platform: npm only reads os/cpu
    const cached = entry.integrity !== undefined && existsSync(cachePath(npmCache, entry.integrity))
    let packed: Buffer | undefined
    const tarball = (): Buffer => {
      if (cached) return readFileSync(cachePath(npmCache, entry.integrity!))
      if (!installed) throw new Error(`${name}@${entry.version} is neither cached nor installed`)
      packed ??= packFolder(dir)
      return packed
    }
    let integrity = entry.integrity ?? ""
    if (!cached && installed) {
      integrity = sri(tarball())
      packedFromDisk.push(`${name}@${entry.version}`)
    }
    add(name, entry.version, { manifest: { ...manifest, name, version: entry.version }, tarball, integrity })
  }
  for (const p of extra) {
    const bytes = p.tarball
    add(p.manifest.name, p.manifest.version, { manifest: p.manifest, tarball: () => bytes, integrity: sri(bytes) })
  }

  let base = ""
  const server: Server = createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? "/").split("?")[0]!.slice(1))
    const tgz = /^(.+)\/-\/[^/]+-(\d[^/]*)\.tgz$/.exec(url)
    if (tgz) {
      const served = packages.get(tgz[1]!)?.get(tgz[2]!)
      let bytes: Buffer | undefined
      try {
        bytes = served?.tarball()
      } catch {
        bytes = undefined
      }
      if (bytes === undefined) return void res.writeHead(404).end()
      return void res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length }).end(bytes)
    }
    const versions = packages.get(url)
    if (versions === undefined) return void res.writeHead(404, { "content-type": "application/json" }).end("{\"error\":\"not found\"}")
    const list = [...versions.keys()]
    const latest = list.filter((v) => !v.includes("-")).sort((a, b) => compare(b, a))[0] ?? list[0]!
    const body = JSON.stringify({
      name: url,
      "dist-tags": { latest },
      versions: Object.fromEntries([...versions].map(([version, served]) => [version, {
        ...served.manifest,
        dist: { tarball: `${base}${url}/-/${url.split("/").pop()}-${version}.tgz`, integrity: served.integrity }
      }]))
    })
    res.writeHead(200, { "content-type": "application/json" }).end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  return {
    url: base,
    packedFromDisk,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** Semver order of plain `x.y.z` versions (enough to pick `latest`). */
const compare = (a: string, b: string): number => {
  const pa = a.split(".").map(Number)
  const pb = b.split(".").map(Number)
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0)
  return 0
}
