/**
 * Governance packs: discovery and version checks, signatures (the original's BLAKE3-signed
 * packs verify; a tampered file, an unknown key or a bad signature is refused), pack rules
 * running with the graph's, and the pack's content folded into graph_hash.
 */
import { generateKeyPairSync } from "node:crypto"
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import type { RuleError } from "../../src/errors.js"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import { signPack, verifyPack } from "../../src/fathom/packs.js"
import * as Graph from "../../src/graph/Graph.js"
import { ROOT, tempDir } from "../helpers/cli.js"

const FIXTURES = join(ROOT, "test", "fixtures", "packs")
const DEV_KEY = "dev-soc-1cdb9c59"
const devPem = () => readFileSync(join(FIXTURES, "soc-policy", `${DEV_KEY}.pub.pem`), "utf8")

const copyPack = (name: string) => {
  const dir = join(tempDir(), name)
  cpSync(join(FIXTURES, name), dir, { recursive: true })
  return dir
}

const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  return { privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), publicPem: publicKey.export({ type: "spki", format: "pem" }).toString() }
}

const graphWith = (packs: Record<string, Record<string, string>>, mounts: string, rules = "") => {
  const dir = tempDir()
  for (const [path, files] of Object.entries(packs)) {
    mkdirSync(join(dir, "packs", path), { recursive: true })
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, "packs", path, name), text)
  }
  writeFileSync(join(dir, "graph.yaml"), `ir_version: "1.0.0"
id: run:packs
state_schema: { message: str }
nodes:
  - { id: a, kind: echo }
  - { id: held, kind: halt }
  - { id: b, kind: halt }
governance: ${mounts}
${rules}`)
  return join(dir, "graph.yaml")
}

const loadError = async (file: string, options: Omit<Graph.MakeOptions, "file"> = {}) => {
  const result = await Effect.runPromise(Effect.either(Graph.load(file, options)))
  if (Either.isRight(result)) throw new Error("expected the graph to be refused")
  return result.left as RuleError
}

describe("pack signatures", () => {
  it("verifies the original Stargraph's BLAKE3-signed packs against their trusted key", () => {
    for (const name of ["soc-policy", "soc-budgets"]) {
      const verified = verifyPack(join(FIXTURES, name), { trustedKeys: { [DEV_KEY]: devPem() } })
      expect(verified).toEqual(Either.right(DEV_KEY))
    }
  })

  it("refuses a tampered file, an untrusted key (the pack's own sidecar key is not enough), and a signature by another key", () => {
    const tampered = copyPack("soc-policy")
    writeFileSync(join(tampered, "rules.clp"), readFileSync(join(tampered, "rules.clp"), "utf8").replace("0.6", "0.5"))
    const changed = verifyPack(tampered, { trustedKeys: { [DEV_KEY]: devPem() } })
    expect(Either.isLeft(changed) && changed.left.message).toMatch(/changed since it was signed/)
    const untrusted = verifyPack(join(FIXTURES, "soc-policy"), {})
    expect(Either.isLeft(untrusted) && untrusted.left.message).toMatch(/not trusted/)
    const other = keyPair()
    const wrong = verifyPack(join(FIXTURES, "soc-policy"), { trustedKeys: { [DEV_KEY]: other.publicPem } })
    expect(Either.isLeft(wrong) && wrong.left.message).toMatch(/does not verify/)
  })

  it("signs a pack (SHA-256 or BLAKE3 tree hash: manifest.jwt written) so that it verifies, refuses a key that is not Ed25519, and trusts keys from STARGRAPH_TRUSTED_KEYS", () => {
    const dir = copyPack("soc-budgets")
    const keys = keyPair()
    for (const alg of ["SHA-256", "BLAKE3"] as const) {
      const token = signPack(dir, keys.privatePem, "team-key", alg)
      // It writes manifest.jwt: the pack is signed.
      expect(token).toEqual(Either.right(readFileSync(join(dir, "manifest.jwt"), "utf8")))
      expect(verifyPack(dir, { trustedKeys: { "team-key": keys.publicPem } })).toEqual(Either.right("team-key"))
    }
    // A key that is not an Ed25519 private key, or no such folder: a RuleError, nothing written.
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString()
    for (const [folder, pem, message] of [[dir, "not a key", /private key cannot be read/], [dir, rsa, /rsa, not Ed25519/], [join(dir, "missing"), keys.privatePem, /no manifest\.yaml/]] as const) {
      const refused = signPack(folder, pem, "team-key")
      expect(Either.isLeft(refused) && [refused.left.reason, refused.left.message]).toEqual(["pack", expect.stringMatching(message)])
    }
    expect(verifyPack(dir, { trustedKeys: { "team-key": keys.publicPem } })).toEqual(Either.right("team-key"))
    // A folder that is not a pack (no manifest.yaml: its parent, say) is refused.
    const parent = signPack(join(dir, ".."), keys.privatePem, "team-key")
    expect(Either.isLeft(parent) && parent.left.message).toMatch(/has no manifest\.yaml: it is not a pack/)
    const keyDir = tempDir()
    writeFileSync(join(keyDir, "team-key.pub.pem"), keys.publicPem)
    expect(verifyPack(dir, { env: { STARGRAPH_TRUSTED_KEYS: keyDir } })).toEqual(Either.right("team-key"))
  })
})

describe("packs mounted by a graph", () => {
  const routing = (version: string, api = "1") => ({
    "manifest.yaml": `id: demo.routing\nversion: "${version}"\nrequires: { stargraph_facts_version: "1.0", api_version: "${api}" }\n`,
    "rules.clp": `(defrule pack-route (node-id (id a)) => (assert (stargraph_action (kind goto) (target "b") (rule_id "pack-route"))))\n`
  })

  it("pack rules and inline rules form one rule set; the pack's content is part of graph_hash", async () => {
    const file = graphWith({ "demo.routing": routing("1.0.0") }, `[{ id: demo.routing, version: "1.0.0" }]`)
    const run = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(file)
      const summary = yield* Effect.flatMap(graph.start({ inputs: { message: "x" } }), (r) => r.start())
      return { graph, summary }
    }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(run.summary.status).toBe("done")
    expect(run.summary.steps).toBe(2)
    const pack = join(file, "..", "packs", "demo.routing", "rules.clp")
    writeFileSync(pack, readFileSync(pack, "utf8") + "; a comment changes the pack's content\n")
    const changed = await Effect.runPromise(Graph.load(file))
    expect(changed.graphHash).not.toBe(run.graph.graphHash)
  })

  it("actions of pack rules and inline rules are taken in the order the rules fired (salience decides across both), as in the original", async () => {
    // The pack's rule (salience 100) asserts goto held; the inline rule (salience 5) compiles to goto b.
    const pack = {
      "manifest.yaml": `id: demo.order\nversion: "1.0.0"\nrequires: { stargraph_facts_version: "1.0", api_version: "1" }\n`,
      "rules.clp": `(defrule pack-first (declare (salience 100)) (node-id (id a)) => (assert (stargraph_action (kind goto) (target "held") (rule_id "pack-first"))))\n`
    }
    const inline = (salience: number) => `rules:\n  - { id: inline, salience: ${salience}, when: "(node-id (id a))", then: [{ kind: goto, target: b }] }\n`
    const last = (salience: number) =>
      Effect.runPromise(Effect.gen(function*() {
        const graph = yield* Graph.load(graphWith({ "demo.order": pack }, `[{ id: demo.order, version: "1.0.0" }]`, inline(salience)))
        yield* Effect.flatMap(graph.start({ inputs: { message: "x" } }), (r) => r.start())
        const runs = yield* Effect.flatMap(Checkpointer, (c) => c.listRuns({}))
        const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(runs.runs[0]!.run_id))
        return checkpoints[checkpoints.length - 1]!.node
      }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(await last(5)).toBe("held")
    // The inline rule outranking the pack's: its goto is first.
    expect(await last(200)).toBe("b")
  })

  it("refuses a missing pack, a version mismatch, an incompatible API and an unsigned pack when signatures are required", async () => {
    expect((await loadError(graphWith({}, `[{ id: demo.routing, version: "1.0.0" }]`))).message).toMatch(/'demo.routing' not found/)
    // The original's bundled reference packs: said to be not shipped, with what to do.
    const bosun = await loadError(graphWith({}, `[{ id: stargraph.bosun.budgets, version: "1.0.0" }]`))
    expect(bosun.message).toMatch(/'stargraph\.bosun\.budgets' not found/)
    expect(bosun.fix).toMatch(/^the original Stargraph's bundled stargraph\.bosun\.\* packs are not shipped with this runtime .*copy the one you need and put it in /)
    expect((await loadError(graphWith({ "demo.routing": routing("1.0.0") }, `[{ id: demo.routing, version: "2.0.0" }]`))).message).toMatch(/has no version 2\.0\.0; found: 1\.0\.0/)
    expect((await loadError(graphWith({ "demo.routing": routing("1.0.0", "2") }, `[{ id: demo.routing, version: "1.0.0" }]`))).message).toMatch(/requires pack API 2/)
    const unsigned = await loadError(graphWith({ "demo.routing": routing("1.0.0") }, `[{ id: demo.routing }]`), { packs: { requireSigned: true } })
    expect(unsigned.reason).toBe("pack")
    expect(unsigned.message).toMatch(/not signed/)
    const noManifest = graphWith({ "demo.routing": { "rules.clp": "(defrule x (initial-fact) =>)" } }, `[{ id: demo.routing }]`)
    expect((await loadError(noManifest)).fix).toMatch(/manifest\.yaml/)
  })

  it("refuses a pack that holds a symbolic link, signed or not: neither its signature nor its hash would cover what the link adds", async () => {
    const file = graphWith({ "demo.routing": routing("1.0.0") }, `[{ id: demo.routing }]`)
    const pack = join(file, "..", "packs", "demo.routing")
    const keys = keyPair()
    expect(Either.isRight(signPack(pack, keys.privatePem, "k1"))).toBe(true)
    const trusted = { packs: { requireSigned: true, trustedKeys: { k1: keys.publicPem } } }
    await Effect.runPromise(Graph.load(file, trusted))
    // A rules/ folder added as a link to rules elsewhere.
    const elsewhere = tempDir()
    writeFileSync(join(elsewhere, "x.yaml"), "rules:\n  - id: injected\n    when: {node: a}\n    then: [{kind: goto, target: held}]\n")
    symlinkSync(elsewhere, join(pack, "rules"))
    const refused = await loadError(file, trusted)
    expect(refused.message).toBe("pack demo.routing: the pack holds a symbolic link (rules), which neither its signature nor its hash covers")
    expect(refused.fix).toMatch(/^replace rules with a copy of what it points to/)
    expect((await loadError(file)).reason).toBe("pack")
    const resigned = signPack(pack, keys.privatePem, "k1")
    expect(Either.isLeft(resigned) && resigned.left.message).toMatch(/symbolic link \(rules\)/)
  })

  it("mounts the original's signed soc-policy pack; its rules react to facts a graph rule asserts, and a graph rule routes on their conclusion", async () => {
    const dir = tempDir()
    cpSync(join(FIXTURES, "soc-policy"), join(dir, "packs", "soc-policy"), { recursive: true })
    writeFileSync(join(dir, "graph.yaml"), `ir_version: "1.0.0"
id: run:soc
state_schema: { message: str }
nodes:
  - { id: triage, kind: echo }
  - { id: auto, kind: halt }
  - { id: analyst, kind: halt }
governance:
  - { id: soc-policy, version: "1.0" }
rules:
  - id: describe-asset
    when: { node: triage }
    then:
      - { kind: assert, fact: "(soc.policy.input (run_id \\"r\\") (asset_tier prod) (disposition auto_remediate))" }
  - id: follow-policy
    when: "(node-id (id triage)) (soc.policy.action (kind \\"interrupt\\"))"
    then: [{ kind: goto, target: analyst }]
`)
    const { checkpoints, summary } = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(join(dir, "graph.yaml"), { packs: { trustedKeys: { [DEV_KEY]: devPem() }, requireSigned: true } })
      expect(graph.rules.packs[0]?.signedBy).toBe(DEV_KEY)
      const summary = yield* Effect.flatMap(graph.start({ inputs: { message: "alert" } }), (r) => r.start())
      return { summary, checkpoints: yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(summary.run_id)) }
    }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(summary.status).toBe("done")
    // Without the pack's conclusion the run would continue to `auto`, the next node.
    expect(checkpoints.map((c) => c.node)).toEqual(["__input__", "triage", "analyst"])
    expect(checkpoints[1]!.rules?.firings.map((f) => f.rule)).toEqual(["describe-asset", "soc-policy-prod-autoremediate-interrupt", "follow-policy"])
  })

  it("a pack rule asserts stargraph_action with the original template's slots: interrupt_payload (JSON text), requested_capability, step", async () => {
    const file = graphWith({
      gate: {
        "manifest.yaml": "id: gate\nversion: \"1.0\"\n",
        "rules.clp": `(defrule gate-ask (node-id (id a)) =>
  (assert (stargraph_action (kind interrupt) (prompt "Approve?") (interrupt_payload "{\\"ticket\\":\\"T-1\\"}") (requested_capability "runs:respond") (step 1) (rule_id "gate-ask"))))`
      }
    }, "[{ id: gate, version: \"1.0\" }]")
    const summary = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(file)
      return yield* Effect.flatMap(graph.start({ inputs: { message: "x" } }), (r) => r.start())
    }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(summary.status).toBe("awaiting-input")
    expect(summary.waiting).toMatchObject({ node: "a", prompt: "Approve?", kind: "rule", rule: "gate-ask", payload: { ticket: "T-1" }, requested_capability: "runs:respond" })
  })
})
