import Database from "better-sqlite3"
import { mkdtempSync } from "node:fs"; import { tmpdir } from "node:os"; import { join } from "node:path"
for (const sync of ["FULL","NORMAL"]) {
  const db = new Database(join(mkdtempSync(join(tmpdir(),"bare-")),"b.db"))
  db.pragma("journal_mode = WAL"); db.pragma(`synchronous = ${sync}`)
  db.exec("create table t (a text, b integer, c text, primary key (a,b)) without rowid")
  const st = db.prepare("insert into t values (?,?,?)")
  const payload = JSON.stringify({counter: 5, log: Array.from({length:5},(_, i)=>"n"+i)})
  const N = 5000; const t0 = performance.now()
  for (let i=0;i<N;i++) st.run("run-x", i, payload)
  const s = (performance.now()-t0)/1000
  console.log(sync, Math.round(N/s), "commits/s")
}
