// Public API of the webjit runtime (src/index.js).

/** Every failure a user can cause; the message is one sentence saying what to do. */
export class WebjitError extends Error {
  name: 'WebjitError';
}

/** The model-level dtypes of bundle inputs and outputs. */
export type Dtype = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint16' | 'uint8' | 'bool';

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
  /** The bundle file these bytes belong to (absent on a stage's first event, before any bytes). */
  file?: string;
  /** Whether the bytes came from the browser's payload cache (the Cache API) rather than the network. */
  fromCache?: boolean;
}

/** A bundle's files by name (manifest.json, weights-0.bin, ...): bytes, or Blobs and Files
 * (a folder picked with <input type=file webkitdirectory>, say). */
export type BundleFiles = Record<string, Uint8Array | ArrayBuffer | Blob> | Map<string, Uint8Array | ArrayBuffer | Blob>;

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
  /** Worker threads of the wasm backend; 'auto' is min(hardwareConcurrency, 4) in browsers and availableParallelism() in Node; a number above the cores is capped at them (threadNote says so). */
  threads?: 'auto' | number;
  onProgress?: (progress: Progress) => void;
  /** The WebGPU entry point; default navigator.gpu. In Node pass create([]) from the webgpu package. */
  gpu?: GpuLike;
  /**
   * WebGPU limits (GPUSupportedLimits names) to treat as the adapter's when lower, e.g.
   * {maxComputeInvocationsPerWorkgroup: 128}: bundles needing more are refused as on a weaker adapter.
   */
  limits?: Record<string, number>;
  /**
   * 'background': the JIT (docs/jit.md) measures the candidates a bundle compiled with
   * `webjit compile --jit` carries, between runs and while the page is idle, and swaps faster
   * checked code in. Default 'off' (session.tune() still tunes on demand).
   */
  tune?: 'off' | 'background';
  /** Time the JIT may spend measuring, in milliseconds. Default 30000. */
  tuneBudgetMs?: number;
  /**
   * The watchdog of the WASM worker pool: a run (or a JIT measurement) still unfinished after
   * this many milliseconds rejects, the workers are stopped and the next run starts fresh
   * ones. Default 60000. (A single-threaded run cannot be interrupted: it runs on the caller's thread.)
   */
  runTimeoutMs?: number;
  /**
   * Where the JIT remembers its choices per device: an IndexedDB database name (browsers) or a
   * folder (Node; default ~/.cache/webjit/tuning), true for the default, false for none, or an
   * object with records() and put(record). Default: on with tune 'background', off otherwise.
   */
  tuneCache?: string | boolean | TuningCache;
  /**
   * Keep the bundle's payloads (weight shards, kernels) in the browser's Cache API, keyed by the
   * sha256 the manifest gives them: a second load reads them from the cache without fetching or
   * hashing them again (progress events say fromCache). Default true; ignored where there is no
   * Cache API (Node, insecure origins). clearCache() empties it.
   */
  cache?: boolean;
  /** Fetches the bundle's files instead of globalThis.fetch (a URL in, a Response out): to add
   * credentials or headers, or to read from a service worker's store. */
  fetch?: (url: string) => Promise<Response>;
  /**
   * A bundle with symbolic dimensions, on WASM: after `after` runs at the same sizes, ask the
   * in-browser compiler for its kernels specialised to them (session.specialize; a
   * 'specialize' event tells the result). Default false.
   */
  specialize?: false | { after?: number; pyodideURL?: string | URL; wheelURL?: string | URL };
}

/** Where the in-browser compiler comes from: Pyodide's folder and webjit's wheel (by default
 * /pyodide/ and /compiler/webjit.whl of the page's origin, as `webjit serve` serves them). */
export interface CompilerLocation {
  pyodideURL?: string | URL;
  wheelURL?: string | URL;
}

export interface CompileOptions extends Omit<LoadOptions, 'onProgress'>, CompilerLocation {
  /** Input shapes, e.g. {input_ids: [1, 128]}. */
  shapes?: Record<string, number[]>;
  /** Sizes of named dimensions (every input that has them): a number, or [min, max] for a symbolic one. */
  dims?: Record<string, number | [number, number] | string>;
  /** Values bound into the model, e.g. {use_cache_branch: 1} (compile --const). */
  constants?: Record<string, number | number[]>;
  /** How weights are stored (compile --weights). Default 'fp32'. */
  weights?: 'fp32' | 'fp16' | 'int8';
  /** Deflate large weights (the default, as compile does); false skips the compile's slowest stage for a larger bundle. */
  deflate?: boolean;
  /** The bundle's model name. */
  name?: string;
  /** Hears each stage of the compile start. */
  onProgress?: (message: string, fraction: number) => void;
}

/** What compileInBrowser's compiler reports. */
export interface CompileReport {
  stages: [string, number][];
  kernels: number;
  seconds: number;
  python: string;
  startMs: number;
  installMs: number;
}

export interface SpecializeResult {
  dims: Record<string, number>;
  compile_ms: number;
  kernels: { kernel: number; family: string; config: Record<string, unknown>; used: boolean;
    generic_ms?: number; specialised_ms?: number; error?: string }[];
}

/** A record of the schedule database (schedules/README.md): what tuning found for one kernel. */
export interface TuningRecord {
  device: string;
  backend: 'wasm' | 'webgpu';
  family: string;
  signature: string;
  schedule_key: string;
  /** The winner (the kernel's own config when nothing beat it). */
  config: Record<string, number | boolean>;
  target: Record<string, number | boolean>;
  time_ms: number;
  /** The code the kernel ran before tuning, and its time in the same session. */
  default_config: Record<string, number | boolean>;
  default_ms: number;
  candidates: number;
  failed: { config: unknown; stage: 'compile' | 'check' | 'run'; reason: string }[];
  compiler: string;
  measured: string;
  /** The sha256 of the winner's code: a cached record applies only to the same code. */
  sha256?: string;
}

/** A file of the schedule database: what `webjit schedules merge FILE` reads. */
export interface TuningRecordsFile {
  format: 'webjit-schedules';
  format_version: 1;
  device: string;
  records: TuningRecord[];
}

export interface TuningCache {
  records(): Promise<TuningRecord[]>;
  put(record: TuningRecord): Promise<unknown>;
  where?: string;
}

export interface KernelTuning {
  kernel: number;
  family: string;
  calls: number;
  state: 'pending' | 'measuring' | 'tuned' | 'cached' | 'untuned';
  candidates: number;
  tried: number;
  failed: number;
  /** Per call, the code it ran before tuning, and the best found (null until measured). */
  current_ms: number | null;
  best_ms: number | null;
  speedup: number | null;
  config: Record<string, number | boolean> | null;
}

export interface TuningStatus {
  state: 'off' | 'ready' | 'waiting' | 'tuning' | 'done' | 'cancelled' | 'failed';
  /** While waiting: for a run (to capture the kernels' arguments) or for an idle page. */
  waiting_for?: 'run' | 'idle' | null;
  /** Why it is off, waiting, done, cancelled or failed. */
  note: string;
  budget_ms?: number;
  spent_ms?: number;
  slices?: number;
  longest_slice_ms?: number;
  longest_ms?: { baseline: number; candidate: number; refine: number; swap: number };
  kernels_total?: number;
  kernels_done?: number;
  kernels_cached?: number;
  candidates_total?: number;
  candidates_measured?: number;
  candidates_failed?: number;
  swaps?: number;
  /** Where choices are remembered, or null. */
  cache?: string | null;
  kernels?: KernelTuning[];
}

/** The detail of a 'swap' event: kernel `kernel` runs `to` from now on. */
export interface SwapDetail {
  kernel: number;
  family: string;
  from: Record<string, number | boolean> | null;
  to: Record<string, number | boolean>;
  before_ms: number;
  after_ms: number;
  speedup: number;
}

export type FeedData =
  | Float32Array | Float64Array
  | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint16Array | Uint8Array
  | number[] | bigint[] | boolean[];  // float16: a Float16Array where the engine has one, or a Uint16Array of the bits

/** One input: bare data (shape taken from the manifest) or data with its shape. */
export type Feed = FeedData | { data: FeedData; shape: number[] };

export interface Output {
  dtype: Dtype;
  shape: number[];
  /** float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, int16/int8/
   * uint16/uint8: Int16Array/Int8Array/Uint16Array/Uint8Array, bool: Uint8Array; float16: a Float16Array
   * where the engine has one, else a Uint16Array of the float16 bits. */
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint16Array | Uint8Array;
}

/** The device a session runs on; `fingerprint` picks the bundle's per-device variants. */
export interface DeviceInfo {
  backend: 'wasm' | 'webgpu';
  /** wasm/<engine>/<cores>-cores/<relaxed-simd|simd>, or webgpu/<vendor>/<architecture>/<device>/<limits>. */
  fingerprint: string;
  /** Engine features kernels may require, e.g. 'relaxed-simd' (wasm) or 'timestamp-query' (webgpu). */
  features: string[];
  threads: number;
  engine?: string;
  cores?: number;
  info?: { vendor: string; architecture: string; device: string; description: string };
}

/** What one kernel of the bundle runs here. */
export interface KernelInfo {
  id: number;
  family: string;
  signature: string;
  /** The schedule config of the form that runs (the default's, or a variant's). */
  config: Record<string, number | boolean> | null;
  /** The device fingerprint of the variant that runs, or null when the default runs. */
  variant: string | null;
  /** 'jit' when the JIT swapped faster code in during this session, 'cache' when a cached choice was applied at load. */
  tuned: 'jit' | 'cache' | null;
}

export interface KernelProfile {
  id: number;
  family: string;
  signature: string;
  calls: number;
  total_ms: number;
  mean_ms: number;
  /** Of the sum of all kernels. */
  share: number;
  /** For matmul kernels; null otherwise. */
  gflops: number | null;
}

export interface Profile {
  backend: 'wasm' | 'webgpu';
  device: string;
  /** How steps were timed: timestamp queries, timed submissions, or the workers' clock. */
  timer: string;
  /** The fastest time of each step over the profiled runs. */
  steps_ms: number[];
  kernels: KernelProfile[];
  sum_ms: number;
  /** The fastest profiled run measured whole, and the sum of that run's own steps. */
  run_ms: number;
  run_steps_ms: number;
  /** Steps this session leaves out: the Im2Col steps of convolutions running an implicit form. */
  skipped: number[];
}

/** A candidate schedule of one kernel: a payload in `source` like a bundle's kernel files. */
export interface Candidate {
  file: string;
  bytes: number;
  sha256: string;
  config: unknown;
  /** WebGPU candidates: how they launch (their bindings are the kernel's). */
  entry?: string;
  workgroup?: [number, number, number];
  dispatch?: [number, number, number];
}

export interface CandidateResult {
  config: unknown;
  ok: boolean;
  /** Where a failed candidate failed: 'compile' (or its payload), 'check' (wrong outputs), 'run'. */
  stage?: 'compile' | 'check' | 'run';
  error?: string;
  /** The budget ran out before this candidate. */
  skipped?: boolean;
  min_ms?: number;
  median_ms?: number;
}

export interface Measurement {
  kernel: number;
  /** The step whose arguments the candidates ran on. */
  step: number;
  current: { min_ms: number; median_ms: number; reps: number; inner: number };
  /** A convolution's GEMM: the Im2Col step's time, charged to every form that reads the columns. */
  columns_ms: number | null;
  results: CandidateResult[];
}

export interface GenerateOptions {
  /** New tokens at most (32). */
  maxNewTokens?: number;
  /** 0 is greedy; 1 by default. */
  temperature?: number;
  /** Sample among the topK most likely tokens (0: all). */
  topK?: number;
  /** Sample among the fewest tokens whose probability reaches topP (1: all). */
  topP?: number;
  /** Stops after this token (or any of these). */
  eosTokenId?: number | number[];
  /** Called with each new token as it is chosen, and its index among the new tokens. */
  onToken?: (token: number, index: number) => void;
  /** Seed of the sampler: the same seed samples the same tokens. */
  seed?: number;
}

export interface Generation {
  tokens: number[];
  stopped: 'eos' | 'length';
  prefill_ms: number;
  decode_ms: number;
}

export interface Session extends EventTarget {
  /** The backend running now: a lost GPU device moves a webgpu session to 'wasm'. */
  readonly backend: 'wasm' | 'webgpu';
  /** Why the session runs on wasm although WebGPU was allowed (no adapter, limits, device lost), or null. */
  readonly backendNote: string | null;
  /** The session's GPUDevice while on webgpu, else null (exposed for tests, e.g. to destroy it). */
  readonly gpuDevice: unknown | null;
  /** Threads actually used (1 on webgpu). */
  readonly threads: number;
  /** Why the session runs single-threaded or on fewer threads than asked for, or null. */
  readonly threadNote: string | null;
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  readonly model: string;
  readonly device: DeviceInfo;
  readonly kernels: KernelInfo[];
  /** Runs the model; concurrent calls are queued (with the JIT's slices of tuning). The feeds are
   * checked and copied when run() is called (index inputs against their valid_range). */
  run(feeds: Record<string, Feed>): Promise<Record<string, Output>>;
  /** Generates tokens after `inputIds` with a decoder bundle exported with past key/values
   * (WASM): the KV cache stays in the backend's memory; greedy at temperature 0 or topK 1. */
  generate(inputIds: number[] | Int32Array | BigInt64Array, options?: GenerateOptions): Promise<Generation>;
  /** The last run: how long it waited in the queue, how long it ran, and how many slices of tuning it waited for (at most one). */
  readonly lastRun: { wait_ms: number; run_ms: number; tuning_slices: number } | null;
  /** How the weights arrived: their storage (compile --weights), the bytes fetched, the
   * bytes they take in memory, and the most bytes the loader held in JS at once. */
  readonly weights: { storage: 'fp32' | 'fp16' | 'int8'; stored_bytes: number; memory_bytes: number;
    peak_held_bytes: number };
  /** The JIT's progress. */
  readonly tuning: TuningStatus;
  /** Tunes now until every hot kernel is tuned or the budget is spent (run once first); a WebjitError for a bundle without JIT candidates. */
  tune(): Promise<TuningStatus>;
  /** What the JIT measured and remembered here, for `webjit schedules merge FILE`. */
  exportTuningRecords(): TuningRecordsFile;
  addEventListener(type: 'swap', listener: (event: CustomEvent<SwapDetail>) => void): void;
  addEventListener(type: 'tuning', listener: (event: CustomEvent<TuningStatus>) => void): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions): void;
  /** The time of every kernel on the inputs of the last run (run once first). */
  profile(options?: { repeat?: number }): Promise<Profile>;
  /**
   * Measures candidate schedules of kernel `kernelId` against the one it runs now, on the inputs
   * of the last run: each candidate's whole outputs are checked before it is timed.
   */
  measureCandidates(kernelId: number, candidates: Candidate[], source: string | URL,
    options?: { minTimeMs?: number; maxReps?: number; refine?: number; budgetMs?: number }): Promise<Measurement>;
  /**
   * Resolves once every payload this session fetched is in the browser's payload cache: load()
   * does not wait for those writes. A page that reloads itself at once (or a test) awaits it;
   * an ordinary page need not (a write cut short only means fetching again next time).
   */
  readonly cached: Promise<void>;
  /**
   * Kernels specialised to sizes `dims` (default: the sizes run most often) by the in-browser
   * compiler, checked against the generic kernels on a run at those sizes, timed, and the faster
   * ones run at those sizes from then on. WASM sessions of bundles with symbolic dimensions.
   */
  specialize(dims?: Record<string, number>, where?: CompilerLocation): Promise<SpecializeResult>;
  /** Set on sessions compileInBrowser made: the bundle's files, the compile's report, and the bundle as a zip. */
  readonly compiled?: { files: Map<string, Uint8Array>; report: CompileReport; zip(): Blob };
  /** Stops worker threads, frees the memory and destroys the GPU device; later runs throw a WebjitError. */
  release(): void;
}

/**
 * Loads the bundle folder at `url` (http(s) or relative URL; in Node also a path or file:// URL),
 * checks every payload's sha256, and compiles its kernels.
 */
/** Loads a bundle: from its folder URL (or, in Node, a folder path), from its files by name, or
 * from the bundle as one zip (bytes or a Blob, e.g. session.compiled.zip()). */
export function load(source: string | URL | BundleFiles | Uint8Array | ArrayBuffer | Blob, options?: LoadOptions): Promise<Session>;

/**
 * Compiles an ONNX model's bytes in the page (webjit's compiler on Pyodide, in a worker) and
 * loads the bundle it makes; `session.compiled` keeps the bundle. Needs Pyodide and webjit's
 * wheel served from the page's origin (docs/in-browser-compiler.md).
 */
export function compileInBrowser(onnx: Uint8Array | ArrayBuffer | Blob, options?: CompileOptions): Promise<Session>;

/** Deletes every payload the browser's cache holds; resolves to true when there was a cache to delete. */
export function clearCache(): Promise<boolean>;
