/**
 * The tools a `tool` node can name by id: the built-in `std.*` tools by default, plus the
 * ones an app adds with {@link layer} where it builds its graphs. A graph names a tool
 * `ns.name@version`; without `@version` it gets the highest version registered, resolved
 * when the graph is built and folded into its hash (so a newer version registered later
 * changes the hash, and a run is never resumed on another tool version).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { StargraphRuntimeError } from "../../errors.js"
import { listSome } from "../../ir/limits.js"
import { notShipped, stdTools } from "./std/index.js"
import { compareVersions, parseRef, problemOf, type Tool } from "./Tool.js"

/** Why a tool reference did not resolve, and what to write instead. */
export interface UnknownTool {
  readonly message: string
  readonly fix: string
}

/** A set of tools, by `id@version`. */
export interface ToolRegistryShape {
  /** Every tool, ordered by id then version. */
  readonly tools: ReadonlyArray<Tool>
  /** The tool `ns.name@version` or `ns.name` (its highest version). */
  readonly resolve: (ref: string) => Either.Either<Tool, UnknownTool>
}

const byKey = (a: Tool, b: Tool) => (a.id === b.id ? compareVersions(a.version, b.version) : a.id < b.id ? -1 : 1)

/** A registry of `tools`; an invalid id or version, or two tools with one `id@version`, is refused. */
export const make = (tools: Iterable<Tool>): Either.Either<ToolRegistryShape, StargraphRuntimeError> => {
  const keyed = new Map<string, Tool>()
  for (const tool of tools) {
    const problem = problemOf(tool)
    if (problem !== undefined) return Either.left(new StargraphRuntimeError({ message: `cannot register a tool: ${problem}` }))
    const known = keyed.get(tool.key)
    if (known !== undefined && known !== tool) {
      return Either.left(new StargraphRuntimeError({ message: `two tools are registered as ${tool.key}; give the new one another version (or another id)` }))
    }
    keyed.set(tool.key, tool)
  }
  const sorted = [...keyed.values()].sort(byKey)
  const resolve = (ref: string): Either.Either<Tool, UnknownTool> => {
    const { id, version } = parseRef(ref)
    const versions = sorted.filter((t) => t.id === id)
    const found = version === undefined ? versions[versions.length - 1] : keyed.get(`${id}@${version}`)
    if (found !== undefined) return Either.right(found)
    const registered = listSome(sorted.map((t) => t.key), 40)
    if (versions.length > 0) return Either.left({ message: `tool '${id}' has no version '${version}'`, fix: `use one of: ${versions.map((t) => t.key).join(", ")}` })
    if (notShipped.includes(id)) {
      const name = id.slice(id.indexOf(".") + 1).replace(/_(.)/g, (_, c: string) => c.toUpperCase())
      return Either.left({
        message: `unknown tool '${ref}': the original's ${id} is not shipped here`,
        fix: `register your own tool under that id: Tool.make({ id: "${id}", version: "${version ?? "1"}", … }) added with ToolRegistry.layer where the app builds its graphs, or exported from a module beside the graph and named there (tool: "./tools.ts:${name}"); or use a registered tool: ${registered}`
      })
    }
    return Either.left({ message: `unknown tool '${ref}'`, fix: `use a registered tool: ${registered}; or a tool exported by a module beside the graph (tool: "./tools.ts:myTool"), or one added with ToolRegistry.layer` })
  }
  return Either.right({ tools: sorted, resolve })
}

/** The tools `tool` nodes can name by id (default: the `std.*` tools). */
export class ToolRegistry extends Context.Reference<ToolRegistry>()("stargraph/ToolRegistry", {
  defaultValue: (): ToolRegistryShape => Either.getOrThrow(make(stdTools))
}) {}

/**
 * A Layer adding `tools` to the registry already provided (the `std.*` tools by
 * default). Provide it where graphs are built (`Graph.load`, `Graph.make`); it fails
 * with `StargraphRuntimeError` when a tool's id or version is invalid or its
 * `id@version` is already taken.
 */
export const layer = (...tools: ReadonlyArray<Tool>): Layer.Layer<ToolRegistry, StargraphRuntimeError> =>
  Layer.effect(ToolRegistry, Effect.flatMap(ToolRegistry, (current) => make([...current.tools, ...tools])))
