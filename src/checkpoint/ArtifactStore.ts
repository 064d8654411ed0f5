/**
 * The artifact store `write_artifact` nodes write to and `GET /v1/runs/{id}/artifacts`
 * and `GET /v1/artifacts/{id}` read from. A `Context.Reference`: without a Layer, a
 * filesystem store at `$STARGRAPH_ARTIFACTS_DIR`, else `.stargraph/artifacts` under the
 * current folder. `stargraph run`, `serve`, `resume`, `replay` and `inspect` use the
 * store beside their database ({@link besideDatabase}: `<db>.artifacts/`), so every
 * command on one database sees the same artifacts. Swap it with {@link layer} (your
 * own), {@link filesystem} or {@link memory}.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { ArtifactStoreShape } from "./artifactModels.js"
import { isPostgresUrl } from "./databaseUrl.js"
import * as FilesystemArtifactStore from "./FilesystemArtifactStore.js"
import * as MemoryArtifactStore from "./MemoryArtifactStore.js"

/** The environment variable that moves every filesystem store to one folder. */
export const ENV_VAR = "STARGRAPH_ARTIFACTS_DIR"

/** The default folder when no database is known. */
export const DEFAULT_DIR = ".stargraph/artifacts"

/** The artifact store of this context. */
export class ArtifactStore extends Context.Reference<ArtifactStore>()("stargraph/ArtifactStore", {
  defaultValue: (): ArtifactStoreShape => FilesystemArtifactStore.make(process.env[ENV_VAR] ?? DEFAULT_DIR)
}) {}

/**
 * The folder of the store beside the SQLite database `db`: `$STARGRAPH_ARTIFACTS_DIR`, else
 * `<db>.artifacts`. A PostgreSQL database (a `postgres://` URL) has no folder: its store is
 * `$STARGRAPH_ARTIFACTS_DIR`, else {@link DEFAULT_DIR} under the current folder (hosts that
 * share the database share artifacts through a folder they all mount).
 */
export const besideDatabase = (db: string, env: { readonly [name: string]: string | undefined } = process.env): string =>
  env[ENV_VAR] ?? (isPostgresUrl(db) ? DEFAULT_DIR : `${db}.artifacts`)

/** A Layer providing `store`. */
export const layer = (store: ArtifactStoreShape): Layer.Layer<ArtifactStore> => Layer.succeed(ArtifactStore, store)

/** A Layer with a filesystem store rooted at `root`. */
export const filesystem = (root: string): Layer.Layer<ArtifactStore> => Layer.sync(ArtifactStore, () => FilesystemArtifactStore.make(root))

/** A Layer with a fresh in-memory store. */
export const memory: Layer.Layer<ArtifactStore> = Layer.sync(ArtifactStore, () => MemoryArtifactStore.make())
