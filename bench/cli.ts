/**
 * CLI start-up benchmark: whole-process wall time and peak RSS of `stargraph --help`,
 * `validate`, and `run` of examples/hello, through `node bin/stargraph.js` and through
 * `npx stargraph`, with `node -e 0` as the floor, and `validate` with an empty module cache
 * (its `nodes.ts` compiled by esbuild). One warm-up, then the median of N runs.
 *
 *   npx tsx bench/cli.ts            # N=7
 *   N=15 npx tsx bench/cli.ts       # more runs
 *   BIN=/path/to/bin.js npx tsx bench/cli.ts   # another build of the bin
 *   SKIP_NPX=1 npx tsx bench/cli.ts            # node only
 *
 * Peak RSS and CPU time (user + sys, 10 ms resolution) come from GNU `/usr/bin/time` (RSS:
 * the largest process of the tree, for npx npm's own node or the CLI, whichever is bigger;
 * CPU: the whole tree). Prints one JSON object. The CLI's V8 code cache is warm after the
 * warm-up run; NODE_DISABLE_COMPILE_CACHE=1 measures without it.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const ROOT = resolve(import.meta.dirname, "..")
const N = Number(process.env["N"] ?? 7)
const BIN = process.env["BIN"] ?? join(ROOT, "bin", "stargraph.js")
const GRAPH = join(ROOT, "examples", "hello", "graph.yaml")
const TIME = "/usr/bin/time"
const work = mkdtempSync(join(tmpdir(), "stargraph-bench-cli-"))

interface Case {
  readonly name: string
  /** argv after the launcher; a function so each run can get a fresh database. */
  readonly args: (i: number) => ReadonlyArray<string>
  /** Extra environment for run `i`. */
  readonly env?: (i: number) => NodeJS.ProcessEnv
  /** Measured through `node` only (not npx). */
  readonly nodeOnly?: boolean
}

const cases: ReadonlyArray<Case> = [
  { name: "--help", args: () => ["--help"] },
  { name: "validate", args: () => ["validate", GRAPH] },
  { name: "run", args: (i) => ["run", GRAPH, "--inputs", "message=hello", "--checkpoint", join(work, `run-${i}.sqlite`)] },
  // examples/hello's nodes.ts compiled afresh (an empty module cache): a graph's first load
  // on Node 20, or after its module changed. The V8 code cache stays warm.
  {
    name: "validate, cold module cache",
    args: () => ["validate", GRAPH],
    env: (i) => ({ STARGRAPH_CACHE_DIR: join(work, `module-cache-${i}`) }),
    nodeOnly: true
  }
]

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** One process: wall ms (measured here), CPU ms (user + sys) and peak RSS in MiB (from /usr/bin/time). */
const once = (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): { ms: number; cpuMs: number | null; rssMiB: number | null } => {
  const useTime = existsSync(TIME)
  const rssFile = join(work, "rss.txt")
  const [cmd, argv] = useTime ? [TIME, ["-f", "%M %U %S", "-o", rssFile, command, ...args]] : [command, args]
  const t0 = performance.now()
  const r = spawnSync(cmd, argv, { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_UPDATE_NOTIFIER: "1", ...env } })
  const ms = performance.now() - t0
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.status}: ${r.stderr}`)
  if (!useTime) return { ms, cpuMs: null, rssMiB: null }
  const [kib, user, sys] = readFileSync(rssFile, "utf8").trim().split("\n").pop()!.split(" ").map(Number) as [number, number, number]
  return { ms, cpuMs: (user + sys) * 1000, rssMiB: kib / 1024 }
}

const measure = (command: string, args: (i: number) => ReadonlyArray<string>, env: (i: number) => NodeJS.ProcessEnv = () => ({})) => {
  once(command, args(-1), env(-1)) // warm-up: file-system cache, npm's cache, the CLI's caches
  const ms: Array<number> = []
  const rss: Array<number> = []
  const cpu: Array<number> = []
  for (let i = 0; i < N; i++) {
    const r = once(command, args(i), env(i))
    ms.push(r.ms)
    if (r.rssMiB !== null) rss.push(r.rssMiB)
    if (r.cpuMs !== null) cpu.push(r.cpuMs)
  }
  return {
    wall_ms_median: Math.round(median(ms)),
    wall_ms_min: Math.round(Math.min(...ms)),
    // CPU time moves less than wall time when other processes share the cores.
    cpu_ms_median: cpu.length ? Math.round(median(cpu)) : null,
    peak_rss_mib_median: rss.length ? Math.round(median(rss) * 10) / 10 : null
  }
}

const result: Record<string, unknown> = {
  bench: "cli.startup",
  node: process.version,
  runs: N,
  bin: BIN,
  floor: { "node -e 0": measure(process.execPath, () => ["-e", "0"]) },
  node_bin: Object.fromEntries(cases.map((c) => [c.name, measure(process.execPath, (i) => [BIN, ...c.args(i)], c.env)]))
}
if (!process.env["SKIP_NPX"]) {
  result["npx"] = Object.fromEntries(cases.filter((c) => !c.nodeOnly).map((c) => [c.name, measure("npx", (i) => ["stargraph", ...c.args(i)], c.env)]))
}
rmSync(work, { recursive: true, force: true })
console.log(JSON.stringify(result, null, 2))
