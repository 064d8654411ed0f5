import { verifyPack } from "../src/fathom/packs.js"
import { readdirSync, readFileSync } from "node:fs"
for (const d of readdirSync("/tmp/packs")) {
  const dir = `/tmp/packs/${d}`
  const pem = readdirSync(dir).find((f) => f.endsWith(".pub.pem"))
  if (!pem) { console.log(d, "no key"); continue }
  const r = verifyPack(dir, { trustedKeys: { [pem.slice(0, -8)]: readFileSync(`${dir}/${pem}`, "utf8") } })
  console.log(d, r._tag, r._tag === "Left" ? r.left.message.slice(0, 80) : r.right)
}
