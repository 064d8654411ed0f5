/**
 * A node kind in one value: its config Schema, its checks against the state schema, the
 * modules it loads, its compile step (to an {@link Executor}) and its stop semantics.
 * Built-in kinds (`src/nodes/kinds/`) and third-party kinds are made the same way, with
 * {@link make}; the registry (`kinds/index.ts`), the IR validator, the docs table and the
 * run loop only ever see this interface.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import type { GraphError, IRValidationError, NodeModuleError } from "../errors.js"
import { nodeCommon } from "../ir/schema.js"
import type { FieldInfo } from "../ir/stateSchema.js"
import type { ChildGraph } from "./ChildGraph.js"
import type { Executor, InterruptRequest } from "./Executor.js"
import type { ExportNaming } from "./loader.js"

/** A module export a node needs, resolved beside the graph and folded into its hash. */
export interface ModuleRef {
  readonly module: string
  readonly exportName: string
}

/** A problem with a node's config, located under the node (`path` is relative to it). */
export interface NodeProblem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
  readonly fix: string
}

/** What a kind's `check` sees: the graph's declared state fields. */
export interface CheckContext {
  readonly fields: ReadonlyMap<string, FieldInfo>
  /** The graph's node ids. */
  readonly nodes: ReadonlySet<string>
  /** The declared field names, listed for a fix message. */
  readonly declared: string
}

/** What a kind's `compile` sees. */
export interface CompileContext extends CheckContext {
  readonly graphId: string
  /** The graph file, when the graph came from one. */
  readonly file: string | undefined
  /** The folder relative paths in the node's config are resolved against. */
  readonly baseDir: string
  /** An export of one of the modules the node listed in `modules` (already loaded). */
  readonly exported: (ref: ModuleRef, naming?: ExportNaming) => Effect.Effect<unknown, NodeModuleError>
  /** An IR error located at `path` under this node. */
  readonly invalid: (path: ReadonlyArray<PropertyKey>, message: string, fix: string) => IRValidationError
  /**
   * Load (once) the child graph at `path`, relative to the graph's folder, with an
   * optional step limit (the `subgraph` kind); `at` locates `path` under the node.
   */
  readonly subgraph: (path: string, options: { readonly at: ReadonlyArray<PropertyKey>; readonly maxSteps?: number | undefined }) => Effect.Effect<ChildGraph, GraphError>
}

/** A node ready to run. */
export interface CompiledNode {
  readonly execute: Executor
  /** The node waits for input before it runs (an `interrupt` node): what it asks. */
  readonly waitsForInput?: InterruptRequest | undefined
  /** When no rule routes away from this node, the run stops here, with this reason (a `halt` node). */
  readonly halts?: string | undefined
  /** Content folded into the graph hash beside the IR (a child graph's hash, a model file's digest). */
  readonly hashes?: { readonly [key: string]: string } | undefined
  /** The child graph a `subgraph` node runs (what cancelling a parent needs to find its child runs' own children). */
  readonly childGraph?: ChildGraph | undefined
  /**
   * A language-model node that names no `model` and is not a stub: its live calls need the
   * run-wide default model or an app's `LanguageModel` (checked before a run starts, see
   * `nodes/lm/modelCheck.ts`). Not part of the graph hash.
   */
  readonly needsModel?: boolean | undefined
}

/** How a kind can stop a run, for the docs and tools. */
export type StopSemantics = "never" | "waits-for-input" | "may-ask-for-input" | "halts"

/** A node of some kind, decoded from the IR. */
export interface DecodedNode {
  readonly id: string
  readonly kind: string
  /** The modules to load before `compile`. */
  readonly modules: ReadonlyArray<ModuleRef>
  readonly check: (ctx: CheckContext) => NodeProblem | undefined
  readonly compile: (ctx: CompileContext) => Effect.Effect<CompiledNode, GraphError>
}

/** A registered node kind. */
export interface NodeKind {
  readonly _tag: "NodeKind"
  /** The name written in the IR (`kind: set`). */
  readonly name: string
  /** One line for the docs table and `--help`. */
  readonly summary: string
  /** The node's own fields (beside `id`, `kind` and `description`). */
  readonly fieldNames: ReadonlyArray<string>
  readonly stops: StopSemantics
  /** Decode a node of this kind (unknown fields are errors). */
  readonly decode: (node: unknown) => Either.Either<DecodedNode, ParseResult.ParseError>
}

/** A decoded node of a kind whose own fields are `F`. */
export type NodeOf<F extends Schema.Struct.Fields> = {
  readonly id: string
  readonly kind: string
  readonly description?: string | undefined
} & Schema.Struct.Type<F>

/** The definition {@link make} turns into a {@link NodeKind}. */
export interface KindDefinition<F extends Schema.Struct.Fields> {
  readonly name: string
  readonly summary: string
  /** The node's own fields; unknown fields are refused. */
  readonly fields: F
  readonly stops?: StopSemantics | undefined
  /** Modules the node loads (default none). */
  readonly modules?: (node: NodeOf<F>) => ReadonlyArray<ModuleRef>
  /** Checks against the declared state fields (default none). */
  readonly check?: (node: NodeOf<F>, ctx: CheckContext) => NodeProblem | undefined
  /** Build the node's executor. */
  readonly compile: (node: NodeOf<F>, ctx: CompileContext) => Effect.Effect<CompiledNode, GraphError>
}

/** `a`, `b?`, `config.x`, …: a struct's fields, one level into nested structs (for the docs). */
const fieldNames = (schema: SchemaAST.AST, prefix = ""): ReadonlyArray<string> => {
  // A struct with an `optionalWith` field is a transformation: its fields as written.
  const ast = schema._tag === "Transformation" ? schema.from : schema
  if (ast._tag !== "TypeLiteral") return []
  return ast.propertySignatures.flatMap((p) => {
    const name = `${prefix}${String(p.name)}`
    const inner = p.type._tag === "Union" ? p.type.types.find((t) => t._tag === "TypeLiteral" || t._tag === "Transformation") : p.type
    const nested = prefix === "" && inner !== undefined ? fieldNames(inner, `${name}.`) : []
    return nested.length > 0 ? nested.map((n) => (p.isOptional && !n.startsWith(`${name}?`) ? n.replace(`${name}.`, `${name}?.`) : n)) : [`${name}${p.isOptional ? "?" : ""}`]
  })
}

/** Node kind names: a letter, then letters, digits, `_` or `-`. */
export const KIND_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/

/** Make a node kind from its definition. */
export const make = <F extends Schema.Struct.Fields>(definition: KindDefinition<F>): NodeKind => {
  const schema = Schema.Struct({ ...nodeCommon, kind: Schema.String, ...definition.fields }) as unknown as Schema.Schema<NodeOf<F>, unknown>
  const decode = Schema.decodeUnknownEither(schema, { onExcessProperty: "error", errors: "all" })
  const noModules: ReadonlyArray<ModuleRef> = []
  return {
    _tag: "NodeKind",
    name: definition.name,
    summary: definition.summary,
    fieldNames: fieldNames(Schema.Struct(definition.fields).ast),
    stops: definition.stops ?? "never",
    decode: (raw) =>
      Either.map(decode(raw), (node): DecodedNode => ({
        id: node.id,
        kind: node.kind,
        modules: definition.modules?.(node) ?? noModules,
        check: (ctx) => definition.check?.(node, ctx),
        compile: (ctx) =>
          typeof definition.compile === "function"
            ? definition.compile(node, ctx)
            : Effect.fail(ctx.invalid(["kind"], `node kind '${definition.name}' has no compile function`, "give NodeKind.make a compile: (node, ctx) => Effect.succeed({ execute })"))
      }))
  }
}

/** Whether a value is a {@link NodeKind} (made with {@link make}). */
export const isNodeKind = (value: unknown): value is NodeKind =>
  value !== null && typeof value === "object" && (value as { readonly _tag?: unknown })._tag === "NodeKind" &&
  typeof (value as { readonly decode?: unknown }).decode === "function"
