/**
 * A tool: a named, versioned function from a Schema-checked input to a Schema-checked
 * output, which a `tool` node calls through the run's cassette. Make one with
 * {@link make}; register it with `ToolRegistry.layer`, or export it from a module a
 * graph names (`tool: "./tools.ts:lookup"`).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Tool } from "stargraph"
 * export const lookup = Tool.make({
 *   id: "acme.lookup",
 *   version: "1",
 *   description: "Look an order up by id",
 *   input: Schema.Struct({ order_id: Schema.String }),
 *   output: Schema.Struct({ status: Schema.String }),
 *   run: ({ order_id }) => Effect.succeed({ status: order_id.startsWith("A") ? "shipped" : "open" })
 * })
 * ```
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import { ToolError } from "../../errors.js"

/** A registered tool (its Schemas and `run` erased to `unknown`; {@link make} keeps them typed). */
export interface Tool {
  readonly _tag: "Tool"
  /** `namespace.name`, e.g. `std.calculator`. */
  readonly id: string
  readonly version: string
  /** `id@version`: what graphs pin and the cassette records. */
  readonly key: string
  readonly description: string
  /** The arguments, as the graph passes them (JSON) decoded to what `run` takes. */
  readonly input: Schema.Schema<unknown, unknown>
  /** What `run` returns, encoded to the JSON written to state and recorded. */
  readonly output: Schema.Schema<unknown, unknown>
  /** Capabilities every call needs (checked before `run`, never in a replay). */
  readonly capabilities: ReadonlyArray<string>
  readonly run: (input: unknown) => Effect.Effect<unknown, ToolError>
}

/**
 * What {@link make} takes. `run` may need services (`R`): it runs in the fiber that drives
 * the run, so the services the app provides to the Effect that calls `run.start()` (or to
 * its Scheduler layer) are there; a missing one fails the call with a `ToolError` naming it.
 */
export interface ToolDefinition<In extends Schema.Schema.AnyNoContext, Out extends Schema.Schema.AnyNoContext, R = never> {
  /** `namespace.name`: letters, digits, `_` or `-`, in two or more dot-separated parts. */
  readonly id: string
  /** Bump it when the tool's behaviour changes: graphs pin `id@version`. */
  readonly version: string
  readonly description: string
  readonly input: In
  readonly output: Out
  readonly capabilities?: ReadonlyArray<string> | undefined
  readonly run: (input: Schema.Schema.Type<In>) => Effect.Effect<Schema.Schema.Type<Out>, ToolError, R>
}

/** Make a tool (its services, `R`, come from the run's context when it is called). */
export const make = <In extends Schema.Schema.AnyNoContext, Out extends Schema.Schema.AnyNoContext, R = never>(
  definition: ToolDefinition<In, Out, R>
): Tool => ({
  _tag: "Tool",
  id: definition.id,
  version: definition.version,
  key: `${definition.id}@${definition.version}`,
  description: definition.description,
  input: definition.input as unknown as Schema.Schema<unknown, unknown>,
  output: definition.output as unknown as Schema.Schema<unknown, unknown>,
  capabilities: definition.capabilities ?? [],
  // The services are the run's: erased here, provided by the fiber that drives the run.
  run: definition.run as unknown as (input: unknown) => Effect.Effect<unknown, ToolError>
})

/** Fail a tool's `run` with `ToolError[failed]` (or another reason). */
export const fail = (message: string, fix: string, reason: ToolError["reason"] = "failed"): Effect.Effect<never, ToolError> =>
  Effect.fail(new ToolError({ reason, message, fix }))

/** Whether `value` is a {@link Tool} (made with {@link make}). */
export const isTool = (value: unknown): value is Tool =>
  value !== null && typeof value === "object" && (value as { readonly _tag?: unknown })._tag === "Tool" &&
  typeof (value as { readonly run?: unknown }).run === "function" && typeof (value as { readonly id?: unknown }).id === "string"

/** Tool ids: `namespace.name` (two or more dot-separated parts). */
export const TOOL_ID = /^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)+$/

/** Tool versions: `1`, `2.1.0`, `2024-05-01`, `1.0.0-beta.1`. */
export const TOOL_VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/

/** What is wrong with a tool's id or version, if anything. */
export const problemOf = (tool: Tool): string | undefined =>
  !TOOL_ID.test(tool.id)
    ? `tool id '${tool.id}' is not namespace.name (letters, digits, '_' or '-' in two or more dot-separated parts)`
    : !TOOL_VERSION.test(tool.version)
    ? `tool '${tool.id}' has version '${tool.version}'; a version is letters, digits, '.', '_', '+' or '-' (e.g. 1 or 2.1.0)`
    : undefined

/** `std.calculator@1` → `{id, version}`; `std.calculator` → `{id}` (the latest version). */
export const parseRef = (ref: string): { readonly id: string; readonly version?: string } => {
  const at = ref.lastIndexOf("@")
  return at <= 0 ? { id: ref } : { id: ref.slice(0, at), version: ref.slice(at + 1) }
}

/** Order versions part by part (`.`/`-` separated), numbers numerically: `2` < `10`, `1.2` < `1.10`, `1.0-beta` < `1.0`. */
export const compareVersions = (a: string, b: string): number => {
  const pa = a.split(/[.-]/)
  const pb = b.split(/[.-]/)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i]
    const y = pb[i]
    const nx = x !== undefined && /^\d+$/.test(x) ? Number(x) : undefined
    const ny = y !== undefined && /^\d+$/.test(y) ? Number(y) : undefined
    // A longer version is later (`1.0.1` > `1.0`) unless it goes on with a label (`1.0-beta` < `1.0`).
    if (x === undefined) return ny !== undefined ? -1 : 1
    if (y === undefined) return nx !== undefined ? 1 : -1
    const c = nx !== undefined && ny !== undefined ? nx - ny : nx !== undefined ? 1 : ny !== undefined ? -1 : x < y ? -1 : x > y ? 1 : 0
    if (c !== 0) return c
  }
  return 0
}
