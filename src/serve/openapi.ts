/** OpenAPI 3.1 document generated from the route table and its Effect Schemas. */
import * as JSONSchema from "effect/JSONSchema"
import { STARGRAPH_VERSION } from "../version.js"
import type { Route } from "./routes.js"

const ErrorEnvelope = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["type", "message", "details"],
      properties: { type: { type: "string" }, message: { type: "string" }, details: { type: "object" } }
    }
  }
}

/** The OpenAPI document for `routes` (trigger routes included). */
export const openApi = (routes: ReadonlyArray<Pick<Route, "method" | "path" | "name" | "summary" | "body" | "query" | "responses" | "public">>, auth: boolean) => {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, "{$1}")
    const params = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }))
    const query = (route.query ?? []).map((name) => ({ name, in: "query", required: false, schema: { type: "string" } }))
    const responses: Record<string, unknown> = {}
    for (const [status, description] of Object.entries(route.responses)) {
      responses[status] = Number(status) >= 400
        ? { description, content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorEnvelope" } } } }
        : { description }
    }
    responses["default"] = { description: "error envelope", content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorEnvelope" } } } }
    paths[path] = {
      ...paths[path],
      [route.method.toLowerCase()]: {
        operationId: route.name,
        summary: route.summary,
        parameters: [...params, ...query],
        ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: JSONSchema.make(route.body) } } } } : {}),
        responses,
        ...(auth && !route.public ? { security: [{ bearer: [] }] } : {})
      }
    }
  }
  return {
    openapi: "3.1.0",
    info: { title: "Stargraph", version: STARGRAPH_VERSION },
    paths,
    components: {
      schemas: { ErrorEnvelope },
      ...(auth ? { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } } : {})
    }
  }
}
