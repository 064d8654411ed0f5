/**
 * The original Stargraph's bundles that ship with this package (`examples/bundles/`,
 * listed in package.json `files`): their names, the folder they are in, and copying one
 * into a new folder for `stargraph new`. The folder is found from this module's own file
 * (the CLI bundle `dist/cli/stargraph.cjs`, or `src/cli/` when run from source): the
 * nearest folder above it with a `package.json` is the package root.
 */
import { copyFileSync, existsSync, lstatSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import { InputError } from "../errors.js"
import { closestName } from "../ir/didYouMean.js"
import { RESEARCH_BOT } from "./researchBot.js"

/** A shipped bundle: the original's hyphenated name, its folder under `examples/bundles/`, and the files `new` copies. */
export interface Bundle {
  readonly name: string
  readonly folder: string
  readonly files: ReadonlyArray<string>
}

/** The files of a bundle folder that `stargraph new` copies (besides a bundle's own extras). */
export const BUNDLE_FILES: ReadonlyArray<string> = ["graph.yaml", "state.ts", "README.md"]

/** The bundles that ship (all of the original's), in the original's order of its docs (alphabetical). */
export const BUNDLES: ReadonlyArray<Bundle> = [
  { name: "coding-agent", folder: "coding_agent", files: BUNDLE_FILES },
  { name: "deep-research", folder: "deep_research", files: BUNDLE_FILES },
  { name: "evaluator-optimizer", folder: "evaluator_optimizer", files: BUNDLE_FILES },
  { name: "hitl-approval", folder: "hitl_approval", files: BUNDLE_FILES },
  { name: "orchestrator-workers", folder: "orchestrator_workers", files: BUNDLE_FILES },
  // Its knowledge base and the script that writes it come along.
  { name: "rag-qa", folder: "rag_qa", files: [...BUNDLE_FILES, "kb.db", "build-kb.ts"] },
  { name: "triage-router", folder: "triage_router", files: BUNDLE_FILES }
]

const names = (): string => BUNDLES.map((b) => b.name).join(", ")

/** `name` with `_` as `-` (so the folder names are accepted too). */
const hyphenated = (name: string): string => name.replace(/_/g, "-")

/** The shipped bundle called `name` (its hyphenated name or its folder name), or the InputError saying what ships. */
export const bundleNamed = (name: string): Effect.Effect<Bundle, InputError> => {
  const wanted = hyphenated(name)
  const found = BUNDLES.find((b) => b.name === wanted)
  if (found !== undefined) return Effect.succeed(found)
  const close = closestName(wanted, [RESEARCH_BOT, ...BUNDLES.map((b) => b.name)])
  return Effect.fail(
    new InputError({
      field: "name",
      message: `unknown bundle '${name}'${close === undefined ? "" : ` (did you mean '${close}'?)`}`,
      fix: `use one of: ${RESEARCH_BOT} (the authoring template), ${names()}`
    })
  )
}

/** The package root: the nearest folder above this module's file holding a `package.json`. */
const packageRoot = (): string | undefined => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/** The folder of a shipped bundle in this install. */
export const bundleFolder = (bundle: Bundle): Effect.Effect<string, InputError> => {
  const root = packageRoot()
  const folder = root === undefined ? undefined : join(root, "examples", "bundles", bundle.folder)
  return folder !== undefined && bundle.files.every((f) => existsSync(join(folder, f)))
    ? Effect.succeed(folder)
    : Effect.fail(
      new InputError({
        field: "name",
        message: `the bundle '${bundle.name}' is missing from this install (looked in ${folder ?? "no package root"})`,
        fix: "reinstall stargraph: its package ships examples/bundles/"
      })
    )
}

/** Whether anything (a file, a folder, a dangling link) is at `path`. */
const occupied = (path: string): boolean => {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

/**
 * Copy `bundle`'s files from `from` into the new folder `target` (its parents created
 * as needed). Anything already at `target` is refused and left untouched; a copy that
 * fails half-way removes the folder it created. `field` is what the error names: `--dir`, or `name`.
 */
export const copyBundle = (bundle: Bundle, from: string, target: string, field: string): Effect.Effect<ReadonlyArray<string>, InputError> =>
  Effect.gen(function*() {
    const refused = (message: string, fix: string) => new InputError({ field, message, fix })
    if (occupied(target)) {
      return yield* Effect.fail(refused(`${target} already exists; nothing was written`, "choose a new folder with --dir <path>, or move the existing one away"))
    }
    return yield* Effect.try({
      try: () => {
        mkdirSync(dirname(resolve(target)), { recursive: true })
        mkdirSync(target) // fails if something appeared there meanwhile: never overwrite
        try {
          return bundle.files.map((file) => {
            copyFileSync(join(from, file), join(target, file))
            return join(target, file)
          })
        } catch (e) {
          rmSync(target, { recursive: true, force: true })
          throw e
        }
      },
      catch: (e) => refused(`could not write ${target}: ${e instanceof Error ? e.message : String(e)}`, "choose a folder you can write with --dir <path>")
    })
  })

/**
 * Write `text` to the new file `target` (its parents created as needed): anything already
 * there is refused and left untouched (the file is created exclusively). `field` is what
 * the error names.
 */
export const writeNew = (target: string, text: string, field: string): Effect.Effect<void, InputError> =>
  Effect.try({
    try: () => {
      mkdirSync(dirname(resolve(target)), { recursive: true })
      writeFileSync(target, text, { flag: "wx" })
    },
    catch: (e) =>
      new InputError({
        field,
        ...(e !== null && typeof e === "object" && "code" in e && e.code === "EEXIST"
          ? { message: `${target} already exists; nothing was written`, fix: "choose a new file with --dir <path>, or move the existing one away" }
          : { message: `could not write ${target}: ${e instanceof Error ? e.message : String(e)}`, fix: "choose a file you can write with --dir <path>" })
      })
  })
