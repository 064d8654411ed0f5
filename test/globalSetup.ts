/** Builds `dist/` once before the suite so CLI tests exercise the same `bin/stargraph.js` users run. */
import { execFileSync } from "node:child_process"

export default function setup(): void {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" })
}
