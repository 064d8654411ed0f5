/**
 * The parts of `onnxruntime-node` the ml node uses, as types: its module, sessions,
 * tensors and their metadata. The package is an optional peer, imported on first use.
 */
import type { TensorData } from "./tensors.js"

/** A tensor of the runtime. */
export interface OrtTensor {
  readonly type: string
  readonly dims: ReadonlyArray<number>
  readonly data: ArrayLike<unknown>
}

/** An input's or output's metadata as the runtime reports it. */
export type OrtValueMetadata =
  | { readonly name: string; readonly isTensor: false }
  | { readonly name: string; readonly isTensor: true; readonly type: string; readonly shape: ReadonlyArray<number | string> }

/** The part of `InferenceSession` the node uses. */
export interface OrtSession {
  readonly inputNames: ReadonlyArray<string>
  readonly outputNames: ReadonlyArray<string>
  readonly inputMetadata?: ReadonlyArray<OrtValueMetadata>
  readonly outputMetadata?: ReadonlyArray<OrtValueMetadata>
  run(feeds: { readonly [name: string]: OrtTensor }, fetches: ReadonlyArray<string>): Promise<{ readonly [name: string]: OrtTensor }>
}

/** The part of the `onnxruntime-node` module the node uses. */
export interface OrtModule {
  readonly InferenceSession: { create(buffer: Uint8Array, options?: unknown): Promise<OrtSession> }
  readonly Tensor: new (type: string, data: TensorData, dims: ReadonlyArray<number>) => OrtTensor
}
