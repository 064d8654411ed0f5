/** The JSONL audit sink: a path it cannot open is an InputError naming the option it came from. */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { AuditSink, jsonl } from "../../src/telemetry/AuditSink.js"
import { tempDir } from "../helpers/cli.js"

const openAt = (path: string, field?: string) =>
  Effect.runPromise(Effect.either(Effect.asVoid(AuditSink).pipe(Effect.provide(field === undefined ? jsonl(path) : jsonl(path, field)))))

describe("AuditSink.jsonl", () => {
  it("a folder where the file should be is an InputError at `path` in an app, at the option the CLI names", async () => {
    const folder = join(tempDir(), "a-folder.jsonl")
    mkdirSync(folder)
    const app = await openAt(folder)
    expect(Either.isLeft(app) && app.left).toMatchObject({ _tag: "InputError", field: "path", message: expect.stringContaining("EISDIR") })
    const cli = await openAt(folder, "--audit-log")
    expect(Either.isLeft(cli) && cli.left).toMatchObject({ _tag: "InputError", field: "--audit-log" })
  })
})
