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

/** The part of WebGPU's GPU interface webjit uses (navigator.gpu, or create([]) from the webgpu package). */
export interface GpuLike {
  requestAdapter(options?: object): Promise<unknown | null>;
}

export interface LoadOptions {
  /**
   * 'webgpu' throws a WebjitError saying why when WebGPU cannot run the bundle; 'auto' uses
   * WebGPU when an adapter exists, the bundle has WGSL kernels and its limits fit, else
   * wasm (backendNote says why). Default 'auto'.
   */
  backend?: 'wasm' | 'webgpu' | 'auto';
  /** Worker threads of the wasm backend; 'auto' is min(hardwareConcurrency, 4) in browsers and availableParallelism() in Node. */
  threads?: 'auto' | number;
  onProgress?: (progress: Progress) => void;
  /** The WebGPU entry point; default navigator.gpu. In Node pass create([]) from the webgpu package. */
  gpu?: GpuLike;
  /**
   * WebGPU limits (GPUSupportedLimits names) to treat as the adapter's when lower, e.g.
   * {maxComputeInvocationsPerWorkgroup: 128}: bundles needing more are refused as on a weaker adapter.
   */
  limits?: Record<string, number>;
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
  /** The backend running now: a lost GPU device moves a webgpu session to 'wasm'. */
  readonly backend: 'wasm' | 'webgpu';
  /** Why the session runs on wasm although WebGPU was allowed (no adapter, limits, device lost), or null. */
  readonly backendNote: string | null;
  /** The session's GPUDevice while on webgpu, else null (exposed for tests, e.g. to destroy it). */
  readonly gpuDevice: unknown | null;
  /** Threads actually used (1 on webgpu). */
  readonly threads: number;
  /** Why the session runs single-threaded, or null when it does not. */
  readonly threadNote: string | null;
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  readonly model: string;
  /** Runs the model; concurrent calls are queued. */
  run(feeds: Record<string, Feed>): Promise<Record<string, Output>>;
  /** Stops worker threads, frees the memory and destroys the GPU device; later runs throw a WebjitError. */
  release(): void;
}

/**
 * Loads the bundle folder at `url` (http(s) or relative URL; in Node also a path or file:// URL),
 * checks every payload's sha256, and compiles its kernels.
 */
export function load(url: string | URL, options?: LoadOptions): Promise<Session>;
