/**
 * Effect Schema models of the YAML graph IR. Decoding uses `onExcessProperty: "error"`
 * (the spec's `extra='forbid'`): an unknown field anywhere is a validation error.
 */
import * as Schema from "effect/Schema"
import { CheckpointBlock, PackMount, ParallelBlock, RuleSpec } from "./rules.js"

/** Reserved edge target that ends a branch of the run. */
export const END = "__end__"

/** How a field's new value combines with its old value when a node writes it. */
export const Reducer = Schema.Literal("replace", "append", "add", "merge", "messages")
/** How a field's new value combines with its old value when a node writes it. */
export type Reducer = typeof Reducer.Type

/** Scalar and container types a state field may declare. `set` is refused (determinism rule). */
export const FieldType = Schema.Literal("string", "integer", "number", "boolean", "object", "array", "any")
/** Scalar and container types a state field may declare. */
export type FieldType = typeof FieldType.Type

/** One declared state field (or array item / object property). */
export interface FieldSpec {
  readonly type: FieldType
  readonly items?: FieldSpec | undefined
  readonly properties?: { readonly [key: string]: FieldSpec } | undefined
  readonly default?: unknown
  readonly reducer?: Reducer | undefined
  readonly nullable?: boolean | undefined
  readonly required?: boolean | undefined
  readonly enum?: ReadonlyArray<string | number | boolean> | undefined
  readonly description?: string | undefined
  /** Mirror the field into the rule engine as a fact (default: true for scalar fields). */
  readonly mirror?: boolean | undefined
}

/** Schema of {@link FieldSpec}. */
export const FieldSpec: Schema.Schema<FieldSpec> = Schema.Struct({
  type: FieldType,
  items: Schema.optional(Schema.suspend((): Schema.Schema<FieldSpec> => FieldSpec)),
  properties: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.suspend((): Schema.Schema<FieldSpec> => FieldSpec) })
  ),
  default: Schema.optional(Schema.Unknown),
  reducer: Schema.optional(Reducer),
  nullable: Schema.optional(Schema.Boolean),
  required: Schema.optional(Schema.Boolean),
  enum: Schema.optional(Schema.Array(Schema.Union(Schema.String, Schema.Number, Schema.Boolean))),
  description: Schema.optional(Schema.String),
  mirror: Schema.optional(Schema.Boolean)
})

/** State schema declared inline in the YAML. */
export const InlineStateSchema = Schema.Struct({
  fields: Schema.Record({ key: Schema.String, value: FieldSpec })
})

/** State schema exported as an Effect Schema (a `Schema.Struct`) from a module beside the YAML. */
export const ModuleStateSchema = Schema.Struct({
  module: Schema.String,
  export: Schema.String,
  /** Per-field reducers for module schemas (default `replace`). */
  reducers: Schema.optional(Schema.Record({ key: Schema.String, value: Reducer }))
})

/** Type names of the original Stargraph's flat `state_schema` (`{message: str}`). */
export const FlatType = Schema.Literal("str", "int", "float", "bool", "bytes", "list", "dict")
/** Type names of a flat state schema. */
export type FlatType = typeof FlatType.Type

/** One field of a flat state schema: a type name, or the type with options. */
export const FlatField = Schema.Union(
  FlatType,
  Schema.Struct({
    type: FlatType,
    default: Schema.optional(Schema.Unknown),
    reducer: Schema.optional(Reducer),
    /** Mirror the field into the rule engine (default: true for str, int, float, bool). */
    mirror: Schema.optional(Schema.Boolean),
    description: Schema.optional(Schema.String)
  })
)
/** One field of a flat state schema. */
export type FlatField = typeof FlatField.Type

/**
 * The original Stargraph's flat state schema: field name → type name. Fields without a
 * default are required (as in the original).
 */
export const FlatStateSchema = Schema.Record({ key: Schema.String, value: FlatField })

/** Either form of state schema. */
export const StateSchemaSpec = Schema.Union(InlineStateSchema, ModuleStateSchema, FlatStateSchema)
/** Either form of state schema. */
export type StateSchemaSpec = typeof StateSchemaSpec.Type

/** Retry policy for a node. */
export const RetryPolicy = Schema.Struct({
  max_attempts: Schema.Int.pipe(Schema.between(1, 100)),
  backoff_ms: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
})

/** The fields every node has, whatever its kind. */
export const nodeCommon = {
  id: Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_.:-]*$/, {
    message: () => "node id must start with a letter or '_' and contain only letters, digits, '_', '.', ':' or '-'"
  })),
  description: Schema.optional(Schema.String)
}

/**
 * A node as the IR declares it: an id, a kind (a registered kind's name, or a module
 * reference `./my-node.ts:MyNode`) and the kind's own fields. The kind decodes and
 * checks its fields when the graph is built (see `src/nodes/kinds/`).
 */
export const NodeSpec = Schema.Struct(
  { ...nodeCommon, kind: Schema.String.pipe(Schema.minLength(1, { message: () => "kind must not be empty" })) },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)
/** A node as the IR declares it. */
export type NodeSpec = typeof NodeSpec.Type

/** Comparison operators of a declarative condition. */
export const ConditionOp = Schema.Literal("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists", "truthy", "falsy")

/** A declarative test on the state: `{field: count, op: gte, value: 3}`. */
export const Condition = Schema.Struct({
  field: Schema.String,
  op: ConditionOp,
  value: Schema.optional(Schema.Unknown)
})
/** A declarative test on the state. */
export type Condition = typeof Condition.Type

/** Unconditional edge(s). A list `from` is a join: `to` runs once all sources have completed. */
export const StaticEdge = Schema.Struct({
  from: Schema.Union(Schema.String, Schema.NonEmptyArray(Schema.String)),
  to: Schema.Union(Schema.String, Schema.NonEmptyArray(Schema.String))
})

/** Conditional edge: the first matching case wins; `default` (or the end of the branch) otherwise. */
export const ConditionalEdge = Schema.Struct({
  from: Schema.String,
  cases: Schema.NonEmptyArray(Schema.Struct({ when: Condition, to: Schema.String })),
  default: Schema.optional(Schema.String)
})

/** Conditional edge decided by a router function `(state) => target | target[]` from a module. */
export const RouterEdge = Schema.Struct({
  from: Schema.String,
  router: Schema.Struct({ module: Schema.String, export: Schema.String, version: Schema.optional(Schema.String) }),
  /** Every target the router may return (END allowed). */
  targets: Schema.NonEmptyArray(Schema.String)
})

/** Any edge. */
export const EdgeSpec = Schema.Union(StaticEdge, ConditionalEdge, RouterEdge)
/** Any edge. */
export type EdgeSpec = typeof EdgeSpec.Type

/** The whole IR document. */
export const IRDocument = Schema.Struct({
  /** `1.x.y`: the original's 1.0 and 1.1 documents (a later minor's new fields are refused as unknown). */
  ir_version: Schema.String.pipe(Schema.pattern(/^1\.\d+\.\d+$/, {
    message: () => "ir_version must be a 1.x.y version (this runtime reads IR major version 1)"
  })),
  id: Schema.String.pipe(Schema.minLength(1)),
  description: Schema.optional(Schema.String),
  /** Inline fields, an exported Effect Schema, or the original's flat `{field: type}` map. */
  state_schema: Schema.optional(StateSchemaSpec),
  /**
   * `"./state.ts:HelloState"`: a module beside the graph exporting an Effect Schema
   * (`Schema.Struct`), instead of `state_schema`.
   */
  state_class: Schema.optional(Schema.String),
  nodes: Schema.NonEmptyArray(NodeSpec),
  edges: Schema.optionalWith(Schema.Array(EdgeSpec), { default: () => [] }),
  /** Routing rules over facts (see docs/fathom.md). */
  rules: Schema.optionalWith(Schema.Array(RuleSpec), { default: () => [] }),
  /** Declared fan-outs: reaching `targets[0]` runs every target, then `join`. */
  parallel: Schema.optionalWith(Schema.Array(ParallelBlock), { default: () => [] }),
  /** Governance rule packs mounted into the rule set. */
  governance: Schema.optionalWith(Schema.Array(PackMount), { default: () => [] }),
  checkpoints: Schema.optional(CheckpointBlock),
  /** First node; defaults to the first declared node. */
  entry: Schema.optional(Schema.String),
  /** Nodes after which the branch ends (must have no outgoing edges). */
  finish: Schema.optional(Schema.Array(Schema.String)),
  /** Guard against runaway loops (default 10,000 steps). */
  max_steps: Schema.optional(Schema.Int.pipe(Schema.positive()))
})
/** The whole IR document (decoded). */
export type IRDocument = typeof IRDocument.Type
/** The whole IR document as written (encoded). */
export type IRDocumentInput = typeof IRDocument.Encoded
