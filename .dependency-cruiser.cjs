/**
 * The house rule for src/: folders import downward only, in this order (a folder may
 * import itself, any folder before it, and src/errors.ts or src/version.ts):
 *
 *   ir → fathom → telemetry → checkpoint → nodes → runtime → graph → replay →
 *   scheduler → triggers → serve → testing → cli
 *
 * src/index.ts (the public entry) may import anything. No file-level cycles anywhere.
 */
const ORDER = ["ir", "fathom", "telemetry", "checkpoint", "nodes", "runtime", "graph", "replay", "scheduler", "triggers", "serve", "testing", "cli"]

const upward = ORDER.map((folder, i) => ({
  name: `${folder}-imports-downward-only`,
  comment: `src/${folder} may import only: ${ORDER.slice(0, i + 1).join(", ")}, errors.ts, version.ts`,
  severity: "error",
  from: { path: `^src/${folder}/` },
  to: { path: `^src/(${ORDER.slice(i + 1).join("|") || "$^"})/` }
}))

module.exports = {
  forbidden: [
    ...upward,
    {
      name: "no-cycles",
      comment: "a file-level import cycle",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true }
    },
    {
      name: "no-scratchpad-in-src",
      comment: "scratchpad/ holds throwaway experiments and is never imported by src/",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^scratchpad/" }
    },
    {
      name: "src-never-imports-tests-or-benches",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|bench|examples)/" }
    }
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: [".ts", ".js"] }
  }
}
