// webjit: load a bundle (docs/bundle.md) and run it on WebGPU or WebAssembly, in browsers
// and in Node, from the same code.
import { WebjitError } from './errors.js';
import { openBundle } from './source.js';
import { checkWebgpuLayout, hasWasm, hasWebgpu, parseManifest } from './manifest.js';
import { checkFeeds } from './feeds.js';
import { isSym, sizeText } from './sizes.js';
import { createWasmBackend } from './wasm.js';
import { createWebgpuBackend } from './webgpu.js';
import { openDevice, unusable } from './gpu_device.js';
import { wasmDevice, webgpuDevice } from './device.js';
import { measureCandidates, profileKernels } from './timer.js';
import { DEFAULT_BUDGET_MS, TUNE_MODES, Tuner, nextTurn, nothingToTune } from './jit.js';
import { openTuningCache } from './tuning_cache.js';
import { clearCache, openPayloadCache } from './payload_cache.js';
import { generate } from './generate.js';
import { sizesKey, trySpecialised } from './specialize.js';
import { specialiseKernels } from './compile.js';

export { WebjitError, clearCache };
export { compileInBrowser } from './compile.js';

const BACKENDS = ['wasm', 'webgpu', 'auto'];
// After a failed GPU run, how long to wait for device.lost to tell whether the device died.
const LOST_GRACE_MS = 2000;
// The most sizes one session keeps specialised kernels for (each set is a module per symbolic kernel).
const MAX_SPECIALISED = 8;
// The most one task of the WASM worker pool may take before the watchdog stops the pool.
const DEFAULT_RUN_TIMEOUT_MS = 60000;

function checkOptions({ backend = 'auto', threads = 'auto', onProgress, gpu, limits, tune = 'off',
  tuneBudgetMs = DEFAULT_BUDGET_MS, tuneCache, runTimeoutMs = DEFAULT_RUN_TIMEOUT_MS, cache = true, fetch,
  specialize = false } = {}) {
  if (!BACKENDS.includes(backend)) {
    throw new WebjitError(`unknown backend ${JSON.stringify(backend)}; use 'wasm', 'webgpu' or 'auto'`);
  }
  if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1)) {
    throw new WebjitError(`threads must be 'auto' or a positive integer, not ${JSON.stringify(threads)}`);
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new WebjitError('onProgress must be a function');
  }
  if (gpu !== undefined && typeof gpu?.requestAdapter !== 'function') {
    throw new WebjitError('the gpu option must be a GPU object (navigator.gpu, or create([]) ' +
      'from the webgpu package)');
  }
  const isLimits = limits === undefined || (typeof limits === 'object' && limits !== null &&
    Object.values(limits).every((v) => Number.isInteger(v) && v >= 0));
  if (!isLimits) {
    throw new WebjitError('the limits option must map WebGPU limit names to non-negative integers');
  }
  if (!TUNE_MODES.includes(tune)) {
    throw new WebjitError(`unknown tune mode ${JSON.stringify(tune)}; use 'off' or 'background'`);
  }
  if (!(typeof tuneBudgetMs === 'number' && tuneBudgetMs > 0)) {
    throw new WebjitError(`tuneBudgetMs must be a positive number of milliseconds, not ${JSON.stringify(tuneBudgetMs)}`);
  }
  if (!(typeof runTimeoutMs === 'number' && runTimeoutMs > 0)) {
    throw new WebjitError(`runTimeoutMs must be a positive number of milliseconds, not ${JSON.stringify(runTimeoutMs)}`);
  }
  if (typeof cache !== 'boolean') throw new WebjitError(`the cache option must be true or false, not ${JSON.stringify(cache)}`);
  if (fetch !== undefined && typeof fetch !== 'function') {
    throw new WebjitError('the fetch option must be a function like fetch (a URL in, a Response out)');
  }
  const isSpecialize = specialize === false || (typeof specialize === 'object' && specialize !== null &&
    (specialize.after === undefined || (Number.isInteger(specialize.after) && specialize.after >= 1)));
  if (!isSpecialize) {
    throw new WebjitError('the specialize option must be false or {after: runs, pyodideURL?, wheelURL?} ' +
      '(after: how many runs at the same sizes before their kernels are specialised)');
  }
  // The tuning records' cache is on by default only where tuning is: a page that does not tune keeps the bundle's choices.
  const tuneRecords = tuneCache ?? (tune === 'off' ? false : true);
  return { backend, threads, onProgress: onProgress ?? (() => {}), gpu, limits, tune, tuneBudgetMs, tuneCache: tuneRecords,
    runTimeoutMs, cache, fetch, specialize };
}

/** Loads the bundle at `source` (a URL or path, or a map of its file names to bytes or Files)
 * and prepares it to run; resolves to a Session. */
export async function load(source, options) {
  const opts = checkOptions(options);
  const bundle = await openBundle(source, { fetch: opts.fetch, cache: await openPayloadCache(opts.cache) });
  const manifest = parseManifest(await bundle.read('manifest.json'), bundle.describe('manifest.json'));
  const cpu = await wasmDevice();
  // Re-reads the bundle: used when the GPU device is lost mid-session.
  const quiet = { threads: opts.threads, onProgress: () => {}, device: cpu, runTimeoutMs: opts.runTimeoutMs };
  const buildWasm = () => createWasmBackend(bundle, manifest, quiet);
  let note = null;
  if (opts.backend !== 'wasm') {
    const gpu = await tryWebgpu(bundle, manifest, opts);
    if (gpu.impl) return ready(new Session({ manifest, ...gpu, buildWasm, bundle, opts }));
    note = gpu.note;
  }
  if (!hasWasm(manifest)) {
    throw new WebjitError(`this bundle has only WebGPU kernels and WebGPU cannot run it here (${note ?? 'backend wasm was asked for'}); ` +
      'recompile it with --backends wasm,webgpu');
  }
  const impl = await createWasmBackend(bundle, manifest, { ...opts, device: cpu });
  return ready(new Session({ manifest, impl, device: null, note, buildWasm, hardware: cpu, bundle, opts }));
}

/** A new session once what the JIT remembered for this device is applied (before any run). */
async function ready(session) {
  try {
    await session.startTuning();
  } catch (err) {
    session.release();
    throw err;
  }
  return session;
}

/**
 * Resolves {impl, device, owners} when WebGPU can run the bundle, else {note} for backend 'auto';
 * for backend 'webgpu' the reason is thrown. Errors of the bundle itself always throw.
 */
async function tryWebgpu(bundle, manifest, opts) {
  let device = null;
  try {
    if (!hasWebgpu(manifest)) {
      throw unusable('this bundle has no WebGPU kernels', "recompile it for webgpu or use backend 'wasm'");
    }
    checkWebgpuLayout(manifest);
    const opened = await openDevice(manifest, opts);
    device = opened.device;
    const hardware = await webgpuDevice(opened.adapter);
    const impl = await createWebgpuBackend(bundle, manifest, device, hardware, opts.onProgress);
    return { impl, device, owners: opened.owners, hardware };
  } catch (err) {
    device?.destroy();
    if (opts.backend === 'webgpu' || (err instanceof WebjitError && !err.reason)) throw err;
    return { note: `${err.reason ?? err.message}; running on WASM` };
  }
}

// Shapes as users read them: a symbolic size as its text ('seq', '384*seq'); session.dims has the ranges.
const describeIO = (list) => list.map(({ name, dtype, shape }) => ({ name, dtype,
  shape: shape.map((d) => (isSym(d) ? sizeText(d) : d)) }));

function lossText(info) {
  const message = String(info?.message ?? '').trim().split('\n')[0];
  const why = `${info?.reason ?? 'unknown'}${message ? `: ${message}` : ''}`;
  return `the WebGPU device was lost (${why}); running on WASM`;
}

/**
 * A loaded bundle, ready to run. Runs are queued: one at a time uses the buffers; the JIT's
 * slices of tuning take turns with them in the same queue. Events: 'swap' (a kernel runs
 * faster code now; detail {kernel, family, from, to, before_ms, after_ms, speedup}) and
 * 'tuning' (the tuning state changed or a kernel is done; detail: session.tuning).
 */
class Session extends EventTarget {
  #manifest; #impl; #buildWasm; #wasm = null; #lost = null; #owners; #bundle; #opts; #tuner = null;
  #tail = Promise.resolve(); #released = false; #ran = false;
  // Specialised kernels (specialize.js): runs per sizes seen, the checked code per sizes, the
  // generic code of each kernel, the sizes whose code runs now, and the sizes asked for.
  #sizes = { seen: new Map(), lastKey: null, specialised: new Map(), generic: null, active: null, pending: new Map(),
    asked: new Set() };

  constructor({ manifest, impl, device, owners = [], note = null, buildWasm, hardware, bundle, opts }) {
    super();
    this.#manifest = manifest;
    this.#bundle = bundle;
    this.#opts = opts;
    this.#owners = owners;  // the GPU and adapter live as long as the device
    this.#impl = impl;
    this.#buildWasm = buildWasm;
    this.backend = device ? 'webgpu' : 'wasm';
    this.backendNote = note;
    this.gpuDevice = device;
    this.threads = impl.threads;
    this.threadNote = impl.threadNote;
    this.inputs = describeIO(manifest.inputs);
    this.outputs = describeIO(manifest.outputs);
    this.dims = (manifest.dims ?? []).map(({ name, min, max }) => ({ name, min, max }));  // symbolic dimensions
    this.model = manifest.model ?? '';
    this.lastRun = null;
    // How the weights arrived: their storage, bytes fetched, bytes in memory, and the most
    // bytes the loader held in JS at once (one shard, plus a decoded chunk on WebGPU).
    this.weights = { storage: manifest.weight_storage, stored_bytes: impl.weights.stored_bytes,
      memory_bytes: manifest.memory.weights_bytes, peak_held_bytes: impl.weights.peak_held_bytes };
    this.#describe(hardware, impl);
    if (device) this.#lost = device.lost.then((info) => this.#fallBack(device, info));
  }

  /** Sets `device` ({backend, fingerprint, ...}) and `kernels` (the config each kernel runs). */
  #describe(hardware, impl) {
    this.device = { backend: this.backend, threads: impl.threads, ...hardware };
    this.kernels = this.#manifest.kernels.map((k, i) => {
      const { form, variant } = impl.forms[i];
      return { id: k.id, family: k.family, signature: k.signature, config: form.config ?? null,
        variant: variant ? form.device : null, tuned: null };
    });
  }

  /** Sets up the JIT (jit.js) for this backend: applies the cached choices, and starts
   * tuning in the background when the session was loaded with tune: 'background'. */
  async startTuning() {
    const impl = this.#impl;
    if (!impl?.ops) return;
    const opts = this.#opts;
    const cache = await openTuningCache(opts.tuneCache, this.device.fingerprint, impl.threads);
    const tuner = new Tuner({ manifest: this.#manifest, backend: this.backend, ops: impl.ops, forms: impl.forms,
      bundle: this.#bundle, device: this.device, threads: impl.threads, budgetMs: opts.tuneBudgetMs, cache,
      queue: (task) => this.#queued(task),
      emit: (type, detail) => this.dispatchEvent(new CustomEvent(type, { detail })),
      swapped: (kernel, form, how) => Object.assign(this.kernels[kernel], { config: form.config ?? null,
        variant: null, tuned: how }) });
    this.#tuner = tuner;
    await tuner.applyCache();
    if (opts.tune === 'background') tuner.start('background');
  }

  /** Resolves once every payload this session fetched is in the browser's payload cache (the
   * writes go on in the background after load); at once where nothing is cached. */
  get cached() {
    return Promise.all(this.#bundle?.writes ?? []).then(() => undefined);
  }

  /** The JIT's progress: {state ('off', 'ready', 'waiting', 'tuning', 'done', 'cancelled',
   * 'failed'), waiting_for ('run' | 'idle' | null), note, budget_ms, spent_ms, kernels_total, kernels_done, kernels_cached,
   * candidates_total, candidates_measured, candidates_failed, swaps, slices,
   * longest_slice_ms, cache, kernels: [{kernel, family, state, current_ms, best_ms, speedup, ...}]}. */
  get tuning() {
    return this.#tuner?.status() ?? { state: 'off', note: `the ${this.backend} backend has no kernel timer here` };
  }

  /** Tunes now (without waiting for runs to capture the kernels' arguments) until every hot
   * kernel is tuned or the budget is spent; resolves to session.tuning. Run the session once first. */
  async tune() {
    if (this.#released) throw new WebjitError('this session was released; load the bundle again to tune it');
    const tuner = this.#tuner;
    if (!tuner || tuner.progress.state === 'off') throw nothingToTune(tuner);
    if (this.#manifest.inputs.length && !this.#ran) {
      throw new WebjitError('run the session once before tuning: the JIT measures kernels on the inputs of a run');
    }
    return tuner.start('demand');
  }

  /** What the JIT measured and remembered on this device, as a schedules/ database file
   * ({format, format_version, device, records}) for `webjit schedules merge`. */
  exportTuningRecords() {
    if (!this.#tuner) return { format: 'webjit-schedules', format_version: 1, device: this.device.fingerprint, records: [] };
    return this.#tuner.exportRecords();
  }

  /** Moves the session to WASM once its GPU device is lost (unless it was released). */
  #fallBack(device, info) {
    if (this.#released || this.gpuDevice !== device) return;
    this.#tuner?.cancel(lossText(info));
    this.#tuner = null;
    this.backend = 'wasm';
    this.backendNote = lossText(info);
    this.gpuDevice = null;
    this.#impl = null;
    this.#wasm = this.#buildWasm().then(async (impl) => {
      Object.assign(this, { threads: impl.threads, threadNote: impl.threadNote });
      this.#describe(await wasmDevice(), impl);
      return impl;
    });
    this.#wasm.catch(() => {});  // reported by the runs that wait for it
  }

  /** Runs the model on `feeds` ({name: array or {data, shape}}); resolves to the outputs.
   * Afterwards `lastRun` is {wait_ms, run_ms, tuning_slices}: how long it waited in the
   * queue (for earlier runs or tuning) and how long it ran, and how many slices of tuning
   * ended while it waited (at most one: tuning takes turns with runs). */
  async run(feeds) {
    if (this.#released) throw new WebjitError('this session was released; load the bundle again to run it');
    const checked = checkFeeds(this.#manifest, feeds);
    const queued = globalThis.performance.now();
    const slices = () => this.#tuner?.progress.slices ?? 0;
    const slicesBefore = slices();
    let started = queued, slicesWaited = 0;
    const tuner = this.#tuner;
    tuner?.queued();
    const result = this.#tail.then(async () => {
      // While tuning, a run starts on a fresh turn of the event loop: the tuner's fetches and
      // compiles go on even where a page runs in a loop that never yields.
      if (this.#tuner?.running) await nextTurn();
      started = globalThis.performance.now();
      slicesWaited = slices() - slicesBefore;
      return this.#runNow(checked);
    }).finally(() => tuner?.ran());
    this.#tail = result.catch(() => {});
    const outputs = await result;
    this.lastRun = { wait_ms: started - queued, run_ms: globalThis.performance.now() - started,
      tuning_slices: slicesWaited };
    this.#ran = true;
    return outputs;
  }

  /**
   * Generates text with a decoder bundle exported with past key/values (generate.js): runs
   * the prompt `inputIds` once, then one run per new token with the KV cache kept in the
   * backend's memory. Options: maxNewTokens (32), temperature (1; 0 is greedy), topK (0: off),
   * topP (1), eosTokenId (an id or a list), onToken(token, index), seed. Resolves to
   * {tokens, stopped ('eos' | 'length'), prefill_ms, decode_ms}. The whole generation is one
   * task of the run queue.
   */
  async generate(inputIds, options = {}) {
    if (this.#released) throw new WebjitError('this session was released; load the bundle again to generate');
    return this.#queued(async (impl) => {
      if (!impl.step) throw new WebjitError(`session.generate cannot run on this session's ${this.backend} backend`);
      return generate(this.#manifest, impl, inputIds, options);
    });
  }

  async #runNow(checked) {
    if (this.#released) throw new WebjitError('this session was released; load the bundle again to run it');
    const tuner = this.#tuner;
    const capture = tuner?.wantsCapture() ?? null;
    if (this.#impl && this.backend === 'webgpu') {
      try {
        const outputs = await this.#impl.run(checked, capture);
        if (capture) tuner.captured(capture);
        return outputs;
      } catch (err) {
        if (this.#released) {
          throw new WebjitError('this session was released while it ran; load the bundle again to run it');
        }
        if (!await this.#deviceWasLost()) throw err;
      }
    }
    const impl = this.#impl ?? await this.#wasm;
    const mine = capture && this.#tuner === tuner ? capture : null;  // not after a device loss
    if (this.#sizes.active !== null || this.#sizes.specialised.size) this.#useSizes(impl, checked.env);
    const outputs = await impl.run(checked, mine);
    if (mine) tuner.captured(mine);
    if (this.#manifest.dims?.length) this.#ranAt(checked.env);
    return outputs;
  }

  /**
   * Kernels specialised to the sizes `dims` ({dim: size}; by default the sizes this session
   * ran at most often), made by the in-browser compiler (compileInBrowser's; `options`:
   * pyodideURL, wheelURL) while the generic kernels keep running. Each is checked against the
   * generic kernel on a run at those sizes (the last, or the next one) and timed; the faster
   * ones run, from then on, in every run at those sizes, and the generic code in any other.
   * WASM sessions of bundles with symbolic dimensions. Resolves to {dims, compile_ms,
   * kernels: [{kernel, family, config, used, generic_ms, specialised_ms, error?}]}.
   */
  async specialize(dims, options = this.#opts.specialize || {}) {
    if (this.#released) throw new WebjitError('this session was released; load the bundle again');
    if (!this.#manifest.dims?.length) {
      throw new WebjitError('this bundle has no symbolic dimensions: its kernels are specialised to its sizes already');
    }
    if (this.backend !== 'wasm') {
      throw new WebjitError(`kernels are specialised for WASM sessions only; this one runs on ${this.backend}`);
    }
    const env = dims ?? this.#mostSeen();
    if (!env) throw new WebjitError('run the session first, or name the sizes: specialize({dim: size, ...})');
    const key = sizesKey(env);
    if (!this.#sizes.specialised.has(key) && this.#sizes.specialised.size + this.#sizes.pending.size >= MAX_SPECIALISED) {
      throw new WebjitError(`this session keeps kernels specialised to at most ${MAX_SPECIALISED} sizes, and has them`);
    }
    const text = new TextDecoder().decode(await this.#bundle.read('manifest.json'));
    const started = globalThis.performance.now();
    const { kernels } = await specialiseKernels(text, env, options);
    const compileMs = globalThis.performance.now() - started;
    return new Promise((resolve, reject) => {
      this.#sizes.pending.set(key, { env, kernels, compileMs, resolve, reject });
      if (this.#sizes.lastKey === key) this.#checkSpecialised(key);
    });
  }

  #mostSeen() {
    let best = null;
    for (const entry of this.#sizes.seen.values()) if (!best || entry.runs > best.runs) best = entry;
    return best?.env ?? null;
  }

  /** After a run at sizes `env`: counts it, checks code waiting for these sizes, and asks for
   * it where the specialize option says so. */
  #ranAt(env) {
    const s = this.#sizes;
    const key = sizesKey(env);
    s.lastKey = key;
    const seen = s.seen.get(key) ?? { env: { ...env }, runs: 0 };
    seen.runs++;
    s.seen.set(key, seen);
    if (s.pending.has(key)) this.#checkSpecialised(key);
    const after = this.#opts.specialize?.after;
    const room = s.specialised.size + s.pending.size < MAX_SPECIALISED;
    if (after && seen.runs >= after && !s.asked.has(key) && room && this.backend === 'wasm') {
      s.asked.add(key);
      const tell = (detail) => this.dispatchEvent(new CustomEvent('specialize', { detail }));
      this.specialize(seen.env).then(tell, (err) => tell({ dims: seen.env, error: String(err?.message ?? err) }));
    }
  }

  /** In the run queue, right after the run at these sizes: checks, times and adopts. */
  #checkSpecialised(key) {
    const s = this.#sizes;
    const job = s.pending.get(key);
    s.pending.delete(key);
    this.#queued(async (impl) => {
      if (s.lastKey !== key) {  // a run at other sizes came first: wait for the next one at these
        s.pending.set(key, job);
        return null;
      }
      this.#useSizes(impl, null);  // measured against the generic code
      const results = await trySpecialised(this.#manifest, impl.ops, job.kernels);
      const used = new Map(results.filter((r) => r.used).map((r) => [r.kernel, r.slot]));
      if (used.size) s.specialised.set(key, used);
      return { dims: job.env, compile_ms: job.compileMs, kernels: results.map(({ slot, ...r }) => r) };
    }).then((done) => { if (done) job.resolve(done); }, job.reject);
  }

  /** Each kernel runs its code for sizes `env`: the specialised code when there is some, else the generic. */
  #useSizes(impl, env) {
    const s = this.#sizes;
    const key = env ? sizesKey(env) : null;
    const want = key !== null && s.specialised.has(key) ? key : null;
    if (want === s.active) return;
    s.generic ??= this.#manifest.kernels.map((_, k) => impl.ops.slotOf(k));
    const chosen = want ? s.specialised.get(want) : new Map();
    const touched = new Set([...(s.active ? s.specialised.get(s.active).keys() : []), ...chosen.keys()]);
    for (const k of touched) impl.ops.use(k, chosen.get(k) ?? s.generic[k]);
    s.active = want;
  }

  /** After a failed GPU run: true once the session has moved to WASM because of a loss. */
  async #deviceWasLost() {
    let timer;
    const grace = new Promise((resolve) => { timer = setTimeout(resolve, LOST_GRACE_MS); });
    await Promise.race([this.#lost, grace]);
    clearTimeout(timer);
    return this.backend === 'wasm';
  }

  /** Runs `task(impl)` in the run queue (after pending runs, before later ones). */
  #queued(task) {
    if (this.#released) return Promise.reject(new WebjitError('this session was released; load the bundle again'));
    const result = this.#tail.then(async () => task(this.#impl ?? await this.#wasm));
    this.#tail = result.catch(() => {});
    return result;
  }

  /**
   * A per-kernel profile of one run on the inputs of the last run (min over `repeat`
   * runs of every step): {backend, device, steps_ms, kernels: [{id, family, signature,
   * calls, total_ms, mean_ms, share, gflops}], sum_ms}. Run the session once first.
   */
  async profile({ repeat = 1 } = {}) {
    return this.#queued(async (impl) => {
      this.#needsRun(impl);
      return { backend: this.backend, device: this.device.fingerprint,
        ...await profileKernels(this.#manifest, impl.ops, repeat) };
    });
  }

  /**
   * Measures candidate schedules of kernel `kernelId` against the one it runs now, on the
   * inputs of the last run: each is checked (its whole outputs against the current kernel's)
   * before it is timed. `candidates`: [{file, bytes, sha256, config, dispatch?, entry?}]
   * read from `source` (a folder URL or path, like a bundle's). Options: minTimeMs,
   * maxReps, budgetMs. Resolves to {kernel, step, current, results}.
   */
  async measureCandidates(kernelId, candidates, source, options = {}) {
    const reader = await openBundle(source);
    return this.#queued(async (impl) => {
      this.#needsRun(impl);
      return measureCandidates(this.#manifest, impl.ops, kernelId, candidates, reader,
        { ...options, currentConfig: impl.forms[kernelId]?.form.config });
    });
  }

  #needsRun(impl) {
    if (!impl.ops) throw new WebjitError('this backend offers no kernel timer');
    if (this.#manifest.inputs.length && !this.#ran) {
      throw new WebjitError('run the session once before profiling or tuning: the timer uses the inputs of the last run');
    }
  }

  /** Stops worker threads, frees the memory and the GPU device; the session cannot run afterwards. */
  release() {
    this.#tuner?.cancel('the session was released');
    this.#released = true;
    this.#impl?.release();
    this.#impl = null;
    this.#wasm?.then((impl) => impl.release(), () => {});
    this.gpuDevice?.destroy();
    this.gpuDevice = null;
  }
}
