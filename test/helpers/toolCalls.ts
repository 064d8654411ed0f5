/** A std tool's `run` called directly, with capability grants and a filesystem root. */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type { ToolError } from "../../src/errors.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import * as FsJail from "../../src/nodes/tools/std/fsJail.js"
import type * as Tool from "../../src/nodes/tools/Tool.js"

/** Run `tool` on `input` with `grants` (and a filesystem root, when given): its result or its ToolError. */
export const callTool = (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string> = [], root?: string) =>
  Effect.runPromise(
    Effect.either(tool.run(input)).pipe(
      Effect.provide(Capabilities.layer(grants)),
      Effect.provide(root === undefined ? Layer.empty : FsJail.layer(root))
    )
  )

/** The tool's output; a ToolError fails the test with its message and fix. */
export const toolOk = async (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string> = [], root?: string) => {
  const r = await callTool(tool, input, grants, root)
  if (Either.isLeft(r)) throw new Error(`expected success, got ${r.left.message} (${r.left.fix})`)
  return r.right as Record<string, any>
}

/** The tool's ToolError; a success fails the test. */
export const toolErr = async (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string> = [], root?: string): Promise<ToolError> => {
  const r = await callTool(tool, input, grants, root)
  if (Either.isRight(r)) throw new Error(`expected a ToolError, got ${JSON.stringify(r.right)}`)
  return r.left
}
