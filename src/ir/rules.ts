/**
 * The IR's routing vocabulary, as the original Stargraph writes it: `rules:` (a `when`
 * pattern over facts and a `then` list of actions), top-level `parallel:` blocks,
 * `governance:` rule-pack mounts and the `checkpoints:` policy. Rules route transitions:
 * after every step the rule engine runs over facts that mirror the run, and the actions
 * the rules assert decide where the run goes next.
 */
import * as Schema from "effect/Schema"

/** How the branches of a `parallel` fan-out are joined: every one, the first success, the first to finish, or N successes. */
export const ParallelStrategy = Schema.Union(
  Schema.Literal("all", "any", "race"),
  Schema.TemplateLiteral(Schema.Literal("quorum:"), Schema.Number)
).annotations({ identifier: "ParallelStrategy", description: "all | any | race | quorum:N" })
/** How the branches of a `parallel` fan-out are joined. */
export type ParallelStrategy = typeof ParallelStrategy.Type

/** Continue at `target` (`__end__` ends this branch). */
export const GotoAction = Schema.Struct({
  kind: Schema.Literal("goto"),
  target: Schema.String
})

/** Stop the run (`done`), with an operator-facing reason. */
export const HaltAction = Schema.Struct({
  kind: Schema.Literal("halt"),
  reason: Schema.optional(Schema.String)
})

/** Run `targets` concurrently; with a `join`, continue there once the `strategy` is met. */
export const ParallelAction = Schema.Struct({
  kind: Schema.Literal("parallel"),
  targets: Schema.NonEmptyArray(Schema.String),
  join: Schema.optional(Schema.String),
  strategy: Schema.optional(ParallelStrategy)
})

/** Run `target` again after `backoff_ms`. */
export const RetryAction = Schema.Struct({
  kind: Schema.Literal("retry"),
  target: Schema.String,
  backoff_ms: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
})

/** Assert a fact of template `fact`; `slots` is an object or its JSON text. */
export const AssertAction = Schema.Struct({
  kind: Schema.Literal("assert"),
  fact: Schema.String,
  slots: Schema.optional(Schema.Union(Schema.String, Schema.Record({ key: Schema.String, value: Schema.Unknown })))
})

/** Retract every fact matching `pattern` (a template name, or a pattern such as `(risk (level high))`). */
export const RetractAction = Schema.Struct({
  kind: Schema.Literal("retract"),
  pattern: Schema.String
})

/** What happens when an interrupt's timeout passes: `halt` (the run fails) or `goto:<node>`. */
export const OnTimeout = Schema.String.pipe(Schema.pattern(/^(halt|goto:[A-Za-z0-9_.:-]+)$/, {
  message: () => "on_timeout is 'halt' or 'goto:<node id>'"
}))

/**
 * An interrupt's `timeout`: seconds, or a duration as text (ISO 8601 `PT10M`, `HH:MM:SS`,
 * `10 minutes`); `null`, as the original writes "no timeout", is the same as leaving it out.
 */
export const TimeoutField = Schema.optionalWith(Schema.Union(Schema.Number.pipe(Schema.positive()), Schema.String), { nullable: true })

/** Stop the run in `awaiting-input` until someone answers `prompt`. */
export const InterruptAction = Schema.Struct({
  kind: Schema.Literal("interrupt"),
  prompt: Schema.String,
  interrupt_payload: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  requested_capability: Schema.optional(Schema.String),
  timeout: TimeoutField,
  on_timeout: Schema.optional(OnTimeout),
  /** State field the response is written to (besides the `stargraph.evidence` fact). */
  response_field: Schema.optional(Schema.String)
})

/** Any action a rule's `then` may list. */
export const Action = Schema.Union(GotoAction, HaltAction, ParallelAction, RetryAction, AssertAction, RetractAction, InterruptAction)
/** Any action a rule's `then` may list. */
export type Action = typeof Action.Type

/** The action kinds, in the order the schema lists them. */
export const ACTION_KINDS = ["goto", "halt", "parallel", "retry", "assert", "retract", "interrupt"] as const

/**
 * One rule. `when` is CLIPS patterns (`"?n <- (node-id (id node_b))"`) or the mapping
 * sugar `{node: X, field: value}`; `then` lists the actions asserted when it fires. As in
 * the original, both may be left out: no `when` (or `""`) is an empty left-hand side,
 * which CLIPS matches once, at the first routing; no `then` is a rule that only fires.
 */
export const RuleSpec = Schema.Struct({
  id: Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_.-]*$/, {
    message: () => "rule id must start with a letter or '_' and contain only letters, digits, '_', '.' or '-'"
  })),
  description: Schema.optional(Schema.String),
  when: Schema.optionalWith(Schema.Union(Schema.String, Schema.Record({ key: Schema.String, value: Schema.Unknown })), { default: () => "" }),
  then: Schema.optionalWith(Schema.Array(Action), { default: () => [] }),
  /** The node the rule belongs to (IR 1.1 metadata; informational). */
  node_id: Schema.optional(Schema.String),
  /** Rules with higher salience fire first (CLIPS salience, default 0). */
  salience: Schema.optional(Schema.Int.pipe(Schema.between(-10_000, 10_000)))
})
/** One rule. */
export type RuleSpec = typeof RuleSpec.Type

/** A declared fan-out: when the run reaches `targets[0]`, all `targets` run, then `join`. */
export const ParallelBlock = Schema.Struct({
  targets: Schema.NonEmptyArray(Schema.String),
  join: Schema.optional(Schema.String),
  strategy: Schema.optional(ParallelStrategy)
})
/** A declared fan-out. */
export type ParallelBlock = typeof ParallelBlock.Type

/** What a governance pack must have been written against. */
export const PackRequires = Schema.Struct({
  stargraph_facts_version: Schema.optional(Schema.String),
  api_version: Schema.optional(Schema.String)
})

/** A governance rule pack mounted into the graph's rule set. */
export const PackMount = Schema.Struct({
  id: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.-]+$/, { message: () => "pack id may contain letters, digits, '_', '.' and '-'" })),
  version: Schema.optional(Schema.String),
  requires: Schema.optional(PackRequires)
})
/** A governance rule pack mount. */
export type PackMount = typeof PackMount.Type

/** The forms of `checkpoints.store`, as its errors name them. */
export const STORE_FORMS = "'sqlite:<path>' (relative to the graph file) or a postgres:// or postgresql:// URL"

/** Checkpoint policy: every node exit is checkpointed; `store` names the default database. */
export const CheckpointBlock = Schema.Struct({
  every: Schema.optional(Schema.Literal("node-exit")),
  /**
   * `sqlite:<path>` or a `postgres://` / `postgresql://` URL: the database `stargraph run`
   * uses when neither `--db` nor `STARGRAPH_DB` is given.
   */
  store: Schema.optional(Schema.String.pipe(Schema.pattern(/^(?:sqlite:.+|postgres(?:ql)?:\/\/.+)$/i, {
    message: () => `store is ${STORE_FORMS}`
  })))
})
