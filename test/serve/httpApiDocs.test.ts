/**
 * docs/http-api.md held to the OpenAPI document the server serves: every route is in the
 * routes table and every row is a route; each row names the success statuses of its
 * route, and every field of a JSON object the route answers with (for a list, of its
 * items), so a field added to (or taken from) an answer is documented.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import { openApiDocument } from "../../src/serve/openapi.js"
import type { TriggerRoute } from "../../src/triggers/Trigger.js"
import * as WebhookTrigger from "../../src/triggers/WebhookTrigger.js"
import { ROOT } from "../helpers/cli.js"

interface Schema {
  readonly $ref?: string
  readonly type?: string
  readonly properties?: Record<string, Schema>
  readonly items?: Schema
}

interface Row {
  readonly method: string
  readonly path: string
  readonly text: string
}

/** A webhook's route, so the webhook row is held to its operation too (its id is `{id}` in the table). */
const webhookRoutes = Effect.runSync(
  Effect.map(WebhookTrigger.make([{ id: "{id}", graph: "g", secret_env: "S", window_s: 300, max_body_bytes: 1024, params: {} }], { S: "s" }), (t) => t.routes() as ReadonlyArray<TriggerRoute>)
)

const doc = openApiDocument(webhookRoutes, { auth: false, rateLimited: false }) as unknown as {
  readonly paths: Record<string, Record<string, { readonly responses: Record<string, { readonly content?: Record<string, { readonly schema?: Schema }> }> }>>
  readonly components: { readonly schemas: Record<string, Schema> }
}

const resolved = (schema: Schema | undefined): Schema | undefined =>
  schema?.$ref !== undefined ? resolved(doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")]) : schema

/** The routes table of docs/http-api.md: a row per method and path (query strings left out). */
const rows = (): ReadonlyArray<Row> => {
  const text = readFileSync(join(ROOT, "docs", "http-api.md"), "utf8")
  const table = text.slice(text.indexOf("## Routes"))
  return table.split("\n").flatMap((line) => {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim())
    const path = /^`(\/[^`?]*)/.exec(cells[2] ?? "")?.[1]
    if (path === undefined || !/^[A-Z/]+$/.test(cells[1] ?? "")) return []
    return cells[1]!.split("/").map((method) => ({ method: method.toLowerCase(), path, text: cells.slice(3).join(" | ") }))
  })
}

describe("docs/http-api.md", () => {
  it("lists every route of the OpenAPI document, and only those (trigger routes are mounted by configuration)", () => {
    const documented = new Set(rows().map((r) => `${r.method} ${r.path}`))
    const served = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
    expect(served.filter((r) => !documented.has(r))).toEqual([])
    expect([...documented].filter((r) => !served.includes(r) && !r.includes("/v1/triggers/"))).toEqual([])
  })

  it("names each route's success statuses and every field of the JSON it answers with", () => {
    const missing: Array<string> = []
    for (const row of rows()) {
      const responses = doc.paths[row.path]?.[row.method]?.responses ?? {}
      for (const [status, response] of Object.entries(responses)) {
        if (!status.startsWith("2")) continue
        if (!new RegExp(`\\b${status}\\b`).test(row.text)) missing.push(`${row.method} ${row.path}: status ${status}`)
        let schema = resolved(response.content?.["application/json"]?.schema)
        // A list answer: the fields of its items.
        const lists = Object.values(schema?.properties ?? {}).map(resolved).filter((p) => p?.type === "array")
        const fields = Object.keys(schema?.properties ?? {})
        if (fields.length === 1 && lists.length === 1) schema = resolved(lists[0]!.items)
        for (const field of [...fields, ...(schema !== undefined && fields.length === 1 ? Object.keys(schema.properties ?? {}) : [])]) {
          if (!new RegExp(`\\b${field}\\b`).test(row.text)) missing.push(`${row.method} ${row.path}: field ${field}`)
        }
      }
    }
    expect(missing).toEqual([])
  })
})
