/**
 * A document store in the original Stargraph's `SQLiteDocStore` schema, written as the
 * original writes it (WAL, a `_migrations` ledger, `documents` rows with UTF-8 content
 * BLOBs, `is_text`, JSON metadata bytes and an ISO `created_at`), for the `rag` tests.
 */
import Database from "better-sqlite3"

/** One document: an id and its text (or bytes, stored with `is_text = 0`). */
export interface StoredDoc {
  readonly id: string
  readonly content: string | Buffer
}

/** Write `docs`, in order, to a new store at `file`. */
export const writeDocStore = (file: string, docs: ReadonlyArray<StoredDoc>, options: { readonly wal?: boolean } = {}): void => {
  const db = new Database(file)
  try {
    if (options.wal !== false) db.pragma("journal_mode = WAL")
    db.exec("CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    db.exec("CREATE TABLE IF NOT EXISTS documents (doc_id TEXT PRIMARY KEY, content BLOB NOT NULL, is_text INTEGER NOT NULL, metadata BLOB NOT NULL, created_at TEXT NOT NULL)")
    const put = db.prepare("INSERT OR REPLACE INTO documents (doc_id, content, is_text, metadata, created_at) VALUES (?, ?, ?, ?, ?)")
    for (const doc of docs) {
      const text = typeof doc.content === "string"
      put.run(doc.id, text ? Buffer.from(doc.content as string, "utf8") : doc.content, text ? 1 : 0, Buffer.from("{}"), "2026-01-01T00:00:00+00:00")
    }
  } finally {
    db.close()
  }
}
