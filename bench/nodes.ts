/**
 * Node-kind benchmarks, one section per area (each `bench/nodes/<area>.ts` exports
 * `run()` and can also run alone): the ML node's overhead over a bare
 * `InferenceSession.run`, a replayed language-model node against the live call, and a
 * subgraph against the same nodes inlined. Prints one JSON document.
 *
 *   npx tsx bench/nodes.ts [ml] [lm] [subgraph] [--build]
 *
 * `--build` runs each section against the compiled library (`dist/`, what an installed
 * package runs; `npm run build` first) instead of the sources through tsx.
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const AREAS = ["ml", "lm", "subgraph"] as const
const wanted = process.argv.slice(2).filter((a): a is (typeof AREAS)[number] => (AREAS as ReadonlyArray<string>).includes(a))

const results: Record<string, unknown> = {}
for (const area of wanted.length > 0 ? wanted : AREAS) {
  const file = fileURLToPath(new URL(`./nodes/${area}.ts`, import.meta.url))
  if (!existsSync(file)) {
    results[area] = { skipped: `bench/nodes/${area}.ts is not there` }
    continue
  }
  const section = (await import(`./nodes/${area}.ts`)) as { readonly run: (options: { readonly build?: boolean }) => Promise<Record<string, unknown>> }
  results[area] = await section.run({ build: process.argv.includes("--build") })
}
console.log(JSON.stringify(results, null, 1))
