// Ceiling for Stargraph's own schema: the same statements per run as the SQLite Checkpointer, on bare better-sqlite3.
import Database from "better-sqlite3"
import { mkdtempSync } from "node:fs"; import { tmpdir } from "node:os"; import { join } from "node:path"
const ddl = (await import("../dist/src/checkpoint/migrations.js")).MIGRATIONS.flatMap(m => m.statements)
const variant = process.argv[2] ?? "12"
for (const sync of ["FULL", "NORMAL"]) {
  const db = new Database(join(mkdtempSync(join(tmpdir(), "bare-")), "b.db"))
  db.pragma("journal_mode = WAL"); db.pragma(`synchronous = ${sync}`)
  for (const s of ddl) db.exec(s)
  const insRun = db.prepare("INSERT INTO runs_history (run_id, graph_id, graph_hash, runtime_hash, status, inputs, created_at, last_step) VALUES (?,?,?,?,?,?,?,0)")
  const insCp = db.prepare("INSERT INTO checkpoints (run_id, step, node, nodes, state, writes, delta, next, joins, graph_hash, runtime_hash, parent_run_id, parent_step, started_at, finished_at, duration_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
  const upd = db.prepare("UPDATE runs_history SET status = ?, owner = ? WHERE run_id = ?")
  const h = "sha256:" + "a".repeat(64), now = new Date().toISOString()
  const R = 300; const t0 = performance.now()
  for (let r = 0; r < R; r++) {
    const id = "run-" + r + "-" + Math.random()
    db.transaction(() => { insRun.run(id, "g", h, h, "pending", "{}", now); insCp.run(id, 0, "__input__", "[]", "{}", "[]", "{}", '["n0"]', "{}", h, h, null, null, now, now, 0) })()
    upd.run("running", "me", id)
    for (let s = 1; s <= 10; s++) {
      const st = JSON.stringify({ counter: s, log: Array.from({ length: s }, (_, i) => "n" + i) })
      const f = () => insCp.run(id, s, "n" + s, '["n"]', st, st, st, '["n"]', "{}", h, h, null, s - 1, now, now, 0.1)
      if (s === 10) db.transaction(() => { f(); upd.run("done", null, id) })(); else f()
    }
  }
  const s = (performance.now() - t0) / 1000
  console.log(sync, Math.round(R * 10 / s), "steps/s", Math.round(R * 12 / s), "commits/s")
}
