/**
 * A language-model node's signature, DSPy style: the input fields it reads from state and
 * the output fields the model must produce, `"question, context -> answer"` or typed,
 * `"question: str -> answer: str, confidence: float"` (or `inputs`/`outputs` mappings in
 * a node's config). The outputs compile to an Effect Schema struct the parsed completion
 * is decoded with.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/** The type of a signature field. */
export type FieldType =
  | { readonly _tag: "str" }
  | { readonly _tag: "int" }
  | { readonly _tag: "float" }
  | { readonly _tag: "bool" }
  | { readonly _tag: "dict" }
  | { readonly _tag: "any" }
  | { readonly _tag: "list"; readonly item: FieldType | undefined }
  | { readonly _tag: "literal"; readonly values: ReadonlyArray<string | number | boolean> }

/** One field of a signature. */
export interface SignatureField {
  readonly name: string
  readonly type: FieldType
}

/** A parsed signature. */
export interface Signature {
  readonly inputs: ReadonlyArray<SignatureField>
  readonly outputs: ReadonlyArray<SignatureField>
}

/** Field names: Python identifiers (they are DSPy signature fields in the original). */
export const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

const SCALARS: { readonly [name: string]: FieldType } = {
  str: { _tag: "str" },
  string: { _tag: "str" },
  int: { _tag: "int" },
  integer: { _tag: "int" },
  float: { _tag: "float" },
  number: { _tag: "float" },
  bool: { _tag: "bool" },
  boolean: { _tag: "bool" },
  dict: { _tag: "dict" },
  object: { _tag: "dict" },
  any: { _tag: "any" },
  list: { _tag: "list", item: undefined },
  array: { _tag: "list", item: undefined }
}

/** The type names a signature accepts, for fix messages. */
export const TYPE_NAMES = "str, int, float, bool, list, list[<type>], dict, Any, Literal['a', 'b']"

/** Split on `sep` at bracket depth 0, outside quotes. */
const splitTop = (text: string, sep: string): Array<string> => {
  const parts: Array<string> = []
  let depth = 0
  let quote: string | undefined
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote !== undefined) {
      if (c === "\\") i++
      else if (c === quote) quote = undefined
    } else if (c === "'" || c === "\"") quote = c
    else if (c === "[" || c === "(") depth++
    else if (c === "]" || c === ")") depth--
    else if (depth === 0 && text.startsWith(sep, i)) {
      parts.push(text.slice(start, i))
      start = i + sep.length
      i += sep.length - 1
    }
  }
  parts.push(text.slice(start))
  return parts
}

const literalValue = (text: string): Either.Either<string | number | boolean, string> => {
  const t = text.trim()
  const quoted = /^'((?:[^'\\]|\\.)*)'$|^"((?:[^"\\]|\\.)*)"$/.exec(t)
  if (quoted) return Either.right((quoted[1] ?? quoted[2] ?? "").replace(/\\(.)/g, "$1"))
  if (t === "True" || t === "true") return Either.right(true)
  if (t === "False" || t === "false") return Either.right(false)
  if (/^-?\d+(\.\d+)?$/.test(t)) return Either.right(Number(t))
  return Either.left(`Literal value ${t} is not a quoted string, a number or a boolean`)
}

/** Parse a type annotation (`str`, `list[str]`, `Literal['a', 'b']`, `Optional[...]` is refused). */
export const parseType = (text: string): Either.Either<FieldType, string> => {
  const t = text.trim()
  const scalar = SCALARS[t.toLowerCase()]
  if (scalar !== undefined) return Either.right(scalar)
  const generic = /^([A-Za-z_][A-Za-z0-9_.]*)\[(.*)\]$/s.exec(t)
  if (generic) {
    const head = generic[1]!.replace(/^(typing|builtins)\./, "")
    const args = splitTop(generic[2]!, ",")
    switch (head.toLowerCase()) {
      case "list":
        return args.length === 1 ? Either.map(parseType(args[0]!), (item): FieldType => ({ _tag: "list", item })) : Either.left(`${t}: list takes one item type`)
      case "dict":
        return Either.right({ _tag: "dict" })
      case "literal": {
        const values: Array<string | number | boolean> = []
        if (generic[2]!.trim() === "") return Either.left(`${t}: Literal needs at least one value`)
        for (const arg of args) {
          const v = literalValue(arg)
          if (Either.isLeft(v)) return Either.left(v.left)
          values.push(v.right)
        }
        return Either.right({ _tag: "literal", values })
      }
    }
  }
  return Either.left(`unknown type '${t}'`)
}

const parseFields = (text: string, side: "input" | "output"): Either.Either<Array<SignatureField>, string> => {
  const fields: Array<SignatureField> = []
  for (const raw of splitTop(text, ",")) {
    const item = raw.trim()
    if (item === "") return Either.left(`an empty ${side} field (a stray comma?)`)
    const [nameText, ...rest] = splitTop(item, ":")
    const name = nameText!.trim()
    if (!FIELD_NAME.test(name)) return Either.left(`${side} field '${name}' is not a name (letters, digits and _, not starting with a digit)`)
    const type = rest.length === 0 ? Either.right<FieldType>({ _tag: "str" }) : parseType(rest.join(":"))
    if (Either.isLeft(type)) return Either.left(`${side} field '${name}': ${type.left}`)
    fields.push({ name, type: type.right })
  }
  return Either.right(fields)
}

const checkNames = (signature: Signature): Either.Either<Signature, string> => {
  const seen = new Set<string>()
  for (const field of [...signature.inputs, ...signature.outputs]) {
    if (seen.has(field.name)) return Either.left(`field '${field.name}' appears twice`)
    seen.add(field.name)
  }
  return Either.right(signature)
}

/** Parse `"a, b: int -> c: float"`. */
export const parse = (text: string): Either.Either<Signature, string> => {
  const sides = splitTop(text, "->")
  if (sides.length !== 2) return Either.left(sides.length === 1 ? "a signature needs '->' between its inputs and outputs" : "a signature has one '->'")
  const [left, right] = sides as [string, string]
  if (left.trim() === "") return Either.left("a signature needs at least one input field before '->'")
  if (right.trim() === "") return Either.left("a signature needs at least one output field after '->'")
  return Either.flatMap(parseFields(left, "input"), (inputs) =>
    Either.flatMap(parseFields(right, "output"), (outputs) => checkNames({ inputs, outputs })))
}

/** A signature from `{name: type}` mappings (`config.inputs`, `config.outputs`). */
export const fromMappings = (
  inputs: { readonly [name: string]: string },
  outputs: { readonly [name: string]: string }
): Either.Either<Signature, { readonly side: "inputs" | "outputs"; readonly name: string | undefined; readonly message: string }> => {
  type Problem = { readonly side: "inputs" | "outputs"; readonly name: string | undefined; readonly message: string }
  const side = (which: "inputs" | "outputs", map: { readonly [name: string]: string }): Either.Either<Array<SignatureField>, Problem> => {
    const fields: Array<SignatureField> = []
    const entries = Object.entries(map)
    if (entries.length === 0) return Either.left({ side: which, name: undefined, message: `${which} is empty` })
    for (const [name, typeText] of entries) {
      if (!FIELD_NAME.test(name)) return Either.left({ side: which, name, message: `'${name}' is not a field name (letters, digits and _, not starting with a digit)` })
      const type = parseType(typeText)
      if (Either.isLeft(type)) return Either.left({ side: which, name, message: `'${name}': ${type.left}` })
      fields.push({ name, type: type.right })
    }
    return Either.right(fields)
  }
  return Either.flatMap(side("inputs", inputs), (ins) =>
    Either.flatMap(side("outputs", outputs), (outs) =>
      Either.mapLeft(checkNames({ inputs: ins, outputs: outs }), (message): Problem => ({ side: "outputs", name: undefined, message }))))
}

/** A type as written in a signature. */
export const typeText = (type: FieldType): string => {
  switch (type._tag) {
    case "list":
      return type.item === undefined ? "list" : `list[${typeText(type.item)}]`
    case "literal":
      return `Literal[${type.values.map((v) => (typeof v === "string" ? `'${v}'` : typeof v === "boolean" ? (v ? "True" : "False") : String(v))).join(", ")}]`
    case "any":
      return "Any"
    default:
      return type._tag
  }
}

/** The signature in its canonical text form (recorded with each call). */
export const format = (signature: Signature): string => {
  const side = (fields: ReadonlyArray<SignatureField>) =>
    fields.map((f) => (f.type._tag === "str" ? f.name : `${f.name}: ${typeText(f.type)}`)).join(", ")
  return `${side(signature.inputs)} -> ${side(signature.outputs)}`
}

/** How a type is described to the model, in JSON terms. */
export const describe = (type: FieldType): string => {
  switch (type._tag) {
    case "str":
      return "string"
    case "int":
      return "integer"
    case "float":
      return "number"
    case "bool":
      return "boolean (true or false)"
    case "dict":
      return "JSON object"
    case "any":
      return "any JSON value"
    case "list":
      return type.item === undefined ? "JSON array" : `JSON array of ${describe(type.item)} items`
    case "literal":
      return `exactly one of ${type.values.map((v) => JSON.stringify(v)).join(", ")}`
  }
}

/** A number, or a string that holds one (as pydantic's lax mode, which DSPy uses, reads it). */
const LaxNumber = Schema.Union(Schema.Finite, Schema.NumberFromString.pipe(Schema.finite()))
const LaxInt = Schema.Union(Schema.Int, Schema.NumberFromString.pipe(Schema.int()))
const LaxBoolean = Schema.Union(
  Schema.Boolean,
  Schema.transform(Schema.Literal("true", "false", "True", "False"), Schema.Boolean, {
    strict: true,
    decode: (s) => s.toLowerCase() === "true",
    encode: (b) => (b ? "true" : "false")
  })
)

/** The Effect Schema a value of `type` decodes with. */
export const schemaOf = (type: FieldType): Schema.Schema<unknown, unknown> => {
  switch (type._tag) {
    case "str":
      return Schema.String as Schema.Schema<unknown, unknown>
    case "int":
      return LaxInt as Schema.Schema<unknown, unknown>
    case "float":
      return LaxNumber as Schema.Schema<unknown, unknown>
    case "bool":
      return LaxBoolean as Schema.Schema<unknown, unknown>
    case "dict":
      return Schema.Record({ key: Schema.String, value: Schema.Unknown }) as Schema.Schema<unknown, unknown>
    case "any":
      return Schema.Unknown
    case "list":
      return Schema.Array(type.item === undefined ? Schema.Unknown : schemaOf(type.item)) as Schema.Schema<unknown, unknown>
    case "literal":
      return Schema.Literal(...type.values) as Schema.Schema<unknown, unknown>
  }
}

/** The values each output may take, by output name (the `enum` of the state field it is written to). */
export interface AllowedValues {
  readonly [output: string]: ReadonlyArray<string | number | boolean>
}

/** `schema`, narrowed to `values`: a value outside them is named with the ones allowed. */
const oneOf = (schema: Schema.Schema<unknown, unknown>, values: ReadonlyArray<string | number | boolean>): Schema.Schema<unknown, unknown> =>
  schema.pipe(Schema.filter((value) => values.some((v) => v === value), {
    message: (issue) => `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}, not ${JSON.stringify(issue.actual) ?? String(issue.actual)}`
  }))

/**
 * The struct the outputs decode with (extra keys, such as `reasoning`, are ignored). An
 * output in `allowed` decodes as its type and must then be one of the values there.
 */
export const outputSchema = (fields: ReadonlyArray<SignatureField>, allowed: AllowedValues = {}): Schema.Schema<{ readonly [field: string]: unknown }, unknown> =>
  Schema.Struct(Object.fromEntries(fields.map((f) => {
    const values = Object.hasOwn(allowed, f.name) ? allowed[f.name] : undefined
    return [f.name, values !== undefined && values.length > 0 ? oneOf(schemaOf(f.type), values) : schemaOf(f.type)]
  }))) as unknown as Schema.Schema<{ readonly [field: string]: unknown }, unknown>

/**
 * For outputs that are all `str` with no allowed values (the common signature, e.g.
 * `question -> answer`): what {@link outputSchema} decodes a reply's object to, read
 * without the Schema (each output's string, in signature order), or undefined when the
 * object does not hold every output as a string (the Schema then says what is wrong).
 * Undefined for other outputs. An output named `__proto__` is left to the Schema; a
 * property is read as the Schema reads it (an inherited one too, which a parsed reply never has).
 */
export const stringOutputs = (
  fields: ReadonlyArray<SignatureField>,
  allowed: AllowedValues = {}
): ((object: { readonly [key: string]: unknown }) => { readonly [field: string]: string } | undefined) | undefined => {
  const names = fields.map((f) => f.name)
  if (fields.some((f) => f.type._tag !== "str" || f.name === "__proto__" || (Object.hasOwn(allowed, f.name) && allowed[f.name]!.length > 0))) return undefined
  return (object) => {
    const outputs: { [field: string]: string } = {}
    for (const name of names) {
      const value = object[name]
      if (typeof value !== "string") return undefined
      outputs[name] = value
    }
    return outputs
  }
}
