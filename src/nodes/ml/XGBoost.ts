/**
 * XGBoost models evaluated in TypeScript, from the JSON document `Booster.save_model(
 * "model.json")` writes: `learner.gradient_booster` (`gbtree`, or `dart` with its
 * `weight_drop`), `learner.learner_model_param` (`base_score`, `num_feature`,
 * `num_class`, `num_target`) and `learner.objective.name`.
 *
 * Prediction follows XGBoost's CPU predictor: features and split conditions are float32,
 * a feature goes left when `value < split_condition`, a missing value (`null`) goes the
 * node's default direction, leaf values (held in `split_conditions` at leaves) add up in
 * float32 per output group on top of the base margin (`base_score` mapped through the
 * objective's link), and the objective's transform (sigmoid, softmax, exp, …) turns
 * margins into predictions. Results agree with `Booster.predict` to float32 rounding.
 * Categorical splits and vector leaves are refused when the model loads.
 */
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { firstIssue } from "../../ir/parseIssue.js"

const NumberArray = Schema.Array(Schema.Number)
/** `default_left` is 0/1 in current files, booleans in some older ones. */
const Flags = Schema.Array(Schema.Union(Schema.Number, Schema.Boolean))
/** XGBoost writes parameters as strings; some writers use numbers. */
const Param = Schema.Union(Schema.String, Schema.Number)

const Tree = Schema.Struct({
  left_children: NumberArray,
  right_children: NumberArray,
  split_indices: NumberArray,
  split_conditions: NumberArray,
  default_left: Flags,
  split_type: Schema.optional(NumberArray),
  tree_param: Schema.optional(Schema.Struct({ size_leaf_vector: Schema.optional(Param) }))
})

const GBTree = Schema.Struct({
  name: Schema.Literal("gbtree"),
  model: Schema.Struct({ trees: Schema.Array(Tree), tree_info: NumberArray })
})

const Dart = Schema.Struct({
  name: Schema.Literal("dart"),
  gbtree: GBTree,
  weight_drop: NumberArray
})

const BoosterName = Schema.Struct({ name: Schema.String })

/** The part of XGBoost's JSON model format the evaluator reads. */
export const XGBoostDocument = Schema.Struct({
  learner: Schema.Struct({
    learner_model_param: Schema.Struct({
      base_score: Param,
      num_feature: Param,
      num_class: Schema.optional(Param),
      num_target: Schema.optional(Param)
    }),
    objective: Schema.Struct({ name: Schema.String }),
    /** Decoded by its `name` (below). */
    gradient_booster: Schema.Unknown
  })
})

const problem = (error: ParseResult.ParseError, prefix: string): string => {
  const issue = firstIssue(error)
  return `not an XGBoost JSON model: ${issue ? `${[prefix, ...issue.path.map(String)].filter((p) => p !== "").join(".") || "the document"}: ${issue.message}` : "unexpected structure"}`
}

/** How an objective maps base_score to a margin and margins to predictions. */
interface Objective {
  /** base_score (probability space) → margin. */
  readonly margin: (score: number) => number
  /** What one row's margins (one per group) become. */
  readonly output: "identity" | "sigmoid" | "exp" | "softprob" | "softmax" | "hinge"
}

const f32 = Math.fround

const OBJECTIVES: { readonly [name: string]: Objective } = {
  "reg:squarederror": { margin: (x) => x, output: "identity" },
  "reg:linear": { margin: (x) => x, output: "identity" },
  "reg:squaredlogerror": { margin: (x) => x, output: "identity" },
  "reg:pseudohubererror": { margin: (x) => x, output: "identity" },
  "reg:absoluteerror": { margin: (x) => x, output: "identity" },
  "reg:quantileerror": { margin: (x) => x, output: "identity" },
  "reg:logistic": { margin: (x) => -Math.log(1 / x - 1), output: "sigmoid" },
  "binary:logistic": { margin: (x) => -Math.log(1 / x - 1), output: "sigmoid" },
  "binary:logitraw": { margin: (x) => -Math.log(1 / x - 1), output: "identity" },
  "binary:hinge": { margin: (x) => x, output: "hinge" },
  "count:poisson": { margin: Math.log, output: "exp" },
  "reg:gamma": { margin: Math.log, output: "exp" },
  "reg:tweedie": { margin: Math.log, output: "exp" },
  "multi:softprob": { margin: (x) => x, output: "softprob" },
  "multi:softmax": { margin: (x) => x, output: "softmax" },
  "rank:pairwise": { margin: (x) => x, output: "identity" },
  "rank:ndcg": { margin: (x) => x, output: "identity" },
  "rank:map": { margin: (x) => x, output: "identity" }
}

/** The supported objectives, for messages. */
export const OBJECTIVE_NAMES: ReadonlyArray<string> = Object.keys(OBJECTIVES)

/** One tree as flat arrays. */
interface FlatTree {
  readonly left: Int32Array
  readonly right: Int32Array
  readonly feature: Int32Array
  /** Split condition, or the leaf value at a leaf. */
  readonly value: Float32Array
  readonly defaultLeft: Uint8Array
  /** The output group (class or target) the tree adds to. */
  readonly group: number
  /** DART's weight for the tree (1 for gbtree). */
  readonly weight: number
}

/** A loaded XGBoost model. */
export interface XGBoostModel {
  readonly objective: string
  readonly numFeature: number
  /** Output groups: classes of a multi-class model, targets of a multi-target one, else 1. */
  readonly groups: number
  readonly trees: number
  /** One prediction for a row of `numFeature` values (`null` = missing): a number, or a vector for softprob / several targets. */
  readonly predictRow: (row: ReadonlyArray<number | null>) => number | ReadonlyArray<number>
}

const int = (value: string | number | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  const n = typeof value === "number" ? value : Number(value)
  return Number.isFinite(n) ? n : Number.NaN
}

/** `base_score`: `"5E-1"`, or `"[5E-1,5E-1]"` (one per group) in XGBoost 3. */
const baseScores = (value: string | number, groups: number): ReadonlyArray<number> | undefined => {
  if (typeof value === "number") return Array.from({ length: groups }, () => value)
  const text = value.trim()
  const parts = text.startsWith("[") ? text.slice(1, -1).split(",") : [text]
  const numbers = parts.map((p) => Number(p.trim()))
  if (numbers.some((n) => !Number.isFinite(n))) return undefined
  if (numbers.length === 1) return Array.from({ length: groups }, () => numbers[0]!)
  return numbers.length === groups ? numbers : undefined
}

/** Check one tree's arrays and that its nodes form a tree (every node reached once from the root). */
const flatten = (tree: typeof Tree.Type, index: number, group: number, weight: number, numFeature: number): Either.Either<FlatTree, string> => {
  const n = tree.left_children.length
  const at = `tree ${index}`
  if (n === 0) return Either.left(`${at} has no nodes`)
  for (const [name, array] of [["right_children", tree.right_children], ["split_indices", tree.split_indices], ["split_conditions", tree.split_conditions], ["default_left", tree.default_left]] as const) {
    if (array.length !== n) return Either.left(`${at}: ${name} has ${array.length} entries, left_children ${n}`)
  }
  if ((tree.split_type ?? []).some((t) => t !== 0)) return Either.left(`${at} has categorical splits, which this evaluator does not support`)
  if (int(tree.tree_param?.size_leaf_vector, 1) > 1) return Either.left(`${at} has vector leaves (multi_strategy=multi_output_tree), which this evaluator does not support`)
  const flat: FlatTree = {
    left: Int32Array.from(tree.left_children),
    right: Int32Array.from(tree.right_children),
    feature: Int32Array.from(tree.split_indices),
    value: Float32Array.from(tree.split_conditions),
    defaultLeft: Uint8Array.from(tree.default_left, (d) => (d === true || d === 1 ? 1 : 0)),
    group,
    weight
  }
  const seen = new Uint8Array(n)
  const stack = [0]
  while (stack.length > 0) {
    const node = stack.pop()!
    if (seen[node]) return Either.left(`${at}: node ${node} is reached twice (not a tree)`)
    seen[node] = 1
    const left = flat.left[node]!
    if (left === -1) continue
    const right = flat.right[node]!
    if (left < 0 || left >= n || right < 0 || right >= n) return Either.left(`${at}: node ${node} has children ${left}, ${right} outside 0..${n - 1}`)
    const feature = flat.feature[node]!
    if (feature < 0 || feature >= numFeature) return Either.left(`${at}: node ${node} splits on feature ${feature}, but the model has ${numFeature} features`)
    stack.push(left, right)
  }
  return Either.right(flat)
}

/** Parse and check a model document; the error is a one-line reason. */
export const load = (text: string): Either.Either<XGBoostModel, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    // eslint-disable-next-line no-control-regex
    const control = /[\u0000-\u0008\u000e-\u001f]/
    if (control.test(text.slice(0, 512))) return Either.left("a binary file, not an XGBoost JSON model (save the booster with save_model(\"model.json\"); an ONNX model takes runtime: onnx)")
    return Either.left(`not JSON (${notJsonReason(cause)})`)
  }
  const decoded = Schema.decodeUnknownEither(XGBoostDocument)(json)
  if (Either.isLeft(decoded)) return Either.left(problem(decoded.left, ""))
  const learner = decoded.right.learner
  const named = Schema.decodeUnknownEither(BoosterName)(learner.gradient_booster)
  if (Either.isLeft(named)) return Either.left(problem(named.left, "learner.gradient_booster"))
  const name = named.right.name
  if (name !== "gbtree" && name !== "dart") return Either.left(`booster '${name}' is not supported (gbtree and dart are)`)
  const booster = name === "dart"
    ? Either.map(Schema.decodeUnknownEither(Dart)(learner.gradient_booster), (d) => ({ gbtree: d.gbtree, weights: d.weight_drop as ReadonlyArray<number> | undefined }))
    : Either.map(Schema.decodeUnknownEither(GBTree)(learner.gradient_booster), (g) => ({ gbtree: g, weights: undefined }))
  if (Either.isLeft(booster)) return Either.left(problem(booster.left, "learner.gradient_booster"))
  const objective = OBJECTIVES[learner.objective.name]
  if (objective === undefined) return Either.left(`objective '${learner.objective.name}' is not supported (supported: ${OBJECTIVE_NAMES.join(", ")})`)
  const params = learner.learner_model_param
  const numFeature = int(params.num_feature, Number.NaN)
  const numClass = int(params.num_class, 0)
  const numTarget = int(params.num_target, 1)
  if (!Number.isInteger(numFeature) || numFeature < 1) return Either.left(`num_feature '${params.num_feature}' is not a positive integer`)
  if (!Number.isInteger(numClass) || numClass < 0 || !Number.isInteger(numTarget) || numTarget < 1) return Either.left("num_class / num_target are not integers")
  const groups = numClass > 1 ? numClass : numTarget
  if ((objective.output === "softprob" || objective.output === "softmax") && numClass < 2) {
    return Either.left(`objective ${learner.objective.name} needs num_class ≥ 2 (got ${numClass})`)
  }
  const scores = baseScores(params.base_score, groups)
  if (scores === undefined) return Either.left(`base_score '${params.base_score}' is not a number (or one per output group)`)
  const margins = scores.map((s) => f32(objective.margin(f32(s))))
  if (margins.some((m) => !Number.isFinite(m))) return Either.left(`base_score '${params.base_score}' has no margin under ${learner.objective.name}`)

  const { gbtree, weights } = booster.right
  const { trees, tree_info } = gbtree.model
  if (tree_info.length !== trees.length) return Either.left(`tree_info has ${tree_info.length} entries for ${trees.length} trees`)
  if (weights !== undefined && weights.length !== trees.length) return Either.left(`weight_drop has ${weights.length} entries for ${trees.length} trees`)
  const flat: Array<FlatTree> = []
  for (const [i, tree] of trees.entries()) {
    const group = tree_info[i]!
    if (!Number.isInteger(group) || group < 0 || group >= groups) return Either.left(`tree ${i} adds to output group ${group}, but the model has ${groups}`)
    const checked = flatten(tree, i, group, weights?.[i] ?? 1, numFeature)
    if (Either.isLeft(checked)) return Either.left(checked.left)
    flat.push(checked.right)
  }

  const sums = new Float32Array(groups)
  const predictRow = (row: ReadonlyArray<number | null>): number | ReadonlyArray<number> => {
    for (let g = 0; g < groups; g++) sums[g] = margins[g]!
    for (const tree of flat) {
      let node = 0
      while (tree.left[node] !== -1) {
        const x = row[tree.feature[node]!]
        node = x === null || x === undefined || Number.isNaN(x)
          ? tree.defaultLeft[node] ? tree.left[node]! : tree.right[node]!
          : f32(x) < tree.value[node]! ? tree.left[node]! : tree.right[node]!
      }
      // Float32Array stores round each sum to float32, as XGBoost's float accumulator does.
      sums[tree.group] = sums[tree.group]! + (tree.weight === 1 ? tree.value[node]! : f32(tree.value[node]! * tree.weight))
    }
    return transform(objective.output, sums, groups)
  }
  return Either.right({ objective: learner.objective.name, numFeature, groups, trees: flat.length, predictRow })
}

/** The objective's transform of one row's margins, in float32. */
const transform = (output: Objective["output"], sums: Float32Array, groups: number): number | ReadonlyArray<number> => {
  switch (output) {
    case "identity":
      return groups === 1 ? sums[0]! : Array.from(sums)
    case "sigmoid":
      return groups === 1 ? sigmoid(sums[0]!) : Array.from(sums, sigmoid)
    case "exp":
      return groups === 1 ? f32(Math.exp(sums[0]!)) : Array.from(sums, (x) => f32(Math.exp(x)))
    case "hinge":
      return groups === 1 ? (sums[0]! > 0 ? 1 : 0) : Array.from(sums, (x) => (x > 0 ? 1 : 0))
    case "softprob":
      return softmax(sums)
    case "softmax": {
      let best = 0
      for (let g = 1; g < groups; g++) if (sums[g]! > sums[best]!) best = g
      return best
    }
  }
}

/** XGBoost's sigmoid: 1 / (1 + exp(-x)), in float32. */
const sigmoid = (x: number): number => f32(1 / f32(f32(Math.exp(-x)) + 1))

/** Softmax with the max subtracted first, in float32. */
const softmax = (margins: Float32Array): ReadonlyArray<number> => {
  let max = margins[0]!
  for (const m of margins) if (m > max) max = m
  const exps = Array.from(margins, (m) => f32(Math.exp(f32(m - max))))
  let sum = 0
  for (const e of exps) sum = f32(sum + e)
  return exps.map((e) => f32(e / sum))
}

/**
 * Why `JSON.parse` refused a file, without the excerpt of the file V8 quotes (`"root:x:0:0"...`):
 * the error is shown to whoever runs the graph, the file is not theirs to read.
 */
const notJsonReason = (cause: unknown): string =>
  (cause instanceof Error ? cause.message : String(cause))
    .replace(/,? ".*is not valid JSON$/s, " (not valid JSON)")
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f]/g, " ")
    .slice(0, 200)
