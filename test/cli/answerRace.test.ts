/**
 * Answering a run awaiting input when someone else answers too: exactly one answer is
 * applied (the take-over of the wait is a compare-and-set on the run's record), and the
 * other is refused with a RunStateError saying who answered and when; a process that did
 * not drive the run never reports its outcome as its own. Cancelling a child run its
 * parent waits on is refused (cancel the parent).
 */
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const APPROVAL = join(ROOT, "examples", "approval", "graph.yaml")
const PARENT = join(ROOT, "test", "fixtures", "subgraph", "approval-parent.yaml")

/** Start the approval graph into `db`: its run id, awaiting input. */
const waitingRun = async (db: string, request: string) => {
  const started = await stargraph(["run", APPROVAL, "--inputs", `request=${request}`, "--db", db, "--quiet"])
  expect(started.last).toMatch(/status=awaiting-input$/)
  return runIdOf(started.last)
}

describe("two answers to one wait", () => {
  it("library: of two handles resumed with answers from the same wait, the second to start is refused, naming who answered, and changes nothing", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(APPROVAL)
      const first = yield* Effect.flatMap(graph.start({ inputs: { request: "r" } }), (run) => run.start())
      expect(first.status).toBe("awaiting-input")
      // Both read the run while it waited, so both pass the checks; only one takes the wait over.
      const alice = yield* graph.resume(first.run_id, { response: { value: { approved: true } }, actor: "alice" })
      const bob = yield* graph.resume(first.run_id, { response: { value: { approved: false } }, actor: "bob" })
      const won = yield* alice.start()
      const lost = yield* Effect.either(bob.start())
      return { won, lost }
    }).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: db }))))
    expect(outcome.won).toMatchObject({ status: "done", final_state: { outcome: "published: Proposed change: r" } })
    expect(Either.isLeft(outcome.lost) && outcome.lost.left).toMatchObject({ _tag: "RunStateError", operation: "resume" })
    expect(Either.isLeft(outcome.lost) && outcome.lost.left.message).toMatch(
      new RegExp(`^run ${outcome.won.run_id} was already answered by 'alice' at \\d{4}-\\d\\d-\\d\\dT[^ ]+ through another process or request: it went on and is now done; this answer was not applied`)
    )
  })

  it("CLI: a second respond after the first finished exits 2 saying who answered, and prints no status line of its own", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const id = await waitingRun(db, "late")
    const alice = await stargraph(["respond", id, "--db", db, "--response", '{"approved":true}', "--actor", "alice", "--quiet"])
    expect([alice.code, alice.last]).toEqual([0, `run_id=${id} status=done`])
    const bob = await stargraph(["respond", id, "--db", db, "--response", '{"approved":false}', "--actor", "bob", "--quiet"])
    expect(bob.code).toBe(2)
    expect(bob.stdout).toBe("")
    expect(bob.stderr).toMatch(new RegExp(`^error: RunStateError: run ${id} was already answered by 'alice' at .*: it went on and is now done; this answer was not applied`))
  })

  it("CLI: two respond processes at once, many rounds: always exactly one exits 0 with its answer applied, the other exits 2 saying it was already answered", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const audit = join(tempDir(), "audit.jsonl")
    for (let round = 0; round < 6; round++) {
      const id = await waitingRun(db, `r${round}`)
      const [alice, bob] = await Promise.all([
        stargraph(["respond", id, "--db", db, "--response", '{"approved":true}', "--actor", "alice", "--audit-log", audit, "--quiet"]),
        stargraph(["respond", id, "--db", db, "--response", '{"approved":false}', "--actor", "bob", "--audit-log", audit, "--quiet"])
      ])
      expect([alice.code, bob.code].sort(), `round ${round}: ${alice.stderr} | ${bob.stderr}`).toEqual([0, 2])
      const [winner, loser, winnerName] = alice.code === 0 ? [alice, bob, "alice"] : [bob, alice, "bob"]
      expect(winner.last).toBe(`run_id=${id} status=done`)
      expect(loser.stdout).toBe("")
      expect(loser.stderr).toMatch(new RegExp(`^error: RunStateError: run ${id} was already answered by '${winnerName}' at .*; this answer was not applied`))
      expect(loser.stderr).not.toMatch(/resume it without a response|status=done/)
      const shown = await stargraph(["inspect", id, "--db", db, "--json"])
      expect(JSON.parse(shown.stdout)["final_state"]["outcome"]).toMatch(winnerName === "alice" ? /^published/ : /^rejected/)
    }
  }, 120_000)
})

describe("cancelling a child run its parent waits on", () => {
  it("is refused, naming the parent and the fix; the parent still waits and its answer goes through", async () => {
    const db = join(tempDir(), "runs.sqlite")
    const started = await stargraph(["run", PARENT, "--inputs", "request=deploy", "--db", db, "--quiet"])
    const parent = runIdOf(started.last)
    const listed = JSON.parse((await stargraph(["list", "--db", db, "--json"])).stdout)["runs"] as ReadonlyArray<{ run_id: string; parent_run_id: string | null }>
    const child = listed.find((r) => r.parent_run_id === parent)!.run_id
    const refused = await stargraph(["cancel", child, "--db", db])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(
      `error: RunStateError: run ${child} is a subgraph's child run whose parent run ${parent} (awaiting-input) waits on it at node 'review'; ` +
        `cancelling the child alone would leave the parent waiting on a question nobody can answer. Cancel the parent (stargraph cancel ${parent} --db ${db})`
    )
    const statuses = JSON.parse((await stargraph(["list", "--db", db, "--json"])).stdout)["runs"].map((r: { status: string }) => r.status)
    expect(statuses).toEqual(["awaiting-input", "awaiting-input"])
    const answered = await stargraph(["respond", parent, "--db", db, "--response", '"approved"', "--quiet"])
    expect([answered.code, answered.last]).toEqual([0, `run_id=${parent} status=done`])
  })
})
