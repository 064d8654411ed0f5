/**
 * The Checkpointer contract as executable checks: what every backend (ours, or an
 * application's own Layer) must do for the run loop, the Scheduler, replay and the HTTP
 * API to work on it. Framework-agnostic: each check is a named Effect that fails with a
 * {@link ContractViolation}; run them from any test runner.
 *
 * ```ts
 * import { checkpointerContract } from "stargraph/testing"
 * for (const check of checkpointerContract(MyCheckpointer.layer)) {
 *   it(check.name, () => Effect.runPromise(check.run))
 * }
 * ```
 *
 * Checks use fresh ids, graph ids and idempotency keys, so they may share one store.
 */
import { randomUUID } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Checkpointer, type CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { Checkpoint, NewRun, RunRecord } from "../checkpoint/models.js"
import { deriveWaitId } from "../checkpoint/waitId.js"
import { canonicalJson } from "../ir/hash.js"

/** A backend broke the contract: which check, and what it saw. */
export class ContractViolation extends Schema.TaggedError<ContractViolation>()("ContractViolation", {
  check: Schema.String,
  message: Schema.String
}) {}

/** One named check of the contract. */
export interface ContractCheck {
  readonly name: string
  readonly run: Effect.Effect<void, ContractViolation>
}

/** The checks, needing a `Checkpointer` in their context. */
export interface ContractCase {
  readonly name: string
  readonly run: Effect.Effect<void, unknown, Checkpointer>
}

const AT = "2026-01-01T00:00:00.000Z"

/** A step-0-only new run with fresh graph id (or the one given). */
const newRun = (overrides: Partial<NewRun> = {}): NewRun => ({
  graph_id: `contract:${randomUUID()}`,
  graph_hash: "sha256:graph",
  runtime_hash: "sha256:runtime",
  inputs: { message: "hi" },
  created_at: AT,
  initial: step(0, { message: "hi" }),
  ...overrides
})

/** A checkpoint body for `step` (without its run id). */
const step = (n: number, state: Record<string, unknown>): Omit<Checkpoint, "run_id"> => ({
  step: n,
  node: n === 0 ? "__input__" : `node${n}`,
  nodes: [n === 0 ? "__input__" : `node${n}`],
  state,
  writes: [{ node: n === 0 ? "__input__" : `node${n}`, update: state }],
  delta: state,
  next: [`node${n + 1}`],
  joins: {},
  graph_hash: "sha256:graph",
  runtime_hash: "sha256:runtime",
  parent_run_id: null,
  parent_step: n === 0 ? null : n - 1,
  started_at: AT,
  finished_at: AT,
  duration_ms: 1.5,
  calls: []
})

const cp = (runId: string, n: number, state: Record<string, unknown> = { n }): Checkpoint => ({ ...step(n, state), run_id: runId })

/** Fail the check with `message` unless `ok`. */
const expect = (name: string) => (ok: boolean, message: string): Effect.Effect<void, ContractViolation> =>
  ok ? Effect.void : Effect.fail(new ContractViolation({ check: name, message }))

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b)

const some = <A>(name: string, what: string, option: Option.Option<A>): Effect.Effect<A, ContractViolation> =>
  Option.match(option, {
    onNone: () => Effect.fail(new ContractViolation({ check: name, message: `${what}: expected a value, got none` })),
    onSome: Effect.succeed
  })

/** A failure with a CheckpointError of `reason`, else a violation. */
const failsWith = <A>(name: string, what: string, effect: Effect.Effect<A, unknown>, reason: string) =>
  Effect.flatMap(Effect.either(effect), (result) => {
    const error = Either.isLeft(result) ? (result.left as { readonly _tag?: string; readonly reason?: string }) : undefined
    return error?._tag === "CheckpointError" && error.reason === reason
      ? Effect.void
      : Effect.fail(new ContractViolation({
        check: name,
        message: `${what}: expected CheckpointError{reason:"${reason}"}, got ${Either.isLeft(result) ? JSON.stringify(result.left) : "success"}`
      }))
  })

const check = (name: string, body: (c: CheckpointerShape, is: ReturnType<typeof expect>) => Effect.Effect<void, unknown>): ContractCase => ({
  name,
  run: Effect.flatMap(Checkpointer, (c) => body(c, expect(name)))
})

/** Every check of the contract, as cases that need a `Checkpointer`. */
export const cases: ReadonlyArray<ContractCase> = [
  check("createRun mints a run id and stores the pending record and its step-0 checkpoint", (c, is) =>
    Effect.gen(function*() {
      const run = newRun()
      const { created, record } = yield* c.createRun(run)
      yield* is(created, "created should be true for a new run")
      yield* is(/^run-.+/.test(record.run_id), `run id '${record.run_id}' should start with 'run-'`)
      yield* is(record.status === "pending" && record.last_step === 0 && record.owner === null, "a new run is pending, at step 0, unowned")
      const read = yield* some("createRun", "getRun", yield* c.getRun(record.run_id))
      yield* is(same(read, record), `getRun should return the record createRun returned: ${JSON.stringify(read)} vs ${JSON.stringify(record)}`)
      const checkpoints = yield* c.listCheckpoints(record.run_id)
      yield* is(checkpoints.length === 1 && same(checkpoints[0], { ...run.initial, run_id: record.run_id }), "the step-0 checkpoint is stored as given")
      const other = yield* c.createRun(newRun())
      yield* is(other.record.run_id !== record.run_id, "two runs get two ids")
      // Optional: without it the server reads the record instead.
      if (c.hasRun !== undefined) yield* is((yield* c.hasRun(record.run_id)) && (yield* c.hasRun(other.record.run_id)), "hasRun is true for a stored run")
    })),

  check("createRun keeps a fork's step budget (fork_max_steps) on its record (getRun, listRuns); a run without one reads null", (c, is) =>
    Effect.gen(function*() {
      const { record } = yield* c.createRun(newRun({ fork_max_steps: 25 }))
      yield* is(record.fork_max_steps === 25, `createRun's record should carry the budget: ${String(record.fork_max_steps)}`)
      const read = yield* some("createRun", "getRun", yield* c.getRun(record.run_id))
      yield* is(read.fork_max_steps === 25, `getRun should return the budget as a number: ${JSON.stringify(read.fork_max_steps)}`)
      const listed = (yield* c.listRuns({ limit: 1000 })).runs.find((r) => r.run_id === record.run_id)
      yield* is(listed?.fork_max_steps === 25, "listRuns should return the budget too")
      const bare = yield* c.createRun(newRun())
      const plain = yield* some("createRun", "getRun", yield* c.getRun(bare.record.run_id))
      yield* is(plain.fork_max_steps === null, "a run created without a budget reads fork_max_steps null")
    })),
  check("createRun keeps the run's default model on its record (getRun, listRuns); a run without one reads null", (c, is) =>
    Effect.gen(function*() {
      const model = { api_base: "http://127.0.0.1:11434/v1", model: "llama3.1", api_key_env: "LM_KEY", api_key_given: false, timeout_ms: 30_000 }
      const { record } = yield* c.createRun(newRun({ default_model: model }))
      yield* is(same(record.default_model, model), `createRun's record should carry the default model: ${JSON.stringify(record.default_model)}`)
      const read = yield* some("createRun", "getRun", yield* c.getRun(record.run_id))
      yield* is(same(read.default_model, model), `getRun should return the default model as given: ${JSON.stringify(read.default_model)}`)
      const listed = (yield* c.listRuns({ limit: 1000 })).runs.find((r) => r.run_id === record.run_id)
      yield* is(listed !== undefined && same(listed.default_model, model), "listRuns should return the default model too")
      const bare = yield* c.createRun(newRun())
      const plain = yield* some("createRun", "getRun", yield* c.getRun(bare.record.run_id))
      yield* is(plain.default_model === null, "a run started without a default model reads default_model null")
    })),
  check("createRun with the cf prefix and a history writes the fork's copied prefix", (c, is) =>
    Effect.gen(function*() {
      const { record } = yield* c.createRun(newRun({
        runIdPrefix: "cf",
        parent_run_id: "run-parent",
        fork_step: 2,
        derived_hash: "sha256:derived",
        mutation: { state_overrides: { n: 9 } },
        history: [step(1, { n: 1 }), step(2, { n: 9 })]
      }))
      yield* is(record.run_id.startsWith("cf-"), `fork id '${record.run_id}' should start with 'cf-'`)
      const read = yield* some("cf", "getRun", yield* c.getRun(record.run_id))
      yield* is(read.last_step === 2, `last_step should be the last copied step (2), got ${read.last_step}`)
      yield* is(read.parent_run_id === "run-parent" && read.fork_step === 2 && read.derived_hash === "sha256:derived", "fork fields round-trip")
      yield* is(same(read.mutation, { state_overrides: { n: 9 } }), "the mutation round-trips")
      const steps = (yield* c.listCheckpoints(record.run_id)).map((x) => x.step)
      yield* is(same(steps, [0, 1, 2]), `checkpoints should be steps 0..2, got ${JSON.stringify(steps)}`)
    })),

  check("createRun with running creates the run running, owned and started (a child run driven at once)", (c, is) =>
    Effect.gen(function*() {
      const { record } = yield* c.createRun(newRun({ running: { owner: "host:42", started_at: "2026-01-01T00:00:01.000Z" }, parent_run_id: "run-parent", fork_step: 3 }))
      yield* is(record.status === "running" && record.owner === "host:42" && record.started_at === "2026-01-01T00:00:01.000Z", `the returned record should be running, got ${JSON.stringify(record)}`)
      const read = yield* some("running", "getRun", yield* c.getRun(record.run_id))
      yield* is(read.status === "running" && read.owner === "host:42" && read.started_at === "2026-01-01T00:00:01.000Z", `the stored record should be running, owned and started, got ${JSON.stringify(read)}`)
      yield* is(read.parent_run_id === "run-parent" && read.fork_step === 3 && read.derived_hash === null, "a child run's link round-trips (no derived_hash: not a fork)")
    })),

  check("an idempotency key already used returns the existing run, created false, and writes nothing", (c, is) =>
    Effect.gen(function*() {
      const key = `contract-key-${randomUUID()}`
      const first = yield* c.createRun(newRun({ idempotency_key: key }))
      const second = yield* c.createRun(newRun({ idempotency_key: key, inputs: { message: "other" } }))
      yield* is(!second.created && second.record.run_id === first.record.run_id, "the second createRun returns the first run with created false")
      yield* is(same(second.record.inputs, { message: "hi" }), "the existing run's inputs are unchanged")
      yield* is((yield* c.listCheckpoints(first.record.run_id)).length === 1, "no checkpoint was added")
      const found = yield* some("idempotency", "findByIdempotencyKey", yield* c.findByIdempotencyKey(key))
      yield* is(found.run_id === first.record.run_id, "findByIdempotencyKey returns the run")
      yield* is(Option.isNone(yield* c.findByIdempotencyKey(`${key}-unused`)), "an unused key finds nothing")
    })),

  check("a thread's run is written only while the thread's newest run is the one it continues (thread-moved otherwise, nothing written); listRuns filters by thread_id", (c, is) =>
    Effect.gen(function*() {
      const thread = `contract-thread-${randomUUID()}`
      const count = Effect.map(c.listRuns({ thread_id: thread, limit: 500 }), (p) => p.runs.length)
      const first = yield* c.createRun(newRun({ thread_id: thread, continued_from: null }))
      yield* is(first.record.thread_id === thread && first.record.continued_from === null, `the record keeps thread_id and continued_from, got ${JSON.stringify(first.record)}`)
      const read = yield* some("thread", "getRun", yield* c.getRun(first.record.run_id))
      yield* is(read.thread_id === thread && read.continued_from === null, "thread_id and continued_from round-trip")
      yield* failsWith("thread", "a second first run on the thread", c.createRun(newRun({ thread_id: thread, continued_from: null })), "thread-moved")
      yield* failsWith("thread", "a run continuing an unfinished newest run", c.createRun(newRun({ thread_id: thread, continued_from: first.record.run_id })), "thread-moved")
      yield* is((yield* count) === 1, "a refused thread run writes nothing")
      yield* c.updateRun(first.record.run_id, { status: "done", finished_at: AT })
      const second = yield* c.createRun(newRun({ thread_id: thread, continued_from: first.record.run_id }))
      yield* is(second.created && second.record.continued_from === first.record.run_id, "a run continuing the thread's done newest run is written")
      yield* failsWith("thread", "a run continuing a run that is no longer the thread's newest", c.createRun(newRun({ thread_id: thread, continued_from: first.record.run_id })), "thread-moved")
      const listed = (yield* c.listRuns({ thread_id: thread })).runs.map((r) => r.run_id)
      yield* is(same(listed, [second.record.run_id, first.record.run_id]), `listRuns({thread_id}) lists the thread's runs newest first, got ${JSON.stringify(listed)}`)
      yield* is((yield* c.listRuns({ thread_id: `${thread}-none` })).runs.length === 0, "another thread id lists nothing")
    })),

  check("a thread's run that passes over failed runs (thread_newest) is written only while the thread's newest run is still thread_newest (thread-moved otherwise, nothing written)", (c, is) =>
    Effect.gen(function*() {
      const thread = `contract-thread-${randomUUID()}`
      const count = Effect.map(c.listRuns({ thread_id: thread, limit: 500 }), (p) => p.runs.length)
      // An empty thread: thread_newest null expects none (a run to continue is irrelevant then).
      const done = yield* c.createRun(newRun({ thread_id: thread, continued_from: null, thread_newest: null }))
      yield* c.updateRun(done.record.run_id, { status: "done", finished_at: AT })
      const failed = yield* c.createRun(newRun({ thread_id: thread, continued_from: done.record.run_id }))
      yield* c.updateRun(failed.record.run_id, { status: "failed", finished_at: AT })
      const before = yield* count
      yield* failsWith("thread", "a run continuing the done run without thread_newest (its newest run is the failed one)", c.createRun(newRun({ thread_id: thread, continued_from: done.record.run_id })), "thread-moved")
      yield* failsWith("thread", "a run whose thread_newest is the run it continues, not the thread's newest", c.createRun(newRun({ thread_id: thread, continued_from: done.record.run_id, thread_newest: done.record.run_id })), "thread-moved")
      yield* failsWith("thread", "a run whose thread_newest is null on a thread that has runs", c.createRun(newRun({ thread_id: thread, continued_from: null, thread_newest: null })), "thread-moved")
      yield* is((yield* count) === before, "a refused thread run writes nothing")
      const skipping = yield* c.createRun(newRun({ thread_id: thread, continued_from: done.record.run_id, thread_newest: failed.record.run_id }))
      yield* is(skipping.created && skipping.record.continued_from === done.record.run_id, `a run continuing the done run past the failed newest one (thread_newest) is written, keeping continued_from, got ${JSON.stringify(skipping.record)}`)
      const read = yield* some("thread", "getRun", yield* c.getRun(skipping.record.run_id))
      yield* is(read.continued_from === done.record.run_id && !("thread_newest" in read), "continued_from round-trips; thread_newest is not kept on the record")
      // The race: another start read the same thread (newest: the failed run) and writes after this one.
      yield* failsWith("thread", "a second run past the same failed run, after the first was written", c.createRun(newRun({ thread_id: thread, continued_from: done.record.run_id, thread_newest: failed.record.run_id })), "thread-moved")
      yield* c.updateRun(skipping.record.run_id, { status: "cancelled", finished_at: AT })
      const afterCancel = yield* c.createRun(newRun({ thread_id: thread, continued_from: null, thread_newest: skipping.record.run_id }))
      yield* is(afterCancel.created && afterCancel.record.continued_from === null, "a run past the thread's newest (cancelled) run that continues none is written")
      yield* failsWith("thread", "a run past a newest run that is unfinished", c.createRun(newRun({ thread_id: thread, continued_from: done.record.run_id, thread_newest: afterCancel.record.run_id })), "thread-moved")
      const listed = (yield* c.listRuns({ thread_id: thread })).runs.map((r) => r.run_id)
      yield* is(same(listed, [afterCancel.record.run_id, skipping.record.run_id, failed.record.run_id, done.record.run_id]), `listRuns({thread_id}) lists the thread's runs newest first, got ${JSON.stringify(listed)}`)
    })),

  check("a thread's run whose idempotency key is taken is answered with that run before the thread is checked", (c, is) =>
    Effect.gen(function*() {
      const thread = `contract-thread-${randomUUID()}`
      const key = `contract-thread-key-${randomUUID()}`
      const first = yield* c.createRun(newRun({ thread_id: thread, continued_from: null, idempotency_key: key }))
      const retried = yield* c.createRun(newRun({ thread_id: thread, continued_from: null, idempotency_key: key }))
      yield* is(!retried.created && retried.record.run_id === first.record.run_id, "the retry returns the run with created false")
    })),

  check("createRuns writes a batch in order and deduplicates keys inside it", (c, is) =>
    Effect.gen(function*() {
      const key = `contract-batch-${randomUUID()}`
      const results = yield* c.createRuns([newRun({ idempotency_key: key }), newRun(), newRun({ idempotency_key: key })])
      yield* is(results.length === 3, "one result per run")
      yield* is(results[0]!.created && results[1]!.created && !results[2]!.created, "third run deduplicated against the first")
      yield* is(results[2]!.record.run_id === results[0]!.record.run_id, "the duplicate returns the first run")
    })),

  check("commitSteps appends checkpoints; last_step is always the highest committed step", (c, is) =>
    Effect.gen(function*() {
      const { record } = yield* c.createRun(newRun())
      const id = record.run_id
      yield* c.commitSteps([cp(id, 1)])
      const one = yield* some("commit", "getRun", yield* c.getRun(id))
      yield* is(one.last_step === 1, `after committing step 1 without a patch, last_step should be 1, got ${one.last_step}`)
      yield* c.commitSteps([cp(id, 2), cp(id, 3)])
      const three = yield* some("commit", "getRun", yield* c.getRun(id))
      yield* is(three.last_step === 3, `after steps 2..3, last_step should be 3, got ${three.last_step}`)
      const latest = yield* some("commit", "latestCheckpoint", yield* c.latestCheckpoint(id))
      yield* is(latest.step === 3 && same(latest, cp(id, 3)), "latestCheckpoint is step 3, as written")
      const steps = (yield* c.listCheckpoints(id)).map((x) => x.step)
      yield* is(same(steps, [0, 1, 2, 3]), `listCheckpoints is ordered by step, got ${JSON.stringify(steps)}`)
      const listed = (yield* c.listRuns({ graph_id: record.graph_id })).runs[0]
      yield* is(listed?.last_step === 3, "listRuns reports the same last_step")
    })),

  check("commitSteps refuses a step already persisted, and writes nothing of that batch", (c, is) =>
    Effect.gen(function*() {
      const { record } = yield* c.createRun(newRun())
      const id = record.run_id
      yield* c.commitSteps([cp(id, 1)])
      const refused = yield* Effect.either(c.commitSteps([cp(id, 2), cp(id, 1, { n: 100 })], { status: "done", finished_at: AT }))
      yield* is(Either.isLeft(refused) && refused.left._tag === "CheckpointError", "a second checkpoint for step 1 is a CheckpointError")
      const steps = (yield* c.listCheckpoints(id)).map((x) => x.step)
      yield* is(same(steps, [0, 1]), `the batch is atomic: steps should stay [0,1], got ${JSON.stringify(steps)}`)
      const read = yield* some("commit", "getRun", yield* c.getRun(id))
      yield* is(read.status === "pending", "the batch's patch was not applied")
    })),

  check("commitTogether (optional): several runs' commits in one write, each as commitSteps makes it; when one is refused (another owner, a step already there) none is written", (c, is) =>
    Effect.gen(function*() {
      const together = c.commitTogether
      if (together === undefined) return
      const owner = `contract-owner-${randomUUID()}`
      const running = { running: { owner, started_at: AT } }
      const child = (yield* c.createRun(newRun(running))).record.run_id
      const parent = (yield* c.createRun(newRun(running))).record.run_id
      yield* together([
        { checkpoints: [cp(child, 1), cp(child, 2)], patch: { status: "done", finished_at: AT, owner: null }, options: { owner, syncFollows: true } },
        { checkpoints: [cp(parent, 1)], options: { owner } }
      ])
      const done = yield* some("together", "getRun", yield* c.getRun(child))
      yield* is(done.status === "done" && done.last_step === 2 && done.owner === null, `the first commit's steps and patch are written, got ${JSON.stringify(done)}`)
      const steps = (yield* c.listCheckpoints(parent)).map((x) => x.step)
      yield* is(same(steps, [0, 1]) && (yield* some("together", "getRun", yield* c.getRun(parent))).last_step === 1, `the second commit's step is written, got ${JSON.stringify(steps)}`)
      // Refused for its owner: the run is another process's now.
      const other = (yield* c.createRun(newRun(running))).record.run_id
      const stolen = (yield* c.createRun(newRun({ running: { owner: `${owner}-other`, started_at: AT } }))).record.run_id
      yield* failsWith("together", "a commit whose run another process owns", together([
        { checkpoints: [cp(other, 1)], patch: { status: "done", finished_at: AT, owner: null }, options: { owner } },
        { checkpoints: [cp(stolen, 1)], options: { owner } }
      ]), "taken-over")
      // Refused for a step already there.
      yield* Effect.either(together([
        { checkpoints: [cp(other, 1)], patch: { status: "done", finished_at: AT, owner: null }, options: { owner } },
        { checkpoints: [cp(parent, 1, { n: 100 })], options: { owner } }
      ])).pipe(Effect.flatMap((result) => is(Either.isLeft(result), "a commit of a step already persisted is refused")))
      const untouched = yield* some("together", "getRun", yield* c.getRun(other))
      yield* is(untouched.status === "running" && untouched.last_step === 0 && (yield* c.listCheckpoints(other)).length === 1,
        `nothing of a refused joint commit is written: the other run stays running at step 0, got ${JSON.stringify(untouched)}`)
      yield* is((yield* c.listCheckpoints(stolen)).length === 1, "nor the refused run's step")
    })),

  check("takeOver with waitId applies only while the run waits at that wait (its waiting's id), in the same write: another wait at the same status, owner and step is not taken", (c, is) =>
    Effect.gen(function*() {
      const id = (yield* c.createRun(newRun())).record.run_id
      const asked = { node: "ask", prompt: "Pick a number", step: 1, response_field: "", asked_at: "2026-01-01T00:00:00.000Z" }
      const first = { ...asked, wait_id: deriveWaitId(asked) }
      const again = { ...asked, asked_at: "2026-01-01T00:00:01.000Z", answers: [1] }
      const second = { ...again, wait_id: deriveWaitId(again) }
      yield* is(first.wait_id !== second.wait_id, "two asks of one question have two ids")
      yield* c.commitSteps([cp(id, 1)], { status: "awaiting-input", owner: null, waiting: second })
      yield* is(!(yield* c.takeOver(id, { status: "awaiting-input", owner: null, step: 1, waitId: first.wait_id }, { status: "running", owner: "host:1" })), "a take-over naming a wait the run is no longer at does not apply")
      const kept = yield* some("waitId", "getRun", yield* c.getRun(id))
      yield* is(kept.status === "awaiting-input" && kept.owner === null && same(kept.waiting, second), `nothing changed: ${JSON.stringify(kept)}`)
      // A wait written before ids were kept: its id is derived from what it waits for.
      yield* c.updateRun(id, { waiting: again })
      yield* is(yield* c.takeOver(id, { status: "awaiting-input", owner: null, step: 1, waitId: second.wait_id }, { status: "running", owner: "host:1" }), "a take-over naming the wait the run is at applies")
      yield* is((yield* some("waitId", "getRun", yield* c.getRun(id))).owner === "host:1", "the run was taken over")
    })),

  check("commitSteps with expected writes only while status and owner are as read and no step after the one read is committed: else run-changed, nothing written", (c, is) =>
    Effect.gen(function*() {
      const id = (yield* c.createRun(newRun())).record.run_id
      yield* c.commitSteps([cp(id, 1)], { status: "awaiting-input", owner: null })
      const waiting = { node: "ask", prompt: "ok?", step: 3, response_field: "answer" }
      yield* c.commitSteps([cp(id, 2)], { waiting }, { expected: { status: "awaiting-input", owner: null, step: 1 } })
      const read = yield* some("expected", "getRun", yield* c.getRun(id))
      yield* is(read.last_step === 2 && read.status === "awaiting-input" && same(read.waiting, waiting), `the step and its patch are written: ${JSON.stringify(read)}`)
      // A second writer that read step 1 (another edit): refused, although status and owner still match.
      yield* failsWith("expected", "a commit from a stale last step", c.commitSteps([cp(id, 3)], {}, { expected: { status: "awaiting-input", owner: null, step: 1 } }), "run-changed")
      yield* failsWith("expected", "a commit from a stale status", c.commitSteps([cp(id, 3)], {}, { expected: { status: "paused", owner: null } }), "run-changed")
      yield* failsWith("expected", "a commit from a stale owner", c.commitSteps([cp(id, 3)], {}, { expected: { status: "awaiting-input", owner: "host:9" } }), "run-changed")
      const steps = (yield* c.listCheckpoints(id)).map((x) => x.step)
      yield* is(same(steps, [0, 1, 2]), `a refused commit writes no checkpoint: ${JSON.stringify(steps)}`)
      // takeOver with a step: a run whose steps moved on since it was read is not taken over.
      yield* is(!(yield* c.takeOver(id, { status: "awaiting-input", owner: null, step: 1 }, { status: "running", owner: "host:1" })), "a take-over from a stale step does not apply")
      yield* is(yield* c.takeOver(id, { status: "awaiting-input", owner: null, step: 2 }, { status: "running", owner: "host:1" }), "a take-over from the last step applies")
      yield* failsWith("expected", "a commit once another process took the run over", c.commitSteps([cp(id, 3)], {}, { expected: { status: "awaiting-input", owner: null, step: 2 } }), "run-changed")
      yield* is((yield* some("expected", "getRun", yield* c.getRun(id))).last_step === 2, "nothing was written")
      // With the writer's ownership too (`owner`): written while both hold, refused from a stale step.
      yield* c.commitSteps([cp(id, 3)], {}, { owner: "host:1", expected: { status: "running", owner: "host:1", step: 2 } })
      yield* failsWith("expected", "an owner's commit from a stale step", c.commitSteps([cp(id, 4)], {}, { owner: "host:1", expected: { status: "running", owner: "host:1", step: 2 } }), "run-changed")
      yield* is((yield* some("expected", "getRun", yield* c.getRun(id))).last_step === 3, "the owner's commit from the step it read was written, the stale one not")
    })),

  check("a patch that stops the run takes it off the queue in the same write; one that sets it pending puts it back", (c, is) =>
    Effect.gen(function*() {
      const queued = yield* c.createRun(newRun({ queued: true }))
      const id = queued.record.run_id
      yield* is((yield* c.listPending(10_000)).some((p) => p.run_id === id), "a queued run is in listPending")
      yield* c.commitSteps([cp(id, 1)], { status: "done", finished_at: AT, owner: null })
      const read = yield* some("stop", "getRun", yield* c.getRun(id))
      yield* is(read.status === "done" && read.finished_at === AT && read.last_step === 1, "the patch is applied with last_step 1")
      yield* is(!(yield* c.listPending(10_000)).some((p) => p.run_id === id), "a done run leaves the queue")
      const paused = (yield* c.createRun(newRun({ queued: true }))).record.run_id
      yield* c.updateRun(paused, { status: "paused" })
      yield* is(!(yield* c.listPending(10_000)).some((p) => p.run_id === paused), "a paused run leaves the queue")
      // And back: a patch that sets it pending (a draining server's run) puts it on the queue, unclaimed.
      yield* c.updateRun(paused, { status: "pending", owner: null })
      const row = (yield* c.listPending(10_000)).find((p) => p.run_id === paused)
      yield* is(row !== undefined && row.claimed_by === null, `a run set pending is queued, unclaimed: ${JSON.stringify(row)}`)
    })),

  check("listPending reads claimed or unclaimed rows of the given graphs only, oldest first", (c, is) =>
    Effect.gen(function*() {
      const graph = `contract:${randomUUID()}`
      const other = `contract:${randomUUID()}`
      const first = (yield* c.createRun(newRun({ queued: true, graph_id: graph }))).record.run_id
      const foreign = (yield* c.createRun(newRun({ queued: true, graph_id: other }))).record.run_id
      const second = (yield* c.createRun(newRun({ queued: true, graph_id: graph }))).record.run_id
      yield* is(yield* c.claimPending(first, "host:1", AT), "the first row is claimed")
      const ids = (rows: ReadonlyArray<{ readonly run_id: string }>) => rows.map((r) => r.run_id).filter((id) => [first, foreign, second].includes(id))
      yield* is(same(ids(yield* c.listPending(10_000, { graphIds: [graph] })), [first, second]), "only the given graphs' rows")
      yield* is(same(ids(yield* c.listPending(10_000, { claimed: false, graphIds: [graph, other] })), [foreign, second]), "only unclaimed rows")
      yield* is(same(ids(yield* c.listPending(10_000, { claimed: true })), [first]), "only claimed rows")
      yield* is(same(ids(yield* c.listPending(10_000, { graphIds: [] })), []), "no graphs, no rows")
      yield* is(same(ids(yield* c.listPending(10_000)), [first, foreign, second]), "without a filter, every row")
      // Optional: a Checkpointer without it has its rows counted by `GET /metrics`.
      if (c.countPending === undefined) return
      const counts = yield* c.countPending
      yield* is(counts.get(graph) === 1 && counts.get(other) === 1, `countPending counts the unclaimed rows by graph: ${JSON.stringify([...counts].filter(([g]) => g === graph || g === other))}`)
    })),

  check("updateRun changes the record; an unknown run is CheckpointError unknown-run", (c, is) =>
    Effect.gen(function*() {
      const id = (yield* c.createRun(newRun())).record.run_id
      const error = { type: "NodeExecutionError", message: "boom", details: { nodeId: "a", step: 1 } }
      const waiting = { node: "ask", prompt: "ok?", step: 1, response_field: "answer" }
      yield* c.updateRun(id, { status: "awaiting-input", waiting, error, owner: null, started_at: AT })
      const read = yield* some("update", "getRun", yield* c.getRun(id))
      yield* is(read.status === "awaiting-input" && same(read.waiting, waiting) && same(read.error, error) && read.started_at === AT, "fields round-trip")
      yield* failsWith("update", "updateRun of an unknown run", c.updateRun(`run-${randomUUID()}`, { status: "done" }), "unknown-run")
    })),

  check("takeOver applies its patch only while status and owner are as expected, once", (c, is) =>
    Effect.gen(function*() {
      const id = (yield* c.createRun(newRun())).record.run_id
      yield* c.updateRun(id, { status: "paused", owner: null })
      const patch = { status: "running" as const, owner: "host:1", started_at: AT }
      yield* is(!(yield* c.takeOver(id, { status: "running", owner: null }, patch)), "a wrong expected status does not apply")
      yield* is(!(yield* c.takeOver(id, { status: "paused", owner: "host:9" }, patch)), "a wrong expected owner does not apply")
      yield* is(yield* c.takeOver(id, { status: "paused", owner: null }, patch), "the expected status and owner apply")
      const read = yield* some("takeOver", "getRun", yield* c.getRun(id))
      yield* is(read.status === "running" && read.owner === "host:1" && read.started_at === AT, `the patch is applied: ${JSON.stringify(read)}`)
      yield* is(!(yield* c.takeOver(id, { status: "paused", owner: null }, { ...patch, owner: "host:2" })), "a second take-over from the same read fails")
      yield* is((yield* some("takeOver", "getRun", yield* c.getRun(id))).owner === "host:1", "the first owner keeps the run")
      yield* is(!(yield* c.takeOver(`run-${randomUUID()}`, { status: "paused", owner: null }, patch)), "an unknown run is not taken over")
      const queued = (yield* c.createRun(newRun({ queued: true }))).record.run_id
      yield* is(yield* c.takeOver(queued, { status: "pending", owner: null }, { status: "cancelled", owner: null }), "a stopping take-over applies")
      yield* is(!(yield* c.listPending(10_000)).some((p) => p.run_id === queued), "a take-over that stops the run takes it off the queue")
      // A take-over to `pending` (an answer or a resume, queued) puts the run on the queue at once.
      const answered = (yield* c.createRun(newRun())).record.run_id
      yield* c.updateRun(answered, { status: "awaiting-input", owner: null })
      yield* is(yield* c.takeOver(answered, { status: "awaiting-input", owner: null }, { status: "pending", owner: null }), "a take-over to pending applies")
      const row = (yield* c.listPending(10_000)).find((p) => p.run_id === answered)
      yield* is(row !== undefined && row.claimed_by === null, `a take-over to pending queues the run, unclaimed: ${JSON.stringify(row)}`)
    })),

  check("claimPending with an expected owner claims only while the run still has it, else changes nothing", (c, is) =>
    Effect.gen(function*() {
      const id = (yield* c.createRun(newRun({ queued: true }))).record.run_id
      // Another process took the run over after the claimer read it (owner none).
      yield* c.updateRun(id, { status: "running", owner: "host:7" })
      yield* is(!(yield* c.claimPending(id, "host:1", AT, { owner: null })), "a claim expecting no owner fails")
      const read = yield* some("claim", "getRun", yield* c.getRun(id))
      yield* is(read.owner === "host:7" && read.status === "running", `the run keeps its owner: ${JSON.stringify(read)}`)
      yield* is((yield* c.listPending(10_000)).some((p) => p.run_id === id && p.claimed_by === null), "the row stays unclaimed")
      yield* is(yield* c.claimPending(id, "host:1", AT, { owner: "host:7" }), "a claim expecting the current owner (a dead one) succeeds")
      yield* is((yield* some("claim", "getRun", yield* c.getRun(id))).owner === "host:1", "and the claimer owns the run")
    })),

  check("a take-over is recorded on the run's record by the write that takes it over (claimPending, takeOver), and by no refused one", (c, is) =>
    Effect.gen(function*() {
      const took = (from: string, to: string) => ({ from, to, reason: "lease-lapsed" as const, at: AT })
      const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
      const id = (yield* c.createRun(newRun({ queued: true }))).record.run_id
      yield* is((yield* some("take-over", "getRun", yield* c.getRun(id))).taken_over === null, "a new run was never taken over")
      // Owner host:7 held it (claimed, then died); a claim that expects another owner records nothing.
      yield* c.updateRun(id, { status: "running", owner: "host:7" })
      yield* is(!(yield* c.claimPending(id, "host:1", AT, { owner: null }, took("host:9", "host:1"))), "a claim expecting another owner fails")
      yield* is((yield* some("take-over", "getRun", yield* c.getRun(id))).taken_over === null, "a refused claim records no take-over")
      yield* is(yield* c.claimPending(id, "host:1", AT, { owner: "host:7" }, took("host:7", "host:1")), "a claim from the dead owner succeeds")
      const claimed = yield* some("take-over", "getRun", yield* c.getRun(id))
      yield* is(same(claimed.taken_over, took("host:7", "host:1")), `the claim recorded the take-over: ${JSON.stringify(claimed.taken_over)}`)
      // A later claim that takes nothing over keeps the last take-over.
      yield* c.requeue(id, AT)
      yield* c.updateRun(id, { status: "pending", owner: null })
      yield* is(yield* c.claimPending(id, "host:2", AT, { owner: null }), "an ordinary claim succeeds")
      yield* is(same((yield* some("take-over", "getRun", yield* c.getRun(id))).taken_over, took("host:7", "host:1")), "an ordinary claim keeps the last take-over")
      // takeOver: recorded with the patch that applies, not by one refused.
      const run = (yield* c.createRun(newRun())).record.run_id
      yield* c.updateRun(run, { status: "running", owner: "host:3" })
      yield* is(!(yield* c.takeOver(run, { status: "running", owner: "host:4" }, { owner: "host:5", taken_over: took("host:4", "host:5") })), "a take-over from a stale read fails")
      yield* is((yield* some("take-over", "getRun", yield* c.getRun(run))).taken_over === null, "a refused take-over records nothing")
      yield* is(yield* c.takeOver(run, { status: "running", owner: "host:3" }, { owner: "host:5", taken_over: took("host:3", "host:5") }), "the take-over applies")
      const adopted = yield* some("take-over", "getRun", yield* c.getRun(run))
      yield* is(adopted.owner === "host:5" && same(adopted.taken_over, took("host:3", "host:5")), `takeOver recorded it with the new owner: ${JSON.stringify(adopted)}`)
    })),

  check("listTakeOvers keeps every take-over of a run, oldest first, each written by the write that took the run over, none by a refused one", (c, is) =>
    Effect.gen(function*() {
      const listTakeOvers = c.listTakeOvers
      if (listTakeOvers === undefined) return
      const took = (from: string, to: string, reason: "lease-lapsed" | "owner-exited" | "forced", at: string) => ({ from, to, reason, at })
      const history = (id: string) => listTakeOvers(id)
      const first = took("host:7", "host:1", "lease-lapsed", "2026-01-01T00:00:01.000Z")
      const second = took("host:1", "host:5", "owner-exited", "2026-01-01T00:00:02.000Z")
      const third = took("host:5", "host:6", "forced", "2026-01-01T00:00:03.000Z")
      const id = (yield* c.createRun(newRun({ queued: true }))).record.run_id
      const other = (yield* c.createRun(newRun())).record.run_id
      yield* is((yield* history(id)).length === 0, "a new run has no take-overs")
      yield* is((yield* history(`missing-${randomUUID()}`)).length === 0, "an unknown run has none")
      // A claim that takes the run over from a dead owner (host:7); a refused one records nothing.
      yield* c.updateRun(id, { status: "running", owner: "host:7" })
      yield* is(!(yield* c.claimPending(id, "host:1", AT, { owner: null }, took("host:9", "host:1", "lease-lapsed", AT))), "a claim expecting another owner fails")
      yield* is((yield* history(id)).length === 0, `a refused claim records no take-over: ${JSON.stringify(yield* history(id))}`)
      yield* is(yield* c.claimPending(id, "host:1", AT, { owner: "host:7" }, first), "a claim from the dead owner succeeds")
      yield* is(same(yield* history(id), [first]), `the claim's take-over is the first: ${JSON.stringify(yield* history(id))}`)
      // takeOver (a run kept running under its new owner): refused from a stale read, then applied.
      yield* is(!(yield* c.takeOver(id, { status: "running", owner: "host:4" }, { owner: "host:5", taken_over: second })), "a take-over from a stale read fails")
      yield* is(same(yield* history(id), [first]), `a refused take-over records nothing: ${JSON.stringify(yield* history(id))}`)
      yield* is(yield* c.takeOver(id, { status: "running", owner: "host:1" }, { owner: "host:5", taken_over: second }), "the second take-over applies")
      // A write that takes nothing over adds nothing.
      yield* c.updateRun(id, { status: "running", owner: "host:5" })
      yield* is(same(yield* history(id), [first, second]), `both take-overs, in order: ${JSON.stringify(yield* history(id))}`)
      // takeOver that stops the run (a gone owner's run cancelled).
      yield* is(yield* c.takeOver(id, { status: "running", owner: "host:5" }, { status: "cancelled", owner: null, finished_at: AT, taken_over: third }), "the third take-over applies")
      const record = yield* some("take-over history", "getRun", yield* c.getRun(id))
      yield* is(same(yield* history(id), [first, second, third]), `every take-over, oldest first: ${JSON.stringify(yield* history(id))}`)
      yield* is(same(record.taken_over, third), `the record's taken_over is the latest: ${JSON.stringify(record.taken_over)}`)
      yield* is((yield* history(other)).length === 0, "another run's history is its own")
    })),

  check("requeue puts a stopped run back on the queue unclaimed, where claimPending takes it again", (c, is) =>
    Effect.gen(function*() {
      const id = (yield* c.createRun(newRun({ queued: true }))).record.run_id
      yield* is(yield* c.claimPending(id, "host:1", AT), "the first claim succeeds")
      yield* c.updateRun(id, { status: "paused", owner: null })
      yield* is(!(yield* c.listPending(10_000)).some((p) => p.run_id === id), "a paused run leaves the queue")
      yield* c.requeue(id, AT)
      const row = (yield* c.listPending(10_000)).find((p) => p.run_id === id)
      yield* is(row !== undefined && row.claimed_by === null, `the run is queued again, unclaimed: ${JSON.stringify(row)}`)
      yield* is(yield* c.claimPending(id, "host:2", AT), "another process claims it")
      yield* c.requeue(id, AT)
      yield* is((yield* c.listPending(10_000)).filter((p) => p.run_id === id).every((p) => p.claimed_by === null), "requeuing a queued run releases its claim")
      yield* is((yield* c.listPending(10_000)).filter((p) => p.run_id === id).length === 1, "and keeps one row")
      yield* failsWith("requeue", "requeue of an unknown run", c.requeue(`run-${randomUUID()}`, AT), "unknown-run")
    })),

  check("a run put back on the queue keeps its place: before the runs of its graph queued after it was created", (c, is) =>
    Effect.gen(function*() {
      const graph = `contract:${randomUUID()}`
      const first = (yield* c.createRun(newRun({ graph_id: graph, queued: true, created_at: "2026-01-01T00:00:01.000Z" }))).record.run_id
      yield* is(yield* c.claimPending(first, "host:1", AT), "the first run is claimed")
      // It runs; the row leaves the queue (a finished claim), and a second run is queued.
      yield* c.completePending(first)
      const second = (yield* c.createRun(newRun({ graph_id: graph, queued: true, created_at: "2026-01-01T00:00:02.000Z" }))).record.run_id
      // A draining server puts the first back, later.
      yield* c.updateRun(first, { status: "pending", owner: null })
      yield* c.requeue(first, "2026-01-01T00:00:09.000Z")
      const order = (yield* c.listPending(10_000, { graphIds: [graph] })).map((p) => p.run_id)
      yield* is(order.length === 2 && order[0] === first && order[1] === second, `the first run goes first again: ${JSON.stringify(order)}`)
    })),

  check("claimPending marks the run running with its owner and start time, and succeeds once", (c, is) =>
    Effect.gen(function*() {
      const id = (yield* c.createRun(newRun({ queued: true }))).record.run_id
      yield* is(yield* c.claimPending(id, "host:1", AT), "the first claim succeeds")
      const read = yield* some("claim", "getRun", yield* c.getRun(id))
      yield* is(read.status === "running" && read.owner === "host:1" && read.started_at === AT, `claim marks the run running, owned, started: ${JSON.stringify(read)}`)
      const row = (yield* c.listPending(10_000)).find((p) => p.run_id === id)
      yield* is(row?.claimed_by === "host:1" && row.claimed_at === AT, "the queue row records the claim")
      yield* is(!(yield* c.claimPending(id, "host:2", AT)), "a second claim fails")
      yield* is(!(yield* c.claimPending(`run-${randomUUID()}`, "host:2", AT)), "claiming an unknown run fails")
    })),

  check("claimPending keeps an answer given to a requeued run (waiting.given), whatever text it holds, and drops a wait without one", (c, is) =>
    Effect.gen(function*() {
      const waiting = { node: "review", prompt: "Approve?", step: 2, response_field: "decision", kind: "node" as const }
      const answered = (yield* c.createRun(newRun())).record.run_id
      yield* c.updateRun(answered, { status: "paused", owner: null, waiting: { ...waiting, given: { value: { approved: true }, actor: "alice" } } })
      yield* c.requeue(answered, AT)
      yield* is(yield* c.claimPending(answered, "host:1", AT), "the answered run is claimed")
      const kept = yield* some("claim", "getRun", yield* c.getRun(answered))
      yield* is(kept.status === "running" && same(kept.waiting?.given, { value: { approved: true }, actor: "alice" }), `the given answer is kept: ${JSON.stringify(kept.waiting)}`)
      const unanswered = (yield* c.createRun(newRun())).record.run_id
      yield* c.updateRun(unanswered, { status: "paused", owner: null, waiting })
      yield* c.requeue(unanswered, AT)
      yield* is(yield* c.claimPending(unanswered, "host:1", AT), "the other run is claimed")
      yield* is((yield* some("claim", "getRun", yield* c.getRun(unanswered))).waiting === null, "a wait without an answer is dropped")
      // Text JSON allows but some databases' JSON types refuse (a NUL, half a surrogate pair): still claimed, still kept.
      const odd = { value: { text: "cut\u0000off \ud83d" }, actor: "bob" }
      const oddRun = (yield* c.createRun(newRun())).record.run_id
      yield* c.updateRun(oddRun, { status: "paused", owner: null, waiting: { ...waiting, payload: { draft: "\u0000" }, given: odd } })
      yield* c.requeue(oddRun, AT)
      yield* is(yield* c.claimPending(oddRun, "host:1", AT), "a run whose kept answer holds a NUL and a lone surrogate is claimed")
      const oddKept = yield* some("claim", "getRun", yield* c.getRun(oddRun))
      // (Compared as JSON text: a canonical form refuses the lone surrogate.)
      yield* is(oddKept.status === "running" && JSON.stringify(oddKept.waiting?.given) === JSON.stringify(odd), `that answer is kept as given: ${JSON.stringify(oddKept.waiting)}`)
    })),

  check("releaseClaims frees an owner's claims so another process can take them", (c, is) =>
    Effect.gen(function*() {
      const owner = `host:${randomUUID()}`
      const id = (yield* c.createRun(newRun({ queued: true }))).record.run_id
      yield* c.claimPending(id, owner, AT)
      const released = yield* c.releaseClaims(owner)
      yield* is(released === 1, `releaseClaims should report 1 released claim, got ${released}`)
      const row = (yield* c.listPending(10_000)).find((p) => p.run_id === id)
      yield* is(row !== undefined && row.claimed_by === null, "the row is unclaimed again")
      yield* is(yield* c.claimPending(id, "host:other", AT), "another owner can claim it")
      yield* c.completePending(id)
      yield* is(!(yield* c.listPending(10_000)).some((p) => p.run_id === id), "completePending removes it")
    })),

  check("listPending is oldest first", (c, is) =>
    Effect.gen(function*() {
      const graph_id = `contract:${randomUUID()}`
      const ids: Array<string> = []
      for (const at of ["2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z", "2026-01-01T00:00:03.000Z"]) {
        ids.push((yield* c.createRun(newRun({ graph_id, queued: true, created_at: at }))).record.run_id)
      }
      const order = (yield* c.listPending(10_000)).filter((p) => p.graph_id === graph_id).map((p) => p.run_id)
      yield* is(same(order, ids), `expected ${JSON.stringify(ids)}, got ${JSON.stringify(order)}`)
    })),

  check("listRuns is newest first, filters by graph and status, and pages with next_cursor until null", (c, is) =>
    Effect.gen(function*() {
      const graph_id = `contract:${randomUUID()}`
      const ids: Array<string> = []
      for (let i = 0; i < 5; i++) ids.push((yield* c.createRun(newRun({ graph_id }))).record.run_id)
      yield* c.updateRun(ids[1]!, { status: "done" })
      const seen: Array<string> = []
      let cursor: string | undefined
      for (let page = 0; page < 10; page++) {
        const result = yield* c.listRuns({ graph_id, limit: 2, ...(cursor !== undefined ? { cursor } : {}) })
        yield* is(result.runs.length <= 2, "a page holds at most `limit` runs")
        seen.push(...result.runs.map((r: RunRecord) => r.run_id))
        if (result.next_cursor === null) break
        cursor = result.next_cursor
      }
      yield* is(same(seen, [...ids].reverse()), `pages should list every run once, newest first: ${JSON.stringify(seen)}`)
      const done = yield* c.listRuns({ graph_id, status: "done" })
      yield* is(done.runs.length === 1 && done.runs[0]!.run_id === ids[1] && done.next_cursor === null, "the status filter applies")
    })),

  check("listRuns refuses a cursor it never handed out with CheckpointError invalid-cursor", (c) =>
    Effect.gen(function*() {
      yield* failsWith("cursor", "a made-up cursor", c.listRuns({ cursor: "not-a-cursor" }), "invalid-cursor")
      yield* failsWith("cursor", "a negative position", c.listRuns({ cursor: Buffer.from("-3").toString("base64url") }), "invalid-cursor")
    })),

  check("an unknown run reads as none: no record, no latest checkpoint, no checkpoints", (c, is) =>
    Effect.gen(function*() {
      const id = `run-${randomUUID()}`
      yield* is(Option.isNone(yield* c.getRun(id)), "getRun is none")
      if (c.hasRun !== undefined) yield* is(!(yield* c.hasRun(id)), "hasRun is false")
      yield* is(Option.isNone(yield* c.latestCheckpoint(id)), "latestCheckpoint is none")
      yield* is((yield* c.listCheckpoints(id)).length === 0, "listCheckpoints is empty")
    })),

  check("checkpoint state and calls round-trip as the same JSON", (c, is) =>
    Effect.gen(function*() {
      const state = { nested: { list: [1, 2.5, -0.125, "ü😀\u2028", null, true, { deep: [[[]]] }] }, big: Number.MAX_SAFE_INTEGER, empty: {} }
      const id = (yield* c.createRun(newRun())).record.run_id
      const calls = [{ node: "node1", seq: 0, name: "llm.complete", request_hash: "sha256:x", request: { prompt: "p" }, response: { text: "r" } }]
      const written: Checkpoint = { ...cp(id, 1, state), calls }
      yield* c.commitSteps([written])
      const read = yield* some("json", "latestCheckpoint", yield* c.latestCheckpoint(id))
      yield* is(same(read, written), `read back ${canonicalJson(read)}\nwritten   ${canonicalJson(written)}`)
    })),

  check("heartbeats (optional: beat, endHeartbeat, heartbeats, all or none): a beat counts up and keeps its lease; only owners that beat are read; endHeartbeat removes the row", (c, is) =>
    Effect.gen(function*() {
      const { beat, endHeartbeat, heartbeats } = c
      if (beat === undefined && endHeartbeat === undefined && heartbeats === undefined) return
      if (beat === undefined || endHeartbeat === undefined || heartbeats === undefined) {
        return yield* is(false, "beat, endHeartbeat and heartbeats go together: a Checkpointer has all three or none")
      }
      const me = `contract-${randomUUID()}:1:1`
      const nobody = `contract-${randomUUID()}:2:2`
      yield* is((yield* heartbeats([me])).length === 0, "an owner that never beat has no heartbeat")
      yield* is((yield* heartbeats([])).length === 0, "no owners asked: none read")
      yield* beat(me, 500)
      yield* beat(me, 700)
      const rows = yield* heartbeats([me, nobody])
      const row = rows[0]
      yield* is(rows.length === 1 && row !== undefined && row.owner === me, `only the owner that beat is read: ${JSON.stringify(rows)}`)
      yield* is(row!.beat === 2 && row!.lease_ms === 700, `two beats count 2 and keep the last lease (700): ${JSON.stringify(row)}`)
      yield* is(row!.age_ms >= 0 && !Number.isNaN(Date.parse(row!.beat_at)), `a heartbeat has an age (ms, not negative) and an ISO beat_at: ${JSON.stringify(row)}`)
      yield* endHeartbeat(me)
      yield* endHeartbeat(nobody)
      yield* is((yield* heartbeats([me])).length === 0, "endHeartbeat removes the row (and ending one that never beat is no error)")
      yield* beat(me, 300)
      const again = (yield* heartbeats([me]))[0]
      yield* is(again?.beat === 1 && again.lease_ms === 300, `a process that beats after its row went starts again at 1: ${JSON.stringify(again)}`)
      yield* endHeartbeat(me)
    })),

  check("sweepHeartbeats (optional): removes heartbeats whose beat stood still past both bounds, not those of owners of running runs or queue claims; a dry run removes nothing", (c, is) =>
    Effect.gen(function*() {
      const { beat, endHeartbeat, heartbeats, sweepHeartbeats } = c
      if (sweepHeartbeats === undefined) return
      if (beat === undefined || endHeartbeat === undefined || heartbeats === undefined) return yield* is(false, "sweepHeartbeats comes with beat, endHeartbeat and heartbeats")
      const owner = (name: string) => `contract-${name}-${randomUUID()}:1:1`
      const [stale, fresh, running, claiming] = [owner("stale"), owner("fresh"), owner("running"), owner("claiming")]
      const mine = [stale, fresh, running, claiming]
      const runId = (yield* c.createRun(newRun({ running: { owner: running, started_at: AT } }))).record.run_id
      const queued = (yield* c.createRun(newRun({ queued: true }))).record.run_id
      yield* is(yield* c.claimPending(queued, claiming, AT), "the queued run is claimed")
      // Only the claim names its owner (the run record's owner is cleared).
      yield* c.updateRun(queued, { owner: null })
      // Leases of 1 ms stand still for 10 leases at once; a lease of a day does not.
      for (const o of [stale, running, claiming]) yield* beat(o, 1)
      yield* beat(fresh, 86_400_000)
      yield* Effect.sleep("60 millis")
      const bounds = { minMs: 10, leases: 10 }
      const ours = (owners: ReadonlyArray<string>) => owners.filter((o) => mine.includes(o))
      const dry = ours(yield* sweepHeartbeats(bounds, true))
      yield* is(same(dry, [stale]), `a dry sweep names only the stale heartbeat of an owner with nothing running: ${JSON.stringify(dry)}`)
      yield* is((yield* heartbeats([stale])).length === 1, "a dry sweep removes nothing")
      // Both bounds hold: not an hour old, none is stale.
      const hour = ours(yield* sweepHeartbeats({ minMs: 3_600_000, leases: 0 }))
      yield* is(hour.length === 0, `no heartbeat a second old is stale past an hour: ${JSON.stringify(hour)}`)
      const swept = ours(yield* sweepHeartbeats(bounds))
      yield* is(same(swept, [stale]), `the sweep removes (and names) the stale heartbeat only: ${JSON.stringify(swept)}`)
      const left = (yield* heartbeats(mine)).map((h) => h.owner).sort()
      yield* is(same(left, [fresh, running, claiming].sort()), `the fresh one and the owners of a running run and of a queue claim stay: ${JSON.stringify(left)}`)
      // Once the run stops and the claim goes, their owners' heartbeats are stale like any.
      yield* c.updateRun(runId, { status: "cancelled", owner: null, finished_at: AT })
      yield* c.completePending(queued)
      const later = ours(yield* sweepHeartbeats(bounds))
      yield* is(same(later, [claiming, running].sort()), `then they go: ${JSON.stringify(later)}`)
      yield* endHeartbeat(fresh)
    })),

  check("requestCancel and cancelRequests (optional, together): a request is recorded only while the run is running under the owner asked, only that owner reads it, and it is dropped when the run stops running", (c, is) =>
    Effect.gen(function*() {
      const { cancelRequests, requestCancel } = c
      if (requestCancel === undefined && cancelRequests === undefined) return
      if (requestCancel === undefined || cancelRequests === undefined) return yield* is(false, "requestCancel and cancelRequests go together")
      const owner = `contract-${randomUUID()}:1:1`
      const other = `contract-${randomUUID()}:2:2`
      const runId = (yield* c.createRun(newRun({ running: { owner, started_at: AT } }))).record.run_id
      yield* is(!(yield* requestCancel(runId, other)), "a request for a process that does not drive the run is refused")
      yield* is(!(yield* requestCancel(`run-${randomUUID()}`, owner)), "a request for an unknown run is refused")
      yield* is(!(yield* cancelRequests(owner)).includes(runId), "no request yet")
      yield* is(yield* requestCancel(runId, owner), "a request for the run's owner is recorded")
      yield* is((yield* cancelRequests(owner)).includes(runId), "its owner reads it")
      yield* is(!(yield* cancelRequests(other)).includes(runId), "another process does not")
      // Taken over by another process: the request was for the owner before.
      yield* is(yield* c.takeOver(runId, { status: "running", owner }, { owner: other }), "another process takes the run over")
      yield* is(!(yield* cancelRequests(other)).includes(runId) && !(yield* cancelRequests(owner)).includes(runId), "a request for the previous owner is read by no one")
      yield* is(yield* requestCancel(runId, other), "the new owner is asked")
      yield* c.updateRun(runId, { status: "paused", owner: null })
      yield* is(!(yield* cancelRequests(other)).includes(runId), "a run that stopped is no owner's request any more")
      yield* is(!(yield* requestCancel(runId, other)), "a run not running is refused")
      // The request was for the drive it was made in: the same process resuming the run later does not cancel it.
      yield* is(yield* c.takeOver(runId, { status: "paused", owner: null }, { status: "running", owner: other }), "the same process resumes the run")
      yield* is(!(yield* cancelRequests(other)).includes(runId), "a request made before the run stopped is gone once it runs again")
    })),

  check("trigger cursors: none until set, then the latest value", (c, is) =>
    Effect.gen(function*() {
      const key = `cron:contract-${randomUUID()}`
      yield* is(Option.isNone(yield* c.getCursor(key)), "an unset cursor is none")
      yield* c.setCursor(key, "2026-01-01T00:00:00.000Z")
      yield* c.setCursor(key, "2026-01-02T00:00:00.000Z")
      const value = yield* some("cursor", "getCursor", yield* c.getCursor(key))
      yield* is(value === "2026-01-02T00:00:00.000Z", `expected the latest value, got ${value}`)
    })),

  check("claimed cursors: the first claim of a key wins, concurrent claims all read it, and outlived claims under a prefix are dropped", (c, is) =>
    Effect.gen(function*() {
      const claimCursor = c.claimCursor
      // Optional: a Checkpointer without it has nothing to check here.
      if (claimCursor === undefined) return
      const prefix = `webhook-claim:contract-${randomUUID()}:`
      const claim = (key: string, value: string, at = "2026-01-01T00:00:00.000Z", before?: string) =>
        claimCursor({ key: `${prefix}${key}`, value, at, ...(before !== undefined ? { drop: { prefix, before } } : {}) })
      yield* is((yield* claim("a", "first")) === "first", "an unclaimed key takes the value")
      yield* is((yield* claim("a", "second")) === "first", "a claimed key keeps its first value")
      const raced = yield* Effect.forEach(Array.from({ length: 8 }, (_, i) => `v${i}`), (v) => claim("b", v), { concurrency: "unbounded" })
      yield* is(new Set(raced).size === 1, `concurrent claims read one value, got ${[...new Set(raced)].join(", ")}`)
      const read = yield* some("cursor", "getCursor", yield* c.getCursor(`${prefix}b`))
      yield* is(read === raced[0], "the winning claim is the cursor's value")
      // A later claim dropping those written before 2026-01-02: "a" and "b" go, the new one stays.
      yield* is((yield* claim("c", "third", "2026-01-03T00:00:00.000Z", "2026-01-02T00:00:00.000Z")) === "third", "a new key is claimed after the drop")
      yield* is(Option.isNone(yield* c.getCursor(`${prefix}a`)), "an outlived claim under the prefix is dropped")
      yield* is((yield* claim("a", "again", "2026-01-03T00:00:00.000Z")) === "again", "a dropped key can be claimed anew")
      const other = `cron:contract-${randomUUID()}`
      yield* c.setCursor(other, "kept")
      yield* claim("d", "x", "2026-01-04T00:00:00.000Z", "2099-01-01T00:00:00.000Z")
      yield* is(Option.isSome(yield* c.getCursor(other)), "a cursor outside the prefix is never dropped")
    }))
]

/** The contract's checks against `layer` (built once per check; a failure to build it fails the check). */
export const checkpointerContract = <E>(layer: Layer.Layer<Checkpointer, E>): ReadonlyArray<ContractCheck> =>
  cases.map((c) => ({
    name: c.name,
    run: c.run.pipe(
      Effect.provide(layer),
      Effect.catchAll((error) =>
        error instanceof ContractViolation
          ? Effect.fail(error)
          : Effect.fail(new ContractViolation({ check: c.name, message: `unexpected failure: ${describe(error)}` }))
      )
    )
  }))

const describe = (error: unknown): string =>
  error !== null && typeof error === "object" && "message" in error ? String((error as { message: unknown }).message) : JSON.stringify(error)
