/**
 * `write_artifact` (the original's kind): stores a state field's content as an artifact
 * of the run and writes its reference `{artifact_id, sha256, content_hash, size, name, content_type, run_id, step, created_at}`
 * to `output_field` (default `artifact_ref`). A string is stored as its UTF-8 bytes
 * (default content type `text/plain; charset=utf-8`); any other JSON value as its
 * canonical JSON text (RFC 8785; default `application/json`). `name` is one file name,
 * static or a `{{field}}` template; `metadata` is kept with the index entry.
 *
 * The write goes through the step's cassette (`artifact.write`, the request naming the
 * content's SHA-256), so a replay or fork answers it with the recorded reference and
 * writes nothing: no blob, no index entry. A step re-run after a crash writes the same
 * blob and the same index entry again, which changes nothing (content addressing, one
 * entry per run, step, node and name).
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ArtifactStore } from "../../checkpoint/ArtifactStore.js"
import { CONTENT_TYPE, LONE_SURROGATE, nameProblem, refOf } from "../../checkpoint/artifactModels.js"
import { ArtifactStoreError } from "../../errors.js"
import { canonicalJson } from "../../ir/hash.js"
import { checkJson } from "../../ir/json.js"
import { expand, placeholders, readPath } from "../../ir/template.js"
import * as NodeKind from "../NodeKind.js"

const Metadata = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** The settings beside the node (all optional in the schema; `check` requires the two that are). */
const flat = {
  /** The state field whose content is stored. */
  content_field: Schema.optional(Schema.String),
  /** The artifact's name: one file name, or a `{{field}}` template. */
  name: Schema.optional(Schema.String),
  /** MIME type (default from the content: text/plain for a string, application/json otherwise). */
  content_type: Schema.optional(Schema.String),
  metadata: Schema.optional(Metadata),
  /** The state field the reference is written to (default `artifact_ref`). */
  output_field: Schema.optional(Schema.String),
  /** The original's setting; its default, `must_stub`, is what every replay does here. */
  replay_policy: Schema.optional(Schema.Literal("must_stub"))
}

/** The original's form, under `config:`. */
const Config = Schema.Struct({ ...flat, content_field: Schema.String, name: Schema.String })

type Settings = Schema.Struct.Type<typeof flat>

const DEFAULT_OUTPUT = "artifact_ref"

/** The settings in effect and where they are written, or what is wrong. */
const formOf = (node: Settings & { readonly config?: Settings | undefined }):
  | { readonly _tag: "Settings"; readonly at: ReadonlyArray<string>; readonly s: Settings & { readonly content_field: string; readonly name: string } }
  | { readonly _tag: "Problem"; readonly path: ReadonlyArray<string>; readonly message: string; readonly fix: string } => {
  const given = (Object.keys(flat) as Array<keyof Settings>).filter((k) => node[k] !== undefined)
  if (given.length > 0 && node.config !== undefined) {
    return { _tag: "Problem", path: [given[0]!], message: `'${given[0]}' is given both beside and under config`, fix: "write the settings either on the node or under config:, not both" }
  }
  const s = node.config ?? node
  const at = node.config !== undefined ? ["config"] : []
  if (s.content_field === undefined || s.name === undefined) {
    const missing = s.content_field === undefined ? "content_field" : "name"
    return { _tag: "Problem", path: [...at, missing], message: `a write_artifact node needs '${missing}'`, fix: "give content_field (the state field to store) and name (the artifact's file name), e.g. content_field: report, name: report.md" }
  }
  return { _tag: "Settings", at, s: { ...s, content_field: s.content_field, name: s.name } }
}

/** The `write_artifact` kind. */
export const WriteArtifactKind = NodeKind.make({
  name: "write_artifact",
  summary: "Stores a state field (string as UTF-8, other JSON as canonical JSON) as a content-addressed artifact of the run; writes its reference to output_field.",
  fields: {
    spec: Schema.optional(Schema.String),
    ...flat,
    config: Schema.optional(Config)
  },
  check: (node, ctx) => {
    const form = formOf(node)
    if (form._tag === "Problem") return form
    const { at, s } = form
    if (!ctx.fields.has(s.content_field)) {
      return { path: [...at, "content_field"], message: `content_field '${s.content_field}' is not a declared state field`, fix: `store one of: ${ctx.declared}` }
    }
    const output = s.output_field ?? DEFAULT_OUTPUT
    if (!ctx.fields.has(output)) {
      return {
        path: s.output_field === undefined ? [...at, "content_field"] : [...at, "output_field"],
        message: `the reference goes to state field '${output}'${s.output_field === undefined ? " (output_field's default)" : ""}, which is not declared`,
        fix: `declare it (type: object), or set output_field to one of: ${ctx.declared}`
      }
    }
    // The reference is an object: a field declared as another type would refuse it after the blob is written.
    const outputType = ctx.fields.get(output)?.type
    if (outputType !== undefined && outputType !== "object" && outputType !== "any") {
      return {
        path: s.output_field === undefined ? [...at, "content_field"] : [...at, "output_field"],
        message: `the reference ({artifact_id, sha256, size, name, …}) goes to state field '${output}'${s.output_field === undefined ? " (output_field's default)" : ""}, declared ${outputType}, which cannot hold it`,
        fix: `declare '${output}' as an object (type: object, or dict), or set output_field to an object field`
      }
    }
    if (s.name.includes("{{")) {
      const unknown = placeholders(s.name).map((p) => p.split(".")[0]!).find((f) => !ctx.fields.has(f))
      if (unknown !== undefined) return { path: [...at, "name"], message: `the name reads undeclared state field '{{${unknown}}}'`, fix: `use a declared field: ${ctx.declared}` }
    } else {
      const problem = nameProblem(s.name)
      if (problem !== undefined) return { path: [...at, "name"], message: `invalid artifact name: ${problem.problem}`, fix: problem.fix }
    }
    if (s.content_type !== undefined && !CONTENT_TYPE.test(s.content_type)) {
      return { path: [...at, "content_type"], message: `'${s.content_type}' is not a content type`, fix: "write type/subtype, e.g. text/markdown or application/json; charset=utf-8" }
    }
    const problem = checkJson(s.metadata ?? {}, "metadata")
    return problem === undefined ? undefined : { path: [...at, ...problem.path.split(".")], message: problem.message, fix: "metadata holds JSON values" }
  },
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const form = formOf(node)
      if (form._tag === "Problem") return yield* ctx.invalid(form.path, form.message, form.fix)
      const { s } = form
      const output = s.output_field ?? DEFAULT_OUTPUT
      const metadata = s.metadata ?? {}
      const templated = s.name.includes("{{")
      return {
        execute: (state, input) =>
          Effect.gen(function*() {
            const fail = (reason: ArtifactStoreError["reason"], message: string, fix: string, at: { readonly name?: string; readonly path?: string | undefined } = {}) =>
              new ArtifactStoreError({
                reason,
                runId: input.runId,
                nodeId: input.nodeId,
                step: input.step,
                ...(at.name !== undefined ? { name: at.name } : {}),
                ...(at.path !== undefined ? { path: at.path } : {}),
                message,
                fix
              })
            const content = state[s.content_field]
            if (content === undefined || content === null) {
              return yield* fail("invalid-content", `content_field '${s.content_field}' is ${content === null ? "null" : "not set"}: there is nothing to store`, `set '${s.content_field}' before this node runs (or route around it when it is empty)`)
            }
            // A name made from an unset field would be a different name, not an error: refuse it.
            const unset = templated ? placeholders(s.name).find((path) => readPath(state, path) == null) : undefined
            if (unset !== undefined) {
              return yield* fail("invalid-name", `the name template ${s.name} reads '${unset}', which is ${readPath(state, unset) === null ? "null" : "not set"}`, `set '${unset}' before this node runs, or name the artifact without it`)
            }
            const rendered = templated ? expand(s.name, state) : s.name
            const name = typeof rendered === "string" ? rendered : rendered === null ? "" : JSON.stringify(rendered)
            const problem = nameProblem(name)
            if (problem !== undefined) {
              return yield* fail("invalid-name", `the name ${templated ? `template ${s.name} gave an invalid name` : "is invalid"}: ${problem.problem}`, templated ? `make the fields in the name hold one file name: ${problem.fix}` : problem.fix, { name })
            }
            // Text with a lone surrogate has no UTF-8 form: encoding it would store U+FFFD in its place.
            if (typeof content === "string" && LONE_SURROGATE.test(content)) {
              return yield* fail("invalid-content", `content_field '${s.content_field}' holds text with a lone UTF-16 surrogate (at index ${content.search(LONE_SURROGATE)}), which has no UTF-8 form: storing it would change it`, "write well-formed text (a string cut in the middle of a character pair, e.g. by slice, is the usual cause), or store it as JSON, which escapes it")
            }
            const bytes = new TextEncoder().encode(typeof content === "string" ? content : canonicalJson(content))
            const contentType = s.content_type ?? (typeof content === "string" ? "text/plain; charset=utf-8" : "application/json")
            const hex = createHash("sha256").update(bytes).digest("hex")
            const store = yield* ArtifactStore
            const write = store.put({ run_id: input.runId, step: input.step, node: input.nodeId, name, content_type: contentType, metadata, bytes }).pipe(
              Effect.map(refOf),
              Effect.mapError((e) => fail(e.reason, e.message, e.fix, { name, path: e.path }))
            )
            const ref = yield* input.calls.callEffect("artifact.write", { name, content_type: contentType, sha256: hex, size: bytes.byteLength, metadata }, write)
            return { _tag: "Update" as const, update: { [output]: ref } }
          })
      }
    })
})
