// Does better-sqlite3 (as @effect/sql-sqlite-node loads it) open `file:…?immutable=1` URIs?
// Usage: node uri-immutable.cjs <WAL db, closed cleanly, in a folder this user cannot write> [none|env|excl]
// Found (better-sqlite3 12.11.1, built with SQLITE_USE_URI=0, opens without SQLITE_OPEN_URI):
//   none: the URI fails SQLITE_CANTOPEN (taken as a file name); the plain read-only open fails SQLITE_READONLY_DIRECTORY
//   env:  SQLITE_USE_URI=1 set before the first open (the addon reads it once, at load): the URI opens and reads
//   excl: PRAGMA locking_mode = EXCLUSIVE on a read-only open does not help (SQLITE_IOERR_LOCK)
const path = process.argv[2]
const mode = process.argv[3]
if (mode === "env") process.env.SQLITE_USE_URI = "1"
const Database = require("/work/cli/node_modules/better-sqlite3")
const open = (name, opts) => {
  try {
    const db = new Database(name, opts)
    const r = db.prepare("select count(*) n from t").get()
    console.log("OK", name, JSON.stringify(opts), r, db.pragma("journal_mode", { simple: true }))
    db.close()
  } catch (e) { console.log("FAIL", name, JSON.stringify(opts), e.code, e.message) }
}
open(`file:${path}?immutable=1`, { readonly: true })
open(path, { readonly: true })
if (mode === "excl") {
  try { const db = new Database(path, { readonly: true }); db.pragma("locking_mode = EXCLUSIVE"); console.log("EXCL", db.prepare("select count(*) n from t").get()) } catch (e) { console.log("EXCL FAIL", e.code, e.message) }
}
