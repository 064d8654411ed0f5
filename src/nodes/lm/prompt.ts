/**
 * The messages a language-model node sends: a system message with the instructions, the
 * fields and the JSON reply format (`module: cot` asks for a `reasoning` field first, the
 * step-by-step thinking of DSPy's ChainOfThought), and a user message with the input
 * values. A retry after a reply that did not fit adds the reply and what was wrong with
 * it. Everything here is a pure function of the config and the state, so a replay
 * rebuilds the same request and the cassette answers it.
 */
import type { FieldType, Signature, SignatureField } from "./Signature.js"
import { describe } from "./Signature.js"

/** One chat message. */
export interface Message {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
}

/** `predict` (answer directly) or `cot` (reason step by step first). */
export type Module = "predict" | "cot"

/** The field a `cot` node's thinking goes to. */
export const REASONING = "reasoning"

/** What the prompt is made from. */
export interface PromptSpec {
  readonly signature: Signature
  readonly instructions: string | undefined
  readonly module: Module
}

const names = (fields: ReadonlyArray<SignatureField>) => fields.map((f) => `\`${f.name}\``).join(", ")

const fieldLine = (name: string, type: FieldType | undefined, note?: string) =>
  `- "${name}": ${type === undefined ? "string" : describe(type)}${note !== undefined ? ` (${note})` : ""}`

/** The keys the reply must have, in order. */
export const replyFields = (spec: PromptSpec): ReadonlyArray<string> => {
  const outputs = spec.signature.outputs.map((f) => f.name)
  return spec.module === "cot" && !outputs.includes(REASONING) ? [REASONING, ...outputs] : outputs
}

/** The system message. */
export const systemMessage = (spec: PromptSpec): string => {
  const { inputs, outputs } = spec.signature
  const instructions = spec.instructions?.trim() || `Given the fields ${names(inputs)}, produce the fields ${names(outputs)}.`
  const lines = [instructions, "", "Your input fields are:"]
  for (const f of inputs) lines.push(`- \`${f.name}\` (${describe(f.type)})`)
  lines.push("", "Reply with one JSON object and nothing else, with these keys in this order:")
  if (spec.module === "cot" && !outputs.some((f) => f.name === REASONING)) lines.push(fieldLine(REASONING, undefined, "think it through step by step first"))
  for (const f of outputs) lines.push(fieldLine(f.name, f.type))
  return lines.join("\n")
}

const render = (value: unknown): string =>
  value === undefined || value === null ? "(empty)" : typeof value === "string" ? (value === "" ? "(empty)" : value) : JSON.stringify(value, null, 2)

/** The user message: each input under a `## name` heading. */
export const userMessage = (spec: PromptSpec, inputs: { readonly [field: string]: unknown }): string =>
  spec.signature.inputs.map((f) => `## ${f.name}\n${render(inputs[f.name])}`).join("\n\n")

/** The first attempt's messages. */
export const messages = (spec: PromptSpec, inputs: { readonly [field: string]: unknown }): ReadonlyArray<Message> => [
  { role: "system", content: systemMessage(spec) },
  { role: "user", content: userMessage(spec, inputs) }
]

/** The messages of the next attempt after a reply that did not fit: the reply, and why. */
export const repair = (previous: ReadonlyArray<Message>, completion: string, problem: string, spec: PromptSpec): ReadonlyArray<Message> => [
  ...previous,
  { role: "assistant", content: completion },
  {
    role: "user",
    content: `That reply could not be used: ${problem}. Reply again with only the JSON object, with the keys ${replyFields(spec).map((k) => `"${k}"`).join(", ")}.`
  }
]
