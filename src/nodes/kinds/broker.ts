/**
 * `broker`: the original Stargraph's broker node. It reads the requesting agent's id and an
 * intent from two string state fields (`config.agent_id_field`, `config.intent_field`),
 * asks the {@link Broker} the run has (the app's, else the HTTP broker at
 * `STARGRAPH_BROKER_URL`) with `{agent_id, intent}`, and writes its response to
 * `config.output_field` with a provenance record under `__stargraph_provenance__`:
 * `{origin: "tool", source: <the broker's name>, external_id: <its request_id>}`.
 *
 * It needs the `tools:broker_request` capability, demanded before the broker is asked
 * (`ToolError[capability-denied]` naming it). A field that is not a string fails the node
 * with `ToolError[invalid-input]` naming the field, before any call. The call is recorded
 * in the step's cassette as `broker.request` (request `{agent_id, intent}`; response the
 * broker's name and answer), so a replay or fork answers it without a broker, and without
 * the capability, as for a tool call. Failures are `ToolError`s of tool `broker.request`.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { ToolError } from "../../errors.js"
import type { State } from "../../ir/stateSchema.js"
import { BrokerResponse, CAPABILITY, current } from "../broker/Broker.js"
import type { NodeInput, NodeOutcome } from "../Executor.js"
import { checkRead, checkWrite } from "../lm/config.js"
import { FIELD_NAME } from "../lm/Signature.js"
import type { CheckContext, NodeProblem } from "../NodeKind.js"
import * as NodeKind from "../NodeKind.js"
import * as Capabilities from "../tools/Capabilities.js"

/** The call's name in the cassette, and the `tool` its errors name. */
const CALL = "broker.request"

/** The key of the provenance record beside the broker's response (the original's). */
export const PROVENANCE_KEY = "__stargraph_provenance__"

/** The node's config (the original's `BrokerNodeConfig`): the state fields it reads and writes. */
const BrokerConfig = Schema.Struct({
  /** State field holding the requesting agent's id (a string). */
  agent_id_field: Schema.String,
  /** State field holding the intent (a string). */
  intent_field: Schema.String,
  /** State field the response (with its provenance) is written to. */
  output_field: Schema.String
})

type BrokerConfig = typeof BrokerConfig.Type

/** What the cassette records for a call: the broker's name (the provenance's source) and its answer. */
const Recorded = Schema.Struct({ source: Schema.String, response: BrokerResponse })
const decodeRecorded = Schema.decodeUnknownEither(Recorded)

/** The fields read, with the request argument each gives. */
const reads = (config: BrokerConfig) => [
  { key: "agent_id_field", field: config.agent_id_field, argument: "agent_id" },
  { key: "intent_field", field: config.intent_field, argument: "intent" }
] as const

const NEEDS_CONFIG = "add config: {agent_id_field: agent_id, intent_field: intent, output_field: broker_response}"

const check = (config: BrokerConfig | undefined, ctx: CheckContext): NodeProblem | undefined => {
  if (config === undefined) return { path: ["config"], message: "a broker node needs config", fix: NEEDS_CONFIG }
  for (const key of ["agent_id_field", "intent_field", "output_field"] as const) {
    if (!FIELD_NAME.test(config[key])) return { path: ["config", key], message: `'${config[key]}' is not a field name`, fix: "name a state field (letters, digits and _)" }
  }
  for (const { field, key } of reads(config)) {
    const read = checkRead(field, ["config", key], ctx)
    if (read !== undefined) return { ...read, message: `broker ${read.message}` }
    const type = ctx.fields.get(field)?.type
    if (type !== undefined && type !== "string" && type !== "any") {
      return { path: ["config", key], message: `broker reads state field '${field}' as a string, but it is declared ${type}`, fix: `declare '${field}' as a string, or point ${key} at a string field` }
    }
  }
  const write = checkWrite(config.output_field, { _tag: "dict" }, ["config", "output_field"], ctx)
  return write === undefined ? undefined : { ...write, message: `broker ${write.message}`, fix: write.fix.replace("change the output's type in the signature", "point output_field at an object field") }
}

const located = (error: ToolError, input: NodeInput): ToolError =>
  new ToolError({
    reason: error.reason,
    tool: CALL,
    nodeId: input.nodeId,
    step: input.step,
    ...(error.argument !== undefined ? { argument: error.argument } : {}),
    ...(error.capability !== undefined ? { capability: error.capability } : {}),
    message: error.message,
    fix: error.fix
  })

/** What JavaScript calls a state value, for a message. */
const typeName = (value: unknown): string => (value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : `a ${typeof value}`)

/** The `broker` kind. */
export const BrokerKind = NodeKind.make({
  name: "broker",
  summary:
    "Asks the run's Broker (the app's Broker layer, or the HTTP broker at STARGRAPH_BROKER_URL) with {agent_id, intent} read from two string fields; writes its response, with a provenance record, to output_field. Needs tools:broker_request; recorded for replay.",
  fields: {
    /** Accepted and ignored, as in the original's node spec. */
    spec: Schema.optional(Schema.String),
    config: Schema.optional(BrokerConfig)
  },
  check: (node, ctx) => check(node.config, ctx),
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const config = node.config
      if (config === undefined) return yield* ctx.invalid(["config"], "a broker node needs config", NEEDS_CONFIG)
      const fields = reads(config)

      /** Ask the broker (live): the capability, the broker the run has, the call. */
      const live = (request: { readonly agent_id: string; readonly intent: string }, input: NodeInput) =>
        Effect.gen(function*() {
          yield* Capabilities.demand(CAPABILITY)
          const broker = yield* current(input.nodeId)
          const response = yield* broker.request(request)
          return { source: broker.name, response }
        }).pipe(Effect.mapError((e) => located(e, input)))

      return {
        execute: (state: State, input: NodeInput) =>
          Effect.gen(function*() {
            const request: Record<string, string> = {}
            for (const { argument, field, key } of fields) {
              const value = state[field]
              if (typeof value !== "string") {
                return yield* new ToolError({
                  reason: "invalid-input",
                  tool: CALL,
                  nodeId: input.nodeId,
                  step: input.step,
                  argument,
                  message: `state field '${field}' (${key}) is ${value === undefined ? "not set" : typeName(value)}, not a string`,
                  fix: `write a string to '${field}' before node '${input.nodeId}' runs, or point ${key} at a string field`
                })
              }
              request[argument] = value
            }
            const asked = { agent_id: request["agent_id"]!, intent: request["intent"]! }
            const recorded = decodeRecorded(yield* input.calls.callEffect(CALL, asked, live(asked, input)))
            if (Either.isLeft(recorded)) {
              return yield* new ToolError({ reason: "invalid-output", tool: CALL, nodeId: input.nodeId, step: input.step, message: "the broker's response is not {source, response: {request_id, …}}", fix: "the run's cassette is damaged, or the broker answered what is not JSON: fix the broker" })
            }
            const { response, source } = recorded.right
            return {
              _tag: "Update",
              update: { [config.output_field]: { ...response, [PROVENANCE_KEY]: { origin: "tool", source, external_id: response.request_id } } }
            } satisfies NodeOutcome
          })
      }
    })
})
