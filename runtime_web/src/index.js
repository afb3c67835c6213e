// webjit: load a bundle (docs/bundle.md) and run it on the WebAssembly backend, in
// browsers and in Node, from the same code.
import { WebjitError } from './errors.js';
import { openBundle, readVerified } from './source.js';
import { memoryPages, parseManifest, planSteps } from './manifest.js';
import { unshareMemoryImport } from './wasm_patch.js';
import { checkFeeds, readOutputs, writeFeeds } from './feeds.js';
import { runSingle } from './steps.js';
import { startPool } from './pool.js';
import { chooseThreads } from './threads.js';

export { WebjitError };

const BACKENDS = ['wasm', 'webgpu', 'auto'];

function checkOptions({ backend = 'auto', threads = 'auto', onProgress } = {}) {
  if (!BACKENDS.includes(backend)) {
    throw new WebjitError(`unknown backend ${JSON.stringify(backend)}; use 'wasm', 'webgpu' or 'auto'`);
  }
  if (backend === 'webgpu') {
    throw new WebjitError('the WebGPU backend is not available in this build of webjit; ' +
      "use backend 'wasm' or 'auto'");
  }
  if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1)) {
    throw new WebjitError(`threads must be 'auto' or a positive integer, not ${JSON.stringify(threads)}`);
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new WebjitError('onProgress must be a function');
  }
  return { backend: 'wasm', threads, onProgress: onProgress ?? (() => {}) };
}

/** Loads the bundle at `url` and prepares it to run; resolves to a Session. */
export async function load(url, options) {
  const opts = checkOptions(options);
  const bundle = await openBundle(url);
  const manifest = parseManifest(await bundle.read('manifest.json'), bundle.describe('manifest.json'));
  const plan = await chooseThreads(opts.threads);
  const shared = plan.threads > 1;
  const memory = allocateMemory(manifest, shared);
  await loadWeights(bundle, manifest, memory, opts.onProgress);
  const modules = await loadKernels(bundle, manifest, shared, opts.onProgress);
  const steps = planSteps(manifest);
  let pool = null;
  if (shared) {
    try {
      const controlBytes = controlWords(manifest) * 4;
      pool = await startPool({ nthreads: plan.threads, memory, modules, steps, controlBytes });
    } catch (err) {
      plan.threads = 1;
      plan.note = `worker threads could not start (${err.message}), running single-threaded`;
    }
  }
  const runs = pool ? null : await instantiate(manifest, modules, memory);
  return new Session({ manifest, memory, steps, runs, pool, plan });
}

function allocateMemory(manifest, shared) {
  const pages = memoryPages(manifest);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
  } catch (err) {
    const mib = Math.ceil(manifest.memory.total_bytes / 2 ** 20);
    throw new WebjitError(`could not allocate the ${mib} MiB of WebAssembly memory this bundle ` +
      `needs (${err.message}); free memory or use a smaller model`, { cause: err });
  }
}

function controlWords(manifest) {
  return Math.floor(manifest.memory.control_bytes / 4);
}

async function loadWeights(bundle, manifest, memory, onProgress) {
  const total = manifest.memory.weights_bytes;
  let loaded = 0, at = manifest.memory.weights_base;
  onProgress({ stage: 'weights', loaded, total });
  for (const shard of manifest.weights) {
    const bytes = await readVerified(bundle, shard, (n) => {
      loaded += n;
      onProgress({ stage: 'weights', loaded: Math.min(loaded, total), total });
    });
    // Copied once at load; the kernels read weights in place.
    new Uint8Array(memory.buffer, at, bytes.length).set(bytes);
    at += bytes.length;
  }
}

async function loadKernels(bundle, manifest, shared, onProgress) {
  const total = manifest.kernels.reduce((sum, k) => sum + k.wasm.bytes, 0);
  let loaded = 0;
  onProgress({ stage: 'kernels', loaded, total });
  return Promise.all(manifest.kernels.map(async (kernel) => {
    let bytes = await readVerified(bundle, kernel.wasm, (n) => {
      loaded += n;
      onProgress({ stage: 'kernels', loaded: Math.min(loaded, total), total });
    });
    if (!shared) bytes = unshareMemoryImport(bytes, kernel.wasm.file);
    try {
      const module = await WebAssembly.compile(bytes);
      if (!WebAssembly.Module.exports(module).some((e) => e.name === 'run' && e.kind === 'function')) {
        throw new Error('it exports no run function');
      }
      return module;
    } catch (err) {
      throw new WebjitError(`kernel file ${kernel.wasm.file} is not a valid webjit kernel ` +
        `(${err.message}); rebuild the bundle`, { cause: err });
    }
  }));
}

async function instantiate(manifest, modules, memory) {
  return Promise.all(modules.map(async (module, i) => {
    const kernel = manifest.kernels[i];
    let run;
    try {
      run = (await WebAssembly.instantiate(module, { env: { memory } })).exports.run;
    } catch (err) {
      throw new WebjitError(`kernel file ${kernel.wasm.file} could not be instantiated ` +
        `(${err.message}); rebuild the bundle`, { cause: err });
    }
    if (run.length !== kernel.nargs + 2) {
      throw new WebjitError(`kernel file ${kernel.wasm.file} takes ${run.length} parameters; ` +
        `the manifest says ${kernel.nargs} args plus tid and nthreads, rebuild the bundle`);
    }
    return run;
  }));
}

const describeIO = (list) => list.map(({ name, dtype, shape }) => ({ name, dtype, shape: shape.slice() }));

/** A loaded bundle, ready to run. Runs are queued: one at a time uses the memory. */
class Session {
  #manifest; #memory; #steps; #runs; #pool; #tail = Promise.resolve(); #released = false;

  constructor({ manifest, memory, steps, runs, pool, plan }) {
    this.#manifest = manifest;
    this.#memory = memory;
    this.#steps = steps;
    this.#runs = runs;
    this.#pool = pool;
    this.backend = 'wasm';
    this.threads = plan.threads;
    this.threadNote = plan.note;
    this.inputs = describeIO(manifest.inputs);
    this.outputs = describeIO(manifest.outputs);
    this.model = manifest.model ?? '';
  }

  /** Runs the model on `feeds` ({name: array or {data, shape}}); resolves to the outputs. */
  async run(feeds) {
    if (this.#released) throw new WebjitError('this session was released; load the bundle again to run it');
    const checked = checkFeeds(this.#manifest.inputs, feeds);
    const result = this.#tail.then(() => this.#runNow(checked));
    this.#tail = result.catch(() => {});
    return result;
  }

  async #runNow(checked) {
    if (this.#released) throw new WebjitError('this session was released; load the bundle again to run it');
    writeFeeds(this.#manifest, this.#memory.buffer, checked);
    if (this.#pool) await this.#pool.run();
    else runSingle(this.#runs, this.#steps);
    return readOutputs(this.#manifest, this.#memory.buffer);
  }

  /** Stops the worker threads and drops the memory; the session cannot run afterwards. */
  release() {
    this.#released = true;
    this.#pool?.terminate();
    this.#pool = null;
    this.#runs = null;
    this.#memory = null;
  }
}
