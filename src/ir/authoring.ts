/**
 * The original Stargraph's authoring format, lowered to an IR document: a graph written
 * without `ir_version` as `id`, `state` (`field: type`, or `{type, route, default}`), a
 * `nodes` mapping (`name: {kind, ...config}`) and `routes` (`a: b`, `judge: {fail: x,
 * pass: done}`). The lowering is pure and deterministic (the same document always gives
 * the same IR, so the graph hash is stable), and it produces only forms the IR decoder
 * already reads: a flat `state_schema` with `mirror` set from `route`, `nodes: [{id, kind,
 * spec?, config?}]` in declaration order (the default flow when no rule fires), and
 * `rules` in the `when` mapping sugar.
 */
import * as Either from "effect/Either"
import { closestName } from "./didYouMean.js"

/** A shape problem of an authoring document, at a path inside it. */
export interface AuthoringProblem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
  readonly fix: string
}

/** An authoring document lowered to an IR document, with the way back from IR paths. */
export interface LoweredAuthoring {
  /** The IR document (plain data, as a YAML file with `ir_version` would decode to). */
  readonly document: Record<string, unknown>
  /** The authoring-document path an IR path comes from (for errors and their line). */
  readonly toAuthoringPath: (path: ReadonlyArray<PropertyKey>) => ReadonlyArray<PropertyKey>
  /** The model server the `lm:` block names, when it has one: not part of the IR (nor of the graph hash). */
  readonly lm?: GraphModel | undefined
}

/**
 * The model server an authoring document's `lm:` block names: an OpenAI-compatible server
 * already running on this machine, which a run of the graph uses as its default model.
 */
export interface GraphModel {
  /** `http://127.0.0.1:<port>/v1` */
  readonly apiBase: string
  readonly model: string
}

/** The route target that halts the run. */
export const DONE = "done"

/** The top-level keys of an authoring document. */
export const AUTHORING_KEYS = ["id", "state", "nodes", "routes", "lm"] as const

/** The `state` type names, with each one's zero value (a field's default when it sets none). */
const ZERO: { readonly [type: string]: unknown } = { str: "", int: 0, float: 0, bool: false, list: [], dict: {} }
const TYPES = Object.keys(ZERO)

/** Graph ids, as the original accepts them. */
const NAME = /^[a-z0-9][a-z0-9_.-]*$/
/**
 * Node names: the original's slugs, but starting with a letter. A node id is a bare CLIPS
 * symbol in the rule engine's facts (`(node-id (id work))`), where a digit-led id (`42`,
 * `1e3`) would read as a number, so the IR refuses it; the lowering refuses it first, at
 * the name written.
 */
const NODE_NAME = /^[a-z][a-z0-9_.-]*$/
/** State field names: identifiers. */
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The IR version the lowering writes (the original's). */
const IR_VERSION = "1.0.0"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Whether a parsed document is an authoring-format graph: a mapping without `ir_version`
 * whose `nodes` is a mapping (an IR document's `nodes` is a list), as the original's
 * `is_authoring_format` asks for `nodes`. A YAML file with only a top-level `state:` or
 * `routes:` (a settings file) is not a graph: a search of a folder skips it.
 */
export const isAuthoring = (doc: unknown): doc is Record<string, unknown> =>
  isRecord(doc) && !("ir_version" in doc) && isRecord(doc["nodes"])

/**
 * Whether a document given as a graph (a file named to `run`, `validate`, ...) is read as
 * an authoring graph, so that its errors are the authoring ones: {@link isAuthoring}, or a
 * mapping without `ir_version` with `state`, `routes` or a `nodes` that is not a list
 * (`nodes:` left empty, say). Not for finding graphs in a folder.
 */
export const readsAsAuthoring = (doc: unknown): doc is Record<string, unknown> =>
  isAuthoring(doc) ||
  (isRecord(doc) && !("ir_version" in doc) && ("state" in doc || "routes" in doc || ("nodes" in doc && !Array.isArray(doc["nodes"]))))

/** The graph id a file's name gives when the document sets none: its stem, as the original's (`research-bot.yaml`, `research-bot.json` → `research-bot`). */
export const defaultGraphId = (file: string | undefined): string => {
  if (file === undefined) return "authored"
  const base = file.split(/[\\/]/).pop() ?? file
  return base.replace(/\.(ya?ml|json)$/i, "")
}

const problem = (path: ReadonlyArray<PropertyKey>, message: string, fix: string): Either.Either<never, AuthoringProblem> =>
  Either.left({ path, message: `authoring: ${message}`, fix })

const typeName = (u: unknown): string => (u === null ? "null" : Array.isArray(u) ? "a list" : typeof u === "object" ? "a mapping" : `a ${typeof u}`)

/** A bare tool id gets version 1 (`std.web_search` → `std.web_search@1`). */
const versioned = (tool: unknown): unknown => (typeof tool === "string" && !tool.includes("@") ? `${tool}@1` : tool)

interface LoweredField {
  readonly ir: Record<string, unknown>
  readonly type: string
  readonly routed: boolean
}

const lowerField = (name: string, raw: unknown): Either.Either<LoweredField, AuthoringProblem> => {
  const at = ["state", name]
  if (!FIELD.test(name)) return problem(at, `state field '${name}' is not an identifier`, "name it with letters, digits and '_', not starting with a digit")
  if (name === "__proto__") return problem(at, "a state field cannot be named '__proto__': it names an object's prototype in JavaScript, and would be dropped", "rename the field")
  let type: unknown
  let routed: unknown = false
  let given: unknown
  if (typeof raw === "string") {
    type = raw
  } else if (isRecord(raw)) {
    const extra = Object.keys(raw).filter((k) => !["type", "route", "default"].includes(k))
    if (extra.length > 0) {
      const meant = closestName(extra[0]!, ["type", "route", "default"])
      return problem([...at, extra[0]!], `state field '${name}' has unknown key${extra.length > 1 ? "s" : ""} ${extra.map((k) => `'${k}'`).join(", ")}`,
        `${meant !== undefined ? `did you mean '${meant}'? ` : ""}a field's mapping takes type, route and default`)
    }
    type = raw["type"] ?? "str"
    routed = raw["route"] ?? false
    given = raw["default"]
    if (typeof routed !== "boolean") return problem([...at, "route"], `route of state field '${name}' is ${typeName(routed)}, not true or false`, "write route: true to let routes branch on the field, or leave it out")
  } else {
    return problem(at, `state field '${name}' is ${typeName(raw)}: it must be a type name or a mapping {type, route, default}`, `write ${name}: str, or ${name}: {type: str, route: true}`)
  }
  if (typeof type !== "string" || !TYPES.includes(type)) {
    const meant = typeof type === "string" ? closestName(type, TYPES) : undefined
    return problem(typeof raw === "string" ? at : [...at, "type"], `state field '${name}' has unsupported type ${JSON.stringify(type)}`,
      `${meant !== undefined ? `did you mean '${meant}'? ` : ""}use one of: ${TYPES.join(", ")}`)
  }
  // An explicit null default is the zero value too, as in the original.
  const value = given ?? ZERO[type]
  return Either.right({ ir: { type, default: value, mirror: routed === true }, type, routed: routed === true })
}

const lowerNode = (name: string, raw: unknown): Either.Either<Record<string, unknown>, AuthoringProblem> => {
  const at = ["nodes", name]
  if (!isRecord(raw)) return problem(at, `node '${name}' is ${typeName(raw)}: it must be a mapping with a kind`, `write ${name}: {kind: echo}`)
  if (!NODE_NAME.test(name)) {
    return problem(at, `node name '${name}' must be lowercase letters, digits, '_', '.' or '-', starting with a letter`,
      `rename the node (and the routes that name it)${/^[0-9]/.test(name) ? `, e.g. n${name}: a node id is a rule-engine symbol, which cannot start with a digit` : ""}`)
  }
  if (name === DONE) return problem(at, `a node cannot be named '${DONE}': a route to '${DONE}' halts the run`, "rename the node (e.g. finish)")
  const { kind, spec, ...config } = raw
  if (typeof kind !== "string" || kind === "") return problem([...at, ...(kind === undefined ? [] : ["kind"])], `node '${name}' is missing its kind`, `add kind: to ${name}, e.g. {kind: echo} (docs/nodes.md lists the kinds)`)
  if (spec !== undefined && kind !== "subgraph" && kind !== "map") return problem([...at, "spec"], `node '${name}': spec is only valid on kind: subgraph (or map)`, "remove spec, or set kind: subgraph")
  if (Array.isArray(config["tools"])) config["tools"] = config["tools"].map(versioned)
  if (typeof config["tool"] === "string") config["tool"] = versioned(config["tool"])
  const configured = Object.keys(config).length > 0
  return Either.right({ id: name, kind, ...(spec !== undefined ? { spec } : {}), ...(configured ? { config } : {}) })
}

/** The part of a rule id a verdict value gives: characters a rule id cannot hold become '_'. */
const idPart = (value: string): string => value.replace(/[^A-Za-z0-9_.-]/g, "_")

interface LoweredRule {
  readonly ir: Record<string, unknown>
  /** The route (and the verdict value) it comes from. */
  readonly from: ReadonlyArray<PropertyKey>
}

const lowerRoutes = (
  routes: Record<string, unknown>,
  nodes: ReadonlyArray<string>,
  state: ReadonlyMap<string, LoweredField>
): Either.Either<ReadonlyArray<LoweredRule>, AuthoringProblem> => {
  const rules: Array<LoweredRule> = []
  const ids = new Set<string>()
  const uniqueId = (id: string): string => {
    let unique = id
    for (let n = 2; ids.has(unique); n++) unique = `${id}-${n}`
    ids.add(unique)
    return unique
  }
  const then = (source: string, target: unknown, at: ReadonlyArray<PropertyKey>, halt: string): Either.Either<ReadonlyArray<unknown>, AuthoringProblem> => {
    if (target === DONE) return Either.right([{ kind: "halt", reason: halt }])
    if (typeof target !== "string" || !nodes.includes(target)) {
      const meant = typeof target === "string" ? closestName(target, [...nodes, DONE]) : undefined
      return problem(at, `route from '${source}' targets ${typeof target === "string" ? `unknown node '${target}'` : typeName(target)}`,
        `${meant !== undefined ? `did you mean '${meant}'? ` : ""}use one of: ${nodes.join(", ")}; or ${DONE} to halt the run`)
    }
    return Either.right([{ kind: "goto", target }])
  }
  for (const [source, target] of Object.entries(routes)) {
    const at = ["routes", source]
    if (!nodes.includes(source)) {
      const meant = closestName(source, nodes)
      return problem(at, `route source '${source}' is not a declared node`, `${meant !== undefined ? `did you mean '${meant}'? ` : ""}route from one of: ${nodes.join(", ")}`)
    }
    if (typeof target === "string") {
      const actions = then(source, target, at, `${source} complete`)
      if (Either.isLeft(actions)) return Either.left(actions.left)
      rules.push({ ir: { id: uniqueId(`r-${source}`), when: { node: source }, then: actions.right }, from: at })
      continue
    }
    if (!isRecord(target)) {
      return problem(at, `route '${source}' is ${typeName(target)}: it must be a target node (or ${DONE}) or a mapping of verdict value to target`, `write ${source}: next-node, or ${source}: {pass: ${DONE}, fail: next-node}`)
    }
    const verdict = state.get("verdict")
    if (verdict === undefined || !verdict.routed) {
      return problem(at, `route '${source}' branches on verdict values, but the state does not declare a routed \`verdict\` field${verdict !== undefined ? " (it has no route: true)" : ""}`,
        `declare it in state: verdict: {type: ${verdict?.type ?? "str"}, route: true}`)
    }
    if (Object.keys(target).length === 0) return problem(at, `route '${source}' maps no verdict values`, `write ${source}: {pass: ${DONE}, fail: next-node}, or remove the route`)
    for (const [value, to] of Object.entries(target)) {
      if (value === "") {
        return problem(at, `route '${source}' maps an empty verdict value (a null key, ~, reads as one)`,
          `name the verdict value the route takes, e.g. ${source}: {pass: ${DONE}, fail: next-node}`)
      }
      const actions = then(source, to, [...at, value], `${source}: verdict ${value}`)
      if (Either.isLeft(actions)) return Either.left(actions.left)
      rules.push({ ir: { id: uniqueId(`r-${source}-${idPart(value)}`), when: { node: source, verdict: value }, then: actions.right }, from: [...at, value] })
    }
  }
  return Either.right(rules)
}

const LM_KEYS = ["provider", "model", "host", "port", "args", "startup_timeout_s"]
const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"])

/**
 * The `lm:` block: the original launches (or attaches to) an sglang server for the graph.
 * Here nothing is launched: `model` and `port` (default 30000) name a server already
 * running on this machine, at `http://127.0.0.1:<port>/v1`. The fields the original keeps
 * from graph files (`args`, a `host` not on this machine) are refused, as there.
 */
const lowerLm = (raw: unknown): Either.Either<GraphModel, AuthoringProblem> => {
  const keys = `keys: ${LM_KEYS.join(", ")}`
  if (!isRecord(raw)) return problem(["lm"], `lm is ${typeName(raw)}: it must be a mapping`, `write lm: {model: <model>, port: 30000} (${keys})`)
  const extra = Object.keys(raw).find((k) => !LM_KEYS.includes(k))
  if (extra !== undefined) {
    const meant = closestName(extra, LM_KEYS)
    return problem(["lm", extra], `unknown key '${extra}' in lm`, `${meant !== undefined ? `did you mean '${meant}'? ` : ""}${keys}`)
  }
  const { args, host, model, port, provider, startup_timeout_s } = raw
  if (provider !== undefined && provider !== "sglang") {
    return problem(["lm", "provider"], `provider ${JSON.stringify(provider)} is not one lm names (sglang)`, "remove provider (or write sglang), or leave lm out and pass --lm-url <base url> --lm-model <model> to the run")
  }
  if (typeof model !== "string" || model.trim() === "") return problem(["lm", ...(model === undefined ? [] : ["model"])], "lm needs the model the server serves", "add model: <model>, e.g. model: microsoft/phi-4")
  if (port !== undefined && (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)) {
    return problem(["lm", "port"], `port ${JSON.stringify(port)} is not a port number`, "write a whole number from 1 to 65535 (default 30000)")
  }
  if (host !== undefined && (typeof host !== "string" || !LOOPBACK.has(host))) {
    return problem(["lm", "host"], `host ${JSON.stringify(host)} is not this machine: a graph file cannot send the prompts (and the API key) elsewhere`,
      "remove host (the server is on 127.0.0.1), or leave lm out and pass --lm-url http://<host>:<port>/v1 --lm-model <model> to the run yourself")
  }
  if (args !== undefined && !(Array.isArray(args) && args.length === 0)) {
    return problem(["lm", "args"], "args are arguments for launching sglang, and this runtime launches no model server", "remove args, and start the server yourself with them")
  }
  if (startup_timeout_s !== undefined && (typeof startup_timeout_s !== "number" || !(startup_timeout_s > 0))) {
    return problem(["lm", "startup_timeout_s"], `startup_timeout_s ${JSON.stringify(startup_timeout_s)} is not a number of seconds`, "write a positive number, or remove it (nothing is launched here, so it has no effect)")
  }
  const at = host === "::1" || host === "[::1]" ? "[::1]" : host === "localhost" ? "localhost" : "127.0.0.1"
  return Either.right({ apiBase: `http://${at}:${port ?? 30000}/v1`, model: model.trim() })
}

/**
 * Lower an authoring document to an IR document. `defaultId` is the graph id when the
 * document sets none (the file's name, {@link defaultGraphId}). Every shape problem is
 * named at its key, with the fix; what the IR decoder and the node kinds check afterwards
 * (a kind's config, a subgraph's spec) is reported at the authoring key through
 * {@link LoweredAuthoring.toAuthoringPath}.
 */
export const lowerAuthoring = (doc: Record<string, unknown>, defaultId: string): Either.Either<LoweredAuthoring, AuthoringProblem> => {
  const keys: ReadonlyArray<string> = AUTHORING_KEYS
  const extra = Object.keys(doc).find((k) => !keys.includes(k))
  if (extra !== undefined) {
    const meant = closestName(extra, [...keys, "ir_version"])
    return problem([extra], `unknown top-level key '${extra}'`,
      `${meant !== undefined ? `did you mean '${meant}'? ` : ""}an authoring graph takes ${keys.join(", ")}; a full IR document must declare ir_version`)
  }
  const lm = doc["lm"] === undefined || doc["lm"] === null ? undefined : lowerLm(doc["lm"])
  if (lm !== undefined && Either.isLeft(lm)) return Either.left(lm.left)
  const id = doc["id"] ?? defaultId
  if (typeof id !== "string" || !NAME.test(id)) {
    return problem("id" in doc ? ["id"] : [], `the graph id ${JSON.stringify(id)}${"id" in doc ? "" : " (from the file name)"} must be lowercase letters, digits, '_', '.' or '-', starting with a letter or digit`,
      `${"id" in doc ? "set" : "add"} id: my-graph`)
  }
  const nodesRaw = doc["nodes"]
  if (!isRecord(nodesRaw) || Object.keys(nodesRaw).length === 0) {
    return problem(nodesRaw === undefined ? [] : ["nodes"], "nodes must be a non-empty mapping of name to {kind, ...}", "write nodes: {greet: {kind: echo}}")
  }
  const stateRaw = doc["state"] ?? {}
  if (!isRecord(stateRaw)) return problem(["state"], `state is ${typeName(stateRaw)}: it must be a mapping of field to type`, "write state: {question: str, verdict: {type: str, route: true}}")
  const routesRaw = doc["routes"] ?? {}
  if (!isRecord(routesRaw)) return problem(["routes"], `routes is ${typeName(routesRaw)}: it must be a mapping of node to target`, "write routes: {judge: {fail: work, pass: done}}")

  const state = new Map<string, LoweredField>()
  for (const [name, raw] of Object.entries(stateRaw)) {
    const field = lowerField(name, raw)
    if (Either.isLeft(field)) return Either.left(field.left)
    state.set(name, field.right)
  }
  const names = Object.keys(nodesRaw)
  const nodes: Array<Record<string, unknown>> = []
  for (const name of names) {
    const node = lowerNode(name, nodesRaw[name])
    if (Either.isLeft(node)) return Either.left(node.left)
    nodes.push(node.right)
  }
  const rules = lowerRoutes(routesRaw, names, state)
  if (Either.isLeft(rules)) return Either.left(rules.left)

  const document: Record<string, unknown> = {
    ir_version: IR_VERSION,
    id: `graph:${id}`,
    ...(state.size > 0 ? { state_schema: Object.fromEntries([...state].map(([name, f]) => [name, f.ir])) } : {}),
    nodes,
    ...(rules.right.length > 0 ? { rules: rules.right.map((r) => r.ir) } : {})
  }
  const stateNames = [...state.keys()]
  const toAuthoringPath = (path: ReadonlyArray<PropertyKey>): ReadonlyArray<PropertyKey> => {
    const [head, index, key, ...rest] = path
    if (head === "nodes" && typeof index === "number" && names[index] !== undefined) {
      const at = ["nodes", names[index]]
      if (key === undefined || key === "id" || (key === "config" && rest.length === 0)) return at
      return key === "config" ? [...at, ...rest] : [...at, key, ...rest]
    }
    if (head === "rules" && typeof index === "number" && rules.right[index] !== undefined) return rules.right[index].from
    if (head === "state_schema") {
      // The decoder reads the flat form as `fields`: `state_schema.fields.<name>.default`.
      const [name, option_] = index === "fields" ? [key, rest[0]] : [index, key]
      if (typeof name !== "string" || !stateNames.includes(name)) return ["state"]
      const written = stateRaw[name]
      if (!isRecord(written)) return ["state", name]
      const option = option_ === "mirror" ? "route" : option_
      return typeof option === "string" && option in written ? ["state", name, option] : ["state", name]
    }
    if (head === "id") return "id" in doc ? ["id"] : []
    return head === "ir_version" ? [] : path
  }
  return Either.right({ document, toAuthoringPath, ...(lm !== undefined ? { lm: lm.right } : {}) })
}
