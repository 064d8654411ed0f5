/**
 * Interleaved rounds against LangGraph.js (`../shared/bench-peers/langgraph`) and,
 * optionally, a baseline checkout of Stargraph (an older commit, to measure a change):
 * per round, the peer with `SqliteSaver` (WAL, effectively synchronous=NORMAL), Stargraph
 * at NORMAL, the peer without a checkpointer and Stargraph in memory, each a separate
 * process running `--runs` sequential runs of the same 10-node linear graph. Prints one
 * JSON line per round with steps/s and the ratios, then the ranges.
 *
 *   npx tsx bench/compare.ts [--rounds 3] [--runs 500] [--nodes 10] [--routing edges]
 *        [--peer ../shared/bench-peers/langgraph] [--baseline /path/to/older/checkout]
 *
 * `--routing` (edges, rules, order, facts: see bench/engine.ts) applies to this build; the
 * baseline runs its own bench/engine.ts, whatever routing that one has.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)))
const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const rounds = Number(args.get("rounds") ?? 3)
const runs = String(args.get("runs") ?? 500)
const nodes = String(args.get("nodes") ?? 10)
const peer = resolve(args.get("peer") ?? join(ROOT, "..", "shared", "bench-peers", "langgraph"))
const baseline = args.get("baseline")
const routing = args.get("routing") ?? "edges"

if (!existsSync(join(peer, "node_modules"))) {
  console.error(`the peer at ${peer} is not installed: run \`npm ci\` there first`)
  process.exit(2)
}

const stepsPerS = (output: string): number => {
  const line = output.trim().split("\n").filter((l) => l.startsWith("{")).pop()
  return line === undefined ? Number.NaN : (JSON.parse(line) as { readonly steps_per_s: number }).steps_per_s
}
const langgraph = (checkpoint: "sqlite" | "none") =>
  stepsPerS(execFileSync(process.execPath, ["bench.mjs", "--nodes", nodes, "--runs", runs, "--checkpoint", checkpoint], { cwd: peer, encoding: "utf8" }))
const stargraph = (checkout: string, mode: "normal" | "memory") =>
  stepsPerS(execFileSync(process.execPath, [
    "--import", "tsx", "bench/engine.ts", "--nodes", nodes, "--runs", runs, "--mode", mode,
    ...(checkout === ROOT ? ["--routing", routing] : [])
  ], { cwd: checkout, encoding: "utf8" }))

const ratio = (a: number, b: number) => Number((a / b).toFixed(2))
const all: Array<Record<string, number>> = []
for (let round = 1; round <= rounds; round++) {
  const row: Record<string, number> = { round }
  row["langgraph_sqlite"] = langgraph("sqlite")
  row["stargraph_normal"] = stargraph(ROOT, "normal")
  if (baseline !== undefined) row["baseline_normal"] = stargraph(baseline, "normal")
  row["langgraph_none"] = langgraph("none")
  row["stargraph_memory"] = stargraph(ROOT, "memory")
  if (baseline !== undefined) row["baseline_memory"] = stargraph(baseline, "memory")
  row["ratio_normal"] = ratio(row["stargraph_normal"]!, row["langgraph_sqlite"]!)
  row["ratio_memory"] = ratio(row["stargraph_memory"]!, row["langgraph_none"]!)
  if (baseline !== undefined) {
    row["baseline_ratio_normal"] = ratio(row["baseline_normal"]!, row["langgraph_sqlite"]!)
    row["baseline_ratio_memory"] = ratio(row["baseline_memory"]!, row["langgraph_none"]!)
    row["vs_baseline_normal"] = ratio(row["stargraph_normal"]!, row["baseline_normal"]!)
    row["vs_baseline_memory"] = ratio(row["stargraph_memory"]!, row["baseline_memory"]!)
  }
  all.push(row)
  console.log(JSON.stringify(row))
}
const range = (key: string) => {
  const values = all.map((r) => r[key]).filter((v): v is number => v !== undefined)
  return values.length === 0 ? undefined : [Math.min(...values), Math.max(...values)]
}
console.log(JSON.stringify({
  summary: "ranges over rounds",
  routing,
  ratio_normal: range("ratio_normal"),
  ratio_memory: range("ratio_memory"),
  ...(baseline !== undefined
    ? { baseline_ratio_normal: range("baseline_ratio_normal"), baseline_ratio_memory: range("baseline_ratio_memory"), vs_baseline_normal: range("vs_baseline_normal"), vs_baseline_memory: range("vs_baseline_memory") }
    : {})
}))
