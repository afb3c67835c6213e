// The WebAssembly backend: one linear memory [control | weights | arena], the kernels
// compiled once, and the steps run on the main thread or on a pool of workers.
import { WebjitError } from './errors.js';
import { readVerified } from './source.js';
import { memoryPages, planSteps } from './manifest.js';
import { unshareMemoryImport } from './wasm_patch.js';
import { readOutputs, writeFeeds } from './feeds.js';
import { runSingle } from './steps.js';
import { startPool } from './pool.js';
import { chooseThreads } from './threads.js';

/**
 * Builds the WASM backend for a parsed bundle: resolves to
 * {threads, threadNote, run(checked) -> outputs, release()}.
 */
export async function createWasmBackend(bundle, manifest, { threads, onProgress }) {
  const plan = await chooseThreads(threads);
  const shared = plan.threads > 1;
  const memory = allocateMemory(manifest, shared);
  await loadWeights(bundle, manifest, memory, onProgress);
  const modules = await loadKernels(bundle, manifest, shared, onProgress);
  const steps = planSteps(manifest);
  let pool = null;
  if (shared) {
    try {
      const controlBytes = Math.floor(manifest.memory.control_bytes / 4) * 4;
      pool = await startPool({ nthreads: plan.threads, memory, modules, steps, controlBytes });
    } catch (err) {
      plan.threads = 1;
      plan.note = `worker threads could not start (${err.message}), running single-threaded`;
    }
  }
  let runs = pool ? null : await instantiate(manifest, modules, memory);
  return {
    threads: plan.threads,
    threadNote: plan.note,
    async run(checked) {
      writeFeeds(manifest, memory.buffer, checked);
      if (pool) await pool.run();
      else runSingle(runs, steps);
      return readOutputs(manifest, memory.buffer);
    },
    release() {
      pool?.terminate();
      pool = null;
      runs = null;
    },
  };
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

