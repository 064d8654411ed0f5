/** Stargraph's own version, folded into every `runtime_hash`. Keep in step with package.json. */
export const STARGRAPH_VERSION = "0.1.0"
