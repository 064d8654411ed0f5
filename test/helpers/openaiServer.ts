/**
 * A real OpenAI-compatible HTTP server on 127.0.0.1 (an ephemeral port) for the
 * language-model tests and bench: `POST /v1/chat/completions` (a JSON reply, or SSE
 * chunks ending `data: [DONE]` when the request says `stream: true`) and
 * `POST /v1/responses` (the Responses API object, or its SSE events). Each request is
 * answered by the next scripted reply, else by `respond(request)`; a reply may be an
 * error status, or a raw one ({@link Raw}: any body, a broken stream, a cut connection)
 * for a server that does not answer as it should. Streamed chat sends the usage chunk
 * only when the request asks for it (`stream_options.include_usage`), as OpenAI does.
 * Every request is kept, so a test can show that a replay made none.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/** One request the server received. */
export interface ReceivedRequest {
  readonly path: string
  readonly headers: IncomingMessage["headers"]
  readonly body: Record<string, any>
}

/** A reply written as it is: status, content type, body pieces, and how it ends. */
export interface RawReply {
  readonly status?: number
  /** Omitted: no content-type header. */
  readonly contentType?: string | undefined
  /** Written in order, one write each. */
  readonly chunks: ReadonlyArray<string>
  /** `end` (default) ends the reply; `cut` destroys the connection after the chunks. */
  readonly end?: "end" | "cut"
}

/** What the server answers: completion text, an error status with a message, or a raw reply. */
export type Reply = string | { readonly status: number; readonly message: string } | { readonly raw: RawReply }

/** Raw replies: what a broken or non-conforming server sends. */
export const Raw = {
  /** A body as it is (content type `application/json` unless given; `null`: none). */
  body: (body: string, contentType: string | null = "application/json", status = 200): Reply => ({ raw: { status, contentType: contentType ?? undefined, chunks: [body] } }),
  /** An event stream of `lines` (each written as it is: end them with "\n\n"). */
  sse: (lines: ReadonlyArray<string>, end: "end" | "cut" = "end"): Reply => ({ raw: { contentType: "text/event-stream", chunks: lines, end } }),
  /** One chat chunk as an SSE event. */
  chatChunk: (content: string | undefined, finish: string | null = null): string =>
    `data: ${JSON.stringify({ id: "chatcmpl-test", object: "chat.completion.chunk", choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }] })}\n\n`,
  /** A whole chat completion, as a server that ignores `stream: true` answers. */
  chatCompletion: (text: string): Reply =>
    Raw.body(JSON.stringify({
      id: "chatcmpl-test",
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
      usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 }
    }))
}

/** Options of {@link start}. */
export interface ServerOptions {
  /** The reply when no scripted one is queued (default: `{"answer": "42"}`). */
  readonly respond?: (request: ReceivedRequest) => Reply
  /** Delay before answering each request, in ms (a stand-in for a real model's latency). */
  readonly latencyMs?: number
  /** The port (default: an ephemeral one); to bring a stopped server back where it was. */
  readonly port?: number
}

/** A running server. */
export interface OpenAiServer {
  /** `http://127.0.0.1:<port>/v1`: what a node's `api_base` names. */
  readonly url: string
  readonly requests: Array<ReceivedRequest>
  /** Queue replies for the next requests, in order. */
  readonly script: (...replies: ReadonlyArray<Reply>) => void
  readonly close: () => Promise<void>
}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

/** Split text into up to four pieces, as a server streams tokens. */
const pieces = (text: string): Array<string> => {
  const size = Math.max(1, Math.ceil(text.length / 4))
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out.length > 0 ? out : [""]
}

const usage = (request: ReceivedRequest, text: string) => ({ prompt: JSON.stringify(request.body).length >> 2, completion: Math.max(1, text.length >> 2) })

const chat = (res: ServerResponse, request: ReceivedRequest, text: string) => {
  const model = String(request.body["model"] ?? "test-model")
  const id = "chatcmpl-test"
  const created = 1_700_000_000
  const u = usage(request, text)
  if (request.body["stream"] === true) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
    res.write(chunk({ role: "assistant", content: "" }, null))
    for (const piece of pieces(text)) res.write(chunk({ content: piece }, null))
    res.write(chunk({}, "stop"))
    if (request.body["stream_options"]?.["include_usage"] === true) {
      res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage: { prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.prompt + u.completion } })}\n\n`)
    }
    res.end("data: [DONE]\n\n")
    return
  }
  // As llama.cpp answers: no `refusal` in the message.
  res.writeHead(200, { "content-type": "application/json" })
  res.end(JSON.stringify({
    id,
    object: "chat.completion",
    created,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
    usage: { prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.prompt + u.completion }
  }))
}

const responseObject = (request: ReceivedRequest, text: string, status: "in_progress" | "completed") => {
  const u = usage(request, text)
  return {
    id: "resp_test",
    object: "response",
    created_at: 1_700_000_000,
    status,
    error: null,
    incomplete_details: null,
    instructions: null,
    model: String(request.body["model"] ?? "test-model"),
    output: status === "completed"
      ? [{ type: "message", id: "msg_test", status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] }]
      : [],
    parallel_tool_calls: true,
    tool_choice: "auto",
    tools: [],
    temperature: null,
    top_p: null,
    metadata: {},
    usage: {
      input_tokens: u.prompt,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: u.completion,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: u.prompt + u.completion
    }
  }
}

const responses = (res: ServerResponse, request: ReceivedRequest, text: string) => {
  if (request.body["stream"] === true) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    let seq = 0
    const event = (data: Record<string, unknown>) => `event: ${String(data["type"])}\ndata: ${JSON.stringify({ ...data, sequence_number: seq++ })}\n\n`
    res.write(event({ type: "response.created", response: responseObject(request, text, "in_progress") }))
    res.write(event({ type: "response.output_item.added", output_index: 0, item: { type: "message", id: "msg_test", status: "in_progress", role: "assistant", content: [] } }))
    for (const piece of pieces(text)) res.write(event({ type: "response.output_text.delta", item_id: "msg_test", output_index: 0, content_index: 0, delta: piece, logprobs: [] }))
    res.write(event({ type: "response.output_item.done", output_index: 0, item: { type: "message", id: "msg_test", status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] } }))
    res.end(event({ type: "response.completed", response: responseObject(request, text, "completed") }))
    return
  }
  res.writeHead(200, { "content-type": "application/json" })
  res.end(JSON.stringify(responseObject(request, text, "completed")))
}

/** Start a server; `close` it when done. */
export const start = async (options: ServerOptions = {}): Promise<OpenAiServer> => {
  const requests: Array<ReceivedRequest> = []
  const queued: Array<Reply> = []
  const respond = options.respond ?? (() => "{\"answer\": \"42\"}")
  const server = createServer((req, res) => {
    void (async () => {
      const text = await readBody(req)
      const path = (req.url ?? "").split("?")[0]!
      let body: Record<string, any>
      try {
        body = text === "" ? {} : JSON.parse(text)
      } catch {
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "body is not JSON", type: "invalid_request_error" } }))
        return
      }
      const request: ReceivedRequest = { path, headers: req.headers, body }
      requests.push(request)
      if (options.latencyMs !== undefined && options.latencyMs > 0) await new Promise((r) => setTimeout(r, options.latencyMs))
      if (req.method !== "POST" || (path !== "/v1/chat/completions" && path !== "/v1/responses")) {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `no route ${req.method} ${path}`, type: "not_found" } }))
        return
      }
      const reply = queued.shift() ?? respond(request)
      if (typeof reply !== "string" && "raw" in reply) {
        const raw = reply.raw
        res.writeHead(raw.status ?? 200, raw.contentType !== undefined ? { "content-type": raw.contentType } : {})
        for (const chunk of raw.chunks) res.write(chunk)
        if (raw.end === "cut") setTimeout(() => res.socket?.destroy(), 20)
        else res.end()
        return
      }
      if (typeof reply !== "string") {
        res.writeHead(reply.status, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: { message: reply.message, type: "server_error", code: null } }))
        return
      }
      if (path === "/v1/chat/completions") chat(res, request, reply)
      else responses(res, request, reply)
    })()
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    script: (...replies) => void queued.push(...replies),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((e) => (e ? reject(e) : resolve()))
      })
  }
}
