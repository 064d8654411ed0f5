/**
 * `interrupt`: stops the run in `awaiting-input` before the node runs; the answer lands in
 * `response_field` (when set) and is asserted as a `stargraph.evidence` fact. Written in
 * our form (`prompt`, `response_field` on the node) or the original's (`config:`).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { timeoutMs } from "../../ir/duration.js"
import { OnTimeout, TimeoutField } from "../../ir/rules.js"
import type { InterruptRequest } from "../Executor.js"
import * as NodeKind from "../NodeKind.js"

const Payload = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const options = {
  interrupt_payload: Schema.optional(Payload),
  requested_capability: Schema.optional(Schema.String),
  timeout: TimeoutField,
  on_timeout: Schema.optional(OnTimeout)
}

/** The `interrupt` kind. */
export const InterruptKind = NodeKind.make({
  name: "interrupt",
  summary: "Stops the run in awaiting-input before it runs; the answer lands in response_field and is asserted as evidence.",
  fields: {
    prompt: Schema.optional(Schema.String),
    response_field: Schema.optional(Schema.String),
    ...options,
    spec: Schema.optional(Schema.String),
    config: Schema.optional(Schema.Struct({
      prompt: Schema.String,
      response_field: Schema.optional(Schema.String),
      ...options
    }))
  },
  stops: "waits-for-input",
  check: (node, ctx) => {
    const inline = node.prompt !== undefined || node.response_field !== undefined || node.interrupt_payload !== undefined ||
      node.requested_capability !== undefined || node.timeout !== undefined || node.on_timeout !== undefined
    if (node.config !== undefined && inline) {
      return { path: ["config"], message: "the interrupt is configured twice (on the node and under config)", fix: "keep one form: prompt and response_field on the node, or everything under config" }
    }
    const spec = node.config ?? node
    if (spec.prompt === undefined) {
      return { path: ["prompt"], message: "an interrupt needs a prompt", fix: "add prompt: \"...\" (or config: {prompt: \"...\"})" }
    }
    const at = (field: string) => (node.config !== undefined ? ["config", field] : [field])
    if (spec.response_field !== undefined && !ctx.fields.has(spec.response_field)) {
      return { path: at("response_field"), message: `response_field '${spec.response_field}' is not a declared state field`, fix: `declare '${spec.response_field}' in state_schema or use one of: ${ctx.declared}` }
    }
    if (spec.timeout !== undefined && timeoutMs(String(spec.timeout)) === undefined) {
      return { path: at("timeout"), message: `timeout '${spec.timeout}' is not a duration`, fix: "write seconds (300), an ISO 8601 duration (PT5M), HH:MM:SS (00:05:00) or '5 minutes'" }
    }
    if (spec.on_timeout !== undefined && spec.on_timeout !== "halt" && spec.timeout === undefined) {
      return { path: at("on_timeout"), message: "on_timeout has no effect without a timeout", fix: "add timeout (seconds, PT30M or '30 minutes'), or remove on_timeout" }
    }
    const target = spec.on_timeout?.startsWith("goto:") ? spec.on_timeout.slice(5) : undefined
    if (target !== undefined && !ctx.nodes.has(target) && target !== "__end__") {
      return { path: at("on_timeout"), message: `on_timeout goes to unknown node '${target}'`, fix: "use goto:<an existing node id> or halt" }
    }
    return undefined
  },
  compile: (node) => {
    const spec = node.config ?? node
    const responseField = spec.response_field ?? ""
    const request: InterruptRequest = {
      prompt: spec.prompt ?? "",
      responseField,
      payload: spec.interrupt_payload,
      requestedCapability: spec.requested_capability,
      answered: 0,
      timeoutMs: spec.timeout === undefined ? undefined : timeoutMs(String(spec.timeout)),
      onTimeout: spec.on_timeout
    }
    return Effect.succeed({
      waitsForInput: request,
      execute: (_state, input) =>
        Effect.succeed(
          input.answers.length > 0
            ? { _tag: "Update", update: responseField === "" ? {} : { [responseField]: input.answers[0] } }
            : { _tag: "Interrupt", ...request }
        )
    })
  }
})
