/**
 * YAML text → decoded {@link IRDocument}, with every failure reported as an
 * {@link IRValidationError} naming the file, the path inside the IR, the line and a fix.
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as YAML from "yaml"
import { IRValidationError } from "../errors.js"
import { defaultGraphId, type GraphModel, isAuthoring, lowerAuthoring, readsAsAuthoring } from "./authoring.js"
import { closestChoice, closestName } from "./didYouMean.js"
import { MAX_IR_DEPTH, MAX_YAML_ALIASES, maxGraphBytes } from "./limits.js"
import { ConditionalEdge, EdgeSpec, FlatField, FlatType, IRDocument, RouterEdge, StaticEdge } from "./schema.js"

/** Where an IR came from, for error messages and line lookups. */
export interface IRSource {
  readonly file?: string | undefined
  readonly document?: YAML.Document.Parsed | undefined
  readonly lineCounter?: YAML.LineCounter | undefined
  /**
   * For a document in the authoring format (lowered to IR before decoding): the path in
   * the written document an IR path comes from, so errors name the key the author wrote.
   */
  readonly toDocumentPath?: ((path: ReadonlyArray<PropertyKey>) => ReadonlyArray<PropertyKey>) | undefined
}

/** Render a decode path as `nodes[2].kind`. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, key) => {
    if (typeof key === "number") return `${acc}[${key}]`
    const k = String(key)
    return acc === "" ? k : `${acc}.${k}`
  }, "")

/** 1-based line of the YAML node at the IR `path`, when the IR came from YAML. */
export const lineOf = (source: IRSource, path: ReadonlyArray<PropertyKey>): number | undefined =>
  lineInDocument(source, source.toDocumentPath !== undefined ? source.toDocumentPath(path) : path)

/** 1-based line of the YAML node at `path` in the document as written. */
const lineInDocument = (source: IRSource, path: ReadonlyArray<PropertyKey>): number | undefined => {
  const { document, lineCounter } = source
  if (!document || !lineCounter) return undefined
  for (let n = path.length; n >= 0; n--) {
    // A mapping's entry: the line of its key (a block value starts on the next line).
    const parent = n > 0 ? document.getIn(path.slice(0, n - 1) as Array<string | number>, true) : undefined
    if (YAML.isMap(parent)) {
      const pair = parent.items.find((item) => (YAML.isScalar(item.key) ? item.key.value : item.key) === path[n - 1])
      if (pair !== undefined && YAML.isNode(pair.key) && pair.key.range) return lineCounter.linePos(pair.key.range[0]).line
    }
    const node = document.getIn(path.slice(0, n) as Array<string | number>, true)
    if (YAML.isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line
  }
  return undefined
}

/** Build an {@link IRValidationError} located at the IR `path` (named as written, for an authoring document). */
export const irError = (
  source: IRSource,
  path: ReadonlyArray<PropertyKey>,
  message: string,
  fix: string
): IRValidationError => {
  const at = source.toDocumentPath !== undefined ? source.toDocumentPath(path) : path
  return new IRValidationError({ file: source.file, path: formatPath(at), line: lineInDocument(source, at), message, fix })
}

/** The literals an issue expects: `Expected "a" | "b", actual "c"` → a, b. */
const expectedLiterals = (message: string): ReadonlyArray<string> => {
  const expected = /^Expected ((?:"[^"]*"(?: \| )?)+), actual/.exec(message)
  return expected === null ? [] : [...expected[1]!.matchAll(/"([^"]*)"/g)].map((m) => m[1]!)
}

/** The field names an "is unexpected" issue lists: `is unexpected, expected: "a" | "b"` → a, b. */
const expectedFields = (message: string): ReadonlyArray<string> => {
  const at = message.indexOf("expected:")
  return at < 0 ? [] : [...message.slice(at).matchAll(/"([^"]*)"/g)].map((m) => m[1]!)
}

/** The fix for an unknown field: the known one it is a misspelling of, else remove it. */
const unknownFieldFix = (field: string, known: ReadonlyArray<string>): string => {
  const meant = closestName(field, known)
  return meant !== undefined
    ? `did you mean '${meant}'? rename '${field}' to '${meant}' (unknown fields are rejected)`
    : `remove the unknown field '${field}' (unknown fields are rejected)`
}

/**
 * The fix for a value a refinement refused (a range, a pattern, a length): what to write,
 * restated from the refinement's message. `Expected a number between 0 and 2, actual 3` →
 * use a number between 0 and 2; `max_iters must be an integer from 1 to 64` → set max_iters
 * to an integer from 1 to 64.
 */
const refinementFix = (message: string, path: ReadonlyArray<PropertyKey>): string => {
  const expected = /^Expected (.+), actual /s.exec(message)
  if (expected !== null) return `use ${expected[1]!}`
  const field = String(path[path.length - 1])
  const allowed = message.startsWith(`${field} must be `) ? message.slice(`${field} must be `.length) : undefined
  return allowed !== undefined && allowed !== "" ? `set ${field} to ${allowed}` : "use a value the message allows"
}

const fixFor = (message: string, path: ReadonlyArray<PropertyKey>, choices: ReadonlyArray<string> = [], actual?: string, tag?: string): string => {
  if (message.includes("is unexpected")) return unknownFieldFix(String(path[path.length - 1]), expectedFields(message))
  if (message.includes("is missing")) return `add the required field '${String(path[path.length - 1])}'`
  if (path[0] === "rules" && path[2] === "then" && path[path.length - 1] === "kind") {
    return "set kind to a rule action: goto, halt, parallel, retry, interrupt, assert or retract (docs/fathom.md, Actions)"
  }
  if (formatPath(path).endsWith("kind")) return "set kind to a node kind (docs/nodes.md lists them) or a module reference such as ./my-node.ts:MyNode"
  if (formatPath(path) === "ir_version") return "set ir_version: \"1.1.0\" (or any 1.x.y)"
  if (formatPath(path) === "checkpoints.store") {
    return "write store: \"sqlite:./runs.sqlite\" or store: \"postgres://user@host:5432/database\" (leave the password out of the graph: PGPASSWORD, or set STARGRAPH_DB instead)"
  }
  if (choices.length > 0) {
    const meant = actual !== undefined ? closestChoice(actual, choices) : undefined
    return `${meant !== undefined ? `did you mean '${meant}'? ` : ""}use one of: ${choices.join(", ")}`
  }
  if (tag === "Refinement") return refinementFix(message, path)
  return "correct the value to match the expected type shown"
}

/** Top-level fields of the original's IR that this runtime does not take, with what to do instead. */
const ORIGINAL_FIELDS: { readonly [field: string]: { readonly message: string; readonly fix: string } } = {
  tools: {
    message: "the original's top-level tool declarations are not used here: tool nodes name their tools, and the tool registry checks them when the graph is built",
    fix: "remove tools (name each tool on its node: {kind: tool, tool: std.calculator@1}; capabilities allow network tools, docs/tools.md)"
  },
  stores: { message: "the original's top-level store declarations are not read here: a rag node binds its own stores", fix: "remove stores, and bind each store on its rag node (config.stores: [{provider: sqlite_doc, path: ./kb.db}], docs/language-models.md)" },
  skills: { message: "the original's skills are not part of this runtime", fix: "remove skills; the graph's nodes and rules are all this runtime reads" },
  migrate: {
    message: "graph migrations are not supported: a run resumes only with the graph it started with (its graph_hash)",
    fix: "remove migrate; finish or cancel runs of the old graph with the old files, and start new runs with the new graph"
  },
  lm: {
    message: "a graph cannot launch its model server here",
    fix: "remove lm and point language-model nodes at a running server (config.api_base and config.model, or an app's LanguageModel layer; docs/language-models.md)"
  }
}

/** An empty list or null: what the original writes for a field it has nothing in (`stores: []`). */
const declaresNothing = (value: unknown): boolean => value === null || (Array.isArray(value) && value.length === 0)

/** The document without the original's empty top-level fields ({@link ORIGINAL_FIELDS}), which say nothing. */
const withoutEmptyOriginalFields = (input: unknown): unknown => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return input
  const doc = input as Record<string, unknown>
  const empty = Object.keys(ORIGINAL_FIELDS).filter((field) => field in doc && declaresNothing(doc[field]))
  return empty.length === 0 ? input : Object.fromEntries(Object.entries(doc).filter(([k]) => !empty.includes(k)))
}

/**
 * The original's forms this runtime does not read, named as such: its top-level fields
 * listed in {@link ORIGINAL_FIELDS}, and `checkpoints.every: never`. Otherwise the decoder
 * would call them unknown fields.
 */
const originalFormError = (input: unknown, source: IRSource): IRValidationError | undefined => {
  if (typeof input !== "object" || input === null) return undefined
  const doc = input as Record<string, unknown>
  for (const [field, why] of Object.entries(ORIGINAL_FIELDS)) {
    if (field in doc && !declaresNothing(doc[field])) return irError(source, [field], why.message, why.fix)
  }
  const checkpoints = doc["checkpoints"]
  if (typeof checkpoints === "object" && checkpoints !== null && (checkpoints as Record<string, unknown>)["every"] === "never") {
    return irError(source, ["checkpoints", "every"], "every step of a run is checkpointed here: runs without checkpoints are not supported", "remove every, or set it to node-exit")
  }
  return undefined
}

/**
 * The path of the first key named `__proto__` in a parsed document, if any: YAML and JSON
 * read it as an ordinary key, but decoding would set an object's prototype with it, so the
 * entry (a state field, say) would be dropped without a word.
 */
const protoKeyPath = (value: unknown, path: ReadonlyArray<PropertyKey> = [], depth = 0): ReadonlyArray<PropertyKey> | undefined => {
  if (typeof value !== "object" || value === null || depth > 64) return undefined
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = protoKeyPath(item, [...path, i], depth + 1)
      if (found !== undefined) return found
    }
    return undefined
  }
  if (Object.hasOwn(value, "__proto__")) return [...path, "__proto__"]
  for (const [key, item] of Object.entries(value)) {
    const found = protoKeyPath(item, [...path, key], depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}

/** Decode an already-parsed JS value as an IR document. */
export const decodeIR = (
  input: unknown,
  source: IRSource = {}
): Either.Either<IRDocument, IRValidationError> => {
  if (readsAsAuthoring(input)) return Either.flatMap(lowered(input, source), (at) => decodeIR(at.value, at.source))
  const proto = protoKeyPath(input)
  if (proto !== undefined) {
    return Either.left(irError(source, proto, "a key named '__proto__' is not allowed: it names an object's prototype in JavaScript, and would be dropped", "rename it"))
  }
  const setField = findSetTypedField(input)
  if (setField) {
    return Either.left(irError(
      source,
      setField,
      "set-valued state fields are not allowed: iteration order is not deterministic, so replay could diverge",
      "declare the field as `type: array` (optionally with `reducer: append`) and keep it sorted or de-duplicated in your node"
    ))
  }
  const original = originalFormError(input, source)
  if (original !== undefined) return Either.left(original)
  if (typeof input === "object" && input !== null && "nodes" in input && Array.isArray(input.nodes) && input.nodes.length === 0) {
    return Either.left(irError(source, ["nodes"], "the graph has no nodes", "add at least one node, e.g. nodes: [{id: start, kind: noop}]"))
  }
  return Schema.decodeUnknownEither(IRDocument, { onExcessProperty: "error", errors: "all" })(withoutEmptyOriginalFields(input)).pipe(
    Either.mapLeft((error) => flatSchemaError(source, input) ?? (onlyEdges(error) ? edgeError(source, input) : undefined) ?? decodeError(source, error))
  )
}

/**
 * An authoring-format document lowered to IR (src/ir/authoring.ts), with the source that
 * maps IR paths back to the keys written; its shape problems as IR errors at those keys.
 */
const lowered = (
  input: Record<string, unknown>,
  source: IRSource
): Either.Either<{ readonly value: unknown; readonly source: IRSource; readonly lm: GraphModel | undefined }, IRValidationError> =>
  Either.match(lowerAuthoring(input, defaultGraphId(source.file)), {
    onLeft: (problem) => Either.left(new IRValidationError({ file: source.file, path: formatPath(problem.path), line: lineInDocument(source, problem.path), message: problem.message, fix: problem.fix })),
    onRight: (ir) => Either.right({ value: ir.document, source: { ...source, toDocumentPath: ir.toAuthoringPath }, lm: ir.lm })
  })

/** The keys of state_schema's other forms, which a flat-form key may be a misspelling of. */
const SCHEMA_FORM_KEYS = ["fields", "module", "export", "reducers"]

const decodeFlatField = Schema.decodeUnknownEither(FlatField, { onExcessProperty: "error" })
/** The `{type, ...options}` form alone, for the error of an entry written as a mapping. */
const decodeFlatOptions = Schema.decodeUnknownEither(FlatField.members[1], { onExcessProperty: "error" })

/**
 * The error of a `state_schema` in the original's flat form (neither `fields:` nor
 * `module:`) with an entry that is not a flat field, named at that entry: the decoder's
 * own report would blame the first field for not being `fields`.
 */
const flatSchemaError = (source: IRSource, input: unknown): IRValidationError | undefined => {
  const schema = typeof input === "object" && input !== null && "state_schema" in input ? input.state_schema : undefined
  if (typeof schema !== "object" || schema === null || Array.isArray(schema) || "fields" in schema || "module" in schema) return undefined
  const types = FlatType.literals.join(", ")
  for (const [key, value] of Object.entries(schema)) {
    const decoded = decodeFlatField(value)
    if (Either.isRight(decoded)) continue
    // Not a field of the flat form: a misspelt `fields:` or `module:` (`feilds:`).
    const meant = closestName(key, SCHEMA_FORM_KEYS)
    if (meant !== undefined) {
      return irError(
        source,
        ["state_schema", key],
        `'${key}' is not a state field: state_schema takes fields: (the field declarations) or module: (a schema in code), or the flat form (each field: a type)`,
        `did you mean '${meant}'? rename '${key}' to '${meant}'`
      )
    }
    const type = typeof value === "string" ? value : typeof value === "object" && value !== null && "type" in value ? value.type : undefined
    const fix = `use one of ${types}, or declare the schema in the fields: form (state_schema: {fields: {${key}: {type: …}}}) for other types`
    if (type !== undefined && !(FlatType.literals as ReadonlyArray<unknown>).includes(type)) {
      const path = typeof value === "string" ? ["state_schema", key] : ["state_schema", key, "type"]
      return irError(source, path, `${JSON.stringify(type)} is not a type of the flat state_schema form`, fix)
    }
    const options = typeof value === "object" && value !== null ? decodeFlatOptions(value) : undefined
    return decodeError(source, options !== undefined && Either.isLeft(options) ? options.left : decoded.left, ["state_schema", key])
  }
  return undefined
}

/** Whether every issue of a decode failure is in `edges` (else the first issue elsewhere is reported, with the count). */
const onlyEdges = (error: ParseResult.ParseError): boolean => ParseResult.ArrayFormatter.formatErrorSync(error).every((issue) => issue.path[0] === "edges")

const decodeEdge = Schema.decodeUnknownEither(EdgeSpec, { onExcessProperty: "error" })
const decodeRouterEdge = Schema.decodeUnknownEither(RouterEdge, { onExcessProperty: "error" })
const decodeConditionalEdge = Schema.decodeUnknownEither(ConditionalEdge, { onExcessProperty: "error" })
const decodeStaticEdge = Schema.decodeUnknownEither(StaticEdge, { onExcessProperty: "error" })

/**
 * The error of the first edge that is none of the edge forms, against the form its keys
 * choose (`router` a router edge, `cases` a conditional one, else a static one): the
 * decoder's own report of the union names the first form that failed, which can blame a
 * key the intended form has (a router edge without `targets` would read "router is
 * unexpected").
 */
const edgeError = (source: IRSource, input: unknown): IRValidationError | undefined => {
  const edges = typeof input === "object" && input !== null && "edges" in input ? input.edges : undefined
  if (!Array.isArray(edges)) return undefined
  for (const [i, edge] of edges.entries()) {
    if (typeof edge !== "object" || edge === null || Either.isRight(decodeEdge(edge))) continue
    const decoded: Either.Either<unknown, ParseResult.ParseError> = "router" in edge ? decodeRouterEdge(edge) : "cases" in edge ? decodeConditionalEdge(edge) : decodeStaticEdge(edge)
    if (Either.isLeft(decoded)) return decodeError(source, decoded.left, ["edges", i])
  }
  return undefined
}

/** The part of the IR a path is in: a top-level field, or one item of a top-level list (`nodes[2]`). */
const sectionOf = (path: ReadonlyArray<PropertyKey>): string => formatPath(typeof path[1] === "number" ? path.slice(0, 2) : path.slice(0, 1))

/** A decode failure as an IR error at its first issue (under `prefix`), counting the issues in other sections. */
export const decodeError = (source: IRSource, error: ParseResult.ParseError, prefix: ReadonlyArray<PropertyKey> = []): IRValidationError => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  const path = [...prefix, ...(first?.path ?? [])]
  // The other issues in the first one's section are mostly the union's other forms failing
  // on the same mistake: only issues elsewhere are counted.
  // (Counted by path: a union reports one issue per form at the same path.)
  const others = new Set(issues.map((issue) => [...prefix, ...issue.path]).filter((at) => sectionOf(at) !== sectionOf(path)).map(formatPath)).size
  const more = others > 0 ? ` (and ${others} more issue${others > 1 ? "s" : ""} elsewhere)` : ""
  const misspelt = first?._tag === "Missing" ? misspeltMissing(error, first.path) : undefined
  if (misspelt !== undefined) {
    const field = String(path[path.length - 1])
    return irError(
      source,
      [...path.slice(0, -1), misspelt],
      `unknown field '${misspelt}': did you mean '${field}'? (the required field '${field}' is missing)${more}`,
      `rename '${misspelt}' to '${field}'`
    )
  }
  const choices = literalChoices(issues)
  // A value outside a union of literals: every allowed value, not only the first the union tried.
  const actual = choices.length > 1 ? /, actual (.+)$/s.exec(first?.message ?? "")?.[1] : undefined
  const message = (actual !== undefined ? `Expected one of ${choices.map((c) => JSON.stringify(c)).join(", ")}, actual ${actual}` : first?.message ?? "invalid IR") + more
  return irError(source, path, message, fixFor(first?.message ?? "", path, choices, actualString(actual), first?._tag))
}

/**
 * For a required field that is missing at `path`: the key beside it that is a misspelling
 * of it (`kinds` for `kind`), when the object decoded has one; undefined otherwise.
 */
const misspeltMissing = (error: ParseResult.ParseError, path: ReadonlyArray<PropertyKey>): string | undefined => {
  const field = path[path.length - 1]
  if (typeof field !== "string") return undefined
  let at: unknown = "actual" in error.issue ? error.issue.actual : undefined
  for (const key of path.slice(0, -1)) {
    if (typeof at !== "object" || at === null) return undefined
    at = (at as Record<PropertyKey, unknown>)[key]
  }
  if (typeof at !== "object" || at === null || Array.isArray(at)) return undefined
  return Object.keys(at).find((key) => key !== field && closestName(key, [field]) === field)
}

/** The string a decoder's `actual "…"` quotes, if it quotes one. */
const actualString = (actual: string | undefined): string | undefined => {
  if (actual === undefined || !actual.startsWith("\"")) return undefined
  try {
    const value: unknown = JSON.parse(actual)
    return typeof value === "string" ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * The values a union of literals allows, when the first issue is one of them (the union
 * reports each member as an issue at the same path); empty otherwise.
 */
export const literalChoices = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): ReadonlyArray<string> => {
  const first = issues[0]
  if (first === undefined || expectedLiterals(first.message).length === 0) return []
  const at = JSON.stringify(first.path)
  return [...new Set(issues.filter((i) => JSON.stringify(i.path) === at).flatMap((i) => expectedLiterals(i.message)))]
}

/**
 * Whether a YAML file's text is a graph: it declares `ir_version`, or it is a mapping in
 * the authoring format (a `nodes` mapping at the top level, {@link isAuthoring}). For
 * finding the graphs in a folder, beside other YAML files (packs, `stargraph.yaml`, a
 * settings file with a top-level `state:`), which are skipped.
 */
export const isGraphText = (text: string): boolean => {
  if (/^\s*ir_version\s*:/m.test(text)) return true
  if (!/^nodes\s*:/m.test(text)) return false
  try {
    return isAuthoring(YAML.parse(text, { maxAliasCount: MAX_YAML_ALIASES }))
  } catch {
    return false
  }
}

/**
 * Decode an already-parsed document, IR or in the authoring format (lowered first: the
 * source then maps IR paths back to the keys written, and its `lm:` block comes along).
 */
export const decodeDocument = (value: unknown, source: IRSource = {}): Either.Either<ParsedIR, IRValidationError> =>
  readsAsAuthoring(value)
    ? Either.flatMap(lowered(value, source), (at) => Either.map(decodeIR(at.value, at.source), (ir) => ({ ir, source: at.source, lm: at.lm })))
    : Either.map(decodeIR(value, source), (ir) => ({ ir, source }))

/** A decoded IR plus where it came from (for line numbers in later errors). */
export interface ParsedIR {
  readonly ir: IRDocument
  readonly source: IRSource
  /** The model server an authoring document's `lm:` block names (not part of the IR). */
  readonly lm?: GraphModel | undefined
}

/** Options of {@link parseIR}. */
export interface ParseOptions {
  /** Largest accepted text, in bytes (default {@link maxGraphBytes}). */
  readonly maxBytes?: number
}

/** The error for a graph file over the size limit. */
export const graphTooLarge = (file: string | undefined, bytes: number, limit: number): IRValidationError =>
  documentError(
    file,
    `the graph is ${bytes.toLocaleString("en-US")} bytes, over the ${limit.toLocaleString("en-US")}-byte limit`,
    "split the graph into subgraphs, or raise the limit with STARGRAPH_MAX_GRAPH_BYTES (bytes) if it is really this large"
  )

/** A document-level IR error (no path inside the IR). */
const documentError = (file: string | undefined, message: string, fix: string, line?: number) =>
  new IRValidationError({ file, path: "", ...(line !== undefined ? { line } : {}), message, fix })

/**
 * Parse YAML text and decode it as an IR document. Hostile input fails as an
 * `IRValidationError`, never as a crash: text over the size limit, an alias bomb, nesting
 * deeper than {@link MAX_IR_DEPTH}, tags that would construct objects (`!!js/function`)
 * or are unknown, and NUL bytes in strings.
 */
export const parseIR = (text: string, file?: string, options: ParseOptions = {}): Either.Either<ParsedIR, IRValidationError> => {
  const limit = maxGraphBytes(options.maxBytes)
  const bytes = Buffer.byteLength(text, "utf8")
  if (bytes > limit) {
    return Either.left(graphTooLarge(file, bytes, limit))
  }
  const lineCounter = new YAML.LineCounter()
  let document: YAML.Document.Parsed
  let value: unknown
  try {
    document = YAML.parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false })
    const yamlError = document.errors[0]
    // Absurd nesting overflows the parser's stack, which it reports as a document error.
    if (yamlError && /call stack/i.test(yamlError.message)) {
      return Either.left(documentError(file, `the document is nested too deeply to read (more than ${MAX_IR_DEPTH} levels)`, `keep nesting under ${MAX_IR_DEPTH} levels`))
    }
    if (yamlError) {
      return Either.left(documentError(
        file,
        `malformed YAML: ${yamlError.message.split("\n")[0]}`,
        "fix the YAML syntax at the line shown (indentation, quoting, duplicate keys)",
        lineCounter.linePos(yamlError.pos[0]).line
      ))
    }
    const tag = document.warnings.find((w) => w.code === "TAG_RESOLVE_FAILED")
    if (tag) {
      return Either.left(documentError(
        file,
        `unknown YAML tag: ${tag.message.split("\n")[0].replace(/ at line.*$/, "")}`,
        "remove the tag: a graph is plain YAML data (tags such as !!js/function are never evaluated)",
        lineCounter.linePos(tag.pos[0]).line
      ))
    }
    value = document.toJS({ maxAliasCount: MAX_YAML_ALIASES })
  } catch (cause) {
    // The yaml library throws for alias bombs (ReferenceError) and overflows on absurd nesting (RangeError).
    const aliases = cause instanceof ReferenceError && /alias/i.test(cause.message)
    return Either.left(documentError(
      file,
      aliases ? "the document expands too many YAML aliases (an alias bomb)" : `the document cannot be read: ${cause instanceof RangeError ? "nested too deeply" : String(cause)}`,
      aliases ? `use at most ${MAX_YAML_ALIASES} aliases, or write the values out` : `keep nesting under ${MAX_IR_DEPTH} levels`
    ))
  }
  const source: IRSource = { file, document, lineCounter }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return Either.left(documentError(file, "the document is not a mapping", "the top level must be a mapping with ir_version, id, nodes and a state schema"))
  }
  const hostile = scanValue(value)
  if (hostile) return Either.left(irError(source, hostile.path, hostile.message, hostile.fix))
  return decodeDocument(value, source)
}

/**
 * The first part of a parsed document the loader refuses outright: nesting deeper than
 * {@link MAX_IR_DEPTH}, or a NUL byte in a string or key. Iterative, so any depth is safe.
 */
export const scanValue = (
  value: unknown
): { readonly path: ReadonlyArray<PropertyKey>; readonly message: string; readonly fix: string } | undefined => {
  const stack: Array<{ readonly value: unknown; readonly path: ReadonlyArray<PropertyKey> }> = [{ value, path: [] }]
  while (stack.length > 0) {
    const { path, value: current } = stack.pop()!
    if (typeof current === "string") {
      if (current.includes("\u0000")) {
        return { path, message: "the string contains a NUL byte", fix: "remove the NUL (\\0) character" }
      }
      continue
    }
    if (typeof current !== "object" || current === null) continue
    if (path.length >= MAX_IR_DEPTH) {
      return { path: path.slice(0, 8), message: `nested more than ${MAX_IR_DEPTH} levels deep`, fix: `keep nesting under ${MAX_IR_DEPTH} levels` }
    }
    const entries: Array<readonly [PropertyKey, unknown]> = Array.isArray(current) ? current.map((v, i) => [i, v] as const) : Object.entries(current)
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!
      if (typeof key === "string" && key.includes("\u0000")) {
        return { path, message: "a key contains a NUL byte", fix: "remove the NUL (\\0) character" }
      }
      stack.push({ value: child, path: [...path, key] })
    }
  }
  return undefined
}

const findSetTypedField = (input: unknown): ReadonlyArray<PropertyKey> | undefined => {
  if (!isRecord(input)) return undefined
  const stateSchema = input["state_schema"]
  if (!isRecord(stateSchema) || !isRecord(stateSchema["fields"])) return undefined
  const walk = (spec: unknown, path: ReadonlyArray<PropertyKey>): ReadonlyArray<PropertyKey> | undefined => {
    if (!isRecord(spec)) return undefined
    if (spec["type"] === "set" || spec["type"] === "frozenset") return [...path, "type"]
    const items = walk(spec["items"], [...path, "items"])
    if (items) return items
    if (isRecord(spec["properties"])) {
      for (const [k, v] of Object.entries(spec["properties"])) {
        const found = walk(v, [...path, "properties", k])
        if (found) return found
      }
    }
    return undefined
  }
  for (const [name, spec] of Object.entries(stateSchema["fields"])) {
    const found = walk(spec, ["state_schema", "fields", name])
    if (found) return found
  }
  return undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  u !== null && typeof u === "object" && !Array.isArray(u)
