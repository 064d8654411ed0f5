/**
 * Builds `dist/` once before the suite (the library with tsc, the CLI bundle with esbuild:
 * scripts/build.mjs, the same build `prepare` runs), so CLI tests exercise the same
 * `bin/stargraph.js` users run.
 */
import { execFileSync } from "node:child_process"

export default function setup(): void {
  execFileSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit" })
}
