/**
 * Compiles the declared state schema (inline YAML fields, or an exported Effect Schema)
 * into one Effect Schema that validates run state after every step, plus per-field
 * reducer metadata and a JSON Schema rendering that is folded into the graph hash.
 */
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import { type FieldCheck, fieldCheck, initialStateOf } from "./fieldCheck.js"
import { type FieldSpec, type FieldType, FlatStateSchema, type FlatType, InlineStateSchema, ModuleStateSchema, type Reducer, type StateSchemaSpec } from "./schema.js"
import { firstIssue } from "./parseIssue.js"
import { didYouMean } from "./didYouMean.js"
import { listSome } from "./limits.js"

/** Run state: a JSON object keyed by declared field names. */
export type State = { readonly [field: string]: unknown }

/** The schema type every compiled state schema has (JSON in, JSON out). */
export type StateSchema = Schema.Schema<State, State>

/** What the run loop needs to know about one field. */
export interface FieldInfo {
  readonly name: string
  readonly reducer: Reducer
  /** Declared type when known (inline schemas); used for `--inputs` parsing and reducer checks. */
  readonly type: FieldType | undefined
  /**
   * Whether the field may be mirrored into the rule engine as a fact (scalar fields unless
   * opted out with `mirror: false`). It is mirrored when a rule matches its template, or
   * always when `mirrorAlways` (an explicit `mirror: true`).
   */
  readonly mirror: boolean
  readonly mirrorAlways?: boolean
  /**
   * The JSON type of the values of a module schema's scalar field, when its Schema shows one
   * (inline fields have `type`); the rule compiler checks mirrored literals against it.
   */
  readonly valueType?: "string" | "number" | "boolean" | undefined
  /** The values an inline field's `enum` allows, when it declares one. */
  readonly enum?: ReadonlyArray<string | number | boolean> | undefined
  /** An inline field's declaration, for what a list element or object key inside it takes. */
  readonly spec?: FieldSpec | undefined
}

/** The compiled state schema. */
export interface CompiledStateSchema {
  readonly schema: StateSchema
  readonly fields: ReadonlyMap<string, FieldInfo>
  /** JSON Schema of the state, folded into the graph hash. */
  readonly jsonSchema: unknown
  /**
   * Per-field schemas, when checking the fields a step wrote against them is the same as
   * validating the whole state (inline schemas, and exported structs without
   * transformations). Absent: the run loop validates the whole state after every step.
   */
  readonly fieldSchemas?: ReadonlyMap<string, Schema.Schema.Any>
  /** The decoded state is already its encoded (JSON) form (inline schemas): no encode needed. */
  readonly decodedIsJson?: boolean
  /**
   * Plain checks of each field (inline schemas), tried before `fieldSchemas`: a value they
   * pass needs no Schema decode (see `fieldCheck.ts`).
   */
  readonly fieldChecks?: ReadonlyMap<string, FieldCheck>
  /** The initial state from valid inputs without a Schema decode (inline schemas); undefined: decode them. */
  readonly initialState?: (inputs: State) => State | undefined
}

/** A field-level problem found while compiling; the caller turns it into an IR error. */
export interface CompileProblem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
  readonly fix: string
}

/** Field types mirrored into the rule engine by default. */
const SCALAR_TYPES: ReadonlySet<FieldType> = new Set(["string", "integer", "number", "boolean"])

/**
 * Annotation that opts a field of an exported state Schema in or out of mirroring:
 * `Schema.String.annotations({ [MirrorAnnotationId]: false })`.
 */
export const MirrorAnnotationId: unique symbol = Symbol.for("stargraph/mirror")

/** The one JSON scalar type a field's values have, when its Schema shows it (nullable aside). */
const valueTypeOf = (ast: AST.AST): FieldInfo["valueType"] => {
  const type = AST.typeAST(ast)
  switch (type._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return "string"
    case "NumberKeyword":
      return "number"
    case "BooleanKeyword":
      return "boolean"
    case "Literal": {
      const t = typeof type.literal
      return t === "string" || t === "number" || t === "boolean" ? t : undefined
    }
    case "Refinement":
      return valueTypeOf(type.from)
    case "Union": {
      const types = new Set(type.types.filter((t) => t._tag !== "UndefinedKeyword" && !(t._tag === "Literal" && t.literal === null)).map(valueTypeOf))
      return types.size === 1 ? [...types][0] : undefined
    }
    default:
      return undefined
  }
}

/**
 * The values a field of an exported Schema allows when it is a set of literals
 * (`Schema.Literal("low", "high")`, nullable aside): its `enum`, for the load-time checks
 * of conditions and rules. Undefined for anything else.
 */
const literalsOf = (ast: AST.AST): FieldInfo["enum"] => {
  const type = AST.typeAST(ast)
  const members = type._tag === "Union" ? type.types : [type]
  const values: Array<string | number | boolean> = []
  for (const member of members) {
    if (member._tag === "UndefinedKeyword" || (member._tag === "Literal" && member.literal === null)) continue
    if (member._tag !== "Literal") return undefined
    const literal = member.literal
    if (typeof literal !== "string" && typeof literal !== "number" && typeof literal !== "boolean") return undefined
    values.push(literal)
  }
  return values.length > 0 ? values : undefined
}

/** Whether a field of an exported Schema is mirrored: its annotation, else true for scalars. */
const mirrorOf = (ast: AST.AST): boolean => {
  const annotated = ast.annotations[MirrorAnnotationId]
  if (typeof annotated === "boolean") return annotated
  const type = AST.typeAST(ast)
  switch (type._tag) {
    case "StringKeyword":
    case "NumberKeyword":
    case "BooleanKeyword":
    case "Literal":
    case "Enums":
    case "TemplateLiteral":
      return true
    case "Refinement":
      return mirrorOf(type.from)
    case "Union":
      return type.types.every((t) => t._tag === "Literal" || t._tag === "UndefinedKeyword" || mirrorOf(t))
    default:
      return false
  }
}

/** Where a graph's state schema comes from, once the IR is decoded. */
export type StateSchemaSource =
  | { readonly _tag: "inline"; readonly fields: { readonly [name: string]: FieldSpec } }
  | { readonly _tag: "module"; readonly module: string; readonly export: string; readonly reducers?: { readonly [name: string]: Reducer } | undefined; readonly path: ReadonlyArray<PropertyKey> }
  | { readonly _tag: "none" }

const FLAT_TYPES: Record<FlatType, FieldType> = {
  str: "string",
  int: "integer",
  float: "number",
  bool: "boolean",
  bytes: "string",
  list: "array",
  dict: "object"
}

const isInline = Schema.is(InlineStateSchema)
const isModule = Schema.is(ModuleStateSchema)
const isFlat = Schema.is(FlatStateSchema)

/**
 * Which state schema a graph declares: inline `fields`, an exported Schema (`module` +
 * `export`, or the original's `state_class: "./state.ts:HelloState"`), the original's
 * flat `{field: str}` map (fields without a default are required, as there), or none.
 */
export const stateSchemaSource = (
  stateSchema: StateSchemaSpec | undefined,
  stateClass: string | undefined
): Either.Either<StateSchemaSource, CompileProblem> => {
  if (stateClass !== undefined) {
    if (stateSchema !== undefined && !(isFlat(stateSchema) && Object.keys(stateSchema).length === 0)) {
      return Either.left({
        path: ["state_class"],
        message: "state_class and state_schema are both given",
        fix: "declare the state once: remove state_schema, or remove state_class"
      })
    }
    const match = /^(.+):([A-Za-z_$][\w$]*)$/.exec(stateClass)
    const module = match?.[1]
    if (module === undefined || !/^\.{0,2}\//.test(module) && !/\.(m|c)?[jt]sx?$/.test(module)) {
      return Either.left({
        path: ["state_class"],
        message: `state_class '${stateClass}' is a Python module:Class reference`,
        fix: "export an Effect Schema from a module beside the graph and name it with a path: state_class: \"./state.ts:HelloState\" (export const HelloState = Schema.Struct({ message: Schema.String }))"
      })
    }
    return Either.right({ _tag: "module", module, export: match![2]!, path: ["state_class"] })
  }
  if (stateSchema === undefined) return Either.right({ _tag: "none" })
  if (isInline(stateSchema)) return Either.right({ _tag: "inline", fields: stateSchema.fields })
  if (isModule(stateSchema)) {
    return Either.right({ _tag: "module", module: stateSchema.module, export: stateSchema.export, reducers: stateSchema.reducers, path: ["state_schema", "export"] })
  }
  const fields: Record<string, FieldSpec> = {}
  for (const [name, field] of Object.entries(stateSchema)) {
    const spec = typeof field === "string" ? { type: field } : field
    fields[name] = {
      type: FLAT_TYPES[spec.type],
      ...(spec.default !== undefined ? { default: spec.default } : { required: true }),
      ...(spec.reducer !== undefined ? { reducer: spec.reducer } : {}),
      ...(spec.mirror !== undefined ? { mirror: spec.mirror } : {}),
      ...(spec.description !== undefined ? { description: spec.description } : spec.type === "bytes" ? { description: "bytes, as base64 text" } : {})
    }
  }
  return Either.right({ _tag: "inline", fields })
}

/** The zero value of a field type (a new array or object each time); null for `any` or an unknown type. */
export const zeroOf = (type: FieldType | undefined): unknown => {
  switch (type) {
    case "string":
      return ""
    case "integer":
    case "number":
      return 0
    case "boolean":
      return false
    case "array":
      return []
    case "object":
      return {}
    default:
      return null
  }
}

/**
 * The zero values `stargraph run` gives the fields of the original's flat `state_schema`
 * that have no default, as the original's CLI does (`""`, `0`, `false`, `[]`, `{}`); none
 * for the other forms, whose fields without a default stay required.
 */
export const flatZeroInputs = (
  stateSchema: StateSchemaSpec | undefined,
  stateClass: string | undefined
): Record<string, unknown> => {
  const zeros: Record<string, unknown> = {}
  if (stateClass !== undefined || stateSchema === undefined || isInline(stateSchema) || isModule(stateSchema)) return zeros
  for (const [name, field] of Object.entries(stateSchema)) {
    const spec = typeof field === "string" ? { type: field, default: undefined } : field
    if (spec.default === undefined) zeros[name] = zeroOf(FLAT_TYPES[spec.type])
  }
  return zeros
}

const reducerTypes: Record<Reducer, ReadonlyArray<FieldType> | undefined> = {
  replace: undefined,
  append: ["array"],
  add: ["integer", "number"],
  merge: ["object"],
  messages: ["array"]
}

/** The reducers a field of `type` may have ('replace' last: every type takes it). */
const reducersFor = (type: FieldType): ReadonlyArray<Reducer> =>
  [...(Object.keys(reducerTypes) as Array<Reducer>).filter((r) => reducerTypes[r]?.includes(type) === true), "replace"]

/**
 * An `integer` field's values, saying so when refused: `Expected integer, actual "str"` for
 * a value that is no number (`Schema.Int` says `Expected number`), `Expected integer (a
 * whole number), actual 2.5` for a fraction. Its JSON Schema is `Schema.Int`'s (the same
 * `Int` definition), so graph hashes do not change.
 */
const IntegerField = Schema.Int.annotations({
  identifier: "Int",
  message: (issue) => ({
    message: issue._tag === "Refinement" && issue.kind === "Predicate"
      ? `Expected integer (a whole number), actual ${quoted(issue.actual)}`
      : `Expected integer, actual ${quoted(issue.actual)}`,
    override: true
  })
})

/** A refused value as a Schema issue quotes it (`"str"`, `2.5`, `null`). */
const quoted = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

const fieldSchema = (spec: FieldSpec): Schema.Schema.Any => {
  const base = ((): Schema.Schema.Any => {
    if (spec.enum && spec.enum.length > 0) return Schema.Literal(...spec.enum)
    switch (spec.type) {
      case "string":
        return Schema.String
      case "integer":
        return IntegerField
      case "number":
        return Schema.Finite
      case "boolean":
        return Schema.Boolean
      case "any":
        return Schema.Unknown
      case "array":
        return Schema.Array(spec.items ? fieldSchema(spec.items) : Schema.Unknown)
      case "object":
        return spec.properties
          ? Schema.Struct(Object.fromEntries(Object.entries(spec.properties).map(([k, v]) => [k, property(v)])))
          : Schema.Record({ key: Schema.String, value: Schema.Unknown })
    }
  })()
  return spec.nullable ? Schema.NullOr(base) : base
}

const property = (spec: FieldSpec): Schema.Schema.Any | Schema.PropertySignature.Any => {
  const s = fieldSchema(spec)
  if (spec.default !== undefined) {
    const value = spec.default
    return Schema.optionalWith(s, { default: () => structuredClone(value) })
  }
  return spec.required ? s : Schema.optional(s)
}

/** The first issue of a parse error, as one line: `at [1]: Expected number, actual "x"`. */
const oneLine = (error: ParseResult.ParseError): string => {
  const issue = firstIssue(error)
  const at = issue && issue.path.length > 0 ? `at ${issue.path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".")}: ` : ""
  return `${at}${issue?.message ?? "invalid"}`.replace(/\s*\n\s*/g, " ")
}

/**
 * The fix for a write (`verb`: write, override) to `field`, which the state schema does not
 * declare: the declared field it is close to, if any (`did you mean 'total'? `), then
 * either way to fix it: write a declared field, or declare this one.
 */
export const undeclaredFieldFix = (field: string, declared: Iterable<string>, verb = "write"): string => {
  const names = [...declared]
  return `${didYouMean(field, names)}${verb} one of the declared fields (${listSome(names)}), or declare '${field}' in state_schema.fields`
}

/**
 * An error's fix for a value that `field` does not take: give it one of its declared type,
 * named when known (`takes`: {@link declaredAs} or {@link declaredAt}); `where` says where
 * the value was given (` in node_output_overrides.n`).
 */
export const declaredTypeFix = (field: string, takes: string | undefined, where = ""): string =>
  `give '${field}'${where} a value of its declared type${takes !== undefined ? ` (${takes})` : ""}`

/**
 * What a field takes, for an error's fix: its declared type and, for an `enum`, every
 * value (`string, one of "low", "high"`); undefined when its schema says nothing simple
 * (a module schema's structured field).
 */
export const declaredAs = (field: FieldInfo | undefined): string | undefined =>
  field === undefined ? undefined : describeType(field.type ?? field.valueType, field.enum)

const describeType = (type: string | undefined, allowed: ReadonlyArray<string | number | boolean> | undefined): string | undefined => {
  const values = allowed?.map((v) => JSON.stringify(v)).join(", ")
  return type === undefined ? undefined : values === undefined ? type : `${type}, one of ${values}`
}

/**
 * What the value at `path` inside `field` takes (`path` without the field's own name: `[0]`
 * for a list's first element, `["city"]` for an object's key), as {@link declaredAs} says
 * it; the field's own type for an empty path; undefined when the declaration says nothing
 * of that place (a module schema's nested value, a list without `items`).
 */
export const declaredAt = (field: FieldInfo | undefined, path: ReadonlyArray<PropertyKey>): string | undefined => {
  if (path.length === 0) return declaredAs(field)
  let spec: FieldSpec | undefined = field?.spec
  for (const key of path) {
    if (spec === undefined) return undefined
    spec = typeof key === "number" ? spec.items : spec.properties?.[String(key)]
  }
  return spec === undefined ? undefined : describeType(spec.type, spec.enum !== undefined && spec.enum.length > 0 ? spec.enum : undefined)
}

/** Whether `value` is a value of a scalar field `type` (an `enum` entry must be). */
const ofType = (value: string | number | boolean, type: FieldType): boolean =>
  type === "any" || (type === "integer" ? Number.isInteger(value) : type === "number" ? typeof value === "number" : typeof value === type)

/** An `enum` that is empty, or lists a value of another type than the field's, here or in the field's `items` or `properties`. */
const checkEnum = (spec: FieldSpec, path: ReadonlyArray<PropertyKey>): CompileProblem | undefined => {
  const inner = (spec.items !== undefined ? checkEnum(spec.items, [...path, "items"]) : undefined) ??
    Object.entries(spec.properties ?? {}).reduce<CompileProblem | undefined>((found, [key, property]) => found ?? checkEnum(property, [...path, "properties", key]), undefined)
  if (inner !== undefined || spec.enum === undefined) return inner
  if (spec.enum.length === 0) {
    return { path: [...path, "enum"], message: "enum lists no values: no value would be allowed", fix: "list the values the field allows, or remove enum" }
  }
  if (!SCALAR_TYPES.has(spec.type) && spec.type !== "any") {
    return { path: [...path, "enum"], message: `enum on a field of type '${spec.type}': only string, integer, number and boolean fields take one`, fix: "declare the field as a scalar type, or remove enum" }
  }
  const at = spec.enum.findIndex((v) => !ofType(v, spec.type))
  if (at < 0) return undefined
  return {
    path: [...path, "enum", at],
    message: `enum value ${JSON.stringify(spec.enum[at])} is not of the field's type '${spec.type}'`,
    fix: `write every enum value as a ${spec.type}${spec.type === "string" ? ` (quote it: "${String(spec.enum[at])}")` : ""}`
  }
}

const checkDefault = (spec: FieldSpec, path: ReadonlyArray<PropertyKey>): CompileProblem | undefined => {
  if (spec.default === undefined) return undefined
  const result = Schema.decodeUnknownEither(fieldSchema(spec) as Schema.Schema<unknown, unknown>)(spec.default)
  if (Either.isRight(result)) return undefined
  return {
    path: [...path, "default"],
    message: `default does not match type '${spec.type}': ${oneLine(result.left)}`,
    fix: `give a default of type '${spec.type}' or remove it`
  }
}

/** Compile an inline `state_schema.fields` mapping. */
export const compileInline = (
  fields: { readonly [name: string]: FieldSpec }
): Either.Either<CompiledStateSchema, CompileProblem> => {
  const infos = new Map<string, FieldInfo>()
  for (const [name, spec] of Object.entries(fields)) {
    const path = ["state_schema", "fields", name]
    const reducer = spec.reducer ?? "replace"
    const allowed = reducerTypes[reducer]
    if (allowed && !allowed.includes(spec.type)) {
      return Either.left({
        path: [...path, "reducer"],
        message: `reducer '${reducer}' cannot combine values of type '${spec.type}'`,
        fix: `use reducer '${reducer}' only with type ${allowed.join(" or ")}; for type '${spec.type}' use ${reducersFor(spec.type).map((r) => `'${r}'`).join(" or ")}`
      })
    }
    const problem = checkEnum(spec, path) ?? checkDefault(spec, path)
    if (problem) return Either.left(problem)
    infos.set(name, {
      name,
      reducer,
      type: spec.type,
      mirror: spec.mirror ?? SCALAR_TYPES.has(spec.type),
      mirrorAlways: spec.mirror === true,
      ...(spec.enum !== undefined && spec.enum.length > 0 ? { enum: spec.enum } : {}),
      spec
    })
  }
  const schema = Schema.Struct(
    Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, property(v)]))
  ) as unknown as StateSchema
  const fieldSchemas = new Map(Object.entries(fields).map(([k, v]) => [k, fieldSchema(v)]))
  const fieldChecks = new Map(Object.entries(fields).map(([k, v]) => [k, fieldCheck(v)]))
  return Either.right({ schema, fields: infos, jsonSchema: JSONSchema.make(schema), fieldSchemas, decodedIsJson: true, fieldChecks, initialState: initialStateOf(fields) })
}

/** Adopt an Effect Schema exported by a user module as the state schema. */
export const compileModuleSchema = (
  exported: unknown,
  reducers: { readonly [name: string]: Reducer } | undefined,
  path: ReadonlyArray<PropertyKey> = ["state_schema", "export"]
): Either.Either<CompiledStateSchema, CompileProblem> => {
  if (!Schema.isSchema(exported)) {
    return Either.left({
      path,
      message: "the export is not an Effect Schema",
      fix: "export a Schema.Struct({...}) from the module (import * as Schema from \"effect/Schema\")"
    })
  }
  const ast = exported.ast
  const setPath = findSetValued(ast, [])
  if (setPath) {
    return Either.left({
      path,
      message: `set-valued state field at '${setPath}': iteration order is not deterministic, so replay could diverge`,
      fix: "use Schema.Array instead of Schema.Set / Schema.ReadonlySet"
    })
  }
  const typeLiteral = AST.typeAST(ast)
  if (!AST.isTypeLiteral(typeLiteral)) {
    return Either.left({ path, message: "the state schema must be a Schema.Struct", fix: "export a Schema.Struct({...})" })
  }
  const infos = new Map<string, FieldInfo>()
  for (const ps of typeLiteral.propertySignatures) {
    const name = String(ps.name)
    const literals = literalsOf(ps.type)
    infos.set(name, {
      name,
      reducer: reducers?.[name] ?? "replace",
      type: undefined,
      mirror: mirrorOf(ps.type),
      mirrorAlways: ps.type.annotations[MirrorAnnotationId] === true,
      valueType: valueTypeOf(ps.type),
      ...(literals !== undefined ? { enum: literals } : {})
    })
  }
  for (const name of Object.keys(reducers ?? {})) {
    if (!infos.has(name)) {
      return Either.left({
        path: ["state_schema", "reducers", name],
        message: `reducer declared for unknown field '${name}'`,
        fix: `declare '${name}' in the exported schema or remove its reducer`
      })
    }
  }
  const schema = exported as unknown as StateSchema
  let jsonSchema: unknown
  try {
    jsonSchema = JSONSchema.make(schema)
  } catch (e) {
    return Either.left({
      path,
      message: `the state schema does not describe JSON data: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`,
      fix: "use JSON-compatible schemas only (strings, numbers, booleans, arrays, structs, records)"
    })
  }
  const fieldSchemas = AST.isTypeLiteral(ast) && ast.indexSignatures.length === 0
    ? new Map(ast.propertySignatures.map((ps) => [String(ps.name), Schema.make(ps.type)]))
    : undefined
  return Either.right({ schema, fields: infos, jsonSchema, ...(fieldSchemas ? { fieldSchemas } : {}) })
}

const findSetValued = (ast: AST.AST, path: ReadonlyArray<string>): string | undefined => {
  switch (ast._tag) {
    case "Declaration": {
      const id = Option.getOrUndefined(AST.getIdentifierAnnotation(ast)) ??
        Option.getOrUndefined(AST.getDescriptionAnnotation(ast)) ?? ""
      if (/Set/.test(id) && !/Record/.test(id)) return path.join(".") || "<root>"
      for (const t of ast.typeParameters) {
        const found = findSetValued(t, path)
        if (found) return found
      }
      return undefined
    }
    case "Transformation":
      return findSetValued(ast.to, path) ?? findSetValued(ast.from, path)
    case "Refinement":
      return findSetValued(ast.from, path)
    case "Suspend":
      return undefined
    case "TypeLiteral": {
      for (const ps of ast.propertySignatures) {
        const found = findSetValued(ps.type, [...path, String(ps.name)])
        if (found) return found
      }
      for (const is of ast.indexSignatures) {
        const found = findSetValued(is.type, [...path, "*"])
        if (found) return found
      }
      return undefined
    }
    case "TupleType": {
      for (const e of ast.elements) {
        const found = findSetValued(e.type, path)
        if (found) return found
      }
      for (const r of ast.rest) {
        const found = findSetValued(r.type, path)
        if (found) return found
      }
      return undefined
    }
    case "Union": {
      for (const m of ast.types) {
        const found = findSetValued(m, path)
        if (found) return found
      }
      return undefined
    }
    default:
      return undefined
  }
}
