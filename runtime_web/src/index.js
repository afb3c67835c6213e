// webjit: load a bundle (docs/bundle.md) and run it on WebGPU or WebAssembly, in browsers
// and in Node, from the same code.
import { WebjitError } from './errors.js';
import { openBundle } from './source.js';
import { checkWebgpuLayout, hasWasm, hasWebgpu, parseManifest } from './manifest.js';
import { checkFeeds } from './feeds.js';
import { createWasmBackend } from './wasm.js';
import { createWebgpuBackend } from './webgpu.js';
import { openDevice, unusable } from './gpu_device.js';
import { wasmDevice, webgpuDevice } from './device.js';
import { measureCandidates, profileKernels } from './timer.js';

export { WebjitError };

const BACKENDS = ['wasm', 'webgpu', 'auto'];
// After a failed GPU run, how long to wait for device.lost to tell whether the device died.
const LOST_GRACE_MS = 2000;

function checkOptions({ backend = 'auto', threads = 'auto', onProgress, gpu, limits } = {}) {
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
  return { backend, threads, onProgress: onProgress ?? (() => {}), gpu, limits };
}

/** Loads the bundle at `url` and prepares it to run; resolves to a Session. */
export async function load(url, options) {
  const opts = checkOptions(options);
  const bundle = await openBundle(url);
  const manifest = parseManifest(await bundle.read('manifest.json'), bundle.describe('manifest.json'));
  const cpu = await wasmDevice();
  // Re-reads the bundle: used when the GPU device is lost mid-session.
  const quiet = { threads: opts.threads, onProgress: () => {}, device: cpu };
  const buildWasm = () => createWasmBackend(bundle, manifest, quiet);
  let note = null;
  if (opts.backend !== 'wasm') {
    const gpu = await tryWebgpu(bundle, manifest, opts);
    if (gpu.impl) return new Session({ manifest, ...gpu, buildWasm });
    note = gpu.note;
  }
  if (!hasWasm(manifest)) {
    throw new WebjitError(`this bundle has only WebGPU kernels and WebGPU cannot run it here (${note ?? 'backend wasm was asked for'}); ` +
      'recompile it with --backends wasm,webgpu');
  }
  const impl = await createWasmBackend(bundle, manifest, { ...opts, device: cpu });
  return new Session({ manifest, impl, device: null, note, buildWasm, hardware: cpu });
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

const describeIO = (list) => list.map(({ name, dtype, shape }) => ({ name, dtype, shape: shape.slice() }));

function lossText(info) {
  const message = String(info?.message ?? '').trim().split('\n')[0];
  const why = `${info?.reason ?? 'unknown'}${message ? `: ${message}` : ''}`;
  return `the WebGPU device was lost (${why}); running on WASM`;
}

/** A loaded bundle, ready to run. Runs are queued: one at a time uses the buffers. */
class Session {
  #manifest; #impl; #buildWasm; #wasm = null; #lost = null; #owners;
  #tail = Promise.resolve(); #released = false; #ran = false;

  constructor({ manifest, impl, device, owners = [], note = null, buildWasm, hardware }) {
    this.#manifest = manifest;
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
    this.model = manifest.model ?? '';
    this.#describe(hardware, impl);
    if (device) this.#lost = device.lost.then((info) => this.#fallBack(device, info));
  }

  /** Sets `device` ({backend, fingerprint, ...}) and `kernels` (the config each kernel runs). */
  #describe(hardware, impl) {
    this.device = { backend: this.backend, threads: impl.threads, ...hardware };
    this.kernels = this.#manifest.kernels.map((k, i) => {
      const { form, variant } = impl.forms[i];
      return { id: k.id, family: k.family, signature: k.signature, config: form.config ?? null,
        variant: variant ? form.device : null };
    });
  }

  /** Moves the session to WASM once its GPU device is lost (unless it was released). */
  #fallBack(device, info) {
    if (this.#released || this.gpuDevice !== device) return;
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

  /** Runs the model on `feeds` ({name: array or {data, shape}}); resolves to the outputs. */
  async run(feeds) {
    if (this.#released) throw new WebjitError('this session was released; load the bundle again to run it');
    const checked = checkFeeds(this.#manifest.inputs, feeds);
    const result = this.#tail.then(() => this.#runNow(checked));
    this.#tail = result.catch(() => {});
    const outputs = await result;
    this.#ran = true;
    return outputs;
  }

  async #runNow(checked) {
    if (this.#released) throw new WebjitError('this session was released; load the bundle again to run it');
    if (this.#impl && this.backend === 'webgpu') {
      try {
        return await this.#impl.run(checked);
      } catch (err) {
        if (this.#released) {
          throw new WebjitError('this session was released while it ran; load the bundle again to run it');
        }
        if (!await this.#deviceWasLost()) throw err;
      }
    }
    return (this.#impl ?? await this.#wasm).run(checked);
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
    this.#released = true;
    this.#impl?.release();
    this.#impl = null;
    this.#wasm?.then((impl) => impl.release(), () => {});
    this.gpuDevice?.destroy();
    this.gpuDevice = null;
  }
}
