// The HTTP floor on this machine: raw node:http vs a one-route @effect/platform server (scratch).
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
const mode = process.argv[2]
if (mode === "raw") {
  createServer((_req, res) => { const b = JSON.stringify({ status: "ok" }); res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(b) }); res.end(b) }).listen(8140)
} else {
  const app = HttpRouter.empty.pipe(HttpRouter.get("/healthz", Effect.sync(() => HttpServerResponse.unsafeJson({ status: "ok" }))))
  Layer.launch(HttpServer.serve(app).pipe(Layer.provide(NodeHttpServer.layer(createServer, { port: 8140 })))).pipe(Effect.runFork)
}
process.on("SIGINT", () => process.exit(0))
