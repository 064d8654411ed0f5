/**
 * Writes kb.db beside this file: a small document store in the original Stargraph's
 * SQLiteDocStore schema (`documents(doc_id, content, is_text, metadata, created_at)`),
 * the corpus the rag-qa bundle retrieves from.
 *
 *   npx tsx examples/bundles/rag_qa/build-kb.ts
 */
import { rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import Database from "better-sqlite3"

const DOCS: ReadonlyArray<readonly [string, string]> = [
  ["doc-checkpoints", "Every step of a run is checkpointed in SQLite or Postgres: its state, its writes and the calls its nodes made, in one transaction."],
  ["doc-replay", "A replay answers each model call, tool call and retrieval from the run's cassette, so it needs neither the model server nor the store."],
  ["doc-rules", "Rules route the run: they match the facts a step asserts, such as a judge's verdict, and go to the next node or halt."],
  ["doc-interrupts", "An interrupt node stops the run in awaiting-input; a response resumes it from the same step."],
  ["doc-forks", "A fork replays a run up to a step and continues it with a mutation, calling live only with live_after_fork."]
]

const file = join(dirname(fileURLToPath(import.meta.url)), "kb.db")
rmSync(file, { force: true })
const db = new Database(file)
db.exec("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
db.exec("CREATE TABLE documents (doc_id TEXT PRIMARY KEY, content BLOB NOT NULL, is_text INTEGER NOT NULL, metadata BLOB NOT NULL, created_at TEXT NOT NULL)")
const put = db.prepare("INSERT INTO documents (doc_id, content, is_text, metadata, created_at) VALUES (?, ?, 1, ?, ?)")
for (const [id, text] of DOCS) put.run(id, Buffer.from(text, "utf8"), Buffer.from("{}"), "2026-01-01T00:00:00+00:00")
db.close()
console.log(`wrote ${DOCS.length} documents to ${file}`)
