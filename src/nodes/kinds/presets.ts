/**
 * The signature presets (the original Stargraph's prebuilt language-model kinds):
 *
 * | kind        | reads (default)  | writes                                             |
 * | ----------- | ---------------- | -------------------------------------------------- |
 * | `reason`    | `question`       | `answer`, `rationale`                              |
 * | `summarize` | `text`           | `summary`                                          |
 * | `classify`  | `text`           | `verdict` (one of `labels`), `confidence`          |
 * | `extract`   | `text`           | the `fields` keys, typed                           |
 * | `judge`     | `content`        | `verdict` (`pass`/`fail`), `score`, `rationale`    |
 * | `plan`      | `goal`           | `tasks` (a list of strings)                        |
 *
 * `confidence` and `score` are clamped to [0, 1] and written as numbers to a numeric
 * state field, else as the original's float-as-string (`"0.85"`). `rationale` is written
 * only when the state declares it, from the reply's `reasoning` (a `cot` reply without it
 * is a `ModelOutputError`). A `classify` label outside `labels` or a `judge` verdict other
 * than pass/fail is a `ModelOutputError` (retried under `retry`).
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { makePreset, type PostContext, score } from "../lm/preset.js"
import { FIELD_NAME, type FieldType } from "../lm/Signature.js"

const str: FieldType = { _tag: "str" }
const float: FieldType = { _tag: "float" }
const strings: FieldType = { _tag: "list", item: str }

/** The `reason` kind: answer a question, thinking step by step (`answer`, `rationale`). */
export const ReasonKind = makePreset({
  name: "reason",
  summary: "Answers config.input (default question) with a language model, reasoning step by step: writes answer and rationale. config.stub: true answers offline.",
  fields: {},
  defaultInput: "question",
  module: "cot",
  outputs: () => [{ name: "answer", type: str }],
  instructions: () => "Answer the question accurately and completely. Work through it step by step before you answer.",
  writes: () => [{ field: "answer", type: str }, { field: "rationale", type: str, optional: true }],
  post: () => (outputs, reasoning) => Either.right({ answer: String(outputs["answer"]), rationale: reasoning }),
  stub: () => () => ({ answer: "stub-answer", rationale: "stub-rationale" })
})

/** The `summarize` kind: a faithful summary (`summary`). */
export const SummarizeKind = makePreset({
  name: "summarize",
  summary: "Summarizes config.input (default text) with a language model: writes summary. config.stub: true answers offline.",
  fields: {},
  defaultInput: "text",
  module: "cot",
  outputs: () => [{ name: "summary", type: str }],
  instructions: () => "Summarize the text faithfully and briefly. Keep its key facts and figures, and add nothing it does not say.",
  writes: () => [{ field: "summary", type: str }],
  post: () => (outputs) => Either.right({ summary: String(outputs["summary"]) }),
  stub: () => () => ({ summary: "stub-summary" })
})

/** Word boundaries that work for labels with any characters. */
const mentions = (text: string, label: string): boolean => {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  return new RegExp(`(^|[^\\p{L}\\p{N}_])${escaped}($|[^\\p{L}\\p{N}_])`, "iu").test(text)
}

const labelsOf = (labels: ReadonlyArray<string>) => labels.map((l) => l.trim())

/** The `classify` kind: one of `labels` (`verdict`) and a `confidence`. */
export const ClassifyKind = makePreset({
  name: "classify",
  summary: "Classifies config.input (default text) into one of config.labels: writes verdict and confidence. The stub picks the first label the input mentions.",
  fields: { labels: Schema.Array(Schema.String) },
  needs: { message: "classify needs config.labels", fix: "add config: {labels: [urgent, routine, irrelevant]}" },
  defaultInput: "text",
  module: "predict",
  check: (config) => {
    const labels = labelsOf(config.labels)
    if (labels.length < 2) return { path: ["config", "labels"], message: `classify needs at least two labels (has ${labels.length})`, fix: "list the labels, e.g. labels: [urgent, routine, irrelevant]" }
    const empty = labels.findIndex((l) => l === "")
    if (empty >= 0) return { path: ["config", "labels", empty], message: "a label is empty", fix: "remove it or name it" }
    const seen = new Map<string, number>()
    for (const [i, label] of labels.entries()) {
      const prior = seen.get(label.toLowerCase())
      if (prior !== undefined) return { path: ["config", "labels", i], message: `label '${label}' repeats label ${prior} ('${labels[prior]}'; labels are compared case-insensitively)`, fix: "keep each label once" }
      seen.set(label.toLowerCase(), i)
    }
    return undefined
  },
  outputs: () => [{ name: "label", type: str }, { name: "confidence", type: float }],
  instructions: (config) =>
    `Choose the one label that fits the text best, from: ${labelsOf(config.labels).join(", ")}. ` +
    "Give the label exactly as written above, and your confidence in it as a number from 0.0 to 1.0.",
  writes: () => [{ field: "verdict", type: str }, { field: "confidence" }],
  post: (config, ctx: PostContext) => {
    const labels = labelsOf(config.labels)
    const canonical = new Map(labels.map((l) => [l.toLowerCase(), l]))
    return (outputs) => {
      const raw = String(outputs["label"]).trim()
      const label = canonical.get(raw.toLowerCase().replace(/\.$/, ""))
      if (label === undefined) return Either.left({ field: "label", message: `label '${raw}' is not one of the labels: ${labels.join(", ")}` })
      return Either.right({ verdict: label, confidence: score(outputs["confidence"] as number, "confidence", ctx) })
    }
  },
  stub: (config, ctx) => {
    const labels = labelsOf(config.labels)
    return (input) => {
      const text = typeof input === "string" ? input : JSON.stringify(input ?? "")
      const found = labels.find((l) => mentions(text, l))
      return { verdict: found ?? labels[0]!, confidence: score(found !== undefined ? 1 : 0, "confidence", ctx) }
    }
  }
})

const EXTRACT_TYPES: { readonly [name: string]: FieldType } = {
  str,
  int: { _tag: "int" },
  float,
  bool: { _tag: "bool" },
  list: strings
}

const extractFields = (fields: { readonly [name: string]: string }) =>
  Object.entries(fields).map(([name, type]) => ({ name, type: EXTRACT_TYPES[type] ?? str }))

const zero = (type: FieldType, name: string): unknown =>
  type._tag === "str" ? `stub-${name}` : type._tag === "int" || type._tag === "float" ? 0 : type._tag === "bool" ? false : []

/** The `extract` kind: the declared `fields`, typed. */
export const ExtractKind = makePreset({
  name: "extract",
  summary: "Extracts config.fields ({name: str|int|float|bool|list}) from config.input (default text) into those state fields. config.stub: true answers offline.",
  fields: { fields: Schema.Record({ key: Schema.String, value: Schema.String }) },
  needs: { message: "extract needs config.fields", fix: "add config: {fields: {who: str, amount: float}}" },
  defaultInput: "text",
  module: "predict",
  check: (config) => {
    const entries = Object.entries(config.fields)
    if (entries.length === 0) return { path: ["config", "fields"], message: "extract needs at least one field", fix: "add config.fields: {who: str, amount: float}" }
    for (const [name, type] of entries) {
      if (!FIELD_NAME.test(name)) return { path: ["config", "fields", name], message: `'${name}' is not a field name`, fix: "name a state field (letters, digits and _)" }
      if (EXTRACT_TYPES[type] === undefined) return { path: ["config", "fields", name], message: `unknown type '${type}'`, fix: `use one of: ${Object.keys(EXTRACT_TYPES).join(", ")}` }
    }
    return undefined
  },
  outputs: (config) => extractFields(config.fields),
  instructions: () => "Pull the requested fields out of the text. Copy values as they appear in it; do not guess or invent a value it does not hold.",
  writes: (config) => extractFields(config.fields).map((f) => ({ field: f.name, type: f.type })),
  post: (config) => {
    const names = Object.keys(config.fields)
    return (outputs) => Either.right(Object.fromEntries(names.map((n) => [n, outputs[n]])))
  },
  stub: (config) => {
    const fields = extractFields(config.fields)
    return () => Object.fromEntries(fields.map((f) => [f.name, zero(f.type, f.name)]))
  }
})

/** The `judge` kind: `pass`/`fail` against a `rubric`, a `score` and a `rationale`. */
export const JudgeKind = makePreset({
  name: "judge",
  summary: "Judges config.input (default content) against config.rubric: writes verdict (pass|fail), score and rationale. The stub passes.",
  fields: { rubric: Schema.String },
  needs: { message: "judge needs config.rubric", fix: "add config: {rubric: \"The answer is complete and correct.\"}" },
  defaultInput: "content",
  module: "cot",
  check: (config) =>
    config.rubric.trim() === "" ? { path: ["config", "rubric"], message: "the rubric is empty", fix: "write what the content must do to pass" } : undefined,
  outputs: () => [{ name: "verdict", type: str }, { name: "score", type: float }],
  instructions: (config) =>
    `Judge the content against this rubric:\n${config.rubric.trim()}\n` +
    "The verdict is exactly \"pass\" or \"fail\"; the score is a number from 0.0 to 1.0.",
  writes: () => [{ field: "verdict", type: str }, { field: "score" }, { field: "rationale", type: str, optional: true }],
  post: (_config, ctx) => (outputs, reasoning) => {
    const raw = String(outputs["verdict"]).trim()
    const verdict = raw.toLowerCase().replace(/\.$/, "")
    if (verdict !== "pass" && verdict !== "fail") return Either.left({ field: "verdict", message: `verdict '${raw}' is neither pass nor fail` })
    return Either.right({ verdict, score: score(outputs["score"] as number, "score", ctx), rationale: reasoning })
  },
  stub: (_config, ctx) => () => ({ verdict: "pass", score: score(1, "score", ctx), rationale: "stub-rationale" })
})

/** The `plan` kind: an ordered list of `tasks`. */
export const PlanKind = makePreset({
  name: "plan",
  summary: "Breaks config.input (default goal) into an ordered list of tasks with a language model: writes tasks. config.stub: true answers offline.",
  fields: {},
  defaultInput: "goal",
  module: "cot",
  outputs: () => [{ name: "tasks", type: strings }],
  instructions: () =>
    "Turn the goal into a short ordered list of concrete tasks. Each task is small enough to finish in one step and can be checked on its own.",
  writes: () => [{ field: "tasks", type: strings }],
  post: () => (outputs) => Either.right({ tasks: outputs["tasks"] }),
  stub: () => () => ({ tasks: ["stub-task"] })
})
