/**
 * Before the suite: builds `dist/` once, unless it was built from these very sources
 * (the library with tsc, the CLI bundle with esbuild:
 * scripts/build.mjs, the same build `prepare` runs), so CLI tests exercise the same
 * `bin/stargraph.js` users run; and points `TMPDIR` at one folder of this run's own, which
 * every test worker and every process a test starts inherits (`os.tmpdir()`), and which the
 * teardown removes: the suite leaves no temporary files behind.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export default function setup(): () => void {
  execFileSync(process.execPath, ["scripts/build.mjs", "--if-stale"], { stdio: "inherit" })
  const root = mkdtempSync(join(tmpdir(), "stargraph-tests-"))
  const previous = { TMPDIR: process.env.TMPDIR, TMP: process.env.TMP, TEMP: process.env.TEMP }
  process.env.TMPDIR = process.env.TMP = process.env.TEMP = root
  return () => {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    rmSync(root, { recursive: true, force: true, maxRetries: 3 })
  }
}
