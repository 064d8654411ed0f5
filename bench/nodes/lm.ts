/**
 * Language-model node benchmark: one `dspy` node (`question -> answer`, `/chat/completions`)
 * executed live against a real OpenAI-compatible HTTP server on 127.0.0.1
 * (test/helpers/openaiServer.ts), and the same node replayed from the cassette of that
 * call (the step recorder answering it, as in a replay or fork), interleaved pair by pair.
 * Both sides build the same messages and decode the same completion; the replay skips
 * the HTTP round trip only.
 *
 * Two servers: `local` answers at once (the bare local round trip: HTTP, JSON, our
 * provider stack), `latency_20ms` waits 20 ms before answering (a stand-in for a fast
 * real model; real ones take 100 ms to seconds). Figures are µs medians per node
 * execution, timed inside the fiber that runs it (as the run loop runs a node in its
 * run's fiber); `ratio` is live / replay (goal ≥ 50). `extra_replay_with_fiber_start_us_median`
 * (not in the ratio) also counts the fiber this bench starts per execution and its
 * Promise, which a run does not pay per node. `extra_replay_back_to_back_us_median`
 * (not in the ratio) times replays run back to back after the pairs, with no I/O between
 * them: what a replay costs when the CPU's caches are warm. `in_runs_local` compares
 * whole runs instead: a 10-node chain run live and then replayed, per step.
 *
 *   npx tsx bench/nodes/lm.ts [--pairs 200] [--build]
 *
 * `--build` runs the compiled library (`dist/`, what an installed package and the bundled
 * CLI run; `npm run build` first) instead of the sources through tsx, whose per-closure
 * name wrappers weigh on a replay of a few microseconds (not on the live call).
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type * as CheckpointerModule from "../../src/checkpoint/Checkpointer.js"
import type * as MemoryCheckpointerModule from "../../src/checkpoint/MemoryCheckpointer.js"
import type * as GraphModule from "../../src/graph/Graph.js"
import type { NodeInput } from "../../src/nodes/Executor.js"
import type * as ReplayModule from "../../src/replay/Replay.js"
import type * as CassetteModule from "../../src/runtime/Cassette.js"
import * as OpenAiServer from "../../test/helpers/openaiServer.js"

/** The library's modules: the sources through tsx, or the compiled build (`--build`: what an installed package runs). */
const library = async (build: boolean) => {
  const root = build ? "../../dist/src/" : "../../src/"
  return {
    Checkpointer: ((await import(`${root}checkpoint/Checkpointer.js`)) as typeof CheckpointerModule).Checkpointer,
    MemoryCheckpointer: (await import(`${root}checkpoint/MemoryCheckpointer.js`)) as typeof MemoryCheckpointerModule,
    Graph: (await import(`${root}graph/Graph.js`)) as typeof GraphModule,
    Replay: (await import(`${root}replay/Replay.js`)) as typeof ReplayModule,
    stepRecorder: ((await import(`${root}runtime/Cassette.js`)) as typeof CassetteModule).stepRecorder
  }
}
let { Checkpointer, MemoryCheckpointer, Graph, Replay, stepRecorder } = await library(false)

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const scenario = async (latencyMs: number, pairs: number) => {
  const server = await OpenAiServer.start({ latencyMs, respond: () => "{\"answer\": \"Paris is the capital of France.\"}" })
  const runtime = ManagedRuntime.make(MemoryCheckpointer.layer)
  try {
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "bench:lm",
      state_schema: { fields: { question: { type: "string" }, answer: { type: "string" } } },
      nodes: [{ id: "ask", kind: "dspy", config: { signature: "question -> answer", model: "bench-model", api_base: server.url } }]
    }))
    const node = graph.nodes.get("ask")!
    const state = { question: "What is the capital of France?" }
    const input = (calls: NodeInput["calls"]): NodeInput => ({ runId: "bench", nodeId: "ask", step: 1, calls, answers: [], graphHash: graph.graphHash })
    const once = async (replay: boolean) => {
      const recorder = stepRecorder(1, replay ? cassette : undefined)
      // Timed inside the fiber, as the run loop executes a node in its run's fiber; `withFiberUs`
      // also counts starting a fiber for it and awaiting its Promise (the bench's own cost).
      const started = performance.now()
      const { outcome, us } = await runtime.runPromise(Effect.suspend(() => {
        const t0 = performance.now()
        return Effect.map(node.execute(state, input(recorder.forNode("ask"))), (outcome) => ({ outcome, us: (performance.now() - t0) * 1000 }))
      }))
      const withFiberUs = (performance.now() - started) * 1000
      if (outcome._tag !== "Update" || outcome.update["answer"] !== "Paris is the capital of France.") throw new Error("unexpected outcome")
      if (recorder.liveCalls() !== (replay ? 0 : 1)) throw new Error(`a ${replay ? "replay" : "live"} execution made ${recorder.liveCalls()} live calls`)
      return { us, withFiberUs, entries: recorder.entries() }
    }
    // Record the cassette once (and warm both paths up).
    const recorded = await once(false)
    // As a replay reads it: parsed from the checkpoint's JSON (no object shared with the live call).
    const cassette = { calls: new Map([["1:ask", JSON.parse(JSON.stringify(recorded.entries)) as typeof recorded.entries]]), responses: new Map(), overrides: new Map(), liveAfterFork: false, timeouts: new Map() }
    for (let i = 0; i < 20; i++) {
      await once(false)
      await once(true)
    }
    const requestsBefore = server.requests.length
    const live: Array<number> = []
    const replayed: Array<number> = []
    const replayedWithFiber: Array<number> = []
    for (let i = 0; i < pairs; i++) {
      live.push((await once(false)).us)
      const replay = await once(true)
      replayed.push(replay.us)
      replayedWithFiber.push(replay.withFiberUs)
    }
    if (server.requests.length - requestsBefore !== pairs) throw new Error("the replays reached the server")
    // Extra figure, not part of the ratio: replays back to back (no live call, no I/O in
    // between), the node's own cost with the CPU's caches and the JIT warm.
    const backToBack: Array<number> = []
    for (let i = 0; i < pairs; i++) backToBack.push((await once(true)).us)
    const liveUs = median(live)
    const replayUs = median(replayed)
    return {
      server_latency_ms: latencyMs,
      pairs,
      live_us_median: Math.round(liveUs),
      replay_us_median: Math.round(replayUs),
      ratio: Math.round(liveUs / replayUs),
      extra_replay_with_fiber_start_us_median: Math.round(median(replayedWithFiber)),
      extra_replay_back_to_back_us_median: Math.round(median(backToBack))
    }
  } finally {
    await runtime.dispose()
    await server.close()
  }
}

/**
 * Whole runs: a chain of `nodes` dspy nodes run live against the local server, then
 * replayed (`Replay.fork`, no mutation: every call answered by the cassette), alternating
 * run by run. Each step's `duration_ms` (what the run loop records per step: the node,
 * merging its update and routing, not the commit) is the figure: medians over every
 * step of every run of each kind.
 */
const inRuns = async (rounds: number, nodes: number) => {
  const server = await OpenAiServer.start({ latencyMs: 0, respond: () => "{\"answer\": \"Paris is the capital of France.\"}" })
  const runtime = ManagedRuntime.make(MemoryCheckpointer.layer)
  try {
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "bench:lm-chain",
      state_schema: { fields: { question: { type: "string" }, answer: { type: "string" } } },
      nodes: Array.from({ length: nodes }, (_, i) => ({ id: `ask${i}`, kind: "dspy", config: { signature: "question -> answer", model: "bench-model", api_base: server.url } }))
    }))
    const stepMs = (runId: string) =>
      runtime.runPromise(Effect.map(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runId)), (cps) => cps.filter((c) => c.step > 0).map((c) => c.duration_ms)))
    const wall: { live: Array<number>; replay: Array<number> } = { live: [], replay: [] }
    const liveRun = async () => {
      const t0 = performance.now()
      const summary = await runtime.runPromise(Effect.flatMap(graph.start({ inputs: { question: "What is the capital of France?" } }), (r) => r.start()))
      wall.live.push((performance.now() - t0) * 1000)
      if (summary.status !== "done") throw new Error(`live run ${summary.status}`)
      return summary.run_id
    }
    const replayRun = async (parent: string) => {
      const t0 = performance.now()
      const forked = await runtime.runPromise(Replay.fork(graph, parent))
      wall.replay.push((performance.now() - t0) * 1000)
      if (forked.summary.status !== "done") throw new Error(`replay ${forked.summary.status}`)
      return forked.cfRunId
    }
    for (let i = 0; i < 5; i++) await replayRun(await liveRun())
    wall.live.length = 0
    wall.replay.length = 0
    const requestsBefore = server.requests.length
    const live: Array<number> = []
    const replayed: Array<number> = []
    for (let i = 0; i < rounds; i++) {
      const parent = await liveRun()
      live.push(...await stepMs(parent))
      replayed.push(...await stepMs(await replayRun(parent)))
    }
    if (server.requests.length - requestsBefore !== rounds * nodes) throw new Error("a replay reached the server")
    const liveUs = median(live) * 1000
    const replayUs = median(replayed) * 1000
    // Whole runs, wall time per node: the live run (start to done) against the whole fork
    // (reading the parent, the replay with its commits, and the RunDiff), not a node figure.
    const liveRunUs = median(wall.live) / nodes
    const replayRunUs = median(wall.replay) / nodes
    return {
      nodes,
      rounds,
      live_step_us_median: Math.round(liveUs),
      replay_step_us_median: Math.round(replayUs),
      ratio: Math.round(liveUs / replayUs),
      extra_whole_run_us_per_node: { live: Math.round(liveRunUs), fork_with_diff: Math.round(replayRunUs), ratio: Math.round((liveRunUs / replayRunUs) * 10) / 10 }
    }
  } finally {
    await runtime.dispose()
    await server.close()
  }
}

/** Run the benchmark; the figures as JSON. */
export const run = async (options: { readonly build?: boolean } = {}): Promise<Record<string, unknown>> => {
  if (options.build === true) ({ Checkpointer, MemoryCheckpointer, Graph, Replay, stepRecorder } = await library(true))
  const pairs = arg("pairs", 200)
  return {
    bench: "nodes/lm",
    library: options.build === true ? "dist (compiled)" : "src (tsx)",
    what: "one dspy node executed live against a local OpenAI-compatible server vs replayed from its cassette, interleaved (µs medians per execution)",
    local: await scenario(0, pairs),
    latency_20ms: await scenario(20, Math.max(20, Math.round(pairs / 4))),
    in_runs_local: await inRuns(Math.max(10, Math.round(pairs / 10)), 10)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await run({ build: process.argv.includes("--build") }), null, 2))
