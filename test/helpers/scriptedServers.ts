/**
 * Scripted OpenAI-compatible servers (./openaiServer.ts) for one test file: `serve(...replies)`
 * starts one that answers the replies in order and then 500 "no more scripted replies", and
 * every server started this way, or handed to `track`, is closed after each test (an
 * `afterEach` this registers).
 * Kept apart from openaiServer.ts, which the bench imports outside vitest.
 */
import { afterEach } from "vitest"
import * as OpenAiServer from "./openaiServer.js"

/** Register the closing `afterEach`; return `serve(...replies)` and `track(server)` (close it too). */
export const scriptedServers = () => {
  const servers: Array<OpenAiServer.OpenAiServer> = []
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close().catch(() => undefined)
  })
  const track = (server: OpenAiServer.OpenAiServer) => {
    servers.push(server)
    return server
  }
  const serve = async (...replies: ReadonlyArray<OpenAiServer.Reply>) => {
    const s = await OpenAiServer.start({ respond: () => ({ status: 500, message: "no more scripted replies" }) })
    s.script(...replies)
    return track(s)
  }
  return { serve, track }
}
