/**
 * The artifact routes on the real server (127.0.0.1, ephemeral port): a run's listing
 * with ids, hashes and sizes, the bytes with their content type, length and ETag, 304,
 * 404 and 400, the same store as `stargraph run` on the same database, forks that list
 * nothing they did not write, and the OpenAPI document still valid.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import { Validator } from "@seriousme/openapi-schema-validator"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Serve from "../../src/serve/server.js"
import { StargraphApi } from "../../src/serve/StargraphApi.js"
import { ROOT, runIdOf, stargraph, tempDir } from "../helpers/cli.js"

const boot = async (options: Serve.ServeOptions) => {
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(Serve.start({ port: 0, ...options }).pipe(Scope.extend(scope)))
  return { ...started, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const json = async (url: string, init: RequestInit = {}) => {
  const response = await fetch(url, init)
  return { status: response.status, headers: response.headers, body: await response.json() as Record<string, any> }
}

const REPORT = "# Order A-1042\n\nSKUs: [\"KB-01\",\"MS-07\"]\n\nTotal with tax: 148.8\n"

let dir: string
let db: string
let graphFile: string
let server: Awaited<ReturnType<typeof boot>>

const blobCount = () => {
  const root = join(`${db}.artifacts`, "blobs")
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d))).filter((f) => !f.endsWith(".json")).length
}

/** Start a run over HTTP and wait until it is done. */
const runToDone = async (params: Record<string, unknown> = {}) => {
  const created = await json(`${server.url}/v1/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ graph_id: "run:tools-demo", params }) })
  expect(created.status).toBe(202)
  const id = created.body["run_id"] as string
  for (let i = 0; i < 400; i++) {
    const view = await json(`${server.url}/v1/runs/${id}`)
    if (view.body["status"] === "done") return id
    if (view.body["status"] === "failed") throw new Error(JSON.stringify(view.body))
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`run ${id} did not finish`)
}

beforeAll(async () => {
  dir = tempDir()
  mkdirSync(join(dir, "tools"))
  graphFile = join(dir, "tools", "graph.yaml")
  writeFileSync(graphFile, readFileSync(join(ROOT, "examples", "tools", "graph.yaml")))
  db = join(dir, "serve.sqlite")
  server = await boot({ db, graphs: [graphFile] })
})

afterAll(() => server.close())

describe("GET /v1/runs/{id}/artifacts and GET /v1/artifacts/{id}", () => {
  it("lists a run's artifacts with ids, hashes and sizes, and serves the bytes with their content type, length and ETag", async () => {
    const id = await runToDone()
    const listed = await json(`${server.url}/v1/runs/${id}/artifacts`)
    expect(listed.status).toBe(200)
    expect(listed.body["status"]).toBe("done")
    expect(listed.body["artifacts"]).toHaveLength(1)
    const [entry] = listed.body["artifacts"] as Array<Record<string, any>>
    expect(entry).toMatchObject({ run_id: id, step: 4, node: "store", name: "order-A-1042.md", content_type: "text/markdown", size: 63, metadata: { kind: "order-report" } })
    expect(entry!["artifact_id"]).toBe(`sha256:${entry!["sha256"]}`)
    expect(listed.body["outputs"].map((o: { node: string }) => o.node)).toEqual(["price", "list_skus", "render", "store"])
    expect(listed.body["final_state"]["report_ref"]).toEqual({
      artifact_id: entry!["artifact_id"], sha256: entry!["sha256"], content_hash: entry!["sha256"], size: 63, name: "order-A-1042.md", content_type: "text/markdown",
      run_id: id, step: 4, created_at: entry!["created_at"]
    })

    const response = await fetch(`${server.url}/v1/artifacts/${entry!["artifact_id"]}`)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toBe("text/markdown")
    expect(response.headers.get("content-length")).toBe("63")
    // The id and the type: the same bytes served under another type are another answer.
    const etag = `"${entry!["artifact_id"]};text%2Fmarkdown"`
    expect(response.headers.get("etag")).toBe(etag)
    // Without ?run_id= the type may change (another writer, a prune): revalidated; private: shared caches may not keep it for clients without the token.
    expect(response.headers.get("cache-control")).toBe("private, no-cache")
    expect(await response.text()).toBe(REPORT)
    const cached = await fetch(`${server.url}/v1/artifacts/${entry!["artifact_id"]}`, { headers: { "if-none-match": etag } })
    expect(cached.status).toBe(304)
    expect(await cached.text()).toBe("")
    // A 304 keeps the caching headers; `*` matches the stored bytes too.
    expect([cached.headers.get("cache-control"), cached.headers.get("etag")]).toEqual(["private, no-cache", etag])
    // The ETag of the id alone (what an older server sent) names no answer now: the bytes again.
    expect((await fetch(`${server.url}/v1/artifacts/${entry!["artifact_id"]}`, { headers: { "if-none-match": `"${entry!["artifact_id"]}"` } })).status).toBe(200)
    // With ?run_id= of the run that ended, the type is that run's for good: immutable.
    const own = await fetch(`${server.url}/v1/artifacts/${entry!["artifact_id"]}?run_id=${id}`)
    expect([own.status, own.headers.get("cache-control"), own.headers.get("etag"), await own.text()]).toEqual([200, "private, max-age=31536000, immutable", etag, REPORT])
    const any = await fetch(`${server.url}/v1/artifacts/${entry!["artifact_id"]}`, { headers: { "if-none-match": "*" } })
    expect([any.status, await any.text()]).toEqual([304, ""])
    // The digest in upper-case hex names the same artifact (its ETag keeps the id's lower case).
    const upper = await fetch(`${server.url}/v1/artifacts/sha256:${String(entry!["artifact_id"]).slice("sha256:".length).toUpperCase()}`)
    expect([upper.status, upper.headers.get("etag"), await upper.text()]).toEqual([200, etag, REPORT])
  })

  it("answers 404 for an unknown run or artifact, and 400 for a malformed artifact id", async () => {
    const run = await json(`${server.url}/v1/runs/run-nope/artifacts`)
    expect([run.status, run.body["error"]["type"], run.body["error"]["details"]["reason"]]).toEqual([404, "CheckpointError", "unknown-run"])
    const artifact = await json(`${server.url}/v1/artifacts/sha256:${"0".repeat(64)}`)
    expect([artifact.status, artifact.body["error"]["type"], artifact.body["error"]["details"]["reason"]]).toEqual([404, "ApiError", "not-found"])
    for (const bad of ["report.md", "sha256:xyz", `sha256:${"g".repeat(64)}`, `sha256:${"a".repeat(63)}`, "..%2F..%2Fetc%2Fpasswd"]) {
      const r = await json(`${server.url}/v1/artifacts/${bad}`)
      expect([r.status, r.body["error"]["type"], r.body["error"]["details"]["field"]], bad).toEqual([400, "InputError", "id"])
    }
  })

  it("shares the store with `stargraph run` on the same database; a fork lists nothing it did not write, and writes nothing", async () => {
    const cli = await stargraph(["run", graphFile, "--db", db, "--inputs", "tax_rate=0.1", "--no-summary"])
    expect(cli.code, cli.stderr).toBe(0)
    const cliRun = runIdOf(cli.last)
    const listed = await json(`${server.url}/v1/runs/${cliRun}/artifacts`)
    const [entry] = listed.body["artifacts"] as Array<Record<string, any>>
    const bytes = await (await fetch(`${server.url}/v1/artifacts/${entry!["artifact_id"]}`)).text()
    expect(bytes).toContain("Total with tax: 136.4")
    const before = blobCount()
    const fork = await json(`${server.url}/v1/runs/${cliRun}/counterfactual`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from_step: 1 }) })
    expect(fork.status).toBe(201)
    expect(fork.body["status"]).toBe("done")
    const forkListing = await json(`${server.url}/v1/runs/${fork.body["cf_run_id"]}/artifacts`)
    expect(forkListing.body["artifacts"]).toEqual([])
    expect(forkListing.body["final_state"]["report_ref"]).toEqual(listed.body["final_state"]["report_ref"])
    expect(blobCount()).toBe(before)
    expect((await json(`${server.url}/v1/runs/${cliRun}/artifacts`)).body["artifacts"]).toEqual(listed.body["artifacts"])
  })

  it("on a copy of the database without its artifact folder, lists what the run refers to that the store lacks, with a warning", async () => {
    const id = await runToDone({ tax_rate: 0.2 })
    const whole = await json(`${server.url}/v1/runs/${id}/artifacts`)
    expect([whole.body["missing_artifacts"], whole.body["unindexed_artifacts"], whole.body["warning"]]).toEqual([[], [], null])
    const [entry] = whole.body["artifacts"] as Array<Record<string, any>>
    const copy = join(tempDir(), "copy.sqlite")
    const source = new Database(db)
    await source.backup(copy)
    source.close()
    const restored = await boot({ db: copy, graphs: [graphFile] })
    try {
      const listed = await json(`${restored.url}/v1/runs/${id}/artifacts`)
      expect(listed.status).toBe(200)
      expect(listed.body["artifacts"]).toEqual([])
      expect(listed.body["missing_artifacts"]).toEqual([{ artifact_id: entry!["artifact_id"], step: 4, node: "store", name: "order-A-1042.md" }])
      expect(listed.body["warning"]).toContain(`1 artifact that run ${id} refers to is missing from the artifact store: ${entry!["artifact_id"]}`)
      expect(listed.body["warning"]).toContain("copy the original database's <db>.artifacts/ folder")
      // The client is not told the server's paths.
      expect(listed.body["warning"]).not.toContain(copy)
      const bytes = await json(`${restored.url}/v1/artifacts/${entry!["artifact_id"]}`)
      expect(bytes.status).toBe(404)
      expect(bytes.body["error"]["message"]).toContain("missing_artifacts")
    } finally {
      await restored.close()
    }
  })

  it("a stored file that no longer hashes to its id (truncated) is never served as the artifact, and is listed as missing", async () => {
    const id = await runToDone({ tax_rate: 0.3 })
    const [entry] = (await json(`${server.url}/v1/runs/${id}/artifacts`)).body["artifacts"] as Array<Record<string, any>>
    const hex = String(entry!["artifact_id"]).slice("sha256:".length)
    // A copy of the database and its artifact folder, whose blob was cut short (an interrupted copy).
    const copy = join(tempDir(), "copy.sqlite")
    const source = new Database(db)
    await source.backup(copy)
    source.close()
    cpSync(`${db}.artifacts`, `${copy}.artifacts`, { recursive: true })
    const blob = join(`${copy}.artifacts`, "blobs", hex.slice(0, 2), hex)
    writeFileSync(blob, readFileSync(blob).subarray(0, 10))
    const restored = await boot({ db: copy, graphs: [graphFile] })
    try {
      const bytes = await json(`${restored.url}/v1/artifacts/${entry!["artifact_id"]}`)
      expect([bytes.status, bytes.body["error"]["type"]]).toEqual([500, "ArtifactStoreError"])
      expect(bytes.body["error"]["message"]).toContain(`the stored bytes of ${entry!["artifact_id"]} (10 bytes at `)
      expect(bytes.headers.get("etag")).toBeNull()
      const listed = await json(`${restored.url}/v1/runs/${id}/artifacts`)
      expect((listed.body["missing_artifacts"] as Array<Record<string, unknown>>).map((m) => m["artifact_id"])).toEqual([entry!["artifact_id"]])
    } finally {
      await restored.close()
    }
  })

  it("serves each run's artifact with the content type its entry records: ?run_id= picks the entry, without it disagreeing writers get application/octet-stream (nosniff); a pruned writer's type is gone; a type that can change is revalidated, by an ETag of the id and the type", async () => {
    const graphs = join(tempDir(), "typed")
    mkdirSync(graphs)
    const graphOf = (name: string, contentType: string, asks = false) => {
      const file = join(graphs, `${name}.yaml`)
      writeFileSync(file, [
        "ir_version: \"1.0.0\"",
        `id: run:${name}`,
        "state_schema:",
        "  fields:",
        "    content: { type: any }",
        "    ref: { type: any }",
        "    more: { type: any }",
        "nodes:",
        "  - id: w",
        "    kind: write_artifact",
        "    content_field: content",
        "    name: report.json",
        `    content_type: ${contentType}`,
        "    output_field: ref",
        // A run that writes, then waits for an answer: it has not ended.
        ...(asks ? ["  - { id: ask, kind: interrupt, prompt: \"More?\", response_field: more }", "edges: [{ from: w, to: ask }]"] : []),
        ""
      ].join("\n"))
      return file
    }
    const typedDb = join(tempDir(), "typed.sqlite")
    const files = [graphOf("plain", "text/plain"), graphOf("json", "application/json"), graphOf("html", "text/html"), graphOf("text", "text/plain"), graphOf("asking", "text/csv", true)]
    const typed = await boot({ db: typedDb, graphs: files })
    const done = async (graph: string, content: string, status = "done") => {
      const created = await json(`${typed.url}/v1/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ graph_id: `run:${graph}`, params: { content } }) })
      expect(created.status, JSON.stringify(created.body)).toBe(202)
      const id = created.body["run_id"] as string
      for (let i = 0; i < 400; i++) {
        const view = await json(`${typed.url}/v1/runs/${id}`)
        if (view.body["status"] === status) return { id, ref: view.body["final_state"]["ref"] as { artifact_id: string; content_type: string } }
        await new Promise((r) => setTimeout(r, 25))
      }
      throw new Error(`run ${id} did not finish`)
    }
    const served = async (path: string) => {
      const response = await fetch(`${typed.url}${path}`)
      expect(response.status, path).toBe(200)
      return [response.headers.get("content-type"), response.headers.get("x-content-type-options"), await response.text()]
    }
    /** Status, type, Cache-Control and ETag of a GET, with `If-None-Match: etag` when given. */
    const caching = async (path: string, etag?: string) => {
      const response = await fetch(`${typed.url}${path}`, etag === undefined ? {} : { headers: { "if-none-match": etag } })
      await response.arrayBuffer()
      return [response.status, response.headers.get("content-type"), response.headers.get("cache-control"), response.headers.get("etag")]
    }
    const IMMUTABLE = "private, max-age=31536000, immutable"
    const REVALIDATE = "private, no-cache"
    try {
      const content = "{\"score\":0.9}"
      const a = await done("plain", content)
      const id = a.ref.artifact_id
      const tagOf = (type: string) => `"${id};${encodeURIComponent(type)}"`
      // One writer so far: its type, which another writer can change, so revalidated (and 304 while it holds).
      expect(await caching(`/v1/artifacts/${id}`)).toEqual([200, "text/plain", REVALIDATE, tagOf("text/plain")])
      expect(await caching(`/v1/artifacts/${id}`, tagOf("text/plain"))).toEqual([304, null, REVALIDATE, tagOf("text/plain")])
      const cut = new Date(Date.now() + 5).toISOString()
      await new Promise((r) => setTimeout(r, 20))
      const b = await done("json", content)
      expect(b.ref.artifact_id).toBe(id)
      // The type changed: the client's ETag no longer matches, and it gets the new type.
      expect(await caching(`/v1/artifacts/${id}`, tagOf("text/plain"))).toEqual([200, "application/octet-stream", REVALIDATE, tagOf("application/octet-stream")])
      // The type a run that ended records never changes: immutable, and 304 to its ETag.
      expect(await caching(`/v1/artifacts/${id}?run_id=${a.id}`)).toEqual([200, "text/plain", IMMUTABLE, tagOf("text/plain")])
      expect(await caching(`/v1/artifacts/${id}?run_id=${a.id}`, tagOf("text/plain"))).toEqual([304, null, IMMUTABLE, tagOf("text/plain")])
      expect(await caching(`/v1/artifacts/${id}?run_id=${b.id}`, tagOf("text/plain"))).toEqual([200, "application/json", IMMUTABLE, tagOf("application/json")])
      // A run with no entry for it: the blob's type, revalidated; `*` matches whatever is stored.
      expect(await caching(`/v1/artifacts/${id}?run_id=run-nope`)).toEqual([200, "application/octet-stream", REVALIDATE, tagOf("application/octet-stream")])
      expect(await caching(`/v1/artifacts/${id}`, "*")).toEqual([304, null, REVALIDATE, tagOf("application/octet-stream")])

      // Each run's entry gives its own type.
      expect(await served(`/v1/artifacts/${id}?run_id=${b.id}`)).toEqual(["application/json", "nosniff", content])
      expect(await served(`/v1/artifacts/${id}?run_id=${a.id}`)).toEqual(["text/plain", "nosniff", content])
      // Without a run, the writers disagree: neither's type.
      expect(await served(`/v1/artifacts/${id}`)).toEqual(["application/octet-stream", "nosniff", content])
      // A run with no entry for it (or no such run): the blob's rule.
      expect(await served(`/v1/artifacts/${id}?run_id=run-nope`)).toEqual(["application/octet-stream", "nosniff", content])
      // Run A pruned: the only type left is B's, with or without ?run_id=.
      const pruned = await stargraph(["prune", "--db", typedDb, "--before", cut])
      expect(pruned.code, pruned.stderr).toBe(0)
      expect(pruned.stdout).toContain("deleted 1 run ")
      expect(await served(`/v1/artifacts/${id}`)).toEqual(["application/json", "nosniff", content])
      expect(await served(`/v1/artifacts/${id}?run_id=${b.id}`)).toEqual(["application/json", "nosniff", content])
      // The client that had octet-stream revalidates and gets the type now served.
      expect(await caching(`/v1/artifacts/${id}`, tagOf("application/octet-stream"))).toEqual([200, "application/json", REVALIDATE, tagOf("application/json")])
      // The inverse: first text/html, then text/plain: the plain run's artifact is never served as HTML.
      const page = "<script>alert(1)</script>"
      const h = await done("html", page)
      const p = await done("text", page)
      expect(await served(`/v1/artifacts/${p.ref.artifact_id}?run_id=${p.id}`)).toEqual(["text/plain", "nosniff", page])
      expect(await served(`/v1/artifacts/${p.ref.artifact_id}`)).toEqual(["application/octet-stream", "nosniff", page])
      expect(await served(`/v1/artifacts/${h.ref.artifact_id}?run_id=${h.id}`)).toEqual(["text/html", "nosniff", page])
      // A run that has not ended may still write the bytes under another type: its answer is revalidated too.
      const asking = await done("asking", content, "awaiting-input")
      expect(await caching(`/v1/artifacts/${id}?run_id=${asking.id}`)).toEqual([200, "text/csv", REVALIDATE, tagOf("text/csv")])
    } finally {
      await typed.close()
    }
  })

  it("decodes with a client derived from StargraphApi, and the routes need the bearer token when one is set", async () => {
    const id = await runToDone({ tax_rate: 0 })
    const out = await Effect.runPromise(Effect.gen(function*() {
      const client = yield* HttpApiClient.make(StargraphApi, { baseUrl: server.url })
      const listing = yield* client.runs.artifacts({ path: { id } })
      const bytes = yield* client.artifacts.get({ path: { id: listing.artifacts[0]!.artifact_id }, urlParams: { run_id: id } })
      return { listing, bytes }
    }).pipe(Effect.provide(FetchHttpClient.layer)))
    expect(out.listing.artifacts[0]).toMatchObject({ name: "order-A-1042.md", size: 61 })
    expect(new TextDecoder().decode(out.bytes as Uint8Array)).toContain("Total with tax: 124")

    const locked = await boot({ db: join(tempDir(), "locked.sqlite"), graphs: [graphFile], authToken: "t0ken" })
    try {
      expect((await json(`${locked.url}/v1/artifacts/sha256:${"0".repeat(64)}`)).status).toBe(401)
      expect((await json(`${locked.url}/v1/artifacts/sha256:${"0".repeat(64)}`, { headers: { authorization: "Bearer t0ken" } })).status).toBe(404)
    } finally {
      await locked.close()
    }
  })

  it("documents both routes in an /openapi.json that passes the strict validator", async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json() as Record<string, any>
    const result = await new Validator().validate(doc)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
    const get = doc["paths"]["/v1/artifacts/{id}"]["get"]
    expect(Object.keys(get["responses"])).toEqual(expect.arrayContaining(["200", "304", "400", "404"]))
    // Served with the content type it was stored with: any media type, and the id as ETag.
    expect(Object.keys(get["responses"]["200"]["content"])).toEqual(["*/*"])
    expect(get["responses"]["200"]["content"]["*/*"]["schema"]).toMatchObject({ type: "string", format: "binary" })
    for (const status of ["200", "304"]) expect(Object.keys(get["responses"][status]["headers"])).toEqual(["ETag"])
    const listing = JSON.stringify(doc["paths"]["/v1/runs/{id}/artifacts"]["get"]["responses"]["200"])
    expect(listing).toContain("RunArtifacts")
    expect(JSON.stringify(doc["components"]["schemas"]["ArtifactEntry"])).toContain("sha256")
  })
})
