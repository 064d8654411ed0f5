/**
 * A custom trigger, the TypeScript version of the how-to's `FilesystemWatchTrigger`: poll
 * a directory and enqueue one run per new file. A plain class, no Effect and no base
 * class: Stargraph instantiates it (`new FilesystemWatchTrigger(config)`), calls its four
 * hooks as methods, and gives `init` the Promise-facing deps (docs/triggers.md). Register
 * it from `stargraph.yaml` (`plugins:`, see stargraph.yaml beside this file) or from a
 * package's `package.json` (`"stargraph": {"triggers": {"fswatch": "./fswatch.js#FilesystemWatchTrigger"}}`).
 *
 * Config: `path` (directory to watch, relative to stargraph.yaml), `graph` (graph id to
 * run), `field` (state field that receives the file path, default `message`),
 * `interval_ms` (default 1000).
 */
import { readdir } from "node:fs/promises"
import { resolve } from "node:path"
import { idempotencyKeyOf, type PluginDeps, type TriggerEvent } from "stargraph"

/** What `init` receives: the Promise-facing scheduler and checkpointer, and this plugin's config. */
type Deps = PluginDeps

export class FilesystemWatchTrigger {
  private scheduler: Deps["scheduler"] | undefined
  private watchPath = "."
  private graphId = ""
  private field = "message"
  private intervalMs = 1000
  private timer: ReturnType<typeof setTimeout> | undefined
  private scanning: Promise<void> = Promise.resolve()
  private stopped = true
  private readonly seen = new Set<string>()

  init(deps: Deps): void {
    if (deps.scheduler === undefined) throw new Error("FilesystemWatchTrigger.init requires deps.scheduler")
    const config = deps.config
    this.scheduler = deps.scheduler
    this.watchPath = resolve(String(config["config_dir"] ?? "."), String(config["path"] ?? "."))
    this.graphId = String(config["graph"] ?? "")
    if (this.graphId === "") throw new Error("FilesystemWatchTrigger needs config.graph (the graph id to run)")
    this.field = String(config["field"] ?? "message")
    this.intervalMs = Number(config["interval_ms"] ?? 1000)
  }

  start(): void {
    this.stopped = false
    this.tick()
  }

  /** Stop polling and wait for a scan in progress. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.scanning
  }

  routes(): [] {
    return [] // cron-style: no HTTP surface
  }

  private readonly tick = (): void => {
    this.scanning = this.scan().finally(() => {
      if (!this.stopped) this.timer = setTimeout(this.tick, this.intervalMs)
    })
  }

  private async scan(): Promise<void> {
    const names = await readdir(this.watchPath).then((n) => n.sort(), () => [] as Array<string>)
    const triggerId = `fswatch:${this.graphId}`
    for (const name of names) {
      const file = resolve(this.watchPath, name)
      if (this.seen.has(file)) continue
      // The idempotency key is stable per file, so a restart never runs a file twice.
      const event: TriggerEvent = {
        trigger_id: triggerId,
        scheduled_fire: new Date().toISOString(),
        idempotency_key: idempotencyKeyOf(triggerId, file),
        payload: { [this.field]: file }
      }
      try {
        await this.scheduler!.enqueue(this.graphId, event.payload, { idempotencyKey: event.idempotency_key, actor: event.trigger_id })
        this.seen.add(file)
      } catch (error) {
        // Logged and retried on the next scan (e.g. params the graph's state schema refuses).
        console.error(`${triggerId}: ${file}: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
  }
}
