/**
 * `rag`: the original Stargraph's retrieve-then-answer node. It reads a question from a
 * state field (`config.query`, or `config.input`; default `query`), ranks the documents
 * of each bound store (`config.stores`), fuses the rankings with Reciprocal Rank Fusion
 * (k = 60, ties by id), keeps the top `config.k` (1–50, default 5), and asks a language
 * model to answer from a context block of `[id] excerpt` lines (each excerpt capped at
 * 1500 characters) over the signature `question, context -> answer` (chain of thought).
 * It writes `answer` and `citations` (the fused ids, best first). With no hit it writes
 * `{answer: "", citations: []}` and asks no model.
 *
 * A `sqlite_doc` binding reads a database in the original's `SQLiteDocStore` schema (table
 * `documents(doc_id, content, is_text, metadata, created_at)`), opened read-only; the
 * store has no ranking of its own, so up to `config.scan_limit` documents (1–10000,
 * default 256) are scored with {@link lexicalScore}. The file and its table are checked
 * when the graph is built (`path` is relative to the graph file). `lancedb` bindings are
 * refused: that store is not shipped.
 *
 * The retrieval is recorded in the step's cassette as `rag.retrieve` (request: the
 * question, the bindings as written, `k` and `scan_limit`; response: the fused hits with
 * their scores and excerpts), and the answer as `lm.rag` (the request of every
 * language-model kind), so a replay needs neither the store nor the model.
 */
import { existsSync, statSync } from "node:fs"
import { resolve } from "node:path"
import type BetterSqlite3 from "better-sqlite3"
import { sqliteDriver } from "../sqliteDriver.js"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { NodeExecutionError } from "../../errors.js"
import type { State } from "../../ir/stateSchema.js"
import type { NodeOutcome } from "../Executor.js"
import { checkProvider, checkRead, checkWrite, needsModel, nodeFields, providerFields, providerOf } from "../lm/config.js"
import { lmExecutor } from "../lm/lmExecutor.js"
import { FIELD_NAME } from "../lm/Signature.js"
import * as NodeKind from "../NodeKind.js"

/** The instructions of the answer call (the original's wording, in our words). */
const INSTRUCTIONS =
  "Answer the question from the given context and nothing else. Cite the ids of the documents you used in square brackets, like [doc-3]. " +
  "If the context does not hold the answer, say that it does not rather than guess."

/** The longest excerpt of a document in the context block, in characters. */
export const EXCERPT_CHARS = 1500

/** RRF's rank constant. */
const RRF_K = 60

const PROVIDERS = ["sqlite_doc", "lancedb"] as const

/** One store binding, as the original writes it. */
const StoreBinding = Schema.Struct({
  provider: Schema.String,
  path: Schema.String,
  /** lancedb only, in the original. */
  table_name: Schema.optional(Schema.String)
})

const RagConfig = Schema.Struct({
  stores: Schema.Array(StoreBinding),
  /** The state field holding the question (the original's key). */
  query: Schema.optional(Schema.String),
  /** The same, under the name the other language-model kinds use. */
  input: Schema.optional(Schema.String),
  k: Schema.optional(Schema.Int.pipe(Schema.between(1, 50, { message: () => "k must be an integer from 1 to 50" }))),
  scan_limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 10_000, { message: () => "scan_limit must be an integer from 1 to 10000" }))),
  instructions: Schema.optional(Schema.String),
  ...providerFields
})

type RagConfig = typeof RagConfig.Type

/** Python's `\w+` over Unicode text: letters, numbers and `_`. */
const TOKEN = /[\p{L}\p{N}_]+/gu

/** Close to Python's `str.casefold` (`ß` → `ss`, final sigma → sigma). */
const casefold = (text: string): string => text.toUpperCase().toLowerCase().replace(/ς/g, "σ")

const tokens = (text: string): ReadonlyArray<string> => casefold(text).match(TOKEN) ?? []

/**
 * The original's deterministic lexical relevance: for each distinct query term with count
 * `tf` in the text, add `tf / (tf + 1)` (terms case-folded, `\w+` tokens). Matching more
 * distinct terms beats repeating one. Terms are summed in sorted order, so the score is
 * the same in every process.
 */
export const lexicalScore = (query: string, text: string): number => termsScore(queryTerms(query), text)

/** A query's distinct terms, sorted (worked out once for every document a store scores). */
const queryTerms = (query: string): ReadonlyArray<string> => [...new Set(tokens(query))].sort()

/** {@link lexicalScore} of `text` for a query's {@link queryTerms}. */
const termsScore = (terms: ReadonlyArray<string>, text: string): number => {
  const counts = new Map<string, number>()
  for (const t of tokens(text)) counts.set(t, (counts.get(t) ?? 0) + 1)
  let score = 0
  for (const term of terms) {
    const tf = counts.get(term) ?? 0
    if (tf > 0) score += tf / (tf + 1)
  }
  return score
}

/** A ranked hit. */
export interface Hit {
  readonly id: string
  readonly score: number
}

/** Reciprocal Rank Fusion of ranked lists: `Σ 1/(60 + rank)` per id (1-based ranks), best first, ties by id, top `k`. */
export const rrfFuse = (lists: ReadonlyArray<ReadonlyArray<Hit>>, k: number): ReadonlyArray<Hit> => {
  const parts = new Map<string, Array<number>>()
  for (const list of lists) {
    list.forEach((hit, i) => {
      const mine = parts.get(hit.id) ?? []
      mine.push(1 / (RRF_K + i + 1))
      parts.set(hit.id, mine)
    })
  }
  const fused = [...parts].map(([id, ps]) => ({ id, score: ps.sort((a, b) => a - b).reduce((s, p) => s + p, 0) }))
  fused.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return fused.slice(0, k)
}

/** One document of a `sqlite_doc` store: its text (`""` for bytes content). */
interface Doc {
  readonly id: string
  readonly text: string
}

interface DocRow {
  readonly doc_id: unknown
  readonly content: unknown
  readonly is_text: unknown
}

/** What is wrong with the store at `file` (missing, not SQLite, no `documents` table), or nothing. */
const storeProblem = (file: string): string | undefined => {
  if (!existsSync(file)) return `there is no file at ${file}`
  if (!statSync(file).isFile()) return `${file} is not a file`
  let db: BetterSqlite3.Database | undefined
  try {
    db = new (sqliteDriver())(file, { readonly: true, fileMustExist: true })
    const columns = (db.prepare("SELECT name FROM pragma_table_info('documents')").all() as Array<{ name: string }>).map((c) => c.name)
    if (columns.length === 0) return `${file} has no 'documents' table`
    const lacking = ["doc_id", "content", "is_text"].filter((c) => !columns.includes(c))
    if (lacking.length > 0) return `${file}'s 'documents' table has no ${lacking.join(", ")} column`
    return undefined
  } catch (e) {
    return `${file} cannot be read as SQLite (${e instanceof Error ? e.message : String(e)})`
  } finally {
    db?.close()
  }
}

/** Up to `limit` documents of the store at `file`, in the store's own order (the original's `SELECT … LIMIT ?`). */
const scan = (file: string, limit: number): ReadonlyArray<Doc> => {
  const db = new (sqliteDriver())(file, { readonly: true, fileMustExist: true })
  try {
    const rows = db.prepare("SELECT doc_id, content, is_text FROM documents LIMIT ?").all(limit) as Array<DocRow>
    return rows.map((row) => ({
      id: String(row.doc_id),
      text: Number(row.is_text) !== 1 ? "" : Buffer.isBuffer(row.content) ? row.content.toString("utf8") : typeof row.content === "string" ? row.content : ""
    }))
  } finally {
    db.close()
  }
}

/** A store's ranked hits for `question`: scored documents (score > 0), best first, ties by id, top `k`. */
const rank = (docs: ReadonlyArray<Doc>, question: string, k: number): ReadonlyArray<Hit> => {
  const terms = queryTerms(question)
  return docs
    .map((d) => ({ id: d.id, score: termsScore(terms, d.text) }))
    .filter((h) => h.score > 0)
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, k)
}

/** The first `n` characters (code points, as Python slices) of `text`. */
const excerpt = (text: string, n: number): string => {
  const chars = Array.from(text)
  return chars.length <= n ? text : chars.slice(0, n).join("")
}

/** What `rag.retrieve` records: the fused hits, each with its excerpt. */
const Retrieved = Schema.Struct({
  hits: Schema.Array(Schema.Struct({ id: Schema.String, score: Schema.Number, excerpt: Schema.String }))
})
const decodeRetrieved = Schema.decodeUnknownEither(Retrieved)

/** The context block: one `[id] excerpt` line per hit. */
export const contextBlock = (hits: ReadonlyArray<{ readonly id: string; readonly excerpt: string }>): string =>
  hits.map((h) => `[${h.id}] ${h.excerpt}`.trimEnd()).join("\n")

const settingsOf = (node: { readonly config?: RagConfig | undefined }): RagConfig | undefined => node.config

const inputOf = (config: RagConfig): { readonly field: string; readonly at: ReadonlyArray<PropertyKey> } =>
  config.query !== undefined
    ? { field: config.query, at: ["config", "query"] }
    : config.input !== undefined
    ? { field: config.input, at: ["config", "input"] }
    : { field: "query", at: ["kind"] }

/** The `rag` kind. */
export const RagKind = NodeKind.make({
  name: "rag",
  summary:
    "Retrieves from config.stores (sqlite_doc: the original's doc store, ranked lexically; several fused by RRF), then answers config.query (default query) from the top config.k excerpts: writes answer and citations. Recorded for replay; config.stub: true answers offline.",
  fields: nodeFields(RagConfig),
  check: (node, ctx) => {
    const config = settingsOf(node)
    if (config === undefined) return { path: ["config"], message: "rag needs config.stores", fix: "add config: {stores: [{provider: sqlite_doc, path: ./kb.db}]}" }
    if (config.stores.length === 0) return { path: ["config", "stores"], message: "rag needs at least one store binding", fix: "add {provider: sqlite_doc, path: ./kb.db}" }
    for (const [i, binding] of config.stores.entries()) {
      if (binding.provider === "lancedb") {
        return { path: ["config", "stores", i, "provider"], message: "the lancedb store is not shipped in this runtime", fix: "use a sqlite_doc binding (the original's SQLiteDocStore file), or call your vector store from a tool (docs/tools.md)" }
      }
      if (!(PROVIDERS as ReadonlyArray<string>).includes(binding.provider)) {
        return { path: ["config", "stores", i, "provider"], message: `unknown store provider '${binding.provider}'`, fix: "use provider: sqlite_doc" }
      }
      if (binding.table_name !== undefined) {
        return { path: ["config", "stores", i, "table_name"], message: "table_name is for lancedb bindings", fix: "remove it: a sqlite_doc store reads its 'documents' table" }
      }
      if (binding.path.trim() === "") return { path: ["config", "stores", i, "path"], message: "the store path is empty", fix: "name the store's database file, relative to the graph file" }
    }
    if (config.query !== undefined && config.input !== undefined) {
      return { path: ["config", "input"], message: "config.query and config.input both name the question's field", fix: "keep one of them" }
    }
    const provider = checkProvider(config)
    if (provider !== undefined) return provider
    const { field, at } = inputOf(config)
    if (!FIELD_NAME.test(field)) return { path: at, message: `'${field}' is not a field name`, fix: "name a state field (letters, digits and _)" }
    const read = checkRead(field, at, ctx)
    if (read !== undefined) {
      return at[0] === "kind"
        ? { ...read, message: `rag reads state field 'query' by default, which is not declared`, fix: `declare 'query', or set config.query to one of: ${ctx.declared}` }
        : read
    }
    const answer = checkWrite("answer", { _tag: "str" }, ["kind"], ctx, true)
    if (answer !== undefined) return { ...answer, message: `rag ${answer.message}` }
    const citations = checkWrite("citations", { _tag: "list", item: { _tag: "str" } }, ["kind"], ctx, true)
    if (citations !== undefined) return { ...citations, message: `rag ${citations.message}` }
    return undefined
  },
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const config = settingsOf(node)
      if (config === undefined) return yield* ctx.invalid(["config"], "rag needs config.stores", "add config: {stores: [{provider: sqlite_doc, path: ./kb.db}]}")
      // The stores are checked when the graph is built, as the original builds its bindings at load.
      const files: Array<string> = []
      for (const [i, binding] of config.stores.entries()) {
        const file = resolve(ctx.baseDir, binding.path)
        const problem = storeProblem(file)
        if (problem !== undefined) {
          return yield* ctx.invalid(
            ["config", "stores", i, "path"],
            `sqlite_doc store '${binding.path}': ${problem}`,
            "point path at a database written by the original's SQLiteDocStore (relative to the graph file), or build one with a 'documents(doc_id TEXT PRIMARY KEY, content BLOB, is_text INTEGER, metadata BLOB, created_at TEXT)' table"
          )
        }
        files.push(file)
      }
      const k = config.k ?? 5
      const scanLimit = config.scan_limit ?? 256
      const field = inputOf(config).field
      const request = (question: string) => ({
        query: question,
        stores: config.stores.map((b) => ({ provider: b.provider, path: b.path })),
        k,
        scan_limit: scanLimit
      })
      const answer = lmExecutor({
        kind: "rag",
        prompt: {
          signature: { inputs: [{ name: "question", type: { _tag: "str" } }, { name: "context", type: { _tag: "str" } }], outputs: [{ name: "answer", type: { _tag: "str" } }] },
          instructions: config.instructions ?? INSTRUCTIONS,
          module: "cot"
        },
        provider: providerOf(config),
        reads: [{ input: "question", field: "question" }, { input: "context", field: "context" }],
        post: (outputs) => Either.right({ answer: String(outputs["answer"]) }),
        stub: config.stub === true ? () => ({ answer: "stub-answer" }) : undefined,
        retry: node.retry,
        timeout_ms: node.timeout_ms
      })
      return {
        needsModel: needsModel(config),
        execute: (state, input) =>
          Effect.gen(function*() {
            const value = state[field]
            const question = typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value)
            const live = Effect.try({
              try: () => {
                const texts = new Map<string, string>()
                const lists = files.map((file) => {
                  const docs = scan(file, scanLimit)
                  for (const d of docs) if (!texts.has(d.id)) texts.set(d.id, d.text)
                  return rank(docs, question, k)
                })
                return { hits: rrfFuse(lists, k).map((h) => ({ id: h.id, score: h.score, excerpt: excerpt(texts.get(h.id) ?? "", EXCERPT_CHARS) })) }
              },
              catch: (e) =>
                new NodeExecutionError({
                  nodeId: input.nodeId,
                  step: input.step,
                  cause: `rag could not read its store: ${e instanceof Error ? e.message : String(e)}`,
                  attempts: 1,
                  errorTag: "RagStoreError"
                })
            })
            const recorded = yield* input.calls.callEffect("rag.retrieve", request(question), live)
            const retrieved = decodeRetrieved(recorded)
            if (Either.isLeft(retrieved)) {
              return yield* new NodeExecutionError({ nodeId: input.nodeId, step: input.step, cause: "the recorded rag.retrieve response is not {hits: [{id, score, excerpt}]}: the run's cassette is damaged", attempts: 1 })
            }
            const hits = retrieved.right.hits
            const citations = hits.map((h) => h.id)
            // Nothing retrieved: the model is never asked to answer from nothing.
            if (hits.length === 0) return { _tag: "Update", update: { answer: "", citations: [] } } satisfies NodeOutcome
            const outcome = yield* answer({ question, context: contextBlock(hits) } satisfies State, input)
            if (outcome._tag !== "Update") return outcome
            return { _tag: "Update", update: { ...outcome.update, citations } } satisfies NodeOutcome
          })
      }
    })
})
