/**
 * What `stargraph serve` says about its triggers once it listens: one line per schedule
 * (its expression, time zone, graph and next tick), per webhook (its route and graph) and
 * other trigger (the manual one, plugins), for the triggers that started. A trigger that failed was logged already,
 * with why, and is left out.
 */
import { dirname, relative, resolve } from "node:path"
import * as Cron from "effect/Cron"
import * as Either from "effect/Either"
import type { Started } from "../serve/server.js"
import { nextTick } from "../triggers/cronTicks.js"
import { isPath, type ResolvedConfig } from "../triggers/ProjectConfig.js"

/** The names of the triggers that started (`cron`, `webhook`, a plugin's name). */
const startedNames = (started: Started): ReadonlySet<string> => {
  const failed = new Set(
    [...started.triggers.load, ...started.triggers.init, ...started.triggers.start, ...started.triggers.routes].filter((r) => !r.success).map((r) => r.pluginName)
  )
  return new Set(started.triggers.start.filter((r) => r.success && !failed.has(r.pluginName)).map((r) => r.pluginName))
}

/** A trigger's graph: its id, or its file as a path from the current folder (the config names it from its own). */
const graphOf = (resolved: ResolvedConfig, graph: string): string =>
  isPath(graph) && resolved.file !== undefined ? relative(process.cwd(), resolve(dirname(resolved.file), graph)) : graph

/** The lines describing the started triggers of `resolved`, next ticks counted from `now`. */
export const triggerLines = (resolved: ResolvedConfig, started: Started, now: Date): ReadonlyArray<string> => {
  const running = startedNames(started)
  const lines: Array<string> = []
  if (running.has("cron")) {
    for (const schedule of resolved.config.schedules) {
      const parsed = Cron.parse(schedule.cron, schedule.timezone)
      const next = Either.isRight(parsed) ? `; next tick ${nextTick(parsed.right, now).toISOString()}` : ""
      const thread = schedule.thread_id === undefined ? "" : ` on thread ${schedule.thread_id}`
      lines.push(`schedule ${schedule.id}: "${schedule.cron}" (${schedule.timezone}) starts ${graphOf(resolved, schedule.graph)}${thread}${next}`)
    }
  }
  if (running.has("webhook")) {
    for (const webhook of resolved.config.webhooks) {
      lines.push(`webhook ${webhook.id}: POST ${started.url}/v1/triggers/webhook/${webhook.id} starts ${graphOf(resolved, webhook.graph)} (signed with ${webhook.secret_env})`)
    }
  }
  for (const name of running) {
    if (name !== "cron" && name !== "webhook") lines.push(`trigger ${name}: started`)
  }
  return lines
}
