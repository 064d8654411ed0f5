/**
 * The packages a folder can use, found where Node itself finds them: the `package.json`
 * and `node_modules` of the folder and of every folder above it (so a graph folder with
 * its own `package.json`, or a workspace whose packages are hoisted to its root, sees the
 * same packages an `import` from there would). Node kinds (`"stargraph": {"nodes"}`) and
 * trigger plugins (`"stargraph": {"triggers"}`) are declared in these manifests.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"

/** A package found from a folder, with its manifest's `stargraph` section. */
export interface InstalledPackage {
  /** Its `name`, or its folder when the manifest has none (a project's own). */
  readonly name: string
  readonly dir: string
  /** The manifest's `"stargraph"` section (`{}` when absent). */
  readonly stargraph: { readonly [section: string]: unknown }
}

/** Every folder at or above `dir` with a `package.json` or a `node_modules`, nearest first. */
const packageFolders = (dir: string): ReadonlyArray<string> => {
  const folders: Array<string> = []
  for (let current = resolve(dir); ; current = dirname(current)) {
    if (existsSync(join(current, "package.json")) || existsSync(join(current, "node_modules"))) folders.push(current)
    if (dirname(current) === current) return folders
  }
}

const manifestOf = (dir: string): { readonly name?: unknown; readonly stargraph?: unknown } | undefined => {
  const manifest = join(dir, "package.json")
  if (!existsSync(manifest)) return undefined
  try {
    const parsed: unknown = JSON.parse(readFileSync(manifest, "utf8"))
    return parsed !== null && typeof parsed === "object" ? parsed : undefined
  } catch {
    return undefined
  }
}

/**
 * The packages `dir` can use, nearest first: the projects at and above it, then the
 * packages in their `node_modules` (scoped ones too). A package reached twice (a nested
 * copy, a workspace link) counts once, where Node would find it first.
 */
export const installedPackages = (dir: string): ReadonlyArray<InstalledPackage> => {
  const dirs: Array<string> = []
  for (const folder of packageFolders(dir)) {
    dirs.push(folder)
    const modules = join(folder, "node_modules")
    if (!existsSync(modules)) continue
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith(".")) continue
      if (entry.startsWith("@")) for (const sub of readdirSync(join(modules, entry))) dirs.push(join(modules, entry, sub))
      else dirs.push(join(modules, entry))
    }
  }
  const found: Array<InstalledPackage> = []
  const seen = new Set<string>()
  for (const pkgDir of dirs) {
    const manifest = manifestOf(pkgDir)
    if (manifest === undefined) continue
    const name = typeof manifest.name === "string" ? manifest.name : pkgDir
    if (seen.has(name)) continue
    seen.add(name)
    const stargraph = manifest.stargraph !== null && typeof manifest.stargraph === "object" ? manifest.stargraph as { readonly [section: string]: unknown } : {}
    found.push({ name, dir: pkgDir, stargraph })
  }
  return found
}
