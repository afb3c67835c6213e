// Public API of the webjit runtime (src/index.js).

/** Every failure a user can cause; the message is one sentence saying what to do. */
export class WebjitError extends Error {
  name: 'WebjitError';
}

/** The model-level dtypes of bundle inputs and outputs. */
export type Dtype = 'float32' | 'int64' | 'int32' | 'bool';

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export interface Progress {
  stage: 'weights' | 'kernels';
  /** Bytes of this stage loaded so far. */
  loaded: number;
  /** Bytes this stage loads in all, from the manifest. */
  total: number;
}

export interface LoadOptions {
  /** 'auto' picks wasm; 'webgpu' is not available in this build and throws. Default 'auto'. */
  backend?: 'wasm' | 'webgpu' | 'auto';
  /** Worker threads; 'auto' is min(hardwareConcurrency, 4) in browsers and availableParallelism() in Node. */
  threads?: 'auto' | number;
  onProgress?: (progress: Progress) => void;
}

export type FeedData =
  | Float32Array | Float64Array
  | BigInt64Array | Int32Array | Uint8Array
  | number[] | bigint[] | boolean[];

/** One input: bare data (shape taken from the manifest) or data with its shape. */
export type Feed = FeedData | { data: FeedData; shape: number[] };

export interface Output {
  dtype: Dtype;
  shape: number[];
  /** float32: Float32Array, int64: BigInt64Array, int32: Int32Array, bool: Uint8Array. */
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

export interface Session {
  readonly backend: 'wasm';
  /** Threads actually used. */
  readonly threads: number;
  /** Why the session runs single-threaded, or null when it does not. */
  readonly threadNote: string | null;
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  readonly model: string;
  /** Runs the model; concurrent calls are queued. */
  run(feeds: Record<string, Feed>): Promise<Record<string, Output>>;
  /** Stops worker threads and frees the memory; later runs throw a WebjitError. */
  release(): void;
}

/**
 * Loads the bundle folder at `url` (http(s) or relative URL; in Node also a path or file:// URL),
 * checks every payload's sha256, and compiles its kernels.
 */
export function load(url: string | URL, options?: LoadOptions): Promise<Session>;
