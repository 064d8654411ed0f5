/**
 * The graphs a scheduler or server can run, keyed by IR `id`. Build it from Graph
 * values, or load every graph YAML under some paths (files with `ir_version`, or in the
 * authoring format; others, such as `stargraph.yaml`, are skipped; a broken graph file is
 * a loud error).
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { basename, extname, join, relative, resolve, sep } from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { IRValidationError, SchedulerError } from "../errors.js"
import * as Graph from "../graph/Graph.js"
import { listSome } from "../ir/limits.js"
import { isGraphText } from "../ir/parse.js"

/** Lookup of runnable graphs. */
export interface GraphRegistryShape {
  /** The graph with this IR id, or `SchedulerError{reason:"unknown-graph"}` listing the known ids. */
  readonly get: (graphId: string) => Effect.Effect<Graph.Graph, SchedulerError>
  /** Every graph, by id. */
  readonly list: () => ReadonlyArray<Graph.Graph>
  /**
   * Where a graph came from, as a client may be told it: its file's path relative to the
   * folder it was found under (`approval/graph.yaml`), or its file's name when it was
   * given as a file; null for a graph built in code. Never the server's absolute path.
   */
  readonly shownSource: (graph: Graph.Graph) => string | null
}

/** The GraphRegistry service tag. */
export class GraphRegistry extends Context.Tag("stargraph/GraphRegistry")<GraphRegistry, GraphRegistryShape>() {}

/**
 * A registry over the given graphs; two graphs with one id are refused. `shown` gives, by
 * graph file (resolved), how `shownSource` names it (by default: the file's name). A graph
 * whose nodes need services (`Graph<R>`, from `Graph.make` with Effect modules) is taken
 * too: its runs are driven by the scheduler or server, so those services must be in the
 * Layer that builds them (a missing one fails the node with a `NodeExecutionError`
 * naming it).
 */
export const make = (graphs: Iterable<Graph.Graph<unknown>>, shown: ReadonlyMap<string, string> = new Map()): Effect.Effect<GraphRegistryShape, SchedulerError> =>
  Effect.gen(function*() {
    const byId = new Map<string, Graph.Graph>()
    for (const given of graphs) {
      // What its nodes need is checked where they run (see above), not by this type.
      const graph = given as Graph.Graph
      const other = byId.get(graph.id)
      if (other) {
        return yield* new SchedulerError({
          reason: "duplicate-graph",
          graphId: graph.id,
          message: `two graphs have the id '${graph.id}' (${other.source ?? "in code"} and ${graph.source ?? "in code"})`,
          fix: "give every graph a unique `id`"
        })
      }
      byId.set(graph.id, graph)
    }
    const ids = () => listSome([...byId.keys()].sort()) || "none"
    return {
      get: (graphId) => {
        const graph = byId.get(graphId)
        return graph ? Effect.succeed(graph) : Effect.fail(
          new SchedulerError({
            reason: "unknown-graph",
            graphId,
            message: `no graph with id '${graphId}' is registered`,
            fix: `use one of: ${ids()}`
          })
        )
      },
      list: () => [...byId.values()],
      shownSource: (graph) => (graph.source === undefined ? null : shown.get(resolve(graph.source)) ?? basename(graph.source))
    }
  })

/** Folders a search for graphs skips: installed packages and build output (hidden folders too). */
const SKIPPED_FOLDERS = new Set(["node_modules", "dist"])

/**
 * Graph YAML files under `path` (a file, or a folder searched recursively, skipping
 * hidden folders, `node_modules` and `dist`).
 */
export const findGraphFiles = (path: string): Array<string> => {
  const stat = statSync(path)
  if (!stat.isDirectory()) return [path]
  const found: Array<string> = []
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith(".") || SKIPPED_FOLDERS.has(entry.name)) continue
    const full = join(path, entry.name)
    if (entry.isDirectory()) found.push(...findGraphFiles(full))
    else if ((extname(entry.name) === ".yaml" || extname(entry.name) === ".yml") && isGraphText(readFileSync(full, "utf8"))) {
      found.push(full)
    }
  }
  return found
}

/** Load every graph under `paths` (files or folders), each with `options` (e.g. `moduleRoots`). */
export const load = (
  paths: ReadonlyArray<string>,
  options: Graph.LoadOptions = {}
): Effect.Effect<GraphRegistryShape, SchedulerError | Graph.GraphError> =>
  Effect.gen(function*() {
    const found = yield* Effect.forEach(paths, (path) =>
      Effect.try({
        try: () => findGraphFiles(path),
        catch: (cause) =>
          new IRValidationError({
            file: path,
            path: "",
            message: `cannot read graphs at ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
            fix: "pass existing graph files or folders"
          })
      }))
    // A file named twice (directly and through its folder) is one graph, shown as first found.
    const shown = new Map<string, string>()
    found.forEach((files, i) => {
      const root = resolve(paths[i]!)
      for (const file of files) {
        const full = resolve(file)
        if (!shown.has(full)) shown.set(full, full === root ? basename(full) : relative(root, full).split(sep).join("/"))
      }
    })
    const graphs = yield* Effect.forEach([...shown.keys()], (file) => Graph.load(file, options))
    return yield* make(graphs, shown)
  })

/** A registry Layer over the given graphs (see {@link make}). */
export const layer = (graphs: Iterable<Graph.Graph<unknown>>): Layer.Layer<GraphRegistry, SchedulerError> =>
  Layer.effect(GraphRegistry, make(graphs))

/** A registry Layer loading every graph under `paths`. */
export const layerFromPaths = (
  paths: ReadonlyArray<string>,
  options: Graph.LoadOptions = {}
): Layer.Layer<GraphRegistry, SchedulerError | Graph.GraphError> => Layer.effect(GraphRegistry, load(paths, options))
