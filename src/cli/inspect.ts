/**
 * `stargraph inspect <run_id>`: a run's step-by-step timeline, the artifacts it stored, and
 * its RunSummary; `--step N` one step's rules and facts; `--diff N M` the facts added and
 * removed between two steps (the original's fact diff).
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { InputError } from "../errors.js"
import { traced } from "../telemetry/TracingEnabled.js"
import { chooseDatabase } from "./database.js"
import { reportError } from "./exit.js"
import { dbExisting, graphOptions, integer, json, moduleRoot, runIdArg } from "./options.js"
import type { ChildRun, ChildRunId } from "./render.js"
import { counted } from "./counted.js"

/** At most this many child runs are read for one `inspect`. */
const MAX_CHILDREN = 200

/**
 * The fact templates of the run's graph (to print stored facts with their slot names);
 * none when the graph file is gone or changed (facts then print as bare values).
 */
const templatesOf = (file: string | null, options: { readonly moduleRoots: ReadonlyArray<string> }) =>
  file === null
    ? Effect.succeed(new Map<string, ReadonlyArray<string>>())
    : Effect.promise(() => import("../graph/Graph.js")).pipe(
      Effect.flatMap((Graph) => Graph.load(file, options)),
      Effect.map((g): ReadonlyMap<string, ReadonlyArray<string>> => g.rules.templates),
      Effect.orElseSucceed(() => new Map<string, ReadonlyArray<string>>())
    )

/** The value `originalSpellings` (app.ts) gives a `--diff` written with no step after it. */
export const NO_DIFF_STEPS = "<none>"

/**
 * The two steps of `--diff N M` (given as `--diff N --diff M` by the parser: see
 * `originalSpellings` in app.ts), or undefined without `--diff`.
 */
const diffSteps = (values: ReadonlyArray<string>, withStep: boolean): Effect.Effect<readonly [number, number] | undefined, InputError> => {
  if (values.length === 0) return Effect.succeed(undefined)
  if (withStep) return Effect.fail(new InputError({ field: "--diff", message: "--step and --diff ask for different views", fix: "pass one of them: --step N for one step, --diff N M for the facts between two" }))
  const fix = "pass --diff N M, e.g. --diff 1 3 (the facts added and removed from step 1 to step 3)"
  if (values.every((v) => v === NO_DIFF_STEPS)) return Effect.fail(new InputError({ field: "--diff", message: "--diff takes two step numbers, and none was given", fix }))
  const steps = values.map((v) => (/^(0|[1-9]\d*)$/.test(v) ? Number(v) : undefined))
  const notStep = values.find((v) => !/^(0|[1-9]\d*)$/.test(v))
  if (notStep !== undefined) return Effect.fail(new InputError({ field: "--diff", message: `'${notStep}' is not a step number (--diff takes two: N M)`, fix }))
  const [from, to] = steps
  if (steps.length !== 2 || from === undefined || to === undefined) {
    return Effect.fail(new InputError({ field: "--diff", message: `--diff takes two step numbers, not ${values.map((v) => `'${v}'`).join(" ")}`, fix }))
  }
  return Effect.succeed([from, to])
}

/** The `inspect` command. */
export const inspect = Command.make(
  "inspect",
  {
    runId: runIdArg,
    db: dbExisting,
    json: json("the RunSummary, its checkpoints and its artifacts"),
    step: integer("step").pipe(
      Options.optional,
      Options.withDescription("show one step: the rules that fired, their routing and the facts in working memory after it (default: the whole run)")
    ),
    diff: Options.text("diff").pipe(
      Options.withPseudoName("step"),
      Options.repeated,
      // Optional (zero is fine): shown as [--flag text...] in --help.
      Options.withDefault([] as Array<string>),
      Options.withDescription("two steps, --diff N M or --diff N --diff M: the facts added to and removed from working memory between step N and step M, as JSON {added, removed} (the original's fact diff) (default: off)")
    ),
    moduleRoot
  },
  ({ db: dbFlag, diff, json, moduleRoot, runId, step }) =>
    Effect.gen(function*() {
      const db = yield* chooseDatabase(dbFlag)
      const loading = yield* graphOptions(moduleRoot)
      const between = yield* diffSteps(diff, step._tag === "Some")
      const [{ Checkpointer }, { toSummary }, stores, { childRunIds, errorCauseLines, timeline }, { ArtifactStore }, { describeOwner, describeTakeOver, ownerElsewhere }, { checkArtifacts, missingMessage }, { takeOversOf }, { uncommittedChildren }, { withWaitId }] = yield* Effect
        .promise(() =>
          Promise.all([
            import("../checkpoint/Checkpointer.js"),
            import("../checkpoint/models.js"),
            import("./stores.js"),
            import("./render.js"),
            import("../checkpoint/ArtifactStore.js"),
            import("../runtime/owner.js"),
            import("../checkpoint/artifactRefs.js"),
            import("../checkpoint/takeOvers.js"),
            import("../runtime/stepChildren.js"),
            import("../checkpoint/waitId.js")
          ])
        )
      yield* Effect.gen(function*() {
        const checkpointer = yield* Checkpointer
        const record = yield* stores.getRun(runId, db.location)
        const checkpoints = yield* checkpointer.listCheckpoints(runId)
        if (between !== undefined) {
          const [from, to] = between.map((n) => checkpoints.find((c) => c.step === n))
          if (from === undefined || to === undefined) {
            const last = checkpoints[checkpoints.length - 1]?.step ?? 0
            return yield* new InputError({ field: "--diff", message: `run ${runId} has steps 0..${last}, not ${(from === undefined ? between[0] : between[1])}`, fix: `pass two of those steps, e.g. --diff 0 ${last}` })
          }
          const { factDelta } = yield* Effect.promise(() => import("../fathom/facts.js"))
          const templates = yield* templatesOf(record.graph_source, loading)
          // As a RunDiff's fact_deltas compares facts, and `_step` too: a kept fact is mirrored again each step.
          const delta = factDelta(from.facts, to.facts, templates, { acrossSteps: true })
          const [added, removed] = [[...new Set(delta.asserted)].sort(), [...new Set(delta.retracted)].sort()]
          return yield* Console.log(JSON.stringify({ added, removed }, null, 2))
        }
        if (step._tag === "Some") {
          const at = checkpoints.find((c) => c.step === step.value)
          if (at === undefined) {
            return yield* new InputError({ field: "--step", message: `run ${runId} has steps 0..${checkpoints[checkpoints.length - 1]?.step ?? 0}`, fix: "pass one of those steps" })
          }
          if (json) return yield* Console.log(JSON.stringify({ step: at.step, node: at.node, rules: at.rules ?? null, facts: at.facts ?? null, state: at.state }, null, 2))
          const { stepLines } = yield* Effect.promise(() => import("./rules.js"))
          const templates = yield* templatesOf(record.graph_source, loading)
          for (const line of stepLines(at, templates)) yield* Console.log(line)
          return
        }
        const read = toSummary(record, checkpoints[checkpoints.length - 1]?.state ?? {})
        // Its wait's id, also on a wait written before ids were kept.
        const summary = { ...read, waiting: withWaitId(read.waiting) }
        /** The children of a run's uncommitted step (being run, waited at or stopped in), which no checkpoint names yet. */
        const uncommittedOf = (run: typeof record, runCheckpoints: typeof checkpoints) =>
          Effect.map(uncommittedChildren(checkpointer, run, runCheckpoints[runCheckpoints.length - 1]), (found) =>
            found.map((c): ChildRunId => ({ step: c.step, node: c.node, runId: c.run.run_id })))
        const uncommitted = yield* uncommittedOf(record, checkpoints)
        // Child runs of subgraph and map nodes, to any depth (each read once).
        const children = new Map<string, ChildRun>()
        const queue = [...childRunIds(record, checkpoints, uncommitted)]
        while (queue.length > 0 && children.size < MAX_CHILDREN) {
          const { runId: childId } = queue.shift()!
          if (children.has(childId)) continue
          const child = yield* checkpointer.getRun(childId)
          if (child._tag === "None") continue
          const childCheckpoints = yield* checkpointer.listCheckpoints(childId)
          const childUncommitted = yield* uncommittedOf(child.value, childCheckpoints)
          children.set(childId, { record: child.value, checkpoints: childCheckpoints, uncommitted: childUncommitted })
          queue.push(...childRunIds(child.value, childCheckpoints, childUncommitted))
        }
        const store = yield* ArtifactStore
        const artifacts = yield* store.list(runId)
        // The store is beside the database, not in it: a copy without it still names artifacts.
        const check = yield* checkArtifacts(store, checkpoints, artifacts, record.derived_hash !== null)
        const missing = missingMessage(runId, check)
        if (missing !== undefined) yield* Console.error(`warning: ${missing}`)
        const takeovers = yield* takeOversOf(checkpointer, record)
        if (json) {
          const nested = childRunIds(record, checkpoints, uncommitted).map((c) => ({
            run_id: c.runId,
            parent_step: c.step,
            node: c.node,
            graph_id: children.get(c.runId)?.record.graph_id ?? null,
            status: children.get(c.runId)?.record.status ?? null
          }))
          yield* Console.log(JSON.stringify({ ...summary, thread_id: record.thread_id, continued_from: record.continued_from, taken_over: record.taken_over, takeovers, default_model: record.default_model, fork_max_steps: record.fork_max_steps, children: nested, checkpoints, artifacts, missing_artifacts: check.missing, unindexed_artifacts: check.unindexed }, null, 2))
          return
        }
        yield* Console.log(`run ${record.run_id}  graph ${record.graph_id}  status ${record.status}`)
        yield* Console.log(`graph_hash ${record.graph_hash}`)
        yield* Console.log(`runtime_hash ${record.runtime_hash}`)
        yield* Console.log(`created ${record.created_at}  started ${record.started_at ?? "-"}  finished ${record.finished_at ?? "-"}`)
        if (record.status === "running") {
          // Another host's owner: its heartbeat as the database has it (null: none).
          const owner = record.owner
          const beats = yield* Effect.map(Checkpointer, (c) => c.heartbeats)
          const heartbeat = owner === null || !ownerElsewhere(owner) || beats === undefined ? undefined : (yield* beats([owner]))[0] ?? null
          yield* Console.log(`driven by ${describeOwner(owner, heartbeat)}`)
        }
        // Every take-over, oldest first (the last is the record's `taken_over`).
        for (const t of takeovers) yield* Console.log(describeTakeOver(t))
        const lm = record.default_model
        if (lm !== null) {
          const key = lm.api_key_env !== null ? `  key from $${lm.api_key_env}` : lm.api_key_given ? "  key given with --lm-key (not stored)" : ""
          yield* Console.log(`default model ${lm.model} at ${lm.api_base}${key}${lm.timeout_ms !== null ? `  timeout ${lm.timeout_ms} ms` : ""}`)
        }
        if (record.thread_id !== null) {
          yield* Console.log(`thread ${record.thread_id}  ${record.continued_from !== null ? `continued from ${record.continued_from}` : "its first run"}`)
        }
        if (record.parent_run_id !== null && record.derived_hash === null) {
          const { startedBy } = yield* Effect.promise(() => import("../nodes/ChildGraph.js"))
          const by = startedBy(record.idempotency_key, record.parent_run_id, record.fork_step) ?? "a subgraph or map node"
          yield* Console.log(`child run of ${record.parent_run_id} at step ${record.fork_step} (${by})`)
        } else if (record.parent_run_id !== null) {
          yield* Console.log(`forked from ${record.parent_run_id} at step ${record.fork_step}  derived_hash ${record.derived_hash ?? "-"}`)
          if (record.mutation !== null) yield* Console.log(`mutation ${JSON.stringify(record.mutation)}`)
          const budget = record.fork_max_steps
          if (budget !== null && record.fork_step !== null) {
            yield* Console.log(`step budget ${budget} after its fork step (${budget === 1 ? `step ${record.fork_step + 1}` : `steps ${record.fork_step + 1}..${record.fork_step + budget}`} at most)`)
          }
        }
        yield* Console.log("")
        for (const line of timeline(record, checkpoints, (id) => children.get(id), 0, uncommitted)) yield* Console.log(line)
        for (const line of errorCauseLines(record)) yield* Console.log(line)
        if (artifacts.length > 0) {
          yield* Console.log("")
          yield* Console.log(`artifacts (${artifacts.length}):`)
          for (const a of artifacts) {
            yield* Console.log(`  step ${a.step}  ${a.node}  ${a.name}  ${a.content_type}  ${counted(a.size, "byte")}  ${a.artifact_id}`)
          }
        }
        if (check.missing.length > 0) {
          yield* Console.log("")
          yield* Console.log(`artifacts missing from the store ${check.location ?? ""} (${check.missing.length}):`)
          for (const m of check.missing) yield* Console.log(`  step ${m.step}  ${m.node}  ${m.name ?? "-"}  ${m.artifact_id}`)
        }
        if (check.unindexed.length > 0) {
          yield* Console.log("")
          yield* Console.log(`artifacts stored but not in the run's index in ${check.location ?? "the store"} (${check.unindexed.length}):`)
          for (const m of check.unindexed) yield* Console.log(`  step ${m.step}  ${m.node}  ${m.name ?? "-"}  ${m.artifact_id}`)
        }
        yield* Console.log("")
        yield* Console.log("RunSummary:")
        yield* Console.log(JSON.stringify(summary, null, 2))
      }).pipe(Effect.provide(stores.storeLayer(db, { create: false, readOnly: true })))
    }).pipe(traced("stargraph.cli.inspect"), Effect.catchAll(reportError))
).pipe(Command.withDescription("Show a run's step-by-step timeline, the artifacts it stored and its RunSummary (the database must exist)"))
