// The WebAssembly backend: one linear memory [control | weights | arena], the kernels
// compiled once, and the steps run on the main thread or on a pool of workers. Beside
// `run` it offers the kernel operations of the timer (`ops`): compile, add and drop a
// candidate kernel, run a range of steps, run or time one kernel on a step's real
// arguments, read and write tensor bytes, and swap the code a kernel runs.
import { WebjitError } from './errors.js';
import { readVerified } from './source.js';
import { memoryPages, planSteps, tensorAddress } from './manifest.js';
import { unshareMemoryImport } from './wasm_patch.js';
import { readOutputs, writeFeeds } from './feeds.js';
import { runSingle, stepTask } from './steps.js';
import { dismiss, spawnWorkers, startPool } from './pool.js';
import { chooseThreads } from './threads.js';
import { chooseForm } from './device.js';
import { streamWeights } from './weights.js';

export const MAX_REPS = 256;  // repetitions one timing task may ask for
const now = () => globalThis.performance.now();

/**
 * Builds the WASM backend for a parsed bundle on `device` (device.js): resolves to
 * {threads, threadNote, forms, run(checked) -> outputs, ops, release()}.
 */
export async function createWasmBackend(bundle, manifest, { threads, onProgress, device, runTimeoutMs }) {
  const forms = manifest.kernels.map((kernel) => pickForm(kernel, device));
  const plan = await chooseThreads(threads, device.cores);
  const shared = plan.threads > 1;
  // Workers start, and kernels compile (on the engine's background threads), while the
  // weights stream in.
  const spawned = shared ? spawnWorkers(plan.threads) : null;
  let memory, weights, modules;
  try {
    memory = allocateMemory(manifest, shared);
    [weights, modules] = await Promise.all([
      streamWeights(bundle, manifest, { view: (t) => tensorView(manifest, memory, t) }, onProgress),
      loadKernels(bundle, manifest, forms, shared, onProgress)]);
  } catch (err) {
    dismiss(spawned);
    throw err;
  }
  const steps = planSteps(manifest, forms);
  const clockLength = Math.max(steps.length, MAX_REPS) + 1;
  const clockBuffer = shared ? new SharedArrayBuffer(8 * clockLength) : new ArrayBuffer(8 * clockLength);
  const clock = new Float64Array(clockBuffer);
  let pool = null;
  const controlBytes = Math.floor(manifest.memory.control_bytes / 4) * 4;
  const added = new Map();  // slot -> module the JIT added: a restarted pool needs them too
  const poolOptions = { nthreads: plan.threads, memory, steps, controlBytes, clock: clockBuffer,
    deadlineMs: runTimeoutMs };
  if (shared) {
    try {
      pool = await startPool({ ...poolOptions, modules, spawned });
    } catch (err) {
      plan.threads = 1;
      plan.note = `worker threads could not start (${err.message}), running single-threaded`;
    }
  }
  let runs = pool ? null : await instantiateAll(manifest, forms, modules, memory);
  const slots = manifest.kernels.map((_, i) => i);  // kernel id -> the code it runs now
  let slotCount = modules.length;
  let lastFeeds = null;

  /** After the watchdog stopped a stuck pool: fresh workers over a cleared control area. */
  async function restartPool() {
    new Int32Array(memory.buffer, 0, controlBytes / 4).fill(0);
    const all = Array.from({ length: slotCount }, (_, slot) => modules[slot] ?? added.get(slot));
    pool = await startPool({ ...poolOptions, modules: all });
    slots.forEach((slot, kernel) => { if (slot !== kernel) pool.use(kernel, slot); });
  }

  async function runSteps(from = 0, to = steps.length, timed = false) {
    if (pool?.broken) await restartPool();
    if (from === 0 && lastFeeds) writeFeeds(manifest, memory.buffer, lastFeeds);
    if (pool) await pool.run({ from, to, timed });
    else runSingle(stepTask(runs, slots, steps, from, to, timed ? clock : null));
  }

  const ops = {
    backend: 'wasm',
    timer: pool ? 'performance.now() of worker 0 after each barrier' : 'performance.now() around each call',
    skipped: steps.flatMap((step, i) => (step.skip ? [i] : [])),
    kernelCount: manifest.kernels.length,
    slotOf: (kernel) => slots[kernel],
    async compile(bytes, file) {
      return compileKernel(shared ? bytes : unshareMemoryImport(bytes, file), file);
    },
    async add(module) {
      const slot = slotCount++;
      added.set(slot, module);
      if (pool) await pool.add(slot, module);
      else runs[slot] = await instantiateOne(module, memory, file(slot));
      return slot;
    },
    use(kernel, slot) {
      slots[kernel] = slot;
      pool?.use(kernel, slot);
    },
    /** Frees a candidate's code (never one a kernel runs). */
    drop(slot) {
      if (slot < modules.length || slots.includes(slot)) return;
      added.delete(slot);
      if (pool) pool.drop(slot);
      else if (runs) runs[slot] = undefined;
    },
    runSteps,
    /** Per-step milliseconds of one run of every step (the model's inputs of the last run). */
    async profileSteps() {
      await runSteps(0, steps.length, true);
      return Array.from({ length: steps.length }, (_, i) => clock[i + 1] - clock[i]);
    },
    async runKernel(slot, stepIndex) {
      const args = steps[stepIndex].args;
      if (pool) await pool.time(slot, args, 1, 1);
      else runs[slot](...args, 0, 1);
    },
    /** Milliseconds per call of kernel `slot` on step `stepIndex`'s arguments: `reps` samples,
     * each the mean of `inner` calls. */
    async timeKernel(slot, stepIndex, reps, inner = 1) {
      reps = Math.max(1, Math.min(reps, MAX_REPS));
      const args = steps[stepIndex].args;
      if (pool) {
        await pool.time(slot, args, reps, inner);
      } else {
        clock[0] = now();
        for (let r = 0; r < reps; r++) {
          for (let k = 0; k < inner; k++) runs[slot](...args, 0, 1);
          clock[r + 1] = now();
        }
      }
      return Array.from({ length: reps }, (_, r) => (clock[r + 1] - clock[r]) / inner);
    },
    async read(tensor, byteOffset, bytes) {
      return new Uint8Array(memory.buffer, tensorAddress(manifest, tensor) + byteOffset, bytes).slice();
    },
    async write(tensor, byteOffset, bytes) {
      new Uint8Array(memory.buffer, tensorAddress(manifest, tensor) + byteOffset, bytes.length).set(bytes);
    },
  };
  const file = (slot) => (slot < forms.length ? forms[slot].form.file : `candidate ${slot}`);

  return {
    threads: plan.threads,
    threadNote: plan.note,
    forms,
    ops,
    weights,
    /** Runs the model; `capture` ([{step, ranges}], ascending steps) receives in each entry's
     * `bytes` ({arg: bytes}) its ranges as they are just before that step runs. */
    async run(checked, capture = null) {
      lastFeeds = checked;
      let at = 0;
      for (const entry of capture ?? []) {
        await runSteps(at, entry.step);
        entry.bytes = {};
        for (const r of entry.ranges) entry.bytes[r.arg] = await ops.read(r.tensor, 0, r.bytes);
        at = entry.step;
      }
      await runSteps(at);
      return readOutputs(manifest, memory.buffer, checked.env);
    },
    /** One run of session.generate (generate.js): writes only the feeds in `checked` (the
     * cache inputs keep the bytes memory holds), runs, copies `read` ({tensor, offset, count}
     * in f32 elements) out, then copies each {from, to, bytes} of `carry` within memory. */
    async step(checked, read, carry) {
      lastFeeds = checked;
      await runSteps(0);
      const at = tensorAddress(manifest, read.tensor) + 4 * read.offset;
      const logits = new Float32Array(memory.buffer, at, read.count).slice();
      const bytes = new Uint8Array(memory.buffer);
      for (const c of carry) {
        const from = tensorAddress(manifest, c.from);
        bytes.copyWithin(tensorAddress(manifest, c.to), from, from + c.bytes);
      }
      return logits;
    },
    release() {
      pool?.terminate();
      pool = null;
      runs = null;
    },
  };
}

/** The form of a kernel to run here; an error when even the default needs what the engine lacks. */
function pickForm(kernel, device) {
  if (!kernel.wasm) {
    throw new WebjitError(`this bundle has no WASM kernels (it was compiled for ${kernel.webgpu ? 'WebGPU' : 'no backend'} only); ` +
      "recompile it with --backends wasm or use backend 'webgpu'");
  }
  const chosen = chooseForm(kernel.wasm, device);
  if (!chosen.usable) {
    throw new WebjitError(`kernel ${kernel.id} needs ${kernel.wasm.requires.join(', ')}, which this ` +
      'WebAssembly engine lacks; recompile the bundle without tuned requirements');
  }
  return chosen;
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

/** The typed array over a weights tensor's place in memory; the loader writes it in place. */
function tensorView(manifest, memory, t) {
  return new (t.dtype === 'i32' ? Int32Array : Float32Array)(memory.buffer, tensorAddress(manifest, t.id), t.size);
}

async function loadKernels(bundle, manifest, forms, shared, onProgress) {
  const total = forms.reduce((sum, { form }) => sum + form.bytes, 0);
  let loaded = 0;
  onProgress({ stage: 'kernels', loaded, total });
  return Promise.all(forms.map(async ({ form }) => {
    let bytes = await readVerified(bundle, form, (n, fromCache) => {
      loaded += n;
      onProgress({ stage: 'kernels', loaded: Math.min(loaded, total), total, file: form.file, fromCache });
    });
    if (!shared) bytes = unshareMemoryImport(bytes, form.file);
    return compileKernel(bytes, form.file);
  }));
}

async function compileKernel(bytes, file) {
  try {
    const module = await WebAssembly.compile(bytes);
    if (!WebAssembly.Module.exports(module).some((e) => e.name === 'run' && e.kind === 'function')) {
      throw new Error('it exports no run function');
    }
    return module;
  } catch (err) {
    throw new WebjitError(`kernel file ${file} is not a valid webjit kernel ` +
      `(${err.message}); rebuild the bundle`, { cause: err });
  }
}

async function instantiateOne(module, memory, file) {
  try {
    return (await WebAssembly.instantiate(module, { env: { memory } })).exports.run;
  } catch (err) {
    throw new WebjitError(`kernel file ${file} could not be instantiated ` +
      `(${err.message}); rebuild the bundle`, { cause: err });
  }
}

async function instantiateAll(manifest, forms, modules, memory) {
  return Promise.all(modules.map(async (module, i) => {
    const kernel = manifest.kernels[i], file = forms[i].form.file;
    const run = await instantiateOne(module, memory, file);
    if (run.length !== kernel.nargs + 2) {
      throw new WebjitError(`kernel file ${file} takes ${run.length} parameters; ` +
        `the manifest says ${kernel.nargs} args plus tid and nthreads, rebuild the bundle`);
    }
    return run;
  }));
}
