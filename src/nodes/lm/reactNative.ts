/**
 * The parts of `react`'s native tool protocol (`config.tool_protocol: native`) that are
 * pure functions of the config and the model's reply: each allowed tool as a `function`
 * tool (its `parameters` the JSON Schema of the tool's input Schema), the system message
 * (no reply format: the tools travel in the request), and a tool call's arguments read
 * from the JSON text the model wrote. A replay rebuilds the same requests from them.
 */
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import type { Tool } from "../tools/Tool.js"
import type { FunctionTool } from "./toolMessages.js"

/** The JSON Schema of a tool's arguments (without `$schema`); an open object when its Schema has none to give. */
export const parametersOf = (tool: Tool): unknown => {
  try {
    const { $schema: _, ...schema } = JSONSchema.make(tool.input)
    return schema
  } catch {
    return { type: "object" }
  }
}

/** A tool, named `name` to the model, as a chat-completions `function` tool. */
export const nativeTool = (name: string, tool: Tool): FunctionTool => ({
  type: "function",
  function: { name, description: tool.description, parameters: parametersOf(tool) }
})

/** The system message of the native protocol: instructions, the input field, how to answer. */
export const nativeSystemText = (instructions: string, input: string): string =>
  [
    instructions,
    "",
    "Your input field is:",
    `- \`${input}\``,
    "",
    "Call the tools you need (you get each call's result back). When you have what you need, reply with the answer as plain text, without a tool call."
  ].join("\n")

/**
 * A tool call's arguments: the JSON object the model wrote (an empty text is no
 * arguments), or what is wrong with them (not JSON, not an object).
 */
export const nativeArgs = (text: string): Either.Either<{ readonly [arg: string]: unknown }, string> => {
  if (text.trim() === "") return Either.right({})
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Either.left("its arguments are not JSON")
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return Either.left("its arguments are not a JSON object")
  return Either.right(value as { readonly [arg: string]: unknown })
}
